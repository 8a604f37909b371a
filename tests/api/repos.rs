use kiln_tests::error_of;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::app;

#[tokio::test]
async fn create_list_get_update_delete() {
    let app = app!();
    let alice = app.user("alice", false).await;
    let bob = app.user("bob", false).await;
    let t = Some(alice.token.as_str());

    let (s, repo) = app
        .call(Method::POST, "/api/v1/repos", t, Some(json!({"name": "tools", "description": "Handy tools", "chroots": ["fedora-44-x86_64", "epel-9-x86_64"]})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{repo}");
    assert_eq!(repo["full_name"], "alice/tools");
    assert_eq!(repo["my_role"], "admin");
    insta::assert_json_snapshot!("created_repo", repo, {".id" => "[id]", ".created_at" => "[time]", ".updated_at" => "[time]"});
    let created = repo["created_at"].as_str().expect("created_at");
    assert!(
        time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
            .is_ok()
    );
    assert!(created.contains('.'), "millisecond precision: {created}");

    // The creator is admin and the chroots became mock configs.
    let (_, members) = app.get("/api/v1/repos/alice/tools/members", t).await;
    assert_eq!(members[0]["username"], "alice");
    assert_eq!(members[0]["role"], "admin");
    let (_, configs) = app
        .get("/api/v1/repos/alice/tools/mock-configs", None)
        .await;
    let names: Vec<_> = configs
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, vec!["epel-9-x86_64", "fedora-44-x86_64"]);

    // Same name twice: 409. Another owner may use the name.
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            t,
            Some(json!({"name": "tools"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(error_of(&body)
        .1
        .contains("already have a repo named tools"));
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&bob.token),
            Some(json!({"name": "tools"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // Listing: everyone sees both; the owner filter and the search narrow it.
    let (s, list) = app.get("/api/v1/repos", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][0]["full_name"], "alice/tools");
    assert!(
        list["items"][0].get("my_role").is_none(),
        "anonymous callers have no role"
    );
    let (_, list) = app.get("/api/v1/repos?owner=bob", None).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["full_name"], "bob/tools");
    let (_, list) = app.get("/api/v1/repos?q=Handy", None).await;
    assert_eq!(list["total"], 1);
    let (_, list) = app.get("/api/v1/repos?per_page=1&page=2", None).await;
    assert_eq!(list["items"][0]["full_name"], "bob/tools");

    // Get and update.
    let (s, got) = app.get("/api/v1/repos/alice/tools", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["description"], "Handy tools");
    let (s, upd) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/tools",
            t,
            Some(json!({"description": "Sharper tools"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{upd}");
    assert_eq!(upd["description"], "Sharper tools");

    // Delete: gone at once, and gone from the list.
    let (s, _) = app
        .call(Method::DELETE, "/api/v1/repos/alice/tools", t, None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = app.get("/api/v1/repos/alice/tools", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body).1, "there is no repo alice/tools");
    let (s, _) = app
        .get("/api/v1/repos/alice/tools/mock-configs", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/api/v1/repos", None).await;
    assert_eq!(list["total"], 1);
    // The name is free again.
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            t,
            Some(json!({"name": "tools"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn deleting_a_repo_removes_its_objects_in_the_background() {
    let app = app!();
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let (_, repo) = app.get("/api/v1/repos/alice/tools", None).await;
    let id = repo["id"].as_i64().expect("id");
    let other = app.user("other", false).await;
    app.repo(&other, "keep", &[]).await;
    let (_, keep) = app.get("/api/v1/repos/other/keep", None).await;
    let keep_id = keep["id"].as_i64().expect("id");
    for (rid, name) in [(id, "a.rpm"), (id, "logs/build.log"), (keep_id, "b.rpm")] {
        app.kiln
            .storage
            .put(
                &format!("repos/{rid}/{name}"),
                Box::pin(std::io::Cursor::new(b"x".to_vec())),
            )
            .await
            .expect("put");
    }
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/repos/alice/tools",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let done = kiln_core::services::cleanup::run_once(&app.kiln)
        .await
        .expect("cleanup");
    assert_eq!(done, 1);
    assert!(app
        .kiln
        .storage
        .list(&format!("repos/{id}/"))
        .await
        .expect("list")
        .is_empty());
    assert_eq!(
        app.kiln
            .storage
            .list(&format!("repos/{keep_id}/"))
            .await
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        kiln_core::services::cleanup::run_once(&app.kiln)
            .await
            .expect("cleanup"),
        0
    );
}

#[tokio::test]
async fn creation_policy_and_quota() {
    let app = app!(|c: &mut kiln_core::Config| {
        c.repos.max_per_user = Some(1);
    });
    let alice = app.user("alice", false).await;
    let root = app.user("root", true).await;
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&alice.token),
            Some(json!({"name": "one"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&alice.token),
            Some(json!({"name": "two"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        error_of(&body).1.contains("most this server allows"),
        "{body}"
    );
    // Site admins are not limited.
    for name in ["a", "b"] {
        let (s, _) = app
            .call(
                Method::POST,
                "/api/v1/repos",
                Some(&root.token),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }

    let app = app!(|c: &mut kiln_core::Config| {
        c.repos.creators = kiln_core::config::RepoCreators::SiteAdmins;
    });
    let alice = app.user("alice", false).await;
    let root = app.user("root", true).await;
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&alice.token),
            Some(json!({"name": "one"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(error_of(&body).1.contains("only site administrators"));
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&root.token),
            Some(json!({"name": "one"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let app = app!(|c: &mut kiln_core::Config| {
        c.repos.creators = kiln_core::config::RepoCreators::Group;
        c.repos.creator_group = Some("packagers".into());
    });
    let alice = app.user("alice", false).await;
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&alice.token),
            Some(json!({"name": "one"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(error_of(&body).1.contains("packagers"));
    // A user whose identity provider says they are in the group may.
    let carol = kiln_core::services::accounts::login_oidc(
        &app.kiln,
        "corp",
        kiln_core::services::accounts::OidcClaims {
            subject: "c-1".into(),
            preferred_username: Some("carol".into()),
            groups: vec!["packagers".into()],
            ..Default::default()
        },
        None,
    )
    .await
    .expect("login");
    let p = kiln_core::services::accounts::principal_of(&carol);
    let token = kiln_core::services::tokens::create(
        &app.kiln,
        &p,
        kiln_proto::TokenCreate {
            name: "t".into(),
            expires_at: None,
        },
    )
    .await
    .expect("token");
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&token.token),
            Some(json!({"name": "one"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn audit_log_records_changes_for_admins() {
    let app = app!();
    let alice = app.user("alice", false).await;
    let bob = app.user("bob", false).await;
    let t = Some(alice.token.as_str());
    app.call(
        Method::POST,
        "/api/v1/repos",
        t,
        Some(json!({"name": "tools"})),
    )
    .await;
    app.call(
        Method::PUT,
        "/api/v1/repos/alice/tools/members/bob",
        t,
        Some(json!({"role": "packager"})),
    )
    .await;
    app.call(
        Method::PUT,
        "/api/v1/repos/alice/tools/members/bob",
        t,
        Some(json!({"role": "releng"})),
    )
    .await;
    app.call(
        Method::POST,
        "/api/v1/repos/alice/tools/mock-configs",
        t,
        Some(json!({"name": "f44", "base": "fedora-44-x86_64"})),
    )
    .await;
    app.call(
        Method::PATCH,
        "/api/v1/repos/alice/tools/mock-configs/f44",
        t,
        Some(json!({"macros": {"vendor": "Alice"}})),
    )
    .await;
    app.call(
        Method::PATCH,
        "/api/v1/repos/alice/tools",
        t,
        Some(json!({"description": "new"})),
    )
    .await;
    app.call(
        Method::DELETE,
        "/api/v1/repos/alice/tools/members/bob",
        t,
        None,
    )
    .await;

    let (s, log) = app.get("/api/v1/repos/alice/tools/audit", t).await;
    assert_eq!(s, StatusCode::OK);
    let entries = kiln_tests::audit_entries(&log);
    let expected: Vec<(String, String, String)> = [
        ("member.remove", "bob"),
        ("repo.update", "alice/tools"),
        ("mock_config.update", "f44"),
        ("mock_config.create", "f44"),
        ("member.put", "bob"),
        ("member.put", "bob"),
        ("repo.create", "alice/tools"),
    ]
    .iter()
    .map(|(a, t)| ("alice".to_owned(), a.to_string(), t.to_string()))
    .collect();
    assert_eq!(entries, expected);
    assert_eq!(log[4]["detail"]["role"], "releng");
    assert!(log[0]["created_at"].as_str().is_some());

    // Not for non-admins.
    let (s, _) = app
        .get("/api/v1/repos/alice/tools/audit", Some(&bob.token))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.get("/api/v1/repos/alice/tools/audit", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// The packager client: `kiln repo create` and `kiln repo list` over the API, with KILN_URL and
/// KILN_TOKEN.
#[tokio::test]
async fn repo_commands_of_the_client() {
    let app = app!();
    let alice = app.user("alice", false).await;
    // Async: the server runs on this test's runtime and must keep answering.
    let run = |args: &[&str], token: &str| {
        tokio::process::Command::new(kiln_tests::workspace_binary("kiln"))
            .args(args)
            .env_clear()
            .env("HOME", app.dir.path())
            .env("KILN_URL", &app.base)
            .env("KILN_TOKEN", token)
            .output()
    };
    let out = run(
        &[
            "repo",
            "create",
            "cli-made",
            "--description",
            "from the CLI",
            "--chroot",
            "epel-9-x86_64",
        ],
        &alice.token,
    )
    .await
    .expect("run kiln");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "created alice/cli-made"
    );
    let (_, configs) = app
        .get("/api/v1/repos/alice/cli-made/mock-configs", None)
        .await;
    assert_eq!(configs[0]["name"], "epel-9-x86_64");

    let out = run(&["repo", "create", "cli-made"], &alice.token)
        .await
        .expect("run kiln");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already have a repo named cli-made"));
    let out = run(&["repo", "create", "x"], "kiln_pat_wrong")
        .await
        .expect("run kiln");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));

    let out = run(&["repo", "list", "--owner", "alice"], "")
        .await
        .expect("run kiln");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "alice/cli-made\tfrom the CLI\n"
    );
}

/// A private repo does not exist for anyone who is not a member or a site admin: its API
/// paths, its web page and its published files answer exactly as for a repo never created, and
/// lists leave it out. Members see it; only its admins switch it, and the switch takes effect
/// at the next request.
#[tokio::test]
async fn private_repos_do_not_exist_for_strangers() {
    let app = app!();
    let alice = app.user("alice", false).await;
    let bob = app.user("bob", false).await;
    let pat = app.user("pat", false).await;
    let root = app.user("root", true).await;
    let (s, r) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&alice.token),
            Some(json!({"name": "secret", "visibility": "private"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r:#}");
    assert_eq!(r["visibility"], "private");
    let (s, _) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/secret/members/pat",
            Some(&alice.token),
            Some(json!({"role": "packager"})),
        )
        .await;
    assert!(s.is_success());
    let paths = [
        "/api/v1/repos/alice/secret",
        "/api/v1/repos/alice/secret/builds",
        "/api/v1/repos/alice/secret/mock-configs",
        "/api/v1/repos/alice/secret/packages",
        "/repos/alice/secret/",
        "/repos/alice/secret/alice-secret.repo",
        "/repos/alice/secret/pubkey.gpg",
    ];
    let strangers: [Option<&str>; 2] = [None, Some(&bob.token)];
    for token in strangers {
        for path in paths {
            let (s, body) = app.get(path, token).await;
            let missing = path.replace("secret", "never-made");
            let (s2, body2) = app.get(&missing, token).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{path} for {token:?}: {body}");
            assert_eq!(s2, StatusCode::NOT_FOUND, "{missing}");
            assert_eq!(
                body.to_string().replace("secret", "X"),
                body2.to_string().replace("never-made", "X"),
                "{path}: the same answer as for a repo never created"
            );
        }
        let (_, list) = app.get("/api/v1/repos", token).await;
        assert!(!list.to_string().contains("alice/secret"), "{list:#}");
        let (_, list) = app.get("/api/v1/repos?q=secret", token).await;
        assert_eq!(list["total"], 0, "{list:#}");
    }
    // Writing is refused the same way: nothing tells a stranger it exists.
    let (s, _) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/secret",
            Some(&bob.token),
            Some(json!({"description": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let b = kiln_tests::browser();
    kiln_tests::sign_in(&app, &b, &bob).await;
    let (s, _) = kiln_tests::page(&b, &app, "/r/alice/secret").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Members and site admins see it, in lists too.
    for who in [&alice, &pat, &root] {
        let (s, _) = app
            .get("/api/v1/repos/alice/secret", Some(&who.token))
            .await;
        assert_eq!(s, StatusCode::OK, "{}", who.username);
        let (_, list) = app.get("/api/v1/repos", Some(&who.token)).await;
        assert!(
            list.to_string().contains("alice/secret"),
            "{}",
            who.username
        );
    }
    // Only admins switch it.
    let (s, e) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/secret",
            Some(&pat.token),
            Some(json!({"visibility": "public"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e:#}");
    let set = |v: &'static str| {
        app.call(
            Method::PATCH,
            "/api/v1/repos/alice/secret",
            Some(&alice.token),
            Some(json!({ "visibility": v })),
        )
    };
    let (s, r) = set("public").await;
    assert_eq!(s, StatusCode::OK, "{r:#}");
    assert_eq!(r["visibility"], "public");
    let (s, _) = app.get("/api/v1/repos/alice/secret", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = set("private").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.get("/api/v1/repos/alice/secret", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = set("secretive").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e:#}");

    // The web UI without JavaScript: a private repo made from the new-repo form, marked
    // private, and switched to public from its settings.
    let b = kiln_tests::browser();
    let csrf = kiln_tests::sign_in(&app, &b, &alice).await;
    let resp = b
        .post(app.url("/forms/repos"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("name", "hidden"),
            ("visibility", "private"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (s, html) = kiln_tests::page(&b, &app, "/r/alice/hidden").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(r#"<span class="tag">private</span>"#),
        "{html}"
    );
    let (s, _) = app.get("/api/v1/repos/alice/hidden", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, html) = kiln_tests::page(&b, &app, "/r/alice/hidden/settings").await;
    assert!(html.contains("Make it public"), "{html}");
    let resp = b
        .post(app.url("/forms/r/alice/hidden/visibility"))
        .form(&[("csrf_token", csrf.as_str()), ("visibility", "public")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (s, r) = app.get("/api/v1/repos/alice/hidden", None).await;
    assert_eq!(s, StatusCode::OK, "{r:#}");
    assert_eq!(r["visibility"], "public");
}
