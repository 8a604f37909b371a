use axum::extract::State;
use axum::http::StatusCode;
use kiln_core::services::chroots;
use kiln_proto::{Chroot, ChrootCreate, ChrootPatch};

use crate::error::ApiResult;
use crate::extract::{Caller, Json, Path};
use crate::AppState;

pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Chroot>>> {
    Ok(Json(chroots::list(&state.kiln, &caller.principal).await?))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Chroot>> {
    Ok(Json(
        chroots::get(&state.kiln, &caller.principal, &name).await?,
    ))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<ChrootCreate>,
) -> ApiResult<(StatusCode, Json<Chroot>)> {
    Ok((
        StatusCode::CREATED,
        Json(chroots::create(&state.kiln, &caller.principal, input).await?),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(patch): Json<ChrootPatch>,
) -> ApiResult<Json<Chroot>> {
    Ok(Json(
        chroots::update(&state.kiln, &caller.principal, &name, patch).await?,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    chroots::delete(&state.kiln, &caller.principal, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
