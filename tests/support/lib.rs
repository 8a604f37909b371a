//! Test support: a real Kiln server on a loopback port over SQLite or PostgreSQL (chosen by
//! `KILN_TEST_DB`), users of each role with API tokens, an in-process S3 server (s3s-fs) and
//! helpers to find the built binaries.

pub mod dnf;
pub mod oidc;
pub mod pipeline;
pub mod s3;
pub mod sources;

use std::path::PathBuf;

use kiln_core::services::{accounts, members, repos, tokens};
use kiln_core::{Config, Kiln, Principal};
use kiln_proto::{RepoCreate, Role, TokenCreate};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The database the suite runs on: `KILN_TEST_DB=postgres` or `sqlite` (default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

pub fn db_kind() -> DbKind {
    match std::env::var("KILN_TEST_DB").as_deref() {
        Ok("postgres") | Ok("postgresql") | Ok("pg") => DbKind::Postgres,
        _ => DbKind::Sqlite,
    }
}

/// The PostgreSQL server tests use (`KILN_TEST_PG_URL`, default the local trust-auth server).
pub fn pg_admin_url() -> String {
    std::env::var("KILN_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A fresh, empty PostgreSQL database for one test; `None` (with a printed notice) when no server
/// answers outside CI. In CI a missing server fails the test.
pub async fn fresh_pg_database() -> Option<String> {
    use sqlx::Connection;
    let admin = pg_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            if in_ci() {
                panic!("PostgreSQL at {admin} is required in CI: {e}");
            }
            eprintln!("NOTICE: skipping a PostgreSQL test: no server at {admin} ({e})");
            return None;
        }
    };
    let name = format!("kiln_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin);
    Some(format!("{base}/{name}"))
}

/// A user of a test app with a personal API token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i32,
    pub username: String,
    pub token: String,
}

pub struct TestApp {
    pub base: String,
    pub kiln: Kiln,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A test's config: a temporary data directory and the database `KILN_TEST_DB` names.
/// `None` when PostgreSQL is wanted but absent outside CI.
pub async fn test_config(dir: &tempfile::TempDir, kind: DbKind) -> Option<Config> {
    let mut config = Config::load(None, Vec::<(String, String)>::new()).expect("default config");
    config.data_dir = dir.path().to_path_buf();
    config.database_max_connections = 8;
    // Tests make hundreds of repos: their keys are Ed25519 (instant); the publishing tests
    // use the default, RSA.
    config.signing.key_type = kiln_core::config::SigningKeyType::Ed25519;
    if kind == DbKind::Postgres {
        config.database_url = Some(kiln_core::secret::Secret::new(fresh_pg_database().await?));
    }
    Some(config)
}

impl TestApp {
    /// A server with the default test configuration.
    pub async fn new() -> Option<TestApp> {
        Self::with_config(|_| {}).await
    }

    /// A server whose configuration `edit` adjusts first. `None`: skipped (no PostgreSQL).
    pub async fn with_config(edit: impl FnOnce(&mut Config)) -> Option<TestApp> {
        Self::on(db_kind(), edit).await
    }

    /// A server on the given database.
    pub async fn on(kind: DbKind, edit: impl FnOnce(&mut Config)) -> Option<TestApp> {
        // Server warnings and errors show in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("KILN_TEST_LOG")
                    .unwrap_or_else(|_| "warn,pgp=error".into()),
            )
            .try_init();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(&dir, kind).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        config.listen = addr.to_string();
        edit(&mut config);
        let base = format!("http://{addr}");
        let kiln = Kiln::open(config).await.expect("open kiln");
        let app = kiln_server::app(kiln.clone()).await.expect("app");
        let server = tokio::spawn(async move {
            let _ = axum::serve(kiln_server::no_delay(listener), app).await;
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Some(TestApp {
            base,
            kiln,
            http,
            dir,
            server,
        })
    }

    pub fn kiln_ref(&self) -> &Kiln {
        &self.kiln
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Creates a user with a password (`password-USERNAME`) and an API token.
    pub async fn user(&self, username: &str, site_admin: bool) -> TestUser {
        let password = format!("password-{username}");
        let user = accounts::create_user(&self.kiln, username, Some(&password), site_admin)
            .await
            .expect("create user");
        let principal = accounts::principal_of(&user);
        let token = tokens::create(
            &self.kiln,
            &principal,
            TokenCreate {
                name: "tests".into(),
                expires_at: None,
            },
        )
        .await
        .expect("token");
        TestUser {
            id: user.id,
            username: user.username,
            token: token.token,
        }
    }

    pub async fn principal(&self, user: &TestUser) -> Principal {
        let u = accounts::find_by_id(&self.kiln, user.id)
            .await
            .expect("db")
            .expect("user");
        accounts::principal_of(&u)
    }

    /// Creates `owner/name` (owner is admin) and gives each `(user, role)` its role.
    pub async fn repo(&self, owner: &TestUser, name: &str, members_: &[(&TestUser, Role)]) {
        let p = self.principal(owner).await;
        repos::create(
            &self.kiln,
            &p,
            RepoCreate {
                name: name.into(),
                description: format!("{name} for tests"),
                chroots: vec!["fedora-44-x86_64".into()],
                visibility: None,
                owner: None,
            },
        )
        .await
        .expect("create repo");
        for (u, role) in members_ {
            members::put(&self.kiln, &p, &owner.username, name, &u.username, *role)
                .await
                .expect("add member");
        }
    }

    /// Sends a JSON request with an optional bearer token; returns the status and JSON body
    /// (`Value::Null` when the body is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        match token {
            // Read tokens go as dnf sends them: the HTTP Basic password.
            Some(t) if t.starts_with("kiln_rt_") => req = req.basic_auth("dnf", Some(t)),
            Some(t) => req = req.bearer_auth(t),
            None => {}
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }
}

/// An HTTP client that keeps cookies and does not follow redirects, like a browser whose
/// every step the test wants to see.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of the first `csrf_token` field in a page.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf_token\" value=\"")
        .expect("a csrf_token field");
    let rest = &html[at + "name=\"csrf_token\" value=\"".len()..];
    rest[..rest.find('"').expect("end of value")].to_owned()
}

pub async fn page(b: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let resp = b
        .get(app.url(path))
        .header("accept", "text/html")
        .send()
        .await
        .expect("page");
    let s = resp.status();
    (s, resp.text().await.expect("html"))
}

/// Signs `user` in with the local form; returns the session's CSRF token.
pub async fn sign_in(app: &TestApp, b: &reqwest::Client, user: &TestUser) -> String {
    let (_, login) = page(b, app, "/login").await;
    let resp = b
        .post(app.url("/auth/login"))
        .form(&[
            ("csrf_token", csrf_of(&login).as_str()),
            ("username", user.username.as_str()),
            ("password", format!("password-{}", user.username).as_str()),
            ("next", "/"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, home) = page(b, app, "/").await;
    csrf_of(&home)
}

/// `url` with the query parameter `name` set to `value`.
pub fn with_query_param(url: &str, name: &str, value: &str) -> String {
    let mut u = url::Url::parse(url).expect("url");
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

/// An audit log answer as (actor, action, target), newest first.
pub fn audit_entries(log: &Value) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    log.as_array()
        .map(|a| {
            a.iter()
                .map(|e| (text(&e["actor"]), text(&e["action"]), text(&e["target"])))
                .collect()
        })
        .unwrap_or_default()
}

/// The first error's code and detail of an error envelope.
pub fn error_of(body: &Value) -> (String, String) {
    let e = &body["errors"][0];
    (
        e["code"].as_str().unwrap_or_default().to_owned(),
        e["detail"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A binary built by this workspace (`kiln`, `kiln-agent`), next to the test executable's
/// directory. `tests/run` builds them before the suites.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("deps dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build -p kiln -p kiln-agent` first (tests/run does)",
        path.display()
    );
    path
}

/// The repository's root directory.
/// Every route of `app/server/src/routes.rs` as `(path, methods)`, with the prefix each router
/// is mounted at (`lib.rs`: `/api/v1`, `/auth`, `/forms`; the others at the root).
pub fn server_routes() -> Vec<(String, Vec<String>)> {
    let text =
        std::fs::read_to_string(repo_root().join("app/server/src/routes.rs")).expect("routes.rs");
    let mut out = Vec::new();
    let mut prefix = "";
    let mut rest = text.as_str();
    while let Some(at) = rest.find(".route(") {
        // The router function this route is in.
        for (func, p) in [
            ("pub fn api(", "/api/v1"),
            ("pub fn auth(", "/auth"),
            ("pub fn forms(", "/forms"),
            ("pub fn repos(", ""),
            ("pub fn ops<", ""),
        ] {
            if rest[..at].contains(func) {
                prefix = p;
            }
        }
        let call = &rest[at + ".route(".len()..];
        // The call's arguments: up to its closing parenthesis.
        let mut depth = 1;
        let end = call
            .char_indices()
            .find(|(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .unwrap_or(call.len());
        let args = &call[..end];
        let path = args.split('"').nth(1).unwrap_or_default();
        let mut methods = Vec::new();
        for m in ["get", "post", "put", "patch", "delete", "any"] {
            let called = args.match_indices(&format!("{m}(")).any(|(i, _)| {
                i == 0 || !args[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            });
            if called {
                methods.push(m.to_uppercase());
            }
        }
        out.push((format!("{prefix}{path}"), methods));
        rest = &call[end..];
    }
    out
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("root")
        .to_path_buf()
}
