//! Core errors as HTTP: one status per variant and the one JSON envelope. Server-side failures
//! are logged with their cause and answered with a generic message.

use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kiln_core::CoreError;
use kiln_proto::{ErrorBody, ErrorItem};

#[derive(Debug)]
pub struct ApiError(pub CoreError);

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError(e)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError(CoreError::Db(e))
    }
}

pub fn error_response(
    status: StatusCode,
    code: &str,
    detail: impl Into<String>,
    field: Option<String>,
) -> Response {
    (
        status,
        axum::Json(ErrorBody {
            errors: vec![ErrorItem {
                code: code.to_owned(),
                detail: detail.into(),
                field,
            }],
        }),
    )
        .into_response()
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match &self.0 {
            CoreError::NotFound(_) => StatusCode::NOT_FOUND,
            CoreError::Conflict(_) => StatusCode::CONFLICT,
            CoreError::Validation { .. } => StatusCode::BAD_REQUEST,
            CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
            CoreError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            CoreError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            CoreError::Gone(_) => StatusCode::GONE,
            CoreError::Storage(_) | CoreError::Db(_) | CoreError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (code, detail, field) = match self.0 {
            CoreError::NotFound(d) => ("not_found", d, None),
            CoreError::Conflict(d) => ("conflict", d, None),
            CoreError::Validation { field, detail } => {
                ("validation", format!("{field}: {detail}"), Some(field))
            }
            CoreError::Forbidden(d) => ("forbidden", d, None),
            CoreError::Unauthorized(d) => ("unauthorized", d, None),
            CoreError::PayloadTooLarge(d) => ("payload_too_large", d, None),
            CoreError::Gone(d) => ("gone", d, None),
            e => {
                let id = uuid::Uuid::new_v4();
                tracing::error!(error = %e, error_id = %id, "request failed");
                (
                    "internal",
                    format!(
                        "something went wrong on the server (error id {id}); it has been logged"
                    ),
                    None,
                )
            }
        };
        let mut resp = error_response(status, code, detail, field);
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"kiln\""),
            );
        }
        resp
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let detail = match &r {
            JsonRejection::MissingJsonContentType(_) => {
                "send the body as JSON with Content-Type: application/json".to_owned()
            }
            _ => format!("the JSON body is not valid: {}", r.body_text()),
        };
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError(CoreError::PayloadTooLarge(
                "the request body is too large".into(),
            ));
        }
        ApiError(CoreError::validation("body", detail))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError(CoreError::validation("path", r.body_text()))
    }
}

impl From<FormRejection> for ApiError {
    fn from(r: FormRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError(CoreError::PayloadTooLarge("the form is too large".into()));
        }
        ApiError(CoreError::validation("form", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError(CoreError::validation("query", r.body_text()))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
