//! Copr's API (`/api_3/…`) as Copr's own clients speak it (copr-cli, the `copr` library, the dnf
//! copr plugins): the mapping between Copr's objects and Kiln's lives here, in one place. A Copr
//! project is a Kiln repo, a chroot a mock config. Reads are anonymous (as the clients send
//! them) or with HTTP Basic `login:token` (a Kiln API token); every failure is Copr's
//! `{"error": "…"}` with a status, since the clients take a body without `error` for success.
//! Authorization is the same policy as `/api/v1`'s.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kiln_core::services::{mock_configs, repos, PageRequest};
use kiln_core::{CoreError, Principal};
use kiln_proto::Repo;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::Caller;
use crate::AppState;

/// A Copr error: `{"error": MESSAGE}` with the status Copr gives it.
fn copr_error(e: CoreError) -> Response {
    let status = match &e {
        CoreError::NotFound(_) => StatusCode::NOT_FOUND,
        CoreError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
        CoreError::Conflict(_) | CoreError::Validation { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match e {
        CoreError::Validation { field, detail } => format!("{field}: {detail}"),
        CoreError::Internal(_) => "something went wrong on the server".to_owned(),
        other => other.to_string(),
    };
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// `GET /api_3/`.
pub async fn root() -> impl IntoResponse {
    axum::Json(json!({"version": 3}))
}

/// `GET /api_3/auth-check`: who the Basic credentials are (`{"id", "name"}`), or Copr's 401.
pub async fn auth_check(caller: Caller) -> Response {
    match caller.principal.user() {
        Some(u) => axum::Json(json!({"id": u.id, "name": u.username})).into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({
                "output": "notok",
                "error": "Login invalid/expired: send your Kiln user name and one of your API tokens (see /account)",
            })),
        )
            .into_response(),
    }
}

/// A Kiln repo as a Copr project, with its chroots' published repos.
async fn project(state: &AppState, principal: &Principal, r: &Repo) -> Result<Value, CoreError> {
    let configs = mock_configs::list(&state.kiln, principal, &r.owner, &r.name).await?;
    let base = format!(
        "{}/repos/{}/{}",
        state.kiln.config.public_url(),
        r.owner,
        r.name
    );
    let chroot_repos: serde_json::Map<String, Value> = configs
        .iter()
        .filter(|c| c.enabled)
        .map(|c| (c.name.clone(), json!(format!("{base}/{}/", c.name))))
        .collect();
    let additional: Vec<&str> = configs
        .iter()
        .flat_map(|c| c.extra_repos.iter().map(|x| x.baseurl.as_str()))
        .collect();
    Ok(json!({
        "id": r.id,
        "name": r.name,
        "projectname": r.name,
        "ownername": r.owner,
        "full_name": r.full_name,
        "description": r.description,
        "instructions": "",
        "homepage": null,
        "contact": null,
        "devel_mode": false,
        "persistent": false,
        "unlisted_on_hp": r.visibility == kiln_proto::Visibility::Private,
        "auto_prune": true,
        "chroot_repos": chroot_repos,
        "additional_repos": additional,
        "enable_net": false,
        "bootstrap": "default",
        "isolation": "default",
        "module_hotfixes": false,
        "appstream": false,
        "packit_forge_projects_allowed": [],
        "follow_fedora_branching": false,
        "repo_priority": null,
        "storage": "kiln",
    }))
}

#[derive(Debug, Deserialize)]
pub struct ProjectQuery {
    pub ownername: Option<String>,
    pub projectname: Option<String>,
    pub query: Option<String>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// `GET /api_3/project?ownername=O&projectname=P`: one project, or Copr's 404.
pub async fn project_get(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match copr_query(q) {
        Ok(q) => q,
        Err(e) => return copr_error(e),
    };
    let r = async {
        let (Some(owner), Some(name)) = (q.ownername.as_deref(), q.projectname.as_deref()) else {
            return Err(CoreError::validation(
                "projectname",
                "give ownername and projectname",
            ));
        };
        let repo = repos::get(&state.kiln, &caller.principal, owner, name)
            .await
            .map_err(|e| match e {
                CoreError::NotFound(_) => {
                    CoreError::not_found(format!("Project {owner}/{name} does not exist."))
                }
                e => e,
            })?;
        project(&state, &caller.principal, &repo).await
    }
    .await;
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => copr_error(e),
    }
}

/// `GET /api_3/project/list?ownername=O` and `/api_3/project/search?query=Q`: Copr's list
/// (`{"items": […], "meta": {"limit", "offset", …}}`, an empty page past the end), of the
/// repos the caller can see.
pub async fn project_list(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match copr_query(q) {
        Ok(q) => q,
        Err(e) => return copr_error(e),
    };
    let r = async {
        let limit = q.limit.unwrap_or(100).clamp(1, 1000);
        let offset = q.offset.unwrap_or(0);
        let seen = window(limit, offset, |page| {
            let (state, principal, q) = (&state, &caller.principal, &q);
            async move {
                Ok(repos::list(
                    &state.kiln,
                    principal,
                    q.ownername.as_deref(),
                    q.query.as_deref(),
                    PageRequest::new(Some(page), Some(limit)),
                )
                .await?
                .items)
            }
        })
        .await?;
        let mut items = Vec::new();
        for r in &seen {
            items.push(project(&state, &caller.principal, r).await?);
        }
        Ok::<_, CoreError>(json!({
            "items": items,
            "meta": {"limit": limit, "offset": offset, "order": "id", "order_type": "ASC"},
        }))
    }
    .await;
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => copr_error(e),
    }
}

