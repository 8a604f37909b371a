//! What the source suites share: a git daemon, a static HTTP server, git run with a fixed
//! identity, and a spec that packages a file of its tree.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::oidc::free_port;
use crate::{TestApp, TestUser};

/// A child process killed when the test ends.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something listens on `port`.
pub async fn listening(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}

/// `python3 -m http.server` on `dir`; its base URL.
pub async fn http_server(dir: &Path) -> (Server, String) {
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    listening(port).await;
    (Server(child), format!("http://127.0.0.1:{port}"))
}

/// `git daemon` serving the repositories under `base`; its base URL.
pub async fn git_daemon(base: &Path) -> (Server, String) {
    let port = free_port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", base.display()),
        ])
        .arg(base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("git daemon");
    listening(port).await;
    (Server(child), format!("git://127.0.0.1:{port}"))
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Kiln Tests")
        .env("GIT_AUTHOR_EMAIL", "tests@example.org")
        .env("GIT_COMMITTER_NAME", "Kiln Tests")
        .env("GIT_COMMITTER_EMAIL", "tests@example.org")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A spec whose package carries `Source1` (a plain file of the tree) as a data file.
pub fn spec(name: &str, version: &str, extra_header: &str) -> String {
    format!(
        "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: from a source\nLicense: MIT\n\
         BuildArch: noarch\nSource1: VERSION\n{extra_header}\n%description\nBuilt from a source.\n\
         \n%install\nmkdir -p %{{buildroot}}/usr/share/{name}\n\
         cp %{{SOURCE1}} %{{buildroot}}/usr/share/{name}/VERSION\n\n%files\n/usr/share/{name}/VERSION\n"
    )
}

/// A test server whose sources may use http and git:// (and, when `private`, local
/// addresses), with alice and her repo `alice/tools`; `None` without rpmbuild or the
/// database.
pub async fn app(private: bool) -> Option<(TestApp, TestUser)> {
    if !crate::pipeline::have_rpmbuild() {
        eprintln!("NOTICE: rpmbuild is not installed: no builds from sources to test");
        return None;
    }
    let app = TestApp::with_config(|c| {
        c.builds.lease_seconds = 5;
        c.sources.allowed_schemes = vec!["https".into(), "http".into(), "git".into()];
        c.sources.allow_private_networks = private;
    })
    .await?;
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    Some((app, alice))
}

/// A one-package git repository: `NAME.spec` (see [`spec`]) with `VERSION` holding `version`
/// and `extra` files, committed on `main` in a work tree under `work` and cloned bare to
/// `base/REPO.git` (what the git daemon serves). The work tree's path.
pub fn package_repo(
    base: &Path,
    work: &Path,
    repo: &str,
    name: &str,
    version: &str,
    extra: &[(&str, &[u8])],
) -> std::path::PathBuf {
    let top = work.join(repo);
    std::fs::create_dir_all(&top).expect("mkdir");
    std::fs::write(top.join(format!("{name}.spec")), spec(name, "1.0", "")).expect("spec");
    std::fs::write(top.join("VERSION"), version).expect("write");
    for (file, content) in extra {
        std::fs::write(top.join(file), content).expect("write");
    }
    git(&top, &["init", "-q", "-b", "main"]);
    git(&top, &["add", "."]);
    git(&top, &["commit", "-q", "-m", repo]);
    let bare = format!("{repo}.git");
    git(
        base,
        &["clone", "-q", "--bare", &top.display().to_string(), &bare],
    );
    top
}
