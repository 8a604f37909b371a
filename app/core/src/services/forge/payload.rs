//! What a forge's hook request says: which forge sent it, whether its signature holds under
//! the repo's secret, and the push it describes (GitHub, Gitea and Forgejo share GitHub's
//! payload; GitLab has its own). Pure functions, tested against each forge's documented
//! payloads.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The forges whose hooks Kiln understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    /// `X-Hub-Signature-256: sha256=HEX`, `X-GitHub-Event`, `X-GitHub-Delivery`.
    GitHub,
    /// `X-Gitea-Signature: HEX`, `X-Gitea-Event`, `X-Gitea-Delivery`.
    Gitea,
    /// `X-Forgejo-Signature: HEX`, `X-Forgejo-Event`, `X-Forgejo-Delivery`.
    Forgejo,
    /// `X-Gitlab-Token: SECRET`, `X-Gitlab-Event`, `Idempotency-Key` / `X-Gitlab-Event-UUID`.
    GitLab,
}

impl Forge {
    /// Its name in the delivery log.
    pub fn as_str(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::Gitea => "gitea",
            Forge::Forgejo => "forgejo",
            Forge::GitLab => "gitlab",
        }
    }
}

/// Why a request is not a delivery the repo's secret vouches for.
#[derive(Debug, PartialEq)]
pub struct Refused(pub String);

/// A request's headers, names lowercased.
pub type Headers = BTreeMap<String, String>;

/// The forge that sent the request, judged by its signature header (Gitea and Forgejo also
/// send GitHub's headers; their own come first).
pub fn forge_of(headers: &Headers) -> Result<Forge, Refused> {
    let has = |h: &str| headers.contains_key(h);
    if has("x-forgejo-signature") {
        Ok(Forge::Forgejo)
    } else if has("x-gitea-signature") {
        Ok(Forge::Gitea)
    } else if has("x-gitlab-token") {
        Ok(Forge::GitLab)
    } else if has("x-hub-signature-256") {
        Ok(Forge::GitHub)
    } else {
        Err(Refused(
            "the request is not signed: send X-Hub-Signature-256 (GitHub), X-Gitea-Signature, \
             X-Forgejo-Signature or X-Gitlab-Token with the repo's forge secret"
                .into(),
        ))
    }
}

/// Checks the request's signature (HMAC-SHA256 of the body, or GitLab's token) against
/// `secret`, in constant time.
pub fn verify(forge: Forge, headers: &Headers, body: &[u8], secret: &str) -> Result<(), Refused> {
    let bad = || {
        Refused(format!(
            "the {} signature does not match the repo's forge secret",
            forge.as_str()
        ))
    };
    let header = |h: &str| headers.get(h).map(String::as_str).unwrap_or_default();
    let hex_mac = match forge {
        Forge::GitLab => {
            let token = header("x-gitlab-token");
            return if bool::from(token.as_bytes().ct_eq(secret.as_bytes())) {
                Ok(())
            } else {
                Err(bad())
            };
        }
        Forge::GitHub => header("x-hub-signature-256")
            .strip_prefix("sha256=")
            .ok_or_else(bad)?,
        Forge::Gitea => header("x-gitea-signature"),
        Forge::Forgejo => header("x-forgejo-signature"),
    };
    let given = hex::decode(hex_mac.trim()).map_err(|_| bad())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| bad())
}

/// The event's name as the forge sends it (`push`, `ping`, `Push Hook` …).
pub fn event_name(forge: Forge, headers: &Headers) -> String {
    let h = match forge {
        Forge::GitHub => "x-github-event",
        Forge::Gitea => "x-gitea-event",
        Forge::Forgejo => "x-forgejo-event",
        Forge::GitLab => "x-gitlab-event",
    };
    headers.get(h).cloned().unwrap_or_default()
}

