//! Repos: create (with the site's creation policy), list, get, update, delete. Deleting removes
//! every row in one transaction, so a repo is never half-visible, and queues its objects for
//! background removal.

use kiln_proto::{Page, Repo, RepoCreate, RepoPatch, Role, Visibility};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::access::{authorize_repo, authorize_repo_in, RepoCtx};
use super::{audit, mock_configs, PageRequest};
use crate::config::RepoCreators;
use crate::entities::{group_members, repo_members, repos, storage_cleanup, users};
use crate::error::{CoreError, CoreResult};
use crate::names::{validate_name, validate_text};
use crate::policy::{authorize, Action, Principal};
use crate::Kiln;

/// Stops (`Some(reason)`) or resumes (`None`) a repo's builds (site admins). Queued builds
/// stay queued, not claimed, until resumed.
pub async fn set_builds_disabled(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    name: &str,
    reason: Option<String>,
) -> CoreResult<Repo> {
    let ctx = authorize_repo(kiln, principal, owner, name, Action::AdministerRepo).await?;
    if let Some(r) = &reason {
        validate_text("reason", r, 500)?;
        if r.trim().is_empty() {
            return Err(CoreError::validation("reason", "say why the builds stop"));
        }
    }
    let txn = kiln.begin().await?;
    let mut active: repos::ActiveModel = ctx.repo.clone().into();
    active.builds_disabled = Set(reason.clone());
    active.updated_at = Set(crate::now());
    let repo = active.update(&txn).await?;
    audit::record(
        &txn,
        Some(repo.id),
        principal,
        if reason.is_some() {
            "repo.builds_disabled"
        } else {
            "repo.builds_enabled"
        },
        &ctx.full_name(),
        serde_json::json!({ "reason": reason }),
    )
    .await?;
    txn.commit().await?;
    kiln.events.work_available();
    Ok(RepoCtx { repo, ..ctx }.to_wire())
}

/// Cancels every build of the repo that has not ended (site admins).
pub async fn cancel_queue(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    name: &str,
) -> CoreResult<kiln_proto::QueueCanceled> {
    let ctx = authorize_repo(kiln, principal, owner, name, Action::AdministerRepo).await?;
    let open: Vec<i32> = crate::entities::tasks::Entity::find()
        .select_only()
        .column(crate::entities::tasks::Column::Id)
        .filter(crate::entities::tasks::Column::RepoId.eq(ctx.repo.id))
        .filter(crate::entities::tasks::Column::ParentId.is_null())
        .filter(crate::entities::tasks::Column::State.is_in(["pending", "running"]))
        .into_tuple()
        .all(&kiln.db)
        .await?;
    for id in &open {
        super::tasks::cancel(kiln, principal, *id).await?;
    }
    tracing::info!(repo = %ctx.full_name(), builds = open.len(), "queue canceled");
    Ok(kiln_proto::QueueCanceled {
        builds: open.len() as u32,
    })
}

