//! Validation of the names users choose: owners, repos, mock configs, chroots, tokens.

use crate::error::{CoreError, CoreResult};

/// `OWNER` and `REPO`: `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`.
pub fn validate_name(field: &str, value: &str) -> CoreResult<()> {
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if value.is_empty() {
        return Err(CoreError::validation(field, "must not be empty"));
    }
    if value.len() > 64 {
        return Err(CoreError::validation(
            field,
            format!("is {} characters long; at most 64 are allowed", value.len()),
        ));
    }
    if !first_ok || !rest_ok {
        return Err(CoreError::validation(
            field,
            format!(
                "{value:?} is not a valid name: use letters, digits, '.', '_' and '-', \
                 starting with a letter or digit"
            ),
        ));
    }
    if value == "." || value == ".." || value.ends_with(".rpm") || value.ends_with(".repo") {
        return Err(CoreError::validation(
            field,
            format!("{value:?} is reserved"),
        ));
    }
    Ok(())
}

/// `OWNER`: a user's name, or a group's as `@NAME` (Copr's spelling).
pub fn validate_owner(value: &str) -> CoreResult<()> {
    validate_name("owner", value.strip_prefix('@').unwrap_or(value))
}

/// A base chroot name, `DISTRO-RELEASE-ARCH` as mock-core-configs names them
/// (`fedora-41-x86_64`, `epel-9-aarch64`, `centos-stream-10-x86_64`, `fedora-rawhide-x86_64`).
/// Returns (distro, release, arch).
pub fn parse_chroot_name(value: &str) -> CoreResult<(String, String, String)> {
    let bad = || {
        CoreError::validation(
            "name",
            format!(
                "{value:?} is not a chroot name: expected DISTRO-RELEASE-ARCH such as \
                 fedora-41-x86_64 (lowercase letters, digits, '_', '.')"
            ),
        )
    };
    if value.is_empty()
        || value.len() > 100
        || !value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
    {
        return Err(bad());
    }
    let (rest, arch) = value.rsplit_once('-').ok_or_else(bad)?;
    let (distro, release) = rest.rsplit_once('-').ok_or_else(bad)?;
    if distro.is_empty()
        || release.is_empty()
        || arch.is_empty()
        || !arch.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
    {
        return Err(bad());
    }
    Ok((distro.to_owned(), release.to_owned(), arch.to_owned()))
}

/// A mock config name within a repo: like a chroot name, but any `[A-Za-z0-9._-]`.
pub fn validate_mock_config_name(value: &str) -> CoreResult<()> {
    validate_name("name", value)
}

/// Free text (descriptions, token names): bounded, no control characters but newlines.
pub fn validate_text(field: &str, value: &str, max: usize) -> CoreResult<()> {
    if value.chars().count() > max {
        return Err(CoreError::validation(
            field,
            format!("is too long; at most {max} characters are allowed"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(CoreError::validation(field, "contains control characters"));
    }
    Ok(())
}

/// A package name as rpm accepts it in buildroot changes.
pub fn validate_package_name(field: &str, value: &str) -> CoreResult<()> {
    let ok = !value.is_empty()
        && value.len() <= 200
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-:()/*".contains(c))
        && !value.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(CoreError::validation(
            field,
            format!("{value:?} is not a package name"),
        ))
    }
}

/// An rpm macro name (without `%`) and value.
pub fn validate_macro(name: &str, value: &str) -> CoreResult<()> {
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        return Err(CoreError::validation(
            "macros",
            format!("{name:?} is not a macro name: use letters, digits and '_' (without '%')"),
        ));
    }
    if value.len() > 1024 || value.contains('\n') || value.contains('\0') {
        return Err(CoreError::validation(
            "macros",
            format!("the value of {name} must be one line of at most 1024 characters"),
        ));
    }
    Ok(())
}

/// At most this many repositories in a config.
const MAX_REPOS: usize = 100;

/// Repos must be plain http(s) URLs that cannot break out of the generated config.
pub fn validate_repo_sources(field: &str, sources: &[kiln_proto::RepoSource]) -> CoreResult<()> {
    if sources.len() > MAX_REPOS {
        return Err(CoreError::validation(
            field,
            format!("at most {MAX_REPOS} repositories"),
        ));
    }
    let mut ids = std::collections::BTreeSet::new();
    for s in sources {
        validate_name(field, &s.id).map_err(|_| {
            CoreError::validation(
                field,
                format!(
                    "repository id {:?} must be letters, digits, '.', '_', '-'",
                    s.id
                ),
            )
        })?;
        if !ids.insert(&s.id) {
            return Err(CoreError::validation(
                field,
                format!("repository id {} appears twice", s.id),
            ));
        }
        for (what, value) in [("baseurl", Some(&s.baseurl)), ("gpgkey", s.gpgkey.as_ref())] {
            let Some(value) = value else { continue };
            let ok = url::Url::parse(value)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                && value.len() <= 2000
                && !value
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '\'' | '"' | '\\'));
            if !ok {
                return Err(CoreError::validation(
                    field,
                    format!(
                        "{what} {value:?} of repository {} must be an http:// or https:// URL",
                        s.id
                    ),
                ));
            }
        }
        if let Some(name) = &s.name {
            if name.len() > 200
                || name
                    .chars()
                    .any(|c| c.is_control() || matches!(c, '\'' | '"' | '\\'))
            {
                return Err(CoreError::validation(
                    field,
                    format!(
                        "the name of repository {} has characters that are not allowed",
                        s.id
                    ),
                ));
            }
        }
        if let Some(p) = s.priority {
            if !(1..=99).contains(&p) {
                return Err(CoreError::validation(
                    field,
                    format!("priority of {} must be 1 to 99", s.id),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "A0", "my-repo", "x.y_z", &"a".repeat(64)] {
            assert!(validate_name("name", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "_a",
            "a/b",
            "a b",
            "ä",
            "../x",
            "a\0",
            &"a".repeat(65),
            "x.rpm",
        ] {
            assert!(validate_name("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn chroot_names() {
        assert_eq!(
            parse_chroot_name("fedora-41-x86_64").ok(),
            Some(("fedora".into(), "41".into(), "x86_64".into()))
        );
        assert_eq!(
            parse_chroot_name("centos-stream-10-aarch64").ok(),
            Some(("centos-stream".into(), "10".into(), "aarch64".into()))
        );
        for bad in [
            "fedora",
            "fedora-41",
            "Fedora-41-x86_64",
            "-41-x86_64",
            "fedora-41-",
            "a b-1-x",
        ] {
            assert!(parse_chroot_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn macros_and_packages() {
        assert!(validate_macro("dist", ".fc41").is_ok());
        assert!(validate_macro("%dist", "x").is_err());
        assert!(validate_macro("a", "x\ny").is_err());
        assert!(validate_package_name("p", "gcc-c++").is_ok());
        assert!(validate_package_name("p", "pkgconfig(glib-2.0)").is_ok());
        assert!(validate_package_name("p", "--nodeps").is_err());
        assert!(validate_package_name("p", "a b").is_err());
    }
}
