//! `CoreError`: every failure a core service reports. The server maps each variant to one HTTP
//! status and the JSON error envelope; `Db`, `Storage` and `Internal` are logged with their
//! cause and shown to clients as a generic message.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{field}: {detail}")]
    Validation { field: String, detail: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Existed, removed on purpose (a retention policy).
    #[error("{0}")]
    Gone(String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<std::io::Error> for CoreError {
    fn from(e: std::io::Error) -> Self {
        CoreError::Internal(format!("I/O: {e}"))
    }
}

impl CoreError {
    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        CoreError::Validation {
            field: field.into(),
            detail: detail.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        CoreError::NotFound(what.into())
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        CoreError::Internal(e.to_string())
    }

    /// True for failures of the service itself rather than of the request.
    pub fn is_server_error(&self) -> bool {
        matches!(
            self,
            CoreError::Storage(_) | CoreError::Db(_) | CoreError::Internal(_)
        )
    }
}

impl From<sea_orm::TransactionError<CoreError>> for CoreError {
    fn from(e: sea_orm::TransactionError<CoreError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(e) => CoreError::Db(e),
            sea_orm::TransactionError::Transaction(e) => e,
        }
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
