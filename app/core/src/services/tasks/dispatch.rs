//! Dispatch: an agent claims the next subtask it can build, atomically (one conditional UPDATE,
//! `SKIP LOCKED` on PostgreSQL), fairly between owners, honouring priorities and quotas; the
//! claim answers with the job.

use std::collections::HashMap;

use kiln_proto::agent::{Job, JobSource};
use kiln_proto::TaskState;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::entities::{agents, repos, sources as source_rows, tasks, users};
use crate::error::{CoreError, CoreResult};
use crate::Kiln;

/// The arches an agent builds for: what it declared, plus i686 on x86_64.
pub fn agent_arches(agent: &agents::Model) -> Vec<String> {
    let mut arches: Vec<String> = serde_json::from_value(agent.arches.clone()).unwrap_or_default();
    if arches.iter().any(|a| a == "x86_64") && !arches.iter().any(|a| a == "i686") {
        arches.push("i686".into());
    }
    arches
}

/// Hands the next subtask this agent can build to it, if any: highest priority first, then the
/// owner with the fewest builds running (so one owner's big batch does not starve others), then
/// the oldest. The claim is one conditional UPDATE (with `FOR UPDATE SKIP LOCKED` on
/// PostgreSQL), so no subtask ever goes to two agents.
pub async fn claim(kiln: &Kiln, agent: &agents::Model) -> CoreResult<Option<Job>> {
    claim_as(kiln, agent, true).await
}

/// `claim`, re-reading the agent's row first when `refresh` (a long-poll may outlive a drain).
pub async fn claim_as(
    kiln: &Kiln,
    agent: &agents::Model,
    refresh: bool,
) -> CoreResult<Option<Job>> {
    // The agent's state as it is now: a long-poll may have started before a drain.
    let current;
    let agent = if refresh {
        let Some(a) = agents::Entity::find_by_id(agent.id).one(&kiln.db).await? else {
            return Ok(None);
        };
        current = a;
        &current
    } else {
        agent
    };
    if agent.state != "online" {
        return Ok(None);
    }
    let arches = agent_arches(agent);
    let (full_owners, blocked_repos) = held_back(kiln, &kiln.db).await?;
    let b = &kiln.config.builds;
    let quotas = b.max_running_per_owner > 0 || b.max_running_per_repo > 0;
    for round in 0..8 {
        // The claim itself checks the agent's capacity; after a miss, a full agent stops here
        // instead of trying every queue.
        if round > 0 && at_capacity(kiln, agent).await? {
            return Ok(None);
        }
        // The queues: one per (owner, priority), with its oldest subtask. First the fast
        // way (each owner's top-priority queue, found through the index); if none of those
        // holds work for these arches, every queue.
        let fast = round == 0;
        let heads = if fast {
            top_queues(kiln).await?
        } else {
            all_queues(kiln, &arches, &agent.backend).await?
        };
        if heads.is_empty() {
            return Ok(None);
        }
        // Running counts decide only between owners whose queues share the top priority.
        let top = heads.iter().map(|h| h.1).max().unwrap_or(0);
        let owners: Vec<i32> = heads.iter().filter(|h| h.1 == top).map(|h| h.0).collect();
        let contested = owners.len() > 1;
        let running: HashMap<i32, i64> = if !contested {
            HashMap::new()
        } else {
            tasks::Entity::find()
                .select_only()
                .column(tasks::Column::OwnerId)
                .column_as(tasks::Column::Id.count(), "n")
                .filter(tasks::Column::State.eq(TaskState::Running.as_str()))
                .filter(tasks::Column::OwnerId.is_in(owners))
                .group_by(tasks::Column::OwnerId)
                .into_tuple::<(i32, i64)>()
                .all(&kiln.db)
                .await?
                .into_iter()
                .collect()
        };
        let mut order = heads.clone();
        order.sort_by_key(|(owner, prio, id)| {
            (-prio, running.get(owner).copied().unwrap_or(0), *id)
        });
        for (owner, prio, _) in &order {
            if full_owners.contains(owner) {
                continue;
            }
            let claimed = if quotas {
                // Quotas count running builds: claims take turns (one writer on SQLite, an
                // advisory lock on PostgreSQL), each counting what the last one claimed.
                let txn = kiln.begin().await?;
                crate::db::claim_turn(&txn).await?;
                let (owners_now, repos_now) = held_back(kiln, &txn).await?;
                let t = if owners_now.contains(owner) {
                    None
                } else {
                    claim_from_queue(kiln, &txn, agent, *owner, *prio, &arches, &repos_now).await?
                };
                txn.commit().await?;
                t
            } else {
                claim_from_queue(
                    kiln,
                    &kiln.db,
                    agent,
                    *owner,
                    *prio,
                    &arches,
                    &blocked_repos,
                )
                .await?
            };
            if let Some(t) = claimed {
                if let Some(p) = t.parent_id {
                    // The first claim starts the parent (and says so, in one transaction).
                    let txn = kiln.begin().await?;
                    let started = tasks::Entity::update_many()
                        .col_expr(
                            tasks::Column::State,
                            Expr::value(TaskState::Running.as_str()),
                        )
                        .col_expr(tasks::Column::StartedAt, Expr::value(t.started_at))
                        .filter(tasks::Column::Id.eq(p))
                        .filter(tasks::Column::State.eq(TaskState::Pending.as_str()))
                        .exec_with_returning(&txn)
                        .await?;
                    if let Some(parent) = started.first() {
                        super::super::events::emit_build(&txn, parent, "kiln.build.start").await?;
                    }
                    txn.commit().await?;
                }
                kiln.events.changed(t.id);
                if t.attempt <= 1 {
                    // Queued since submission (a retry's wait would count its first build).
                    let waited = crate::now() - t.created_at;
                    kiln.metrics
                        .dispatch
                        .observe(waited.as_seconds_f64().max(0.0));
                }
                return Ok(Some(job_of(kiln, &t, t.attempt).await?));
            }
        }
    }
    Ok(None)
}

