//! Bad input gets a 4xx in the one error envelope, saying what is wrong.

use kiln_tests::error_of;
use reqwest::StatusCode;

use crate::app;

#[tokio::test]
async fn bad_requests_are_explained() {
    let app = app!();
    let alice = app.user("alice", false).await;
    let post = |path: &str, body: &'static str, ct: &'static str| {
        app.http
            .post(app.url(path))
            .bearer_auth(&alice.token)
            .header("content-type", ct)
            .body(body)
            .send()
    };

    let resp = post("/api/v1/repos", "{not json", "application/json")
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = resp.json().await.expect("json");
    let (code, detail) = error_of(&body);
    assert_eq!(code, "validation");
    assert!(detail.contains("JSON"), "{detail}");

    let resp = post("/api/v1/repos", "name=x", "text/plain")
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = resp.json().await.expect("json");
    assert!(error_of(&body).1.contains("Content-Type: application/json"));

    let resp = post(
        "/api/v1/repos",
        r#"{"description": "no name"}"#,
        "application/json",
    )
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = resp.json().await.expect("json");
    assert!(error_of(&body).1.contains("missing field `name`"), "{body}");

    for (name, why) in [
        ("", "must not be empty"),
        ("-x", "not a valid name"),
        ("a/b", "not a valid name"),
        ("x.rpm", "reserved"),
    ] {
        let body = serde_json::json!({ "name": name }).to_string();
        let resp = app
            .http
            .post(app.url("/api/v1/repos"))
            .bearer_auth(&alice.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{name}");
        let body = resp.json().await.expect("json");
        assert!(error_of(&body).1.contains(why), "{name}: {body}");
        assert_eq!(body["errors"][0]["field"], "name");
    }
    let long = "x".repeat(5000);
    let (s, body) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/repos",
            Some(&alice.token),
            Some(serde_json::json!({"name": "ok", "description": long})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).1.contains("too long"));

    // Names in paths are checked before anything else.
    let (s, body) = app.get("/api/v1/repos/bad%20owner/x", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).1.starts_with("owner:"), "{body}");
    let (s, _) = app.get("/api/v1/repos/alice/..", None).await;
    assert!(
        s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND,
        "{s}"
    );

    // Unknown query parameters and bad values.
    let (s, body) = app.get("/api/v1/repos?page=abc", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body).0, "validation");
    let (s, _) = app.get("/api/v1/repos?colour=blue", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Unknown endpoints and ids.
    let (s, body) = app.get("/api/v1/nothing-here", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body).0, "not_found");
    let (s, body) = app
        .call(
            reqwest::Method::DELETE,
            "/api/v1/me/tokens/not-a-number",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");

    // A body far too large is refused without being read whole.
    let huge = format!(
        "{{\"name\": \"x\", \"description\": \"{}\"}}",
        "y".repeat(3 * 1024 * 1024)
    );
    let resp = app
        .http
        .post(app.url("/api/v1/repos"))
        .bearer_auth(&alice.token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Nothing of the above left a repo behind.
    let (_, list) = app.get("/api/v1/repos", None).await;
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = app!();
    let (s, body) = app.get("/healthz", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (s, body) = app.get("/readyz", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["storage"], "ok");
    // Storage gone: not ready, and says which part.
    std::fs::remove_dir_all(app.kiln.config.storage_path()).expect("remove");
    let (s, body) = app.get("/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["storage"], "unreachable");
    assert_eq!(body["checks"]["database"], "ok");
}

/// A failure inside the server is a 500 with a generic message and an error id: no SQL, no
/// table names; and the transaction it broke leaves nothing behind.
#[tokio::test]
async fn server_failures_do_not_leak_and_leave_nothing_half_written() {
    use sea_orm::ConnectionTrait;
    let app = app!();
    let alice = app.user("alice", false).await;
    // Break the audit log, which every repo change writes in its transaction.
    app.kiln
        .db
        .execute_unprepared("DROP TABLE audit_log")
        .await
        .expect("drop");
    let (s, body) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/repos",
            Some(&alice.token),
            Some(serde_json::json!({"name": "doomed", "chroots": ["fedora-44-x86_64"]})),
        )
        .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    let (code, detail) = error_of(&body);
    assert_eq!(code, "internal");
    assert!(detail.contains("error id"), "{detail}");
    let lower = body.to_string().to_lowercase();
    for leak in ["audit_log", "sql", "table", "relation", "insert"] {
        assert!(!lower.contains(leak), "{leak} leaked: {body}");
    }
    // The repo, its membership and mock config were rolled back with it.
    let (s, _) = app.get("/api/v1/repos/alice/doomed", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        kiln_core::entities::repos::Entity::find()
            .count(&app.kiln.db)
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        kiln_core::entities::repo_members::Entity::find()
            .count(&app.kiln.db)
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        kiln_core::entities::mock_configs::Entity::find()
            .count(&app.kiln.db)
            .await
            .expect("count"),
        0
    );
}
