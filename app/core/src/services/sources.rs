//! Uploaded SRPMs: staged to a temporary file while their SHA-256 is computed and their size
//! capped, checked with the `rpm` crate (a source RPM with a sane header), then stored once per
//! content under `sources/XX/SHA256.src.rpm` (`XX`: the hash's first two hex digits).

use std::io::Read;
use std::path::Path;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::entities::sources;
use crate::error::{CoreError, CoreResult};
use crate::Kiln;

/// An upload on local disk, removed when dropped.
pub struct Staged {
    /// The temporary file under `DATA_DIR/tmp`, deleted when this is dropped.
    pub path: tempfile::TempPath,
    /// SHA-256 of the content (lowercase hex).
    pub sha256: String,
    /// The content's length in bytes.
    pub size: u64,
    /// The client's file name: for display, never a path.
    pub file_name: String,
}

/// What the SRPM header says.
#[derive(Debug, Clone, PartialEq)]
pub struct SrpmInfo {
    /// `NAME`: non-empty, at most 256 bytes, no whitespace, control characters or `/`.
    pub name: String,
    /// `EPOCH`, when the header has one.
    pub epoch: Option<i32>,
    /// `VERSION`, with the same limits as `name`.
    pub version: String,
    /// `RELEASE`, with the same limits as `name`.
    pub release: String,
    /// `ExclusiveArch`: the only arches the package builds on (empty: no limit).
    pub exclusive_arch: Vec<String>,
    /// `ExcludeArch`: arches the package does not build on.
    pub exclude_arch: Vec<String>,
    /// `BuildArch` of the spec (e.g. `noarch`); empty when not set.
    pub build_archs: Vec<String>,
}

/// Client file names are shown, never used as paths; still, refuse what no honest client
/// sends.
pub fn validate_file_name(name: &str) -> CoreResult<()> {
    let bad = |why: &str| CoreError::validation("srpm", format!("file name {name:?}: {why}"));
    if name.is_empty() || name.len() > 255 {
        return Err(bad("must be 1 to 255 bytes"));
    }
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(bad("must be a plain file name, not a path"));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(bad("contains control characters"));
    }
    if !name.ends_with(".src.rpm") {
        return Err(bad("an SRPM's name ends in .src.rpm"));
    }
    Ok(())
}

