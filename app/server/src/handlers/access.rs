//! Private repos' access: read tokens (`/repos/O/R/read-tokens`), groups (`/groups`) and the
//! role a group's members have in its repos.

use axum::extract::State;
use axum::http::StatusCode;
use kiln_core::names::validate_name;
use kiln_core::services::{groups, read_tokens};
use kiln_proto::{
    Group, GroupCreate, GroupRolePut, ReadToken, ReadTokenCreate, ReadTokenCreated, Repo,
};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Caller, Json, OwnerRepoPath, Path};
use crate::AppState;

#[derive(Deserialize)]
pub struct IdPath {
    pub id: i32,
}

#[derive(Deserialize)]
pub struct GroupPath {
    pub group: String,
}

#[derive(Deserialize)]
pub struct GroupMemberPath {
    pub group: String,
    pub username: String,
}

/// `GET /api/v1/repos/O/R/read-tokens`.
pub async fn list_read_tokens(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<Json<Vec<ReadToken>>> {
    Ok(Json(
        read_tokens::list(&state.kiln, &caller.principal, &p.owner, &p.repo).await?,
    ))
}

/// `POST /api/v1/repos/O/R/read-tokens`: the secret is in the answer, and nowhere else ever.
pub async fn create_read_token(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Json(body): Json<ReadTokenCreate>,
) -> ApiResult<(StatusCode, Json<ReadTokenCreated>)> {
    let created =
        read_tokens::create(&state.kiln, &caller.principal, &p.owner, &p.repo, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `DELETE /api/v1/repos/O/R/read-tokens/ID`.
pub async fn revoke_read_token(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Path(id): Path<IdPath>,
) -> ApiResult<StatusCode> {
    read_tokens::revoke(&state.kiln, &caller.principal, &p.owner, &p.repo, id.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/repos/@G/R/group-role`.
pub async fn put_group_role(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Json(body): Json<GroupRolePut>,
) -> ApiResult<Json<Repo>> {
    Ok(Json(
        groups::set_repo_role(&state.kiln, &caller.principal, &p.owner, &p.repo, body.role).await?,
    ))
}

/// `GET /api/v1/groups`: every group for site admins, one's own for others.
pub async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Group>>> {
    Ok(Json(groups::list(&state.kiln, &caller.principal).await?))
}

/// `POST /api/v1/groups` (site admins).
pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<GroupCreate>,
) -> ApiResult<(StatusCode, Json<Group>)> {
    let g = groups::create(&state.kiln, &caller.principal, &body.name).await?;
    Ok((StatusCode::CREATED, Json(g)))
}

/// `GET /api/v1/groups/NAME`.
pub async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<GroupPath>,
) -> ApiResult<Json<Group>> {
    Ok(Json(
        groups::get(&state.kiln, &caller.principal, &p.group).await?,
    ))
}

/// `PUT /api/v1/groups/NAME/members/USER` (site admins).
pub async fn put_group_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<GroupMemberPath>,
) -> ApiResult<Json<Group>> {
    validate_name("username", &p.username)?;
    Ok(Json(
        groups::add_member(&state.kiln, &caller.principal, &p.group, &p.username).await?,
    ))
}

/// `DELETE /api/v1/groups/NAME/members/USER` (site admins).
pub async fn remove_group_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<GroupMemberPath>,
) -> ApiResult<Json<Group>> {
    validate_name("username", &p.username)?;
    Ok(Json(
        groups::remove_member(&state.kiln, &caller.principal, &p.group, &p.username).await?,
    ))
}
