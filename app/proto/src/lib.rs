#![warn(missing_docs)]
//! Wire types of Kiln's public HTTP API (the README's "HTTP API" lists its routes) and of the builder-agent
//! protocol. Plain serde types: no database, no HTTP framework, so the browser (wasm), the
//! agent and the CLI share them with the server.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

mod access;
pub mod agent;
mod browse;
mod sources;
mod tasks;

pub use access::*;
pub use browse::*;
pub use sources::*;
pub use tasks::*;

/// Timestamps are RFC 3339 everywhere.
pub mod rfc3339 {
    pub use time::serde::rfc3339::*;
}

/// The one error envelope: `{"errors":[{"code":…,"detail":…}]}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    /// What went wrong; the server sends one item.
    pub errors: Vec<ErrorItem>,
}

/// One error of an `ErrorBody`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorItem {
    /// Machine-readable: `not_found`, `conflict`, `validation`, `forbidden`, `csrf`,
    /// `unauthorized`, `payload_too_large`, `gone`, `internal`.
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
    /// The items on this page.
    pub items: Vec<T>,
    /// Items in the whole list, across all pages.
    pub total: u64,
    /// This page's number, from 1.
    pub page: u64,
    /// Items per page: 1 to 100, 50 unless the request asked for another number.
    pub per_page: u64,
}

/// A user account, as `GET /api/v1/me` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    /// The account's id.
    pub id: i32,
    /// The unique login name.
    pub username: String,
    /// The full name the OpenID provider gave at the first login; `None` for local accounts or when
    /// it gave none.
    pub display_name: Option<String>,
    /// The e-mail address the OpenID provider gave (updated at each login); `None` for local
    /// accounts or when it gave none.
    pub email: Option<String>,
    /// Whether the user is a site administrator, who may do everything.
    pub is_site_admin: bool,
    /// When the account was created (a first OpenID login creates it).
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A repo member's role. Roles are ordered: an admin may do all a rel-eng may, a rel-eng all a
/// packager may.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `packager`: submits, cancels, resubmits and deletes builds.
    Packager,
    /// `releng`: also edits the repo's settings and mock configs, sets build priorities and
    /// regenerates the metadata.
    Releng,
    /// `admin`: also manages members, webhooks and the signing key, reads the audit log and deletes
    /// the repo.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Packager, Role::Releng, Role::Admin];

    /// The name used on the wire and in the database: `packager`, `releng` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Packager => "packager",
            Role::Releng => "releng",
            Role::Admin => "admin",
        }
    }

    /// The role named `s` (`as_str`'s inverse); `None` for any other string.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// `POST /api/v1/me/tokens`: a new personal API token for the caller.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenCreate {
    /// A label for the token, 1 to 100 characters once surrounding spaces are trimmed.
    pub name: String,
    /// When the token stops working; it must be in the future. `None`: it never expires.
    #[serde(default, with = "rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A personal API token as listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenInfo {
    /// The token's id (`DELETE /api/v1/me/tokens/ID` revokes it).
    pub id: i32,
    /// The label given at creation.
    pub name: String,
    /// The first characters of the secret, to recognise it (`kiln_pat_AbCd`).
    pub prefix: String,
    /// When the token was created.
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the token stops working; `None`: never.
    #[serde(with = "rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the token last authenticated a request (recorded at most once a minute); `None`: never
    /// used.
    #[serde(with = "rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// The answer to a token creation: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenCreated {
    /// The token as lists show it.
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The secret (`kiln_pat_…`), to send as `Authorization: Bearer TOKEN`.
    pub token: String,
}

/// A package repository a base chroot or a mock config pulls from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepoSource {
    /// The section name in the dnf configuration (`[id]`).
    pub id: String,
    /// `http://` or `https://` only.
    pub baseurl: String,
    /// The repository's display name (dnf's `name=`, at most 200 characters); `None`: its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// URL of the key its packages are checked against (`http://` or `https://`); `None`: no GPG
    /// check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpgkey: Option<String>,
    /// dnf's `priority=`, 1 to 99 (a lower value is preferred); `None`: dnf's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

