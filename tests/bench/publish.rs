//! Publishing benchmarks. `publish`: one package added to a chroot that holds N packages, timed
//! from the new RPM's import (signing, header read) to its `repomd.xml` being written, against
//! `createrepo_c --update` adding the same file to a directory of the same N files, in the same
//! run. `visibility`: a real agent builds a package; the time from its parent task's success
//! to the package being in the repo dnf downloads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use kiln_core::entities::{packages, tasks};
use kiln_core::services::publish;
use kiln_tests::pipeline::{srpm, submit_files, wait_final, wait_for, Agent};
use kiln_tests::{DbKind, TestApp};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

#[derive(Parser)]
pub struct PublishArgs {
    /// sqlite, postgres or both.
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// Chroot sizes (packages already published).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    pub sizes: Vec<usize>,
    /// Packages added (and timed) per size.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
}

#[derive(Parser)]
pub struct VisibilityArgs {
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// Builds to time.
    #[arg(long, default_value_t = 10)]
    pub builds: usize,
}

const CHROOT: &str = "fedora-44-x86_64";

/// A binary RPM like a small library package: files, provides, requires, changelog.
fn make_rpm(dir: &Path, i: usize) -> PathBuf {
    let name = format!("bench-pkg-{i:05}");
    let version = format!("1.{}", i % 17);
    let mut b = rpm::PackageBuilder::new(
        &name,
        &version,
        "MIT",
        "x86_64",
        &format!("Benchmark package number {i}"),
    );
    b.release("1.fc44")
        .description(format!(
            "Package {i} of the publishing benchmark: a library, a command and its manual."
        ))
        .url("https://example.org/bench")
        .provides(rpm::Dependency::eq(
            format!("libbench{i}.so.1()(64bit)"),
            "",
        ))
        .provides(rpm::Dependency::eq(
            format!("bench-api-{}", i % 50),
            &version,
        ))
        .requires(rpm::Dependency::any("libc.so.6()(64bit)"))
        .requires(rpm::Dependency::any("libc.so.6(GLIBC_2.34)(64bit)"))
        .requires(rpm::Dependency::greater_eq(
            format!("bench-pkg-{:05}", i / 2),
            "1.0",
        ));
    for (n, path) in [
        (0, format!("/usr/lib64/libbench{i}.so.1")),
        (1, format!("/usr/bin/bench{i}")),
        (2, format!("/usr/share/man/man1/bench{i}.1.gz")),
        (3, format!("/usr/share/doc/{name}/README")),
    ] {
        b.with_file_contents(
            format!("content {n} of package {i}\n").into_bytes(),
            rpm::FileOptions::new(path).permissions(if n == 1 { 0o755 } else { 0o644 }),
        )
        .expect("file");
    }
    for c in 0..3u32 {
        b.add_changelog_entry(
            "Bench <bench@example.org> - 1.0-1",
            format!("- Change {c} of package {i}."),
            1_790_000_000 - c * 86_400,
        );
    }
    let pkg = b.build().expect("rpm");
    let sub = dir.join(format!("{i:08}"));
    std::fs::create_dir_all(&sub).expect("dir");
    let path = sub.join(format!("{name}-{version}-1.fc44.x86_64.rpm"));
    pkg.write_file(&path).expect("write rpm");
    path
}

/// The subtask row an imported file belongs to (as the agent's upload would have it).
fn subtask(repo_id: i32, owner: i32, id: i32, parent: i32) -> tasks::Model {
    let now = kiln_core::now();
    tasks::Model {
        id,
        parent_id: Some(parent),
        kind: "build".into(),
        needs_backend: None,
        repo_id,
        owner_id: owner,
        submitter_id: owner,
        state: "succeeded".into(),
        scratch: false,
        priority: 0,
        source_id: None,
        file_name: None,
        mock_config_name: Some(CHROOT.into()),
        mock_config_snapshot: Some(serde_json::json!({"config": {"base": CHROOT}})),
        arch: Some("x86_64".into()),
        reason: None,
        attempt: 1,
        agent_id: None,
        lease_expires_at: None,
        cancel_requested: false,
        created_at: now,
        started_at: Some(now),
        finished_at: Some(now),
        failure_stage: None,
        backend: None,
        logs_removed_at: None,
        origin: None,
        package_id: None,
    }
}

