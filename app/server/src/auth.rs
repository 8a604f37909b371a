//! Resolving the caller once per request (bearer token or browser session) and CSRF protection
//! for cookie-authenticated state changes: such requests must carry the session's CSRF token in
//! the `X-CSRF-Token` header, a `csrf_token` form field or a `csrf_token` query parameter.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kiln_core::services::{accounts, publish, read_tokens, tokens};
use kiln_core::{CoreError, Principal};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::error::{error_response, ApiError};
use crate::extract::Caller;
use crate::AppState;

pub const SESSION_USER: &str = "uid";
pub const SESSION_CSRF: &str = "csrf";
/// The outcome of the last form post (`kiln_frontend::forms::Flash`).
pub const SESSION_FLASH: &str = "flash";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf_token";
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, ApiError> {
    if let Ok(Some(t)) = session.get::<String>(SESSION_CSRF).await {
        return Ok(t);
    }
    let t = kiln_core::secret::new_token("").expose().to_owned();
    session
        .insert(SESSION_CSRF, &t)
        .await
        .map_err(|e| ApiError(CoreError::internal(e)))?;
    Ok(t)
}

/// Signs `user_id` into the session: a new session id (against fixation) and a new CSRF token.
pub async fn sign_in(session: &Session, user_id: i32) -> Result<(), ApiError> {
    let internal = |e: tower_sessions::session::Error| ApiError(CoreError::internal(e));
    session.cycle_id().await.map_err(internal)?;
    session
        .insert(SESSION_USER, user_id)
        .await
        .map_err(internal)?;
    let t = kiln_core::secret::new_token("").expose().to_owned();
    session.insert(SESSION_CSRF, t).await.map_err(internal)?;
    Ok(())
}

/// A browser loading a page (not an API call, a server function, an asset or a repo file).
fn is_page_load(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
        && !["/api/", "/ui/", "/pkg/", "/repos/", "/auth/", "/forms/"]
            .iter()
            .any(|p| path.starts_with(p))
}

fn bearer(req: &Request) -> Option<Result<String, ApiError>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    // HTTP Basic credentials (dnf's) carry no authority beyond downloads: ignored here.
    if value
        .to_str()
        .is_ok_and(|v| v.len() > 6 && v[..6].eq_ignore_ascii_case("basic "))
    {
        return None;
    }
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| {
            ApiError(CoreError::Unauthorized(
                "the Authorization header must be `Bearer TOKEN`".into(),
            ))
        });
    Some(parsed)
}

