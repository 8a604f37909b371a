//! Submitting builds (multipart SRPM upload) and reading tasks: state, logs (live as
//! server-sent events), artifacts; cancel and resubmit.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use kiln_core::services::sources::Staged;
use kiln_core::services::tasks::Submission;
use kiln_core::services::{access, sources, tasks, PageRequest};
use kiln_core::{CoreError, CoreResult};
use kiln_proto::{Page, Resubmit, Task};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Json, OwnerRepoPath, Path, Query};
use crate::AppState;

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError(CoreError::PayloadTooLarge("the upload is too large".into()));
    }
    let text = e.body_text();
    let hint = if text.contains("headers") {
        " (a part's headers are malformed: file names may not contain control characters)"
    } else {
        ""
    };
    ApiError(CoreError::validation(
        "body",
        format!("the multipart body is not valid: {text}{hint}"),
    ))
}

/// A short text part, read chunk by chunk and refused as soon as it passes 200 bytes (the
/// upload routes have no body limit, so a part must never be read whole into memory).
pub(crate) async fn small_text(
    mut field: axum::extract::multipart::Field<'_>,
    name: &str,
) -> ApiResult<String> {
    const MAX: usize = 200;
    let too_long = || ApiError(CoreError::validation(name, "is too long"));
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX {
            return Err(too_long());
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| ApiError(CoreError::validation(name, "is not UTF-8 text")))?;
    Ok(text.trim().to_owned())
}

/// `POST /api/v1/repos/OWNER/REPO/builds`: `srpm` file parts, optional `chroot` parts (mock
/// config names), `scratch`, `priority`; or, as JSON, a build from a source (`SourceBuild`:
/// `{"source": {"type": "git"|"url", …}, "chroots": […], "scratch": false}`).
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    request: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<Task>)> {
    let kiln = &state.kiln;
    // Refuse before reading a byte of the upload.
    access::authorize_submission(kiln, &caller.principal, &p.owner, &p.repo).await?;
    let json = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        let crate::extract::Json(req) =
            crate::extract::Json::<kiln_proto::SourceBuild>::from_request(request, &state).await?;
        let task = tasks::submit_source(kiln, &caller.principal, &p.owner, &p.repo, req).await?;
        return Ok((StatusCode::CREATED, Json(task)));
    }
    let mut multipart = Multipart::from_request(request, &()).await.map_err(|e| {
        ApiError(CoreError::validation(
            "body",
            format!("send the SRPMs as multipart/form-data: {}", e.body_text()),
        ))
    })?;
    let parts = [
        "srpm",
        "chroot",
        "mock_config",
        "scratch",
        "nocheck",
        "priority",
    ];
    let sub = match read_upload(kiln, &mut multipart, &parts).await {
        Ok(up) => up.into_submission()?,
        Err(e) => {
            drain(&mut multipart).await;
            return Err(e);
        }
    };
    let task = tasks::submit(kiln, &caller.principal, &p.owner, &p.repo, sub).await?;
    Ok((StatusCode::CREATED, Json(task)))
}

/// What an upload sent (the API's and the upload form's): each SRPM staged on disk, or why it
/// was refused, by the name it was sent as; the chosen mock configs; the options.
pub(crate) struct Upload {
    pub srpms: Vec<(String, CoreResult<Staged>)>,
    pub mock_configs: Vec<String>,
    pub scratch: bool,
    pub nocheck: bool,
    pub priority: Option<i32>,
}

impl Upload {
    /// One submission of every SRPM, or the first refusal.
    fn into_submission(self) -> CoreResult<Submission> {
        let mut srpms = Vec::new();
        for (_, staged) in self.srpms {
            srpms.push(staged?);
        }
        Ok(Submission {
            srpms,
            mock_configs: self.mock_configs,
            scratch: self.scratch,
            nocheck: self.nocheck,
            priority: self.priority,
        })
    }
}

