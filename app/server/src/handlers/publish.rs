//! Published repositories as dnf sees them (`/repos/…`), the Copr-compatible endpoints the
//! dnf copr plugin reads, and the publishing actions of the API (createrepo, delete a build).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use kiln_core::services::access::RepoCtx;
use kiln_core::services::publish;
use kiln_core::storage::ByteRange;
use kiln_core::CoreError;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, OwnerRepoPath};
use crate::AppState;

/// How long clients may cache files whose name carries their checksum.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn not_found(what: String) -> ApiError {
    ApiError(CoreError::not_found(what))
}

/// Parses `Range: bytes=A-B` / `bytes=A-` / `bytes=-N` (one range; others are ignored, as
/// HTTP allows).
fn parse_range(headers: &HeaderMap, size: u64) -> Option<Result<ByteRange, ()>> {
    let v = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = v.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let r = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return Some(Err(()));
        }
        ByteRange {
            start: size.saturating_sub(n),
            end: None,
        }
    } else {
        ByteRange {
            start: a.parse().ok()?,
            end: if b.is_empty() {
                None
            } else {
                Some(b.parse().ok()?)
            },
        }
    };
    Some(r.resolve(size).map(|_| r).ok_or(()))
}

/// Serves an object from storage with its content type, ETag, Last-Modified, conditional
/// requests (304), HEAD and single byte ranges (206/416): the same for filesystem and S3.
pub async fn serve_object(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    key: &str,
    content_type: &str,
    cache_control: &str,
) -> ApiResult<Response> {
    let storage = &state.kiln.storage;
    let Some(meta) = storage.head(key).await? else {
        return Err(not_found(format!(
            "{} is not published",
            key.rsplit('/').next().unwrap_or(key)
        )));
    };
    let etag = format!("\"{}\"", meta.etag.trim_matches('"'));
    let last_modified = httpdate(meta.last_modified);
    let mut base = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::LAST_MODIFIED, &last_modified)
        .header(header::CACHE_CONTROL, cache_control)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, content_type);
    let not_modified = match headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        Some(inm) => inm.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|since| since == last_modified),
    };
    if not_modified {
        return base
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|e| ApiError(CoreError::internal(e.to_string())));
    }
    let range = match parse_range(headers, meta.size) {
        Some(Err(())) => {
            return base
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{}", meta.size))
                .body(Body::empty())
                .map_err(|e| ApiError(CoreError::internal(e.to_string())));
        }
        Some(Ok(r)) => Some(r),
        None => None,
    };
    if *method == Method::HEAD {
        base = base.header(header::CONTENT_LENGTH, meta.size);
        return base
            .body(Body::empty())
            .map_err(|e| ApiError(CoreError::internal(e.to_string())));
    }
    let obj = storage
        .get(key, range)
        .await?
        .ok_or_else(|| not_found("the file vanished".into()))?;
    if let Some((start, end)) = obj.range {
        base = base
            .status(StatusCode::PARTIAL_CONTENT)
            .header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{}", obj.meta.size),
            )
            .header(header::CONTENT_LENGTH, end - start + 1);
    } else {
        base = base.header(header::CONTENT_LENGTH, obj.meta.size);
    }
    base.body(Body::from_stream(tokio_util::io::ReaderStream::new(
        obj.body,
    )))
    .map_err(|e| ApiError(CoreError::internal(e.to_string())))
}

