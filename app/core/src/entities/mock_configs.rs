//! The `mock_configs` table: one row per mock config of a repo, the unit a build subtask builds
//! in.

use sea_orm::entity::prelude::*;

/// A repo's mock config: a base chroot plus the repo's extra repos, buildroot changes and
/// macros.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "mock_configs")]
pub struct Model {
    /// The mock config's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The repo it belongs to (`repos.id`).
    pub repo_id: i32,
    /// Its name, unique within the repo; a config made with the repo is named after its base
    /// chroot.
    pub name: String,
    /// The base chroot it builds on (`base_chroots.id`).
    pub base_chroot_id: i32,
    /// `Vec<kiln_proto::RepoSource>`.
    pub extra_repos: Json,
    /// `Vec<String>`.
    pub buildroot_add: Json,
    /// `Vec<String>`.
    pub buildroot_remove: Json,
    /// `BTreeMap<String, String>`.
    pub macros: Json,
    /// Whether the repo's own published packages are in the buildroot (default true).
    pub include_own_repo: bool,
    /// Whether it accepts builds; a submission naming no config builds in every enabled one
    /// (default true).
    pub enabled: bool,
    /// Builds skip `%check` (`--nocheck`).
    pub nocheck: bool,
    /// When it was created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When it last changed.
    pub updated_at: TimeDateTimeWithTimeZone,
}

/// The config's relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The base chroot it builds on (`base_chroot_id`).
    #[sea_orm(
        belongs_to = "super::base_chroots::Entity",
        from = "Column::BaseChrootId",
        to = "super::base_chroots::Column::Id"
    )]
    BaseChroot,
}

impl Related<super::base_chroots::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BaseChroot.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
