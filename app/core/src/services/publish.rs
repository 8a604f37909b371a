//! Publishing: each repo's signing key, the import of built RPMs (signed, their metadata
//! entries made once), publish tasks per chroot (serialized and coalesced, across server
//! processes), atomic metadata runs with a grace period for superseded files, the `.repo` file
//! and the release RPM.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use kiln_proto::{PublishState, TaskState};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use sha2::{Digest, Sha256};

use crate::entities::{packages, publishes, repo_chroots, repo_keys, repos, tasks, users};
use crate::policy::Action;
use crate::repodata::{self, FileFacts, PackageXml};
use crate::services::repos::{authorize_repo, RepoCtx};
use crate::{signing, CoreError, CoreResult, Kiln, Principal};

/// Recently built metadata segments by content key, within a memory budget; the least
/// recently used go first. Each server process has its own: a cold one costs one full
/// compression.
pub struct SegmentCache {
    budget: usize,
    inner: std::sync::Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    map: std::collections::HashMap<[u8; 32], (std::sync::Arc<repodata::Segment>, u64)>,
    tick: u64,
    bytes: usize,
}

impl SegmentCache {
    pub fn new(budget: usize) -> SegmentCache {
        SegmentCache {
            budget,
            inner: Default::default(),
        }
    }

    fn get(&self, key: &[u8; 32]) -> Option<std::sync::Arc<repodata::Segment>> {
        let mut inner = self.inner.lock().ok()?;
        inner.tick += 1;
        let tick = inner.tick;
        inner.map.get_mut(key).map(|(seg, used)| {
            *used = tick;
            seg.clone()
        })
    }

    fn put(&self, key: [u8; 32], seg: std::sync::Arc<repodata::Segment>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.tick += 1;
        let tick = inner.tick;
        inner.bytes += seg.bytes();
        if let Some((old, _)) = inner.map.insert(key, (seg, tick)) {
            inner.bytes -= old.bytes();
        }
        while inner.bytes > self.budget {
            let Some(oldest) = inner
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some((old, _)) = inner.map.remove(&oldest) {
                inner.bytes -= old.bytes();
            }
        }
    }
}

/// The chroot's metadata segments: packages (in id order) grouped as `repodata::starts_segment`
/// says, each segment from the cache or, when its packages changed, compressed now.
async fn segments(
    kiln: &Kiln,
    rows: &[(i32, String)],
) -> CoreResult<Vec<std::sync::Arc<repodata::Segment>>> {
    let mut groups: Vec<&[(i32, String)]> = Vec::new();
    let mut start = 0;
    for (i, (id, _)) in rows.iter().enumerate() {
        if i > start && repodata::starts_segment(*id, i - start) {
            groups.push(&rows[start..i]);
            start = i;
        }
    }
    if start < rows.len() {
        groups.push(&rows[start..]);
    }
    let keys: Vec<[u8; 32]> = groups
        .iter()
        .map(|g| {
            let mut h = Sha256::new();
            for (id, pkgid) in g.iter() {
                h.update(format!("{id}:{pkgid};").as_bytes());
            }
            h.finalize().into()
        })
        .collect();
    let mut found: Vec<Option<std::sync::Arc<repodata::Segment>>> =
        keys.iter().map(|k| kiln.segments.get(k)).collect();
    let missing: Vec<usize> = (0..groups.len()).filter(|&i| found[i].is_none()).collect();
    if !missing.is_empty() {
        let ids: Vec<i32> = missing
            .iter()
            .flat_map(|&i| groups[i].iter().map(|(id, _)| *id))
            .collect();
        let mut xml: std::collections::HashMap<i32, PackageXml> =
            std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(2000) {
            let rows: Vec<(i32, String, String, String)> = packages::Entity::find()
                .select_only()
                .column(packages::Column::Id)
                .column(packages::Column::PrimaryXml)
                .column(packages::Column::FilelistsXml)
                .column(packages::Column::OtherXml)
                .filter(packages::Column::Id.is_in(chunk.to_vec()))
                .into_tuple()
                .all(&kiln.db)
                .await?;
            for (id, primary, filelists, other) in rows {
                xml.insert(
                    id,
                    PackageXml {
                        primary,
                        filelists,
                        other,
                    },
                );
            }
        }
        let wanted: Vec<Vec<i32>> = missing
            .iter()
            .map(|&i| groups[i].iter().map(|(id, _)| *id).collect())
            .collect();
        // Compressed on two threads; one segment alone, its documents on three.
        let built = tokio::task::spawn_blocking(move || {
            if let [ids] = wanted.as_slice() {
                let entries: Vec<&PackageXml> = ids.iter().filter_map(|id| xml.get(id)).collect();
                return Ok(vec![repodata::segment_parallel(&entries)?]);
            }
            let build = |part: &[Vec<i32>]| -> std::io::Result<Vec<repodata::Segment>> {
                part.iter()
                    .map(|ids| {
                        let entries: Vec<&PackageXml> =
                            ids.iter().filter_map(|id| xml.get(id)).collect();
                        repodata::segment(&entries)
                    })
                    .collect()
            };
            let (a, b) = wanted.split_at(wanted.len() / 2);
            std::thread::scope(|s| {
                let second = s.spawn(|| build(b));
                let mut out = build(a)?;
                out.extend(
                    second
                        .join()
                        .map_err(|_| std::io::Error::other("compression panicked"))??,
                );
                Ok::<_, std::io::Error>(out)
            })
        })
        .await
        .map_err(|_| CoreError::internal("compression panicked"))??;
        for (&i, seg) in missing.iter().zip(built) {
            let seg = std::sync::Arc::new(seg);
            kiln.segments.put(keys[i], seg.clone());
            found[i] = Some(seg);
        }
    }
    Ok(found.into_iter().flatten().collect())
}

