//! The build pipeline's task tree: submissions (a parent task with one build subtask per SRPM
//! and mock config), fair and atomic dispatch to agents, leases, logs, artifacts, cancel and
//! resubmit. Every state change goes through `transition`, a conditional UPDATE that follows
//! the state machine in `crate::state`.

use std::collections::{BTreeMap, HashMap};

use kiln_proto::agent::{BuildResult, FailureStage, Finish, Job};
use kiln_proto::{Artifact, Page, PublishState, SourcePackage, Subtask, Task, TaskState};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::repos::{authorize_repo, RepoCtx};
use super::sources::{self, Staged};
use super::{mock_configs, PageRequest};
use crate::entities::{agents, artifacts, repos, sources as source_rows, task_logs, tasks, users};
use crate::error::{CoreError, CoreResult};
use crate::policy::{authorize, Action, Principal};
use crate::state::{can_transition, parent_state};
use crate::Kiln;

const BUILD: &str = "build";

fn state_of(t: &tasks::Model) -> TaskState {
    TaskState::parse(&t.state).unwrap_or(TaskState::Failed)
}

/// What a submission asks for.
pub struct Submission {
    pub srpms: Vec<Staged>,
    /// Mock config names; empty: every enabled config of the repo.
    pub mock_configs: Vec<String>,
    pub scratch: bool,
    /// Skip `%check` (as does a mock config that says so).
    pub nocheck: bool,
    pub priority: Option<i32>,
}