/// Copr's `limit`/`offset` window over Kiln's numbered pages: `fetch(page, per_page)` until
/// the window is full or a short page ends the list.
async fn window<T, F, Fut>(limit: u64, offset: u64, mut fetch: F) -> Result<Vec<T>, CoreError>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, CoreError>>,
{
    let mut seen = Vec::new();
    let mut page = offset / limit + 1;
    let skip = (offset % limit) as usize;
    while seen.len() < skip + limit as usize {
        let items = fetch(page).await?;
        let n = items.len();
        seen.extend(items);
        if (n as u64) < limit {
            break;
        }
        page += 1;
    }
    Ok(seen.into_iter().skip(skip).take(limit as usize).collect())
}

/// A query string Copr's way: a malformed one is Copr's 400, not a framework's text.
fn copr_query<T>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, CoreError> {
    q.map(|Query(v)| v)
        .map_err(|e| CoreError::validation("query", e.body_text()))
}

/// `GET /api_3/mock-chroots/list`: the site's enabled chroots, `{"NAME": "comment"}`.
pub async fn mock_chroots(State(state): State<AppState>, caller: Caller) -> Response {
    match kiln_core::services::chroots::list(&state.kiln, &caller.principal).await {
        Ok(list) => {
            let map: serde_json::Map<String, Value> = list
                .into_iter()
                .filter(|c| c.enabled)
                .map(|c| (c.name, json!("")))
                .collect();
            axum::Json(Value::Object(map)).into_response()
        }
        Err(e) => copr_error(e),
    }
}

/// Anything else under `/api_3/`: Copr's error shape, so a client never mistakes it for a
/// success.
pub async fn unsupported(uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "error": format!("Kiln does not support {} of Copr's API yet", uri.path()),
        })),
    )
        .into_response()
}

/// A Kiln state as Copr names it.
fn copr_state(s: kiln_proto::TaskState) -> &'static str {
    use kiln_proto::TaskState as S;
    match s {
        S::Pending => "pending",
        S::Running => "running",
        S::Succeeded => "succeeded",
        S::Failed => "failed",
        S::Canceled => "canceled",
        S::Skipped => "skipped",
    }
}

/// A Kiln build (a parent task) as a Copr build.
fn build(state: &AppState, t: &kiln_proto::Task) -> Value {
    let (owner, name) = t.repo.split_once('/').unwrap_or((&t.repo, ""));
    let epoch = |v: Option<time::OffsetDateTime>| v.map(|t| t.unix_timestamp());
    let package = t.subtasks.iter().find_map(|s| s.package.as_ref());
    let mut chroots: Vec<&str> = t
        .subtasks
        .iter()
        .filter(|s| s.kind == kiln_proto::SubtaskKind::Build)
        .map(|s| s.mock_config.as_str())
        .collect();
    chroots.dedup();
    json!({
        "id": t.id,
        "state": copr_state(t.state),
        "ownername": owner,
        "projectname": name,
        "project_dirname": name,
        "repo_url": format!("{}/repos/{}/", state.kiln.config.public_url(), t.repo),
        "source_package": {
            "name": package.map(|p| p.name.clone()),
            "version": package.map(|p| format!("{}-{}", p.version, p.release)),
            "url": null,
        },
        "submitted_on": t.created_at.unix_timestamp(),
        "started_on": epoch(t.started_at),
        "ended_on": epoch(t.finished_at),
        "submitter": t.submitter,
        "chroots": chroots,
        "is_background": false,
    })
}

