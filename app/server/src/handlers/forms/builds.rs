//! Build forms: the upload (each SRPM its own build, a refused file reported next to its
//! name), cancel, resubmit, delete.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use kiln_core::services::tasks::Submission;
use kiln_core::services::{access, packages, publish, tasks};
use kiln_core::{CoreError, CoreResult};
use kiln_frontend::forms::Flash;
use tower_sessions::Session;

use crate::extract::{Caller, OwnerRepoPath, Path};
use crate::AppState;

use super::*;

pub async fn delete_build(
    State(state): State<AppState>,
    Path((owner, repo, id)): Path<(String, String, i32)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/builds/{id}");
    let r = publish::delete_build(&state.kiln, f.principal(), &owner, &repo, id)
        .await
        .map(|_| {
            (
                format!("/r/{owner}/{repo}/builds"),
                Flash::notice(format!(
                    "Deleted build {id}; the repo is being republished."
                )),
            )
        });
    f.respond(&state, "build", &back, r).await
}

/// The build page of task `id`, or the home page when it cannot be seen.
pub(super) async fn build_page(state: &AppState, f: &UiForm, id: i32) -> String {
    match tasks::get(&state.kiln, f.principal(), id).await {
        Ok(t) => format!("/r/{}/builds/{id}", t.repo),
        Err(_) => "/".to_owned(),
    }
}

pub async fn cancel_task(
    State(state): State<AppState>,
    Path(id): Path<i32>,
    f: UiForm,
) -> Response {
    let back = build_page(&state, &f, id).await;
    let r = tasks::cancel(&state.kiln, f.principal(), id)
        .await
        .map(|t| {
            (
                format!("/r/{}/builds/{}", t.repo, t.id),
                Flash::notice("Canceled."),
            )
        });
    f.respond(&state, "build", &back, r).await
}

pub async fn resubmit_task(
    State(state): State<AppState>,
    Path(id): Path<i32>,
    f: UiForm,
) -> Response {
    let back = build_page(&state, &f, id).await;
    let r = tasks::resubmit(&state.kiln, f.principal(), id, f.checked("only_failed"))
        .await
        .map(|t| {
            (
                format!("/r/{}/builds/{}", t.repo, t.id),
                Flash::notice(format!("Resubmitted as build {}.", t.id)),
            )
        });
    f.respond(&state, "build", &back, r).await
}

