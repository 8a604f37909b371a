//! Private repos (issue 18): the 404 sweep over every route of a private repo, made from the
//! router's own route list (`routes.rs`), the UI's pages and its server functions, so a new
//! route cannot be missed; read tokens; groups; a site that forces private repos.

use kiln_proto::Role;
use kiln_tests::{TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::app;

async fn req(
    app: &TestApp,
    who: &TestUser,
    m: Method,
    p: &str,
    b: Option<Value>,
) -> (StatusCode, Value) {
    app.call(m, p, Some(&who.token), b).await
}

async fn create_in_team(app: &TestApp, who: &TestUser, name: &str) -> (StatusCode, Value) {
    let body = json!({"name": name, "owner": "@team", "visibility": "private",
        "chroots": ["fedora-44-x86_64"]});
    req(app, who, Method::POST, "/api/v1/repos", Some(body)).await
}

/// The frontend's page routes that name a repo (`/r/:owner/:repo…`), from `frontend/src/lib.rs`.
fn page_routes() -> Vec<String> {
    let text = std::fs::read_to_string(kiln_tests::repo_root().join("frontend/src/lib.rs"))
        .expect("lib.rs");
    text.split("path!(\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|p| p.contains(":owner"))
        .map(str::to_owned)
        .collect()
}

/// The UI's server functions that take `owner` and `repo`, with their other parameters'
/// names, from `frontend/src/api.rs`.
fn server_fns() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(kiln_tests::repo_root().join("frontend/src/api.rs"))
        .expect("api.rs");
    let mut out = Vec::new();
    for part in text.split("#[server(").skip(1) {
        let endpoint = part
            .split("endpoint = \"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default();
        let params = part
            .split_once("pub async fn ")
            .and_then(|(_, f)| f.split_once('(')?.1.split_once(')'))
            .map(|(p, _)| p)
            .unwrap_or_default();
        let names: Vec<String> = params
            .split(',')
            .filter_map(|p| p.split(':').next())
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        if names.iter().any(|n| n == "owner") {
            out.push((endpoint.to_owned(), names));
        }
    }
    out
}

/// The concrete path of a route template for repo `alice/REPO`.
fn fill(template: &str, repo: &str, ids: &Ids) -> String {
    let mut out = String::new();
    let segments: Vec<&str> = template.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        let before = if i > 0 { segments[i - 1] } else { "" };
        let value = match seg.trim_start_matches(':') {
            s if !seg.starts_with('{') && !seg.starts_with(':') => s.to_owned(),
            "{owner}" | "owner" => "alice".into(),
            "{repo}" | "repo" => repo.into(),
            "{id}" | "id" => match before {
                "webhooks" => ids.webhook.to_string(),
                "read-tokens" => ids.read_token.to_string(),
                _ => ids.task.to_string(),
            },
            "{name}" | "name" => match before {
                "mock-configs" => "fedora-44-x86_64".into(),
                _ => "pkg1".into(),
            },
            "{username}" => "pat".into(),
            "{host}" => "git.example.org".into(),
            "{file}" => format!("alice-{repo}.repo"),
            "{chroot}" => "fedora-44-x86_64".into(),
            "{*rest}" => "repodata/repomd.xml".into(),
            "{file_name}" => "build.log".into(),
            other => panic!("the sweep does not know how to fill {other} in {template}"),
        };
        out.push_str(&value);
    }
    out
}

struct Ids {
    webhook: i64,
    read_token: i64,
    task: i64,
}

/// A response as a stranger sees it, with the repo's name and the task's id made neutral so
/// that a private repo's answer can be compared with a missing repo's.
fn neutral(status: StatusCode, body: &str, repo: &str, task: i64) -> (StatusCode, String) {
    // A page (a form post shown again) carries fresh nonces: its alerts are what it says.
    let body = if body.starts_with("<!DOCTYPE") {
        body.split("role=\"alert\"")
            .skip(1)
            .filter_map(|s| s.split_once('>').and_then(|(_, t)| t.split_once('<')))
            .map(|(t, _)| t)
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        body.to_owned()
    };
    let body = body
        .replace(repo, "REPO")
        .replace(&format!("task {task}"), "task ID");
    (status, body)
}

struct Caller<'a> {
    name: &'static str,
    /// An API token, or a read token (sent as HTTP Basic, as dnf does).
    token: Option<&'a str>,
    /// A signed-in browser (for forms and pages), with its CSRF token.
    browser: Option<(&'a reqwest::Client, &'a str)>,
}

