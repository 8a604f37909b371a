//! `CoreError`: every failure a core service reports. The server maps each variant to one HTTP
//! status and the JSON error envelope; `Db`, `Storage` and `Internal` are logged with their
//! cause and shown to clients as a generic message.

use thiserror::Error;

/// Every failure a core service reports; the server answers each variant with one HTTP status.
#[derive(Debug, Error)]
pub enum CoreError {
    /// What was asked for does not exist (404); the message says what.
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with the current state, such as a name already taken (409).
    #[error("{0}")]
    Conflict(String),
    /// A field of the request is not valid (400).
    #[error("{field}: {detail}")]
    Validation {
        /// The field's name, as the API spells it.
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The caller may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The caller is not signed in, or their credential is not valid (401).
    #[error("{0}")]
    Unauthorized(String),
    /// An upload or body is larger than allowed (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Existed, removed on purpose (a retention policy).
    #[error("{0}")]
    Gone(String),
    /// Object storage, a staged upload or another service behind the server failed (500).
    #[error("storage: {0}")]
    Storage(String),
    /// The database failed (500).
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// Any other failure of the server itself (500).
    #[error("internal: {0}")]
    Internal(String),
}

impl From<std::io::Error> for CoreError {
    fn from(e: std::io::Error) -> Self {
        CoreError::Internal(format!("I/O: {e}"))
    }
}

impl CoreError {
    /// A `Validation` error: `field` (as the API names it) and what is wrong with it.
    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        CoreError::Validation {
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// A `NotFound` error with the message `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        CoreError::NotFound(what.into())
    }

    /// An `Internal` error carrying `e`'s message.
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

/// A core service's result.
pub type CoreResult<T> = Result<T, CoreError>;
