//! The SRPM step of a build from a source (git or a URL): fetch it under the site's limits
//! (allowed schemes, public addresses only, byte caps, a timeout per step), make the SRPM in
//! the sandbox (no network: reading a spec runs its `%(…)` shell code), upload it with the
//! step's log, and report the commit or the download's SHA-256. The server makes the build
//! subtasks from the SRPM, with the same checks as an upload.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_outbound::Policy;
use kiln_proto::agent::{BuildResult, FailureStage, FetchLimits, Finish, GitAuth, Job, JobSource};
use kiln_proto::{Source, SrpmMethod};
use tokio::io::AsyncWriteExt;

use crate::Client;

mod exec;
mod git;
mod make;

pub use exec::sandbox;
use exec::{output, run};

/// Why the step failed, said to the user.
#[derive(Debug)]
struct Failed(String);

impl<E: std::fmt::Display> From<E> for Failed {
    fn from(e: E) -> Failed {
        Failed(e.to_string())
    }
}

/// The step's log: sent to the server line by line as the step goes, and kept as `build.log`.
struct Log<'a> {
    client: &'a Client,
    task: i32,
    file: tokio::fs::File,
}

impl Log<'_> {
    async fn say(&mut self, text: &str) {
        let mut text = text.trim_end().to_owned();
        text.push('\n');
        let _ = self.file.write_all(text.as_bytes()).await;
        if let Err(e) = self.client.log(self.task, text).await {
            tracing::warn!(task = self.task, error = %e, "sending log lines failed");
        }
    }
}

/// What the step made.
struct Made {
    srpm: PathBuf,
    commit: Option<String>,
    sha256: Option<String>,
}

/// Runs the SRPM step of `job` in workspace `w` and reports it. Errors are the
/// infrastructure's (the step goes back to the queue); a source that cannot be fetched or
/// built is a failed step with the reason.
pub async fn step(
    client: &Client,
    job: &Job,
    w: &Path,
    header: &str,
    opts: &crate::build::Options,
) -> anyhow::Result<Finish> {
    let JobSource::Make {
        source,
        limits,
        auth,
    } = &job.source
    else {
        anyhow::bail!("an uploaded SRPM has no SRPM step");
    };
    let auth = auth.as_ref();
    let mut log = Log {
        client,
        task: job.task_id,
        file: tokio::fs::File::create(w.join("build.log")).await?,
    };
    let _ = log.file.write_all(header.as_bytes()).await;
    let made = make(&mut log, opts, job, w, source, limits, auth).await;
    let failed = |reason: String| Finish {
        result: BuildResult::Failed,
        reason: Some(reason),
        stage: Some(FailureStage::Source),
        backend: None,
        commit: None,
        source_sha256: None,
    };
    let report = match made {
        Err(Failed(why)) => {
            log.say(&format!("=== the SRPM could not be made: {why} ==="))
                .await;
            failed(why)
        }
        Ok(made) => {
            let name = file_name(&made.srpm);
            log.say(&format!("=== made {name} ===")).await;
            match client.upload(job.task_id, &name, &made.srpm).await {
                Ok(()) => Finish {
                    result: BuildResult::Succeeded,
                    reason: None,
                    stage: None,
                    backend: None,
                    commit: made.commit,
                    source_sha256: made.sha256,
                },
                Err(e) => match e.downcast_ref::<crate::Refused>() {
                    Some(why) => failed(format!("the server refused the SRPM: {}", why.0)),
                    None => return Err(e.context(format!("uploading {name}"))),
                },
            }
        }
    };
    log.file.flush().await?;
    let log_path = w.join("build.log");
    if let Err(e) = client.upload(job.task_id, "build.log", &log_path).await {
        tracing::warn!(task = job.task_id, error = %e, "uploading the SRPM step's log failed");
    }
    Ok(report)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned()
}