/// A new key for a repo, generated off the async threads (RSA takes a second or more).
pub async fn new_key(kiln: &Kiln, full_name: &str) -> CoreResult<signing::NewKey> {
    let kind = kiln.config.signing.key_type;
    let server_key = kiln.server_key.clone();
    let uid = format!("Kiln {full_name} <{}@kiln>", full_name.replace('/', "-"));
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

/// An RPM a build produced, signed with the repo key and described for the metadata.
pub struct Imported {
    /// Path below the chroot directory.
    pub href: String,
    pub sha256: String,
    pub size: u64,
    pub package: packages::ActiveModel,
}

fn sha256_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((hex::encode(h.finalize()), n))
}

/// Signs the RPM at `path` in place with `key` and reads it once: its checksum, size, header
/// and metadata entries (listed at `href` below the chroot directory).
async fn sign_and_describe(
    kiln: &Kiln,
    key: repo_keys::Model,
    path: &std::path::Path,
    file_name: &str,
    href: &str,
) -> CoreResult<(String, u64, rpm::PackageMetadata, PackageXml)> {
    let server_key = kiln.server_key.clone();
    let path = path.to_path_buf();
    let name = file_name.to_owned();
    let href = href.to_owned();
    tokio::task::spawn_blocking(move || {
        let signer = signing::rpm_signer(&key.secret_key, &server_key)?;
        signing::sign_rpm(&path, &signer)?;
        let (sha256, size) = sha256_file(&path)?;
        let meta = rpm::PackageMetadata::open(&path).map_err(|e| {
            CoreError::validation("file", format!("{name}: not a readable RPM ({e})"))
        })?;
        let xml = repodata::package_xml(
            &meta,
            &FileFacts {
                sha256: &sha256,
                size,
                time_file: crate::now().unix_timestamp(),
                href: &href,
            },
        )
        .map_err(|e| CoreError::validation("file", format!("{name}: {e}")))?;
        Ok::<_, CoreError>((sha256, size, meta, xml))
    })
    .await
    .map_err(|_| CoreError::internal("signing panicked"))?
}

/// Signs the staged RPM of subtask `t` in place and makes its metadata entries.
pub async fn import_rpm(
    kiln: &Kiln,
    t: &tasks::Model,
    path: &std::path::Path,
    file_name: &str,
) -> CoreResult<Imported> {
    let key = active_key(kiln, t.repo_id).await?;
    let chroot = t
        .mock_config_snapshot
        .as_ref()
        .and_then(|s| s["config"]["base"].as_str())
        .unwrap_or("unknown")
        .to_owned();
    let href = format!("{:08}/{}", t.id, file_name);
    let fingerprint = key.fingerprint.clone();
    let (sha256, size, meta, xml) = sign_and_describe(kiln, key, path, file_name, &href).await?;
    let package = packages::ActiveModel {
        repo_id: Set(t.repo_id),
        parent_id: Set(t.parent_id.unwrap_or(t.id)),
        chroot: Set(chroot),
        name: Set(meta.get_name().unwrap_or_default().to_owned()),
        epoch: Set(meta.get_epoch().unwrap_or(0) as i32),
        version: Set(meta.get_version().unwrap_or_default().to_owned()),
        release: Set(meta.get_release().unwrap_or_default().to_owned()),
        arch: Set(if meta.is_source_package() {
            "src".into()
        } else {
            meta.get_arch().unwrap_or_default().to_owned()
        }),
        href: Set(href.clone()),
        pkgid: Set(sha256.clone()),
        size: Set(size as i64),
        key_fingerprint: Set(fingerprint),
        in_repo: Set(false),
        primary_xml: Set(xml.primary),
        filelists_xml: Set(xml.filelists),
        other_xml: Set(xml.other),
        created_at: Set(crate::now()),
        ..Default::default()
    };
    Ok(Imported {
        href,
        sha256,
        size,
        package,
    })
}

/// The chroots holding packages that match `filter`.
async fn package_chroots(
    db: &impl ConnectionTrait,
    filter: sea_orm::Condition,
) -> CoreResult<Vec<String>> {
    Ok(packages::Entity::find()
        .select_only()
        .column(packages::Column::Chroot)
        .distinct()
        .filter(filter)
        .into_tuple()
        .all(db)
        .await?)
}

/// Called when a parent task reaches its final state (in the transaction that put it there):
/// a succeeded, non-scratch parent gets one publish task per chroot its RPMs go to.
pub async fn queue_for_parent(db: &impl ConnectionTrait, parent: &tasks::Model) -> CoreResult<()> {
    if parent.scratch || parent.state != TaskState::Succeeded.as_str() {
        return Ok(());
    }
    // Its packages not yet in the repo, per chroot, unless a publish is already queued.
    let queued: Vec<String> = publishes::Entity::find()
        .select_only()
        .column(publishes::Column::Chroot)
        .filter(publishes::Column::ParentId.eq(parent.id))
        .filter(publishes::Column::State.eq("pending"))
        .into_tuple()
        .all(db)
        .await?;
    let chroots = package_chroots(
        db,
        sea_orm::Condition::all()
            .add(packages::Column::ParentId.eq(parent.id))
            .add(packages::Column::InRepo.eq(false)),
    )
    .await?;
    for chroot in chroots.into_iter().filter(|c| !queued.contains(c)) {
        queue(db, parent.repo_id, &chroot, Some(parent.id), "build", None).await?;
    }
    Ok(())
}

