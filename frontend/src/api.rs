//! Server functions (under `/ui/`): each page's data in one call, read through `kiln_core`
//! services with the caller's principal. Writes go through real forms (`/forms/…`, handled by
//! the server crate), so these are all GETs. Each view says what the caller may do (`Can`),
//! from the same policy the server enforces: controls a role may not use are not shown.

use kiln_proto::agent::{Agent, BuilderPool, RegistrationToken};
use kiln_proto::{
    Chroot, LoginOptions, Member, MockConfig, PackageVersion, Page, Repo, Task, TokenInfo, User,
    Webhook, WebhookDelivery,
};
use leptos::prelude::*;
// Reads are GETs: safe methods need no CSRF token and can be cached by the browser.
use leptos::server_fn::codec::GetUrl;
use serde::{Deserialize, Serialize};

use crate::forms::Flash;

#[cfg(feature = "ssr")]
pub mod ssr {
    use kiln_core::{Action, CoreError, Kiln, Principal};
    use kiln_proto::Role;
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

    /// The outcome of the form post that led here, if any.
    pub fn flash() -> crate::forms::Flash {
        parts()
            .and_then(|p| {
                p.extensions
                    .get::<crate::forms::PendingFlash>()
                    .map(|f| f.0.clone())
            })
            .unwrap_or_default()
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
            CoreError::Gone(_) => 410,
            _ => 500,
        };
        set_status(code);
        if e.is_server_error() {
            tracing::error!(error = %e, "ui");
            ServerFnError::new("something went wrong on the server")
        } else {
            ServerFnError::new(e.to_string())
        }
    }

    pub fn can(principal: &Principal, role: Option<Role>) -> super::Can {
        let a = |action| kiln_core::policy::allowed(principal, action, role);
        super::Can {
            signed_in: principal.user().is_some(),
            submit: a(Action::SubmitBuild),
            cancel: a(Action::CancelBuild),
            resubmit: a(Action::ResubmitBuild),
            delete_build: a(Action::DeleteBuild),
            settings: a(Action::UpdateRepo),
            mock_configs: a(Action::ManageMockConfigs),
            createrepo: a(Action::Createrepo),
            members: a(Action::ManageMembers),
            webhooks: a(Action::ManageWebhooks),
            source_secrets: a(Action::ManageSourceSecrets),
            rotate_key: a(Action::RotateKey),
            delete_repo: a(Action::DeleteRepo),
            read_tokens: a(Action::ManageReadTokens),
        }
    }
}

/// What the caller may do in a repo; pages show only these controls.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Can {
    pub signed_in: bool,
    pub submit: bool,
    pub cancel: bool,
    pub resubmit: bool,
    pub delete_build: bool,
    pub settings: bool,
    pub mock_configs: bool,
    pub createrepo: bool,
    pub members: bool,
    pub webhooks: bool,
    pub source_secrets: bool,
    pub rotate_key: bool,
    pub delete_repo: bool,
    pub read_tokens: bool,
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HomeData {
    pub repos: Page<Repo>,
    pub signed_in: bool,
    pub flash: Flash,
}

#[server(prefix = "/ui", endpoint = "home", input = GetUrl)]
pub async fn home_view(q: Option<String>, page: Option<u64>) -> Result<HomeData, ServerFnError> {
    use kiln_core::services::{repos, PageRequest};
    let kiln = ssr::kiln()?;
    let p = ssr::principal();
    let list = repos::list(
        &kiln,
        &p,
        None,
        q.as_deref(),
        PageRequest::new(page, Some(50)),
    )
    .await
    .map_err(ssr::error)?;
    Ok(HomeData {
        repos: list,
        signed_in: p.user().is_some(),
        flash: ssr::flash(),
    })
}

/// The header of every repo page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepoHead {
    pub repo: Repo,
    pub can: Can,
    pub csrf: String,
    pub flash: Flash,
}

#[cfg(feature = "ssr")]
async fn repo_head(owner: &str, name: &str) -> Result<(kiln_core::Kiln, RepoHead), ServerFnError> {
    use kiln_core::services::repos;
    let kiln = ssr::kiln()?;
    let p = ssr::principal();
    let repo = repos::get(&kiln, &p, owner, name)
        .await
        .map_err(ssr::error)?;
    let can = ssr::can(&p, repo.my_role);
    Ok((
        kiln,
        RepoHead {
            repo,
            can,
            csrf: ssr::csrf().unwrap_or_default(),
            flash: ssr::flash(),
        },
    ))
}

