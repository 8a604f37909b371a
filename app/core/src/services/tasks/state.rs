//! The task state machine: every change of a subtask is `transition`, a conditional UPDATE
//! that follows `crate::state`; a parent's state, times and events follow its subtasks'; cancel.

use kiln_proto::{Task, TaskState};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::entities::tasks;
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::state::{can_transition, parent_state};
use crate::Kiln;

use super::*;

/// Recomputes a parent's state, start and end from its subtasks.
pub(super) async fn update_parent(db: &impl ConnectionTrait, parent_id: i32) -> CoreResult<()> {
    // The parent row is locked first (PostgreSQL): two subtasks ending at once in concurrent
    // transactions would each read the other as still running and leave the parent running
    // for ever. The second waits, then reads what the first committed. (SQLite's write
    // transactions take turns already.)
    let mut find = tasks::Entity::find_by_id(parent_id);
    if crate::db::supports_row_locks(db) {
        find = find.lock_exclusive();
    }
    let was_final = find
        .one(db)
        .await?
        .and_then(|p| TaskState::parse(&p.state))
        .is_some_and(|s| s.is_final());
    // Aggregates, not rows: a parent may have hundreds of subtasks.
    let present: Vec<String> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::State)
        .filter(tasks::Column::ParentId.eq(parent_id))
        .group_by(tasks::Column::State)
        .into_tuple()
        .all(db)
        .await?;
    let states: Vec<TaskState> = present.iter().filter_map(|s| TaskState::parse(s)).collect();
    let state = parent_state(&states);
    let (started, last_finished): (Option<time::OffsetDateTime>, Option<time::OffsetDateTime>) =
        tasks::Entity::find()
            .select_only()
            .column_as(tasks::Column::StartedAt.min(), "started")
            .column_as(tasks::Column::FinishedAt.max(), "finished")
            .filter(tasks::Column::ParentId.eq(parent_id))
            .into_tuple()
            .one(db)
            .await?
            .unwrap_or((None, None));
    let finished = if state.is_final() {
        last_finished.or(Some(crate::now()))
    } else {
        None
    };
    let updated = tasks::Entity::update_many()
        .col_expr(tasks::Column::State, Expr::value(state.as_str()))
        .col_expr(tasks::Column::StartedAt, Expr::value(started))
        .col_expr(tasks::Column::FinishedAt, Expr::value(finished))
        .filter(tasks::Column::Id.eq(parent_id))
        .exec_with_returning(db)
        .await?;
    if let Some(parent) = updated.first() {
        super::super::publish::queue_for_parent(db, parent).await?;
        if state.is_final() && !was_final {
            super::super::events::emit_build(db, parent, "kiln.build.end").await?;
        }
    }
    Ok(())
}

/// Moves a subtask from `from` to `to` if it is still in `from`; false if someone else moved
/// it first.
pub(super) async fn transition(
    db: &impl ConnectionTrait,
    task: &tasks::Model,
    from: TaskState,
    to: TaskState,
    reason: Option<String>,
) -> CoreResult<bool> {
    if !can_transition(from, to) {
        return Err(CoreError::Conflict(format!(
            "a {} task cannot become {}",
            from.as_str(),
            to.as_str()
        )));
    }
    let mut q = tasks::Entity::update_many()
        .col_expr(tasks::Column::State, Expr::value(to.as_str()))
        .filter(tasks::Column::Id.eq(task.id))
        .filter(tasks::Column::State.eq(from.as_str()));
    if to.is_final() {
        q = q
            .col_expr(tasks::Column::FinishedAt, Expr::value(Some(crate::now())))
            .col_expr(
                tasks::Column::LeaseExpiresAt,
                Expr::value(Option::<time::OffsetDateTime>::None),
            );
    }
    if to == TaskState::Pending {
        q = q
            .col_expr(tasks::Column::AgentId, Expr::value(Option::<i32>::None))
            .col_expr(
                tasks::Column::LeaseExpiresAt,
                Expr::value(Option::<time::OffsetDateTime>::None),
            );
    }
    if let Some(r) = reason {
        q = q.col_expr(tasks::Column::Reason, Expr::value(Some(r)));
    }
    let done = q.exec(db).await?.rows_affected == 1;
    if done {
        if let Some(p) = task.parent_id {
            update_parent(db, p).await?;
        }
    }
    Ok(done)
}

/// Cancels a parent task (all its unfinished subtasks) or one subtask. Pending work is
/// canceled at once; running builds are stopped by their agents at the next heartbeat.
pub async fn cancel(kiln: &Kiln, principal: &Principal, id: i32) -> CoreResult<Task> {
    let (t, _) = authorize_task(kiln, principal, id, Action::CancelBuild).await?;
    let targets = match t.parent_id {
        Some(_) => vec![t.clone()],
        None => {
            tasks::Entity::find()
                .filter(tasks::Column::ParentId.eq(t.id))
                .all(&kiln.db)
                .await?
        }
    };
    let txn = kiln.begin().await?;
    for s in &targets {
        match state_of(s) {
            TaskState::Pending => {
                transition(
                    &txn,
                    s,
                    TaskState::Pending,
                    TaskState::Canceled,
                    Some("canceled before it started".into()),
                )
                .await?;
            }
            TaskState::Running => {
                tasks::Entity::update_many()
                    .col_expr(tasks::Column::CancelRequested, Expr::value(true))
                    .filter(tasks::Column::Id.eq(s.id))
                    .exec(&txn)
                    .await?;
            }
            _ => {}
        }
    }
    txn.commit().await?;
    for s in &targets {
        kiln.events.changed(s.id);
    }
    get_in(kiln, id).await
}
