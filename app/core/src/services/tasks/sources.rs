//! Builds from sources (git, URLs): the parent task records the source, and its first subtask
//! is the SRPM step (`kind = 'srpm'`), run by an agent in its sandbox. When that step succeeds
//! the SRPM it uploaded is checked and stored like an upload, and the build subtasks are made
//! from it, one per mock config chosen at submission.

use kiln_proto::{Origin, Source, SourceBuild, SrpmMethod, Task};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::super::outbound::source_policy;
use super::submit::{
    builds, check_priority, new_parent, new_subtask, snapshot_of, snapshots, Snapshot,
};
use super::*;
use crate::entities::{artifacts, tasks};
use crate::error::{CoreError, CoreResult};
use crate::policy::Principal;
use crate::Kiln;

/// The kind of the subtask that makes a source's SRPM.
pub(super) const SRPM: &str = "srpm";

/// Checks a source before anything is queued: its fields, its scheme, and (after DNS, now)
/// that its host is one the site lets sources reach. Errors name the field.
pub async fn check_source(kiln: &Kiln, source: &Source) -> CoreResult<()> {
    let policy = source_policy(kiln);
    let field = |f: &str, why: String| CoreError::validation(f, why);
    if source.url().len() > 2000 {
        return Err(field("source.url", "is longer than 2000 characters".into()));
    }
    let (url, _) = policy
        .check_host(source.url())
        .await
        .map_err(|e| field("source.url", e.0))?;
    match source {
        Source::Url { .. } => {
            let path = url.path();
            if !(path.ends_with(".src.rpm") || path.ends_with(".spec")) {
                return Err(field(
                    "source.url",
                    format!("{url} must name a .src.rpm or a .spec file"),
                ));
            }
        }
        Source::Git {
            reference,
            subdir,
            spec,
            method,
            ..
        } => {
            if reference.starts_with('-')
                || reference.len() > 255
                || reference
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
                || reference.contains("..")
            {
                return Err(field(
                    "source.ref",
                    format!("{reference:?} is not a git ref"),
                ));
            }
            let relative = |v: &str| {
                !v.starts_with('/')
                    && !v.contains('\\')
                    && !v.chars().any(char::is_control)
                    && v.split('/').all(|part| part != "..")
                    && v.len() <= 1000
            };
            if !relative(subdir) {
                return Err(field(
                    "source.subdir",
                    format!("{subdir:?} must be a relative path inside the tree"),
                ));
            }
            if !spec.is_empty()
                && (!relative(spec) || !spec.ends_with(".spec") || spec.contains('/'))
            {
                return Err(field(
                    "source.spec",
                    format!("{spec:?} must be the name of a .spec file in subdir"),
                ));
            }
            if *method == SrpmMethod::MakeSrpm
                && !kiln.config.sources.make_srpm_on_host
                && !has_mock_agent(kiln).await?
            {
                return Err(field(
                    "source.method",
                    "make_srpm runs the tree's code with network access: it needs a builder \
                     agent with the mock backend (none is registered here) or the site setting \
                     sources.make_srpm_on_host"
                        .into(),
                ));
            }
        }
    }
    Ok(())
}

/// The backend an SRPM step of `source` needs: `mock` for `make_srpm` unless the site lets
/// it run on the host.
pub(super) fn needs_backend(kiln: &Kiln, source: &Source) -> Option<String> {
    let make = matches!(
        source,
        Source::Git {
            method: SrpmMethod::MakeSrpm,
            ..
        }
    );
    (make && !kiln.config.sources.make_srpm_on_host).then(|| "mock".to_owned())
}

/// Whether an online agent has the mock backend (make_srpm runs in
/// its chroot).
async fn has_mock_agent(kiln: &Kiln) -> CoreResult<bool> {
    use crate::entities::agents;
    use sea_orm::PaginatorTrait;
    Ok(agents::Entity::find()
        .filter(agents::Column::Backend.eq("mock"))
        .filter(agents::Column::State.eq("online"))
        .count(&kiln.db)
        .await?
        > 0)
}

