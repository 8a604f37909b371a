//! One behaviour suite for object storage, run against the filesystem backend and against the
//! S3 backend talking to a real S3 server (s3s-fs, SigV4 checked) over HTTP.

use std::pin::Pin;
use std::task::{Context, Poll};

use kiln_core::storage::{Body, ByteRange, FsStore, ObjectStore, S3Store};
use kiln_tests::s3::S3Server;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

fn body(bytes: Vec<u8>) -> Body {
    Box::pin(std::io::Cursor::new(bytes))
}

/// Deterministic pseudo-random bytes.
fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[i % 4] ^ seed)
        .collect()
}

async fn read_all(store: &dyn ObjectStore, key: &str, range: Option<ByteRange>) -> Option<Vec<u8>> {
    let mut obj = store.get(key, range).await.expect("get")?;
    let mut out = Vec::new();
    obj.body.read_to_end(&mut out).await.expect("read body");
    Some(out)
}

/// A body that yields some bytes and then fails, like a client that disconnects mid-upload.
struct Broken {
    sent: usize,
}

impl AsyncRead for Broken {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.sent >= 6 * 1024 * 1024 {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "client went away",
            )));
        }
        let n = buf.remaining().min(64 * 1024);
        buf.put_slice(&vec![7u8; n]);
        self.sent += n;
        Poll::Ready(Ok(()))
    }
}

