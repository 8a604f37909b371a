//! Submissions: a parent task with one build subtask per SRPM and mock config, each keeping a
//! snapshot of what it builds with; resubmitting the same.

use std::collections::BTreeMap;

use kiln_proto::{Task, TaskState};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::super::mock_configs;
use super::super::sources::{self, Staged};
use crate::entities::{repos, tasks};
use crate::error::{CoreError, CoreResult};
use crate::policy::{authorize, Action, Principal};
use crate::Kiln;

use super::*;

/// What a submission asks for.
pub struct Submission {
    /// The uploaded SRPMs, staged but not yet checked; at least one.
    pub srpms: Vec<Staged>,
    /// Mock config names; empty: every enabled config of the repo.
    pub mock_configs: Vec<String>,
    /// A scratch build: built, never published.
    pub scratch: bool,
    /// Skip `%check` (as does a mock config that says so).
    pub nocheck: bool,
    /// -100 to 100, higher builds first (default 0); anything but 0 needs the releng role.
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
    let ctx = super::super::access::authorize_submission(kiln, principal, owner, repo).await?;
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
        let base = super::super::chroots::find(kiln, &c.base).await?;
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
            new_subtask(
                &parent,
                Some(source.id),
                Some(s.file_name.clone()),
                Some(config.name.clone()),
                Some(serde_json::json!({
                    "config": config,
                    "rendered": rendered,
                    "macros": macros,
                    "nocheck": sub.nocheck || config.nocheck,
                    // What an agent's job needs, so a claim reads no other rows.
                    "repo": ctx.full_name(),
                    "srpm": {"sha256": source.sha256, "size": source.size},
                })),
                Some(config.arch.clone()),
                skip,
            )
            .insert(&txn)
            .await?;
        }
    }
    update_parent(&txn, parent.id).await?;
    super::super::events::emit_build(&txn, &parent, "kiln.build.submit").await?;
    txn.commit().await?;
    tracing::info!(task = parent.id, repo = %ctx.full_name(), srpms = stored.len(), configs = snapshots.len(), "submitted");
    if any_pending {
        kiln.events.work_available();
    }
    get_in(kiln, parent.id).await
}

/// A new, pending parent task in `repo`.
pub(super) fn new_parent(
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

/// A build subtask of `parent` (its repo, owner, submitter, scratch and priority): one SRPM
/// (`source_id`, `file_name`) on one mock config, with the snapshot it builds with; skipped
/// with the reason `skip`, else pending.
fn new_subtask(
    parent: &tasks::Model,
    source_id: Option<i32>,
    file_name: Option<String>,
    mock_config: Option<String>,
    snapshot: Option<serde_json::Value>,
    arch: Option<String>,
    skip: Option<String>,
) -> tasks::ActiveModel {
    tasks::ActiveModel {
        parent_id: Set(Some(parent.id)),
        kind: Set(BUILD.into()),
        repo_id: Set(parent.repo_id),
        owner_id: Set(parent.owner_id),
        submitter_id: Set(parent.submitter_id),
        state: Set(if skip.is_some() {
            TaskState::Skipped
        } else {
            TaskState::Pending
        }
        .as_str()
        .into()),
        scratch: Set(parent.scratch),
        priority: Set(parent.priority),
        source_id: Set(source_id),
        file_name: Set(file_name),
        mock_config_name: Set(mock_config),
        mock_config_snapshot: Set(snapshot),
        arch: Set(arch),
        reason: Set(skip),
        attempt: Set(0),
        cancel_requested: Set(false),
        created_at: Set(parent.created_at),
        ..Default::default()
    }
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
    super::super::access::accepting_builds(&ctx)?;
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
        new_subtask(
            &new_parent,
            s.source_id,
            s.file_name.clone(),
            s.mock_config_name.clone(),
            s.mock_config_snapshot.clone(),
            s.arch.clone(),
            None,
        )
        .insert(&txn)
        .await?;
    }
    update_parent(&txn, new_parent.id).await?;
    super::super::events::emit_build(&txn, &new_parent, "kiln.build.submit").await?;
    txn.commit().await?;
    kiln.events.work_available();
    get_in(kiln, new_parent.id).await
}