/// Queues a build from a source: the parent task with its SRPM step, which an agent runs
/// first. Nothing is written unless the source and the choice of mock configs are valid.
pub async fn submit_source(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    req: SourceBuild,
) -> CoreResult<Task> {
    submit_source_of(kiln, principal, owner, repo, req, None).await
}

/// As [`submit_source`], for the repo's stored package `package_id` when there is one (its
/// builds point back to it).
pub async fn submit_source_of(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    req: SourceBuild,
    package_id: Option<i32>,
) -> CoreResult<Task> {
    let ctx = super::super::access::authorize_submission(kiln, principal, owner, repo).await?;
    let priority = check_priority(principal, &ctx, req.priority)?;
    let snaps = snapshots(kiln, principal, &ctx, &req.chroots).await?;
    check_source(kiln, &req.source).await?;
    let submitter = principal.require_user()?.id;
    let now = crate::now();
    // The SRPM is made in the repo's SRPM-build config, else the first chosen one (its
    // macros, its arch).
    let named = match &ctx.repo.srpm_config {
        Some(name) => match snaps.iter().position(|s| &s.config.name == name) {
            Some(_) => None,
            None => {
                let (o, r) = (ctx.owner.username.as_str(), ctx.repo.name.as_str());
                match super::super::mock_configs::list(kiln, principal, o, r)
                    .await?
                    .into_iter()
                    .find(|c| &c.name == name)
                {
                    Some(c) => Some(snapshot_of(kiln, principal, &ctx, c).await?),
                    None => None,
                }
            }
        },
        None => None,
    };
    let first = named
        .as_ref()
        .or_else(|| {
            let name = ctx.repo.srpm_config.as_ref()?;
            snaps.iter().find(|s| &s.config.name == name)
        })
        .unwrap_or(&snaps[0]);
    let mut step = first.json();
    step["repo"] = ctx.full_name().into();
    step["source"] = serde_json::to_value(&req.source).unwrap_or_default();
    step["nocheck"] = req.nocheck.into();
    step["builds"] = snaps.iter().map(Snapshot::json).collect();
    let origin = Origin {
        source: req.source.clone(),
        commit: None,
        sha256: None,
    };
    let txn = kiln.begin().await?;
    let mut parent = new_parent(&ctx.repo, submitter, req.scratch, priority, now);
    parent.origin = Set(Some(serde_json::to_value(&origin).unwrap_or_default()));
    parent.package_id = Set(package_id);
    let parent = parent.insert(&txn).await?;
    let mut srpm = new_subtask(
        &parent,
        None,
        None,
        Some(first.config.name.clone()),
        Some(step),
        Some(first.config.arch.clone()),
        None,
    );
    srpm.kind = Set(SRPM.into());
    srpm.needs_backend = Set(needs_backend(kiln, &req.source));
    srpm.insert(&txn).await?;
    update_parent(&txn, parent.id).await?;
    super::super::events::emit_build(&txn, &parent, "kiln.build.submit").await?;
    txn.commit().await?;
    tracing::info!(task = parent.id, repo = %ctx.full_name(), source = %req.source.display(), "submitted from a source");
    kiln.events.work_available();
    get_in(kiln, parent.id).await
}

/// What an SRPM step that succeeded leads to: the parent's origin with the commit or SHA-256,
/// the stored SRPM, and the build subtasks. Written by [`Made::apply`] in the transaction that
/// ends the step, so a step canceled meanwhile makes no builds.
pub(super) struct Made {
    parent_id: i32,
    step_id: i32,
    origin: Option<serde_json::Value>,
    source_id: i32,
    builds: Vec<tasks::ActiveModel>,
}

impl Made {
    /// Records the origin and the SRPM and inserts the builds.
    pub(super) async fn apply(self, txn: &crate::WriteTxn) -> CoreResult<()> {
        use sea_orm::sea_query::Expr;
        tasks::Entity::update_many()
            .col_expr(tasks::Column::Origin, Expr::value(self.origin))
            .filter(tasks::Column::Id.eq(self.parent_id))
            .exec(txn)
            .await?;
        tasks::Entity::update_many()
            .col_expr(tasks::Column::SourceId, Expr::value(self.source_id))
            .filter(tasks::Column::Id.eq(self.step_id))
            .exec(txn)
            .await?;
        for row in self.builds {
            row.insert(txn).await?;
        }
        Ok(())
    }
}

