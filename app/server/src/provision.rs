//! Builder provisioning. For each `[[builders.pools]]` entry, one server at a time (the pool's
//! lock row) looks at the queue every `builders.interval_seconds` and asks the pool's provider
//! for builders, with a one-time registration token each; it notices when they register,
//! releases those idle past the pool's timeout (keeping `min_idle`), drains those past their
//! lifetime, and releases and replaces those that never registered or stopped answering. A
//! provider failure is recorded on the pool (shown at `GET /api/v1/builder-pools`) and the
//! next call waits 1, 2, 4 … s.
//!
//! Providers: `local` starts `kiln-agent` processes beside the server; `command` runs the
//! site admin's allocate and release programs (Copr's resalloc model); `kubernetes` creates a
//! Pod per builder through the Kubernetes API, its registration token in a Secret.
//!
//! `kiln serve` with no pool configured runs the implicit pool `local` ([`default_pool`]): one
//! local builder, always there. A provider that can tell a builder's process ended (`local`)
//! starts it again under its own credential, so the agent keeps its name and identity across
//! crashes and server restarts instead of registering anew.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kiln_core::config::{Config, LocalAgent, PoolConfig, ProviderKind};
use kiln_core::entities::builders as rows;
use kiln_core::services::{agents, builders};
use kiln_core::{Kiln, Principal, UserPrincipal};
use sea_orm::{ActiveValue::Set, IntoActiveModel};
use tokio::io::AsyncReadExt;

/// What a provider is asked for.
pub struct AllocateRequest {
    pub pool: String,
    pub arch: String,
    /// The agent's name (`POOL-ID`).
    pub name: String,
    pub capacity: u32,
    /// Where the agent reaches Kiln.
    pub server: String,
    /// The one-time registration token.
    pub token: String,
}

/// What a provider can tell of a builder's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Alive,
    /// It ended; why, as far as known.
    Gone(String),
    /// The provider cannot tell (the agent's heartbeats decide).
    Unknown,
}

#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Starts a builder whose agent registers with `req`; returns the provider's id for it.
    async fn allocate(&self, req: &AllocateRequest) -> anyhow::Result<String>;
    /// Stops and removes a builder.
    async fn release(&self, builder: &rows::Model) -> anyhow::Result<()>;
    /// Whether the builder's process still runs, where the provider can tell.
    async fn presence(&self, _builder: &rows::Model) -> Presence {
        Presence::Unknown
    }
    /// Starts a builder whose process ended again, under its agent's credential; its new
    /// provider id, or `None` when it cannot be (the builder is then released and replaced).
    async fn restart(&self, _builder: &rows::Model) -> anyhow::Result<Option<String>> {
        Ok(None)
    }
}

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

/// Starts a provisioner per configured pool. `agent_binary` is `kiln-agent` next to `kiln`.
pub fn start(kiln: &Kiln, server_url: String, agent_binary: Option<PathBuf>) -> anyhow::Result<()> {
    for pool in kiln.config.builders.pools.clone() {
        let server_url = pool
            .server_url
            .clone()
            .unwrap_or_else(|| server_url.clone());
        let provider: Arc<dyn Provider> = match pool.provider {
            ProviderKind::Command => Arc::new(CommandProvider { pool: pool.clone() }),
            ProviderKind::Local => Arc::new(LocalProvider {
                binary: agent_binary
                    .clone()
                    .context("the local provider needs kiln-agent next to kiln")?,
                work_root: kiln.config.data_dir.join("builders"),
                backend: pool.backend.clone(),
                capacity: pool.capacity,
                server: server_url.clone(),
                host: host_name(),
                children: Default::default(),
                restarts: Default::default(),
            }),
            ProviderKind::Kubernetes => Arc::new(KubernetesProvider::new(&pool)?),
        };
        tracing::info!(pool = %pool.name, provider = ?pool.provider, "builder provisioner started");
        let kiln = kiln.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs_f64(kiln.config.builders.interval_seconds.max(0.05));
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // A submission wakes the provisioner at once (at most four passes a second).
                let wake = kiln.events.work.notified();
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = wake => {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        tick.reset();
                    }
                }
                // Each pass is a task of its own: a panic in a provider ends that pass, not
                // the pool's provisioning.
                let pass = {
                    let (kiln, pool, provider, url) = (
                        kiln.clone(),
                        pool.clone(),
                        provider.clone(),
                        server_url.clone(),
                    );
                    tokio::spawn(async move { turn(&kiln, &pool, provider.as_ref(), &url).await })
                };
                match pass.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(pool = %pool.name, error = %e, "provisioner pass failed")
                    }
                    Err(e) => {
                        tracing::error!(pool = %pool.name, error = %e, "provisioner pass panicked")
                    }
                }
            }
        });
    }
    Ok(())
}

