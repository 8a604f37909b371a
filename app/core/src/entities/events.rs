use sea_orm::entity::prelude::*;

/// The outbox: one row per event, written in the transaction of the change it reports.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// `kiln.build.end`, … (see `services::events`).
    pub topic: String,
    pub repo_id: Option<i32>,
    /// The message as delivered, without its `id` (added at delivery).
    pub body: Json,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
