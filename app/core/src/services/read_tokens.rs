//! Read tokens: a repo admin's named download credentials for a private repo (dnf sends one as
//! the HTTP Basic password), shown once, stored as a SHA-256 hash, optionally expiring,
//! revocable with effect on the next request, with their last use; and the short-lived ones a
//! builder agent gets for the task it runs, so that a private repo's own repo can be in its
//! buildroot without any secret in a log, the task's JSON or the config users see.

use kiln_proto::{ReadToken, ReadTokenCreate, ReadTokenCreated};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::access::{authorize_repo, RepoCtx};
use super::audit;
use crate::entities::{read_tokens, users};
use crate::error::{CoreError, CoreResult};
use crate::names::validate_text;
use crate::policy::{Action, Principal, ReadTokenPrincipal};
use crate::secret::{hash_token, new_token, Secret, READ_TOKEN_PREFIX};
use crate::Kiln;

fn to_wire(t: &read_tokens::Model, created_by: &str) -> ReadToken {
    ReadToken {
        id: t.id,
        name: t.name.clone(),
        prefix: t.prefix.clone(),
        created_by: created_by.to_owned(),
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
    }
}

fn display_prefix(token: &str) -> String {
    token.chars().take(READ_TOKEN_PREFIX.len() + 4).collect()
}

/// `URL` with `kiln:TOKEN@` after its scheme.
fn with_credentials(url: &str, token: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://kiln:{token}@{rest}"),
        None => url.to_owned(),
    }
}

/// Creates a read token for `OWNER/REPO` (repo admins).
pub async fn create(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    input: ReadTokenCreate,
) -> CoreResult<ReadTokenCreated> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageReadTokens).await?;
    let user = principal.require_user()?;
    let name = input.name.trim();
    if name.is_empty() {
        return Err(CoreError::validation("name", "must not be empty"));
    }
    validate_text("name", name, 100)?;
    if let Some(exp) = input.expires_at {
        if exp <= crate::now() {
            return Err(CoreError::validation("expires_at", "must be in the future"));
        }
    }
    let secret = new_token(READ_TOKEN_PREFIX);
    let txn = kiln.begin().await?;
    let row = read_tokens::ActiveModel {
        repo_id: Set(ctx.repo.id),
        name: Set(name.to_owned()),
        prefix: Set(display_prefix(secret.expose())),
        token_hash: Set(hash_token(secret.expose())),
        created_by: Set(user.id),
        task_id: Set(None),
        created_at: Set(crate::now()),
        expires_at: Set(input.expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        "read_token.create",
        &format!("read_token:{}", row.id),
        serde_json::json!({"name": row.name, "expires_at": row.expires_at.map(|t| t.to_string())}),
    )
    .await?;
    txn.commit().await?;
    let base = format!(
        "{}/repos/{}/{}",
        kiln.config.public_url(),
        ctx.owner.username,
        ctx.repo.name
    );
    let stem = format!("{}-{}", ctx.owner.username, ctx.repo.name);
    Ok(ReadTokenCreated {
        info: to_wire(&row, &user.username),
        repo_file_url: with_credentials(&format!("{base}/{stem}.repo"), secret.expose()),
        release_rpm_url: with_credentials(
            &format!("{base}/{stem}-release.noarch.rpm"),
            secret.expose(),
        ),
        token: secret.expose().to_owned(),
    })
}

/// The repo's read tokens that are not revoked (expired ones included, so their owners see
/// why a machine stopped downloading), newest first. Builders' task tokens are not listed.
pub async fn list(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
) -> CoreResult<Vec<ReadToken>> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageReadTokens).await?;
    list_of(kiln, &ctx).await
}

/// `list` for a repo already authorized.
pub async fn list_of(kiln: &Kiln, ctx: &RepoCtx) -> CoreResult<Vec<ReadToken>> {
    let rows = read_tokens::Entity::find()
        .filter(read_tokens::Column::RepoId.eq(ctx.repo.id))
        .filter(read_tokens::Column::TaskId.is_null())
        .filter(read_tokens::Column::RevokedAt.is_null())
        .order_by_desc(read_tokens::Column::Id)
        .all(&kiln.db)
        .await?;
    let makers: std::collections::HashMap<i32, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(rows.iter().map(|r| r.created_by)))
        .all(&kiln.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    Ok(rows
        .iter()
        .map(|r| to_wire(r, makers.get(&r.created_by).map_or("?", |s| s.as_str())))
        .collect())
}

/// Revokes read token `id` of `OWNER/REPO` (repo admins): the next request with it is refused.
pub async fn revoke(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    id: i32,
) -> CoreResult<()> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageReadTokens).await?;
    let txn = kiln.begin().await?;
    let token = read_tokens::Entity::find_by_id(id)
        .filter(read_tokens::Column::RepoId.eq(ctx.repo.id))
        .filter(read_tokens::Column::TaskId.is_null())
        .filter(read_tokens::Column::RevokedAt.is_null())
        .one(&txn)
        .await?
        .ok_or_else(|| {
            CoreError::not_found(format!("{} has no read token {id}", ctx.full_name()))
        })?;
    let mut active: read_tokens::ActiveModel = token.into();
    active.revoked_at = Set(Some(crate::now()));
    let token = active.update(&txn).await?;
    bump_revision(&txn, ctx.repo.id).await?;
    audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        "read_token.revoke",
        &format!("read_token:{id}"),
        serde_json::json!({"name": token.name}),
    )
    .await?;
    txn.commit().await?;
    kiln.read_tokens.forget(id);
    Ok(())
}

