use sea_orm::entity::prelude::*;

/// An uploaded SRPM, stored once per content (SHA-256), with what its header says.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sources")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub sha256: String,
    pub storage_key: String,
    pub size: i64,
    pub name: String,
    pub epoch: Option<i32>,
    pub version: String,
    pub release: String,
    /// `Vec<String>` from ExclusiveArch.
    pub exclusive_arch: Json,
    /// `Vec<String>` from ExcludeArch.
    pub exclude_arch: Json,
    /// `Vec<String>` from BuildArch.
    pub build_archs: Json,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
