//! Builder agents: registration tokens, registration, heartbeats, drain/disable/revoke; and the
//! real `kiln-agent` binary registering, idling, stopping on SIGTERM and coming back without
//! registering twice.

use std::time::Duration;

use kiln_tests::{error_of, workspace_binary};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::app;

async fn registration_token(app: &kiln_tests::TestApp) -> String {
    let root = app.user("root", true).await;
    let p = app.principal(&root).await;
    kiln_core::services::agents::create_registration_token(&app.kiln, &p, "fleet")
        .await
        .expect("token")
        .expose()
        .to_owned()
}

fn register_body(name: &str) -> Value {
    json!({"name": name, "arches": ["x86_64"], "capacity": 4, "backend": "rpmbuild", "version": "test"})
}

#[tokio::test]
async fn register_heartbeat_drain_revoke() {
    let app = app!();
    let reg = registration_token(&app).await;
    let root = kiln_core::services::accounts::find_by_username(&app.kiln, "root")
        .await
        .expect("db")
        .expect("root");
    let root_token = kiln_core::services::tokens::create(
        &app.kiln,
        &kiln_core::services::accounts::principal_of(&root),
        kiln_proto::TokenCreate {
            name: "t".into(),
            expires_at: None,
        },
    )
    .await
    .expect("token")
    .token;

    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/agent/register",
            Some("kiln_reg_forged"),
            Some(register_body("b1")),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/agent/register",
            None,
            Some(register_body("b1")),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    let (s, body) = app
        .call(Method::POST, "/api/v1/agent/register", Some(&reg), Some(json!({"name": "b1", "arches": ["x86 64"], "capacity": 4, "backend": "rpmbuild", "version": "t"})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).1.contains("not an architecture"));

    let (s, r) = app
        .call(
            Method::POST,
            "/api/v1/agent/register",
            Some(&reg),
            Some(register_body("b1")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let agent_token = r["token"].as_str().expect("token").to_owned();
    assert!(agent_token.starts_with("kiln_agent_"));
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/agent/register",
            Some(&reg),
            Some(register_body("b1")),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (s, hb) = app
        .call(
            Method::POST,
            "/api/v1/agent/heartbeat",
            Some(&agent_token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(hb["state"], "online");
    // An agent credential is not a user token, nor the reverse.
    assert_eq!(
        app.get("/api/v1/me", Some(&agent_token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(
            Method::POST,
            "/api/v1/agent/heartbeat",
            Some(&root_token),
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    // Site admins see, drain and revoke agents; others may not.
    let alice = app.user("alice", false).await;
    assert_eq!(
        app.get("/api/v1/agents", Some(&alice.token)).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, list) = app.get("/api/v1/agents", Some(&root_token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list[0]["name"], "b1");
    assert_eq!(list[0]["capacity"], 4);
    let (s, a) = app
        .call(
            Method::PUT,
            "/api/v1/agents/b1/state",
            Some(&root_token),
            Some(json!({"state": "draining"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let (_, hb) = app
        .call(
            Method::POST,
            "/api/v1/agent/heartbeat",
            Some(&agent_token),
            None,
        )
        .await;
    assert_eq!(hb["state"], "draining");
    let (s, _) = app
        .call(Method::DELETE, "/api/v1/agents/b1", Some(&root_token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/agent/heartbeat",
            Some(&agent_token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_real_agent_registers_idles_and_stops_on_sigterm() {
    let app = app!();
    let reg = registration_token(&app).await;
    let work = app.dir.path().join("agent");
    let start = || {
        std::process::Command::new(workspace_binary("kiln-agent"))
            .args([
                "--server",
                &app.base,
                "--registration-token",
                &reg,
                "--name",
                "idle-1",
                "--arch",
                "x86_64",
                "--arch",
                "aarch64",
                "--capacity",
                "2",
                "--backend",
                "rpmbuild",
                "--work-dir",
            ])
            .arg(&work)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start kiln-agent")
    };
    let agents = || async {
        use sea_orm::EntityTrait;
        kiln_core::entities::agents::Entity::find()
            .all(&app.kiln.db)
            .await
            .expect("db")
    };
    let mut child = start();
    let mut seen = None;
    for _ in 0..100 {
        if let Some(a) = agents().await.into_iter().next() {
            seen = Some(a);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a = seen.expect("the agent registered");
    assert_eq!(a.name, "idle-1");
    assert_eq!(a.capacity, 2);
    assert_eq!(a.arches, json!(["x86_64", "aarch64"]));
    assert!(work.join("credential.json").exists());

    let stop = |child: &mut std::process::Child| {
        let pid = child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        for _ in 0..100 {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("kiln-agent did not stop on SIGTERM");
    };
    assert!(stop(&mut child).success(), "SIGTERM is a clean stop");

    // Back again with the kept credential: no second registration, and it heartbeats.
    let before = agents().await[0].last_seen_at;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut child = start();
    let mut beat = false;
    for _ in 0..100 {
        let now = agents().await;
        assert_eq!(now.len(), 1, "registered only once");
        if now[0].last_seen_at > before {
            beat = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        beat,
        "the restarted agent heartbeats with its kept credential"
    );
    assert!(stop(&mut child).success());
}

/// A server that takes connections and never answers cannot hold an agent's SIGTERM up: with a
/// kept credential its heartbeat waits on such a server, and SIGTERM still stops it at once,
/// cleanly.
#[tokio::test]
async fn sigterm_stops_the_agent_while_the_server_does_not_answer() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            held.push(conn);
        }
    });
    let work = tempfile::tempdir().expect("dir");
    std::fs::write(
        work.path().join("credential.json"),
        json!({"server": url, "agent_id": 1, "token": "kiln_agent_kept", "heartbeat_seconds": 30})
            .to_string(),
    )
    .expect("credential");
    let mut child = std::process::Command::new(workspace_binary("kiln-agent"))
        .args(["--server", &url, "--backend", "rpmbuild", "--work-dir"])
        .arg(work.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start kiln-agent");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never called"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("kiln-agent did not stop on SIGTERM while its heartbeat waited");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "a clean stop: {status}");
}
