//! Tasks as the API shows them: a parent with its subtasks, sources, agents and artifacts (a
//! fixed number of queries however many), one task or a repo's filtered page.

use std::collections::HashMap;

use kiln_proto::agent::FailureStage;
use kiln_proto::{Artifact, Page, PublishState, SourcePackage, Subtask, Task, TaskState};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::super::access::{authorize_repo, RepoCtx};
use super::super::PageRequest;
use crate::entities::{agents, artifacts, repos, sources as source_rows, tasks, users};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::Kiln;

use super::*;

pub(super) fn artifact_url(a: &artifacts::Model) -> String {
    format!("/api/v1/tasks/{}/artifacts/{}", a.task_id, a.file_name)
}

pub(super) fn artifact_wire(a: &artifacts::Model) -> Artifact {
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
pub(super) async fn get_in(kiln: &Kiln, id: i32) -> CoreResult<Task> {
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
pub(super) async fn wire_tasks(kiln: &Kiln, parents: Vec<tasks::Model>) -> CoreResult<Vec<Task>> {
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
    let repo_names =
        super::super::access::full_names(&kiln.db, parents.iter().map(|p| p.repo_id)).await?;
    let user_ids: Vec<i32> = parents.iter().map(|p| p.submitter_id).collect();
    let user_names: HashMap<i32, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(user_ids))
        .all(&kiln.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    let publish_states = super::super::publish::states(&kiln.db, &parents).await?;
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
                source: p
                    .origin
                    .clone()
                    .and_then(|o| serde_json::from_value(o).ok()),
                created_at: p.created_at,
                started_at: p.started_at,
                finished_at: p.finished_at,
                subtasks: mine
                    .into_iter()
                    .map(|s| Subtask {
                        id: s.id,
                        kind: if super::sources::is_srpm_step(s) {
                            kiln_proto::SubtaskKind::Srpm
                        } else {
                            kiln_proto::SubtaskKind::Build
                        },
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
pub(super) async fn authorize_task(
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
    // A task of a repo the caller cannot see is a task that does not exist.
    let ctx = authorize_repo(kiln, principal, &owner.username, &repo.name, action)
        .await
        .map_err(|e| match e {
            CoreError::NotFound(_) => CoreError::not_found(format!("there is no task {id}")),
            e => e,
        })?;
    Ok((t, ctx))
}

/// The build `id`, or the build subtask `id` belongs to, with all its subtasks (anyone); 404
/// when there is no such task.
pub async fn get(kiln: &Kiln, principal: &Principal, id: i32) -> CoreResult<Task> {
    authorize_task(kiln, principal, id, Action::ViewRepo).await?;
    get_in(kiln, id).await
}

/// Which of a repo's parent tasks a list shows; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// The parent task's state.
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
