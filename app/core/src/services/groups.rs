//! Groups (`@NAME`, Copr's spelling): they own repos like users do, and their members get a
//! role in those repos (packager unless the repo's admins set another). A group is a `users`
//! row with `is_group` that never signs in, so every `OWNER/REPO` lookup works unchanged.
//! Membership comes from the OpenID provider's groups claim (replaced at each sign-in) or from
//! a site admin (local groups).

use kiln_proto::{Group, GroupMember, Role};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::access::{authorize_repo, RepoCtx};
use super::audit;
use crate::entities::{group_members, repos, users};
use crate::error::{CoreError, CoreResult};
use crate::names::validate_name;
use crate::policy::{authorize, Action, Principal};
use crate::Kiln;

/// Where a membership comes from.
pub const OIDC: &str = "oidc";
/// A membership a site admin set.
pub const LOCAL: &str = "local";

/// `@NAME` for a group name given with or without its `@`.
pub fn owner_name(name: &str) -> String {
    format!("@{}", name.trim_start_matches('@'))
}

/// The group row named `name` (with or without `@`), or 404.
pub async fn find(db: &impl ConnectionTrait, name: &str) -> CoreResult<users::Model> {
    let bare = name.trim_start_matches('@');
    validate_name("group", bare)?;
    users::Entity::find()
        .filter(users::Column::Username.eq(owner_name(bare)))
        .filter(users::Column::IsGroup.eq(true))
        .one(db)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no group @{bare}")))
}

