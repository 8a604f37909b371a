use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub is_site_admin: bool,
    /// Groups from the identity provider at the last login (`Vec<String>`).
    pub groups: Json,
    pub disabled: bool,
    pub created_at: TimeDateTimeWithTimeZone,
    /// E-mail me when a build I submitted ends.
    pub notify_builds: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
