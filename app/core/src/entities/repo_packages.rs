//! The `repo_packages` table: one row per package a repo keeps the source of.

use sea_orm::entity::prelude::*;

/// A repo's package with its stored source (git or a URL).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "repo_packages")]
pub struct Model {
    /// The package's row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The repo it belongs to (`repos.id`).
    pub repo_id: i32,
    /// The package's name, unique in its repo.
    pub name: String,
    /// Where its source lives: `kiln_proto::Source`.
    pub source: Json,
    /// Whether a forge push to its source rebuilds it.
    pub auto_rebuild: bool,
    /// When it was first stored.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When its source or settings last changed.
    pub updated_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
