//! The settings page's access forms (repo admins): read tokens (a new one shown once, with the
//! lines that use it) and the role a group's members have in its repo.

use axum::extract::State;
use axum::response::Response;
use kiln_core::services::{groups, read_tokens};
use kiln_core::CoreError;
use kiln_frontend::forms::Flash;
use kiln_proto::{ReadTokenCreate, Role};

use crate::extract::Path;
use crate::AppState;

use super::*;

/// `POST /forms/r/OWNER/REPO/read-tokens`.
pub async fn create_read_token(State(state): State<AppState>, f: SettingsForm) -> Response {
    let r = async {
        let days = f.form.number("expires_days")?;
        if days > 3650 {
            return Err(CoreError::validation("expires_days", "at most 3650 days"));
        }
        let input = ReadTokenCreate {
            name: f.form.text("name"),
            expires_at: (days > 0).then(|| kiln_core::now() + time::Duration::days(days.into())),
        };
        let t = read_tokens::create(&state.kiln, f.principal(), f.owner(), f.repo(), input).await?;
        let stem = format!("{}-{}", f.owner(), f.repo());
        // The page's top, where the secret is shown (not the section, below it).
        Ok(Done::flash(Flash {
            notice: Some(format!(
                "Created the read token {}. Copy it now: it is not shown again.",
                t.info.name
            )),
            secret: Some(t.token),
            secret_uses: vec![
                format!("sudo dnf install '{}'", t.release_rpm_url),
                format!(
                    "sudo curl -fsS -o /etc/yum.repos.d/{stem}.repo '{}'",
                    t.repo_file_url
                ),
            ],
            ..Flash::default()
        }))
    }
    .await;
    f.done(&state, "read-token", r).await
}

/// `POST /forms/r/OWNER/REPO/read-tokens/ID/revoke`.
pub async fn revoke_read_token(
    State(state): State<AppState>,
    Path(id): Path<IdPath>,
    f: SettingsForm,
) -> Response {
    let r = read_tokens::revoke(&state.kiln, f.principal(), f.owner(), f.repo(), id.id)
        .await
        .map(|_| {
            Done::notice("Revoked the read token: it no longer downloads anything.")
                .at("read-tokens")
        });
    f.done(&state, "read-token", r).await
}

/// `POST /forms/r/@GROUP/REPO/group-role`.
pub async fn set_group_role(State(state): State<AppState>, f: SettingsForm) -> Response {
    let r = async {
        let role = Role::parse(&f.form.text("role"))
            .ok_or_else(|| CoreError::validation("role", "choose packager, releng or admin"))?;
        groups::set_repo_role(&state.kiln, f.principal(), f.owner(), f.repo(), role).await?;
        Ok(Done::notice(format!(
            "The members of {} are now {} here.",
            f.owner(),
            role.as_str()
        ))
        .at("group-role"))
    }
    .await;
    f.done(&state, "group-role", r).await
}

#[derive(serde::Deserialize)]
pub struct IdPath {
    pub id: i32,
}

/// `POST /forms/groups` (site admins).
pub async fn create_group(State(state): State<AppState>, f: UiForm) -> Response {
    let r = groups::create(&state.kiln, f.principal(), &f.text("name"))
        .await
        .map(|g| {
            (
                format!("/groups/{}", g.name),
                Flash::notice(format!("Created the group {}.", g.owner)),
            )
        });
    f.respond(&state, "group", "/admin", r).await
}

/// `POST /forms/groups/NAME/members` (site admins).
pub async fn add_group_member(
    State(state): State<AppState>,
    Path(group): Path<String>,
    f: UiForm,
) -> Response {
    let back = format!("/groups/{}", group.trim_start_matches('@'));
    let username = f.text("username");
    let r = groups::add_member(&state.kiln, f.principal(), &group, &username)
        .await
        .map(|g| {
            (
                back.clone(),
                Flash::notice(format!("{username} is in {}.", g.owner)),
            )
        });
    f.respond(&state, "group-member", &back, r).await
}

/// `POST /forms/groups/NAME/members/USER/remove` (site admins).
pub async fn remove_group_member(
    State(state): State<AppState>,
    Path((group, username)): Path<(String, String)>,
    f: UiForm,
) -> Response {
    let back = format!("/groups/{}", group.trim_start_matches('@'));
    let r = groups::remove_member(&state.kiln, f.principal(), &group, &username)
        .await
        .map(|g| {
            (
                back.clone(),
                Flash::notice(format!("{username} is no longer in {}.", g.owner)),
            )
        });
    f.respond(&state, "group-member", &back, r).await
}