fn provisioner() -> Principal {
    Principal::User(UserPrincipal {
        id: 0,
        username: "provisioner".into(),
        is_site_admin: true,
        groups: vec![],
    })
}

/// One pass over a pool, if this server holds its turn.
async fn turn(
    kiln: &Kiln,
    pool: &PoolConfig,
    provider: &dyn Provider,
    server_url: &str,
) -> anyhow::Result<()> {
    let Some(lock) = builders::lock_pool(kiln, &pool.name, time::Duration::minutes(5)).await?
    else {
        return Ok(());
    };
    let result = reconcile(kiln, pool, provider, server_url, &lock).await;
    builders::unlock_pool(kiln, lock.id).await?;
    result
}

async fn reconcile(
    kiln: &Kiln,
    pool: &PoolConfig,
    provider: &dyn Provider,
    server_url: &str,
    lock: &kiln_core::entities::builder_pools::Model,
) -> anyhow::Result<()> {
    let now = kiln_core::now();
    let agents: HashMap<i32, kiln_core::entities::agents::Model> = builders::agents_by_id(kiln)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let running = builders::running_by_agent(kiln).await?;
    let register_timeout = kiln.config.builders.register_timeout_seconds as i64;
    let mut idle = Vec::new();
    let mut ended = false;
    for b in builders::live_builders(kiln, &pool.name).await? {
        if let Presence::Gone(how) = provider.presence(&b).await {
            match provider.restart(&b).await {
                Ok(Some(id)) => {
                    tracing::warn!(pool = %pool.name, builder = %b.name, %how, provider_id = %id, "builder's process ended; started again under its own credential");
                    builders::restarted(kiln, b, id).await?;
                }
                outcome => {
                    let mut why = format!("its process ended ({how})");
                    if let Err(e) = outcome {
                        why = format!("{why}; starting it again failed: {e:#}");
                    }
                    // Counted as the provider's failure, so a builder that cannot run is not
                    // replaced in a tight loop.
                    builders::record_failure(kiln, lock.id, &format!("{}: {why}", b.name)).await?;
                    ended = true;
                    release(kiln, pool, lock.id, provider, b, builders::FAILED, why).await?;
                }
            }
            continue;
        }
        if b.state == builders::ALLOCATING {
            let agent = match b.registration_token_id {
                Some(t) => builders::agent_of_token(kiln, t).await?,
                None => None,
            };
            if let Some(agent) = agent {
                tracing::info!(pool = %pool.name, builder = %b.name, "builder registered");
                // A builder that came up is what shows the provider works again.
                builders::record_success(kiln, lock).await?;
                let mut row = b.clone().into_active_model();
                row.state = Set(builders::RUNNING.into());
                row.agent_id = Set(Some(agent.id));
                row.registered_at = Set(Some(now));
                row.idle_since = Set(Some(now));
                builders::update(kiln, row).await?;
                revoke_token(kiln, &b).await;
            } else if (now - b.created_at).whole_seconds() > register_timeout {
                let why = format!("did not register within {register_timeout} s");
                release(kiln, pool, lock.id, provider, b, builders::FAILED, why).await?;
            }
            continue;
        }
        let Some(agent) = b.agent_id.and_then(|id| agents.get(&id)) else {
            release(
                kiln,
                pool,
                lock.id,
                provider,
                b,
                builders::FAILED,
                "its agent was removed".into(),
            )
            .await?;
            continue;
        };
        if !builders::responsive(kiln, agent, now) {
            let why = format!(
                "stopped answering (last seen {} s ago)",
                (now - agent.last_seen_at).whole_seconds()
            );
            release(kiln, pool, lock.id, provider, b, builders::FAILED, why).await?;
            continue;
        }
        let busy = running.get(&agent.id).copied().unwrap_or(0) > 0;
        let expired = pool.max_lifetime_seconds.is_some_and(|max| {
            b.registered_at
                .is_some_and(|t| (now - t).whole_seconds() > max as i64)
        });
        if b.state == builders::DRAINING || expired {
            if !busy {
                let why = "reached its maximum lifetime".to_owned();
                release(kiln, pool, lock.id, provider, b, builders::RELEASED, why).await?;
            } else if b.state != builders::DRAINING {
                builders::set_agent_state(kiln, agent.id, "draining").await?;
                let mut row = b.into_active_model();
                row.state = Set(builders::DRAINING.into());
                builders::update(kiln, row).await?;
            }
            continue;
        }
        match (busy, b.idle_since) {
            (true, Some(_)) => {
                let mut row = b.into_active_model();
                row.idle_since = Set(None);
                builders::update(kiln, row).await?;
            }
            (false, None) => {
                let mut row = b.into_active_model();
                row.idle_since = Set(Some(now));
                builders::update(kiln, row).await?;
            }
            (false, Some(since)) => idle.push((since, b)),
            (true, None) => {}
        }
    }
    // Idle past the timeout: released, longest idle first, keeping min_idle.
    idle.sort_by_key(|(since, _)| *since);
    let mut idle_count = idle.len() as u32;
    for (since, b) in idle {
        let waited = (now - since).whole_seconds();
        if idle_count <= pool.min_idle || waited < pool.idle_timeout_seconds as i64 {
            break;
        }
        let agent_id = b.agent_id.unwrap_or_default();
        // Closed to new work first; a claim that slipped in keeps the builder.
        builders::set_agent_state(kiln, agent_id, "disabled").await?;
        if builders::running_by_agent(kiln)
            .await?
            .get(&agent_id)
            .copied()
            .unwrap_or(0)
            > 0
        {
            builders::set_agent_state(kiln, agent_id, "online").await?;
            continue;
        }
        let why = format!("idle for {waited} s");
        release(kiln, pool, lock.id, provider, b, builders::RELEASED, why).await?;
        idle_count -= 1;
    }

    // New builders, unless the provider is in its backoff (or failed in this pass).
    if ended || lock.next_attempt_at.is_some_and(|t| t > now) {
        return Ok(());
    }
    let live = builders::live_builders(kiln, &pool.name).await?;
    let views: Vec<builders::BuilderView> = live
        .iter()
        .map(|b| builders::BuilderView {
            arch: b.arch.clone(),
            state: b.state.clone(),
            running: b
                .agent_id
                .and_then(|a| running.get(&a).copied())
                .unwrap_or(0),
        })
        .collect();
    let queued = builders::queued_by_arch(kiln).await?;
    let all_agents: Vec<_> = agents.into_values().collect();
    let free = builders::free_slots(kiln, &all_agents, &running, now);
    let wanted = builders::plan(pool, &queued, &free, &views);
    for arch in wanted {
        if let Err(e) = allocate(kiln, pool, provider, server_url, &arch).await {
            tracing::warn!(pool = %pool.name, %arch, error = %e, "allocating a builder failed");
            builders::record_failure(kiln, lock.id, &format!("{e:#}")).await?;
            return Ok(());
        }
    }
    Ok(())
}