/// Reads an upload's parts (`srpm` files, `chroot`/`mock_config`, `scratch`, `nocheck`,
/// `priority`), staging each SRPM to disk as it arrives, at most
/// `builds.max_srpms_per_submission` of them. A file refused on its own (its name, its size) is
/// recorded and the rest read; a malformed body or part is an error.
pub(crate) async fn read_upload(
    kiln: &kiln_core::Kiln,
    multipart: &mut Multipart,
    parts: &[&str],
) -> ApiResult<Upload> {
    let max = kiln.config.builds.max_srpm_size;
    let mut up = Upload {
        srpms: Vec::new(),
        mock_configs: Vec::new(),
        scratch: false,
        nocheck: false,
        priority: None,
    };
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default();
        if !parts.contains(&name) {
            return Err(ApiError(CoreError::validation(
                "body",
                format!("unexpected part {name:?}: send {}", parts.join(", ")),
            )));
        }
        match name {
            "srpm" => {
                if up.srpms.len() >= kiln.config.builds.max_srpms_per_submission {
                    return Err(ApiError(CoreError::validation(
                        "srpm",
                        format!(
                            "too many SRPMs in one upload (at most {})",
                            kiln.config.builds.max_srpms_per_submission
                        ),
                    )));
                }
                let file_name = field.file_name().unwrap_or_default().to_owned();
                let staged = if file_name.is_empty() {
                    Err(CoreError::validation(
                        "srpm",
                        "each srpm part needs a file name",
                    ))
                } else {
                    match sources::validate_file_name(&file_name) {
                        Ok(()) => sources::stage(kiln, &file_name, Box::pin(field), max).await,
                        Err(e) => Err(e),
                    }
                };
                up.srpms.push((file_name, staged));
            }
            "chroot" | "mock_config" => up.mock_configs.push(small_text(field, "chroot").await?),
            "scratch" => up.scratch = flag(&small_text(field, "scratch").await?, "scratch")?,
            "nocheck" => up.nocheck = flag(&small_text(field, "nocheck").await?, "nocheck")?,
            "priority" => {
                let v = small_text(field, "priority").await?;
                let n: i32 = v.parse().map_err(|_| {
                    ApiError(CoreError::validation("priority", "must be a whole number"))
                })?;
                up.priority = Some(n);
            }
            _ => {}
        }
    }
    Ok(up)
}

/// A yes/no form value.
fn flag(v: &str, field: &str) -> ApiResult<bool> {
    match v {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" | "" => Ok(false),
        _ => Err(ApiError(CoreError::validation(
            field,
            "must be true or false",
        ))),
    }
}

