use sea_orm::entity::prelude::*;

/// A file a build produced (RPM or log), with its origin: subtask, parent task, submitter,
/// source SRPM, agent, and (through the subtask) the mock config snapshot.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "artifacts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub task_id: i32,
    pub parent_id: i32,
    pub repo_id: i32,
    pub source_id: Option<i32>,
    pub agent_id: Option<i32>,
    pub submitter_id: i32,
    pub file_name: String,
    /// `rpm`, `srpm` or `log`.
    pub kind: String,
    pub name: Option<String>,
    pub epoch: Option<i32>,
    pub version: Option<String>,
    pub release: Option<String>,
    pub arch: Option<String>,
    pub license: Option<String>,
    pub size: i64,
    pub sha256: String,
    pub storage_key: String,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