/// What the repo overview shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepoView {
    pub head: RepoHead,
    pub mock_configs: Vec<MockConfig>,
    pub public_url: String,
    pub packages: Vec<PackageVersion>,
    pub recent: Vec<Task>,
}

#[server(prefix = "/ui", endpoint = "repo", input = GetUrl)]
pub async fn get_repo(owner: String, repo: String) -> Result<RepoView, ServerFnError> {
    use kiln_core::services::{mock_configs, publish, tasks, PageRequest};
    let (kiln, head) = repo_head(&owner, &repo).await?;
    let p = ssr::principal();
    let configs = mock_configs::list(&kiln, &p, &owner, &repo)
        .await
        .map_err(ssr::error)?;
    let packages = publish::newest_packages(&kiln, &p, &owner, &repo)
        .await
        .map_err(ssr::error)?;
    let recent = tasks::list_for_repo(
        &kiln,
        &p,
        &owner,
        &repo,
        &tasks::TaskFilter::default(),
        PageRequest::new(Some(1), Some(10)),
    )
    .await
    .map_err(ssr::error)?;
    Ok(RepoView {
        head,
        mock_configs: configs,
        public_url: kiln.config.public_url(),
        packages,
        recent: recent.items,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildsData {
    pub head: RepoHead,
    pub builds: Page<Task>,
    /// Mock config names, for the filter.
    pub configs: Vec<String>,
}

#[server(prefix = "/ui", endpoint = "builds", input = GetUrl)]
pub async fn builds_view(
    owner: String,
    repo: String,
    state: Option<String>,
    package: Option<String>,
    chroot: Option<String>,
    page: Option<u64>,
) -> Result<BuildsData, ServerFnError> {
    use kiln_core::services::{mock_configs, tasks, PageRequest};
    let (kiln, head) = repo_head(&owner, &repo).await?;
    let p = ssr::principal();
    let some = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let state = match some(state) {
        Some(s) => Some(kiln_proto::TaskState::parse(&s).ok_or_else(|| {
            ssr::error(kiln_core::CoreError::validation(
                "state",
                "is not a build state",
            ))
        })?),
        None => None,
    };
    let filter = tasks::TaskFilter {
        state,
        package: some(package),
        chroot: some(chroot),
    };
    let builds = tasks::list_for_repo(
        &kiln,
        &p,
        &owner,
        &repo,
        &filter,
        PageRequest::new(page, Some(25)),
    )
    .await
    .map_err(ssr::error)?;
    let configs = mock_configs::list(&kiln, &p, &owner, &repo)
        .await
        .map_err(ssr::error)?
        .into_iter()
        .map(|c| c.name)
        .collect();
    Ok(BuildsData {
        head,
        builds,
        configs,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildData {
    pub head: RepoHead,
    pub task: Task,
    /// The log so far (its last 256 KiB), for pages without JavaScript.
    pub log: String,
    /// What of the log's start `log` leaves out: lines and bytes.
    pub log_cut: (u64, u64),
    /// Why there is no log (removed by the retention policy).
    pub log_gone: Option<String>,
}

/// Keeps the last `keep` bytes of `log`, from a line's start, counting what goes in `cut`
/// (lines, bytes).
#[cfg(feature = "ssr")]
fn cut_start(log: &mut String, keep: usize, cut: &mut (u64, u64)) {
    let from = log.len().saturating_sub(keep);
    let at = log[from..].find('\n').map(|i| from + i + 1).unwrap_or(from);
    let at = (at..log.len())
        .find(|i| log.is_char_boundary(*i))
        .unwrap_or(0);
    cut.0 += log[..at].matches('\n').count() as u64;
    cut.1 += at as u64;
    log.drain(..at);
}

#[server(prefix = "/ui", endpoint = "build", input = GetUrl)]
pub async fn build_view(owner: String, repo: String, id: i32) -> Result<BuildData, ServerFnError> {
    use kiln_core::services::tasks;
    let (kiln, head) = repo_head(&owner, &repo).await?;
    let p = ssr::principal();
    let task = tasks::get(&kiln, &p, id).await.map_err(ssr::error)?;
    if task.repo != head.repo.full_name {
        return Err(ssr::error(kiln_core::CoreError::not_found(format!(
            "{} has no build {id}",
            head.repo.full_name
        ))));
    }
    const KEEP: usize = 256 * 1024;
    let mut log = String::new();
    let mut log_gone = None;
    let mut log_cut = (0, 0);
    let mut after = 0;
    loop {
        match tasks::log_chunks(&kiln, &p, id, after).await {
            Ok((chunks, _)) if chunks.is_empty() => break,
            Ok((chunks, _)) => {
                for (cid, text) in chunks {
                    after = cid;
                    log.push_str(&text);
                }
                if log.len() > 2 * KEEP {
                    cut_start(&mut log, KEEP, &mut log_cut);
                }
            }
            Err(kiln_core::CoreError::Gone(why)) => {
                log_gone = Some(why);
                break;
            }
            Err(e) => return Err(ssr::error(e)),
        }
    }
    if log.len() > KEEP {
        cut_start(&mut log, KEEP, &mut log_cut);
    }
    Ok(BuildData {
        head,
        task,
        log,
        log_cut,
        log_gone,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UploadData {
    pub head: RepoHead,
    pub mock_configs: Vec<MockConfig>,
    pub max_size: u64,
}

#[server(prefix = "/ui", endpoint = "upload", input = GetUrl)]
pub async fn upload_view(owner: String, repo: String) -> Result<UploadData, ServerFnError> {
    use kiln_core::services::mock_configs;
    let (kiln, head) = repo_head(&owner, &repo).await?;
    if !head.can.signed_in {
        return Err(ssr::error(kiln_core::CoreError::Unauthorized(
            "sign in to upload SRPMs".into(),
        )));
    }
    let configs = mock_configs::list(&kiln, &ssr::principal(), &owner, &repo)
        .await
        .map_err(ssr::error)?;
    Ok(UploadData {
        head,
        mock_configs: configs,
        max_size: kiln.config.builds.max_srpm_size,
    })
}

/// The packages page: the repo's packages with their stored sources.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PackagesData {
    pub head: RepoHead,
    pub packages: Vec<kiln_proto::Package>,
}

#[server(prefix = "/ui", endpoint = "packages", input = GetUrl)]
pub async fn packages_view(owner: String, repo: String) -> Result<PackagesData, ServerFnError> {
    use kiln_core::services::packages;
    let (kiln, head) = repo_head(&owner, &repo).await?;
    let packages = packages::list(&kiln, &ssr::principal(), &owner, &repo)
        .await
        .map_err(ssr::error)?;
    Ok(PackagesData { head, packages })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PackageData {
    pub head: RepoHead,
    pub package: kiln_proto::Package,
    /// Its newest builds (at most 20), newest first.
    pub builds: Vec<kiln_proto::Task>,
}

#[server(prefix = "/ui", endpoint = "package", input = GetUrl)]
pub async fn package_view(
    owner: String,
    repo: String,
    name: String,
) -> Result<PackageData, ServerFnError> {
    use kiln_core::services::{packages, tasks};
    let (kiln, head) = repo_head(&owner, &repo).await?;
    let p = ssr::principal();
    let package = packages::get(&kiln, &p, &owner, &repo, &name)
        .await
        .map_err(ssr::error)?;
    let mut builds = Vec::with_capacity(package.builds.len());
    for id in &package.builds {
        builds.push(tasks::get(&kiln, &p, *id).await.map_err(ssr::error)?);
    }
    Ok(PackageData {
        head,
        package,
        builds,
    })
}

/// A mock config with its effective configuration text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigView {
    pub config: MockConfig,
    pub rendered: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SettingsData {
    pub head: RepoHead,
    pub configs: Vec<ConfigView>,
    /// Empty unless the caller manages members.
    pub members: Vec<Member>,
    /// Accounts matching the member lookup.
    pub found: Vec<User>,
    /// Base chroots a new mock config can start from.
    pub bases: Vec<Chroot>,
    /// Empty unless the caller manages webhooks.
    pub webhooks: Vec<WebhookView>,
    /// The forge hook and its latest deliveries, for rel-eng.
    pub forge: Option<(kiln_proto::ForgeHook, Vec<kiln_proto::ForgeDelivery>)>,
    /// The read tokens, for repo admins.
    pub read_tokens: Option<Vec<kiln_proto::ReadToken>>,
}

/// A webhook with its latest deliveries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookView {
    pub webhook: Webhook,
    pub deliveries: Vec<WebhookDelivery>,
}

#[server(prefix = "/ui", endpoint = "settings", input = GetUrl)]
pub async fn settings_view(
    owner: String,
    repo: String,
    user_q: Option<String>,
) -> Result<SettingsData, ServerFnError> {
    use kiln_core::services::{accounts, chroots, members, mock_configs, webhooks};
    let (kiln, head) = repo_head(&owner, &repo).await?;
    let p = ssr::principal();
    if !(head.can.settings || head.can.members) {
        return Err(ssr::error(kiln_core::CoreError::Forbidden(
            "the settings need the releng role in the repo (or higher)".into(),
        )));
    }
    let mut configs = Vec::new();
    for c in mock_configs::list(&kiln, &p, &owner, &repo)
        .await
        .map_err(ssr::error)?
    {
        let rendered = mock_configs::rendered(&kiln, &p, &owner, &repo, &c.name)
            .await
            .map_err(ssr::error)?;
        configs.push(ConfigView {
            config: c,
            rendered,
        });
    }
    let (members, found) = if head.can.members {
        let m = members::list(&kiln, &p, &owner, &repo)
            .await
            .map_err(ssr::error)?;
        let found = accounts::search(&kiln, &p, user_q.as_deref().unwrap_or_default())
            .await
            .map_err(ssr::error)?;
        (m, found)
    } else {
        (Vec::new(), Vec::new())
    };
    let bases = chroots::list(&kiln, &p)
        .await
        .map_err(ssr::error)?
        .into_iter()
        .filter(|c| c.enabled)
        .collect();
    let mut webhooks = Vec::new();
    if head.can.webhooks {
        for webhook in webhooks::list_webhooks(&kiln, &p, &owner, &repo)
            .await
            .map_err(ssr::error)?
        {
            let mut deliveries = webhooks::deliveries(&kiln, &p, &owner, &repo, webhook.id)
                .await
                .map_err(ssr::error)?;
            deliveries.truncate(5);
            webhooks.push(WebhookView {
                webhook,
                deliveries,
            });
        }
    }
    let forge = if head.can.source_secrets {
        use kiln_core::services::forge;
        let hook = forge::hook(&kiln, &p, &owner, &repo)
            .await
            .map_err(ssr::error)?;
        let log = forge::deliveries(&kiln, &p, &owner, &repo)
            .await
            .map_err(ssr::error)?;
        Some((hook, log))
    } else {
        None
    };
    let read_tokens = if head.can.read_tokens {
        Some(
            kiln_core::services::read_tokens::list(&kiln, &p, &owner, &repo)
                .await
                .map_err(ssr::error)?,
        )
    } else {
        None
    };
    Ok(SettingsData {
        head,
        configs,
        members,
        found,
        bases,
        webhooks,
        forge,
        read_tokens,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountData {
    pub user: User,
    /// An e-mail when a build the user submitted ends.
    pub notify_builds: bool,
    pub tokens: Vec<TokenInfo>,
    /// The groups the user is in (`@NAME`).
    pub groups: Vec<String>,
    /// `~/.config/copr` for Copr's clients, with `TOKEN` where an API token goes.
    pub copr_config: String,
    pub csrf: String,
    pub flash: Flash,
}

#[server(prefix = "/ui", endpoint = "account", input = GetUrl)]
pub async fn account_view() -> Result<AccountData, ServerFnError> {
    use kiln_core::services::{accounts, tokens};
    let kiln = ssr::kiln()?;
    let p = ssr::principal();
    let me = p.require_user().map_err(ssr::error)?;
    let row = accounts::find_by_id(&kiln, me.id)
        .await
        .map_err(ssr::error)?
        .ok_or_else(|| ssr::error(kiln_core::CoreError::Unauthorized("sign in".into())))?;
    let tokens = tokens::list(&kiln, &p).await.map_err(ssr::error)?;
    let groups = kiln_core::services::groups::list(&kiln, &p)
        .await
        .map_err(ssr::error)?
        .into_iter()
        .filter(|g| g.members.iter().any(|m| m.username == row.username))
        .map(|g| g.owner)
        .collect();
    let copr_config = kiln_core::services::accounts::copr_config(&kiln, &row.username, "TOKEN");
    Ok(AccountData {
        user: accounts::to_wire(&row),
        notify_builds: row.notify_builds,
        tokens,
        groups,
        copr_config,
        csrf: ssr::csrf().unwrap_or_default(),
        flash: ssr::flash(),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NewRepoData {
    pub chroots: Vec<Chroot>,
    pub owner: String,
    /// The groups the user can create repos in (`@NAME`).
    pub groups: Vec<String>,
    /// New repos are private unless asked otherwise (`repos.private_by_default`).
    pub private_by_default: bool,
    /// Only private repos (`repos.force_private`).
    pub force_private: bool,
    pub csrf: String,
    pub flash: Flash,
}

#[server(prefix = "/ui", endpoint = "new-repo", input = GetUrl)]
pub async fn new_repo_view() -> Result<NewRepoData, ServerFnError> {
    use kiln_core::services::chroots;
    let kiln = ssr::kiln()?;
    let p = ssr::principal();
    let me = p.require_user().map_err(ssr::error)?;
    let chroots = chroots::list(&kiln, &p)
        .await
        .map_err(ssr::error)?
        .into_iter()
        .filter(|c| c.enabled)
        .collect();
    let groups = kiln_core::services::groups::list(&kiln, &p)
        .await
        .map_err(ssr::error)?
        .into_iter()
        .filter(|g| g.members.iter().any(|m| m.username == me.username))
        .map(|g| g.owner)
        .collect();
    let site = &kiln.config.repos;
    Ok(NewRepoData {
        chroots,
        owner: me.username.clone(),
        groups,
        private_by_default: site.private_by_default || site.force_private,
        force_private: site.force_private && !me.is_site_admin,
        csrf: ssr::csrf().unwrap_or_default(),
        flash: ssr::flash(),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AdminData {
    pub chroots: Vec<Chroot>,
    pub agents: Vec<Agent>,
    /// Builder pools with their provider's health and their builders.
    pub pools: Vec<BuilderPool>,
    pub tokens: Vec<RegistrationToken>,
    pub groups: Vec<kiln_proto::Group>,
    /// Seconds without a heartbeat after which an agent counts as gone.
    pub stale_after: i64,
    pub csrf: String,
    pub flash: Flash,
}

#[server(prefix = "/ui", endpoint = "admin", input = GetUrl)]
pub async fn admin_view() -> Result<AdminData, ServerFnError> {
    use kiln_core::services::{agents, builders, chroots};
    let kiln = ssr::kiln()?;
    let p = ssr::principal();
    let agents = agents::list(&kiln, &p).await.map_err(ssr::error)?;
    let pools = builders::pools(&kiln, &p).await.map_err(ssr::error)?;
    let tokens = agents::list_registration_tokens(&kiln, &p)
        .await
        .map_err(ssr::error)?;
    let chroots = chroots::list(&kiln, &p).await.map_err(ssr::error)?;
    let groups = kiln_core::services::groups::list(&kiln, &p)
        .await
        .map_err(ssr::error)?;
    Ok(AdminData {
        chroots,
        agents,
        pools,
        tokens,
        groups,
        stale_after: kiln.config.builds.lease_seconds,
        csrf: ssr::csrf().unwrap_or_default(),
        flash: ssr::flash(),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupData {
    pub group: kiln_proto::Group,
    /// The group's repos the caller can see.
    pub repos: Vec<Repo>,
    /// A site admin, who manages local members.
    pub can_manage: bool,
    pub csrf: String,
    pub flash: Flash,
}

#[server(prefix = "/ui", endpoint = "group", input = GetUrl)]
pub async fn group_view(name: String) -> Result<GroupData, ServerFnError> {
    use kiln_core::services::{groups, repos, PageRequest};
    let kiln = ssr::kiln()?;
    let p = ssr::principal();
    let group = groups::get(&kiln, &p, &name).await.map_err(ssr::error)?;
    let repos = repos::list(
        &kiln,
        &p,
        Some(&group.owner),
        None,
        PageRequest::new(Some(1), Some(100)),
    )
    .await
    .map_err(ssr::error)?
    .items;
    Ok(GroupData {
        group,
        repos,
        can_manage: kiln_core::policy::allowed(&p, kiln_core::policy::Action::ManageGroups, None),
        csrf: ssr::csrf().unwrap_or_default(),
        flash: ssr::flash(),
    })
}