/// The forge's id of this delivery, the same when it redelivers; `None` when it sent none.
pub fn delivery_id(forge: Forge, headers: &Headers) -> Option<String> {
    let names: &[&str] = match forge {
        Forge::GitHub => &["x-github-delivery"],
        Forge::Gitea => &["x-gitea-delivery"],
        Forge::Forgejo => &["x-forgejo-delivery"],
        // Kept across GitLab's retries since 17.4; before that, one UUID per event.
        Forge::GitLab => &["idempotency-key", "x-gitlab-event-uuid"],
    };
    names
        .iter()
        .find_map(|h| headers.get(*h))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The payload as JSON: the body itself, or (GitHub's and Gitea's
/// `application/x-www-form-urlencoded` content type) its `payload` field. The signature covers
/// the body as sent either way.
pub fn body_json(headers: &Headers, body: &[u8]) -> Result<Value, String> {
    let form = headers
        .get("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form {
        let payload = url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.into_owned())
            .ok_or("a form-encoded delivery has no payload field")?;
        return serde_json::from_str(&payload).map_err(|e| format!("payload is not JSON: {e}"));
    }
    serde_json::from_slice(body).map_err(|e| format!("is not JSON: {e}"))
}

/// A push, as Kiln needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// `refs/heads/BRANCH` or `refs/tags/TAG`.
    pub git_ref: String,
    /// The commit the ref points at now (40 hex digits); all zeros when it was deleted.
    pub after: String,
    /// The URLs the payload gives for the repository (clone, SSH, web).
    pub urls: Vec<String>,
    /// The repository's default branch, when the payload says.
    pub default_branch: Option<String>,
    /// Every file the pushed commits added, changed or removed; `None` when the payload does
    /// not list them all (then every package counts as changed).
    pub changed: Option<Vec<String>>,
}

impl Push {
    /// The branch pushed to, if a branch was.
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/heads/")
    }
    /// The tag pushed, if a tag was.
    pub fn tag(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/tags/")
    }
    /// Whether the push deleted the ref.
    pub fn deleted(&self) -> bool {
        self.after.is_empty() || self.after.bytes().all(|b| b == b'0')
    }
    /// The clone URL to show in the log.
    pub fn clone_url(&self) -> &str {
        self.urls.first().map(String::as_str).unwrap_or_default()
    }
    /// Whether the push changed anything under `subdir` of the tree.
    pub fn touches(&self, subdir: &str) -> bool {
        let dir = subdir.trim_start_matches("./").trim_matches('/');
        match &self.changed {
            None => true,
            Some(_) if dir.is_empty() => true,
            Some(files) => files.iter().any(|f| {
                f.strip_prefix(dir)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }),
        }
    }
}

/// The push the payload describes; `Err` naming what is missing when it is not one.
pub fn push(forge: Forge, v: &Value) -> Result<Push, String> {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let git_ref = s(&v["ref"]).ok_or("the payload has no \"ref\"")?;
    let after = s(&v["after"]).unwrap_or_default();
    let (repo, url_keys, total): (&Value, &[&str], Option<u64>) = match forge {
        Forge::GitLab => (
            &v["project"],
            &[
                "git_http_url",
                "git_ssh_url",
                "web_url",
                "http_url",
                "ssh_url",
            ],
            v["total_commits_count"].as_u64(),
        ),
        Forge::GitHub | Forge::Gitea | Forge::Forgejo => (
            &v["repository"],
            &["clone_url", "ssh_url", "html_url", "git_url", "url"],
            v["total_commits"].as_u64(),
        ),
    };
    let mut urls: Vec<String> = url_keys.iter().filter_map(|k| s(&repo[*k])).collect();
    if forge == Forge::GitLab {
        // Older GitLab payloads put the URLs under "repository".
        let r = &v["repository"];
        urls.extend(
            ["git_http_url", "git_ssh_url", "homepage", "url"]
                .iter()
                .filter_map(|k| s(&r[*k])),
        );
    }
    if urls.is_empty() {
        return Err("the payload names no repository URL".into());
    }
    let commits = v["commits"].as_array();
    let changed = match commits {
        Some(list) if !list.is_empty() && total.is_none_or(|t| t as usize <= list.len()) => {
            let mut files = Vec::new();
            for c in list {
                for key in ["added", "modified", "removed"] {
                    files.extend(c[key].as_array().into_iter().flatten().filter_map(&s));
                }
            }
            Some(files)
        }
        // No list, an empty one (a new branch at an old commit) or a truncated one.
        _ => None,
    };
    Ok(Push {
        git_ref,
        after,
        urls,
        default_branch: s(&repo["default_branch"]),
        changed,
    })
}

