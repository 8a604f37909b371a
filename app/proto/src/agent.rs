//! Builder agent protocol (`/api/v1/agent/…`).

use serde::{Deserialize, Serialize};

/// `POST /api/v1/agent/register` with `Authorization: Bearer REGISTRATION_TOKEN`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Register {
    /// The agent's name, unique among agents: letters, digits, `.`, `_` and `-`, at most 64
    /// characters.
    pub name: String,
    /// The architectures it builds for, 1 to 16, such as `x86_64` (an x86_64 agent also gets i686
    /// builds).
    pub arches: Vec<String>,
    /// How many builds it runs at once, 1 to 256.
    pub capacity: u32,
    /// `mock` or `rpmbuild`.
    pub backend: String,
    /// The agent's own version (`kiln-agent`'s), at most 64 characters; shown to site admins.
    pub version: String,
}

/// The agent's own credential, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Registered {
    /// The new agent's id.
    pub agent_id: i32,
    /// The agent's credential (`kiln_agent_…`), sent as `Authorization: Bearer TOKEN` on every
    /// later agent call.
    pub token: String,
    /// Seconds between heartbeats the server expects.
    pub heartbeat_seconds: u64,
}

/// Whether an agent takes work; site admins set it (`PUT /api/v1/agents/NAME/state`), and so does
/// the builder provisioner.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// Takes work.
    Online,
    /// Finishes what it has, takes nothing new.
    Draining,
    /// Takes nothing; may come back when enabled.
    Disabled,
}

/// `POST /api/v1/agent/heartbeat` body: the subtasks the agent is working on (their leases
/// are renewed).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    /// Ids of the subtasks it is building; empty (the default) when idle.
    #[serde(default)]
    pub running: Vec<i32>,
}

/// The answer says what to do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeartbeatReply {
    /// The agent's state: whether it may claim more work.
    pub state: AgentState,
    /// Subtasks to stop now (canceled by a user).
    #[serde(default)]
    pub cancel: Vec<i32>,
}

/// `POST /api/v1/agent/claim`: waits (up to `wait_seconds`) until there is work for this
/// agent; 204 when there is none.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claim {
    /// How long the server may hold the request waiting for work, in seconds: 30 by default, at
    /// most 60.
    #[serde(default = "default_wait")]
    pub wait_seconds: u64,
}

fn default_wait() -> u64 {
    30
}

/// A subtask handed to an agent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Job {
    /// The subtask's id, for the `/api/v1/agent/tasks/ID/…` calls.
    pub task_id: i32,
    /// The build (parent task) it belongs to.
    pub parent_id: i32,
    /// Which claim of the subtask this is, from 1; a build that was lost or handed back is claimed
    /// again.
    pub attempt: i32,
    /// Full name of the repo (`OWNER/REPO`).
    pub repo: String,
    /// The architecture to build for (the mock config's).
    pub arch: String,
    /// The mock config's name.
    pub mock_config: String,
    /// The effective mock config (for the mock backend).
    pub rendered_config: String,
    /// `%dist`, the distro's own macros (`%fedora`, `%rhel`, `%el9` …) and the config's
    /// (for the rpmbuild backend; mock's chroot defines the distro's itself).
    pub macros: std::collections::BTreeMap<String, String>,
    /// Skip `%check` (`--nocheck`).
    #[serde(default)]
    pub nocheck: bool,
    /// What to build from.
    pub source: JobSource,
    /// Seconds a build may take before it is stopped.
    pub timeout_seconds: u64,
    /// For a private repo: the credential for its own published repo (in the rendered config
    /// without it), valid while this job runs. The agent writes it into the config file it
    /// hands mock, never into a log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_auth: Option<RepoAuth>,
}

/// HTTP Basic credentials for the repos whose `baseurl` starts with `url`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepoAuth {
    /// The URL prefix the credential is for (`PUBLIC_URL/repos/OWNER/REPO/`).
    pub url: String,
    /// The user name to send.
    pub username: String,
    /// The task's read token.
    pub password: String,
}

impl std::fmt::Debug for RepoAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoAuth")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl RepoAuth {
    /// `config` (a mock config) with `username=` and `password=` after each `baseurl=` line
    /// under `url`, so that dnf in the chroot reads the private repo.
    pub fn apply(auth: Option<&RepoAuth>, config: &str) -> String {
        let Some(a) = auth else {
            return config.to_owned();
        };
        let mut out = String::with_capacity(config.len() + 128);
        for line in config.split_inclusive('\n') {
            out.push_str(line);
            if line
                .trim_end()
                .strip_prefix("baseurl=")
                .is_some_and(|u| u.starts_with(&a.url))
            {
                if !line.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&format!(
                    "username={}\npassword={}\n",
                    a.username, a.password
                ));
            }
        }
        out
    }
}

