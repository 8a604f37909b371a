//! The browsable index of a published repository (`/repos/OWNER/REPO/` and
//! `/repos/OWNER/REPO/CHROOT/`), as Copr's and every mirror's results pages are: what the
//! repository holds, read from the rows its metadata was made from.

use kiln_proto::{ChrootIndex, ChrootSummary, PublishedPackage, RepoIndex};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::publish::{newest_per_nevra, repo_for_serving};
use crate::entities::{packages, repo_chroots};
use crate::error::{CoreError, CoreResult};
use crate::policy::Principal;
use crate::Kiln;

/// The top of a published repository: its files and chroot directories.
pub async fn repo_index(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
) -> CoreResult<RepoIndex> {
    let ctx = repo_for_serving(kiln, principal, owner, repo).await?;
    let stem = format!("{}-{}", ctx.owner.username, ctx.repo.name);
    let chroots = repo_chroots::Entity::find()
        .filter(repo_chroots::Column::RepoId.eq(ctx.repo.id))
        .filter(repo_chroots::Column::PublishedAt.is_not_null())
        .order_by_asc(repo_chroots::Column::Chroot)
        .all(&kiln.db)
        .await?;
    Ok(RepoIndex {
        repo: ctx.full_name(),
        files: vec![
            format!("{stem}.repo"),
            format!("{stem}-release.noarch.rpm"),
            "pubkey.gpg".to_owned(),
        ],
        chroots: chroots
            .into_iter()
            .map(|c| ChrootSummary {
                name: c.chroot,
                packages: c.packages,
                revision: c.revision,
                published_at: c.published_at,
            })
            .collect(),
    })
}

/// One published chroot directory: the packages its metadata lists.
pub async fn chroot_index(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    chroot: &str,
) -> CoreResult<ChrootIndex> {
    let ctx = repo_for_serving(kiln, principal, owner, repo).await?;
    let Some(dir) = repo_chroots::Entity::find()
        .filter(repo_chroots::Column::RepoId.eq(ctx.repo.id))
        .filter(repo_chroots::Column::Chroot.eq(chroot))
        .filter(repo_chroots::Column::PublishedAt.is_not_null())
        .one(&kiln.db)
        .await?
    else {
        return Err(CoreError::not_found(format!(
            "{} has published nothing in {chroot}",
            ctx.full_name()
        )));
    };
    let rows = packages::Entity::find()
        .filter(packages::Column::RepoId.eq(ctx.repo.id))
        .filter(packages::Column::Chroot.eq(chroot))
        .filter(packages::Column::InRepo.eq(true))
        .order_by_asc(packages::Column::Id)
        .all(&kiln.db)
        .await?;
    let keys = newest_per_nevra(
        rows.iter()
            .map(|p| {
                (
                    p.id,
                    p.pkgid.clone(),
                    p.key_fingerprint.clone(),
                    p.parent_id,
                    p.name.clone(),
                    p.epoch,
                    p.version.clone(),
                    p.release.clone(),
                    p.arch.clone(),
                )
            })
            .collect(),
    );
    let keep: std::collections::HashSet<i32> = keys.iter().map(|k| k.0).collect();
    let mut packages: Vec<PublishedPackage> = rows
        .into_iter()
        .filter(|p| keep.contains(&p.id))
        .map(|p| PublishedPackage {
            href: p.href,
            name: p.name,
            epoch: p.epoch,
            version: p.version,
            release: p.release,
            arch: p.arch,
            size: p.size,
            sha256: p.pkgid,
            build: p.parent_id,
        })
        .collect();
    packages.sort_by(|a, b| (&a.name, &a.arch, &a.href).cmp(&(&b.name, &b.arch, &b.href)));
    let files: super::publish::Files =
        serde_json::from_value(dir.files.clone()).unwrap_or_default();
    let mut repodata = vec!["repomd.xml".to_owned(), "repomd.xml.asc".to_owned()];
    repodata.extend(files.current);
    Ok(ChrootIndex {
        repo: ctx.full_name(),
        chroot: dir.chroot,
        revision: dir.revision,
        published_at: dir.published_at,
        repodata,
        packages,
    })
}
