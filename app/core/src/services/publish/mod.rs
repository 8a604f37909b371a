//! Publishing: each repo's signing key, the import of built RPMs (signed, their metadata
//! entries made once), publish tasks per chroot (serialized and coalesced, across server
//! processes), atomic metadata runs with a grace period for superseded files, the `.repo` file
//! and the release RPM.

mod import;
mod keys;
mod queue;
mod remove;
mod run;
mod serve;

pub use import::*;
pub use keys::*;
pub use queue::*;
pub use remove::*;
pub use run::*;
pub use serve::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_nevra_one_entry_the_newest_builds() {
        let row = |id: i32, parent: i32, name: &str, release: &str, arch: &str| -> InRepo {
            (
                id,
                format!("sum{id}"),
                "fp".into(),
                parent,
                name.into(),
                0,
                "1.0".into(),
                release.into(),
                arch.into(),
            )
        };
        let rows = vec![
            row(1, 10, "hello", "1.fc44", "x86_64"),
            row(2, 10, "hello-devel", "1.fc44", "x86_64"),
            row(3, 11, "hello", "2.fc44", "x86_64"),
            // The same NEVRAs built again by a newer build.
            row(4, 12, "hello", "1.fc44", "x86_64"),
            row(5, 12, "hello", "1.fc44", "src"),
            // Same name and version, another arch: another package.
            row(6, 10, "hello", "1.fc44", "i686"),
        ];
        let ids: Vec<i32> = newest_per_nevra(rows).iter().map(|r| r.0).collect();
        assert_eq!(ids, [2, 3, 4, 5, 6]);
    }

    #[test]
    fn distros_come_from_chroot_names() {
        let chroots = vec![
            "fedora-44-x86_64".to_owned(),
            "fedora-44-aarch64".to_owned(),
            "epel-10-x86_64".to_owned(),
            "centos-stream-10-x86_64".to_owned(),
        ];
        assert_eq!(distros(&chroots), vec!["centos-stream", "epel", "fedora"]);
    }

    #[test]
    fn repo_files() {
        insta::assert_snapshot!(
            "repo_file_one_distro",
            repo_file(
                "https://kiln.example.org/",
                "alice",
                "tools",
                "Tools\nmore",
                &["fedora".into()],
                None
            )
        );
        insta::assert_snapshot!(
            "repo_file_two_distros",
            repo_file(
                "https://kiln.example.org",
                "alice",
                "tools",
                "",
                &["epel".into(), "fedora".into()],
                None
            )
        );
        // A private repo's, fetched with a credential (a group's, whose `@` dnf refuses in
        // repo ids).
        insta::assert_snapshot!(
            "repo_file_with_credential",
            repo_file(
                "https://kiln.example.org",
                "@team",
                "tools",
                "",
                &["epel".into(), "fedora".into()],
                DownloadCredential::new("dnf", "kiln_rt_abc-DEF_123").as_ref()
            )
        );
        // A credential that would break the file is not written.
        assert!(DownloadCredential::new("dnf", "a\npassword=x").is_none());
        assert_eq!(
            DownloadCredential::new("we ird", "kiln_rt_x").map(|c| c.username),
            Some("kiln".to_owned())
        );
    }
}
