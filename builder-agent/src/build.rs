//! Running one build: a private workspace, the SRPM downloaded and checked, the backend
//! (`rpmbuild` in a bubblewrap sandbox when bwrap is there, or `mock`), its output (stdout and
//! stderr as one stream, in the order written) streamed to the server as it comes, the
//! backend's own results and logs uploaded (also after a failure), the result reported with
//! the stage that failed, the workspace removed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use kiln_proto::agent::{BuildResult, FailureStage, Finish, Job, JobSource};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};

use crate::Client;

/// How the agent builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Mock,
    Rpmbuild,
}

/// Why a build stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Run,
    /// A user canceled it.
    Cancel,
    /// The agent is shutting down: hand the work back.
    HandBack,
}

pub struct Options {
    pub backend: Backend,
    pub work_dir: PathBuf,
    /// `http(s)://host:port` of a proxy for buildroot downloads (mock's dnf), if any.
    pub proxy: Option<String>,
    pub use_bwrap: bool,
    /// The agent's name, for the log header.
    pub agent_name: String,
    /// The backend and the toolchain it uses (see `describe_backend`).
    pub backend_info: String,
}

/// What builds: the backend, its version and the host, said plainly (the rpmbuild backend
/// uses the host's rpm, compilers and macros, not the chroot's).
pub fn describe_backend(backend: Backend) -> String {
    let version = |program: &str| {
        std::process::Command::new(program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(|l| l.trim().to_owned())
            })
            .unwrap_or_else(|| "version unknown".into())
    };
    let host = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    match backend {
        Backend::Mock => format!("mock ({}) on {host}", version("mock")),
        Backend::Rpmbuild => format!(
            "rpmbuild ({}) on {host}: the host's rpm, compilers and macros, not the chroot's; \
             BuildRequires are not installed (--nodeps)",
            version("rpmbuild")
        ),
    }
}

fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("source.src.rpm");
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned.starts_with('.') {
        "source.src.rpm".into()
    } else {
        cleaned
    }
}

/// The command a backend runs for `job` in workspace `w` (pure, so tests can check it).
pub fn command_line(
    opts: &Options,
    job: &Job,
    w: &Path,
    srpm: &Path,
    host_arch: &str,
) -> Vec<String> {
    let s = |p: &Path| p.display().to_string();
    match opts.backend {
        Backend::Mock => {
            let mut c = vec![
                "mock".to_owned(),
                "-r".to_owned(),
                s(&w.join("kiln.cfg")),
                "--rebuild".to_owned(),
                s(srpm),
                "--resultdir".to_owned(),
                s(&w.join("result")),
                "--no-cleanup-after".to_owned(),
            ];
            if job.nocheck {
                c.push("--nocheck".to_owned());
            }
            if let Some(p) = &opts.proxy {
                // dnf inside the buildroot fetches through the proxy.
                c.push(format!("--config-opts=dnf.conf_proxy={p}"));
            }
            c
        }
        Backend::Rpmbuild => {
            let mut c = Vec::new();
            if opts.use_bwrap {
                // Read-only host, private /tmp, no network, dies with the agent.
                for a in [
                    "bwrap",
                    "--ro-bind",
                    "/",
                    "/",
                    "--dev",
                    "/dev",
                    "--proc",
                    "/proc",
                    "--tmpfs",
                    "/tmp",
                    "--tmpfs",
                    "/var/tmp",
                    "--tmpfs",
                    "/root",
                ] {
                    c.push(a.to_owned());
                }
                c.extend(["--bind".to_owned(), s(w), s(w)]);
                for a in [
                    "--unshare-all",
                    "--die-with-parent",
                    "--new-session",
                    "--chdir",
                ] {
                    c.push(a.to_owned());
                }
                c.push(s(w));
                c.extend(["--setenv".to_owned(), "HOME".to_owned(), s(w)]);
            }
            c.push("rpmbuild".to_owned());
            c.push("--rebuild".to_owned());
            c.push(s(srpm));
            // The host has no buildroot to satisfy BuildRequires; mock is the backend that
            // installs them.
            c.push("--nodeps".to_owned());
            if job.nocheck {
                c.push("--nocheck".to_owned());
            }
            for (k, v) in [
                ("_topdir", s(&w.join("top"))),
                ("_dbpath", s(&w.join("rpmdb"))),
                ("_tmppath", s(&w.join("tmp"))),
            ] {
                c.push("--define".to_owned());
                c.push(format!("{k} {v}"));
            }
            for (k, v) in &job.macros {
                c.push("--define".to_owned());
                c.push(format!("{k} {v}"));
            }
            if job.arch != host_arch && job.arch != "noarch" {
                c.push("--target".to_owned());
                c.push(job.arch.clone());
            }
            c
        }
    }
}

