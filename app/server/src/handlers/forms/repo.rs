//! A repo's forms: create, settings, delete, members, webhooks, mock configs, publishing.

use axum::extract::State;
use axum::response::Response;
use kiln_core::services::{access, members, mock_configs, publish, repos, webhooks};
use kiln_core::{Action, CoreError};
use kiln_frontend::forms::{parse_macros, parse_words, Flash};
use kiln_proto::{MockConfigCreate, MockConfigPatch, RepoCreate, RepoPatch, Role};

use crate::extract::Path;
use crate::AppState;

use super::*;

pub async fn create_repo(State(state): State<AppState>, f: UiForm) -> Response {
    let input = RepoCreate {
        name: f.text("name"),
        description: f.text("description"),
        chroots: f.all("chroots"),
        visibility: (f.text("visibility") == "private").then_some(kiln_proto::Visibility::Private),
        owner: Some(f.text("owner")).filter(|o| o.starts_with('@')),
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

pub async fn update_repo(State(state): State<AppState>, f: SettingsForm) -> Response {
    let r = async {
        let patch = RepoPatch {
            description: Some(f.form.text("description")),
            keep_builds: Some(f.form.number("keep_builds")?),
            keep_logs_days: Some(f.form.number("keep_logs_days")?),
            srpm_config: Some(f.form.text("srpm_config")),
            visibility: None,
        };
        repos::update(&state.kiln, f.principal(), f.owner(), f.repo(), patch).await?;
        Ok(Done::notice("Settings saved."))
    }
    .await;
    f.done(&state, "general", r).await
}

pub async fn set_visibility(State(state): State<AppState>, f: SettingsForm) -> Response {
    let r = async {
        let v = match f.form.text("visibility").as_str() {
            "public" => kiln_proto::Visibility::Public,
            "private" => kiln_proto::Visibility::Private,
            _ => {
                return Err(CoreError::validation(
                    "visibility",
                    "choose public or private",
                ))
            }
        };
        let patch = RepoPatch {
            visibility: Some(v),
            ..RepoPatch::default()
        };
        repos::update(&state.kiln, f.principal(), f.owner(), f.repo(), patch).await?;
        Ok(Done::notice(format!("The repository is now {}.", v.as_str())).at("visibility"))
    }
    .await;
    f.done(&state, "visibility", r).await
}

pub async fn delete_repo(State(state): State<AppState>, f: SettingsForm) -> Response {
    let full = format!("{}/{}", f.owner(), f.repo());
    let r = async {
        // Check the role first: a packager learns nothing from the confirmation check.
        access::authorize_repo(
            &state.kiln,
            f.principal(),
            f.owner(),
            f.repo(),
            Action::DeleteRepo,
        )
        .await?;
        if f.form.text("confirm") != full {
            return Err(CoreError::validation(
                "confirm",
                format!("type {full} to confirm"),
            ));
        }
        repos::delete(&state.kiln, f.principal(), f.owner(), f.repo()).await?;
        Ok(Done::notice(format!("Deleted {full}.")).to("/"))
    }
    .await;
    f.done(&state, "delete", r).await
}

pub async fn put_member(State(state): State<AppState>, f: SettingsForm) -> Response {
    let r = async {
        let username = f.form.text("username");
        if username.is_empty() {
            return Err(CoreError::validation("username", "enter a username"));
        }
        let role = Role::parse(&f.form.text("role"))
            .ok_or_else(|| CoreError::validation("role", "choose packager, releng or admin"))?;
        let m = members::put(
            &state.kiln,
            f.principal(),
            f.owner(),
            f.repo(),
            &username,
            role,
        )
        .await?;
        Ok(Done::notice(format!("{} is now {}.", m.username, m.role.as_str())).at("members"))
    }
    .await;
    f.done(&state, "member", r).await
}

pub async fn remove_member(
    State(state): State<AppState>,
    Path((_, _, username)): Path<(String, String, String)>,
    f: SettingsForm,
) -> Response {
    let r = members::remove(&state.kiln, f.principal(), f.owner(), f.repo(), &username)
        .await
        .map(|_| Done::notice(format!("Removed {username}.")).at("members"));
    f.done(&state, "member", r).await
}

pub async fn create_webhook(State(state): State<AppState>, f: SettingsForm) -> Response {
    let input = kiln_proto::WebhookCreate {
        url: f.form.text("url"),
    };
    let r = webhooks::create_webhook(&state.kiln, f.principal(), f.owner(), f.repo(), input)
        .await
        .map(|created| {
            Done::flash(Flash {
                notice: Some(format!(
                    "Added the webhook to {}. Copy its secret now: it is not shown again.",
                    created.webhook.url
                )),
                secret: Some(created.secret),
                ..Flash::default()
            })
            .at("webhooks")
        });
    f.done(&state, "webhook", r).await
}

pub async fn test_webhook(
    State(state): State<AppState>,
    Path((_, _, id)): Path<(String, String, i32)>,
    f: SettingsForm,
) -> Response {
    let r = webhooks::send_test(&state.kiln, f.principal(), f.owner(), f.repo(), id)
        .await
        .map(|_| Done::notice("Test message queued; its delivery shows below.").at("webhooks"));
    f.done(&state, "webhook", r).await
}

pub async fn delete_webhook(
    State(state): State<AppState>,
    Path((_, _, id)): Path<(String, String, i32)>,
    f: SettingsForm,
) -> Response {
    let r = webhooks::delete_webhook(&state.kiln, f.principal(), f.owner(), f.repo(), id)
        .await
        .map(|_| Done::notice("Webhook deleted.").at("webhooks"));
    f.done(&state, "webhook", r).await
}

pub async fn create_mock_config(State(state): State<AppState>, f: SettingsForm) -> Response {
    let input = MockConfigCreate {
        name: f.form.text("name"),
        base: f.form.text("base"),
        extra_repos: Vec::new(),
        buildroot_add: Vec::new(),
        buildroot_remove: Vec::new(),
        macros: Default::default(),
        include_own_repo: None,
        enabled: None,
        nocheck: None,
    };
    let r = mock_configs::create(&state.kiln, f.principal(), f.owner(), f.repo(), input)
        .await
        .map(|c| {
            Done::notice(format!("Added the mock config {}.", c.name))
                .at(format!("config-{}", c.name))
        });
    f.done(&state, "new-config", r).await
}

pub async fn update_mock_config(
    State(state): State<AppState>,
    Path((_, _, name)): Path<(String, String, String)>,
    f: SettingsForm,
) -> Response {
    let r = async {
        let form = &f.form;
        let patch = MockConfigPatch {
            extra_repos: Some(form.sources("extra_repos")?),
            buildroot_add: Some(parse_words(&form.text("buildroot_add"))),
            buildroot_remove: Some(parse_words(&form.text("buildroot_remove"))),
            macros: Some(
                parse_macros(&form.text("macros"))
                    .map_err(|e| CoreError::validation("macros", e))?,
            ),
            include_own_repo: Some(form.checked("include_own_repo")),
            enabled: Some(form.checked("enabled")),
            nocheck: Some(form.checked("nocheck")),
        };
        let c = mock_configs::update(
            &state.kiln,
            f.principal(),
            f.owner(),
            f.repo(),
            &name,
            patch,
        )
        .await?;
        Ok(Done::notice(format!("Saved the mock config {}.", c.name))
            .at(format!("config-{}", c.name)))
    }
    .await;
    f.done(&state, &format!("config-{name}"), r).await
}

pub async fn delete_mock_config(
    State(state): State<AppState>,
    Path((_, _, name)): Path<(String, String, String)>,
    f: SettingsForm,
) -> Response {
    let r = mock_configs::delete(&state.kiln, f.principal(), f.owner(), f.repo(), &name)
        .await
        .map(|_| Done::notice(format!("Deleted the mock config {name}.")));
    f.done(&state, &format!("config-{name}"), r).await
}

pub async fn createrepo(State(state): State<AppState>, f: SettingsForm) -> Response {
    let r = publish::createrepo(&state.kiln, f.principal(), f.owner(), f.repo())
        .await
        .map(|c| {
            Done::notice(format!(
                "Regenerating the metadata of {} chroot(s).",
                c.len()
            ))
        });
    f.done(&state, "publishing", r).await
}

pub async fn rotate_key(State(state): State<AppState>, f: SettingsForm) -> Response {
    let r = publish::rotate_key(&state.kiln, f.principal(), f.owner(), f.repo())
        .await
        .map(|k| {
            Done::notice(format!(
                "New signing key {}; packages are being re-signed.",
                k.fingerprint
            ))
        });
    f.done(&state, "publishing", r).await
}
