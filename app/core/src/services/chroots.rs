//! Base chroots: the distributions a site offers, fixed by site admins (their base repos cannot
//! be changed by repos). A fresh install is seeded with the current Fedora, EPEL and CentOS
//! Stream releases for x86_64 and aarch64, named as mock-core-configs names them.

use kiln_proto::{Chroot, ChrootCreate, ChrootPatch, RepoSource};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use super::audit;
use crate::entities::{base_chroots, mock_configs};
use crate::error::{CoreError, CoreResult};
use crate::names::{parse_chroot_name, validate_repo_sources, validate_text};
use crate::policy::{authorize, Action, Principal};
use crate::Kiln;

/// The base chroot as the API returns it.
pub fn to_wire(c: &base_chroots::Model) -> Chroot {
    Chroot {
        name: c.name.clone(),
        distro: c.distro.clone(),
        release: c.release.clone(),
        arch: c.arch.clone(),
        base_repos: serde_json::from_value(c.base_repos.clone()).unwrap_or_default(),
        mock_template: c.mock_template.clone(),
        dist_macro: c.dist_macro.clone(),
        enabled: c.enabled,
    }
}

/// Every base chroot, enabled or not, by name (anyone).
pub async fn list(kiln: &Kiln, principal: &Principal) -> CoreResult<Vec<Chroot>> {
    authorize(principal, Action::ListChroots, None)?;
    let rows = base_chroots::Entity::find()
        .order_by_asc(base_chroots::Column::Name)
        .all(&kiln.db)
        .await?;
    Ok(rows.iter().map(to_wire).collect())
}

/// The base chroot named `name`, or 404 when there is none. Checks no policy.
pub async fn find(kiln: &Kiln, name: &str) -> CoreResult<base_chroots::Model> {
    find_in(&kiln.db, name).await
}

