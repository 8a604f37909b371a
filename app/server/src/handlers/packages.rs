//! `/api/v1/repos/OWNER/REPO/packages`: packages with stored sources.

use axum::extract::State;
use axum::http::StatusCode;
use kiln_core::services::packages;
use kiln_proto::{Package, PackagePut, Task};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Caller, Json, OwnerRepoPath, Path};
use crate::handlers::mock_configs::NamePath;
use crate::AppState;

/// `POST …/packages/NAME/builds`: where to build (all fields optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildNow {
    /// Mock config names; empty: every enabled one.
    #[serde(default)]
    pub chroots: Vec<String>,
    /// Build, never publish.
    #[serde(default)]
    pub scratch: bool,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<Json<Vec<Package>>> {
    Ok(Json(
        packages::list(&state.kiln, &caller.principal, &p.owner, &p.repo).await?,
    ))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(n): Path<NamePath>,
) -> ApiResult<Json<Package>> {
    Ok(Json(
        packages::get(&state.kiln, &caller.principal, &p.owner, &p.repo, &n.name).await?,
    ))
}

/// 201 when it was created, 200 when its source was replaced.
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(n): Path<NamePath>,
    Json(input): Json<PackagePut>,
) -> ApiResult<(StatusCode, Json<Package>)> {
    let (created, package) = packages::put(
        &state.kiln,
        &caller.principal,
        &p.owner,
        &p.repo,
        &n.name,
        input,
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(package)))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(n): Path<NamePath>,
) -> ApiResult<StatusCode> {
    packages::delete(&state.kiln, &caller.principal, &p.owner, &p.repo, &n.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Builds the package now from its stored source; 201 with the build.
pub async fn build(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(n): Path<NamePath>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Task>)> {
    // No body, or `{}`: every enabled mock config.
    let req: BuildNow = if body.iter().all(u8::is_ascii_whitespace) {
        BuildNow::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            crate::error::ApiError(kiln_core::CoreError::validation("body", e.to_string()))
        })?
    };
    let task = packages::build(
        &state.kiln,
        &caller.principal,
        &p.owner,
        &p.repo,
        &n.name,
        req.chroots,
        req.scratch,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(task)))
}
