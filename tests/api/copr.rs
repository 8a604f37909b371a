//! Copr's own clients against Kiln (issue 19, first part): `copr-cli` and the `copr` library
//! from PyPI (in the virtualenv `tests/run` keeps), unmodified, with `copr_url` pointing here.

use kiln_proto::Role;
use reqwest::StatusCode;

use crate::app;

/// The virtualenv with copr-cli, or `None` (outside CI) when it is not installed.
fn venv() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("KILN_COPR_VENV")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache/kiln/copr-venv"))
        })?;
    if dir.join("bin/copr-cli").exists() {
        return Some(dir);
    }
    if kiln_tests::in_ci() {
        panic!(
            "copr-cli is missing from {}: tests/run installs it",
            dir.display()
        );
    }
    eprintln!("NOTICE: skipping the Copr client tests: run tests/run once (it installs copr-cli)");
    None
}

struct Client {
    venv: std::path::PathBuf,
    home: tempfile::TempDir,
}

impl Client {
    /// A HOME whose `~/.config/copr` points at `base` as `login` with `token`.
    fn new(venv: std::path::PathBuf, base: &str, login: &str, token: &str) -> Client {
        let home = tempfile::tempdir().expect("home");
        std::fs::create_dir_all(home.path().join(".config")).expect("config");
        std::fs::write(
            home.path().join(".config/copr"),
            format!(
                "[copr-cli]\nlogin = {login}\nusername = {login}\ntoken = {token}\ncopr_url = {base}\nencrypted = False\n"
            ),
        )
        .expect("copr config");
        Client { venv, home }
    }