/// Work no agent may take now: owners at their quota of running builds, and repos at theirs or
/// whose builds the site admins stopped.
pub(super) async fn held_back(
    kiln: &Kiln,
    db: &impl ConnectionTrait,
) -> CoreResult<(Vec<i32>, Vec<i32>)> {
    let b = &kiln.config.builds;
    let mut repos_held: Vec<i32> = repos::Entity::find()
        .select_only()
        .column(repos::Column::Id)
        .filter(repos::Column::BuildsDisabled.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let running_by = |column: tasks::Column| async move {
        tasks::Entity::find()
            .select_only()
            .column(column)
            .column_as(tasks::Column::Id.count(), "n")
            .filter(tasks::Column::State.eq(TaskState::Running.as_str()))
            .filter(tasks::Column::ParentId.is_not_null())
            .group_by(column)
            .into_tuple::<(i32, i64)>()
            .all(db)
            .await
    };
    let mut owners_held = Vec::new();
    if b.max_running_per_owner > 0 {
        owners_held = running_by(tasks::Column::OwnerId)
            .await?
            .into_iter()
            .filter(|(_, n)| *n >= i64::from(b.max_running_per_owner))
            .map(|(id, _)| id)
            .collect();
    }
    if b.max_running_per_repo > 0 {
        repos_held.extend(
            running_by(tasks::Column::RepoId)
                .await?
                .into_iter()
                .filter(|(_, n)| *n >= i64::from(b.max_running_per_repo))
                .map(|(id, _)| id),
        );
    }
    Ok((owners_held, repos_held))
}

pub(super) async fn at_capacity(kiln: &Kiln, agent: &agents::Model) -> CoreResult<bool> {
    let running = tasks::Entity::find()
        .filter(tasks::Column::AgentId.eq(agent.id))
        .filter(tasks::Column::State.eq(TaskState::Running.as_str()))
        .count(&kiln.db)
        .await?;
    Ok(running >= agent.capacity.max(0) as u64)
}

/// Each owner's top-priority queue head, by index lookups, in one statement: a skip scan over
/// the owners with pending work (a recursive query; no scan of the whole queue), then per owner
/// its highest priority and the oldest subtask at it. Candidates only: written in SQL for the
/// index, it looks at state and parent alone; the claim applies `claimable`.
pub(super) async fn top_queues(kiln: &Kiln) -> CoreResult<Vec<(i32, i32, i32)>> {
    use sea_orm::{DbBackend, Statement};
    let backend = kiln.db.get_database_backend();
    let param = if backend == DbBackend::Postgres {
        "$1"
    } else {
        "?1"
    };
    let pending = format!("t.state = {param} AND t.parent_id IS NOT NULL");
    let sql = format!(
        "WITH RECURSIVE o(owner_id) AS (\
           SELECT MIN(t.owner_id) FROM tasks t WHERE {pending} \
           UNION ALL \
           SELECT (SELECT MIN(t.owner_id) FROM tasks t WHERE {pending} AND t.owner_id > o.owner_id) \
           FROM o WHERE o.owner_id IS NOT NULL), \
         q(owner_id, priority) AS (\
           SELECT o.owner_id, (SELECT MAX(t.priority) FROM tasks t WHERE {pending} AND t.owner_id = o.owner_id) \
           FROM o WHERE o.owner_id IS NOT NULL) \
         SELECT q.owner_id, q.priority, \
           (SELECT MIN(t.id) FROM tasks t WHERE {pending} AND t.owner_id = q.owner_id AND t.priority = q.priority) \
         FROM q WHERE q.priority IS NOT NULL"
    );
    let rows = kiln
        .db
        .query_all(Statement::from_sql_and_values(
            backend,
            sql,
            [TaskState::Pending.as_str().into()],
        ))
        .await?;
    let mut heads = Vec::with_capacity(rows.len());
    for row in rows {
        let head: Option<i32> = row.try_get_by_index(2)?;
        if let Some(head) = head {
            heads.push((row.try_get_by_index(0)?, row.try_get_by_index(1)?, head));
        }
    }
    Ok(heads)
}

/// The one rule for "may this subtask be claimed": a pending build subtask (one with a
/// parent), for one of `arches` (any arch when `None`), not of a repo in `held_repos`, and
/// (for an agent of `backend`) not needing another backend. Every
/// reader of the queue uses it: the claim itself, the queue listing, the provisioner's queue
/// depth; `top_queues` only proposes candidates, which the claim checks with it.
pub fn claimable(
    arches: Option<&[String]>,
    held_repos: &[i32],
    backend: Option<&str>,
) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(tasks::Column::State.eq(TaskState::Pending.as_str()))
        .add(tasks::Column::ParentId.is_not_null())
        .add_option(arches.map(|a| tasks::Column::Arch.is_in(a.to_vec())))
        .add_option(
            (!held_repos.is_empty()).then(|| tasks::Column::RepoId.is_not_in(held_repos.to_vec())),
        )
        .add_option(backend.map(|b| {
            sea_orm::Condition::any()
                .add(tasks::Column::NeedsBackend.is_null())
                .add(tasks::Column::NeedsBackend.eq(b))
        }))
}

