//! What serving a published repo needs: its chroots and newest packages, the storage key of a
//! package file, the `.repo` file and the release RPM.

use std::collections::BTreeSet;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sha2::{Digest, Sha256};

use crate::entities::{packages, repos};
use crate::policy::Action;
use crate::services::access::{authorize_repo, RepoCtx};
use crate::{signing, CoreError, CoreResult, Kiln, Principal};

use super::*;

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

/// A repo looked up for serving its published files to `principal` (anyone for a public
/// repo; members, site admins and its read tokens for a private one).
pub async fn repo_for_serving(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    name: &str,
) -> CoreResult<RepoCtx> {
    authorize_repo(kiln, principal, owner, name, Action::Download).await
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

/// An owner as dnf repo ids and RPM names allow it: a group's `@` becomes `_` (no user name
/// starts with `_`, so the two never meet).
pub fn dnf_safe(owner: &str) -> String {
    owner.replace('@', "_")
}

/// The `.repo` file: one section per distro (`distro` picks one), `baseurl` with
/// `$releasever-$basearch`, signatures checked on packages and metadata.
pub fn repo_file(
    public_url: &str,
    owner: &str,
    name: &str,
    description: &str,
    distros: &[String],
    credentials: Option<&DownloadCredential>,
) -> String {
    let base = public_url.trim_end_matches('/');
    let several = distros.len() > 1;
    let mut out = String::new();
    for d in distros {
        let id = if several {
            format!("kiln-{}-{name}-{d}", dnf_safe(owner))
        } else {
            format!("kiln-{}-{name}", dnf_safe(owner))
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
        if let Some(c) = credentials {
            // Before the blank line that ends the section.
            out.pop();
            out.push_str(&format!(
                "username={}\npassword={}\n\n",
                c.username,
                c.password.expose()
            ));
        }
    }
    out
}

/// The HTTP Basic credential a download came with (a read token, or a member's API token as
/// the password), to be written into the `.repo` file and release RPM of a private repo so
/// that dnf sends it again.
#[derive(Debug, Clone)]
pub struct DownloadCredential {
    /// The user name sent (any; dnf needs one). Only `[A-Za-z0-9._-]` is kept.
    pub username: String,
    /// The token.
    pub password: crate::secret::Secret,
}

impl DownloadCredential {
    /// A credential whose parts can be written into a `.repo` file unchanged, or `None`.
    pub fn new(username: &str, password: &str) -> Option<DownloadCredential> {
        let safe = |v: &str, max: usize| {
            !v.is_empty()
                && v.len() <= max
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        let username = if safe(username, 64) { username } else { "kiln" };
        safe(password, 200).then(|| DownloadCredential {
            username: username.to_owned(),
            password: crate::secret::Secret::new(password.to_owned()),
        })
    }
}

/// The release RPM for the current `.repo` file and key: stored once per content, built on
/// first request. Returns its storage key and file name.
pub async fn release_rpm(
    kiln: &Kiln,
    ctx: &RepoCtx,
    repo_text: &str,
) -> CoreResult<(String, String)> {
    let key = active_key(kiln, ctx.repo.id).await?;
    let (owner, name) = (&ctx.owner.username, &ctx.repo.name);
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
    let serial = release_serial(&txn, ctx.repo.id).await?;
    txn.commit().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("release.rpm");
    build_release_rpm(kiln, ctx, key, repo_text, serial, &path).await?;
    kiln.storage.put_file(&storage_key, &path).await?;
    Ok((storage_key, file))
}

/// The release RPM of a private repo for the credential a download came with: the same as
/// `release_rpm` for `public_text` (same serial), but with `repo_text`, which carries the
/// credential. Built for each request and never stored, so no secret rests in storage.
pub async fn release_rpm_with_credential(
    kiln: &Kiln,
    ctx: &RepoCtx,
    public_text: &str,
    repo_text: &str,
) -> CoreResult<Vec<u8>> {
    release_rpm(kiln, ctx, public_text).await?;
    let key = active_key(kiln, ctx.repo.id).await?;
    let serial = release_serial(&kiln.db, ctx.repo.id).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("release.rpm");
    build_release_rpm(kiln, ctx, key, repo_text, serial, &path).await?;
    Ok(tokio::fs::read(&path).await?)
}

async fn release_serial(db: &impl sea_orm::ConnectionTrait, repo_id: i32) -> CoreResult<i32> {
    Ok(repos::Entity::find_by_id(repo_id)
        .select_only()
        .column(repos::Column::ReleaseSerial)
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or(1))
}

/// Writes the release RPM (the `.repo` file as a config file, the public key) to `out`,
/// signed with the repo's key.
async fn build_release_rpm(
    kiln: &Kiln,
    ctx: &RepoCtx,
    key: crate::entities::repo_keys::Model,
    repo_text: &str,
    serial: i32,
    out: &std::path::Path,
) -> CoreResult<()> {
    let (owner, name) = (ctx.owner.username.clone(), ctx.repo.name.clone());
    let server_key = kiln.server_key.clone();
    // A file holding a credential is readable by root only.
    let mode = if repo_text.contains("\npassword=") {
        0o600
    } else {
        0o644
    };
    let repo_text = repo_text.to_owned();
    let out = out.to_owned();
    tokio::task::spawn_blocking(move || {
        let pkg_name = format!("{}-{name}-release", dnf_safe(&owner));
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
                    .permissions(mode),
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
    .map_err(|_| CoreError::internal("release RPM build panicked"))?
}

pub(super) fn dir_file(rpm_path: &std::path::Path, name: &str) -> CoreResult<std::path::PathBuf> {
    Ok(rpm_path
        .parent()
        .ok_or_else(|| CoreError::internal("no temp dir"))?
        .join(name))
}