async fn make(
    log: &mut Log<'_>,
    opts: &crate::build::Options,
    job: &Job,
    w: &Path,
    source: &Source,
    limits: &FetchLimits,
    auth: Option<&GitAuth>,
) -> Result<Made, Failed> {
    let use_bwrap = opts.use_bwrap;
    let policy = Policy {
        allowed_schemes: limits.allowed_schemes.clone(),
        allow_private_networks: limits.allow_private_networks,
    };
    let step = Duration::from_secs(limits.step_timeout_seconds.max(1));
    let out = w.join("result");
    match source {
        Source::Url { url } => {
            let parsed = policy.check_url(url)?;
            let name = parsed
                .path_segments()
                .and_then(|mut s| s.next_back())
                .unwrap_or_default()
                .to_owned();
            if !valid_name(&name) {
                return Err(Failed(format!(
                    "{url} does not name a .src.rpm or .spec file"
                )));
            }
            let http = policy.client(step);
            if name.ends_with(".src.rpm") {
                let dest = out.join(&name);
                log.say(&format!("=== downloading {url} ===")).await;
                let got = kiln_outbound::download(&http, url, limits.max_srpm_bytes, &dest).await?;
                log.say(&format!("{} bytes, SHA-256 {}", got.size, got.sha256))
                    .await;
                return Ok(Made {
                    srpm: dest,
                    commit: None,
                    sha256: Some(got.sha256),
                });
            }
            if !name.ends_with(".spec") {
                return Err(Failed(format!(
                    "{url} does not name a .src.rpm or .spec file"
                )));
            }
            let dir = w.join("src");
            tokio::fs::create_dir_all(&dir).await?;
            log.say(&format!("=== downloading {url} ===")).await;
            let got =
                kiln_outbound::download(&http, url, limits.max_download_bytes, &dir.join(&name))
                    .await?;
            let srpm = spec_to_srpm(log, w, use_bwrap, &dir, &name, &policy, limits).await?;
            Ok(Made {
                srpm,
                commit: None,
                sha256: Some(got.sha256),
            })
        }
        Source::Git {
            url,
            reference,
            subdir,
            spec,
            method,
        } => {
            let tree = w.join("src");
            let commit = git::clone(log, &policy, limits, url, reference, auth, &tree).await?;
            let dir = inside(&tree, subdir)?;
            let srpm = if *method == SrpmMethod::MakeSrpm {
                make::make_srpm(log, opts, job, w, &tree, subdir, spec, limits).await?
            } else {
                let spec = find_spec(&dir, spec)?;
                spec_to_srpm(log, w, use_bwrap, &dir, &spec, &policy, limits).await?
            };
            Ok(Made {
                srpm,
                commit: Some(commit),
                sha256: None,
            })
        }
    }
}

/// A plain file name: no path, no hidden file, printable.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// `sub` of `root`, refusing absolute paths and `..`.
fn inside(root: &Path, sub: &str) -> Result<PathBuf, Failed> {
    let rel = Path::new(sub.trim_matches('/'));
    if sub.starts_with('/')
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(Failed(format!(
            "subdir {sub:?} must be a relative path inside the tree"
        )));
    }
    let dir = root.join(rel);
    if !dir.is_dir() {
        return Err(Failed(format!("the tree has no directory {sub:?}")));
    }
    Ok(dir)
}

