//! The builder agent protocol: register (registration token), heartbeat (agent credential);
//! and site-admin management of agents.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use kiln_core::entities::agents as agent_rows;
use kiln_core::services::agents;
use kiln_core::CoreError;
use kiln_proto::agent::{Agent, AgentState, HeartbeatReply, Register, Registered};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Json, Path};
use crate::AppState;

fn bearer(parts: &Parts) -> Result<String, ApiError> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| {
            ApiError(CoreError::Unauthorized(
                "send the token as `Authorization: Bearer TOKEN`".into(),
            ))
        })
}

/// A request from a registered agent.
pub struct AgentAuth(pub agent_rows::Model);

impl FromRequestParts<AppState> for AgentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        Ok(AgentAuth(agents::authenticate(&state.kiln, &token).await?))
    }
}

/// The bearer token of a registration request.
pub struct RegistrationToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RegistrationToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RegistrationToken(bearer(parts)?))
    }
}

pub async fn register(
    State(state): State<AppState>,
    RegistrationToken(token): RegistrationToken,
    Json(input): Json<Register>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    Ok((
        StatusCode::CREATED,
        Json(agents::register(&state.kiln, &token, input).await?),
    ))
}

pub async fn heartbeat(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
) -> ApiResult<Json<HeartbeatReply>> {
    Ok(Json(agents::heartbeat(&state.kiln, agent).await?))
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Agent>>> {
    Ok(Json(agents::list(&state.kiln, &caller.principal).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateBody {
    pub state: AgentState,
}

pub async fn set_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<StateBody>,
) -> ApiResult<Json<Agent>> {
    Ok(Json(
        agents::set_state(&state.kiln, &caller.principal, &name, body.state).await?,
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    agents::revoke(&state.kiln, &caller.principal, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
