//! Wire types of Kiln's public HTTP API (the README's "HTTP API" lists its routes) and of the builder-agent
//! protocol. Plain serde types: no database, no HTTP framework, so the browser (wasm), the
//! agent and the CLI share them with the server.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Timestamps are RFC 3339 everywhere.
pub mod rfc3339 {
    pub use time::serde::rfc3339::*;
}

/// The one error envelope: `{"errors":[{"code":…,"detail":…}]}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorItem {
    /// Machine-readable: `not_found`, `conflict`, `validation`, `forbidden`, `unauthorized`,
    /// `payload_too_large`, `internal`.
    pub code: String,
    /// Human-readable: what is wrong and, where it helps, how to fix it.
    pub detail: String,
    /// The input field the error is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A page of a list, newest or alphabetical first depending on the list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub id: i32,
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub is_site_admin: bool,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A repo member's role. Roles are ordered: an admin may do all a rel-eng may, a rel-eng all a
/// packager may.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Packager,
    Releng,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Packager, Role::Releng, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Packager => "packager",
            Role::Releng => "releng",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenCreate {
    pub name: String,
    #[serde(default, with = "rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A personal API token as listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenInfo {
    pub id: i32,
    pub name: String,
    /// The first characters of the secret, to recognise it (`kiln_pat_AbCd`).
    pub prefix: String,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// The answer to a token creation: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenCreated {
    #[serde(flatten)]
    pub info: TokenInfo,
    pub token: String,
}

/// A package repository a base chroot or a mock config pulls from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepoSource {
    /// The section name in the dnf configuration (`[id]`).
    pub id: String,
    /// `http://` or `https://` only.
    pub baseurl: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpgkey: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

/// A base chroot, fixed by the site admin: `DISTRO-RELEASE-ARCH`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Chroot {
    pub name: String,
    pub distro: String,
    pub release: String,
    pub arch: String,
    pub base_repos: Vec<RepoSource>,
    /// Lines of mock configuration that set up the distribution (bootstrap image, package
    /// manager, chroot setup); the rendered config adds the repos after it.
    pub mock_template: String,
    /// The value of `%dist`, such as `.fc41` or `.el9`.
    pub dist_macro: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChrootCreate {
    pub name: String,
    pub base_repos: Vec<RepoSource>,
    #[serde(default)]
    pub mock_template: Option<String>,
    #[serde(default)]
    pub dist_macro: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ChrootPatch {
    #[serde(default)]
    pub base_repos: Option<Vec<RepoSource>>,
    #[serde(default)]
    pub mock_template: Option<String>,
    #[serde(default)]
    pub dist_macro: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Repo {
    pub id: i32,
    pub owner: String,
    pub name: String,
    /// `OWNER/REPO`.
    pub full_name: String,
    pub description: String,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Retention: the newest N builds of each package stay (`None`: all of them).
    #[serde(default)]
    pub keep_builds: Option<u32>,
    /// Retention: build logs stay this many days after the build ends (`None`: for ever).
    #[serde(default)]
    pub keep_logs_days: Option<u32>,
    /// The caller's role in this repo, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_role: Option<Role>,
    /// Why the site admins stopped this repo's builds (absent: builds are accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builds_disabled: Option<String>,
}

/// `PUT /api/v1/repos/OWNER/REPO/builds-disabled` (site admins).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BuildsDisabled {
    /// Shown to the repo's members and to anyone whose submission is refused.
    pub reason: String,
}

/// A repo's outbound webhook (`/api/v1/repos/OWNER/REPO/webhooks`, repo admins).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Webhook {
    pub id: i32,
    pub url: String,
    pub active: bool,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    /// `http://` or `https://`.
    pub url: String,
}

/// The answer to a creation: the only time the signing secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Receivers check `X-Kiln-Signature: sha256=HEX`, HMAC-SHA256 of the body under it.
    pub secret: String,
}

