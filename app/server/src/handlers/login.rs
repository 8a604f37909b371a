//! Signing in and out: the local form (`POST /auth/login`), OpenID Connect
//! (`/auth/oidc/ID/start` → provider → `/auth/oidc/ID/callback`) and `POST /auth/logout`.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use kiln_core::services::accounts;
use kiln_core::CoreError;
use kiln_proto::LoginOptions;
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::sign_in;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Form, Json, Path, Query};
use crate::oidc::{login_options, PendingLogin, SESSION_PENDING};
use crate::AppState;

pub async fn options(State(state): State<AppState>) -> Json<LoginOptions> {
    Json(login_options(&state))
}

#[derive(Deserialize)]
pub struct LocalLogin {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub next: Option<String>,
}

/// Only same-site paths are followed after login (no open redirects).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// A browser gets a small page saying what went wrong; API clients get the error envelope.
fn login_error(headers: &HeaderMap, e: CoreError) -> Response {
    let api = ApiError(e);
    if !wants_html(headers) {
        return api.into_response();
    }
    let status = api.status();
    let detail = match &api.0 {
        CoreError::Unauthorized(d) | CoreError::Forbidden(d) | CoreError::NotFound(d) => d.clone(),
        CoreError::Validation { detail, .. } => detail.clone(),
        _ => "the login could not be completed; try again".into(),
    };
    let escaped = detail
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in failed · Kiln</title>\
             <link rel=\"stylesheet\" href=\"/pkg/kiln.css\"></head><body><main class=\"narrow\">\
             <h1>Sign-in failed</h1><p role=\"alert\">{escaped}</p><p><a href=\"/login\">Back to sign-in</a></p></main></body></html>"
        )),
    )
        .into_response()
}

pub async fn local(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<LocalLogin>,
) -> Response {
    match accounts::verify_password(&state.kiln, &form.username, &form.password).await {
        Ok(user) => match sign_in(&session, user.id).await {
            Ok(()) => {
                tracing::info!(user = %user.username, "signed in with a local account");
                Redirect::to(&safe_next(form.next.as_deref())).into_response()
            }
            Err(e) => e.into_response(),
        },
        Err(e) => login_error(&headers, e),
    }
}

pub async fn logout(session: Session) -> ApiResult<Redirect> {
    session
        .flush()
        .await
        .map_err(|e| ApiError(CoreError::internal(e)))?;
    Ok(Redirect::to("/"))
}

pub async fn oidc_start(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match state.oidc.start(&id).await {
        Ok((url, pending)) => {
            if let Err(e) = session.insert(SESSION_PENDING, &pending).await {
                return ApiError(CoreError::internal(e)).into_response();
            }
            Redirect::to(&url).into_response()
        }
        Err(e) => login_error(&headers, e),
    }
}

#[derive(Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

pub async fn oidc_callback(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(cb): Query<Callback>,
) -> Response {
    let result = async {
        // The pending login is used once, whatever happens next.
        let pending: PendingLogin = session
            .remove(SESSION_PENDING)
            .await
            .map_err(CoreError::internal)?
            .ok_or_else(|| {
                CoreError::validation(
                    "state",
                    "no login is in progress in this browser; start again",
                )
            })?;
        if let Some(err) = cb.error {
            return Err(CoreError::Unauthorized(format!(
                "the identity provider refused the login: {}",
                cb.error_description.unwrap_or(err)
            )));
        }
        if pending.provider != id || cb.state.as_deref() != Some(pending.state.as_str()) {
            return Err(CoreError::validation(
                "state",
                "the login state does not match; start the login again",
            ));
        }
        let code = cb
            .code
            .ok_or_else(|| CoreError::validation("code", "the identity provider sent no code"))?;
        let claims = state.oidc.finish(&pending, &code).await?;
        let provider = state.oidc.provider(&id)?;
        let user = accounts::login_oidc(
            &state.kiln,
            &id,
            claims,
            provider.config.site_admin_group.as_deref(),
        )
        .await?;
        Ok(user)
    }
    .await;
    match result {
        Ok(user) => match sign_in(&session, user.id).await {
            Ok(()) => {
                tracing::info!(user = %user.username, provider = %id, "signed in through OIDC");
                Redirect::to("/").into_response()
            }
            Err(e) => e.into_response(),
        },
        Err(e) => login_error(&headers, e),
    }
}

pub async fn not_found() -> Response {
    crate::error::error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "there is no such API endpoint",
        None,
    )
}

#[derive(serde::Serialize)]
pub struct CsrfBody {
    pub csrf_token: String,
}

/// The browser session's CSRF token (creating the session if needed), for script clients.
pub async fn csrf(session: Session) -> ApiResult<Json<CsrfBody>> {
    Ok(Json(CsrfBody {
        csrf_token: crate::auth::csrf_token(&session).await?,
    }))
}
