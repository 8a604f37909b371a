//! The read tokens this server has checked (`services::read_tokens` fills it; the repo lookup
//! in `services::access` checks a remembered token again when its repo's revision has moved).
//! Outside the services so that the lookup, which every service builds on, imports none.

use sea_orm::{ConnectionTrait, EntityTrait};

use crate::entities::read_tokens;
use crate::error::CoreResult;
use crate::policy::ReadTokenPrincipal;

/// Read tokens this server has checked, by the SHA-256 of their secret, so that a download
/// costs no query of its own: an entry holds the token's repo, expiry (checked at each use) and
/// the repo's `read_token_revision` when it was checked. Revoking a token moves the repo's
/// revision in the same transaction; the repo row, read by every download anyway, then tells
/// every server (this one forgets the token at once) to check its remembered tokens again.
#[derive(Default)]
pub struct Remembered {
    tokens: std::sync::Mutex<std::collections::HashMap<String, Checked>>,
}

#[derive(Clone)]
pub(crate) struct Checked {
    pub(crate) principal: ReadTokenPrincipal,
    pub(crate) expires_at: Option<time::OffsetDateTime>,
    /// When its use was last written to the database.
    pub(crate) recorded: Option<time::OffsetDateTime>,
}

/// The most tokens remembered; past it the memory starts again (tokens are checked anew).
const REMEMBER_AT_MOST: usize = 10_000;

impl Remembered {
    pub(crate) fn get(&self, hash: &str) -> Option<Checked> {
        self.tokens.lock().ok()?.get(hash).cloned()
    }

    pub(crate) fn put(&self, hash: String, checked: Checked) {
        if let Ok(mut m) = self.tokens.lock() {
            if m.len() >= REMEMBER_AT_MOST {
                m.clear();
            }
            m.insert(hash, checked);
        }
    }

    pub(crate) fn forget(&self, id: i32) {
        if let Ok(mut m) = self.tokens.lock() {
            m.retain(|_, c| c.principal.id != id);
        }
    }

    pub(crate) fn recorded(&self, hash: &str, at: time::OffsetDateTime) {
        if let Some(c) = self
            .tokens
            .lock()
            .ok()
            .as_mut()
            .and_then(|m| m.get_mut(hash))
        {
            c.recorded = Some(at);
        }
    }
}

/// `principal` (a read token of `repo` remembered at an older revision of the repo's tokens)
/// checked again in the database: the same principal at the new revision if it is still
/// valid, else `None` (it was revoked or has expired).
pub async fn recheck(
    db: &impl ConnectionTrait,
    remembered: Option<&Remembered>,
    principal: &ReadTokenPrincipal,
    revision: i32,
) -> CoreResult<Option<ReadTokenPrincipal>> {
    let row = read_tokens::Entity::find_by_id(principal.id)
        .one(db)
        .await?
        .filter(|r| {
            crate::secret::still_valid("read token", r.revoked_at, r.expires_at, crate::now())
                .is_ok()
        });
    let Some(row) = row else {
        if let Some(m) = remembered {
            m.forget(principal.id);
        }
        return Ok(None);
    };
    let fresh = ReadTokenPrincipal {
        revision,
        ..principal.clone()
    };
    if let Some(m) = remembered {
        m.put(
            row.token_hash,
            Checked {
                principal: fresh.clone(),
                expires_at: row.expires_at,
                recorded: row.last_used_at,
            },
        );
    }
    Ok(Some(fresh))
}
