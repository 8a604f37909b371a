//! A repo's outbound webhooks (repo admins): create (the signing secret shown once), list,
//! delete, the delivery log, "send test".

use axum::extract::State;
use axum::http::StatusCode;
use kiln_core::services::webhooks;
use kiln_proto::{Webhook, WebhookCreate, WebhookCreated, WebhookDelivery};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Caller, Json, OwnerRepoPath, Path};
use crate::AppState;

#[derive(Deserialize)]
pub struct HookPath {
    pub id: i32,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<Json<Vec<Webhook>>> {
    Ok(Json(
        webhooks::list_webhooks(&state.kiln, &caller.principal, &p.owner, &p.repo).await?,
    ))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Json(body): Json<WebhookCreate>,
) -> ApiResult<(StatusCode, Json<WebhookCreated>)> {
    let created =
        webhooks::create_webhook(&state.kiln, &caller.principal, &p.owner, &p.repo, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(h): Path<HookPath>,
) -> ApiResult<StatusCode> {
    webhooks::delete_webhook(&state.kiln, &caller.principal, &p.owner, &p.repo, h.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(h): Path<HookPath>,
) -> ApiResult<Json<Vec<WebhookDelivery>>> {
    Ok(Json(
        webhooks::deliveries(&state.kiln, &caller.principal, &p.owner, &p.repo, h.id).await?,
    ))
}

pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(h): Path<HookPath>,
) -> ApiResult<(StatusCode, Json<WebhookDelivery>)> {
    let d = webhooks::send_test(&state.kiln, &caller.principal, &p.owner, &p.repo, h.id).await?;
    Ok((StatusCode::ACCEPTED, Json(d)))
}
