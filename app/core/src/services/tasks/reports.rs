//! What agents report while they build: log lines, artifacts (checked: only what the build
//! made is stored and signed), and the end with its stage.

use std::collections::HashMap;

use kiln_proto::agent::{BuildResult, FailureStage, Finish};
use kiln_proto::{Artifact, TaskState};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::super::sources::{self};
use crate::entities::{agents, artifacts, sources as source_rows, task_logs, tasks};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::Kiln;

use super::*;

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
    let srpm_step = super::sources::is_srpm_step(&t);
    if srpm_step && name.ends_with(".rpm") && !name.ends_with(".src.rpm") {
        return Err(CoreError::validation(
            "file",
            format!("{name}: the SRPM step uploads only the SRPM it made and its log"),
        ));
    }
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
        if srpm_step && !meta.is_source_package() {
            return Err(CoreError::validation(
                "file",
                format!("{name}: not a source RPM"),
            ));
        }
    }
    if name.ends_with(".rpm") && !srpm_step {
        let path = staged.path.to_path_buf();
        let meta = tokio::task::spawn_blocking(move || rpm::PackageMetadata::open(path))
            .await
            .map_err(|_| CoreError::internal("reading an RPM header"))?
            .map_err(|e| CoreError::validation("file", format!("{name}: {e}")))?;
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
    if name.ends_with(".rpm") && !srpm_step {
        let imported = super::super::publish::import_rpm(kiln, &t, &staged.path, &name).await?;
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
    // A source's SRPM step that succeeded: its SRPM is stored first (outside the
    // transaction); its builds are inserted with the step's end, before the parent's state is
    // derived, so the parent never looks finished with only the step done.
    let mut made = None;
    if super::sources::is_srpm_step(&t) && report.result == BuildResult::Succeeded {
        made =
            Some(super::sources::srpm_made(kiln, &t, report.commit, report.source_sha256).await?);
    }
    let txn = kiln.begin().await?;
    // The task's read token (a private repo's) ends with the task.
    super::super::read_tokens::revoke_for_task(&txn, t.id).await?;
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
        BuildResult::Succeeded if super::sources::is_srpm_step(&t) => match made {
            Some(Ok(made)) => {
                made.apply(&txn).await?;
                if !transition(&txn, &t, TaskState::Running, TaskState::Succeeded, None).await? {
                    // No longer running (canceled, lease lost): no builds; the transaction is
                    // dropped unwritten.
                    return Ok(());
                }
            }
            None => return Err(CoreError::internal("an SRPM step without its result")),
            Some(Err(why)) => {
                tasks::Entity::update_many()
                    .col_expr(
                        tasks::Column::FailureStage,
                        Expr::value(FailureStage::Source.as_str()),
                    )
                    .filter(tasks::Column::Id.eq(id))
                    .exec(&txn)
                    .await?;
                transition(&txn, &t, TaskState::Running, TaskState::Failed, Some(why)).await?;
            }
        },
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
