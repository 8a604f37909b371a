//! Every API action against every kind of caller: anonymous, a signed-in non-member, packager,
//! rel-eng, admin, site admin, and a revoked token (of the repo's admin). One table, one test.

use kiln_proto::Role;
use kiln_tests::TestUser;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::app;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    NonMember,
    Packager,
    Releng,
    Admin,
    SiteAdmin,
    RevokedToken,
}

const EVERYONE: &[Who] = &[
    Who::Anonymous,
    Who::NonMember,
    Who::Packager,
    Who::Releng,
    Who::Admin,
    Who::SiteAdmin,
];
const SIGNED_IN: &[Who] = &[
    Who::NonMember,
    Who::Packager,
    Who::Releng,
    Who::Admin,
    Who::SiteAdmin,
];
const PACKAGER_UP: &[Who] = &[Who::Packager, Who::Releng, Who::Admin, Who::SiteAdmin];
const RELENG_UP: &[Who] = &[Who::Releng, Who::Admin, Who::SiteAdmin];
const ADMIN_UP: &[Who] = &[Who::Admin, Who::SiteAdmin];
const SITE_ADMIN: &[Who] = &[Who::SiteAdmin];

struct Case {
    action: &'static str,
    method: Method,
    /// `{repo}` is replaced by the case's fresh `owner/repo`, `{agent}` by a fresh agent's name.
    path: &'static str,
    body: Option<Value>,
    allowed: &'static [Who],
    success: StatusCode,
}