/// What a job builds from: a kind, so that new kinds (git, URLs) reach agents without a
/// change to how work is claimed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSource {
    /// An SRPM the server holds (an upload): `GET /api/v1/agent/tasks/ID/source`, checked
    /// against its SHA-256.
    Srpm {
        /// The name it was uploaded as (display and the file's name in the workspace only).
        file_name: String,
        /// SHA-256 of the file (lowercase hex).
        sha256: String,
        /// The file's size in bytes.
        size: i64,
    },
    /// The SRPM step of a build from a source: fetch it, make the SRPM in the sandbox and
    /// upload it as the subtask's only result (with the log).
    Make {
        /// What to fetch; for git, `ref` is the commit to build when it is already known (a
        /// resubmit).
        source: crate::Source,
        /// What the fetches may reach and read.
        limits: FetchLimits,
        /// The repo's credential for the git host of `source`, for the fetch only (never the
        /// sandbox, a log or a URL).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<GitAuth>,
    },
}

/// A user name and password (or access token) sent to a git host as HTTP Basic credentials.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GitAuth {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAuth")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl JobSource {
    /// A name for logs and the log header.
    pub fn display_name(&self) -> String {
        match self {
            JobSource::Srpm { file_name, .. } => file_name.clone(),
            JobSource::Make { source, .. } => source.display(),
        }
    }
}

/// The site's limits on what an SRPM step fetches (`[sources]` in the server's settings).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FetchLimits {
    /// URL schemes allowed for URLs, clones and `SourceN` downloads.
    pub allowed_schemes: Vec<String>,
    /// Whether loopback, private and link-local addresses may be reached.
    pub allow_private_networks: bool,
    /// The most bytes one download may have.
    pub max_download_bytes: u64,
    /// The most bytes a clone (with its submodules) may take on disk.
    pub max_clone_bytes: u64,
    /// The most bytes the SRPM may have.
    pub max_srpm_bytes: u64,
    /// Seconds each step (a clone, a download, making the SRPM) may take.
    pub step_timeout_seconds: u64,
    /// Whether `make_srpm` may run user code with network access on the rpmbuild backend
    /// (always allowed on mock, where it runs in the chroot).
    pub make_srpm_on_host: bool,
}

/// `POST /api/v1/agent/tasks/ID/finish`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finish {
    /// For the SRPM step of a git source: the commit the ref resolved to.
    #[serde(default)]
    pub commit: Option<String>,
    /// For the SRPM step of a URL source: the SHA-256 of what was downloaded.
    #[serde(default)]
    pub source_sha256: Option<String>,
    /// How the build ended.
    pub result: BuildResult,
    /// Why it failed or was handed back (the server keeps 2,000 characters); `None`: a generic
    /// reason. Ignored for other results.
    #[serde(default)]
    pub reason: Option<String>,
    /// Where a failed build failed, read from the backend's own output.
    #[serde(default)]
    pub stage: Option<FailureStage>,
    /// The backend and the toolchain it used (`rpmbuild (RPM version 4.18.1) on …`).
    #[serde(default)]
    pub backend: Option<String>,
}

/// The step of a build that failed, as rpmbuild and mock name them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum FailureStage {
    /// Unpacking and patching the sources.
    #[serde(rename = "%prep")]
    Prep,
    /// Configuring or compiling: `%conf` or `%build` exited with an error.
    #[serde(rename = "%build")]
    Build,
    /// `%install` exited with an error.
    #[serde(rename = "%install")]
    Install,
    /// The package's tests: `%check` exited with an error.
    #[serde(rename = "%check")]
    Check,
    /// Packaging: a file `%files` lists is missing, or installed files are not listed.
    #[serde(rename = "%files")]
    Files,
    /// The buildroot could not be made: a `BuildRequires` nothing provides.
    #[serde(rename = "dependencies")]
    Dependencies,
    /// The build ran past its time limit and was stopped.
    #[serde(rename = "timeout")]
    Timeout,
    /// The build was killed by a signal (out of memory, for example).
    #[serde(rename = "killed")]
    Killed,
    /// The build's output was refused: not an RPM, or not built from this build's SRPM.
    #[serde(rename = "results")]
    Results,
    /// The source could not be fetched or its SRPM made (the SRPM step of a git or URL
    /// build): a refused or unreachable address, a missing spec, a cap passed.
    #[serde(rename = "source")]
    Source,
}

