//! The packager client's build commands: `kiln build` (upload with a progress line, then
//! optionally wait, showing each build's state changes) and `kiln watch` (follow a log over
//! server-sent events), and what every client command shares: the server URL and token
//! (`KILN_URL`, `KILN_TOKEN`, `~/.config/kiln/client.toml`) and error messages from the API's
//! envelope.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use kiln_proto::{Task, TaskState};

pub(crate) fn client() -> anyhow::Result<(reqwest::Client, String, Option<String>)> {
    let cfg = client_config()?;
    Ok((reqwest::Client::new(), cfg.url, cfg.token))
}

pub(crate) fn authed(
    r: reqwest::RequestBuilder,
    token: &Option<String>,
) -> reqwest::RequestBuilder {
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
    follow(&http, &url, &token, task, wait).await
}

/// Builds from a git or URL source: an agent fetches it and makes the SRPM first.
pub async fn build_source(
    repo: &str,
    source: kiln_proto::Source,
    chroots: &[String],
    options: BuildOptions,
) -> anyhow::Result<()> {
    let (http, url, token) = client()?;
    let (owner, name) = repo.split_once('/').context("the repo is OWNER/REPO")?;
    let body = kiln_proto::SourceBuild {
        source,
        chroots: chroots.to_vec(),
        scratch: options.scratch,
        nocheck: options.nocheck,
        priority: None,
    };
    let resp = authed(
        http.post(format!("{url}/api/v1/repos/{owner}/{name}/builds")),
        &token,
    )
    .json(&body)
    .send()
    .await
    .with_context(|| format!("reaching {url}"))?;
    if !resp.status().is_success() {
        return Err(api_error(resp).await);
    }
    let task: Task = resp.json().await?;
    follow(&http, &url, &token, task, options.wait).await
}

/// `kiln package set`: stores a package's source.
pub async fn package_set(
    repo: &str,
    name: &str,
    source: kiln_proto::Source,
    auto_rebuild: bool,
) -> anyhow::Result<()> {
    let (http, url, token) = client()?;
    let (owner, repo_name) = repo.split_once('/').context("the repo is OWNER/REPO")?;
    let resp = authed(
        http.put(format!(
            "{url}/api/v1/repos/{owner}/{repo_name}/packages/{name}"
        )),
        &token,
    )
    .json(&kiln_proto::PackagePut {
        source,
        auto_rebuild,
    })
    .send()
    .await
    .with_context(|| format!("reaching {url}"))?;
    let created = resp.status() == reqwest::StatusCode::CREATED;
    if !resp.status().is_success() {
        return Err(api_error(resp).await);
    }
    let p: kiln_proto::Package = resp.json().await?;
    println!(
        "{} {} in {}: {}{}",
        if created { "stored" } else { "updated" },
        p.name,
        p.repo,
        p.source.display(),
        if p.auto_rebuild {
            " (rebuilt on push)"
        } else {
            ""
        }
    );
    Ok(())
}

/// `kiln package build`: builds a package now from its stored source.
pub async fn package_build(
    repo: &str,
    name: &str,
    chroots: &[String],
    scratch: bool,
    wait: bool,
) -> anyhow::Result<()> {
    let (http, url, token) = client()?;
    let (owner, repo_name) = repo.split_once('/').context("the repo is OWNER/REPO")?;
    let resp = authed(
        http.post(format!(
            "{url}/api/v1/repos/{owner}/{repo_name}/packages/{name}/builds"
        )),
        &token,
    )
    .json(&serde_json::json!({"chroots": chroots, "scratch": scratch}))
    .send()
    .await
    .with_context(|| format!("reaching {url}"))?;
    if !resp.status().is_success() {
        return Err(api_error(resp).await);
    }
    let task: Task = resp.json().await?;
    follow(&http, &url, &token, task, wait).await
}

