//! Per-repo retention, run in the background: the newest `keep_builds` builds of each package
//! stay (the newest build of a package is never removed), older ones are deleted like a
//! packager's `DELETE …/builds/ID` (their RPMs leave the repo, which is republished); build
//! logs go `keep_logs_days` after the build ended, the build itself stays.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use kiln_proto::TaskState;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entities::{artifacts, repos, sources, task_logs, tasks, users};
use crate::{CoreResult, Kiln, Principal};

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Builds deleted for being older than the newest `keep_builds` of their package.
    pub builds: usize,
    /// Subtasks whose logs were removed for being older than `keep_logs_days`.
    pub logs: usize,
}

/// Applies every repo's policy once.
pub async fn run_once(kiln: &Kiln) -> CoreResult<Report> {
    let mut report = Report::default();
    let with_policy = repos::Entity::find()
        .find_also_related(users::Entity)
        .filter(
            sea_orm::Condition::any()
                .add(repos::Column::KeepBuilds.is_not_null())
                .add(repos::Column::KeepLogsDays.is_not_null()),
        )
        .all(&kiln.db)
        .await?;
    for (repo, owner) in with_policy {
        let full_name = format!(
            "{}/{}",
            owner.map(|u| u.username).unwrap_or_default(),
            repo.name
        );
        if let Some(keep) = repo.keep_builds.filter(|n| *n > 0) {
            let old = expired_builds(kiln, repo.id, keep as usize).await?;
            if !old.is_empty() {
                super::publish::remove_builds(
                    kiln,
                    repo.id,
                    &full_name,
                    &old,
                    &Principal::Anonymous,
                    "retention",
                )
                .await?;
                tracing::info!(repo = %full_name, builds = ?old, "retention removed old builds");
                report.builds += old.len();
            }
        }
        if let Some(days) = repo.keep_logs_days.filter(|d| *d > 0) {
            let n = remove_logs(kiln, repo.id, days).await?;
            if n > 0 {
                tracing::info!(repo = %full_name, subtasks = n, days, "retention removed build logs");
                report.logs += n;
            }
        }
    }
    Ok(report)
}

/// Runs a pass every `every` until the process ends.
pub async fn run_forever(kiln: Kiln, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = run_once(&kiln).await {
            tracing::warn!(error = %e, "retention pass failed");
        }
        if let Err(e) = super::events::prune(&kiln).await {
            tracing::warn!(error = %e, "removing old events failed");
        }
    }
}

/// The final builds of a repo that retention removes: a build goes when, for every package
/// it built, `keep` newer successful (non-scratch) builds of that package exist. So the
/// newest successful build of a package always stays, and a failed build newer than it too.
async fn expired_builds(kiln: &Kiln, repo_id: i32, keep: usize) -> CoreResult<Vec<i32>> {
    let finals: Vec<&str> = TaskState::ALL
        .iter()
        .filter(|s| s.is_final())
        .map(|s| s.as_str())
        .collect();
    let parents = tasks::Entity::find()
        .filter(tasks::Column::RepoId.eq(repo_id))
        .filter(tasks::Column::ParentId.is_null())
        .filter(tasks::Column::State.is_in(finals))
        .order_by_desc(tasks::Column::Id)
        .all(&kiln.db)
        .await?;
    if parents.len() <= keep {
        return Ok(Vec::new());
    }
    // The package names each parent built, from its subtasks' sources.
    let subs: Vec<(Option<i32>, Option<i32>)> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::ParentId)
        .column(tasks::Column::SourceId)
        .filter(tasks::Column::RepoId.eq(repo_id))
        .filter(tasks::Column::ParentId.is_not_null())
        .into_tuple()
        .all(&kiln.db)
        .await?;
    let source_ids: BTreeSet<i32> = subs.iter().filter_map(|(_, s)| *s).collect();
    let names: HashMap<i32, String> = sources::Entity::find()
        .select_only()
        .column(sources::Column::Id)
        .column(sources::Column::Name)
        .filter(sources::Column::Id.is_in(source_ids))
        .into_tuple::<(i32, String)>()
        .all(&kiln.db)
        .await?
        .into_iter()
        .collect();
    let mut built: HashMap<i32, BTreeSet<&str>> = HashMap::new();
    for (parent, source) in &subs {
        if let (Some(p), Some(name)) = (parent, source.and_then(|s| names.get(&s))) {
            built.entry(*p).or_default().insert(name.as_str());
        }
    }
    let mut kept: HashMap<&str, usize> = HashMap::new();
    let mut expired = Vec::new();
    for p in &parents {
        let Some(pkgs) = built.get(&p.id) else {
            continue;
        };
        if pkgs
            .iter()
            .all(|n| kept.get(n).copied().unwrap_or(0) >= keep)
        {
            expired.push(p.id);
            continue;
        }
        if p.state == TaskState::Succeeded.as_str() && !p.scratch {
            for n in pkgs {
                *kept.entry(n).or_default() += 1;
            }
        }
    }
    Ok(expired)
}

/// Removes the logs (live log and uploaded `.log` files) of the repo's subtasks that ended
/// more than `days` days ago; returns how many subtasks lost their logs.
async fn remove_logs(kiln: &Kiln, repo_id: i32, days: i32) -> CoreResult<usize> {
    let before = crate::now() - time::Duration::days(days as i64);
    let ids: Vec<i32> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Id)
        .filter(tasks::Column::RepoId.eq(repo_id))
        .filter(tasks::Column::ParentId.is_not_null())
        .filter(tasks::Column::FinishedAt.lt(before))
        .filter(tasks::Column::LogsRemovedAt.is_null())
        .limit(1000)
        .into_tuple()
        .all(&kiln.db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let txn = kiln.begin().await?;
    let files: Vec<String> = artifacts::Entity::find()
        .select_only()
        .column(artifacts::Column::StorageKey)
        .filter(artifacts::Column::TaskId.is_in(ids.clone()))
        .filter(artifacts::Column::Kind.eq("log"))
        .into_tuple()
        .all(&txn)
        .await?;
    artifacts::Entity::delete_many()
        .filter(artifacts::Column::TaskId.is_in(ids.clone()))
        .filter(artifacts::Column::Kind.eq("log"))
        .exec(&txn)
        .await?;
    task_logs::Entity::delete_many()
        .filter(task_logs::Column::TaskId.is_in(ids.clone()))
        .exec(&txn)
        .await?;
    tasks::Entity::update_many()
        .col_expr(
            tasks::Column::LogsRemovedAt,
            Expr::value(Some(crate::now())),
        )
        .filter(tasks::Column::Id.is_in(ids.clone()))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    // The rows are gone, so nothing serves the files any more; a file that cannot be deleted
    // now is left to the cleanup queue.
    for key in files {
        if let Err(e) = kiln.storage.delete(&key).await {
            tracing::warn!(key = %key, error = %e, "log file removal failed; queued");
            let txn = kiln.begin().await?;
            super::cleanup::schedule_at(&txn, &key, crate::now()).await?;
            txn.commit().await?;
        }
    }
    Ok(ids.len())
}
