//! The `artifacts` table: one row per file a build subtask uploaded (binary RPMs, the rebuilt
//! SRPM, logs).

use sea_orm::entity::prelude::*;

/// A file a build produced (RPM or log), with its origin: subtask, parent task, submitter,
/// source SRPM, agent, and (through the subtask) the mock config snapshot.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "artifacts")]
pub struct Model {
    /// The artifact's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The subtask that uploaded it (`tasks.id`).
    pub task_id: i32,
    /// The build it belongs to: the subtask's parent task (`tasks.id`).
    pub parent_id: i32,
    /// The repo it was built in (`repos.id`).
    pub repo_id: i32,
    /// The SRPM the subtask built (`sources.id`).
    pub source_id: Option<i32>,
    /// The agent that uploaded it (`agents.id`; no foreign key: the agent may be gone).
    pub agent_id: Option<i32>,
    /// Who submitted the build (`users.id`).
    pub submitter_id: i32,
    /// The file's name as the agent uploaded it, unique within its subtask (`build.log`).
    pub file_name: String,
    /// `rpm`, `srpm` or `log`.
    pub kind: String,
    /// The package name from the RPM header; NULL for logs.
    pub name: Option<String>,
    /// The RPM's epoch; NULL for logs and RPMs without one.
    pub epoch: Option<i32>,
    /// The RPM's version; NULL for logs.
    pub version: Option<String>,
    /// The RPM's release; NULL for logs.
    pub release: Option<String>,
    /// The RPM's architecture (`src` for an SRPM); NULL for logs.
    pub arch: Option<String>,
    /// The RPM's `License` tag; NULL for logs.
    pub license: Option<String>,
    /// Size in bytes (of the signed file, for an RPM).
    pub size: i64,
    /// Lowercase hex SHA-256 of the stored file (the signed file, for an RPM).
    pub sha256: String,
    /// Object key of the file: `repos/REPO/builds/PARENT/SUBTASK/FILE_NAME` (ids).
    pub storage_key: String,
    /// When it was uploaded.
    pub created_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