/// Every (owner, priority) queue with work for these arches, with its oldest subtask.
pub(super) async fn all_queues(
    kiln: &Kiln,
    arches: &[String],
    backend: &str,
) -> CoreResult<Vec<(i32, i32, i32)>> {
    Ok(tasks::Entity::find()
        .select_only()
        .column(tasks::Column::OwnerId)
        .column(tasks::Column::Priority)
        .column_as(tasks::Column::Id.min(), "head")
        .filter(claimable(Some(arches), &[], Some(backend)))
        .group_by(tasks::Column::OwnerId)
        .group_by(tasks::Column::Priority)
        .into_tuple()
        .all(&kiln.db)
        .await?)
}

/// Claims the oldest pending subtask of one (owner, priority) queue in one statement:
/// `UPDATE … WHERE id = (SELECT … LIMIT 1 FOR UPDATE SKIP LOCKED) AND state = 'pending'
/// RETURNING *` on PostgreSQL (concurrent claimers skip rows others hold instead of queueing on
/// one; the subquery is a scalar, evaluated once: with `IN (…)` the planner may re-run it per
/// row and claim several), `… WHERE id IN (SELECT … LIMIT 1) …` on SQLite (one writer).
pub(super) async fn claim_from_queue(
    kiln: &Kiln,
    db: &impl ConnectionTrait,
    agent: &agents::Model,
    owner: i32,
    priority: i32,
    arches: &[String],
    blocked_repos: &[i32],
) -> CoreResult<Option<tasks::Model>> {
    use sea_orm::sea_query::{Alias, Order, Query};
    let now = crate::now();
    let lease = now + time::Duration::seconds(kiln.config.builds.lease_seconds);
    let mut running = Query::select();
    running
        .expr(Expr::col((Alias::new("r"), tasks::Column::Id)).count())
        .from_as(tasks::Entity, Alias::new("r"))
        .and_where(Expr::col((Alias::new("r"), tasks::Column::AgentId)).eq(agent.id))
        .and_where(
            Expr::col((Alias::new("r"), tasks::Column::State)).eq(TaskState::Running.as_str()),
        );
    let running_here = sea_orm::sea_query::SimpleExpr::SubQuery(
        None,
        Box::new(sea_orm::sea_query::SubQueryStatement::SelectStatement(
            running,
        )),
    );
    let claim = |id_filter: sea_orm::sea_query::SimpleExpr| {
        tasks::Entity::update_many()
            .col_expr(
                tasks::Column::State,
                Expr::value(TaskState::Running.as_str()),
            )
            .col_expr(tasks::Column::AgentId, Expr::value(Some(agent.id)))
            .col_expr(
                tasks::Column::Attempt,
                Expr::col(tasks::Column::Attempt).add(1),
            )
            .col_expr(tasks::Column::LeaseExpiresAt, Expr::value(Some(lease)))
            .col_expr(tasks::Column::StartedAt, Expr::value(Some(now)))
            .filter(id_filter)
            .filter(tasks::Column::State.eq(TaskState::Pending.as_str()))
            // Within the agent's capacity.
            .filter(Expr::expr(running_here.clone()).lt(agent.capacity))
    };
    let queue = claimable(Some(arches), blocked_repos, Some(&agent.backend))
        .add(tasks::Column::OwnerId.eq(owner))
        .add(tasks::Column::Priority.eq(priority));
    let mut next = Query::select();
    next.column(tasks::Column::Id)
        .from(tasks::Entity)
        .cond_where(queue)
        .order_by(tasks::Column::Id, Order::Asc)
        .limit(1);
    let which = if crate::db::supports_row_locks(db) {
        // `id = (scalar subquery)`: evaluated once (an InitPlan), never per row.
        next.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        Expr::col(tasks::Column::Id).eq(sea_orm::sea_query::SimpleExpr::SubQuery(
            None,
            Box::new(sea_orm::sea_query::SubQueryStatement::SelectStatement(next)),
        ))
    } else {
        tasks::Column::Id.in_subquery(next)
    };
    let claimed = claim(which).exec_with_returning(db).await?;
    Ok(claimed.into_iter().next())
}

