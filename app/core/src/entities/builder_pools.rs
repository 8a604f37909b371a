//! The `builder_pools` table: one row per configured builder pool (`[[builders.pools]]`), made
//! the first time its provisioner runs.

use sea_orm::entity::prelude::*;

/// A builder pool's shared state: which server runs its provisioner now (`locked_until`), and
/// its provider's consecutive failures with the backoff they earned.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "builder_pools")]
pub struct Model {
    /// The pool's row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The pool's `name` in the configuration; unique.
    #[sea_orm(unique)]
    pub name: String,
    /// The server running the pool's provisioner holds it until then; NULL or past: free.
    pub locked_until: Option<TimeDateTimeWithTimeZone>,
    /// The provider's failures in a row (0 after a builder registers; default 0).
    pub failures: i32,
    /// When the provider may be asked for builders again after a failure; NULL: no backoff.
    pub next_attempt_at: Option<TimeDateTimeWithTimeZone>,
    /// The provider's last error (at most 2,000 characters), kept after it recovers; NULL if it
    /// never failed.
    pub last_error: Option<String>,
    /// When `last_error` happened; NULL if the provider never failed.
    pub last_error_at: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
