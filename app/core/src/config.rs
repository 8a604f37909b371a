//! Kiln's configuration: built-in defaults, then a TOML file, then `KILN_*` environment
//! variables; any secret may instead be read from a file (`…_file` in TOML, `KILN_…_FILE` in the
//! environment). `deploy/kiln.sample.toml` documents every option; keep the two in step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Kiln's whole configuration: the top level of the TOML file (see [`Config::load`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// A second address serving only `/metrics` (and `/healthz`, `/readyz`) for Prometheus,
    /// so that metrics need not be public; `/metrics` then leaves the main address. Unset:
    /// `/metrics` is on the main address.
    pub metrics_listen: Option<String>,
    /// The URL users and dnf reach Kiln at; used in `.repo` files, OIDC redirects and cookies
    /// (`Secure` when it is https). Default: `http://` + `listen`.
    pub public_url: Option<String>,
    /// Where the SQLite database and local objects live by default.
    pub data_dir: PathBuf,
    /// `sqlite://PATH?mode=rwc` or `postgres://…`. Default: SQLite in `data_dir`.
    pub database_url: Option<Secret>,
    /// A file whose content (trailing newlines trimmed) replaces `database_url`;
    /// `KILN_DATABASE_URL_FILE` does the same from the environment.
    pub database_url_file: Option<PathBuf>,
    /// Largest pool of database connections.
    pub database_max_connections: u32,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// Object storage (`[storage]`).
    pub storage: StorageConfig,
    /// Sign-in: local accounts, sessions and OpenID Connect providers (`[auth]`).
    pub auth: AuthConfig,
    /// Who may create repos, and how many (`[repos]`).
    pub repos: RepoPolicyConfig,
    /// Upload limits, leases, attempts, timeouts and quotas of builds (`[builds]`).
    pub builds: BuildsConfig,
    /// Repo signing keys and the server key that locks them (`[signing]`).
    pub signing: SigningConfig,
    /// Publishing repo metadata and the retention passes (`[publish]`).
    pub publish: PublishConfig,
    /// Message buses, build e-mails, webhook address checks and event retention (`[events]`).
    pub events: EventsConfig,
    /// The implicit `local` builder pool of `kiln serve`: one `kiln-agent` child process,
    /// kept running and restarted under its own name if it dies. `auto`: when no
    /// `[[builders.pools]]` is configured, rpmbuild or mock is installed and `kiln-agent` sits
    /// next to `kiln`; `on`: besides any configured pools; `off`: never.
    pub local_agent: LocalAgent,
    /// Builder pools Kiln provisions itself (`[builders]`).
    pub builders: BuildersConfig,
    /// What builds from git and URLs may reach and fetch (`[sources]`).
    pub sources: SourcesConfig,
}

/// Builds from git and URLs: what their fetches may reach and read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    /// URL schemes sources, clones and `SourceN` downloads may use (`https`; a site may add
    /// `http` and `git`). `file` and git's `ext` are never allowed. In the environment, a
    /// comma-separated list.
    #[serde(deserialize_with = "comma_list")]
    pub allowed_schemes: Vec<String>,
    /// Fetches may reach loopback, private, link-local and other non-public addresses
    /// (checked after DNS and on every redirect). Off: a user must not be able to make Kiln
    /// fetch from the site's own network.
    pub allow_private_networks: bool,
    /// The most MiB one download (a URL source, a `SourceN` file) may have.
    pub max_download_mib: u64,
    /// The most MiB a git clone, submodules included, may take on disk.
    pub max_clone_mib: u64,
    /// Seconds each step of making an SRPM (a clone, a download, `rpmbuild -bs`) may take.
    pub step_timeout_seconds: u64,
    /// `make_srpm` may run a repo's `.copr/Makefile` (user code, with network access) on
    /// agents with the rpmbuild backend, inside bubblewrap. Off: only agents with mock run it,
    /// in the chroot.
    pub make_srpm_on_host: bool,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        SourcesConfig {
            allowed_schemes: vec!["https".into()],
            allow_private_networks: false,
            max_download_mib: 1024,
            max_clone_mib: 2048,
            step_timeout_seconds: 900,
            make_srpm_on_host: false,
        }
    }
}