/// Streams `body` to a temporary file in the data directory, hashing it and stopping at
/// `max` bytes.
pub async fn stage<S, E>(kiln: &Kiln, file_name: &str, mut body: S, max: u64) -> CoreResult<Staged>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let dir = kiln.config.data_dir.join("tmp");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| CoreError::Storage(format!("creating {}: {e}", dir.display())))?;
    let temp = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(&dir)
        .map_err(|e| CoreError::Storage(format!("temporary file: {e}")))?;
    let (file, path) = temp.into_parts();
    // Multipart chunks are small; write in large blocks.
    let mut file =
        tokio::io::BufWriter::with_capacity(1024 * 1024, tokio::fs::File::from_std(file));
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            CoreError::validation("srpm", format!("the upload of {file_name} broke off: {e}"))
        })?;
        size += chunk.len() as u64;
        if size > max {
            return Err(CoreError::PayloadTooLarge(format!(
                "{file_name} is larger than the {max} bytes this server accepts"
            )));
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| CoreError::Storage(format!("writing upload: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| CoreError::Storage(format!("writing upload: {e}")))?;
    Ok(Staged {
        path,
        sha256: hex::encode(hasher.finalize()),
        size,
        file_name: file_name.to_owned(),
    })
}

const LEAD_SIZE: usize = 96;
const MAX_HEADER_ENTRIES: u32 = 65_536;
const MAX_HEADER_DATA: u32 = 64 * 1024 * 1024;

/// Checks the lead and both header intros before the `rpm` crate allocates what they claim.
fn check_structure(path: &Path) -> Result<(), String> {
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut lead = [0u8; LEAD_SIZE];
    f.read_exact(&mut lead)
        .map_err(|_| "the file is shorter than an RPM lead".to_owned())?;
    if lead[..4] != [0xed, 0xab, 0xee, 0xdb] {
        return Err("this is not an RPM file (bad magic)".into());
    }
    if u16::from_be_bytes([lead[6], lead[7]]) != 1 {
        return Err("this is a binary RPM, not a source RPM".into());
    }
    for (i, what) in ["signature", "main"].iter().enumerate() {
        let mut intro = [0u8; 16];
        f.read_exact(&mut intro)
            .map_err(|_| format!("the {what} header is cut off"))?;
        if intro[..3] != [0x8e, 0xad, 0xe8] {
            return Err(format!("the {what} header is damaged"));
        }
        let entries = u32::from_be_bytes([intro[8], intro[9], intro[10], intro[11]]);
        let data = u32::from_be_bytes([intro[12], intro[13], intro[14], intro[15]]);
        if entries == 0 || entries > MAX_HEADER_ENTRIES || data > MAX_HEADER_DATA {
            return Err(format!("the {what} header claims an impossible size"));
        }
        let mut len = entries as u64 * 16 + data as u64;
        if i == 0 {
            len += (8 - len % 8) % 8; // the signature header is padded to 8 bytes
        }
        std::io::copy(&mut (&mut f).take(len), &mut std::io::sink()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn strings(meta: &rpm::PackageMetadata, tag: rpm::IndexTag) -> Vec<String> {
    meta.header
        .get_entry_data_as_string_array(tag)
        .map(|v| v.into_iter().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Reads the SRPM header (blocking; call from `spawn_blocking`).
pub fn inspect(path: &Path, file_name: &str) -> CoreResult<SrpmInfo> {
    let bad = |why: String| CoreError::validation("srpm", format!("{file_name}: {why}"));
    check_structure(path).map_err(bad)?;
    let meta = rpm::PackageMetadata::open(path)
        .map_err(|e| bad(format!("the RPM header cannot be read ({e})")))?;
    if !meta.is_source_package() {
        return Err(bad("this is a binary RPM, not a source RPM".into()));
    }
    let field = |r: Result<&str, rpm::Error>, what: &str| -> CoreResult<String> {
        let v = r.map_err(|_| bad(format!("the header has no {what}")))?;
        if v.is_empty()
            || v.len() > 256
            || v.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/')
        {
            return Err(bad(format!("the header's {what} {v:?} is not valid")));
        }
        Ok(v.to_owned())
    };
    Ok(SrpmInfo {
        name: field(meta.get_name(), "name")?,
        epoch: meta.get_epoch().ok().map(|e| e as i32),
        version: field(meta.get_version(), "version")?,
        release: field(meta.get_release(), "release")?,
        exclusive_arch: strings(&meta, rpm::IndexTag::RPMTAG_EXCLUSIVEARCH),
        exclude_arch: strings(&meta, rpm::IndexTag::RPMTAG_EXCLUDEARCH),
        build_archs: strings(&meta, rpm::IndexTag::RPMTAG_BUILDARCHS),
    })
}

/// `inspect` on a blocking thread; a panic in the parser is a rejected file, not a crash.
pub async fn inspect_async(path: std::path::PathBuf, file_name: String) -> CoreResult<SrpmInfo> {
    let name = file_name.clone();
    tokio::task::spawn_blocking(move || inspect(&path, &file_name))
        .await
        .unwrap_or_else(|_| {
            Err(CoreError::validation(
                "srpm",
                format!("{name}: the RPM header is damaged"),
            ))
        })
}

/// The object key of the SRPM with content hash `sha256` (hex, at least 2 characters).
pub fn storage_key(sha256: &str) -> String {
    format!("sources/{}/{sha256}.src.rpm", &sha256[..2])
}

/// Stores a checked upload (once per content) and returns its row.
pub async fn store(kiln: &Kiln, staged: &Staged, info: &SrpmInfo) -> CoreResult<sources::Model> {
    if let Some(existing) = sources::Entity::find()
        .filter(sources::Column::Sha256.eq(&staged.sha256))
        .one(&kiln.db)
        .await?
    {
        if kiln.storage.head(&existing.storage_key).await?.is_some() {
            return Ok(existing);
        }
    }
    let key = storage_key(&staged.sha256);
    kiln.storage.put_file(&key, &staged.path).await?;
    let row = sources::ActiveModel {
        sha256: Set(staged.sha256.clone()),
        storage_key: Set(key),
        size: Set(staged.size as i64),
        name: Set(info.name.clone()),
        epoch: Set(info.epoch),
        version: Set(info.version.clone()),
        release: Set(info.release.clone()),
        exclusive_arch: Set(serde_json::json!(info.exclusive_arch)),
        exclude_arch: Set(serde_json::json!(info.exclude_arch)),
        build_archs: Set(serde_json::json!(info.build_archs)),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(&kiln.db)
    .await;
    match row {
        Ok(r) => Ok(r),
        // Someone stored the same content at the same moment: theirs is as good.
        Err(_) => sources::Entity::find()
            .filter(sources::Column::Sha256.eq(&staged.sha256))
            .one(&kiln.db)
            .await?
            .ok_or_else(|| CoreError::internal("source row vanished")),
    }
}

/// Why an SRPM is not built for `arch`, if it is not.
pub fn skip_reason(info: &sources::Model, arch: &str) -> Option<String> {
    let list = |v: &serde_json::Value| -> Vec<String> {
        serde_json::from_value(v.clone()).unwrap_or_default()
    };
    let exclusive = list(&info.exclusive_arch);
    let exclude = list(&info.exclude_arch);
    let noarch = list(&info.build_archs).iter().any(|a| a == "noarch");
    if !exclusive.is_empty()
        && !exclusive
            .iter()
            .any(|a| a == arch || (noarch && a == "noarch"))
    {
        return Some(format!(
            "ExclusiveArch ({}) does not include {arch}",
            exclusive.join(" ")
        ));
    }
    if exclude.iter().any(|a| a == arch) {
        return Some(format!(
            "ExcludeArch ({}) includes {arch}",
            exclude.join(" ")
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert!(validate_file_name("hello-1.0-1.fc44.src.rpm").is_ok());
        for bad in [
            "",
            "../x.src.rpm",
            "a/b.src.rpm",
            "x.rpm",
            ".hidden.src.rpm",
            "a\nb.src.rpm",
            "c:\\x.src.rpm",
            &"a".repeat(300),
        ] {
            assert!(validate_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn structure_checks_refuse_garbage_before_parsing() {
        let dir = tempfile::tempdir().expect("dir");
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).expect("write");
            p
        };
        assert!(check_structure(&write("empty", b"")).is_err());
        assert!(check_structure(&write("text", b"hello, this is not an rpm at all, not even close.............................................................")).is_err());
        let mut lead = vec![0xed, 0xab, 0xee, 0xdb, 3, 0, 0, 1];
        lead.resize(96, 0);
        let mut huge = lead.clone();
        huge.extend_from_slice(&[
            0x8e, 0xad, 0xe8, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ]);
        let err = check_structure(&write("huge", &huge)).expect_err("huge header");
        assert!(err.contains("impossible size"), "{err}");
        let mut binary = lead.clone();
        binary[7] = 0;
        assert!(check_structure(&write("bin", &binary))
            .expect_err("binary")
            .contains("binary RPM"));
    }
}