/// The file the agent writes the build's output to.
fn output_log(opts: &Options) -> &'static str {
    log_of(opts.backend)
}

fn log_of(backend: Backend) -> &'static str {
    match backend {
        // mock writes its own build.log, root.log and state.log into the result dir.
        Backend::Mock => "mock-output.log",
        Backend::Rpmbuild => "build.log",
    }
}

/// Files to upload after the build: only what the backend itself wrote. rpmbuild: the
/// packages under `RPMS/` and `SRPMS/` and the agent's own log (never `BUILD/`, which holds
/// the package's sources, `*.rpm` and `*.log` files included); mock: the packages and mock's
/// named logs in its result directory, and the agent's log. The server still checks every
/// RPM (a spec can copy files into `RPMS/`).
pub fn results(opts: &Options, w: &Path) -> Vec<PathBuf> {
    let mut out = vec![w.join(output_log(opts))];
    let rpms_in = |dir: PathBuf, deep: bool, out: &mut Vec<PathBuf>| {
        let mut walk = vec![dir];
        while let Some(dir) = walk.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                let Ok(kind) = e.file_type() else { continue };
                if kind.is_dir() && deep {
                    walk.push(p);
                } else if kind.is_file() && p.extension().is_some_and(|x| x == "rpm") {
                    out.push(p);
                }
            }
        }
    };
    match opts.backend {
        Backend::Rpmbuild => {
            rpms_in(w.join("top/RPMS"), true, &mut out);
            rpms_in(w.join("top/SRPMS"), false, &mut out);
        }
        Backend::Mock => {
            rpms_in(w.join("result"), false, &mut out);
            for log in MOCK_LOGS {
                out.push(w.join("result").join(log));
            }
        }
    }
    out.retain(|p| p.is_file());
    out.sort();
    out.dedup();
    out
}

/// The logs mock writes into its result directory.
const MOCK_LOGS: &[&str] = &[
    "build.log",
    "root.log",
    "state.log",
    "hw_info.log",
    "installed_pkgs.log",
];

