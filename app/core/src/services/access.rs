//! Who may do what in a repo: a repo looked up by `OWNER/REPO` with the caller's role in it,
//! checked against the policy table. Every service that acts on a repo starts here, so this
//! module depends on nothing but entities and the policy.

use kiln_proto::{Repo, Role};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entities::{group_members, repo_members, repos, users};
use crate::error::{CoreError, CoreResult};
use crate::names::validate_name;
use crate::policy::{authorize_in_repo, Action, Principal, RepoStanding};
use crate::Kiln;

/// A repo looked up by `OWNER/REPO`, with its owner and the caller's role in it.
#[derive(Debug, Clone)]
pub struct RepoCtx {
    /// The repo's row.
    pub repo: repos::Model,
    /// The user who owns the repo.
    pub owner: users::Model,
    /// The caller's role in the repo, their own or their group's (the higher); `None` when
    /// anonymous or not a member.
    pub role: Option<Role>,
}

impl RepoCtx {
    /// `OWNER/REPO`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner.username, self.repo.name)
    }

    /// The repo as the API returns it, with the caller's role as `my_role`.
    pub fn to_wire(&self) -> Repo {
        Repo {
            id: self.repo.id,
            owner: self.owner.username.clone(),
            name: self.repo.name.clone(),
            full_name: self.full_name(),
            description: self.repo.description.clone(),
            created_at: self.repo.created_at,
            updated_at: self.repo.updated_at,
            keep_builds: self.repo.keep_builds.map(|n| n as u32),
            keep_logs_days: self.repo.keep_logs_days.map(|n| n as u32),
            my_role: self.role,
            builds_disabled: self.repo.builds_disabled.clone(),
            srpm_config: self.repo.srpm_config.clone(),
            visibility: kiln_proto::Visibility::parse(&self.repo.visibility),
            group_role: self
                .owner
                .is_group
                .then(|| Role::parse(&self.repo.group_role))
                .flatten(),
        }
    }
}

/// Refuses builds of a repo the site admins stopped.
pub fn accepting_builds(ctx: &RepoCtx) -> CoreResult<()> {
    match &ctx.repo.builds_disabled {
        Some(reason) => Err(CoreError::Conflict(format!(
            "the site admins stopped the builds of {}: {reason}",
            ctx.full_name()
        ))),
        None => Ok(()),
    }
}

/// `OWNER/REPO` of each of `ids`.
pub(crate) async fn full_names(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i32>,
) -> CoreResult<std::collections::HashMap<i32, String>> {
    let ids: Vec<i32> = ids.into_iter().collect();
    Ok(repos::Entity::find()
        .filter(repos::Column::Id.is_in(ids))
        .find_also_related(users::Entity)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(r, u)| Some((r.id, format!("{}/{}", u?.username, r.name))))
        .collect())
}

/// The role `user_id` holds in `repo_id`.
pub async fn role_of(
    db: &impl ConnectionTrait,
    repo_id: i32,
    user_id: Option<i32>,
) -> CoreResult<Option<Role>> {
    let Some(user_id) = user_id else {
        return Ok(None);
    };
    Ok(repo_members::Entity::find()
        .filter(repo_members::Column::RepoId.eq(repo_id))
        .filter(repo_members::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .and_then(|m| Role::parse(&m.role)))
}

/// The role a member of `group_id` (a `users` row with `is_group`) has in `repo`, if
/// `user_id` is one.
pub async fn group_role_of(
    db: &impl ConnectionTrait,
    repo: &repos::Model,
    group: &users::Model,
    user_id: Option<i32>,
) -> CoreResult<Option<Role>> {
    let Some(user_id) = user_id.filter(|_| group.is_group) else {
        return Ok(None);
    };
    let member = group_members::Entity::find()
        .filter(group_members::Column::GroupId.eq(group.id))
        .filter(group_members::Column::UserId.eq(user_id))
        .one(db)
        .await?;
    Ok(member.and_then(|_| Role::parse(&repo.group_role)))
}

/// What the policy needs to know of `repo` and the caller's place in it.
pub async fn standing_in(
    db: &impl ConnectionTrait,
    repo: &repos::Model,
    owner: &users::Model,
    principal: &Principal,
) -> CoreResult<RepoStanding> {
    Ok(RepoStanding {
        repo_id: repo.id,
        private: repo.visibility == kiln_proto::Visibility::Private.as_str(),
        role: role_of(db, repo.id, principal.user_id()).await?,
        group_role: group_role_of(db, repo, owner, principal.user_id()).await?,
    })
}

/// Looks the repo up (404 if missing) and checks `action` against the caller's role in it.
pub async fn authorize_repo(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    name: &str,
    action: Action,
) -> CoreResult<RepoCtx> {
    lookup(
        &kiln.db,
        Some(&kiln.read_tokens),
        principal,
        owner,
        name,
        action,
    )
    .await
}

/// `authorize_repo` inside a transaction.
pub async fn authorize_repo_in(
    db: &impl ConnectionTrait,
    principal: &Principal,
    owner: &str,
    name: &str,
    action: Action,
) -> CoreResult<RepoCtx> {
    lookup(db, None, principal, owner, name, action).await
}

/// Looks `OWNER/REPO` up for `principal` and checks `action`; `remembered` is this server's
/// memory of read tokens, brought up to date when a token is checked again.
async fn lookup(
    db: &impl ConnectionTrait,
    remembered: Option<&crate::token_memory::Remembered>,
    principal: &Principal,
    owner: &str,
    name: &str,
    action: Action,
) -> CoreResult<RepoCtx> {
    crate::names::validate_owner(owner)?;
    validate_name("repo", name)?;
    let not_found = || CoreError::not_found(format!("there is no repo {owner}/{name}"));
    // One query: the repo with its owner.
    let (repo, owner_row) = repos::Entity::find()
        .find_also_related(users::Entity)
        .filter(users::Column::Username.eq(owner))
        .filter(repos::Column::Name.eq(name))
        .one(db)
        .await?
        .and_then(|(r, u)| Some((r, u?)))
        .ok_or_else(not_found)?;
    // A read token remembered before one of this repo's tokens was revoked is checked again.
    let rechecked;
    let principal = match principal {
        Principal::ReadToken(t)
            if t.repo_id == repo.id && t.revision != repo.read_token_revision =>
        {
            rechecked =
                match crate::token_memory::recheck(db, remembered, t, repo.read_token_revision)
                    .await?
                {
                    Some(fresh) => Principal::ReadToken(fresh),
                    None => Principal::Anonymous,
                };
            &rechecked
        }
        p => p,
    };
    let standing = standing_in(db, &repo, &owner_row, principal).await?;
    authorize_in_repo(principal, action, &standing, not_found)?;
    let role = standing.effective_role();
    Ok(RepoCtx {
        repo,
        owner: owner_row,
        role,
    })
}

/// The repo `OWNER/REPO` if `principal` may submit builds to it now: a packager or more, and
/// its builds not stopped by the site admins.
pub async fn authorize_submission(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    name: &str,
) -> CoreResult<RepoCtx> {
    let ctx = authorize_repo(kiln, principal, owner, name, Action::SubmitBuild).await?;
    accepting_builds(&ctx)?;
    Ok(ctx)
}