/// The job for subtask `t` on its `attempt`.
pub(super) async fn job_of(kiln: &Kiln, t: &tasks::Model, attempt: i32) -> CoreResult<Job> {
    let mut job = job_without_auth(kiln, t, attempt).await?;
    job.repo_auth = repo_auth(kiln, t).await?;
    Ok(job)
}

/// For a subtask of a private repo: a read token for its own published repo, made for this
/// claim (an earlier claim's token ends now) and ending when the task ends or times out.
async fn repo_auth(
    kiln: &Kiln,
    t: &tasks::Model,
) -> CoreResult<Option<kiln_proto::agent::RepoAuth>> {
    let Some((repo, Some(owner))) = repos::Entity::find_by_id(t.repo_id)
        .find_also_related(users::Entity)
        .one(&kiln.db)
        .await?
    else {
        return Ok(None);
    };
    if repo.visibility != kiln_proto::Visibility::Private.as_str() {
        return Ok(None);
    }
    let read_tokens = super::super::read_tokens::revoke_for_task;
    read_tokens(&kiln.db, t.id).await?;
    let lifetime = time::Duration::seconds(kiln.config.builds.build_timeout_seconds as i64)
        + time::Duration::minutes(30);
    let token = super::super::read_tokens::for_task(&kiln.db, repo.id, t.id, lifetime).await?;
    Ok(Some(kiln_proto::agent::RepoAuth {
        url: format!(
            "{}/repos/{}/{}/",
            kiln.config.public_url(),
            owner.username,
            repo.name
        ),
        username: "kiln-agent".into(),
        password: token.expose().to_owned(),
    }))
}

