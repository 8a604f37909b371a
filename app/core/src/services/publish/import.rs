//! Importing a built RPM: signed with the repo key in place and described once (its primary,
//! filelists and other entries), so a metadata run only concatenates; re-signing after a
//! rotation.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use crate::entities::{packages, repo_keys, tasks};
use crate::repodata::{self, FileFacts, PackageXml};
use crate::{signing, CoreError, CoreResult, Kiln};

use super::*;

/// An RPM a build produced, signed with the repo key and described for the metadata.
pub struct Imported {
    /// Path below the chroot directory.
    pub href: String,
    /// SHA-256 of the signed file (hex); also its `pkgid` in the metadata.
    pub sha256: String,
    /// Size of the signed file in bytes.
    pub size: u64,
    /// The package row to insert, not yet in the repo; the caller sets its `artifact_id`.
    pub package: packages::ActiveModel,
}

pub(super) fn sha256_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((hex::encode(h.finalize()), n))
}

/// Signs the RPM at `path` in place with `key` and reads it once: its checksum, size, header
/// and metadata entries (listed at `href` below the chroot directory).
pub(super) async fn sign_and_describe(
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

/// Re-signs a stored package with `key` (the repo's key now): the file is fetched, signed,
/// described again and put back under the same storage key (atomically: readers get the old
/// or the new file); its package entry and artifact row take the new checksum and size.
pub(super) async fn resign(
    kiln: &Kiln,
    key: &repo_keys::Model,
    pkg: packages::Model,
) -> CoreResult<()> {
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
