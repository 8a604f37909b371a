use kiln_tests::{error_of, workspace_binary};
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::app;

#[tokio::test]
async fn personal_tokens_create_list_revoke_expire() {
    let app = app!();
    let alice = app.user("alice", false).await;
    let t = Some(alice.token.as_str());

    let (s, me) = app.get("/api/v1/me", t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["username"], "alice");
    assert_eq!(me["is_site_admin"], false);
    assert!(
        me.get("csrf_token").is_none(),
        "token callers need no CSRF token"
    );

    let (s, created) = app
        .call(
            Method::POST,
            "/api/v1/me/tokens",
            t,
            Some(json!({"name": "laptop"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let secret = created["token"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert!(secret.starts_with("kiln_pat_"));
    assert!(secret.starts_with(created["prefix"].as_str().expect("prefix")));
    let (s, me) = app.get("/api/v1/me", Some(&secret)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["username"], "alice");

    // Listed without the secret; only a hash is stored.
    let (_, list) = app.get("/api/v1/me/tokens", t).await;
    assert_eq!(list.as_array().map(|a| a.len()), Some(2));
    assert!(!list.to_string().contains(&secret));
    let rows = kiln_core::entities::api_tokens::Entity::find()
        .all(&app.kiln.db)
        .await
        .expect("rows");
    assert!(rows
        .iter()
        .all(|r| r.token_hash.len() == 64 && !r.token_hash.contains("kiln_pat_")));
    assert!(rows
        .iter()
        .any(|r| r.token_hash == kiln_core::secret::hash_token(&secret)));

    // Revoke: refused from then on, with a reason.
    let id = created["id"].as_i64().expect("id");
    let (s, _) = app
        .call(Method::DELETE, &format!("/api/v1/me/tokens/{id}"), t, None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = app.get("/api/v1/me", Some(&secret)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&body).1, "the API token has been revoked");
    let (s, _) = app
        .call(Method::DELETE, &format!("/api/v1/me/tokens/{id}"), t, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Someone else's token cannot be revoked by id.
    let bob = app.user("bob", false).await;
    let (_, list) = app.get("/api/v1/me/tokens", Some(&bob.token)).await;
    let bob_id = list[0]["id"].as_i64().expect("id");
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/tokens/{bob_id}"),
            t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Expiry: in the past is refused; a token that has expired stops working.
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/me/tokens",
            t,
            Some(json!({"name": "old", "expires_at": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body).1, "expires_at: must be in the future");
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("fmt");
    let (s, short) = app
        .call(
            Method::POST,
            "/api/v1/me/tokens",
            t,
            Some(json!({"name": "short", "expires_at": soon})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{short}");
    let short = short["token"].as_str().expect("token").to_owned();
    assert_eq!(app.get("/api/v1/me", Some(&short)).await.0, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (s, body) = app.get("/api/v1/me", Some(&short)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&body).1, "the API token has expired");

    // Garbage tokens.
    for bad in ["kiln_pat_nope", "nope", &"kiln_pat_".repeat(50)] {
        let (s, _) = app.get("/api/v1/me", Some(bad)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{bad}");
    }
    let resp = app
        .http
        .get(app.url("/api/v1/me"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/api/v1/me", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// `kiln admin …` as an operator runs it, against the same database the server uses.
#[tokio::test]
async fn admin_commands() {
    let app = app!();
    let kiln = workspace_binary("kiln");
    let config = app.dir.path().join("kiln.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\ndatabase_url = {:?}\n",
            app.kiln.config.data_dir.display().to_string(),
            app.kiln.config.database_url()
        ),
    )
    .expect("config");
    let pw = app.dir.path().join("pw");
    std::fs::write(&pw, "correct horse battery\n").expect("pw");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&kiln)
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .expect("run kiln");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run(&[
        "admin",
        "create-user",
        "--username",
        "root",
        "--site-admin",
        "--password-file",
        pw.to_str().expect("path"),
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["admin", "create-user", "--username", "root"]);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = run(&["admin", "create-user", "--username", "../evil"]);
    assert!(!ok);
    assert!(err.contains("not a valid name"), "{err}");

    let (ok, out, err) = run(&[
        "admin",
        "create-token",
        "--username",
        "root",
        "--name",
        "ci",
    ]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "only the token on stdout: {out:?}");
    let (s, me) = app.get("/api/v1/me", Some(lines[0])).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["username"], "root");
    assert_eq!(me["is_site_admin"], true);

    let (ok, out, err) = run(&["admin", "agent-token", "--name", "builders"]);
    assert!(ok, "{err}");
    assert!(
        out.trim().starts_with("kiln_reg_") && out.lines().count() == 1,
        "{out:?}"
    );
    let rows = kiln_core::entities::agent_registration_tokens::Entity::find()
        .all(&app.kiln.db)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].token_hash,
        kiln_core::secret::hash_token(out.trim())
    );

    // The password works for a local login.
    kiln_core::services::accounts::verify_password(&app.kiln, "root", "correct horse battery")
        .await
        .expect("password");
    assert!(
        kiln_core::services::accounts::verify_password(&app.kiln, "root", "wrong password")
            .await
            .is_err()
    );
}
