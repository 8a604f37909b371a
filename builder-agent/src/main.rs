//! `kiln-agent`: a builder agent. It registers with a Kiln server using a registration token
//! (keeping the credential it gets in its work directory, so a restart does not register
//! again), then claims subtasks through a long-poll, builds them and reports, `capacity` at a
//! time, heartbeating meanwhile. SIGTERM: no new work; running builds get a grace period, then
//! are handed back to the queue.

mod build;
mod outcome;
mod srpm;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use kiln_proto::agent::{
    AgentState, Claim, Finish, Heartbeat, HeartbeatReply, Job, Register, Registered,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use build::{Backend, Options, Stop};

#[derive(Parser, Debug)]
#[command(name = "kiln-agent", version, about = "Kiln builder agent")]
struct Args {
    /// The Kiln server's URL.
    #[arg(long, env = "KILN_AGENT_SERVER")]
    server: String,
    /// Registration token from `kiln admin agent-token` (needed only until registered).
    #[arg(long, env = "KILN_AGENT_REGISTRATION_TOKEN")]
    registration_token: Option<String>,
    /// Agent name (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// Architectures this agent builds for (repeatable; default: the host's; x86_64 also
    /// takes i686 work).
    #[arg(long = "arch")]
    arches: Vec<String>,
    /// Builds at once.
    #[arg(long, default_value_t = 4)]
    capacity: u32,
    /// `mock` or `rpmbuild` (default: mock when it is installed).
    #[arg(long)]
    backend: Option<String>,
    /// Where builds and the agent's credential live.
    #[arg(long, default_value = "./kiln-agent")]
    work_dir: PathBuf,
    /// HTTP proxy for buildroot downloads (for example a local squid).
    #[arg(long, env = "KILN_AGENT_PROXY")]
    proxy: Option<String>,
    /// PEM file of a certificate authority to trust for an https server (besides the usual
    /// roots), for servers with a private CA.
    #[arg(long, env = "KILN_AGENT_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Seconds running builds may go on after SIGTERM before they are handed back.
    #[arg(long, default_value_t = 30)]
    grace_seconds: u64,
    /// Stop when standard input closes (used by `kiln serve`, so its local agent never
    /// outlives it).
    #[arg(long, hide = true)]
    exit_with_stdin: bool,
}

#[derive(Serialize, Deserialize)]
struct Credential {
    server: String,
    agent_id: i32,
    token: String,
    #[serde(default = "default_heartbeat")]
    heartbeat_seconds: u64,
}

fn default_heartbeat() -> u64 {
    10
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "agent".into())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
}

/// The server's agent API.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: String,
}

/// The server refused a file as the build's output (it says why): the build fails with
/// that reason, it is not an infrastructure error.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

async fn check(resp: reqwest::Response, what: &str) -> anyhow::Result<reqwest::Response> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    bail!("{what}: the server answered {status}: {text}")
}

