//! Build pipeline helpers: SRPMs made from the spec files in `tests/fixtures`, real
//! `kiln-agent` processes, multipart submissions, waiting for tasks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::{repo_root, workspace_binary, TestApp};

/// Builds the SRPM of `tests/fixtures/NAME.spec` into `out`; returns its path.
pub fn srpm(name: &str, out: &Path) -> PathBuf {
    let top = tempfile::tempdir().expect("topdir");
    let spec = repo_root()
        .join("tests/fixtures")
        .join(format!("{name}.spec"));
    let status = Command::new("rpmbuild")
        .arg("-bs")
        .arg(&spec)
        .args(["--define", &format!("_topdir {}", top.path().display())])
        .args(["--define", &format!("_srcrpmdir {}", out.display())])
        .args(["--define", &format!("_dbpath {}/db", top.path().display())])
        .env("HOME", top.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("rpmbuild (install rpm)");
    assert!(status.success(), "rpmbuild -bs {name}");
    std::fs::read_dir(out)
        .expect("out")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}-")) && n.ends_with(".src.rpm"))
        })
        .expect("the SRPM")
}

/// Builds the SRPM of the spec `spec` (a path) into `out`, its `Source0` tarball made from
/// the fixture tree `tests/fixtures/TREE` by `make-tarball.sh` with `extra` files added at
/// its top; returns the SRPM's path.
pub fn srpm_with_tarball(spec: &Path, tree: &str, extra: &[&Path], out: &Path) -> PathBuf {
    let top = tempfile::tempdir().expect("topdir");
    let sources = top.path().join("SOURCES");
    let fixtures = repo_root().join("tests/fixtures");
    let made = Command::new("bash")
        .arg(fixtures.join("make-tarball.sh"))
        .arg(fixtures.join(tree))
        .arg(&sources)
        .args(extra)
        .output()
        .expect("make-tarball.sh");
    assert!(
        made.status.success(),
        "make-tarball.sh {tree}: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    rpmbuild_bs(spec, top.path(), &sources, out)
}

/// `rpmbuild -bs SPEC` with sources from `sources`, into `out`; returns the SRPM's path.
pub fn rpmbuild_bs(spec: &Path, top: &Path, sources: &Path, out: &Path) -> PathBuf {
    std::fs::create_dir_all(out).expect("out");
    let before: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("out")
        .flatten()
        .map(|e| e.path())
        .collect();
    let made = Command::new("rpmbuild")
        .arg("-bs")
        .arg(spec)
        .args(["--define", &format!("_topdir {}", top.display())])
        .args(["--define", &format!("_sourcedir {}", sources.display())])
        .args(["--define", &format!("_srcrpmdir {}", out.display())])
        .args(["--define", &format!("_dbpath {}/db", top.display())])
        .env("HOME", top)
        .output()
        .expect("rpmbuild (install rpm)");
    assert!(
        made.status.success(),
        "rpmbuild -bs {}: {}",
        spec.display(),
        String::from_utf8_lossy(&made.stderr)
    );
    std::fs::read_dir(out)
        .expect("out")
        .flatten()
        .map(|e| e.path())
        .find(|p| !before.contains(p) && p.to_string_lossy().ends_with(".src.rpm"))
        .unwrap_or_else(|| {
            // The same SRPM made again: rpmbuild wrote over it.
            let name = String::from_utf8_lossy(&made.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("Wrote: ").map(str::to_owned))
                .expect("rpmbuild says what it wrote");
            PathBuf::from(name)
        })
}

/// Builds the binary RPM of `tests/fixtures/NAME.spec` into `out`; returns its path.
pub fn binary_rpm(name: &str, out: &Path) -> PathBuf {
    let top = tempfile::tempdir().expect("topdir");
    let spec = repo_root()
        .join("tests/fixtures")
        .join(format!("{name}.spec"));
    let made = Command::new("rpmbuild")
        .arg("-bb")
        .arg(&spec)
        .args(["--define", &format!("_topdir {}", top.path().display())])
        .args(["--define", &format!("_rpmdir {}", out.display())])
        .args([
            "--define",
            "_build_name_fmt %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm",
        ])
        .args(["--define", &format!("_dbpath {}/db", top.path().display())])
        .env("HOME", top.path())
        .output()
        .expect("rpmbuild (install rpm)");
    assert!(made.status.success(), "rpmbuild -bb {name}");
    String::from_utf8_lossy(&made.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Wrote: ").map(PathBuf::from))
        .expect("rpmbuild says what it wrote")
}

/// Whether rpmbuild is here; outside CI its absence skips the pipeline tests.
pub fn have_rpmbuild() -> bool {
    let ok = Command::new("rpmbuild")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if crate::in_ci() {
            panic!("rpmbuild is required in CI (tests/run installs rpm)");
        }
        eprintln!("NOTICE: skipping a pipeline test: rpmbuild is not installed");
    }
    ok
}

/// A real `kiln-agent` process.
pub struct Agent {
    pub name: String,
    pub child: Child,
    pub work: PathBuf,
    pub log: PathBuf,
}

impl Agent {
    pub async fn start(app: &TestApp, name: &str, arches: &[&str], capacity: u32) -> Agent {
        Self::start_with(app, name, arches, capacity, "rpmbuild", None).await
    }

    /// An agent with the given backend, and `path_first` put in front of PATH (for the fake
    /// mock).
    pub async fn start_with(
        app: &TestApp,
        name: &str,
        arches: &[&str],
        capacity: u32,
        backend: &str,
        path_first: Option<&Path>,
    ) -> Agent {
        let root = kiln_core::Principal::User(kiln_core::UserPrincipal {
            id: 0,
            username: "tests".into(),
            is_site_admin: true,
            groups: vec![],
        });
        let reg = kiln_core::services::agents::create_registration_token(&app.kiln, &root, name)
            .await
            .expect("registration token");
        let work = app.dir.path().join(format!("agent-{name}"));
        std::fs::create_dir_all(&work).expect("work dir");
        let log_path = app.dir.path().join(format!("agent-{name}.log"));
        let log = std::fs::File::create(&log_path).expect("log");
        let mut cmd = Command::new(workspace_binary("kiln-agent"));
        cmd.args([
            "--server",
            &app.base,
            "--name",
            name,
            "--capacity",
            &capacity.to_string(),
            "--backend",
            backend,
            "--grace-seconds",
            "1",
        ])
        .arg("--work-dir")
        .arg(&work)
        .env("KILN_AGENT_REGISTRATION_TOKEN", reg.expose())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
        for a in arches {
            cmd.args(["--arch", a]);
        }
        if let Some(first) = path_first {
            let path = format!(
                "{}:{}",
                first.display(),
                std::env::var("PATH").unwrap_or_default()
            );
            cmd.env("PATH", path);
        }
        let child = cmd.spawn().expect("start kiln-agent");
        Agent {
            name: name.to_owned(),
            child,
            work,
            log: log_path,
        }
    }

    /// SIGKILL: the agent vanishes mid-work, as a crashed machine would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        panic!(
            "kiln-agent {} did not stop on SIGTERM:\n{}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `POST /api/v1/repos/OWNER/REPO/builds` with the given files and fields.
pub async fn submit(
    app: &TestApp,
    token: &str,
    repo: &str,
    files: &[(&str, Vec<u8>)],
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in files {
        form = form.part(
            "srpm",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string()),
        );
    }
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    let resp = app
        .http
        .post(app.url(&format!("/api/v1/repos/{repo}/builds")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("submit");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Submits SRPM files from disk.
pub async fn submit_files(
    app: &TestApp,
    token: &str,
    repo: &str,
    paths: &[&Path],
    fields: &[(&str, &str)],
) -> Value {
    let files: Vec<(String, Vec<u8>)> = paths
        .iter()
        .map(|p| {
            (
                p.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("x.src.rpm")
                    .to_owned(),
                std::fs::read(p).expect("read srpm"),
            )
        })
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let (s, body) = submit(app, token, repo, &refs, fields).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    body
}

/// Polls a task until `done` says so (or fails after `secs`).
pub async fn wait_for(app: &TestApp, id: i64, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    wait_for_as(app, None, id, secs, done).await
}

/// `wait_for` as the holder of `token` (a private repo's tasks are 404 for anyone else).
pub async fn wait_for_as(
    app: &TestApp,
    token: Option<&str>,
    id: i64,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, t) = app.get(&format!("/api/v1/tasks/{id}"), token).await;
        if done(&t) {
            return t;
        }
        if Instant::now() > deadline {
            let mut logs = String::new();
            for e in std::fs::read_dir(app.dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "log") {
                    logs.push_str(&format!(
                        "--- {}\n{}\n",
                        p.display(),
                        std::fs::read_to_string(&p).unwrap_or_default()
                    ));
                }
            }
            panic!("task {id} did not get there in {secs} s: {t:#}\n{logs}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the task has finished (any final state).
pub async fn wait_final(app: &TestApp, id: i64, secs: u64) -> Value {
    wait_final_as(app, None, id, secs).await
}

/// `wait_final` as the holder of `token`.
pub async fn wait_final_as(app: &TestApp, token: Option<&str>, id: i64, secs: u64) -> Value {
    wait_for_as(app, token, id, secs, |t| {
        matches!(
            t["state"].as_str(),
            Some("succeeded" | "failed" | "canceled" | "skipped")
        )
    })
    .await
}

/// Queues `n` pending build subtasks (under one parent) straight in the database, for tests and
/// benchmarks of dispatch that need no real SRPM.
pub async fn queue_subtasks(
    kiln: &kiln_core::Kiln,
    repo_id: i32,
    owner_id: i32,
    n: usize,
    arch: &str,
) -> i32 {
    use kiln_core::entities::{sources, tasks};
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let now = kiln_core::now();
    let sha = format!("{:064x}", rand::random::<u64>());
    let source = sources::ActiveModel {
        sha256: Set(sha.clone()),
        storage_key: Set(format!("sources/{}/{sha}.src.rpm", &sha[..2])),
        size: Set(1),
        name: Set("queued".into()),
        epoch: Set(None),
        version: Set("1".into()),
        release: Set("1".into()),
        exclusive_arch: Set(serde_json::json!([])),
        exclude_arch: Set(serde_json::json!([])),
        build_archs: Set(serde_json::json!([])),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&kiln.db)
    .await
    .expect("source");
    let row = |parent: Option<i32>| {
        tasks::ActiveModel {
        parent_id: Set(parent),
        kind: Set("build".into()),
        repo_id: Set(repo_id),
        owner_id: Set(owner_id),
        submitter_id: Set(owner_id),
        state: Set("pending".into()),
        scratch: Set(true),
        priority: Set(0),
        source_id: Set(parent.map(|_| source.id)),
        file_name: Set(parent.map(|_| "queued-1-1.src.rpm".to_owned())),
        mock_config_name: Set(parent.map(|_| "fedora-44-x86_64".to_owned())),
        mock_config_snapshot: Set(
            parent.map(|_| serde_json::json!({"rendered": "", "macros": {"dist": ".fc44"}, "repo": "queued/queued", "srpm": {"sha256": sha, "size": 1}}))
        ),
        arch: Set(parent.map(|_| arch.to_owned())),
        attempt: Set(0),
        cancel_requested: Set(false),
        created_at: Set(now),
        ..Default::default()
    }
    };
    let parent = row(None).insert(&kiln.db).await.expect("parent");
    let rows: Vec<tasks::ActiveModel> = (0..n).map(|_| row(Some(parent.id))).collect();
    for chunk in rows.chunks(500) {
        tasks::Entity::insert_many(chunk.to_vec())
            .exec(&kiln.db)
            .await
            .expect("subtasks");
    }
    parent.id
}

/// Registers an agent row (no process) and returns it, for driving claims directly.
pub async fn fake_agent(
    kiln: &kiln_core::Kiln,
    name: &str,
    capacity: u32,
) -> kiln_core::entities::agents::Model {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    fake_agent_token(kiln, name, capacity).await;
    kiln_core::entities::agents::Entity::find()
        .filter(kiln_core::entities::agents::Column::Name.eq(name))
        .one(&kiln.db)
        .await
        .expect("db")
        .expect("agent")
}

/// A `kiln serve` process (for tests that restart or kill the server).
pub struct ServerProcess {
    pub url: String,
    pub env: Vec<(String, String)>,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl ServerProcess {
    /// Starts a server in `dir` with `env` (KILN_* variables) and waits until it answers.
    pub fn start(dir: &Path, env: Vec<(String, String)>) -> ServerProcess {
        let url = env
            .iter()
            .find(|(k, _)| k == "KILN_LISTEN")
            .map(|(_, v)| format!("http://{v}"))
            .expect("KILN_LISTEN");
        let mut s = ServerProcess {
            url,
            env,
            dir: dir.to_owned(),
            child: None,
        };
        s.restart();
        s
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(workspace_binary("kiln"));
        c.current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    /// (Re)starts the process and waits for /readyz.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("log");
        let child = self
            .command()
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kiln serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let addr = self.url.trim_start_matches("http://").to_owned();
            if std::net::TcpStream::connect(&addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "kiln serve did not start: {}",
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL: the server dies without any chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs `kiln ARGS` with the server's configuration; returns stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("kiln");
        assert!(
            out.status.success(),
            "kiln {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Registers an agent row and returns its credential, for driving the agent API over HTTP.
pub async fn fake_agent_token(kiln: &kiln_core::Kiln, name: &str, capacity: u32) -> String {
    let root = kiln_core::Principal::User(kiln_core::UserPrincipal {
        id: 0,
        username: "t".into(),
        is_site_admin: true,
        groups: vec![],
    });
    let reg = kiln_core::services::agents::create_registration_token(kiln, &root, name)
        .await
        .expect("reg");
    kiln_core::services::agents::register(
        kiln,
        reg.expose(),
        kiln_proto::agent::Register {
            name: name.into(),
            arches: vec!["x86_64".into()],
            capacity,
            backend: "rpmbuild".into(),
            version: "t".into(),
        },
    )
    .await
    .expect("register")
    .token
}

/// An HTTPS front for a test server: TLS (a fresh self-signed certificate for 127.0.0.1)
/// terminated here and the bytes passed to `backend`. Returns the https URL and the CA PEM.
pub async fn https_front(backend: &str) -> (String, String, tokio::task::JoinHandle<()>) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("certificate");
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        cert.key_pair.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .expect("tls config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("addr"));
    let backend = backend.trim_start_matches("http://").to_owned();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let backend = backend.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (url, pem, task)
}

/// Adds a mock config named after `base` (a base chroot) to alice/tools.
pub async fn add_mock_config(app: &TestApp, token: &str, base: &str) {
    let (s, body) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/repos/alice/tools/mock-configs",
            Some(token),
            Some(serde_json::json!({"name": base, "base": base})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

/// The primary.xml of the published chroot directory `chroot` (`/repos/O/R/CHROOT/`),
/// unpacked; empty when there is none.
pub async fn primary_xml(app: &TestApp, chroot: &str) -> String {
    use std::io::Read;
    let get = |path: String| app.http.get(app.url(&path)).send();
    let Ok(repomd) = get(format!("{chroot}repodata/repomd.xml")).await else {
        return String::new();
    };
    let repomd = repomd.text().await.unwrap_or_default();
    let Some(href) = repomd
        .find("type=\"primary\"")
        .and_then(|at| repomd[at..].split("<location href=\"").nth(1))
        .and_then(|s| s.split('"').next())
    else {
        return String::new();
    };
    let gz = get(format!("{chroot}{href}"))
        .await
        .expect("primary")
        .bytes()
        .await
        .expect("primary");
    let mut xml = String::new();
    let _ = flate2::read::MultiGzDecoder::new(&gz[..]).read_to_string(&mut xml);
    xml
}

/// `GET /api/v1/tasks/ID/log` as text (a subtask's log, or a parent's with each line marked).
pub async fn task_log(app: &TestApp, id: &serde_json::Value) -> String {
    app.http
        .get(app.url(&format!("/api/v1/tasks/{id}/log")))
        .send()
        .await
        .expect("log")
        .text()
        .await
        .expect("text")
}
