//! Running the step's programs: in the sandbox where asked, with a time limit, their output
//! into the step's log, a clone stopped when it passes its size cap.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::{Failed, Log};

/// The sandbox prefix (bubblewrap): read-only host, private /tmp, no network, the workspace
/// writable and its home, dying with the agent; nothing when `use_bwrap` is off.
pub fn sandbox(w: &Path, use_bwrap: bool) -> Vec<String> {
    if !use_bwrap {
        return Vec::new();
    }
    let w = w.display().to_string();
    [
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
        "--bind",
        &w,
        &w,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--chdir",
        &w,
        "--setenv",
        "HOME",
        &w,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs `argv`, its output (stdout and stderr) streamed into the log as it comes; fails with
/// the end of it when it exits non-zero, takes longer than `limit`, or (with `cap`) its
/// directory grows past the cap.
pub(super) async fn run(
    log: &mut Log<'_>,
    argv: &[&str],
    env: &[(String, String)],
    cwd: &Path,
    limit: Duration,
    cap: Option<(PathBuf, u64)>,
) -> Result<(), Failed> {
    let (tail, ok) = exec(log, argv, env, cwd, limit, cap).await?;
    if ok {
        Ok(())
    } else {
        Err(Failed(format!("{} failed: {}", argv[0], tail.join(" / "))))
    }
}

/// Runs `argv` and returns its standard output; fails as [`run`] does.
pub(super) async fn output(
    argv: &[&str],
    env: &[(String, String)],
    cwd: &Path,
    limit: Duration,
) -> Result<String, Failed> {
    let mut cmd = tokio::process::Command::new(argv[0]);
    cmd.args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .map_err(|_| {
            Failed(format!(
                "{} took longer than {} s",
                argv[0],
                limit.as_secs()
            ))
        })??;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Failed(format!("{} failed: {}", argv[0], err.trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Lines of output sent to the server at once, at most.
const BATCH_BYTES: usize = 64 * 1024;

/// Runs `argv` with stdout and stderr together, streaming its lines into `log` (in batches, at
/// least every 200 ms); (its last five lines, whether it succeeded).
async fn exec(
    log: &mut Log<'_>,
    argv: &[&str],
    env: &[(String, String)],
    cwd: &Path,
    limit: Duration,
    cap: Option<(PathBuf, u64)>,
) -> Result<(Vec<String>, bool), Failed> {
    let (reader, writer) = std::io::pipe()?;
    let mut cmd = tokio::process::Command::new(argv[0]);
    cmd.args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer.try_clone()?))
        .stderr(Stdio::from(writer))
        .process_group(0)
        .kill_on_drop(true);
    let spawned = cmd.spawn();
    drop(cmd);
    let mut child = spawned.map_err(|e| Failed(format!("starting {}: {e}", argv[0])))?;
    let mut rx = crate::build::lines(reader);
    let mut batch = String::new();
    let mut tail: std::collections::VecDeque<String> = Default::default();
    let mut take = |line: String, batch: &mut String| {
        batch.push_str(&line);
        batch.push('\n');
        if tail.len() == 5 {
            tail.pop_front();
        }
        tail.push_back(line);
    };
    let deadline = tokio::time::Instant::now() + limit;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut stopped = None;
    let status = loop {
        tokio::select! {
            s = child.wait() => break Some(s?),
            Some(line) = rx.recv() => {
                take(line, &mut batch);
                if batch.len() > BATCH_BYTES {
                    log.say(&std::mem::take(&mut batch)).await;
                }
            }
            _ = tick.tick() => {
                if !batch.is_empty() {
                    log.say(&std::mem::take(&mut batch)).await;
                }
                if let Some((dir, max)) = &cap {
                    if disk_usage(dir) > *max {
                        stopped = Some(format!("the clone passed the limit of {max} bytes"));
                        break None;
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                stopped = Some(format!("{} took longer than {} s and was stopped", argv[0], limit.as_secs()));
                break None;
            }
        }
    };
    if status.is_none() {
        if let Some(pid) = child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status()
                .await;
        }
        let _ = child.kill().await;
    }
    // What is still in the pipe (it closes when the last process of the command exits; do not
    // wait for ever on one that left a child behind).
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = rx.recv().await {
            take(line, &mut batch);
        }
    });
    let _ = rest.await;
    if !batch.is_empty() {
        log.say(&batch).await;
    }
    // A command quicker than one tick is measured once it has ended.
    if stopped.is_none() {
        if let Some((dir, max)) = &cap {
            if disk_usage(dir) > *max {
                stopped = Some(format!("the clone passed the limit of {max} bytes"));
            }
        }
    }
    match (stopped, status) {
        (Some(why), _) => Err(Failed(why)),
        (None, Some(s)) => Ok((tail.into_iter().collect(), s.success())),
        (None, None) => Err(Failed(format!("{} stopped", argv[0]))),
    }
}

/// Bytes the files under `dir` take.
fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