/// Where a failed build failed, from the backend's own words (rpmbuild's `Bad exit status
/// from … (%build)`, its packaging errors, dnf's and mock's dependency errors), with the
/// line that says so. The last rpmbuild stage error wins; dependency errors come before any
/// stage runs.
pub fn failure_stage(output: &str) -> Option<(FailureStage, String)> {
    let mut found: Option<(FailureStage, String)> = None;
    let mut deps: Option<String> = None;
    let mut lines = output.lines().peekable();
    while let Some(raw) = lines.next() {
        let line = raw.trim();
        // mock prefixes build.log lines with nothing, root.log lines with a time and a level.
        let line = line.find("error: ").map(|i| &line[i..]).unwrap_or(line);
        if let Some(rest) = line.strip_prefix("error: Bad exit status from ") {
            let stage = rest
                .rsplit_once('(')
                .map(|(_, s)| s.trim_end_matches(')'))
                .unwrap_or("");
            let stage = match stage {
                "%prep" => Some(FailureStage::Prep),
                "%build" | "%conf" => Some(FailureStage::Build),
                "%install" => Some(FailureStage::Install),
                "%check" => Some(FailureStage::Check),
                _ => None,
            };
            if let Some(stage) = stage {
                found = Some((stage, line.trim_start_matches("error: ").to_owned()));
            }
        } else if line.starts_with("error: File not found")
            || line.starts_with("error: Empty %files file")
            || line.starts_with("error: Directory not found")
            || line.starts_with("error: File must begin with \"/\"")
        {
            found = Some((
                FailureStage::Files,
                line.trim_start_matches("error: ").to_owned(),
            ));
        } else if line.starts_with("error: Installed (but unpackaged) file(s) found") {
            let first = lines
                .peek()
                .map(|l| l.trim().to_owned())
                .unwrap_or_default();
            found = Some((
                FailureStage::Files,
                format!("installed but not in %files: {first}"),
            ));
        } else if deps.is_none()
            && (line.starts_with("error: Failed build dependencies")
                || line.contains("No matching package to install")
                || line.contains("No match for argument")
                || line.contains("Failed to resolve the transaction")
                || line.starts_with("Error: Unable to find a match"))
        {
            let detail = if line.starts_with("error: Failed build dependencies") {
                let first = lines
                    .peek()
                    .map(|l| l.trim().to_owned())
                    .unwrap_or_default();
                format!("missing build dependencies: {first}")
            } else {
                line.to_owned()
            };
            deps = Some(detail);
        }
    }
    found.or(deps.map(|d| (FailureStage::Dependencies, d)))
}

/// Whether a log line says the backend (mock) failed setting up the buildroot.
fn mock_dependency_failure(output: &str) -> bool {
    // `ERROR: Command failed:` then, on the next line, the command: `… dnf builddep …`.
    let lines: Vec<&str> = output.lines().collect();
    lines.windows(2).any(|w| {
        w[0].contains("Command failed") && (w[0].contains("builddep") || w[1].contains("builddep"))
    })
}

/// Runs `job` to the end and reports it. Errors are the infrastructure's (the work goes back
/// to the queue); a failed build is a normal result.
pub async fn run(
    client: &Client,
    opts: &Options,
    job: Job,
    mut stop: watch::Receiver<Stop>,
) -> anyhow::Result<()> {
    let w = opts
        .work_dir
        .join("tasks")
        .join(format!("{}-{}", job.task_id, job.attempt));
    let _ = tokio::fs::remove_dir_all(&w).await;
    for d in ["top", "rpmdb", "tmp", "result"] {
        tokio::fs::create_dir_all(w.join(d)).await?;
    }
    let outcome = build(client, opts, &job, &w, &mut stop).await;
    let report = match outcome {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(task = job.task_id, error = %format!("{e:#}"), "infrastructure error");
            Finish {
                result: BuildResult::HandedBack,
                reason: Some(format!("{e:#}")),
                stage: None,
                backend: None,
            }
        }
    };
    tracing::info!(task = job.task_id, result = ?report.result, "build finished");
    let sent = client.finish(job.task_id, &report).await;
    let _ = tokio::fs::remove_dir_all(&w).await;
    sent
}

/// Brings the job's source into the workspace as an SRPM; returns its path.
async fn fetch_source(client: &Client, job: &Job, w: &Path) -> anyhow::Result<PathBuf> {
    match &job.source {
        JobSource::Srpm {
            file_name, sha256, ..
        } => {
            let srpm = w.join(safe_file_name(file_name));
            download(client, job.task_id, sha256, &srpm).await?;
            Ok(srpm)
        }
    }
}

/// Downloads the server's SRPM of `task` to `srpm`, checking its SHA-256.
async fn download(client: &Client, task: i32, sha256: &str, srpm: &Path) -> anyhow::Result<()> {
    let resp = client.get_source(task).await?;
    let mut file = tokio::fs::File::create(srpm).await?;
    let mut hasher = Sha256::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.context("downloading the SRPM")?;
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    let got = hex::encode(hasher.finalize());
    if got != sha256 {
        bail!("the downloaded SRPM's SHA-256 is {got}, expected {sha256}");
    }
    Ok(())
}

