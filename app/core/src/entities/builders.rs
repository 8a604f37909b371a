use sea_orm::entity::prelude::*;

/// A builder a pool's provider allocated: `allocating` (asked for, its agent not registered
/// yet), `running`, `draining` (past its lifetime: finishes its work, takes none),
/// `released`, `failed` (never registered, or stopped answering; released and replaced).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "builders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub pool: String,
    pub arch: String,
    /// The agent's name: `POOL-ID`.
    #[sea_orm(unique)]
    pub name: String,
    /// What the provider calls it (printed by the allocate script, a process id, a Pod name).
    pub provider_id: Option<String>,
    pub state: String,
    /// The one-time registration token handed to it; its agent is the one registered with it.
    pub registration_token_id: Option<i32>,
    pub agent_id: Option<i32>,
    pub reason: Option<String>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub registered_at: Option<TimeDateTimeWithTimeZone>,
    /// Since when it has had no build (unset while it builds).
    pub idle_since: Option<TimeDateTimeWithTimeZone>,
    pub released_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