/// A list given as a TOML array or as one comma-separated string (from the environment).
fn comma_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        One(String),
        Many(Vec<String>),
    }
    Ok(match List::deserialize(d)? {
        List::One(s) => s
            .split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect(),
        List::Many(v) => v,
    })
}

/// Where events go besides webhooks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// MQTT broker (`mqtt://[USER:PASSWORD@]HOST[:PORT]`): each event is published with QoS 1
    /// on `kiln/build/end`-style topics (the event's dotted topic with '/').
    pub mqtt_url: Option<Secret>,
    /// AMQP broker (`amqp://USER:PASSWORD@HOST[:PORT]/VHOST`, RabbitMQ): each event is
    /// published, with publisher confirms, to `amqp_exchange` with its topic as the routing
    /// key (`kiln.build.end`), as fedora-messaging does.
    pub amqp_url: Option<Secret>,
    /// The topic exchange events go to.
    pub amqp_exchange: String,
    /// SMTP server for build e-mails (`smtp://[USER:PASSWORD@]HOST[:PORT]`, plain; users opt
    /// in with `PATCH /api/v1/me {"notify_builds": true}`).
    pub smtp_url: Option<Secret>,
    /// The From address of those e-mails.
    pub mail_from: String,
    /// Webhooks may reach loopback, private, link-local and other non-public addresses
    /// (checked when a webhook is created and, after DNS, at every delivery). Off: a repo
    /// admin must not be able to make the server call into its own network.
    pub webhooks_to_private_addresses: bool,
    /// Days events and the webhook delivery log are kept (0: for ever). Events a bus or a
    /// webhook has still to send stay until sent.
    pub keep_days: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            mqtt_url: None,
            amqp_url: None,
            amqp_exchange: "amq.topic".into(),
            smtp_url: None,
            mail_from: "Kiln <kiln@localhost>".into(),
            webhooks_to_private_addresses: false,
            keep_days: 30,
        }
    }
}

/// Builders Kiln provisions itself, in pools scaled by the queue (`[[builders.pools]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuildersConfig {
    /// Seconds between two looks at the queue (a submission also wakes the provisioner).
    pub interval_seconds: f64,
    /// Seconds a new builder has to register before it counts as failed and is replaced.
    pub register_timeout_seconds: u64,
    /// Longest wait after a provider failure; waits double from 1 s up to this.
    pub max_backoff_seconds: u64,
    /// The pools, one `[[builders.pools]]` table each (TOML only; default none).
    pub pools: Vec<PoolConfig>,
}

impl Default for BuildersConfig {
    fn default() -> Self {
        BuildersConfig {
            interval_seconds: 5.0,
            register_timeout_seconds: 300,
            max_backoff_seconds: 300,
            pools: Vec::new(),
        }
    }
}

/// How a pool gets its builders (`provider`): `local`, `command` or `kubernetes`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// `kiln serve` starts `kiln-agent` processes on its own machine.
    Local,
    /// Site-admin scripts allocate and release builder machines.
    Command,
    /// Builder Pods through the Kubernetes API.
    Kubernetes,
}