async fn build(
    client: &Client,
    opts: &Options,
    job: &Job,
    w: &Path,
    stop: &mut watch::Receiver<Stop>,
) -> anyhow::Result<Finish> {
    // Every attempt's log starts with what is building, where and with what.
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let header = format!(
        "=== Kiln build attempt {} of task {} ({} {} on {}) by agent {} at {now} ===\n\
         === backend: {}{} ===\n",
        job.attempt,
        job.task_id,
        job.repo,
        job.source.display_name(),
        job.mock_config,
        opts.agent_name,
        opts.backend_info,
        if job.nocheck {
            "; %check skipped (--nocheck)"
        } else {
            ""
        },
    );
    if let Err(e) = client.log(job.task_id, header.clone()).await {
        tracing::warn!(task = job.task_id, error = %e, "sending the log header failed");
    }
    let srpm = fetch_source(client, job, w).await?;
    if opts.backend == Backend::Mock {
        tokio::fs::write(w.join("kiln.cfg"), &job.rendered_config).await?;
    }
    let argv = command_line(opts, job, w, &srpm, std::env::consts::ARCH);
    tracing::info!(task = job.task_id, command = %argv.join(" "), "building");
    // stdout and stderr share one pipe, so lines arrive in the order they were written (as a
    // terminal shows them): rpmbuild's section headers go to one, the commands' trace to the
    // other.
    let (reader, writer) = std::io::pipe().context("making the output pipe")?;
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(w)
        .env("HOME", w)
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer.try_clone()?))
        .stderr(Stdio::from(writer))
        // Its own process group, so that stopping the build stops everything it started.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(p) = &opts.proxy {
        cmd.env("http_proxy", p).env("https_proxy", p);
    }
    let spawned = cmd.spawn();
    // The parent's copies of the write end must be gone, or the reader never sees the end.
    drop(cmd);
    let mut child = spawned.with_context(|| format!("starting {}", argv[0]))?;

    let (tx, mut rx) = mpsc::channel::<String>(1024);
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut reader = std::io::BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\n', '\r'])
                        .to_owned();
                    if tx.blocking_send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let log_path = w.join(output_log(opts));
    let task_id = job.task_id;
    let shipper_client = client.clone();
    let shipper = tokio::spawn(async move {
        let mut file = tokio::fs::File::create(&log_path).await.ok();
        if let Some(f) = file.as_mut() {
            let _ = f.write_all(header.as_bytes()).await;
        }
        let mut batch = String::new();
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                line = rx.recv() => match line {
                    Some(l) => {
                        batch.push_str(&l);
                        batch.push('\n');
                        if batch.len() > 64 * 1024 {
                            ship(&shipper_client, task_id, &mut batch, &mut file).await;
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => ship(&shipper_client, task_id, &mut batch, &mut file).await,
            }
        }
        ship(&shipper_client, task_id, &mut batch, &mut file).await;
    });

    let timeout = tokio::time::sleep(Duration::from_secs(job.timeout_seconds.max(1)));
    tokio::pin!(timeout);
    let mut stopped = None;
    let status = loop {
        tokio::select! {
            status = child.wait() => break Some(status?),
            _ = &mut timeout => {
                kill_group(&mut child).await;
                stopped = Some("timeout");
                break None;
            }
            changed = stop.changed() => {
                if changed.is_err() { continue; }
                let s = *stop.borrow();
                if s != Stop::Run {
                    kill_group(&mut child).await;
                    stopped = Some(if s == Stop::Cancel { "cancel" } else { "handback" });
                    break None;
                }
            }
        }
    };
    // The pipe closes when the last process of the build exits; do not wait forever.
    let _ = tokio::time::timeout(Duration::from_secs(10), shipper).await;
    if stopped == Some("handback") {
        return Ok(Finish {
            result: BuildResult::HandedBack,
            reason: Some("the agent was stopped".into()),
            stage: None,
            backend: None,
        });
    }
    // Upload what the backend made, also after a failure: the logs say why. A file the server
    // refuses (not an RPM, not from this build's SRPM) fails the build with that reason.
    let mut refused = Vec::new();
    for path in results(opts, w) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        match client.upload(job.task_id, &name, &path).await {
            Ok(()) => {}
            Err(e) => match e.downcast_ref::<crate::Refused>() {
                Some(why) => refused.push(why.0.clone()),
                None => return Err(e.context(format!("uploading {name}"))),
            },
        }
    }
    let failed = |stage: Option<FailureStage>, reason: String| Finish {
        result: BuildResult::Failed,
        reason: Some(reason),
        stage,
        backend: Some(opts.backend_info.clone()),
    };
    let report = match (stopped, status) {
        (Some("cancel"), _) => Finish {
            result: BuildResult::Canceled,
            reason: None,
            stage: None,
            backend: Some(opts.backend_info.clone()),
        },
        (Some(_), _) => failed(
            Some(FailureStage::Timeout),
            format!(
                "the build took longer than {} seconds and was stopped",
                job.timeout_seconds
            ),
        ),
        (None, Some(s)) if s.success() && refused.is_empty() => Finish {
            result: BuildResult::Succeeded,
            reason: None,
            stage: None,
            backend: Some(opts.backend_info.clone()),
        },
        (None, Some(s)) if s.success() => failed(
            Some(FailureStage::Results),
            format!(
                "the server refused the build's output: {}",
                refused.join("; ")
            ),
        ),
        (None, Some(s)) => {
            let (stage, reason) = explain_failure(opts, w, s).await;
            failed(stage, reason)
        }
        (None, None) => failed(None, "the build stopped".into()),
    };
    Ok(report)
}