async fn find_in(
    db: &impl sea_orm::ConnectionTrait,
    name: &str,
) -> CoreResult<base_chroots::Model> {
    base_chroots::Entity::find()
        .filter(base_chroots::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no base chroot {name}")))
}

/// The base chroot named `name` (anyone); a validation error for a malformed name, 404 when
/// there is none.
pub async fn get(kiln: &Kiln, principal: &Principal, name: &str) -> CoreResult<Chroot> {
    authorize(principal, Action::ListChroots, None)?;
    parse_chroot_name(name)?;
    Ok(to_wire(&find(kiln, name).await?))
}

/// The `%dist` a distribution release conventionally has.
fn default_dist(distro: &str, release: &str) -> String {
    match distro {
        "fedora" if release == "rawhide" => ".fc46".into(),
        "fedora" => format!(".fc{release}"),
        "epel" | "centos-stream" | "rhel" | "almalinux" | "rocky" => format!(".el{release}"),
        "opensuse-leap" => format!(".lp{}", release.replace('.', "")),
        _ => String::new(),
    }
}

fn default_template(distro: &str, release: &str) -> String {
    let (image, pm) = match distro {
        "fedora" => (
            format!("registry.fedoraproject.org/fedora:{release}"),
            "dnf5",
        ),
        "epel" | "centos-stream" => (format!("quay.io/centos/centos:stream{release}"), "dnf"),
        _ => (String::new(), "dnf"),
    };
    let releasever = if release == "rawhide" { "46" } else { release };
    let mut t = format!(
        "config_opts['chroot_setup_cmd'] = 'install @buildsys-build'\n\
         config_opts['package_manager'] = '{pm}'\n\
         config_opts['releasever'] = '{releasever}'\n"
    );
    if !image.is_empty() {
        t.push_str(&format!(
            "config_opts['use_bootstrap_image'] = True\nconfig_opts['bootstrap_image'] = '{image}'\n"
        ));
    }
    t
}

fn validate_input(base_repos: &[RepoSource], template: &str, dist: &str) -> CoreResult<()> {
    if base_repos.is_empty() {
        return Err(CoreError::validation(
            "base_repos",
            "a base chroot needs at least one repository",
        ));
    }
    validate_repo_sources("base_repos", base_repos)?;
    validate_text("mock_template", template, 20_000)?;
    if template.contains("\"\"\"") {
        return Err(CoreError::validation(
            "mock_template",
            "must not contain \"\"\"",
        ));
    }
    if !dist.is_empty() && !dist.starts_with('.')
        || dist.len() > 32
        || dist.contains(char::is_whitespace)
    {
        return Err(CoreError::validation(
            "dist_macro",
            "must be empty or start with '.', such as .fc41",
        ));
    }
    Ok(())
}

/// Adds a base chroot (site admins), with the distro's usual mock template and `%dist` when
/// not given. Refuses a malformed name or input with a validation error, a taken name with
/// `Conflict`.
pub async fn create(kiln: &Kiln, principal: &Principal, input: ChrootCreate) -> CoreResult<Chroot> {
    authorize(principal, Action::ManageChroots, None)?;
    let (distro, release, arch) = parse_chroot_name(&input.name)?;
    let template = input
        .mock_template
        .unwrap_or_else(|| default_template(&distro, &release));
    let dist = input
        .dist_macro
        .unwrap_or_else(|| default_dist(&distro, &release));
    validate_input(&input.base_repos, &template, &dist)?;
    let txn = kiln.begin().await?;
    if base_chroots::Entity::find()
        .filter(base_chroots::Column::Name.eq(&input.name))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(CoreError::Conflict(format!(
            "the base chroot {} exists already",
            input.name
        )));
    }
    let row = base_chroots::ActiveModel {
        name: Set(input.name.clone()),
        distro: Set(distro),
        release: Set(release),
        arch: Set(arch),
        base_repos: Set(serde_json::to_value(&input.base_repos).map_err(CoreError::internal)?),
        mock_template: Set(template),
        dist_macro: Set(dist),
        enabled: Set(input.enabled.unwrap_or(true)),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        None,
        principal,
        "chroot.create",
        &row.name,
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(to_wire(&row))
}

/// Changes a base chroot's base repos, mock template, `%dist` or enabled flag (site admins);
/// `None` fields stay. 404 when there is no such chroot.
pub async fn update(
    kiln: &Kiln,
    principal: &Principal,
    name: &str,
    patch: ChrootPatch,
) -> CoreResult<Chroot> {
    authorize(principal, Action::ManageChroots, None)?;
    parse_chroot_name(name)?;
    let txn = kiln.begin().await?;
    let row = find_in(&txn, name).await?;
    let current = to_wire(&row);
    let base_repos = patch.base_repos.clone().unwrap_or(current.base_repos);
    let template = patch.mock_template.clone().unwrap_or(current.mock_template);
    let dist = patch.dist_macro.clone().unwrap_or(current.dist_macro);
    validate_input(&base_repos, &template, &dist)?;
    let mut active: base_chroots::ActiveModel = row.into();
    active.base_repos = Set(serde_json::to_value(&base_repos).map_err(CoreError::internal)?);
    active.mock_template = Set(template);
    active.dist_macro = Set(dist);
    if let Some(e) = patch.enabled {
        active.enabled = Set(e);
    }
    let row = active.update(&txn).await?;
    audit::record(
        &txn,
        None,
        principal,
        "chroot.update",
        name,
        serde_json::to_value(&patch).unwrap_or_default(),
    )
    .await?;
    txn.commit().await?;
    Ok(to_wire(&row))
}

/// Deletes a base chroot (site admins); `Conflict` while any mock config is built on it.
pub async fn delete(kiln: &Kiln, principal: &Principal, name: &str) -> CoreResult<()> {
    authorize(principal, Action::ManageChroots, None)?;
    parse_chroot_name(name)?;
    let txn = kiln.begin().await?;
    let row = find_in(&txn, name).await?;
    let used = mock_configs::Entity::find()
        .filter(mock_configs::Column::BaseChrootId.eq(row.id))
        .count(&txn)
        .await?;
    if used > 0 {
        return Err(CoreError::Conflict(format!(
            "{used} mock configs are built on {name}; disable it instead, or delete them first"
        )));
    }
    base_chroots::Entity::delete_by_id(row.id)
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        None,
        principal,
        "chroot.delete",
        name,
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

fn src(id: &str, baseurl: &str) -> RepoSource {
    RepoSource {
        id: id.into(),
        baseurl: baseurl.into(),
        name: None,
        gpgkey: None,
        priority: None,
    }
}

/// The catalogue a fresh install starts with.
pub fn catalogue() -> Vec<ChrootCreate> {
    const FEDORA: &str = "https://dl.fedoraproject.org/pub/fedora/linux";
    const EPEL: &str = "https://dl.fedoraproject.org/pub/epel";
    const STREAM: &str = "https://mirror.stream.centos.org";
    let mut out = Vec::new();
    for arch in ["x86_64", "aarch64"] {
        for release in ["43", "44", "45"] {
            out.push(ChrootCreate {
                name: format!("fedora-{release}-{arch}"),
                base_repos: vec![
                    src(
                        "fedora",
                        &format!("{FEDORA}/releases/$releasever/Everything/$basearch/os/"),
                    ),
                    src(
                        "updates",
                        &format!("{FEDORA}/updates/$releasever/Everything/$basearch/"),
                    ),
                ],
                mock_template: None,
                dist_macro: None,
                enabled: None,
            });
        }
        out.push(ChrootCreate {
            name: format!("fedora-rawhide-{arch}"),
            base_repos: vec![src(
                "rawhide",
                &format!("{FEDORA}/development/rawhide/Everything/$basearch/os/"),
            )],
            mock_template: None,
            dist_macro: None,
            enabled: None,
        });
        for release in ["9", "10"] {
            let stream = |repo: &str| {
                src(
                    &repo.to_lowercase(),
                    &format!("{STREAM}/{release}-stream/{repo}/$basearch/os/"),
                )
            };
            let base = vec![stream("BaseOS"), stream("AppStream"), stream("CRB")];
            let mut epel = base.clone();
            epel.push(src(
                "epel",
                &format!("{EPEL}/{release}/Everything/$basearch/"),
            ));
            out.push(ChrootCreate {
                name: format!("epel-{release}-{arch}"),
                base_repos: epel,
                mock_template: None,
                dist_macro: None,
                enabled: None,
            });
            out.push(ChrootCreate {
                name: format!("centos-stream-{release}-{arch}"),
                base_repos: base,
                mock_template: None,
                dist_macro: None,
                enabled: None,
            });
        }
    }
    out
}

/// Seeds the catalogue when the table is empty (a fresh install); later edits are the site
/// admin's.
pub async fn seed_catalogue(kiln: &Kiln) -> CoreResult<()> {
    if base_chroots::Entity::find().count(&kiln.db).await? > 0 {
        return Ok(());
    }
    let txn = kiln.begin().await?;
    for c in catalogue() {
        let (distro, release, arch) = parse_chroot_name(&c.name)?;
        base_chroots::ActiveModel {
            name: Set(c.name.clone()),
            mock_template: Set(default_template(&distro, &release)),
            dist_macro: Set(default_dist(&distro, &release)),
            distro: Set(distro),
            release: Set(release),
            arch: Set(arch),
            base_repos: Set(serde_json::to_value(&c.base_repos).map_err(CoreError::internal)?),
            enabled: Set(true),
            created_at: Set(crate::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    tracing::info!("seeded the base chroot catalogue");
    Ok(())
}
