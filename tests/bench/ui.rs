//! The web UI's budgets: the server render of a repo's pages when it holds 100 builds (the
//! overview with its recent builds and package table, the builds list), one request at a time,
//! and the size of the release wasm bundle.

use std::time::{Duration, Instant};

use clap::Parser;
use kiln_tests::pipeline::{srpm, submit_files};
use kiln_tests::{repo_root, DbKind, TestApp};

#[derive(Parser)]
pub struct UiArgs {
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// Builds in the repo.
    #[arg(long, default_value_t = 100)]
    pub builds: usize,
    /// Renders timed per page.
    #[arg(long, default_value_t = 200)]
    pub renders: usize,
}

pub async fn ui(kind: DbKind, a: &UiArgs) {
    let Some(app) = TestApp::on(kind, |_| {}).await else {
        println!("{kind:?}: skipped (no database server)");
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let hello = srpm("kiln-hello", &out);
    for _ in 0..a.builds {
        submit_files(&app, &alice.token, "alice/tools", &[&hello], &[]).await;
    }
    let http = reqwest::Client::new();
    println!(
        "{kind:?}: a repo with {} builds, {} renders per page, one at a time",
        a.builds, a.renders
    );
    for path in [
        "/r/alice/tools",
        "/r/alice/tools/builds",
        "/r/alice/tools/builds?state=pending&package=kiln-hello",
    ] {
        let url = app.url(path);
        let mut lat: Vec<Duration> = Vec::new();
        for i in 0..a.renders + 10 {
            let t = Instant::now();
            let resp = http
                .get(&url)
                .header("accept", "text/html")
                .send()
                .await
                .expect("page");
            assert!(resp.status().is_success(), "{path}: {}", resp.status());
            let body = resp.text().await.expect("body");
            assert!(body.contains("kiln-hello"), "{path} is not the full page");
            if i >= 10 {
                lat.push(t.elapsed());
            }
        }
        lat.sort();
        let ms =
            |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
        println!(
            "  {path}: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms (budget p50 ≤ 30 ms)",
            ms(0.5),
            ms(0.9),
            ms(0.99)
        );
    }
    let wasm = repo_root().join("frontend/site/pkg/kiln_bg.wasm");
    match std::fs::metadata(&wasm) {
        Ok(m) => println!(
            "  release wasm: {} bytes = {:.2} MB uncompressed (budget ≤ 1.5 MB)",
            m.len(),
            m.len() as f64 / 1e6
        ),
        Err(_) => println!("  release wasm: not built ({})", wasm.display()),
    }
}
