//! The `events` table: the outbox that webhooks and message buses are sent from.

use sea_orm::entity::prelude::*;

/// The outbox: one row per event, written in the transaction of the change it reports.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    /// The event's id, added to the message as its `id` at delivery.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// `kiln.build.end`, … (see `services::events`).
    pub topic: String,
    /// The repo it concerns, whose webhooks get it; NULL for `kiln.webhook.test`.
    pub repo_id: Option<i32>,
    /// The message as delivered, without its `id` (added at delivery).
    pub body: Json,
    /// When it was written.
    pub created_at: TimeDateTimeWithTimeZone,
    /// The event is a private repo's: it goes to that repo's webhooks (and the submitter's
    /// e-mail), to the buses only when the site opts in (`repos.private_events_on_buses`).
    pub private: bool,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
