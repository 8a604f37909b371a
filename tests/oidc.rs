//! OpenID Connect login end to end against a real provider process (npm `oidc-provider`,
//! installed by `tests/run`): first login creates the user, the username comes from a claim with
//! collisions handled, groups make site admins; a wrong state, a replayed code and a bad nonce
//! are refused.

use kiln_tests::oidc::{app_with_provider, ProviderProcess};
use kiln_tests::{browser, with_query_param, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

struct Setup {
    app: TestApp,
    _provider: ProviderProcess,
}

async fn setup() -> Option<Setup> {
    let (app, provider) = app_with_provider(|_| {}).await?;
    Some(Setup {
        app,
        _provider: provider,
    })
}

fn location(resp: &reqwest::Response) -> String {
    let loc = resp
        .headers()
        .get("location")
        .expect("redirect")
        .to_str()
        .expect("ascii");
    resp.url().join(loc).expect("url").to_string()
}

/// Starts a login at Kiln; returns the provider's authorization URL.
async fn start(app: &TestApp, b: &reqwest::Client) -> String {
    let resp = b
        .get(app.url("/auth/oidc/test/start"))
        .send()
        .await
        .expect("start");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    location(&resp)
}

/// Signs in at the provider as `login` from its authorization URL; returns Kiln's callback URL
/// (not followed).
async fn at_provider(b: &reqwest::Client, auth_url: &str, login: &str) -> String {
    let mut url = auth_url.to_owned();
    for _ in 0..20 {
        let resp = b.get(&url).send().await.expect("provider");
        if resp.status().is_redirection() {
            let next = location(&resp);
            if next.contains("/auth/oidc/test/callback") {
                return next;
            }
            url = next;
            continue;
        }
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        let page = resp.text().await.expect("page");
        let form: Vec<(&str, &str)> = if page.contains("name=\"login\"") {
            vec![("prompt", "login"), ("login", login), ("password", "any")]
        } else {
            vec![("prompt", "consent")]
        };
        let resp = b.post(&url).form(&form).send().await.expect("interaction");
        assert!(resp.status().is_redirection(), "{}", resp.status());
        url = location(&resp);
    }
    panic!("the provider never redirected back");
}

async fn me(app: &TestApp, b: &reqwest::Client) -> (StatusCode, Value) {
    let resp = b.get(app.url("/api/v1/me")).send().await.expect("me");
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

async fn login(app: &TestApp, login: &str) -> (reqwest::Client, Value) {
    let b = browser();
    let auth = start(app, &b).await;
    let callback = at_provider(&b, &auth, login).await;
    let resp = b.get(&callback).send().await.expect("callback");
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let (s, me) = me(app, &b).await;
    assert_eq!(s, StatusCode::OK);
    (b, me)
}

#[tokio::test]
async fn first_login_creates_the_user_and_later_logins_find_it() {
    let Some(s) = setup().await else { return };
    let app = &s.app;
    let (_, alice) = login(app, "alice").await;
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["email"], "alice@example.org");
    assert_eq!(alice["display_name"], "Test user alice");
    assert_eq!(alice["is_site_admin"], false);

    // Same subject again: the same account.
    let (b, again) = login(app, "alice").await;
    assert_eq!(again["id"], alice["id"]);

    // A different subject that wants the same username gets a free variant.
    let (_, other) = login(app, "alice2~alice").await;
    assert_eq!(other["username"], "alice-2");
    assert_ne!(other["id"], alice["id"]);

    // The site admin group claim makes a site admin.
    let (_, boss) = login(app, "boss").await;
    assert_eq!(boss["is_site_admin"], true);

    // The session works for state changes with its CSRF token.
    let csrf = again["csrf_token"].as_str().expect("csrf");
    let resp = b
        .post(app.url("/api/v1/repos"))
        .header("x-csrf-token", csrf)
        .json(&serde_json::json!({"name": "from-sso"}))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), StatusCode::CREATED);

    // The login options list the provider.
    let (_, opts) = app.get("/api/v1/login-options", None).await;
    assert_eq!(opts["providers"][0]["id"], "test");
    assert_eq!(opts["providers"][0]["display_name"], "Test SSO");
}

