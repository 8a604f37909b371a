//! The UI in a real browser (Debian's Chromium driven by playwright-core): the server-rendered
//! page hydrates and the client-side router takes over. Needs the wasm bundle (`tests/run`
//! builds it) and Chromium; outside CI a missing piece skips with a notice.

use kiln_tests::oidc::app_with_provider;
use kiln_tests::pipeline::{have_rpmbuild, srpm, Agent};
use kiln_tests::{in_ci, repo_root, TestApp};

fn skip(why: &str) -> bool {
    if in_ci() {
        panic!("browser test cannot run in CI: {why}");
    }
    eprintln!("NOTICE: skipping the browser test: {why}");
    true
}

/// What the browser tests need; false (after a notice) when something is missing outside CI.
fn browser_ready() -> bool {
    let root = repo_root();
    let dir = root.join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists()
        && skip("run `npm ci` in tests/browser (tests/run does)")
    {
        return false;
    }
    if !std::path::Path::new("/usr/bin/chromium").exists()
        && skip("Chromium is not installed (tests/run installs it)")
    {
        return false;
    }
    if !root.join("frontend/site/pkg/kiln_bg.wasm").exists()
        && skip("the wasm bundle is not built (tests/run builds it)")
    {
        return false;
    }
    true
}

/// Screenshots go under the build output directory.
fn screenshot_dir() -> std::path::PathBuf {
    let shots = std::path::PathBuf::from(
        std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| repo_root().join("target").display().to_string()),
    )
    .join("screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    shots
}

async fn node(script: &str, args: &[&std::ffi::OsStr]) -> std::process::Output {
    tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(repo_root().join("tests/browser"))
        .output()
        .await
        .expect("run node")
}

#[tokio::test]
async fn pages_hydrate_in_chromium() {
    if !browser_ready() {
        return;
    }
    let Some(app) = TestApp::new().await else {
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let shots = screenshot_dir();
    let out = node("hydration.mjs", &[app.base.as_ref(), shots.as_os_str()]).await;
    assert!(
        out.status.success(),
        "hydration check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hydrated"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_product_works_in_chromium() {
    if !browser_ready() || !have_rpmbuild() {
        return;
    }
    let Some((app, _provider)) = app_with_provider(|_| {}).await else {
        return;
    };
    app.user("alice", false).await;
    app.user("bob", false).await;
    app.user("root", true).await;
    let _agent = Agent::start(&app, "e2e", &["x86_64"], 1).await;
    let dir = tempfile::tempdir().expect("dir");
    let srpm = srpm("kiln-slow", dir.path());
    let shots = screenshot_dir();
    let out = node(
        "e2e.mjs",
        &[app.base.as_ref(), shots.as_os_str(), srpm.as_os_str()],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("e2e ok"), "{stdout}");
    assert!(
        stdout.contains("accessibility dark: 16 pages"),
        "the accessibility audit ran: {stdout}"
    );
    for name in [
        "login",
        "new-repo",
        "settings",
        "upload",
        "build-running",
        "build",
        "builds",
        "repo",
        "repo-375px",
        "admin",
        "repo-dark",
        "build-dark",
        "settings-dark",
        "read-token",
    ] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "screenshot {name}"
        );
    }
}
