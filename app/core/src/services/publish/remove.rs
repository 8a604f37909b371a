//! Removing builds from a repo (a packager's delete, retention) and a deleted repo's rows;
//! the chroots they were in are republished.

use kiln_proto::TaskState;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::entities::{packages, publishes, repo_chroots, repo_keys, tasks};
use crate::policy::Action;
use crate::services::access::authorize_repo;
use crate::{CoreError, CoreResult, Kiln, Principal};

use super::*;

/// `DELETE …/builds/ID`: the build's RPMs leave the repo, which is republished; its rows and
/// files are removed after the grace period.
pub async fn delete_build(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    name: &str,
    parent_id: i32,
) -> CoreResult<()> {
    let ctx = authorize_repo(kiln, principal, owner, name, Action::DeleteBuild).await?;
    let parent = tasks::Entity::find_by_id(parent_id)
        .filter(tasks::Column::RepoId.eq(ctx.repo.id))
        .filter(tasks::Column::ParentId.is_null())
        .one(&kiln.db)
        .await?
        .ok_or_else(|| {
            CoreError::not_found(format!("{} has no build {parent_id}", ctx.full_name()))
        })?;
    let state = TaskState::parse(&parent.state).unwrap_or(TaskState::Pending);
    if !state.is_final() {
        return Err(CoreError::Conflict(format!(
            "build {parent_id} is still {}; cancel it first",
            parent.state
        )));
    }
    remove_builds(
        kiln,
        ctx.repo.id,
        &ctx.full_name(),
        &[parent_id],
        principal,
        "delete",
    )
    .await
}

/// Takes the packages of the (final) builds `parent_ids` out of the repo and queues its
/// republishing; every row of the builds goes now, their files after the grace period.
pub(crate) async fn remove_builds(
    kiln: &Kiln,
    repo_id: i32,
    full_name: &str,
    parent_ids: &[i32],
    principal: &Principal,
    reason: &str,
) -> CoreResult<()> {
    let txn = kiln.begin().await?;
    let chroots = package_chroots(
        &txn,
        sea_orm::Condition::all()
            .add(packages::Column::ParentId.is_in(parent_ids.to_vec()))
            .add(packages::Column::InRepo.eq(true)),
    )
    .await?;
    // Every row of the builds goes now, explicitly (SQLite only cascades with foreign keys
    // switched on): packages, artifacts, logs, the task tree.
    packages::Entity::delete_many()
        .filter(packages::Column::ParentId.is_in(parent_ids.to_vec()))
        .exec(&txn)
        .await?;
    {
        use crate::entities::{artifacts, task_logs};
        artifacts::Entity::delete_many()
            .filter(artifacts::Column::ParentId.is_in(parent_ids.to_vec()))
            .exec(&txn)
            .await?;
        let tree = tasks::Entity::find()
            .select_only()
            .column(tasks::Column::Id)
            .filter(
                sea_orm::Condition::any()
                    .add(tasks::Column::Id.is_in(parent_ids.to_vec()))
                    .add(tasks::Column::ParentId.is_in(parent_ids.to_vec())),
            );
        task_logs::Entity::delete_many()
            .filter(task_logs::Column::TaskId.in_subquery(sea_orm::QueryTrait::into_query(tree)))
            .exec(&txn)
            .await?;
    }
    // The files go once clients that may be fetching them are done.
    let until = crate::now() + time::Duration::seconds(kiln.config.publish.grace_seconds);
    for p in parent_ids {
        crate::services::cleanup::schedule_at(
            &txn,
            &format!("repos/{}/builds/{p}/", repo_id),
            until,
        )
        .await?;
    }
    publishes::Entity::update_many()
        .col_expr(
            publishes::Column::ParentId,
            Expr::value(Option::<i32>::None),
        )
        .filter(publishes::Column::ParentId.is_in(parent_ids.to_vec()))
        .exec(&txn)
        .await?;
    tasks::Entity::delete_many()
        .filter(tasks::Column::ParentId.is_in(parent_ids.to_vec()))
        .exec(&txn)
        .await?;
    tasks::Entity::delete_many()
        .filter(tasks::Column::Id.is_in(parent_ids.to_vec()))
        .exec(&txn)
        .await?;
    for c in &chroots {
        queue(&txn, repo_id, c, None, reason, principal.user_id()).await?;
    }
    crate::services::audit::record(
        &txn,
        Some(repo_id),
        principal,
        "build.delete",
        full_name,
        serde_json::json!({"builds": parent_ids, "reason": reason}),
    )
    .await?;
    txn.commit().await?;
    kiln.publish_wake.notify_one();
    Ok(())
}

/// Removes a deleted repo's publishing rows and its task tree (the caller's transaction; its
/// objects are removed with the repo's storage prefix).
pub async fn delete_repo_rows(db: &impl ConnectionTrait, repo_id: i32) -> CoreResult<()> {
    use crate::entities::{webhook_deliveries, webhooks};
    let hooks: Vec<i32> = webhooks::Entity::find()
        .select_only()
        .column(webhooks::Column::Id)
        .filter(webhooks::Column::RepoId.eq(repo_id))
        .into_tuple()
        .all(db)
        .await?;
    webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::WebhookId.is_in(hooks))
        .exec(db)
        .await?;
    webhooks::Entity::delete_many()
        .filter(webhooks::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    use crate::entities::{artifacts, read_tokens, task_logs};
    read_tokens::Entity::delete_many()
        .filter(read_tokens::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    packages::Entity::delete_many()
        .filter(packages::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    publishes::Entity::delete_many()
        .filter(publishes::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    repo_chroots::Entity::delete_many()
        .filter(repo_chroots::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    repo_keys::Entity::delete_many()
        .filter(repo_keys::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    artifacts::Entity::delete_many()
        .filter(artifacts::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    let task_ids = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Id)
        .filter(tasks::Column::RepoId.eq(repo_id));
    task_logs::Entity::delete_many()
        .filter(task_logs::Column::TaskId.in_subquery(sea_orm::QueryTrait::into_query(task_ids)))
        .exec(db)
        .await?;
    tasks::Entity::delete_many()
        .filter(tasks::Column::RepoId.eq(repo_id))
        .filter(tasks::Column::ParentId.is_not_null())
        .exec(db)
        .await?;
    tasks::Entity::delete_many()
        .filter(tasks::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    Ok(())
}
