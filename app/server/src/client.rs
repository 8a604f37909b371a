//! The packager client's build commands: `kiln build` (upload with a progress line, then
//! optionally wait, showing each build's state changes) and `kiln watch` (follow a log over
//! server-sent events).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use kiln_proto::{Task, TaskState};

use crate::cli::{api_error, client_config};

fn client() -> anyhow::Result<(reqwest::Client, String, Option<String>)> {
    let cfg = client_config()?;
    Ok((reqwest::Client::new(), cfg.url, cfg.token))
}

fn authed(r: reqwest::RequestBuilder, token: &Option<String>) -> reqwest::RequestBuilder {
    match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    }
}

/// Prints upload progress on stderr: one updating line on a terminal, a line per 10% elsewhere.
fn progress_printer(name: String, total: u64, sent: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tty = std::io::stderr().is_terminal();
        let mut last_decile = u64::MAX;
        loop {
            let n = sent.load(Ordering::Relaxed);
            let pct = (n * 100).checked_div(total).unwrap_or(100);
            if tty {
                eprint!(
                    "\ruploading {name}: {pct:3}% ({:.1}/{:.1} MiB)",
                    n as f64 / 1048576.0,
                    total as f64 / 1048576.0
                );
                let _ = std::io::stderr().flush();
            } else if pct / 10 != last_decile {
                last_decile = pct / 10;
                eprintln!("uploading {name}: {pct}%");
            }
            if n >= total {
                if tty {
                    eprintln!();
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// How `kiln build` builds.
pub struct BuildOptions {
    /// Build, never publish.
    pub scratch: bool,
    /// Skip `%check`.
    pub nocheck: bool,
    /// Follow the builds to their end.
    pub wait: bool,
}

pub async fn build(
    repo: &str,
    srpms: &[PathBuf],
    chroots: &[String],
    options: BuildOptions,
) -> anyhow::Result<()> {
    let BuildOptions {
        scratch,
        nocheck,
        wait,
    } = options;
    let (http, url, token) = client()?;
    let (owner, name) = repo.split_once('/').context("the repo is OWNER/REPO")?;
    let mut form = reqwest::multipart::Form::new();
    let mut printers = Vec::new();
    for path in srpms {
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let len = file.metadata().await?.len();
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .context("a file name")?
            .to_owned();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map(move |chunk| {
                if let Ok(c) = &chunk {
                    counter.fetch_add(c.len() as u64, Ordering::Relaxed);
                }
                chunk
            });
        printers.push(progress_printer(file_name.clone(), len, sent));
        let part =
            reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
                .file_name(file_name)
                .mime_str("application/x-rpm")?;
        form = form.part("srpm", part);
    }
    for c in chroots {
        form = form.text("chroot", c.clone());
    }
    if scratch {
        form = form.text("scratch", "true");
    }
    if nocheck {
        form = form.text("nocheck", "true");
    }
    let resp = authed(
        http.post(format!("{url}/api/v1/repos/{owner}/{name}/builds")),
        &token,
    )
    .multipart(form)
    .send()
    .await
    .with_context(|| format!("reaching {url}"))?;
    for mut p in printers {
        // A complete upload lets the printer show 100%; a broken one is cut short.
        if tokio::time::timeout(Duration::from_millis(500), &mut p)
            .await
            .is_err()
        {
            p.abort();
        }
    }
    if !resp.status().is_success() {
        return Err(api_error(resp).await);
    }
    let task: Task = resp.json().await?;
    println!(
        "task {} in {}: {} builds",
        task.id,
        task.repo,
        task.subtasks.len()
    );
    for s in &task.subtasks {
        let pkg = s
            .package
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        println!(
            "  {:>6}  {:<28} {:<24} {}",
            s.id,
            s.mock_config,
            pkg,
            s.state.as_str()
        );
    }
    if !wait {
        return Ok(());
    }
    let mut seen: HashMap<i32, TaskState> = task.subtasks.iter().map(|s| (s.id, s.state)).collect();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let resp = authed(http.get(format!("{url}/api/v1/tasks/{}", task.id)), &token)
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(api_error(resp).await);
        }
        let now: Task = resp.json().await?;
        for s in &now.subtasks {
            if seen.get(&s.id) != Some(&s.state) {
                let pkg = s
                    .package
                    .as_ref()
                    .map(|p| p.name.clone())
                    .unwrap_or_default();
                let why = s
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                println!("[{}] {pkg}: {}{why}", s.mock_config, s.state.as_str());
                seen.insert(s.id, s.state);
            }
        }
        if now.state.is_final() {
            println!("task {}: {}", now.id, now.state.as_str());
            if now.state != TaskState::Succeeded {
                bail!("task {} {}", now.id, now.state.as_str());
            }
            return Ok(());
        }
    }
}

pub async fn watch(task: i32) -> anyhow::Result<()> {
    let (http, url, token) = client()?;
    let resp = authed(
        http.get(format!("{url}/api/v1/tasks/{task}/log?follow=1")),
        &token,
    )
    .send()
    .await
    .with_context(|| format!("reaching {url}"))?;
    if !resp.status().is_success() {
        return Err(api_error(resp).await);
    }
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut event = String::new();
    let mut data: Vec<String> = Vec::new();
    let mut out = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(i) = buf.find('\n') {
            let line: String = buf.drain(..=i).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                // End of one event.
                match event.as_str() {
                    "log" => {
                        for d in &data {
                            writeln!(out, "{d}")?;
                        }
                    }
                    "end" => {
                        let state = data.join("");
                        eprintln!("task {task}: {state}");
                        if state != "succeeded" {
                            bail!("task {task} {state}");
                        }
                        return Ok(());
                    }
                    "error" => bail!("{}", data.join("\n")),
                    _ => {}
                }
                event.clear();
                data.clear();
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
            }
        }
    }
    bail!("the log stream ended early")
}
