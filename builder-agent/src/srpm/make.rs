//! Copr's `make_srpm`: the tree's `.copr/Makefile` target `srpm`, run as
//! `make -f TREE/.copr/Makefile srpm outdir=OUT spec=SPEC` in the source's subdir. It is the
//! packager's own code and it has the network, so it runs only in a mock chroot (the mock
//! backend: the tree and the output bound into the chroot, networking on) or, where the site
//! allows it (`sources.make_srpm_on_host`), in bubblewrap on the host with the network shared
//! and everything but the workspace read-only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_proto::agent::{FetchLimits, Job};

use super::exec::{run, sandbox};
use super::{Failed, Log};
use crate::build::{Backend, Options};

/// Where the chroot sees the tree and the output directory.
const GUEST_TREE: &str = "/kiln/src";
const GUEST_OUT: &str = "/kiln/out";

/// Makes the SRPM with the tree's `.copr/Makefile`; its path in `w/result`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn make_srpm(
    log: &mut Log<'_>,
    opts: &Options,
    job: &Job,
    w: &Path,
    tree: &Path,
    subdir: &str,
    spec: &str,
    limits: &FetchLimits,
) -> Result<PathBuf, Failed> {
    if !tree.join(".copr/Makefile").is_file() {
        return Err(Failed("the tree has no .copr/Makefile".into()));
    }
    let out = w.join("result");
    let step = Duration::from_secs(limits.step_timeout_seconds.max(1));
    let cap = Some((w.to_path_buf(), limits.max_clone_bytes.saturating_mul(2)));
    let sub = subdir.trim_matches('/');
    let env = vec![("LC_ALL".to_owned(), "C.UTF-8".to_owned())];
    match opts.backend {
        Backend::Mock => {
            let cfg = w.join("kiln-srpm.cfg");
            let rendered =
                kiln_proto::agent::RepoAuth::apply(job.repo_auth.as_ref(), &job.rendered_config);
            tokio::fs::write(&cfg, chroot_config(&rendered, tree, &out)).await?;
            let cfg = cfg.display().to_string();
            let unique = format!("kiln-srpm-{}", job.task_id);
            let guest_dir = if sub.is_empty() {
                GUEST_TREE.to_owned()
            } else {
                format!("{GUEST_TREE}/{sub}")
            };
            let script = format!(
                "cd {} && make -f {GUEST_TREE}/.copr/Makefile srpm outdir={GUEST_OUT} spec={}",
                quote(&guest_dir),
                quote(&spec_arg(&guest_dir, spec)),
            );
            log.say("=== make_srpm in a mock chroot (with network) ===")
                .await;
            let mock = |args: &[&str]| {
                let mut a = vec!["mock", "-r", cfg.as_str(), "--uniqueext", unique.as_str()];
                a.extend_from_slice(args);
                a.into_iter().map(str::to_owned).collect::<Vec<_>>()
            };
            let init = mock(&["--init"]);
            run(log, &as_strs(&init), &env, w, step, None).await?;
            let chroot = mock(&["--enable-network", "--unpriv", "--chroot", &script]);
            let made = run(log, &as_strs(&chroot), &env, w, step, cap).await;
            let clean = mock(&["--clean"]);
            let _ = run(log, &as_strs(&clean), &env, w, step, None).await;
            made?;
        }
        Backend::Rpmbuild => {
            if !limits.make_srpm_on_host {
                return Err(Failed(
                    "make_srpm runs the tree's code with network access: it needs an agent \
                     with the mock backend, or a site that allows it on the host \
                     (sources.make_srpm_on_host)"
                        .into(),
                ));
            }
            if !opts.use_bwrap {
                return Err(Failed(
                    "make_srpm on the host needs bubblewrap (bwrap), which this agent lacks".into(),
                ));
            }
            let dir = if sub.is_empty() {
                tree.to_path_buf()
            } else {
                tree.join(sub)
            };
            let d = dir.display().to_string();
            let mut argv = sandbox(w, true);
            // The one difference from the build sandbox: the network is shared.
            let at = argv
                .iter()
                .position(|a| a == "--unshare-all")
                .map(|i| i + 1)
                .unwrap_or(argv.len());
            argv.insert(at, "--share-net".to_owned());
            if let Some(i) = argv.iter().position(|a| a == "--chdir") {
                argv[i + 1] = d.clone();
            }
            argv.extend([
                "make".to_owned(),
                "-f".to_owned(),
                tree.join(".copr/Makefile").display().to_string(),
                "srpm".to_owned(),
                format!("outdir={}", out.display()),
                format!("spec={}", spec_arg(&d, spec)),
            ]);
            log.say("=== make_srpm on the host, in bubblewrap with network (site setting) ===")
                .await;
            run(log, &as_strs(&argv), &env, w, step, cap).await?;
        }
    }
    the_srpm(&out)
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `spec=` for the Makefile: the named spec's path, or empty (the Makefile may make one).
fn spec_arg(dir: &str, spec: &str) -> String {
    if spec.is_empty() {
        String::new()
    } else {
        format!("{dir}/{spec}")
    }
}

/// Single-quoted for the shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The repo's rendered config with networking on and the tree and output bound in.
fn chroot_config(rendered: &str, tree: &Path, out: &Path) -> String {
    let py = |p: &Path| {
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('\'', "\\'")
    };
    format!(
        "{rendered}\n\n# make_srpm (kiln-agent): the tree's .copr/Makefile runs here, with network.\n\
         config_opts['rpmbuild_networking'] = True\n\
         config_opts['use_host_resolv'] = True\n\
         config_opts['chroot_additional_packages'] = 'make git-core rpm-build'\n\
         config_opts['plugin_conf']['bind_mount_enable'] = True\n\
         config_opts['plugin_conf']['bind_mount_opts']['dirs'].append(('{}', '{GUEST_TREE}'))\n\
         config_opts['plugin_conf']['bind_mount_opts']['dirs'].append(('{}', '{GUEST_OUT}'))\n",
        py(tree),
        py(out),
    )
}

/// The one `.src.rpm` the target left in `out`.
fn the_srpm(out: &Path) -> Result<PathBuf, Failed> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(out)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".src.rpm"))
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Failed("the srpm target left no .src.rpm in outdir".into())),
        n => Err(Failed(format!(
            "the srpm target left {n} .src.rpm files in outdir; it must make one"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chroot_config_binds_the_tree_and_the_output_and_allows_network() {
        let c = chroot_config(
            "config_opts['root'] = 'x'",
            Path::new("/w/src"),
            Path::new("/w/result"),
        );
        assert!(c.starts_with("config_opts['root'] = 'x'"));
        assert!(c.contains("config_opts['rpmbuild_networking'] = True"));
        assert!(c.contains("dirs'].append(('/w/src', '/kiln/src'))"));
        assert!(c.contains("dirs'].append(('/w/result', '/kiln/out'))"));
        assert_eq!(quote("a'b"), r"'a'\''b'");
        assert_eq!(spec_arg("/kiln/src/pkg", "x.spec"), "/kiln/src/pkg/x.spec");
        assert_eq!(spec_arg("/kiln/src", ""), "");
    }
}