async fn job_without_auth(kiln: &Kiln, t: &tasks::Model, attempt: i32) -> CoreResult<Job> {
    let snapshot = t.mock_config_snapshot.clone().unwrap_or_default();
    if super::sources::is_srpm_step(t) {
        let source: kiln_proto::Source = serde_json::from_value(snapshot["source"].clone())
            .map_err(|_| CoreError::internal("an SRPM step without its source"))?;
        let auth = match &source {
            kiln_proto::Source::Git { url, .. } => {
                super::super::source_secrets::credential_for(kiln, t.repo_id, url)
                    .await?
                    .map(|(username, password)| kiln_proto::agent::GitAuth {
                        username,
                        password: password.expose().to_owned(),
                    })
            }
            kiln_proto::Source::Url { .. } => None,
        };
        return Ok(Job {
            task_id: t.id,
            parent_id: t.parent_id.unwrap_or(t.id),
            attempt,
            repo: snapshot["repo"].as_str().unwrap_or_default().to_owned(),
            arch: t.arch.clone().unwrap_or_default(),
            mock_config: t.mock_config_name.clone().unwrap_or_default(),
            rendered_config: snapshot["rendered"].as_str().unwrap_or_default().to_owned(),
            macros: serde_json::from_value(snapshot["macros"].clone()).unwrap_or_default(),
            source: JobSource::Make {
                source,
                limits: super::super::outbound::fetch_limits(kiln),
                auth,
            },
            nocheck: false,
            timeout_seconds: kiln.config.builds.build_timeout_seconds,
            repo_auth: None,
        });
    }
    // Submissions record the repo and SRPM in the snapshot; older rows are looked up.
    let (repo_name, sha256, size) = match (
        snapshot["repo"].as_str(),
        snapshot["srpm"]["sha256"].as_str(),
        snapshot["srpm"]["size"].as_i64(),
    ) {
        (Some(r), Some(sha), Some(size)) => (r.to_owned(), sha.to_owned(), size),
        _ => {
            let source = source_rows::Entity::find_by_id(t.source_id.unwrap_or_default())
                .one(&kiln.db)
                .await?
                .ok_or_else(|| CoreError::internal("subtask without source"))?;
            let repo = repos::Entity::find_by_id(t.repo_id)
                .find_also_related(users::Entity)
                .one(&kiln.db)
                .await?;
            let name = repo
                .and_then(|(r, u)| Some(format!("{}/{}", u?.username, r.name)))
                .unwrap_or_default();
            (name, source.sha256, source.size)
        }
    };
    Ok(Job {
        task_id: t.id,
        parent_id: t.parent_id.unwrap_or(t.id),
        attempt,
        repo: repo_name,
        arch: t.arch.clone().unwrap_or_default(),
        mock_config: t.mock_config_name.clone().unwrap_or_default(),
        rendered_config: snapshot["rendered"].as_str().unwrap_or_default().to_owned(),
        macros: serde_json::from_value(snapshot["macros"].clone()).unwrap_or_default(),
        source: JobSource::Srpm {
            file_name: t
                .file_name
                .clone()
                .unwrap_or_else(|| "source.src.rpm".into()),
            sha256,
            size,
        },
        nocheck: snapshot["nocheck"].as_bool().unwrap_or(false),
        timeout_seconds: kiln.config.builds.build_timeout_seconds,
        repo_auth: None,
    })
}
