//! Events: one versioned message per build or repo change, kept in an outbox. Every event is a
//! row of the outbox (`events`), written in the
//! transaction of the change it reports, together with one pending delivery per active webhook
//! of its repo; a background worker delivers them. So a receiver that is down loses nothing:
//! its deliveries wait (1, 2, 4 … s, at most an hour apart) and arrive, in order, once it is
//! back.
//!
//! One message per build (parent task), never per chroot; the subtasks are inside. Every
//! message: `{"id", "topic", "version": 1, "time", "repo": "OWNER/REPO", "data": {…}}`.
//! Topics (fedora-messaging style):
//! - `kiln.build.submit`, `kiln.build.start`, `kiln.build.end`, `kiln.build.publish`: `data` is
//!   the build: `{"id", "state", "submitter", "scratch", "subtasks": [{"id", "mock_config",
//!   "arch", "package", "state", "reason", "failure_stage"}]}`; a build from a source also has
//!   `"source": {"source", "commit", "sha256"}` and its SRPM step `"kind": "srpm"`;
//! - `kiln.repo.create`, `kiln.repo.update`, `kiln.repo.delete`, `kiln.member.update`,
//!   `kiln.member.remove`: `data` is `{"actor", "target", "detail"}` as in the audit log;
//! - `kiln.webhook.test`: sent by "send test".

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::entities::{event_cursors, events, tasks, webhook_deliveries, webhooks};
use crate::error::CoreResult;
use crate::Kiln;

/// The message schema's version.
pub const VERSION: u32 = 1;

/// Writes an event and its webhook deliveries (inside the caller's transaction).
pub async fn emit(
    db: &impl ConnectionTrait,
    repo_id: Option<i32>,
    topic: &str,
    data: serde_json::Value,
) -> CoreResult<()> {
    let now = crate::now();
    let repo = match repo_id {
        Some(id) => super::access::full_names(db, [id]).await?.remove(&id),
        None => None,
    };
    let private = match repo_id {
        Some(id) => crate::entities::repos::Entity::find_by_id(id)
            .one(db)
            .await?
            .is_some_and(|r| r.visibility == kiln_proto::Visibility::Private.as_str()),
        None => false,
    };
    let body = serde_json::json!({
        "topic": topic,
        "version": VERSION,
        "time": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "repo": repo,
        "data": data,
    });
    crate::db::events_turn(db).await?;
    let event = events::ActiveModel {
        topic: Set(topic.to_owned()),
        repo_id: Set(repo_id),
        body: Set(body),
        created_at: Set(now),
        private: Set(private),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let Some(repo_id) = repo_id else {
        return Ok(());
    };
    let hooks: Vec<i32> = webhooks::Entity::find()
        .select_only()
        .column(webhooks::Column::Id)
        .filter(webhooks::Column::RepoId.eq(repo_id))
        .filter(webhooks::Column::Active.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    for hook in hooks {
        queue_delivery(db, hook, event.id).await?;
    }
    Ok(())
}

pub(super) async fn queue_delivery(
    db: &impl ConnectionTrait,
    webhook: i32,
    event: i32,
) -> CoreResult<()> {
    let now = crate::now();
    webhook_deliveries::ActiveModel {
        webhook_id: Set(webhook),
        event_id: Set(event),
        state: Set("pending".into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The event an audit entry stands for, if any.
pub fn topic_of_audit(action: &str) -> Option<&'static str> {
    Some(match action {
        "repo.create" => "kiln.repo.create",
        "repo.update" | "repo.builds_disabled" | "repo.builds_enabled" => "kiln.repo.update",
        "repo.delete" => "kiln.repo.delete",
        "member.put" => "kiln.member.update",
        "member.remove" => "kiln.member.remove",
        _ => return None,
    })
}

/// A build (parent task) as events carry it.
pub async fn build_data(
    db: &impl ConnectionTrait,
    parent_id: i32,
) -> CoreResult<serde_json::Value> {
    let Some(parent) = tasks::Entity::find_by_id(parent_id).one(db).await? else {
        return Ok(serde_json::Value::Null);
    };
    let subs = tasks::Entity::find()
        .filter(tasks::Column::ParentId.eq(parent_id))
        .order_by_asc(tasks::Column::Id)
        .all(db)
        .await?;
    let submitter: Option<String> = crate::entities::users::Entity::find_by_id(parent.submitter_id)
        .one(db)
        .await?
        .map(|u| u.username);
    let mut data = serde_json::json!({
        "id": parent.id,
        "state": parent.state,
        "submitter": submitter,
        "scratch": parent.scratch,
        "subtasks": subs.iter().map(|s| {
            let mut sub = serde_json::json!({
                "id": s.id,
                "mock_config": s.mock_config_name,
                "arch": s.arch,
                "package": s.file_name,
                "state": s.state,
                "reason": s.reason,
                "failure_stage": s.failure_stage,
            });
            if s.kind != "build" {
                sub["kind"] = s.kind.clone().into();
            }
            sub
        }).collect::<Vec<_>>(),
    });
    // A build from git or a URL says what it was made from (and, once fetched, the commit or
    // the download's SHA-256).
    if let Some(origin) = &parent.origin {
        data["source"] = origin.clone();
    }
    Ok(data)
}

/// Emits a build event for a parent task.
pub async fn emit_build(
    db: &impl ConnectionTrait,
    parent: &tasks::Model,
    topic: &str,
) -> CoreResult<()> {
    let data = build_data(db, parent.id).await?;
    emit(db, Some(parent.repo_id), topic, data).await
}

/// Removes events older than `events.keep_days` that nothing waits for: every bus served
/// within that time has passed them and none of their webhook deliveries is pending. Their
/// deliveries (the delivery log) go with them. Returns how many events went.
pub async fn prune(kiln: &Kiln) -> CoreResult<u64> {
    let days = kiln.config.events.keep_days;
    if days == 0 {
        return Ok(0);
    }
    let cutoff = crate::now() - time::Duration::days(days.into());
    let newest_old: Option<i32> = events::Entity::find()
        .select_only()
        .column_as(events::Column::Id.max(), "m")
        .filter(events::Column::CreatedAt.lt(cutoff))
        .into_tuple()
        .one(&kiln.db)
        .await?
        .flatten();
    let Some(mut bound) = newest_old else {
        return Ok(0);
    };
    // A bus not served for that long is gone; one still served keeps what it has not sent.
    let behind: Option<i32> = event_cursors::Entity::find()
        .select_only()
        .column_as(event_cursors::Column::LastEventId.min(), "m")
        .filter(event_cursors::Column::LockedUntil.gt(cutoff))
        .into_tuple()
        .one(&kiln.db)
        .await?
        .flatten();
    let pending: Option<i32> = webhook_deliveries::Entity::find()
        .select_only()
        .column_as(webhook_deliveries::Column::EventId.min(), "m")
        .filter(webhook_deliveries::Column::State.eq("pending"))
        .into_tuple()
        .one(&kiln.db)
        .await?
        .flatten();
    if let Some(b) = behind {
        bound = bound.min(b);
    }
    if let Some(p) = pending {
        bound = bound.min(p - 1);
    }
    let txn = kiln.begin().await?;
    webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::EventId.lte(bound))
        .exec(&txn)
        .await?;
    let gone = events::Entity::delete_many()
        .filter(events::Column::Id.lte(bound))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    if gone > 0 {
        tracing::info!(
            events = gone,
            days,
            "removed old events and their delivery log"
        );
    }
    Ok(gone)
}
