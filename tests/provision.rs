//! Builder provisioning with the `command` provider, through real allocate and release scripts
//! (`tests/fixtures/provision/`) that start and stop real `kiln-agent` processes: builders come
//! up for the arch that has work and go when idle; a builder that dies is replaced; a provider
//! that fails is shown to site admins and asked again with growing waits.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_core::config::{PoolConfig, ProviderKind};
use kiln_tests::pipeline::{add_mock_config, have_rpmbuild, srpm, submit_files, wait_final};
use kiln_tests::{browser, page, repo_root, sign_in, workspace_binary, TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Kills every agent the scripts started, however the test ends.
struct Builders(PathBuf);

impl Drop for Builders {
    fn drop(&mut self) {
        for pid in pids(&self.0) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn pids(state: &Path) -> Vec<u32> {
    std::fs::read_dir(state)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("pid")).ok())
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie (exited, not yet reaped by init) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
        .unwrap_or(false)
}

fn pool(name: &str, arches: &[&str], state: &Path, edit: impl Fn(&mut PoolConfig)) -> PoolConfig {
    let scripts = repo_root().join("tests/fixtures/provision");
    let s = |p: &Path| p.display().to_string();
    let mut p = PoolConfig {
        name: name.into(),
        provider: ProviderKind::Command,
        arches: arches.iter().map(|a| a.to_string()).collect(),
        min_idle: 0,
        max: 2,
        capacity: 1,
        idle_timeout_seconds: 2,
        max_lifetime_seconds: None,
        server_url: None,
        allocate: vec![
            s(&scripts.join("allocate.sh")),
            s(state),
            s(&workspace_binary("kiln-agent")),
        ],
        release: vec![s(&scripts.join("release.sh")), s(state)],
        backend: None,
        image: None,
        namespace: None,
        api_url: None,
        cpu: None,
        memory: None,
    };
    edit(&mut p);
    p
}

async fn app_with(pools: Vec<PoolConfig>) -> Option<TestApp> {
    TestApp::with_config(move |c| {
        c.builds.lease_seconds = 3;
        c.builders.interval_seconds = 0.2;
        c.builders.register_timeout_seconds = 30;
        c.builders.max_backoff_seconds = 4;
        c.builders.pools = pools.clone();
    })
    .await
}

/// Builds kiln-hello in alice/tools on `chroot` and checks a builder of `pool` built it.
async fn built_by_pool(app: &TestApp, alice: &TestUser, chroot: &str, pool: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let hello = srpm("kiln-hello", dir.path());
    let task = submit_files(
        app,
        &alice.token,
        "alice/tools",
        &[&hello],
        &[("chroot", chroot)],
    )
    .await;
    let done = wait_final(app, task["id"].as_i64().expect("id"), 120).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let agent = done["subtasks"][0]["agent"].as_str().unwrap_or_default();
    assert!(agent.starts_with(&format!("{pool}-")), "built by {agent}");
}

/// root (site admin), and alice with alice/tools building fedora-44 x86_64 and aarch64.
async fn site_admin_and_repo(app: &TestApp) -> (TestUser, TestUser) {
    let root = app.user("root", true).await;
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    add_mock_config(app, &alice.token, "fedora-44-aarch64").await;
    (root, alice)
}

async fn pools(app: &TestApp, token: &str) -> Value {
    let (s, body) = app.get("/api/v1/builder-pools", Some(token)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body
}

fn pool_named<'a>(pools: &'a Value, name: &str) -> &'a Value {
    pools
        .as_array()
        .expect("pools")
        .iter()
        .find(|p| p["name"] == name)
        .expect("pool")
}

