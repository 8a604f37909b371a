use sea_orm::entity::prelude::*;

/// The published state of one chroot directory of a repo.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "repo_chroots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub repo_id: i32,
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
    pub published_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