/// The read token `token` is, as a principal: from this server's memory when it checked it
/// before (its expiry checked again; `access` checks it again if a token of its repo has been
/// revoked since), else from the database. Unknown, revoked and expired tokens are all
/// `Unauthorized`, with a message saying which.
pub async fn authenticate(kiln: &Kiln, token: &str) -> CoreResult<Principal> {
    if !token.starts_with(READ_TOKEN_PREFIX) || token.len() > 200 {
        return Err(CoreError::Unauthorized(
            "the read token is malformed (it should start with kiln_rt_)".into(),
        ));
    }
    let hash = hash_token(token);
    let now = crate::now();
    let checked = match kiln.read_tokens.get(&hash) {
        Some(c) => c,
        None => {
            let row = read_tokens::Entity::find()
                .filter(read_tokens::Column::TokenHash.eq(&hash))
                .one(&kiln.db)
                .await?
                .ok_or_else(|| CoreError::Unauthorized("the read token is not valid".into()))?;
            crate::secret::still_valid("read token", row.revoked_at, row.expires_at, now)?;
            let revision: i32 = crate::entities::repos::Entity::find_by_id(row.repo_id)
                .select_only()
                .column(crate::entities::repos::Column::ReadTokenRevision)
                .into_tuple()
                .one(&kiln.db)
                .await?
                .ok_or_else(|| CoreError::Unauthorized("the read token is not valid".into()))?;
            let c = crate::token_memory::Checked {
                principal: ReadTokenPrincipal {
                    id: row.id,
                    repo_id: row.repo_id,
                    revision,
                },
                expires_at: row.expires_at,
                recorded: row.last_used_at,
            };
            kiln.read_tokens.put(hash.clone(), c.clone());
            c
        }
    };
    crate::secret::still_valid("read token", None, checked.expires_at, now)?;
    // Its use is written at most once a minute, beside the download, not before it.
    if crate::secret::use_to_record(checked.recorded, now) {
        kiln.read_tokens.recorded(&hash, now);
        let db = kiln.db.clone();
        let id = checked.principal.id;
        tokio::spawn(async move {
            let written = read_tokens::Entity::update_many()
                .col_expr(
                    read_tokens::Column::LastUsedAt,
                    sea_orm::sea_query::Expr::value(now),
                )
                .filter(read_tokens::Column::Id.eq(id))
                .exec(&db)
                .await;
            if let Err(e) = written {
                tracing::warn!(error = %e, token = id, "recording a read token's use failed");
            }
        });
    }
    Ok(Principal::ReadToken(checked.principal))
}

/// Moves `repo_id`'s read token revision: every server checks the repo's remembered tokens
/// again at their next use.
async fn bump_revision(db: &impl ConnectionTrait, repo_id: i32) -> CoreResult<()> {
    use crate::entities::repos;
    repos::Entity::update_many()
        .col_expr(
            repos::Column::ReadTokenRevision,
            sea_orm::sea_query::Expr::col(repos::Column::ReadTokenRevision).add(1),
        )
        .filter(repos::Column::Id.eq(repo_id))
        .exec(db)
        .await?;
    Ok(())
}

/// A token for the agent running `task_id` to read its private repo's published packages,
/// valid until the task ends (`revoke_for_task`) or `lifetime` passes.
pub async fn for_task(
    db: &impl ConnectionTrait,
    repo_id: i32,
    task_id: i32,
    lifetime: time::Duration,
) -> CoreResult<Secret> {
    let secret = new_token(READ_TOKEN_PREFIX);
    let now = crate::now();
    read_tokens::ActiveModel {
        repo_id: Set(repo_id),
        name: Set(format!("task {task_id}")),
        prefix: Set(display_prefix(secret.expose())),
        token_hash: Set(hash_token(secret.expose())),
        created_by: Set(0),
        task_id: Set(Some(task_id)),
        created_at: Set(now),
        expires_at: Set(Some(now + lifetime)),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(secret)
}

/// Ends the tokens made for `task_id` (the task ended, or was claimed again).
pub async fn revoke_for_task(db: &impl ConnectionTrait, task_id: i32) -> CoreResult<()> {
    let ended = read_tokens::Entity::update_many()
        .col_expr(
            read_tokens::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(crate::now()),
        )
        .filter(read_tokens::Column::TaskId.eq(task_id))
        .filter(read_tokens::Column::RevokedAt.is_null())
        .exec_with_returning(db)
        .await?;
    if let Some(t) = ended.first() {
        bump_revision(db, t.repo_id).await?;
    }
    Ok(())
}
