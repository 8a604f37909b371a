//! A repo's forms: create, settings, delete, members, webhooks, mock configs, publishing.

use axum::extract::State;
use axum::response::Response;
use kiln_core::services::{access, members, mock_configs, publish, repos, webhooks};
use kiln_core::{Action, CoreError};
use kiln_frontend::forms::{parse_macros, parse_words, Flash};
use kiln_proto::{MockConfigCreate, MockConfigPatch, RepoCreate, RepoPatch, Role};

use crate::extract::{OwnerRepoPath, Path};
use crate::AppState;

use super::*;

pub async fn create_repo(State(state): State<AppState>, f: UiForm) -> Response {
    let input = RepoCreate {
        name: f.text("name"),
        description: f.text("description"),
        chroots: f.all("chroots"),
    };
    let r = repos::create(&state.kiln, f.principal(), input)
        .await
        .map(|r| {
            (
                format!("/r/{}/{}", r.owner, r.name),
                Flash::notice(format!("Created {}.", r.full_name)),
            )
        });
    f.respond(&state, "new-repo", "/new", r).await
}

pub async fn update_repo(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/settings", repo_path(&p));
    let r = async {
        let patch = RepoPatch {
            description: Some(f.text("description")),
            keep_builds: Some(f.number("keep_builds")?),
            keep_logs_days: Some(f.number("keep_logs_days")?),
        };
        repos::update(&state.kiln, f.principal(), &p.owner, &p.repo, patch).await?;
        Ok((back.clone(), Flash::notice("Settings saved.")))
    }
    .await;
    f.respond(&state, "general", &back, r).await
}

pub async fn delete_repo(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let full = format!("{}/{}", p.owner, p.repo);
    let back = format!("{}/settings", repo_path(&p));
    let r = async {
        // Check the role first: a packager learns nothing from the confirmation check.
        access::authorize_repo(
            &state.kiln,
            f.principal(),
            &p.owner,
            &p.repo,
            Action::DeleteRepo,
        )
        .await?;
        if f.text("confirm") != full {
            return Err(CoreError::validation(
                "confirm",
                format!("type {full} to confirm"),
            ));
        }
        repos::delete(&state.kiln, f.principal(), &p.owner, &p.repo).await?;
        Ok(("/".to_owned(), Flash::notice(format!("Deleted {full}."))))
    }
    .await;
    f.respond(&state, "delete", &back, r).await
}

pub async fn put_member(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/settings", repo_path(&p));
    let r = async {
        let username = f.text("username");
        if username.is_empty() {
            return Err(CoreError::validation("username", "enter a username"));
        }
        let role = Role::parse(&f.text("role"))
            .ok_or_else(|| CoreError::validation("role", "choose packager, releng or admin"))?;
        let m = members::put(
            &state.kiln,
            f.principal(),
            &p.owner,
            &p.repo,
            &username,
            role,
        )
        .await?;
        Ok((
            format!("{back}#members"),
            Flash::notice(format!("{} is now {}.", m.username, m.role.as_str())),
        ))
    }
    .await;
    f.respond(&state, "member", &back, r).await
}

pub async fn remove_member(
    State(state): State<AppState>,
    Path((owner, repo, username)): Path<(String, String, String)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/settings");
    let r = members::remove(&state.kiln, f.principal(), &owner, &repo, &username)
        .await
        .map(|_| {
            (
                format!("{back}#members"),
                Flash::notice(format!("Removed {username}.")),
            )
        });
    f.respond(&state, "member", &back, r).await
}

pub async fn create_webhook(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/settings", repo_path(&p));
    let input = kiln_proto::WebhookCreate { url: f.text("url") };
    let r = webhooks::create_webhook(&state.kiln, f.principal(), &p.owner, &p.repo, input)
        .await
        .map(|created| {
            (
                format!("{back}#webhooks"),
                Flash {
                    notice: Some(format!(
                        "Added the webhook to {}. Copy its secret now: it is not shown again.",
                        created.webhook.url
                    )),
                    secret: Some(created.secret),
                    ..Flash::default()
                },
            )
        });
    f.respond(&state, "webhook", &back, r).await
}

