//! The `repos` table: one row per repository of packages, `OWNER/NAME`.

use sea_orm::entity::prelude::*;

/// A repo: its builds, mock configs and published dnf repository hang off it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "repos")]
pub struct Model {
    /// The repo's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The user who owns it (`users.id`), the `OWNER` of `OWNER/NAME`.
    pub owner_id: i32,
    /// Its name, unique per owner: letters, digits, `.`, `_` and `-`, at most 64 characters.
    pub name: String,
    /// Free text, at most 4,000 characters; empty when none was given.
    pub description: String,
    /// When it was created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When its settings last changed (description, retention, builds stopped or resumed).
    pub updated_at: TimeDateTimeWithTimeZone,
    /// Retention: keep the newest N builds of each package (None: all).
    pub keep_builds: Option<i32>,
    /// Retention: keep build logs D days (None: forever).
    pub keep_logs_days: Option<i32>,
    /// Bumped each time the release RPM is rebuilt (its Release).
    pub release_serial: i32,
    /// Set by a site admin: why builds are refused (unset: accepted).
    pub builds_disabled: Option<String>,
    /// The mock config whose agents make SRPMs from sources (unset: the first of the build's
    /// own configs).
    pub srpm_config: Option<String>,
    /// `public`, or `private`: the repo exists only for its members and the site admins.
    pub visibility: String,
    /// The role members of the owning group get in a group-owned repo (`packager` by default;
    /// unused when a user owns the repo).
    pub group_role: String,
    /// Moves when one of the repo's read tokens is revoked (servers check their remembered
    /// tokens again).
    pub read_token_revision: i32,
}

/// The repo's relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user who owns it (`owner_id`).
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::OwnerId",
        to = "super::users::Column::Id"
    )]
    Owner,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Owner.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
