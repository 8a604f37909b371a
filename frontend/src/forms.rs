//! What the server's form handlers and the pages share: the flash a form post leaves for the
//! page that shows its outcome, and the plain-text formats of list fields (one repo per line,
//! one macro per line), parsed by the server and written back by the pages.

use std::collections::BTreeMap;

use kiln_proto::RepoSource;
use serde::{Deserialize, Serialize};

/// The outcome of a form post, shown once by the next page: a notice after a redirect, or
/// (when the page is rendered again with status 4xx) what was wrong and what was typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Flash {
    /// Which form it concerns (a page may hold several).
    pub form: Option<String>,
    /// A confirmation: "Repository created".
    pub notice: Option<String>,
    /// What went wrong, when it is not one field's fault.
    pub error: Option<String>,
    /// Errors by field name.
    pub fields: BTreeMap<String, String>,
    /// What the user entered, in order (repeated names kept), so nothing typed is lost.
    pub values: Vec<(String, String)>,
    /// A secret shown this once (a new API or registration token).
    pub secret: Option<String>,
    /// Ready commands that hold the secret (a read token's `.repo` and `dnf install` lines),
    /// shown with it, this once.
    #[serde(default)]
    pub secret_uses: Vec<String>,
}

impl Flash {
    pub fn notice(text: impl Into<String>) -> Flash {
        Flash {
            notice: Some(text.into()),
            ..Flash::default()
        }
    }

    /// The error of `field` in `form`, if this flash is about that form.
    pub fn field(&self, form: &str, field: &str) -> Option<String> {
        (self.form.as_deref() == Some(form))
            .then(|| self.fields.get(field).cloned())
            .flatten()
    }

    /// The general error of `form`.
    pub fn error_of(&self, form: &str) -> Option<String> {
        (self.form.as_deref() == Some(form))
            .then(|| self.error.clone())
            .flatten()
    }

    /// What was typed in `field` of `form`, else `default`.
    pub fn value(&self, form: &str, field: &str, default: &str) -> String {
        if self.form.as_deref() != Some(form) {
            return default.to_owned();
        }
        self.values
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| default.to_owned())
    }

    /// Whether `form` was posted back with `field` = `value` among its values (check boxes,
    /// multiple selections), else `default`.
    pub fn checked(&self, form: &str, field: &str, value: &str, default: bool) -> bool {
        if self.form.as_deref() != Some(form) {
            return default;
        }
        self.values.iter().any(|(k, v)| k == field && v == value)
    }
}

/// The flash the request carries to the pages (a request extension on the server).
#[derive(Debug, Clone, Default)]
pub struct PendingFlash(pub Flash);

/// `ID URL [priority=N] [gpgkey=URL]`, one repo per line.
pub fn format_sources(sources: &[RepoSource]) -> String {
    sources
        .iter()
        .map(|s| {
            let mut line = format!("{} {}", s.id, s.baseurl);
            if let Some(p) = s.priority {
                line.push_str(&format!(" priority={p}"));
            }
            if let Some(k) = &s.gpgkey {
                line.push_str(&format!(" gpgkey={k}"));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses `format_sources`' format; the error names the line. The server validates ids and
/// URLs further.
pub fn parse_sources(text: &str) -> Result<Vec<RepoSource>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(id), Some(url)) = (words.next(), words.next()) else {
            return Err(format!(
                "line {}: write `ID URL`, such as `extras https://example.org/repo/`",
                n + 1
            ));
        };
        let mut source = RepoSource {
            id: id.to_owned(),
            baseurl: url.to_owned(),
            name: None,
            gpgkey: None,
            priority: None,
        };
        for w in words {
            match w.split_once('=') {
                Some(("priority", p)) => {
                    source.priority =
                        Some(p.parse().map_err(|_| {
                            format!("line {}: priority must be a whole number", n + 1)
                        })?)
                }
                Some(("gpgkey", k)) => source.gpgkey = Some(k.to_owned()),
                _ => {
                    return Err(format!(
                    "line {}: unexpected {w:?} (only priority=N and gpgkey=URL may follow the URL)",
                    n + 1
                ))
                }
            }
        }
        out.push(source);
    }
    Ok(out)
}

/// Package names separated by spaces, commas or new lines.
pub fn parse_words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `%name value` (the `%` optional), one macro per line.
pub fn parse_macros(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("line {}: write `%name value`", n + 1))?;
        out.insert(
            name.trim_start_matches('%').to_owned(),
            value.trim().to_owned(),
        );
    }
    Ok(out)
}

pub fn format_macros(macros: &BTreeMap<String, String>) -> String {
    macros
        .iter()
        .map(|(k, v)| format!("%{k} {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_macros_round_trip_and_errors_name_the_line() {
        let text = "extras https://example.org/extras/ priority=5\nlocal http://10.0.0.1/r/ gpgkey=https://example.org/key";
        let parsed = parse_sources(text).expect("parses");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].priority, Some(5));
        assert_eq!(parsed[1].gpgkey.as_deref(), Some("https://example.org/key"));
        assert_eq!(format_sources(&parsed), text);
        assert!(parse_sources("only-an-id")
            .expect_err("an error")
            .starts_with("line 1"));
        assert!(parse_sources("\na b priority=x")
            .expect_err("an error")
            .starts_with("line 2"));

        let m = parse_macros("%_with_tests 1\nvendor Kiln Project\n").expect("parses");
        assert_eq!(m["vendor"], "Kiln Project");
        assert_eq!(parse_macros(&format_macros(&m)).expect("parses"), m);
        assert_eq!(parse_words("a, b\nc  d"), ["a", "b", "c", "d"]);
    }

    #[test]
    fn flash_answers_only_for_its_form() {
        let f = Flash {
            form: Some("member".into()),
            fields: [("username".to_owned(), "no such user".to_owned())].into(),
            values: vec![
                ("username".into(), "bob".into()),
                ("role".into(), "admin".into()),
            ],
            ..Flash::default()
        };
        assert_eq!(
            f.field("member", "username").as_deref(),
            Some("no such user")
        );
        assert_eq!(f.field("settings", "username"), None);
        assert_eq!(f.value("member", "username", ""), "bob");
        assert_eq!(f.value("settings", "description", "keep"), "keep");
        assert!(f.checked("member", "role", "admin", false));
    }
}