/// A builder row, a one-time registration token, then the provider's call.
async fn allocate(
    kiln: &Kiln,
    pool: &PoolConfig,
    provider: &dyn Provider,
    server_url: &str,
    arch: &str,
) -> anyhow::Result<()> {
    let token = agents::create_registration_token_info(
        kiln,
        &provisioner(),
        &format!("{}-builder", pool.name),
    )
    .await?;
    let temporary = format!("{}-new-{}", pool.name, uuid::Uuid::new_v4().simple());
    let row = builders::insert(kiln, &pool.name, arch, token.info.id, &temporary).await?;
    let name = builders::builder_name(&pool.name, row.id);
    let mut named = row.clone().into_active_model();
    named.name = Set(name.clone());
    let row = builders::update(kiln, named).await?;
    let req = AllocateRequest {
        pool: pool.name.clone(),
        arch: arch.to_owned(),
        name: name.clone(),
        capacity: pool.capacity,
        server: server_url.to_owned(),
        token: token.token,
    };
    match provider.allocate(&req).await {
        Ok(id) => {
            tracing::info!(pool = %pool.name, builder = %name, %arch, provider_id = %id, "builder allocated");
            let mut r = row.into_active_model();
            r.provider_id = Set(Some(id));
            builders::update(kiln, r).await?;
            Ok(())
        }
        Err(e) => {
            let mut r = row.clone().into_active_model();
            r.state = Set(builders::FAILED.into());
            r.reason = Set(Some(format!("allocation failed: {e:#}")));
            r.released_at = Set(Some(kiln_core::now()));
            builders::update(kiln, r).await?;
            revoke_token(kiln, &row).await;
            Err(e)
        }
    }
}

