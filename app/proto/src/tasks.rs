//! Builds: parent tasks, their subtasks, artifacts and states.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{agent, rfc3339};

/// The newest published build of a package in one chroot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PackageVersion {
    /// The binary package's name.
    pub name: String,
    /// The published chroot directory (its base chroot's name, such as `fedora-44-x86_64`).
    pub chroot: String,
    /// Its epoch; 0 when it has none.
    pub epoch: i32,
    /// Its version.
    pub version: String,
    /// Its release, such as `1.fc44`.
    pub release: String,
    /// Its architecture, such as `x86_64` or `noarch` (never `src`).
    pub arch: String,
    /// The parent task that built it.
    pub build: i32,
}

impl PackageVersion {
    /// `[EPOCH:]VERSION-RELEASE`.
    pub fn evr(&self) -> String {
        if self.epoch > 0 {
            format!("{}:{}-{}", self.epoch, self.version, self.release)
        } else {
            format!("{}-{}", self.version, self.release)
        }
    }
}

/// The state of a task (the README's HTTP API): `pending`, `running`, `succeeded`, `failed`,
/// `canceled` or `skipped`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// A subtask waiting for an agent; a build whose subtasks all wait.
    Pending,
    /// A subtask an agent is building; a build with a subtask waiting or building, unless all of
    /// them wait.
    Running,
    /// A subtask whose build ended well and uploaded binary RPMs; a build whose subtasks all
    /// succeeded or were skipped, at least one having succeeded.
    Succeeded,
    /// A subtask whose build failed, or that failed as an infrastructure error once its attempts
    /// ran out; a build with a failed subtask, or whose every subtask was skipped.
    Failed,
    /// Canceled by a user before or while it was built; a build with a canceled subtask and no
    /// failed one.
    Canceled,
    /// A subtask not built because the SRPM's `ExclusiveArch` or `ExcludeArch` rules out its arch
    /// (subtasks only).
    Skipped,
}

impl TaskState {
    /// Every state, in declaration order.
    pub const ALL: [TaskState; 6] = [
        TaskState::Pending,
        TaskState::Running,
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::Canceled,
        TaskState::Skipped,
    ];

    /// The name used on the wire and in the database, such as `pending`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Canceled => "canceled",
            TaskState::Skipped => "skipped",
        }
    }

    /// The state named `s` (`as_str`'s inverse); `None` for any other string.
    pub fn parse(s: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// No further change happens on its own.
    pub fn is_final(self) -> bool {
        !matches!(self, TaskState::Pending | TaskState::Running)
    }
}

/// What publishing a parent task's results is doing.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PublishState {
    /// Builds are still running.
    Waiting,
    /// Queued for, or in, a metadata run.
    Pending,
    /// Its packages are in every chroot's published metadata.
    Published,
    /// Scratch builds, and tasks with a failed or canceled build, publish nothing.
    NotPublished,
    /// The metadata run failed (rel-eng can run createrepo again).
    Failed,
}

/// A file a build produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    /// The artifact's id.
    pub id: i32,
    /// The file's name as the agent uploaded it, unique within its subtask (such as `build.log`).
    pub file_name: String,
    /// `rpm`, `srpm` or `log`.
    pub kind: String,
    /// The package name from the RPM header; `None` for logs.
    pub name: Option<String>,
    /// The RPM's epoch; `None` for logs and RPMs without one.
    pub epoch: Option<i32>,
    /// The RPM's version; `None` for logs.
    pub version: Option<String>,
    /// The RPM's release; `None` for logs.
    pub release: Option<String>,
    /// The RPM's architecture (`src` for the SRPM); `None` for logs.
    pub arch: Option<String>,
    /// The RPM's `License` tag; `None` for logs.
    pub license: Option<String>,
    /// Size in bytes (of the signed file, for an RPM).
    pub size: i64,
    /// SHA-256 of the stored file (of the signed file, for an RPM), in lowercase hex.
    pub sha256: String,
    /// Where to download it.
    pub url: String,
}