/// One pool of builders.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Names the pool's builders (`NAME-ID`) and its status.
    pub name: String,
    /// Who starts and stops the pool's builders (required).
    pub provider: ProviderKind,
    /// Architectures its builders build; a builder is allocated for the one with work.
    pub arches: Vec<String>,
    /// Builders kept waiting for work even when the queue is empty.
    #[serde(default)]
    pub min_idle: u32,
    /// Most builders at once.
    #[serde(default = "default_pool_max")]
    pub max: u32,
    /// Builds at once per builder (the agent's `--capacity`).
    #[serde(default = "default_pool_capacity")]
    pub capacity: u32,
    /// Seconds a builder may wait without work before it is released.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// Seconds after which a builder takes no new work and is released once idle.
    #[serde(default)]
    pub max_lifetime_seconds: Option<u64>,
    /// The URL the pool's agents reach Kiln at (default: `public_url`), for builders on an
    /// inside network while users come through a proxy.
    #[serde(default)]
    pub server_url: Option<String>,
    /// `command`: the program and arguments that allocate a builder. It gets KILN_POOL,
    /// KILN_ARCH, KILN_BUILDER_NAME, KILN_CAPACITY, KILN_SERVER and the one-time
    /// KILN_REGISTRATION_TOKEN in its environment and prints the builder's id.
    #[serde(default)]
    pub allocate: Vec<String>,
    /// `command`: releases a builder; gets KILN_BUILDER_ID (what allocate printed),
    /// KILN_BUILDER_NAME and KILN_POOL.
    #[serde(default)]
    pub release: Vec<String>,
    /// `local`: the agents' backend (`mock` or `rpmbuild`; default: mock when installed).
    #[serde(default)]
    pub backend: Option<String>,
    /// `kubernetes`: the agent image (its entrypoint is kiln-agent, as
    /// `deploy/container/Containerfile.agent` builds it).
    #[serde(default)]
    pub image: Option<String>,
    /// `kubernetes`: the namespace of the builder Pods (default: the client's, in-cluster the
    /// server's own).
    #[serde(default)]
    pub namespace: Option<String>,
    /// `kubernetes`: the API server to use without credentials (for example `kubectl proxy`);
    /// default: in-cluster configuration, else the kubeconfig.
    #[serde(default)]
    pub api_url: Option<String>,
    /// `kubernetes`: the builder container's CPU and memory requests (`"2"`, `"4Gi"`).
    #[serde(default)]
    pub cpu: Option<String>,
    /// `kubernetes`: the builder container's memory request (`"4Gi"`); unset: none.
    #[serde(default)]
    pub memory: Option<String>,
}

fn default_pool_max() -> u32 {
    4
}

fn default_pool_capacity() -> u32 {
    1
}

fn default_idle_timeout() -> u64 {
    600
}

/// Limits on submissions and builds, and agents' leases (`[builds]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuildsConfig {
    /// Largest SRPM accepted, in bytes; enforced while the upload streams.
    pub max_srpm_size: u64,
    /// Most SRPMs in one submission.
    pub max_srpms_per_submission: usize,
    /// Seconds an agent's claim on a subtask lasts without a heartbeat.
    pub lease_seconds: i64,
    /// Attempts before a subtask whose agents keep disappearing fails as an infrastructure
    /// error.
    pub max_attempts: i32,
    /// Seconds a build may run before the agent stops it.
    pub build_timeout_seconds: u64,
    /// Builds of one owner's repos running at once (0: no limit).
    pub max_running_per_owner: u32,
    /// Builds of one repo running at once (0: no limit).
    pub max_running_per_repo: u32,
}

impl Default for BuildsConfig {
    fn default() -> Self {
        BuildsConfig {
            max_srpm_size: 2 * 1024 * 1024 * 1024,
            max_srpms_per_submission: 100,
            lease_seconds: 60,
            max_attempts: 3,
            build_timeout_seconds: 4 * 3600,
            max_running_per_owner: 0,
            max_running_per_repo: 0,
        }
    }
}

/// Repo signing keys (`[signing]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigningConfig {
    /// The algorithm of new repo keys: `rsa4096` (every rpm since EL 7 verifies it) or
    /// `ed25519` (rpm 4.16 and later; fast to generate).
    pub key_type: SigningKeyType,
    /// The server key that locks each repo's secret key at rest (any long random string).
    /// Unset: read from `DATA_DIR/signing.key`, created on first start.
    pub server_key: Option<Secret>,
    /// A file whose content (trailing newlines trimmed) replaces `server_key`;
    /// `KILN_SIGNING_SERVER_KEY_FILE` does the same from the environment.
    pub server_key_file: Option<PathBuf>,
}

/// The algorithm of a new repo's OpenPGP key (`signing.key_type`, `KILN_SIGNING_KEY_TYPE`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SigningKeyType {
    /// `rsa4096` (default): a 4096-bit RSA key.
    Rsa4096,
    /// `ed25519`: an Ed25519 key.
    Ed25519,
}

impl Default for SigningConfig {
    fn default() -> Self {
        SigningConfig {
            key_type: SigningKeyType::Rsa4096,
            server_key: None,
            server_key_file: None,
        }
    }
}

