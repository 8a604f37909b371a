//! Wiring of the Leptos UI (crate `kiln-frontend`): server-rendered pages, server functions
//! under `/ui/`, the stylesheet (compiled in) and the hydration bundle under `/pkg/`.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use kiln_core::Config;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};

use crate::AppState;

const STYLESHEET: &str = include_str!("../../../style/kiln.css");
const FAVICON: &str = include_str!("../../../style/favicon.svg");

/// Where the wasm bundle (`kiln.js`, `kiln_bg.wasm`) lives: `KILN_SITE_DIR`, else the
/// checkout's `frontend/site`.
pub fn site_dir(_config: &Config) -> PathBuf {
    std::env::var_os("KILN_SITE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../frontend/site"))
        })
}

pub fn leptos_options(config: &Config) -> leptos::config::LeptosOptions {
    leptos::config::LeptosOptions::builder()
        .output_name("kiln")
        .site_root(site_dir(config).to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build()
}

pub(crate) fn context(state: &AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    let kiln = state.kiln.clone();
    let login = crate::oidc::login_options(state);
    move || {
        provide_context(kiln.clone());
        provide_context(login.clone());
    }
}

async fn server_fns(State(state): State<AppState>, req: Request<Body>) -> impl IntoResponse {
    handle_server_fns_with_context(context(&state), req).await
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLESHEET,
    )
}

async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON,
    )
}

pub fn routes(state: &AppState) -> Router<AppState> {
    let routes = generate_route_list(kiln_frontend::App);
    let leptos = state.leptos.clone();
    let shell = move || kiln_frontend::shell(leptos.clone());
    let fallback = leptos_axum::render_app_to_stream_with_context(context(state), shell.clone());
    Router::new()
        .route("/ui/{*fn_name}", get(server_fns).post(server_fns))
        .route("/pkg/kiln.css", get(stylesheet))
        .route("/favicon.svg", get(favicon))
        .nest_service(
            "/pkg",
            tower_http::services::ServeDir::new(site_dir(&state.kiln.config).join("pkg")),
        )
        .leptos_routes_with_context(state, routes, context(state), shell)
        .fallback(move |req: Request<Body>| fallback(req))
}

/// Renders the page at `path` for the caller of `extensions` (principal, session, CSRF token)
/// with `flash` and the given status: a form post that failed answers with its page again,
/// showing what was wrong next to what was typed.
pub async fn render_page(
    state: &AppState,
    path: &str,
    headers: &axum::http::HeaderMap,
    extensions: axum::http::Extensions,
    flash: kiln_frontend::forms::Flash,
    status: axum::http::StatusCode,
) -> axum::response::Response {
    let leptos = state.leptos.clone();
    let render = leptos_axum::render_app_async_with_context(context(state), move || {
        kiln_frontend::shell(leptos.clone())
    });
    let mut req = Request::new(Body::empty());
    *req.uri_mut() = path
        .parse()
        .unwrap_or_else(|_| axum::http::Uri::from_static("/"));
    for name in [
        header::COOKIE,
        header::ACCEPT,
        header::ACCEPT_LANGUAGE,
        header::HOST,
    ] {
        if let Some(v) = headers.get(&name) {
            req.headers_mut().insert(name, v.clone());
        }
    }
    *req.extensions_mut() = extensions;
    req.extensions_mut()
        .insert(kiln_frontend::forms::PendingFlash(flash));
    let mut resp = render(req).await.into_response();
    *resp.status_mut() = status;
    resp
}
