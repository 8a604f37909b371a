//! Personal API tokens: created with an optional expiry, shown once, stored as a SHA-256 hash
//! with a short display prefix, revoked by their owner.

use kiln_proto::{TokenCreate, TokenCreated, TokenInfo};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::audit;
use crate::entities::{api_tokens, users};
use crate::error::{CoreError, CoreResult};
use crate::names::validate_text;
use crate::policy::{authorize, Action, Principal};
use crate::secret::{hash_token, new_token, token_display_prefix, PAT_PREFIX};
use crate::Kiln;

fn to_wire(t: &api_tokens::Model) -> TokenInfo {
    TokenInfo {
        id: t.id,
        name: t.name.clone(),
        prefix: t.prefix.clone(),
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
    }
}

/// Creates a token for the caller.
pub async fn create(
    kiln: &Kiln,
    principal: &Principal,
    input: TokenCreate,
) -> CoreResult<TokenCreated> {
    authorize(principal, Action::ManageOwnTokens, None)?;
    let user = principal.require_user()?;
    create_for_user(kiln, principal, user.id, input).await
}

/// Creates a token for `user_id` (`kiln admin create-token` passes the system as actor).
pub async fn create_for_user(
    kiln: &Kiln,
    actor: &Principal,
    user_id: i32,
    input: TokenCreate,
) -> CoreResult<TokenCreated> {
    let name = input.name.trim();
    if name.is_empty() {
        return Err(CoreError::validation("name", "must not be empty"));
    }
    validate_text("name", name, 100)?;
    if let Some(exp) = input.expires_at {
        if exp <= time::OffsetDateTime::now_utc() {
            return Err(CoreError::validation("expires_at", "must be in the future"));
        }
    }
    let secret = new_token(PAT_PREFIX);
    let txn = kiln.begin().await?;
    let row = api_tokens::ActiveModel {
        user_id: Set(user_id),
        name: Set(name.to_owned()),
        prefix: Set(token_display_prefix(secret.expose())),
        token_hash: Set(hash_token(secret.expose())),
        created_at: Set(crate::now()),
        expires_at: Set(input.expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        None,
        actor,
        "token.create",
        &format!("token:{}", row.id),
        serde_json::json!({"user_id": user_id, "name": row.name}),
    )
    .await?;
    txn.commit().await?;
    Ok(TokenCreated {
        info: to_wire(&row),
        token: secret.expose().to_owned(),
    })
}

/// The caller's live tokens (not revoked, not expired), newest first.
pub async fn list(kiln: &Kiln, principal: &Principal) -> CoreResult<Vec<TokenInfo>> {
    authorize(principal, Action::ManageOwnTokens, None)?;
    let user = principal.require_user()?;
    let now = time::OffsetDateTime::now_utc();
    let rows = api_tokens::Entity::find()
        .filter(api_tokens::Column::UserId.eq(user.id))
        .filter(api_tokens::Column::RevokedAt.is_null())
        .order_by_desc(api_tokens::Column::Id)
        .all(&kiln.db)
        .await?;
    Ok(rows
        .iter()
        .filter(|t| t.expires_at.is_none_or(|e| e > now))
        .map(to_wire)
        .collect())
}

/// Revokes the caller's own API token `id`; 404 when they have no unrevoked token of that id.
pub async fn revoke(kiln: &Kiln, principal: &Principal, id: i32) -> CoreResult<()> {
    authorize(principal, Action::ManageOwnTokens, None)?;
    let user = principal.require_user()?;
    let txn = kiln.begin().await?;
    let token = api_tokens::Entity::find_by_id(id)
        .filter(api_tokens::Column::UserId.eq(user.id))
        .filter(api_tokens::Column::RevokedAt.is_null())
        .one(&txn)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("you have no token with id {id}")))?;
    let mut active: api_tokens::ActiveModel = token.into();
    active.revoked_at = Set(Some(crate::now()));
    active.update(&txn).await?;
    audit::record(
        &txn,
        None,
        principal,
        "token.revoke",
        &format!("token:{id}"),
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The user a bearer token belongs to. Unknown, revoked and expired tokens are all
/// `Unauthorized`, with a message saying which.
pub async fn authenticate(kiln: &Kiln, token: &str) -> CoreResult<users::Model> {
    if !token.starts_with(PAT_PREFIX) || token.len() > 200 {
        return Err(CoreError::Unauthorized(
            "the API token is malformed (it should start with kiln_pat_)".into(),
        ));
    }
    let row = api_tokens::Entity::find()
        .filter(api_tokens::Column::TokenHash.eq(hash_token(token)))
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::Unauthorized("the API token is not valid".into()))?;
    let now = crate::now();
    crate::secret::still_valid("API token", row.revoked_at, row.expires_at, now)?;
    let user = users::Entity::find_by_id(row.user_id)
        .one(&kiln.db)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| CoreError::Unauthorized("the token's account is disabled".into()))?;
    if crate::secret::use_to_record(row.last_used_at, now) {
        let mut active: api_tokens::ActiveModel = row.into();
        active.last_used_at = Set(Some(now));
        active.update(&kiln.db).await?;
    }
    Ok(user)
}