fn cases() -> Vec<Case> {
    use Method as M;
    use StatusCode as S;
    let c = |action, method, path, body, allowed, success| Case {
        action,
        method,
        path,
        body,
        allowed,
        success,
    };
    vec![
        c("list repos", M::GET, "/api/v1/repos", None, EVERYONE, S::OK),
        c(
            "view repo",
            M::GET,
            "/api/v1/repos/{repo}",
            None,
            EVERYONE,
            S::OK,
        ),
        c(
            "create repo",
            M::POST,
            "/api/v1/repos",
            Some(json!({"name": "{new}"})),
            SIGNED_IN,
            S::CREATED,
        ),
        c(
            "update repo",
            M::PATCH,
            "/api/v1/repos/{repo}",
            Some(json!({"description": "changed"})),
            RELENG_UP,
            S::OK,
        ),
        c(
            "delete repo",
            M::DELETE,
            "/api/v1/repos/{repo}",
            None,
            ADMIN_UP,
            S::NO_CONTENT,
        ),
        c(
            "list members",
            M::GET,
            "/api/v1/repos/{repo}/members",
            None,
            ADMIN_UP,
            S::OK,
        ),
        c(
            "put member",
            M::PUT,
            "/api/v1/repos/{repo}/members/outsider",
            Some(json!({"role": "packager"})),
            ADMIN_UP,
            S::OK,
        ),
        c(
            "remove member",
            M::DELETE,
            "/api/v1/repos/{repo}/members/pkg",
            None,
            ADMIN_UP,
            S::NO_CONTENT,
        ),
        c(
            "list mock configs",
            M::GET,
            "/api/v1/repos/{repo}/mock-configs",
            None,
            EVERYONE,
            S::OK,
        ),
        c(
            "get mock config",
            M::GET,
            "/api/v1/repos/{repo}/mock-configs/fedora-44-x86_64",
            None,
            EVERYONE,
            S::OK,
        ),
        c(
            "rendered mock config",
            M::GET,
            "/api/v1/repos/{repo}/mock-configs/fedora-44-x86_64/rendered",
            None,
            EVERYONE,
            S::OK,
        ),
        c(
            "create mock config",
            M::POST,
            "/api/v1/repos/{repo}/mock-configs",
            Some(json!({"name": "e9", "base": "epel-9-x86_64"})),
            RELENG_UP,
            S::CREATED,
        ),
        c(
            "update mock config",
            M::PATCH,
            "/api/v1/repos/{repo}/mock-configs/fedora-44-x86_64",
            Some(json!({"buildroot_add": ["ccache"]})),
            RELENG_UP,
            S::OK,
        ),
        c(
            "delete mock config",
            M::DELETE,
            "/api/v1/repos/{repo}/mock-configs/fedora-44-x86_64",
            None,
            RELENG_UP,
            S::NO_CONTENT,
        ),
        c(
            "view audit log",
            M::GET,
            "/api/v1/repos/{repo}/audit",
            None,
            ADMIN_UP,
            S::OK,
        ),
        c(
            "list chroots",
            M::GET,
            "/api/v1/chroots",
            None,
            EVERYONE,
            S::OK,
        ),
        c(
            "get chroot",
            M::GET,
            "/api/v1/chroots/fedora-44-x86_64",
            None,
            EVERYONE,
            S::OK,
        ),
        c(
            "create chroot",
            M::POST,
            "/api/v1/chroots",
            Some(
                json!({"name": "{new}-2-x86_64", "base_repos": [{"id": "os", "baseurl": "https://x.example/"}]}),
            ),
            SITE_ADMIN,
            S::CREATED,
        ),
        c(
            "update chroot",
            M::PATCH,
            "/api/v1/chroots/fedora-43-aarch64",
            Some(json!({"enabled": true})),
            SITE_ADMIN,
            S::OK,
        ),
        c(
            "site audit log",
            M::GET,
            "/api/v1/audit",
            None,
            SITE_ADMIN,
            S::OK,
        ),
        c(
            "list builds",
            M::GET,
            "/api/v1/repos/{repo}/builds",
            None,
            EVERYONE,
            S::OK,
        ),
        // An empty submission: callers the policy lets through get the validation error.
        c(
            "submit build",
            M::POST,
            "/api/v1/repos/{repo}/builds",
            None,
            PACKAGER_UP,
            S::BAD_REQUEST,
        ),
        c(
            "get task",
            M::GET,
            "/api/v1/tasks/{task}",
            None,
            EVERYONE,
            S::OK,
        ),
        c(
            "task log",
            M::GET,
            "/api/v1/tasks/{task}/log",
            None,
            EVERYONE,
            S::OK,
        ),
        c(
            "cancel task",
            M::POST,
            "/api/v1/tasks/{task}/cancel",
            None,
            PACKAGER_UP,
            S::OK,
        ),
        c(
            "resubmit task",
            M::POST,
            "/api/v1/tasks/{task}/resubmit",
            None,
            PACKAGER_UP,
            S::CREATED,
        ),
        c(
            "list agents",
            M::GET,
            "/api/v1/agents",
            None,
            SITE_ADMIN,
            S::OK,
        ),
        c(
            "list webhooks",
            M::GET,
            "/api/v1/repos/{repo}/webhooks",
            None,
            ADMIN_UP,
            S::OK,
        ),
        c(
            "create webhook",
            M::POST,
            "/api/v1/repos/{repo}/webhooks",
            Some(json!({"url": "http://203.0.113.10/hook"})),
            ADMIN_UP,
            S::CREATED,
        ),
        c(
            "make a repo private",
            M::PATCH,
            "/api/v1/repos/{repo}",
            Some(json!({"visibility": "private"})),
            ADMIN_UP,
            S::OK,
        ),
        c(
            "list packages",
            M::GET,
            "/api/v1/repos/{repo}/packages",
            None,
            EVERYONE,
            S::OK,
        ),
        c(
            "store a package",
            M::PUT,
            "/api/v1/repos/{repo}/packages/{new}",
            Some(json!({"source": {"type": "url", "url": "https://203.0.113.10/x.src.rpm"}})),
            PACKAGER_UP,
            S::CREATED,
        ),
        c(
            "see the forge hook",
            M::GET,
            "/api/v1/repos/{repo}/forge",
            None,
            RELENG_UP,
            S::OK,
        ),
        c(
            "set the forge secret",
            M::POST,
            "/api/v1/repos/{repo}/forge/secret",
            None,
            RELENG_UP,
            S::CREATED,
        ),
        c(
            "read the forge deliveries",
            M::GET,
            "/api/v1/repos/{repo}/forge/deliveries",
            None,
            RELENG_UP,
            S::OK,
        ),
        c(
            "store a git credential",
            M::PUT,
            "/api/v1/repos/{repo}/git-credentials/git.example.org",
            Some(json!({"username": "bot", "password": "t0ken"})),
            RELENG_UP,
            S::OK,
        ),
        c(
            "builder pools",
            M::GET,
            "/api/v1/builder-pools",
            None,
            SITE_ADMIN,
            S::OK,
        ),
        c(
            "stop a repo's builds",
            M::PUT,
            "/api/v1/repos/{repo}/builds-disabled",
            Some(json!({"reason": "abuse report 12"})),
            SITE_ADMIN,
            S::OK,
        ),
        c(
            "resume a repo's builds",
            M::DELETE,
            "/api/v1/repos/{repo}/builds-disabled",
            None,
            SITE_ADMIN,
            S::OK,
        ),
        c(
            "cancel a repo's queue",
            M::POST,
            "/api/v1/repos/{repo}/cancel-queue",
            None,
            SITE_ADMIN,
            S::OK,
        ),
        c("me", M::GET, "/api/v1/me", None, SIGNED_IN, S::OK),
        c(
            "update me",
            M::PATCH,
            "/api/v1/me",
            Some(json!({"notify_builds": false})),
            SIGNED_IN,
            S::OK,
        ),
        c(
            "list own tokens",
            M::GET,
            "/api/v1/me/tokens",
            None,
            SIGNED_IN,
            S::OK,
        ),
        c(
            "create own token",
            M::POST,
            "/api/v1/me/tokens",
            Some(json!({"name": "ci"})),
            SIGNED_IN,
            S::CREATED,
        ),
    ]
}