/// Why the backend failed: the stage from its logs, or the signal that killed it.
async fn explain_failure(
    opts: &Options,
    w: &Path,
    status: std::process::ExitStatus,
) -> (Option<FailureStage>, String) {
    use std::os::unix::process::ExitStatusExt;
    let mut text = String::new();
    let mut logs = vec![w.join(output_log(opts))];
    if opts.backend == Backend::Mock {
        logs.push(w.join("result/build.log"));
        logs.push(w.join("result/root.log"));
    }
    for log in logs {
        if let Ok(t) = tokio::fs::read(&log).await {
            text.push_str(&String::from_utf8_lossy(&t));
            text.push('\n');
        }
    }
    explain(opts.backend, status.code(), status.signal(), &text)
}

/// The stage and reason of a failed build: from what the backend wrote (`output`), else from
/// how it ended (`code`, or the `signal` that killed it; bubblewrap reports a signal as
/// 128 + its number).
pub fn explain(
    backend: Backend,
    code: Option<i32>,
    signal: Option<i32>,
    output: &str,
) -> (Option<FailureStage>, String) {
    let program = program_of(backend);
    let log = log_of(backend);
    let ended = code
        .map(|c| format!("status {c}"))
        .unwrap_or_else(|| "a signal".into());
    match failure_stage(output) {
        Some((FailureStage::Dependencies, line)) => {
            return (
                Some(FailureStage::Dependencies),
                format!("the buildroot could not be made: {line}"),
            )
        }
        Some((stage, line)) => {
            return (
                Some(stage),
                format!(
                    "{} failed: {line} ({program} exited with {ended}); see build.log",
                    stage.as_str()
                ),
            )
        }
        None => {}
    }
    let signal = signal.or(code.filter(|c| (129..=192).contains(c)).map(|c| c - 128));
    if let Some(signal) = signal {
        let hint = if signal == 9 {
            " (SIGKILL: out of memory?)"
        } else {
            ""
        };
        return (
            Some(FailureStage::Killed),
            format!("{program} was killed by signal {signal}{hint}; see {log}"),
        );
    }
    if backend == Backend::Mock && mock_dependency_failure(output) {
        return (
            Some(FailureStage::Dependencies),
            format!("the buildroot could not be made (mock exited with {ended}); see root.log"),
        );
    }
    (None, format!("{program} exited with {ended}; see {log}"))
}

