//! Metadata runs: pending publishes of a chroot coalesced into one run, one server at a time
//! (a lock row), data files first, then the signature, then repomd.xml; superseded files kept
//! for the grace period.

use std::collections::HashMap;

use kiln_proto::PublishState;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use sha2::{Digest, Sha256};

use crate::entities::{packages, publishes, repo_chroots, repo_keys, tasks};
use crate::repodata::{self, PackageXml};
use crate::{CoreError, CoreResult, Kiln};

use super::*;

/// Recently built metadata segments by content key, within a memory budget; the least
/// recently used go first. Each server process has its own: a cold one costs one full
/// compression.
pub struct SegmentCache {
    budget: usize,
    inner: std::sync::Mutex<CacheInner>,
}

#[derive(Default)]
pub(super) struct CacheInner {
    map: std::collections::HashMap<[u8; 32], (std::sync::Arc<repodata::Segment>, u64)>,
    tick: u64,
    bytes: usize,
}

impl SegmentCache {
    /// An empty cache that keeps at most `budget` bytes of segments (raw and compressed).
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
pub(super) async fn segments(
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
pub(super) async fn lock_chroot(
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
pub(in crate::services) struct Files {
    pub(in crate::services) current: Vec<String>,
    old: Vec<OldFile>,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct OldFile {
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    until: time::OffsetDateTime,
}

/// The metadata files after a run that wrote `current`: the files it no longer names are kept
/// until `until` (a client may hold a repomd.xml that names them); those whose time is up by
/// `now` are returned, to be deleted. A file named again is current, not old.
fn retire(
    mut record: Files,
    current: Vec<String>,
    now: time::OffsetDateTime,
    until: time::OffsetDateTime,
) -> (Files, Vec<String>) {
    for old in record.current.drain(..) {
        if !current.contains(&old) {
            record.old.push(OldFile { name: old, until });
        }
    }
    let mut expired = Vec::new();
    let mut keep = Vec::new();
    for old in record.old.drain(..) {
        if current.contains(&old.name) {
            continue;
        }
        if old.until <= now {
            expired.push(old.name);
        } else {
            keep.push(old);
        }
    }
    record.old = keep;
    record.current = current;
    (record, expired)
}

/// One metadata run for a chroot: takes its pending publishes (all of them: coalesced), puts
/// their packages in, writes the metadata files, then `repomd.xml.asc` and `repomd.xml` last.
pub(super) async fn publish_chroot(kiln: &Kiln, repo_id: i32, chroot: &str) -> CoreResult<bool> {
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

pub(super) async fn finish_batch(
    kiln: &Kiln,
    batch: &[i32],
    error: Option<String>,
) -> CoreResult<()> {
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
            super::super::events::emit_build(&txn, &parent, "kiln.build.publish").await?;
            txn.commit().await?;
        }
    }
    Ok(())
}

pub(super) type Batch = Vec<i32>;

/// A package in a chroot's metadata: id, pkgid, key fingerprint, parent task, name, epoch,
/// version, release, arch.
pub(in crate::services) type InRepo = (
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
pub(in crate::services) fn newest_per_nevra(rows: Vec<InRepo>) -> Vec<InRepo> {
    // (name, epoch, version, release, arch) → the newest (parent, id).
    type Nevra<'a> = (&'a str, i32, &'a str, &'a str, &'a str);
    let mut newest: HashMap<Nevra<'_>, (i32, i32)> = HashMap::new();
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

pub(super) async fn run_locked(
    kiln: &Kiln,
    lock: &repo_chroots::Model,
) -> Result<(Batch, usize), (Batch, CoreError)> {
    let (repo_id, chroot) = (lock.repo_id, lock.chroot.as_str());
    let now = crate::now();
    let batch = take_batch(kiln, repo_id, chroot, now).await?;
    if batch.is_empty() {
        return Ok((batch, 0));
    }
    let fail = |e: CoreError| (batch.clone(), e);
    let t_read = std::time::Instant::now();
    let key = active_key(kiln, repo_id).await.map_err(fail)?;
    let rows = listed_packages(kiln, repo_id, chroot, &key)
        .await
        .map_err(fail)?;
    let n = rows.len();
    let segs = segments(kiln, &rows).await.map_err(fail)?;
    let read_ms = t_read.elapsed().as_secs_f64() * 1e3;
    let t_build = std::time::Instant::now();
    let revision = now.unix_timestamp().max(lock.revision + 1);
    let files = tokio::task::spawn_blocking(move || {
        let refs: Vec<&repodata::Segment> = segs.iter().map(|s| s.as_ref()).collect();
        repodata::build_from_segments(n, &refs, revision)
    })
    .await
    .map_err(|_| fail(CoreError::internal("metadata run panicked")))?
    .map_err(|e| fail(e.into()))?;
    let build_ms = t_build.elapsed().as_secs_f64() * 1e3;
    let t_store = std::time::Instant::now();
    let names = store_signed(kiln, repo_id, chroot, files, key)
        .await
        .map_err(fail)?;
    let store_ms = t_store.elapsed().as_secs_f64() * 1e3;
    let record = retire_superseded(kiln, lock, names, now).await;
    tracing::debug!(
        repo_id,
        chroot,
        read_ms,
        build_ms,
        store_ms,
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
    Ok((batch, n))
}

/// The run's batch: every pending publish of the chroot, now marked running, with their
/// builds' packages put in the chroot.
async fn take_batch(
    kiln: &Kiln,
    repo_id: i32,
    chroot: &str,
    now: time::OffsetDateTime,
) -> Result<Batch, (Batch, CoreError)> {
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
    let parents: Vec<i32> = batch.iter().filter_map(|p| p.parent_id).collect();
    if !parents.is_empty() {
        packages::Entity::update_many()
            .col_expr(packages::Column::InRepo, Expr::value(true))
            .filter(packages::Column::ParentId.is_in(parents))
            .filter(packages::Column::Chroot.eq(chroot))
            .exec(&kiln.db)
            .await
            .map_err(|e| (ids.clone(), e.into()))?;
    }
    Ok(ids)
}

/// The chroot's packages as its metadata lists them (id, pkgid), one per NEVRA, all signed
/// with `key`: packages signed with an older key (it was rotated) are re-signed first.
async fn listed_packages(
    kiln: &Kiln,
    repo_id: i32,
    chroot: &str,
    key: &repo_keys::Model,
) -> CoreResult<Vec<(i32, String)>> {
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
    let mut rows = in_repo().await?;
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
                .await?;
            for pkg in pkgs {
                resign(kiln, key, pkg).await?;
            }
        }
        tracing::info!(
            repo_id,
            chroot,
            packages = stale.len(),
            "re-signed with the new key"
        );
        rows = in_repo().await?;
    }
    Ok(rows.into_iter().map(|r| (r.0, r.1)).collect())
}

/// Stores the metadata files (`repomd.xml` last in `files`): the data files all at once while
/// repomd.xml is signed, then the signature, then repomd.xml, so a client sees the old or the
/// new repo, never a repomd.xml naming files that are not there yet. The stored data files'
/// names.
async fn store_signed(
    kiln: &Kiln,
    repo_id: i32,
    chroot: &str,
    mut files: Vec<repodata::RepoFile>,
    key: repo_keys::Model,
) -> CoreResult<Vec<String>> {
    let repomd = files
        .pop()
        .ok_or_else(|| CoreError::internal("no repomd"))?;
    let to_sign = repomd.bytes.clone();
    let (signers, server_key) = (kiln.signers.clone(), kiln.server_key.clone());
    let sign = tokio::task::spawn_blocking(move || {
        signer(&signers, &key, &server_key).and_then(|s| s.sign(&to_sign))
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
    stored?;
    let asc = repodata::RepoFile {
        name: "repomd.xml.asc".into(),
        bytes: signed
            .map_err(|_| CoreError::internal("signing panicked"))??
            .into_bytes(),
    };
    // The signature, then repomd.xml: the window in which a client could pair the old
    // repomd.xml with the new signature is one small write long.
    put(&asc).await?;
    put(&repomd).await?;
    Ok(files.into_iter().map(|f| f.name).collect())
}

/// The record of the run's files: superseded ones stay for the grace period, expired ones are
/// deleted now (a delete that fails is logged; the file stays unnamed).
async fn retire_superseded(
    kiln: &Kiln,
    lock: &repo_chroots::Model,
    current: Vec<String>,
    now: time::OffsetDateTime,
) -> Files {
    let record: Files = serde_json::from_value(lock.files.clone()).unwrap_or_default();
    let until = now + time::Duration::seconds(kiln.config.publish.grace_seconds);
    let (record, expired) = retire(record, current, now, until);
    for name in expired {
        let key = repodata_key(lock.repo_id, &lock.chroot, &name);
        if let Err(e) = kiln.storage.delete(&key).await {
            tracing::warn!(key, error = %e, "deleting a superseded metadata file");
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superseded_files_stay_their_grace_then_go() {
        let t = |s: i64| time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(s);
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // A first run: nothing old.
        let (r, gone) = retire(
            Files::default(),
            names(&["a-primary", "a-other"]),
            t(0),
            t(60),
        );
        assert!(gone.is_empty() && r.old.is_empty());
        // A second run at 10 s replaces a-primary: it is kept until 70 s.
        let (r, gone) = retire(r, names(&["b-primary", "a-other"]), t(10), t(70));
        assert!(gone.is_empty());
        assert_eq!(
            r.old
                .iter()
                .map(|o| (o.name.as_str(), o.until))
                .collect::<Vec<_>>(),
            [("a-primary", t(70))]
        );
        assert_eq!(r.current, names(&["b-primary", "a-other"]));
        // At 50 s it is still within its grace; at 80 s it goes, and b-primary starts its own.
        let (r, gone) = retire(r, names(&["b-primary", "a-other"]), t(50), t(110));
        assert!(gone.is_empty() && r.old.len() == 1);
        let (r, gone) = retire(r, names(&["c-primary", "a-other"]), t(80), t(140));
        assert_eq!(gone, names(&["a-primary"]));
        assert_eq!(
            r.old.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["b-primary"]
        );
        // A file named again (the same content) is current, never deleted.
        let (r, gone) = retire(r, names(&["b-primary", "a-other"]), t(200), t(260));
        assert_eq!(gone, Vec::<String>::new());
        assert!(r.old.iter().all(|o| o.name != "b-primary"));
        assert_eq!(
            r.old.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["c-primary"]
        );
    }
}
