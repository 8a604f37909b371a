//! Build pipeline benchmarks: dispatch latency, claim throughput, large uploads.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use clap::Parser;
use kiln_proto::agent::{Claim, Job};
use kiln_tests::pipeline::{fake_agent_token, queue_subtasks, srpm};
use kiln_tests::{DbKind, TestApp};

use crate::Figures;

#[derive(Parser)]
pub struct DispatchArgs {
    #[arg(long, default_value = "both")]
    pub db: String,
    /// Submissions to time.
    #[arg(long, default_value_t = 200)]
    pub submissions: usize,
}

#[derive(Parser)]
pub struct ClaimArgs {
    #[arg(long, default_value = "postgres")]
    pub db: String,
    #[arg(long, default_value_t = 10_000)]
    pub queued: usize,
    #[arg(long, default_value_t = 64)]
    pub agents: usize,
}

#[derive(Parser)]
pub struct UploadArgs {
    /// Size of the SRPM's source file in MiB.
    #[arg(long, default_value_t = 1024)]
    pub mib: u64,
}

fn figures(mut latencies: Vec<Duration>, elapsed: Duration) -> Figures {
    latencies.sort();
    Figures {
        requests: latencies.len(),
        errors: 0,
        elapsed,
        latencies,
    }
}

async fn claim(http: &reqwest::Client, base: &str, token: &str, wait: u64) -> Option<Job> {
    let resp = http
        .post(format!("{base}/api/v1/agent/claim"))
        .bearer_auth(token)
        .json(&Claim { wait_seconds: wait })
        .send()
        .await
        .expect("claim");
    if resp.status() == reqwest::StatusCode::NO_CONTENT {
        return None;
    }
    assert!(resp.status().is_success(), "claim: {}", resp.status());
    Some(resp.json().await.expect("job"))
}

