//! `kiln-agent`: a builder agent. It registers with a Kiln server using a registration token
//! (keeping the credential it gets in its work directory, so a restart does not register again),
//! then heartbeats until stopped. Claiming and building arrive with the build pipeline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use kiln_proto::agent::{AgentState, HeartbeatReply, Register, Registered};
use serde::{Deserialize, Serialize};

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
    /// Architectures this agent builds for (repeatable; default: the host's).
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

async fn register(
    http: &reqwest::Client,
    args: &Args,
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
        backend: args.backend.clone().unwrap_or_else(|| {
            if on_path("mock") {
                "mock".into()
            } else {
                "rpmbuild".into()
            }
        }),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let resp = http
        .post(format!("{}/api/v1/agent/register", args.server))
        .bearer_auth(reg)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("reaching {}", args.server))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        bail!("registration refused ({status}): {text}");
    }
    let r: Registered = resp.json().await?;
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
    tracing::info!(agent_id = cred.agent_id, name = %body.name, arches = ?body.arches, backend = %body.backend, "registered");
    Ok(cred)
}

async fn heartbeat(http: &reqwest::Client, cred: &Credential) -> anyhow::Result<HeartbeatReply> {
    let resp = http
        .post(format!("{}/api/v1/agent/heartbeat", cred.server))
        .bearer_auth(&cred.token)
        .send()
        .await?;
    if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
        bail!("the server no longer accepts this agent's credential (revoked?)");
    }
    if !resp.status().is_success() {
        bail!("heartbeat answered {}", resp.status());
    }
    Ok(resp.json().await?)
}

async fn run(mut args: Args) -> anyhow::Result<()> {
    args.server = args.server.trim_end_matches('/').to_owned();
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("creating {}", args.work_dir.display()))?;
    let cred_path = args.work_dir.join("credential.json");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let cred = match std::fs::read(&cred_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Credential>(&b).ok())
    {
        Some(c) if c.server == args.server => c,
        _ => register(&http, &args, &cred_path).await?,
    };
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
    let mut tick = tokio::time::interval(Duration::from_secs(cred.heartbeat_seconds));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                match heartbeat(&http, &cred).await {
                    Ok(reply) => {
                        if reply.state != AgentState::Online {
                            tracing::info!(state = ?reply.state, "server asks this agent to take no new work");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "heartbeat failed");
                        if e.to_string().contains("no longer accepts") {
                            let _ = std::fs::remove_file(&cred_path);
                            return Err(e);
                        }
                    }
                }
            }
            _ = term.recv() => {
                tracing::info!("SIGTERM: no work in hand; stopping");
                return Ok(());
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted; stopping");
                return Ok(());
            }
            _ = &mut parent_gone => {
                tracing::info!("the server that started this agent is gone; stopping");
                return Ok(());
            }
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
