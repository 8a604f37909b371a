//! The `read_tokens` table: one row per download token of a repo (`kiln_rt_…`), stored hashed.

use sea_orm::entity::prelude::*;

/// A repo's read token: dnf sends it as the HTTP Basic password to download the repo's
/// published files. Its secret is shown once, at creation.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "read_tokens")]
pub struct Model {
    /// The token's id (`DELETE …/read-tokens/ID` revokes it).
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The repo it reads (`repos.id`).
    pub repo_id: i32,
    /// The label given at creation (1 to 100 characters).
    pub name: String,
    /// The first characters of the secret (`kiln_rt_` and four more), shown in lists.
    pub prefix: String,
    /// Hex SHA-256 of the secret; unique.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// Who made it (`users.id`; 0 for the server, which makes the builders' task tokens).
    pub created_by: i32,
    /// For a builder's token: the task it was made for (revoked when the task ends); NULL for
    /// the tokens repo admins make.
    pub task_id: Option<i32>,
    /// When it was created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it stops working; NULL: never.
    pub expires_at: Option<TimeDateTimeWithTimeZone>,
    /// When it last authenticated a request (recorded at most once a minute); NULL: never used.
    pub last_used_at: Option<TimeDateTimeWithTimeZone>,
    /// When it was revoked; NULL while it is not revoked.
    pub revoked_at: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