impl Client {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/agent/{path}", self.server)
    }

    async fn heartbeat(&self, running: Vec<i32>) -> anyhow::Result<HeartbeatReply> {
        let resp = self
            .http
            .post(self.url("heartbeat"))
            .bearer_auth(&self.token)
            .json(&Heartbeat { running })
            .send()
            .await?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            bail!("the server no longer accepts this agent's credential (revoked?)");
        }
        Ok(check(resp, "heartbeat").await?.json().await?)
    }

    async fn claim(&self, wait_seconds: u64) -> anyhow::Result<Option<Job>> {
        let resp = self
            .http
            .post(self.url("claim"))
            .bearer_auth(&self.token)
            .json(&Claim { wait_seconds })
            .timeout(Duration::from_secs(wait_seconds + 30))
            .send()
            .await?;
        if resp.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        Ok(Some(check(resp, "claim").await?.json().await?))
    }

    async fn get_source(&self, task: i32) -> anyhow::Result<reqwest::Response> {
        let resp = self
            .http
            .get(self.url(&format!("tasks/{task}/source")))
            .bearer_auth(&self.token)
            .send()
            .await?;
        check(resp, "downloading the SRPM").await
    }

    async fn log(&self, task: i32, text: String) -> anyhow::Result<()> {
        let resp = self
            .http
            .post(self.url(&format!("tasks/{task}/log")))
            .bearer_auth(&self.token)
            .body(text)
            .send()
            .await?;
        check(resp, "sending log lines").await.map(|_| ())
    }

    /// Uploads a result file, retrying while the server is unreachable.
    async fn upload(&self, task: i32, name: &str, path: &Path) -> anyhow::Result<()> {
        let mut delay = Duration::from_millis(500);
        let mut last = None;
        for _ in 0..8 {
            match self.upload_once(task, name, path).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is::<Refused>() || e.to_string().contains("answered 4") => {
                    return Err(e)
                }
                Err(e) => {
                    tracing::warn!(task, file = name, error = %format!("{e:#}"), "upload failed; retrying");
                    last = Some(e);
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(15));
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("upload failed")))
    }

    async fn upload_once(&self, task: i32, name: &str, path: &Path) -> anyhow::Result<()> {
        let file = tokio::fs::File::open(path).await?;
        let len = file.metadata().await?.len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            file,
            256 * 1024,
        ));
        let resp = self
            .http
            .put(self.url(&format!("tasks/{task}/artifacts/{name}")))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body)
            .send()
            .await?;
        let status = resp.status();
        if matches!(status.as_u16(), 400 | 413 | 415 | 422) {
            // The error envelope's detail says what is wrong with the file.
            let text = resp.text().await.unwrap_or_default();
            let detail = serde_json::from_str::<kiln_proto::ErrorBody>(&text)
                .ok()
                .and_then(|b| b.errors.into_iter().next().map(|e| e.detail))
                .unwrap_or(text);
            return Err(anyhow::Error::new(Refused(detail)));
        }
        check(resp, "uploading").await.map(|_| ())
    }

    /// Reports a result, retrying while the server is unreachable (it may be restarting);
    /// a 4xx (the task is no longer ours) is final.
    async fn finish(&self, task: i32, report: &Finish) -> anyhow::Result<()> {
        let mut delay = Duration::from_millis(500);
        for _ in 0..12 {
            match self
                .http
                .post(self.url(&format!("tasks/{task}/finish")))
                .bearer_auth(&self.token)
                .json(report)
                .send()
                .await
            {
                Ok(resp) if resp.status().is_client_error() || resp.status().is_success() => {
                    return check(resp, "reporting the result").await.map(|_| ());
                }
                Ok(resp) => {
                    tracing::warn!(task, status = %resp.status(), "reporting the result; retrying")
                }
                Err(e) => tracing::warn!(task, error = %e, "reporting the result; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(15));
        }
        bail!("could not report the result of task {task}")
    }
}

async fn register(
    http: &reqwest::Client,
    args: &Args,
    backend: &str,
    cred_path: &Path,
) -> anyhow::Result<Credential> {
    let Some(reg) = &args.registration_token else {
        bail!("not registered yet: pass --registration-token (from `kiln admin agent-token`)");
    };
    let body = Register {
        name: args.name.clone().unwrap_or_else(host_name),
        arches: if args.arches.is_empty() {
            vec![std::env::consts::ARCH.to_owned()]
        } else {
            args.arches.clone()
        },
        capacity: args.capacity,
        backend: backend.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let resp = http
        .post(format!("{}/api/v1/agent/register", args.server))
        .bearer_auth(reg)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("reaching {}", args.server))?;
    let r: Registered = check(resp, "registration refused").await?.json().await?;
    let cred = Credential {
        server: args.server.clone(),
        agent_id: r.agent_id,
        token: r.token,
        heartbeat_seconds: r.heartbeat_seconds.max(1),
    };
    std::fs::write(cred_path, serde_json::to_vec(&cred)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(cred_path, std::fs::Permissions::from_mode(0o600))?;
    }
    tracing::info!(agent_id = cred.agent_id, name = %body.name, arches = ?body.arches, backend, "registered");
    Ok(cred)
}

/// What the claiming workers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Run,
    /// The server drained or disabled this agent.
    Pause,
    /// The agent is stopping.
    Stop,
}

/// The builds in hand: their stop switches.
type Running = Arc<Mutex<HashMap<i32, watch::Sender<Stop>>>>;

fn running_ids(running: &Running) -> Vec<i32> {
    running
        .lock()
        .map(|m| m.keys().copied().collect())
        .unwrap_or_default()
}

fn stop_all(running: &Running, why: Stop) {
    if let Ok(m) = running.lock() {
        for tx in m.values() {
            let _ = tx.send(why);
        }
    }
}

