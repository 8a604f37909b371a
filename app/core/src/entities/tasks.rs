//! The `tasks` table: the task tree of the build pipeline, a parent task per submission and a
//! build subtask per SRPM and mock config.

use sea_orm::entity::prelude::*;

/// A parent task (one submission: `kind = "build"`, no parent) or a subtask (`kind = "build"`
/// with a parent: one SRPM on one mock config).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    /// The task's id (a parent's is the build's id).
    #[sea_orm(primary_key)]
    pub id: i32,
    /// A subtask's parent task (`tasks.id`); NULL for a parent task.
    pub parent_id: Option<i32>,
    /// `build`, or `srpm` for the step that makes a source's SRPM.
    pub kind: String,
    /// The agent backend it needs (`mock` for a `make_srpm` step the host may not run);
    /// `None`: any agent.
    pub needs_backend: Option<String>,
    /// The repo built in (`repos.id`).
    pub repo_id: i32,
    /// The repo's owner, for fair dispatch between owners.
    pub owner_id: i32,
    /// Who submitted it (`users.id`).
    pub submitter_id: i32,
    /// `kiln_proto::TaskState`.
    pub state: String,
    /// A scratch build: built, never published.
    pub scratch: bool,
    /// Place in the queue, -100 to 100, higher first (default 0); subtasks copy the parent's.
    pub priority: i32,
    /// A subtask's SRPM (`sources.id`); NULL for a parent task.
    pub source_id: Option<i32>,
    /// The uploaded file's name as the client gave it (display only, never a path).
    pub file_name: Option<String>,
    /// The mock config a subtask builds in; NULL for a parent task.
    pub mock_config_name: Option<String>,
    /// What a subtask was built with, fixed at submission: `{"config": MockConfig, "rendered":
    /// String, "macros": {NAME: VALUE} (`%dist`, the distro's macros, the config's),
    /// "nocheck": bool, "repo": "OWNER/REPO", "srpm": {"sha256", "size"}}`.
    pub mock_config_snapshot: Option<Json>,
    /// The architecture a subtask builds for (its mock config's); NULL for a parent task.
    pub arch: Option<String>,
    /// Why a subtask was skipped, failed or canceled, or why an earlier attempt was lost (a later
    /// success keeps it).
    pub reason: Option<String>,
    /// How many times an agent has claimed it (0 until one does).
    pub attempt: i32,
    /// The agent building it or that built it (`agents.id`); NULL while waiting and for a parent.
    pub agent_id: Option<i32>,
    /// When a running subtask goes back to the queue unless its agent heartbeats; NULL when
    /// not running.
    pub lease_expires_at: Option<TimeDateTimeWithTimeZone>,
    /// A cancel was asked while it ran; its agent is told to stop at its next heartbeat.
    pub cancel_requested: bool,
    /// When it was submitted.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When an agent last claimed it (a parent: its first subtask's start); NULL until then.
    pub started_at: Option<TimeDateTimeWithTimeZone>,
    /// When it ended; NULL until then, and for a skipped subtask.
    pub finished_at: Option<TimeDateTimeWithTimeZone>,
    /// The stage a failed build failed in (`%build`, `dependencies`, `timeout` …; see
    /// `kiln_proto::agent::FailureStage`).
    pub failure_stage: Option<String>,
    /// The backend and host toolchain that built it, as its agent reported them.
    pub backend: Option<String>,
    /// When the repo's retention policy removed this subtask's logs.
    pub logs_removed_at: Option<TimeDateTimeWithTimeZone>,
    /// A parent task built from a source: `kiln_proto::Origin` (the source, and the commit or
    /// SHA-256 its SRPM step fetched). NULL for uploads and subtasks.
    pub origin: Option<Json>,
    /// The repo's package (`repo_packages.id`) a parent task was built from, if it was.
    pub package_id: Option<i32>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
