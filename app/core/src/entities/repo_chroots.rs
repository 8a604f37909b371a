//! The `repo_chroots` table: one row per published chroot directory of a repo, also the lock
//! that lets one metadata run at a time write it.

use sea_orm::entity::prelude::*;

/// The published state of one chroot directory of a repo.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "repo_chroots")]
pub struct Model {
    /// The row's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The repo (`repos.id`).
    pub repo_id: i32,
    /// The chroot directory (its base chroot's name, `fedora-44-x86_64`); unique per repo.
    pub chroot: String,
    /// Bumped by each metadata run.
    pub revision: i64,
    /// Packages in the current metadata.
    pub packages: i32,
    /// The current metadata files (`repodata/…` names) and superseded ones with the time they
    /// may be deleted: `{"current": [..], "old": [{"name": .., "until": ..}]}`.
    pub files: Json,
    /// A publisher holds the chroot until then (one metadata run at a time, across servers).
    pub locked_until: Option<TimeDateTimeWithTimeZone>,
    /// When the last successful metadata run finished; NULL before the first.
    pub published_at: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