async fn worker(
    client: Client,
    opts: Arc<Options>,
    running: Running,
    mut mode: watch::Receiver<Mode>,
    slot: u32,
) {
    loop {
        let now = *mode.borrow_and_update();
        match now {
            Mode::Stop => return,
            Mode::Pause => {
                // Drained or disabled: wait for the server to say otherwise.
                if mode.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Mode::Run => {}
        }
        let job = tokio::select! {
            job = client.claim(25) => job,
            _ = mode.changed() => continue,
        };
        match job {
            Ok(Some(job)) => {
                let (tx, rx) = watch::channel(Stop::Run);
                let id = job.task_id;
                if let Ok(mut m) = running.lock() {
                    m.insert(id, tx);
                }
                tracing::info!(slot, task = id, config = %job.mock_config, source = %job.source.display_name(), "claimed");
                if let Err(e) = build::run(&client, &opts, job, rx).await {
                    tracing::warn!(task = id, error = %format!("{e:#}"), "could not report the build");
                }
                if let Ok(mut m) = running.lock() {
                    m.remove(&id);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "claiming failed; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

async fn run(mut args: Args) -> anyhow::Result<()> {
    args.server = args.server.trim_end_matches('/').to_owned();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let (parent_gone_tx, mut parent_gone) = tokio::sync::oneshot::channel::<()>();
    if args.exit_with_stdin {
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 64];
            let mut stdin = tokio::io::stdin();
            while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
            let _ = parent_gone_tx.send(());
        });
    } else {
        std::mem::forget(parent_gone_tx);
    }
    // Why the agent stops. Polled while any request to the server is in flight too
    // (registering, heartbeats), so a server that does not answer cannot hold a SIGTERM up.
    let stop_signal = async {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "interrupt",
            _ = &mut parent_gone => "the server that started this agent is gone",
        }
    };
    tokio::pin!(stop_signal);
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("creating {}", args.work_dir.display()))?;
    let backend_name = args.backend.clone().unwrap_or_else(|| {
        if on_path("mock") {
            "mock".into()
        } else {
            "rpmbuild".into()
        }
    });
    let backend = match backend_name.as_str() {
        "mock" => Backend::Mock,
        "rpmbuild" => Backend::Rpmbuild,
        other => bail!("unknown backend {other:?}: use mock or rpmbuild"),
    };
    let cred_path = args.work_dir.join("credential.json");
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(15));
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        builder = builder.add_root_certificate(
            reqwest::Certificate::from_pem(&pem).context("the CA certificate is not valid PEM")?,
        );
    }
    let http = builder.build()?;
    let cred = match std::fs::read(&cred_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Credential>(&b).ok())
    {
        Some(c) if c.server == args.server => c,
        _ => tokio::select! {
            cred = register(&http, &args, &backend_name, &cred_path) => cred?,
            why = &mut stop_signal => return stopped_early(why),
        },
    };
    let client = Client {
        http,
        server: args.server.clone(),
        token: cred.token.clone(),
    };
    let opts = Arc::new(Options {
        backend,
        work_dir: std::fs::canonicalize(&args.work_dir)?,
        proxy: args.proxy.clone(),
        use_bwrap: backend == Backend::Rpmbuild && on_path("bwrap"),
        agent_name: args.name.clone().unwrap_or_else(host_name),
        backend_info: build::describe_backend(backend),
    });
    let running: Running = Arc::default();
    let (mode_tx, mode_rx) = watch::channel(Mode::Run);

    // The first heartbeat says whether this agent may take work at all.
    let mut state = tokio::select! {
        beat = client.heartbeat(vec![]) => beat.map(|r| r.state).unwrap_or(AgentState::Online),
        why = &mut stop_signal => return stopped_early(why),
    };
    if state != AgentState::Online {
        let _ = mode_tx.send(Mode::Pause);
    }
    let mut workers = tokio::task::JoinSet::new();
    {
        for slot in 0..args.capacity.max(1) {
            workers.spawn(worker(
                client.clone(),
                opts.clone(),
                running.clone(),
                mode_rx.clone(),
                slot,
            ));
        }
    }

    let mut tick = tokio::time::interval(Duration::from_secs(cred.heartbeat_seconds));
    let why = loop {
        tokio::select! {
            _ = tick.tick() => {
                let beat = tokio::select! {
                    beat = client.heartbeat(running_ids(&running)) => beat,
                    why = &mut stop_signal => break why,
                };
                match beat {
                    Ok(reply) => {
                        if let Ok(m) = running.lock() {
                            for id in &reply.cancel {
                                if let Some(tx) = m.get(id) {
                                    tracing::info!(task = id, "stopping: canceled");
                                    let _ = tx.send(Stop::Cancel);
                                }
                            }
                        }
                        if reply.state != state {
                            tracing::info!(state = ?reply.state, "the server changed this agent's state");
                            let _ = mode_tx.send(if reply.state == AgentState::Online { Mode::Run } else { Mode::Pause });
                            state = reply.state;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "heartbeat failed");
                        if e.to_string().contains("no longer accepts") {
                            let _ = std::fs::remove_file(&cred_path);
                            stop_all(&running, Stop::HandBack);
                            return Err(e);
                        }
                    }
                }
            }
            _ = workers.join_next(), if !workers.is_empty() => {}
            why = &mut stop_signal => break why,
        }
    };
    // No new work; let running builds finish within the grace period, then hand them back.
    let _ = mode_tx.send(Mode::Stop);
    let busy = running_ids(&running);
    tracing::info!(reason = why, running = busy.len(), "stopping");
    if !busy.is_empty() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(args.grace_seconds);
        while !running_ids(&running).is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = client.heartbeat(running_ids(&running)).await;
        }
        stop_all(&running, Stop::HandBack);
    }
    let wait = tokio::time::timeout(Duration::from_secs(30), async {
        while workers.join_next().await.is_some() {}
    });
    let _ = wait.await;
    Ok(())
}

/// A stop before any work was taken.
fn stopped_early(why: &str) -> anyhow::Result<()> {
    tracing::info!(reason = why, running = 0, "stopping");
    Ok(())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let code = match run(Args::parse()).await {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e:#}");
            1
        }
    };
    // Exits here: dropping the runtime would wait for a blocking read of standard input
    // (`--exit-with-stdin`) that only ends when the parent closes it.
    std::process::exit(code)
}
