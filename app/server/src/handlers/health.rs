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
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let mut checks = BTreeMap::new();
    let db = state.kiln.db.ping().await;
    checks.insert(
        "database".to_owned(),
        if db.is_ok() {
            "ok".into()
        } else {
            "unreachable".into()
        },
    );
    let storage = state.kiln.storage.check().await;
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