/// A base chroot, fixed by the site admin: `DISTRO-RELEASE-ARCH`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Chroot {
    /// `DISTRO-RELEASE-ARCH`, such as `fedora-44-x86_64` or `centos-stream-10-aarch64`.
    pub name: String,
    /// The distribution part of the name, such as `fedora`, `epel` or `centos-stream`.
    pub distro: String,
    /// The release part of the name, such as `44`, `10` or `rawhide`.
    pub release: String,
    /// The architecture part of the name, such as `x86_64` or `aarch64`.
    pub arch: String,
    /// The distribution's repositories (at least one), which every mock config on this chroot
    /// builds against; repos cannot change them.
    pub base_repos: Vec<RepoSource>,
    /// Lines of mock configuration that set up the distribution (bootstrap image, package
    /// manager, chroot setup); the rendered config adds the repos after it.
    pub mock_template: String,
    /// The value of `%dist`, such as `.fc41` or `.el9`.
    pub dist_macro: String,
    /// Whether new mock configs may be made on it; mock configs made earlier keep building.
    pub enabled: bool,
}

/// `POST /api/v1/chroots` (site admins): a new base chroot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChrootCreate {
    /// `DISTRO-RELEASE-ARCH` (lowercase letters, digits, `-`, `_`, `.`), such as
    /// `fedora-44-x86_64`; the three parts become `distro`, `release` and `arch`.
    pub name: String,
    /// The distribution's repositories: 1 to 100.
    pub base_repos: Vec<RepoSource>,
    /// Mock configuration lines (at most 20,000 characters, no `"""`); `None`: Kiln's default for
    /// the distribution and release.
    #[serde(default)]
    pub mock_template: Option<String>,
    /// `%dist`: empty, or `.` and up to 31 more characters without whitespace; `None`: the
    /// distribution's usual one (`.fc44`, `.el10`, or empty when Kiln knows none).
    #[serde(default)]
    pub dist_macro: Option<String>,
    /// Whether new mock configs may be made on it; `None`: yes.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `PATCH /api/v1/chroots/NAME` (site admins): a partial update; `None` leaves a setting as it is,
/// and the name cannot change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ChrootPatch {
    /// New base repositories (1 to 100), replacing all of them.
    #[serde(default)]
    pub base_repos: Option<Vec<RepoSource>>,
    /// New mock configuration lines (at most 20,000 characters, no `"""`).
    #[serde(default)]
    pub mock_template: Option<String>,
    /// New `%dist`: empty, or `.` and up to 31 more characters without whitespace.
    #[serde(default)]
    pub dist_macro: Option<String>,
    /// Whether new mock configs may be made on it.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A repository of packages: its builds, mock configs and published dnf repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Repo {
    /// The repo's id.
    pub id: i32,
    /// The owner's username.
    pub owner: String,
    /// The repo's name, unique per owner: letters, digits, `.`, `_` and `-`, at most 64 characters.
    pub name: String,
    /// `OWNER/REPO`.
    pub full_name: String,
    /// Free text, at most 4,000 characters; empty when none was given.
    pub description: String,
    /// When the repo was created.
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its settings last changed (description, retention, builds stopped or resumed).
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
    /// The mock config in which SRPMs are made from sources (absent: the first mock config the
    /// build is for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srpm_config: Option<String>,
    /// `public` or `private` (repo admins change it; a private repo is a 404 for everyone
    /// else).
    #[serde(default)]
    pub visibility: Visibility,
    /// For a repo a group owns (`@GROUP/REPO`): the role the group's members have in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_role: Option<Role>,
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
    /// The webhook's id (`…/webhooks/ID`).
    pub id: i32,
    /// Where the repo's events are POSTed: an `http://` or `https://` URL of at most 2,000
    /// characters.
    pub url: String,
    /// Whether the repo's new events are queued for it; webhooks are created active.
    pub active: bool,
    /// When the webhook was created.
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `POST /api/v1/repos/OWNER/REPO/webhooks` (repo admins). Loopback, private and link-local
/// addresses are refused unless the site allows them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    /// `http://` or `https://`.
    pub url: String,
}

/// The answer to a creation: the only time the signing secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookCreated {
    /// The webhook as lists show it.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Receivers check `X-Kiln-Signature: sha256=HEX`, HMAC-SHA256 of the body under it.
    pub secret: String,
}