/// Polls the pools until `done` holds (or panics with the last answer after `secs`).
async fn wait_pools(app: &TestApp, token: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let p = pools(app, token).await;
        if done(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "gave up waiting; pools: {p:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn states(pool: &Value) -> Vec<String> {
    pool["builders"]
        .as_array()
        .expect("builders")
        .iter()
        .map(|b| b["state"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn builders_come_for_the_arch_with_work_and_go_when_idle() {
    if !have_rpmbuild() {
        return;
    }
    let state = tempfile::tempdir().expect("dir");
    let _guard = Builders(state.path().to_path_buf());
    let Some(app) = app_with(vec![
        pool("x86", &["x86_64"], state.path(), |_| {}),
        pool("arm", &["aarch64"], state.path(), |_| {}),
    ])
    .await
    else {
        return;
    };
    let (root, alice) = site_admin_and_repo(&app).await;
    // Only site admins see the pools.
    let (s, _) = app.get("/api/v1/builder-pools", Some(&alice.token)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // An empty queue brings no builder.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let p = pools(&app, &root.token).await;
    for name in ["x86", "arm"] {
        assert!(states(pool_named(&p, name)).is_empty(), "{p:#}");
    }
    assert!(!state.path().join("attempts").exists());

    // One build on both arches: one builder per pool, each building its own arch.
    let dir = tempfile::tempdir().expect("dir");
    let hello = srpm("kiln-hello", dir.path());
    let task = submit_files(&app, &alice.token, "alice/tools", &[&hello], &[]).await;
    let done = wait_final(&app, task["id"].as_i64().expect("id"), 120).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    for sub in done["subtasks"].as_array().expect("subtasks") {
        let agent = sub["agent"].as_str().expect("agent");
        let want = if sub["arch"] == "aarch64" {
            "arm-"
        } else {
            "x86-"
        };
        assert!(agent.starts_with(want), "{} built by {agent}", sub["arch"]);
    }
    let p = pools(&app, &root.token).await;
    for (name, arch) in [("x86", "x86_64"), ("arm", "aarch64")] {
        let builders = pool_named(&p, name)["builders"]
            .as_array()
            .expect("b")
            .clone();
        assert_eq!(builders.len(), 1, "one builder in {name}: {p:#}");
        assert_eq!(builders[0]["arch"], arch);
        let id = builders[0]["provider_id"].as_str().expect("provider id");
        assert_eq!(
            std::fs::read_to_string(state.path().join(id).join("arch"))
                .expect("the script saw the arch")
                .trim(),
            arch
        );
    }

    // Idle past the 2 s timeout: both released through the script, their agents stopped.
    let p = wait_pools(&app, &root.token, 30, |p| {
        ["x86", "arm"]
            .iter()
            .all(|n| states(pool_named(p, n)) == ["released"])
    })
    .await;
    for name in ["x86", "arm"] {
        let b = &pool_named(&p, name)["builders"][0];
        assert!(
            b["reason"]
                .as_str()
                .unwrap_or_default()
                .starts_with("idle for"),
            "{b}"
        );
        let id = b["provider_id"].as_str().expect("id");
        assert!(state.path().join(id).join("released").exists());
    }
    for pid in pids(state.path()) {
        assert!(!alive(pid), "agent {pid} still runs after its release");
    }
    let (_, agents) = app.get("/api/v1/agents", Some(&root.token)).await;
    for a in agents.as_array().expect("agents") {
        assert_eq!(a["state"], "disabled", "{a}");
    }
    // The queue is empty: nothing new comes up.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let p = pools(&app, &root.token).await;
    assert_eq!(states(pool_named(&p, "x86")), ["released"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_provider_backs_off_and_a_dead_builder_is_replaced() {
    if !have_rpmbuild() {
        return;
    }
    let state = tempfile::tempdir().expect("dir");
    let _guard = Builders(state.path().to_path_buf());
    // The provider is down from the start.
    std::fs::write(state.path().join("fail"), "").expect("fail flag");
    let Some(app) = app_with(vec![pool("x86", &["x86_64"], state.path(), |p| {
        p.min_idle = 1;
        p.idle_timeout_seconds = 600;
    })])
    .await
    else {
        return;
    };
    let root = app.user("root", true).await;

    // Visible to site admins, asked again after 1, 2, 4 s.
    let p = wait_pools(&app, &root.token, 30, |p| {
        pool_named(p, "x86")["failures"].as_u64() >= Some(3)
    })
    .await;
    let x86 = pool_named(&p, "x86");
    assert!(
        x86["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("no capacity left in zone test-1"),
        "{x86:#}"
    );
    assert!(x86["next_attempt_at"].is_string());
    let times: Vec<f64> = std::fs::read_to_string(state.path().join("attempts"))
        .expect("attempts")
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    assert!(times.len() >= 3, "{times:?}");
    let (gap1, gap2) = (times[1] - times[0], times[2] - times[1]);
    assert!(
        gap1 >= 0.9 && gap2 >= 1.8 && gap2 > gap1,
        "waits grow: {gap1:.2} s then {gap2:.2} s"
    );
    // Failed allocations leave failed builders, not running ones.
    assert!(states(x86).iter().all(|s| s == "failed"), "{x86:#}");
    // The site admin page shows it too.
    let admin = browser();
    sign_in(&app, &admin, &root).await;
    let (_, html) = page(&admin, &app, "/admin").await;
    assert!(
        html.contains("<h2 id=\"pools\">Builder pools</h2>"),
        "{html}"
    );
    assert!(html.contains("times in a row: "), "{html}");
    assert!(html.contains("no capacity left in zone test-1"), "{html}");

    // The provider comes back: the next attempt brings the idle builder up.
    std::fs::remove_file(state.path().join("fail")).expect("unflag");
    let p = wait_pools(&app, &root.token, 30, |p| {
        states(pool_named(p, "x86")).contains(&"running".to_owned())
    })
    .await;
    assert_eq!(pool_named(&p, "x86")["failures"], 0);
    let (_, html) = page(&admin, &app, "/admin").await;
    assert!(html.contains("The provider works."), "{html}");
    assert!(
        html.contains("<span class=\"state ok\">running</span>"),
        "{html}"
    );
    let first = pool_named(&p, "x86")["builders"]
        .as_array()
        .expect("builders")
        .iter()
        .find(|b| b["state"] == "running")
        .expect("running")
        .clone();

    // Its machine dies: it stops answering, is released and replaced.
    let id = first["provider_id"].as_str().expect("id");
    let pid = std::fs::read_to_string(state.path().join(id).join("pid")).expect("pid");
    std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .expect("kill");
    let p = wait_pools(&app, &root.token, 30, |p| {
        let b = pool_named(p, "x86")["builders"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let dead = b.iter().find(|x| x["id"] == first["id"]);
        dead.is_some_and(|d| d["state"] == "failed")
            && b.iter()
                .any(|x| x["state"] == "running" && x["id"] != first["id"])
    })
    .await;
    let dead = pool_named(&p, "x86")["builders"]
        .as_array()
        .expect("builders")
        .iter()
        .find(|x| x["id"] == first["id"])
        .expect("dead")
        .clone();
    assert!(
        dead["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("stopped answering"),
        "{dead}"
    );
    assert!(state.path().join(id).join("released").exists());
}

// ---------------------------------------------------------------------------------------------
// kubernetes

/// A FAKE Kubernetes API server with a fake kubelet, because no cluster can run here (no
/// container runtime). It takes the calls Kiln's kube client makes (create and delete Pods
/// and Secrets in a namespace), records them, and "runs" each Pod by starting a real
/// `kiln-agent` with the Pod's arguments and its registration token resolved from the
/// Secret the Pod refers to, plus what the image's entrypoint adds (`--work-dir`, and the
/// rpmbuild backend instead of the image's mock). In production the same client talks to the
/// real API server (in-cluster configuration or a kubeconfig).
struct FakeCluster {
    secrets: std::sync::Mutex<std::collections::HashMap<String, Value>>,
    pods: std::sync::Mutex<Vec<Value>>,
    deleted: std::sync::Mutex<Vec<String>>,
    running: std::sync::Mutex<std::collections::HashMap<String, std::process::Child>>,
    work: PathBuf,
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        for (_, mut c) in self.running.lock().expect("lock").drain() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn fake_create(
    axum::extract::State(k): axum::extract::State<std::sync::Arc<FakeCluster>>,
    axum::extract::Path((ns, kind)): axum::extract::Path<(String, String)>,
    axum::Json(mut obj): axum::Json<Value>,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    obj["metadata"]["namespace"] = ns.into();
    match kind.as_str() {
        "secrets" => {
            k.secrets.lock().expect("lock").insert(name, obj.clone());
        }
        "pods" => {
            let c = &obj["spec"]["containers"][0];
            let env = &c["env"][0]["valueFrom"]["secretKeyRef"];
            let secret =
                k.secrets.lock().expect("lock")[env["name"].as_str().unwrap_or_default()].clone();
            let token = secret["stringData"][env["key"].as_str().unwrap_or_default()]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let args: Vec<String> = serde_json::from_value(c["args"].clone()).unwrap_or_default();
            let work = k.work.join(&name);
            std::fs::create_dir_all(&work).expect("work");
            let child = std::process::Command::new(workspace_binary("kiln-agent"))
                .args(&args)
                .args(["--backend", "rpmbuild", "--work-dir"])
                .arg(&work)
                .env("KILN_AGENT_REGISTRATION_TOKEN", token)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("kiln-agent");
            k.running.lock().expect("lock").insert(name, child);
            k.pods.lock().expect("lock").push(obj.clone());
        }
        _ => return (axum::http::StatusCode::NOT_FOUND, axum::Json(json!({}))),
    }
    (axum::http::StatusCode::CREATED, axum::Json(obj))
}

async fn fake_delete(
    axum::extract::State(k): axum::extract::State<std::sync::Arc<FakeCluster>>,
    axum::extract::Path((_ns, kind, name)): axum::extract::Path<(String, String, String)>,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    k.deleted
        .lock()
        .expect("lock")
        .push(format!("{kind}/{name}"));
    if let Some(mut child) = k.running.lock().expect("lock").remove(&name) {
        // The kubelet's SIGTERM.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 200});
    (axum::http::StatusCode::OK, axum::Json(status))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kubernetes_provider_runs_builders_as_pods() {
    if !have_rpmbuild() {
        return;
    }
    let work = tempfile::tempdir().expect("dir");
    let cluster = std::sync::Arc::new(FakeCluster {
        secrets: Default::default(),
        pods: Default::default(),
        deleted: Default::default(),
        running: Default::default(),
        work: work.path().to_path_buf(),
    });
    let api = axum::Router::new()
        .route(
            "/api/v1/namespaces/{ns}/{kind}",
            axum::routing::post(fake_create),
        )
        .route(
            "/api/v1/namespaces/{ns}/{kind}/{name}",
            axum::routing::delete(fake_delete),
        )
        .with_state(cluster.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, api).await;
    });
    let state = tempfile::tempdir().expect("dir");
    let Some(app) = app_with(vec![pool("k8s", &["aarch64"], state.path(), |p| {
        p.provider = ProviderKind::Kubernetes;
        p.allocate.clear();
        p.release.clear();
        p.image = Some("registry.example.org/kiln-agent:1".into());
        p.namespace = Some("kiln-builders".into());
        p.api_url = Some(api_url.clone());
        p.cpu = Some("2".into());
        p.memory = Some("4Gi".into());
    })])
    .await
    else {
        return;
    };
    let (root, alice) = site_admin_and_repo(&app).await;
    built_by_pool(&app, &alice, "fedora-44-aarch64", "k8s").await;

    // The Pod: on an arm64 node, privileged, the image and requests configured, the token
    // only through its Secret.
    let pod = cluster.pods.lock().expect("lock")[0].clone();
    assert_eq!(pod["metadata"]["namespace"], "kiln-builders");
    assert_eq!(pod["metadata"]["labels"]["kiln.dev/pool"], "k8s");
    let spec = &pod["spec"];
    assert_eq!(spec["nodeSelector"]["kubernetes.io/arch"], "arm64");
    assert_eq!(spec["restartPolicy"], "Never");
    let c = &spec["containers"][0];
    assert_eq!(c["image"], "registry.example.org/kiln-agent:1");
    assert_eq!(c["securityContext"]["privileged"], true);
    assert_eq!(c["resources"]["requests"]["memory"], "4Gi");
    assert!(
        c["args"].to_string().contains("\"--arch\",\"aarch64\""),
        "{c}"
    );
    assert!(
        !pod.to_string().contains("kiln_reg_"),
        "the token is not in the Pod"
    );
    let secret_ref = &c["env"][0]["valueFrom"]["secretKeyRef"];
    assert_eq!(secret_ref["name"], pod["metadata"]["name"]);

    // Idle: the Pod and its Secret are deleted.
    let name = pod["metadata"]["name"].as_str().expect("name").to_owned();
    wait_pools(&app, &root.token, 30, |p| {
        states(pool_named(p, "k8s")) == ["released"]
    })
    .await;
    let deleted = cluster.deleted.lock().expect("lock").clone();
    assert!(deleted.contains(&format!("pods/{name}")), "{deleted:?}");
    assert!(deleted.contains(&format!("secrets/{name}")), "{deleted:?}");
    assert!(cluster.running.lock().expect("lock").is_empty());
}

/// The `local` provider: `kiln serve` itself starts `kiln-agent` processes for the queue and
/// stops them when idle.
#[tokio::test(flavor = "multi_thread")]
async fn the_local_provider_starts_and_stops_agents_beside_the_server() {
    if !have_rpmbuild() {
        return;
    }
    let state = tempfile::tempdir().expect("dir");
    let Some(app) = app_with(vec![pool("here", &["x86_64"], state.path(), |p| {
        p.provider = ProviderKind::Local;
        p.allocate.clear();
        p.release.clear();
        p.backend = Some("rpmbuild".into());
    })])
    .await
    else {
        return;
    };
    let (root, alice) = site_admin_and_repo(&app).await;
    built_by_pool(&app, &alice, "fedora-44-x86_64", "here").await;
    let p = wait_pools(&app, &root.token, 30, |p| {
        states(pool_named(p, "here")) == ["released"]
    })
    .await;
    let pid = local_pid(&pool_named(&p, "here")["builders"][0]);
    assert!(!alive(pid), "the local agent {pid} still runs");
}

/// The pid of a `local` builder (its provider id is `PID@HOST`).
fn local_pid(builder: &Value) -> u32 {
    builder["provider_id"]
        .as_str()
        .and_then(|s| s.split_once('@'))
        .and_then(|(pid, _)| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid: {builder}"))
}

/// A `local` builder whose process dies is started again under its own credential: the same
/// builder and agent (no new registration), a new process, and it builds. One that dies before
/// it registered counts as a provider failure.
#[tokio::test(flavor = "multi_thread")]
async fn a_local_builder_that_dies_comes_back_under_its_own_name() {
    if !have_rpmbuild() {
        return;
    }
    let state = tempfile::tempdir().expect("dir");
    let local = |name: &str, backend: &str| {
        pool(name, &["x86_64"], state.path(), |p| {
            p.provider = ProviderKind::Local;
            p.allocate.clear();
            p.release.clear();
            p.backend = Some(backend.into());
            p.min_idle = 1;
            p.max = 1;
            p.idle_timeout_seconds = 600;
        })
    };
    // "broken": its agent exits at once (an unknown backend), before registering.
    let Some(app) = app_with(vec![local("here", "rpmbuild"), local("broken", "nonsense")]).await
    else {
        return;
    };
    let (root, alice) = site_admin_and_repo(&app).await;
    let running = |p: &Value| {
        pool_named(p, "here")["builders"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["state"] == "running"))
            .cloned()
    };
    let p = wait_pools(&app, &root.token, 60, |p| running(p).is_some()).await;
    let first = running(&p).expect("running");
    let pid = local_pid(&first);
    let agents_before = app.get("/api/v1/agents", Some(&root.token)).await.1;

    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    let p = wait_pools(&app, &root.token, 30, |p| {
        running(p).is_some_and(|b| b["id"] == first["id"] && local_pid(&b) != pid)
    })
    .await;
    let again = running(&p).expect("running");
    assert!(alive(local_pid(&again)));
    assert_eq!(again["name"], first["name"]);
    assert_eq!(
        pool_named(&p, "here")["builders"].as_array().map(Vec::len),
        Some(1),
        "no second builder: {p:#}"
    );
    let (_, agents) = app.get("/api/v1/agents", Some(&root.token)).await;
    let ids = |a: &Value| -> Vec<Value> {
        a.as_array()
            .expect("agents")
            .iter()
            .map(|x| x["id"].clone())
            .collect()
    };
    assert_eq!(ids(&agents), ids(&agents_before), "the same one agent");
    built_by_pool(&app, &alice, "fedora-44-x86_64", "here").await;

    let p = wait_pools(&app, &root.token, 30, |p| {
        pool_named(p, "broken")["failures"].as_u64() >= Some(2)
    })
    .await;
    let broken = pool_named(&p, "broken");
    assert!(
        broken["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("its process ended (it exited with exit status: 1)")),
        "{broken:#}"
    );
    assert!(broken["next_attempt_at"].is_string(), "{broken:#}");
    assert!(
        states(broken)
            .iter()
            .all(|s| s == "failed" || s == "allocating"),
        "{broken:#}"
    );
}

/// A builder past its maximum lifetime takes no new work, is released once idle and, with
/// `min_idle`, replaced by a new one.
#[tokio::test(flavor = "multi_thread")]
async fn builders_past_their_lifetime_are_replaced() {
    if !have_rpmbuild() {
        return;
    }
    let state = tempfile::tempdir().expect("dir");
    let _guard = Builders(state.path().to_path_buf());
    let Some(app) = app_with(vec![pool("x86", &["x86_64"], state.path(), |p| {
        p.min_idle = 1;
        p.idle_timeout_seconds = 600;
        p.max_lifetime_seconds = Some(2);
    })])
    .await
    else {
        return;
    };
    let root = app.user("root", true).await;
    let p = wait_pools(&app, &root.token, 60, |p| {
        let b = pool_named(p, "x86")["builders"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        b.iter().any(|x| {
            x["state"] == "released" && x["reason"].as_str() == Some("reached its maximum lifetime")
        }) && b.iter().any(|x| x["state"] == "running")
    })
    .await;
    let builders = pool_named(&p, "x86")["builders"]
        .as_array()
        .expect("b")
        .clone();
    let old = builders
        .iter()
        .find(|x| x["state"] == "released")
        .expect("old");
    let new = builders
        .iter()
        .find(|x| x["state"] == "running")
        .expect("new");
    assert!(new["id"].as_i64() > old["id"].as_i64());
    let id = old["provider_id"].as_str().expect("id");
    assert!(state.path().join(id).join("released").exists());
}