/// Checks, stores and queues a submission. Nothing is written unless everything is valid.
pub async fn submit(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    sub: Submission,
) -> CoreResult<Task> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::SubmitBuild).await?;
    super::repos::accepting_builds(&ctx)?;
    let priority = sub.priority.unwrap_or(0);
    if priority != 0 {
        authorize(principal, Action::SetBuildPriority, ctx.role)
            .map_err(|_| CoreError::Forbidden("setting a priority needs the releng role".into()))?;
        if !(-100..=100).contains(&priority) {
            return Err(CoreError::validation("priority", "must be -100 to 100"));
        }
    }
    if sub.srpms.is_empty() {
        return Err(CoreError::validation("srpm", "attach at least one SRPM"));
    }
    if sub.srpms.len() > kiln.config.builds.max_srpms_per_submission {
        return Err(CoreError::validation(
            "srpm",
            format!(
                "at most {} SRPMs per submission",
                kiln.config.builds.max_srpms_per_submission
            ),
        ));
    }
    // The mock configs, with the snapshot each subtask keeps.
    let configs = mock_configs::list(kiln, principal, owner, repo).await?;
    let chosen: Vec<_> = if sub.mock_configs.is_empty() {
        configs.into_iter().filter(|c| c.enabled).collect()
    } else {
        let mut out = Vec::new();
        for name in &sub.mock_configs {
            let c = configs.iter().find(|c| &c.name == name).ok_or_else(|| {
                CoreError::validation(
                    "chroot",
                    format!("{} has no mock config {name}", ctx.full_name()),
                )
            })?;
            if !c.enabled {
                return Err(CoreError::validation(
                    "chroot",
                    format!("the mock config {name} is disabled"),
                ));
            }
            if !out
                .iter()
                .any(|x: &kiln_proto::MockConfig| x.name == c.name)
            {
                out.push(c.clone());
            }
        }
        out
    };
    if chosen.is_empty() {
        return Err(CoreError::validation(
            "chroot",
            format!(
                "{} has no enabled mock configs to build in",
                ctx.full_name()
            ),
        ));
    }
    let mut snapshots = Vec::new();
    for c in &chosen {
        let rendered = mock_configs::rendered(kiln, principal, owner, repo, &c.name).await?;
        let base = super::chroots::find(kiln, &c.base).await?;
        // %dist, then what the distro's release package defines, then the config's own.
        let mut macros = BTreeMap::from([("dist".to_owned(), base.dist_macro.clone())]);
        macros.extend(crate::distro::distro_macros(
            &base.distro,
            &base.release,
            &base.dist_macro,
        ));
        macros.extend(c.macros.clone());
        snapshots.push((c.clone(), rendered, macros));
    }
    // Every file is checked before anything is stored.
    let mut infos = Vec::new();
    for s in &sub.srpms {
        sources::validate_file_name(&s.file_name)?;
        infos.push(sources::inspect_async(s.path.to_path_buf(), s.file_name.clone()).await?);
    }
    let mut stored = Vec::new();
    for (s, info) in sub.srpms.iter().zip(&infos) {
        stored.push(sources::store(kiln, s, info).await?);
    }
    let submitter = principal.require_user()?.id;
    let now = crate::now();
    let txn = kiln.begin().await?;
    let parent = new_parent(&ctx.repo, submitter, sub.scratch, priority, now)
        .insert(&txn)
        .await?;
    let mut any_pending = false;
    for (s, source) in sub.srpms.iter().zip(&stored) {
        for (config, rendered, macros) in &snapshots {
            let skip = sources::skip_reason(source, &config.arch);
            any_pending |= skip.is_none();
            tasks::ActiveModel {
                parent_id: Set(Some(parent.id)),
                kind: Set(BUILD.into()),
                repo_id: Set(ctx.repo.id),
                owner_id: Set(ctx.repo.owner_id),
                submitter_id: Set(submitter),
                state: Set(if skip.is_some() {
                    TaskState::Skipped
                } else {
                    TaskState::Pending
                }
                .as_str()
                .into()),
                scratch: Set(sub.scratch),
                priority: Set(priority),
                source_id: Set(Some(source.id)),
                file_name: Set(Some(s.file_name.clone())),
                mock_config_name: Set(Some(config.name.clone())),
                mock_config_snapshot: Set(Some(serde_json::json!({
                    "config": config,
                    "rendered": rendered,
                    "macros": macros,
                    "nocheck": sub.nocheck || config.nocheck,
                    // What an agent's job needs, so a claim reads no other rows.
                    "repo": ctx.full_name(),
                    "srpm": {"sha256": source.sha256, "size": source.size},
                }))),
                arch: Set(Some(config.arch.clone())),
                reason: Set(skip),
                attempt: Set(0),
                cancel_requested: Set(false),
                created_at: Set(now),
                finished_at: Set(None),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
    }
    update_parent(&txn, parent.id).await?;
    super::events::emit_build(&txn, &parent, "kiln.build.submit").await?;
    txn.commit().await?;
    tracing::info!(task = parent.id, repo = %ctx.full_name(), srpms = stored.len(), configs = snapshots.len(), "submitted");
    if any_pending {
        kiln.events.work_available();
    }
    get_in(kiln, parent.id).await
}

/// A new, pending parent task in `repo`.
fn new_parent(
    repo: &repos::Model,
    submitter: i32,
    scratch: bool,
    priority: i32,
    now: time::OffsetDateTime,
) -> tasks::ActiveModel {
    tasks::ActiveModel {
        parent_id: Set(None),
        kind: Set(BUILD.into()),
        repo_id: Set(repo.id),
        owner_id: Set(repo.owner_id),
        submitter_id: Set(submitter),
        state: Set(TaskState::Pending.as_str().into()),
        scratch: Set(scratch),
        priority: Set(priority),
        attempt: Set(0),
        cancel_requested: Set(false),
        created_at: Set(now),
        ..Default::default()
    }
}

/// Recomputes a parent's state, start and end from its subtasks.
async fn update_parent(db: &impl ConnectionTrait, parent_id: i32) -> CoreResult<()> {
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
        super::publish::queue_for_parent(db, parent).await?;
        if state.is_final() && !was_final {
            super::events::emit_build(db, parent, "kiln.build.end").await?;
        }
    }
    Ok(())
}

