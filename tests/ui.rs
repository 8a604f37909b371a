//! The web UI without JavaScript, as a plain HTTP client sees it: every page is rendered whole on
//! the server, every form works as a real form post (303 on success; on failure the page again
//! with a 4xx, the message next to the field and what was typed), controls a role may not use
//! are not shown and the server refuses them anyway.

use kiln_tests::pipeline::{have_rpmbuild, srpm};
use kiln_tests::{browser, csrf_of, page, sign_in, TestApp};
use reqwest::StatusCode;

/// The upload form's multipart post.
async fn upload(
    b: &reqwest::Client,
    app: &TestApp,
    csrf: &str,
    form: reqwest::multipart::Form,
) -> reqwest::Result<reqwest::Response> {
    b.post(app.url(&format!("/forms/r/alice/tools/upload?csrf_token={csrf}")))
        .header("accept", "text/html")
        .multipart(form)
        .send()
        .await
}

async fn post(
    b: &reqwest::Client,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let resp = b
        .post(app.url(path))
        .header("accept", "text/html")
        .form(form)
        .send()
        .await
        .expect("post");
    let s = resp.status();
    let loc = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    (s, loc, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn forms_work_without_javascript_and_roles_decide_what_is_shown() {
    let Some(app) = TestApp::new().await else {
        return;
    };
    let alice = app.user("alice", false).await;
    let bob = app.user("bob", false).await;
    let root = app.user("root", true).await;

    // A form post without a session is refused (CSRF); a visitor with a session who is not
    // signed in is sent to the login page, which brings them back.
    let anon = browser();
    let (s, _, _) = post(&anon, &app, "/forms/repos", &[("name", "x")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, login) = page(&anon, &app, "/login").await;
    let anon_csrf = csrf_of(&login);
    let (s, loc, _) = post(
        &anon,
        &app,
        "/forms/repos",
        &[("csrf_token", &anon_csrf), ("name", "x")],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(loc, "/login?next=%2Fnew");

    let a = browser();
    let csrf = sign_in(&app, &a, &alice).await;

    // A bad name: 400, the message next to the field, the description kept, nothing created.
    let (s, _, html) = post(
        &a,
        &app,
        "/forms/repos",
        &[
            ("csrf_token", &csrf),
            ("name", "bad name!"),
            ("description", "kept text"),
            ("chroots", "fedora-44-x86_64"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("id=\"repo-name-error\""), "{html}");
    assert!(html.contains("kept text"));
    assert!(html.contains("value=\"bad name!\""));
    let (_, repos) = app.get("/api/v1/repos", Some(&alice.token)).await;
    assert_eq!(repos["total"], 0);

    // Without the CSRF token the post is refused and nothing happens.
    let (s, _, _) = post(&a, &app, "/forms/repos", &[("name", "tools")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Created: 303 to the repo page, which shows a notice once and the description as text.
    let (s, loc, _) = post(
        &a,
        &app,
        "/forms/repos",
        &[
            ("csrf_token", &csrf),
            ("name", "tools"),
            ("description", "<script>window.pwned=1</script> handy tools"),
            ("chroots", "fedora-44-x86_64"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(loc, "/r/alice/tools");
    let (s, html) = page(&a, &app, &loc).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Created alice/tools."));
    assert!(html.contains("&lt;script&gt;window.pwned=1&lt;/script&gt; handy tools"));
    assert!(!html.contains("<script>window.pwned"));
    assert!(html.contains("dnf install http://"));
    assert!(html.contains("dnf copr enable --hub"));
    let (_, again) = page(&a, &app, &loc).await;
    assert!(
        !again.contains("Created alice/tools."),
        "a notice shows once"
    );

    // Members: unknown user → 400 next to the field; bob → added as packager.
    let (s, _, html) = post(
        &a,
        &app,
        "/forms/r/alice/tools/members",
        &[
            ("csrf_token", &csrf),
            ("username", "nobody"),
            ("role", "packager"),
        ],
    )
    .await;
    assert!(s.is_client_error(), "{s}");
    assert!(html.contains("member") && html.contains("nobody"), "{html}");
    let (s, loc, _) = post(
        &a,
        &app,
        "/forms/r/alice/tools/members",
        &[
            ("csrf_token", &csrf),
            ("username", "bob"),
            ("role", "packager"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{loc}");
    let (_, members) = app
        .get("/api/v1/repos/alice/tools/members", Some(&alice.token))
        .await;
    assert!(members
        .as_array()
        .expect("members")
        .iter()
        .any(|m| m["username"] == "bob" && m["role"] == "packager"));
    // The member lookup finds accounts by prefix.
    let (_, html) = page(&a, &app, "/r/alice/tools/settings?user_q=bo").await;
    assert!(html.contains("<option value=\"bob\""), "{html}");

    // Mock config: a bad macro is refused with the config unchanged; a good edit shows in the
    // rendered config.
    let cfg = "/forms/r/alice/tools/mock-configs/fedora-44-x86_64";
    let (s, _, html) = post(
        &a,
        &app,
        cfg,
        &[
            ("csrf_token", &csrf),
            ("macros", "%bad-name 1"),
            ("enabled", "1"),
            ("include_own_repo", "1"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("is not a macro name"), "{html}");
    assert!(html.contains("%bad-name 1"), "what was typed stays");
    let (s, _, _) = post(
        &a,
        &app,
        cfg,
        &[
            ("csrf_token", &csrf),
            ("macros", "%vendor Kiln Tests"),
            ("buildroot_add", "make gcc"),
            (
                "extra_repos",
                "extras https://example.org/extras/ priority=5",
            ),
            ("enabled", "1"),
            ("include_own_repo", "1"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = page(&a, &app, "/r/alice/tools/settings").await;
    assert!(
        html.contains(
            "config_opts[&#x27;macros&#x27;][&#x27;%vendor&#x27;] = &#x27;Kiln Tests&#x27;"
        ) || html.contains("config_opts['macros']['%vendor'] = 'Kiln Tests'"),
        "{html}"
    );
    assert!(html.contains("extras https://example.org/extras/ priority=5"));

    // Bob, a packager: no settings tab or admin controls; the server refuses them anyway.
    let b = browser();
    let bob_csrf = sign_in(&app, &b, &bob).await;
    let (_, html) = page(&b, &app, "/r/alice/tools").await;
    assert!(html.contains("href=\"/r/alice/tools/upload\""));
    assert!(!html.contains("href=\"/r/alice/tools/settings\""));
    let (s, html) = page(&b, &app, "/r/alice/tools/settings").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(!html.contains("Danger zone"));
    let (s, _, _) = post(
        &b,
        &app,
        "/forms/r/alice/tools/settings",
        &[("csrf_token", &bob_csrf), ("description", "mine now")],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, r) = app.get("/api/v1/repos/alice/tools", None).await;
    assert!(r["description"]
        .as_str()
        .unwrap_or_default()
        .ends_with("handy tools"));
    let (s, _, _) = post(
        &b,
        &app,
        "/forms/r/alice/tools/delete",
        &[("csrf_token", &bob_csrf), ("confirm", "alice/tools")],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Danger zone: the name must be typed.
    let (s, _, html) = post(
        &a,
        &app,
        "/forms/r/alice/tools/delete",
        &[("csrf_token", &csrf), ("confirm", "tools")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("type alice/tools to confirm"));

    // API tokens: shown once, work, revocable.
    let (s, loc, _) = post(
        &a,
        &app,
        "/forms/tokens",
        &[
            ("csrf_token", &csrf),
            ("name", "laptop"),
            ("expires_days", "30"),
        ],
    )
    .await;
    assert_eq!((s, loc.as_str()), (StatusCode::SEE_OTHER, "/account"));
    let (_, html) = page(&a, &app, "/account").await;
    let at = html.find("<code>kiln_").expect("the new token is shown");
    let token = &html[at + 6..];
    let token = &token[..token.find('<').expect("end")];
    let (s, me) = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "alice");
    let (_, html) = page(&a, &app, "/account").await;
    assert!(!html.contains(token), "a token is shown once");
    assert!(html.contains("laptop"));

    // Every page renders whole on the server (no loading placeholders left).
    let r = browser();
    sign_in(&app, &r, &root).await;
    for (client, path, marker) in [
        (&anon, "/", "alice/tools"),
        (&anon, "/login", "Password"),
        (&a, "/account", "API tokens"),
        (&a, "/new", "Create repository"),
        (&r, "/admin", "Registration tokens"),
        (&anon, "/r/alice/tools", "Recent builds"),
        (&anon, "/r/alice/tools/builds", "0 builds"),
        (&b, "/r/alice/tools/upload", "Upload and build"),
        (&a, "/r/alice/tools/settings", "Danger zone"),
    ] {
        let (s, html) = page(client, &app, path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(html.contains(marker), "{path} lacks {marker:?}");
        assert!(!html.contains("Loading…"), "{path} was not rendered whole");
    }
    let (s, _) = page(&anon, &app, "/admin").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = page(&a, &app, "/admin").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = page(&anon, &app, "/r/alice/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Pages may not be framed by other sites (clickjacking) nor sniffed into another type.
    let resp = anon
        .get(app.url("/r/alice/tools"))
        .send()
        .await
        .expect("page");
    let h = resp.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-security-policy"]
        .to_str()
        .expect("ascii")
        .contains("frame-ancestors 'none'"));
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_without_javascript_reports_each_file_and_builds_filter() {
    if !have_rpmbuild() {
        return;
    }
    let Some(app) = TestApp::new().await else {
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let dir = tempfile::tempdir().expect("dir");
    let good = srpm("kiln-hello", dir.path());
    let good_name = good
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_owned();
    let a = browser();
    let csrf = sign_in(&app, &a, &alice).await;
    let form = reqwest::multipart::Form::new()
        .part(
            "srpm",
            reqwest::multipart::Part::bytes(std::fs::read(&good).expect("srpm"))
                .file_name(good_name.clone()),
        )
        .part(
            "srpm",
            reqwest::multipart::Part::bytes(vec![b'x'; 4096]).file_name("broken-1-1.src.rpm"),
        )
        .text("chroot", "fedora-44-x86_64");
    let resp = upload(&a, &app, &csrf, form).await.expect("upload");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.expect("html");
    // The bad file's error is next to its name; the good one went through.
    let at = html
        .find("broken-1-1.src.rpm")
        .expect("the bad file is named");
    assert!(html[at..].contains("not an RPM"), "{html}");
    assert!(
        html.contains(&format!("Submitted {good_name} → build")),
        "{html}"
    );
    let (_, builds) = app
        .get("/api/v1/repos/alice/tools/builds", Some(&alice.token))
        .await;
    assert_eq!(builds["total"], 1);
    let id = builds["items"][0]["id"].as_i64().expect("id");

    // No file at all: 400 with the reason.
    let resp = upload(
        &a,
        &app,
        &csrf,
        reqwest::multipart::Form::new().text("chroot", "fedora-44-x86_64"),
    )
    .await
    .expect("upload");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp
        .text()
        .await
        .expect("html")
        .contains("choose at least one .src.rpm file"));

    // An oversized text part or an unknown part: 400, and nothing is submitted.
    for (name, value, says) in [
        ("chroot", "x".repeat(10_000), "is too long"),
        ("priority", "5".to_owned(), "unexpected part"),
    ] {
        let form = reqwest::multipart::Form::new()
            .part(
                "srpm",
                reqwest::multipart::Part::bytes(std::fs::read(&good).expect("srpm"))
                    .file_name(good_name.clone()),
            )
            .text(name, value);
        let resp = upload(&a, &app, &csrf, form).await.expect("upload");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{name}");
        assert!(resp.text().await.expect("html").contains(says), "{name}");
    }
    // A part refused before a large file: the rest of the body is read, so the browser gets
    // the page with the reason rather than a connection closed while it is still sending.
    let form = reqwest::multipart::Form::new().text("priority", "5").part(
        "srpm",
        reqwest::multipart::Part::bytes(vec![0u8; 24 * 1024 * 1024]).file_name("big-1-1.src.rpm"),
    );
    let resp = upload(&a, &app, &csrf, form)
        .await
        .expect("the refusal arrives while the upload is still being sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.expect("html").contains("unexpected part"));
    let (_, builds) = app
        .get("/api/v1/repos/alice/tools/builds", Some(&alice.token))
        .await;
    assert_eq!(builds["total"], 1, "refused uploads submit nothing");

    // The builds list filters by state, package and mock config (page and API alike).
    for (query, shown) in [
        ("state=pending", true),
        ("state=succeeded", false),
        ("package=kiln-hello", true),
        ("package=other", false),
        ("chroot=fedora-44-x86_64", true),
        ("chroot=epel-9-x86_64", false),
    ] {
        let (s, html) = page(&a, &app, &format!("/r/alice/tools/builds?{query}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            html.contains(&format!("href=\"/r/alice/tools/builds/{id}\"")),
            shown,
            "{query}"
        );
        let (_, list) = app
            .get(&format!("/api/v1/repos/alice/tools/builds?{query}"), None)
            .await;
        assert_eq!(list["total"], u64::from(shown), "{query}");
    }
    let (s, body) = app
        .get("/api/v1/repos/alice/tools/builds?state=bogus", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // The build page shows its subtask and a cancel control to its packager.
    let (s, html) = page(&a, &app, &format!("/r/alice/tools/builds/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Cancel build"));
    assert!(html.contains("fedora-44-x86_64"));
    let (_, html) = page(&browser(), &app, &format!("/r/alice/tools/builds/{id}")).await;
    assert!(
        !html.contains("Cancel build"),
        "anonymous visitors get no controls"
    );
}

/// Repo admins manage webhooks with forms: a private address is refused next to the field
/// (what was typed stays), a new webhook shows its secret once, "send test" shows a delivery,
/// delete removes it; a packager sees no webhooks and is refused. On /account a user turns the
/// build e-mails on and off, which needs an e-mail address.
#[tokio::test(flavor = "multi_thread")]
async fn webhooks_and_build_emails_are_set_with_forms() {
    let Some(app) = TestApp::new().await else {
        return;
    };
    let alice = app.user("alice", false).await;
    let bob = app.user("bob", false).await;
    app.repo(&alice, "tools", &[(&bob, kiln_proto::Role::Packager)])
        .await;
    let a = browser();
    let csrf = sign_in(&app, &a, &alice).await;
    let settings = "/r/alice/tools/settings";
    let (_, html) = page(&a, &app, settings).await;
    assert!(html.contains("<h2 id=\"webhooks\">Webhooks</h2>"), "{html}");

    let (s, _, html) = post(
        &a,
        &app,
        "/forms/r/alice/tools/webhooks",
        &[("csrf_token", &csrf), ("url", "http://127.0.0.1:9/hook")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("127.0.0.1 is not a public address"), "{html}");
    assert!(
        html.contains("value=\"http://127.0.0.1:9/hook\""),
        "what was typed stays"
    );

    let url = "http://203.0.113.10/kiln";
    let (s, loc, _) = post(
        &a,
        &app,
        "/forms/r/alice/tools/webhooks",
        &[("csrf_token", &csrf), ("url", url)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = page(&a, &app, &loc).await;
    assert!(html.contains(&format!("<code>{url}</code>")), "{html}");
    assert!(html.contains("Copy its secret now"), "{html}");
    assert!(html.contains("whsec_"), "the secret, this once");
    assert!(html.contains("Nothing sent yet."));
    let (_, again) = page(&a, &app, settings).await;
    assert!(!again.contains("whsec_"), "shown once");

    let (_, hooks) = app
        .get("/api/v1/repos/alice/tools/webhooks", Some(&alice.token))
        .await;
    let id = hooks[0]["id"].as_i64().expect("id");
    let (s, loc, _) = post(
        &a,
        &app,
        &format!("/forms/r/alice/tools/webhooks/{id}/test"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = page(&a, &app, &loc).await;
    assert!(html.contains("<code>kiln.webhook.test</code>"), "{html}");
    assert!(!html.contains("Nothing sent yet."));

    // bob (packager): no webhooks on the page, and the form post is refused.
    let b = browser();
    let bob_csrf = sign_in(&app, &b, &bob).await;
    let (_, html) = page(&b, &app, settings).await;
    assert!(!html.contains("id=\"webhooks\""));
    let (s, _, _) = post(
        &b,
        &app,
        &format!("/forms/r/alice/tools/webhooks/{id}/delete"),
        &[("csrf_token", &bob_csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, loc, _) = post(
        &a,
        &app,
        &format!("/forms/r/alice/tools/webhooks/{id}/delete"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = page(&a, &app, &loc).await;
    assert!(html.contains("Webhook deleted."));
    assert!(!html.contains(&format!("<code>{url}</code>")));

    // Build e-mails: refused without an address; on and off with one.
    let (_, html) = page(&a, &app, "/account").await;
    assert!(
        html.contains("Your account has no e-mail address"),
        "{html}"
    );
    let (s, _, html) = post(
        &a,
        &app,
        "/forms/account/notifications",
        &[("csrf_token", &csrf), ("notify_builds", "1")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("no e-mail address to write to"), "{html}");
    {
        use kiln_core::entities::users;
        use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter};
        users::Entity::update_many()
            .col_expr(users::Column::Email, Expr::value("alice@example.org"))
            .filter(users::Column::Username.eq("alice"))
            .exec(&app.kiln.db)
            .await
            .expect("e-mail");
    }
    let token = &alice.token;
    let notify = |on: bool| {
        let (a, app, csrf) = (&a, &app, &csrf);
        async move {
            let mut form = vec![("csrf_token", csrf.as_str())];
            if on {
                form.push(("notify_builds", "1"));
            }
            let (s, _, _) = post(a, app, "/forms/account/notifications", &form).await;
            assert_eq!(s, StatusCode::SEE_OTHER);
            let (_, me) = app.get("/api/v1/me", Some(token)).await;
            me["notify_builds"].as_bool().unwrap_or(false)
        }
    };
    assert!(notify(true).await, "on");
    let (_, html) = page(&a, &app, "/account").await;
    assert!(html.contains("You will get an e-mail when a build you submitted ends."));
    assert!(!notify(false).await, "off");
}
