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

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kiln_core::config::{PoolConfig, ProviderKind};
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

#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Starts a builder whose agent registers with `req`; returns the provider's id for it.
    async fn allocate(&self, req: &AllocateRequest) -> anyhow::Result<String>;
    /// Stops and removes a builder.
    async fn release(&self, builder: &rows::Model) -> anyhow::Result<()>;
}

/// Starts a provisioner per configured pool. `agent_binary` is `kiln-agent` next to `kiln`.
pub fn start(kiln: &Kiln, server_url: String, agent_binary: Option<PathBuf>) -> anyhow::Result<()> {
    for pool in kiln.config.builders.pools.clone() {
        let provider: Arc<dyn Provider> = match pool.provider {
            ProviderKind::Command => Arc::new(CommandProvider { pool: pool.clone() }),
            ProviderKind::Local => Arc::new(LocalProvider {
                binary: agent_binary
                    .clone()
                    .context("the local provider needs kiln-agent next to kiln")?,
                work_root: kiln.config.data_dir.join("builders"),
                backend: pool.backend.clone(),
                children: Default::default(),
            }),
            ProviderKind::Kubernetes => Arc::new(KubernetesProvider::new(&pool)?),
        };
        tracing::info!(pool = %pool.name, "builder provisioner started");
        let kiln = kiln.clone();
        let server_url = server_url.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs_f64(kiln.config.builders.interval_seconds.max(0.05));
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
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
    for b in builders::live_builders(kiln, &pool.name).await? {
        if b.state == builders::ALLOCATING {
            let agent = match b.registration_token_id {
                Some(t) => builders::agent_of_token(kiln, t).await?,
                None => None,
            };
            if let Some(agent) = agent {
                tracing::info!(pool = %pool.name, builder = %b.name, "builder registered");
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

    // New builders, unless the provider is in its backoff.
    if lock.next_attempt_at.is_some_and(|t| t > now) {
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
    let mut worked = false;
    for arch in wanted {
        match allocate(kiln, pool, provider, server_url, &arch).await {
            Ok(()) => worked = true,
            Err(e) => {
                tracing::warn!(pool = %pool.name, %arch, error = %e, "allocating a builder failed");
                builders::record_failure(kiln, lock.id, &format!("{e:#}")).await?;
                return Ok(());
            }
        }
    }
    if worked {
        builders::record_success(kiln, lock).await?;
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

/// `kiln-agent` processes on this machine, children of this server (they stop with it).
struct LocalProvider {
    binary: PathBuf,
    work_root: PathBuf,
    backend: Option<String>,
    children: tokio::sync::Mutex<HashMap<String, tokio::process::Child>>,
}

#[async_trait::async_trait]
impl Provider for LocalProvider {
    async fn allocate(&self, req: &AllocateRequest) -> anyhow::Result<String> {
        let work = self.work_root.join(&req.name);
        tokio::fs::create_dir_all(&work).await?;
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.arg("--server")
            .arg(&req.server)
            .arg("--name")
            .arg(&req.name)
            .arg("--arch")
            .arg(&req.arch)
            .arg("--capacity")
            .arg(req.capacity.to_string())
            .arg("--work-dir")
            .arg(&work)
            .arg("--exit-with-stdin")
            .env("KILN_AGENT_REGISTRATION_TOKEN", &req.token)
            .stdin(Stdio::piped())
            .kill_on_drop(true);
        if let Some(b) = &self.backend {
            cmd.arg("--backend").arg(b);
        }
        let child = cmd.spawn().context("starting kiln-agent")?;
        let pid = child.id().map(|p| p.to_string()).unwrap_or_default();
        self.children.lock().await.insert(req.name.clone(), child);
        Ok(pid)
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
        }
        let _ = tokio::fs::remove_dir_all(self.work_root.join(&builder.name)).await;
        Ok(())
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