/// The spec's file name in `dir`: the one named (it must be there), else the only `*.spec`.
fn find_spec(dir: &Path, named: &str) -> Result<String, Failed> {
    if !named.is_empty() {
        if !valid_name(named) || !named.ends_with(".spec") {
            return Err(Failed(format!("spec {named:?} must be a .spec file name")));
        }
        if !dir.join(named).is_file() {
            return Err(Failed(format!("there is no {named} in the tree")));
        }
        return Ok(named.to_owned());
    }
    let mut specs: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".spec"))
        .collect();
    specs.sort();
    match specs.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failed("no .spec file in the directory".into())),
        many => Err(Failed(format!(
            "{} spec files ({}); name one with spec",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// Makes the SRPM from `spec` in `dir`: the spec is read in the sandbox (its `%(…)` code runs
/// there, without network), the `SourceN`/`PatchN` URLs not in the tree are downloaded under
/// the policy, then `rpmbuild -bs` runs in the sandbox.
async fn spec_to_srpm(
    log: &mut Log<'_>,
    w: &Path,
    use_bwrap: bool,
    dir: &Path,
    spec: &str,
    policy: &Policy,
    limits: &FetchLimits,
) -> Result<PathBuf, Failed> {
    let step = Duration::from_secs(limits.step_timeout_seconds.max(1));
    let d = dir.display().to_string();
    let spec_path = dir.join(spec).display().to_string();
    let env = vec![("LC_ALL".to_owned(), "C.UTF-8".to_owned())];
    let define = |k: &str, v: &str| ["--define".to_owned(), format!("{k} {v}")];
    let mut parse = sandbox(w, use_bwrap);
    parse.extend(["rpmspec".to_owned(), "-P".to_owned(), spec_path.clone()]);
    parse.extend(define("_sourcedir", &d));
    log.say(&format!("=== reading {spec} (in the sandbox) ==="))
        .await;
    let parsed = output(
        &parse.iter().map(String::as_str).collect::<Vec<_>>(),
        &env,
        w,
        step,
    )
    .await?;
    let http = policy.client(step);
    for (tag, url) in source_urls(&parsed) {
        let name = url
            .rsplit_once("#/")
            .map(|(_, n)| n.to_owned())
            .unwrap_or_else(|| url.rsplit('/').next().unwrap_or_default().to_owned());
        if !valid_name(&name) {
            return Err(Failed(format!("{tag}: {url} does not end in a file name")));
        }
        if dir.join(&name).exists() {
            continue;
        }
        let fetch_url = url.split_once("#/").map(|(u, _)| u).unwrap_or(&url);
        log.say(&format!("=== {tag}: downloading {fetch_url} ==="))
            .await;
        let got = kiln_outbound::download(
            &http,
            fetch_url,
            limits.max_download_bytes,
            &dir.join(&name),
        )
        .await
        .map_err(|e| Failed(format!("{tag}: {e}")))?;
        log.say(&format!(
            "{name}: {} bytes, SHA-256 {}",
            got.size, got.sha256
        ))
        .await;
    }
    let out = w.join("result");
    let mut build = sandbox(w, use_bwrap);
    build.extend(["rpmbuild".to_owned(), "-bs".to_owned(), spec_path]);
    for (k, v) in [
        ("_sourcedir", d.clone()),
        ("_srcrpmdir", out.display().to_string()),
        ("_topdir", w.join("top").display().to_string()),
        ("_tmppath", w.join("tmp").display().to_string()),
    ] {
        build.extend(define(k, &v));
    }
    log.say("=== rpmbuild -bs (in the sandbox) ===").await;
    run(
        log,
        &build.iter().map(String::as_str).collect::<Vec<_>>(),
        &env,
        w,
        step,
        None,
    )
    .await?;
    let mut made: Vec<PathBuf> = std::fs::read_dir(&out)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".src.rpm"))
        .collect();
    match made.len() {
        1 => {
            let srpm = made.remove(0);
            let size = std::fs::metadata(&srpm)?.len();
            if size > limits.max_srpm_bytes {
                return Err(Failed(format!(
                    "the SRPM has {size} bytes, more than the limit of {}",
                    limits.max_srpm_bytes
                )));
            }
            Ok(srpm)
        }
        n => Err(Failed(format!("rpmbuild -bs made {n} SRPMs, not one"))),
    }
}

/// The `SourceN:`/`PatchN:` values of a parsed spec that are URLs, with their tag.
fn source_urls(parsed: &str) -> Vec<(String, String)> {
    parsed
        .lines()
        .filter_map(|line| {
            let (tag, value) = line.split_once(':')?;
            let tag = tag.trim();
            let lower = tag.to_ascii_lowercase();
            let numbered = |p: &str| {
                lower
                    .strip_prefix(p)
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
            };
            if !(numbered("source") || numbered("patch")) {
                return None;
            }
            let value = value.trim();
            value
                .contains("://")
                .then(|| (tag.to_owned(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_and_patch_urls_are_read_from_a_parsed_spec() {
        let parsed = "Name: x\nSource0: https://example.org/x-1.tar.gz\nSource1: local.conf\n\
                      Patch3: https://example.org/fix.patch#/fix-3.patch\nURL: https://example.org\n\
                      SourceLicense: MIT\n";
        assert_eq!(
            source_urls(parsed),
            vec![
                (
                    "Source0".to_owned(),
                    "https://example.org/x-1.tar.gz".to_owned()
                ),
                (
                    "Patch3".to_owned(),
                    "https://example.org/fix.patch#/fix-3.patch".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn subdirs_stay_inside_the_tree_and_one_spec_is_found() {
        let root = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(root.path().join("pkg")).expect("mkdir");
        assert!(inside(root.path(), "../etc").is_err());
        assert!(inside(root.path(), "/etc").is_err());
        assert!(inside(root.path(), "missing").is_err());
        let dir = inside(root.path(), "pkg").expect("pkg");
        assert!(find_spec(&dir, "").is_err_and(|e| e.0.contains("no .spec")));
        std::fs::write(dir.join("a.spec"), "").expect("write");
        assert_eq!(find_spec(&dir, "").ok().as_deref(), Some("a.spec"));
        std::fs::write(dir.join("b.spec"), "").expect("write");
        assert!(find_spec(&dir, "").is_err_and(|e| e.0.contains("2 spec files (a.spec, b.spec)")));
        assert_eq!(find_spec(&dir, "b.spec").ok().as_deref(), Some("b.spec"));
        assert!(find_spec(&dir, "../b.spec").is_err());
    }
}