/// Publishing repo metadata (`[publish]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishConfig {
    /// Seconds superseded metadata files stay after a new `repomd.xml` is published, so a
    /// client that is mid-download does not break.
    pub grace_seconds: i64,
    /// Seconds clients may cache `repomd.xml` (checksum-named files are cached for a year).
    pub repomd_max_age: u32,
    /// Seconds between passes of the per-repo retention policies.
    pub retention_interval_seconds: u64,
    /// MiB of memory for compressed metadata segments, so that a publish compresses only
    /// what changed (a chroot of 10,000 packages takes about 25 MiB).
    pub segment_cache_mb: usize,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            grace_seconds: 900,
            repomd_max_age: 60,
            retention_interval_seconds: 3600,
            segment_cache_mb: 256,
        }
    }
}

/// When `kiln serve` runs the implicit `local` builder pool (`local_agent`, `KILN_LOCAL_AGENT`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LocalAgent {
    /// `auto` (default): when no pool is configured and mock or rpmbuild is installed.
    Auto,
    /// `on`: also beside configured pools.
    On,
    /// `off`: never.
    Off,
}

/// How log lines are written (`log_format`, `KILN_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `text` (default): human-readable lines.
    Text,
    /// `json`: one JSON object per line.
    Json,
}

/// Where Kiln keeps its objects: a local directory or an S3 bucket (`[storage]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `fs` (default) or `s3`.
    pub backend: StorageBackend,
    /// Root directory of the `fs` backend. Default: `DATA_DIR/objects`.
    pub path: Option<PathBuf>,
    /// Settings of the `s3` backend (`[storage.s3]`).
    pub s3: S3Config,
}

/// Which object store Kiln uses (`storage.backend`, `KILN_STORAGE_BACKEND`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// `fs` (default): a local directory, `storage.path`.
    Fs,
    /// `s3`: a bucket of an S3-compatible server, `storage.s3`.
    S3,
}

/// The bucket of the `s3` storage backend (`[storage.s3]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL for S3-compatible servers (Garage, MinIO, Ceph); empty for AWS.
    pub endpoint: Option<String>,
    /// The region requests are signed for (default `us-east-1`; `KILN_S3_REGION`).
    pub region: String,
    /// The bucket objects are stored in (default `kiln`; `KILN_S3_BUCKET`).
    pub bucket: String,
    /// Key prefix inside the bucket, so one bucket can hold several installs.
    pub prefix: String,
    /// Path-style addressing (`endpoint/bucket/key`), which most self-hosted servers need.
    pub path_style: bool,
    /// Static access key id, used with `secret_access_key` (`KILN_S3_ACCESS_KEY_ID`); unset:
    /// the AWS SDK's own credential chain (environment, profile, instance role).
    pub access_key_id: Option<String>,
    /// Static secret access key, used with `access_key_id` (`KILN_S3_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<Secret>,
    /// A file whose content (trailing newlines trimmed) replaces `secret_access_key`;
    /// `KILN_S3_SECRET_ACCESS_KEY_FILE` does the same from the environment.
    pub secret_access_key_file: Option<PathBuf>,
    /// Objects larger than this are uploaded in parts (bytes, at least 5 MiB).
    pub multipart_part_size: usize,
}

/// How users sign in (`[auth]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Allow local accounts with passwords (argon2id). Turn off when OIDC is the only way in.
    pub local_accounts: bool,
    /// How long an idle browser session lasts, in hours.
    pub session_hours: i64,
    /// OpenID Connect providers offered on the login page.
    pub oidc: Vec<OidcProviderConfig>,
}

/// One OpenID Connect provider (an `[[auth.oidc]]` table; TOML only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// Short id used in URLs (`/auth/oidc/ID/start`) and to link identities.
    pub id: String,
    /// Shown on the login button.
    pub display_name: String,
    /// Issuer URL; discovery reads `ISSUER/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client id registered with the provider (required).
    pub client_id: String,
    /// The client secret; unset: none is sent.
    pub client_secret: Option<Secret>,
    /// A file whose content (trailing newlines trimmed) replaces `client_secret`.
    pub client_secret_file: Option<PathBuf>,
    /// Extra scopes besides `openid` (default: `profile`, `email`).
    pub scopes: Vec<String>,
    /// The claim the username is taken from on first login (collisions get a number appended).
    pub username_claim: String,
    /// The claim listing the user's groups (used by the repo creation policy).
    pub groups_claim: String,
    /// Members of this group become site admins on login.
    pub site_admin_group: Option<String>,
}

