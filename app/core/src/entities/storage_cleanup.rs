use sea_orm::entity::prelude::*;

/// A storage prefix whose objects are to be deleted in the background.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "storage_cleanup")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub prefix: String,
    pub attempts: i32,
    pub created_at: TimeDateTimeWithTimeZone,
    /// Not before then (deleted builds' files stay for the publish grace period).
    pub not_before: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