async fn send(
    app: &TestApp,
    who: &Caller<'_>,
    method: &Method,
    path: &str,
) -> (StatusCode, String) {
    let forms = path.starts_with("/forms/");
    let client = match (forms || path.starts_with("/r/"), who.browser) {
        (true, Some((b, _))) => b.clone(),
        _ => kiln_tests::browser(),
    };
    let mut req = client.request(method.clone(), app.url(path));
    if !forms && !path.starts_with("/r/") {
        match who.token {
            Some(t) if t.starts_with("kiln_rt_") => req = req.basic_auth("dnf", Some(t)),
            Some(t) => req = req.bearer_auth(t),
            None => {}
        }
    }
    if path.starts_with("/r/") {
        req = req.header("accept", "text/html");
    } else if forms && *method == Method::POST {
        let csrf = who.browser.map(|(_, c)| c).unwrap_or_default();
        req = req.form(&[("csrf_token", csrf)]);
    } else if !matches!(*method, Method::GET | Method::DELETE) {
        req = req.json(&json!({}));
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn every_route_of_a_private_repo_is_a_404_for_strangers() {
    let app = app!();
    let alice = app.user("alice", false).await;
    let pat = app.user("pat", false).await;
    let bob = app.user("bob", false).await;
    app.repo(&alice, "secret", &[(&pat, Role::Packager)]).await;
    let (s, e) = req(
        &app,
        &alice,
        Method::PATCH,
        "/api/v1/repos/alice/secret",
        Some(json!({"visibility": "private"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    // Something behind every kind of id the routes take.
    let (_, hook) = req(
        &app,
        &alice,
        Method::POST,
        "/api/v1/repos/alice/secret/webhooks",
        Some(json!({"url": "http://203.0.113.10/hook"})),
    )
    .await;
    let (_, token) = req(
        &app,
        &alice,
        Method::POST,
        "/api/v1/repos/alice/secret/read-tokens",
        Some(json!({"name": "laptop"})),
    )
    .await;
    let (_, old) = req(
        &app,
        &alice,
        Method::POST,
        "/api/v1/repos/alice/secret/read-tokens",
        Some(json!({"name": "old"})),
    )
    .await;
    let (s, _) = req(
        &app,
        &alice,
        Method::DELETE,
        &format!("/api/v1/repos/alice/secret/read-tokens/{}", old["id"]),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let revoked = old["token"].as_str().expect("token").to_owned();
    let (s, e) = req(
        &app,
        &alice,
        Method::PUT,
        "/api/v1/repos/alice/secret/packages/pkg1",
        Some(json!({"source": {"type": "url", "url": "https://203.0.113.10/x.src.rpm"}})),
    )
    .await;
    assert!(s.is_success(), "{e}");
    let (s, e) = req(
        &app,
        &alice,
        Method::PUT,
        "/api/v1/repos/alice/secret/git-credentials/git.example.org",
        Some(json!({"username": "bot", "password": "t0ken"})),
    )
    .await;
    assert!(s.is_success(), "{e}");
    let task = crate::policy_table::queued_task(&app, "alice", &alice, "secret").await;
    let ids = Ids {
        webhook: hook["id"].as_i64().expect("hook"),
        read_token: token["id"].as_i64().expect("token"),
        task: task.into(),
    };

    let bob_browser = kiln_tests::browser();
    let bob_csrf = kiln_tests::sign_in(&app, &bob_browser, &bob).await;
    let alice_browser = kiln_tests::browser();
    let alice_csrf = kiln_tests::sign_in(&app, &alice_browser, &alice).await;
    let strangers = [
        Caller {
            name: "anonymous",
            token: None,
            browser: None,
        },
        Caller {
            name: "a non-member",
            token: Some(&bob.token),
            browser: Some((&bob_browser, &bob_csrf)),
        },
        Caller {
            name: "a revoked read token",
            token: Some(&revoked),
            browser: None,
        },
    ];
    let member = Caller {
        name: "the repo's admin",
        token: Some(&alice.token),
        browser: Some((&alice_browser, &alice_csrf)),
    };

    // Every route that names a repo or one of its tasks, every method; the pages; the UI's
    // server functions.
    let mut routes: Vec<(Method, String)> = Vec::new();
    for (path, methods) in kiln_tests::server_routes() {
        // (`/coprs/g/GROUP/…` is the group spelling of `/coprs/OWNER/…`: the owner here is a
        // user.)
        let of_repo =
            path.contains("{owner}") && !path.contains("{group}") && !path.starts_with("/coprs/g/");
        let of_task = path.contains("/tasks/{id}") && !path.starts_with("/api/v1/agent/");
        if !(of_repo || of_task) {
            continue;
        }
        for m in methods {
            routes.push((m.parse().expect("method"), path.clone()));
        }
    }
    let pages = page_routes();
    assert!(pages.len() >= 7, "{pages:?}");
    for p in &pages {
        routes.push((Method::GET, p.clone()));
    }
    assert!(routes.len() > 50, "the routes were not found: {routes:?}");

    let mut failures = Vec::new();
    let mut refused_404 = 0;
    let mut checked = 0;
    for (method, template) in &routes {
        let path = fill(template, "secret", &ids);
        let missing_task = template.contains("/tasks/{id}") && !template.contains("{owner}");
        let missing = if missing_task {
            fill(
                template,
                "secret",
                &Ids {
                    task: 999_999,
                    ..ids
                },
            )
        } else {
            fill(template, "never-made", &ids)
        };
        // The route is real: its owner sees something else than a missing repo (reads only;
        // nothing here writes as the owner).
        if *method == Method::GET {
            let (s, body) = send(&app, &member, method, &path).await;
            if body.contains("there is no repo") || body.contains("no such API endpoint") {
                failures.push(format!("{method} {path}: the owner got {s} {body}"));
            }
        }
        for who in &strangers {
            checked += 1;
            let (s, body) = send(&app, who, method, &path).await;
            let (s2, body2) = send(&app, who, method, &missing).await;
            let (task_a, task_b) = if missing_task {
                (ids.task, 999_999)
            } else {
                (ids.task, ids.task)
            };
            let a = neutral(s, &body, "secret", task_a);
            let b = neutral(s2, &body2, "never-made", task_b);
            // Pages carry a fresh CSRF token and request ids: compare their status only.
            let same = if template.starts_with("/r/") {
                a.0 == b.0
            } else {
                a == b
            };
            if !same {
                failures.push(format!(
                    "{method} {path} for {}: {} {}\n    but a missing repo: {} {}",
                    who.name, a.0, a.1, b.0, b.1
                ));
            }
            if s == StatusCode::NOT_FOUND {
                refused_404 += 1;
            } else if std::env::var_os("KILN_SWEEP_VERBOSE").is_some() {
                eprintln!("{method} {path} for {}: {s} {}", who.name, a.1);
            }
            if s != StatusCode::NOT_FOUND && *method == Method::GET {
                failures.push(format!("{method} {path} for {}: {s} {body}", who.name));
            }
        }
    }
    for (endpoint, params) in server_fns() {
        for who in &strangers {
            let query = |repo: &str, task: i64| {
                params
                    .iter()
                    .map(|p| match p.as_str() {
                        "owner" => "owner=alice".to_owned(),
                        "repo" => format!("repo={repo}"),
                        "id" => format!("id={task}"),
                        "name" => "name=pkg1".to_owned(),
                        other => format!("{other}="),
                    })
                    .collect::<Vec<_>>()
                    .join("&")
            };
            checked += 1;
            let path = format!("/ui/{endpoint}?{}", query("secret", ids.task));
            let missing = format!("/ui/{endpoint}?{}", query("never-made", ids.task));
            let (s, body) = send(&app, who, &Method::GET, &path).await;
            let (s2, body2) = send(&app, who, &Method::GET, &missing).await;
            if neutral(s, &body, "secret", 0) != neutral(s2, &body2, "never-made", 0)
                || !body.contains("there is no repo")
            {
                failures.push(format!(
                    "{path} for {}: {s} {body}\n    but a missing repo: {s2} {body2}",
                    who.name
                ));
            }
        }
    }
    eprintln!(
        "swept {} routes and {} server functions: {checked} requests, {refused_404} answered 404, \
         the rest exactly as for a missing repo",
        routes.len(),
        server_fns().len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A read token downloads a private repo's files (dnf's HTTP Basic password, any user name),
/// the `.repo` file and release RPM fetched with it carry it, it records its last use, and it
/// is refused the moment it is revoked; a member's API token works the same way; nothing of a
/// private repo may sit in a shared cache.
#[tokio::test]
async fn read_tokens_download_a_private_repo_until_revoked() {
    let app = app!();
    let alice = app.user("alice", false).await;
    let pat = app.user("pat", false).await;
    app.repo(&alice, "secret", &[(&pat, Role::Packager)]).await;
    req(
        &app,
        &alice,
        Method::PATCH,
        "/api/v1/repos/alice/secret",
        Some(json!({"visibility": "private"})),
    )
    .await;
    // Only repo admins make them; a packager may not.
    let (s, _) = req(
        &app,
        &pat,
        Method::POST,
        "/api/v1/repos/alice/secret/read-tokens",
        Some(json!({"name": "ci"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, e) = req(
        &app,
        &alice,
        Method::POST,
        "/api/v1/repos/alice/secret/read-tokens",
        Some(json!({"name": " "})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = req(
        &app,
        &alice,
        Method::POST,
        "/api/v1/repos/alice/secret/read-tokens",
        Some(json!({"name": "ci", "expires_at": "2001-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, t) = req(
        &app,
        &alice,
        Method::POST,
        "/api/v1/repos/alice/secret/read-tokens",
        Some(json!({"name": "ci-runners"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let token = t["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("kiln_rt_"), "{token}");
    assert!(
        t["release_rpm_url"]
            .as_str()
            .expect("url")
            .contains(&format!("://kiln:{token}@")),
        "{t}"
    );
    // Listed without its secret, which is stored only as a hash.
    let (_, list) = req(
        &app,
        &alice,
        Method::GET,
        "/api/v1/repos/alice/secret/read-tokens",
        None,
    )
    .await;
    assert_eq!(list[0]["name"], "ci-runners");
    assert_eq!(list[0]["created_by"], "alice");
    assert!(list[0]["last_used_at"].is_null());
    assert!(!list.to_string().contains(&token));
    let stored: Vec<String> = {
        use kiln_core::entities::read_tokens;
        use sea_orm::EntityTrait;
        read_tokens::Entity::find()
            .all(&app.kiln.db)
            .await
            .expect("db")
            .into_iter()
            .map(|r| r.token_hash)
            .collect()
    };
    assert!(!stored.iter().any(|h| h.contains(&token)));

    let get = |path: &str, user: &str, password: Option<&str>| {
        let mut req = app.http.get(app.url(path));
        if let Some(p) = password {
            req = req.basic_auth(user, Some(p));
        }
        async move {
            let resp = req.send().await.expect("get");
            let status = resp.status();
            let cache = resp
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            (status, cache, resp.bytes().await.expect("body").to_vec())
        }
    };
    let repo_file = "/repos/alice/secret/alice-secret.repo";
    assert_eq!(get(repo_file, "x", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get(repo_file, "x", Some("kiln_rt_wrong")).await.0,
        StatusCode::NOT_FOUND
    );
    // Any user name: dnf needs one, Kiln ignores it.
    let (s, cache, body) = get(repo_file, "whoever", Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(cache.starts_with("private"), "{cache}");
    let text = String::from_utf8(body).expect("utf8");
    assert!(
        text.contains(&format!("username=whoever\npassword={token}\n")),
        "{text}"
    );
    assert!(
        text.contains("repo_gpgcheck=1") && text.contains("gpgcheck=1"),
        "{text}"
    );
    let (s, cache, _) = get("/repos/alice/secret/pubkey.gpg", "dnf", Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(cache.starts_with("private"), "{cache}");
    // The release RPM carries the token in its .repo file (root-only), built for the request.
    let (s, cache, rpm) = get(
        "/repos/alice/secret/alice-secret-release.noarch.rpm",
        "dnf",
        Some(&token),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cache, "private, no-store");
    let pkg = rpm::Package::parse(&mut std::io::Cursor::new(&rpm)).expect("rpm");
    let repo_entry = pkg
        .files()
        .expect("files")
        .filter_map(Result::ok)
        .find(|f| f.metadata.path().ends_with("alice-secret.repo"))
        .expect("repo file");
    assert_eq!(repo_entry.metadata.permissions(), 0o600);
    assert!(
        String::from_utf8_lossy(repo_entry.content().unwrap_or_default())
            .contains(&format!("password={token}")),
        "the packaged .repo carries the token"
    );
    // Its use is recorded (beside the download, within moments).
    let mut list = Value::Null;
    for _ in 0..50 {
        list = req(
            &app,
            &alice,
            Method::GET,
            "/api/v1/repos/alice/secret/read-tokens",
            None,
        )
        .await
        .1;
        if list[0]["last_used_at"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(list[0]["last_used_at"].is_string(), "{list}");
    // A read token only downloads: the API does not know it.
    let (s, _) = app.get("/api/v1/repos/alice/secret", Some(&token)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A member's own API token works as the password too.
    let (s, _, body) = get(repo_file, "pat", Some(&pat.token)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains(&format!("password={}", pat.token)));
    // Revoked: refused at once.
    let id = list[0]["id"].as_i64().expect("id");
    let (s, _) = req(
        &app,
        &alice,
        Method::DELETE,
        &format!("/api/v1/repos/alice/secret/read-tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        get(repo_file, "dnf", Some(&token)).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, _) = req(
        &app,
        &alice,
        Method::DELETE,
        &format!("/api/v1/repos/alice/secret/read-tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "revoked twice");
    // Another server revoking a token (the row and the repo's revision change; this server's
    // memory of the token does not): refused at the next download here too, while the repo's
    // other tokens go on working.
    let mint = |name: &'static str| {
        let app = &app;
        let alice = &alice;
        async move {
            req(
                app,
                alice,
                Method::POST,
                "/api/v1/repos/alice/secret/read-tokens",
                Some(json!({ "name": name })),
            )
            .await
            .1["token"]
                .as_str()
                .expect("token")
                .to_owned()
        }
    };
    let (kept, elsewhere) = (mint("kept").await, mint("elsewhere").await);
    for t in [&kept, &elsewhere] {
        assert_eq!(get(repo_file, "dnf", Some(t)).await.0, StatusCode::OK);
    }
    {
        use kiln_core::entities::{read_tokens, repos};
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        read_tokens::Entity::update_many()
            .col_expr(
                read_tokens::Column::RevokedAt,
                Expr::value(kiln_core::now()),
            )
            .filter(read_tokens::Column::Name.eq("elsewhere"))
            .exec(&app.kiln.db)
            .await
            .expect("revoke");
        repos::Entity::update_many()
            .col_expr(
                repos::Column::ReadTokenRevision,
                Expr::col(repos::Column::ReadTokenRevision).add(1),
            )
            .filter(repos::Column::Name.eq("secret"))
            .exec(&app.kiln.db)
            .await
            .expect("revision");
    }
    assert_eq!(
        get(repo_file, "dnf", Some(&elsewhere)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(repo_file, "dnf", Some(&kept)).await.0, StatusCode::OK);
    // An expired one too: it works until its time, then not (remembered or not).
    let soon = kiln_core::now() + time::Duration::seconds(2);
    let (_, t) = req(
        &app,
        &alice,
        Method::POST,
        "/api/v1/repos/alice/secret/read-tokens",
        Some(json!({"name": "short", "expires_at": soon.format(&time::format_description::well_known::Rfc3339).expect("time")})),
    )
    .await;
    let short = t["token"].as_str().expect("token").to_owned();
    assert_eq!(get(repo_file, "dnf", Some(&short)).await.0, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        get(repo_file, "dnf", Some(&short)).await.0,
        StatusCode::NOT_FOUND
    );
    // A public repo: the token is not needed, and nothing is cached privately.
    req(
        &app,
        &alice,
        Method::PATCH,
        "/api/v1/repos/alice/secret",
        Some(json!({"visibility": "public"})),
    )
    .await;
    let (s, cache, body) = get(repo_file, "x", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(cache.starts_with("public"), "{cache}");
    assert!(!String::from_utf8_lossy(&body).contains("password="));
    // And back: the next request is refused.
    req(
        &app,
        &alice,
        Method::PATCH,
        "/api/v1/repos/alice/secret",
        Some(json!({"visibility": "private"})),
    )
    .await;
    assert_eq!(get(repo_file, "x", None).await.0, StatusCode::NOT_FOUND);
    // Credentials never authorise a change: a POST with a member's token as Basic is anonymous.
    let resp = app
        .http
        .post(app.url("/api/v1/repos/alice/secret/createrepo"))
        .basic_auth("alice", Some(&alice.token))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// Groups: a site admin makes a local group and adds members; a member creates a repo owned by
/// the group (`@team/REPO`) and every member gets the group's role there (packager, then what
/// the repo's admins set); a private group repo is visible to the group; strangers cannot
/// create in the group.
#[tokio::test]
async fn group_members_get_a_role_in_the_groups_repos() {
    let app = app!();
    let root = app.user("root", true).await;
    let alice = app.user("alice", false).await;
    let gina = app.user("gina", false).await;
    let bob = app.user("bob", false).await;
    // Only site admins make groups.
    let (s, _) = req(
        &app,
        &alice,
        Method::POST,
        "/api/v1/groups",
        Some(json!({"name": "team"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, g) = req(
        &app,
        &root,
        Method::POST,
        "/api/v1/groups",
        Some(json!({"name": "team"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    assert_eq!(g["owner"], "@team");
    let (s, _) = req(
        &app,
        &root,
        Method::POST,
        "/api/v1/groups",
        Some(json!({"name": "team"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, e) = req(
        &app,
        &root,
        Method::POST,
        "/api/v1/groups",
        Some(json!({"name": "bad name"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    for u in ["alice", "gina"] {
        let (s, g) = req(
            &app,
            &root,
            Method::PUT,
            &format!("/api/v1/groups/team/members/{u}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{g}");
    }
    let (s, e) = req(
        &app,
        &root,
        Method::PUT,
        "/api/v1/groups/team/members/nobody",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (_, g) = req(&app, &gina, Method::GET, "/api/v1/groups/team", None).await;
    assert_eq!(
        g["members"],
        json!([{"username": "alice", "source": "local"}, {"username": "gina", "source": "local"}])
    );
    // A group is not a user: no sign-in, no membership lookup, no member of a repo.
    let (s, _) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/x/members/@team",
            Some(&alice.token),
            Some(json!({"role": "packager"})),
        )
        .await;
    assert!(s.is_client_error());

    // A stranger cannot create in the group; a member can.
    let (s, e) = create_in_team(&app, &bob, "tools").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    let (s, r) = create_in_team(&app, &alice, "tools").await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["full_name"], "@team/tools");
    assert_eq!(r["group_role"], "packager");
    let (s, _) = create_in_team(&app, &alice, "tools").await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Gina, a member of the group, is a packager there; Bob does not see it.
    let (s, r) = req(&app, &gina, Method::GET, "/api/v1/repos/@team/tools", None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["my_role"], "packager");
    let (_, list) = req(&app, &gina, Method::GET, "/api/v1/repos", None).await;
    assert!(list.to_string().contains("@team/tools"), "{list}");
    let (s, _) = req(&app, &bob, Method::GET, "/api/v1/repos/@team/tools", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = req(
        &app,
        &gina,
        Method::PATCH,
        "/api/v1/repos/@team/tools",
        Some(json!({"description": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The repo's admin (its creator) raises the group's role; a packager may not.
    let (s, _) = req(
        &app,
        &gina,
        Method::PUT,
        "/api/v1/repos/@team/tools/group-role",
        Some(json!({"role": "releng"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, r) = req(
        &app,
        &alice,
        Method::PUT,
        "/api/v1/repos/@team/tools/group-role",
        Some(json!({"role": "releng"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["group_role"], "releng");
    let (s, _) = req(
        &app,
        &gina,
        Method::PATCH,
        "/api/v1/repos/@team/tools",
        Some(json!({"description": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // A user's repo has no group role.
    app.repo(&alice, "own", &[]).await;
    let (s, e) = req(
        &app,
        &alice,
        Method::PUT,
        "/api/v1/repos/alice/own/group-role",
        Some(json!({"role": "releng"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    // Leaving the group ends the role.
    let (s, _) = req(
        &app,
        &root,
        Method::DELETE,
        "/api/v1/groups/team/members/gina",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = req(&app, &gina, Method::GET, "/api/v1/repos/@team/tools", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Its published files live under the group's name, like any owner's; dnf's repo id and
    // the release RPM's name spell the `@` as `_`.
    let (s, text) = {
        let resp = app
            .http
            .get(app.url("/repos/@team/tools/@team-tools.repo"))
            .basic_auth("dnf", Some(&alice.token))
            .send()
            .await
            .expect("get");
        (resp.status(), resp.text().await.expect("text"))
    };
    assert_eq!(s, StatusCode::OK, "{text}");
    assert!(text.starts_with("[kiln-_team-tools]\n"), "{text}");
    assert!(
        text.contains("/repos/@team/tools/fedora-$releasever-$basearch/"),
        "{text}"
    );
    let (s, idx) = app
        .get("/repos/@team/tools/?format=json", Some(&alice.token))
        .await;
    assert_eq!(s, StatusCode::OK, "{idx}");
    assert_eq!(idx["repo"], "@team/tools");
}

/// `repos.force_private`: new repos are private and a public one is refused (site admins
/// excepted); `repos.private_by_default` only changes the default.
#[tokio::test]
async fn a_site_can_force_private_repos() {
    let app = app!(|c: &mut kiln_core::Config| c.repos.force_private = true);
    let alice = app.user("alice", false).await;
    let root = app.user("root", true).await;
    let (s, r) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&alice.token),
            Some(json!({"name": "a"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(r["visibility"], "private");
    let (s, e) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&alice.token),
            Some(json!({"name": "b", "visibility": "public"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(e.to_string().contains("force_private"), "{e}");
    let (s, e) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/a",
            Some(&alice.token),
            Some(json!({"visibility": "public"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, _) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/a",
            Some(&root.token),
            Some(json!({"visibility": "public"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    let app = app!(|c: &mut kiln_core::Config| c.repos.private_by_default = true);
    let alice = app.user("alice", false).await;
    let (_, r) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&alice.token),
            Some(json!({"name": "a"})),
        )
        .await;
    assert_eq!(r["visibility"], "private");
    let (s, r) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&alice.token),
            Some(json!({"name": "b", "visibility": "public"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(r["visibility"], "public");
}

/// `kiln read-token …` and `kiln group …`: what a repo admin and a site admin type.
#[tokio::test]
async fn read_token_and_group_commands_of_the_client() {
    let app = app!();
    let alice = app.user("alice", false).await;
    let root = app.user("root", true).await;
    let run = |args: &[&str], token: &str| {
        tokio::process::Command::new(kiln_tests::workspace_binary("kiln"))
            .args(args)
            .env_clear()
            .env("HOME", app.dir.path())
            .env("KILN_URL", &app.base)
            .env("KILN_TOKEN", token)
            .output()
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let out = run(&["group", "create", "team"], &alice.token)
        .await
        .expect("kiln");
    assert!(!out.status.success());
    assert!(text(&out).contains("site administrator"), "{}", text(&out));
    let out = run(&["group", "create", "@team"], &root.token)
        .await
        .expect("kiln");
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["group", "add-member", "team", "alice"], &root.token)
        .await
        .expect("kiln");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("alice (local)"), "{}", text(&out));
    let out = run(
        &["repo", "create", "tools", "--group", "team", "--private"],
        &alice.token,
    )
    .await
    .expect("kiln");
    assert!(out.status.success(), "{}", text(&out));
    let out = run(
        &["group", "set-role", "@team/tools", "releng"],
        &alice.token,
    )
    .await
    .expect("kiln");
    assert!(out.status.success(), "{}", text(&out));
    let (_, r) = app
        .get("/api/v1/repos/@team/tools", Some(&alice.token))
        .await;
    assert_eq!(r["group_role"], "releng");
    assert_eq!(r["visibility"], "private");

    // A read token: the secret alone on stdout, the dnf line on stderr.
    let out = run(
        &[
            "read-token",
            "create",
            "@team/tools",
            "laptop",
            "--expires-days",
            "30",
        ],
        &alice.token,
    )
    .await
    .expect("kiln");
    assert!(out.status.success(), "{}", text(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(token.starts_with("kiln_rt_"), "{token}");
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        said.contains("sudo dnf install '") && said.contains(&token),
        "{said}"
    );
    let resp = app
        .http
        .get(app.url("/repos/@team/tools/@team-tools.repo"))
        .basic_auth("dnf", Some(&token))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    let out = run(&["read-token", "list", "@team/tools"], &alice.token)
        .await
        .expect("kiln");
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.contains("laptop") && !listed.contains(&token),
        "{listed}"
    );
    let id = listed.split_whitespace().next().expect("id").to_owned();
    let out = run(&["read-token", "revoke", "@team/tools", &id], &alice.token)
        .await
        .expect("kiln");
    assert!(out.status.success(), "{}", text(&out));
    let resp = app
        .http
        .get(app.url("/repos/@team/tools/@team-tools.repo"))
        .basic_auth("dnf", Some(&token))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
