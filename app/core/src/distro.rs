//! The macros a distribution's release package defines (`%fedora`, `%rhel`, `%el9`, `%fc44` …),
//! so that the rpmbuild backend, which builds with the host's rpm, takes the same `%if`
//! branches a chroot of that distribution would. Mock's chroots define them themselves.

use std::collections::BTreeMap;

/// The macros `distro` `release` defines, as its release package does (`fedora-release`'s
/// `macros.dist`, `redhat-release`'s and `centos-stream-release`'s, `epel-release`'s
/// `%epel`). `dist` (the chroot's `%dist`, such as `.fc44`) gives the number when the release
/// is a name (`rawhide`). Unknown distributions define none.
pub fn distro_macros(distro: &str, release: &str, dist: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let number =
        major(release).or_else(|| major(dist.trim_start_matches(|c: char| !c.is_ascii_digit())));
    let mut set = |k: String, v: String| {
        out.insert(k, v);
    };
    match (distro, number) {
        ("fedora", _) if release == "eln" => set("eln".into(), "1".into()),
        ("fedora", Some(n)) => {
            set("fedora".into(), n.to_string());
            set(format!("fc{n}"), "1".into());
        }
        (
            "epel" | "rhel" | "centos" | "centos-stream" | "almalinux" | "rocky" | "rockylinux"
            | "oraclelinux" | "ol",
            Some(n),
        ) => {
            set("rhel".into(), n.to_string());
            set(format!("el{n}"), "1".into());
            let own = match distro {
                "epel" => Some("epel"),
                "centos" | "centos-stream" => Some("centos"),
                "almalinux" => Some("almalinux"),
                "rocky" | "rockylinux" => Some("rocky"),
                _ => None,
            };
            if let Some(own) = own {
                set(own.into(), n.to_string());
            }
        }
        ("amazonlinux", Some(n)) => set("amzn".into(), n.to_string()),
        ("mageia", Some(n)) => {
            set("mageia".into(), n.to_string());
            set(format!("mga{n}"), "1".into());
        }
        _ => {}
    }
    out
}

/// The leading number of `s` (`9` of `9.4`, `44` of `44`).
fn major(s: &str) -> Option<u32> {
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::distro_macros;

    fn pairs(distro: &str, release: &str, dist: &str) -> Vec<(String, String)> {
        distro_macros(distro, release, dist).into_iter().collect()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn fedora_defines_fedora_and_fcn() {
        assert_eq!(
            pairs("fedora", "44", ".fc44"),
            [p("fc44", "1"), p("fedora", "44")]
        );
        // Rawhide: the number comes from %dist.
        assert_eq!(
            pairs("fedora", "rawhide", ".fc45"),
            [p("fc45", "1"), p("fedora", "45")]
        );
        assert_eq!(pairs("fedora", "eln", ".eln145"), [p("eln", "1")]);
    }

    #[test]
    fn enterprise_linux_defines_rhel_and_eln() {
        assert_eq!(
            pairs("epel", "9", ".el9"),
            [p("el9", "1"), p("epel", "9"), p("rhel", "9")]
        );
        assert_eq!(
            pairs("centos-stream", "10", ".el10"),
            [p("centos", "10"), p("el10", "1"), p("rhel", "10")]
        );
        assert_eq!(
            pairs("almalinux", "9.4", ".el9"),
            [p("almalinux", "9"), p("el9", "1"), p("rhel", "9")]
        );
        assert_eq!(pairs("rhel", "8", ".el8"), [p("el8", "1"), p("rhel", "8")]);
    }

    #[test]
    fn others() {
        assert_eq!(
            pairs("amazonlinux", "2023", ".amzn2023"),
            [p("amzn", "2023")]
        );
        assert!(pairs("opensuse-tumbleweed", "", "").is_empty());
    }
}
