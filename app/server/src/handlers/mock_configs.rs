use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use kiln_core::services::mock_configs;
use kiln_proto::{MockConfig, MockConfigCreate, MockConfigPatch};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Caller, Json, OwnerRepoPath, Path};
use crate::AppState;

#[derive(Deserialize)]
pub struct NamePath {
    pub name: String,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<Json<Vec<MockConfig>>> {
    Ok(Json(
        mock_configs::list(&state.kiln, &caller.principal, &p.owner, &p.repo).await?,
    ))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Json(input): Json<MockConfigCreate>,
) -> ApiResult<(StatusCode, Json<MockConfig>)> {
    Ok((
        StatusCode::CREATED,
        Json(mock_configs::create(&state.kiln, &caller.principal, &p.owner, &p.repo, input).await?),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(n): Path<NamePath>,
) -> ApiResult<Json<MockConfig>> {
    Ok(Json(
        mock_configs::get(&state.kiln, &caller.principal, &p.owner, &p.repo, &n.name).await?,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(n): Path<NamePath>,
    Json(patch): Json<MockConfigPatch>,
) -> ApiResult<Json<MockConfig>> {
    Ok(Json(
        mock_configs::update(
            &state.kiln,
            &caller.principal,
            &p.owner,
            &p.repo,
            &n.name,
            patch,
        )
        .await?,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(n): Path<NamePath>,
) -> ApiResult<StatusCode> {
    mock_configs::delete(&state.kiln, &caller.principal, &p.owner, &p.repo, &n.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rendered(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(n): Path<NamePath>,
) -> ApiResult<impl IntoResponse> {
    let text =
        mock_configs::rendered(&state.kiln, &caller.principal, &p.owner, &p.repo, &n.name).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}