    async fn run(&self, program: &str, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new(self.venv.join("bin").join(program))
            .args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", "/usr/bin:/bin")
            .output()
            .await
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn cli(&self, args: &[&str]) -> (bool, String, String) {
        self.run("copr-cli", args).await
    }

    /// Python with the `copr` library: `script` runs with `client` made from the config file.
    async fn library(&self, script: &str) -> (bool, String, String) {
        let code = format!(
            "import os\nfrom copr.v3 import Client\nclient = Client.create_from_config_file(os.path.expanduser('~/.config/copr'))\n{script}\n"
        );
        self.run("python", &["-c", &code]).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn copr_cli_reads_projects_and_chroots_and_refuses_what_kiln_lacks() {
    let Some(venv) = venv() else { return };
    let app = app!();
    let alice = app.user("alice", false).await;
    let bob = app.user("bob", false).await;
    app.repo(&alice, "tools", &[(&bob, Role::Packager)]).await;
    app.repo(&alice, "secret", &[]).await;
    let (s, _) = app
        .call(
            reqwest::Method::PATCH,
            "/api/v1/repos/alice/secret",
            Some(&alice.token),
            Some(serde_json::json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let copr = Client::new(venv.clone(), &app.base, "alice", &alice.token);

    // `copr-cli list` reads anonymously: the public project, its chroot's repo; not the private.
    let (ok, out, err) = copr.cli(&["list", "alice"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("Name: tools"), "{out}");
    assert!(
        out.contains(&format!(
            "fedora-44-x86_64: {}/repos/alice/tools/fedora-44-x86_64/",
            app.base
        )),
        "{out}"
    );
    assert!(!out.contains("secret"), "{out}");
    let (ok, out, err) = copr.cli(&["get", "alice/tools"]).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("Name: tools") && out.contains("tools for tests"),
        "{out}"
    );
    let (ok, out, err) = copr.cli(&["get", "alice/secret"]).await;
    assert!(!ok, "{out}");
    assert!(
        err.contains("Project alice/secret does not exist."),
        "{err}"
    );
    let (ok, out, err) = copr.cli(&["list-chroots"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.lines().any(|l| l == "fedora-44-x86_64"), "{out}");

    // The library's auth check: the token's user; a wrong token is Copr's 401.
    let (ok, out, err) = copr
        .library("print(client.base_proxy.auth_check()['name'])")
        .await;
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "alice");
    let wrong = Client::new(venv.clone(), &app.base, "alice", "kiln_pat_wrong");
    let (ok, out, err) = wrong.library("print(client.base_proxy.auth_check())").await;
    assert!(!ok, "{out}");
    assert!(err.contains("Login invalid"), "{err}");

    // Builds, read as copr-cli reads them: status, list-builds (paged until an empty page),
    // watch-build ending 0 on success and 4 on failure; the web URLs it prints lead to pages.
    let done = crate::policy_table::queued_task(&app, "alice", &alice, "tools").await;
    let failed = crate::policy_table::queued_task(&app, "alice", &alice, "tools").await;
    let pending = crate::policy_table::queued_task(&app, "alice", &alice, "tools").await;
    {
        use kiln_core::entities::tasks;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        for (id, state) in [(done, "succeeded"), (failed, "failed")] {
            tasks::Entity::update_many()
                .col_expr(tasks::Column::State, sea_orm::sea_query::Expr::value(state))
                .col_expr(
                    tasks::Column::FinishedAt,
                    sea_orm::sea_query::Expr::value(Some(kiln_core::now())),
                )
                .filter(
                    sea_orm::Condition::any()
                        .add(tasks::Column::Id.eq(id))
                        .add(tasks::Column::ParentId.eq(id)),
                )
                .exec(&app.kiln.db)
                .await
                .expect("state");
        }
    }
    let (ok, out, err) = copr.cli(&["status", &done.to_string()]).await;
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "succeeded");
    let (ok, out, err) = copr.cli(&["status", &pending.to_string()]).await;
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "pending");
    let (ok, _, err) = copr.cli(&["status", "99999"]).await;
    assert!(!ok && err.contains("Build 99999 does not exist."), "{err}");
    let (ok, out, err) = copr.cli(&["list-builds", "alice/tools"]).await;
    assert!(ok, "{out}{err}");
    for (id, state) in [
        (done, "succeeded"),
        (failed, "failed"),
        (pending, "pending"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{id}\t")) && l.ends_with(state)),
            "{id} {state}: {out}"
        );
    }
    let (ok, out, err) = copr.cli(&["watch-build", &done.to_string()]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("Build {done}: succeeded")), "{out}");
    let (ok, out, err) = copr.cli(&["watch-build", &failed.to_string()]).await;
    assert!(!ok, "{out}");
    assert!(err.contains(&format!("Build(s) {failed} failed")), "{err}");
    let page = |path: String| {
        let b = kiln_tests::browser();
        let url = app.url(&path);
        async move {
            let resp = b.get(url).send().await.expect("get");
            (
                resp.status(),
                resp.headers()
                    .get("location")
                    .map(|l| l.to_str().unwrap_or_default().to_owned()),
            )
        }
    };
    assert_eq!(
        page(format!("/coprs/build/{done}")).await,
        (
            StatusCode::SEE_OTHER,
            Some(format!("/r/alice/tools/builds/{done}"))
        )
    );
    assert_eq!(
        page("/coprs/alice/tools/".into()).await,
        (StatusCode::SEE_OTHER, Some("/r/alice/tools".into()))
    );
    assert_eq!(
        page("/coprs/alice/secret/".into()).await.0,
        StatusCode::NOT_FOUND
    );

    // `/account` shows the ready `~/.config/copr`, and makes a token for it on request: that
    // block, pasted as it is, is a working client configuration.
    let b = kiln_tests::browser();
    let csrf = kiln_tests::sign_in(&app, &b, &bob).await;
    let (_, html) = kiln_tests::page(&b, &app, "/account").await;
    assert!(html.contains(&format!("copr_url = {}", app.base)), "{html}");
    let resp = b
        .post(app.url("/forms/tokens"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "copr-cli"),
            ("expires_days", "0"),
            ("purpose", "copr"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html) = kiln_tests::page(&b, &app, "/account").await;
    let block = html
        .split("<code>[copr-cli]")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .map(|s| format!("[copr-cli]{s}"))
        .expect("the config block with the new token");
    assert!(
        block.contains("token = kiln_pat_") && block.contains("encrypted = False"),
        "{block}"
    );
    let pasted = Client::new(venv.clone(), &app.base, "x", "x");
    std::fs::write(pasted.home.path().join(".config/copr"), block).expect("paste");
    let (ok, out, err) = pasted
        .library("print(client.base_proxy.auth_check()['name'])")
        .await;
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "bob");

    // Malformed requests get Copr's error shape too.
    for path in [
        "/api_3/build/abc",
        "/api_3/build/list?ownername=alice&projectname=tools&limit=x",
        "/api_3/project",
    ] {
        let (s, body) = app.get(path, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }

    // What Kiln does not do yet answers Copr's error shape: never a silent success.
    let (ok, out, err) = copr.cli(&["cancel", "12"]).await;
    assert!(!ok, "{out}");
    assert!(err.contains("does not support"), "{err}");
}
