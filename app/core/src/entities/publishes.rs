use sea_orm::entity::prelude::*;

/// A publish (createrepo) task for one chroot of a repo: a child of the parent task whose
/// builds it publishes, or a regeneration asked for by rel-eng, a deleted build, a key
/// rotation. Pending publishes of one chroot are coalesced into one metadata run.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "publishes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub repo_id: i32,
    pub chroot: String,
    pub parent_id: Option<i32>,
    /// `build`, `createrepo`, `delete`, `rotate`, `retention`.
    pub reason: String,
    /// `pending`, `running`, `succeeded`, `failed`.
    pub state: String,
    pub error: Option<String>,
    pub requested_by: Option<i32>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub started_at: Option<TimeDateTimeWithTimeZone>,
    pub finished_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
