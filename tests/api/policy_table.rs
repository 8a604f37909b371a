//! Every API action against every kind of caller: anonymous, a signed-in non-member, packager,
//! rel-eng, admin, a member of the group that owns the repo (packager by the group), site admin,
//! a revoked token (of the repo's admin), the repo's read token and another repo's; on a public
//! repo and, for every action on a repo, on a private one too. One table, one test.

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
    /// In the group that owns the repo, which gives its members the packager role.
    GroupMember,
    /// The repo's read token (sent as dnf sends it, the HTTP Basic password).
    ReadToken,
    /// Another repo's read token.
    OtherReadToken,
}

impl Who {
    /// The kind of caller the table's lists name for this one.
    fn as_listed(self) -> Who {
        match self {
            Who::GroupMember => Who::Packager,
            Who::ReadToken | Who::OtherReadToken => Who::Anonymous,
            w => w,
        }
    }
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
            "list read tokens",
            M::GET,
            "/api/v1/repos/{repo}/read-tokens",
            None,
            ADMIN_UP,
            S::OK,
        ),
        c(
            "create a read token",
            M::POST,
            "/api/v1/repos/{repo}/read-tokens",
            Some(json!({"name": "ci"})),
            ADMIN_UP,
            S::CREATED,
        ),
        c(
            "revoke a read token",
            M::DELETE,
            "/api/v1/repos/{repo}/read-tokens/{rt}",
            None,
            ADMIN_UP,
            S::NO_CONTENT,
        ),
        c(
            "set the group's role in its repo",
            M::PUT,
            "/api/v1/repos/{repo}/group-role",
            Some(json!({"role": "releng"})),
            ADMIN_UP,
            S::OK,
        ),
        c(
            "list groups",
            M::GET,
            "/api/v1/groups",
            None,
            SIGNED_IN,
            S::OK,
        ),
        c(
            "see a group",
            M::GET,
            "/api/v1/groups/team",
            None,
            SIGNED_IN,
            S::OK,
        ),
        c(
            "create a group",
            M::POST,
            "/api/v1/groups",
            Some(json!({"name": "{new}"})),
            SITE_ADMIN,
            S::CREATED,
        ),
        c(
            "add to a group",
            M::PUT,
            "/api/v1/groups/crew/members/outsider",
            None,
            SITE_ADMIN,
            S::OK,
        ),
        c(
            "remove from a group",
            M::DELETE,
            "/api/v1/groups/crew/members/rel",
            None,
            SITE_ADMIN,
            S::OK,
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

/// A parent task with one pending subtask in `OWNER/repo` (`owner`: a user's or a group's
/// name), submitted by `by`, as a submission leaves it.
pub(crate) async fn queued_task(
    app: &kiln_tests::TestApp,
    owner: &str,
    by: &TestUser,
    repo: &str,
) -> i32 {
    use kiln_core::entities::{repos, tasks, users};
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
    let owner_row = users::Entity::find()
        .filter(users::Column::Username.eq(owner))
        .one(&app.kiln.db)
        .await
        .expect("db")
        .expect("owner");
    let r = repos::Entity::find()
        .filter(repos::Column::OwnerId.eq(owner_row.id))
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
        submitter_id: Set(by.id),
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

/// A repo of the group @team (created by `owner`, its admin) with its members and roles,
/// `private` or not, and a read token of it.
async fn team_repo(
    app: &kiln_tests::TestApp,
    owner: &TestUser,
    name: &str,
    members: &[(&TestUser, Role)],
    private: bool,
) -> (String, i32) {
    let p = app.principal(owner).await;
    kiln_core::services::repos::create(
        &app.kiln,
        &p,
        kiln_proto::RepoCreate {
            name: name.into(),
            description: String::new(),
            chroots: vec!["fedora-44-x86_64".into()],
            visibility: private.then_some(kiln_proto::Visibility::Private),
            owner: Some("@team".into()),
        },
    )
    .await
    .expect("create repo");
    for (u, role) in members {
        kiln_core::services::members::put(&app.kiln, &p, "@team", name, &u.username, *role)
            .await
            .expect("add member");
    }
    kiln_core::services::read_tokens::create(
        &app.kiln,
        &p,
        "@team",
        name,
        kiln_proto::ReadTokenCreate {
            name: "dnf".into(),
            expires_at: None,
        },
    )
    .await
    .map(|t| (t.token, t.info.id))
    .expect("read token")
}

#[tokio::test]
async fn every_action_against_every_caller() {
    let app = app!();
    let owner = app.user("owner", false).await;
    let outsider = app.user("outsider", false).await;
    let pkg = app.user("pkg", false).await;
    let rel = app.user("rel", false).await;
    let adm = app.user("adm", false).await;
    let gm = app.user("gm", false).await;
    let root = app.user("root", true).await;
    let root_p = app.principal(&root).await;
    kiln_core::services::groups::create(&app.kiln, &root_p, "team")
        .await
        .expect("group");
    for u in ["owner", "gm"] {
        kiln_core::services::groups::add_member(&app.kiln, &root_p, "team", u)
            .await
            .expect("group member");
    }
    let (other_token, _) = team_repo(&app, &owner, "other", &[], true).await;
    kiln_core::services::groups::create(&app.kiln, &root_p, "crew")
        .await
        .expect("group");
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

    let everyone = [
        Who::Anonymous,
        Who::NonMember,
        Who::Packager,
        Who::Releng,
        Who::Admin,
        Who::SiteAdmin,
        Who::RevokedToken,
        Who::GroupMember,
        Who::ReadToken,
        Who::OtherReadToken,
    ];
    let mut failures = Vec::new();
    let mut n = 0;
    for case in cases() {
        let of_repo = case.path.contains("{repo}") || case.path.contains("{task}");
        let passes: &[bool] = if of_repo { &[false, true] } else { &[false] };
        for &private in passes {
            for who in everyone {
                n += 1;
                let repo = format!("r{n}");
                // Owner stays admin so that `adm` leaving or changing never hits the last-admin
                // rule.
                let (read_token, read_token_id) = team_repo(
                    &app,
                    &owner,
                    &repo,
                    &[
                        (&pkg, Role::Packager),
                        (&rel, Role::Releng),
                        (&adm, Role::Admin),
                    ],
                    private,
                )
                .await;
                let token = match who {
                    Who::Anonymous => None,
                    Who::RevokedToken => Some(revoked.clone()),
                    Who::ReadToken => Some(read_token),
                    Who::OtherReadToken => Some(other_token.clone()),
                    Who::NonMember => Some(outsider.token.clone()),
                    Who::Packager => Some(pkg.token.clone()),
                    Who::Releng => Some(rel.token.clone()),
                    Who::Admin => Some(adm.token.clone()),
                    Who::GroupMember => Some(gm.token.clone()),
                    Who::SiteAdmin => Some(root.token.clone()),
                };
                let agent = format!("agent{n}");
                let reg = kiln_core::services::agents::create_registration_token(
                    &app.kiln, &root_p, &agent,
                )
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
                let task = queued_task(&app, "@team", &owner, &repo).await;
                // Someone to remove from a group.
                kiln_core::services::groups::add_member(&app.kiln, &root_p, "crew", "rel")
                    .await
                    .expect("crew");
                let path = case
                    .path
                    .replace("{task}", &task.to_string())
                    .replace("{rt}", &read_token_id.to_string())
                    .replace("{repo}", &format!("@team/{repo}"))
                    .replace("{agent}", &agent)
                    .replace("{new}", &format!("new{n}"));
                let body = case.body.as_ref().map(|b| {
                    serde_json::from_str(&b.to_string().replace("{new}", &format!("new{n}")))
                        .expect("json")
                });
                let (status, resp) = app
                    .call(case.method.clone(), &path, token.as_deref(), body)
                    .await;
                let listed = who.as_listed();
                let expected = if who == Who::RevokedToken {
                    // Refused before anything is looked up.
                    StatusCode::UNAUTHORIZED
                } else if private && matches!(listed, Who::Anonymous | Who::NonMember) {
                    // A private repo does not exist for them.
                    StatusCode::NOT_FOUND
                } else if case.allowed.contains(&listed) {
                    case.success
                } else if listed == Who::Anonymous {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::FORBIDDEN
                };
                if status != expected {
                    failures.push(format!(
                        "{} as {who:?}{}: expected {expected}, got {status} {resp}",
                        case.action,
                        if private { " (private)" } else { "" }
                    ));
                }
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
