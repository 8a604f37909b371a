//! The builder agent protocol: register (registration token), heartbeat (agent credential);
//! and site-admin management of agents.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use kiln_core::entities::agents as agent_rows;
use kiln_core::services::{agents, sources, tasks};
use kiln_core::CoreError;
use kiln_proto::agent::{
    Agent, AgentState, Claim, Finish, Heartbeat, HeartbeatReply, Register, Registered,
    RegistrationToken as TokenInfo, RegistrationTokenCreate, RegistrationTokenCreated,
};
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
    body: axum::body::Bytes,
) -> ApiResult<Json<HeartbeatReply>> {
    let hb: Heartbeat = if body.is_empty() {
        Heartbeat::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError(CoreError::validation("body", e.to_string())))?
    };
    Ok(Json(
        agents::heartbeat(&state.kiln, agent, &hb.running).await?,
    ))
}

/// Long-poll: answers as soon as there is work for this agent (200 with the job), or with 204
/// when the wait runs out.
pub async fn claim(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let c: Claim = if body.is_empty() {
        Claim { wait_seconds: 30 }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError(CoreError::validation("body", e.to_string())))?
    };
    let kiln = &state.kiln;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(c.wait_seconds.min(60));
    let mut first = true;
    loop {
        // Register for the wake-up before looking, so no submission slips between the two.
        let notified = kiln.events.work.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // The first look trusts the row authentication just read; later ones re-read it (a
        // drain may have come meanwhile).
        if let Some(job) = tasks::claim_as(kiln, &agent, !first).await? {
            tracing::info!(agent = %agent.name, task = job.task_id, attempt = job.attempt, "claimed");
            return Ok(axum::Json(job).into_response());
        }
        first = false;
        tokio::select! {
            _ = &mut notified => {}
            // Another server process may have queued work: look again now and then.
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(StatusCode::NO_CONTENT.into_response()),
            // The server is stopping: the agent asks again (another server, or this one
            // restarted).
            _ = kiln.stopping.cancelled() => return Ok(StatusCode::NO_CONTENT.into_response()),
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    }
}

/// The SRPM of a subtask this agent holds.
pub async fn source(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    Path(id): Path<i32>,
) -> ApiResult<Response> {
    let src = tasks::source_of(&state.kiln, &agent, id).await?;
    let obj = state
        .kiln
        .storage
        .get(&src.storage_key, None)
        .await?
        .ok_or_else(|| ApiError(CoreError::Storage(format!("source {} missing", src.sha256))))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-rpm".to_owned()),
            (header::CONTENT_LENGTH, obj.meta.size.to_string()),
        ],
        axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(obj.body)),
    )
        .into_response())
}

const MAX_LOG_CHUNK: usize = 1024 * 1024;

pub async fn log(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    Path(id): Path<i32>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    if body.len() > MAX_LOG_CHUNK {
        return Err(ApiError(CoreError::PayloadTooLarge(
            "send the log in chunks of at most 1 MiB".into(),
        )));
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    tasks::append_log(&state.kiln, &agent, id, text).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct ArtifactPath {
    pub id: i32,
    pub file_name: String,
}

pub async fn upload(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    Path(p): Path<ArtifactPath>,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Json<kiln_proto::Artifact>)> {
    let kiln = &state.kiln;
    tasks::held_by(kiln, &agent, p.id).await?;
    let staged = sources::stage(
        kiln,
        &p.file_name,
        body.into_data_stream(),
        kiln.config.builds.max_srpm_size * 4,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(tasks::store_artifact(kiln, &agent, p.id, staged).await?),
    ))
}

pub async fn finish(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    Path(id): Path<i32>,
    Json(report): Json<Finish>,
) -> ApiResult<StatusCode> {
    tasks::finish(&state.kiln, &agent, id, report).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Agent>>> {
    Ok(Json(agents::list(&state.kiln, &caller.principal).await?))
}

/// `GET /api/v1/builder-pools` (site admins): the provisioned builders and their providers'
/// health.
pub async fn builder_pools(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<kiln_proto::agent::BuilderPool>>> {
    Ok(Json(
        kiln_core::services::builders::pools(&state.kiln, &caller.principal).await?,
    ))
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

pub async fn list_registration_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    Ok(Json(
        agents::list_registration_tokens(&state.kiln, &caller.principal).await?,
    ))
}

pub async fn create_registration_token(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<RegistrationTokenCreate>,
) -> ApiResult<(StatusCode, Json<RegistrationTokenCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(
            agents::create_registration_token_info(&state.kiln, &caller.principal, &body.name)
                .await?,
        ),
    ))
}

pub async fn revoke_registration_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i32>,
) -> ApiResult<StatusCode> {
    agents::revoke_registration_token(&state.kiln, &caller.principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
