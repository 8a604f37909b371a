//! Extractors that validate before anything else runs and report failures in the error
//! envelope: JSON bodies, query strings, `OWNER/REPO` paths, and the caller.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use kiln_core::{names::validate_name, CoreError, Principal};
use serde::Deserialize;

use crate::error::ApiError;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(FromRequest)]
#[from_request(via(axum::Form), rejection(ApiError))]
pub struct Form<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `/…/OWNER/REPO/…`, validated.
#[derive(Debug, Clone, Deserialize)]
pub struct OwnerRepo {
    pub owner: String,
    pub repo: String,
}

pub struct OwnerRepoPath(pub OwnerRepo);

impl<S: Send + Sync> FromRequestParts<S> for OwnerRepoPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        #[derive(Deserialize)]
        struct Raw {
            owner: String,
            repo: String,
        }
        let Path(raw) = Path::<Raw>::from_request_parts(parts, state).await?;
        kiln_core::names::validate_owner(&raw.owner)?;
        validate_name("repo", &raw.repo)?;
        Ok(OwnerRepoPath(OwnerRepo {
            owner: raw.owner,
            repo: raw.repo,
        }))
    }
}

/// Who is calling, resolved once per request by the auth middleware.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// Authenticated by the browser session (rather than a bearer token).
    pub via_session: bool,
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller {
            principal: Principal::Anonymous,
            via_session: false,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError(CoreError::internal("auth middleware missing")))
    }
}