/// Kills the build's whole process group (rpmbuild's shells and their children too).
async fn kill_group(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status()
            .await;
    }
    let _ = child.kill().await;
}

fn program_of(backend: Backend) -> &'static str {
    match backend {
        Backend::Mock => "mock",
        Backend::Rpmbuild => "rpmbuild",
    }
}

async fn ship(
    client: &Client,
    task_id: i32,
    batch: &mut String,
    file: &mut Option<tokio::fs::File>,
) {
    if batch.is_empty() {
        return;
    }
    if let Some(f) = file.as_mut() {
        let _ = f.write_all(batch.as_bytes()).await;
    }
    if let Err(e) = client.log(task_id, std::mem::take(batch)).await {
        tracing::warn!(task = task_id, error = %e, "sending log lines failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn job(arch: &str) -> Job {
        Job {
            task_id: 7,
            parent_id: 6,
            attempt: 1,
            repo: "alice/tools".into(),
            arch: arch.into(),
            mock_config: "fedora-44-x86_64".into(),
            rendered_config: "config_opts['root'] = 'x'\n".into(),
            macros: BTreeMap::from([
                ("dist".into(), ".fc44".into()),
                ("vendor".into(), "Alice".into()),
            ]),
            source: JobSource::Srpm {
                file_name: "hello-1-1.src.rpm".into(),
                sha256: "0".repeat(64),
                size: 1,
            },
            nocheck: false,
            timeout_seconds: 60,
        }
    }

    #[test]
    fn mock_backend_runs_mock_with_the_rendered_config_and_a_result_dir() {
        let opts = Options {
            backend: Backend::Mock,
            work_dir: "/w".into(),
            proxy: Some("http://squid:3128".into()),
            use_bwrap: true,
            agent_name: "a".into(),
            backend_info: "mock".into(),
        };
        let argv = command_line(
            &opts,
            &job("x86_64"),
            Path::new("/w/t"),
            Path::new("/w/t/hello-1-1.src.rpm"),
            "x86_64",
        );
        assert_eq!(
            argv,
            [
                "mock",
                "-r",
                "/w/t/kiln.cfg",
                "--rebuild",
                "/w/t/hello-1-1.src.rpm",
                "--resultdir",
                "/w/t/result",
                "--no-cleanup-after",
                "--config-opts=dnf.conf_proxy=http://squid:3128"
            ]
        );
    }

    #[test]
    fn rpmbuild_backend_defines_dist_and_macros_in_a_sandbox() {
        let opts = Options {
            backend: Backend::Rpmbuild,
            work_dir: "/w".into(),
            proxy: None,
            use_bwrap: true,
            agent_name: "a".into(),
            backend_info: "rpmbuild".into(),
        };
        let argv = command_line(
            &opts,
            &job("i686"),
            Path::new("/w/t"),
            Path::new("/w/t/s.src.rpm"),
            "x86_64",
        )
        .join(" ");
        assert!(argv.starts_with("bwrap --ro-bind / / "), "{argv}");
        assert!(
            argv.contains("--unshare-all"),
            "no network in the sandbox: {argv}"
        );
        assert!(argv.contains("--bind /w/t /w/t"));
        assert!(argv.contains("rpmbuild --rebuild /w/t/s.src.rpm --nodeps"));
        assert!(argv.contains("--define _topdir /w/t/top"));
        assert!(argv.contains("--define _dbpath /w/t/rpmdb"));
        assert!(argv.contains("--define dist .fc44"));
        assert!(argv.contains("--define vendor Alice"));
        assert!(argv.ends_with("--target i686"));
        let plain = Options {
            use_bwrap: false,
            ..opts
        };
        let argv = command_line(
            &plain,
            &job("x86_64"),
            Path::new("/w/t"),
            Path::new("/w/t/s.src.rpm"),
            "x86_64",
        );
        assert_eq!(argv[0], "rpmbuild");
        assert!(!argv.contains(&"--target".to_owned()));
    }

    #[test]
    fn nocheck_reaches_both_backends() {
        let mut j = job("x86_64");
        j.nocheck = true;
        for backend in [Backend::Mock, Backend::Rpmbuild] {
            let opts = Options {
                backend,
                work_dir: "/w".into(),
                proxy: None,
                use_bwrap: false,
                agent_name: "a".into(),
                backend_info: "b".into(),
            };
            let argv = command_line(
                &opts,
                &j,
                Path::new("/w/t"),
                Path::new("/w/t/s.src.rpm"),
                "x86_64",
            );
            assert!(
                argv.contains(&"--nocheck".to_owned()),
                "{backend:?}: {argv:?}"
            );
            let argv = command_line(
                &opts,
                &job("x86_64"),
                Path::new("/w/t"),
                Path::new("/w/t/s.src.rpm"),
                "x86_64",
            );
            assert!(
                !argv.contains(&"--nocheck".to_owned()),
                "{backend:?}: {argv:?}"
            );
        }
    }

    /// Lines as rpmbuild 4.18 and mock print them (captured here from real failing builds).
    #[test]
    fn failure_stages_come_from_the_backends_own_words() {
        let stage = |text: &str| failure_stage(text).map(|(s, line)| (s.as_str(), line));
        let bad_exit = |s: &str| {
            format!(
                "Executing({s}): /bin/sh -e /w/tmp/rpm-tmp.cdyLz2\n+ make check\nmake: *** [Makefile:1118: check-am] Error 2\n\
                 error: Bad exit status from /w/tmp/rpm-tmp.cdyLz2 ({s})\n\nRPM build errors:\n    Bad exit status from /w/tmp/rpm-tmp.cdyLz2 ({s})\n"
            )
        };
        for (s, want) in [
            ("%prep", "%prep"),
            ("%build", "%build"),
            ("%install", "%install"),
            ("%check", "%check"),
        ] {
            let (got, line) = stage(&bad_exit(s)).expect(s);
            assert_eq!(got, want);
            assert_eq!(
                line,
                format!("Bad exit status from /w/tmp/rpm-tmp.cdyLz2 ({s})")
            );
        }
        let files = "Processing files: k-1.0-1.noarch\nerror: File not found: /w/top/BUILDROOT/k-1.0-1.x86_64/usr/share/k/not-installed\n\nRPM build errors:\n    File not found: /w/top/BUILDROOT/k/usr/share/k/not-installed\n";
        assert_eq!(stage(files).expect("files").0, "%files");
        let unpackaged = "Checking for unpackaged file(s): /usr/lib/rpm/check-files /w/top/BUILDROOT/k\nerror: Installed (but unpackaged) file(s) found:\n   /usr/share/k/extra\n";
        assert_eq!(
            stage(unpackaged),
            Some((
                "%files",
                "installed but not in %files: /usr/share/k/extra".to_owned()
            ))
        );
        let rpmbuild_deps =
            "error: Failed build dependencies:\n\tlibfoo-devel is needed by k-1.0-1.x86_64\n";
        assert_eq!(
            stage(rpmbuild_deps),
            Some((
                "dependencies",
                "missing build dependencies: libfoo-devel is needed by k-1.0-1.x86_64".to_owned()
            ))
        );
        let mock_root_log = "DEBUG util.py:461:  No matching package to install: 'libfoo-devel'\nDEBUG util.py:461:  Not all dependencies satisfied\nERROR: Command failed:\n # /usr/bin/dnf-3 builddep --installroot /var/lib/mock/f44/root/ /builddir/build/SRPMS/k-1.0-1.src.rpm\n";
        assert_eq!(stage(mock_root_log).expect("deps").0, "dependencies");
        // A section header printed by the package itself does not count; only rpmbuild's error.
        assert_eq!(
            stage("Executing(%build): /bin/sh -e x\n+ echo hi\nhi\n"),
            None
        );
        // mock's build.log after the %build error: the last stage error wins.
        let both = format!("{}{}", bad_exit("%build"), "");
        assert_eq!(stage(&both).expect("both").0, "%build");
    }

    #[test]
    fn a_killed_backend_says_so_and_a_stage_wins_over_the_exit_code() {
        let (stage, why) = explain(Backend::Rpmbuild, Some(137), None, "about to be killed\n");
        assert_eq!(stage, Some(FailureStage::Killed));
        assert_eq!(
            why,
            "rpmbuild was killed by signal 9 (SIGKILL: out of memory?); see build.log"
        );
        let (stage, _) = explain(Backend::Mock, None, Some(15), "");
        assert_eq!(stage, Some(FailureStage::Killed));
        let out = "error: Bad exit status from /w/tmp/rpm-tmp.x (%install)\n";
        let (stage, why) = explain(Backend::Rpmbuild, Some(1), None, out);
        assert_eq!(stage, Some(FailureStage::Install));
        assert_eq!(
            why,
            "%install failed: Bad exit status from /w/tmp/rpm-tmp.x (%install) (rpmbuild exited with status 1); see build.log"
        );
        let (stage, why) = explain(Backend::Rpmbuild, Some(2), None, "something else\n");
        assert_eq!(stage, None);
        assert_eq!(why, "rpmbuild exited with status 2; see build.log");
        let mock = "ERROR: Command failed:\n # /usr/bin/dnf builddep --installroot /r x.src.rpm\n";
        let (stage, _) = explain(Backend::Mock, Some(30), None, mock);
        assert_eq!(stage, Some(FailureStage::Dependencies));
    }

    #[test]
    fn only_the_backends_output_is_collected() {
        let w = std::env::temp_dir().join(format!("kiln-agent-results-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&w);
        for (path, body) in [
            ("build.log", "the agent's log"),
            ("top/RPMS/x86_64/k-1-1.x86_64.rpm", "rpm"),
            ("top/RPMS/noarch/k-doc-1-1.noarch.rpm", "rpm"),
            ("top/SRPMS/k-1-1.src.rpm", "srpm"),
            ("top/BUILD/k-1/x.rpm", "a fixture"),
            ("top/BUILD/k-1/build.log", "a log in the tarball"),
            ("top/BUILD/k-1/tests/data/other.rpm", "a fixture"),
            ("result/k-1-1.x86_64.rpm", "mock's rpm"),
            ("result/root.log", "mock"),
            ("result/config.log", "not mock's"),
            ("result/sub/y.rpm", "not at the top"),
            ("mock-output.log", "the agent's mock log"),
        ] {
            let p = w.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("dir");
            std::fs::write(p, body).expect("write");
        }
        let names = |backend| {
            let opts = Options {
                backend,
                work_dir: w.clone(),
                proxy: None,
                use_bwrap: false,
                agent_name: "a".into(),
                backend_info: "b".into(),
            };
            results(&opts, &w)
                .into_iter()
                .map(|p| p.strip_prefix(&w).expect("inside").display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Backend::Rpmbuild),
            [
                "build.log",
                "top/RPMS/noarch/k-doc-1-1.noarch.rpm",
                "top/RPMS/x86_64/k-1-1.x86_64.rpm",
                "top/SRPMS/k-1-1.src.rpm"
            ]
        );
        assert_eq!(
            names(Backend::Mock),
            [
                "mock-output.log",
                "result/k-1-1.x86_64.rpm",
                "result/root.log"
            ]
        );
        let _ = std::fs::remove_dir_all(&w);
    }

    #[test]
    fn client_file_names_never_become_paths() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("a b;rm -rf.src.rpm"), "a_b_rm_-rf.src.rpm");
        assert_eq!(safe_file_name(".."), "source.src.rpm");
        assert_eq!(safe_file_name("hello-1.0-1.src.rpm"), "hello-1.0-1.src.rpm");
    }
}