/// Who may create repos (`[repos]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepoPolicyConfig {
    /// Who may create repos: `everyone` (any signed-in user), `group` (users whose OIDC groups
    /// claim holds `creator_group`) or `site_admins`.
    pub creators: RepoCreators,
    /// The group whose members may create repos when `creators` is `group`, which then needs
    /// it (`KILN_REPOS_CREATOR_GROUP`).
    pub creator_group: Option<String>,
    /// Most repos one user may own (site admins are not limited). Unset: no limit.
    pub max_per_user: Option<u64>,
    /// New repos are private unless their creator asks for public (`KILN_REPOS_PRIVATE_BY_DEFAULT`).
    pub private_by_default: bool,
    /// Every repo is private: creating a public one, or making one public, is refused except
    /// to site admins (`KILN_REPOS_FORCE_PRIVATE`).
    pub force_private: bool,
    /// Events of private repos also go to the site's buses (MQTT, AMQP, NATS, Redis); by
    /// default they go only to the repo's own webhooks (`KILN_REPOS_PRIVATE_EVENTS_ON_BUSES`).
    pub private_events_on_buses: bool,
}

/// Who besides site admins may create repos (`repos.creators`, `KILN_REPOS_CREATORS`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RepoCreators {
    /// `everyone` (default): any signed-in user.
    Everyone,
    /// `group`: users whose groups claim holds `creator_group`.
    Group,
    /// `site_admins`: nobody else.
    SiteAdmins,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            metrics_listen: None,
            public_url: None,
            data_dir: PathBuf::from("./kiln-data"),
            database_url: None,
            database_url_file: None,
            database_max_connections: 16,
            log_format: LogFormat::Text,
            storage: StorageConfig::default(),
            auth: AuthConfig::default(),
            repos: RepoPolicyConfig::default(),
            builds: BuildsConfig::default(),
            signing: SigningConfig::default(),
            publish: PublishConfig::default(),
            local_agent: LocalAgent::Auto,
            builders: BuildersConfig::default(),
            events: EventsConfig::default(),
            sources: SourcesConfig::default(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: StorageBackend::Fs,
            path: None,
            s3: S3Config::default(),
        }
    }
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: "kiln".into(),
            prefix: String::new(),
            path_style: true,
            access_key_id: None,
            secret_access_key: None,
            secret_access_key_file: None,
            multipart_part_size: 16 * 1024 * 1024,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            local_accounts: true,
            session_hours: 24 * 7,
            oidc: Vec::new(),
        }
    }
}

