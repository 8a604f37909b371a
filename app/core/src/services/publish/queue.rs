//! The publish queue: a succeeded, non-scratch build queues one publish per chroot its
//! packages go to (in the transaction that ended it); rel-eng queues a regeneration; the
//! publish state of each build.

use kiln_proto::{PublishState, TaskState};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};

use crate::entities::{packages, publishes, tasks};
use crate::policy::Action;
use crate::services::access::authorize_repo;
use crate::{CoreResult, Kiln, Principal};

use super::*;

/// The chroots holding packages that match `filter`.
pub(super) async fn package_chroots(
    db: &impl ConnectionTrait,
    filter: sea_orm::Condition,
) -> CoreResult<Vec<String>> {
    Ok(packages::Entity::find()
        .select_only()
        .column(packages::Column::Chroot)
        .distinct()
        .filter(filter)
        .into_tuple()
        .all(db)
        .await?)
}

/// Called when a parent task reaches its final state (in the transaction that put it there):
/// a succeeded, non-scratch parent gets one publish task per chroot its RPMs go to.
pub async fn queue_for_parent(db: &impl ConnectionTrait, parent: &tasks::Model) -> CoreResult<()> {
    if parent.scratch || parent.state != TaskState::Succeeded.as_str() {
        return Ok(());
    }
    // Its packages not yet in the repo, per chroot, unless a publish is already queued.
    let queued: Vec<String> = publishes::Entity::find()
        .select_only()
        .column(publishes::Column::Chroot)
        .filter(publishes::Column::ParentId.eq(parent.id))
        .filter(publishes::Column::State.eq("pending"))
        .into_tuple()
        .all(db)
        .await?;
    let chroots = package_chroots(
        db,
        sea_orm::Condition::all()
            .add(packages::Column::ParentId.eq(parent.id))
            .add(packages::Column::InRepo.eq(false)),
    )
    .await?;
    for chroot in chroots.into_iter().filter(|c| !queued.contains(c)) {
        queue(db, parent.repo_id, &chroot, Some(parent.id), "build", None).await?;
    }
    Ok(())
}

pub(super) async fn queue(
    db: &impl ConnectionTrait,
    repo_id: i32,
    chroot: &str,
    parent_id: Option<i32>,
    reason: &str,
    requested_by: Option<i32>,
) -> CoreResult<()> {
    publishes::ActiveModel {
        repo_id: Set(repo_id),
        chroot: Set(chroot.to_owned()),
        parent_id: Set(parent_id),
        reason: Set(reason.to_owned()),
        state: Set("pending".into()),
        requested_by: Set(requested_by),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The publish state of each parent (for the task API).
pub async fn states(
    db: &impl ConnectionTrait,
    parents: &[tasks::Model],
) -> CoreResult<std::collections::HashMap<i32, PublishState>> {
    let ids: Vec<i32> = parents.iter().map(|p| p.id).collect();
    let rows: Vec<(Option<i32>, String)> = publishes::Entity::find()
        .select_only()
        .column(publishes::Column::ParentId)
        .column(publishes::Column::State)
        .filter(publishes::Column::ParentId.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    let mut out = std::collections::HashMap::new();
    for p in parents {
        let state = TaskState::parse(&p.state).unwrap_or(TaskState::Pending);
        let mine: Vec<&str> = rows
            .iter()
            .filter(|(id, _)| *id == Some(p.id))
            .map(|(_, s)| s.as_str())
            .collect();
        let ps = if !state.is_final() {
            PublishState::Waiting
        } else if state != TaskState::Succeeded || p.scratch {
            PublishState::NotPublished
        } else if mine.contains(&"failed") {
            PublishState::Failed
        } else if mine.iter().all(|s| *s == "succeeded") {
            PublishState::Published
        } else {
            PublishState::Pending
        };
        out.insert(p.id, ps);
    }
    Ok(out)
}

/// `POST …/createrepo`: rel-eng regenerates the metadata of every chroot of the repo now.
pub async fn createrepo(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    name: &str,
) -> CoreResult<Vec<String>> {
    let ctx = authorize_repo(kiln, principal, owner, name, Action::Createrepo).await?;
    let chroots = chroots_of(kiln, ctx.repo.id).await?;
    let txn = kiln.begin().await?;
    for c in &chroots {
        queue(
            &txn,
            ctx.repo.id,
            c,
            None,
            "createrepo",
            principal.user_id(),
        )
        .await?;
    }
    crate::services::audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        "repo.createrepo",
        &ctx.full_name(),
        serde_json::json!({"chroots": chroots}),
    )
    .await?;
    txn.commit().await?;
    kiln.publish_wake.notify_one();
    Ok(chroots)
}
