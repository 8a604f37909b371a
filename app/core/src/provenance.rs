//! What the server accepts as a build's output: RPMs built from that build's own SRPM, for its
//! arch, during it; logs by their known names. Everything else is refused before it is signed,
//! so a source tree that carries `*.rpm` files (test fixtures, a smuggled package) never gets
//! the repo's key on them.

/// The logs an agent may upload: its own (`build.log` for rpmbuild, `mock-output.log` for
/// mock) and the ones mock writes into its result directory.
pub const LOG_NAMES: &[&str] = &[
    "build.log",
    "mock-output.log",
    "root.log",
    "state.log",
    "hw_info.log",
    "installed_pkgs.log",
];

/// Whether `name` is a log an agent may upload.
pub fn is_log_name(name: &str) -> bool {
    LOG_NAMES.contains(&name)
}

/// What the subtask was: its SRPM's name and version, the arch it built for, and when it
/// started (Unix seconds).
pub struct Expected<'a> {
    /// The SRPM's package name.
    pub name: &'a str,
    /// The SRPM's version, without release.
    pub version: &'a str,
    /// The arch the subtask built for, e.g. `x86_64`.
    pub arch: &'a str,
    /// When the subtask started, Unix seconds; `None` skips the build-time check.
    pub started_at: Option<i64>,
}

/// What an uploaded RPM's header says.
pub struct Built<'a> {
    /// Whether the RPM is a source package (SRPM).
    pub is_source: bool,
    /// `NAME` from the header.
    pub name: &'a str,
    /// `VERSION` from the header, without release.
    pub version: &'a str,
    /// The package's arch (`src` for a source package, `noarch` for arch-independent ones).
    pub arch: &'a str,
    /// `SOURCERPM` of a binary package.
    pub source_rpm: Option<&'a str>,
    /// `BUILDTIME`, Unix seconds.
    pub build_time: Option<u64>,
}

/// How far an agent's clock may be behind the server's.
const CLOCK_SLACK_SECONDS: i64 = 24 * 3600;

/// Arches a build for `arch` may produce besides `noarch`.
fn arches_for(arch: &str) -> &[&str] {
    match arch {
        "i686" | "i586" | "i486" | "i386" => &["i686", "i586", "i486", "i386"],
        "armv7hl" | "armv7hnl" => &["armv7hl", "armv7hnl"],
        _ => std::slice::from_ref(match arch {
            "x86_64" => &"x86_64",
            "aarch64" => &"aarch64",
            "ppc64le" => &"ppc64le",
            "s390x" => &"s390x",
            "riscv64" => &"riscv64",
            _ => &"",
        }),
    }
}

