use axum::extract::State;
use kiln_core::services::audit;
use kiln_proto::AuditEntry;
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Caller, Json, OwnerRepoPath, Query};
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub limit: Option<u64>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(
        audit::list_for_repo(
            &state.kiln,
            &caller.principal,
            &p.owner,
            &p.repo,
            q.limit.unwrap_or(100),
        )
        .await?,
    ))
}

pub async fn list_site(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(
        audit::list_site(&state.kiln, &caller.principal, q.limit.unwrap_or(100)).await?,
    ))
}