/// `Authorization: Basic base64(USER:PASSWORD)`, decoded.
fn basic(req: &Request) -> Option<(String, String)> {
    use base64::Engine;
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

fn is_form(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn csrf_from_query(req: &Request) -> Option<String> {
    let q = req.uri().query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned())
}

fn csrf_refused() -> Response {
    error_response(
        StatusCode::FORBIDDEN,
        "csrf",
        "missing or wrong CSRF token: reload the page and try again",
        None,
    )
}

/// The middleware: resolves the caller, enforces CSRF, stores `Caller` in the extensions.
pub async fn resolve_caller(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let kiln = &state.kiln;
    // Builder agents authenticate with their own credentials (`handlers::agent`).
    if req.uri().path().starts_with("/api/v1/agent/") {
        let mut req = req;
        req.extensions_mut().insert(Caller {
            principal: Principal::Anonymous,
            via_session: false,
        });
        return next.run(req).await;
    }
    // dnf's HTTP Basic credential (a read token, or a member's API token as the password) on
    // downloads. Only safe methods: a browser may resend Basic credentials on its own, so they
    // must carry no authority to change anything. A credential that fails leaves the request
    // anonymous: a private repo then answers the same 404 as one never created.
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        if let Some((username, password)) = basic(&req) {
            let principal = if password.starts_with(kiln_core::secret::READ_TOKEN_PREFIX) {
                read_tokens::authenticate(kiln, &password).await
            } else {
                tokens::authenticate(kiln, &password)
                    .await
                    .map(|u| accounts::principal_of(&u))
            };
            let mut req = req;
            let principal = match principal {
                Ok(p) => {
                    if let Some(c) = publish::DownloadCredential::new(&username, &password) {
                        req.extensions_mut().insert(c);
                    }
                    p
                }
                Err(e) => {
                    tracing::info!(reason = %e, "HTTP Basic credential refused");
                    Principal::Anonymous
                }
            };
            req.extensions_mut().insert(principal.clone());
            req.extensions_mut().insert(Caller {
                principal,
                via_session: false,
            });
            return next.run(req).await;
        }
    }
    if let Some(token) = bearer(&req) {
        let caller = match token {
            Ok(t) => match tokens::authenticate(kiln, &t).await {
                Ok(user) => Caller {
                    principal: accounts::principal_of(&user),
                    via_session: false,
                },
                Err(e) => return ApiError(e).into_response(),
            },
            Err(e) => return e.into_response(),
        };
        let mut req = req;
        req.extensions_mut().insert(caller.principal.clone());
        req.extensions_mut().insert(caller);
        return next.run(req).await;
    }

    let mut req = req;
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // Without a session cookie there is no ambient authority to abuse, except on the forms
    // that create a session (login CSRF) and the UI's server functions.
    let has_cookie = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(crate::SESSION_COOKIE));
    let path = req.uri().path();
    let session_forms =
        path.starts_with("/auth/") || path.starts_with("/ui/") || path.starts_with("/forms/");
    if unsafe_method && (has_cookie || session_forms) {
        let expected = session.get::<String>(SESSION_CSRF).await.ok().flatten();
        let mut provided = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| csrf_from_query(&req));
        if provided.is_none() && is_form(&req) {
            // Read the form to find the token, then hand the same bytes on.
            let (parts, body) = req.into_parts();
            let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
                Ok(b) => b,
                Err(_) => {
                    return ApiError(CoreError::PayloadTooLarge("the form is too large".into()))
                        .into_response()
                }
            };
            provided = url::form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.into_owned());
            req = Request::from_parts(parts, Body::from(bytes));
        }
        let ok = match (&expected, &provided) {
            (Some(e), Some(p)) => bool::from(e.as_bytes().ct_eq(p.as_bytes())),
            _ => false,
        };
        if !ok {
            return csrf_refused();
        }
    }

    let principal = match session.get::<i32>(SESSION_USER).await.ok().flatten() {
        Some(uid) => match accounts::find_by_id(kiln, uid).await {
            Ok(Some(user)) if !user.disabled => accounts::principal_of(&user),
            Ok(_) => {
                let _ = session.flush().await;
                Principal::Anonymous
            }
            Err(e) => return ApiError(e).into_response(),
        },
        None => Principal::Anonymous,
    };
    let via_session = principal != Principal::Anonymous;
    // Pages with forms need the session's CSRF token; only the login page creates a session
    // for an anonymous visitor.
    let csrf = if req.uri().path() == "/login" || via_session {
        csrf_token(&session).await.ok()
    } else {
        session.get::<String>(SESSION_CSRF).await.ok().flatten()
    };
    if let Some(t) = csrf {
        req.extensions_mut().insert(kiln_frontend::SessionCsrf(t));
    }
    // A form post's outcome is shown once, by the page it redirected to.
    if is_page_load(&req) {
        if let Ok(Some(flash)) = session
            .remove::<kiln_frontend::forms::Flash>(SESSION_FLASH)
            .await
        {
            req.extensions_mut()
                .insert(kiln_frontend::forms::PendingFlash(flash));
        }
    }
    req.extensions_mut().insert(principal.clone());
    req.extensions_mut().insert(Caller {
        principal,
        via_session,
    });
    next.run(req).await
}

/// For the API's `/repos/OWNER/REPO/…` routes: a repo that does not exist for the caller
/// (missing, or private and the caller not in it) answers its 404 before anything else is
/// read, so that a body the route would refuse cannot tell a stranger the repo exists.
pub async fn hide_missing_repos(
    State(state): State<AppState>,
    params: axum::extract::RawPathParams,
    req: Request,
    next: Next,
) -> Response {
    let (mut owner, mut repo) = (None, None);
    for (k, v) in params.iter() {
        match k {
            "owner" => owner = Some(v.to_owned()),
            "repo" => repo = Some(v.to_owned()),
            _ => {}
        }
    }
    if let (Some(owner), Some(repo)) = (owner, repo) {
        let principal = req
            .extensions()
            .get::<Caller>()
            .map(|c| c.principal.clone())
            .unwrap_or(Principal::Anonymous);
        let action = kiln_core::Action::ViewRepo;
        if let Err(e) = kiln_core::services::access::authorize_repo(
            &state.kiln,
            &principal,
            &owner,
            &repo,
            action,
        )
        .await
        {
            return ApiError(e).into_response();
        }
    }
    next.run(req).await
}
