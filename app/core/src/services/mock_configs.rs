//! A repo's mock configs: a base chroot (whose base repos the repo cannot change) plus the
//! repo's extra repos, buildroot package changes and macros; and the effective config in mock's
//! own `config_opts[...]` format. The repo's own published repository is in the buildroot by
//! default, so later builds can depend on earlier ones.

use std::collections::BTreeMap;

use kiln_proto::{MockConfig, MockConfigCreate, MockConfigPatch, RepoSource};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::access::{authorize_repo, authorize_repo_in, RepoCtx};
use super::audit;
use crate::entities::{base_chroots, mock_configs, repos};
use crate::error::{CoreError, CoreResult};
use crate::names::{
    validate_macro, validate_mock_config_name, validate_package_name, validate_repo_sources,
};
use crate::policy::{Action, Principal};
use crate::Kiln;

const MAX_LIST: usize = 100;

/// Extra repos may not reuse the section ids of the base chroot's repos (that would replace a
/// base repo, which repos may not change) or of the repo's own repository.
fn validate_extra_ids(extra: &[RepoSource], base: &base_chroots::Model) -> CoreResult<()> {
    let base_repos: Vec<RepoSource> =
        serde_json::from_value(base.base_repos.clone()).unwrap_or_default();
    for r in extra {
        if base_repos.iter().any(|b| b.id == r.id) {
            return Err(CoreError::validation(
                "extra_repos",
                format!("{} is a repository of the base chroot {}, which cannot be changed; use another id", r.id, base.name),
            ));
        }
        if r.id.starts_with("kiln-") {
            return Err(CoreError::validation(
                "extra_repos",
                format!("repository ids starting with kiln- are reserved ({})", r.id),
            ));
        }
    }
    Ok(())
}

fn validate_lists(
    add: &[String],
    remove: &[String],
    macros: &BTreeMap<String, String>,
) -> CoreResult<()> {
    for (field, list) in [("buildroot_add", add), ("buildroot_remove", remove)] {
        if list.len() > MAX_LIST {
            return Err(CoreError::validation(
                field,
                format!("at most {MAX_LIST} packages"),
            ));
        }
        for p in list {
            validate_package_name(field, p)?;
        }
    }
    if macros.len() > MAX_LIST {
        return Err(CoreError::validation(
            "macros",
            format!("at most {MAX_LIST} macros"),
        ));
    }
    for (k, v) in macros {
        validate_macro(k, v)?;
    }
    Ok(())
}

fn json<T: serde::Serialize>(v: &T) -> CoreResult<serde_json::Value> {
    serde_json::to_value(v).map_err(CoreError::internal)
}

fn to_wire(m: &mock_configs::Model, base: &base_chroots::Model) -> MockConfig {
    MockConfig {
        name: m.name.clone(),
        base: base.name.clone(),
        arch: base.arch.clone(),
        extra_repos: serde_json::from_value(m.extra_repos.clone()).unwrap_or_default(),
        buildroot_add: serde_json::from_value(m.buildroot_add.clone()).unwrap_or_default(),
        buildroot_remove: serde_json::from_value(m.buildroot_remove.clone()).unwrap_or_default(),
        macros: serde_json::from_value(m.macros.clone()).unwrap_or_default(),
        include_own_repo: m.include_own_repo,
        enabled: m.enabled,
        nocheck: m.nocheck,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

async fn find_in(
    db: &impl ConnectionTrait,
    ctx: &RepoCtx,
    name: &str,
) -> CoreResult<(mock_configs::Model, base_chroots::Model)> {
    validate_mock_config_name(name)?;
    let (m, base) = mock_configs::Entity::find()
        .filter(mock_configs::Column::RepoId.eq(ctx.repo.id))
        .filter(mock_configs::Column::Name.eq(name))
        .find_also_related(base_chroots::Entity)
        .one(db)
        .await?
        .ok_or_else(|| {
            CoreError::not_found(format!("{} has no mock config {name}", ctx.full_name()))
        })?;
    let base = base.ok_or_else(|| CoreError::internal("mock config without base chroot"))?;
    Ok((m, base))
}

/// The repo's mock configs, by name (anyone).
pub async fn list(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
) -> CoreResult<Vec<MockConfig>> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ViewMockConfigs).await?;
    let rows = mock_configs::Entity::find()
        .filter(mock_configs::Column::RepoId.eq(ctx.repo.id))
        .find_also_related(base_chroots::Entity)
        .order_by_asc(mock_configs::Column::Name)
        .all(&kiln.db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, b)| Some(to_wire(&m, &b?)))
        .collect())
}

