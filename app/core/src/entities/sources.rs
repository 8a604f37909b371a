//! The `sources` table: one row per distinct uploaded SRPM, shared by every build of it.

use sea_orm::entity::prelude::*;

/// An uploaded SRPM, stored once per content (SHA-256), with what its header says.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sources")]
pub struct Model {
    /// The source's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Lowercase hex SHA-256 of the file; unique.
    #[sea_orm(unique)]
    pub sha256: String,
    /// Object key of the file: `sources/XX/SHA256.src.rpm`, `XX` the hash's first two digits.
    pub storage_key: String,
    /// Size of the file in bytes.
    pub size: i64,
    /// The package name from the header.
    pub name: String,
    /// The header's epoch; NULL when it has none.
    pub epoch: Option<i32>,
    /// The header's version.
    pub version: String,
    /// The header's release.
    pub release: String,
    /// `Vec<String>` from ExclusiveArch.
    pub exclusive_arch: Json,
    /// `Vec<String>` from ExcludeArch.
    pub exclude_arch: Json,
    /// `Vec<String>` from BuildArch.
    pub build_archs: Json,
    /// When it was first stored.
    pub created_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
