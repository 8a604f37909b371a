//! Browser sessions: local login through the form, cookie flags, CSRF on state changes, logout.

use kiln_tests::{browser, error_of};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::app;

async fn csrf(app: &kiln_tests::TestApp, client: &reqwest::Client) -> String {
    let v: Value = client
        .get(app.url("/auth/csrf"))
        .send()
        .await
        .expect("csrf")
        .json()
        .await
        .expect("json");
    v["csrf_token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn local_login_session_csrf_and_logout() {
    let app = app!();
    app.user("alice", false).await;
    let b = browser();

    // The login form needs the CSRF token of the session.
    let resp = b
        .post(app.url("/auth/login"))
        .form(&[("username", "alice"), ("password", "password-alice")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let token = csrf(&app, &b).await;
    let resp = b
        .post(app.url("/auth/login"))
        .form(&[
            ("username", "alice"),
            ("password", "wrong-password"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(error_of(&body).1, "wrong username or password");

    // A form missing a field is a clear 400, not a crash.
    let resp = b
        .post(app.url("/auth/login"))
        .form(&[("username", "alice"), ("csrf_token", &token)])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert!(error_of(&body).1.contains("password"), "{body}");

    let resp = b
        .post(app.url("/auth/login"))
        .header("accept", "text/html")
        .form(&[
            ("username", "nobody"),
            ("password", "whatever-pw"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp
        .text()
        .await
        .expect("text")
        .contains("wrong username or password"));

    let resp = b
        .post(app.url("/auth/login"))
        .form(&[
            ("username", "alice"),
            ("password", "password-alice"),
            ("csrf_token", &token),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/", "no open redirect");
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(cookie.starts_with("kiln_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http public URL: {cookie}"
    );

    // Signed in; the session id changed at login and the CSRF token with it.
    let me: Value = b
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["username"], "alice");
    let new_csrf = me["csrf_token"].as_str().expect("csrf").to_owned();
    assert_ne!(new_csrf, token);

    // A state change without the token is refused; with it, it works.
    let resp = b
        .post(app.url("/api/v1/repos"))
        .json(&json!({"name": "web"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(error_of(&body).0, "csrf");
    let resp = b
        .post(app.url("/api/v1/repos"))
        .header("x-csrf-token", "forged")
        .json(&json!({"name": "web"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = b
        .post(app.url("/api/v1/repos"))
        .header("x-csrf-token", &new_csrf)
        .json(&json!({"name": "web"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Logout needs the token too, then the session is gone.
    let resp = b.post(app.url("/auth/logout")).send().await.expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = b
        .post(app.url("/auth/logout"))
        .form(&[("csrf_token", &new_csrf)])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = b.get(app.url("/api/v1/me")).send().await.expect("me");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn secure_cookies_behind_https_and_local_accounts_switched_off() {
    let app = app!(|c: &mut kiln_core::Config| {
        c.public_url = Some("https://kiln.example.org".into());
        c.auth.local_accounts = false;
    });
    app.user("alice", false).await;
    let b = browser();
    let resp = b.get(app.url("/auth/csrf")).send().await.expect("csrf");
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"));
    let token: Value = resp.json().await.expect("json");
    // The Secure cookie is not sent back over plain http, so pass it by hand.
    let session = cookie.split(';').next().expect("pair").to_owned();
    let resp = b
        .post(app.url("/auth/login"))
        .header("cookie", session)
        .form(&[
            ("username", "alice"),
            ("password", "password-alice"),
            ("csrf_token", token["csrf_token"].as_str().expect("t")),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.expect("json");
    assert!(
        error_of(&body)
            .1
            .contains("local accounts are switched off"),
        "{body}"
    );
}
