//! Secret values (tokens, passwords, keys) whose `Debug` and `Display` never print them, and the
//! random tokens Kiln hands out: a recognisable prefix plus 32 random bytes, stored as SHA-256.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A secret string: `Debug` prints `[redacted]`; it serializes as the plain string.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Personal API tokens.
pub const PAT_PREFIX: &str = "kiln_pat_";
/// Repos' read (download) tokens.
pub const READ_TOKEN_PREFIX: &str = "kiln_rt_";
/// Builder agent registration tokens.
pub const AGENT_REGISTRATION_PREFIX: &str = "kiln_reg_";
/// A registered agent's own credential.
pub const AGENT_PREFIX: &str = "kiln_agent_";

/// A new random token with `prefix`, URL-safe base64 of 32 random bytes.
pub fn new_token(prefix: &str) -> Secret {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    Secret(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// What `seal` writes before its base64.
const SEALED_PREFIX: &str = "enc1:";

/// The AES-256-GCM key for secrets Kiln must read back (webhook secrets), derived from the
/// server key with HKDF-SHA256.
fn sealing_key(server_key: &Secret) -> aws_lc_rs::aead::LessSafeKey {
    use aws_lc_rs::{aead, hkdf};
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"kiln secrets at rest")
        .extract(server_key.expose().as_bytes());
    let mut key = [0u8; 32];
    prk.expand(&[b"aes-256-gcm v1"], hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut key))
        .expect("32 bytes is a valid HKDF-SHA256 length");
    aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, &key).expect("a 32-byte AES-256 key"),
    )
}

/// Encrypts a secret for the database (`enc1:` and base64 of nonce, ciphertext and tag), under
/// a key derived from the server key.
pub fn seal(server_key: &Secret, plain: &str) -> String {
    use aws_lc_rs::aead::{Aad, Nonce, NONCE_LEN};
    use base64::Engine;
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    let mut data = plain.as_bytes().to_vec();
    sealing_key(server_key)
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .expect("AES-GCM sealing of a short secret");
    let mut out = nonce.to_vec();
    out.extend(data);
    format!(
        "{SEALED_PREFIX}{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
    )
}

/// Decrypts what `seal` wrote; a value written before secrets were sealed is returned as it
/// is. `None` when it cannot be opened (another server key).
pub fn unseal(server_key: &Secret, stored: &str) -> Option<Secret> {
    use aws_lc_rs::aead::{Aad, Nonce, NONCE_LEN};
    use base64::Engine;
    let Some(b64) = stored.strip_prefix(SEALED_PREFIX) else {
        return Some(Secret::new(stored));
    };
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(b64)
        .ok()?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (nonce, data) = raw.split_at(NONCE_LEN);
    let mut data = data.to_vec();
    let plain = sealing_key(server_key)
        .open_in_place(
            Nonce::try_assume_unique_for_key(nonce).ok()?,
            Aad::empty(),
            &mut data,
        )
        .ok()?;
    String::from_utf8(plain.to_vec()).ok().map(Secret::new)
}

/// Whether a stored value is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// The hex SHA-256 of a token: what the database keeps. Tokens are high-entropy, so a slow hash
/// would buy nothing.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The part of a token shown in lists so its owner can recognise it.
pub fn token_display_prefix(token: &str) -> String {
    token.chars().take(PAT_PREFIX.len() + 4).collect()
}

/// Refuses a token (`what`: "API token", "read token") that is revoked or expired, saying which.
pub fn still_valid(
    what: &str,
    revoked_at: Option<time::OffsetDateTime>,
    expires_at: Option<time::OffsetDateTime>,
    now: time::OffsetDateTime,
) -> crate::error::CoreResult<()> {
    if revoked_at.is_some() {
        return Err(crate::error::CoreError::Unauthorized(format!(
            "the {what} has been revoked"
        )));
    }
    if expires_at.is_some_and(|e| e <= now) {
        return Err(crate::error::CoreError::Unauthorized(format!(
            "the {what} has expired"
        )));
    }
    Ok(())
}

/// Whether a token used `now` should have its last use written: at most once a minute, so
/// that reads stay reads.
pub fn use_to_record(
    last_used_at: Option<time::OffsetDateTime>,
    now: time::OffsetDateTime,
) -> bool {
    last_used_at.is_none_or(|t| now - t > time::Duration::minutes(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_redacted() {
        let a = new_token(PAT_PREFIX);
        let b = new_token(PAT_PREFIX);
        assert_ne!(a, b);
        assert!(a.expose().starts_with(PAT_PREFIX));
        assert_eq!(a.expose().len(), PAT_PREFIX.len() + 43);
        assert_eq!(format!("{a:?}"), "[redacted]");
        assert_eq!(hash_token(a.expose()).len(), 64);
        assert_ne!(hash_token(a.expose()), hash_token(b.expose()));
    }

    #[test]
    fn sealed_secrets_open_only_with_their_server_key() {
        let key = Secret::new("a server key of some length");
        let secret = new_token("whsec_");
        let a = seal(&key, secret.expose());
        let b = seal(&key, secret.expose());
        assert!(is_sealed(&a) && a.len() <= 128, "{a}");
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!a.contains(secret.expose()));
        assert_eq!(unseal(&key, &a), Some(secret.clone()));
        assert_eq!(unseal(&key, &b), Some(secret.clone()));
        assert_eq!(unseal(&Secret::new("another server key!!"), &a), None);
        let mut tampered = a.clone();
        tampered.replace_range(10..11, if &a[10..11] == "A" { "B" } else { "A" });
        assert_eq!(unseal(&key, &tampered), None);
        // Stored before sealing: read as it is.
        assert_eq!(unseal(&key, "whsec_old"), Some(Secret::new("whsec_old")));
    }
}
