//! The audit log: who changed what in a repo (or site-wide), when. Written in the same
//! transaction as the change it records.

use kiln_proto::AuditEntry;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::entities::{audit_log, users};
use crate::error::CoreResult;
use crate::policy::{Action, Principal};
use crate::Kiln;

/// Records that `actor` did `action` (e.g. `repo.update`) to `target`, in `repo_id` or
/// site-wide (`None`), on `db` (the change's own transaction); repo changes also emit an event.
pub async fn record(
    db: &impl ConnectionTrait,
    repo_id: Option<i32>,
    actor: &Principal,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> CoreResult<()> {
    audit_log::ActiveModel {
        repo_id: Set(repo_id),
        actor_id: Set(actor.user_id()),
        action: Set(action.to_owned()),
        target: Set(target.to_owned()),
        detail: Set(detail.clone()),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    if let (Some(topic), Some(_)) = (super::events::topic_of_audit(action), repo_id) {
        super::events::emit(
            db,
            repo_id,
            topic,
            serde_json::json!({
                "actor": actor.user().map(|u| u.username.clone()),
                "target": target,
                "detail": detail,
            }),
        )
        .await?;
    }
    Ok(())
}

/// The newest site-wide entries (base chroots, agents, tokens; site admins only).
pub async fn list_site(
    kiln: &Kiln,
    principal: &Principal,
    limit: u64,
) -> CoreResult<Vec<AuditEntry>> {
    crate::policy::authorize(principal, Action::ViewSiteAudit, None)?;
    let rows = audit_log::Entity::find()
        .filter(audit_log::Column::RepoId.is_null())
        .order_by_desc(audit_log::Column::Id)
        .limit(limit.clamp(1, 1000))
        .all(&kiln.db)
        .await?;
    with_actors(kiln, rows).await
}

async fn with_actors(kiln: &Kiln, rows: Vec<audit_log::Model>) -> CoreResult<Vec<AuditEntry>> {
    let actor_ids: Vec<i32> = rows.iter().filter_map(|r| r.actor_id).collect();
    let actors = users::Entity::find()
        .filter(users::Column::Id.is_in(actor_ids))
        .all(&kiln.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            actor: r
                .actor_id
                .and_then(|id| actors.iter().find(|u| u.id == id))
                .map(|u| u.username.clone()),
            action: r.action,
            target: r.target,
            detail: r.detail,
            created_at: r.created_at,
        })
        .collect())
}

/// The newest entries of a repo's log (admins only).
pub async fn list_for_repo(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    limit: u64,
) -> CoreResult<Vec<AuditEntry>> {
    let ctx =
        super::access::authorize_repo(kiln, principal, owner, repo, Action::ViewAudit).await?;
    let rows = audit_log::Entity::find()
        .filter(audit_log::Column::RepoId.eq(ctx.repo.id))
        .order_by_desc(audit_log::Column::Id)
        .limit(limit.clamp(1, 1000))
        .all(&kiln.db)
        .await?;
    with_actors(kiln, rows).await
}