#[tokio::test]
async fn wrong_state_replayed_code_and_bad_nonce_are_refused() {
    let Some(s) = setup().await else { return };
    let app = &s.app;

    // Wrong state.
    let b = browser();
    let auth = start(app, &b).await;
    let callback = at_provider(&b, &auth, "mallory").await;
    let url = with_query_param(&callback, "state", "forged");
    let resp = b.get(&url).send().await.expect("callback");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("state does not match"),
        "{body}"
    );
    assert_eq!(me(app, &b).await.0, StatusCode::UNAUTHORIZED);
    // The pending login was used up: the genuine callback no longer works either.
    let resp = b.get(&callback).send().await.expect("callback");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Replayed code: a code that was exchanged once is refused the second time, even with a
    // fresh login in progress whose state matches.
    let b = browser();
    let auth = start(app, &b).await;
    let callback = at_provider(&b, &auth, "victim").await;
    let resp = b.get(&callback).send().await.expect("callback");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let code = url::Url::parse(&callback)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let attacker = browser();
    let auth2 = start(app, &attacker).await;
    let state2 = url::Url::parse(&auth2)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let replay = format!(
        "{}?code={code}&state={state2}",
        app.url("/auth/oidc/test/callback")
    );
    let resp = attacker.get(&replay).send().await.expect("replay");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("refused the login code"),
        "{body}"
    );
    assert_eq!(me(app, &attacker).await.0, StatusCode::UNAUTHORIZED);

    // Bad nonce: the provider is asked (by a tampered authorization URL) for a token with a
    // different nonce than the one Kiln remembered.
    let b = browser();
    let auth = start(app, &b).await;
    let url = with_query_param(&auth, "nonce", "attacker-nonce");
    let callback = at_provider(&b, &url, "eve").await;
    let resp = b.get(&callback).send().await.expect("callback");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains("nonce"),
        "{body}"
    );
    assert_eq!(me(app, &b).await.0, StatusCode::UNAUTHORIZED);

    // No account was created by any of the refused logins.
    assert!(
        kiln_core::services::accounts::find_by_username(app.kiln_ref(), "mallory")
            .await
            .expect("db")
            .is_none()
    );
    assert!(
        kiln_core::services::accounts::find_by_username(app.kiln_ref(), "eve")
            .await
            .expect("db")
            .is_none()
    );
}

#[tokio::test]
async fn unknown_provider_and_callback_without_login() {
    let Some(s) = setup().await else { return };
    let app = &s.app;
    let (st, body) = app.get("/auth/oidc/nope/start", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(body["errors"][0]["detail"]
        .as_str()
        .unwrap_or("")
        .contains("no login provider"));
    let (st, body) = app
        .get("/auth/oidc/test/callback?code=x&state=y", None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body["errors"][0]["detail"]
        .as_str()
        .unwrap_or("")
        .contains("no login is in progress"));
}

/// Groups from the provider's groups claim (issue 18): each sign-in makes the user a member
/// of exactly the groups the claim names (made on first sight), so a member creates and
/// builds in the group's repos, and one the provider drops loses them at the next sign-in.
#[tokio::test]
async fn the_groups_claim_makes_group_members() {
    let Some(s) = setup().await else { return };
    let app = &s.app;
    s._provider
        .set_groups("carol", &["staff", "devs", "/nested/not valid"]);
    s._provider.set_groups("dave", &["devs"]);
    let (carol, me) = login(app, "carol").await;
    let csrf = me["csrf_token"].as_str().expect("csrf").to_owned();
    let resp = carol
        .get(app.url("/api/v1/groups"))
        .send()
        .await
        .expect("groups");
    let groups: Value = resp.json().await.expect("json");
    let names: Vec<&str> = groups
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|g| g["owner"].as_str())
        .collect();
    assert_eq!(names, ["@devs", "@staff"], "{groups:#}");
    assert_eq!(groups[0]["members"][0]["source"], "oidc");
    let resp = carol
        .post(app.url("/api/v1/repos"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"name": "tools", "owner": "@devs", "visibility": "private"}))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), StatusCode::CREATED);
    // Dave, in @devs by the claim, is a packager there.
    let (dave, _) = login(app, "dave").await;
    let resp = dave
        .get(app.url("/api/v1/repos/@devs/tools"))
        .send()
        .await
        .expect("repo");
    assert_eq!(resp.status(), StatusCode::OK);
    let repo: Value = resp.json().await.expect("json");
    assert_eq!(repo["my_role"], "packager");
    // The provider drops him from @devs: at his next sign-in the repo is gone for him.
    s._provider.set_groups("dave", &["staff"]);
    let (dave, _) = login(app, "dave").await;
    let resp = dave
        .get(app.url("/api/v1/repos/@devs/tools"))
        .send()
        .await
        .expect("repo");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
