//! Leases: agents renew the subtasks they run with each heartbeat; a lost agent's subtasks go
//! back to the queue, or fail as an infrastructure error after `builds.max_attempts`.

use kiln_proto::TaskState;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entities::{agents, tasks};
use crate::error::CoreResult;
use crate::Kiln;

use super::*;

/// Renews the leases of what the agent says it runs; returns what it must stop.
pub async fn renew(kiln: &Kiln, agent: &agents::Model, running: &[i32]) -> CoreResult<Vec<i32>> {
    let lease = crate::now() + time::Duration::seconds(kiln.config.builds.lease_seconds);
    tasks::Entity::update_many()
        .col_expr(tasks::Column::LeaseExpiresAt, Expr::value(Some(lease)))
        .filter(tasks::Column::AgentId.eq(agent.id))
        .filter(tasks::Column::State.eq(TaskState::Running.as_str()))
        .filter(tasks::Column::Id.is_in(running.to_vec()))
        .exec(&kiln.db)
        .await?;
    let held: Vec<tasks::Model> = tasks::Entity::find()
        .filter(tasks::Column::Id.is_in(running.to_vec()))
        .all(&kiln.db)
        .await?;
    Ok(running
        .iter()
        .copied()
        .filter(|id| {
            held.iter().find(|t| t.id == *id).is_none_or(|t| {
                t.agent_id != Some(agent.id)
                    || state_of(t) != TaskState::Running
                    || t.cancel_requested
            })
        })
        .collect())
}

/// Back to the queue, unless it has had its attempts: then it fails as an infrastructure
/// error (distinct from a build failure).
pub(super) async fn requeue_or_fail(
    db: &impl ConnectionTrait,
    kiln: &Kiln,
    t: &tasks::Model,
    why: String,
) -> CoreResult<()> {
    if t.attempt >= kiln.config.builds.max_attempts {
        transition(
            db,
            t,
            TaskState::Running,
            TaskState::Failed,
            Some(format!(
                "infrastructure error after {} attempts: {why}",
                t.attempt
            )),
        )
        .await?;
    } else {
        transition(
            db,
            t,
            TaskState::Running,
            TaskState::Pending,
            Some(format!("attempt {} lost: {why}", t.attempt)),
        )
        .await?;
    }
    Ok(())
}

/// Requeues subtasks whose agent stopped renewing their lease; returns how many.
pub async fn expire_leases(kiln: &Kiln) -> CoreResult<usize> {
    let now = crate::now();
    let expired = tasks::Entity::find()
        .filter(tasks::Column::State.eq(TaskState::Running.as_str()))
        .filter(tasks::Column::LeaseExpiresAt.lt(now))
        .all(&kiln.db)
        .await?;
    for t in &expired {
        let txn = kiln.begin().await?;
        requeue_or_fail(&txn, kiln, t, "its agent stopped answering".into()).await?;
        txn.commit().await?;
        tracing::warn!(task = t.id, attempt = t.attempt, "lease expired");
        kiln.events.changed(t.id);
    }
    if !expired.is_empty() {
        kiln.events.work_available();
    }
    Ok(expired.len())
}

/// Runs `expire_leases` every few seconds.
pub async fn lease_keeper(kiln: Kiln) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tick.tick().await;
        if let Err(e) = expire_leases(&kiln).await {
            tracing::warn!(error = %e, "lease expiry pass failed");
        }
    }
}