/// Moves a subtask from `from` to `to` if it is still in `from`; false if someone else moved
/// it first.
async fn transition(
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

fn artifact_url(a: &artifacts::Model) -> String {
    format!("/api/v1/tasks/{}/artifacts/{}", a.task_id, a.file_name)
}

fn artifact_wire(a: &artifacts::Model) -> Artifact {
    Artifact {
        id: a.id,
        file_name: a.file_name.clone(),
        kind: a.kind.clone(),
        name: a.name.clone(),
        epoch: a.epoch,
        version: a.version.clone(),
        release: a.release.clone(),
        arch: a.arch.clone(),
        license: a.license.clone(),
        size: a.size,
        sha256: a.sha256.clone(),
        url: artifact_url(a),
    }
}

/// The parent task `id` (or the parent of subtask `id`) as the API shows it.
async fn get_in(kiln: &Kiln, id: i32) -> CoreResult<Task> {
    let t = tasks::Entity::find_by_id(id)
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no task {id}")))?;
    let parent = match t.parent_id {
        Some(p) => tasks::Entity::find_by_id(p)
            .one(&kiln.db)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("there is no task {p}")))?,
        None => t,
    };
    Ok(wire_tasks(kiln, vec![parent])
        .await?
        .into_iter()
        .next()
        .expect("one task"))
}

