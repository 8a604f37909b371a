use kiln_proto::Role;
use kiln_tests::error_of;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::app;

#[tokio::test]
async fn releng_edits_mock_configs_and_rendered_shows_them() {
    let app = app!();
    let alice = app.user("alice", false).await;
    let rel = app.user("rel", false).await;
    let pkg = app.user("pkg", false).await;
    app.repo(
        &alice,
        "tools",
        &[(&rel, Role::Releng), (&pkg, Role::Packager)],
    )
    .await;

    let body = json!({
        "name": "f44-extra",
        "base": "fedora-44-x86_64",
        "extra_repos": [{"id": "devtools", "baseurl": "https://repo.example.org/devtools/$basearch/"}],
        "buildroot_add": ["ccache"],
        "buildroot_remove": ["fedora-release-identity-basic"],
        "macros": {"vendor": "Alice"}
    });
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/mock-configs",
            Some(&pkg.token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, c) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/mock-configs",
            Some(&rel.token),
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    insta::assert_json_snapshot!("created_mock_config", c, {".created_at" => "[time]", ".updated_at" => "[time]"});
    assert_eq!(c["arch"], "x86_64");
    assert_eq!(c["include_own_repo"], true);

    let resp = app
        .http
        .get(app.url("/api/v1/repos/alice/tools/mock-configs/f44-extra/rendered"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/plain"));
    let text = resp.text().await.expect("text");
    assert!(text.contains("config_opts['root'] = 'kiln-alice-tools-f44-extra'"));
    assert!(text.contains("config_opts['macros']['%vendor'] = 'Alice'"));
    assert!(text.contains("config_opts['macros']['%dist'] = '.fc44'"));
    assert!(text.contains("baseurl=https://repo.example.org/devtools/$basearch/"));
    assert!(text.contains("excludepkgs=fedora-release-identity-basic"));
    assert!(text.contains(" ccache'"));
    // The repo's own published repository is in the buildroot.
    assert!(
        text.contains(&format!(
            "baseurl={}/repos/alice/tools/fedora-44-x86_64/",
            app.base
        )),
        "{text}"
    );

    // Patch: macros replaced, own repo dropped; the base repos are not the repo's to change.
    let (s, c) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/tools/mock-configs/f44-extra",
            Some(&rel.token),
            Some(json!({"macros": {}, "include_own_repo": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let text = app
        .http
        .get(app.url("/api/v1/repos/alice/tools/mock-configs/f44-extra/rendered"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(!text.contains("%vendor"));
    assert!(!text.contains("/repos/alice/tools/"));
    let (s, body) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/tools/mock-configs/f44-extra",
            Some(&rel.token),
            Some(json!({"base": "epel-9-x86_64"})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "the base cannot be changed: {body}"
    );
    let (s, body) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/tools/mock-configs/f44-extra",
            Some(&rel.token),
            Some(json!({"base_repos": []})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");

    // Hostile input is refused and changes nothing.
    for (bad, hint) in [
        (
            json!({"extra_repos": [{"id": "x", "baseurl": "file:///etc/shadow"}]}),
            "http:// or https://",
        ),
        (
            json!({"extra_repos": [{"id": "x", "baseurl": "https://x.org/\"\"\"\nconfig_opts['rpmbuild_networking']=True"}]}),
            "http:// or https://",
        ),
        (
            json!({"buildroot_add": ["--nogpgcheck"]}),
            "not a package name",
        ),
        (json!({"macros": {"%dist": ".x"}}), "not a macro name"),
        (
            json!({"macros": {"a": "b\nconfig_opts['x']=1"}}),
            "one line",
        ),
    ] {
        let (s, body) = app
            .call(
                Method::PATCH,
                "/api/v1/repos/alice/tools/mock-configs/f44-extra",
                Some(&rel.token),
                Some(bad),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert!(error_of(&body).1.contains(hint), "{body}");
    }
    let (_, c) = app
        .get("/api/v1/repos/alice/tools/mock-configs/f44-extra", None)
        .await;
    assert_eq!(
        c["extra_repos"][0]["baseurl"],
        "https://repo.example.org/devtools/$basearch/"
    );

    // Unknown base, duplicate name, delete.
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/mock-configs",
            Some(&rel.token),
            Some(json!({"name": "x", "base": "fedora-99-x86_64"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).1.contains("no base chroot"));
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/mock-configs",
            Some(&rel.token),
            Some(json!({"name": "f44-extra", "base": "fedora-44-x86_64"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/repos/alice/tools/mock-configs/f44-extra",
            Some(&rel.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .get(
            "/api/v1/repos/alice/tools/mock-configs/f44-extra/rendered",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
