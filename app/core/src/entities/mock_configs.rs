use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "mock_configs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub repo_id: i32,
    pub name: String,
    pub base_chroot_id: i32,
    /// `Vec<kiln_proto::RepoSource>`.
    pub extra_repos: Json,
    /// `Vec<String>`.
    pub buildroot_add: Json,
    /// `Vec<String>`.
    pub buildroot_remove: Json,
    /// `BTreeMap<String, String>`.
    pub macros: Json,
    pub include_own_repo: bool,
    pub enabled: bool,
    /// Builds skip `%check` (`--nocheck`).
    pub nocheck: bool,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::base_chroots::Entity",
        from = "Column::BaseChrootId",
        to = "super::base_chroots::Column::Id"
    )]
    BaseChroot,
}

impl Related<super::base_chroots::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::BaseChroot.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