/// `POST /forms/r/OWNER/REPO/upload?csrf_token=…` (multipart): each SRPM becomes its own build
/// (parent task) on the chosen mock configs. A file that is refused is reported next to its
/// name; the others are submitted.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    OwnerRepoPath(p): OwnerRepoPath,
    request: Request<Body>,
) -> Response {
    let back = format!("{}/upload", repo_path(&p));
    let (parts, body) = request.into_parts();
    let session = parts.extensions.get::<Session>().cloned();
    let headers = parts.headers.clone();
    let extensions = parts.extensions.clone();
    let kiln = &state.kiln;
    let mut values = Vec::new();
    let mut errors = std::collections::BTreeMap::new();
    let mut body_left: Option<Multipart> = None;
    let result: CoreResult<(String, Flash)> = async {
        access::authorize_submission(kiln, &caller.principal, &p.owner, &p.repo).await?;
        let multipart = body_left.insert(
            Multipart::from_request(Request::from_parts(parts, body), &())
                .await
                .map_err(|e| {
                    CoreError::validation(
                        "srpm",
                        format!("send the form as multipart/form-data: {}", e.body_text()),
                    )
                })?,
        );
        let parts = ["srpm", "chroot", "scratch", "nocheck"];
        // The form shows what is wrong with the body next to its file input.
        let up = super::super::builds::read_upload(kiln, multipart, &parts)
            .await
            .map_err(|e| match e.0 {
                CoreError::Validation { field, detail } if field == "body" => {
                    CoreError::validation("srpm", detail)
                }
                e => e,
            })?;
        let mut staged = Vec::new();
        for (name, s) in up.srpms {
            match s {
                Ok(s) => staged.push(s),
                // The empty file input of a form sent without a file.
                Err(_) if name.is_empty() => {}
                Err(e) => {
                    errors.insert(format!("file:{name}"), e.to_string());
                }
            }
        }
        for c in &up.mock_configs {
            values.push(("chroot".to_owned(), c.clone()));
        }
        for (on, name) in [(up.scratch, "scratch"), (up.nocheck, "nocheck")] {
            if on {
                values.push((name.to_owned(), "on".to_owned()));
            }
        }
        let (configs, scratch, nocheck) = (up.mock_configs, up.scratch, up.nocheck);
        if staged.is_empty() && errors.is_empty() {
            return Err(CoreError::validation(
                "srpm",
                "choose at least one .src.rpm file",
            ));
        }
        let mut submitted = Vec::new();
        for s in staged {
            let name = s.file_name.clone();
            let sub = Submission {
                srpms: vec![s],
                mock_configs: configs.clone(),
                scratch,
                nocheck,
                priority: None,
            };
            match tasks::submit(kiln, &caller.principal, &p.owner, &p.repo, sub).await {
                Ok(t) => submitted.push((name, t.id)),
                Err(e) if !e.is_server_error() => {
                    let text = match e {
                        CoreError::Validation { detail, .. } => detail,
                        e => e.to_string(),
                    };
                    errors.insert(format!("file:{name}"), text);
                }
                Err(e) => return Err(e),
            }
        }
        let notice = (!submitted.is_empty()).then(|| {
            let list: Vec<String> = submitted
                .iter()
                .map(|(n, id)| format!("{n} → build {id}"))
                .collect();
            format!("Submitted {}.", list.join(", "))
        });
        if !errors.is_empty() {
            return Err(CoreError::validation("files", notice.unwrap_or_default()));
        }
        let to = match submitted.as_slice() {
            [(_, id)] => format!("{}/builds/{id}", repo_path(&p)),
            _ => format!("{}/builds", repo_path(&p)),
        };
        Ok((to, Flash::notice(notice.unwrap_or_default())))
    }
    .await;
    // A part refused early leaves the rest of the body unread: read it, so that the browser
    // receives the page with the error instead of a connection closed under it.
    if let (Err(_), Some(multipart)) = (&result, body_left.as_mut()) {
        super::super::builds::drain(multipart).await;
    }
    match result {
        // Some files were refused: show each error next to its file, and what went through.
        Err(CoreError::Validation { field, detail }) if field == "files" => {
            let flash = Flash {
                form: Some("upload".into()),
                notice: (!detail.is_empty()).then_some(detail),
                error: Some("Some files were not submitted; see the messages next to them.".into()),
                fields: errors,
                values,
                ..Flash::default()
            };
            crate::ui::render_page(
                &state,
                &back,
                &headers,
                extensions,
                flash,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        r => {
            respond(
                &state, session, &headers, extensions, "upload", &back, values, r,
            )
            .await
        }
    }
}

/// `POST /forms/r/OWNER/REPO/source`: a build from a git repository or a URL (the upload
/// page's second form); on success, the build's page.
pub async fn build_source(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/upload", repo_path(&p));
    let req = kiln_proto::SourceBuild {
        source: source_of(&f),
        chroots: f.all("chroot"),
        scratch: f.checked("scratch"),
        nocheck: false,
        priority: None,
    };
    let r = tasks::submit_source(&state.kiln, f.principal(), &p.owner, &p.repo, req)
        .await
        .map(|t| {
            (
                format!("{}/builds/{}", repo_path(&p), t.id),
                Flash::notice(format!(
                    "Submitted build {}: an agent fetches the source first.",
                    t.id
                )),
            )
        });
    f.respond(&state, "source", &back, r).await
}

/// The source a form describes: `type` (`git` or `url`), `url`, and for git `ref`, `subdir`
/// and `spec`.
fn source_of(f: &UiForm) -> kiln_proto::Source {
    let url = f.text("url");
    if f.text("type") == "url" {
        kiln_proto::Source::Url { url }
    } else {
        kiln_proto::Source::Git {
            url,
            reference: f.text("ref"),
            subdir: f.text("subdir"),
            spec: f.text("spec"),
            method: kiln_proto::SrpmMethod::Rpmbuild,
        }
    }
}

/// `POST /forms/r/OWNER/REPO/packages`: stores a package's source; back to the packages page.
pub async fn put_package(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/packages", repo_path(&p));
    let name = f.text("name");
    let input = kiln_proto::PackagePut {
        source: source_of(&f),
        auto_rebuild: f.checked("auto_rebuild"),
    };
    let r = packages::put(&state.kiln, f.principal(), &p.owner, &p.repo, &name, input)
        .await
        .map(|(created, pkg)| {
            (
                format!("{back}#package-{}", pkg.name),
                Flash::notice(format!(
                    "{} {}.",
                    if created { "Stored" } else { "Updated" },
                    pkg.name
                )),
            )
        });
    f.respond(&state, "package", &back, r).await
}

/// `POST /forms/r/OWNER/REPO/packages/NAME/build`: builds a package now; to the build's page.
pub async fn build_package(
    State(state): State<AppState>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/packages");
    let r = packages::build(
        &state.kiln,
        f.principal(),
        &owner,
        &repo,
        &name,
        vec![],
        false,
    )
    .await
    .map(|t| {
        (
            format!("/r/{owner}/{repo}/builds/{}", t.id),
            Flash::notice(format!(
                "Building {name}: an agent fetches its source first."
            )),
        )
    });
    f.respond(&state, "package", &back, r).await
}

/// `POST /forms/r/OWNER/REPO/packages/NAME/delete`: forgets a package's source (its builds
/// stay).
pub async fn delete_package(
    State(state): State<AppState>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/packages");
    let r = packages::delete(&state.kiln, f.principal(), &owner, &repo, &name)
        .await
        .map(|_| {
            (
                back.clone(),
                Flash::notice(format!("Deleted {name}; its builds stay.")),
            )
        });
    f.respond(&state, "package", &back, r).await
}
