//! Forge push hooks. `POST /hooks/forge/OWNER/REPO` takes GitHub's, Gitea's, Forgejo's and
//! GitLab's push and tag events, signed with the repo's forge secret (`source_secrets`: sealed
//! at rest, set or rotated by rel-eng and shown once). A verified push rebuilds the repo's
//! auto-rebuild packages whose clone URL it names and whose subdir it changed; a tag push
//! builds the tag. Each delivery id is acted on once and logged with its outcome.

pub mod payload;

use std::collections::HashSet;

use kiln_proto::{
    ForgeBuild, ForgeDelivery, ForgeHook, ForgeSecret, GitCredential, Source, SourceBuild,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use sha2::{Digest, Sha256};

use self::payload::{Forge, Headers, Push};
use super::access::{authorize_repo, RepoCtx};
use super::source_secrets::{remove_secret, secret_row, store_secret, FORGE, GIT};
use crate::entities::{forge_deliveries, repo_packages, repo_secrets};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal, UserPrincipal};
use crate::Kiln;

/// Deliveries kept in a repo's log; older ones are dropped as new ones arrive.
const KEPT_DELIVERIES: u64 = 500;
/// Deliveries `deliveries` lists.
const LISTED_DELIVERIES: u64 = 50;

fn hook_url(kiln: &Kiln, ctx: &RepoCtx) -> String {
    format!(
        "{}/hooks/forge/{}",
        kiln.config.public_url(),
        ctx.full_name()
    )
}

/// The hook's URL, whether a secret is set, and the repo's git credentials (rel-eng).
pub async fn hook(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
) -> CoreResult<ForgeHook> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageSourceSecrets).await?;
    let rows = repo_secrets::Entity::find()
        .filter(repo_secrets::Column::RepoId.eq(ctx.repo.id))
        .order_by_asc(repo_secrets::Column::Host)
        .all(&kiln.db)
        .await?;
    Ok(ForgeHook {
        url: hook_url(kiln, &ctx),
        secret_set_at: rows.iter().find(|r| r.kind == FORGE).map(|r| r.created_at),
        git_credentials: rows
            .iter()
            .filter(|r| r.kind == GIT)
            .map(|r| GitCredential {
                host: r.host.clone(),
                username: r.username.clone(),
                created_at: r.created_at,
            })
            .collect(),
    })
}

/// Sets a new forge secret (rel-eng), replacing the old one at once; shown this once.
pub async fn rotate_secret(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
) -> CoreResult<ForgeSecret> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageSourceSecrets).await?;
    let secret = crate::secret::new_token("kiln_forge_");
    store_secret(kiln, principal, &ctx, FORGE, "", "", secret.expose()).await?;
    tracing::info!(repo = %ctx.full_name(), "forge secret set");
    Ok(ForgeSecret {
        url: hook_url(kiln, &ctx),
        secret: secret.expose().to_owned(),
    })
}

/// Removes the forge secret (rel-eng): every delivery is refused until a new one is set.
pub async fn delete_secret(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
) -> CoreResult<()> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageSourceSecrets).await?;
    remove_secret(kiln, principal, &ctx, FORGE, "").await
}

fn to_wire(row: forge_deliveries::Model, duplicate: bool) -> ForgeDelivery {
    ForgeDelivery {
        id: row.id,
        delivery: row.delivery,
        forge: row.forge,
        event: row.event,
        git_ref: row.git_ref,
        commit: row.commit,
        clone_url: row.clone_url,
        outcome: row.outcome,
        builds: serde_json::from_value(row.builds).unwrap_or_default(),
        received_at: row.received_at,
        duplicate,
    }
}

/// The hook's latest deliveries, newest first (rel-eng).
pub async fn deliveries(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
) -> CoreResult<Vec<ForgeDelivery>> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageSourceSecrets).await?;
    Ok(forge_deliveries::Entity::find()
        .filter(forge_deliveries::Column::RepoId.eq(ctx.repo.id))
        .order_by_desc(forge_deliveries::Column::Id)
        .limit(LISTED_DELIVERIES)
        .all(&kiln.db)
        .await?
        .into_iter()
        .map(|r| to_wire(r, false))
        .collect())
}

/// Who the hook's builds are submitted as: the server, for the repo's stored packages.
fn hook_principal() -> Principal {
    Principal::User(UserPrincipal {
        id: 0,
        username: "forge-hook".into(),
        is_site_admin: true,
        groups: vec![],
    })
}

/// What a verified request is about.
enum Event {
    Ping,
    Push(Push),
    Ignored,
}

fn classify(forge: Forge, name: &str, body: &serde_json::Value) -> CoreResult<Event> {
    let pushlike = match forge {
        Forge::GitHub | Forge::Gitea | Forge::Forgejo if name == "ping" => return Ok(Event::Ping),
        Forge::GitHub | Forge::Gitea | Forge::Forgejo => name == "push",
        Forge::GitLab => name == "Push Hook" || name == "Tag Push Hook",
    };
    if !pushlike {
        return Ok(Event::Ignored);
    }
    payload::push(forge, body)
        .map(Event::Push)
        .map_err(|e| CoreError::validation("body", e))
}

