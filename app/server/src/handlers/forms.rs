//! The web UI's forms (`POST /forms/…`): real HTML forms that work without JavaScript. Each
//! calls the same `kiln_core` service as the JSON API, with the caller's principal (so the one
//! policy decides). Success redirects (303) to the page that shows the result, with a notice;
//! a failure answers with the form's page again, its status (400, 403, 404, 409, 413), the
//! message next to the field concerned and what was typed. The CSRF token travels in the
//! `csrf_token` field (the query string for the multipart upload).

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kiln_core::services::tasks::Submission;
use kiln_core::services::{
    access, accounts, agents, chroots, members, mock_configs, publish, repos, tasks, tokens,
    webhooks,
};
use kiln_core::{Action, CoreError, CoreResult};
use kiln_frontend::forms::{parse_macros, parse_sources, parse_words, Flash};
use kiln_proto::agent::AgentState;
use kiln_proto::{
    ChrootCreate, ChrootPatch, MockConfigCreate, MockConfigPatch, RepoCreate, RepoPatch, Role,
    TokenCreate,
};
use tower_sessions::Session;

use crate::auth::{CSRF_FIELD, SESSION_FLASH};
use crate::error::ApiError;
use crate::extract::{Caller, OwnerRepoPath, Path};
use crate::AppState;

const MAX_FORM_BYTES: usize = 1024 * 1024;
/// Fields never echoed back into a page.
const SECRET_FIELDS: [&str; 2] = [CSRF_FIELD, "password"];

/// A posted form with who posted it.
pub struct UiForm {
    caller: Caller,
    session: Option<Session>,
    headers: HeaderMap,
    extensions: Extensions,
    pairs: Vec<(String, String)>,
}

impl FromRequest<AppState> for UiForm {
    type Rejection = Response;

    async fn from_request(req: Request, _: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                ApiError(CoreError::PayloadTooLarge("the form is too large".into())).into_response()
            })?;
        let pairs = url::form_urlencoded::parse(&bytes).into_owned().collect();
        Ok(UiForm {
            caller: parts
                .extensions
                .get::<Caller>()
                .cloned()
                .unwrap_or_else(Caller::anonymous),
            session: parts.extensions.get::<Session>().cloned(),
            headers: parts.headers,
            extensions: parts.extensions,
            pairs,
        })
    }
}

impl UiForm {
    /// The trimmed value of a field ("" when absent).
    fn text(&self, name: &str) -> String {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    }

