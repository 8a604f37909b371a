//! The secrets a repo keeps for its sources, sealed at rest with the server key: its forge
//! hook secret and its git credentials (one per host, for private repos). Credentials go to
//! an agent only in the job of an SRPM step whose clone URL is on that host.

use kiln_proto::{GitCredential, GitCredentialPut};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::access::{authorize_repo, RepoCtx};
use crate::entities::repo_secrets;
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::secret::Secret;
use crate::Kiln;

/// The kind of the forge hook's secret.
pub(crate) const FORGE: &str = "forge";
/// The kind of a git credential.
pub(crate) const GIT: &str = "git";

pub(crate) async fn secret_row(
    db: &impl ConnectionTrait,
    repo_id: i32,
    kind: &str,
    host: &str,
) -> CoreResult<Option<repo_secrets::Model>> {
    Ok(repo_secrets::Entity::find()
        .filter(repo_secrets::Column::RepoId.eq(repo_id))
        .filter(repo_secrets::Column::Kind.eq(kind))
        .filter(repo_secrets::Column::Host.eq(host))
        .one(db)
        .await?)
}

/// Stores a sealed secret of the repo, replacing the one of the same kind and host.
pub(crate) async fn store_secret(
    kiln: &Kiln,
    principal: &Principal,
    ctx: &RepoCtx,
    kind: &str,
    host: &str,
    username: &str,
    secret: &str,
) -> CoreResult<repo_secrets::Model> {
    let txn = kiln.begin().await?;
    repo_secrets::Entity::delete_many()
        .filter(repo_secrets::Column::RepoId.eq(ctx.repo.id))
        .filter(repo_secrets::Column::Kind.eq(kind))
        .filter(repo_secrets::Column::Host.eq(host))
        .exec(&txn)
        .await?;
    let row = repo_secrets::ActiveModel {
        repo_id: Set(ctx.repo.id),
        kind: Set(kind.to_owned()),
        host: Set(host.to_owned()),
        username: Set(username.to_owned()),
        secret: Set(crate::secret::seal(&kiln.server_key, secret)),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let what = if kind == FORGE {
        "forge.secret.set".to_owned()
    } else {
        "git.credential.set".to_owned()
    };
    super::audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        &what,
        &ctx.full_name(),
        serde_json::json!({"host": host, "username": username}),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

pub(crate) async fn remove_secret(
    kiln: &Kiln,
    principal: &Principal,
    ctx: &RepoCtx,
    kind: &str,
    host: &str,
) -> CoreResult<()> {
    let txn = kiln.begin().await?;
    let gone = repo_secrets::Entity::delete_many()
        .filter(repo_secrets::Column::RepoId.eq(ctx.repo.id))
        .filter(repo_secrets::Column::Kind.eq(kind))
        .filter(repo_secrets::Column::Host.eq(host))
        .exec(&txn)
        .await?;
    if gone.rows_affected == 0 {
        return Err(CoreError::not_found(if kind == FORGE {
            format!("{} has no forge secret", ctx.full_name())
        } else {
            format!("{} has no git credential for {host}", ctx.full_name())
        }));
    }
    let what = if kind == FORGE {
        "forge.secret.delete"
    } else {
        "git.credential.delete"
    };
    super::audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        what,
        &ctx.full_name(),
        serde_json::json!({"host": host}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// A git host as credentials are keyed: lowercase `host` or `host:port`.
fn check_host(host: &str) -> CoreResult<String> {
    let host = host.trim().to_ascii_lowercase();
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host.as_str(), None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !(name_ok && port_ok) {
        return Err(CoreError::validation(
            "host",
            format!("{host:?} is not a host name (with an optional :PORT)"),
        ));
    }
    Ok(host)
}

/// Stores the credential sent to `host` when an agent fetches this repo's git sources over
/// HTTP(S) (rel-eng); replaces one already there.
pub async fn put_credential(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    host: &str,
    input: GitCredentialPut,
) -> CoreResult<GitCredential> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageSourceSecrets).await?;
    let host = check_host(host)?;
    let u = &input.username;
    if u.is_empty() || u.len() > 255 || u.contains(':') || u.chars().any(char::is_control) {
        return Err(CoreError::validation(
            "username",
            "must be 1 to 255 characters, without ':' or control characters",
        ));
    }
    let p = &input.password;
    if p.is_empty() || p.len() > 4096 || p.chars().any(char::is_control) {
        return Err(CoreError::validation(
            "password",
            "must be 1 to 4096 characters, without control characters",
        ));
    }
    let row = store_secret(kiln, principal, &ctx, GIT, &host, u, p).await?;
    Ok(GitCredential {
        host: row.host,
        username: row.username,
        created_at: row.created_at,
    })
}

/// Removes the credential for `host` (rel-eng).
pub async fn delete_credential(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    host: &str,
) -> CoreResult<()> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageSourceSecrets).await?;
    let host = check_host(host)?;
    remove_secret(kiln, principal, &ctx, GIT, &host).await
}

/// The credential of repo `repo_id` for the host of the HTTP(S) clone URL `url`, unsealed,
/// for the job that fetches it.
pub(crate) async fn credential_for(
    kiln: &Kiln,
    repo_id: i32,
    url: &str,
) -> CoreResult<Option<(String, Secret)>> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(None);
    };
    if !["http", "https"].contains(&parsed.scheme()) {
        return Ok(None);
    }
    let Some(host) = parsed.host_str() else {
        return Ok(None);
    };
    let key = match parsed.port() {
        Some(p) => format!("{}:{p}", host.to_ascii_lowercase()),
        None => host.to_ascii_lowercase(),
    };
    let Some(row) = secret_row(&kiln.db, repo_id, GIT, &key).await? else {
        return Ok(None);
    };
    let secret = crate::secret::unseal(&kiln.server_key, &row.secret)
        .ok_or_else(|| CoreError::internal("a git credential does not open with the server key"))?;
    Ok(Some((row.username, secret)))
}
