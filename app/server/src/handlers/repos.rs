use axum::extract::State;
use axum::http::StatusCode;
use kiln_core::services::{repos, PageRequest};
use kiln_proto::{Page, Repo, RepoCreate, RepoPatch};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Caller, Json, OwnerRepoPath, Query};
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub owner: Option<String>,
    pub q: Option<String>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page<Repo>>> {
    let page = PageRequest::new(q.page, q.per_page);
    Ok(Json(
        repos::list(
            &state.kiln,
            &caller.principal,
            q.owner.as_deref(),
            q.q.as_deref(),
            page,
        )
        .await?,
    ))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<RepoCreate>,
) -> ApiResult<(StatusCode, Json<Repo>)> {
    Ok((
        StatusCode::CREATED,
        Json(repos::create(&state.kiln, &caller.principal, input).await?),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<Json<Repo>> {
    Ok(Json(
        repos::get(&state.kiln, &caller.principal, &p.owner, &p.repo).await?,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Json(patch): Json<RepoPatch>,
) -> ApiResult<Json<Repo>> {
    Ok(Json(
        repos::update(&state.kiln, &caller.principal, &p.owner, &p.repo, patch).await?,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<StatusCode> {
    repos::delete(&state.kiln, &caller.principal, &p.owner, &p.repo).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/repos/OWNER/REPO/builds-disabled` (site admins): builds are refused and the
/// queued ones wait, with the reason shown.
pub async fn disable_builds(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Json(body): Json<kiln_proto::BuildsDisabled>,
) -> ApiResult<Json<Repo>> {
    Ok(Json(
        repos::set_builds_disabled(
            &state.kiln,
            &caller.principal,
            &p.owner,
            &p.repo,
            Some(body.reason),
        )
        .await?,
    ))
}

/// `DELETE /api/v1/repos/OWNER/REPO/builds-disabled` (site admins): builds resume.
pub async fn enable_builds(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<Json<Repo>> {
    Ok(Json(
        repos::set_builds_disabled(&state.kiln, &caller.principal, &p.owner, &p.repo, None).await?,
    ))
}

/// `POST /api/v1/repos/OWNER/REPO/cancel-queue` (site admins): cancels every build of the
/// repo that has not ended.
pub async fn cancel_queue(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<Json<kiln_proto::QueueCanceled>> {
    Ok(Json(
        repos::cancel_queue(&state.kiln, &caller.principal, &p.owner, &p.repo).await?,
    ))
}
