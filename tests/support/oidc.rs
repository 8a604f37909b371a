//! The test OpenID provider (npm `oidc-provider`, `tests/oidc/provider.js`, installed by
//! `tests/run`) as a real process, and a Kiln server that signs in through it.

use std::process::Stdio;
use std::time::Duration;

use kiln_core::config::OidcProviderConfig;
use kiln_core::secret::Secret;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{in_ci, repo_root, TestApp};

pub struct ProviderProcess {
    pub issuer: String,
    child: tokio::process::Child,
    /// The users' groups claims (`set_groups`), read by the provider at each sign-in.
    groups: tempfile::NamedTempFile,
}

impl ProviderProcess {
    /// From now on the provider says `sub` is in `groups` (the groups claim).
    pub fn set_groups(&self, sub: &str, groups: &[&str]) {
        let mut all: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(self.groups.path()).unwrap_or_default())
                .unwrap_or_default();
        all.insert(sub.to_owned(), serde_json::json!(groups));
        std::fs::write(
            self.groups.path(),
            serde_json::Value::Object(all).to_string(),
        )
        .expect("groups file");
    }
}

impl Drop for ProviderProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts the provider, or returns `None` (outside CI) when its npm packages are not installed.
pub async fn start_provider(port: u16, redirect_uri: &str) -> Option<ProviderProcess> {
    let dir = repo_root().join("tests/oidc");
    if !dir.join("node_modules/oidc-provider").exists() {
        if in_ci() {
            panic!("tests/oidc/node_modules is missing: tests/run installs it with npm ci");
        }
        eprintln!("NOTICE: skipping OIDC tests: run `npm ci` in tests/oidc (tests/run does)");
        return None;
    }
    let groups = tempfile::NamedTempFile::new().expect("groups file");
    let mut child = tokio::process::Command::new("node")
        .arg("provider.js")
        .current_dir(&dir)
        .env("GROUPS_FILE", groups.path())
        .env("PORT", port.to_string())
        .env("REDIRECT_URI", redirect_uri)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("READY") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready.ok(), Some(true), "the OIDC provider did not start");
    // Keep reading: the provider logs notices, and a closed pipe would kill it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(ProviderProcess {
        issuer: format!("http://127.0.0.1:{port}"),
        child,
        groups,
    })
}

/// A Kiln server with the provider configured as `test` ("Test SSO"); members of its
/// `kiln-admins` group become site admins. `edit` adjusts the configuration further.
pub async fn app_with_provider(
    edit: impl FnOnce(&mut kiln_core::Config),
) -> Option<(TestApp, ProviderProcess)> {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let app = TestApp::with_config(|c| {
        c.auth.oidc = vec![OidcProviderConfig {
            id: "test".into(),
            display_name: "Test SSO".into(),
            issuer: issuer.clone(),
            client_id: "kiln".into(),
            client_secret: Some(Secret::new("kiln-test-secret")),
            site_admin_group: Some("kiln-admins".into()),
            ..Default::default()
        }];
        edit(c);
    })
    .await?;
    let provider = start_provider(port, &app.url("/auth/oidc/test/callback")).await?;
    assert_eq!(provider.issuer, issuer);
    Some((app, provider))
}