/// One event for one webhook: the delivery log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookDelivery {
    pub id: i32,
    pub event_id: i32,
    pub topic: String,
    /// `pending`, `succeeded` or `failed` (attempts used up).
    pub state: String,
    pub attempts: i32,
    #[serde(with = "rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// The receiver's last HTTP status.
    pub response_code: Option<i32>,
    /// Why the last attempt failed (connection refused, timeout, a non-2xx status).
    pub error: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
}

/// `POST /api/v1/repos/OWNER/REPO/cancel-queue` (site admins): what was canceled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueCanceled {
    /// Builds (parent tasks) canceled.
    pub builds: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepoCreate {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Base chroots to create a mock config for, each named after its chroot.
    #[serde(default)]
    pub chroots: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RepoPatch {
    #[serde(default)]
    pub description: Option<String>,
    /// Keep the newest N builds of each package; `0` keeps all (the default). Never fewer
    /// than one: the newest build of a package always stays.
    #[serde(default)]
    pub keep_builds: Option<u32>,
    /// Remove build logs this many days after the build ends; `0` keeps them (the default).
    #[serde(default)]
    pub keep_logs_days: Option<u32>,
}

/// The answer to `POST /api/v1/repos/OWNER/REPO/key/rotate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyRotation {
    /// The new key's fingerprint (hex).
    pub fingerprint: String,
    pub previous_fingerprint: String,
    /// The chroots being re-signed and republished.
    pub chroots: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    pub username: String,
    pub role: Role,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberPut {
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MockConfig {
    pub name: String,
    /// The base chroot's name.
    pub base: String,
    pub arch: String,
    pub extra_repos: Vec<RepoSource>,
    pub buildroot_add: Vec<String>,
    pub buildroot_remove: Vec<String>,
    pub macros: BTreeMap<String, String>,
    /// Whether the repo's own published packages are in the buildroot (default: yes).
    pub include_own_repo: bool,
    pub enabled: bool,
    /// Builds in this config skip `%check` (mock's and rpmbuild's `--nocheck`).
    #[serde(default)]
    pub nocheck: bool,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MockConfigCreate {
    pub name: String,
    pub base: String,
    #[serde(default)]
    pub extra_repos: Vec<RepoSource>,
    #[serde(default)]
    pub buildroot_add: Vec<String>,
    #[serde(default)]
    pub buildroot_remove: Vec<String>,
    #[serde(default)]
    pub macros: BTreeMap<String, String>,
    #[serde(default)]
    pub include_own_repo: Option<bool>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Skip `%check` in every build of this config (default: no).
    #[serde(default)]
    pub nocheck: Option<bool>,
}

/// A partial update; the base chroot cannot be changed (create another config instead).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MockConfigPatch {
    #[serde(default)]
    pub extra_repos: Option<Vec<RepoSource>>,
    #[serde(default)]
    pub buildroot_add: Option<Vec<String>>,
    #[serde(default)]
    pub buildroot_remove: Option<Vec<String>>,
    #[serde(default)]
    pub macros: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub include_own_repo: Option<bool>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Skip `%check` in every build of this config (default: no).
    #[serde(default)]
    pub nocheck: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    pub id: i32,
    /// The username of who did it; `None` for the system or a deleted account.
    pub actor: Option<String>,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Login options the UI offers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoginOptions {
    pub local_enabled: bool,
    pub providers: Vec<LoginProvider>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoginProvider {
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Health {
    pub status: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, String>,
}

/// Builder agent protocol (`/api/v1/agent/…`).
pub mod agent {
    use serde::{Deserialize, Serialize};

    /// `POST /api/v1/agent/register` with `Authorization: Bearer REGISTRATION_TOKEN`.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    pub struct Register {
        pub name: String,
        pub arches: Vec<String>,
        pub capacity: u32,
        /// `mock` or `rpmbuild`.
        pub backend: String,
        pub version: String,
    }

    /// The agent's own credential, shown once.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    pub struct Registered {
        pub agent_id: i32,
        pub token: String,
        /// Seconds between heartbeats the server expects.
        pub heartbeat_seconds: u64,
    }

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
        #[serde(default)]
        pub running: Vec<i32>,
    }

    /// The answer says what to do.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    pub struct HeartbeatReply {
        pub state: AgentState,
        /// Subtasks to stop now (canceled by a user).
        #[serde(default)]
        pub cancel: Vec<i32>,
    }

    /// `POST /api/v1/agent/claim`: waits (up to `wait_seconds`) until there is work for this
    /// agent; 204 when there is none.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    pub struct Claim {
        #[serde(default = "default_wait")]
        pub wait_seconds: u64,
    }

    fn default_wait() -> u64 {
        30
    }

    /// A subtask handed to an agent.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    pub struct Job {
        pub task_id: i32,
        pub parent_id: i32,
        pub attempt: i32,
        /// Full name of the repo (`OWNER/REPO`).
        pub repo: String,
        pub arch: String,
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
            sha256: String,
            size: i64,
        },
    }

    impl JobSource {
        /// A name for logs and the log header.
        pub fn display_name(&self) -> &str {
            match self {
                JobSource::Srpm { file_name, .. } => file_name,
            }
        }
    }

    /// `POST /api/v1/agent/tasks/ID/finish`.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    pub struct Finish {
        pub result: BuildResult,
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
        #[serde(rename = "%build")]
        Build,
        #[serde(rename = "%install")]
        Install,
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
            ]
            .into_iter()
            .find(|x| x.as_str() == s)
        }
    }

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
        pub id: i32,
        pub name: String,
        pub arches: Vec<String>,
        pub capacity: u32,
        pub backend: String,
        pub version: String,
        pub state: AgentState,
        #[serde(with = "crate::rfc3339")]
        pub registered_at: time::OffsetDateTime,
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
        pub task_id: i32,
        /// The build (parent task) it belongs to.
        pub parent_id: i32,
        /// `OWNER/REPO`.
        pub repo: String,
        pub mock_config: String,
        pub file_name: String,
    }

    /// A registration token as site admins see it: never its secret.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    pub struct RegistrationToken {
        pub id: i32,
        pub name: String,
        pub created_by: Option<String>,
        #[serde(with = "crate::rfc3339")]
        pub created_at: time::OffsetDateTime,
        #[serde(with = "crate::rfc3339::option")]
        pub revoked_at: Option<time::OffsetDateTime>,
        /// Agents that registered with it.
        pub agents: u32,
    }

    /// `POST /api/v1/agent-tokens`.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    pub struct RegistrationTokenCreate {
        pub name: String,
    }

    /// The answer to a creation: the only time the secret is shown.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    pub struct RegistrationTokenCreated {
        #[serde(flatten)]
        pub info: RegistrationToken,
        pub token: String,
    }

    /// `GET /api/v1/builder-pools`: a pool of provisioned builders and its provider's health.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    pub struct BuilderPool {
        pub name: String,
        /// `local`, `command` or `kubernetes`.
        pub provider: String,
        pub arches: Vec<String>,
        pub min_idle: u32,
        pub max: u32,
        /// The provider's failures in a row (0 when its last call worked).
        pub failures: u32,
        /// When the provider is asked again after a failure.
        #[serde(with = "time::serde::rfc3339::option")]
        pub next_attempt_at: Option<time::OffsetDateTime>,
        pub last_error: Option<String>,
        #[serde(with = "time::serde::rfc3339::option")]
        pub last_error_at: Option<time::OffsetDateTime>,
        /// Builders not yet released (allocating, running, draining), then the 20 last ended.
        pub builders: Vec<Builder>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    pub struct Builder {
        pub id: i32,
        pub name: String,
        pub arch: String,
        /// `allocating`, `running`, `draining`, `released` or `failed`.
        pub state: String,
        pub provider_id: Option<String>,
        pub reason: Option<String>,
        #[serde(with = "crate::rfc3339")]
        pub created_at: time::OffsetDateTime,
        #[serde(with = "time::serde::rfc3339::option")]
        pub registered_at: Option<time::OffsetDateTime>,
        #[serde(with = "time::serde::rfc3339::option")]
        pub released_at: Option<time::OffsetDateTime>,
    }
}

