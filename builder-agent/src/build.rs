//! Running one build: a private workspace, the SRPM downloaded and checked, the backend
//! (`rpmbuild` in a bubblewrap sandbox when bwrap is there, or `mock`), log lines streamed to
//! the server as they come, results and logs uploaded (also after a failure), the result
//! reported, the workspace removed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use kiln_proto::agent::{BuildResult, Finish, Job};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
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
    match opts.backend {
        // mock writes its own build.log, root.log and state.log into the result dir.
        Backend::Mock => "mock-output.log",
        Backend::Rpmbuild => "build.log",
    }
}

/// Files to upload after the build: RPMs (binary and source) and logs.
fn results(opts: &Options, w: &Path) -> Vec<PathBuf> {
    let mut out = vec![w.join(output_log(opts))];
    out.retain(|p| p.exists());
    let mut walk = vec![match opts.backend {
        Backend::Mock => w.join("result"),
        Backend::Rpmbuild => w.join("top"),
    }];
    while let Some(dir) = walk.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk.push(p);
            } else if p.extension().is_some_and(|x| x == "rpm" || x == "log") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
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
            }
        }
    };
    tracing::info!(task = job.task_id, result = ?report.result, "build finished");
    let sent = client.finish(job.task_id, &report).await;
    let _ = tokio::fs::remove_dir_all(&w).await;
    sent
}

async fn download(client: &Client, job: &Job, srpm: &Path) -> anyhow::Result<()> {
    let resp = client.get_source(job.task_id).await?;
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
    if got != job.srpm_sha256 {
        bail!(
            "the downloaded SRPM's SHA-256 is {got}, expected {}",
            job.srpm_sha256
        );
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
    let srpm = w.join(safe_file_name(&job.srpm_file_name));
    download(client, job, &srpm).await?;
    if opts.backend == Backend::Mock {
        tokio::fs::write(w.join("kiln.cfg"), &job.rendered_config).await?;
    }
    let argv = command_line(opts, job, w, &srpm, std::env::consts::ARCH);
    tracing::info!(task = job.task_id, command = %argv.join(" "), "building");
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(w)
        .env("HOME", w)
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that stopping the build stops everything it started.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(p) = &opts.proxy {
        cmd.env("http_proxy", p).env("https_proxy", p);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", argv[0]))?;

    // Lines from both pipes go to the server in batches and to build.log.
    let (tx, mut rx) = mpsc::channel::<String>(1024);
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child.stderr.take().map(|p| Box::new(p) as _),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let log_path = w.join(output_log(opts));
    let task_id = job.task_id;
    let shipper_client = client.clone();
    let shipper = tokio::spawn(async move {
        let mut file = tokio::fs::File::create(&log_path).await.ok();
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
    // The pipes close when the last process of the build exits; do not wait forever.
    let _ = tokio::time::timeout(Duration::from_secs(10), shipper).await;
    if stopped == Some("handback") {
        return Ok(Finish {
            result: BuildResult::HandedBack,
            reason: Some("the agent was stopped".into()),
        });
    }
    // Upload what exists, also after a failure: the logs say why.
    for path in results(opts, w) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        client
            .upload(job.task_id, &name, &path)
            .await
            .with_context(|| format!("uploading {name}"))?;
    }
    Ok(match (stopped, status) {
        (Some("cancel"), _) => Finish {
            result: BuildResult::Canceled,
            reason: None,
        },
        (Some(_), _) => Finish {
            result: BuildResult::Failed,
            reason: Some(format!(
                "the build took longer than {} seconds and was stopped",
                job.timeout_seconds
            )),
        },
        (None, Some(s)) if s.success() => Finish {
            result: BuildResult::Succeeded,
            reason: None,
        },
        (None, Some(s)) => Finish {
            result: BuildResult::Failed,
            reason: Some(format!(
                "{} exited with {s}; see build.log",
                argv_name(opts)
            )),
        },
        (None, None) => Finish {
            result: BuildResult::Failed,
            reason: Some("the build stopped".into()),
        },
    })
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

fn argv_name(opts: &Options) -> &'static str {
    match opts.backend {
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
            srpm_file_name: "hello-1-1.src.rpm".into(),
            srpm_sha256: "0".repeat(64),
            srpm_size: 1,
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
    fn client_file_names_never_become_paths() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("a b;rm -rf.src.rpm"), "a_b_rm_-rf.src.rpm");
        assert_eq!(safe_file_name(".."), "source.src.rpm");
        assert_eq!(safe_file_name("hello-1.0-1.src.rpm"), "hello-1.0-1.src.rpm");
    }
}
