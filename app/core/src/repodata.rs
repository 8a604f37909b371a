//! Yum repository metadata (primary, filelists, other, repomd.xml), written the way createrepo_c
//! writes it. Each package's `<package>` entries are made once, from its header, when the RPM is
//! imported; publishing a chroot only concatenates them, compresses and checksums, so it
//! re-reads no RPM and costs the same on any storage.

use std::fmt::Write as _;
use std::io::Write as _;

use rpm::{IndexSignatureTag as S, IndexTag as T};
use sha2::{Digest, Sha256};

/// Changelog entries kept per package (createrepo_c's default).
pub const CHANGELOG_LIMIT: usize = 10;

/// One package's entries for the three metadata files.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageXml {
    pub primary: String,
    pub filelists: String,
    pub other: String,
}

/// What the header does not say: the file's checksum, size, time and place in the repo.
pub struct FileFacts<'a> {
    pub sha256: &'a str,
    pub size: u64,
    pub time_file: i64,
    pub href: &'a str,
}

/// Escapes text for XML content and attribute values, dropping characters XML 1.0 forbids.
pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape(s, &mut out);
    out
}

/// Files that primary.xml lists (the rest are only in filelists), as createrepo_c decides.
pub fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}

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

/// The three `<package>` entries for an RPM header, as createrepo_c writes them.
pub fn package_xml(meta: &rpm::PackageMetadata, file: &FileFacts) -> Result<PackageXml, String> {
    let h = &meta.header;
    let s = |tag: T| h.get_entry_data_as_string(tag).unwrap_or("");
    let name = meta.get_name().map_err(|e| e.to_string())?;
    let arch = if meta.is_source_package() {
        "src"
    } else {
        meta.get_arch().map_err(|e| e.to_string())?
    };
    let epoch = meta.get_epoch().unwrap_or(0);
    let version = meta.get_version().map_err(|e| e.to_string())?;
    let release = meta.get_release().map_err(|e| e.to_string())?;
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

    // Files: (path, type).
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
    let mut files: Vec<(String, &str)> = Vec::with_capacity(basenames.len());
    for (i, base) in basenames.iter().enumerate() {
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
        files.push((format!("{dir}{base}"), kind));
    }
    let file_set: std::collections::HashSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();

    let provides = deps(
        h,
        T::RPMTAG_PROVIDENAME,
        T::RPMTAG_PROVIDEFLAGS,
        T::RPMTAG_PROVIDEVERSION,
    );
    let provided: std::collections::HashSet<&str> =
        provides.iter().map(|d| d.name.as_str()).collect();
    // Requires, filtered as createrepo_c does: no rpmlib(), none of the package's own primary
    // files or provides, no exact duplicates, and only the highest libc.so.6 requirement.
    let mut requires: Vec<Dep> = Vec::new();
    let mut pre: Vec<bool> = Vec::new();
    let mut seen: std::collections::HashMap<String, (u32, String, bool)> = Default::default();
    let mut libc: Option<Dep> = None;
    for d in deps(
        h,
        T::RPMTAG_REQUIRENAME,
        T::RPMTAG_REQUIREFLAGS,
        T::RPMTAG_REQUIREVERSION,
    ) {
        if d.name.starts_with("rpmlib(")
            || (file_set.contains(d.name.as_str()) && is_primary_file(&d.name))
            || provided.contains(d.name.as_str())
        {
            continue;
        }
        // RPMSENSE_PREREQ | RPMSENSE_SCRIPT_PRE | RPMSENSE_SCRIPT_POST
        let is_pre = d.flags & (64 | 512 | 1024) != 0;
        if let Some((f, v, p)) = seen.get(&d.name) {
            if flag_name(*f) == flag_name(d.flags) && *v == d.version && *p == is_pre {
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
        seen.insert(d.name.clone(), (d.flags, d.version.clone(), is_pre));
        requires.push(d);
        pre.push(is_pre);
    }
    if let Some(d) = libc {
        let is_pre = d.flags & (64 | 512 | 1024) != 0;
        requires.insert(0, d);
        pre.insert(0, is_pre);
    }

    let mut p = String::with_capacity(2048);
    p.push_str("<package type=\"rpm\">\n");
    let _ = writeln!(p, "  <name>{}</name>", esc(name));
    let _ = writeln!(p, "  <arch>{}</arch>", esc(arch));
    let _ = writeln!(
        p,
        "  <version epoch=\"{epoch}\" ver=\"{}\" rel=\"{}\"/>",
        esc(version),
        esc(release)
    );
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
    let _ = writeln!(
        p,
        "    <rpm:license>{}</rpm:license>",
        esc(s(T::RPMTAG_LICENSE))
    );
    let _ = writeln!(
        p,
        "    <rpm:vendor>{}</rpm:vendor>",
        esc(s(T::RPMTAG_VENDOR))
    );
    let _ = writeln!(
        p,
        "    <rpm:group>{}</rpm:group>",
        esc(i18n(T::RPMTAG_GROUP))
    );
    let _ = writeln!(
        p,
        "    <rpm:buildhost>{}</rpm:buildhost>",
        esc(s(T::RPMTAG_BUILDHOST))
    );
    let _ = writeln!(
        p,
        "    <rpm:sourcerpm>{}</rpm:sourcerpm>",
        esc(s(T::RPMTAG_SOURCERPM))
    );
    let _ = writeln!(
        p,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        offsets.header, offsets.payload
    );
    write_entries(&mut p, "provides", &provides, &[]);
    write_entries(&mut p, "requires", &requires, &pre);
    let plain = |n, f, v| deps(h, n, f, v);
    write_entries(
        &mut p,
        "conflicts",
        &plain(
            T::RPMTAG_CONFLICTNAME,
            T::RPMTAG_CONFLICTFLAGS,
            T::RPMTAG_CONFLICTVERSION,
        ),
        &[],
    );
    write_entries(
        &mut p,
        "obsoletes",
        &plain(
            T::RPMTAG_OBSOLETENAME,
            T::RPMTAG_OBSOLETEFLAGS,
            T::RPMTAG_OBSOLETEVERSION,
        ),
        &[],
    );
    write_entries(
        &mut p,
        "suggests",
        &plain(
            T::RPMTAG_SUGGESTNAME,
            T::RPMTAG_SUGGESTFLAGS,
            T::RPMTAG_SUGGESTVERSION,
        ),
        &[],
    );
    write_entries(
        &mut p,
        "enhances",
        &plain(
            T::RPMTAG_ENHANCENAME,
            T::RPMTAG_ENHANCEFLAGS,
            T::RPMTAG_ENHANCEVERSION,
        ),
        &[],
    );
    write_entries(
        &mut p,
        "recommends",
        &plain(
            T::RPMTAG_RECOMMENDNAME,
            T::RPMTAG_RECOMMENDFLAGS,
            T::RPMTAG_RECOMMENDVERSION,
        ),
        &[],
    );
    write_entries(
        &mut p,
        "supplements",
        &plain(
            T::RPMTAG_SUPPLEMENTNAME,
            T::RPMTAG_SUPPLEMENTFLAGS,
            T::RPMTAG_SUPPLEMENTVERSION,
        ),
        &[],
    );
    let file_line = |out: &mut String, path: &str, kind: &str| {
        if kind.is_empty() {
            out.push_str("    <file>");
        } else {
            let _ = write!(out, "    <file type=\"{kind}\">");
        }
        escape(path, out);
        out.push_str("</file>\n");
    };
    for (path, kind) in &files {
        if is_primary_file(path) {
            file_line(&mut p, path, kind);
        }
    }
    p.push_str("  </format>\n</package>\n");

    let head = format!(
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">\n  <version epoch=\"{epoch}\" ver=\"{}\" rel=\"{}\"/>\n",
        file.sha256,
        esc(name),
        esc(arch),
        esc(version),
        esc(release)
    );
    let mut f = head.clone();
    for (path, kind) in &files {
        file_line(&mut f, path, kind);
    }
    f.push_str("</package>\n");

    let mut o = head;
    let names = h
        .get_entry_data_as_string_array(T::RPMTAG_CHANGELOGNAME)
        .unwrap_or_default();
    let times = h
        .get_entry_data_as_u32_array(T::RPMTAG_CHANGELOGTIME)
        .unwrap_or_default();
    let texts = h
        .get_entry_data_as_string_array(T::RPMTAG_CHANGELOGTEXT)
        .unwrap_or_default();
    let n = names
        .len()
        .min(times.len())
        .min(texts.len())
        .min(CHANGELOG_LIMIT);
    // The newest entries, written oldest first; entries with equal times are made distinct
    // (later ones +1 s), as createrepo_c does.
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
    for (author, date, text) in entries.iter().rev() {
        let _ = writeln!(
            o,
            "  <changelog author=\"{}\" date=\"{date}\">{}</changelog>",
            esc(author),
            esc(text)
        );
    }
    o.push_str("</package>\n");
    Ok(PackageXml {
        primary: p,
        filelists: f,
        other: o,
    })
}

/// A metadata file ready to store: its name under `repodata/` and its bytes.
pub struct RepoFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

struct Part {
    kind: &'static str,
    checksum: String,
    open_checksum: String,
    size: usize,
    open_size: usize,
    href: String,
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The three documents, in repomd order.
const KINDS: [&str; 3] = ["primary", "filelists", "other"];

/// A run of consecutive packages' entries, each document compressed once as a gzip member of
/// its own. A published document is a header member, the segments' members and a footer
/// member: RFC 1952 makes a gzip file a series of members, and zlib's `gzread`, which libsolv
/// and createrepo_c read metadata with, reads them all. So a publish compresses only the
/// segments that changed.
pub struct Segment {
    /// Uncompressed size of each document's part.
    raw_len: [usize; 3],
    /// Each document's part, uncompressed (for the documents' open checksums).
    raw: [Vec<u8>; 3],
    /// Each document's part as one gzip member.
    gz: [Vec<u8>; 3],
}

impl Segment {
    /// Memory held (for the cache's budget).
    pub fn bytes(&self) -> usize {
        self.raw.iter().chain(self.gz.iter()).map(Vec::len).sum()
    }
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::new(6),
    );
    gz.write_all(data)?;
    gz.finish()
}

/// Compresses the entries of consecutive packages into a segment.
pub fn segment(packages: &[&PackageXml]) -> std::io::Result<Segment> {
    let raw = segment_raw(packages);
    let gz = [gzip(&raw[0])?, gzip(&raw[1])?, gzip(&raw[2])?];
    Ok(Segment {
        raw_len: [raw[0].len(), raw[1].len(), raw[2].len()],
        raw,
        gz,
    })
}

/// `segment`, its three documents compressed on three threads: for a publish that changes one
/// segment (the usual case: a package added), whose compression is then the longest step.
pub fn segment_parallel(packages: &[&PackageXml]) -> std::io::Result<Segment> {
    let raw = segment_raw(packages);
    let gz = std::thread::scope(|s| {
        let filelists = s.spawn(|| gzip(&raw[1]));
        let other = s.spawn(|| gzip(&raw[2]));
        let primary = gzip(&raw[0]);
        let join = |h: std::thread::ScopedJoinHandle<'_, std::io::Result<Vec<u8>>>| {
            h.join()
                .map_err(|_| std::io::Error::other("compression panicked"))?
        };
        Ok::<_, std::io::Error>([primary?, join(filelists)?, join(other)?])
    })?;
    Ok(Segment {
        raw_len: [raw[0].len(), raw[1].len(), raw[2].len()],
        raw,
        gz,
    })
}

fn segment_raw(packages: &[&PackageXml]) -> [Vec<u8>; 3] {
    let mut raw: [Vec<u8>; 3] = Default::default();
    for p in packages {
        raw[0].extend_from_slice(p.primary.as_bytes());
        raw[1].extend_from_slice(p.filelists.as_bytes());
        raw[2].extend_from_slice(p.other.as_bytes());
    }
    raw
}

/// Where a new segment starts: at a package whose id hashes to 0 modulo 32 (so segments
/// average 32 packages, about 40 KB of primary: past deflate's 32 KB window a longer segment
/// compresses no better, and a package added or removed recompresses only its own segment),
/// or after 128 packages.
pub fn starts_segment(id: i32, len_so_far: usize) -> bool {
    len_so_far >= 128 || (id as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59 == 0
}

/// One document from its segments: header and footer members around the segments' members,
/// named by the checksum of the whole.
fn document(
    k: usize,
    header: &str,
    footer: &str,
    segments: &[&Segment],
) -> std::io::Result<(Part, RepoFile)> {
    let kind = KINDS[k];
    let head = gzip(header.as_bytes())?;
    let foot = gzip(footer.as_bytes())?;
    let size = head.len() + foot.len() + segments.iter().map(|s| s.gz[k].len()).sum::<usize>();
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(&head);
    let mut open = Sha256::new();
    open.update(header.as_bytes());
    let mut open_size = header.len() + footer.len();
    for s in segments {
        bytes.extend_from_slice(&s.gz[k]);
        open.update(&s.raw[k]);
        open_size += s.raw_len[k];
    }
    bytes.extend_from_slice(&foot);
    open.update(footer.as_bytes());
    let checksum = sha256_hex(&bytes);
    let name = format!("{checksum}-{kind}.xml.gz");
    Ok((
        Part {
            kind,
            checksum,
            open_checksum: hex::encode(open.finalize()),
            size: bytes.len(),
            open_size,
            href: format!("repodata/{name}"),
        },
        RepoFile { name, bytes },
    ))
}

/// Builds primary, filelists and other from the packages' entries, then `repomd.xml` naming
/// them. `repomd.xml` is last in the returned list: store it last.
pub fn build(packages: &[PackageXml], revision: i64) -> std::io::Result<Vec<RepoFile>> {
    let all: Vec<&PackageXml> = packages.iter().collect();
    let seg = segment(&all)?;
    build_from_segments(packages.len(), &[&seg], revision)
}

/// Builds the three documents of `n` packages from their segments (in order), then
/// `repomd.xml` naming them (last in the returned list: store it last).
pub fn build_from_segments(
    n: usize,
    segments: &[&Segment],
    revision: i64,
) -> std::io::Result<Vec<RepoFile>> {
    let heads = [
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{n}\">\n"
        ),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{n}\">\n"
        ),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{n}\">\n"
        ),
    ];
    let feet = ["</metadata>\n", "</filelists>\n", "</otherdata>\n"];
    let mut files = Vec::with_capacity(4);
    let mut repomd = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    let _ = writeln!(repomd, "  <revision>{revision}</revision>");
    for k in 0..3 {
        let (part, file) = document(k, &heads[k], feet[k], segments)?;
        let _ = write!(
            repomd,
            "  <data type=\"{}\">\n    <checksum type=\"sha256\">{}</checksum>\n    <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"{}\"/>\n    <timestamp>{revision}</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            part.kind, part.checksum, part.open_checksum, part.href, part.size, part.open_size
        );
        files.push(file);
    }
    repomd.push_str("</repomd>\n");
    files.push(RepoFile {
        name: "repomd.xml".into(),
        bytes: repomd.into_bytes(),
    });
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document made of several segments reads back (every gzip member) as the same text
    /// as one made in one piece, and repomd's checksums and sizes describe it.
    #[test]
    fn segmented_documents_read_back_whole() {
        use std::io::Read;
        let pkgs: Vec<PackageXml> = (0..300)
            .map(|i| PackageXml {
                primary: format!("<package><name>p{i}</name></package>\n"),
                filelists: format!("<package pkgid=\"{i}\"/>\n"),
                other: format!("<package pkgid=\"{i}\" name=\"p{i}\"/>\n"),
            })
            .collect();
        let refs: Vec<&PackageXml> = pkgs.iter().collect();
        let segs: Vec<Segment> = refs
            .chunks(70)
            .map(|c| segment(c).expect("segment"))
            .collect();
        let seg_refs: Vec<&Segment> = segs.iter().collect();
        let split = build_from_segments(300, &seg_refs, 7).expect("split");
        let whole = build(&pkgs, 7).expect("whole");
        let text = |f: &RepoFile| {
            let mut out = String::new();
            flate2::read::MultiGzDecoder::new(&f.bytes[..])
                .read_to_string(&mut out)
                .expect("gunzip");
            out
        };
        let repomd = String::from_utf8(split[3].bytes.clone()).expect("repomd");
        for k in 0..3 {
            let t = text(&split[k]);
            assert_eq!(t, text(&whole[k]));
            assert!(t.contains("packages=\"300\""));
            assert!(
                repomd.contains(&sha256_hex(t.as_bytes())),
                "open-checksum of {k}"
            );
            assert!(repomd.contains(&format!("<open-size>{}</open-size>", t.len())));
            assert!(
                repomd.contains(&sha256_hex(&split[k].bytes)),
                "checksum of {k}"
            );
        }
        // Repomd of the split and the whole differ only in the compressed checksums/sizes.
        assert_eq!(repomd.matches("<open-checksum").count(), 3, "{repomd}");
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
    fn primary_files_and_escaping() {
        assert!(is_primary_file("/usr/bin/x"));
        assert!(is_primary_file("/etc/x.conf"));
        assert!(is_primary_file("/usr/sbin/y"));
        assert!(!is_primary_file("/usr/share/doc/x"));
        assert_eq!(esc("a<b>&\"c\u{1}"), "a&lt;b&gt;&amp;&quot;c");
    }

    #[test]
    fn libc_versions() {
        assert_eq!(libc_version("libc.so.6(GLIBC_2.34)(64bit)"), Some("2.34"));
        assert_eq!(libc_version("libc.so.6()(64bit)"), None);
    }
}
