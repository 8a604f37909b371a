//! Site admin forms: base chroots, agents, registration tokens.

use axum::extract::State;
use axum::response::Response;
use kiln_core::services::{agents, chroots};
use kiln_core::CoreError;
use kiln_frontend::forms::Flash;
use kiln_proto::agent::AgentState;
use kiln_proto::{ChrootCreate, ChrootPatch};

use crate::extract::Path;
use crate::AppState;

use super::*;

pub async fn create_chroot(State(state): State<AppState>, f: UiForm) -> Response {
    let r = async {
        let dist = f.text("dist_macro");
        let input = ChrootCreate {
            name: f.text("name"),
            base_repos: f.sources("base_repos")?,
            mock_template: None,
            dist_macro: (!dist.is_empty()).then_some(dist),
            enabled: Some(true),
        };
        let c = chroots::create(&state.kiln, f.principal(), input).await?;
        Ok((
            "/admin#chroots".to_owned(),
            Flash::notice(format!("Added the base chroot {}.", c.name)),
        ))
    }
    .await;
    f.respond(&state, "new-chroot", "/admin", r).await
}

pub async fn update_chroot(
    State(state): State<AppState>,
    Path(name): Path<String>,
    f: UiForm,
) -> Response {
    let r = async {
        let dist = f.text("dist_macro");
        let patch = ChrootPatch {
            base_repos: Some(f.sources("base_repos")?),
            mock_template: None,
            dist_macro: (!dist.is_empty()).then_some(dist),
            enabled: Some(f.checked("enabled")),
        };
        let c = chroots::update(&state.kiln, f.principal(), &name, patch).await?;
        Ok((
            "/admin#chroots".to_owned(),
            Flash::notice(format!("Saved the base chroot {}.", c.name)),
        ))
    }
    .await;
    f.respond(&state, &format!("chroot-{name}"), "/admin", r)
        .await
}

pub async fn set_agent_state(
    State(state): State<AppState>,
    Path(name): Path<String>,
    f: UiForm,
) -> Response {
    let r = async {
        let s = match f.text("state").as_str() {
            "online" => AgentState::Online,
            "draining" => AgentState::Draining,
            "disabled" => AgentState::Disabled,
            _ => {
                return Err(CoreError::validation(
                    "state",
                    "choose online, draining or disabled",
                ))
            }
        };
        let a = agents::set_state(&state.kiln, f.principal(), &name, s).await?;
        Ok((
            "/admin#agents".to_owned(),
            Flash::notice(format!("{} is now {}.", a.name, f.text("state"))),
        ))
    }
    .await;
    f.respond(&state, "agents", "/admin", r).await
}

pub async fn create_agent_token(State(state): State<AppState>, f: UiForm) -> Response {
    let r = agents::create_registration_token_info(&state.kiln, f.principal(), &f.text("name"))
        .await
        .map(|t| {
            (
                "/admin#agent-tokens".to_owned(),
                Flash {
                    notice: Some(format!(
                        "Created the registration token {}. Copy it now: it is not shown again.",
                        t.info.name
                    )),
                    secret: Some(t.token),
                    ..Flash::default()
                },
            )
        });
    f.respond(&state, "agent-token", "/admin", r).await
}

pub async fn revoke_agent_token(
    State(state): State<AppState>,
    Path(id): Path<i32>,
    f: UiForm,
) -> Response {
    let r = agents::revoke_registration_token(&state.kiln, f.principal(), id)
        .await
        .map(|_| {
            (
                "/admin#agent-tokens".to_owned(),
                Flash::notice("Registration token revoked."),
            )
        });
    f.respond(&state, "agent-token", "/admin", r).await
}
