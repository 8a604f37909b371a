#![warn(missing_docs)]
//! Outbound HTTP to addresses users give (webhooks, source URLs, git clones, `SourceN`
//! downloads): only the allowed schemes, only public addresses (checked after DNS at every
//! connection, so a name that turns private later is still refused, and on every redirect),
//! and byte caps on what is read. The server checks a source when it is submitted; the agent
//! checks it again when it fetches.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Whether `ip` is a public unicast address: not loopback, private (RFC 1918, unique-local),
/// link-local (cloud metadata services), shared (100.64/10), reserved, benchmarking,
/// multicast or unspecified. (The documentation ranges count as public: nothing answers
/// there.)
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

/// Why a host may not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The addresses `host` resolves to, all of them public; else which one is not.
pub async fn public_addresses(host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Refused(format!("{host} does not resolve: {e}")))?
            .collect(),
    };
    match addrs.iter().find(|a| !is_public(a.ip())) {
        Some(a) => Err(Refused(format!(
            "{host} is not a public address ({})",
            a.ip()
        ))),
        None if addrs.is_empty() => Err(Refused(format!("{host} resolves to no address"))),
        None => Ok(addrs),
    }
}

/// A resolver for reqwest that connects only to public addresses, whatever DNS says at the
/// time of each connection.
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

/// `builder` made to connect only to public addresses, unless `allow_private`. (Host names
/// only: a URL whose host is an IP address is checked by [`Policy::check_url`].)
pub fn guard(builder: reqwest::ClientBuilder, allow_private: bool) -> reqwest::ClientBuilder {
    if allow_private {
        builder
    } else {
        builder.dns_resolver(std::sync::Arc::new(PublicOnly))
    }
}

/// Transports never allowed, whatever the site configures: local files and git's helpers
/// that run programs.
pub const NEVER: [&str; 3] = ["file", "ext", "fd"];

/// What a site lets its sources reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// URL schemes allowed (`https` by default; `http` and `git` where a site allows them).
    pub allowed_schemes: Vec<String>,
    /// Whether loopback, private and link-local addresses may be reached (tests, closed sites).
    pub allow_private_networks: bool,
}

impl Policy {
    /// The URL, if its scheme is allowed, it has a host, and that host, when it is an IP
    /// address, is public (or private networks are allowed). Names are checked when they are
    /// resolved ([`Policy::check_host`] or the client's resolver).
    pub fn check_url(&self, raw: &str) -> Result<url::Url, Refused> {
        let url = url::Url::parse(raw).map_err(|e| Refused(format!("{raw} is not a URL: {e}")))?;
        let scheme = url.scheme();
        if NEVER.contains(&scheme) || !self.allowed_schemes.iter().any(|s| s == scheme) {
            return Err(Refused(format!(
                "the scheme {scheme}: is not allowed (allowed: {})",
                self.allowed_schemes.join(", ")
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused(
                "credentials do not belong in the URL; store them with the repo".into(),
            ));
        }
        let Some(host) = url.host() else {
            return Err(Refused(format!("{raw} has no host")));
        };
        if !self.allow_private_networks {
            let ip = match host {
                url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
                url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
                url::Host::Domain(_) => None,
            };
            if let Some(ip) = ip.filter(|ip| !is_public(*ip)) {
                return Err(Refused(format!("{ip} is not a public address")));
            }
        }
        Ok(url)
    }

    /// The URL checked as [`Policy::check_url`] does, and its host resolved now: the addresses
    /// to connect to (all public unless private networks are allowed).
    pub async fn check_host(&self, raw: &str) -> Result<(url::Url, Vec<SocketAddr>), Refused> {
        let url = self.check_url(raw)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(match url.scheme() {
            "git" => 9418,
            "ssh" => 22,
            _ => 443,
        });
        let addrs = if self.allow_private_networks {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            match bare.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, port)],
                Err(_) => tokio::net::lookup_host((bare, port))
                    .await
                    .map_err(|e| Refused(format!("{host} does not resolve: {e}")))?
                    .collect(),
            }
        } else {
            public_addresses(&host, port).await?
        };
        if addrs.is_empty() {
            return Err(Refused(format!("{host} resolves to no address")));
        }
        Ok((url, addrs))
    }

    /// An HTTP client under this policy: the resolver refuses private addresses, every redirect
    /// (at most 10) is checked like the first URL, and each request times out after `timeout`.
    pub fn client(&self, timeout: Duration) -> reqwest::Client {
        let policy = self.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 10 {
                return attempt.error(Refused("more than 10 redirects".into()));
            }
            let to = attempt.url().to_string();
            match policy.check_url(&to) {
                Ok(_) => attempt.follow(),
                Err(e) => attempt.error(Refused(format!("a redirect to {to}: {e}"))),
            }
        });
        guard(reqwest::Client::builder(), self.allow_private_networks)
            .redirect(redirects)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default()
    }
}

/// What a download wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Downloads `url` with `client` to `dest`, reading at most `max_bytes` (the file is removed
/// when the body is larger, the status is not a success, or the transfer fails).
pub async fn download(
    client: &reqwest::Client,
    url: &str,
    max_bytes: u64,
    dest: &Path,
) -> Result<Downloaded, String> {
    let result = async {
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| describe(url, &e))?;
        if !resp.status().is_success() {
            return Err(format!("{url} answered {}", resp.status()));
        }
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Err(format!(
                "{url} is larger than the limit of {max_bytes} bytes"
            ));
        }
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| format!("writing {}: {e}", dest.display()))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| describe(url, &e))?;
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(format!(
                    "{url} is larger than the limit of {max_bytes} bytes"
                ));
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| format!("writing {}: {e}", dest.display()))?;
        }
        file.flush()
            .await
            .map_err(|e| format!("writing {}: {e}", dest.display()))?;
        Ok(Downloaded {
            sha256: hex::encode(hasher.finalize()),
            size,
        })
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(dest).await;
    }
    result
}

