//! Builder providers and the pools `kiln serve` starts. The state machine that decides when
//! to allocate, drain and release builders is [`kiln_core::services::provision`]; this module
//! gives it the providers that start and stop them:
//!
//! - `local` ([`local`]) starts `kiln-agent` processes beside the server;
//! - `command` ([`command`]) runs the site admin's allocate and release programs (Copr's
//!   resalloc model);
//! - `kubernetes` ([`kubernetes`]) creates a Pod per builder through the Kubernetes API, its
//!   registration token in a Secret.
//!
//! `kiln serve` with no pool configured runs the implicit pool `local` ([`default_pool`]): one
//! local builder, always there. A provider that can tell a builder's process ended (`local`)
//! starts it again under its own credential, so the agent keeps its name and identity across
//! crashes and server restarts instead of registering anew.

mod command;
mod kubernetes;
mod local;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use kiln_core::config::{Config, LocalAgent, PoolConfig, ProviderKind};
use kiln_core::services::provision::{self, Provider};
use kiln_core::Kiln;

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
}

/// `kiln-agent` next to `kiln` (or, for a test executable in `deps/`, one directory up).
pub fn agent_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let mut dir = exe.parent()?.to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("kiln-agent");
    path.is_file().then_some(path)
}

/// The implicit pool `kiln serve` runs when `local_agent` calls for it (see
/// [`kiln_core::config::Config::local_agent`]): one local builder kept running (`min_idle` =
/// `max` = 1) for the host's arch, with mock when installed, else rpmbuild, reaching the server
/// at `server_url` (its own listener, whatever `public_url` says).
pub fn default_pool(config: &Config, server_url: &str) -> anyhow::Result<Option<PoolConfig>> {
    let backend = ["mock", "rpmbuild"].into_iter().find(|b| on_path(b));
    let wanted = match config.local_agent {
        LocalAgent::Off => false,
        LocalAgent::On => true,
        LocalAgent::Auto => config.builders.pools.is_empty() && backend.is_some(),
    };
    if !wanted {
        tracing::info!(
            "no local builder (builder pools are configured, neither mock nor rpmbuild is \
             installed, or local_agent = \"off\")"
        );
        return Ok(None);
    }
    if agent_binary().is_none() {
        tracing::warn!("kiln-agent is not next to kiln; no local builder");
        return Ok(None);
    }
    anyhow::ensure!(
        !config.builders.pools.iter().any(|p| p.name == "local"),
        "local_agent = \"on\" runs a builder pool named local; a configured pool has that name"
    );
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
    Ok(Some(PoolConfig {
        name: "local".into(),
        provider: ProviderKind::Local,
        arches: vec![std::env::consts::ARCH.to_owned()],
        min_idle: 1,
        max: 1,
        capacity: cores.clamp(2, 4),
        idle_timeout_seconds: 600,
        max_lifetime_seconds: None,
        server_url: Some(server_url.to_owned()),
        allocate: vec![],
        release: vec![],
        backend: backend.map(str::to_owned),
        image: None,
        namespace: None,
        api_url: None,
        cpu: None,
        memory: None,
    }))
}

/// The provisioners this process runs, to wait for when it stops.
static RUNNING: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>> =
    std::sync::Mutex::new(Vec::new());

/// Waits (at most `limit`) for this process's provisioners to finish the pass they are in, once
/// the server is stopping: each hands its pool's turn back.
pub async fn stopped(limit: std::time::Duration) {
    let handles = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(|e| e.into_inner()));
    if tokio::time::timeout(limit, futures::future::join_all(handles))
        .await
        .is_err()
    {
        tracing::warn!(
            seconds = limit.as_secs(),
            "a builder provisioner was still in a pass"
        );
    }
}

/// Starts a provisioner per configured pool. `agent_binary` is `kiln-agent` next to `kiln`.
pub fn start(kiln: &Kiln, server_url: String, agent_binary: Option<PathBuf>) -> anyhow::Result<()> {
    for pool in kiln.config.builders.pools.clone() {
        let server_url = pool
            .server_url
            .clone()
            .unwrap_or_else(|| server_url.clone());
        let provider: Arc<dyn Provider> = match pool.provider {
            ProviderKind::Command => Arc::new(command::CommandProvider { pool: pool.clone() }),
            ProviderKind::Local => Arc::new(local::LocalProvider::new(
                agent_binary
                    .clone()
                    .context("the local provider needs kiln-agent next to kiln")?,
                kiln.config.data_dir.join("builders"),
                &pool,
                server_url.clone(),
            )),
            ProviderKind::Kubernetes => Arc::new(kubernetes::KubernetesProvider::new(&pool)?),
        };
        let handle = provision::spawn(kiln, pool, provider, server_url);
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }
    Ok(())
}