fn httpdate(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
pub struct RepoFilePath {
    pub owner: String,
    pub repo: String,
    pub file: String,
}

#[derive(Debug, Deserialize, Default)]
pub struct RepoFileQuery {
    pub distro: Option<String>,
}

/// `/repos/OWNER/REPO/FILE`: `pubkey.gpg`, `OWNER-REPO.repo`, `OWNER-REPO-release.noarch.rpm`.
pub async fn repo_file(
    State(state): State<AppState>,
    caller: Caller,
    credential: Option<Extension<publish::DownloadCredential>>,
    method: Method,
    headers: HeaderMap,
    Path(p): Path<RepoFilePath>,
    Query(q): Query<RepoFileQuery>,
) -> ApiResult<Response> {
    let kiln = &state.kiln;
    let ctx = publish::repo_for_serving(kiln, &caller.principal, &p.owner, &p.repo).await?;
    // A private repo's `.repo` file and release RPM carry the credential they were fetched
    // with, so that dnf sends it again; nothing of a private repo goes to a shared cache.
    let private = is_private(&ctx);
    let credential = credential.map(|c| c.0).filter(|_| private);
    let cache = cache_control(&ctx, "public, max-age=300");
    let stem = format!("{}-{}", ctx.owner.username, ctx.repo.name);
    if p.file == "pubkey.gpg" {
        let key = publish::active_key(kiln, ctx.repo.id).await?;
        return Ok((
            [
                (header::CONTENT_TYPE, "application/pgp-keys".to_owned()),
                (header::CACHE_CONTROL, cache),
            ],
            key.public_key,
        )
            .into_response());
    }
    let repo_text = repo_text(&state, &ctx, q.distro.as_deref(), None).await?;
    if p.file == format!("{stem}.repo") {
        let text = match &credential {
            Some(c) => self::repo_text(&state, &ctx, q.distro.as_deref(), Some(c)).await?,
            None => repo_text,
        };
        return Ok((
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                (header::CACHE_CONTROL, cache),
            ],
            text,
        )
            .into_response());
    }
    if p.file == format!("{stem}-release.noarch.rpm") {
        if let Some(c) = &credential {
            let with = self::repo_text(&state, &ctx, q.distro.as_deref(), Some(c)).await?;
            let rpm = publish::release_rpm_with_credential(kiln, &ctx, &repo_text, &with).await?;
            return Ok((
                [
                    (header::CONTENT_TYPE, "application/x-rpm"),
                    (header::CACHE_CONTROL, "private, no-store"),
                ],
                rpm,
            )
                .into_response());
        }
        let (key, _) = publish::release_rpm(kiln, &ctx, &repo_text).await?;
        return serve_object(&state, &method, &headers, &key, "application/x-rpm", &cache).await;
    }
    if kiln_core::names::parse_chroot_name(&p.file).is_ok() {
        // A chroot directory named without its slash.
        return Ok(axum::response::Redirect::permanent(&format!(
            "/repos/{}/{}/{}/",
            ctx.owner.username, ctx.repo.name, p.file
        ))
        .into_response());
    }
    Err(not_found(format!(
        "{}/{} has no file {:?}",
        ctx.owner.username, ctx.repo.name, p.file
    )))
}

fn is_private(ctx: &RepoCtx) -> bool {
    ctx.repo.visibility == kiln_proto::Visibility::Private.as_str()
}

/// `Cache-Control` for a file of `ctx`: `public` directives become `private` for a private
/// repo, so that no shared cache keeps its files for strangers.
fn cache_control(ctx: &RepoCtx, public: &str) -> String {
    if is_private(ctx) {
        public.replacen("public", "private", 1)
    } else {
        public.to_owned()
    }
}

async fn repo_text(
    state: &AppState,
    ctx: &RepoCtx,
    distro: Option<&str>,
    credential: Option<&publish::DownloadCredential>,
) -> ApiResult<String> {
    let chroots = publish::chroots_of(&state.kiln, ctx.repo.id).await?;
    let mut distros = publish::distros(&chroots);
    if let Some(d) = distro {
        if !distros.iter().any(|x| x == d) {
            return Err(ApiError(CoreError::validation(
                "distro",
                format!(
                    "{}/{} publishes no {d:?} chroots (it has: {})",
                    ctx.owner.username,
                    ctx.repo.name,
                    distros.join(", ")
                ),
            )));
        }
        distros = vec![d.to_owned()];
    }
    Ok(publish::repo_file(
        &state.kiln.config.public_url(),
        &ctx.owner.username,
        &ctx.repo.name,
        &ctx.repo.description,
        &distros,
        credential,
    ))
}

#[derive(Debug, Deserialize)]
pub struct ChrootPath {
    pub owner: String,
    pub repo: String,
    pub chroot: String,
    pub rest: String,
}

/// `/repos/OWNER/REPO/CHROOT/…`: the metadata under `repodata/` and the packages it names.
pub async fn chroot_file(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    headers: HeaderMap,
    Path(p): Path<ChrootPath>,
    Query(q): Query<super::browse::IndexQuery>,
) -> ApiResult<Response> {
    let kiln = &state.kiln;
    let ctx = publish::repo_for_serving(kiln, &caller.principal, &p.owner, &p.repo).await?;
    kiln_core::names::validate_name("chroot", &p.chroot)?;
    let dir = p.rest.strip_suffix('/');
    if dir
        .unwrap_or(&p.rest)
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(ApiError(CoreError::validation("path", "not a file path")));
    }
    if dir.is_some() {
        let at = super::browse::ChrootDirPath {
            owner: p.owner.clone(),
            repo: p.repo.clone(),
            chroot: p.chroot.clone(),
        };
        return super::browse::chroot_index(&state, &caller, &headers, &at, Some(&p.rest), &q)
            .await;
    }
    if let Some(name) = p.rest.strip_prefix("repodata/") {
        let (content_type, cache) = if name == "repomd.xml" {
            (
                "application/xml",
                format!("public, max-age={}", kiln.config.publish.repomd_max_age),
            )
        } else if name == "repomd.xml.asc" {
            (
                "application/pgp-signature",
                format!("public, max-age={}", kiln.config.publish.repomd_max_age),
            )
        } else if name.ends_with(".gz") {
            ("application/gzip", IMMUTABLE.to_owned())
        } else {
            ("application/octet-stream", IMMUTABLE.to_owned())
        };
        let key = publish::repodata_key(ctx.repo.id, &p.chroot, name);
        let cache = cache_control(&ctx, &cache);
        return serve_object(&state, &method, &headers, &key, content_type, &cache).await;
    }
    let Some(key) = publish::package_key(kiln, ctx.repo.id, &p.chroot, &p.rest).await? else {
        return Err(not_found(format!(
            "{}/{} has no package {} in {}",
            ctx.owner.username, ctx.repo.name, p.rest, p.chroot
        )));
    };
    let cache = cache_control(&ctx, IMMUTABLE);
    serve_object(&state, &method, &headers, &key, "application/x-rpm", &cache).await
}

