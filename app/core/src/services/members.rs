//! Repo members and their roles. The last admin of a repo can be neither removed nor demoted:
//! every repo keeps someone who can manage it.

use kiln_proto::{Member, Role};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::access::{authorize_repo, authorize_repo_in, RepoCtx};
use super::audit;
use crate::db::supports_row_locks;
use crate::entities::{repo_members, repos, users};
use crate::error::{CoreError, CoreResult};
use crate::names::validate_name;
use crate::policy::{Action, Principal};
use crate::Kiln;

/// The repo's members and their roles, by username (repo admins).
pub async fn list(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
) -> CoreResult<Vec<Member>> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ListMembers).await?;
    let rows = repo_members::Entity::find()
        .filter(repo_members::Column::RepoId.eq(ctx.repo.id))
        .find_also_related(users::Entity)
        .order_by_asc(users::Column::Username)
        .all(&kiln.db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, u)| {
            Some(Member {
                username: u?.username,
                role: Role::parse(&m.role)?,
                created_at: m.created_at,
            })
        })
        .collect())
}

/// Serializes membership changes of one repo (PostgreSQL row lock; SQLite has one writer).
async fn lock_repo(db: &impl ConnectionTrait, ctx: &RepoCtx) -> CoreResult<()> {
    if supports_row_locks(db) {
        repos::Entity::find_by_id(ctx.repo.id)
            .lock_exclusive()
            .one(db)
            .await?;
    }
    Ok(())
}

async fn other_admins(db: &impl ConnectionTrait, repo_id: i32, user_id: i32) -> CoreResult<u64> {
    Ok(repo_members::Entity::find()
        .filter(repo_members::Column::RepoId.eq(repo_id))
        .filter(repo_members::Column::Role.eq(Role::Admin.as_str()))
        .filter(repo_members::Column::UserId.ne(user_id))
        .count(db)
        .await?)
}

fn last_admin(username: &str, full_name: &str) -> CoreError {
    CoreError::Conflict(format!(
        "{username} is the last admin of {full_name}; make someone else admin first"
    ))
}

/// Adds a member or changes their role.
pub async fn put(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    username: &str,
    role: Role,
) -> CoreResult<Member> {
    validate_name("username", username)?;
    let txn = kiln.begin().await?;
    let ctx = authorize_repo_in(&txn, principal, owner, repo, Action::ManageMembers).await?;
    lock_repo(&txn, &ctx).await?;
    let user = users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(&txn)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no user named {username}")))?;
    let existing = repo_members::Entity::find()
        .filter(repo_members::Column::RepoId.eq(ctx.repo.id))
        .filter(repo_members::Column::UserId.eq(user.id))
        .one(&txn)
        .await?;
    let row = match existing {
        Some(m) => {
            if m.role == Role::Admin.as_str()
                && role != Role::Admin
                && other_admins(&txn, ctx.repo.id, user.id).await? == 0
            {
                return Err(last_admin(username, &ctx.full_name()));
            }
            let mut active: repo_members::ActiveModel = m.into();
            active.role = Set(role.as_str().to_owned());
            active.update(&txn).await?
        }
        None => {
            repo_members::ActiveModel {
                repo_id: Set(ctx.repo.id),
                user_id: Set(user.id),
                role: Set(role.as_str().to_owned()),
                created_at: Set(crate::now()),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        "member.put",
        username,
        serde_json::json!({"role": role}),
    )
    .await?;
    txn.commit().await?;
    Ok(Member {
        username: user.username,
        role,
        created_at: row.created_at,
    })
}

/// Removes `username` from the repo (repo admins); 404 when they are not a member, `Conflict`
/// when they are its last admin.
pub async fn remove(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    username: &str,
) -> CoreResult<()> {
    validate_name("username", username)?;
    let txn = kiln.begin().await?;
    let ctx = authorize_repo_in(&txn, principal, owner, repo, Action::ManageMembers).await?;
    lock_repo(&txn, &ctx).await?;
    let not_member =
        || CoreError::not_found(format!("{username} is not a member of {}", ctx.full_name()));
    let user = users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(&txn)
        .await?
        .ok_or_else(not_member)?;
    let m = repo_members::Entity::find()
        .filter(repo_members::Column::RepoId.eq(ctx.repo.id))
        .filter(repo_members::Column::UserId.eq(user.id))
        .one(&txn)
        .await?
        .ok_or_else(not_member)?;
    if m.role == Role::Admin.as_str() && other_admins(&txn, ctx.repo.id, user.id).await? == 0 {
        return Err(last_admin(username, &ctx.full_name()));
    }
    repo_members::Entity::delete_by_id(m.id).exec(&txn).await?;
    audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        "member.remove",
        username,
        serde_json::json!({"role": m.role}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
