//! The Kiln server: the axum router (API, login, health, the Leptos UI), the auth middleware
//! and the command line. Handlers stay thin; the work happens in `kiln_core`.

pub mod auth;
pub mod cli;
mod client;
mod client_access;
mod client_forge;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod oidc;
pub mod provision;
pub mod routes;
pub mod session_store;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use kiln_core::Kiln;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::session_store::DbSessionStore;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub kiln: Kiln,
    pub oidc: Arc<oidc::Oidc>,
    pub leptos: leptos::config::LeptosOptions,
}

impl axum::extract::FromRef<AppState> for Kiln {
    fn from_ref(s: &AppState) -> Self {
        s.kiln.clone()
    }
}

impl axum::extract::FromRef<AppState> for leptos::config::LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos.clone()
    }
}

pub const SESSION_COOKIE: &str = "kiln_session";

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    tracing::error!("a request handler panicked");
    error::error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "something went wrong on the server; it has been logged",
        None,
    )
    .into_response()
}

/// The whole application, ready to serve. Tests call this with their own `Kiln`.
pub async fn app(kiln: Kiln) -> anyhow::Result<Router> {
    let store = DbSessionStore::open(&kiln.db).await?;
    {
        use tower_sessions::session_store::ExpiredDeletion;
        let store = store.clone();
        tokio::spawn(async move {
            let _ = store
                .continuously_delete_expired(Duration::from_secs(3600))
                .await;
        });
    }
    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(kiln.config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(
            kiln.config.auth.session_hours,
        )));
    tokio::spawn(kiln_core::services::tasks::lease_keeper(kiln.clone()));
    tokio::spawn(kiln_core::services::publish::publisher(kiln.clone()));
    tokio::spawn(kiln_core::services::webhooks::deliver_forever(kiln.clone()));
    tokio::spawn(kiln_core::services::bus::mqtt_forever(kiln.clone()));
    tokio::spawn(kiln_core::services::bus::amqp_forever(kiln.clone()));
    tokio::spawn(kiln_core::services::bus::mail_forever(kiln.clone()));
    provision::start(&kiln, kiln.config.public_url(), provision::agent_binary())?;
    tokio::spawn(kiln_core::services::retention::run_forever(
        kiln.clone(),
        Duration::from_secs(kiln.config.publish.retention_interval_seconds.max(1)),
    ));
    let oidc = Arc::new(oidc::Oidc::new(
        &kiln.config.auth.oidc,
        &kiln.config.public_url(),
    )?);
    let state = AppState {
        leptos: ui::leptos_options(&kiln.config),
        kiln,
        oidc,
    };
    let router = Router::new()
        .nest(
            "/api/v1",
            routes::api().route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::hide_missing_repos,
            )),
        )
        .nest("/auth", routes::auth())
        .nest("/forms", routes::forms())
        .merge(routes::repos())
        .merge(ui::routes(&state))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::resolve_caller,
        ))
        .layer(sessions)
        .merge(routes::hooks())
        .merge(routes::ops(state.kiln.config.metrics_listen.is_none()))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            handlers::health::observe,
        ))
        .layer(CatchPanicLayer::custom(panic_response));
    let router = with_security_headers(router)
        .layer(TraceLayer::new_for_http())
        .with_state(state);
    Ok(router)
}

/// The listener with TCP_NODELAY on each connection: a small response (repomd.xml, API JSON)
/// leaves at once instead of waiting for the client's delayed ACK, which cost polling
/// clients about 40 ms a request.
pub fn no_delay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|stream| {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
    })
}

/// Headers every response carries: no MIME sniffing (repo files and logs are served as the
/// types they are), no framing (clickjacking), no referrer to other sites, no plugins and no
/// foreign `<base>`.
fn with_security_headers(router: Router<AppState>) -> Router<AppState> {
    use axum::http::{header, HeaderValue};
    use tower_http::set_header::SetResponseHeaderLayer;
    [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::CONTENT_SECURITY_POLICY,
            "frame-ancestors 'none'; base-uri 'self'; object-src 'none'",
        ),
    ]
    .into_iter()
    .fold(router, |r, (name, value)| {
        r.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ))
    })
}