/// Receives one delivery to the hook of `OWNER/REPO`: checks its signature (401 when it
/// does not hold: nothing is recorded or built), records it once per delivery id and builds
/// what the push calls for. A delivery id seen before answers the first outcome, marked
/// `duplicate`, and builds nothing.
pub async fn receive(
    kiln: &Kiln,
    owner: &str,
    repo: &str,
    headers: &Headers,
    body: &[u8],
) -> CoreResult<ForgeDelivery> {
    // The hook answers for private repos too (the server looks the repo up itself); there, any
    // refusal is the 404 of a repo that does not exist, so a stranger learns nothing.
    let ctx = authorize_repo(
        kiln,
        &hook_principal(),
        owner,
        repo,
        Action::ReceiveForgeHook,
    )
    .await?;
    let refuse = |why: String| {
        if ctx.repo.visibility == kiln_proto::Visibility::Private.as_str() {
            CoreError::not_found(format!("there is no repo {owner}/{repo}"))
        } else {
            CoreError::Unauthorized(why)
        }
    };
    let forge = payload::forge_of(headers).map_err(|e| refuse(e.0))?;
    let secret = secret_row(&kiln.db, ctx.repo.id, FORGE, "")
        .await?
        .and_then(|r| crate::secret::unseal(&kiln.server_key, &r.secret))
        .ok_or_else(|| {
            refuse(format!(
                "{} has no forge secret: a rel-eng member sets one in the repo's settings",
                ctx.full_name()
            ))
        })?;
    if let Err(e) = payload::verify(forge, headers, body, secret.expose()) {
        tracing::warn!(repo = %ctx.full_name(), forge = forge.as_str(), "forge hook refused: bad signature");
        return Err(refuse(e.0));
    }
    let name = payload::event_name(forge, headers);
    let delivery = payload::delivery_id(forge, headers)
        .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(body))));
    if delivery.len() > 200 || delivery.chars().any(char::is_control) {
        return Err(CoreError::validation(
            "delivery",
            "the delivery id is over 200 characters or has control characters",
        ));
    }
    let json = payload::body_json(headers, body).map_err(|e| CoreError::validation("body", e))?;
    let event = classify(forge, &name, &json)?;
    let (kind, git_ref, commit, clone_url) = match &event {
        Event::Ping => (
            "ping".to_owned(),
            String::new(),
            String::new(),
            String::new(),
        ),
        Event::Ignored => (clip(&name, 40), String::new(), String::new(), String::new()),
        Event::Push(p) => (
            if p.tag().is_some() { "tag" } else { "push" }.to_owned(),
            clip(&p.git_ref, 300),
            clip(&p.after, 64),
            clip(p.clone_url(), 2000),
        ),
    };
    // Claim the delivery id: a second delivery of it finds the first's row.
    let claimed = forge_deliveries::ActiveModel {
        repo_id: Set(ctx.repo.id),
        delivery: Set(delivery.clone()),
        forge: Set(forge.as_str().into()),
        event: Set(kind),
        git_ref: Set(git_ref),
        commit: Set(commit),
        clone_url: Set(clone_url),
        outcome: Set("received; building".into()),
        builds: Set(serde_json::json!([])),
        received_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(&kiln.db)
    .await;
    let row = match claimed {
        Ok(row) => row,
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            let first = forge_deliveries::Entity::find()
                .filter(forge_deliveries::Column::RepoId.eq(ctx.repo.id))
                .filter(forge_deliveries::Column::Delivery.eq(delivery.as_str()))
                .one(&kiln.db)
                .await?
                .ok_or_else(|| CoreError::internal("a delivery vanished"))?;
            tracing::info!(repo = %ctx.full_name(), delivery, "forge delivery already received");
            return Ok(to_wire(first, true));
        }
        Err(e) => return Err(e.into()),
    };
    let (outcome, builds) = match event {
        Event::Ping => (
            "ping: the hook is set up and its signature holds".to_owned(),
            Vec::new(),
        ),
        Event::Ignored => (
            format!("ignored: {name:?} events are not pushes"),
            Vec::new(),
        ),
        Event::Push(push) => rebuild(kiln, &ctx, &push).await?,
    };
    tracing::info!(repo = %ctx.full_name(), delivery, forge = forge.as_str(), builds = builds.len(), outcome, "forge delivery");
    let mut active: forge_deliveries::ActiveModel = row.into();
    active.outcome = Set(outcome);
    active.builds = Set(serde_json::to_value(&builds).unwrap_or_default());
    let row = active.update(&kiln.db).await?;
    prune(kiln, ctx.repo.id).await?;
    Ok(to_wire(row, false))
}

fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Drops the repo's deliveries beyond the newest [`KEPT_DELIVERIES`].
async fn prune(kiln: &Kiln, repo_id: i32) -> CoreResult<()> {
    let oldest_kept: Option<i32> = forge_deliveries::Entity::find()
        .select_only()
        .column(forge_deliveries::Column::Id)
        .filter(forge_deliveries::Column::RepoId.eq(repo_id))
        .order_by_desc(forge_deliveries::Column::Id)
        .offset(KEPT_DELIVERIES - 1)
        .into_tuple()
        .one(&kiln.db)
        .await?;
    if let Some(id) = oldest_kept {
        forge_deliveries::Entity::delete_many()
            .filter(forge_deliveries::Column::RepoId.eq(repo_id))
            .filter(forge_deliveries::Column::Id.lt(id))
            .exec(&kiln.db)
            .await?;
    }
    Ok(())
}

/// Builds the auto-rebuild packages a push calls for; the outcome says which, and why the
/// others were left.
async fn rebuild(kiln: &Kiln, ctx: &RepoCtx, push: &Push) -> CoreResult<(String, Vec<ForgeBuild>)> {
    if push.deleted() {
        return Ok((
            format!("{} was deleted: nothing to build", push.git_ref),
            Vec::new(),
        ));
    }
    let urls: HashSet<String> = push
        .urls
        .iter()
        .map(|u| payload::normalize_url(u))
        .collect();
    let packages = repo_packages::Entity::find()
        .filter(repo_packages::Column::RepoId.eq(ctx.repo.id))
        .filter(repo_packages::Column::AutoRebuild.eq(true))
        .order_by_asc(repo_packages::Column::Name)
        .all(&kiln.db)
        .await?;
    let mut built = Vec::new();
    let mut notes = Vec::new();
    let mut matched = 0;
    for pkg in packages {
        let Ok(Source::Git {
            url,
            reference,
            subdir,
            spec,
            method,
        }) = serde_json::from_value::<Source>(pkg.source.clone())
        else {
            continue;
        };
        if !urls.contains(&payload::normalize_url(&url)) {
            continue;
        }
        matched += 1;
        let at = if let Some(tag) = push.tag() {
            format!("refs/tags/{tag}")
        } else {
            let branch = push.branch().unwrap_or(&push.git_ref);
            let follows = reference.strip_prefix("refs/heads/").unwrap_or(&reference);
            let follows_this = if follows.is_empty() {
                push.default_branch.as_deref() == Some(branch)
            } else {
                follows == branch
            };
            if !follows_this {
                let which = if follows.is_empty() {
                    "the default branch".to_owned()
                } else {
                    follows.to_owned()
                };
                notes.push(format!("{}: follows {which}, not {branch}", pkg.name));
                continue;
            }
            if !push.touches(&subdir) {
                notes.push(format!("{}: no changed files under {subdir}/", pkg.name));
                continue;
            }
            // The pushed commit itself, so a later push cannot slip in before the clone.
            push.after.clone()
        };
        let req = SourceBuild {
            source: Source::Git {
                url,
                reference: at,
                subdir,
                spec,
                method,
            },
            chroots: Vec::new(),
            scratch: false,
            nocheck: false,
            priority: None,
        };
        let (owner, repo) = (ctx.owner.username.as_str(), ctx.repo.name.as_str());
        match super::tasks::submit_source_of(
            kiln,
            &hook_principal(),
            owner,
            repo,
            req,
            Some(pkg.id),
        )
        .await
        {
            Ok(task) => built.push(ForgeBuild {
                package: pkg.name,
                task: task.id,
            }),
            Err(e @ (CoreError::Validation { .. } | CoreError::Conflict(_))) => {
                notes.push(format!("{}: not built: {e}", pkg.name))
            }
            Err(e) => return Err(e),
        }
    }
    let mut outcome = if matched == 0 {
        format!(
            "no auto-rebuild package of {} builds from {}",
            ctx.full_name(),
            push.clone_url()
        )
    } else if built.is_empty() {
        "nothing to build".to_owned()
    } else {
        format!(
            "built {}",
            built
                .iter()
                .map(|b| format!("{} (build {})", b.package, b.task))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if !notes.is_empty() {
        outcome.push_str("; ");
        outcome.push_str(&notes.join("; "));
    }
    Ok((outcome, built))
}

/// Removes a deleted repo's hook log and secrets (the caller's transaction).
pub(crate) async fn delete_repo_rows(db: &impl ConnectionTrait, repo_id: i32) -> CoreResult<()> {
    forge_deliveries::Entity::delete_many()
        .filter(forge_deliveries::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    repo_secrets::Entity::delete_many()
        .filter(repo_secrets::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    repo_packages::Entity::delete_many()
        .filter(repo_packages::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    Ok(())
}