/// The package an SRPM builds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourcePackage {
    /// The package's name from the SRPM's header.
    pub name: String,
    /// Its epoch; `None` when the SRPM has none.
    pub epoch: Option<i32>,
    /// Its version.
    pub version: String,
    /// Its release, as the SRPM's header has it.
    pub release: String,
    /// SHA-256 of the SRPM (lowercase hex).
    pub sha256: String,
    /// The SRPM's size in bytes.
    pub size: i64,
}

/// What a subtask does.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SubtaskKind {
    /// Builds an SRPM in a mock config.
    #[default]
    Build,
    /// Makes the SRPM from the build's source (git or URL); the builds are made from it.
    Srpm,
}

/// One SRPM built in one mock config, or the step that makes the SRPM.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subtask {
    /// The subtask's id.
    pub id: i32,
    /// `build`, or `srpm` for the step that makes a source's SRPM.
    #[serde(default)]
    pub kind: SubtaskKind,
    /// The mock config it builds in (with the settings it had at submission).
    pub mock_config: String,
    /// The architecture it builds for (its mock config's).
    pub arch: String,
    /// Where it is: `pending`, `running`, `succeeded`, `failed`, `canceled` or `skipped`.
    pub state: TaskState,
    /// The package its SRPM builds; `None` if the SRPM is no longer recorded.
    pub package: Option<SourcePackage>,
    /// The SRPM's file name as the client uploaded it (for display, never a path).
    pub file_name: Option<String>,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    /// The stage a failed build failed in, when it is known.
    #[serde(default)]
    pub failure_stage: Option<agent::FailureStage>,
    /// The backend that built it and its toolchain, as the agent reported them (for example
    /// `rpmbuild (RPM version 4.18.1) on Debian GNU/Linux 12 (bookworm): the host's tools and
    /// macros, not the chroot's`).
    #[serde(default)]
    pub backend: Option<String>,
    /// `%check` was skipped (the submission or the mock config asked for it).
    #[serde(default)]
    pub nocheck: bool,
    /// How many times an agent has claimed it; 0 until one does.
    pub attempt: i32,
    /// The agent building it or that built it; `None` while it waits for one, if it never ran, or
    /// if that agent was removed.
    pub agent: Option<String>,
    /// When an agent last claimed it; `None` until one does.
    #[serde(with = "rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When it ended; `None` until then, and for a skipped subtask.
    #[serde(with = "rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// The files its build uploaded (RPMs, the rebuilt SRPM, logs), by file name.
    pub artifacts: Vec<Artifact>,
}

/// A parent task: one submission.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Task {
    /// The build's id.
    pub id: i32,
    /// `OWNER/REPO`.
    pub repo: String,
    /// Derived from its subtasks' states (see `TaskState`); never `skipped`.
    pub state: TaskState,
    /// A scratch build: built, never published.
    pub scratch: bool,
    /// Its place in the queue, -100 to 100: higher goes first (default 0; rel-eng sets others).
    pub priority: i32,
    /// The submitter's username; `None` if the account no longer exists.
    pub submitter: Option<String>,
    /// How far the publishing of its packages has got.
    pub publish_state: PublishState,
    /// What it was built from when that is not an upload (git or a URL).
    #[serde(default)]
    pub source: Option<crate::Origin>,
    /// When it was submitted.
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the first of its subtasks started; `None` until one does.
    #[serde(with = "rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When it ended; `None` while a subtask is pending or running.
    #[serde(with = "rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// One per SRPM and mock config, by id.
    pub subtasks: Vec<Subtask>,
}

/// `POST /api/v1/tasks/ID/resubmit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Resubmit {
    /// Only the subtasks that failed or were canceled (default: all).
    #[serde(default)]
    pub only_failed: bool,
}
