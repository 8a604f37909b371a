//! The account's forms (API tokens, notifications) and the member form's user suggestions.

use axum::extract::State;
use axum::response::Response;
use kiln_core::services::{accounts, tokens};
use kiln_core::CoreError;
use kiln_frontend::forms::Flash;
use kiln_proto::TokenCreate;

use crate::error::ApiError;
use crate::extract::{Caller, Path};
use crate::AppState;

use super::*;

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
        // For Copr's clients: the whole `~/.config/copr` with the new token in it.
        let secret_uses = match (f.text("purpose").as_str(), f.principal().user()) {
            ("copr", Some(u)) => vec![kiln_core::services::accounts::copr_config(
                &state.kiln,
                &u.username,
                &t.token,
            )],
            _ => Vec::new(),
        };
        Ok((
            "/account".to_owned(),
            Flash {
                notice: Some(format!(
                    "Created the token {}. Copy it now: it is not shown again.",
                    t.info.name
                )),
                secret: Some(t.token),
                secret_uses,
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
