//! The server-rendered UI as a browser without JavaScript sees it: every page renders fully,
//! user text is escaped, the login form works with the session's CSRF token, missing pages are
//! 404s.

use kiln_tests::browser;
use reqwest::StatusCode;

use crate::app;

async fn page(b: &reqwest::Client, url: &str) -> (StatusCode, String) {
    let resp = b.get(url).send().await.expect("get");
    let s = resp.status();
    (s, resp.text().await.expect("html"))
}

/// The value of the hidden csrf_token input.
fn csrf_input(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    Some(html[at..].split('"').next()?.to_owned())
}

#[tokio::test]
async fn pages_render_without_javascript_and_escape_user_text() {
    let app = app!();
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let (s, _) = app
        .call(
            reqwest::Method::PATCH,
            "/api/v1/repos/alice/tools",
            Some(&alice.token),
            Some(serde_json::json!({"description": "<script>alert('x')</script> & more"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let b = browser();

    let (s, home) = page(&b, &app.url("/")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        home.contains("<a href=\"/r/alice/tools\">alice/tools</a>"),
        "{home}"
    );
    assert!(
        home.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; more"),
        "{home}"
    );
    assert!(
        !home.contains("<script>alert"),
        "user text must never become markup"
    );
    assert!(home.contains("href=\"/pkg/kiln.css\""));
    assert!(
        home.contains("/pkg/kiln.js"),
        "the hydration script is referenced"
    );

    let (s, found) = page(&b, &app.url("/?q=tool")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(found.contains("alice/tools"));
    let (_, none) = page(&b, &app.url("/?q=zzz")).await;
    assert!(none.contains("No repositories yet.") && !none.contains("/r/alice/tools"));

    let (s, repo) = page(&b, &app.url("/r/alice/tools")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(repo.contains(&format!(
        "dnf install {}/repos/alice/tools/alice-tools-release.noarch.rpm",
        app.kiln.config.public_url()
    )));
    assert!(repo.contains("dnf copr enable --hub"));
    assert!(repo.contains("/api/v1/repos/alice/tools/mock-configs/fedora-44-x86_64/rendered"));

    let (s, missing) = page(&b, &app.url("/r/alice/nope")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(missing.contains("there is no repo alice/nope"));
    let (s, _) = page(&b, &app.url("/no/such/page")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let resp = b.get(app.url("/pkg/kiln.css")).send().await.expect("css");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/css"));
    assert!(resp
        .text()
        .await
        .expect("css")
        .contains("prefers-color-scheme: dark"));
}

#[tokio::test]
async fn login_form_signs_in_and_out() {
    let app = app!();
    app.user("alice", false).await;
    let b = browser();
    let (s, login) = page(&b, &app.url("/login")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(login.contains("<label for=\"username\">"));
    assert!(login.contains("<label for=\"password\">"));
    let csrf = csrf_input(&login).expect("the login form carries a CSRF token");
    let resp = b
        .post(app.url("/auth/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "alice"),
            ("password", "password-alice"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    // Signed in: the header names the user and offers a sign-out form with a fresh token.
    let (_, home) = page(&b, &app.url("/")).await;
    assert!(home.contains("class=\"who\">alice</a>"), "{home}");
    let csrf2 = csrf_input(&home).expect("sign-out form");
    assert_ne!(csrf2, csrf, "a new token after login");
    let resp = b
        .post(app.url("/auth/logout"))
        .form(&[("csrf_token", csrf2.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, home) = page(&b, &app.url("/")).await;
    assert!(home.contains("href=\"/login\""));
    assert!(!home.contains("class=\"who\""));
}

#[tokio::test]
async fn browsing_anonymously_creates_no_sessions() {
    let app = app!();
    let b = browser();
    for path in ["/", "/r/x/y", "/api/v1/repos"] {
        let resp = b.get(app.url(path)).send().await.expect("get");
        assert!(
            resp.headers().get("set-cookie").is_none(),
            "{path} set a cookie"
        );
    }
}
