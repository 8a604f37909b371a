use sea_orm::entity::prelude::*;

/// A signed binary or source RPM as repo metadata sees it, read once when the artifact was
/// imported: its `<package>` entries for primary, filelists and other are ready to concatenate.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "packages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub artifact_id: i32,
    pub repo_id: i32,
    pub parent_id: i32,
    /// The base chroot (`fedora-44-x86_64`): the directory it is published in.
    pub chroot: String,
    pub name: String,
    pub epoch: i32,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// Path below the chroot directory: `SUBTASK-NAME/FILE.rpm`.
    pub href: String,
    /// SHA-256 of the signed file.
    pub pkgid: String,
    pub size: i64,
    /// The key that signed it.
    pub key_fingerprint: String,
    /// In the chroot's metadata (its parent task published, not deleted).
    pub in_repo: bool,
    pub primary_xml: String,
    pub filelists_xml: String,
    pub other_xml: String,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