    /// Every value of a repeated field (check boxes).
    fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    fn checked(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// A whole number, 0 when empty.
    fn number(&self, name: &str) -> CoreResult<u32> {
        let v = self.text(name);
        if v.is_empty() {
            return Ok(0);
        }
        v.parse()
            .map_err(|_| CoreError::validation(name, "must be a whole number, 0 or more"))
    }

    /// A list of repos, one `ID URL [priority=N] [gpgkey=URL]` per line.
    fn sources(&self, name: &str) -> CoreResult<Vec<kiln_proto::RepoSource>> {
        parse_sources(&self.text(name)).map_err(|e| CoreError::validation(name, e))
    }

    fn principal(&self) -> &kiln_core::Principal {
        &self.caller.principal
    }

    /// Answers the post: on success a redirect with the flash; on failure the page `back`
    /// again with the error.
    async fn respond(
        self,
        state: &AppState,
        form: &str,
        back: &str,
        result: CoreResult<(String, Flash)>,
    ) -> Response {
        let values = self
            .pairs
            .iter()
            .filter(|(k, _)| !SECRET_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect();
        respond(
            state,
            self.session,
            &self.headers,
            self.extensions,
            form,
            back,
            values,
            result,
        )
        .await
    }
}

#[allow(clippy::too_many_arguments)]
async fn respond(
    state: &AppState,
    session: Option<Session>,
    headers: &HeaderMap,
    extensions: Extensions,
    form: &str,
    back: &str,
    values: Vec<(String, String)>,
    result: CoreResult<(String, Flash)>,
) -> Response {
    match result {
        Ok((to, flash)) => {
            if let Some(s) = &session {
                if let Err(e) = s.insert(SESSION_FLASH, flash).await {
                    tracing::warn!(error = %e, "could not keep the form's notice");
                }
            }
            Redirect::to(&to).into_response()
        }
        Err(CoreError::Unauthorized(_)) => {
            let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next}")).into_response()
        }
        Err(e) => {
            let api = ApiError(e);
            let status = api.status();
            let mut flash = Flash {
                form: Some(form.to_owned()),
                values,
                ..Flash::default()
            };
            match api.0 {
                CoreError::Validation { field, detail } => {
                    flash.fields.insert(field, detail);
                }
                e if e.is_server_error() => {
                    let id = uuid::Uuid::new_v4();
                    tracing::error!(error = %e, error_id = %id, form, "form failed");
                    flash.error = Some(format!(
                        "something went wrong on the server (error id {id}); it has been logged"
                    ));
                }
                e => flash.error = Some(e.to_string()),
            }
            crate::ui::render_page(state, back, headers, extensions, flash, status).await
        }
    }
}

fn repo_path(p: &crate::extract::OwnerRepo) -> String {
    format!("/r/{}/{}", p.owner, p.repo)
}

pub async fn create_repo(State(state): State<AppState>, f: UiForm) -> Response {
    let input = RepoCreate {
        name: f.text("name"),
        description: f.text("description"),
        chroots: f.all("chroots"),
    };
    let r = repos::create(&state.kiln, f.principal(), input)
        .await
        .map(|r| {
            (
                format!("/r/{}/{}", r.owner, r.name),
                Flash::notice(format!("Created {}.", r.full_name)),
            )
        });
    f.respond(&state, "new-repo", "/new", r).await
}

pub async fn update_repo(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/settings", repo_path(&p));
    let r = async {
        let patch = RepoPatch {
            description: Some(f.text("description")),
            keep_builds: Some(f.number("keep_builds")?),
            keep_logs_days: Some(f.number("keep_logs_days")?),
        };
        repos::update(&state.kiln, f.principal(), &p.owner, &p.repo, patch).await?;
        Ok((back.clone(), Flash::notice("Settings saved.")))
    }
    .await;
    f.respond(&state, "general", &back, r).await
}

pub async fn delete_repo(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let full = format!("{}/{}", p.owner, p.repo);
    let back = format!("{}/settings", repo_path(&p));
    let r = async {
        // Check the role first: a packager learns nothing from the confirmation check.
        access::authorize_repo(
            &state.kiln,
            f.principal(),
            &p.owner,
            &p.repo,
            Action::DeleteRepo,
        )
        .await?;
        if f.text("confirm") != full {
            return Err(CoreError::validation(
                "confirm",
                format!("type {full} to confirm"),
            ));
        }
        repos::delete(&state.kiln, f.principal(), &p.owner, &p.repo).await?;
        Ok(("/".to_owned(), Flash::notice(format!("Deleted {full}."))))
    }
    .await;
    f.respond(&state, "delete", &back, r).await
}

pub async fn put_member(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/settings", repo_path(&p));
    let r = async {
        let username = f.text("username");
        if username.is_empty() {
            return Err(CoreError::validation("username", "enter a username"));
        }
        let role = Role::parse(&f.text("role"))
            .ok_or_else(|| CoreError::validation("role", "choose packager, releng or admin"))?;
        let m = members::put(
            &state.kiln,
            f.principal(),
            &p.owner,
            &p.repo,
            &username,
            role,
        )
        .await?;
        Ok((
            format!("{back}#members"),
            Flash::notice(format!("{} is now {}.", m.username, m.role.as_str())),
        ))
    }
    .await;
    f.respond(&state, "member", &back, r).await
}

pub async fn remove_member(
    State(state): State<AppState>,
    Path((owner, repo, username)): Path<(String, String, String)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/settings");
    let r = members::remove(&state.kiln, f.principal(), &owner, &repo, &username)
        .await
        .map(|_| {
            (
                format!("{back}#members"),
                Flash::notice(format!("Removed {username}.")),
            )
        });
    f.respond(&state, "member", &back, r).await
}

pub async fn create_webhook(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/settings", repo_path(&p));
    let input = kiln_proto::WebhookCreate { url: f.text("url") };
    let r = webhooks::create_webhook(&state.kiln, f.principal(), &p.owner, &p.repo, input)
        .await
        .map(|created| {
            (
                format!("{back}#webhooks"),
                Flash {
                    notice: Some(format!(
                        "Added the webhook to {}. Copy its secret now: it is not shown again.",
                        created.webhook.url
                    )),
                    secret: Some(created.secret),
                    ..Flash::default()
                },
            )
        });
    f.respond(&state, "webhook", &back, r).await
}

pub async fn test_webhook(
    State(state): State<AppState>,
    Path((owner, repo, id)): Path<(String, String, i32)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/settings");
    let r = webhooks::send_test(&state.kiln, f.principal(), &owner, &repo, id)
        .await
        .map(|_| {
            (
                format!("{back}#webhooks"),
                Flash::notice("Test message queued; its delivery shows below."),
            )
        });
    f.respond(&state, "webhook", &back, r).await
}

pub async fn delete_webhook(
    State(state): State<AppState>,
    Path((owner, repo, id)): Path<(String, String, i32)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/settings");
    let r = webhooks::delete_webhook(&state.kiln, f.principal(), &owner, &repo, id)
        .await
        .map(|_| {
            (
                format!("{back}#webhooks"),
                Flash::notice("Webhook deleted."),
            )
        });
    f.respond(&state, "webhook", &back, r).await
}

pub async fn create_mock_config(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/settings", repo_path(&p));
    let input = MockConfigCreate {
        name: f.text("name"),
        base: f.text("base"),
        extra_repos: Vec::new(),
        buildroot_add: Vec::new(),
        buildroot_remove: Vec::new(),
        macros: Default::default(),
        include_own_repo: None,
        enabled: None,
        nocheck: None,
    };
    let r = mock_configs::create(&state.kiln, f.principal(), &p.owner, &p.repo, input)
        .await
        .map(|c| {
            (
                format!("{back}#config-{}", c.name),
                Flash::notice(format!("Added the mock config {}.", c.name)),
            )
        });
    f.respond(&state, "new-config", &back, r).await
}

pub async fn update_mock_config(
    State(state): State<AppState>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/settings");
    let r = async {
        let patch = MockConfigPatch {
            extra_repos: Some(f.sources("extra_repos")?),
            buildroot_add: Some(parse_words(&f.text("buildroot_add"))),
            buildroot_remove: Some(parse_words(&f.text("buildroot_remove"))),
            macros: Some(
                parse_macros(&f.text("macros")).map_err(|e| CoreError::validation("macros", e))?,
            ),
            include_own_repo: Some(f.checked("include_own_repo")),
            enabled: Some(f.checked("enabled")),
            nocheck: Some(f.checked("nocheck")),
        };
        let c =
            mock_configs::update(&state.kiln, f.principal(), &owner, &repo, &name, patch).await?;
        Ok((
            format!("{back}#config-{}", c.name),
            Flash::notice(format!("Saved the mock config {}.", c.name)),
        ))
    }
    .await;
    f.respond(&state, &format!("config-{name}"), &back, r).await
}

pub async fn delete_mock_config(
    State(state): State<AppState>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    f: UiForm,
) -> Response {
    let back = format!("/r/{owner}/{repo}/settings");
    let r = mock_configs::delete(&state.kiln, f.principal(), &owner, &repo, &name)
        .await
        .map(|_| {
            (
                back.clone(),
                Flash::notice(format!("Deleted the mock config {name}.")),
            )
        });
    f.respond(&state, &format!("config-{name}"), &back, r).await
}

pub async fn createrepo(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/settings", repo_path(&p));
    let r = publish::createrepo(&state.kiln, f.principal(), &p.owner, &p.repo)
        .await
        .map(|c| {
            (
                back.clone(),
                Flash::notice(format!(
                    "Regenerating the metadata of {} chroot(s).",
                    c.len()
                )),
            )
        });
    f.respond(&state, "publishing", &back, r).await
}

pub async fn rotate_key(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = format!("{}/settings", repo_path(&p));
    let r = publish::rotate_key(&state.kiln, f.principal(), &p.owner, &p.repo)
        .await
        .map(|k| {
            (
                back.clone(),
                Flash::notice(format!(
                    "New signing key {}; packages are being re-signed.",
                    k.fingerprint
                )),
            )
        });
    f.respond(&state, "publishing", &back, r).await
}

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
async fn build_page(state: &AppState, f: &UiForm, id: i32) -> String {
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

pub async fn create_token(State(state): State<AppState>, f: UiForm) -> Response {
    let r = async {
        let days = f.number("expires_days")?;
        if days > 3650 {
            return Err(CoreError::validation("expires_days", "at most 3650 days"));
        }
        let input = TokenCreate {
            name: f.text("name"),
            expires_at: (days > 0).then(|| kiln_core::now() + time::Duration::days(days.into())),
        };
        let t = tokens::create(&state.kiln, f.principal(), input).await?;
        Ok((
            "/account".to_owned(),
            Flash {
                notice: Some(format!(
                    "Created the token {}. Copy it now: it is not shown again.",
                    t.info.name
                )),
                secret: Some(t.token),
                ..Flash::default()
            },
        ))
    }
    .await;
    f.respond(&state, "token", "/account", r).await
}

pub async fn set_notifications(State(state): State<AppState>, f: UiForm) -> Response {
    let on = f.checked("notify_builds");
    let r = accounts::set_notify_builds(&state.kiln, f.principal(), on)
        .await
        .map(|_| {
            let notice = if on {
                "You will get an e-mail when a build you submitted ends."
            } else {
                "No more build e-mails."
            };
            ("/account".to_owned(), Flash::notice(notice))
        });
    f.respond(&state, "notifications", "/account", r).await
}

pub async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i32>,
    f: UiForm,
) -> Response {
    let r = tokens::revoke(&state.kiln, f.principal(), id)
        .await
        .map(|_| ("/account".to_owned(), Flash::notice("Token revoked.")));
    f.respond(&state, "token", "/account", r).await
}

pub async fn create_chroot(State(state): State<AppState>, f: UiForm) -> Response {
    let r = async {
        let dist = f.text("dist_macro");
        let input = ChrootCreate {
            name: f.text("name"),
            base_repos: f.sources("base_repos")?,
            mock_template: None,
            dist_macro: (!dist.is_empty()).then_some(dist),
            enabled: Some(true),
        };
        let c = chroots::create(&state.kiln, f.principal(), input).await?;
        Ok((
            "/admin#chroots".to_owned(),
            Flash::notice(format!("Added the base chroot {}.", c.name)),
        ))
    }
    .await;
    f.respond(&state, "new-chroot", "/admin", r).await
}

pub async fn update_chroot(
    State(state): State<AppState>,
    Path(name): Path<String>,
    f: UiForm,
) -> Response {
    let r = async {
        let dist = f.text("dist_macro");
        let patch = ChrootPatch {
            base_repos: Some(f.sources("base_repos")?),
            mock_template: None,
            dist_macro: (!dist.is_empty()).then_some(dist),
            enabled: Some(f.checked("enabled")),
        };
        let c = chroots::update(&state.kiln, f.principal(), &name, patch).await?;
        Ok((
            "/admin#chroots".to_owned(),
            Flash::notice(format!("Saved the base chroot {}.", c.name)),
        ))
    }
    .await;
    f.respond(&state, &format!("chroot-{name}"), "/admin", r)
        .await
}

pub async fn set_agent_state(
    State(state): State<AppState>,
    Path(name): Path<String>,
    f: UiForm,
) -> Response {
    let r = async {
        let s = match f.text("state").as_str() {
            "online" => AgentState::Online,
            "draining" => AgentState::Draining,
            "disabled" => AgentState::Disabled,
            _ => {
                return Err(CoreError::validation(
                    "state",
                    "choose online, draining or disabled",
                ))
            }
        };
        let a = agents::set_state(&state.kiln, f.principal(), &name, s).await?;
        Ok((
            "/admin#agents".to_owned(),
            Flash::notice(format!("{} is now {}.", a.name, f.text("state"))),
        ))
    }
    .await;
    f.respond(&state, "agents", "/admin", r).await
}

pub async fn create_agent_token(State(state): State<AppState>, f: UiForm) -> Response {
    let r = agents::create_registration_token_info(&state.kiln, f.principal(), &f.text("name"))
        .await
        .map(|t| {
            (
                "/admin#agent-tokens".to_owned(),
                Flash {
                    notice: Some(format!(
                        "Created the registration token {}. Copy it now: it is not shown again.",
                        t.info.name
                    )),
                    secret: Some(t.token),
                    ..Flash::default()
                },
            )
        });
    f.respond(&state, "agent-token", "/admin", r).await
}

pub async fn revoke_agent_token(
    State(state): State<AppState>,
    Path(id): Path<i32>,
    f: UiForm,
) -> Response {
    let r = agents::revoke_registration_token(&state.kiln, f.principal(), id)
        .await
        .map(|_| {
            (
                "/admin#agent-tokens".to_owned(),
                Flash::notice("Registration token revoked."),
            )
        });
    f.respond(&state, "agent-token", "/admin", r).await
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
        let ctx = access::authorize_repo(
            kiln,
            &caller.principal,
            &p.owner,
            &p.repo,
            Action::SubmitBuild,
        )
        .await?;
        access::accepting_builds(&ctx)?;
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
        let up = super::builds::read_upload(kiln, multipart, &parts)
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
        super::builds::drain(multipart).await;
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
                secret: None,
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

/// `GET /forms/users?q=…`: account names for the member form's suggestions (signed in).
pub async fn user_suggestions(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::Query(q): crate::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<crate::extract::Json<Vec<String>>, ApiError> {
    let found = accounts::search(
        &state.kiln,
        &caller.principal,
        q.get("q").map(String::as_str).unwrap_or_default(),
    )
    .await?;
    Ok(crate::extract::Json(
        found.into_iter().map(|u| u.username).collect(),
    ))
}
