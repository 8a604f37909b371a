//! The `event_cursors` table: one row per message bus (and the e-mail sender), marking how far
//! it has sent the outbox.

use sea_orm::entity::prelude::*;

/// A message bus's place in the outbox: every event up to `last_event_id` has been sent (and
/// acknowledged by the broker); `locked_until`: the server sending now.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "event_cursors")]
pub struct Model {
    /// The cursor's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The bus: `mqtt`, `amqp` or `mail`; unique.
    #[sea_orm(unique)]
    pub name: String,
    /// The last event sent (`events.id`); a new cursor starts at the newest event.
    pub last_event_id: i32,
    /// The server sending for this bus holds it until then; NULL or past: free.
    pub locked_until: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
