//! The browsable index of published repos (`/repos/OWNER/REPO/…` as JSON).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::rfc3339;

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
    /// When its current metadata was written (chroots never published are not listed).
    #[serde(with = "rfc3339::option")]
    pub published_at: Option<OffsetDateTime>,
}

/// `GET /repos/OWNER/REPO/CHROOT/` with `Accept: application/json`: the packages its metadata
/// lists (one per NEVRA: the newest build's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChrootIndex {
    /// `OWNER/REPO`.
    pub repo: String,
    /// The directory name, such as `fedora-44-x86_64`.
    pub chroot: String,
    /// The metadata's revision (`<revision>` in `repomd.xml`): the Unix time of its run, higher
    /// with each run.
    pub revision: i64,
    /// When its current metadata was written.
    #[serde(with = "rfc3339::option")]
    pub published_at: Option<OffsetDateTime>,
    /// The files under `repodata/` (`repomd.xml`, its signature, the data files).
    pub repodata: Vec<String>,
    /// The packages, by name, then arch, then path.
    pub packages: Vec<PublishedPackage>,
}

/// A package file in a published chroot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublishedPackage {
    /// Its path below the chroot directory (`00000012/hello-1.0-1.fc44.x86_64.rpm`).
    pub href: String,
    /// The package's name.
    pub name: String,
    /// Its epoch; 0 when it has none.
    pub epoch: i32,
    /// Its version.
    pub version: String,
    /// Its release, such as `1.fc44`.
    pub release: String,
    /// Its architecture, such as `x86_64` or `noarch`; `src` for a source package.
    pub arch: String,
    /// The signed file's size in bytes.
    pub size: i64,
    /// SHA-256 of the signed file.
    pub sha256: String,
    /// The parent task that built it.
    pub build: i32,
}
