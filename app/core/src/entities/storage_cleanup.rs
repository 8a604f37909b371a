//! The `storage_cleanup` table: the queue of object-store deletions a background worker carries
//! out (and retries), one row per key prefix.

use sea_orm::entity::prelude::*;

/// A storage prefix whose objects are to be deleted in the background.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "storage_cleanup")]
pub struct Model {
    /// The job's id; jobs are taken in id order.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Objects whose keys start with it are deleted (`repos/ID/…`: a deleted repo, build or log).
    pub prefix: String,
    /// Failed deletion attempts so far (default 0); the row goes once one succeeds.
    pub attempts: i32,
    /// When it was queued.
    pub created_at: TimeDateTimeWithTimeZone,
    /// Not before then (deleted builds' files stay for the publish grace period).
    pub not_before: Option<TimeDateTimeWithTimeZone>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
