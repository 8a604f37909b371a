//! Object storage behind one interface: the local filesystem (default) or an S3-compatible
//! server. Bodies stream both ways; no backend holds a whole object in memory (S3 buffers at
//! most one multipart part).

mod fs;
mod s3;

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::io::AsyncRead;

pub use fs::FsStore;
pub use s3::S3Store;

use crate::config::{Config, StorageBackend};
use crate::error::{CoreError, CoreResult};

/// A streamed object body.
pub type Body = Pin<Box<dyn AsyncRead + Send>>;

/// What a store knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's key, without any backend prefix.
    pub key: String,
    /// The object's length in bytes.
    pub size: u64,
    /// When the object was last written.
    pub last_modified: OffsetDateTime,
    /// Changes whenever the content does.
    pub etag: String,
}

/// Bytes `start..=end` (`end` unset: to the end of the object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// The first byte, counting from 0.
    pub start: u64,
    /// The last byte, inclusive; `None` means the last byte of the object.
    pub end: Option<u64>,
}

impl ByteRange {
    /// The inclusive end within an object of `size` bytes, or `None` if the range starts past
    /// the end (HTTP 416).
    pub fn resolve(&self, size: u64) -> Option<(u64, u64)> {
        if self.start >= size {
            return None;
        }
        let end = self.end.map_or(size - 1, |e| e.min(size - 1));
        (end >= self.start).then_some((self.start, end))
    }
}

/// An object being read: its metadata and its (possibly ranged) body.
pub struct GetObject {
    /// The whole object's metadata (its `size` is the full size, not the range's).
    pub meta: ObjectMeta,
    /// The inclusive byte range the body holds, when a range was asked for.
    pub range: Option<(u64, u64)>,
    /// The bytes: the whole object, or only the bytes of `range`.
    pub body: Body,
}

/// An object store backend. Keys are checked by `validate_key`; an invalid key is an
/// `Internal` error and a backend failure a `Storage` error.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores `body` under `key`, replacing any object there. Readers never see a partial
    /// object: it appears whole or not at all.
    async fn put(&self, key: &str, body: Body) -> CoreResult<ObjectMeta>;
    /// Stores the local file at `path` under `key` (the file stays). Backends may do better
    /// than reading it through `put` (the filesystem backend links it).
    async fn put_file(&self, key: &str, path: &std::path::Path) -> CoreResult<ObjectMeta> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| CoreError::Storage(format!("opening {}: {e}", path.display())))?;
        self.put(key, Box::pin(file)).await
    }
    /// `None` when there is no such object. A range past the end is a `Validation` error.
    async fn get(&self, key: &str, range: Option<ByteRange>) -> CoreResult<Option<GetObject>>;
    /// The object's metadata, or `None` when there is no such object.
    async fn head(&self, key: &str) -> CoreResult<Option<ObjectMeta>>;
    /// Deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> CoreResult<()>;
    /// Every object whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> CoreResult<Vec<ObjectMeta>>;
    /// Deletes every object under `prefix`; returns how many.
    async fn delete_prefix(&self, prefix: &str) -> CoreResult<u64> {
        let objects = self.list(prefix).await?;
        for o in &objects {
            self.delete(&o.key).await?;
        }
        Ok(objects.len() as u64)
    }
    /// Readiness: the store answers.
    async fn check(&self) -> CoreResult<()>;
}

/// The shared handle to the configured object store.
pub type Storage = Arc<dyn ObjectStore>;

/// Opens the backend the configuration names.
pub async fn open(config: &Config) -> CoreResult<Storage> {
    Ok(match config.storage.backend {
        StorageBackend::Fs => Arc::new(FsStore::new(config.storage_path()).await?),
        StorageBackend::S3 => Arc::new(S3Store::new(&config.storage.s3).await?),
    })
}

/// Object keys are made by Kiln, never by clients, but are checked anyway so that no key can
/// leave the store's root: `/`-separated, non-empty segments, no `.`/`..`, printable ASCII.
pub fn validate_key(key: &str) -> CoreResult<()> {
    let ok = !key.is_empty()
        && key.len() <= 1024
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.starts_with(".kiln-tmp"))
        && key.chars().all(|c| c.is_ascii_graphic() && c != '\\');
    if ok {
        Ok(())
    } else {
        Err(CoreError::Internal(format!("invalid object key {key:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(validate_key("repos/1/x.rpm").is_ok());
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "../a",
            "a/./b",
            "a b",
            "a\\b",
            ".kiln-tmp/x",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ranges() {
        let r = ByteRange {
            start: 2,
            end: None,
        };
        assert_eq!(r.resolve(10), Some((2, 9)));
        assert_eq!(
            ByteRange {
                start: 2,
                end: Some(100)
            }
            .resolve(10),
            Some((2, 9))
        );
        assert_eq!(
            ByteRange {
                start: 10,
                end: None
            }
            .resolve(10),
            None
        );
        assert_eq!(
            ByteRange {
                start: 0,
                end: None
            }
            .resolve(0),
            None
        );
    }
}
