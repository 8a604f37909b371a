//! The `publishes` table: the publish queue, one row per metadata regeneration asked for a
//! chroot of a repo.

use sea_orm::entity::prelude::*;

/// A publish (createrepo) task for one chroot of a repo: a child of the parent task whose
/// builds it publishes, or a regeneration asked for by rel-eng, a deleted build, a key
/// rotation. Pending publishes of one chroot are coalesced into one metadata run.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "publishes")]
pub struct Model {
    /// The publish's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The repo to publish (`repos.id`).
    pub repo_id: i32,
    /// The chroot directory to publish (its base chroot's name, `fedora-44-x86_64`).
    pub chroot: String,
    /// The build whose packages it puts in (`tasks.id`); NULL for a regeneration, and once
    /// that build is deleted.
    pub parent_id: Option<i32>,
    /// `build`, `createrepo`, `delete`, `rotate`, `retention`.
    pub reason: String,
    /// `pending`, `running`, `succeeded`, `failed`.
    pub state: String,
    /// Why its metadata run failed; NULL otherwise.
    pub error: Option<String>,
    /// The user who asked for it (`users.id`); NULL for a build's publish and for retention.
    pub requested_by: Option<i32>,
    /// When it was queued.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When a metadata run took it; NULL while it is pending.
    pub started_at: Option<TimeDateTimeWithTimeZone>,
    /// When that run ended; NULL until then.
    pub finished_at: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