pub async fn test_webhook(
    State(state): State<AppState>,
    Path((owner, repo, id)): Path<(String, String, i32)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/settings");
    let r = webhooks::send_test(&state.kiln, f.principal(), &owner, &repo, id)
        .await
        .map(|_| {
            (
                format!("{back}#webhooks"),
                Flash::notice("Test message queued; its delivery shows below."),
            )
        });
    f.respond(&state, "webhook", &back, r).await
}

pub async fn delete_webhook(
    State(state): State<AppState>,
    Path((owner, repo, id)): Path<(String, String, i32)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/settings");
    let r = webhooks::delete_webhook(&state.kiln, f.principal(), &owner, &repo, id)
        .await
        .map(|_| {
            (
                format!("{back}#webhooks"),
                Flash::notice("Webhook deleted."),
            )
        });
    f.respond(&state, "webhook", &back, r).await
}

pub async fn create_mock_config(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/settings", repo_path(&p));
    let input = MockConfigCreate {
        name: f.text("name"),
        base: f.text("base"),
        extra_repos: Vec::new(),
        buildroot_add: Vec::new(),
        buildroot_remove: Vec::new(),
        macros: Default::default(),
        include_own_repo: None,
        enabled: None,
        nocheck: None,
    };
    let r = mock_configs::create(&state.kiln, f.principal(), &p.owner, &p.repo, input)
        .await
        .map(|c| {
            (
                format!("{back}#config-{}", c.name),
                Flash::notice(format!("Added the mock config {}.", c.name)),
            )
        });
    f.respond(&state, "new-config", &back, r).await
}

pub async fn update_mock_config(
    State(state): State<AppState>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/settings");
    let r = async {
        let patch = MockConfigPatch {
            extra_repos: Some(f.sources("extra_repos")?),
            buildroot_add: Some(parse_words(&f.text("buildroot_add"))),
            buildroot_remove: Some(parse_words(&f.text("buildroot_remove"))),
            macros: Some(
                parse_macros(&f.text("macros")).map_err(|e| CoreError::validation("macros", e))?,
            ),
            include_own_repo: Some(f.checked("include_own_repo")),
            enabled: Some(f.checked("enabled")),
            nocheck: Some(f.checked("nocheck")),
        };
        let c =
            mock_configs::update(&state.kiln, f.principal(), &owner, &repo, &name, patch).await?;
        Ok((
            format!("{back}#config-{}", c.name),
            Flash::notice(format!("Saved the mock config {}.", c.name)),
        ))
    }
    .await;
    f.respond(&state, &format!("config-{name}"), &back, r).await
}

pub async fn delete_mock_config(
    State(state): State<AppState>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/settings");
    let r = mock_configs::delete(&state.kiln, f.principal(), &owner, &repo, &name)
        .await
        .map(|_| {
            (
                back.clone(),
                Flash::notice(format!("Deleted the mock config {name}.")),
            )
        });
    f.respond(&state, &format!("config-{name}"), &back, r).await
}

pub async fn createrepo(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/settings", repo_path(&p));
    let r = publish::createrepo(&state.kiln, f.principal(), &p.owner, &p.repo)
        .await
        .map(|c| {
            (
                back.clone(),
                Flash::notice(format!(
                    "Regenerating the metadata of {} chroot(s).",
                    c.len()
                )),
            )
        });
    f.respond(&state, "publishing", &back, r).await
}

pub async fn rotate_key(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/settings", repo_path(&p));
    let r = publish::rotate_key(&state.kiln, f.principal(), &p.owner, &p.repo)
        .await
        .map(|k| {
            (
                back.clone(),
                Flash::notice(format!(
                    "New signing key {}; packages are being re-signed.",
                    k.fingerprint
                )),
            )
        });
    f.respond(&state, "publishing", &back, r).await
}
