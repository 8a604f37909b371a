//! The `api_tokens` table: one row per personal API token (`kiln_pat_…`), stored hashed.

use sea_orm::entity::prelude::*;

/// A user's personal API token; its secret is shown once, at creation.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    /// The token's id (`DELETE /api/v1/me/tokens/ID` revokes it).
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The user it acts as (`users.id`).
    pub user_id: i32,
    /// The label given at creation (1 to 100 characters).
    pub name: String,
    /// The first characters of the secret (`kiln_pat_` and four more), shown in lists.
    pub prefix: String,
    /// Hex SHA-256 of the secret; unique.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// When it was created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it stops working; NULL: never.
    pub expires_at: Option<TimeDateTimeWithTimeZone>,
    /// When it last authenticated a request (recorded at most once a minute); NULL: never used.
    pub last_used_at: Option<TimeDateTimeWithTimeZone>,
    /// When its owner revoked it; NULL while it is not revoked.
    pub revoked_at: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
