//! One package's `<package>` entries for primary, filelists and other, from its RPM header,
//! as createrepo_c writes them.

use std::fmt::Write as _;

use rpm::{IndexSignatureTag as S, IndexTag as T};

use super::{esc, escape, is_primary_file, FileFacts, PackageXml, CHANGELOG_LIMIT};

fn flag_name(flags: u32) -> Option<&'static str> {
    match flags & 0xf {
        2 => Some("LT"),
        4 => Some("GT"),
        8 => Some("EQ"),
        10 => Some("LE"),
        12 => Some("GE"),
        _ => None,
    }
}

/// `[E:]V[-R]` as createrepo_c splits it (epoch 0 when absent).
fn split_evr(evr: &str) -> (String, String, Option<String>) {
    let (epoch, rest) = match evr.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.to_owned(), rest)
        }
        _ => ("0".to_owned(), evr),
    };
    match rest.rsplit_once('-') {
        Some((v, r)) => (epoch, v.to_owned(), Some(r.to_owned())),
        None => (epoch, rest.to_owned(), None),
    }
}

#[derive(Clone)]
struct Dep {
    name: String,
    flags: u32,
    version: String,
}

fn deps(h: &rpm::Header<T>, names: T, flags: T, versions: T) -> Vec<Dep> {
    let n = h.get_entry_data_as_string_array(names).unwrap_or_default();
    let f = h.get_entry_data_as_u32_array(flags).unwrap_or_default();
    let v = h
        .get_entry_data_as_string_array(versions)
        .unwrap_or_default();
    n.iter()
        .enumerate()
        .map(|(i, name)| Dep {
            name: (*name).to_owned(),
            flags: f.get(i).copied().unwrap_or(0),
            version: v.get(i).map(|s| (*s).to_owned()).unwrap_or_default(),
        })
        .collect()
}