impl Default for OidcProviderConfig {
    fn default() -> Self {
        OidcProviderConfig {
            id: String::new(),
            display_name: String::new(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            client_secret_file: None,
            scopes: vec!["profile".into(), "email".into()],
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            site_admin_group: None,
        }
    }
}

impl Default for RepoPolicyConfig {
    fn default() -> Self {
        RepoPolicyConfig {
            creators: RepoCreators::Everyone,
            creator_group: None,
            max_per_user: None,
            private_by_default: false,
            force_private: false,
            private_events_on_buses: false,
        }
    }
}

/// Environment variables and the TOML keys they set. Values are parsed as TOML when they can be
/// (`true`, `64`) and taken as strings otherwise.
const ENV_KEYS: &[(&str, &str)] = &[
    ("KILN_LISTEN", "listen"),
    ("KILN_METRICS_LISTEN", "metrics_listen"),
    ("KILN_EVENTS_MQTT_URL", "events.mqtt_url"),
    ("KILN_EVENTS_AMQP_URL", "events.amqp_url"),
    ("KILN_EVENTS_AMQP_EXCHANGE", "events.amqp_exchange"),
    ("KILN_EVENTS_SMTP_URL", "events.smtp_url"),
    ("KILN_EVENTS_MAIL_FROM", "events.mail_from"),
    (
        "KILN_EVENTS_WEBHOOKS_TO_PRIVATE_ADDRESSES",
        "events.webhooks_to_private_addresses",
    ),
    ("KILN_EVENTS_KEEP_DAYS", "events.keep_days"),
    ("KILN_SOURCES_ALLOWED_SCHEMES", "sources.allowed_schemes"),
    (
        "KILN_SOURCES_ALLOW_PRIVATE_NETWORKS",
        "sources.allow_private_networks",
    ),
    ("KILN_SOURCES_MAX_DOWNLOAD_MIB", "sources.max_download_mib"),
    ("KILN_SOURCES_MAX_CLONE_MIB", "sources.max_clone_mib"),
    (
        "KILN_SOURCES_STEP_TIMEOUT_SECONDS",
        "sources.step_timeout_seconds",
    ),
    (
        "KILN_SOURCES_MAKE_SRPM_ON_HOST",
        "sources.make_srpm_on_host",
    ),
    ("KILN_PUBLIC_URL", "public_url"),
    ("KILN_DATA_DIR", "data_dir"),
    ("KILN_DATABASE_URL", "database_url"),
    ("KILN_DATABASE_MAX_CONNECTIONS", "database_max_connections"),
    ("KILN_LOG_FORMAT", "log_format"),
    ("KILN_STORAGE_BACKEND", "storage.backend"),
    ("KILN_STORAGE_PATH", "storage.path"),
    ("KILN_S3_ENDPOINT", "storage.s3.endpoint"),
    ("KILN_S3_REGION", "storage.s3.region"),
    ("KILN_S3_BUCKET", "storage.s3.bucket"),
    ("KILN_S3_PREFIX", "storage.s3.prefix"),
    ("KILN_S3_PATH_STYLE", "storage.s3.path_style"),
    ("KILN_S3_ACCESS_KEY_ID", "storage.s3.access_key_id"),
    ("KILN_S3_SECRET_ACCESS_KEY", "storage.s3.secret_access_key"),
    (
        "KILN_S3_MULTIPART_PART_SIZE",
        "storage.s3.multipart_part_size",
    ),
    ("KILN_AUTH_LOCAL_ACCOUNTS", "auth.local_accounts"),
    ("KILN_AUTH_SESSION_HOURS", "auth.session_hours"),
    ("KILN_REPOS_CREATORS", "repos.creators"),
    ("KILN_REPOS_CREATOR_GROUP", "repos.creator_group"),
    ("KILN_REPOS_MAX_PER_USER", "repos.max_per_user"),
    ("KILN_REPOS_PRIVATE_BY_DEFAULT", "repos.private_by_default"),
    ("KILN_REPOS_FORCE_PRIVATE", "repos.force_private"),
    (
        "KILN_REPOS_PRIVATE_EVENTS_ON_BUSES",
        "repos.private_events_on_buses",
    ),
    ("KILN_LOCAL_AGENT", "local_agent"),
    ("KILN_BUILDS_MAX_SRPM_SIZE", "builds.max_srpm_size"),
    (
        "KILN_BUILDS_MAX_SRPMS_PER_SUBMISSION",
        "builds.max_srpms_per_submission",
    ),
    ("KILN_BUILDS_LEASE_SECONDS", "builds.lease_seconds"),
    ("KILN_BUILDS_MAX_ATTEMPTS", "builds.max_attempts"),
    (
        "KILN_BUILDS_BUILD_TIMEOUT_SECONDS",
        "builds.build_timeout_seconds",
    ),
    (
        "KILN_BUILDS_MAX_RUNNING_PER_OWNER",
        "builds.max_running_per_owner",
    ),
    (
        "KILN_BUILDS_MAX_RUNNING_PER_REPO",
        "builds.max_running_per_repo",
    ),
    ("KILN_SIGNING_KEY_TYPE", "signing.key_type"),
    ("KILN_SIGNING_SERVER_KEY", "signing.server_key"),
    ("KILN_PUBLISH_GRACE_SECONDS", "publish.grace_seconds"),
    ("KILN_PUBLISH_REPOMD_MAX_AGE", "publish.repomd_max_age"),
    (
        "KILN_PUBLISH_RETENTION_INTERVAL_SECONDS",
        "publish.retention_interval_seconds",
    ),
    ("KILN_PUBLISH_SEGMENT_CACHE_MB", "publish.segment_cache_mb"),
];

impl Config {
    /// Layers a TOML file (if any) and the given environment over the defaults, then reads
    /// secrets from their `_file` options. Tests pass an empty environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("reading config {}: {e}", path.display()))?;
                text.parse::<toml::Table>()
                    .map_err(|e| anyhow::anyhow!("parsing config {}: {e}", path.display()))?
            }
            None => toml::Table::new(),
        };
        let env: BTreeMap<String, String> = env.into_iter().collect();
        for (var, key) in ENV_KEYS {
            let value = if let Some(v) = env.get(*var) {
                Some(v.clone())
            } else if let Some(path) = env.get(&format!("{var}_FILE")) {
                Some(read_secret_file(Path::new(path))?)
            } else {
                None
            };
            if let Some(value) = value {
                set_path(&mut table, key, parse_env_value(&value));
            }
        }
        let mut config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.resolve_secret_files()?;
        config.validate()?;
        Ok(config)
    }

    fn resolve_secret_files(&mut self) -> anyhow::Result<()> {
        if let Some(path) = &self.database_url_file {
            self.database_url = Some(Secret::new(read_secret_file(path)?));
        }
        if let Some(path) = &self.signing.server_key_file {
            self.signing.server_key = Some(Secret::new(read_secret_file(path)?));
        }
        if let Some(path) = &self.storage.s3.secret_access_key_file {
            self.storage.s3.secret_access_key = Some(Secret::new(read_secret_file(path)?));
        }
        for p in &mut self.auth.oidc {
            if let Some(path) = &p.client_secret_file {
                p.client_secret = Some(Secret::new(read_secret_file(path)?));
            }
        }
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.repos.creators == RepoCreators::Group && self.repos.creator_group.is_none() {
            anyhow::bail!("repos.creators = \"group\" needs repos.creator_group");
        }
        if self.storage.s3.multipart_part_size < 5 * 1024 * 1024 {
            anyhow::bail!(
                "storage.s3.multipart_part_size must be at least 5 MiB (S3's minimum part size)"
            );
        }
        let mut ids = std::collections::BTreeSet::new();
        for p in &self.auth.oidc {
            if p.id.is_empty()
                || !p
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                anyhow::bail!(
                    "auth.oidc: provider id {:?} must be letters, digits, '-' or '_'",
                    p.id
                );
            }
            if !ids.insert(p.id.clone()) {
                anyhow::bail!("auth.oidc: provider id {:?} appears twice", p.id);
            }
            if p.issuer.is_empty() || p.client_id.is_empty() {
                anyhow::bail!("auth.oidc.{}: issuer and client_id are required", p.id);
            }
        }
        let mut pools = std::collections::BTreeSet::new();
        for p in &self.builders.pools {
            if p.name.is_empty()
                || p.name.len() > 40
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                anyhow::bail!(
                    "builders.pools: name {:?} must be 1 to 40 letters, digits, '-' or '_'",
                    p.name
                );
            }
            if !pools.insert(p.name.clone()) {
                anyhow::bail!("builders.pools: {:?} appears twice", p.name);
            }
            if p.arches.is_empty() || p.max == 0 || p.capacity == 0 || p.min_idle > p.max {
                anyhow::bail!(
                    "builders.pools.{}: needs arches, max and capacity of at least 1, min_idle <= max",
                    p.name
                );
            }
            if let Some(u) = &p.server_url {
                match url::Url::parse(u) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                    _ => anyhow::bail!(
                        "builders.pools.{}: server_url {u:?} is not an http(s) URL",
                        p.name
                    ),
                }
            }
            if p.provider == ProviderKind::Kubernetes && p.image.is_none() {
                anyhow::bail!(
                    "builders.pools.{}: the kubernetes provider needs image",
                    p.name
                );
            }
            if p.provider == ProviderKind::Command
                && (p.allocate.is_empty() || p.release.is_empty())
            {
                anyhow::bail!(
                    "builders.pools.{}: the command provider needs allocate and release",
                    p.name
                );
            }
        }
        url::Url::parse(&self.public_url())
            .map_err(|e| anyhow::anyhow!("public_url {:?}: {e}", self.public_url()))?;
        Ok(())
    }

    /// The public URL without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// The database URL: `database_url`, or SQLite at `DATA_DIR/kiln.db` when unset.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.expose().to_owned(),
            None => format!("sqlite://{}/kiln.db?mode=rwc", self.data_dir.display()),
        }
    }

    /// The root directory of the `fs` backend: `storage.path`, else `DATA_DIR/objects`.
    pub fn storage_path(&self) -> PathBuf {
        self.storage
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("objects"))
    }

    /// Whether cookies are marked `Secure`: the public URL is `https://`.
    pub fn secure_cookies(&self) -> bool {
        self.public_url().starts_with("https://")
    }
}

fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading secret file {}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

fn parse_env_value(value: &str) -> toml::Value {
    match value {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => match value.parse::<i64>() {
            Ok(n) => toml::Value::Integer(n),
            Err(_) => toml::Value::String(value.to_owned()),
        },
    }
}

fn set_path(table: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().unwrap_or(dotted);
    let mut cur = table;
    for p in parts {
        let entry = cur
            .entry(p.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        match entry {
            toml::Value::Table(t) => cur = t,
            _ => return,
        }
    }
    cur.insert(last.to_owned(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_run_everything_locally() {
        let c = Config::load(None, env(&[])).expect("defaults load");
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.public_url(), "http://127.0.0.1:8080");
        assert_eq!(c.database_url(), "sqlite://./kiln-data/kiln.db?mode=rwc");
        assert_eq!(c.storage.backend, StorageBackend::Fs);
        assert!(c.auth.local_accounts);
        assert!(!c.secure_cookies());
    }

    #[test]
    fn file_then_env_then_secret_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("kiln.toml");
        let secret = dir.path().join("s3secret");
        std::fs::write(&secret, "s3cr3t\n").expect("write");
        std::fs::write(
            &file,
            r#"
listen = "0.0.0.0:9000"
public_url = "https://kiln.example.org/"
[storage]
backend = "s3"
[storage.s3]
bucket = "from-file"
[[auth.oidc]]
id = "corp"
display_name = "Corp SSO"
issuer = "https://sso.example.org"
client_id = "kiln"
"#,
        )
        .expect("write");
        let c = Config::load(
            Some(&file),
            env(&[
                ("KILN_S3_BUCKET", "from-env"),
                ("KILN_AUTH_LOCAL_ACCOUNTS", "false"),
                (
                    "KILN_S3_SECRET_ACCESS_KEY_FILE",
                    secret.to_str().unwrap_or_default(),
                ),
                ("KILN_UNRELATED", "x"),
            ]),
        )
        .expect("load");
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.public_url(), "https://kiln.example.org");
        assert!(c.secure_cookies());
        assert_eq!(c.storage.backend, StorageBackend::S3);
        assert_eq!(c.storage.s3.bucket, "from-env");
        assert!(!c.auth.local_accounts);
        assert_eq!(
            c.storage.s3.secret_access_key.as_ref().map(|s| s.expose()),
            Some("s3cr3t")
        );
        assert_eq!(c.auth.oidc[0].username_claim, "preferred_username");
        assert!(
            !format!("{c:?}").contains("s3cr3t"),
            "secrets must not show in Debug"
        );
    }

    #[test]
    fn bad_config_is_refused_with_a_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("kiln.toml");
        std::fs::write(&file, "lisen = \"x\"\n").expect("write");
        let err = Config::load(Some(&file), env(&[])).expect_err("unknown key");
        assert!(err.to_string().contains("lisen"), "{err}");
        let err = Config::load(None, env(&[("KILN_REPOS_CREATORS", "group")])).expect_err("group");
        assert!(err.to_string().contains("creator_group"), "{err}");
    }
}

#[cfg(test)]
mod sample_tests {
    use super::*;

    /// The documented sample must load, with the defaults it claims, and mention every
    /// environment variable.
    #[test]
    fn sample_config_is_valid_and_complete() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/kiln.sample.toml");
        let sample = Config::load(Some(Path::new(path)), Vec::<(String, String)>::new())
            .expect("sample loads");
        let defaults = Config::load(None, Vec::<(String, String)>::new()).expect("defaults");
        assert_eq!(
            format!("{sample:?}"),
            format!("{defaults:?}"),
            "the sample's values are the defaults"
        );
        let text = std::fs::read_to_string(path).expect("read");
        for (var, _) in ENV_KEYS {
            assert!(
                text.contains(var),
                "{var} is not documented in the sample config"
            );
        }
    }
}