/// One event for one webhook: the delivery log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookDelivery {
    /// The delivery's id, sent as `X-Kiln-Delivery`.
    pub id: i32,
    /// The event's id (the `id` of the JSON body).
    pub event_id: i32,
    /// The event's topic, such as `kiln.build.end`, sent as `X-Kiln-Event`.
    pub topic: String,
    /// `pending`, `succeeded` or `failed` (attempts used up).
    pub state: String,
    /// Attempts made so far, at most 30.
    pub attempts: i32,
    /// When the next attempt is due; meaningful only while `pending`.
    #[serde(with = "rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// The receiver's last HTTP status.
    pub response_code: Option<i32>,
    /// Why the last attempt failed (connection refused, timeout, a non-2xx status).
    pub error: Option<String>,
    /// When the event was queued for this webhook.
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the receiver accepted it (a 2xx answer); `None` until then.
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
}

/// `POST /api/v1/repos/OWNER/REPO/cancel-queue` (site admins): what was canceled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueCanceled {
    /// Builds (parent tasks) canceled.
    pub builds: u32,
}

/// `POST /api/v1/repos`: a new repo owned by the caller, who becomes its admin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepoCreate {
    /// Letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 64 characters;
    /// unique among the caller's repos.
    pub name: String,
    /// Free text, at most 4,000 characters (default: empty).
    #[serde(default)]
    pub description: String,
    /// Base chroots to create a mock config for, each named after its chroot.
    #[serde(default)]
    pub chroots: Vec<String>,
    /// `public` (the default) or `private`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    /// `@GROUP` to create the repo in a group the caller is in (default: the caller's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Who can see a repo.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone: the repo, its builds and its published packages.
    #[default]
    Public,
    /// Only its members and the site admins; everyone else gets 404, as for a repo that does
    /// not exist.
    Private,
}

impl Visibility {
    /// `public` or `private`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
    /// The stored value; anything but `private` is public.
    pub fn parse(s: &str) -> Visibility {
        if s == "private" {
            Visibility::Private
        } else {
            Visibility::Public
        }
    }
}

/// `PATCH /api/v1/repos/OWNER/REPO` (rel-eng): a partial update; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RepoPatch {
    /// The new description, at most 4,000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Keep the newest N builds of each package; `0` keeps all (the default). Never fewer
    /// than one: the newest build of a package always stays.
    #[serde(default)]
    pub keep_builds: Option<u32>,
    /// Remove build logs this many days after the build ends; `0` keeps them (the default).
    #[serde(default)]
    pub keep_logs_days: Option<u32>,
    /// The mock config in which SRPMs are made from sources: one of the repo's own; `""`
    /// goes back to the default (the first mock config each build is for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srpm_config: Option<String>,
    /// `public` or `private` (repo admins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
}

/// The answer to `POST /api/v1/repos/OWNER/REPO/key/rotate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyRotation {
    /// The new key's fingerprint (hex).
    pub fingerprint: String,
    /// The replaced key's fingerprint (hex).
    pub previous_fingerprint: String,
    /// The chroots being re-signed and republished.
    pub chroots: Vec<String>,
}

/// A user's membership of a repo.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    /// The member's username.
    pub username: String,
    /// The member's role in the repo.
    pub role: Role,
    /// When the user became a member (a role change keeps it).
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `PUT /api/v1/repos/OWNER/REPO/members/USERNAME` (repo admins): adds the user or changes their
/// role.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberPut {
    /// The role to give; the repo's last admin cannot be given a lower one.
    pub role: Role,
}