/// Why `built` (uploaded as `file`) is not output of the build `want`; `Ok` when it is.
pub fn check(file: &str, want: &Expected<'_>, built: &Built<'_>) -> Result<(), String> {
    let source = format!("{}-{}", want.name, want.version);
    if built.is_source {
        if built.name != want.name || built.version != want.version {
            return Err(format!(
                "{file} is the source package {}-{}, not this build's {source}",
                built.name, built.version
            ));
        }
    } else {
        let from = built.source_rpm.unwrap_or("");
        let ours = from.ends_with(".src.rpm") && from.starts_with(&format!("{source}-"));
        if !ours {
            return Err(format!(
                "{file} was built from {}, not from this build's SRPM ({source})",
                if from.is_empty() { "no SRPM" } else { from }
            ));
        }
        if built.arch != "noarch" && !arches_for(want.arch).contains(&built.arch) {
            return Err(format!(
                "{file} is for {}, but this build is for {}",
                built.arch, want.arch
            ));
        }
    }
    if let (Some(started), Some(at)) = (want.started_at, built.build_time) {
        if (at as i64) < started - CLOCK_SLACK_SECONDS {
            let when = time::OffsetDateTime::from_unix_timestamp(at as i64)
                .map(|t| t.date().to_string())
                .unwrap_or_else(|_| at.to_string());
            return Err(format!(
                "{file} was built on {when}, long before this build started: it came with the \
                 sources, it is not this build's output"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn want() -> Expected<'static> {
        Expected {
            name: "drpm",
            version: "0.5.2",
            arch: "x86_64",
            started_at: Some(NOW),
        }
    }

    fn built(name: &'static str, arch: &'static str, from: &'static str) -> Built<'static> {
        Built {
            is_source: false,
            name,
            version: "0.5.2",
            arch,
            source_rpm: Some(from),
            build_time: Some(NOW as u64 + 60),
        }
    }

    #[test]
    fn the_builds_own_packages_pass() {
        let w = want();
        assert_eq!(
            check(
                "a.rpm",
                &w,
                &built("drpm", "x86_64", "drpm-0.5.2-1.fc44.src.rpm")
            ),
            Ok(())
        );
        assert_eq!(
            check(
                "a.rpm",
                &w,
                &built("drpm-devel", "x86_64", "drpm-0.5.2-1.src.rpm")
            ),
            Ok(())
        );
        assert_eq!(
            check(
                "a.rpm",
                &w,
                &built("drpm-doc", "noarch", "drpm-0.5.2-1.src.rpm")
            ),
            Ok(())
        );
        let src = Built {
            is_source: true,
            source_rpm: None,
            ..built("drpm", "x86_64", "")
        };
        assert_eq!(check("drpm.src.rpm", &w, &src), Ok(()));
    }

    #[test]
    fn other_packages_arches_and_old_files_are_refused() {
        let w = want();
        let e = check(
            "cmocka-new.rpm",
            &w,
            &built("libcmocka", "i686", "cmocka-1.1-1.src.rpm"),
        )
        .expect_err("refused");
        assert!(
            e.contains("built from cmocka-1.1-1.src.rpm, not from this build's SRPM (drpm-0.5.2)"),
            "{e}"
        );
        // A name that only starts like ours.
        assert!(check(
            "x.rpm",
            &w,
            &built("drpm", "x86_64", "drpm-0.5.2.1-1.src.rpm")
        )
        .is_err());
        assert!(check(
            "x.rpm",
            &w,
            &built("drpm", "x86_64", "drpm-extra-0.5.2-1.src.rpm")
        )
        .is_err());
        let e = check("x.rpm", &w, &built("drpm", "i686", "drpm-0.5.2-1.src.rpm"))
            .expect_err("refused");
        assert!(
            e.contains("is for i686, but this build is for x86_64"),
            "{e}"
        );
        let old = Built {
            build_time: Some(1_500_000_000),
            ..built("drpm", "x86_64", "drpm-0.5.2-1.src.rpm")
        };
        let e = check("drpm-new.rpm", &w, &old).expect_err("refused");
        assert!(
            e.contains("was built on 2017-07-14, long before this build started"),
            "{e}"
        );
        let src = Built {
            is_source: true,
            source_rpm: None,
            ..built("cmocka", "x86_64", "")
        };
        assert!(check("c.src.rpm", &w, &src).is_err());
        let none = Built {
            source_rpm: None,
            ..built("drpm", "x86_64", "")
        };
        assert!(check("x.rpm", &w, &none)
            .expect_err("refused")
            .contains("built from no SRPM"));
    }

    #[test]
    fn i686_builds_may_make_any_32_bit_x86_arch() {
        let w = Expected {
            arch: "i686",
            ..want()
        };
        assert_eq!(
            check("a.rpm", &w, &built("drpm", "i586", "drpm-0.5.2-1.src.rpm")),
            Ok(())
        );
        assert!(check(
            "a.rpm",
            &w,
            &built("drpm", "x86_64", "drpm-0.5.2-1.src.rpm")
        )
        .is_err());
    }

    #[test]
    fn only_known_logs() {
        assert!(is_log_name("build.log") && is_log_name("root.log"));
        assert!(!is_log_name("config.log") && !is_log_name("test-suite.log"));
    }
}