/// A parent task with one pending subtask in `owner/repo`, as a submission leaves it.
pub(crate) async fn queued_task(app: &kiln_tests::TestApp, owner: &TestUser, repo: &str) -> i32 {
    use kiln_core::entities::{repos, tasks};
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
    let r = repos::Entity::find()
        .filter(repos::Column::OwnerId.eq(owner.id))
        .filter(repos::Column::Name.eq(repo))
        .one(&app.kiln.db)
        .await
        .expect("db")
        .expect("repo");
    let row = |parent: Option<i32>| tasks::ActiveModel {
        parent_id: Set(parent),
        kind: Set("build".into()),
        repo_id: Set(r.id),
        owner_id: Set(r.owner_id),
        submitter_id: Set(owner.id),
        state: Set("pending".into()),
        scratch: Set(false),
        priority: Set(0),
        mock_config_name: Set(parent.map(|_| "fedora-44-x86_64".to_owned())),
        arch: Set(parent.map(|_| "x86_64".to_owned())),
        attempt: Set(0),
        cancel_requested: Set(false),
        created_at: Set(kiln_core::now()),
        ..Default::default()
    };
    let parent = row(None).insert(&app.kiln.db).await.expect("parent");
    row(Some(parent.id))
        .insert(&app.kiln.db)
        .await
        .expect("subtask");
    parent.id
}

#[tokio::test]
async fn every_action_against_every_caller() {
    let app = app!();
    let owner = app.user("owner", false).await;
    let outsider = app.user("outsider", false).await;
    let pkg = app.user("pkg", false).await;
    let rel = app.user("rel", false).await;
    let adm = app.user("adm", false).await;
    let root = app.user("root", true).await;
    // A token of an admin, revoked: it must count for nothing.
    let revoked = {
        let p = app.principal(&adm).await;
        let t = kiln_core::services::tokens::create(
            &app.kiln,
            &p,
            kiln_proto::TokenCreate {
                name: "old".into(),
                expires_at: None,
            },
        )
        .await
        .expect("token");
        kiln_core::services::tokens::revoke(&app.kiln, &p, t.info.id)
            .await
            .expect("revoke");
        t.token
    };
    let token_of = |who: Who| -> Option<String> {
        let u: &TestUser = match who {
            Who::Anonymous => return None,
            Who::RevokedToken => return Some(revoked.clone()),
            Who::NonMember => &outsider,
            Who::Packager => &pkg,
            Who::Releng => &rel,
            Who::Admin => &adm,
            Who::SiteAdmin => &root,
        };
        Some(u.token.clone())
    };

    let mut failures = Vec::new();
    let mut n = 0;
    for case in cases() {
        for who in [
            Who::Anonymous,
            Who::NonMember,
            Who::Packager,
            Who::Releng,
            Who::Admin,
            Who::SiteAdmin,
            Who::RevokedToken,
        ] {
            n += 1;
            let repo = format!("r{n}");
            // Owner stays admin so that `adm` leaving or changing never hits the last-admin rule.
            app.repo(
                &owner,
                &repo,
                &[
                    (&pkg, Role::Packager),
                    (&rel, Role::Releng),
                    (&adm, Role::Admin),
                ],
            )
            .await;
            let agent = format!("agent{n}");
            let root_p = app.principal(&root).await;
            let reg =
                kiln_core::services::agents::create_registration_token(&app.kiln, &root_p, &agent)
                    .await
                    .expect("reg");
            kiln_core::services::agents::register(
                &app.kiln,
                reg.expose(),
                kiln_proto::agent::Register {
                    name: agent.clone(),
                    arches: vec!["x86_64".into()],
                    capacity: 1,
                    backend: "rpmbuild".into(),
                    version: "t".into(),
                },
            )
            .await
            .expect("register");
            kiln_core::services::chroots::create(
                &app.kiln,
                &root_p,
                kiln_proto::ChrootCreate {
                    name: format!("new{n}-1-x86_64"),
                    base_repos: vec![kiln_proto::RepoSource {
                        id: "os".into(),
                        baseurl: "https://x.example/".into(),
                        name: None,
                        gpgkey: None,
                        priority: None,
                    }],
                    mock_template: None,
                    dist_macro: None,
                    enabled: None,
                },
            )
            .await
            .expect("chroot");
            let task = queued_task(&app, &owner, &repo).await;
            let path = case
                .path
                .replace("{task}", &task.to_string())
                .replace("{repo}", &format!("owner/{repo}"))
                .replace("{agent}", &agent)
                .replace("{new}", &format!("new{n}"));
            let body = case.body.as_ref().map(|b| {
                serde_json::from_str(&b.to_string().replace("{new}", &format!("new{n}")))
                    .expect("json")
            });
            let (status, resp) = app
                .call(case.method.clone(), &path, token_of(who).as_deref(), body)
                .await;
            let expected = if case.allowed.contains(&who) {
                case.success
            } else if matches!(who, Who::Anonymous | Who::RevokedToken) {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            };
            if status != expected {
                failures.push(format!(
                    "{} as {who:?}: expected {expected}, got {status} {resp}",
                    case.action
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