/// `GET /repos/OWNER/REPO/` with `Accept: application/json`: what the published repository
/// holds, as its browsable index shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepoIndex {
    /// `OWNER/REPO`.
    pub repo: String,
    /// The files at the top (`OWNER-REPO.repo`, the release RPM, `pubkey.gpg`).
    pub files: Vec<String>,
    /// The published chroot directories.
    pub chroots: Vec<ChrootSummary>,
}

/// One published chroot directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChrootSummary {
    /// The directory name, such as `fedora-44-x86_64`.
    pub name: String,
    /// Packages in its metadata.
    pub packages: i32,
    /// The metadata's revision.
    pub revision: i64,
    #[serde(with = "rfc3339::option")]
    pub published_at: Option<OffsetDateTime>,
}

/// `GET /repos/OWNER/REPO/CHROOT/` with `Accept: application/json`: the packages its metadata
/// lists (one per NEVRA: the newest build's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChrootIndex {
    pub repo: String,
    pub chroot: String,
    pub revision: i64,
    #[serde(with = "rfc3339::option")]
    pub published_at: Option<OffsetDateTime>,
    /// The files under `repodata/` (`repomd.xml`, its signature, the data files).
    pub repodata: Vec<String>,
    pub packages: Vec<PublishedPackage>,
}