/// `kiln package list`: a repo's packages, their sources and newest published versions.
pub async fn package_list(repo: &str) -> anyhow::Result<()> {
    let (http, url, token) = client()?;
    let (owner, repo_name) = repo.split_once('/').context("the repo is OWNER/REPO")?;
    let resp = authed(
        http.get(format!("{url}/api/v1/repos/{owner}/{repo_name}/packages")),
        &token,
    )
    .send()
    .await
    .with_context(|| format!("reaching {url}"))?;
    if !resp.status().is_success() {
        return Err(api_error(resp).await);
    }
    let list: Vec<kiln_proto::Package> = resp.json().await?;
    for p in list {
        println!(
            "{}  {}{}",
            p.name,
            p.source.display(),
            if p.auto_rebuild {
                "  (rebuilt on push)"
            } else {
                ""
            }
        );
        for v in &p.published {
            println!(
                "    {:<28} {}-{}.{}  (build {})",
                v.chroot,
                v.name,
                v.evr(),
                v.arch,
                v.build
            );
        }
    }
    Ok(())
}

/// A subtask's line: its mock config, package (or `SRPM step`) and state.
fn subtask_line(s: &kiln_proto::Subtask) -> (String, String) {
    let what = match s.kind {
        kiln_proto::SubtaskKind::Srpm => "SRPM step".to_owned(),
        kiln_proto::SubtaskKind::Build => s
            .package
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default(),
    };
    (s.mock_config.clone(), what)
}

/// Prints a submitted task, then (with `wait`) each subtask's changes until it ends; an error
/// unless it succeeded.
async fn follow(
    http: &reqwest::Client,
    url: &str,
    token: &Option<String>,
    task: Task,
    wait: bool,
) -> anyhow::Result<()> {
    println!(
        "task {} in {}: {} builds",
        task.id,
        task.repo,
        task.subtasks.len()
    );
    if let Some(origin) = &task.source {
        println!("  from {}", origin.source.display());
    }
    for s in &task.subtasks {
        let (config, what) = subtask_line(s);
        println!(
            "  {:>6}  {:<28} {:<24} {}",
            s.id,
            config,
            what,
            s.state.as_str()
        );
    }
    if !wait {
        return Ok(());
    }
    let mut seen: HashMap<i32, TaskState> = task.subtasks.iter().map(|s| (s.id, s.state)).collect();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let resp = authed(http.get(format!("{url}/api/v1/tasks/{}", task.id)), token)
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(api_error(resp).await);
        }
        let now: Task = resp.json().await?;
        for s in &now.subtasks {
            if seen.get(&s.id) != Some(&s.state) {
                let (config, what) = subtask_line(s);
                let why = s
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                println!("[{config}] {what}: {}{why}", s.state.as_str());
                seen.insert(s.id, s.state);
            }
        }
        if now.state.is_final() {
            if let Some(commit) = now.source.as_ref().and_then(|o| o.commit.as_deref()) {
                println!("built commit {commit}");
            }
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

/// The client's server URL and token.
pub(crate) struct ClientConfig {
    pub(crate) url: String,
    pub(crate) token: Option<String>,
}

pub(crate) fn client_config() -> anyhow::Result<ClientConfig> {
    #[derive(serde::Deserialize, Default)]
    struct File {
        url: Option<String>,
        token: Option<String>,
    }
    let file: File = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".config/kiln/client.toml"))
        .filter(|p| p.exists())
        .map(|p| -> anyhow::Result<File> {
            let text = std::fs::read_to_string(&p)?;
            toml_file(&text).with_context(|| format!("parsing {}", p.display()))
        })
        .transpose()?
        .unwrap_or_default();
    fn toml_file(text: &str) -> anyhow::Result<File> {
        let v: toml::Table = text.parse()?;
        Ok(File {
            url: v.get("url").and_then(|x| x.as_str()).map(str::to_owned),
            token: v.get("token").and_then(|x| x.as_str()).map(str::to_owned),
        })
    }
    Ok(ClientConfig {
        url: std::env::var("KILN_URL")
            .ok()
            .or(file.url)
            .unwrap_or_else(|| "http://127.0.0.1:8080".into())
            .trim_end_matches('/')
            .to_owned(),
        token: std::env::var("KILN_TOKEN")
            .ok()
            .or(file.token)
            .filter(|t| !t.is_empty()),
    })
}

pub(crate) async fn api_error(resp: reqwest::Response) -> anyhow::Error {
    let status = resp.status();
    match resp.json::<kiln_proto::ErrorBody>().await {
        Ok(body) => anyhow::anyhow!(
            "{status}: {}",
            body.errors
                .iter()
                .map(|e| e.detail.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Err(_) => anyhow::anyhow!("the server answered {status}"),
    }
}
