use axum::extract::State;
use axum::http::StatusCode;
use kiln_core::names::validate_name;
use kiln_core::services::members;
use kiln_proto::{Member, MemberPut};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Caller, Json, OwnerRepoPath, Path};
use crate::AppState;

#[derive(Deserialize)]
pub struct UserPath {
    pub username: String,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<Json<Vec<Member>>> {
    Ok(Json(
        members::list(&state.kiln, &caller.principal, &p.owner, &p.repo).await?,
    ))
}

pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(u): Path<UserPath>,
    Json(body): Json<MemberPut>,
) -> ApiResult<Json<Member>> {
    validate_name("username", &u.username)?;
    Ok(Json(
        members::put(
            &state.kiln,
            &caller.principal,
            &p.owner,
            &p.repo,
            &u.username,
            body.role,
        )
        .await?,
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(u): Path<UserPath>,
) -> ApiResult<StatusCode> {
    members::remove(
        &state.kiln,
        &caller.principal,
        &p.owner,
        &p.repo,
        &u.username,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