/// The SRPM step `t` succeeded: its SRPM is checked and stored as an upload is, and what the
/// step leads to is made ready ([`Made`]). `Err` with the reason when the SRPM is missing or
/// refused (the step then fails with it).
pub(super) async fn srpm_made(
    kiln: &Kiln,
    t: &tasks::Model,
    commit: Option<String>,
    sha256: Option<String>,
) -> CoreResult<Result<Made, String>> {
    let Some(artifact) = artifacts::Entity::find()
        .filter(artifacts::Column::TaskId.eq(t.id))
        .filter(artifacts::Column::Kind.eq("srpm"))
        .one(&kiln.db)
        .await?
    else {
        return Ok(Err("the SRPM step uploaded no SRPM".into()));
    };
    // The stored artifact, staged again and inspected as an upload is.
    let Some(object) = kiln.storage.get(&artifact.storage_key, None).await? else {
        return Ok(Err("the SRPM step's SRPM is no longer stored".into()));
    };
    let body = tokio_util::io::ReaderStream::new(object.body);
    let staged = super::super::sources::stage(
        kiln,
        &artifact.file_name,
        body,
        kiln.config.builds.max_srpm_size,
    )
    .await;
    let staged = match staged {
        Ok(s) => s,
        Err(e) if !e.is_server_error() => return Ok(Err(e.to_string())),
        Err(e) => return Err(e),
    };
    let info = match super::super::sources::inspect_async(
        staged.path.to_path_buf(),
        artifact.file_name.clone(),
    )
    .await
    {
        Ok(i) => i,
        Err(e) if !e.is_server_error() => return Ok(Err(e.to_string())),
        Err(e) => return Err(e),
    };
    let source = super::super::sources::store(kiln, &staged, &info).await?;
    let snapshot = t.mock_config_snapshot.clone().unwrap_or_default();
    let snaps: Vec<Snapshot> = snapshot["builds"]
        .as_array()
        .map(|a| a.iter().filter_map(Snapshot::from_json).collect())
        .unwrap_or_default();
    let nocheck = snapshot["nocheck"].as_bool().unwrap_or(false);
    let repo = snapshot["repo"].as_str().unwrap_or_default().to_owned();
    let parent_id = t.parent_id.unwrap_or(t.id);
    let parent = tasks::Entity::find_by_id(parent_id)
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::not_found("task"))?;
    let mut origin: Option<Origin> = parent
        .origin
        .clone()
        .and_then(|o| serde_json::from_value(o).ok());
    if let Some(o) = origin.as_mut() {
        o.commit = commit.filter(|c| c.len() == 40 && c.chars().all(|x| x.is_ascii_hexdigit()));
        o.sha256 = sha256.filter(|s| s.len() == 64 && s.chars().all(|x| x.is_ascii_hexdigit()));
    }
    let builds = builds(
        &parent,
        &source,
        &artifact.file_name,
        &snaps,
        nocheck,
        &repo,
    );
    Ok(Ok(Made {
        parent_id,
        step_id: t.id,
        origin: origin.map(|o| serde_json::to_value(o).unwrap_or_default()),
        source_id: source.id,
        builds,
    }))
}

/// Whether a subtask is a source's SRPM step.
pub(super) fn is_srpm_step(t: &tasks::Model) -> bool {
    t.kind == SRPM
}

/// The snapshot of an SRPM step to run again: its source's ref pinned to the commit the first
/// run fetched, when it got that far.
pub(super) fn pinned_step(
    step: &tasks::Model,
    origin: Option<&serde_json::Value>,
) -> Option<serde_json::Value> {
    let mut snapshot = step.mock_config_snapshot.clone()?;
    let commit = origin
        .and_then(|o| serde_json::from_value::<Origin>(o.clone()).ok())
        .and_then(|o| o.commit);
    if let (Some(commit), Some(source)) = (commit, snapshot.get_mut("source")) {
        if source["type"] == "git" {
            source["ref"] = commit.into();
        }
    }
    Some(snapshot)
}