fn write_entries(out: &mut String, tag: &str, list: &[Dep], pre: &[bool]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <rpm:{tag}>");
    for (i, d) in list.iter().enumerate() {
        out.push_str("      <rpm:entry name=\"");
        escape(&d.name, out);
        out.push('"');
        if let Some(flag) = flag_name(d.flags) {
            let (e, v, r) = split_evr(&d.version);
            let _ = write!(
                out,
                " flags=\"{flag}\" epoch=\"{}\" ver=\"{}\"",
                esc(&e),
                esc(&v)
            );
            if let Some(r) = r {
                let _ = write!(out, " rel=\"{}\"", esc(&r));
            }
        }
        if pre.get(i).copied().unwrap_or(false) {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </rpm:{tag}>");
}

/// rpm's version comparison, for the libc.so.6 requirement createrepo_c keeps (the highest).
fn rpmvercmp(a: &str, b: &str) -> std::cmp::Ordering {
    rpm_version::rpm_evr_compare(a, b)
}

/// The version inside `libc.so.6(GLIBC_2.34)(64bit)`: `2.34`; none for `libc.so.6()(64bit)`.
fn libc_version(name: &str) -> Option<&str> {
    let inner = name.strip_prefix("libc.so.6(")?;
    let inner = &inner[..inner.find(')')?];
    let v = inner.trim_start_matches(|c: char| !c.is_ascii_digit());
    (!v.is_empty()).then_some(v)
}

/// Dependencies written as they are in the header (requires and provides have their own rules).
const PLAIN_DEPS: [(&str, T, T, T); 6] = [
    (
        "conflicts",
        T::RPMTAG_CONFLICTNAME,
        T::RPMTAG_CONFLICTFLAGS,
        T::RPMTAG_CONFLICTVERSION,
    ),
    (
        "obsoletes",
        T::RPMTAG_OBSOLETENAME,
        T::RPMTAG_OBSOLETEFLAGS,
        T::RPMTAG_OBSOLETEVERSION,
    ),
    (
        "suggests",
        T::RPMTAG_SUGGESTNAME,
        T::RPMTAG_SUGGESTFLAGS,
        T::RPMTAG_SUGGESTVERSION,
    ),
    (
        "enhances",
        T::RPMTAG_ENHANCENAME,
        T::RPMTAG_ENHANCEFLAGS,
        T::RPMTAG_ENHANCEVERSION,
    ),
    (
        "recommends",
        T::RPMTAG_RECOMMENDNAME,
        T::RPMTAG_RECOMMENDFLAGS,
        T::RPMTAG_RECOMMENDVERSION,
    ),
    (
        "supplements",
        T::RPMTAG_SUPPLEMENTNAME,
        T::RPMTAG_SUPPLEMENTFLAGS,
        T::RPMTAG_SUPPLEMENTVERSION,
    ),
];

/// A package's identity as the three files spell it.
struct Ident<'a> {
    name: &'a str,
    arch: &'a str,
    epoch: u32,
    version: &'a str,
    release: &'a str,
}

impl<'a> Ident<'a> {
    fn of(meta: &'a rpm::PackageMetadata) -> Result<Ident<'a>, String> {
        Ok(Ident {
            name: meta.get_name().map_err(|e| e.to_string())?,
            arch: if meta.is_source_package() {
                "src"
            } else {
                meta.get_arch().map_err(|e| e.to_string())?
            },
            epoch: meta.get_epoch().unwrap_or(0),
            version: meta.get_version().map_err(|e| e.to_string())?,
            release: meta.get_release().map_err(|e| e.to_string())?,
        })
    }

    /// The `<version …/>` line.
    fn version_line(&self) -> String {
        format!(
            "  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>\n",
            self.epoch,
            esc(self.version),
            esc(self.release)
        )
    }
}

/// The package's files with their type (`dir`, `ghost` or none), in header order.
fn files(h: &rpm::Header<T>) -> Vec<(String, &'static str)> {
    let basenames = h
        .get_entry_data_as_string_array(T::RPMTAG_BASENAMES)
        .unwrap_or_default();
    let dirnames = h
        .get_entry_data_as_string_array(T::RPMTAG_DIRNAMES)
        .unwrap_or_default();
    let dirindexes = h
        .get_entry_data_as_u32_array(T::RPMTAG_DIRINDEXES)
        .unwrap_or_default();
    let modes = h
        .get_entry_data_as_u16_array(T::RPMTAG_FILEMODES)
        .unwrap_or_default();
    let fflags = h
        .get_entry_data_as_u32_array(T::RPMTAG_FILEFLAGS)
        .unwrap_or_default();
    basenames
        .iter()
        .enumerate()
        .map(|(i, base)| {
            let dir = dirindexes
                .get(i)
                .and_then(|d| dirnames.get(*d as usize))
                .copied()
                .unwrap_or("");
            let mode = modes.get(i).copied().unwrap_or(0);
            let kind = if mode & 0o170000 == 0o040000 {
                "dir"
            } else if fflags.get(i).copied().unwrap_or(0) & (1 << 6) != 0 {
                "ghost"
            } else {
                ""
            };
            (format!("{dir}{base}"), kind)
        })
        .collect()
}

/// Whether a requirement is needed before install (`RPMSENSE_PREREQ | RPMSENSE_SCRIPT_PRE |
/// RPMSENSE_SCRIPT_POST`).
fn is_pre(d: &Dep) -> bool {
    d.flags & (64 | 512 | 1024) != 0
}

/// Requires, filtered as createrepo_c does: no rpmlib(), none of the package's own primary
/// files or provides, no exact duplicates, and only the highest libc.so.6 requirement (first).
/// Each with whether it is a pre-requirement.
fn filter_requires(
    requires: Vec<Dep>,
    files: &[(String, &str)],
    provides: &[Dep],
) -> Vec<(Dep, bool)> {
    let own_files: std::collections::HashSet<&str> =
        files.iter().map(|(p, _)| p.as_str()).collect();
    let provided: std::collections::HashSet<&str> =
        provides.iter().map(|d| d.name.as_str()).collect();
    let mut out: Vec<(Dep, bool)> = Vec::new();
    let mut seen: std::collections::HashMap<String, (u32, String, bool)> = Default::default();
    let mut libc: Option<Dep> = None;
    for d in requires {
        if d.name.starts_with("rpmlib(")
            || (own_files.contains(d.name.as_str()) && is_primary_file(&d.name))
            || provided.contains(d.name.as_str())
        {
            continue;
        }
        let pre = is_pre(&d);
        if let Some((f, v, p)) = seen.get(&d.name) {
            if flag_name(*f) == flag_name(d.flags) && *v == d.version && *p == pre {
                continue;
            }
        }
        if d.name.starts_with("libc.so.6") {
            let higher = match &libc {
                None => true,
                Some(cur) => match (libc_version(&cur.name), libc_version(&d.name)) {
                    (None, Some(_)) => true,
                    (Some(a), Some(b)) => rpmvercmp(a, b) == std::cmp::Ordering::Less,
                    _ => false,
                },
            };
            if higher {
                libc = Some(d);
            }
            continue;
        }
        seen.insert(d.name.clone(), (d.flags, d.version.clone(), pre));
        out.push((d, pre));
    }
    if let Some(d) = libc {
        let pre = is_pre(&d);
        out.insert(0, (d, pre));
    }
    out
}

/// One `<file>` line, with its type when it has one.
fn file_line(out: &mut String, path: &str, kind: &str) {
    if kind.is_empty() {
        out.push_str("    <file>");
    } else {
        let _ = write!(out, "    <file type=\"{kind}\">");
    }
    escape(path, out);
    out.push_str("</file>\n");
}

/// primary.xml's `<package>`.
fn primary_entry(
    meta: &rpm::PackageMetadata,
    id: &Ident,
    file: &FileFacts,
    files: &[(String, &str)],
) -> String {
    let h = &meta.header;
    let s = |tag: T| h.get_entry_data_as_string(tag).unwrap_or("");
    let i18n = |tag: T| {
        h.get_entry_data_as_i18n_string(tag)
            .or_else(|_| h.get_entry_data_as_string(tag))
            .unwrap_or("")
    };
    let offsets = meta.get_package_segment_offsets();
    let installed = meta.get_installed_size().unwrap_or(0);
    let archive = meta
        .signature
        .get_entry_data_as_u64(S::RPMSIGTAG_LONGARCHIVESIZE)
        .or_else(|_| {
            meta.signature
                .get_entry_data_as_u32(S::RPMSIGTAG_PAYLOADSIZE)
                .map(u64::from)
        })
        .unwrap_or(0);
    let provides = deps(
        h,
        T::RPMTAG_PROVIDENAME,
        T::RPMTAG_PROVIDEFLAGS,
        T::RPMTAG_PROVIDEVERSION,
    );
    let requires = deps(
        h,
        T::RPMTAG_REQUIRENAME,
        T::RPMTAG_REQUIREFLAGS,
        T::RPMTAG_REQUIREVERSION,
    );
    let (requires, pre): (Vec<Dep>, Vec<bool>) = filter_requires(requires, files, &provides)
        .into_iter()
        .unzip();

    let mut p = String::with_capacity(2048);
    p.push_str("<package type=\"rpm\">\n");
    let _ = writeln!(p, "  <name>{}</name>", esc(id.name));
    let _ = writeln!(p, "  <arch>{}</arch>", esc(id.arch));
    p.push_str(&id.version_line());
    let _ = writeln!(
        p,
        "  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
        file.sha256
    );
    let _ = writeln!(p, "  <summary>{}</summary>", esc(i18n(T::RPMTAG_SUMMARY)));
    let _ = writeln!(
        p,
        "  <description>{}</description>",
        esc(i18n(T::RPMTAG_DESCRIPTION))
    );
    let _ = writeln!(p, "  <packager>{}</packager>", esc(s(T::RPMTAG_PACKAGER)));
    let _ = writeln!(p, "  <url>{}</url>", esc(s(T::RPMTAG_URL)));
    let _ = writeln!(
        p,
        "  <time file=\"{}\" build=\"{}\"/>",
        file.time_file,
        meta.get_build_time().unwrap_or(0)
    );
    let _ = writeln!(
        p,
        "  <size package=\"{}\" installed=\"{installed}\" archive=\"{archive}\"/>",
        file.size
    );
    let _ = writeln!(p, "  <location href=\"{}\"/>", esc(file.href));
    p.push_str("  <format>\n");
    for (tag, value) in [
        ("license", s(T::RPMTAG_LICENSE)),
        ("vendor", s(T::RPMTAG_VENDOR)),
        ("group", i18n(T::RPMTAG_GROUP)),
        ("buildhost", s(T::RPMTAG_BUILDHOST)),
        ("sourcerpm", s(T::RPMTAG_SOURCERPM)),
    ] {
        let _ = writeln!(p, "    <rpm:{tag}>{}</rpm:{tag}>", esc(value));
    }
    let _ = writeln!(
        p,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        offsets.header, offsets.payload
    );
    write_entries(&mut p, "provides", &provides, &[]);
    write_entries(&mut p, "requires", &requires, &pre);
    for (tag, names, flags, versions) in PLAIN_DEPS {
        write_entries(&mut p, tag, &deps(h, names, flags, versions), &[]);
    }
    for (path, kind) in files {
        if is_primary_file(path) {
            file_line(&mut p, path, kind);
        }
    }
    p.push_str("  </format>\n</package>\n");
    p
}

/// The `<package …>` opening that filelists.xml and other.xml share.
fn short_head(id: &Ident, file: &FileFacts) -> String {
    format!(
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">\n{}",
        file.sha256,
        esc(id.name),
        esc(id.arch),
        id.version_line()
    )
}

/// filelists.xml's `<package>`.
fn filelists_entry(id: &Ident, file: &FileFacts, files: &[(String, &str)]) -> String {
    let mut f = short_head(id, file);
    for (path, kind) in files {
        file_line(&mut f, path, kind);
    }
    f.push_str("</package>\n");
    f
}

/// The newest [`CHANGELOG_LIMIT`] changelog entries (author, time, text) in header order
/// (newest first); entries with equal times are made distinct (earlier ones +1 s each), as
/// createrepo_c does.
fn changelog<'a>(names: &[&str], times: &[u32], texts: &[&'a str]) -> Vec<(String, i64, &'a str)> {
    let n = names
        .len()
        .min(times.len())
        .min(texts.len())
        .min(CHANGELOG_LIMIT);
    let mut entries: Vec<(String, i64, &str)> = Vec::with_capacity(n);
    let mut last_time = 0i64;
    for i in 0..n {
        let time = i64::from(times[i]);
        entries.push((names[i].trim_end_matches(' ').to_owned(), time, texts[i]));
        if time == last_time {
            // Earlier entries with the same time move one second later each.
            for (expected, prev) in (time..).zip(entries[..i].iter_mut().rev()) {
                if prev.1 != expected {
                    break;
                }
                prev.1 += 1;
            }
        } else {
            last_time = time;
        }
    }
    entries
}

