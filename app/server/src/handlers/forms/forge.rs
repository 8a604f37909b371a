//! The settings page's forge forms (rel-eng): a new forge hook secret (shown once) and the repo's git
//! credentials. Each goes back to the page's forge section.

use axum::extract::State;
use axum::response::Response;
use kiln_core::services::{forge, source_secrets};
use kiln_frontend::forms::Flash;

use crate::extract::{OwnerRepoPath, Path};
use crate::AppState;

use super::*;

fn back(owner: &str, repo: &str) -> String {
    format!("/r/{owner}/{repo}/settings")
}

/// `POST /forms/r/OWNER/REPO/forge/secret`.
pub async fn rotate_forge_secret(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = back(&p.owner, &p.repo);
    let r = forge::rotate_secret(&state.kiln, f.principal(), &p.owner, &p.repo)
        .await
        .map(|s| {
            (
                // The page's top, where the secret is shown.
                back.clone(),
                Flash {
                    notice: Some(format!(
                        "New forge secret for {}. Copy it now into the forge's webhook \
                         settings: it is not shown again, and the old one no longer works.",
                        s.url
                    )),
                    secret: Some(s.secret),
                    ..Flash::default()
                },
            )
        });
    f.respond(&state, "forge", &back, r).await
}

/// `POST /forms/r/OWNER/REPO/git-credentials`.
pub async fn put_git_credential(
    State(state): State<AppState>,
    OwnerRepoPath(p): OwnerRepoPath,
    f: UiForm,
) -> Response {
    let back = back(&p.owner, &p.repo);
    let input = kiln_proto::GitCredentialPut {
        username: f.text("username"),
        password: f.text("password"),
    };
    let host = f.text("host");
    let r =
        source_secrets::put_credential(&state.kiln, f.principal(), &p.owner, &p.repo, &host, input)
            .await
            .map(|c| {
                (
                    format!("{back}#git-credentials"),
                    Flash::notice(format!("Stored the git credential for {}.", c.host)),
                )
            });
    f.respond(&state, "git-credential", &back, r).await
}

/// `POST /forms/r/OWNER/REPO/git-credentials/HOST/delete`.
pub async fn delete_git_credential(
    State(state): State<AppState>,
    Path((owner, repo, host)): Path<(String, String, String)>,
    f: UiForm,
) -> Response {
    let back = back(&owner, &repo);
    let r = source_secrets::delete_credential(&state.kiln, f.principal(), &owner, &repo, &host)
        .await
        .map(|_| {
            (
                format!("{back}#git-credentials"),
                Flash::notice(format!("Removed the git credential for {host}.")),
            )
        });
    f.respond(&state, "git-credential", &back, r).await
}