/// Whether `user_id` is in the group `group_id`.
pub async fn is_member(db: &impl ConnectionTrait, group_id: i32, user_id: i32) -> CoreResult<bool> {
    Ok(group_members::Entity::find()
        .filter(group_members::Column::GroupId.eq(group_id))
        .filter(group_members::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .is_some())
}

/// The group row for `bare`, made if missing (the transaction's).
async fn ensure(db: &impl ConnectionTrait, bare: &str) -> CoreResult<users::Model> {
    if let Ok(g) = find(db, bare).await {
        return Ok(g);
    }
    Ok(users::ActiveModel {
        username: Set(owner_name(bare)),
        password_hash: Set(None),
        is_site_admin: Set(false),
        groups: Set(serde_json::json!([])),
        // Never signs in, never holds tokens.
        disabled: Set(true),
        is_group: Set(true),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

async fn to_wire(db: &impl ConnectionTrait, group: &users::Model) -> CoreResult<Group> {
    let rows = group_members::Entity::find()
        .filter(group_members::Column::GroupId.eq(group.id))
        .find_also_related(users::Entity)
        .all(db)
        .await?;
    let mut members: Vec<GroupMember> = rows
        .into_iter()
        .filter_map(|(m, u)| {
            Some(GroupMember {
                username: u?.username,
                source: m.source,
            })
        })
        .collect();
    members.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(Group {
        name: group.username.trim_start_matches('@').to_owned(),
        owner: group.username.clone(),
        members,
    })
}

/// Creates a local group (site admins).
pub async fn create(kiln: &Kiln, principal: &Principal, name: &str) -> CoreResult<Group> {
    authorize(principal, Action::ManageGroups, None)?;
    let bare = name.trim_start_matches('@');
    validate_name("name", bare)?;
    let txn = kiln.begin().await?;
    if find(&txn, bare).await.is_ok() {
        return Err(CoreError::Conflict(format!("the group @{bare} exists")));
    }
    let group = ensure(&txn, bare).await?;
    audit::record(
        &txn,
        None,
        principal,
        "group.create",
        &group.username,
        serde_json::json!({}),
    )
    .await?;
    let wire = to_wire(&txn, &group).await?;
    txn.commit().await?;
    Ok(wire)
}

/// A group and its members (signed-in users).
pub async fn get(kiln: &Kiln, principal: &Principal, name: &str) -> CoreResult<Group> {
    principal.require_user()?;
    let group = find(&kiln.db, name).await?;
    to_wire(&kiln.db, &group).await
}

/// Every group (site admins), or the caller's own groups.
pub async fn list(kiln: &Kiln, principal: &Principal) -> CoreResult<Vec<Group>> {
    let user = principal.require_user()?;
    let mut select = users::Entity::find().filter(users::Column::IsGroup.eq(true));
    if !user.is_site_admin {
        select = select.filter(
            users::Column::Id.in_subquery(sea_orm::QueryTrait::into_query(
                group_members::Entity::find()
                    .select_only_group_ids()
                    .filter(group_members::Column::UserId.eq(user.id)),
            )),
        );
    }
    let groups = select
        .order_by_asc(users::Column::Username)
        .all(&kiln.db)
        .await?;
    let mut out = Vec::with_capacity(groups.len());
    for g in &groups {
        out.push(to_wire(&kiln.db, g).await?);
    }
    Ok(out)
}

trait GroupIds {
    fn select_only_group_ids(self) -> Self;
}

impl GroupIds for sea_orm::Select<group_members::Entity> {
    fn select_only_group_ids(self) -> Self {
        use sea_orm::QuerySelect;
        self.select_only().column(group_members::Column::GroupId)
    }
}

/// Adds `username` to the group as a local member (site admins).
pub async fn add_member(
    kiln: &Kiln,
    principal: &Principal,
    name: &str,
    username: &str,
) -> CoreResult<Group> {
    authorize(principal, Action::ManageGroups, None)?;
    validate_name("username", username)?;
    let txn = kiln.begin().await?;
    let group = find(&txn, name).await?;
    let user = users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .filter(users::Column::IsGroup.eq(false))
        .one(&txn)
        .await?
        .ok_or_else(|| CoreError::validation("username", format!("no user named {username}")))?;
    if !is_member(&txn, group.id, user.id).await? {
        group_members::ActiveModel {
            group_id: Set(group.id),
            user_id: Set(user.id),
            source: Set(LOCAL.to_owned()),
            created_at: Set(crate::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    audit::record(
        &txn,
        None,
        principal,
        "group.add_member",
        &group.username,
        serde_json::json!({"username": username}),
    )
    .await?;
    let wire = to_wire(&txn, &group).await?;
    txn.commit().await?;
    Ok(wire)
}

/// Removes `username` from the group (site admins). A member from the OpenID provider comes
/// back at their next sign-in if the provider still says so.
pub async fn remove_member(
    kiln: &Kiln,
    principal: &Principal,
    name: &str,
    username: &str,
) -> CoreResult<Group> {
    authorize(principal, Action::ManageGroups, None)?;
    validate_name("username", username)?;
    let txn = kiln.begin().await?;
    let group = find(&txn, name).await?;
    let user = users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(&txn)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("no user named {username}")))?;
    let gone = group_members::Entity::delete_many()
        .filter(group_members::Column::GroupId.eq(group.id))
        .filter(group_members::Column::UserId.eq(user.id))
        .exec(&txn)
        .await?;
    if gone.rows_affected == 0 {
        return Err(CoreError::not_found(format!(
            "{username} is not in {}",
            group.username
        )));
    }
    audit::record(
        &txn,
        None,
        principal,
        "group.remove_member",
        &group.username,
        serde_json::json!({"username": username}),
    )
    .await?;
    let wire = to_wire(&txn, &group).await?;
    txn.commit().await?;
    Ok(wire)
}

/// Makes the user's provider memberships those of `claim` (at each OpenID sign-in): groups
/// are made on first sight, memberships the claim no longer names end; local memberships stay.
/// Claim values that are not valid names (after a leading `/`, as Keycloak writes them) are
/// skipped.
pub async fn sync_oidc(
    db: &impl ConnectionTrait,
    user_id: i32,
    claim: &[String],
) -> CoreResult<()> {
    let mut wanted = Vec::new();
    for raw in claim {
        let bare = raw.trim_start_matches('/');
        if validate_name("group", bare).is_err() {
            tracing::debug!(group = %raw, "groups claim value is not a valid group name; skipped");
            continue;
        }
        wanted.push(ensure(db, bare).await?.id);
    }
    group_members::Entity::delete_many()
        .filter(group_members::Column::UserId.eq(user_id))
        .filter(group_members::Column::Source.eq(OIDC))
        .filter(group_members::Column::GroupId.is_not_in(wanted.clone()))
        .exec(db)
        .await?;
    for group_id in wanted {
        if !is_member(db, group_id, user_id).await? {
            group_members::ActiveModel {
                group_id: Set(group_id),
                user_id: Set(user_id),
                source: Set(OIDC.to_owned()),
                created_at: Set(crate::now()),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

/// Sets the role the owning group's members have in `@GROUP/REPO` (repo admins).
pub async fn set_repo_role(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    role: Role,
) -> CoreResult<kiln_proto::Repo> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageMembers).await?;
    if !ctx.owner.is_group {
        return Err(CoreError::validation(
            "role",
            format!("{} is not owned by a group", ctx.full_name()),
        ));
    }
    let txn = kiln.begin().await?;
    let mut active: repos::ActiveModel = ctx.repo.clone().into();
    active.group_role = Set(role.as_str().to_owned());
    active.updated_at = Set(crate::now());
    let repo_row = active.update(&txn).await?;
    audit::record(
        &txn,
        Some(repo_row.id),
        principal,
        "repo.group_role",
        &ctx.full_name(),
        serde_json::json!({"role": role.as_str()}),
    )
    .await?;
    txn.commit().await?;
    let role = super::access::standing_in(&kiln.db, &repo_row, &ctx.owner, principal)
        .await?
        .effective_role();
    Ok(RepoCtx {
        repo: repo_row,
        owner: ctx.owner,
        role,
    }
    .to_wire())
}
