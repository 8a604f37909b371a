//! The `audit_log` table: one row per recorded change, of a repo or site-wide. It has no foreign
//! keys, so entries outlive the repos and users they name.

use sea_orm::entity::prelude::*;

/// One audit entry: who did what to what, and when.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// The entry's id; a higher id is newer.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The repo concerned (`repos.id`); NULL for site-wide entries (chroots, agents, tokens).
    pub repo_id: Option<i32>,
    /// Who did it (`users.id`; `0` for the `kiln admin` console); NULL without a signed-in user.
    pub actor_id: Option<i32>,
    /// What was done, `THING.VERB`: `repo.update`, `member.put`, `token.revoke` ….
    pub action: String,
    /// What it was done to: an `OWNER/REPO`, a name, or `KIND:ID` such as `token:12`.
    pub target: String,
    /// The particulars, a JSON object whose keys depend on `action` (`{}` when there are none).
    pub detail: Json,
    /// When it was done.
    pub created_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
