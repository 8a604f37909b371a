//! The UI in a real browser (Debian's Chromium driven by playwright-core): the server-rendered
//! page hydrates and the client-side router takes over. Needs the wasm bundle (`tests/run`
//! builds it) and Chromium; outside CI a missing piece skips with a notice.

use kiln_tests::{in_ci, repo_root, TestApp};

fn skip(why: &str) -> bool {
    if in_ci() {
        panic!("browser test cannot run in CI: {why}");
    }
    eprintln!("NOTICE: skipping the browser test: {why}");
    true
}

#[tokio::test]
async fn pages_hydrate_in_chromium() {
    let root = repo_root();
    let dir = root.join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists()
        && skip("run `npm ci` in tests/browser (tests/run does)")
    {
        return;
    }
    if !std::path::Path::new("/usr/bin/chromium").exists()
        && skip("Chromium is not installed (tests/run installs it)")
    {
        return;
    }
    if !root.join("frontend/site/pkg/kiln_bg.wasm").exists()
        && skip("the wasm bundle is not built (tests/run builds it)")
    {
        return;
    }
    let Some(app) = TestApp::new().await else {
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let shots = std::path::PathBuf::from(
        std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| root.join("target").display().to_string()),
    )
    .join("screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let out = tokio::process::Command::new("node")
        .arg("hydration.mjs")
        .arg(&app.base)
        .arg(&shots)
        .current_dir(&dir)
        .output()
        .await
        .expect("run node");
    assert!(
        out.status.success(),
        "hydration check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hydrated"));
}
