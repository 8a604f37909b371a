//! `kiln-bench`: load figures for the read paths users hit most. Starts a real server (release
//! build recommended: `cargo run --release -p kiln-tests --bin kiln-bench`), seeds repos, then
//! drives GET /api/v1/repos/OWNER/REPO (the repo page API) and GET /api/v1/repos (the repo list)
//! from N concurrent keep-alive connections, on SQLite and on PostgreSQL. Prints req/s and
//! latency percentiles. Client and server share this machine's cores.

use std::time::{Duration, Instant};

use clap::Parser;
mod pipeline;
mod publish;
mod sources;
mod ui;

use kiln_tests::{DbKind, TestApp};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(clap::Subcommand)]
enum Bench {
    /// The repo page API and the repo list under concurrent load.
    Api(Args),
    /// Dispatch latency: submission to an idle, waiting agent receiving the build.
    Dispatch(pipeline::DispatchArgs),
    /// Claim throughput: many agents draining a large queue (no double claims).
    Claims(pipeline::ClaimArgs),
    /// A large SRPM upload: throughput against a file copy, and the server's memory growth.
    Upload(pipeline::UploadArgs),
    /// Publishing one package into chroots of 1,000 and 10,000 packages, against
    /// createrepo_c --update on the same files.
    Publish(publish::PublishArgs),
    /// Parent task success to the package being visible to dnf (a real agent builds).
    Visibility(publish::VisibilityArgs),
    /// Server render time of a repo's pages with 100 builds, and the wasm bundle's size.
    Ui(ui::UiArgs),
    /// A git source to its first RPM build starting, beyond the clone and `rpmbuild -bs`.
    Source(sources::SourceArgs),
    /// The download path (repomd.xml and a package) of a private repo with a read token
    /// against a public repo's, in the same run: the cost of authorization.
    Download(publish::DownloadArgs),
}

#[derive(Parser)]
struct Args {
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    db: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds per measurement (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Repos to seed.
    #[arg(long, default_value_t = 200)]
    repos: usize,
}

pub struct Figures {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Figures {
    pub fn pct(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }
}

async fn load(base: &str, paths: &[String], connections: usize, duration: Duration) -> Figures {
    load_as(base, paths, connections, duration, None).await
}

/// `load` with HTTP Basic credentials (`USER:PASSWORD`) on every request, as dnf sends them.
pub async fn load_as(
    base: &str,
    paths: &[String],
    connections: usize,
    duration: Duration,
    basic: Option<(&str, &str)>,
) -> Figures {
    let basic = basic.map(|(u, p)| (u.to_owned(), p.to_owned()));
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("client");
        let urls: Vec<String> = paths.iter().map(|p| format!("{base}{p}")).collect();
        let basic = basic.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut i = c;
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut req = client.get(&urls[i % urls.len()]);
                if let Some((u, p)) = &basic {
                    req = req.basic_auth(u, Some(p));
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
                i += 1;
            }
            (lat, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("task");
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    Figures {
        requests: latencies.len(),
        errors,
        elapsed: start.elapsed(),
        latencies,
    }
}

async fn bench(kind: DbKind, args: &Args) {
    let Some(app) = TestApp::on(kind, |c| c.database_max_connections = 32).await else {
        println!("{kind:?}: skipped (no database server)");
        return;
    };
    let owner = app.user("owner", false).await;
    for i in 0..args.repos {
        app.repo(&owner, &format!("repo{i:04}"), &[]).await;
    }
    let repo_paths: Vec<String> = (0..args.repos)
        .map(|i| format!("/api/v1/repos/owner/repo{i:04}"))
        .collect();
    let list_paths = vec![
        "/api/v1/repos".to_owned(),
        "/api/v1/repos?page=2".to_owned(),
        "/api/v1/repos?owner=owner".to_owned(),
    ];
    for (name, paths) in [
        ("repo page API  GET /api/v1/repos/OWNER/REPO", &repo_paths),
        (
            "repo list      GET /api/v1/repos (50 per page)",
            &list_paths,
        ),
    ] {
        let _ = load(&app.base, paths, args.connections, Duration::from_secs(1)).await;
        let f = load(
            &app.base,
            paths,
            args.connections,
            Duration::from_secs(args.seconds),
        )
        .await;
        println!(
            "{:<8} {name}: {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  ({} requests, {} errors, {} connections)",
            format!("{kind:?}"),
            f.requests as f64 / f.elapsed.as_secs_f64(),
            f.pct(0.50),
            f.pct(0.99),
            f.pct(1.0),
            f.requests,
            f.errors,
            args.connections
        );
    }
}

fn kinds(db: &str) -> Vec<DbKind> {
    match db {
        "sqlite" => vec![DbKind::Sqlite],
        "postgres" => vec![DbKind::Postgres],
        _ => vec![DbKind::Sqlite, DbKind::Postgres],
    }
}

#[tokio::main]
async fn main() {
    match Cli::parse().bench {
        Bench::Api(args) => api(args).await,
        Bench::Dispatch(a) => {
            for kind in kinds(&a.db) {
                pipeline::dispatch(kind, &a).await;
            }
        }
        Bench::Claims(a) => {
            for kind in kinds(&a.db) {
                pipeline::claims(kind, &a).await;
            }
        }
        Bench::Upload(a) => pipeline::upload(&a).await,
        Bench::Publish(a) => {
            for kind in kinds(&a.db) {
                publish::publish(kind, &a).await;
            }
        }
        Bench::Visibility(a) => {
            for kind in kinds(&a.db) {
                publish::visibility(kind, &a).await;
            }
        }
        Bench::Ui(a) => {
            for kind in kinds(&a.db) {
                ui::ui(kind, &a).await;
            }
        }
        Bench::Download(a) => {
            for kind in kinds(&a.db) {
                publish::download(kind, &a).await;
            }
        }
        Bench::Source(a) => {
            for kind in kinds(&a.db) {
                sources::sources(kind, &a).await;
            }
        }
    }
}

async fn api(args: Args) {
    for kind in kinds(&args.db) {
        bench(kind, &args).await;
    }
}
