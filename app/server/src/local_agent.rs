//! The local builder agent `kiln serve` runs beside itself (so one command runs the whole
//! system): a supervised `kiln-agent` process in `DATA_DIR/agent`, registered on first start
//! with a registration token handed over in its environment, restarted if it dies.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use kiln_core::config::LocalAgent;
use kiln_core::services::agents;
use kiln_core::{Kiln, Principal};

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

/// Starts the supervisor if the configuration and the machine call for it; returns whether it
/// did.
pub async fn start(kiln: &Kiln, server_url: String, console: Principal) -> anyhow::Result<bool> {
    let backend = if on_path("mock") {
        "mock"
    } else if on_path("rpmbuild") {
        "rpmbuild"
    } else {
        ""
    };
    let wanted = match kiln.config.local_agent {
        LocalAgent::Off => false,
        LocalAgent::On => true,
        LocalAgent::Auto => !backend.is_empty(),
    };
    if !wanted {
        tracing::info!("no local builder agent (neither mock nor rpmbuild is installed, or local_agent = \"off\")");
        return Ok(false);
    }
    let Some(binary) = agent_binary() else {
        tracing::warn!("kiln-agent is not next to kiln; not starting a local builder agent");
        return Ok(false);
    };
    let work_dir = kiln.config.data_dir.join("agent");
    std::fs::create_dir_all(&work_dir)?;
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let name = format!("local-{}", if host.is_empty() { "host" } else { &host });
    let kiln = kiln.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            let mut cmd = tokio::process::Command::new(&binary);
            cmd.arg("--server")
                .arg(&server_url)
                .arg("--name")
                .arg(&name)
                .arg("--work-dir")
                .arg(&work_dir)
                .arg("--exit-with-stdin")
                // The agent stops when this pipe closes, that is when the server exits,
                // however it exits.
                .stdin(Stdio::piped())
                .kill_on_drop(true);
            if !backend.is_empty() {
                cmd.arg("--backend").arg(backend);
            }
            if !work_dir.join("credential.json").exists() {
                // First start (or a lost credential): replace any old registration of this name.
                let _ = agents::revoke(&kiln, &console, &name).await;
                match agents::create_registration_token(&kiln, &console, &name).await {
                    Ok(t) => {
                        cmd.env("KILN_AGENT_REGISTRATION_TOKEN", t.expose());
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "creating the local agent's registration token")
                    }
                }
            }
            let started = std::time::Instant::now();
            match cmd.spawn() {
                Ok(mut child) => {
                    tracing::info!(agent = %name, "local builder agent started");
                    let status = child.wait().await;
                    tracing::warn!(agent = %name, ?status, "local builder agent stopped; restarting");
                }
                Err(e) => tracing::error!(error = %e, "starting the local builder agent"),
            }
            if started.elapsed() > Duration::from_secs(60) {
                backoff = Duration::from_secs(1);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    });
    Ok(true)
}