/// The repo's mock config `name` (anyone); 404 when the repo has none of that name.
pub async fn get(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    name: &str,
) -> CoreResult<MockConfig> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ViewMockConfigs).await?;
    let (m, b) = find_in(&kiln.db, &ctx, name).await?;
    Ok(to_wire(&m, &b))
}

async fn insert_in(
    db: &impl ConnectionTrait,
    principal: &Principal,
    repo: &repos::Model,
    full_name: &str,
    input: MockConfigCreate,
) -> CoreResult<MockConfig> {
    validate_mock_config_name(&input.name)?;
    validate_repo_sources("extra_repos", &input.extra_repos)?;
    validate_lists(&input.buildroot_add, &input.buildroot_remove, &input.macros)?;
    let base = base_chroots::Entity::find()
        .filter(base_chroots::Column::Name.eq(&input.base))
        .one(db)
        .await?
        .ok_or_else(|| {
            CoreError::validation("base", format!("there is no base chroot {:?}", input.base))
        })?;
    if !base.enabled {
        return Err(CoreError::validation(
            "base",
            format!("the base chroot {} is disabled", base.name),
        ));
    }
    if mock_configs::Entity::find()
        .filter(mock_configs::Column::RepoId.eq(repo.id))
        .filter(mock_configs::Column::Name.eq(&input.name))
        .one(db)
        .await?
        .is_some()
    {
        return Err(CoreError::Conflict(format!(
            "{full_name} already has a mock config named {}",
            input.name
        )));
    }
    let now = crate::now();
    let row = mock_configs::ActiveModel {
        repo_id: Set(repo.id),
        name: Set(input.name.clone()),
        base_chroot_id: Set(base.id),
        extra_repos: Set(json(&input.extra_repos)?),
        buildroot_add: Set(json(&input.buildroot_add)?),
        buildroot_remove: Set(json(&input.buildroot_remove)?),
        macros: Set(json(&input.macros)?),
        include_own_repo: Set(input.include_own_repo.unwrap_or(true)),
        enabled: Set(input.enabled.unwrap_or(true)),
        nocheck: Set(input.nocheck.unwrap_or(false)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let wire = to_wire(&row, &base);
    audit::record(
        db,
        Some(repo.id),
        principal,
        "mock_config.create",
        &row.name,
        json(&wire)?,
    )
    .await?;
    Ok(wire)
}

/// A mock config named after its base chroot, with nothing added (repo creation uses this).
pub async fn create_default_in(
    db: &impl ConnectionTrait,
    principal: &Principal,
    repo: &repos::Model,
    chroot: &str,
) -> CoreResult<MockConfig> {
    let input = MockConfigCreate {
        name: chroot.to_owned(),
        base: chroot.to_owned(),
        extra_repos: vec![],
        buildroot_add: vec![],
        buildroot_remove: vec![],
        macros: BTreeMap::new(),
        include_own_repo: None,
        enabled: None,
        nocheck: None,
    };
    insert_in(db, principal, repo, &repo.name, input)
        .await
        .map_err(|e| match e {
            CoreError::Validation { detail, .. } => CoreError::validation("chroots", detail),
            e => e,
        })
}

/// Adds a mock config to the repo (rel-eng). Refuses invalid input or a missing or disabled
/// base chroot with a validation error, and a name the repo already uses with `Conflict`.
pub async fn create(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    input: MockConfigCreate,
) -> CoreResult<MockConfig> {
    let txn = kiln.begin().await?;
    let ctx = authorize_repo_in(&txn, principal, owner, repo, Action::ManageMockConfigs).await?;
    let out = insert_in(&txn, principal, &ctx.repo, &ctx.full_name(), input).await?;
    txn.commit().await?;
    Ok(out)
}

/// Changes the mock config `name` (rel-eng); `None` fields of `patch` stay. 404 when the repo
/// has no mock config of that name; invalid values are a validation error.
pub async fn update(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    name: &str,
    patch: MockConfigPatch,
) -> CoreResult<MockConfig> {
    let txn = kiln.begin().await?;
    let ctx = authorize_repo_in(&txn, principal, owner, repo, Action::ManageMockConfigs).await?;
    let (row, base) = find_in(&txn, &ctx, name).await?;
    let cur = to_wire(&row, &base);
    let extra = patch.extra_repos.clone().unwrap_or(cur.extra_repos);
    let add = patch.buildroot_add.clone().unwrap_or(cur.buildroot_add);
    let remove = patch
        .buildroot_remove
        .clone()
        .unwrap_or(cur.buildroot_remove);
    let macros = patch.macros.clone().unwrap_or(cur.macros);
    validate_repo_sources("extra_repos", &extra)?;
    validate_extra_ids(&extra, &base)?;
    validate_lists(&add, &remove, &macros)?;
    let mut active: mock_configs::ActiveModel = row.into();
    active.extra_repos = Set(json(&extra)?);
    active.buildroot_add = Set(json(&add)?);
    active.buildroot_remove = Set(json(&remove)?);
    active.macros = Set(json(&macros)?);
    if let Some(v) = patch.include_own_repo {
        active.include_own_repo = Set(v);
    }
    if let Some(v) = patch.enabled {
        active.enabled = Set(v);
    }
    if let Some(v) = patch.nocheck {
        active.nocheck = Set(v);
    }
    active.updated_at = Set(crate::now());
    let row = active.update(&txn).await?;
    audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        "mock_config.update",
        name,
        json(&patch)?,
    )
    .await?;
    txn.commit().await?;
    Ok(to_wire(&row, &base))
}

/// Deletes the mock config `name` (rel-eng); 404 when the repo has none of that name.
pub async fn delete(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    name: &str,
) -> CoreResult<()> {
    let txn = kiln.begin().await?;
    let ctx = authorize_repo_in(&txn, principal, owner, repo, Action::ManageMockConfigs).await?;
    let (row, _) = find_in(&txn, &ctx, name).await?;
    mock_configs::Entity::delete_by_id(row.id)
        .exec(&txn)
        .await?;
    if ctx.repo.srpm_config.as_deref() == Some(name) {
        // SRPMs are made in the builds' own first config again.
        crate::entities::repos::Entity::update_many()
            .col_expr(
                crate::entities::repos::Column::SrpmConfig,
                sea_orm::sea_query::Expr::value(Option::<String>::None),
            )
            .filter(crate::entities::repos::Column::Id.eq(ctx.repo.id))
            .exec(&txn)
            .await?;
    }
    audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        "mock_config.delete",
        name,
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The effective mock config file.
pub async fn rendered(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    name: &str,
) -> CoreResult<String> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ViewMockConfigs).await?;
    let (row, base) = find_in(&kiln.db, &ctx, name).await?;
    let own_repo_url = format!(
        "{}/repos/{}/{}/{}/",
        kiln.config.public_url(),
        ctx.owner.username,
        ctx.repo.name,
        base.name
    );
    Ok(render(&RenderInput {
        full_name: &ctx.full_name(),
        config: &to_wire(&row, &base),
        base: &crate::services::chroots::to_wire(&base),
        own_repo_url: &own_repo_url,
    }))
}

