//! A repo's packages with stored sources: where each one's source lives (git or a URL), whether
//! a forge push rebuilds it, "build it now", its builds and what of it is published.

use kiln_proto::{Package, PackagePut, PackageVersion, Source, SourceBuild, Task};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::access::{authorize_repo, RepoCtx};
use crate::entities::{packages as published, repo_packages, tasks};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::Kiln;

/// The most builds a package lists.
const LISTED_BUILDS: u64 = 20;

async fn find(kiln: &Kiln, ctx: &RepoCtx, name: &str) -> CoreResult<repo_packages::Model> {
    repo_packages::Entity::find()
        .filter(repo_packages::Column::RepoId.eq(ctx.repo.id))
        .filter(repo_packages::Column::Name.eq(name))
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("package {name} in {}", ctx.full_name())))
}

/// The wire form of a package: with its newest builds and its published versions.
async fn wire(kiln: &Kiln, ctx: &RepoCtx, row: repo_packages::Model) -> CoreResult<Package> {
    let builds: Vec<i32> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Id)
        .filter(tasks::Column::PackageId.eq(row.id))
        .filter(tasks::Column::ParentId.is_null())
        .order_by_desc(tasks::Column::Id)
        .limit(LISTED_BUILDS)
        .into_tuple()
        .all(&kiln.db)
        .await?;
    let all_builds: Vec<i32> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Id)
        .filter(tasks::Column::PackageId.eq(row.id))
        .filter(tasks::Column::ParentId.is_null())
        .into_tuple()
        .all(&kiln.db)
        .await?;
    type Row = (String, String, i32, String, String, String, i32);
    let rows: Vec<Row> = if all_builds.is_empty() {
        Vec::new()
    } else {
        published::Entity::find()
            .select_only()
            .column(published::Column::Name)
            .column(published::Column::Chroot)
            .column(published::Column::Epoch)
            .column(published::Column::Version)
            .column(published::Column::Release)
            .column(published::Column::Arch)
            .column(published::Column::ParentId)
            .filter(published::Column::RepoId.eq(ctx.repo.id))
            .filter(published::Column::InRepo.eq(true))
            .filter(published::Column::Arch.ne("src"))
            .filter(published::Column::ParentId.is_in(all_builds))
            .order_by_desc(published::Column::Id)
            .into_tuple()
            .all(&kiln.db)
            .await?
    };
    // Newest first: the first row of each (name, chroot) wins.
    let mut newest = std::collections::BTreeMap::new();
    for (name, chroot, epoch, version, release, arch, build) in rows {
        newest
            .entry((name.clone(), chroot.clone()))
            .or_insert(PackageVersion {
                name,
                chroot,
                epoch,
                version,
                release,
                arch,
                build,
            });
    }
    Ok(Package {
        name: row.name,
        repo: ctx.full_name(),
        source: serde_json::from_value(row.source)
            .map_err(|_| CoreError::internal("a stored package's source is unreadable"))?,
        auto_rebuild: row.auto_rebuild,
        created_at: row.created_at,
        updated_at: row.updated_at,
        builds,
        published: newest.into_values().collect(),
    })
}

/// The repo's packages, by name.
pub async fn list(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
) -> CoreResult<Vec<Package>> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ViewRepo).await?;
    let rows = repo_packages::Entity::find()
        .filter(repo_packages::Column::RepoId.eq(ctx.repo.id))
        .order_by_asc(repo_packages::Column::Name)
        .all(&kiln.db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(wire(kiln, &ctx, row).await?);
    }
    Ok(out)
}

/// One package; 404 when the repo has none of that name.
pub async fn get(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    name: &str,
) -> CoreResult<Package> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ViewRepo).await?;
    let row = find(kiln, &ctx, name).await?;
    wire(kiln, &ctx, row).await
}

/// Stores a package's source (packagers): creates it, or replaces its source and setting.
/// The source is checked as a build's is (scheme, address, fields); the name as an RPM name.
/// Whether it was created, and the package.
pub async fn put(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    name: &str,
    input: PackagePut,
) -> CoreResult<(bool, Package)> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManagePackages).await?;
    crate::names::validate_package_name("name", name)?;
    super::tasks::check_source(kiln, &input.source).await?;
    let source = serde_json::to_value(&input.source).unwrap_or_default();
    let now = crate::now();
    let existing = repo_packages::Entity::find()
        .filter(repo_packages::Column::RepoId.eq(ctx.repo.id))
        .filter(repo_packages::Column::Name.eq(name))
        .one(&kiln.db)
        .await?;
    let created = existing.is_none();
    let row = match existing {
        Some(row) => {
            let mut row: repo_packages::ActiveModel = row.into();
            row.source = Set(source);
            row.auto_rebuild = Set(input.auto_rebuild);
            row.updated_at = Set(now);
            row.update(&kiln.db).await?
        }
        None => {
            repo_packages::ActiveModel {
                repo_id: Set(ctx.repo.id),
                name: Set(name.to_owned()),
                source: Set(source),
                auto_rebuild: Set(input.auto_rebuild),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&kiln.db)
            .await
            .map_err(|e| match CoreError::from(e) {
                // Two stores of a new name at once: the second finds the first's row.
                CoreError::Conflict(_) => {
                    CoreError::Conflict(format!("package {name} was just created; try again"))
                }
                e => e,
            })?
        }
    };
    tracing::info!(repo = %ctx.full_name(), package = name, created, "package stored");
    Ok((created, wire(kiln, &ctx, row).await?))
}

/// Deletes a package's stored source (packagers); its builds stay.
pub async fn delete(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    name: &str,
) -> CoreResult<()> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManagePackages).await?;
    let row = find(kiln, &ctx, name).await?;
    repo_packages::Entity::delete_by_id(row.id)
        .exec(&kiln.db)
        .await?;
    Ok(())
}

/// Builds a package now from its stored source, in `chroots` (empty: every enabled mock
/// config).
pub async fn build(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    name: &str,
    chroots: Vec<String>,
    scratch: bool,
) -> CoreResult<Task> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManagePackages).await?;
    let row = find(kiln, &ctx, name).await?;
    let source: Source = serde_json::from_value(row.source)
        .map_err(|_| CoreError::internal("a stored package's source is unreadable"))?;
    let req = SourceBuild {
        source,
        chroots,
        scratch,
        nocheck: false,
        priority: None,
    };
    super::tasks::submit_source_of(kiln, principal, owner, repo, req, Some(row.id)).await
}
