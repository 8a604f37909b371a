//! Outbound HTTP to addresses users give (webhooks, source URLs, git clones): only allowed
//! schemes and public addresses, checked after DNS at every connection and on every redirect,
//! unless the site allows private networks. The rules live in the `kiln-outbound` crate, which
//! the agent shares, so that the server's check at submission and the agent's at fetch time
//! are the same.

pub use kiln_outbound::{guard, is_public, public_addresses, Policy, PublicOnly, Refused};

use crate::Kiln;

/// The site's policy for sources (`[sources]`).
pub fn source_policy(kiln: &Kiln) -> Policy {
    Policy {
        allowed_schemes: kiln.config.sources.allowed_schemes.clone(),
        allow_private_networks: kiln.config.sources.allow_private_networks,
    }
}

/// What an agent's SRPM step may reach and read, from `[sources]` and `[builds]`.
pub fn fetch_limits(kiln: &Kiln) -> kiln_proto::agent::FetchLimits {
    let s = &kiln.config.sources;
    kiln_proto::agent::FetchLimits {
        allowed_schemes: s.allowed_schemes.clone(),
        allow_private_networks: s.allow_private_networks,
        max_download_bytes: s.max_download_mib.saturating_mul(1024 * 1024),
        max_clone_bytes: s.max_clone_mib.saturating_mul(1024 * 1024),
        max_srpm_bytes: kiln.config.builds.max_srpm_size,
        step_timeout_seconds: s.step_timeout_seconds,
        make_srpm_on_host: s.make_srpm_on_host,
    }
}
