use kiln_tests::error_of;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::app;

#[tokio::test]
async fn fresh_install_has_a_catalogue() {
    let app = app!();
    let (s, list) = app.get("/api/v1/chroots", None).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for expected in [
        "fedora-44-x86_64",
        "fedora-45-aarch64",
        "fedora-rawhide-x86_64",
        "epel-9-x86_64",
        "epel-10-aarch64",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let (_, f) = app.get("/api/v1/chroots/fedora-44-x86_64", None).await;
    assert_eq!(f["distro"], "fedora");
    assert_eq!(f["release"], "44");
    assert_eq!(f["arch"], "x86_64");
    assert_eq!(f["dist_macro"], ".fc44");
    assert!(f["base_repos"].as_array().is_some_and(|r| !r.is_empty()));
    let (_, e) = app.get("/api/v1/chroots/epel-9-aarch64", None).await;
    assert_eq!(e["dist_macro"], ".el9");
}

#[tokio::test]
async fn site_admins_manage_base_chroots() {
    let app = app!();
    let root = app.user("root", true).await;
    let alice = app.user("alice", false).await;
    let body = json!({
        "name": "opensuse-leap-15.6-x86_64",
        "base_repos": [{"id": "oss", "baseurl": "https://download.example.org/leap/15.6/oss/"}],
        "mock_template": "config_opts['chroot_setup_cmd'] = 'install patterns-devel-base-devel_rpm_build'\n",
        "dist_macro": ".lp156"
    });
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/chroots",
            Some(&alice.token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, c) = app
        .call(
            Method::POST,
            "/api/v1/chroots",
            Some(&root.token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["distro"], "opensuse-leap");
    assert_eq!(c["release"], "15.6");
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/chroots",
            Some(&root.token),
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    for (bad, field_hint) in [
        (
            json!({"name": "fedora_44", "base_repos": [{"id": "a", "baseurl": "https://x.org/"}]}),
            "DISTRO-RELEASE-ARCH",
        ),
        (
            json!({"name": "x-1-x86_64", "base_repos": []}),
            "at least one",
        ),
        (
            json!({"name": "x-1-x86_64", "base_repos": [{"id": "a", "baseurl": "file:///etc"}]}),
            "http:// or https://",
        ),
    ] {
        let (s, body) = app
            .call(
                Method::POST,
                "/api/v1/chroots",
                Some(&root.token),
                Some(bad),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert!(error_of(&body).1.contains(field_hint), "{body}");
    }

    // A chroot in use cannot be deleted; disabling keeps it from new configs.
    app.repo(&alice, "tools", &[]).await;
    let (s, body) = app
        .call(
            Method::DELETE,
            "/api/v1/chroots/fedora-44-x86_64",
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let (s, c) = app
        .call(
            Method::PATCH,
            "/api/v1/chroots/fedora-43-x86_64",
            Some(&root.token),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["enabled"], false);
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/mock-configs",
            Some(&alice.token),
            Some(json!({"name": "f43", "base": "fedora-43-x86_64"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).1.contains("disabled"));
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/chroots/opensuse-leap-15.6-x86_64",
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .get("/api/v1/chroots/opensuse-leap-15.6-x86_64", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Site-wide changes are in the site audit log, with who made them.
    let (s, log) = app.get("/api/v1/audit", Some(&root.token)).await;
    assert_eq!(s, StatusCode::OK);
    let seen = kiln_tests::audit_entries(&log);
    for (action, target) in [
        ("chroot.create", "opensuse-leap-15.6-x86_64"),
        ("chroot.update", "fedora-43-x86_64"),
        ("chroot.delete", "opensuse-leap-15.6-x86_64"),
    ] {
        assert!(
            seen.contains(&("root".into(), action.into(), target.into())),
            "{action} {target} missing: {seen:?}"
        );
    }
}
