//! Repo signing keys: made with the repo, stored locked with the server key, unlocked once per
//! process for signing; rotation.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::entities::{repo_keys, repos, users};
use crate::policy::Action;
use crate::services::access::authorize_repo;
use crate::{signing, CoreError, CoreResult, Kiln, Principal};

use super::*;

/// A new key for a repo, generated off the async threads (RSA takes a second or more).
pub async fn new_key(kiln: &Kiln, full_name: &str) -> CoreResult<signing::NewKey> {
    let kind = kiln.config.signing.key_type;
    let server_key = kiln.server_key.clone();
    let uid = format!(
        "Kiln {full_name} <{}@kiln>",
        super::dnf_safe(&full_name.replace('/', "-"))
    );
    tokio::task::spawn_blocking(move || signing::generate(kind, &uid, &server_key))
        .await
        .map_err(|_| CoreError::internal("key generation panicked"))?
}

/// Stores `key` as the repo's active key (the caller's transaction).
pub async fn insert_key(
    db: &impl ConnectionTrait,
    repo_id: i32,
    key: signing::NewKey,
) -> CoreResult<repo_keys::Model> {
    repo_keys::Entity::update_many()
        .col_expr(repo_keys::Column::Active, Expr::value(false))
        .filter(repo_keys::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    Ok(repo_keys::ActiveModel {
        repo_id: Set(repo_id),
        fingerprint: Set(key.fingerprint),
        public_key: Set(key.public_key),
        secret_key: Set(key.secret_key),
        active: Set(true),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The repo's active key (repos made before keys existed get one now).
pub async fn active_key(kiln: &Kiln, repo_id: i32) -> CoreResult<repo_keys::Model> {
    if let Some(k) = repo_keys::Entity::find()
        .filter(repo_keys::Column::RepoId.eq(repo_id))
        .filter(repo_keys::Column::Active.eq(true))
        .one(&kiln.db)
        .await?
    {
        return Ok(k);
    }
    let repo = repos::Entity::find_by_id(repo_id)
        .find_also_related(users::Entity)
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::not_found("the repo is gone"))?;
    let name = format!(
        "{}/{}",
        repo.1.map(|u| u.username).unwrap_or_default(),
        repo.0.name
    );
    let key = new_key(kiln, &name).await?;
    let txn = kiln.begin().await?;
    // Another request may have made one meanwhile.
    if let Some(k) = repo_keys::Entity::find()
        .filter(repo_keys::Column::RepoId.eq(repo_id))
        .filter(repo_keys::Column::Active.eq(true))
        .one(&txn)
        .await?
    {
        return Ok(k);
    }
    let k = insert_key(&txn, repo_id, key).await?;
    txn.commit().await?;
    Ok(k)
}

/// `POST …/key/rotate` (repo admins): a new signing key becomes the repo's key. Every chroot
/// is republished; each metadata run first re-signs the packages still signed with an older
/// key (see `resign`). `pubkey.gpg`, the `.repo` file and the release RPM (named by a hash
/// of its content, which includes the fingerprint) follow at once.
pub async fn rotate_key(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    name: &str,
) -> CoreResult<kiln_proto::KeyRotation> {
    let ctx = authorize_repo(kiln, principal, owner, name, Action::RotateKey).await?;
    let old = active_key(kiln, ctx.repo.id).await?;
    let key = new_key(kiln, &ctx.full_name()).await?;
    let chroots = chroots_of(kiln, ctx.repo.id).await?;
    let txn = kiln.begin().await?;
    let new = insert_key(&txn, ctx.repo.id, key).await?;
    for c in &chroots {
        queue(&txn, ctx.repo.id, c, None, "rotate", principal.user_id()).await?;
    }
    crate::services::audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        "repo.key.rotate",
        &ctx.full_name(),
        serde_json::json!({"old": old.fingerprint, "new": new.fingerprint}),
    )
    .await?;
    txn.commit().await?;
    kiln.publish_wake.notify_one();
    tracing::info!(repo = %ctx.full_name(), fingerprint = %new.fingerprint, "signing key rotated");
    Ok(kiln_proto::KeyRotation {
        fingerprint: new.fingerprint,
        previous_fingerprint: old.fingerprint,
        chroots,
    })
}

/// The repo key unlocked for signing, once per process and key (unlocking parses the key and
/// prepares the RSA key: milliseconds that every publish would otherwise repeat).
pub(super) fn signer(
    cache: &std::sync::Mutex<HashMap<String, Arc<signing::Signer>>>,
    key: &repo_keys::Model,
    server_key: &crate::secret::Secret,
) -> CoreResult<Arc<signing::Signer>> {
    if let Some(s) = cache
        .lock()
        .ok()
        .and_then(|c| c.get(&key.fingerprint).cloned())
    {
        return Ok(s);
    }
    let s = Arc::new(signing::Signer::new(&key.secret_key, server_key)?);
    if let Ok(mut c) = cache.lock() {
        // A bound for sites with very many repos: start again rather than grow without end.
        if c.len() >= 4096 {
            c.clear();
        }
        c.insert(key.fingerprint.clone(), s.clone());
    }
    Ok(s)
}
