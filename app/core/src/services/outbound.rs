//! Outbound HTTP to addresses users give (webhooks now; source URLs and git clones later):
//! only public addresses, checked after DNS at every connection (DNS rebinding), unless the
//! site allows private networks.

use std::net::{IpAddr, SocketAddr};

/// Whether a webhook may reach `ip`: a public unicast address, not loopback, private (RFC
/// 1918, unique-local), link-local (cloud metadata services), shared (100.64/10), reserved,
/// multicast or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                !(v6.is_unspecified()
                    || v6.is_loopback()
                    || v6.is_multicast()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local())
            }
        },
    }
}

/// The addresses `host` resolves to, all of them public; else why not.
pub async fn public_addresses(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("{host} does not resolve: {e}"))?
            .collect(),
    };
    match addrs.iter().find(|a| !is_public(a.ip())) {
        Some(a) => Err(format!(
            "{host} is not a public address ({}); a site admin can allow such webhooks with \
             events.webhooks_to_private_addresses",
            a.ip()
        )),
        None if addrs.is_empty() => Err(format!("{host} resolves to no address")),
        None => Ok(addrs),
    }
}

/// A resolver for reqwest that connects only to public addresses, whatever DNS says at the time (a name
/// that resolved to a public address when the webhook was made may not any more).
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = public_addresses(&host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `builder` made to connect only to public addresses, unless `allow_private`.
pub fn guard(builder: reqwest::ClientBuilder, allow_private: bool) -> reqwest::ClientBuilder {
    if allow_private {
        builder
    } else {
        builder.dns_resolver(std::sync::Arc::new(PublicOnly))
    }
}