/// A reqwest error with its causes (the refusal of a redirect or an address is one of them).
pub fn describe(url: &str, e: &reqwest::Error) -> String {
    let mut out = format!("fetching {url} failed");
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    let mut last = String::new();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !last.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
            last = text;
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(schemes: &[&str], private: bool) -> Policy {
        Policy {
            allowed_schemes: schemes.iter().map(|s| s.to_string()).collect(),
            allow_private_networks: private,
        }
    }

    #[test]
    fn schemes_hosts_and_credentials_are_checked() {
        let p = policy(&["https"], false);
        assert!(p.check_url("https://example.org/x.src.rpm").is_ok());
        let refused = |u: &str| p.check_url(u).expect_err(u).0;
        assert!(refused("http://example.org/x").contains("scheme http: is not allowed"));
        assert!(refused("file:///etc/passwd").contains("scheme file:"));
        assert!(refused("https://127.0.0.1/x").contains("127.0.0.1 is not a public"));
        assert!(refused("https://[::1]/x").contains("::1 is not a public"));
        assert!(refused("https://169.254.169.254/latest").contains("not a public"));
        assert!(refused("https://10.1.2.3/x").contains("not a public"));
        assert!(refused("https://u:p@example.org/x").contains("credentials"));
        assert!(refused("not a url").contains("is not a URL"));
        // file: and ext: stay refused even when a site lists them.
        let lax = policy(&["https", "file", "ext"], true);
        assert!(lax.check_url("file:///etc/passwd").is_err());
        assert!(lax.check_url("ext::sh -c id").is_err());
        assert!(lax.check_url("https://127.0.0.1/x").is_ok());
    }

    #[tokio::test]
    async fn names_are_checked_after_dns() {
        let p = policy(&["https", "git"], false);
        let e = p
            .check_host("https://localhost/x")
            .await
            .expect_err("loopback");
        assert!(e.0.contains("not a public address"), "{e}");
        let lax = policy(&["https", "git"], true);
        let (_, addrs) = lax.check_host("git://localhost/x").await.expect("allowed");
        assert!(addrs
            .iter()
            .all(|a| a.port() == 9418 && a.ip().is_loopback()));
    }

    /// A one-shot HTTP server answering every request with `response`; its base URL.
    async fn answer(response: Vec<u8>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(&response).await;
                let _ = sock.shutdown().await;
            }
        });
        format!("http://{addr}")
    }

    /// Every redirect is checked like the first URL: one to a loopback address or to a
    /// scheme the site does not allow is refused, and nothing is left on disk.
    #[tokio::test]
    async fn redirects_are_checked_and_refused_downloads_leave_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let dest = dir.path().join("x.src.rpm");
        let strict = policy(&["http", "https"], false);
        for (location, why) in [
            (
                "http://127.0.0.1:9/x.src.rpm",
                "127.0.0.1 is not a public address",
            ),
            ("http://[::1]/x.src.rpm", "::1 is not a public address"),
            ("ftp://example.org/x.src.rpm", "scheme ftp: is not allowed"),
        ] {
            let base = answer(
                format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
                    .into_bytes(),
            )
            .await;
            // The first hop (a loopback test server) is taken as given: callers check it.
            let e = download(
                &strict.client(Duration::from_secs(5)),
                &format!("{base}/x"),
                1 << 20,
                &dest,
            )
            .await
            .expect_err(location);
            assert!(e.contains(why), "{location}: {e}");
            assert!(!dest.exists());
        }
        // A body past the cap: refused, the partial file removed.
        let lax = policy(&["http"], true);
        let mut big = b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', 4096));
        let base = answer(big).await;
        let e = download(
            &lax.client(Duration::from_secs(5)),
            &format!("{base}/big"),
            1000,
            &dest,
        )
        .await
        .expect_err("too big");
        assert!(e.contains("larger than the limit of 1000 bytes"), "{e}");
        assert!(!dest.exists());
        // Without a length header, the cap is counted while reading.
        let mut chunked = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        chunked.extend(std::iter::repeat_n(b'y', 4096));
        let base = answer(chunked).await;
        let e = download(
            &lax.client(Duration::from_secs(5)),
            &format!("{base}/stream"),
            1000,
            &dest,
        )
        .await
        .expect_err("too big");
        assert!(e.contains("larger than the limit"), "{e}");
        assert!(!dest.exists());
        // Within the cap: written, with its SHA-256.
        let base = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec()).await;
        let got = download(
            &lax.client(Duration::from_secs(5)),
            &format!("{base}/ok"),
            1000,
            &dest,
        )
        .await
        .expect("download");
        assert_eq!(got.size, 5);
        assert_eq!(
            got.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(std::fs::read(&dest).expect("read"), b"hello");
    }

    #[test]
    fn special_ranges_are_not_public() {
        for ip in [
            "0.0.0.0",
            "100.64.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["1.1.1.1", "2606:4700::1111", "151.101.1.1"] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }
}