#[derive(Debug, Deserialize)]
pub struct CoprRepoPath {
    pub owner: String,
    pub repo: String,
    /// `DISTRO-RELEASE`.
    pub chroot: String,
}

#[derive(Debug, Deserialize)]
pub struct CoprRepoQuery {
    pub arch: Option<String>,
}

/// `/coprs/OWNER/REPO/repo/DISTRO-RELEASE/dnf.repo?arch=ARCH`, what `dnf copr enable` fetches:
/// a `.repo` whose section is `[copr:HOST:OWNER:REPO]`; a 404 for a chroot the repo does not
/// publish carries `Copr-Error-Data` (base64 JSON with the available chroots).
pub async fn copr_dnf_repo(
    State(state): State<AppState>,
    caller: Caller,
    credential: Option<Extension<publish::DownloadCredential>>,
    headers: HeaderMap,
    Path(p): Path<CoprRepoPath>,
    Query(q): Query<CoprRepoQuery>,
) -> ApiResult<Response> {
    use base64::Engine;
    let kiln = &state.kiln;
    let ctx = publish::repo_for_serving(kiln, &caller.principal, &p.owner, &p.repo).await?;
    let credential = credential.map(|c| c.0).filter(|_| is_private(&ctx));
    let chroots = publish::chroots_of(kiln, ctx.repo.id).await?;
    let arch = q.arch.unwrap_or_else(|| "x86_64".into());
    let wanted = format!("{}-{arch}", p.chroot);
    let Some((distro, _)) = p.chroot.rsplit_once('-') else {
        return Err(ApiError(CoreError::validation(
            "chroot",
            "expected DISTRO-RELEASE, such as fedora-44",
        )));
    };
    if !chroots.contains(&wanted) {
        let data = serde_json::json!({"available chroots": chroots});
        let encoded = base64::engine::general_purpose::STANDARD.encode(data.to_string());
        let mut resp = crate::error::error_response(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "{}/{} does not publish {wanted} (it has: {})",
                ctx.owner.username,
                ctx.repo.name,
                chroots.join(", ")
            ),
            None,
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&encoded) {
            resp.headers_mut().insert("Copr-Error-Data", v);
        }
        return Ok(resp);
    }
    let host = kiln
        .config
        .public_url()
        .split("://")
        .nth(1)
        .map(|h| h.split('/').next().unwrap_or(h).to_owned())
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(h, _)| h)
        .to_owned();
    let body = publish::repo_file(
        &kiln.config.public_url(),
        &ctx.owner.username,
        &ctx.repo.name,
        &ctx.repo.description,
        &[distro.to_owned()],
        credential.as_ref(),
    );
    // The plugin names the repo file after the first line's section.
    let body = body.replacen(
        &format!(
            "[kiln-{}-{}]",
            publish::dnf_safe(&ctx.owner.username),
            ctx.repo.name
        ),
        &format!("[copr:{host}:{}:{}]", ctx.owner.username, ctx.repo.name),
        1,
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}

/// `POST /api/v1/repos/OWNER/REPO/createrepo`: regenerate every chroot's metadata now.
pub async fn createrepo(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<Response> {
    let chroots = publish::createrepo(&state.kiln, &caller.principal, &p.owner, &p.repo).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"chroots": chroots})),
    )
        .into_response())
}

/// `POST /api/v1/repos/OWNER/REPO/key/rotate`: a new signing key; packages are re-signed and
/// every chroot republished in the background.
pub async fn rotate_key(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
) -> ApiResult<Response> {
    let rotation = publish::rotate_key(&state.kiln, &caller.principal, &p.owner, &p.repo).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(rotation)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct BuildPath {
    pub owner: String,
    pub repo: String,
    pub id: i32,
}

/// `DELETE /api/v1/repos/OWNER/REPO/builds/ID`.
pub async fn delete_build(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<BuildPath>,
) -> ApiResult<StatusCode> {
    publish::delete_build(&state.kiln, &caller.principal, &p.owner, &p.repo, p.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
