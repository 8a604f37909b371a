//! The `agents` table: one row per registered builder agent, with what it declared at
//! registration and its state.

use sea_orm::entity::prelude::*;

/// A registered builder agent.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agents")]
pub struct Model {
    /// The agent's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Its unique name (a provisioned builder's agent is named `POOL-ID`).
    #[sea_orm(unique)]
    pub name: String,
    /// Hex SHA-256 of its credential (`kiln_agent_…`); unique.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// `Vec<String>`.
    pub arches: Json,
    /// How many builds it runs at once, 1 to 256.
    pub capacity: i32,
    /// `mock` or `rpmbuild`.
    pub backend: String,
    /// The `kiln-agent` version it registered with (at most 64 characters).
    pub version: String,
    /// `kiln_proto::AgentState`.
    pub state: String,
    /// The registration token it registered with (`agent_registration_tokens.id`).
    pub registration_token_id: Option<i32>,
    /// When it registered.
    pub registered_at: TimeDateTimeWithTimeZone,
    /// When it last sent a heartbeat (set at registration, and when its builder is restarted).
    pub last_seen_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
