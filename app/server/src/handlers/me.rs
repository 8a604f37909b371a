use axum::extract::State;
use axum::http::StatusCode;
use kiln_core::services::{accounts, tokens};
use kiln_proto::{TokenCreate, TokenCreated, TokenInfo, User};
use serde::Serialize;
use tower_sessions::Session;

use crate::auth::csrf_token;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Json, Path};
use crate::AppState;

#[derive(Serialize)]
pub struct Me {
    #[serde(flatten)]
    pub user: User,
    /// For browser sessions: the token to send as `X-CSRF-Token` on state changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    /// An e-mail when a build I submitted ends (shown when on).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub notify_builds: bool,
}

/// `PATCH /api/v1/me`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    pub notify_builds: bool,
}

/// `PATCH /api/v1/me`: the caller's own settings.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Json(patch): Json<MePatch>,
) -> ApiResult<Json<Me>> {
    let row =
        accounts::set_notify_builds(&state.kiln, &caller.principal, patch.notify_builds).await?;
    Ok(Json(Me {
        user: accounts::to_wire(&row),
        csrf_token: None,
        notify_builds: row.notify_builds,
    }))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    session: Session,
) -> ApiResult<Json<Me>> {
    let user = caller.principal.require_user()?;
    let row = accounts::find_by_id(&state.kiln, user.id)
        .await?
        .ok_or_else(|| {
            ApiError(kiln_core::CoreError::Unauthorized(
                "the account no longer exists".into(),
            ))
        })?;
    let csrf = if caller.via_session {
        Some(csrf_token(&session).await?)
    } else {
        None
    };
    Ok(Json(Me {
        user: accounts::to_wire(&row),
        csrf_token: csrf,
        notify_builds: row.notify_builds,
    }))
}

pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    Ok(Json(tokens::list(&state.kiln, &caller.principal).await?))
}

pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<TokenCreate>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(tokens::create(&state.kiln, &caller.principal, input).await?),
    ))
}

pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i32>,
) -> ApiResult<StatusCode> {
    tokens::revoke(&state.kiln, &caller.principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
