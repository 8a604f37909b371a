//! The local-filesystem backend: one file per object under a root directory, written to a
//! temporary file and renamed into place so that readers never see a partial object.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{validate_key, Body, ByteRange, GetObject, ObjectMeta, ObjectStore};
use crate::error::{CoreError, CoreResult};

const TMP_DIR: &str = ".kiln-tmp";

/// Objects as files under a root directory (`storage.path`, by default `DATA_DIR/objects`).
pub struct FsStore {
    root: PathBuf,
}

fn io_err(what: &str, e: std::io::Error) -> CoreError {
    CoreError::Storage(format!("{what}: {e}"))
}

impl FsStore {
    /// Opens the store at `root`, creating the directory (and its temporary-file directory)
    /// if needed; a `Storage` error when it cannot be created.
    pub async fn new(root: PathBuf) -> CoreResult<Self> {
        tokio::fs::create_dir_all(root.join(TMP_DIR))
            .await
            .map_err(|e| io_err(&format!("creating {}", root.display()), e))?;
        Ok(FsStore { root })
    }

    fn path(&self, key: &str) -> CoreResult<PathBuf> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    async fn meta(&self, key: &str, path: &Path) -> CoreResult<Option<ObjectMeta>> {
        match tokio::fs::metadata(path).await {
            Ok(m) if m.is_file() => Ok(Some(meta_of(key, &m))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("stat", e)),
        }
    }
}

fn meta_of(key: &str, m: &std::fs::Metadata) -> ObjectMeta {
    let modified = m
        .modified()
        .ok()
        .map(OffsetDateTime::from)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    ObjectMeta {
        key: key.to_owned(),
        size: m.len(),
        last_modified: modified,
        etag: format!("\"{:x}-{:x}\"", m.len(), modified.unix_timestamp_nanos()),
    }
}

#[async_trait]
impl ObjectStore for FsStore {
    async fn put(&self, key: &str, mut body: Body) -> CoreResult<ObjectMeta> {
        let path = self.path(key)?;
        let tmp = self
            .root
            .join(TMP_DIR)
            .join(uuid::Uuid::new_v4().to_string());
        let result = async {
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| io_err("creating temporary file", e))?;
            tokio::io::copy(&mut body, &mut file)
                .await
                .map_err(|e| io_err("writing object", e))?;
            file.sync_all().await.map_err(|e| io_err("syncing", e))?;
            drop(file);
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| io_err("creating directory", e))?;
            }
            tokio::fs::rename(&tmp, &path)
                .await
                .map_err(|e| io_err("renaming into place", e))?;
            Ok::<(), CoreError>(())
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result?;
        self.meta(key, &path)
            .await?
            .ok_or_else(|| CoreError::Storage(format!("{key} vanished after writing")))
    }

    async fn put_file(&self, key: &str, source: &Path) -> CoreResult<ObjectMeta> {
        let path = self.path(key)?;
        let tmp = self
            .root
            .join(TMP_DIR)
            .join(uuid::Uuid::new_v4().to_string());
        // A hard link when the file is on the same filesystem (no copy at all), else a copy;
        // either way renamed into place so readers see the object whole or not at all.
        if tokio::fs::hard_link(source, &tmp).await.is_err() {
            tokio::fs::copy(source, &tmp)
                .await
                .map_err(|e| io_err("copying object", e))?;
        }
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io_err("creating directory", e))?;
        }
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io_err("renaming into place", e));
        }
        self.meta(key, &path)
            .await?
            .ok_or_else(|| CoreError::Storage(format!("{key} vanished after writing")))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> CoreResult<Option<GetObject>> {
        let path = self.path(key)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("opening object", e)),
        };
        let m = file.metadata().await.map_err(|e| io_err("stat", e))?;
        if !m.is_file() {
            return Ok(None);
        }
        let meta = meta_of(key, &m);
        match range {
            None => Ok(Some(GetObject {
                meta,
                range: None,
                body: Box::pin(file),
            })),
            Some(r) => {
                let (start, end) = r.resolve(meta.size).ok_or_else(|| {
                    CoreError::validation("range", "the range starts past the end of the object")
                })?;
                file.seek(std::io::SeekFrom::Start(start))
                    .await
                    .map_err(|e| io_err("seeking", e))?;
                Ok(Some(GetObject {
                    meta,
                    range: Some((start, end)),
                    body: Box::pin(file.take(end - start + 1)),
                }))
            }
        }
    }

    async fn head(&self, key: &str) -> CoreResult<Option<ObjectMeta>> {
        let path = self.path(key)?;
        self.meta(key, &path).await
    }

    async fn delete(&self, key: &str) -> CoreResult<()> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("deleting object", e)),
        }
    }

    async fn list(&self, prefix: &str) -> CoreResult<Vec<ObjectMeta>> {
        // Walk only the deepest directory the prefix names.
        let dir_part = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let start = if dir_part.is_empty() {
            self.root.clone()
        } else {
            validate_key(dir_part)?;
            self.root.join(dir_part)
        };
        let mut out = Vec::new();
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => continue,
                Err(e) => return Err(io_err("listing", e)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| io_err("listing", e))?
            {
                let path = entry.path();
                let Ok(rel) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let Some(rel) = rel.to_str() else { continue };
                if rel == TMP_DIR {
                    continue;
                }
                let ft = entry.file_type().await.map_err(|e| io_err("listing", e))?;
                if ft.is_dir() {
                    stack.push(path);
                } else if ft.is_file() && rel.starts_with(prefix) {
                    let m = entry.metadata().await.map_err(|e| io_err("stat", e))?;
                    out.push(meta_of(rel, &m));
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete_prefix(&self, prefix: &str) -> CoreResult<u64> {
        let objects = self.list(prefix).await?;
        for o in &objects {
            self.delete(&o.key).await?;
        }
        // Remove the directory a `dir/` prefix named, now empty of objects.
        if let Some(dir) = prefix.strip_suffix('/') {
            if validate_key(dir).is_ok() {
                let _ = tokio::fs::remove_dir_all(self.root.join(dir)).await;
            }
        }
        Ok(objects.len() as u64)
    }

    async fn check(&self) -> CoreResult<()> {
        tokio::fs::metadata(self.root.join(TMP_DIR))
            .await
            .map(|_| ())
            .map_err(|e| io_err("storage root", e))
    }
}
