//! The web UI's forms (`POST /forms/…`): real HTML forms that work without JavaScript. Each
//! calls the same `kiln_core` service as the JSON API, with the caller's principal (so the one
//! policy decides). Success redirects (303) to the page that shows the result, with a notice;
//! a failure answers with the form's page again, its status (400, 403, 404, 409, 413), the
//! message next to the field concerned and what was typed. The CSRF token travels in the
//! `csrf_token` field (the query string for the multipart upload).

use axum::extract::{FromRequest, Request};
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use kiln_core::{CoreError, CoreResult};
use kiln_frontend::forms::{parse_sources, Flash};
use tower_sessions::Session;

use crate::auth::{CSRF_FIELD, SESSION_FLASH};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::AppState;

mod access;
mod account;
mod admin;
mod builds;
mod forge;
mod repo;

pub use access::*;
pub use account::*;
pub use admin::*;
pub use builds::*;
pub use forge::*;
pub use repo::*;

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

pub(super) fn repo_path(p: &crate::extract::OwnerRepo) -> String {
    format!("/r/{}/{}", p.owner, p.repo)
}

/// A form posted from a repo's settings page (`POST /forms/r/{owner}/{repo}/…`): the repo
/// named by the path (validated), the form, and the one way such a form is answered
/// ([`SettingsForm::done`]).
pub struct SettingsForm {
    repo: crate::extract::OwnerRepo,
    form: UiForm,
}

impl FromRequest<AppState> for SettingsForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        use axum::extract::FromRequestParts;
        let (mut parts, body) = req.into_parts();
        let crate::extract::OwnerRepoPath(repo) =
            crate::extract::OwnerRepoPath::from_request_parts(&mut parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
        let form = UiForm::from_request(Request::from_parts(parts, body), state).await?;
        Ok(SettingsForm { repo, form })
    }
}

/// Where a settings form goes when it worked, and what it says there.
pub struct Done {
    /// The section of the settings page (`#members`), or `None` for its top.
    anchor: Option<String>,
    /// A page other than the settings page (after the repo was deleted).
    to: Option<String>,
    flash: Flash,
}

impl Done {
    /// Back to the settings page's top with a notice.
    pub fn notice(text: impl Into<String>) -> Done {
        Done::flash(Flash::notice(text))
    }

    /// Back to the settings page's top with this flash.
    pub fn flash(flash: Flash) -> Done {
        Done {
            anchor: None,
            to: None,
            flash,
        }
    }

    /// At the section `anchor` of the settings page.
    pub fn at(mut self, anchor: impl Into<String>) -> Done {
        self.anchor = Some(anchor.into());
        self
    }

    /// To another page.
    pub fn to(mut self, path: impl Into<String>) -> Done {
        self.to = Some(path.into());
        self
    }
}

impl SettingsForm {
    /// The repo's owner.
    fn owner(&self) -> &str {
        &self.repo.owner
    }

    /// The repo's name.
    fn repo(&self) -> &str {
        &self.repo.repo
    }

    fn principal(&self) -> &kiln_core::Principal {
        self.form.principal()
    }

    /// Answers the post: on success a redirect to where [`Done`] says, with its flash; on
    /// failure the settings page again with the error next to the form `form`.
    async fn done(self, state: &AppState, form: &str, result: CoreResult<Done>) -> Response {
        let back = format!("{}/settings", repo_path(&self.repo));
        // A form the handler refused before it looked the repo up (a bad field) still answers
        // the 404 of a repo the caller cannot see: nothing tells a stranger it exists.
        let result = match result {
            Err(e) if !matches!(e, CoreError::NotFound(_)) => {
                match kiln_core::services::access::authorize_repo(
                    &state.kiln,
                    self.principal(),
                    self.owner(),
                    self.repo(),
                    kiln_core::Action::ViewRepo,
                )
                .await
                {
                    Err(missing @ CoreError::NotFound(_)) => Err(missing),
                    _ => Err(e),
                }
            }
            r => r,
        };
        let result = result.map(|d| {
            let to = match (d.to, d.anchor) {
                (Some(to), _) => to,
                (None, Some(anchor)) => format!("{back}#{anchor}"),
                (None, None) => back.clone(),
            };
            (to, d.flash)
        });
        self.form.respond(state, form, &back, result).await
    }
}
