//! The `task_logs` table: the live build log of each subtask, one row per chunk an agent sent.

use sea_orm::entity::prelude::*;

/// A chunk of a subtask's build log, in arrival order.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "task_logs")]
pub struct Model {
    /// The chunk's id; a log is read in id order, and followers resume after the last id seen.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The subtask whose log it is (`tasks.id`).
    pub task_id: i32,
    /// The text as the agent sent it (never empty).
    pub chunk: String,
    /// When it arrived.
    pub created_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
