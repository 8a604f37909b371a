//! The `webhook_deliveries` table: the delivery log, one row per event queued for a webhook.

use sea_orm::entity::prelude::*;

/// One event for one webhook: `pending` (with its next attempt), `succeeded` or `failed`
/// (attempts used up); the last response code or error.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    /// The delivery's id, sent as `X-Kiln-Delivery`.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The webhook (`webhooks.id`).
    pub webhook_id: i32,
    /// The event to deliver (`events.id`).
    pub event_id: i32,
    /// `pending`, `succeeded` or `failed`.
    pub state: String,
    /// Attempts made so far, at most 30.
    pub attempts: i32,
    /// When the next attempt is due; meaningful only while `pending`.
    pub next_attempt_at: TimeDateTimeWithTimeZone,
    /// The receiver's HTTP status at the last attempt; NULL when none answered.
    pub response_code: Option<i32>,
    /// Why the last attempt failed (no connection, timeout, a non-2xx status); NULL otherwise.
    pub error: Option<String>,
    /// When the event was queued for this webhook.
    pub created_at: TimeDateTimeWithTimeZone,
    /// When the receiver accepted it (a 2xx answer); NULL until then.
    pub delivered_at: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