/// Reads and discards what is left of a refused upload (up to a bound), so that the client
/// receives the error instead of a connection closed under it.
pub(crate) async fn drain(multipart: &mut Multipart) {
    let mut left: u64 = 256 * 1024 * 1024;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            left = left.saturating_sub(chunk.len() as u64);
            if left == 0 {
                return;
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    /// Only parent tasks in this state.
    pub state: Option<String>,
    /// Only tasks building this source package.
    pub package: Option<String>,
    /// Only tasks with a build on this mock config.
    pub chroot: Option<String>,
}

impl ListQuery {
    /// The filter, or a 400 naming what is wrong.
    pub fn filter(&self) -> Result<tasks::TaskFilter, ApiError> {
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let state = match nonempty(&self.state) {
            Some(s) => Some(kiln_proto::TaskState::parse(&s).ok_or_else(|| {
                ApiError(CoreError::validation(
                    "state",
                    "must be one of pending, running, succeeded, failed, canceled, skipped",
                ))
            })?),
            None => None,
        };
        Ok(tasks::TaskFilter {
            state,
            package: nonempty(&self.package),
            chroot: nonempty(&self.chroot),
        })
    }
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page<Task>>> {
    Ok(Json(
        tasks::list_for_repo(
            &state.kiln,
            &caller.principal,
            &p.owner,
            &p.repo,
            &q.filter()?,
            PageRequest::new(q.page, q.per_page),
        )
        .await?,
    ))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i32>,
) -> ApiResult<Json<Task>> {
    Ok(Json(tasks::get(&state.kiln, &caller.principal, id).await?))
}

pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i32>,
) -> ApiResult<Json<Task>> {
    Ok(Json(
        tasks::cancel(&state.kiln, &caller.principal, id).await?,
    ))
}

pub async fn resubmit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i32>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Task>)> {
    let r: Resubmit = if body.is_empty() {
        Resubmit::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError(CoreError::validation("body", e.to_string())))?
    };
    Ok((
        StatusCode::CREATED,
        Json(tasks::resubmit(&state.kiln, &caller.principal, id, r.only_failed).await?),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    #[serde(default)]
    pub follow: Option<String>,
}

/// The whole log as text, or (`?follow=1`) a server-sent event stream: `log` events with new
/// text as it arrives, then one `end` event when every build concerned has finished.
pub async fn log(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i32>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Response> {
    let kiln = state.kiln.clone();
    let principal = caller.principal.clone();
    // Check access (and existence) before answering anything.
    let (first, _) = tasks::log_chunks(&kiln, &principal, id, 0).await?;
    let follow = matches!(q.follow.as_deref(), Some("1" | "true" | "yes"));
    if !follow {
        let mut text = String::new();
        let mut last = 0;
        let mut chunks = first;
        loop {
            if chunks.is_empty() {
                break;
            }
            for (cid, c) in &chunks {
                last = *cid;
                text.push_str(c);
            }
            chunks = tasks::log_chunks(&kiln, &principal, id, last).await?.0;
        }
        return Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response());
    }
    Ok(Sse::new(follow_stream(kiln, principal, id))
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn follow_stream(
    kiln: kiln_core::Kiln,
    principal: kiln_core::Principal,
    id: i32,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream(move |tx| async move {
        let mut changes = kiln.events.task_changed.subscribe();
        let mut last = 0;
        loop {
            let (chunks, finished) = match tasks::log_chunks(&kiln, &principal, id, last).await {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx
                        .send(Event::default().event("error").data(e.to_string()))
                        .await;
                    return;
                }
            };
            for (cid, text) in &chunks {
                last = *cid;
                if tx
                    .send(
                        Event::default()
                            .event("log")
                            .id(cid.to_string())
                            .data(text.trim_end_matches('\n')),
                    )
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if finished && chunks.is_empty() {
                let state = tasks::get(&kiln, &principal, id)
                    .await
                    .map(|t| t.state.as_str().to_owned())
                    .unwrap_or_default();
                let _ = tx.send(Event::default().event("end").data(state)).await;
                return;
            }
            if chunks.len() >= 1000 {
                continue;
            }
            // Wait for a change (any task's: a cheap re-check), or re-check soon anyway:
            // another server process may have written the log.
            // A stopping server ends the stream; the browser's EventSource reconnects.
            tokio::select! {
                _ = tokio::time::timeout(Duration::from_secs(1), changes.recv()) => {}
                _ = kiln.stopping.cancelled() => return,
            }
        }
    })
}

/// A stream fed by a task through a channel.
fn async_stream<F, Fut>(f: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
    )
}

#[derive(Deserialize)]
pub struct ArtifactPath {
    pub id: i32,
    pub file_name: String,
}

/// Downloads a build's file.
pub async fn artifact(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<ArtifactPath>,
) -> ApiResult<Response> {
    let a = tasks::artifact(&state.kiln, &caller.principal, p.id, &p.file_name).await?;
    let obj = state
        .kiln
        .storage
        .get(&a.storage_key, None)
        .await?
        .ok_or_else(|| {
            ApiError(CoreError::not_found(format!(
                "{} is missing from storage",
                a.file_name
            )))
        })?;
    let content_type = if a.kind == "log" {
        "text/plain; charset=utf-8"
    } else {
        "application/x-rpm"
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_LENGTH, obj.meta.size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", a.file_name),
            ),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::new(obj.body)),
    )
        .into_response())
}