/// Everything `render` needs.
pub struct RenderInput<'a> {
    /// The repo's `OWNER/REPO`.
    pub full_name: &'a str,
    /// The mock config to render.
    pub config: &'a MockConfig,
    /// The base chroot it is built on.
    pub base: &'a kiln_proto::Chroot,
    /// The URL of the repo's published packages for that chroot, ending in `/`.
    pub own_repo_url: &'a str,
}

/// A Python string literal (mock configs are Python).
fn py(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn repo_section(out: &mut String, r: &RepoSource, gpgcheck: bool) {
    out.push_str(&format!("\n[{}]\n", r.id));
    out.push_str(&format!("name={}\n", r.name.as_deref().unwrap_or(&r.id)));
    out.push_str(&format!("baseurl={}\n", r.baseurl));
    out.push_str("enabled=1\n");
    match (&r.gpgkey, gpgcheck) {
        (Some(key), _) => out.push_str(&format!("gpgcheck=1\ngpgkey={key}\n")),
        (None, _) => out.push_str("gpgcheck=0\n"),
    }
    if let Some(p) = r.priority {
        out.push_str(&format!("priority={p}\n"));
    }
    out.push_str("skip_if_unavailable=False\n");
}

/// Renders a mock config: the base chroot's template and repos (fixed), then the repo's extra
/// repos, its own repository, buildroot changes and macros.
pub fn render(input: &RenderInput<'_>) -> String {
    let c = input.config;
    let b = input.base;
    // dnf repo ids (and so mock roots, to match) take no `@`: a group's is spelled `_`.
    let safe = crate::services::publish::dnf_safe(&input.full_name.replace('/', "-"));
    let root = format!("kiln-{safe}-{}", c.name);
    let mut out = String::new();
    out.push_str(&format!(
        "# Mock config {} of {}, on base chroot {}. Generated by Kiln; edit it in Kiln.\n",
        c.name, input.full_name, b.name
    ));
    out.push_str(&format!("config_opts['root'] = {}\n", py(&root)));
    out.push_str(&format!("config_opts['target_arch'] = {}\n", py(&b.arch)));
    let legal = match b.arch.as_str() {
        "i686" | "i586" | "i386" => "('i386', 'i586', 'i686', 'x86_64')".to_owned(),
        a => format!("({},)", py(a)),
    };
    out.push_str(&format!("config_opts['legal_host_arches'] = {legal}\n"));
    out.push_str(&format!(
        "config_opts['dist'] = {}\n",
        py(b.dist_macro.trim_start_matches('.'))
    ));
    out.push_str("\n# Base chroot template (site administrator).\n");
    out.push_str(b.mock_template.trim_end());
    out.push('\n');
    if !c.buildroot_add.is_empty() {
        out.push_str(&format!(
            "config_opts['chroot_setup_cmd'] += {}\n",
            py(&format!(" {}", c.buildroot_add.join(" ")))
        ));
    }
    out.push_str(&format!(
        "config_opts['macros']['%dist'] = {}\n",
        py(&b.dist_macro)
    ));
    for (k, v) in &c.macros {
        out.push_str(&format!(
            "config_opts['macros'][{}] = {}\n",
            py(&format!("%{k}")),
            py(v)
        ));
    }
    out.push_str("\nconfig_opts['dnf.conf'] = \"\"\"\n[main]\n");
    out.push_str("keepcache=1\ndebuglevel=2\nreposdir=/dev/null\nlogfile=/var/log/yum.log\n");
    out.push_str("retries=20\nobsoletes=1\ngpgcheck=0\nassumeyes=1\nsyslog_ident=mock\n");
    out.push_str("syslog_device=\ninstall_weak_deps=0\nmetadata_expire=0\nbest=1\n");
    if !c.buildroot_remove.is_empty() {
        out.push_str(&format!("excludepkgs={}\n", c.buildroot_remove.join(",")));
    }
    out.push_str("\n# Base repositories (fixed by the base chroot).");
    for r in &b.base_repos {
        repo_section(&mut out, r, true);
    }
    if !c.extra_repos.is_empty() {
        out.push_str("\n# Extra repositories of this mock config.");
        for r in &c.extra_repos {
            repo_section(&mut out, r, true);
        }
    }
    if c.include_own_repo {
        out.push_str(&format!(
            "\n# The repo's own packages, so builds can depend on earlier builds.\n[kiln-{}]\nname=Kiln {} ({})\nbaseurl={}\nenabled=1\ngpgcheck=0\nskip_if_unavailable=True\nmetadata_expire=0\ncost=900\n",
            safe,
            input.full_name,
            b.name,
            input.own_repo_url
        ));
    }
    out.push_str("\"\"\"\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(name: &str, arch: &str, dist: &str) -> kiln_proto::Chroot {
        kiln_proto::Chroot {
            name: name.into(),
            distro: "fedora".into(),
            release: "44".into(),
            arch: arch.into(),
            base_repos: vec![RepoSource {
                id: "fedora".into(),
                baseurl: "https://dl.example.org/fedora/$releasever/$basearch/os/".into(),
                name: None,
                gpgkey: None,
                priority: None,
            }],
            mock_template: "config_opts['chroot_setup_cmd'] = 'install @buildsys-build'\nconfig_opts['package_manager'] = 'dnf5'\nconfig_opts['releasever'] = '44'\n".into(),
            dist_macro: dist.into(),
            enabled: true,
        }
    }

    fn config(name: &str) -> MockConfig {
        MockConfig {
            name: name.into(),
            base: "fedora-44-x86_64".into(),
            arch: "x86_64".into(),
            extra_repos: vec![],
            buildroot_add: vec![],
            buildroot_remove: vec![],
            macros: BTreeMap::new(),
            include_own_repo: true,
            enabled: true,
            nocheck: false,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn render_it(c: &MockConfig, b: &kiln_proto::Chroot) -> String {
        render(&RenderInput {
            full_name: "alice/tools",
            config: c,
            base: b,
            own_repo_url: &format!("https://kiln.example.org/repos/alice/tools/{}/", b.name),
        })
    }

    #[test]
    fn plain_config_includes_own_repo() {
        let out = render_it(
            &config("fedora-44-x86_64"),
            &base("fedora-44-x86_64", "x86_64", ".fc44"),
        );
        insta::assert_snapshot!("plain", out);
    }

    #[test]
    fn extra_repos_buildroot_changes_and_macros() {
        let mut c = config("f44-devtools");
        c.extra_repos = vec![RepoSource {
            id: "devtools".into(),
            baseurl: "https://repo.example.org/devtools/$basearch/".into(),
            name: Some("Developer tools".into()),
            gpgkey: Some("https://repo.example.org/devtools/key.asc".into()),
            priority: Some(10),
        }];
        c.buildroot_add = vec!["ccache".into(), "pkgconfig(glib-2.0)".into()];
        c.buildroot_remove = vec!["fedora-release-identity-basic".into()];
        c.macros = BTreeMap::from([
            ("vendor".into(), "Alice's Tools".into()),
            ("_with_docs".into(), "1".into()),
        ]);
        insta::assert_snapshot!(
            "extras",
            render_it(&c, &base("fedora-44-x86_64", "x86_64", ".fc44"))
        );
    }

    #[test]
    fn without_own_repo_on_i686() {
        let mut c = config("epel-9-i686");
        c.include_own_repo = false;
        insta::assert_snapshot!(
            "i686_no_own_repo",
            render_it(&c, &base("epel-9-i686", "i686", ".el9"))
        );
    }

    #[test]
    fn hostile_repo_urls_are_refused() {
        let mk = |url: &str| RepoSource {
            id: "x".into(),
            baseurl: url.into(),
            name: None,
            gpgkey: None,
            priority: None,
        };
        for bad in [
            "file:///etc/passwd",
            "ftp://x.org/",
            "https://x.org/\"\"\"\nconfig_opts['x']='y'",
            "https://x.org/a b",
            "http://",
            "https://x.org/'",
        ] {
            assert!(
                validate_repo_sources("extra_repos", &[mk(bad)]).is_err(),
                "{bad:?}"
            );
        }
        assert!(validate_repo_sources("extra_repos", &[mk("https://x.org/$basearch/")]).is_ok());
    }
}
