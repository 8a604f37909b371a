//! The `webhooks` table: one row per outbound webhook of a repo.

use sea_orm::entity::prelude::*;

/// A repo's outbound webhook: every event of the repo is POSTed to `url`, signed with
/// HMAC-SHA256 under `secret`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    /// The webhook's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The repo whose events it gets (`repos.id`).
    pub repo_id: i32,
    /// Where the events are POSTed: an `http://` or `https://` URL of at most 2,000 characters.
    pub url: String,
    /// The signing secret (`whsec_…`), sealed with a key derived from the server key (`enc1:…`).
    pub secret: String,
    /// Whether the repo's new events are queued for it; webhooks are created active.
    pub active: bool,
    /// When it was created.
    pub created_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
