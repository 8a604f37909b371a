//! Background removal of objects of deleted repos. The rows are gone already (so nothing is
//! visible); this worker empties their storage prefixes and retries failures.

use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::entities::storage_cleanup;
use crate::error::CoreResult;
use crate::Kiln;

/// Processes the queue once; returns how many prefixes were emptied.
pub async fn run_once(kiln: &Kiln) -> CoreResult<usize> {
    let now = crate::now();
    let jobs = storage_cleanup::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(storage_cleanup::Column::NotBefore.is_null())
                .add(storage_cleanup::Column::NotBefore.lte(now)),
        )
        .order_by_asc(storage_cleanup::Column::Id)
        .limit(100)
        .all(&kiln.db)
        .await?;
    let mut done = 0;
    for job in jobs {
        match kiln.storage.delete_prefix(&job.prefix).await {
            Ok(n) => {
                storage_cleanup::Entity::delete_by_id(job.id)
                    .exec(&kiln.db)
                    .await?;
                tracing::info!(prefix = %job.prefix, objects = n, "removed objects of a deleted repo");
                done += 1;
            }
            Err(e) => {
                tracing::warn!(prefix = %job.prefix, attempts = job.attempts + 1, error = %e, "object cleanup failed; will retry");
                let attempts = job.attempts + 1;
                let mut active: storage_cleanup::ActiveModel = job.into();
                active.attempts = Set(attempts);
                active.update(&kiln.db).await?;
            }
        }
    }
    Ok(done)
}

/// Queues the objects under `prefix` for removal at `when` (in the caller's transaction).
pub async fn schedule_at(
    db: &impl ConnectionTrait,
    prefix: &str,
    when: time::OffsetDateTime,
) -> CoreResult<()> {
    storage_cleanup::ActiveModel {
        prefix: Set(prefix.to_owned()),
        attempts: Set(0),
        created_at: Set(crate::now()),
        not_before: Set(Some(when)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Runs the queue every `every` until the process ends.
pub async fn run_forever(kiln: Kiln, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = run_once(&kiln).await {
            tracing::warn!(error = %e, "object cleanup pass failed");
        }
    }
}
