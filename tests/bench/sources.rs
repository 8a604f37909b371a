//! Builds from git: how long Kiln adds between a submission and the first RPM build starting,
//! beyond the work itself (the clone and making the SRPM). Each round submits the same git
//! source to a real server and a real agent and takes the first build subtask's `started_at`
//! (the server's clock, the same machine's) minus the moment before the submission; the work
//! alone is the same shallow clone, `rpmspec -P` and `rpmbuild -bs` (in bubblewrap, as the
//! agent runs them) timed directly. The overhead is the difference of the medians.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use kiln_tests::pipeline::{wait_for, Agent};
use kiln_tests::sources::{git_daemon, package_repo};
use kiln_tests::{DbKind, TestApp};
use serde_json::json;

#[derive(Parser)]
pub struct SourceArgs {
    #[arg(long, default_value = "both")]
    pub db: String,
    /// Builds to time.
    #[arg(long, default_value_t = 20)]
    pub builds: usize,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The agent's work alone: a shallow fetch of `main`, checkout, `rpmspec -P` and
/// `rpmbuild -bs` in bubblewrap.
fn direct(url: &str, scratch: &Path) -> Duration {
    let w = scratch.join("w");
    let _ = std::fs::remove_dir_all(&w);
    std::fs::create_dir_all(w.join("out")).expect("dir");
    let t = w.display().to_string();
    let sandbox = format!(
        "bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --bind {t} {t} --unshare-all --die-with-parent --chdir {t}/src"
    );
    let script = format!(
        "set -e; git init -q {t}/src; cd {t}/src; git remote add origin {url}; \
         git fetch -q --depth=1 origin main; git checkout -q --detach FETCH_HEAD; \
         {sandbox} rpmspec -P kiln-bench-git.spec --define '_sourcedir {t}/src' >/dev/null; \
         {sandbox} rpmbuild -bs kiln-bench-git.spec --define '_sourcedir {t}/src' \
           --define '_srcrpmdir {t}/out' --define '_topdir {t}/top' >/dev/null"
    );
    let start = Instant::now();
    let out = Command::new("bash")
        .args(["-c", &script])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("bash");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

pub async fn sources(kind: DbKind, a: &SourceArgs) {
    let Some(app) = TestApp::on(kind, |c| {
        c.sources.allowed_schemes = vec!["git".into()];
        c.sources.allow_private_networks = true;
    })
    .await
    else {
        println!("{kind:?}: skipped (no database server)");
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;
    let base = tempfile::tempdir().expect("tmp");
    let work = tempfile::tempdir().expect("tmp");
    package_repo(
        base.path(),
        work.path(),
        "bench",
        "kiln-bench-git",
        "1\n",
        &[],
    );
    let (_daemon, daemon) = git_daemon(base.path()).await;
    let url = format!("{daemon}/bench.git");
    let source = json!({"type": "git", "url": url, "ref": "main"});
    let mut e2e = Vec::new();
    let mut work = Vec::new();
    let scratch = tempfile::tempdir().expect("tmp");
    for i in 0..a.builds + 2 {
        let t0 = time::OffsetDateTime::now_utc();
        let (s, task) = app
            .call(
                reqwest::Method::POST,
                "/api/v1/repos/alice/tools/builds",
                Some(&alice.token),
                Some(json!({ "source": source })),
            )
            .await;
        assert_eq!(s, reqwest::StatusCode::CREATED, "{task:#}");
        let id = task["id"].as_i64().expect("id");
        let started = wait_for(&app, id, 120, |t| {
            t["state"] == "failed"
                || t["subtasks"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|s| s["kind"] == "build" && s["started_at"].is_string())
                })
        })
        .await;
        let build = started["subtasks"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["kind"] == "build"))
            .unwrap_or_else(|| panic!("no build: {started:#}"));
        let at = time::OffsetDateTime::parse(
            build["started_at"].as_str().expect("started_at"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("time");
        // Let the build end so the next round starts on an idle agent.
        wait_for(&app, id, 120, |t| {
            t["state"] == "succeeded" || t["state"] == "failed"
        })
        .await;
        let direct = direct(&url, scratch.path());
        if i >= 2 {
            // The first rounds warm the caches (the git daemon, rpm's).
            e2e.push(Duration::from_secs_f64((at - t0).as_seconds_f64().max(0.0)));
            work.push(direct);
        }
    }
    let (e, w) = (median(e2e.clone()), median(work.clone()));
    println!(
        "{kind:?} git source -> first RPM build started: p50 {:.0} ms, p99 {:.0} ms; the clone + rpmspec + rpmbuild -bs alone: p50 {:.0} ms; Kiln's overhead (difference of the medians) {:.0} ms (goal <= 300 ms); {} builds by a real agent",
        ms(e),
        ms(pct(e2e, 0.99)),
        ms(w),
        ms(e.saturating_sub(w)),
        a.builds
    );
}