/// An idle agent long-polls; each submission is timed from just before its upload starts to the
/// agent holding the job.
pub async fn dispatch(kind: DbKind, a: &DispatchArgs) {
    let Some(app) = TestApp::on(kind, |c| c.builds.lease_seconds = 3600).await else {
        println!("{kind:?}: skipped (no database server)");
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let bytes = std::fs::read(srpm("kiln-hello", &out)).expect("srpm");
    let agent_token = fake_agent_token(&app.kiln, "idle", 256).await;
    let http = reqwest::Client::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let base = app.base.clone();
    let agent_http = http.clone();
    let agent = tokio::spawn(async move {
        loop {
            if claim(&agent_http, &base, &agent_token, 30).await.is_some()
                && tx.send(Instant::now()).is_err()
            {
                return;
            }
        }
    });
    let mut e2e = Vec::new();
    let mut after_commit = Vec::new();
    let start = Instant::now();
    for i in 0..a.submissions + 5 {
        let form = reqwest::multipart::Form::new().part(
            "srpm",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name("kiln-hello-1.0-1.src.rpm"),
        );
        let t0 = Instant::now();
        let resp = http
            .post(app.url("/api/v1/repos/alice/tools/builds"))
            .bearer_auth(&alice.token)
            .multipart(form)
            .send()
            .await
            .expect("submit");
        let t_created = Instant::now();
        assert_eq!(resp.status(), reqwest::StatusCode::CREATED);
        let t_claimed = rx.recv().await.expect("claimed");
        if i >= 5 {
            // The first few warm up connections and caches.
            e2e.push(t_claimed - t0);
            after_commit.push(t_claimed.saturating_duration_since(t_created));
        }
    }
    agent.abort();
    let e = figures(e2e, start.elapsed());
    let c = figures(after_commit, start.elapsed());
    println!(
        "{:<8} dispatch, {} submissions: upload start -> agent has it: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms; 201 answered -> agent has it: p50 {:.2} ms  p99 {:.2} ms",
        format!("{kind:?}"),
        e.requests,
        e.pct(0.5),
        e.pct(0.99),
        e.pct(1.0),
        c.pct(0.5),
        c.pct(0.99)
    );
}

/// Many agents drain a large queue through the HTTP claim endpoint.
pub async fn claims(kind: DbKind, a: &ClaimArgs) {
    let Some(app) = TestApp::on(kind, |c| {
        c.builds.lease_seconds = 3600;
        c.database_max_connections = 32;
    })
    .await
    else {
        println!("{kind:?}: skipped (no database server)");
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let (_, repo) = app.get("/api/v1/repos/alice/tools", None).await;
    let repo_id = repo["id"].as_i64().expect("id") as i32;
    // Several parents, as real queues hold many submissions.
    let per_parent = 500;
    for _ in 0..a.queued.div_ceil(per_parent) {
        queue_subtasks(
            &app.kiln,
            repo_id,
            alice.id,
            per_parent.min(a.queued),
            "x86_64",
        )
        .await;
    }
    let mut tokens = Vec::new();
    for i in 0..a.agents {
        tokens.push(fake_agent_token(&app.kiln, &format!("agent{i}"), 256).await);
    }
    let start = Instant::now();
    let mut handles = Vec::new();
    for token in tokens {
        let base = app.base.clone();
        handles.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut got = Vec::new();
            let mut lat = Vec::new();
            loop {
                let t = Instant::now();
                match claim(&http, &base, &token, 0).await {
                    Some(job) => {
                        lat.push(t.elapsed());
                        got.push(job.task_id);
                    }
                    None => return (got, lat),
                }
            }
        }));
    }
    let mut ids = Vec::new();
    let mut lat = Vec::new();
    for h in handles {
        let (g, l) = h.await.expect("agent");
        ids.extend(g);
        lat.extend(l);
    }
    let elapsed = start.elapsed();
    let unique: HashSet<i32> = ids.iter().copied().collect();
    let f = figures(lat, elapsed);
    println!(
        "{:<8} claims: {} claimed by {} agents in {:.2} s = {:.0} claims/s; double claims: {}; per-claim p50 {:.1} ms p99 {:.1} ms",
        format!("{kind:?}"),
        ids.len(),
        a.agents,
        elapsed.as_secs_f64(),
        ids.len() as f64 / elapsed.as_secs_f64(),
        ids.len() - unique.len(),
        f.pct(0.5),
        f.pct(0.99)
    );
    assert_eq!(
        ids.len(),
        a.queued.div_ceil(per_parent) * per_parent.min(a.queued),
        "every queued subtask was claimed"
    );
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Uploads one large SRPM to a `kiln serve` process and compares with copying the file.
pub async fn upload(a: &UploadArgs) {
    let dir = tempfile::tempdir_in(std::env::var("KILN_BENCH_DIR").unwrap_or_else(|_| ".".into()))
        .expect("dir");
    let src = dir.path().join("big");
    std::fs::create_dir_all(&src).expect("dir");
    // An SRPM carrying an incompressible source file, stored without payload compression.
    let data = src.join("big.bin");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c {}M /dev/urandom > {}",
            a.mib,
            data.display()
        ))
        .status()
        .expect("random data");
    assert!(status.success());
    let spec = src.join("kiln-big.spec");
    std::fs::write(
        &spec,
        "Name: kiln-big\nVersion: 1\nRelease: 1\nSummary: big\nLicense: MIT\nSource0: big.bin\n%description\nbig\n%files\n",
    )
    .expect("spec");
    let top = src.join("top");
    std::fs::create_dir_all(top.join("SOURCES")).expect("dir");
    std::fs::rename(&data, top.join("SOURCES/big.bin")).expect("move");
    let out = src.join("out");
    let status = std::process::Command::new("rpmbuild")
        .arg("-bs")
        .arg(&spec)
        .args(["--define", &format!("_topdir {}", top.display())])
        .args(["--define", &format!("_srcrpmdir {}", out.display())])
        .args(["--define", &format!("_dbpath {}/db", top.display())])
        .args(["--define", "_source_payload w0.ufdio"])
        .env("HOME", &top)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("rpmbuild");
    assert!(status.success());
    let srpm_path = out.join("kiln-big-1-1.src.rpm");
    let size = std::fs::metadata(&srpm_path).expect("srpm").len();
    std::fs::remove_file(top.join("SOURCES/big.bin")).expect("rm");

    // The plain copy to compare with (same disk).
    let t = Instant::now();
    std::fs::copy(&srpm_path, dir.path().join("copy.src.rpm")).expect("copy");
    let copy = t.elapsed();
    std::fs::remove_file(dir.path().join("copy.src.rpm")).expect("rm");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let data_dir = dir.path().join("server");
    std::fs::create_dir_all(&data_dir).expect("dir");
    let mut server = kiln_tests::pipeline::ServerProcess::start(
        &data_dir,
        vec![
            ("KILN_LISTEN".into(), format!("127.0.0.1:{port}")),
            ("KILN_LOCAL_AGENT".into(), "off".into()),
            ("KILN_BUILDS_MAX_SRPM_SIZE".into(), (size * 2).to_string()),
        ],
    );
    std::fs::write(data_dir.join("pw"), "a-long-password\n").expect("pw");
    server.admin(&[
        "admin",
        "create-user",
        "--username",
        "alice",
        "--password-file",
        "pw",
    ]);
    let token = server.admin(&[
        "admin",
        "create-token",
        "--username",
        "alice",
        "--name",
        "t",
    ]);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/v1/repos", server.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "big", "chroots": ["fedora-44-x86_64"]}))
        .send()
        .await
        .expect("repo");
    assert!(r.status().is_success());
    let pid = server.pid().expect("pid");
    let before = rss_kib(pid, "VmRSS:");
    let file = tokio::fs::File::open(&srpm_path).await.expect("open");
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
        file,
        256 * 1024,
    ));
    let form = reqwest::multipart::Form::new().part(
        "srpm",
        reqwest::multipart::Part::stream_with_length(body, size).file_name("kiln-big-1-1.src.rpm"),
    );
    let t = Instant::now();
    let resp = http
        .post(format!("{}/api/v1/repos/alice/big/builds", server.url))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let upload = t.elapsed();
    let status = resp.status();
    assert_eq!(
        status,
        reqwest::StatusCode::CREATED,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let peak = rss_kib(pid, "VmHWM:");
    let mib = size as f64 / 1048576.0;
    println!(
        "upload of a {mib:.0} MiB SRPM: {:.2} s = {:.0} MiB/s (staged, checked, stored in local-filesystem storage); plain file copy {:.2} s = {:.0} MiB/s; ratio {:.2}x",
        upload.as_secs_f64(),
        mib / upload.as_secs_f64(),
        copy.as_secs_f64(),
        mib / copy.as_secs_f64(),
        upload.as_secs_f64() / copy.as_secs_f64()
    );
    println!(
        "server RSS: {:.1} MiB before the upload, peak {:.1} MiB; growth {:.1} MiB",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        (peak.saturating_sub(before)) as f64 / 1024.0
    );
    server.kill();
}