/// Parents with their subtasks, sources, agents, artifacts; four queries however many tasks.
async fn wire_tasks(kiln: &Kiln, parents: Vec<tasks::Model>) -> CoreResult<Vec<Task>> {
    let ids: Vec<i32> = parents.iter().map(|p| p.id).collect();
    let subs = tasks::Entity::find()
        .filter(tasks::Column::ParentId.is_in(ids.clone()))
        .order_by_asc(tasks::Column::Id)
        .all(&kiln.db)
        .await?;
    let sub_ids: Vec<i32> = subs.iter().map(|s| s.id).collect();
    let arts = artifacts::Entity::find()
        .filter(artifacts::Column::TaskId.is_in(sub_ids))
        .order_by_asc(artifacts::Column::FileName)
        .all(&kiln.db)
        .await?;
    let source_ids: Vec<i32> = subs.iter().filter_map(|s| s.source_id).collect();
    let srcs: HashMap<i32, source_rows::Model> = source_rows::Entity::find()
        .filter(source_rows::Column::Id.is_in(source_ids))
        .all(&kiln.db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let agent_ids: Vec<i32> = subs.iter().filter_map(|s| s.agent_id).collect();
    let agent_names: HashMap<i32, String> = agents::Entity::find()
        .filter(agents::Column::Id.is_in(agent_ids))
        .all(&kiln.db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let repo_names = super::repos::full_names(&kiln.db, parents.iter().map(|p| p.repo_id)).await?;
    let user_ids: Vec<i32> = parents.iter().map(|p| p.submitter_id).collect();
    let user_names: HashMap<i32, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(user_ids))
        .all(&kiln.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    let publish_states = super::publish::states(&kiln.db, &parents).await?;
    Ok(parents
        .into_iter()
        .map(|p| {
            let mine: Vec<&tasks::Model> =
                subs.iter().filter(|s| s.parent_id == Some(p.id)).collect();
            let state = state_of(&p);
            let publish_state = publish_states
                .get(&p.id)
                .copied()
                .unwrap_or(PublishState::Waiting);
            Task {
                id: p.id,
                repo: repo_names.get(&p.repo_id).cloned().unwrap_or_default(),
                state,
                scratch: p.scratch,
                priority: p.priority,
                submitter: user_names.get(&p.submitter_id).cloned(),
                publish_state,
                created_at: p.created_at,
                started_at: p.started_at,
                finished_at: p.finished_at,
                subtasks: mine
                    .into_iter()
                    .map(|s| Subtask {
                        id: s.id,
                        mock_config: s.mock_config_name.clone().unwrap_or_default(),
                        arch: s.arch.clone().unwrap_or_default(),
                        state: state_of(s),
                        package: s.source_id.and_then(|id| srcs.get(&id)).map(|src| {
                            SourcePackage {
                                name: src.name.clone(),
                                epoch: src.epoch,
                                version: src.version.clone(),
                                release: src.release.clone(),
                                sha256: src.sha256.clone(),
                                size: src.size,
                            }
                        }),
                        file_name: s.file_name.clone(),
                        reason: s.reason.clone(),
                        failure_stage: s.failure_stage.as_deref().and_then(FailureStage::parse),
                        backend: s.backend.clone(),
                        nocheck: s
                            .mock_config_snapshot
                            .as_ref()
                            .and_then(|j| j["nocheck"].as_bool())
                            .unwrap_or(false),
                        attempt: s.attempt,
                        agent: s.agent_id.and_then(|a| agent_names.get(&a).cloned()),
                        started_at: s.started_at,
                        finished_at: s.finished_at,
                        artifacts: arts
                            .iter()
                            .filter(|a| a.task_id == s.id)
                            .map(artifact_wire)
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect())
}

/// Loads a task and checks `action` in its repo.
async fn authorize_task(
    kiln: &Kiln,
    principal: &Principal,
    id: i32,
    action: Action,
) -> CoreResult<(tasks::Model, RepoCtx)> {
    let t = tasks::Entity::find_by_id(id)
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no task {id}")))?;
    let (repo, owner) = repos::Entity::find_by_id(t.repo_id)
        .find_also_related(users::Entity)
        .one(&kiln.db)
        .await?
        .and_then(|(r, u)| Some((r, u?)))
        .ok_or_else(|| CoreError::not_found(format!("there is no task {id}")))?;
    let ctx = authorize_repo(kiln, principal, &owner.username, &repo.name, action).await?;
    Ok((t, ctx))
}

pub async fn get(kiln: &Kiln, principal: &Principal, id: i32) -> CoreResult<Task> {
    authorize_task(kiln, principal, id, Action::ViewRepo).await?;
    get_in(kiln, id).await
}

/// Which of a repo's parent tasks a list shows; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub state: Option<TaskState>,
    /// The source package's name (of any of its subtasks).
    pub package: Option<String>,
    /// A mock config name (of any of its subtasks).
    pub chroot: Option<String>,
}

/// A repo's parent tasks, newest first.
pub async fn list_for_repo(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    filter: &TaskFilter,
    page: PageRequest,
) -> CoreResult<Page<Task>> {
    use sea_orm::sea_query::Query;
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ViewRepo).await?;
    let mut q = tasks::Entity::find()
        .filter(tasks::Column::RepoId.eq(ctx.repo.id))
        .filter(tasks::Column::ParentId.is_null());
    if let Some(state) = filter.state {
        q = q.filter(tasks::Column::State.eq(state.as_str()));
    }
    if let Some(chroot) = &filter.chroot {
        q = q.filter(
            tasks::Column::Id.in_subquery(
                Query::select()
                    .column(tasks::Column::ParentId)
                    .from(tasks::Entity)
                    .and_where(tasks::Column::RepoId.eq(ctx.repo.id))
                    .and_where(tasks::Column::MockConfigName.eq(chroot.as_str()))
                    .to_owned(),
            ),
        );
    }
    if let Some(package) = &filter.package {
        q = q.filter(
            tasks::Column::Id.in_subquery(
                Query::select()
                    .column(tasks::Column::ParentId)
                    .from(tasks::Entity)
                    .and_where(tasks::Column::RepoId.eq(ctx.repo.id))
                    .and_where(
                        tasks::Column::SourceId.in_subquery(
                            Query::select()
                                .column(source_rows::Column::Id)
                                .from(source_rows::Entity)
                                .and_where(source_rows::Column::Name.eq(package.as_str()))
                                .to_owned(),
                        ),
                    )
                    .to_owned(),
            ),
        );
    }
    let total = q.clone().count(&kiln.db).await?;
    let parents = q
        .order_by_desc(tasks::Column::Id)
        .offset((page.page - 1) * page.per_page)
        .limit(page.per_page)
        .all(&kiln.db)
        .await?;
    Ok(page.page_of(wire_tasks(kiln, parents).await?, total))
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

/// Submits again: a new parent task with the same SRPMs and mock config snapshots, for all
/// subtasks or only those that failed or were canceled.
pub async fn resubmit(
    kiln: &Kiln,
    principal: &Principal,
    id: i32,
    only_failed: bool,
) -> CoreResult<Task> {
    let (t, ctx) = authorize_task(kiln, principal, id, Action::ResubmitBuild).await?;
    super::repos::accepting_builds(&ctx)?;
    let parent_id = t.parent_id.unwrap_or(t.id);
    let parent = tasks::Entity::find_by_id(parent_id)
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::not_found("task"))?;
    let subs = tasks::Entity::find()
        .filter(tasks::Column::ParentId.eq(parent_id))
        .order_by_asc(tasks::Column::Id)
        .all(&kiln.db)
        .await?;
    let chosen: Vec<&tasks::Model> = subs
        .iter()
        .filter(|s| !only_failed || matches!(state_of(s), TaskState::Failed | TaskState::Canceled))
        .filter(|s| state_of(s) != TaskState::Skipped)
        .collect();
    if chosen.is_empty() {
        return Err(CoreError::validation(
            "only_failed",
            "there is nothing to resubmit",
        ));
    }
    let submitter = principal.require_user()?.id;
    let now = crate::now();
    let txn = kiln.begin().await?;
    let new_parent = new_parent(&ctx.repo, submitter, parent.scratch, parent.priority, now)
        .insert(&txn)
        .await?;
    for s in chosen {
        tasks::ActiveModel {
            parent_id: Set(Some(new_parent.id)),
            kind: Set(BUILD.into()),
            repo_id: Set(s.repo_id),
            owner_id: Set(s.owner_id),
            submitter_id: Set(submitter),
            state: Set(TaskState::Pending.as_str().into()),
            scratch: Set(s.scratch),
            priority: Set(s.priority),
            source_id: Set(s.source_id),
            file_name: Set(s.file_name.clone()),
            mock_config_name: Set(s.mock_config_name.clone()),
            mock_config_snapshot: Set(s.mock_config_snapshot.clone()),
            arch: Set(s.arch.clone()),
            attempt: Set(0),
            cancel_requested: Set(false),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    update_parent(&txn, new_parent.id).await?;
    super::events::emit_build(&txn, &new_parent, "kiln.build.submit").await?;
    txn.commit().await?;
    kiln.events.work_available();
    get_in(kiln, new_parent.id).await
}

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
            all_queues(kiln, &arches).await?
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
                        super::events::emit_build(&txn, parent, "kiln.build.start").await?;
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
async fn held_back(kiln: &Kiln, db: &impl ConnectionTrait) -> CoreResult<(Vec<i32>, Vec<i32>)> {
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

async fn at_capacity(kiln: &Kiln, agent: &agents::Model) -> CoreResult<bool> {
    let running = tasks::Entity::find()
        .filter(tasks::Column::AgentId.eq(agent.id))
        .filter(tasks::Column::State.eq(TaskState::Running.as_str()))
        .count(&kiln.db)
        .await?;
    Ok(running >= agent.capacity.max(0) as u64)
}

/// Each owner's top-priority queue head, by index lookups, in one statement: a skip scan over
/// the owners with pending work (a recursive query; no scan of the whole queue), then per owner
/// its highest priority and the oldest subtask at it.
async fn top_queues(kiln: &Kiln) -> CoreResult<Vec<(i32, i32, i32)>> {
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

/// Every (owner, priority) queue with work for these arches, with its oldest subtask.
async fn all_queues(kiln: &Kiln, arches: &[String]) -> CoreResult<Vec<(i32, i32, i32)>> {
    Ok(tasks::Entity::find()
        .select_only()
        .column(tasks::Column::OwnerId)
        .column(tasks::Column::Priority)
        .column_as(tasks::Column::Id.min(), "head")
        .filter(tasks::Column::State.eq(TaskState::Pending.as_str()))
        .filter(tasks::Column::ParentId.is_not_null())
        .filter(tasks::Column::Arch.is_in(arches.to_vec()))
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
async fn claim_from_queue(
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
    let queue = sea_orm::Condition::all()
        .add(tasks::Column::State.eq(TaskState::Pending.as_str()))
        .add(tasks::Column::OwnerId.eq(owner))
        .add(tasks::Column::Priority.eq(priority))
        .add(tasks::Column::ParentId.is_not_null())
        .add(tasks::Column::Arch.is_in(arches.to_vec()))
        .add_option(
            (!blocked_repos.is_empty())
                .then(|| tasks::Column::RepoId.is_not_in(blocked_repos.to_vec())),
        );
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
async fn job_of(kiln: &Kiln, t: &tasks::Model, attempt: i32) -> CoreResult<Job> {
    let snapshot = t.mock_config_snapshot.clone().unwrap_or_default();
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
        srpm_file_name: t
            .file_name
            .clone()
            .unwrap_or_else(|| "source.src.rpm".into()),
        srpm_sha256: sha256,
        srpm_size: size,
        nocheck: snapshot["nocheck"].as_bool().unwrap_or(false),
        timeout_seconds: kiln.config.builds.build_timeout_seconds,
    })
}

/// The subtask `id` if `agent` holds it, running.
pub async fn held_by(kiln: &Kiln, agent: &agents::Model, id: i32) -> CoreResult<tasks::Model> {
    tasks::Entity::find_by_id(id)
        .filter(tasks::Column::AgentId.eq(agent.id))
        .filter(tasks::Column::State.eq(TaskState::Running.as_str()))
        .one(&kiln.db)
        .await?
        .ok_or_else(|| {
            CoreError::Conflict(format!(
                "task {id} is not running on this agent (canceled, or its lease expired)"
            ))
        })
}

/// The SRPM of a subtask, for the agent that builds it.
pub async fn source_of(
    kiln: &Kiln,
    agent: &agents::Model,
    id: i32,
) -> CoreResult<source_rows::Model> {
    let t = held_by(kiln, agent, id).await?;
    source_rows::Entity::find_by_id(t.source_id.unwrap_or_default())
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::internal("subtask without source"))
}

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

/// Appends to a running subtask's log.
pub async fn append_log(
    kiln: &Kiln,
    agent: &agents::Model,
    id: i32,
    chunk: String,
) -> CoreResult<()> {
    held_by(kiln, agent, id).await?;
    if chunk.is_empty() {
        return Ok(());
    }
    task_logs::ActiveModel {
        task_id: Set(id),
        chunk: Set(chunk),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(&kiln.db)
    .await?;
    kiln.events.changed(id);
    Ok(())
}

/// Log chunks after `after` (a chunk id) of a subtask, or of every subtask of a parent.
pub async fn log_chunks(
    kiln: &Kiln,
    principal: &Principal,
    id: i32,
    after: i32,
) -> CoreResult<(Vec<(i32, String)>, bool)> {
    let (t, _) = authorize_task(kiln, principal, id, Action::ViewRepo).await?;
    let (ids, names): (Vec<i32>, HashMap<i32, String>) = match t.parent_id {
        Some(_) => (vec![t.id], HashMap::new()),
        None => {
            let subs = tasks::Entity::find()
                .filter(tasks::Column::ParentId.eq(t.id))
                .all(&kiln.db)
                .await?;
            (
                subs.iter().map(|s| s.id).collect(),
                subs.iter()
                    .map(|s| (s.id, s.mock_config_name.clone().unwrap_or_default()))
                    .collect(),
            )
        }
    };
    let rows = task_logs::Entity::find()
        .filter(task_logs::Column::TaskId.is_in(ids.clone()))
        .filter(task_logs::Column::Id.gt(after))
        .order_by_asc(task_logs::Column::Id)
        .limit(1000)
        .all(&kiln.db)
        .await?;
    let chunks: Vec<(i32, String)> = rows
        .into_iter()
        .map(|r| {
            let text = match names.get(&r.task_id) {
                // A parent's log interleaves its subtasks', each line marked with its config.
                Some(name) => r.chunk.lines().map(|l| format!("[{name}] {l}\n")).collect(),
                None => r.chunk,
            };
            (r.id, text)
        })
        .collect();
    let rows_of = tasks::Entity::find()
        .filter(tasks::Column::Id.is_in(ids))
        .all(&kiln.db)
        .await?;
    let finished = rows_of.iter().all(|s| state_of(s).is_final());
    if after == 0
        && chunks.is_empty()
        && !rows_of.is_empty()
        && rows_of.iter().all(|s| s.logs_removed_at.is_some())
    {
        return Err(CoreError::Gone(format!(
            "the logs of task {id} were removed by the repo's retention policy"
        )));
    }
    Ok((chunks, finished))
}

/// Stores a file an agent uploads for a running subtask, reading the RPM header for its
/// NEVRA and license.
pub async fn store_artifact(
    kiln: &Kiln,
    agent: &agents::Model,
    id: i32,
    staged: sources::Staged,
) -> CoreResult<Artifact> {
    let t = held_by(kiln, agent, id).await?;
    let name = staged.file_name.clone();
    let ok_name = !name.is_empty()
        && name.len() <= 255
        && !name.contains(['/', '\\'])
        && !name.starts_with('.')
        && !name.chars().any(|c| c.is_control() || c.is_whitespace())
        && (name.ends_with(".rpm") || crate::provenance::is_log_name(&name));
    if !ok_name {
        return Err(CoreError::validation(
            "file_name",
            format!(
                "{name:?} is not an RPM or a build log ({})",
                crate::provenance::LOG_NAMES.join(", ")
            ),
        ));
    }
    let mut row = artifacts::ActiveModel {
        task_id: Set(t.id),
        parent_id: Set(t.parent_id.unwrap_or(t.id)),
        repo_id: Set(t.repo_id),
        source_id: Set(t.source_id),
        agent_id: Set(Some(agent.id)),
        submitter_id: Set(t.submitter_id),
        file_name: Set(name.clone()),
        kind: Set("log".into()),
        size: Set(staged.size as i64),
        sha256: Set(staged.sha256.clone()),
        created_at: Set(crate::now()),
        ..Default::default()
    };
    if name.ends_with(".rpm") {
        let path = staged.path.to_path_buf();
        let meta = tokio::task::spawn_blocking(move || rpm::PackageMetadata::open(path))
            .await
            .map_err(|_| {
                CoreError::validation("file", format!("{name}: the RPM header is damaged"))
            })?
            .map_err(|e| {
                CoreError::validation("file", format!("{name}: not a readable RPM ({e})"))
            })?;
        row.kind = Set(if meta.is_source_package() {
            "srpm"
        } else {
            "rpm"
        }
        .into());
        row.name = Set(meta.get_name().ok().map(str::to_owned));
        row.epoch = Set(meta.get_epoch().ok().map(|e| e as i32));
        row.version = Set(meta.get_version().ok().map(str::to_owned));
        row.release = Set(meta.get_release().ok().map(str::to_owned));
        row.arch = Set(Some(if meta.is_source_package() {
            "src".to_owned()
        } else {
            meta.get_arch().unwrap_or("").to_owned()
        }));
        row.license = Set(meta.get_license().ok().map(str::to_owned));
        // Only what this build made from its own SRPM gets the repo's key.
        let source = source_rows::Entity::find_by_id(t.source_id.unwrap_or_default())
            .one(&kiln.db)
            .await?
            .ok_or_else(|| CoreError::internal("subtask without source"))?;
        let want = crate::provenance::Expected {
            name: &source.name,
            version: &source.version,
            arch: t.arch.as_deref().unwrap_or_default(),
            started_at: t.started_at.map(|s| s.unix_timestamp()),
        };
        let arch = if meta.is_source_package() {
            "src"
        } else {
            meta.get_arch().unwrap_or("")
        };
        let built = crate::provenance::Built {
            is_source: meta.is_source_package(),
            name: meta.get_name().unwrap_or(""),
            version: meta.get_version().unwrap_or(""),
            arch,
            source_rpm: meta.get_source_rpm().ok(),
            build_time: meta.get_build_time().ok(),
        };
        crate::provenance::check(&name, &want, &built)
            .map_err(|why| CoreError::validation("file", why))?;
    }
    // RPMs are signed with the repo key and described for the repo metadata now, once.
    let mut package = None;
    if name.ends_with(".rpm") {
        let imported = super::publish::import_rpm(kiln, &t, &staged.path, &name).await?;
        row.sha256 = Set(imported.sha256);
        row.size = Set(imported.size as i64);
        package = Some((imported.href, imported.package));
    }
    let key = format!(
        "repos/{}/builds/{}/{}/{}",
        t.repo_id,
        t.parent_id.unwrap_or(t.id),
        t.id,
        name
    );
    row.storage_key = Set(key.clone());
    kiln.storage.put_file(&key, &staged.path).await?;
    let txn = kiln.begin().await?;
    artifacts::Entity::delete_many()
        .filter(artifacts::Column::TaskId.eq(t.id))
        .filter(artifacts::Column::FileName.eq(&name))
        .exec(&txn)
        .await?;
    let saved = row.insert(&txn).await?;
    if let Some((href, mut package)) = package {
        use crate::entities::packages;
        // A re-upload of the same file replaces its entry.
        packages::Entity::delete_many()
            .filter(packages::Column::RepoId.eq(t.repo_id))
            .filter(packages::Column::Href.eq(href))
            .exec(&txn)
            .await?;
        package.artifact_id = Set(saved.id);
        package.insert(&txn).await?;
    }
    txn.commit().await?;
    Ok(artifact_wire(&saved))
}

/// An artifact's row, for downloading.
pub async fn artifact(
    kiln: &Kiln,
    principal: &Principal,
    id: i32,
    file_name: &str,
) -> CoreResult<artifacts::Model> {
    authorize_task(kiln, principal, id, Action::ViewRepo).await?;
    artifacts::Entity::find()
        .filter(artifacts::Column::TaskId.eq(id))
        .filter(artifacts::Column::FileName.eq(file_name))
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("task {id} has no file {file_name}")))
}

/// An agent reports the end of a build.
pub async fn finish(kiln: &Kiln, agent: &agents::Model, id: i32, report: Finish) -> CoreResult<()> {
    let t = held_by(kiln, agent, id).await?;
    let reason = report
        .reason
        .map(|r| r.chars().take(2000).collect::<String>());
    let backend = report
        .backend
        .map(|b| b.chars().take(300).collect::<String>());
    let stage = match report.result {
        BuildResult::Failed => report.stage,
        _ => None,
    };
    let txn = kiln.begin().await?;
    // What built it and where it failed, before the state changes (the end event reads them).
    tasks::Entity::update_many()
        .col_expr(
            tasks::Column::Backend,
            Expr::value(match report.result {
                BuildResult::HandedBack => None,
                _ => backend,
            }),
        )
        .col_expr(
            tasks::Column::FailureStage,
            Expr::value(stage.map(|s| s.as_str().to_owned())),
        )
        .filter(tasks::Column::Id.eq(id))
        .filter(tasks::Column::State.eq(TaskState::Running.as_str()))
        .exec(&txn)
        .await?;
    match report.result {
        BuildResult::Succeeded => {
            let rpms = artifacts::Entity::find()
                .filter(artifacts::Column::TaskId.eq(id))
                .filter(artifacts::Column::Kind.eq("rpm"))
                .count(&txn)
                .await?;
            if rpms == 0 {
                tasks::Entity::update_many()
                    .col_expr(
                        tasks::Column::FailureStage,
                        Expr::value(FailureStage::Results.as_str()),
                    )
                    .filter(tasks::Column::Id.eq(id))
                    .exec(&txn)
                    .await?;
                transition(
                    &txn,
                    &t,
                    TaskState::Running,
                    TaskState::Failed,
                    Some("the build produced no binary RPMs".into()),
                )
                .await?;
            } else {
                transition(&txn, &t, TaskState::Running, TaskState::Succeeded, None).await?;
            }
        }
        BuildResult::Failed => {
            transition(
                &txn,
                &t,
                TaskState::Running,
                TaskState::Failed,
                Some(reason.unwrap_or_else(|| "the build failed".into())),
            )
            .await?;
        }
        BuildResult::Canceled => {
            transition(
                &txn,
                &t,
                TaskState::Running,
                TaskState::Canceled,
                Some("canceled while building".into()),
            )
            .await?;
        }
        BuildResult::HandedBack => {
            requeue_or_fail(
                &txn,
                kiln,
                &t,
                reason.unwrap_or_else(|| "handed back by its agent".into()),
            )
            .await?;
        }
    }
    txn.commit().await?;
    if let Some(started) = t.started_at {
        let result = match report.result {
            BuildResult::Succeeded => "succeeded",
            BuildResult::Failed => "failed",
            BuildResult::Canceled => "canceled",
            BuildResult::HandedBack => "handed_back",
        };
        kiln.metrics
            .observe_build(result, (crate::now() - started).as_seconds_f64().max(0.0));
    }
    kiln.publish_wake.notify_one();
    kiln.events.changed(id);
    if let Some(p) = t.parent_id {
        kiln.events.changed(p);
    }
    // A handed-back build is queued again; any end may bring an owner or repo under its
    // quota.
    kiln.events.work_available();
    Ok(())
}

/// Back to the queue, unless it has had its attempts: then it fails as an infrastructure
/// error (distinct from a build failure).
async fn requeue_or_fail(
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