/// Creates a repo owned by the caller, who becomes its admin, with a new signing key and a
/// mock config for each of `input.chroots`. Refuses with `Forbidden` when the creation policy
/// or the per-user limit forbids it, and with `Conflict` when the caller has a repo of that name.
pub async fn create(kiln: &Kiln, principal: &Principal, input: RepoCreate) -> CoreResult<Repo> {
    authorize(principal, Action::CreateRepo, None)?;
    let user = principal.require_user()?;
    let policy = &kiln.config.repos;
    if !user.is_site_admin {
        match policy.creators {
            RepoCreators::Everyone => {}
            RepoCreators::SiteAdmins => {
                return Err(CoreError::Forbidden(
                    "on this server only site administrators create repos".into(),
                ))
            }
            RepoCreators::Group => {
                let group = policy.creator_group.as_deref().unwrap_or_default();
                let local = match super::groups::find(&kiln.db, group).await {
                    Ok(g) => super::groups::is_member(&kiln.db, g.id, user.id).await?,
                    Err(_) => false,
                };
                if !local && !user.groups.iter().any(|g| g == group) {
                    return Err(CoreError::Forbidden(format!(
                        "creating repos needs membership of the group {group:?}"
                    )));
                }
            }
        }
    }
    validate_name("name", &input.name)?;
    validate_text("description", &input.description, 4000)?;
    let visibility = visibility_for_new(kiln, user, input.visibility)?;
    // A group's repo: only its members (or site admins) create one.
    let owner = match input.owner.as_deref().filter(|o| *o != user.username) {
        None => None,
        Some(o) if o.starts_with('@') => {
            let group = super::groups::find(&kiln.db, o)
                .await
                .map_err(|_| CoreError::validation("owner", format!("there is no group {o}")))?;
            if !user.is_site_admin && !super::groups::is_member(&kiln.db, group.id, user.id).await?
            {
                return Err(CoreError::Forbidden(format!(
                    "only members of {o} create repos in it"
                )));
            }
            Some(group)
        }
        Some(o) => {
            return Err(CoreError::validation(
                "owner",
                format!("{o:?} is not you or a group (@NAME)"),
            ))
        }
    };
    let (owner_id, owner_name) = owner
        .as_ref()
        .map_or((user.id, user.username.clone()), |g| {
            (g.id, g.username.clone())
        });
    // The repo's signing key, made before the write transaction (RSA takes a while).
    let key =
        crate::services::publish::new_key(kiln, &format!("{owner_name}/{}", input.name)).await?;
    let txn = kiln.begin().await?;
    if let (Some(max), false, None) = (policy.max_per_user, user.is_site_admin, &owner) {
        let owned = repos::Entity::find()
            .filter(repos::Column::OwnerId.eq(user.id))
            .count(&txn)
            .await?;
        if owned >= max {
            return Err(CoreError::Forbidden(format!(
                "you already own {owned} repos, the most this server allows per user"
            )));
        }
    }
    let exists = repos::Entity::find()
        .filter(repos::Column::OwnerId.eq(owner_id))
        .filter(repos::Column::Name.eq(&input.name))
        .one(&txn)
        .await?;
    if exists.is_some() {
        return Err(CoreError::Conflict(match &owner {
            None => format!("you already have a repo named {}", input.name),
            Some(_) => format!("{owner_name} already has a repo named {}", input.name),
        }));
    }
    let now = crate::now();
    let repo = repos::ActiveModel {
        owner_id: Set(owner_id),
        name: Set(input.name.clone()),
        description: Set(input.description.clone()),
        visibility: Set(visibility.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    crate::services::publish::insert_key(&txn, repo.id, key).await?;
    repo_members::ActiveModel {
        repo_id: Set(repo.id),
        user_id: Set(user.id),
        role: Set(Role::Admin.as_str().to_owned()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let full_name = format!("{owner_name}/{}", repo.name);
    audit::record(
        &txn,
        Some(repo.id),
        principal,
        "repo.create",
        &full_name,
        serde_json::json!({"description": repo.description}),
    )
    .await?;
    for chroot in &input.chroots {
        mock_configs::create_default_in(&txn, principal, &repo, chroot).await?;
    }
    txn.commit().await?;
    let owner = users::Entity::find_by_id(owner_id)
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::internal("owner vanished"))?;
    Ok(RepoCtx {
        repo,
        owner,
        role: Some(Role::Admin),
    }
    .to_wire())
}

/// The visibility of a new repo: what was asked, else the site's default; a site that forces
/// private repos refuses a public one.
fn visibility_for_new(
    kiln: &Kiln,
    user: &crate::policy::UserPrincipal,
    asked: Option<Visibility>,
) -> CoreResult<Visibility> {
    let site = &kiln.config.repos;
    match asked {
        Some(Visibility::Public) if site.force_private && !user.is_site_admin => {
            Err(CoreError::validation(
                "visibility",
                "this server keeps every repo private (repos.force_private)",
            ))
        }
        Some(v) => Ok(v),
        None if site.force_private || site.private_by_default => Ok(Visibility::Private),
        None => Ok(Visibility::Public),
    }
}

/// Repos, alphabetical by owner then name; `owner` filters, `query` matches names and
/// descriptions.
pub async fn list(
    kiln: &Kiln,
    principal: &Principal,
    owner: Option<&str>,
    query: Option<&str>,
    page: PageRequest,
) -> CoreResult<Page<Repo>> {
    authorize(principal, Action::ListRepos, None)?;
    let mut select = repos::Entity::find().find_also_related(users::Entity);
    // Private repos are listed only to their members (and the site admins).
    if !principal.is_site_admin() {
        let visible = Condition::any().add(repos::Column::Visibility.eq("public"));
        select = select.filter(match principal.user_id() {
            Some(uid) => visible
                .add(
                    repos::Column::Id.in_subquery(sea_orm::QueryTrait::into_query(
                        repo_members::Entity::find()
                            .select_only()
                            .column(repo_members::Column::RepoId)
                            .filter(repo_members::Column::UserId.eq(uid)),
                    )),
                )
                .add(
                    repos::Column::OwnerId.in_subquery(sea_orm::QueryTrait::into_query(
                        group_members::Entity::find()
                            .select_only()
                            .column(group_members::Column::GroupId)
                            .filter(group_members::Column::UserId.eq(uid)),
                    )),
                ),
            None => visible,
        });
    }
    if let Some(owner) = owner {
        crate::names::validate_owner(owner)?;
        select = select.filter(users::Column::Username.eq(owner));
    }
    if let Some(q) = query.map(str::trim).filter(|q| !q.is_empty()) {
        validate_text("q", q, 100)?;
        select = select.filter(
            Condition::any()
                .add(repos::Column::Name.contains(q))
                .add(repos::Column::Description.contains(q)),
        );
    }
    let total = select.clone().count(&kiln.db).await?;
    let rows = select
        .order_by_asc(users::Column::Username)
        .order_by_asc(repos::Column::Name)
        .offset((page.page - 1) * page.per_page)
        .limit(page.per_page)
        .all(&kiln.db)
        .await?;
    let ids: Vec<i32> = rows.iter().map(|(r, _)| r.id).collect();
    let (my_roles, my_groups) = match principal.user_id() {
        Some(uid) if !ids.is_empty() => (
            repo_members::Entity::find()
                .filter(repo_members::Column::UserId.eq(uid))
                .filter(repo_members::Column::RepoId.is_in(ids))
                .all(&kiln.db)
                .await?,
            group_members::Entity::find()
                .filter(group_members::Column::UserId.eq(uid))
                .all(&kiln.db)
                .await?,
        ),
        _ => (vec![], vec![]),
    };
    let items = rows
        .into_iter()
        .filter_map(|(repo, owner)| {
            let owner = owner?;
            let own = my_roles
                .iter()
                .find(|m| m.repo_id == repo.id)
                .and_then(|m| Role::parse(&m.role));
            let by_group = my_groups
                .iter()
                .any(|g| g.group_id == owner.id)
                .then(|| Role::parse(&repo.group_role))
                .flatten();
            let role = own.max(by_group);
            Some(RepoCtx { repo, owner, role }.to_wire())
        })
        .collect();
    Ok(page.page_of(items, total))
}

/// The repo `OWNER/REPO`, with the caller's role in it, or 404 when it does not exist.
pub async fn get(kiln: &Kiln, principal: &Principal, owner: &str, name: &str) -> CoreResult<Repo> {
    Ok(
        authorize_repo(kiln, principal, owner, name, Action::ViewRepo)
            .await?
            .to_wire(),
    )
}

/// Applies `patch` to the repo's settings (rel-eng) and records it in the audit log; refuses
/// out-of-range retention numbers with a validation error.
pub async fn update(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    name: &str,
    patch: RepoPatch,
) -> CoreResult<Repo> {
    let txn = kiln.begin().await?;
    let ctx = authorize_repo_in(&txn, principal, owner, name, Action::UpdateRepo).await?;
    let mut active: repos::ActiveModel = ctx.repo.clone().into();
    if let Some(d) = &patch.description {
        validate_text("description", d, 4000)?;
        active.description = Set(d.clone());
    }
    // 0 switches a policy off; the limits keep the numbers meaningful (100 years of logs).
    if let Some(n) = patch.keep_builds {
        if n > 10_000 {
            return Err(CoreError::validation(
                "keep_builds",
                "keep at most 10000 builds per package (0 keeps all)",
            ));
        }
        active.keep_builds = Set((n > 0).then_some(n as i32));
    }
    if let Some(d) = patch.keep_logs_days {
        if d > 36_500 {
            return Err(CoreError::validation(
                "keep_logs_days",
                "keep logs at most 36500 days (0 keeps them for ever)",
            ));
        }
        active.keep_logs_days = Set((d > 0).then_some(d as i32));
    }
    if let Some(v) = patch.visibility {
        authorize(principal, Action::SetVisibility, ctx.role).map_err(|_| {
            CoreError::Forbidden("making a repo private or public needs the admin role".into())
        })?;
        if v == Visibility::Public && kiln.config.repos.force_private && !principal.is_site_admin()
        {
            return Err(CoreError::validation(
                "visibility",
                "this server keeps every repo private (repos.force_private)",
            ));
        }
        active.visibility = Set(v.as_str().to_owned());
    }
    if let Some(name) = &patch.srpm_config {
        if name.is_empty() {
            active.srpm_config = Set(None);
        } else {
            let exists = crate::entities::mock_configs::Entity::find()
                .filter(crate::entities::mock_configs::Column::RepoId.eq(ctx.repo.id))
                .filter(crate::entities::mock_configs::Column::Name.eq(name.as_str()))
                .one(&txn)
                .await?
                .is_some();
            if !exists {
                return Err(CoreError::validation(
                    "srpm_config",
                    format!("{} has no mock config {name:?}", ctx.full_name()),
                ));
            }
            active.srpm_config = Set(Some(name.clone()));
        }
    }
    active.updated_at = Set(crate::now());
    let repo = active.update(&txn).await?;
    audit::record(
        &txn,
        Some(repo.id),
        principal,
        "repo.update",
        &ctx.full_name(),
        serde_json::to_value(&patch).unwrap_or_default(),
    )
    .await?;
    txn.commit().await?;
    Ok(RepoCtx { repo, ..ctx }.to_wire())
}

/// The storage prefix under which everything of a repo lives.
pub fn storage_prefix(repo_id: i32) -> String {
    format!("repos/{repo_id}/")
}

/// Deletes the repo and all its rows (repo admins) in one transaction and queues its stored
/// objects for background removal.
pub async fn delete(kiln: &Kiln, principal: &Principal, owner: &str, name: &str) -> CoreResult<()> {
    let txn = kiln.begin().await?;
    let ctx = authorize_repo_in(&txn, principal, owner, name, Action::DeleteRepo).await?;
    // Explicit rather than trusting ON DELETE CASCADE, which SQLite only honours when foreign
    // keys are switched on for the connection.
    repo_members::Entity::delete_many()
        .filter(repo_members::Column::RepoId.eq(ctx.repo.id))
        .exec(&txn)
        .await?;
    crate::entities::mock_configs::Entity::delete_many()
        .filter(crate::entities::mock_configs::Column::RepoId.eq(ctx.repo.id))
        .exec(&txn)
        .await?;
    crate::services::publish::delete_repo_rows(&txn, ctx.repo.id).await?;
    crate::services::forge::delete_repo_rows(&txn, ctx.repo.id).await?;
    repos::Entity::delete_by_id(ctx.repo.id).exec(&txn).await?;
    storage_cleanup::ActiveModel {
        prefix: Set(storage_prefix(ctx.repo.id)),
        attempts: Set(0),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        "repo.delete",
        &ctx.full_name(),
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(repo = %ctx.full_name(), "repo deleted; objects queued for removal");
    Ok(())
}