async fn queue(
    db: &impl ConnectionTrait,
    repo_id: i32,
    chroot: &str,
    parent_id: Option<i32>,
    reason: &str,
    requested_by: Option<i32>,
) -> CoreResult<()> {
    publishes::ActiveModel {
        repo_id: Set(repo_id),
        chroot: Set(chroot.to_owned()),
        parent_id: Set(parent_id),
        reason: Set(reason.to_owned()),
        state: Set("pending".into()),
        requested_by: Set(requested_by),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The publish state of each parent (for the task API).
pub async fn states(
    db: &impl ConnectionTrait,
    parents: &[tasks::Model],
) -> CoreResult<std::collections::HashMap<i32, PublishState>> {
    let ids: Vec<i32> = parents.iter().map(|p| p.id).collect();
    let rows: Vec<(Option<i32>, String)> = publishes::Entity::find()
        .select_only()
        .column(publishes::Column::ParentId)
        .column(publishes::Column::State)
        .filter(publishes::Column::ParentId.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    let mut out = std::collections::HashMap::new();
    for p in parents {
        let state = TaskState::parse(&p.state).unwrap_or(TaskState::Pending);
        let mine: Vec<&str> = rows
            .iter()
            .filter(|(id, _)| *id == Some(p.id))
            .map(|(_, s)| s.as_str())
            .collect();
        let ps = if !state.is_final() {
            PublishState::Waiting
        } else if state != TaskState::Succeeded || p.scratch {
            PublishState::NotPublished
        } else if mine.contains(&"failed") {
            PublishState::Failed
        } else if mine.iter().all(|s| *s == "succeeded") {
            PublishState::Published
        } else {
            PublishState::Pending
        };
        out.insert(p.id, ps);
    }
    Ok(out)
}

/// `POST …/createrepo`: rel-eng regenerates the metadata of every chroot of the repo now.
pub async fn createrepo(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    name: &str,
) -> CoreResult<Vec<String>> {
    let ctx = authorize_repo(kiln, principal, owner, name, Action::Createrepo).await?;
    let chroots = chroots_of(kiln, ctx.repo.id).await?;
    let txn = kiln.begin().await?;
    for c in &chroots {
        queue(
            &txn,
            ctx.repo.id,
            c,
            None,
            "createrepo",
            principal.user_id(),
        )
        .await?;
    }
    crate::services::audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        "repo.createrepo",
        &ctx.full_name(),
        serde_json::json!({"chroots": chroots}),
    )
    .await?;
    txn.commit().await?;
    kiln.publish_wake.notify_one();
    Ok(chroots)
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

/// Re-signs a stored package with `key` (the repo's key now): the file is fetched, signed,
/// described again and put back under the same storage key (atomically: readers get the old
/// or the new file); its package entry and artifact row take the new checksum and size.
async fn resign(kiln: &Kiln, key: &repo_keys::Model, pkg: packages::Model) -> CoreResult<()> {
    use crate::entities::artifacts;
    use tokio::io::AsyncWriteExt;
    let art = artifacts::Entity::find_by_id(pkg.artifact_id)
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::internal(format!("package {} has no artifact", pkg.id)))?;
    let dir = kiln.config.data_dir.join("tmp");
    tokio::fs::create_dir_all(&dir).await?;
    let tmp = tempfile::Builder::new()
        .prefix("resign-")
        .suffix(".rpm")
        .tempfile_in(&dir)?
        .into_temp_path();
    {
        let mut obj = kiln
            .storage
            .get(&art.storage_key, None)
            .await?
            .ok_or_else(|| CoreError::Storage(format!("{} is missing", art.storage_key)))?;
        let mut out = tokio::fs::File::create(&tmp).await?;
        tokio::io::copy(&mut obj.body, &mut out).await?;
        out.flush().await?;
    }
    let (sha256, size, _, xml) =
        sign_and_describe(kiln, key.clone(), &tmp, &art.file_name, &pkg.href).await?;
    kiln.storage.put_file(&art.storage_key, &tmp).await?;
    let txn = kiln.begin().await?;
    packages::Entity::update_many()
        .col_expr(packages::Column::Pkgid, Expr::value(sha256.clone()))
        .col_expr(packages::Column::Size, Expr::value(size as i64))
        .col_expr(
            packages::Column::KeyFingerprint,
            Expr::value(key.fingerprint.clone()),
        )
        .col_expr(packages::Column::PrimaryXml, Expr::value(xml.primary))
        .col_expr(packages::Column::FilelistsXml, Expr::value(xml.filelists))
        .col_expr(packages::Column::OtherXml, Expr::value(xml.other))
        .filter(packages::Column::Id.eq(pkg.id))
        .exec(&txn)
        .await?;
    artifacts::Entity::update_many()
        .col_expr(artifacts::Column::Sha256, Expr::value(sha256))
        .col_expr(artifacts::Column::Size, Expr::value(size as i64))
        .filter(artifacts::Column::Id.eq(art.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The chroots a repo publishes: those of its mock configs and those holding packages.
pub async fn chroots_of(kiln: &Kiln, repo_id: i32) -> CoreResult<Vec<String>> {
    use crate::entities::mock_configs;
    let mut set: BTreeSet<String> = package_chroots(
        &kiln.db,
        sea_orm::Condition::all().add(packages::Column::RepoId.eq(repo_id)),
    )
    .await?
    .into_iter()
    .collect();
    use crate::entities::base_chroots;
    let configs: Vec<String> = base_chroots::Entity::find()
        .select_only()
        .column(base_chroots::Column::Name)
        .filter(
            base_chroots::Column::Id.in_subquery(sea_orm::QueryTrait::into_query(
                mock_configs::Entity::find()
                    .select_only()
                    .column(mock_configs::Column::BaseChrootId)
                    .filter(mock_configs::Column::RepoId.eq(repo_id)),
            )),
        )
        .into_tuple()
        .all(&kiln.db)
        .await?;
    set.extend(configs);
    Ok(set.into_iter().collect())
}

/// The newest published build of each binary package in each chroot of a repo, by name then
/// chroot.
pub async fn newest_packages(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    name: &str,
) -> CoreResult<Vec<kiln_proto::PackageVersion>> {
    type Row = (i32, String, String, i32, String, String, String, i32);
    let ctx = authorize_repo(kiln, principal, owner, name, Action::ViewRepo).await?;
    let rows: Vec<Row> = packages::Entity::find()
        .select_only()
        .column(packages::Column::Id)
        .column(packages::Column::Name)
        .column(packages::Column::Chroot)
        .column(packages::Column::Epoch)
        .column(packages::Column::Version)
        .column(packages::Column::Release)
        .column(packages::Column::Arch)
        .column(packages::Column::ParentId)
        .filter(packages::Column::RepoId.eq(ctx.repo.id))
        .filter(packages::Column::InRepo.eq(true))
        .filter(packages::Column::Arch.ne("src"))
        .order_by_desc(packages::Column::Id)
        .into_tuple()
        .all(&kiln.db)
        .await?;
    // Newest first: the first row of each (name, chroot) wins.
    let mut newest: std::collections::BTreeMap<(String, String), kiln_proto::PackageVersion> =
        std::collections::BTreeMap::new();
    for (_, pkg, chroot, epoch, version, release, arch, build) in rows {
        newest
            .entry((pkg.clone(), chroot.clone()))
            .or_insert(kiln_proto::PackageVersion {
                name: pkg,
                chroot,
                epoch,
                version,
                release,
                arch,
                build,
            });
    }
    Ok(newest.into_values().collect())
}

/// `DELETE …/builds/ID`: the build's RPMs leave the repo, which is republished; its rows and
/// files are removed after the grace period.
pub async fn delete_build(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    name: &str,
    parent_id: i32,
) -> CoreResult<()> {
    let ctx = authorize_repo(kiln, principal, owner, name, Action::DeleteBuild).await?;
    let parent = tasks::Entity::find_by_id(parent_id)
        .filter(tasks::Column::RepoId.eq(ctx.repo.id))
        .filter(tasks::Column::ParentId.is_null())
        .one(&kiln.db)
        .await?
        .ok_or_else(|| {
            CoreError::not_found(format!("{} has no build {parent_id}", ctx.full_name()))
        })?;
    let state = TaskState::parse(&parent.state).unwrap_or(TaskState::Pending);
    if !state.is_final() {
        return Err(CoreError::Conflict(format!(
            "build {parent_id} is still {}; cancel it first",
            parent.state
        )));
    }
    remove_builds(
        kiln,
        ctx.repo.id,
        &ctx.full_name(),
        &[parent_id],
        principal,
        "delete",
    )
    .await
}

/// Takes the packages of the (final) builds `parent_ids` out of the repo and queues its
/// republishing; every row of the builds goes now, their files after the grace period.
pub(crate) async fn remove_builds(
    kiln: &Kiln,
    repo_id: i32,
    full_name: &str,
    parent_ids: &[i32],
    principal: &Principal,
    reason: &str,
) -> CoreResult<()> {
    let txn = kiln.begin().await?;
    let chroots = package_chroots(
        &txn,
        sea_orm::Condition::all()
            .add(packages::Column::ParentId.is_in(parent_ids.to_vec()))
            .add(packages::Column::InRepo.eq(true)),
    )
    .await?;
    // Every row of the builds goes now, explicitly (SQLite only cascades with foreign keys
    // switched on): packages, artifacts, logs, the task tree.
    packages::Entity::delete_many()
        .filter(packages::Column::ParentId.is_in(parent_ids.to_vec()))
        .exec(&txn)
        .await?;
    {
        use crate::entities::{artifacts, task_logs};
        artifacts::Entity::delete_many()
            .filter(artifacts::Column::ParentId.is_in(parent_ids.to_vec()))
            .exec(&txn)
            .await?;
        let tree = tasks::Entity::find()
            .select_only()
            .column(tasks::Column::Id)
            .filter(
                sea_orm::Condition::any()
                    .add(tasks::Column::Id.is_in(parent_ids.to_vec()))
                    .add(tasks::Column::ParentId.is_in(parent_ids.to_vec())),
            );
        task_logs::Entity::delete_many()
            .filter(task_logs::Column::TaskId.in_subquery(sea_orm::QueryTrait::into_query(tree)))
            .exec(&txn)
            .await?;
    }
    // The files go once clients that may be fetching them are done.
    let until = crate::now() + time::Duration::seconds(kiln.config.publish.grace_seconds);
    for p in parent_ids {
        crate::services::cleanup::schedule_at(
            &txn,
            &format!("repos/{}/builds/{p}/", repo_id),
            until,
        )
        .await?;
    }
    publishes::Entity::update_many()
        .col_expr(
            publishes::Column::ParentId,
            Expr::value(Option::<i32>::None),
        )
        .filter(publishes::Column::ParentId.is_in(parent_ids.to_vec()))
        .exec(&txn)
        .await?;
    tasks::Entity::delete_many()
        .filter(tasks::Column::ParentId.is_in(parent_ids.to_vec()))
        .exec(&txn)
        .await?;
    tasks::Entity::delete_many()
        .filter(tasks::Column::Id.is_in(parent_ids.to_vec()))
        .exec(&txn)
        .await?;
    for c in &chroots {
        queue(&txn, repo_id, c, None, reason, principal.user_id()).await?;
    }
    crate::services::audit::record(
        &txn,
        Some(repo_id),
        principal,
        "build.delete",
        full_name,
        serde_json::json!({"builds": parent_ids, "reason": reason}),
    )
    .await?;
    txn.commit().await?;
    kiln.publish_wake.notify_one();
    Ok(())
}

/// Storage key of a published chroot file (`repodata/…`).
pub fn repodata_key(repo_id: i32, chroot: &str, name: &str) -> String {
    format!("repos/{repo_id}/publish/{chroot}/repodata/{name}")
}

/// Runs every pending publish, one metadata run per chroot; until stopped. Several server
/// processes may run it: a chroot is held by one at a time.
pub async fn publisher(kiln: Kiln) {
    loop {
        let wake = kiln.publish_wake.notified();
        match run_pending(&kiln).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(runs = n, "published"),
            Err(e) => tracing::error!(error = %e, "publisher"),
        }
        tokio::select! {
            _ = wake => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// Publishes each chroot that has pending publishes; returns the number of metadata runs.
pub async fn run_pending(kiln: &Kiln) -> CoreResult<usize> {
    let pending: Vec<(i32, String)> = publishes::Entity::find()
        .select_only()
        .column(publishes::Column::RepoId)
        .column(publishes::Column::Chroot)
        .distinct()
        .filter(publishes::Column::State.eq("pending"))
        .into_tuple()
        .all(&kiln.db)
        .await?;
    let mut runs = 0;
    for (repo_id, chroot) in pending {
        if publish_chroot(kiln, repo_id, &chroot).await? {
            runs += 1;
        }
    }
    Ok(runs)
}

/// Takes the chroot's lock row; false when another publisher holds it.
async fn lock_chroot(
    kiln: &Kiln,
    repo_id: i32,
    chroot: &str,
) -> CoreResult<Option<repo_chroots::Model>> {
    let row = repo_chroots::ActiveModel {
        repo_id: Set(repo_id),
        chroot: Set(chroot.to_owned()),
        revision: Set(0),
        packages: Set(0),
        files: Set(serde_json::json!({"current": [], "old": []})),
        ..Default::default()
    };
    let _ = repo_chroots::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([repo_chroots::Column::RepoId, repo_chroots::Column::Chroot])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&kiln.db)
        .await?;
    let now = crate::now();
    let held = repo_chroots::Entity::update_many()
        .col_expr(
            repo_chroots::Column::LockedUntil,
            Expr::value(Some(now + time::Duration::minutes(10))),
        )
        .filter(repo_chroots::Column::RepoId.eq(repo_id))
        .filter(repo_chroots::Column::Chroot.eq(chroot))
        .filter(
            sea_orm::Condition::any()
                .add(repo_chroots::Column::LockedUntil.is_null())
                .add(repo_chroots::Column::LockedUntil.lt(now)),
        )
        .exec_with_returning(&kiln.db)
        .await?;
    Ok(held.into_iter().next())
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
pub(super) struct Files {
    pub(super) current: Vec<String>,
    old: Vec<OldFile>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct OldFile {
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    until: time::OffsetDateTime,
}

/// One metadata run for a chroot: takes its pending publishes (all of them: coalesced), puts
/// their packages in, writes the metadata files, then `repomd.xml.asc` and `repomd.xml` last.
async fn publish_chroot(kiln: &Kiln, repo_id: i32, chroot: &str) -> CoreResult<bool> {
    let Some(lock) = lock_chroot(kiln, repo_id, chroot).await? else {
        return Ok(false);
    };
    let started = std::time::Instant::now();
    let result = run_locked(kiln, &lock).await;
    // Release the chroot whatever happened.
    repo_chroots::Entity::update_many()
        .col_expr(
            repo_chroots::Column::LockedUntil,
            Expr::value(Option::<time::OffsetDateTime>::None),
        )
        .filter(repo_chroots::Column::Id.eq(lock.id))
        .exec(&kiln.db)
        .await?;
    kiln.metrics
        .publish
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok((batch, n)) => {
            tracing::info!(
                repo_id,
                chroot,
                packages = n,
                coalesced = batch.len(),
                ms = started.elapsed().as_millis() as u64,
                "published"
            );
            finish_batch(kiln, &batch, None).await?;
        }
        Err((batch, e)) => {
            tracing::error!(repo_id, chroot, error = %e, "publish failed");
            finish_batch(kiln, &batch, Some(e.to_string())).await?;
        }
    }
    Ok(true)
}

async fn finish_batch(kiln: &Kiln, batch: &[i32], error: Option<String>) -> CoreResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    publishes::Entity::update_many()
        .col_expr(
            publishes::Column::State,
            Expr::value(if error.is_some() {
                "failed"
            } else {
                "succeeded"
            }),
        )
        .col_expr(publishes::Column::Error, Expr::value(error.clone()))
        .col_expr(
            publishes::Column::FinishedAt,
            Expr::value(Some(crate::now())),
        )
        .filter(publishes::Column::Id.is_in(batch.to_vec()))
        .exec(&kiln.db)
        .await?;
    let parents: Vec<Option<i32>> = publishes::Entity::find()
        .select_only()
        .column(publishes::Column::ParentId)
        .filter(publishes::Column::Id.is_in(batch.to_vec()))
        .into_tuple()
        .all(&kiln.db)
        .await?;
    for p in parents.into_iter().flatten() {
        kiln.events.changed(p);
        // Published once every chroot of the build is: one event per build.
        if error.is_some() {
            continue;
        }
        let Some(parent) = tasks::Entity::find_by_id(p).one(&kiln.db).await? else {
            continue;
        };
        let all_published = states(&kiln.db, std::slice::from_ref(&parent))
            .await?
            .get(&p)
            == Some(&PublishState::Published);
        if all_published {
            let txn = kiln.begin().await?;
            super::events::emit_build(&txn, &parent, "kiln.build.publish").await?;
            txn.commit().await?;
        }
    }
    Ok(())
}

type Batch = Vec<i32>;

/// A package in a chroot's metadata: id, pkgid, key fingerprint, parent task, name, epoch,
/// version, release, arch.
pub(super) type InRepo = (
    i32,
    String,
    String,
    i32,
    String,
    i32,
    String,
    String,
    String,
);

/// The packages a chroot's metadata lists: of several builds of one NEVRA (the same version
/// built again), only the newest build's. The older stay build artifacts (until retention)
/// and come back if the newer build is deleted. Keeps `rows`' order.
pub(super) fn newest_per_nevra(rows: Vec<InRepo>) -> Vec<InRepo> {
    let mut newest: HashMap<(&str, i32, &str, &str, &str), (i32, i32)> = HashMap::new();
    for r in &rows {
        let k = (r.4.as_str(), r.5, r.6.as_str(), r.7.as_str(), r.8.as_str());
        let candidate = (r.3, r.0);
        let e = newest.entry(k).or_insert(candidate);
        if candidate > *e {
            *e = candidate;
        }
    }
    let keep: std::collections::HashSet<i32> = newest.values().map(|(_, id)| *id).collect();
    rows.into_iter().filter(|r| keep.contains(&r.0)).collect()
}

async fn run_locked(
    kiln: &Kiln,
    lock: &repo_chroots::Model,
) -> Result<(Batch, usize), (Batch, CoreError)> {
    let (repo_id, chroot) = (lock.repo_id, lock.chroot.as_str());
    let t_begin = std::time::Instant::now();
    // The batch: every pending publish of this chroot, now.
    let now = crate::now();
    let batch: Vec<publishes::Model> = publishes::Entity::update_many()
        .col_expr(publishes::Column::State, Expr::value("running"))
        .col_expr(publishes::Column::StartedAt, Expr::value(Some(now)))
        .filter(publishes::Column::RepoId.eq(repo_id))
        .filter(publishes::Column::Chroot.eq(chroot))
        .filter(publishes::Column::State.eq("pending"))
        .exec_with_returning(&kiln.db)
        .await
        .map_err(|e| (Vec::new(), e.into()))?;
    let ids: Batch = batch.iter().map(|p| p.id).collect();
    let fail = |e: CoreError| (ids.clone(), e);
    if batch.is_empty() {
        return Ok((ids, 0));
    }
    let parents: Vec<i32> = batch.iter().filter_map(|p| p.parent_id).collect();
    if !parents.is_empty() {
        packages::Entity::update_many()
            .col_expr(packages::Column::InRepo, Expr::value(true))
            .filter(packages::Column::ParentId.is_in(parents))
            .filter(packages::Column::Chroot.eq(chroot))
            .exec(&kiln.db)
            .await
            .map_err(|e| fail(e.into()))?;
    }
    let key = active_key(kiln, repo_id).await.map_err(fail)?;
    let t_read = std::time::Instant::now();
    let prelude_ms = (t_read - t_begin).as_secs_f64() * 1e3;
    let in_repo = || async {
        let rows: Vec<InRepo> = packages::Entity::find()
            .select_only()
            .column(packages::Column::Id)
            .column(packages::Column::Pkgid)
            .column(packages::Column::KeyFingerprint)
            .column(packages::Column::ParentId)
            .column(packages::Column::Name)
            .column(packages::Column::Epoch)
            .column(packages::Column::Version)
            .column(packages::Column::Release)
            .column(packages::Column::Arch)
            .filter(packages::Column::RepoId.eq(repo_id))
            .filter(packages::Column::Chroot.eq(chroot))
            .filter(packages::Column::InRepo.eq(true))
            .order_by_asc(packages::Column::Id)
            .into_tuple()
            .all(&kiln.db)
            .await?;
        // One NEVRA, one entry: the newest build's.
        Ok::<_, sea_orm::DbErr>(newest_per_nevra(rows))
    };
    let mut rows = in_repo().await.map_err(|e| fail(e.into()))?;
    // Packages signed with an older key (the key was rotated) are re-signed first.
    let stale: Vec<i32> = rows
        .iter()
        .filter(|r| r.2 != key.fingerprint)
        .map(|r| r.0)
        .collect();
    if !stale.is_empty() {
        for chunk in stale.chunks(500) {
            let pkgs = packages::Entity::find()
                .filter(packages::Column::Id.is_in(chunk.to_vec()))
                .all(&kiln.db)
                .await
                .map_err(|e| fail(e.into()))?;
            for pkg in pkgs {
                resign(kiln, &key, pkg).await.map_err(fail)?;
            }
        }
        tracing::info!(
            repo_id,
            chroot,
            packages = stale.len(),
            "re-signed with the new key"
        );
        rows = in_repo().await.map_err(|e| fail(e.into()))?;
    }
    let rows: Vec<(i32, String)> = rows.into_iter().map(|r| (r.0, r.1)).collect();
    let n = rows.len();
    let segs = segments(kiln, &rows).await.map_err(fail)?;
    let read_ms = t_read.elapsed().as_secs_f64() * 1e3;
    let t_build = std::time::Instant::now();
    let server_key = kiln.server_key.clone();
    let revision = now.unix_timestamp().max(lock.revision + 1);
    let mut files = tokio::task::spawn_blocking(move || {
        let refs: Vec<&repodata::Segment> = segs.iter().map(|s| s.as_ref()).collect();
        repodata::build_from_segments(n, &refs, revision)
    })
    .await
    .map_err(|_| fail(CoreError::internal("metadata run panicked")))?
    .map_err(|e| fail(e.into()))?;
    let repomd = files
        .pop()
        .ok_or_else(|| fail(CoreError::internal("no repomd")))?;
    let build_ms = t_build.elapsed().as_secs_f64() * 1e3;
    let t_store = std::time::Instant::now();
    // repomd.xml is signed while the data files are stored (all at once); then the signature,
    // then repomd.xml: a client sees the old or the new repo, never a repomd.xml naming files
    // that are not there yet.
    let to_sign = repomd.bytes.clone();
    let signers = kiln.signers.clone();
    let sign = tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        let asc = signer(&signers, &key, &server_key).and_then(|s| s.sign(&to_sign));
        (asc, t.elapsed().as_secs_f64() * 1e3)
    });
    let put = |f: &repodata::RepoFile| {
        let (key, body) = (
            repodata_key(repo_id, chroot, &f.name),
            std::io::Cursor::new(f.bytes.clone()),
        );
        async move { kiln.storage.put(&key, Box::pin(body)).await }
    };
    let puts = futures::future::try_join_all(files.iter().map(put));
    let (signed, stored) = tokio::join!(sign, puts);
    stored.map_err(fail)?;
    let (asc, sign_ms) = signed.map_err(|_| fail(CoreError::internal("signing panicked")))?;
    let asc = repodata::RepoFile {
        name: "repomd.xml.asc".into(),
        bytes: asc.map_err(fail)?.into_bytes(),
    };
    let sign_store_ms = t_store.elapsed().as_secs_f64() * 1e3;
    // The signature, then repomd.xml: the window in which a client could pair the old
    // repomd.xml with the new signature is one small write long.
    for f in [asc, repomd] {
        put(&f).await.map_err(fail)?;
        files.push(f);
    }
    // Superseded files stay for the grace period; expired ones go now.
    let mut record: Files = serde_json::from_value(lock.files.clone()).unwrap_or_default();
    let current: Vec<String> = files
        .iter()
        .map(|f| f.name.clone())
        .filter(|n| !n.starts_with("repomd.xml"))
        .collect();
    let until = now + time::Duration::seconds(kiln.config.publish.grace_seconds);
    for old in record.current.drain(..) {
        if !current.contains(&old) {
            record.old.push(OldFile { name: old, until });
        }
    }
    let mut keep = Vec::new();
    for old in record.old.drain(..) {
        if old.until <= now && !current.contains(&old.name) {
            let _ = kiln
                .storage
                .delete(&repodata_key(repo_id, chroot, &old.name))
                .await;
        } else if !current.contains(&old.name) {
            keep.push(old);
        }
    }
    record.old = keep;
    record.current = current;
    tracing::debug!(
        repo_id,
        chroot,
        prelude_ms,
        segments_ms = read_ms,
        build_ms,
        sign_ms,
        sign_store_ms,
        store_ms = t_store.elapsed().as_secs_f64() * 1e3,
        "publish phases"
    );
    repo_chroots::Entity::update_many()
        .col_expr(repo_chroots::Column::Revision, Expr::value(revision))
        .col_expr(repo_chroots::Column::Packages, Expr::value(n as i32))
        .col_expr(
            repo_chroots::Column::Files,
            Expr::value(serde_json::to_value(&record).unwrap_or_default()),
        )
        .col_expr(
            repo_chroots::Column::PublishedAt,
            Expr::value(Some(crate::now())),
        )
        .filter(repo_chroots::Column::Id.eq(lock.id))
        .exec(&kiln.db)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok((ids, n))
}

/// The repo key unlocked for signing, once per process and key (unlocking parses the key and
/// prepares the RSA key: milliseconds that every publish would otherwise repeat).
fn signer(
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

/// A repo looked up for serving (public).
pub async fn repo_for_serving(kiln: &Kiln, owner: &str, name: &str) -> CoreResult<RepoCtx> {
    authorize_repo(kiln, &Principal::Anonymous, owner, name, Action::ViewRepo).await
}

/// The storage key of a published package file, by its path below the chroot directory.
pub async fn package_key(
    kiln: &Kiln,
    repo_id: i32,
    chroot: &str,
    href: &str,
) -> CoreResult<Option<String>> {
    use crate::entities::artifacts;
    let Some(pkg) = packages::Entity::find()
        .filter(packages::Column::RepoId.eq(repo_id))
        .filter(packages::Column::Chroot.eq(chroot))
        .filter(packages::Column::Href.eq(href))
        .one(&kiln.db)
        .await?
    else {
        return Ok(None);
    };
    Ok(artifacts::Entity::find_by_id(pkg.artifact_id)
        .one(&kiln.db)
        .await?
        .map(|a| a.storage_key))
}

/// The distros (`fedora`, `epel`, …) a repo publishes, from its chroot names.
pub fn distros(chroots: &[String]) -> Vec<String> {
    let mut out: Vec<String> = chroots
        .iter()
        .filter_map(|c| {
            let mut parts: Vec<&str> = c.rsplitn(3, '-').collect();
            parts.reverse();
            (parts.len() == 3).then(|| parts[0].to_owned())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The `.repo` file: one section per distro (`distro` picks one), `baseurl` with
/// `$releasever-$basearch`, signatures checked on packages and metadata.
pub fn repo_file(
    public_url: &str,
    owner: &str,
    name: &str,
    description: &str,
    distros: &[String],
) -> String {
    let base = public_url.trim_end_matches('/');
    let several = distros.len() > 1;
    let mut out = String::new();
    for d in distros {
        let id = if several {
            format!("kiln-{owner}-{name}-{d}")
        } else {
            format!("kiln-{owner}-{name}")
        };
        let title = if description.trim().is_empty() {
            format!("Kiln repo {owner}/{name}")
        } else {
            format!(
                "Kiln repo {owner}/{name}: {}",
                description.lines().next().unwrap_or("")
            )
        };
        out.push_str(&format!(
            "[{id}]\nname={title}\nbaseurl={base}/repos/{owner}/{name}/{d}-$releasever-$basearch/\ntype=rpm-md\nskip_if_unavailable={}\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey={base}/repos/{owner}/{name}/pubkey.gpg\nenabled=1\nenabled_metadata=1\n\n",
            if several { "True" } else { "False" }
        ));
    }
    out
}

/// The release RPM for the current `.repo` file and key: stored once per content, built on
/// first request. Returns its storage key and file name.
pub async fn release_rpm(
    kiln: &Kiln,
    ctx: &RepoCtx,
    repo_text: &str,
) -> CoreResult<(String, String)> {
    let key = active_key(kiln, ctx.repo.id).await?;
    let (owner, name) = (ctx.owner.username.clone(), ctx.repo.name.clone());
    let digest = hex::encode(Sha256::digest(
        format!("{repo_text}\n{}", key.fingerprint).as_bytes(),
    ));
    let storage_key = format!("repos/{}/release/{}.rpm", ctx.repo.id, &digest[..16]);
    let file = format!("{owner}-{name}-release.noarch.rpm");
    if kiln.storage.head(&storage_key).await?.is_some() {
        return Ok((storage_key, file));
    }
    // A new build: the next serial, so dnf sees an upgrade.
    let txn = kiln.begin().await?;
    repos::Entity::update_many()
        .col_expr(
            repos::Column::ReleaseSerial,
            Expr::col(repos::Column::ReleaseSerial).add(1),
        )
        .filter(repos::Column::Id.eq(ctx.repo.id))
        .exec(&txn)
        .await?;
    let serial: i32 = repos::Entity::find_by_id(ctx.repo.id)
        .select_only()
        .column(repos::Column::ReleaseSerial)
        .into_tuple()
        .one(&txn)
        .await?
        .unwrap_or(1);
    txn.commit().await?;
    let server_key = kiln.server_key.clone();
    let repo_text = repo_text.to_owned();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("release.rpm");
    let out = path.clone();
    tokio::task::spawn_blocking(move || {
        let pkg_name = format!("{owner}-{name}-release");
        let repo_path = dir_file(&out, "repo")?;
        std::fs::write(&repo_path, repo_text)?;
        let key_path = dir_file(&out, "key")?;
        std::fs::write(&key_path, &key.public_key)?;
        let signer = signing::rpm_signer(&key.secret_key, &server_key)?;
        let err = |e: rpm::Error| CoreError::internal(format!("release RPM: {e}"));
        let mut builder = rpm::PackageBuilder::new(
            &pkg_name,
            "1",
            "MIT",
            "noarch",
            &format!("Kiln repository {owner}/{name}"),
        );
        builder.release(serial.to_string()).description(format!(
            "The dnf configuration and signing key of the Kiln repository {owner}/{name}."
        ));
        builder
            .with_file(
                &repo_path,
                rpm::FileOptions::new(format!("/etc/yum.repos.d/{owner}-{name}.repo"))
                    .config()
                    .noreplace()
                    .permissions(0o644),
            )
            .map_err(err)?;
        builder
            .with_file(
                &key_path,
                rpm::FileOptions::new(format!("/etc/pki/rpm-gpg/RPM-GPG-KEY-kiln-{owner}-{name}"))
                    .permissions(0o644),
            )
            .map_err(err)?;
        let pkg = builder.build_and_sign(signer).map_err(err)?;
        pkg.write_file(&out).map_err(err)?;
        Ok::<_, CoreError>(())
    })
    .await
    .map_err(|_| CoreError::internal("release RPM build panicked"))??;
    kiln.storage.put_file(&storage_key, &path).await?;
    Ok((storage_key, file))
}

fn dir_file(rpm_path: &std::path::Path, name: &str) -> CoreResult<std::path::PathBuf> {
    Ok(rpm_path
        .parent()
        .ok_or_else(|| CoreError::internal("no temp dir"))?
        .join(name))
}

/// Removes a deleted repo's publishing rows and its task tree (the caller's transaction; its
/// objects are removed with the repo's storage prefix).
pub async fn delete_repo_rows(db: &impl ConnectionTrait, repo_id: i32) -> CoreResult<()> {
    use crate::entities::{webhook_deliveries, webhooks};
    let hooks: Vec<i32> = webhooks::Entity::find()
        .select_only()
        .column(webhooks::Column::Id)
        .filter(webhooks::Column::RepoId.eq(repo_id))
        .into_tuple()
        .all(db)
        .await?;
    webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::WebhookId.is_in(hooks))
        .exec(db)
        .await?;
    webhooks::Entity::delete_many()
        .filter(webhooks::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    use crate::entities::{artifacts, task_logs};
    packages::Entity::delete_many()
        .filter(packages::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    publishes::Entity::delete_many()
        .filter(publishes::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    repo_chroots::Entity::delete_many()
        .filter(repo_chroots::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    repo_keys::Entity::delete_many()
        .filter(repo_keys::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    artifacts::Entity::delete_many()
        .filter(artifacts::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    let task_ids = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Id)
        .filter(tasks::Column::RepoId.eq(repo_id));
    task_logs::Entity::delete_many()
        .filter(task_logs::Column::TaskId.in_subquery(sea_orm::QueryTrait::into_query(task_ids)))
        .exec(db)
        .await?;
    tasks::Entity::delete_many()
        .filter(tasks::Column::RepoId.eq(repo_id))
        .filter(tasks::Column::ParentId.is_not_null())
        .exec(db)
        .await?;
    tasks::Entity::delete_many()
        .filter(tasks::Column::RepoId.eq(repo_id))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_nevra_one_entry_the_newest_builds() {
        let row = |id: i32, parent: i32, name: &str, release: &str, arch: &str| -> InRepo {
            (
                id,
                format!("sum{id}"),
                "fp".into(),
                parent,
                name.into(),
                0,
                "1.0".into(),
                release.into(),
                arch.into(),
            )
        };
        let rows = vec![
            row(1, 10, "hello", "1.fc44", "x86_64"),
            row(2, 10, "hello-devel", "1.fc44", "x86_64"),
            row(3, 11, "hello", "2.fc44", "x86_64"),
            // The same NEVRAs built again by a newer build.
            row(4, 12, "hello", "1.fc44", "x86_64"),
            row(5, 12, "hello", "1.fc44", "src"),
            // Same name and version, another arch: another package.
            row(6, 10, "hello", "1.fc44", "i686"),
        ];
        let ids: Vec<i32> = newest_per_nevra(rows).iter().map(|r| r.0).collect();
        assert_eq!(ids, [2, 3, 4, 5, 6]);
    }

    #[test]
    fn distros_come_from_chroot_names() {
        let chroots = vec![
            "fedora-44-x86_64".to_owned(),
            "fedora-44-aarch64".to_owned(),
            "epel-10-x86_64".to_owned(),
            "centos-stream-10-x86_64".to_owned(),
        ];
        assert_eq!(distros(&chroots), vec!["centos-stream", "epel", "fedora"]);
    }

    #[test]
    fn repo_files() {
        insta::assert_snapshot!(
            "repo_file_one_distro",
            repo_file(
                "https://kiln.example.org/",
                "alice",
                "tools",
                "Tools\nmore",
                &["fedora".into()]
            )
        );
        insta::assert_snapshot!(
            "repo_file_two_distros",
            repo_file(
                "https://kiln.example.org",
                "alice",
                "tools",
                "",
                &["epel".into(), "fedora".into()]
            )
        );
    }
}
