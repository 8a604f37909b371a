//! The S3 backend (aws-sdk-s3): path-style or virtual-host addressing, static or ambient
//! credentials, multipart uploads that buffer one part at a time, ranged streaming reads.

use async_trait::async_trait;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::BytesMut;
use time::OffsetDateTime;
use tokio::io::AsyncReadExt;

use super::{validate_key, Body, ByteRange, GetObject, ObjectMeta, ObjectStore};
use crate::config::S3Config;
use crate::error::{CoreError, CoreResult};

/// Objects in one S3 bucket, under the configured key prefix.
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    part_size: usize,
}

fn s3_err<E>(what: &str, e: SdkError<E>) -> CoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    CoreError::Storage(format!("{what}: {}", DisplayErrorContext(&e)))
}

fn status_of<E>(e: &SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn to_time(t: Option<&aws_sdk_s3::primitives::DateTime>) -> OffsetDateTime {
    t.and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl S3Store {
    /// A client for the configured bucket, with the configured or else the ambient credentials;
    /// does not contact the server (`check` does).
    pub async fn new(cfg: &S3Config) -> CoreResult<Self> {
        let mut builder = match (&cfg.access_key_id, &cfg.secret_access_key) {
            (Some(id), Some(secret)) => aws_sdk_s3::config::Builder::new()
                .behavior_version(BehaviorVersion::latest())
                .credentials_provider(Credentials::new(
                    id.clone(),
                    secret.expose().to_owned(),
                    None,
                    None,
                    "kiln-config",
                )),
            _ => {
                // Ambient credentials: environment, profile, instance metadata.
                let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
                aws_sdk_s3::config::Builder::from(&shared)
            }
        };
        builder = builder
            .region(Region::new(cfg.region.clone()))
            .force_path_style(cfg.path_style)
            // Not every S3-compatible server checks the newer CRC trailers; ask only for what
            // an operation needs.
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            );
        if let Some(endpoint) = &cfg.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        let prefix = if cfg.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", cfg.prefix.trim_matches('/'))
        };
        Ok(S3Store {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            bucket: cfg.bucket.clone(),
            prefix,
            part_size: cfg.multipart_part_size,
        })
    }

    fn full_key(&self, key: &str) -> CoreResult<String> {
        validate_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }

    /// Reads up to one part from `body`; an empty buffer means the body has ended.
    async fn read_part(&self, body: &mut Body) -> CoreResult<BytesMut> {
        let mut buf = BytesMut::with_capacity(self.part_size);
        while buf.len() < self.part_size {
            let n = body
                .read_buf(&mut buf)
                .await
                .map_err(|e| CoreError::Storage(format!("reading upload body: {e}")))?;
            if n == 0 {
                break;
            }
        }
        Ok(buf)
    }

    async fn multipart(&self, key: &str, first: BytesMut, body: &mut Body) -> CoreResult<()> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_err("starting multipart upload", e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| CoreError::Storage("S3 returned no upload id".into()))?
            .to_owned();
        let result = async {
            let mut parts = Vec::new();
            let mut chunk = first;
            let mut number = 1;
            while !chunk.is_empty() {
                let uploaded = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(chunk.freeze()))
                    .send()
                    .await
                    .map_err(|e| s3_err("uploading part", e))?;
                parts.push(
                    CompletedPart::builder()
                        .set_e_tag(uploaded.e_tag().map(str::to_owned))
                        .part_number(number)
                        .build(),
                );
                number += 1;
                chunk = self.read_part(body).await?;
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| s3_err("completing multipart upload", e))?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, mut body: Body) -> CoreResult<ObjectMeta> {
        let full = self.full_key(key)?;
        let first = self.read_part(&mut body).await?;
        if first.len() < self.part_size {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&full)
                .body(ByteStream::from(first.freeze()))
                .send()
                .await
                .map_err(|e| s3_err("putting object", e))?;
        } else {
            self.multipart(&full, first, &mut body).await?;
        }
        self.head(key)
            .await?
            .ok_or_else(|| CoreError::Storage(format!("{key} missing after upload")))
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> CoreResult<Option<GetObject>> {
        let full = self.full_key(key)?;
        // Resolve the range against the real size first so that both backends agree on what
        // an out-of-range request means.
        let Some(meta) = self.head(key).await? else {
            return Ok(None);
        };
        let resolved = match range {
            Some(r) => Some(r.resolve(meta.size).ok_or_else(|| {
                CoreError::validation("range", "the range starts past the end of the object")
            })?),
            None => None,
        };
        let mut req = self.client.get_object().bucket(&self.bucket).key(&full);
        if let Some((start, end)) = resolved {
            req = req.range(format!("bytes={start}-{end}"));
        }
        match req.send().await {
            Ok(out) => Ok(Some(GetObject {
                meta,
                range: resolved,
                body: Box::pin(out.body.into_async_read()),
            })),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(s3_err("getting object", e)),
        }
    }

    async fn head(&self, key: &str) -> CoreResult<Option<ObjectMeta>> {
        let full = self.full_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                key: key.to_owned(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                last_modified: to_time(out.last_modified()),
                etag: out.e_tag().unwrap_or_default().to_owned(),
            })),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(s3_err("head object", e)),
        }
    }

    async fn delete(&self, key: &str) -> CoreResult<()> {
        let full = self.full_key(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(s3_err("deleting object", e)),
        }
    }

    async fn list(&self, prefix: &str) -> CoreResult<Vec<ObjectMeta>> {
        let full_prefix = format!("{}{prefix}", self.prefix);
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&full_prefix)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_err("listing objects", e))?;
            for o in page.contents() {
                let Some(k) = o.key().and_then(|k| k.strip_prefix(&self.prefix)) else {
                    continue;
                };
                out.push(ObjectMeta {
                    key: k.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    last_modified: to_time(o.last_modified()),
                    etag: o.e_tag().unwrap_or_default().to_owned(),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn check(&self) -> CoreResult<()> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let code = e.code().unwrap_or("").to_owned();
                CoreError::Storage(format!(
                    "bucket {} not reachable {code}: {}",
                    self.bucket,
                    DisplayErrorContext(&e)
                ))
            })
    }
}
