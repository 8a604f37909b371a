//! Every route of the server, in one screen.

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::handlers::{
    access, agent, audit, browse, builds, chroots, copr, forge, forms, health, login, me, members,
    mock_configs, packages, publish, repos, webhooks,
};
use crate::AppState;

pub fn api() -> Router<AppState> {
    Router::new()
        .route("/me", get(me::get).patch(me::update))
        .route("/me/tokens", get(me::list_tokens).post(me::create_token))
        .route("/me/tokens/{id}", axum::routing::delete(me::revoke_token))
        .route("/login-options", get(login::options))
        .route("/chroots", get(chroots::list).post(chroots::create))
        .route(
            "/chroots/{name}",
            get(chroots::get)
                .patch(chroots::update)
                .delete(chroots::delete),
        )
        .route("/repos", get(repos::list).post(repos::create))
        .route(
            "/repos/{owner}/{repo}",
            get(repos::get).patch(repos::update).delete(repos::delete),
        )
        .route(
            "/repos/{owner}/{repo}/builds-disabled",
            axum::routing::put(repos::disable_builds).delete(repos::enable_builds),
        )
        .route(
            "/repos/{owner}/{repo}/cancel-queue",
            post(repos::cancel_queue),
        )
        .route(
            "/repos/{owner}/{repo}/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/repos/{owner}/{repo}/webhooks/{id}",
            axum::routing::delete(webhooks::delete),
        )
        .route(
            "/repos/{owner}/{repo}/webhooks/{id}/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/repos/{owner}/{repo}/webhooks/{id}/test",
            post(webhooks::test),
        )
        .route("/repos/{owner}/{repo}/members", get(members::list))
        .route(
            "/repos/{owner}/{repo}/members/{username}",
            axum::routing::put(members::put).delete(members::remove),
        )
        .route(
            "/repos/{owner}/{repo}/mock-configs",
            get(mock_configs::list).post(mock_configs::create),
        )
        .route(
            "/repos/{owner}/{repo}/mock-configs/{name}",
            get(mock_configs::get)
                .patch(mock_configs::update)
                .delete(mock_configs::delete),
        )
        .route(
            "/repos/{owner}/{repo}/mock-configs/{name}/rendered",
            get(mock_configs::rendered),
        )
        .route("/repos/{owner}/{repo}/packages", get(packages::list))
        .route(
            "/repos/{owner}/{repo}/packages/{name}",
            get(packages::get)
                .put(packages::put)
                .delete(packages::delete),
        )
        .route(
            "/repos/{owner}/{repo}/packages/{name}/builds",
            post(packages::build),
        )
        .route("/repos/{owner}/{repo}/forge", get(forge::hook))
        .route(
            "/repos/{owner}/{repo}/forge/secret",
            post(forge::rotate_secret).delete(forge::delete_secret),
        )
        .route(
            "/repos/{owner}/{repo}/forge/deliveries",
            get(forge::deliveries),
        )
        .route(
            "/repos/{owner}/{repo}/git-credentials/{host}",
            axum::routing::put(forge::put_credential).delete(forge::delete_credential),
        )
        .route(
            "/repos/{owner}/{repo}/read-tokens",
            get(access::list_read_tokens).post(access::create_read_token),
        )
        .route(
            "/repos/{owner}/{repo}/read-tokens/{id}",
            axum::routing::delete(access::revoke_read_token),
        )
        .route(
            "/repos/{owner}/{repo}/group-role",
            axum::routing::put(access::put_group_role),
        )
        .route(
            "/groups",
            get(access::list_groups).post(access::create_group),
        )
        .route("/groups/{group}", get(access::get_group))
        .route(
            "/groups/{group}/members/{username}",
            axum::routing::put(access::put_group_member).delete(access::remove_group_member),
        )
        .route("/repos/{owner}/{repo}/audit", get(audit::list))
        .route(
            "/repos/{owner}/{repo}/builds",
            // Uploads stream to disk with their own size limit.
            get(builds::list)
                .post(builds::submit)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/repos/{owner}/{repo}/builds/{id}",
            axum::routing::delete(publish::delete_build),
        )
        .route(
            "/repos/{owner}/{repo}/createrepo",
            post(publish::createrepo),
        )
        .route(
            "/repos/{owner}/{repo}/key/rotate",
            post(publish::rotate_key),
        )
        .route("/tasks/{id}", get(builds::get))
        .route("/tasks/{id}/log", get(builds::log))
        .route("/tasks/{id}/cancel", post(builds::cancel))
        .route("/tasks/{id}/resubmit", post(builds::resubmit))
        .route("/tasks/{id}/artifacts/{file_name}", get(builds::artifact))
        .route("/audit", get(audit::list_site))
        .route("/agents", get(agent::list))
        .route("/builder-pools", get(agent::builder_pools))
        .route("/agents/{name}", axum::routing::delete(agent::revoke))
        .route("/agents/{name}/state", axum::routing::put(agent::set_state))
        .route(
            "/agent-tokens",
            get(agent::list_registration_tokens).post(agent::create_registration_token),
        )
        .route(
            "/agent-tokens/{id}",
            axum::routing::delete(agent::revoke_registration_token),
        )
        .route("/agent/register", post(agent::register))
        .route("/agent/heartbeat", post(agent::heartbeat))
        .route("/agent/claim", post(agent::claim))
        .route("/agent/tasks/{id}/source", get(agent::source))
        .route("/agent/tasks/{id}/log", post(agent::log))
        .route(
            "/agent/tasks/{id}/artifacts/{file_name}",
            axum::routing::put(agent::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/agent/tasks/{id}/finish", post(agent::finish))
        .fallback(login::not_found)
}

pub fn auth() -> Router<AppState> {
    Router::new()
        .route("/login", post(login::local))
        .route("/csrf", get(login::csrf))
        .route("/logout", post(login::logout))
        .route("/oidc/{id}/start", get(login::oidc_start))
        .route("/oidc/{id}/callback", get(login::oidc_callback))
}

/// The web UI's forms (see `handlers::forms`).
pub fn forms() -> Router<AppState> {
    Router::new()
        .route("/users", get(forms::user_suggestions))
        .route("/repos", post(forms::create_repo))
        .route("/r/{owner}/{repo}/settings", post(forms::update_repo))
        .route("/r/{owner}/{repo}/delete", post(forms::delete_repo))
        .route("/r/{owner}/{repo}/visibility", post(forms::set_visibility))
        .route("/r/{owner}/{repo}/members", post(forms::put_member))
        .route(
            "/r/{owner}/{repo}/members/{username}/remove",
            post(forms::remove_member),
        )
        .route(
            "/r/{owner}/{repo}/mock-configs",
            post(forms::create_mock_config),
        )
        .route(
            "/r/{owner}/{repo}/mock-configs/{name}",
            post(forms::update_mock_config),
        )
        .route(
            "/r/{owner}/{repo}/mock-configs/{name}/delete",
            post(forms::delete_mock_config),
        )
        .route("/r/{owner}/{repo}/webhooks", post(forms::create_webhook))
        .route(
            "/r/{owner}/{repo}/webhooks/{id}/test",
            post(forms::test_webhook),
        )
        .route(
            "/r/{owner}/{repo}/webhooks/{id}/delete",
            post(forms::delete_webhook),
        )
        .route("/r/{owner}/{repo}/createrepo", post(forms::createrepo))
        .route("/r/{owner}/{repo}/key/rotate", post(forms::rotate_key))
        .route(
            "/r/{owner}/{repo}/builds/{id}/delete",
            post(forms::delete_build),
        )
        .route(
            "/r/{owner}/{repo}/upload",
            post(forms::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/r/{owner}/{repo}/source", post(forms::build_source))
        .route("/r/{owner}/{repo}/packages", post(forms::put_package))
        .route(
            "/r/{owner}/{repo}/packages/{name}/build",
            post(forms::build_package),
        )
        .route(
            "/r/{owner}/{repo}/packages/{name}/delete",
            post(forms::delete_package),
        )
        .route(
            "/r/{owner}/{repo}/read-tokens",
            post(forms::create_read_token),
        )
        .route(
            "/r/{owner}/{repo}/read-tokens/{id}/revoke",
            post(forms::revoke_read_token),
        )
        .route("/r/{owner}/{repo}/group-role", post(forms::set_group_role))
        .route(
            "/r/{owner}/{repo}/forge/secret",
            post(forms::rotate_forge_secret),
        )
        .route(
            "/r/{owner}/{repo}/git-credentials",
            post(forms::put_git_credential),
        )
        .route(
            "/r/{owner}/{repo}/git-credentials/{host}/delete",
            post(forms::delete_git_credential),
        )
        .route("/tasks/{id}/cancel", post(forms::cancel_task))
        .route("/tasks/{id}/resubmit", post(forms::resubmit_task))
        .route("/account/notifications", post(forms::set_notifications))
        .route("/groups", post(forms::create_group))
        .route("/groups/{group}/members", post(forms::add_group_member))
        .route(
            "/groups/{group}/members/{username}/remove",
            post(forms::remove_group_member),
        )
        .route("/tokens", post(forms::create_token))
        .route("/tokens/{id}/revoke", post(forms::revoke_token))
        .route("/admin/chroots", post(forms::create_chroot))
        .route("/admin/chroots/{name}", post(forms::update_chroot))
        .route("/admin/agents/{name}/state", post(forms::set_agent_state))
        .route("/admin/agent-tokens", post(forms::create_agent_token))
        .route(
            "/admin/agent-tokens/{id}/revoke",
            post(forms::revoke_agent_token),
        )
}

/// Published repositories and the Copr-compatible endpoints (public, GET and HEAD).
pub fn repos() -> Router<AppState> {
    Router::new()
        .route("/repos/{owner}/{repo}", get(browse::repo_redirect))
        .route("/repos/{owner}/{repo}/", get(browse::repo_index))
        .route("/repos/{owner}/{repo}/{file}", get(publish::repo_file))
        .route("/repos/{owner}/{repo}/{chroot}/", get(browse::chroot_root))
        .route(
            "/repos/{owner}/{repo}/{chroot}/{*rest}",
            get(publish::chroot_file),
        )
        .route(
            "/coprs/{owner}/{repo}/repo/{chroot}/dnf.repo",
            get(publish::copr_dnf_repo),
        )
        .route("/api_3", get(copr::root))
        .route("/api_3/", get(copr::root))
        .route("/api_3/auth-check", get(copr::auth_check))
        .route("/api_3/project", get(copr::project_get))
        .route("/api_3/project/", get(copr::project_get))
        .route("/api_3/project/list", get(copr::project_list))
        .route("/api_3/project/search", get(copr::project_list))
        .route("/api_3/mock-chroots/list", get(copr::mock_chroots))
        .route("/api_3/build/list", get(copr::build_list))
        .route("/api_3/build/{id}", get(copr::build_get))
        .route("/coprs/build/{id}", get(copr::web_build))
        .route("/coprs/build/{id}/", get(copr::web_build))
        .route("/coprs/g/{owner}/{repo}", get(copr::web_group_project))
        .route("/coprs/g/{owner}/{repo}/", get(copr::web_group_project))
        .route("/coprs/{owner}/{repo}", get(copr::web_project))
        .route("/coprs/{owner}/{repo}/", get(copr::web_project))
        .route("/api_3/{*rest}", axum::routing::any(copr::unsupported))
}

/// Forge push hooks: signed by the repo's forge secret, outside sessions and CSRF (no
/// cookie carries authority here). Forges send up to 25 MiB.
pub fn hooks() -> Router<AppState> {
    Router::new().route(
        "/hooks/forge/{owner}/{repo}",
        post(forge::receive).layer(DefaultBodyLimit::max(25 << 20)),
    )
}

/// Health and, unless a metrics listener is configured, metrics.
pub fn ops<S>(with_metrics: bool) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    kiln_core::Kiln: axum::extract::FromRef<S>,
{
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if with_metrics {
        router.route("/metrics", get(health::metrics))
    } else {
        router
    }
}

/// What the metrics listener serves (`metrics_listen`).
pub fn metrics_app(kiln: kiln_core::Kiln) -> Router {
    ops(true).with_state(kiln)
}
