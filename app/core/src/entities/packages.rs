//! The `packages` table: one row per signed RPM of a build, ready for a chroot's repo metadata.

use sea_orm::entity::prelude::*;

/// A signed binary or source RPM as repo metadata sees it, read once when the artifact was
/// imported: its `<package>` entries for primary, filelists and other are ready to concatenate.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "packages")]
pub struct Model {
    /// The package's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The artifact holding the signed file (`artifacts.id`); unique.
    pub artifact_id: i32,
    /// The repo it was built in (`repos.id`).
    pub repo_id: i32,
    /// The build (parent task) that made it (`tasks.id`).
    pub parent_id: i32,
    /// The base chroot (`fedora-44-x86_64`): the directory it is published in.
    pub chroot: String,
    /// The package name from the RPM header.
    pub name: String,
    /// The RPM's epoch; 0 when it has none.
    pub epoch: i32,
    /// The RPM's version.
    pub version: String,
    /// The RPM's release.
    pub release: String,
    /// The RPM's architecture (`src` for a source RPM).
    pub arch: String,
    /// Path below the chroot directory: `SUBTASK/FILE.rpm`, the subtask id zero-padded to 8
    /// digits.
    pub href: String,
    /// SHA-256 of the signed file.
    pub pkgid: String,
    /// Size of the signed file in bytes.
    pub size: i64,
    /// The key that signed it.
    pub key_fingerprint: String,
    /// In the chroot's metadata (its parent task published, not deleted).
    pub in_repo: bool,
    /// Its `<package>` entry for `primary.xml`.
    pub primary_xml: String,
    /// Its `<package>` entry for `filelists.xml`.
    pub filelists_xml: String,
    /// Its `<package>` entry for `other.xml`.
    pub other_xml: String,
    /// When it was imported.
    pub created_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
