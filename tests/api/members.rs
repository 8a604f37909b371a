use kiln_proto::Role;
use kiln_tests::error_of;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::app;

#[tokio::test]
async fn add_change_remove_and_the_last_admin_stays() {
    let app = app!();
    let alice = app.user("alice", false).await;
    let bob = app.user("bob", false).await;
    let root = app.user("root", true).await;
    app.repo(&alice, "tools", &[]).await;
    let t = Some(alice.token.as_str());

    let (s, m) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/tools/members/bob",
            t,
            Some(json!({"role": "packager"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["role"], "packager");
    let (_, list) = app.get("/api/v1/repos/alice/tools/members", t).await;
    assert_eq!(list.as_array().map(|a| a.len()), Some(2));
    assert_eq!(list[1]["username"], "bob");

    // Bob as packager sees his role on the repo.
    let (_, repo) = app.get("/api/v1/repos/alice/tools", Some(&bob.token)).await;
    assert_eq!(repo["my_role"], "packager");

    // The last admin can be neither demoted nor removed.
    let (s, body) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/tools/members/alice",
            t,
            Some(json!({"role": "releng"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        error_of(&body),
        (
            "conflict".into(),
            "alice is the last admin of alice/tools; make someone else admin first".into()
        )
    );
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/repos/alice/tools/members/alice",
            t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Not even by a site admin.
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/repos/alice/tools/members/alice",
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // With a second admin, the first may step down.
    let (s, _) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/tools/members/bob",
            t,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/repos/alice/tools/members/alice",
            t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Alice is no longer a member and can no longer manage members.
    let (s, _) = app.get("/api/v1/repos/alice/tools/members", t).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, list) = app
        .get("/api/v1/repos/alice/tools/members", Some(&bob.token))
        .await;
    assert_eq!(list.as_array().map(|a| a.len()), Some(1));
    let _ = Role::Admin;
}

#[tokio::test]
async fn bad_member_requests() {
    let app = app!();
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let t = Some(alice.token.as_str());
    let (s, body) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/tools/members/nobody",
            t,
            Some(json!({"role": "packager"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body).1, "there is no user named nobody");
    let (s, body) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/tools/members/alice",
            t,
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).1.contains("unknown variant"), "{body}");
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/repos/alice/tools/members/nobody",
            t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/tools/members/bad%20name",
            t,
            Some(json!({"role": "packager"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body).0, "validation");
}