/// A package file in a published chroot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublishedPackage {
    /// Its path below the chroot directory (`00000012/hello-1.0-1.fc44.x86_64.rpm`).
    pub href: String,
    pub name: String,
    pub epoch: i32,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub size: i64,
    /// SHA-256 of the signed file.
    pub sha256: String,
    /// The parent task that built it.
    pub build: i32,
}

/// The newest published build of a package in one chroot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PackageVersion {
    pub name: String,
    pub chroot: String,
    pub epoch: i32,
    pub version: String,
    pub release: String,
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

/// The state of a task (CONTRACT: `pending`, `running`, `succeeded`, `failed`, `canceled`,
/// `skipped`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
    Skipped,
}

impl TaskState {
    pub const ALL: [TaskState; 6] = [
        TaskState::Pending,
        TaskState::Running,
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::Canceled,
        TaskState::Skipped,
    ];

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
    Published,
    /// Scratch builds, and tasks with a failed or canceled build, publish nothing.
    NotPublished,
    /// The metadata run failed (rel-eng can run createrepo again).
    Failed,
}

/// A file a build produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    pub id: i32,
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
    /// Where to download it.
    pub url: String,
}

/// The package an SRPM builds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourcePackage {
    pub name: String,
    pub epoch: Option<i32>,
    pub version: String,
    pub release: String,
    pub sha256: String,
    pub size: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subtask {
    pub id: i32,
    pub mock_config: String,
    pub arch: String,
    pub state: TaskState,
    pub package: Option<SourcePackage>,
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
    pub attempt: i32,
    pub agent: Option<String>,
    #[serde(with = "rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub artifacts: Vec<Artifact>,
}

/// A parent task: one submission.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Task {
    pub id: i32,
    /// `OWNER/REPO`.
    pub repo: String,
    pub state: TaskState,
    pub scratch: bool,
    pub priority: i32,
    pub submitter: Option<String>,
    pub publish_state: PublishState,
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub subtasks: Vec<Subtask>,
}

/// `POST /api/v1/tasks/ID/resubmit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Resubmit {
    /// Only the subtasks that failed or were canceled (default: all).
    #[serde(default)]
    pub only_failed: bool,
}
