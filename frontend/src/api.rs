//! Server functions (under `/ui/`): thin calls into `kiln_core` with the caller's principal.

use kiln_proto::{LoginOptions, MockConfig, Page, Repo, User};
use leptos::prelude::*;
// Reads are GETs: safe methods need no CSRF token and can be cached by the browser.
use leptos::server_fn::codec::GetUrl;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod ssr {
    use kiln_core::{CoreError, Kiln, Principal};
    use leptos::prelude::*;

    pub fn kiln() -> Result<Kiln, ServerFnError> {
        use_context::<Kiln>().ok_or_else(|| ServerFnError::new("server state missing"))
    }

    fn parts() -> Option<http::request::Parts> {
        use_context::<http::request::Parts>()
    }

    /// The caller, as the auth middleware resolved it.
    pub fn principal() -> Principal {
        parts()
            .and_then(|p| p.extensions.get::<Principal>().cloned())
            .unwrap_or(Principal::Anonymous)
    }

    pub fn csrf() -> Option<String> {
        parts().and_then(|p| {
            p.extensions
                .get::<crate::SessionCsrf>()
                .map(|c| c.0.clone())
        })
    }

    /// Sets the HTTP status of the page being rendered.
    pub fn set_status(code: u16) {
        if let (Some(opts), Ok(status)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            http::StatusCode::from_u16(code),
        ) {
            opts.set_status(status);
        }
    }

    pub fn error(e: CoreError) -> ServerFnError {
        let code = match &e {
            CoreError::NotFound(_) => 404,
            CoreError::Validation { .. } => 400,
            CoreError::Forbidden(_) => 403,
            CoreError::Unauthorized(_) => 401,
            CoreError::Conflict(_) => 409,
            _ => 500,
        };
        set_status(code);
        if e.is_server_error() {
            tracing_error(&e);
            ServerFnError::new("something went wrong on the server")
        } else {
            ServerFnError::new(e.to_string())
        }
    }

    fn tracing_error(e: &CoreError) {
        eprintln!("ui error: {e}");
    }
}

/// Who is looking, and how they can sign in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionView {
    pub user: Option<User>,
    pub csrf_token: Option<String>,
    pub login: LoginOptions,
}

#[server(prefix = "/ui", endpoint = "session", input = GetUrl)]
pub async fn session_info() -> Result<SessionView, ServerFnError> {
    use kiln_core::services::accounts;
    let kiln = ssr::kiln()?;
    let user = match ssr::principal().user() {
        Some(u) => accounts::find_by_id(&kiln, u.id)
            .await
            .map_err(ssr::error)?
            .map(|u| accounts::to_wire(&u)),
        None => None,
    };
    let providers = use_context::<LoginOptions>()
        .map(|l| l.providers)
        .unwrap_or_default();
    Ok(SessionView {
        user,
        csrf_token: ssr::csrf(),
        login: LoginOptions {
            local_enabled: kiln.config.auth.local_accounts,
            providers,
        },
    })
}

#[server(prefix = "/ui", endpoint = "repos", input = GetUrl)]
pub async fn list_repos(q: Option<String>, page: Option<u64>) -> Result<Page<Repo>, ServerFnError> {
    use kiln_core::services::{repos, PageRequest};
    let kiln = ssr::kiln()?;
    repos::list(
        &kiln,
        &ssr::principal(),
        None,
        q.as_deref(),
        PageRequest::new(page, Some(50)),
    )
    .await
    .map_err(ssr::error)
}

/// What the repo page shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepoView {
    pub repo: Repo,
    pub mock_configs: Vec<MockConfig>,
    pub public_url: String,
}

#[server(prefix = "/ui", endpoint = "repo", input = GetUrl)]
pub async fn get_repo(owner: String, repo: String) -> Result<RepoView, ServerFnError> {
    use kiln_core::services::{mock_configs, repos};
    let kiln = ssr::kiln()?;
    let p = ssr::principal();
    let r = repos::get(&kiln, &p, &owner, &repo)
        .await
        .map_err(ssr::error)?;
    let configs = mock_configs::list(&kiln, &p, &owner, &repo)
        .await
        .map_err(ssr::error)?;
    Ok(RepoView {
        repo: r,
        mock_configs: configs,
        public_url: kiln.config.public_url(),
    })
}
