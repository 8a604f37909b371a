//! Builds from sources that are not uploads (git repositories, URLs).

use serde::{Deserialize, Serialize};

/// Where a build's SRPM comes from when it is not uploaded: an agent fetches it and makes the
/// SRPM in a step of its own (the `srpm` subtask) before the builds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// A `.src.rpm` to download as it is, or a `.spec` whose `SourceN`/`PatchN` URLs are
    /// downloaded before the SRPM is made.
    Url {
        /// The `https://` URL (other schemes only where the site allows them).
        url: String,
    },
    /// A git repository.
    Git {
        /// The clone URL (`https://` unless the site allows other schemes).
        url: String,
        /// A branch, tag or commit; empty: the remote's default branch. The task records the
        /// commit it resolved to, and a resubmit builds that commit.
        #[serde(rename = "ref", default)]
        reference: String,
        /// The directory of the tree that holds the spec (empty: the top).
        #[serde(default)]
        subdir: String,
        /// The spec's path within `subdir`; empty: the only `*.spec` there.
        #[serde(default)]
        spec: String,
        /// How the SRPM is made.
        #[serde(default)]
        method: SrpmMethod,
    },
}

impl Source {
    /// The URL it is fetched from.
    pub fn url(&self) -> &str {
        match self {
            Source::Url { url } | Source::Git { url, .. } => url,
        }
    }

    /// A short name for lists and logs (`git URL@REF`, or the URL).
    pub fn display(&self) -> String {
        match self {
            Source::Url { url } => url.clone(),
            Source::Git { url, reference, .. } if reference.is_empty() => format!("git {url}"),
            Source::Git { url, reference, .. } => format!("git {url}@{reference}"),
        }
    }
}

/// How an SRPM is made from a git tree.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SrpmMethod {
    /// `rpmbuild -bs` on the spec, with the sources in the tree and those its URLs name.
    #[default]
    Rpmbuild,
    /// `make -f .copr/Makefile srpm` (Copr's `make_srpm`): user code with network access, so
    /// only on the mock backend or where the site allows it.
    MakeSrpm,
}

/// `POST /api/v1/repos/OWNER/REPO/builds` with a JSON body: a build from a source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceBuild {
    /// Where the SRPM comes from.
    pub source: Source,
    /// Mock config names to build in; empty: every enabled one.
    #[serde(default)]
    pub chroots: Vec<String>,
    /// Build, never publish.
    #[serde(default)]
    pub scratch: bool,
    /// Skip `%check`.
    #[serde(default)]
    pub nocheck: bool,
    /// Queue priority, -100 to 100 (rel-eng only for other than 0).
    #[serde(default)]
    pub priority: Option<i32>,
}

/// What a build was made from, as its task records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Origin {
    /// The source as submitted.
    pub source: Source,
    /// For git: the commit the ref resolved to (40 hex digits); `None` until the SRPM step has
    /// fetched it.
    #[serde(default)]
    pub commit: Option<String>,
    /// For a URL: the SHA-256 of what was downloaded; `None` until the SRPM step has run.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// `PUT /api/v1/repos/OWNER/REPO/packages/NAME`: a package's stored source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackagePut {
    /// Where its source lives.
    pub source: Source,
    /// Whether a forge push to the source rebuilds it (default off).
    #[serde(default)]
    pub auto_rebuild: bool,
}

/// A repo's package with its stored source, its builds and what of it is published.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Package {
    /// The package's name, unique in its repo.
    pub name: String,
    /// `OWNER/REPO`.
    pub repo: String,
    /// Where its source lives.
    pub source: Source,
    /// Whether a forge push to the source rebuilds it.
    pub auto_rebuild: bool,
    /// When it was first stored.
    #[serde(with = "crate::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// When its source or settings last changed.
    #[serde(with = "crate::rfc3339")]
    pub updated_at: time::OffsetDateTime,
    /// Its builds' ids (parent tasks), newest first, at most 20.
    pub builds: Vec<i32>,
    /// The newest published build of each of its binary packages in each chroot.
    pub published: Vec<crate::PackageVersion>,
}

/// `GET /api/v1/repos/OWNER/REPO/forge`: where forges send pushes, and whether the repo has
/// a secret to check them with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForgeHook {
    /// The URL to give the forge: `PUBLIC_URL/hooks/forge/OWNER/REPO`.
    pub url: String,
    /// When the current secret was set; `None`: no secret, every delivery is refused.
    #[serde(default, with = "crate::rfc3339::option")]
    pub secret_set_at: Option<time::OffsetDateTime>,
    /// The repo's git credentials (never their secrets).
    pub git_credentials: Vec<GitCredential>,
}

/// `POST /api/v1/repos/OWNER/REPO/forge/secret`: a new forge secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForgeSecret {
    /// The hook URL to give the forge.
    pub url: String,
    /// The secret: GitHub's, Gitea's and Forgejo's webhook "secret", GitLab's "secret token".
    pub secret: String,
}

/// One build a forge delivery started.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForgeBuild {
    /// The package rebuilt.
    pub package: String,
    /// Its build (parent task).
    pub task: i32,
}

/// A delivery the forge hook accepted, and what came of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForgeDelivery {
    /// The log row's id.
    pub id: i32,
    /// The forge's delivery id (`sha256:…` of the body when it sent none).
    pub delivery: String,
    /// `github`, `gitea`, `forgejo` or `gitlab`.
    pub forge: String,
    /// `push`, `tag`, `ping`, or the forge's name of an event Kiln does not act on.
    pub event: String,
    /// The pushed ref; empty for a ping.
    pub git_ref: String,
    /// The commit the ref points at after the push.
    pub commit: String,
    /// The clone URL the payload names.
    pub clone_url: String,
    /// The packages built, or why none.
    pub outcome: String,
    /// The builds it started.
    pub builds: Vec<ForgeBuild>,
    /// When it arrived.
    #[serde(with = "crate::rfc3339")]
    pub received_at: time::OffsetDateTime,
    /// Set when this answers a delivery id already received: nothing was built this time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// A repo's credential for private git repos on one host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GitCredential {
    /// The host it is sent to (`git.example.org`, `git.example.org:8443`).
    pub host: String,
    /// The user name sent with it.
    pub username: String,
    /// When it was stored.
    #[serde(with = "crate::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

/// `PUT /api/v1/repos/OWNER/REPO/git-credentials/HOST`: stores (or replaces) the credential
/// sent to HOST when an agent fetches a git source of this repo over HTTPS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GitCredentialPut {
    /// The user name (forges that take a token accept any, e.g. `oauth2` or `x-access-token`).
    pub username: String,
    /// The password or access token; stored sealed, never shown again.
    pub password: String,
}
