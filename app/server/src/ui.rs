//! Wiring of the Leptos UI (crate `kiln-frontend`): server-rendered pages, server functions
//! under `/ui/`, and the hydration bundle under `/pkg/`.

use axum::Router;
use kiln_core::Config;

use crate::AppState;

pub fn leptos_options(_config: &Config) -> leptos::config::LeptosOptions {
    leptos::config::LeptosOptions::builder()
        .output_name("kiln")
        .site_root("frontend/site")
        .site_pkg_dir("pkg")
        .build()
}

pub fn routes(_state: &AppState) -> Router<AppState> {
    Router::new()
}