/// A clone URL reduced to what identifies the repository: `host/path`, lowercase, without
/// scheme, credentials, port, trailing `/` or `.git`. `https://Git.Example.org/A/B.git`,
/// `git@git.example.org:a/b` and `ssh://git@git.example.org:2222/a/b/` all give
/// `git.example.org/a/b`.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    let (host, path) = match url::Url::parse(url) {
        Ok(u) if u.host_str().is_some() => (
            u.host_str().unwrap_or_default().to_owned(),
            u.path().to_owned(),
        ),
        _ => match url.split_once(':') {
            // scp-like: [user@]host:path
            Some((left, path)) if !url.contains("://") => {
                let host = left.rsplit_once('@').map(|(_, h)| h).unwrap_or(left);
                (host.to_owned(), path.to_owned())
            }
            _ => (String::new(), url.to_owned()),
        },
    };
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    format!(
        "{}/{}",
        host.trim_start_matches('[').trim_end_matches(']'),
        path
    )
    .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_lowercase(), (*v).to_owned()))
            .collect()
    }

    fn hmac_hex(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn signatures_of_each_forge_hold_only_under_the_secret() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let sig = hmac_hex("s3cret", body);
        let cases = [
            (
                headers(&[("X-Hub-Signature-256", &format!("sha256={sig}"))]),
                Forge::GitHub,
            ),
            // Gitea also sends GitHub's header; its own decides.
            (
                headers(&[
                    ("X-Gitea-Signature", &sig),
                    ("X-Hub-Signature-256", "sha256=00"),
                ]),
                Forge::Gitea,
            ),
            (
                headers(&[("X-Forgejo-Signature", &sig), ("X-Gitea-Signature", &sig)]),
                Forge::Forgejo,
            ),
            (headers(&[("X-Gitlab-Token", "s3cret")]), Forge::GitLab),
        ];
        for (h, forge) in cases {
            assert_eq!(forge_of(&h), Ok(forge));
            assert_eq!(verify(forge, &h, body, "s3cret"), Ok(()), "{forge:?}");
            assert!(verify(forge, &h, body, "other").is_err(), "{forge:?}");
            if forge != Forge::GitLab {
                assert!(verify(forge, &h, b"{\"ref\":\"refs/heads/evil\"}", "s3cret").is_err());
            }
        }
        let bad = headers(&[("X-Hub-Signature-256", &sig)]);
        assert!(
            verify(Forge::GitHub, &bad, body, "s3cret").is_err(),
            "no sha256= prefix"
        );
        let bad = headers(&[("X-Gitea-Signature", "zz")]);
        assert!(
            verify(Forge::Gitea, &bad, body, "s3cret").is_err(),
            "not hex"
        );
        assert!(forge_of(&headers(&[("X-GitHub-Event", "push")])).is_err());
        assert!(verify(
            Forge::GitLab,
            &headers(&[("X-Gitlab-Token", "s3cre")]),
            body,
            "s3cret"
        )
        .is_err());
    }

    #[test]
    fn payloads_come_as_json_or_as_a_form_field() {
        let json = headers(&[("Content-Type", "application/json")]);
        assert_eq!(
            body_json(&json, br#"{"ref":"x"}"#),
            Ok(serde_json::json!({"ref": "x"}))
        );
        let form = headers(&[("Content-Type", "application/x-www-form-urlencoded")]);
        let body = b"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D";
        assert_eq!(
            body_json(&form, body),
            Ok(serde_json::json!({"ref": "refs/heads/main"}))
        );
        assert!(body_json(&form, b"other=1").is_err());
        assert!(body_json(&json, b"not json").is_err());
    }

    #[test]
    fn delivery_ids_and_events() {
        let h = headers(&[
            ("X-GitHub-Delivery", "72d3162e"),
            ("X-GitHub-Event", "push"),
        ]);
        assert_eq!(delivery_id(Forge::GitHub, &h).as_deref(), Some("72d3162e"));
        assert_eq!(event_name(Forge::GitHub, &h), "push");
        let h = headers(&[("Idempotency-Key", "k1"), ("X-Gitlab-Event-UUID", "u1")]);
        assert_eq!(delivery_id(Forge::GitLab, &h).as_deref(), Some("k1"));
        let h = headers(&[("X-Gitlab-Event-UUID", "u1")]);
        assert_eq!(delivery_id(Forge::GitLab, &h).as_deref(), Some("u1"));
        assert_eq!(delivery_id(Forge::Gitea, &headers(&[])), None);
    }

    #[test]
    fn pushes_from_github_and_gitlab() {
        let gh = serde_json::json!({
            "ref": "refs/heads/main", "before": "0".repeat(40), "after": "a".repeat(40),
            "repository": {"clone_url": "https://github.com/o/r.git", "ssh_url": "git@github.com:o/r.git",
                           "html_url": "https://github.com/o/r", "default_branch": "main"},
            "commits": [{"added": ["pkg/a/a.spec"], "modified": ["README"], "removed": []},
                        {"added": [], "modified": [], "removed": ["pkg/b/old.patch"]}]
        });
        let p = push(Forge::GitHub, &gh).expect("a push");
        assert_eq!(p.branch(), Some("main"));
        assert_eq!(p.clone_url(), "https://github.com/o/r.git");
        assert_eq!(p.default_branch.as_deref(), Some("main"));
        assert!(p.touches("pkg/a") && p.touches("pkg/b/") && p.touches("") && p.touches("./pkg"));
        assert!(!p.touches("pkg/c") && !p.touches("pkg/a2"));
        assert!(!p.deleted());

        let gl = serde_json::json!({
            "object_kind": "tag_push", "ref": "refs/tags/v1.0", "after": "b".repeat(40),
            "total_commits_count": 3,
            "commits": [{"added": [], "modified": ["x/y"], "removed": []}],
            "project": {"git_http_url": "https://gitlab.example.org/g/r.git",
                        "git_ssh_url": "git@gitlab.example.org:g/r.git", "default_branch": "master"}
        });
        let p = push(Forge::GitLab, &gl).expect("a push");
        assert_eq!(p.tag(), Some("v1.0"));
        assert_eq!(
            p.changed, None,
            "3 commits, 1 listed: every package counts as changed"
        );
        assert!(p.touches("anything"));

        let deleted = serde_json::json!({"ref": "refs/heads/x", "after": "0".repeat(40),
            "repository": {"clone_url": "https://h/o/r"}, "commits": []});
        assert!(push(Forge::Gitea, &deleted).expect("a push").deleted());
        assert!(push(Forge::GitHub, &serde_json::json!({"zen": "ping"})).is_err());
        assert!(push(Forge::GitHub, &serde_json::json!({"ref": "refs/heads/x"})).is_err());
    }

    #[test]
    fn clone_urls_normalize_to_host_and_path() {
        for u in [
            "https://Git.Example.org/A/B.git",
            "https://git.example.org/a/b/",
            "http://user:pw@git.example.org:3000/a/b",
            "git@git.example.org:a/b.git",
            "ssh://git@git.example.org:2222/a/b",
            "git://git.example.org/a/b.git",
        ] {
            assert_eq!(normalize_url(u), "git.example.org/a/b", "{u}");
        }
        assert_ne!(
            normalize_url("https://git.example.org/a/bc"),
            "git.example.org/a/b"
        );
        assert_ne!(
            normalize_url("https://other.example.org/a/b"),
            "git.example.org/a/b"
        );
    }
}