async fn revoke_token(kiln: &Kiln, b: &rows::Model) {
    if let Some(id) = b.registration_token_id {
        if let Err(e) = agents::revoke_registration_token(kiln, &provisioner(), id).await {
            tracing::debug!(builder = %b.name, error = %e, "revoking its registration token");
        }
    }
}

/// Closes the builder's agent to work, asks the provider to release it and records why. A
/// release the provider refuses is shown on the pool.
async fn release(
    kiln: &Kiln,
    pool: &PoolConfig,
    pool_id: i32,
    provider: &dyn Provider,
    b: rows::Model,
    state: &str,
    why: String,
) -> anyhow::Result<()> {
    if let Some(agent) = b.agent_id {
        builders::set_agent_state(kiln, agent, "disabled").await?;
    }
    revoke_token(kiln, &b).await;
    let mut reason = why.clone();
    if let Err(e) = provider.release(&b).await {
        tracing::warn!(pool = %pool.name, builder = %b.name, error = %e, "releasing a builder failed");
        reason = format!("{why}; release failed: {e:#}");
        builders::record_failure(kiln, pool_id, &format!("releasing {}: {e:#}", b.name)).await?;
    }
    tracing::info!(pool = %pool.name, builder = %b.name, %state, reason = %reason, "builder released");
    let mut row = b.into_active_model();
    row.state = Set(state.to_owned());
    row.reason = Set(Some(reason));
    row.released_at = Set(Some(kiln_core::now()));
    builders::update(kiln, row).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// command

/// Copr's resalloc model: the site admin's programs allocate and release machines.
struct CommandProvider {
    pool: PoolConfig,
}

/// Runs `argv` with `env`; its standard output's last non-empty line, or an error with the
/// end of what it wrote to standard error.
async fn run(argv: &[String], env: &[(&str, &str)]) -> anyhow::Result<String> {
    let (program, args) = argv.split_first().context("no program configured")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let mut out = String::new();
    let mut err = String::new();
    let (mut so, mut se) = (
        child.stdout.take().context("stdout")?,
        child.stderr.take().context("stderr")?,
    );
    let status = tokio::time::timeout(Duration::from_secs(300), async {
        let (a, b) = tokio::join!(so.read_to_string(&mut out), se.read_to_string(&mut err));
        a?;
        b?;
        child.wait().await
    })
    .await
    .with_context(|| format!("{program} took more than 300 s"))??;
    if !status.success() {
        let tail: String = err
            .trim()
            .chars()
            .rev()
            .take(500)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        anyhow::bail!("{program} exited with {status}: {tail}");
    }
    Ok(out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_owned())
}

#[async_trait::async_trait]
impl Provider for CommandProvider {
    async fn allocate(&self, req: &AllocateRequest) -> anyhow::Result<String> {
        let capacity = req.capacity.to_string();
        let id = run(
            &self.pool.allocate,
            &[
                ("KILN_POOL", &req.pool),
                ("KILN_ARCH", &req.arch),
                ("KILN_BUILDER_NAME", &req.name),
                ("KILN_CAPACITY", &capacity),
                ("KILN_SERVER", &req.server),
                ("KILN_REGISTRATION_TOKEN", &req.token),
            ],
        )
        .await?;
        anyhow::ensure!(!id.is_empty(), "the allocate program printed no builder id");
        Ok(id)
    }

    async fn release(&self, builder: &rows::Model) -> anyhow::Result<()> {
        run(
            &self.pool.release,
            &[
                ("KILN_POOL", &builder.pool),
                ("KILN_BUILDER_NAME", &builder.name),
                (
                    "KILN_BUILDER_ID",
                    builder.provider_id.as_deref().unwrap_or_default(),
                ),
            ],
        )
        .await
        .map(|_| ())
    }
}

// ---------------------------------------------------------------------------------------------
// local

/// `kiln-agent` processes on this machine, children of this server (they stop with it). The
/// provider id is `PID@HOST`, so that a later server process on this host can tell whether a
/// builder still runs (another server's child) or ended with its server (it is started again
/// from its work directory, where the agent keeps its credential).
struct LocalProvider {
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

// ---------------------------------------------------------------------------------------------
// kubernetes

/// A Pod per builder (the agent image's entrypoint is kiln-agent), on a node of the builder's
/// arch, with its one-time registration token in a Secret of its own.
struct KubernetesProvider {
    pool: PoolConfig,
    client: tokio::sync::OnceCell<(kube::Client, String)>,
}

impl KubernetesProvider {
    fn new(pool: &PoolConfig) -> anyhow::Result<KubernetesProvider> {
        anyhow::ensure!(pool.image.is_some(), "the kubernetes provider needs image");
        Ok(KubernetesProvider {
            pool: pool.clone(),
            client: tokio::sync::OnceCell::new(),
        })
    }

    /// The client and namespace, made on first use (in-cluster configuration, else the
    /// kubeconfig, unless `api_url` names an API server to use as is).
    async fn client(&self) -> anyhow::Result<&(kube::Client, String)> {
        self.client
            .get_or_try_init(|| async {
                // Several TLS providers are built in (aws-lc for S3, ring for others): kube
                // takes the process default, which must be chosen.
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                let mut config = match &self.pool.api_url {
                    Some(url) => kube::Config::new(url.parse().context("api_url")?),
                    None => kube::Config::infer()
                        .await
                        .context("no Kubernetes configuration (in-cluster or kubeconfig)")?,
                };
                if let Some(ns) = &self.pool.namespace {
                    config.default_namespace = ns.clone();
                }
                let ns = config.default_namespace.clone();
                Ok((kube::Client::try_from(config)?, ns))
            })
            .await
    }
}

/// Kubernetes object names: lower-case letters, digits and '-'.
fn dns_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The node label value of an RPM arch.
fn node_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "i686" => "amd64",
        "aarch64" => "arm64",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    }
}

