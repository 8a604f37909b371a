//! Submissions: a parent task with one build subtask per SRPM and mock config, each keeping a
//! snapshot of what it builds with; resubmitting the same.

use std::collections::BTreeMap;

use kiln_proto::{Task, TaskState};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::super::access::RepoCtx;
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
    let priority = check_priority(principal, &ctx, sub.priority)?;
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
    let snapshots = snapshots(kiln, principal, &ctx, &sub.mock_configs).await?;
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
        for row in builds(
            &parent,
            source,
            &s.file_name,
            &snapshots,
            sub.nocheck,
            &ctx.full_name(),
        ) {
            any_pending |= row.state.as_ref() == TaskState::Pending.as_str();
            row.insert(&txn).await?;
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

/// The priority asked for, if the caller may set it: 0 for anyone, others for rel-eng, within
/// -100 to 100.
pub(super) fn check_priority(
    principal: &Principal,
    ctx: &RepoCtx,
    priority: Option<i32>,
) -> CoreResult<i32> {
    let priority = priority.unwrap_or(0);
    if priority != 0 {
        authorize(principal, Action::SetBuildPriority, ctx.role)
            .map_err(|_| CoreError::Forbidden("setting a priority needs the releng role".into()))?;
        if !(-100..=100).contains(&priority) {
            return Err(CoreError::validation("priority", "must be -100 to 100"));
        }
    }
    Ok(priority)
}

/// A mock config as a submission takes it: its settings, the rendered config and the macros
/// the rpmbuild backend defines.
pub(super) struct Snapshot {
    pub(super) config: kiln_proto::MockConfig,
    pub(super) rendered: String,
    pub(super) macros: BTreeMap<String, String>,
}

impl Snapshot {
    /// What a subtask keeps of it.
    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "config": self.config,
            "rendered": self.rendered,
            "macros": self.macros,
        })
    }

    /// As [`Snapshot::json`] wrote it.
    pub(super) fn from_json(v: &serde_json::Value) -> Option<Snapshot> {
        Some(Snapshot {
            config: serde_json::from_value(v["config"].clone()).ok()?,
            rendered: v["rendered"].as_str()?.to_owned(),
            macros: serde_json::from_value(v["macros"].clone()).ok()?,
        })
    }
}

/// The mock configs named (`chroot` errors for unknown or disabled ones), or every enabled one
/// when none is, each with its snapshot.
pub(super) async fn snapshots(
    kiln: &Kiln,
    principal: &Principal,
    ctx: &RepoCtx,
    names: &[String],
) -> CoreResult<Vec<Snapshot>> {
    let (owner, repo) = (ctx.owner.username.as_str(), ctx.repo.name.as_str());
    let configs = mock_configs::list(kiln, principal, owner, repo).await?;
    let chosen: Vec<_> = if names.is_empty() {
        configs.into_iter().filter(|c| c.enabled).collect()
    } else {
        let mut out: Vec<kiln_proto::MockConfig> = Vec::new();
        for name in names {
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
            if !out.iter().any(|x| x.name == c.name) {
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
    let mut out = Vec::new();
    for c in chosen {
        out.push(snapshot_of(kiln, principal, ctx, c).await?);
    }
    Ok(out)
}

/// The snapshot of the repo's mock config `c`.
pub(super) async fn snapshot_of(
    kiln: &Kiln,
    principal: &Principal,
    ctx: &RepoCtx,
    c: kiln_proto::MockConfig,
) -> CoreResult<Snapshot> {
    let (owner, repo) = (ctx.owner.username.as_str(), ctx.repo.name.as_str());
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
    Ok(Snapshot {
        config: c,
        rendered,
        macros,
    })
}

/// The build subtasks of `parent` for one stored SRPM: one per snapshot, skipped where the
/// SRPM excludes the config's arch.
pub(super) fn builds(
    parent: &tasks::Model,
    source: &crate::entities::sources::Model,
    file_name: &str,
    snapshots: &[Snapshot],
    nocheck: bool,
    repo_full_name: &str,
) -> Vec<tasks::ActiveModel> {
    snapshots
        .iter()
        .map(|snap| {
            let mut json = snap.json();
            json["nocheck"] = (nocheck || snap.config.nocheck).into();
            // What an agent's job needs, so a claim reads no other rows.
            json["repo"] = repo_full_name.into();
            json["srpm"] = serde_json::json!({"sha256": source.sha256, "size": source.size});
            new_subtask(
                parent,
                Some(source.id),
                Some(file_name.to_owned()),
                Some(snap.config.name.clone()),
                Some(json),
                Some(snap.config.arch.clone()),
                sources::skip_reason(source, &snap.config.arch),
            )
        })
        .collect()
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
pub(super) fn new_subtask(
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
    let (steps, builds): (Vec<&tasks::Model>, Vec<&tasks::Model>) =
        subs.iter().partition(|s| super::sources::is_srpm_step(s));
    let chosen: Vec<&tasks::Model> = builds
        .into_iter()
        .filter(|s| !only_failed || matches!(state_of(s), TaskState::Failed | TaskState::Canceled))
        .filter(|s| state_of(s) != TaskState::Skipped)
        .collect();
    // A source whose SRPM step failed: the step again, at the commit it fetched if it got
    // that far. Otherwise the builds again from the SRPM it made (the same commit).
    let step_again = chosen
        .is_empty()
        .then(|| steps.first().copied())
        .flatten()
        .filter(|s| matches!(state_of(s), TaskState::Failed | TaskState::Canceled));
    if chosen.is_empty() && step_again.is_none() {
        return Err(CoreError::validation(
            "only_failed",
            "there is nothing to resubmit",
        ));
    }
    let submitter = principal.require_user()?.id;
    let now = crate::now();
    let txn = kiln.begin().await?;
    let mut fresh = new_parent(&ctx.repo, submitter, parent.scratch, parent.priority, now);
    fresh.origin = Set(parent.origin.clone());
    fresh.package_id = Set(parent.package_id);
    let new_parent = fresh.insert(&txn).await?;
    if let Some(step) = step_again {
        let mut again = new_subtask(
            &new_parent,
            None,
            None,
            step.mock_config_name.clone(),
            super::sources::pinned_step(step, parent.origin.as_ref()),
            step.arch.clone(),
            None,
        );
        again.kind = Set(super::sources::SRPM.into());
        again.needs_backend = Set(step.needs_backend.clone());
        again.insert(&txn).await?;
    }
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