/// Imports the RPM at `path` as package number `i` (signed in place, entries made) and stores
/// its row, as an agent's upload does.
async fn import(app: &TestApp, repo_id: i32, owner: i32, i: usize, path: &Path) {
    let id = 1_000_000 + i as i32;
    let t = subtask(repo_id, owner, id, id);
    let name = path.file_name().and_then(|n| n.to_str()).expect("name");
    let imported = publish::import_rpm(&app.kiln, &t, path, name)
        .await
        .expect("import");
    let mut row = imported.package;
    row.artifact_id = Set(id);
    row.in_repo = Set(false);
    row.insert(&app.kiln.db).await.expect("package row");
}

/// Seeds the chroot with the packages at `paths` (already in the repo): entries made the way
/// an import makes them, rows inserted in batches. Not signed (seeding 10,000 RSA signatures
/// would take minutes); the rows carry the repo key's fingerprint so nothing is re-signed, and
/// createrepo_c indexes the same files.
async fn seed(app: &TestApp, repo_id: i32, paths: &[PathBuf]) {
    let key = publish::active_key(&app.kiln, repo_id).await.expect("key");
    let paths = paths.to_vec();
    let rows = tokio::task::spawn_blocking(move || {
        paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                use sha2::Digest;
                let bytes = std::fs::read(path).expect("rpm");
                let sha = hex::encode(sha2::Sha256::digest(&bytes));
                let meta = rpm::PackageMetadata::open(path).expect("header");
                let dir = path.parent().and_then(|p| p.file_name()).expect("dir");
                let href = format!(
                    "{}/{}",
                    dir.to_string_lossy(),
                    path.file_name().expect("name").to_string_lossy()
                );
                let xml = kiln_core::repodata::package_xml(
                    &meta,
                    &kiln_core::repodata::FileFacts {
                        sha256: &sha,
                        size: bytes.len() as u64,
                        time_file: 1_790_000_000,
                        href: &href,
                    },
                )
                .expect("entries");
                packages::ActiveModel {
                    repo_id: Set(repo_id),
                    parent_id: Set(1_000_000 + i as i32),
                    artifact_id: Set(1_000_000 + i as i32),
                    chroot: Set(CHROOT.into()),
                    name: Set(meta.get_name().expect("name").to_owned()),
                    epoch: Set(0),
                    version: Set(meta.get_version().expect("version").to_owned()),
                    release: Set(meta.get_release().expect("release").to_owned()),
                    arch: Set("x86_64".into()),
                    href: Set(href.clone()),
                    pkgid: Set(sha),
                    size: Set(bytes.len() as i64),
                    key_fingerprint: Set(key.fingerprint.clone()),
                    in_repo: Set(true),
                    primary_xml: Set(xml.primary),
                    filelists_xml: Set(xml.filelists),
                    other_xml: Set(xml.other),
                    created_at: Set(kiln_core::now()),
                    ..Default::default()
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("entries");
    for chunk in rows.chunks(500) {
        packages::Entity::insert_many(chunk.to_vec())
            .exec(&app.kiln.db)
            .await
            .expect("rows");
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn createrepo_c(args: &[&str], dir: &Path) -> Duration {
    let t = Instant::now();
    let out = Command::new("createrepo_c")
        .args(args)
        .arg(dir)
        .output()
        .expect("createrepo_c (apt-get install createrepo-c)");
    let elapsed = t.elapsed();
    assert!(
        out.status.success(),
        "createrepo_c: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

/// Runs the publisher until no publish is pending or running (the server's own publisher
/// loop may take a chroot first; then this waits for it).
async fn publish_now(app: &TestApp) {
    use kiln_core::entities::publishes;
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    loop {
        publish::run_pending(&app.kiln).await.expect("publish");
        let busy = publishes::Entity::find()
            .filter(publishes::Column::State.is_in(["pending", "running"]))
            .count(&app.kiln.db)
            .await
            .expect("publishes");
        if busy == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

pub async fn publish(kind: DbKind, a: &PublishArgs) {
    for &size in &a.sizes {
        // The default key type (RSA-4096): every import and repomd.xml.asc is signed with it.
        let Some(app) = TestApp::on(kind, |c| {
            c.publish.grace_seconds = 0;
            c.signing.key_type = kiln_core::config::SigningKeyType::Rsa4096;
        })
        .await
        else {
            println!("{kind:?}: skipped (no database server)");
            return;
        };
        let owner = app.user("owner", false).await;
        app.repo(&owner, "big", &[]).await;
        let ctx =
            publish::repo_for_serving(&app.kiln, &kiln_core::Principal::Anonymous, "owner", "big")
                .await
                .expect("repo");
        let repo_id = ctx.repo.id;
        let user_id = ctx.owner.id;
        let files = app.dir.path().join("files");
        // Seed: N packages, imported as agents' uploads would be, then one full metadata run.
        let t = Instant::now();
        let made: Vec<PathBuf> = {
            let files = files.clone();
            tokio::task::spawn_blocking(move || (0..size).map(|i| make_rpm(&files, i)).collect())
                .await
                .expect("rpms")
        };
        let generated = t.elapsed();
        let t = Instant::now();
        seed(&app, repo_id, &made).await;
        let imported = t.elapsed();
        let principal = app.principal(&owner).await;
        publish::createrepo(&app.kiln, &principal, "owner", "big")
            .await
            .expect("createrepo");
        let t = Instant::now();
        publish_now(&app).await;
        let full = t.elapsed();
        // createrepo_c's starting point: the same (signed) files, indexed once.
        let t = Instant::now();
        createrepo_c(&["--quiet", "--no-database"], &files);
        let cr_full = t.elapsed();
        println!(
            "{kind:?} {size} packages: seeded in {:.1} s (generate {:.1} s, entries {:.1} s); first (cold) run: kiln {:.0} ms, createrepo_c {:.0} ms",
            (generated + imported).as_secs_f64(),
            generated.as_secs_f64(),
            imported.as_secs_f64(),
            ms(full),
            ms(cr_full)
        );

        let (mut ours, mut ours_run, mut theirs, mut theirs_db) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in 0..a.rounds {
            let i = size + r;
            let path = {
                let files = files.clone();
                tokio::task::spawn_blocking(move || make_rpm(&files, i))
                    .await
                    .expect("rpm")
            };
            // Kiln: the upload's import, the parent's success queuing the publish, the run.
            let t = Instant::now();
            import(&app, repo_id, user_id, i, &path).await;
            let parent = subtask(repo_id, user_id, 1_000_000 + i as i32, 1_000_000 + i as i32);
            let parent = tasks::Model {
                parent_id: None,
                ..parent
            };
            publish::queue_for_parent(&app.kiln.db, &parent)
                .await
                .expect("queue");
            let t_run = Instant::now();
            publish_now(&app).await;
            ours.push(t.elapsed());
            ours_run.push(t_run.elapsed());
            // createrepo_c --update on the same files (the new one included), both ways.
            theirs.push(createrepo_c(
                &["--quiet", "--update", "--no-database"],
                &files,
            ));
            theirs_db.push(createrepo_c(&["--quiet", "--update"], &files));
        }
        let count = {
            use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
            packages::Entity::find()
                .filter(packages::Column::InRepo.eq(true))
                .count(&app.kiln.db)
                .await
                .expect("packages")
        };
        assert_eq!(
            count as usize,
            size + a.rounds,
            "every package is in the repo"
        );
        let (o, or, c, cd) = (
            median(ours),
            median(ours_run),
            median(theirs),
            median(theirs_db),
        );
        println!(
            "{kind:?} {size} packages + 1: kiln publish (parent success to repomd.xml written) {:.1} ms; with the upload's import (RSA signing, header read) {:.1} ms | createrepo_c --update --no-database {:.1} ms, --update {:.1} ms | ratio publish/createrepo_c {:.3} (goal <= 0.25), with import {:.3}; medians of {} rounds",
            ms(or),
            ms(o),
            ms(c),
            ms(cd),
            or.as_secs_f64() / c.as_secs_f64(),
            o.as_secs_f64() / c.as_secs_f64(),
            a.rounds
        );
        let _ = std::fs::remove_dir_all(&files);
    }
}

/// Parent success (the server's `finished_at`) to the package being listed in the chroot's
/// primary metadata, polled over HTTP as dnf fetches it; dnf itself confirms each time.
pub async fn visibility(kind: DbKind, a: &VisibilityArgs) {
    let Some(app) = TestApp::on(kind, |_| {}).await else {
        println!("{kind:?}: skipped (no database server)");
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let hello = srpm("kiln-hello", &out);
    let http = reqwest::Client::new();
    let chroot = app.url(&format!("/repos/alice/tools/{CHROOT}/"));
    let mut lat = Vec::new();
    let mut dnf_times = Vec::new();
    let mut server = Vec::new();
    for _ in 0..a.builds {
        let task = submit_files(&app, &alice.token, "alice/tools", &[&hello], &[]).await;
        let id = task["id"].as_i64().expect("id");
        let sub = task["subtasks"][0]["id"].as_i64().expect("subtask");
        let href = format!("{sub:08}/kiln-hello-1.0-1");
        // Poll primary until the new build's package is listed.
        let seen = loop {
            if primary_lists(&http, &chroot, &href).await {
                break time::OffsetDateTime::now_utc();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let done = wait_final(&app, id, 60).await;
        assert_eq!(done["state"], "succeeded", "{done:#}");
        let done = wait_for(&app, id, 30, |t| t["publish_state"] == "published").await;
        let finished = time::OffsetDateTime::parse(
            done["finished_at"].as_str().expect("finished_at"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("time");
        lat.push(Duration::from_secs_f64(
            (seen - finished).as_seconds_f64().max(0.0),
        ));
        let published = {
            use kiln_core::entities::publishes;
            use sea_orm::{ColumnTrait, QueryFilter};
            publishes::Entity::find()
                .filter(publishes::Column::ParentId.eq(id as i32))
                .one(&app.kiln.db)
                .await
                .expect("db")
                .and_then(|p| p.finished_at)
                .expect("publish finished")
        };
        server.push(Duration::from_secs_f64(
            (published - finished).as_seconds_f64().max(0.0),
        ));
        // dnf, metadata expired at once, sees the package now.
        let cache = tempfile::tempdir().expect("cache");
        let t = Instant::now();
        let q = Command::new("/usr/bin/python3")
            .arg(kiln_tests::repo_root().join("tests/fixtures/dnf-query.py"))
            .arg(&chroot)
            .arg(cache.path())
            .output()
            .expect("dnf-query");
        dnf_times.push(t.elapsed());
        assert!(q.status.success());
        assert!(String::from_utf8_lossy(&q.stdout).contains(&href));
    }
    let n = lat.len();
    lat.sort();
    server.sort();
    println!(
        "{kind:?} parent success -> repomd.xml written (server clock): p50 {:.1} ms, max {:.1} ms; -> seen in primary by a client polling every 5 ms: p50 {:.1} ms, max {:.1} ms ({n} builds by a real agent); a dnf metadata load then takes p50 {:.0} ms and lists the package every time",
        ms(server[n / 2]),
        ms(server[n - 1]),
        ms(lat[n / 2]),
        ms(lat[n - 1]),
        ms(median(dnf_times)),
    );
}

async fn primary_lists(http: &reqwest::Client, chroot: &str, href: &str) -> bool {
    use std::io::Read;
    let Ok(resp) = http
        .get(format!("{chroot}repodata/repomd.xml"))
        .send()
        .await
    else {
        return false;
    };
    let Ok(repomd) = resp.text().await else {
        return false;
    };
    let Some(primary) = repomd
        .split("<data type=\"primary\">")
        .nth(1)
        .and_then(|s| s.split("<location href=\"").nth(1))
        .and_then(|s| s.split('"').next())
    else {
        return false;
    };
    let Ok(resp) = http.get(format!("{chroot}{primary}")).send().await else {
        return false;
    };
    let Ok(gz) = resp.bytes().await else {
        return false;
    };
    let mut xml = String::new();
    let _ = flate2::read::MultiGzDecoder::new(&gz[..]).read_to_string(&mut xml);
    xml.contains(href)
}

#[derive(clap::Parser)]
pub struct DownloadArgs {
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    pub db: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seconds per measurement; each side is measured twice, alternately.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
}

/// GETs of repomd.xml and a package, from `connections` keep-alive connections: a public
/// repo's anonymously, a private repo's with a read token as dnf sends it (HTTP Basic); the
/// two measured alternately in the same run, p50 and p99 of each and the difference.
pub async fn download(kind: DbKind, a: &DownloadArgs) {
    let Some(app) = TestApp::on(kind, |c| c.database_max_connections = 32).await else {
        println!("{kind:?}: skipped (no database server)");
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    app.repo(&alice, "secret", &[]).await;
    let (s, _) = app
        .call(
            reqwest::Method::PATCH,
            "/api/v1/repos/alice/secret",
            Some(&alice.token),
            Some(serde_json::json!({"visibility": "private"})),
        )
        .await;
    assert!(s.is_success());
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let hello = srpm("kiln-hello", &out);
    let mut paths = Vec::new();
    for repo in ["tools", "secret"] {
        let task = submit_files(&app, &alice.token, &format!("alice/{repo}"), &[&hello], &[]).await;
        let id = task["id"].as_i64().expect("id");
        let sub = task["subtasks"][0]["id"].as_i64().expect("subtask");
        let done = kiln_tests::pipeline::wait_for_as(&app, Some(&alice.token), id, 60, |t| {
            t["publish_state"] == "published"
        })
        .await;
        assert_eq!(done["state"], "succeeded", "{done:#}");
        let base = format!("/repos/alice/{repo}/{CHROOT}");
        paths.push(vec![
            format!("{base}/repodata/repomd.xml"),
            format!("{base}/{sub:08}/kiln-hello-1.0-1.fc44.noarch.rpm"),
        ]);
    }
    let (_, t) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/repos/alice/secret/read-tokens",
            Some(&alice.token),
            Some(serde_json::json!({"name": "bench"})),
        )
        .await;
    let token = t["token"].as_str().expect("token").to_owned();
    let secs = Duration::from_secs(a.seconds);
    // Warm both, then alternate: public, private, public, private.
    let _ = crate::load_as(
        &app.base,
        &paths[0],
        a.connections,
        Duration::from_secs(1),
        None,
    )
    .await;
    let _ = crate::load_as(
        &app.base,
        &paths[1],
        a.connections,
        Duration::from_secs(1),
        Some(("dnf", &token)),
    )
    .await;
    let mut public = Vec::new();
    let mut private = Vec::new();
    let (mut n_pub, mut n_priv, mut errors) = (0, 0, 0);
    let (mut t_pub, mut t_priv) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..2 {
        let f = crate::load_as(&app.base, &paths[0], a.connections, secs, None).await;
        n_pub += f.requests;
        t_pub += f.elapsed;
        errors += f.errors;
        public.extend(f.latencies);
        let f = crate::load_as(
            &app.base,
            &paths[1],
            a.connections,
            secs,
            Some(("dnf", &token)),
        )
        .await;
        n_priv += f.requests;
        t_priv += f.elapsed;
        errors += f.errors;
        private.extend(f.latencies);
    }
    public.sort();
    private.sort();
    let pct = |v: &[Duration], p: f64| {
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        ms(v[i])
    };
    // The same, mixed: every connection alternates a public and a private request, so both
    // see the same load at the same moments (no run-to-run drift between the two).
    let (mut mixed_pub, mut mixed_priv, mixed_errors) = interleaved(
        &app.base,
        &paths[0],
        &paths[1],
        &token,
        a.connections,
        secs * 2,
    )
    .await;
    mixed_pub.sort();
    mixed_priv.sort();
    println!(
        "{kind:?} downloads mixed on every connection ({} connections, {} s): public p50 {:.2} ms p99 {:.2} ms; private with a read token p50 {:.2} ms p99 {:.2} ms; p99 difference {:+.2} ms ({} + {} requests, {mixed_errors} errors)",
        a.connections,
        a.seconds * 2,
        pct(&mixed_pub, 0.5),
        pct(&mixed_pub, 0.99),
        pct(&mixed_priv, 0.5),
        pct(&mixed_priv, 0.99),
        pct(&mixed_priv, 0.99) - pct(&mixed_pub, 0.99),
        mixed_pub.len(),
        mixed_priv.len(),
    );
    println!(
        "{kind:?} downloads (repomd.xml + a package) at {} connections: public p50 {:.2} ms p99 {:.2} ms ({:.0} req/s); private with a read token p50 {:.2} ms p99 {:.2} ms ({:.0} req/s); p99 difference {:+.2} ms; {errors} errors",
        a.connections,
        pct(&public, 0.5),
        pct(&public, 0.99),
        n_pub as f64 / t_pub.as_secs_f64(),
        pct(&private, 0.5),
        pct(&private, 0.99),
        n_priv as f64 / t_priv.as_secs_f64(),
        pct(&private, 0.99) - pct(&public, 0.99),
    );
}

/// `connections` keep-alive connections, each alternating a GET of `public` (anonymous) and of
/// `private` (with `token` as the HTTP Basic password) for `duration`: the latencies of each
/// kind and the failures.
async fn interleaved(
    base: &str,
    public: &[String],
    private: &[String],
    token: &str,
    connections: usize,
    duration: Duration,
) -> (Vec<Duration>, Vec<Duration>, usize) {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for c in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("client");
        let urls: Vec<(String, bool)> = public
            .iter()
            .map(|p| (format!("{base}{p}"), false))
            .zip(private.iter().map(|p| (format!("{base}{p}"), true)))
            .flat_map(|(a, b)| [a, b])
            .collect();
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let (mut open, mut closed, mut errors) = (Vec::new(), Vec::new(), 0);
            let mut i = c;
            while Instant::now() < deadline {
                let (url, private) = &urls[i % urls.len()];
                let mut req = client.get(url);
                if *private {
                    req = req.basic_auth("dnf", Some(&token));
                }
                let t = Instant::now();
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        if *private {
                            closed.push(t.elapsed());
                        } else {
                            open.push(t.elapsed());
                        }
                    }
                    _ => errors += 1,
                }
                i += 1;
            }
            (open, closed, errors)
        }));
    }
    let (mut open, mut closed, mut errors) = (Vec::new(), Vec::new(), 0);
    for t in tasks {
        let (o, c, e) = t.await.expect("task");
        open.extend(o);
        closed.extend(c);
        errors += e;
    }
    (open, closed, errors)
}