#[async_trait::async_trait]
impl Provider for KubernetesProvider {
    async fn allocate(&self, req: &AllocateRequest) -> anyhow::Result<String> {
        use k8s_openapi::api::core::v1::{
            Container, EnvVar, EnvVarSource, Pod, PodSpec, ResourceRequirements, Secret,
            SecretKeySelector, SecurityContext,
        };
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        use kube::api::{ObjectMeta, PostParams};
        let (client, ns) = self.client().await?;
        let name = dns_name(&format!("kiln-builder-{}", req.name));
        let labels: std::collections::BTreeMap<String, String> = [
            ("app.kubernetes.io/name", "kiln-agent".to_owned()),
            ("kiln.dev/pool", dns_name(&req.pool)),
            ("kiln.dev/builder", dns_name(&req.name)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let meta = || ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some(labels.clone()),
            ..Default::default()
        };
        let secret = Secret {
            metadata: meta(),
            string_data: Some([("token".to_owned(), req.token.clone())].into()),
            ..Default::default()
        };
        kube::Api::<Secret>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &secret)
            .await
            .context("creating the registration Secret")?;
        let mut requests = std::collections::BTreeMap::new();
        if let Some(cpu) = &self.pool.cpu {
            requests.insert("cpu".to_owned(), Quantity(cpu.clone()));
        }
        if let Some(memory) = &self.pool.memory {
            requests.insert("memory".to_owned(), Quantity(memory.clone()));
        }
        let pod = Pod {
            metadata: meta(),
            spec: Some(PodSpec {
                restart_policy: Some("Never".into()),
                node_selector: Some(
                    [(
                        "kubernetes.io/arch".to_owned(),
                        node_arch(&req.arch).to_owned(),
                    )]
                    .into(),
                ),
                // Running builds get the agent's grace time after SIGTERM, then go back to
                // the queue.
                termination_grace_period_seconds: Some(60),
                containers: vec![Container {
                    name: "agent".into(),
                    image: self.pool.image.clone(),
                    args: Some(vec![
                        "--server".into(),
                        req.server.clone(),
                        "--name".into(),
                        req.name.clone(),
                        "--arch".into(),
                        req.arch.clone(),
                        "--capacity".into(),
                        req.capacity.to_string(),
                    ]),
                    env: Some(vec![EnvVar {
                        name: "KILN_AGENT_REGISTRATION_TOKEN".into(),
                        value_from: Some(EnvVarSource {
                            secret_key_ref: Some(SecretKeySelector {
                                name: name.clone(),
                                key: "token".into(),
                                optional: None,
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    // mock needs its namespaces and bind mounts.
                    security_context: Some(SecurityContext {
                        privileged: Some(true),
                        ..Default::default()
                    }),
                    resources: (!requests.is_empty()).then(|| ResourceRequirements {
                        requests: Some(requests),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        if let Err(e) = kube::Api::<Pod>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &pod)
            .await
        {
            let _ = kube::Api::<Secret>::namespaced(client.clone(), ns)
                .delete(&name, &Default::default())
                .await;
            return Err(e).context("creating the builder Pod");
        }
        Ok(name)
    }

    async fn release(&self, builder: &rows::Model) -> anyhow::Result<()> {
        use k8s_openapi::api::core::v1::{Pod, Secret};
        let (client, ns) = self.client().await?;
        let Some(name) = builder.provider_id.as_deref() else {
            return Ok(());
        };
        let gone = |r: Result<_, kube::Error>| match r {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e),
        };
        gone(
            kube::Api::<Pod>::namespaced(client.clone(), ns)
                .delete(name, &Default::default())
                .await
                .map(|_| ()),
        )
        .context("deleting the builder Pod")?;
        gone(
            kube::Api::<Secret>::namespaced(client.clone(), ns)
                .delete(name, &Default::default())
                .await
                .map(|_| ()),
        )
        .context("deleting the registration Secret")?;
        Ok(())
    }
}
