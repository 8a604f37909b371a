//! dnf against published repos: an installroot with its own configuration, as RECIPES
//! describes, so tests install real packages without touching the host.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Whether dnf is here; outside CI its absence skips the test.
pub fn have_dnf() -> bool {
    let ok = Command::new("dnf")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if crate::in_ci() {
            panic!("dnf is required in CI (tests/run installs it)");
        }
        eprintln!("NOTICE: skipping a publishing test: dnf is not installed");
    }
    ok
}

/// A dnf installroot with its own config, as RECIPES describes.
pub struct Root {
    /// Holds the root (`root/`), dnf's configuration and `HOME`.
    pub dir: tempfile::TempDir,
    /// `$releasever` (44 unless set).
    pub releasever: String,
}

impl Default for Root {
    fn default() -> Root {
        Root::new()
    }
}

impl Root {
    pub fn new() -> Root {
        let dir = tempfile::tempdir().expect("root");
        std::fs::create_dir_all(dir.path().join("root/etc/yum.repos.d")).expect("reposdir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        std::fs::write(
            dir.path().join("dnf.conf"),
            "[main]\ngpgcheck=1\nrepo_gpgcheck=1\nskip_if_unavailable=False\ninstall_weak_deps=False\nplugins=0\n",
        )
        .expect("conf");
        std::fs::write(
            dir.path().join("home/.rpmmacros"),
            "%_dbpath /var/lib/rpm\n",
        )
        .expect("macros");
        Root {
            dir,
            releasever: "44".into(),
        }
    }

    /// An installroot with a `.repo` file (`name`, `text`) in place.
    pub fn with_repo_file(name: &str, text: &str) -> Root {
        let root = Root::new();
        std::fs::write(root.root().join("etc/yum.repos.d").join(name), text).expect("repo");
        root
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn dnf(&self, args: &[&str]) -> Output {
        let root = self.root();
        Command::new("dnf")
            .arg("-y")
            .arg(format!("--installroot={}", root.display()))
            .arg(format!("--releasever={}", self.releasever))
            .arg(format!(
                "--config={}",
                self.dir.path().join("dnf.conf").display()
            ))
            .arg("--noplugins")
            .arg(format!(
                "--setopt=reposdir={}/etc/yum.repos.d",
                root.display()
            ))
            .arg("--nodocs")
            .args(args)
            .env("HOME", self.dir.path().join("home"))
            .output()
            .expect("dnf")
    }

    pub fn installed(&self, name: &str) -> bool {
        Command::new("rpm")
            .arg(format!("--root={}", self.root().display()))
            .args(["--dbpath", "/var/lib/rpm", "-q", name])
            .env("HOME", self.dir.path().join("home"))
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

/// A command's output and errors, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
