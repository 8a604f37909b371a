//! User accounts: local accounts with argon2id passwords, OpenID Connect identities (first login
//! creates the user), and turning a stored user into the `Principal` the policy checks.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use kiln_proto::User;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::entities::{identities, users};
use crate::error::{CoreError, CoreResult};
use crate::names::validate_name;
use crate::policy::{Principal, UserPrincipal};
use crate::Kiln;

/// The user as the API returns it.
pub fn to_wire(u: &users::Model) -> User {
    User {
        id: u.id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        email: u.email.clone(),
        is_site_admin: u.is_site_admin,
        created_at: u.created_at,
    }
}

/// The principal the policy sees for `u`, with the groups stored at their last login.
pub fn principal_of(u: &users::Model) -> Principal {
    Principal::User(UserPrincipal {
        id: u.id,
        username: u.username.clone(),
        is_site_admin: u.is_site_admin,
        groups: serde_json::from_value(u.groups.clone()).unwrap_or_default(),
    })
}

fn hash_password(password: &str) -> CoreResult<String> {
    if password.chars().count() < 8 {
        return Err(CoreError::validation(
            "password",
            "must be at least 8 characters long",
        ));
    }
    if password.len() > 1024 {
        return Err(CoreError::validation("password", "is too long"));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(CoreError::internal)
}

/// Creates a local account (`kiln admin create-user`). Without a password the account can only
/// sign in through OIDC or use API tokens.
pub async fn create_user(
    kiln: &Kiln,
    username: &str,
    password: Option<&str>,
    site_admin: bool,
) -> CoreResult<users::Model> {
    validate_name("username", username)?;
    let password_hash = password.map(hash_password).transpose()?;
    if find_by_username(kiln, username).await?.is_some() {
        return Err(CoreError::Conflict(format!(
            "a user named {username} already exists"
        )));
    }
    let user = users::ActiveModel {
        username: Set(username.to_owned()),
        password_hash: Set(password_hash),
        is_site_admin: Set(site_admin),
        groups: Set(serde_json::json!([])),
        disabled: Set(false),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(&kiln.db)
    .await?;
    tracing::info!(user = %user.username, site_admin, "user created");
    Ok(user)
}

/// Up to 10 enabled accounts whose username or display name starts with `prefix`
/// (case-insensitive), for choosing a repo member; signed-in callers only.
pub async fn search(kiln: &Kiln, principal: &Principal, prefix: &str) -> CoreResult<Vec<User>> {
    use sea_orm::sea_query::{Expr, Func};
    use sea_orm::{Condition, QueryOrder, QuerySelect};
    principal.require_user()?;
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return Ok(Vec::new());
    }
    if prefix.len() > 100 {
        return Err(CoreError::validation("user", "is too long"));
    }
    // LIKE wildcards in the input match literally.
    let escaped: String = prefix
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let pattern = format!("{escaped}%");
    let like = |col: users::Column| {
        Expr::expr(Func::lower(Expr::col(col)))
            .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
    };
    let rows = users::Entity::find()
        .filter(users::Column::Disabled.eq(false))
        .filter(
            Condition::any()
                .add(like(users::Column::Username))
                .add(like(users::Column::DisplayName)),
        )
        .order_by_asc(users::Column::Username)
        .limit(10)
        .all(&kiln.db)
        .await?;
    Ok(rows.iter().map(to_wire).collect())
}

/// The user named `username`, disabled or not; `None` when there is none.
pub async fn find_by_username(kiln: &Kiln, username: &str) -> CoreResult<Option<users::Model>> {
    Ok(users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(&kiln.db)
        .await?)
}

/// The user with id `id`, disabled or not; `None` when there is none.
pub async fn find_by_id(kiln: &Kiln, id: i32) -> CoreResult<Option<users::Model>> {
    Ok(users::Entity::find_by_id(id).one(&kiln.db).await?)
}

fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(uuid::Uuid::new_v4().as_bytes(), &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

/// Checks a local account's password. Unknown users cost the same time as wrong passwords.
pub async fn verify_password(
    kiln: &Kiln,
    username: &str,
    password: &str,
) -> CoreResult<users::Model> {
    let denied = || CoreError::Unauthorized("wrong username or password".into());
    if !kiln.config.auth.local_accounts {
        return Err(CoreError::Forbidden(
            "local accounts are switched off on this server; sign in with single sign-on".into(),
        ));
    }
    let user = find_by_username(kiln, username).await?;
    let stored = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        // A real hash of a random password, so a miss does the same work as a hit.
        .unwrap_or_else(dummy_hash);
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .map_err(CoreError::internal)?;
    match user {
        Some(u) if ok && !u.disabled => Ok(u),
        _ => Err(denied()),
    }
}

/// What an OpenID provider told us about a user.
#[derive(Debug, Clone, Default)]
pub struct OidcClaims {
    /// `sub`: the user's stable id at the provider.
    pub subject: String,
    /// The provider's configured username claim; the first choice for a new username.
    pub preferred_username: Option<String>,
    /// The user's e-mail address.
    pub email: Option<String>,
    /// The user's display name.
    pub name: Option<String>,
    /// The user's groups from the provider's configured groups claim.
    pub groups: Vec<String>,
}

/// Makes a username from a claim value: the allowed characters, at most 60 long.
fn username_base(claims: &OidcClaims) -> String {
    let raw = claims
        .preferred_username
        .clone()
        .or_else(|| {
            claims
                .email
                .as_ref()
                .and_then(|e| e.split('@').next().map(str::to_owned))
        })
        .unwrap_or_else(|| claims.subject.clone());
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    while s.starts_with(['.', '_', '-']) {
        s.remove(0);
    }
    if s.is_empty() || s.ends_with(".rpm") || s.ends_with(".repo") {
        s = format!("user{s}");
    }
    s
}

/// Signs in through an OpenID provider: the linked user, or a new one on first login, with
/// collisions resolved by appending `-2`, `-3`, … to the username.
pub async fn login_oidc(
    kiln: &Kiln,
    provider: &str,
    claims: OidcClaims,
    site_admin_group: Option<&str>,
) -> CoreResult<users::Model> {
    let groups = serde_json::json!(claims.groups);
    let make_admin = site_admin_group.is_some_and(|g| claims.groups.iter().any(|x| x == g));
    let txn = kiln.begin().await?;
    let existing = identities::Entity::find()
        .filter(identities::Column::Provider.eq(provider))
        .filter(identities::Column::Subject.eq(&claims.subject))
        .one(&txn)
        .await?;
    let user = if let Some(identity) = existing {
        let user = users::Entity::find_by_id(identity.user_id)
            .one(&txn)
            .await?
            .ok_or_else(|| CoreError::internal("identity without user"))?;
        if user.disabled {
            return Err(CoreError::Forbidden("this account is disabled".into()));
        }
        let mut active: users::ActiveModel = user.into();
        active.groups = Set(groups);
        if make_admin {
            active.is_site_admin = Set(true);
        }
        if claims.email.is_some() {
            active.email = Set(claims.email.clone());
        }
        active.update(&txn).await?
    } else {
        let base = username_base(&claims);
        let mut username = base.clone();
        let mut n = 1;
        while users::Entity::find()
            .filter(users::Column::Username.eq(&username))
            .one(&txn)
            .await?
            .is_some()
        {
            n += 1;
            username = format!("{base}-{n}");
        }
        let user = users::ActiveModel {
            username: Set(username),
            display_name: Set(claims.name.clone()),
            email: Set(claims.email.clone()),
            password_hash: Set(None),
            is_site_admin: Set(make_admin),
            groups: Set(groups),
            disabled: Set(false),
            created_at: Set(crate::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        identities::ActiveModel {
            user_id: Set(user.id),
            provider: Set(provider.to_owned()),
            subject: Set(claims.subject.clone()),
            created_at: Set(crate::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        tracing::info!(user = %user.username, provider, "user created on first login");
        user
    };
    super::groups::sync_oidc(&txn, user.id, &claims.groups).await?;
    txn.commit().await?;
    Ok(user)
}

/// The `~/.config/copr` block that points Copr's clients (copr-cli, the `copr` library) at this
/// server as `username` with API token `token`.
pub fn copr_config(kiln: &Kiln, username: &str, token: &str) -> String {
    let url = kiln.config.public_url();
    let mut out = format!(
        "[copr-cli]\nlogin = {username}\nusername = {username}\ntoken = {token}\ncopr_url = {url}\n"
    );
    if url.starts_with("http://") {
        // The clients refuse a plain-http server unless told.
        out.push_str("encrypted = False\n");
    }
    out
}

/// The caller's own notification choice: an e-mail when a build they submitted ends.
pub async fn set_notify_builds(
    kiln: &Kiln,
    principal: &Principal,
    on: bool,
) -> CoreResult<users::Model> {
    let me = principal.require_user()?;
    let row = users::Entity::find_by_id(me.id)
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::Unauthorized("the account no longer exists".into()))?;
    if on && row.email.as_deref().unwrap_or_default().is_empty() {
        return Err(CoreError::validation(
            "notify_builds",
            "your account has no e-mail address to write to",
        ));
    }
    let mut active: users::ActiveModel = row.into();
    active.notify_builds = sea_orm::Set(on);
    Ok(sea_orm::ActiveModelTrait::update(active, &kiln.db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_from_claims() {
        let c = |u: Option<&str>, e: Option<&str>, s: &str| OidcClaims {
            subject: s.into(),
            preferred_username: u.map(Into::into),
            email: e.map(Into::into),
            ..Default::default()
        };
        assert_eq!(username_base(&c(Some("alice"), None, "1")), "alice");
        assert_eq!(username_base(&c(Some("Jörg M"), None, "1")), "J-rg-M");
        assert_eq!(username_base(&c(None, Some("bob@x.org"), "1")), "bob");
        assert_eq!(username_base(&c(None, None, "_sub")), "sub");
        assert_eq!(username_base(&c(Some("---"), None, "1")), "user");
    }
}
