//! What a finished build leaves and what it means: the files to upload (only what the
//! backend itself wrote) and, for a failure, the stage it failed in and why, read from the
//! backend's own words.

use std::path::{Path, PathBuf};

use kiln_proto::agent::FailureStage;

use crate::build::{Backend, Options};

fn program_of(backend: Backend) -> &'static str {
    match backend {
        Backend::Mock => "mock",
        Backend::Rpmbuild => "rpmbuild",
    }
}

pub fn log_of(backend: Backend) -> &'static str {
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
    let mut out = vec![w.join(log_of(opts.backend))];
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

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(backend: Backend, w: &Path) -> Options {
        Options {
            backend,
            work_dir: w.to_path_buf(),
            proxy: None,
            use_bwrap: false,
            agent_name: "a".into(),
            backend_info: "b".into(),
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
            results(&opts(backend, &w), &w)
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
}