/// other.xml's `<package>`: the changelog, oldest first.
fn other_entry(h: &rpm::Header<T>, id: &Ident, file: &FileFacts) -> String {
    let mut o = short_head(id, file);
    let names = h
        .get_entry_data_as_string_array(T::RPMTAG_CHANGELOGNAME)
        .unwrap_or_default();
    let times = h
        .get_entry_data_as_u32_array(T::RPMTAG_CHANGELOGTIME)
        .unwrap_or_default();
    let texts = h
        .get_entry_data_as_string_array(T::RPMTAG_CHANGELOGTEXT)
        .unwrap_or_default();
    for (author, date, text) in changelog(&names, &times, &texts).iter().rev() {
        let _ = writeln!(
            o,
            "  <changelog author=\"{}\" date=\"{date}\">{}</changelog>",
            esc(author),
            esc(text)
        );
    }
    o.push_str("</package>\n");
    o
}

/// The three `<package>` entries for an RPM header, as createrepo_c writes them; an error when
/// the header lacks the name, version, release or arch.
pub fn package_xml(meta: &rpm::PackageMetadata, file: &FileFacts) -> Result<PackageXml, String> {
    let id = Ident::of(meta)?;
    let files = files(&meta.header);
    Ok(PackageXml {
        primary: primary_entry(meta, &id, file, &files),
        filelists: filelists_entry(&id, file, &files),
        other: other_entry(&meta.header, &id, file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, flags: u32, version: &str) -> Dep {
        Dep {
            name: name.into(),
            flags,
            version: version.into(),
        }
    }

    /// createrepo_c's filter: rpmlib() and what the package itself provides or holds as a
    /// primary file go, duplicates go, and only the highest libc.so.6 stays, first.
    #[test]
    fn requires_are_filtered_as_createrepo_c_does() {
        let files = vec![
            ("/usr/bin/hello".to_owned(), ""),
            ("/usr/share/x".to_owned(), ""),
        ];
        let provides = vec![dep("hello", 8, "1.0-1")];
        let requires = vec![
            dep("rpmlib(CompressedFileNames)", 16777226, "3.0.4-1"),
            dep("/usr/bin/hello", 0, ""),
            dep("/usr/share/x", 0, ""),
            dep("hello", 0, ""),
            dep("libc.so.6()(64bit)", 0, ""),
            dep("libc.so.6(GLIBC_2.34)(64bit)", 0, ""),
            dep("libc.so.6(GLIBC_2.2.5)(64bit)", 0, ""),
            dep("bash", 512, ""),
            dep("bash", 512, ""),
            dep("bash", 0, ""),
        ];
        let kept: Vec<(String, bool)> = filter_requires(requires, &files, &provides)
            .into_iter()
            .map(|(d, pre)| (d.name, pre))
            .collect();
        assert_eq!(
            kept,
            vec![
                ("libc.so.6(GLIBC_2.34)(64bit)".to_owned(), false),
                ("/usr/share/x".to_owned(), false),
                ("bash".to_owned(), true),
                ("bash".to_owned(), false),
            ]
        );
    }

    /// At most ten entries, and equal times made distinct by moving earlier ones later.
    #[test]
    fn changelog_entries_are_capped_and_made_distinct() {
        let names = ["a <a@x> - 3", "b <b@x> - 2 ", "c <c@x> - 1"];
        let texts = ["- three", "- two", "- one"];
        let got = changelog(&names, &[100, 100, 50], &texts);
        assert_eq!(
            got,
            vec![
                ("a <a@x> - 3".to_owned(), 101, "- three"),
                ("b <b@x> - 2".to_owned(), 100, "- two"),
                ("c <c@x> - 1".to_owned(), 50, "- one"),
            ]
        );
        let many: Vec<&str> = vec!["x"; 15];
        assert_eq!(changelog(&many, &[1; 15], &many).len(), CHANGELOG_LIMIT);
    }

    #[test]
    fn evr_split_like_createrepo_c() {
        assert_eq!(
            split_evr("1.0-1.fc40"),
            ("0".into(), "1.0".into(), Some("1.fc40".into()))
        );
        assert_eq!(split_evr("2:1.0"), ("2".into(), "1.0".into(), None));
        assert_eq!(
            split_evr("3:1-2-3"),
            ("3".into(), "1-2".into(), Some("3".into()))
        );
    }

    #[test]
    fn libc_versions() {
        assert_eq!(libc_version("libc.so.6(GLIBC_2.34)(64bit)"), Some("2.34"));
        assert_eq!(libc_version("libc.so.6()(64bit)"), None);
    }
}
