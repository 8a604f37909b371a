//! The `agent_registration_tokens` table: one row per registration token, the one-time secret a
//! builder agent trades for its own credential when it registers.

use sea_orm::entity::prelude::*;

/// A registration token, stored hashed; its secret is shown once, at creation.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_registration_tokens")]
pub struct Model {
    /// The token's id (`DELETE /api/v1/agent-tokens/ID` revokes it).
    #[sea_orm(primary_key)]
    pub id: i32,
    /// A label given at creation; the builder provisioner's tokens are named `POOL-builder`.
    pub name: String,
    /// Hex SHA-256 of the secret (`kiln_reg_…`); unique.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// The site admin who made it (`users.id`); NULL when made on the command line or by the
    /// builder provisioner.
    pub created_by_id: Option<i32>,
    /// When it was made.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it was revoked (no agent registers with it since); NULL while it is valid.
    pub revoked_at: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
