//! Yum repository metadata (primary, filelists, other, repomd.xml), written the way createrepo_c
//! writes it. Each package's `<package>` entries are made once, from its header, when the RPM is
//! imported; publishing a chroot only concatenates them, compresses and checksums, so it
//! re-reads no RPM and costs the same on any storage.

use std::fmt::Write as _;
use std::io::Write as _;

use sha2::{Digest, Sha256};

/// Changelog entries kept per package (createrepo_c's default).
pub const CHANGELOG_LIMIT: usize = 10;

/// One package's entries for the three metadata files.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageXml {
    /// Its `<package type="rpm">` entry of primary.xml.
    pub primary: String,
    /// Its `<package>` entry of filelists.xml: every file.
    pub filelists: String,
    /// Its `<package>` entry of other.xml: the newest changelog entries.
    pub other: String,
}

/// What the header does not say: the file's checksum, size, time and place in the repo.
pub struct FileFacts<'a> {
    /// The RPM file's SHA-256 (lowercase hex): its `pkgid`.
    pub sha256: &'a str,
    /// The file's size in bytes.
    pub size: u64,
    /// When the file was stored, in seconds since the Unix epoch (`<time file=…>`).
    pub time_file: i64,
    /// Its path from the repo's root (`<location href=…>`).
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

mod package;

pub use package::package_xml;

/// A metadata file ready to store: its name under `repodata/` and its bytes.
pub struct RepoFile {
    /// The file's name under `repodata/` (`SHA256-primary.xml.gz`, `repomd.xml` …).
    pub name: String,
    /// Its contents.
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
    fn primary_files_and_escaping() {
        assert!(is_primary_file("/usr/bin/x"));
        assert!(is_primary_file("/etc/x.conf"));
        assert!(is_primary_file("/usr/sbin/y"));
        assert!(!is_primary_file("/usr/share/doc/x"));
        assert_eq!(esc("a<b>&\"c\u{1}"), "a&lt;b&gt;&amp;&quot;c");
    }
}
