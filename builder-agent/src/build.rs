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

use crate::outcome::{explain, log_of, results};
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
            // Read-only host, private /tmp, no network, dies with the agent.
            let mut c = crate::srpm::sandbox(w, opts.use_bwrap);
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

/// The lines of a command's output pipe, read on a thread of their own (the read blocks) until
/// the last writer closes it.
pub fn lines(reader: std::io::PipeReader) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel::<String>(1024);
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
    rx
}

/// The file the agent writes the build's output to.
fn output_log(opts: &Options) -> &'static str {
    log_of(opts.backend)
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
    let header = header(opts, &job);
    if let Err(e) = client.log(job.task_id, header.clone()).await {
        tracing::warn!(task = job.task_id, error = %e, "sending the log header failed");
    }
    let outcome = match &job.source {
        JobSource::Make { .. } => crate::srpm::step(client, &job, &w, &header, opts).await,
        JobSource::Srpm { .. } => build(client, opts, &job, &w, header, &mut stop).await,
    };
    let report = match outcome {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(task = job.task_id, error = %format!("{e:#}"), "infrastructure error");
            Finish {
                result: BuildResult::HandedBack,
                reason: Some(format!("{e:#}")),
                stage: None,
                backend: None,
                commit: None,
                source_sha256: None,
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
        JobSource::Make { .. } => bail!("a source's SRPM step is not a build"),
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

/// The two lines every attempt's log starts with: what is building, where and with what.
fn header(opts: &Options, job: &Job) -> String {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let what = match &job.source {
        JobSource::Make { .. } => "SRPM step attempt",
        JobSource::Srpm { .. } => "build attempt",
    };
    format!(
        "=== Kiln {what} {} of task {} ({} {} on {}) by agent {} at {now} ===\n\
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
    )
}

async fn build(
    client: &Client,
    opts: &Options,
    job: &Job,
    w: &Path,
    header: String,
    stop: &mut watch::Receiver<Stop>,
) -> anyhow::Result<Finish> {
    let srpm = fetch_source(client, job, w).await?;
    if opts.backend == Backend::Mock {
        let config =
            kiln_proto::agent::RepoAuth::apply(job.repo_auth.as_ref(), &job.rendered_config);
        tokio::fs::write(w.join("kiln.cfg"), config).await?;
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

    let mut rx = lines(reader);
    let log_path = w.join(output_log(opts));
    let task_id = job.task_id;
    let shipper_client = client.clone();
    // The job's secret (a private repo's read token) never leaves in a log, whatever prints it.
    let secret = job.repo_auth.as_ref().map(|a| a.password.clone());
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
                        batch.push_str(&redact(&l, secret.as_deref()));
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
            commit: None,
            source_sha256: None,
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
        if let (Some(a), true) = (&job.repo_auth, name.ends_with(".log")) {
            redact_file(&path, &a.password).await?;
        }
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
        commit: None,
        source_sha256: None,
    };
    let report = match (stopped, status) {
        (Some("cancel"), _) => Finish {
            result: BuildResult::Canceled,
            reason: None,
            stage: None,
            backend: Some(opts.backend_info.clone()),
            commit: None,
            source_sha256: None,
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
            commit: None,
            source_sha256: None,
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

/// `text` with `secret` replaced by `[redacted]`.
fn redact(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() && text.contains(s) => text.replace(s, "[redacted]"),
        _ => text.to_owned(),
    }
}

/// A log file about to be uploaded, with `secret` replaced by `[redacted]`.
async fn redact_file(path: &Path, secret: &str) -> anyhow::Result<()> {
    let bytes = tokio::fs::read(path).await?;
    let text = String::from_utf8_lossy(&bytes);
    if text.contains(secret) {
        tokio::fs::write(path, redact(&text, Some(secret))).await?;
    }
    Ok(())
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
            repo_auth: None,
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

    #[test]
    fn client_file_names_never_become_paths() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("a b;rm -rf.src.rpm"), "a_b_rm_-rf.src.rpm");
        assert_eq!(safe_file_name(".."), "source.src.rpm");
        assert_eq!(safe_file_name("hello-1.0-1.src.rpm"), "hello-1.0-1.src.rpm");
    }
}
