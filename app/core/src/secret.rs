//! Secret values (tokens, passwords, keys) whose `Debug` and `Display` never print them, and the
//! random tokens Kiln hands out: a recognisable prefix plus 32 random bytes, stored as SHA-256.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
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

/// The hex SHA-256 of a token: what the database keeps. Tokens are high-entropy, so a slow hash
/// would buy nothing.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The part of a token shown in lists so its owner can recognise it.
pub fn token_display_prefix(token: &str) -> String {
    token.chars().take(PAT_PREFIX.len() + 4).collect()
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
}
