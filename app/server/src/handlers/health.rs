use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use kiln_proto::Health;

use crate::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> impl IntoResponse {
    axum::Json(Health {
        status: "ok".into(),
        checks: BTreeMap::new(),
    })
}

/// Readiness: the database and object storage answer.
pub async fn readyz(State(kiln): State<kiln_core::Kiln>) -> impl IntoResponse {
    let mut checks = BTreeMap::new();
    let db = kiln.db.ping().await;
    checks.insert(
        "database".to_owned(),
        if db.is_ok() {
            "ok".into()
        } else {
            "unreachable".into()
        },
    );
    let storage = kiln.storage.check().await;
    checks.insert(
        "storage".to_owned(),
        if storage.is_ok() {
            "ok".into()
        } else {
            "unreachable".into()
        },
    );
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database");
    }
    if let Err(e) = &storage {
        tracing::warn!(error = %e, "readiness: storage");
    }
    let ready = db.is_ok() && storage.is_ok();
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        axum::Json(Health {
            status: if ready {
                "ok".into()
            } else {
                "unavailable".into()
            },
            checks,
        }),
    )
}

/// Prometheus metrics in the text format (see `kiln_core::metrics`).
pub async fn metrics(State(kiln): State<kiln_core::Kiln>) -> axum::response::Response {
    match kiln_core::metrics::render(&kiln).await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Observes each request's duration by method, route pattern and status.
pub async fn observe(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state
        .kiln
        .metrics
        .http
        .get_or_create(&kiln_core::metrics::HttpLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}
