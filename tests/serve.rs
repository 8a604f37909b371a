//! `kiln serve` with zero configuration, as a new user runs it: in an empty directory, with no
//! config file and no KILN_* variables. It creates ./kiln-data (SQLite and objects), applies
//! migrations, listens, says how to create the first admin, runs the implicit `local` builder
//! pool (one kiln-agent child) when rpmbuild or mock is installed, stops cleanly on SIGTERM and
//! keeps its data, and its local agent's identity, across restarts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiln_tests::workspace_binary;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn kiln(dir: &std::path::Path, port: u16) -> Command {
    let mut c = Command::new(workspace_binary("kiln"));
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("KILN_LISTEN", format!("127.0.0.1:{port}"));
    c
}

/// Starts the server and returns it with what it printed up to "Kiln is running".
fn start(dir: &std::path::Path, port: u16) -> (Child, Vec<String>) {
    let mut child = kiln(dir, port)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kiln serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(line);
            if lines.iter().any(|l| l.starts_with("Kiln is running")) {
                // Give the optional first-admin hint a moment to arrive.
                while let Ok(l) = rx.recv_timeout(Duration::from_millis(300)) {
                    lines.push(l);
                }
                return (child, lines);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("kiln serve did not start: {lines:?}");
}

fn sigterm(child: &mut Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("kiln serve did not stop on SIGTERM");
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

#[tokio::test]
async fn zero_configuration_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let (mut child, lines) = start(dir.path(), port);
    let url = format!("http://127.0.0.1:{port}");
    assert!(
        lines.contains(&format!("Kiln is running at {url}/")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("kiln admin create-user --username admin --site-admin")),
        "{lines:?}"
    );
    assert!(dir.path().join("kiln-data/kiln.db").is_file());
    assert!(dir.path().join("kiln-data/objects").is_dir());

    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{url}/readyz"))
            .send()
            .await
            .expect("readyz")
            .status(),
        200
    );
    let home = http
        .get(format!("{url}/"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("html");
    assert!(home.contains("<h1>Repositories</h1>"));

    // The first admin, as the hint says, while the server runs.
    std::fs::write(dir.path().join("pw"), "a-long-password\n").expect("pw");
    let out = kiln(dir.path(), port)
        .args([
            "admin",
            "create-user",
            "--username",
            "admin",
            "--site-admin",
            "--password-file",
            "pw",
        ])
        .output()
        .expect("create-user");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kiln(dir.path(), port)
        .args([
            "admin",
            "create-token",
            "--username",
            "admin",
            "--name",
            "t",
        ])
        .output()
        .expect("token");
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    // The implicit `local` builder pool, where this machine can build: one agent, a child of
    // the server.
    let can_build = on_path("rpmbuild") || on_path("mock");
    let first = if can_build {
        Some(local_builder(&url, &token, None).await)
    } else {
        eprintln!("NOTICE: neither rpmbuild nor mock is installed: no local agent to check");
        None
    };

    assert!(
        sigterm(&mut child).success(),
        "SIGTERM stops the server cleanly"
    );
    // The local agent goes with it.
    let pattern = format!("kiln-agent --server {url} ");
    let mut gone = false;
    for _ in 0..50 {
        let out = Command::new("pgrep")
            .args(["-f", &pattern])
            .output()
            .expect("pgrep");
        if !out.status.success() {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gone, "the local agent outlived the server");

    // Restart: same data; no second catalogue; no first-admin hint any more.
    let (mut child, lines) = start(dir.path(), port);
    assert!(
        !lines.iter().any(|l| l.contains("No users yet")),
        "{lines:?}"
    );
    let http = reqwest::Client::new();
    let me: serde_json::Value = http
        .get(format!("{url}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["username"], "admin");
    let chroots: serde_json::Value = http
        .get(format!("{url}/api/v1/chroots"))
        .send()
        .await
        .expect("chroots")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = chroots
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names.len(), unique.len());

    // The local builder ended with the first server; the second starts it again under its
    // credential: the same agent, not a second registration.
    if let Some((agent, pid)) = first {
        let (again, _) = local_builder(&url, &token, Some(pid)).await;
        assert_eq!(again["id"], agent["id"], "{again:#}");
        assert_eq!(again["name"], agent["name"]);
    }
    assert!(sigterm(&mut child).success());
}

/// Waits for the implicit pool's one running builder whose agent is online and whose process
/// is not `old_pid`; returns the agent and the pid. Checks it is the only local agent.
async fn local_builder(url: &str, token: &str, old_pid: Option<u32>) -> (serde_json::Value, u32) {
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let req = http.get(format!("{url}{path}")).bearer_auth(token);
        async move {
            req.send()
                .await
                .expect("get")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let mut last = serde_json::Value::Null;
    for _ in 0..300 {
        let pools = get("/api/v1/builder-pools").await;
        let agents = get("/api/v1/agents").await;
        let local: Vec<&serde_json::Value> = agents
            .as_array()
            .expect("agents")
            .iter()
            .filter(|a| a["name"].as_str().is_some_and(|n| n.starts_with("local-")))
            .collect();
        let running = pools
            .as_array()
            .expect("pools")
            .iter()
            .find(|p| p["name"] == "local")
            .and_then(|p| p["builders"].as_array())
            .and_then(|b| b.iter().find(|b| b["state"] == "running"))
            .cloned();
        if let (Some(b), [agent]) = (running, local.as_slice()) {
            let pid: Option<u32> = b["provider_id"]
                .as_str()
                .and_then(|id| id.split_once('@'))
                .and_then(|(pid, _)| pid.parse().ok());
            if let Some(pid) = pid.filter(|p| Some(*p) != old_pid) {
                if agent["state"] == "online" && agent["name"] == b["name"] {
                    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    assert!(
                        String::from_utf8_lossy(&cmdline).contains("kiln-agent"),
                        "pid {pid} is not a kiln-agent"
                    );
                    return ((*agent).clone(), pid);
                }
            }
        }
        last = serde_json::json!({"pools": pools, "agents": agents});
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no running local builder: {last:#}");
}

/// `KILN_LOG_FORMAT=json`: every log line is one JSON object with a level, a timestamp and a
/// message, and what a user typed as a password never appears. `KILN_METRICS_LISTEN`:
/// `/metrics` moves to that address, off the public one.
#[tokio::test]
async fn json_logs_keep_secrets_out_and_metrics_have_their_own_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let metrics_port = free_port();
    let log_path = dir.path().join("kiln.log");
    let mut child = kiln(dir.path(), port)
        .env("KILN_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
        .env("KILN_LOG_FORMAT", "json")
        .env("KILN_LOG", "debug")
        .env("KILN_LOCAL_AGENT", "off")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log"))
        .spawn()
        .expect("kiln serve");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{url}/readyz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "kiln serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = |u: String| {
        let http = http.clone();
        async move { http.get(u).send().await.expect("get").status().as_u16() }
    };
    assert_eq!(status(format!("{url}/metrics")).await, 404);
    let metrics = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("kiln_agents_online"), "{metrics}");
    assert_eq!(
        status(format!("http://127.0.0.1:{metrics_port}/readyz")).await,
        200
    );
    // A failed sign-in with a password that must not be logged.
    let csrf: serde_json::Value = http
        .get(format!("{url}/auth/csrf"))
        .send()
        .await
        .expect("csrf")
        .json()
        .await
        .expect("json");
    let _ = http
        .post(format!("{url}/auth/login"))
        .form(&[
            (
                "csrf_token",
                csrf["csrf_token"].as_str().unwrap_or_default(),
            ),
            ("username", "nobody"),
            ("password", "hunter2-secret-password"),
        ])
        .send()
        .await
        .expect("login");
    assert!(sigterm(&mut child).success());
    let text = std::fs::read_to_string(&log_path).expect("log");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{text}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
    assert!(
        text.contains("\"stopped\""),
        "graceful stop is logged: {text}"
    );
    assert!(!text.contains("hunter2"), "a password reached the log");
}
