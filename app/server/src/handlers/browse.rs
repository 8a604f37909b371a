//! Browsable published repositories: `/repos/OWNER/REPO/`, `/repos/OWNER/REPO/CHROOT/` and its
//! sub-directories list what is there, as an HTML index for people (links, sizes, builds) and
//! as JSON for scripts (`Accept: application/json` or `?format=json`).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use kiln_core::services::browse;
use kiln_frontend::components::human_size;
use kiln_proto::{ChrootIndex, RepoIndex};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::Caller;
use crate::AppState;

#[derive(Debug, Deserialize, Default)]
pub struct IndexQuery {
    /// `json` for the JSON form.
    pub format: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RepoPath {
    pub owner: String,
    pub repo: String,
}

#[derive(Debug, Deserialize)]
pub struct ChrootDirPath {
    pub owner: String,
    pub repo: String,
    pub chroot: String,
}

fn wants_json(headers: &HeaderMap, q: &IndexQuery) -> bool {
    q.format.as_deref() == Some("json")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

/// `/repos/OWNER/REPO` → `/repos/OWNER/REPO/`, as a web server does for a directory (a repo
/// that does not exist for the caller is a 404 here too).
pub async fn repo_redirect(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<RepoPath>,
) -> ApiResult<Response> {
    let ctx = kiln_core::services::publish::repo_for_serving(
        &state.kiln,
        &caller.principal,
        &p.owner,
        &p.repo,
    )
    .await?;
    Ok(
        Redirect::permanent(&format!("/repos/{}/{}/", ctx.owner.username, ctx.repo.name))
            .into_response(),
    )
}

/// `/repos/OWNER/REPO/`.
pub async fn repo_index(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(p): Path<RepoPath>,
    Query(q): Query<IndexQuery>,
) -> ApiResult<Response> {
    let index = browse::repo_index(&state.kiln, &caller.principal, &p.owner, &p.repo).await?;
    if wants_json(&headers, &q) {
        return Ok(Json(index).into_response());
    }
    Ok(html(&format!("/repos/{}/", index.repo), &repo_rows(&index)))
}

/// `/repos/OWNER/REPO/CHROOT/`, and its directories (`repodata/`, a build's `00000012/`) when
/// `sub` is given.
pub async fn chroot_index(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    p: &ChrootDirPath,
    sub: Option<&str>,
    q: &IndexQuery,
) -> ApiResult<Response> {
    let mut index =
        browse::chroot_index(&state.kiln, &caller.principal, &p.owner, &p.repo, &p.chroot).await?;
    let here = format!(
        "/repos/{}/{}/{}",
        index.repo,
        index.chroot,
        sub.unwrap_or("")
    );
    match sub {
        None => {}
        Some("repodata/") => index.packages.clear(),
        Some(dir) => {
            index.repodata.clear();
            index.packages.retain(|pkg| pkg.href.starts_with(dir));
            if index.packages.is_empty() {
                return Err(crate::error::ApiError(kiln_core::CoreError::not_found(
                    format!("{} has no directory {dir} in {}", index.repo, index.chroot),
                )));
            }
        }
    }
    if wants_json(headers, q) {
        return Ok(Json(index).into_response());
    }
    Ok(html(&here, &chroot_rows(&index, sub)))
}

/// `/repos/OWNER/REPO/CHROOT/`.
pub async fn chroot_root(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(p): Path<ChrootDirPath>,
    Query(q): Query<IndexQuery>,
) -> ApiResult<Response> {
    chroot_index(&state, &caller, &headers, &p, None, &q).await
}

/// Text for HTML content and double-quoted attributes (the metadata's XML escaping serves).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    kiln_core::repodata::escape(s, &mut out);
    out
}

fn when(t: Option<time::OffsetDateTime>) -> String {
    t.and_then(|t| {
        t.format(&time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .ok()
    })
    .unwrap_or_default()
}

/// One row: a link, then plain cells.
fn row(href: &str, label: &str, cells: &[String]) -> String {
    let mut r = format!(
        "<tr><td><a href=\"{}\">{}</a></td>",
        escape(href),
        escape(label)
    );
    for c in cells {
        r.push_str(&format!("<td>{}</td>", escape(c)));
    }
    r.push_str("</tr>\n");
    r
}

fn repo_rows(index: &RepoIndex) -> (Vec<&'static str>, String) {
    let mut rows = String::new();
    for c in &index.chroots {
        rows.push_str(&row(
            &format!("{}/", c.name),
            &format!("{}/", c.name),
            &[
                format!("{} packages", c.packages),
                when(c.published_at),
                String::new(),
            ],
        ));
    }
    for f in &index.files {
        rows.push_str(&row(f, f, &[String::new(), String::new(), String::new()]));
    }
    (vec!["Name", "Contents", "Published", "Build"], rows)
}

fn chroot_rows(index: &ChrootIndex, sub: Option<&str>) -> (Vec<&'static str>, String) {
    let mut rows = row("../", "../", &[String::new(), String::new(), String::new()]);
    let prefix = sub.unwrap_or("");
    if sub.is_none() && !index.repodata.is_empty() {
        rows.push_str(&row(
            "repodata/",
            "repodata/",
            &[
                format!("revision {}", index.revision),
                when(index.published_at),
                String::new(),
            ],
        ));
    }
    if sub == Some("repodata/") {
        for f in &index.repodata {
            rows.push_str(&row(f, f, &[String::new(), String::new(), String::new()]));
        }
    }
    for pkg in &index.packages {
        let href = pkg.href.strip_prefix(prefix).unwrap_or(&pkg.href);
        rows.push_str(&row(
            href,
            href,
            &[
                human_size(pkg.size),
                format!("{}-{}", pkg.version, pkg.release),
                format!("#{}", pkg.build),
            ],
        ));
    }
    (vec!["Name", "Size", "Version", "Build"], rows)
}

/// The index page: a title and one table.
fn html(title: &str, (columns, rows): &(Vec<&'static str>, String)) -> Response {
    let head: String = columns
        .iter()
        .map(|c| format!("<th scope=\"col\">{c}</th>"))
        .collect();
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Index of {t}</title><link rel=\"stylesheet\" href=\"/pkg/kiln.css\"></head>\n\
         <body><main class=\"index\"><h1>Index of {t}</h1>\n<table>\
         <caption>Files and directories of {t}</caption>\n<thead><tr>{head}</tr></thead>\n\
         <tbody>\n{rows}</tbody></table></main></body></html>\n",
        t = escape(title)
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