impl FailureStage {
    /// The name used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureStage::Prep => "%prep",
            FailureStage::Build => "%build",
            FailureStage::Install => "%install",
            FailureStage::Check => "%check",
            FailureStage::Files => "%files",
            FailureStage::Dependencies => "dependencies",
            FailureStage::Timeout => "timeout",
            FailureStage::Killed => "killed",
            FailureStage::Results => "results",
            FailureStage::Source => "source",
        }
    }

    /// The stage named `s` (`as_str`'s inverse).
    pub fn parse(s: &str) -> Option<FailureStage> {
        [
            FailureStage::Prep,
            FailureStage::Build,
            FailureStage::Install,
            FailureStage::Check,
            FailureStage::Files,
            FailureStage::Dependencies,
            FailureStage::Timeout,
            FailureStage::Killed,
            FailureStage::Results,
            FailureStage::Source,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// How a build ended, as its agent reports it: `succeeded`, `failed`, `canceled` or `handedback`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BuildResult {
    /// The build worked; its RPMs are uploaded.
    Succeeded,
    /// The build failed (the package's fault).
    Failed,
    /// The agent stopped it because it was canceled.
    Canceled,
    /// The agent could not do the work (infrastructure); it goes back to the queue.
    HandedBack,
}

/// An agent as site admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Agent {
    /// The agent's id.
    pub id: i32,
    /// Its unique name (a provisioned builder's agent is named `POOL-ID`).
    pub name: String,
    /// The architectures it registered with (an x86_64 agent also gets i686 builds).
    pub arches: Vec<String>,
    /// How many builds it runs at once.
    pub capacity: u32,
    /// `mock` or `rpmbuild`.
    pub backend: String,
    /// The agent's version, as it registered.
    pub version: String,
    /// Whether it takes work.
    pub state: AgentState,
    /// When it registered.
    #[serde(with = "crate::rfc3339")]
    pub registered_at: time::OffsetDateTime,
    /// When it last sent a heartbeat (or registered).
    #[serde(with = "crate::rfc3339")]
    pub last_seen_at: time::OffsetDateTime,
    /// The subtasks it is building now.
    #[serde(default)]
    pub running: Vec<i32>,
    /// The same subtasks with what they build, for people.
    #[serde(default)]
    pub work: Vec<AgentWork>,
}

/// A subtask an agent is building.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentWork {
    /// The subtask's id.
    pub task_id: i32,
    /// The build (parent task) it belongs to.
    pub parent_id: i32,
    /// `OWNER/REPO`.
    pub repo: String,
    /// The mock config it builds in.
    pub mock_config: String,
    /// The SRPM's file name as it was uploaded.
    pub file_name: String,
}

/// A registration token as site admins see it: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegistrationToken {
    /// The token's id (`DELETE /api/v1/agent-tokens/ID` revokes it).
    pub id: i32,
    /// Its name; the builder provisioner's tokens are named `POOL-builder`.
    pub name: String,
    /// The username of the site admin who made it; `None` for tokens made on the command line
    /// or by the builder provisioner.
    pub created_by: Option<String>,
    /// When it was made.
    #[serde(with = "crate::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// When it was revoked (no agent registers with it since); `None` while it is valid.
    #[serde(with = "crate::rfc3339::option")]
    pub revoked_at: Option<time::OffsetDateTime>,
    /// Agents that registered with it.
    pub agents: u32,
}

/// `POST /api/v1/agent-tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegistrationTokenCreate {
    /// A name for the token: letters, digits, `.`, `_` and `-`, starting with a letter or digit, at
    /// most 64 characters.
    pub name: String,
}

/// The answer to a creation: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegistrationTokenCreated {
    /// The token as lists show it.
    #[serde(flatten)]
    pub info: RegistrationToken,
    /// The secret (`kiln_reg_…`), for `kiln-agent --registration-token`.
    pub token: String,
}

/// `GET /api/v1/builder-pools`: a pool of provisioned builders and its provider's health.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuilderPool {
    /// The pool's name (`[[builders.pools]]`); its builders are named `NAME-ID`.
    pub name: String,
    /// `local`, `command` or `kubernetes`.
    pub provider: String,
    /// The architectures its builders build.
    pub arches: Vec<String>,
    /// Builders kept waiting for work even when the queue is empty.
    pub min_idle: u32,
    /// The most builders it runs at once.
    pub max: u32,
    /// The provider's failures in a row (0 when its last call worked).
    pub failures: u32,
    /// When the provider is asked again after a failure.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<time::OffsetDateTime>,
    /// The provider's last error (at most 2,000 characters), kept after it recovers; `None` if it
    /// never failed.
    pub last_error: Option<String>,
    /// When `last_error` happened; `None` if the provider never failed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_error_at: Option<time::OffsetDateTime>,
    /// Builders not yet released (allocating, running, draining), then the 20 last ended.
    pub builders: Vec<Builder>,
}

/// A builder a pool's provider started, live or among the last ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Builder {
    /// The builder's id.
    pub id: i32,
    /// `POOL-ID`, the name its agent registers with.
    pub name: String,
    /// The architecture it was started for.
    pub arch: String,
    /// `allocating`, `running`, `draining`, `released` or `failed`.
    pub state: String,
    /// What the provider calls it (`PID@HOST` for `local`, what the allocate script printed for
    /// `command`, the Pod's name for `kubernetes`); `None` until the provider has started it.
    pub provider_id: Option<String>,
    /// Why it was released or failed (`idle for 612 s`, `did not register within 300 s`, …); `None`
    /// while it is live.
    pub reason: Option<String>,
    /// When it was asked for.
    #[serde(with = "crate::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// When its agent registered; `None` before that.
    #[serde(with = "time::serde::rfc3339::option")]
    pub registered_at: Option<time::OffsetDateTime>,
    /// When it was released or failed; `None` while it is live.
    #[serde(with = "time::serde::rfc3339::option")]
    pub released_at: Option<time::OffsetDateTime>,
}