#[derive(Debug, Deserialize)]
pub struct BuildPath {
    pub id: i32,
}

/// `GET /api_3/build/ID`: the build (anonymous reads, as the clients send them).
pub async fn build_get(
    State(state): State<AppState>,
    caller: Caller,
    p: Result<axum::extract::Path<BuildPath>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(axum::extract::Path(p)) = p else {
        return copr_error(CoreError::validation("id", "a build id is a whole number"));
    };
    match kiln_core::services::tasks::get(&state.kiln, &caller.principal, p.id).await {
        Ok(t) if t.id == p.id => axum::Json(build(&state, &t)).into_response(),
        Ok(_) | Err(CoreError::NotFound(_)) => copr_error(CoreError::not_found(format!(
            "Build {} does not exist.",
            p.id
        ))),
        Err(e) => copr_error(e),
    }
}

/// `GET /api_3/build/list?ownername=O&projectname=P&limit=N&offset=M`: the project's builds,
/// newest first, in Copr's list shape (an empty page past the end, which ends copr-cli's loop).
pub async fn build_list(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<ProjectQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match copr_query(q) {
        Ok(q) => q,
        Err(e) => return copr_error(e),
    };
    let r = async {
        let (Some(owner), Some(name)) = (q.ownername.as_deref(), q.projectname.as_deref()) else {
            return Err(CoreError::validation(
                "projectname",
                "give ownername and projectname",
            ));
        };
        let limit = q.limit.unwrap_or(100).clamp(1, 1000);
        let offset = q.offset.unwrap_or(0);
        let filter = kiln_core::services::tasks::TaskFilter::default();
        let seen = window(limit, offset, |page| {
            let (state, principal, filter) = (&state, &caller.principal, &filter);
            async move {
                Ok(kiln_core::services::tasks::list_for_repo(
                    &state.kiln,
                    principal,
                    owner,
                    name,
                    filter,
                    PageRequest::new(Some(page), Some(limit)),
                )
                .await
                .map_err(|e| match e {
                    CoreError::NotFound(_) => {
                        CoreError::not_found(format!("Project {owner}/{name} does not exist."))
                    }
                    e => e,
                })?
                .items)
            }
        })
        .await?;
        let items: Vec<Value> = seen.iter().map(|t| build(&state, t)).collect();
        Ok(json!({
            "items": items,
            "meta": {"limit": limit, "offset": offset, "order": "id", "order_type": "DESC"},
        }))
    }
    .await;
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => copr_error(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct WebProjectPath {
    pub owner: String,
    pub repo: String,
}

/// `/coprs/build/ID[/]`, the URL copr-cli prints: the build's page.
pub async fn web_build(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(p): axum::extract::Path<BuildPath>,
) -> Response {
    match kiln_core::services::tasks::get(&state.kiln, &caller.principal, p.id).await {
        Ok(t) => {
            axum::response::Redirect::to(&format!("/r/{}/builds/{}", t.repo, t.id)).into_response()
        }
        Err(e) => crate::error::ApiError(e).into_response(),
    }
}

/// `/coprs/OWNER/PROJECT[/]`, the URL copr-cli prints: the repo's page (a 404 for a repo the
/// caller cannot see).
pub async fn web_project(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(p): axum::extract::Path<WebProjectPath>,
) -> Response {
    to_repo_page(&state, &caller, &p.owner, &p.repo).await
}

/// `/coprs/g/GROUP/PROJECT[/]`: a group's project, `@GROUP/PROJECT` in Kiln.
pub async fn web_group_project(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(p): axum::extract::Path<WebProjectPath>,
) -> Response {
    to_repo_page(&state, &caller, &format!("@{}", p.owner), &p.repo).await
}

async fn to_repo_page(state: &AppState, caller: &Caller, owner: &str, repo: &str) -> Response {
    match repos::get(&state.kiln, &caller.principal, owner, repo).await {
        Ok(r) => axum::response::Redirect::to(&format!("/r/{}", r.full_name)).into_response(),
        Err(e) => crate::error::ApiError(e).into_response(),
    }
}
