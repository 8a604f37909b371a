use sea_orm::entity::prelude::*;

/// A parent task (one submission: `kind = "build"`, no parent) or a subtask (`kind = "build"`
/// with a parent: one SRPM on one mock config).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub parent_id: Option<i32>,
    pub kind: String,
    pub repo_id: i32,
    /// The repo's owner, for fair dispatch between owners.
    pub owner_id: i32,
    pub submitter_id: i32,
    /// `kiln_proto::TaskState`.
    pub state: String,
    pub scratch: bool,
    pub priority: i32,
    pub source_id: Option<i32>,
    /// The uploaded file's name as the client gave it (display only, never a path).
    pub file_name: Option<String>,
    pub mock_config_name: Option<String>,
    /// What a subtask was built with, fixed at submission: `{"config": MockConfig, "rendered":
    /// String, "macros": {NAME: VALUE} (`%dist`, the distro's macros, the config's),
    /// "nocheck": bool, "repo": "OWNER/REPO", "srpm": {"sha256", "size"}}`.
    pub mock_config_snapshot: Option<Json>,
    pub arch: Option<String>,
    /// Why a subtask was skipped or failed.
    pub reason: Option<String>,
    pub attempt: i32,
    pub agent_id: Option<i32>,
    pub lease_expires_at: Option<TimeDateTimeWithTimeZone>,
    pub cancel_requested: bool,
    pub created_at: TimeDateTimeWithTimeZone,
    pub started_at: Option<TimeDateTimeWithTimeZone>,
    pub finished_at: Option<TimeDateTimeWithTimeZone>,
    /// The stage a failed build failed in (`%build`, `dependencies`, `timeout` …; see
    /// `kiln_proto::agent::FailureStage`).
    pub failure_stage: Option<String>,
    /// The backend and host toolchain that built it, as its agent reported them.
    pub backend: Option<String>,
    /// When the repo's retention policy removed this subtask's logs.
    pub logs_removed_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
