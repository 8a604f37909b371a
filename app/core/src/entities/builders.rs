//! The `builders` table: one row per builder a pool's provider was asked for, kept after it is
//! released.

use sea_orm::entity::prelude::*;

/// A builder a pool's provider allocated: `allocating` (asked for, its agent not registered
/// yet), `running`, `draining` (past its lifetime: finishes its work, takes none),
/// `released`, `failed` (never registered, or stopped answering; released and replaced).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "builders")]
pub struct Model {
    /// The builder's id (the `ID` of its name).
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The name of the pool it belongs to.
    pub pool: String,
    /// The architecture it was allocated for.
    pub arch: String,
    /// The agent's name: `POOL-ID`.
    #[sea_orm(unique)]
    pub name: String,
    /// What the provider calls it (printed by the allocate script, a process id, a Pod name).
    pub provider_id: Option<String>,
    /// `allocating`, `running`, `draining`, `released` or `failed`.
    pub state: String,
    /// The one-time registration token handed to it; its agent is the one registered with it.
    pub registration_token_id: Option<i32>,
    /// Its agent (`agents.id`), set when the agent registers; NULL before.
    pub agent_id: Option<i32>,
    /// Why it was released or failed (`idle for 612 s`, …); NULL while it is live.
    pub reason: Option<String>,
    /// When it was asked for.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When its agent registered; NULL before that.
    pub registered_at: Option<TimeDateTimeWithTimeZone>,
    /// Since when it has had no build (unset while it builds).
    pub idle_since: Option<TimeDateTimeWithTimeZone>,
    /// When it was released or failed; NULL while it is live.
    pub released_at: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
