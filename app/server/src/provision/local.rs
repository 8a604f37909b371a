//! The `local` provider: `kiln-agent` processes beside the server.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;

use kiln_core::config::PoolConfig;
use kiln_core::entities::builders as rows;
use kiln_core::services::provision::{AllocateRequest, Presence, Provider};

/// `kiln-agent` processes on this machine, children of this server (they stop with it). The
/// provider id is `PID@HOST`, so that a later server process on this host can tell whether a
/// builder still runs (another server's child) or ended with its server (it is started again
/// from its work directory, where the agent keeps its credential).
pub(super) struct LocalProvider {
    binary: PathBuf,
    work_root: PathBuf,
    backend: Option<String>,
    capacity: u32,
    /// Where the agents reach Kiln.
    server: String,
    host: String,
    children: tokio::sync::Mutex<HashMap<String, tokio::process::Child>>,
    /// When each builder was last started again, to give up on one that keeps ending.
    restarts: std::sync::Mutex<HashMap<String, Vec<std::time::Instant>>>,
}

/// The kernel's host name (no library call needed on Linux).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether process `pid` is the agent of builder `name` (a reused pid is not).
fn runs_agent(pid: u32, name: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true);
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    !zombie
        && args
            .windows(2)
            .any(|w| w[0] == b"--name" && w[1] == name.as_bytes())
}

impl LocalProvider {
    /// Agents started from `binary`, each working under `work_root`, with the pool's backend
    /// and capacity, reaching Kiln at `server`.
    pub(super) fn new(
        binary: PathBuf,
        work_root: PathBuf,
        pool: &PoolConfig,
        server: String,
    ) -> LocalProvider {
        LocalProvider {
            binary,
            work_root,
            backend: pool.backend.clone(),
            capacity: pool.capacity,
            server,
            host: host_name(),
            children: Default::default(),
            restarts: Default::default(),
        }
    }

    /// The agent's command line; a build of x86_64 also takes i686 work, as on any x86_64
    /// host.
    fn spawn(
        &self,
        name: &str,
        arch: &str,
        capacity: u32,
        server: &str,
        token: Option<&str>,
    ) -> anyhow::Result<tokio::process::Child> {
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.arg("--server")
            .arg(server)
            .arg("--name")
            .arg(name)
            .arg("--arch")
            .arg(arch);
        if arch == "x86_64" {
            cmd.arg("--arch").arg("i686");
        }
        cmd.arg("--capacity")
            .arg(capacity.to_string())
            .arg("--work-dir")
            .arg(self.work_root.join(name))
            .arg("--exit-with-stdin")
            // The agent stops when this pipe closes, that is when the server exits, however
            // it exits.
            .stdin(Stdio::piped())
            .kill_on_drop(true);
        if let Some(token) = token {
            cmd.env("KILN_AGENT_REGISTRATION_TOKEN", token);
        }
        if let Some(b) = &self.backend {
            cmd.arg("--backend").arg(b);
        }
        cmd.spawn().context("starting kiln-agent")
    }

    /// `(pid, host)` of a provider id.
    fn parse_id(id: &str) -> Option<(u32, &str)> {
        let (pid, host) = id.split_once('@')?;
        Some((pid.parse().ok()?, host))
    }

    async fn keep(&self, name: &str, child: tokio::process::Child) -> String {
        let id = format!("{}@{}", child.id().unwrap_or_default(), self.host);
        self.children.lock().await.insert(name.to_owned(), child);
        id
    }
}

#[async_trait::async_trait]
impl Provider for LocalProvider {
    async fn allocate(&self, req: &AllocateRequest) -> anyhow::Result<String> {
        tokio::fs::create_dir_all(self.work_root.join(&req.name)).await?;
        let child = self.spawn(
            &req.name,
            &req.arch,
            req.capacity,
            &req.server,
            Some(&req.token),
        )?;
        Ok(self.keep(&req.name, child).await)
    }

    async fn release(&self, builder: &rows::Model) -> anyhow::Result<()> {
        let child = self.children.lock().await.remove(&builder.name);
        if let Some(mut child) = child {
            // Closing its standard input stops the agent the way SIGTERM does.
            drop(child.stdin.take());
            if tokio::time::timeout(Duration::from_secs(60), child.wait())
                .await
                .is_err()
            {
                child.kill().await?;
            }
        } else if let Some((pid, host)) = builder.provider_id.as_deref().and_then(Self::parse_id) {
            // Another server's child on this host.
            if host == self.host && runs_agent(pid, &builder.name) {
                tokio::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await
                    .context("kill")?;
            }
        }
        let _ = tokio::fs::remove_dir_all(self.work_root.join(&builder.name)).await;
        Ok(())
    }

    async fn presence(&self, builder: &rows::Model) -> Presence {
        if let Some(child) = self.children.lock().await.get_mut(&builder.name) {
            return match child.try_wait() {
                Ok(None) => Presence::Alive,
                Ok(Some(status)) => Presence::Gone(format!("it exited with {status}")),
                Err(e) => Presence::Gone(format!("waiting for it failed: {e}")),
            };
        }
        match builder.provider_id.as_deref().and_then(Self::parse_id) {
            Some((pid, host)) if host == self.host => {
                if runs_agent(pid, &builder.name) {
                    Presence::Alive
                } else {
                    Presence::Gone("it stopped with the server that started it".into())
                }
            }
            // Not started yet, or on another host.
            _ => Presence::Unknown,
        }
    }

    async fn restart(&self, builder: &rows::Model) -> anyhow::Result<Option<String>> {
        self.children.lock().await.remove(&builder.name);
        // The agent keeps its credential for one server URL; without one for this URL (it
        // never registered, or the server moved) it could not come back as itself.
        let credential = std::fs::read(self.work_root.join(&builder.name).join("credential.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        if credential
            .is_none_or(|c| c["server"].as_str() != Some(self.server.trim_end_matches('/')))
        {
            return Ok(None);
        }
        {
            let mut restarts = self
                .restarts
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?;
            let times = restarts.entry(builder.name.clone()).or_default();
            times.retain(|t| t.elapsed() < Duration::from_secs(60));
            anyhow::ensure!(times.len() < 3, "it ended 3 times within a minute");
            times.push(std::time::Instant::now());
        }
        let child = self.spawn(
            &builder.name,
            &builder.arch,
            self.capacity,
            &self.server,
            None,
        )?;
        Ok(Some(self.keep(&builder.name, child).await))
    }
}
