//! Forge push hooks (`POST /hooks/forge/OWNER/REPO`, signed with the repo's forge secret; no
//! session, no cookie) and, under `/api/v1/repos/OWNER/REPO`, the hook's secret, its
//! delivery log and the repo's git credentials (rel-eng).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use kiln_core::services::{forge, source_secrets};
use kiln_proto::{ForgeDelivery, ForgeHook, ForgeSecret, GitCredential, GitCredentialPut};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Caller, Json, OwnerRepoPath, Path};
use crate::AppState;

#[derive(Deserialize)]
pub struct HostPath {
    pub host: String,
}

/// A delivery from a forge: 200 with what came of it (or, for a delivery id already seen,
/// the first outcome marked `duplicate`); 401 when the signature does not hold.
pub async fn receive(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ForgeDelivery>> {
    let headers: forge::payload::Headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(Json(
        forge::receive(&state.kiln, &p.owner, &p.repo, &headers, &body).await?,
    ))
}

pub async fn hook(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<Json<ForgeHook>> {
    Ok(Json(
        forge::hook(&state.kiln, &caller.principal, &p.owner, &p.repo).await?,
    ))
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<(StatusCode, Json<ForgeSecret>)> {
    let s = forge::rotate_secret(&state.kiln, &caller.principal, &p.owner, &p.repo).await?;
    Ok((StatusCode::CREATED, Json(s)))
}

pub async fn delete_secret(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<StatusCode> {
    forge::delete_secret(&state.kiln, &caller.principal, &p.owner, &p.repo).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<Json<Vec<ForgeDelivery>>> {
    Ok(Json(
        forge::deliveries(&state.kiln, &caller.principal, &p.owner, &p.repo).await?,
    ))
}

pub async fn put_credential(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(h): Path<HostPath>,
    Json(body): Json<GitCredentialPut>,
) -> ApiResult<Json<GitCredential>> {
    Ok(Json(
        source_secrets::put_credential(
            &state.kiln,
            &caller.principal,
            &p.owner,
            &p.repo,
            &h.host,
            body,
        )
        .await?,
    ))
}

pub async fn delete_credential(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(h): Path<HostPath>,
) -> ApiResult<StatusCode> {
    source_secrets::delete_credential(&state.kiln, &caller.principal, &p.owner, &p.repo, &h.host)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