async fn behaviour(store: &dyn ObjectStore) {
    store.check().await.expect("store is ready");

    // Missing objects.
    assert!(store.head("repos/1/missing").await.expect("head").is_none());
    assert!(read_all(store, "repos/1/missing", None).await.is_none());
    store
        .delete("repos/1/missing")
        .await
        .expect("deleting a missing object is fine");

    // Round trip.
    let small = data(1000, 1);
    let meta = store
        .put("repos/1/a/small.bin", body(small.clone()))
        .await
        .expect("put");
    assert_eq!(meta.size, 1000);
    assert_eq!(meta.key, "repos/1/a/small.bin");
    assert_eq!(
        read_all(store, "repos/1/a/small.bin", None).await,
        Some(small.clone())
    );
    let head = store
        .head("repos/1/a/small.bin")
        .await
        .expect("head")
        .expect("exists");
    assert_eq!(head.size, 1000);
    assert_eq!(head.etag, meta.etag);

    // Overwrite: new content, new etag.
    let other = data(1200, 2);
    let meta2 = store
        .put("repos/1/a/small.bin", body(other.clone()))
        .await
        .expect("overwrite");
    assert_ne!(meta2.etag, meta.etag, "etag must change with content");
    assert_eq!(
        read_all(store, "repos/1/a/small.bin", None).await,
        Some(other.clone())
    );

    // A local file, stored (linked or copied) and still in place afterwards.
    let dir = tempfile::tempdir().expect("dir");
    let local = dir.path().join("local.bin");
    let content = data(300_000, 5);
    std::fs::write(&local, &content).expect("write");
    let meta = store
        .put_file("repos/1/from-file.bin", &local)
        .await
        .expect("put_file");
    assert_eq!(meta.size, 300_000);
    assert_eq!(
        read_all(store, "repos/1/from-file.bin", None).await,
        Some(content.clone())
    );
    assert_eq!(std::fs::read(&local).expect("still there"), content);
    store.delete("repos/1/from-file.bin").await.expect("delete");

    // Empty object.
    store
        .put("repos/1/empty", body(vec![]))
        .await
        .expect("put empty");
    assert_eq!(read_all(store, "repos/1/empty", None).await, Some(vec![]));

    // Ranges.
    let r = |start, end| Some(ByteRange { start, end });
    assert_eq!(
        read_all(store, "repos/1/a/small.bin", r(10, Some(19))).await,
        Some(other[10..20].to_vec())
    );
    assert_eq!(
        read_all(store, "repos/1/a/small.bin", r(1190, None)).await,
        Some(other[1190..].to_vec())
    );
    assert_eq!(
        read_all(store, "repos/1/a/small.bin", r(1190, Some(5000))).await,
        Some(other[1190..].to_vec())
    );
    let got = store
        .get("repos/1/a/small.bin", r(10, Some(19)))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.range, Some((10, 19)));
    assert_eq!(got.meta.size, 1200);
    assert!(
        store
            .get("repos/1/a/small.bin", r(1200, None))
            .await
            .is_err(),
        "a range past the end is refused"
    );

    // Large object: several multipart parts on S3 (5 MiB parts), streamed.
    let large = data(12 * 1024 * 1024 + 123, 3);
    let meta = store
        .put("repos/2/big.rpm", body(large.clone()))
        .await
        .expect("put large");
    assert_eq!(meta.size, large.len() as u64);
    let back = read_all(store, "repos/2/big.rpm", None)
        .await
        .expect("exists");
    assert!(back == large, "large object differs after a round trip");
    let tail = read_all(store, "repos/2/big.rpm", r(11 * 1024 * 1024, None))
        .await
        .expect("exists");
    assert!(tail == large[11 * 1024 * 1024..]);

    // A failed upload leaves nothing behind, not even under its key.
    let err = store
        .put("repos/3/broken.rpm", Box::pin(Broken { sent: 0 }))
        .await;
    assert!(err.is_err(), "a body that fails must fail the put");
    assert!(store
        .head("repos/3/broken.rpm")
        .await
        .expect("head")
        .is_none());

    // Listing by prefix, sorted; prefixes are string prefixes.
    store.put("repos/1/b/x", body(vec![1])).await.expect("put");
    store.put("repos/10/y", body(vec![1])).await.expect("put");
    let keys =
        |v: Vec<kiln_core::storage::ObjectMeta>| v.into_iter().map(|m| m.key).collect::<Vec<_>>();
    assert_eq!(
        keys(store.list("repos/1/").await.expect("list")),
        vec!["repos/1/a/small.bin", "repos/1/b/x", "repos/1/empty"]
    );
    assert_eq!(
        keys(store.list("repos/1/a/sm").await.expect("list")),
        vec!["repos/1/a/small.bin"]
    );
    assert_eq!(keys(store.list("repos/1").await.expect("list")).len(), 4);
    assert!(store.list("nothing/").await.expect("list").is_empty());

    // Deleting a prefix removes exactly what is under it.
    assert_eq!(
        store
            .delete_prefix("repos/1/")
            .await
            .expect("delete prefix"),
        3
    );
    assert!(store.list("repos/1/").await.expect("list").is_empty());
    assert_eq!(
        keys(store.list("repos/10/").await.expect("list")),
        vec!["repos/10/y"]
    );
    store.delete("repos/10/y").await.expect("delete");
    assert!(store.head("repos/10/y").await.expect("head").is_none());

    // Keys that could escape the store are refused.
    for bad in ["../etc/passwd", "/abs", "a//b", "a/../../b", ""] {
        assert!(store.put(bad, body(vec![1])).await.is_err(), "{bad:?}");
        assert!(store.get(bad, None).await.is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn filesystem_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FsStore::new(dir.path().join("objects"))
        .await
        .expect("fs store");
    behaviour(&store).await;
    // No temporary files are left behind by the failed upload.
    let tmp: Vec<_> = std::fs::read_dir(dir.path().join("objects/.kiln-tmp"))
        .expect("tmp")
        .collect();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
}

#[tokio::test]
async fn s3_backend_against_a_real_s3_server() {
    let server = S3Server::start().await;
    let store = S3Store::new(&server.config()).await.expect("s3 store");
    behaviour(&store).await;
    // Objects live under the configured prefix in the bucket.
    store
        .put("repos/9/x", body(vec![1, 2, 3]))
        .await
        .expect("put");
    assert!(server
        .dir
        .path()
        .join("kiln-test/install-a/repos/9/x")
        .exists());
}

#[tokio::test]
async fn s3_with_wrong_credentials_is_not_ready() {
    let server = S3Server::start().await;
    let mut config = server.config();
    config.secret_access_key = Some(kiln_core::secret::Secret::new("wrong"));
    let store = S3Store::new(&config).await.expect("s3 store");
    let err = store.check().await.expect_err("signature must be refused");
    assert!(
        !err.to_string().contains("wrong"),
        "the secret must not appear in errors: {err}"
    );
    assert!(store.put("a/b", body(vec![1])).await.is_err());
}

/// The whole server on S3 storage: ready while the S3 server answers, not ready when it stops;
/// a deleted repo's objects leave the bucket in the background.
#[tokio::test]
async fn server_on_s3_storage() {
    use kiln_tests::TestApp;
    use reqwest::{Method, StatusCode};
    let s3 = S3Server::start().await;
    let s3_config = s3.config();
    let Some(app) = TestApp::with_config(|c| {
        c.storage.backend = kiln_core::config::StorageBackend::S3;
        c.storage.s3 = s3_config;
    })
    .await
    else {
        return;
    };
    let (s, ready) = app.get("/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{ready}");
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let (_, repo) = app.get("/api/v1/repos/alice/tools", None).await;
    let id = repo["id"].as_i64().expect("id");
    app.kiln
        .storage
        .put(&format!("repos/{id}/x.rpm"), body(vec![1, 2, 3]))
        .await
        .expect("put");
    assert!(s3
        .dir
        .path()
        .join(format!("kiln-test/install-a/repos/{id}/x.rpm"))
        .exists());
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/repos/alice/tools",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        kiln_core::services::cleanup::run_once(&app.kiln)
            .await
            .expect("cleanup"),
        1
    );
    assert!(!s3
        .dir
        .path()
        .join(format!("kiln-test/install-a/repos/{id}/x.rpm"))
        .exists());

    drop(s3);
    let (s, ready) = app.get("/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready["checks"]["storage"], "unreachable");
}
