//! The `repo_secrets` table: secrets a repo keeps for its sources, sealed with the server key
//! (`secret::seal`): its forge hook secret and its git credentials.

use sea_orm::entity::prelude::*;

/// One sealed secret of a repo.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "repo_secrets")]
pub struct Model {
    /// The row's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The repo it belongs to (`repos.id`).
    pub repo_id: i32,
    /// `forge` (the hook secret; `host` and `username` empty) or `git` (a credential).
    pub kind: String,
    /// For a git credential, the host it is sent to (lowercase, with `:PORT` when not the
    /// scheme's default).
    pub host: String,
    /// For a git credential, the user name sent with it.
    pub username: String,
    /// The secret, sealed (`enc1:…`).
    pub secret: String,
    /// When it was set.
    pub created_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