/// A repo's mock config: a base chroot plus the repo's own repositories, buildroot changes and
/// macros.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MockConfig {
    /// Its name, unique within the repo (letters, digits, `.`, `_`, `-`); a config made with the
    /// repo is named after its base chroot.
    pub name: String,
    /// The base chroot's name.
    pub base: String,
    /// The base chroot's architecture, which its builds target.
    pub arch: String,
    /// Repositories added after the base chroot's.
    pub extra_repos: Vec<RepoSource>,
    /// Packages added to the buildroot (appended to mock's `chroot_setup_cmd`).
    pub buildroot_add: Vec<String>,
    /// Packages kept out of the buildroot (dnf's `excludepkgs`).
    pub buildroot_remove: Vec<String>,
    /// RPM macros by name without `%`, defined in every build of this config after the
    /// distribution's own.
    pub macros: BTreeMap<String, String>,
    /// Whether the repo's own published packages are in the buildroot (default: yes).
    pub include_own_repo: bool,
    /// Whether it accepts builds; a submission that names no mock config builds in every enabled
    /// one.
    pub enabled: bool,
    /// Builds in this config skip `%check` (mock's and rpmbuild's `--nocheck`).
    #[serde(default)]
    pub nocheck: bool,
    /// When the config was created.
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the config last changed.
    #[serde(with = "rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /api/v1/repos/OWNER/REPO/mock-configs` (rel-eng).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MockConfigCreate {
    /// Letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 64 characters;
    /// unique within the repo.
    pub name: String,
    /// The base chroot to build on (such as `fedora-44-x86_64`); it must exist and be enabled.
    pub base: String,
    /// Repositories to add, at most 100 (default: none).
    #[serde(default)]
    pub extra_repos: Vec<RepoSource>,
    /// Packages to add to the buildroot, at most 100 (default: none).
    #[serde(default)]
    pub buildroot_add: Vec<String>,
    /// Packages to keep out of the buildroot, at most 100 (default: none).
    #[serde(default)]
    pub buildroot_remove: Vec<String>,
    /// RPM macros by name without `%`, at most 100, each value one line of at most 1,024 characters
    /// (default: none).
    #[serde(default)]
    pub macros: BTreeMap<String, String>,
    /// Put the repo's own published packages in the buildroot; `None`: yes.
    #[serde(default)]
    pub include_own_repo: Option<bool>,
    /// Accept builds; `None`: yes.
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
    /// New extra repositories (at most 100), replacing all of them; `None` keeps them.
    #[serde(default)]
    pub extra_repos: Option<Vec<RepoSource>>,
    /// New packages to add to the buildroot (at most 100), replacing the list; `None` keeps it.
    #[serde(default)]
    pub buildroot_add: Option<Vec<String>>,
    /// New packages to keep out of the buildroot (at most 100), replacing the list; `None` keeps
    /// it.
    #[serde(default)]
    pub buildroot_remove: Option<Vec<String>>,
    /// New RPM macros (at most 100), replacing all of them; `None` keeps them.
    #[serde(default)]
    pub macros: Option<BTreeMap<String, String>>,
    /// Whether the repo's own published packages are in the buildroot; `None` keeps the setting.
    #[serde(default)]
    pub include_own_repo: Option<bool>,
    /// Whether it accepts builds; `None` keeps the setting.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Skip `%check` in every build of this config (default: no).
    #[serde(default)]
    pub nocheck: Option<bool>,
}

/// One entry of an audit log: who changed what, and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    /// The entry's id; a higher id is newer.
    pub id: i32,
    /// The username of who did it; `None` for the system or a deleted account.
    pub actor: Option<String>,
    /// What was done, such as `repo.update`, `member.put`, `mock_config.create` or `token.revoke`.
    pub action: String,
    /// What it was done to: an `OWNER/REPO`, a username, a mock config, chroot or agent name, or
    /// `KIND:ID` such as `token:12`.
    pub target: String,
    /// The particulars, a JSON object whose keys depend on `action` (`{}` when there are none).
    pub detail: serde_json::Value,
    /// When it was done.
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Login options the UI offers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoginOptions {
    /// Whether local accounts may sign in with a username and password (`auth.local_accounts`).
    pub local_enabled: bool,
    /// The OpenID Connect providers, in configuration order; empty when there are none.
    pub providers: Vec<LoginProvider>,
}

/// An OpenID Connect provider users may sign in with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoginProvider {
    /// The provider's id, as in `/auth/oidc/ID/start`.
    pub id: String,
    /// The label of its login button (its id when none is configured).
    pub display_name: String,
}

/// The answer of `GET /healthz` (the process answers) and `GET /readyz` (its database and object
/// storage answer).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Health {
    /// `ok`, or `unavailable` when a `/readyz` check fails (with status 503).
    pub status: String,
    /// `/readyz` only: `database` and `storage`, each `ok` or `unreachable`; absent from
    /// `/healthz`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, String>,
}
