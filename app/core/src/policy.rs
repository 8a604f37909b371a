//! Who may do what: the one authorization policy. Every handler asks `authorize` (through the
//! services) with the caller, the action and the caller's role in the repo concerned; nothing
//! else checks roles. Anchors: Copr's `can_build_in`/`can_edit`, OBS's role table.

use kiln_proto::Role;

use crate::error::CoreError;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A caller with no session and no API token.
    Anonymous,
    /// A signed-in user (browser session or API token), or the server acting for itself as a
    /// site admin with id 0 (the console, the builder provisioner).
    User(UserPrincipal),
}

/// A signed-in user, as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPrincipal {
    /// The user's id (`users.id`); 0 when the server acts for itself.
    pub id: i32,
    /// The user's username, `OWNER` in their repos' `OWNER/REPO` (`console` or `provisioner`
    /// when the server acts for itself).
    pub username: String,
    /// A site administrator passes every check.
    pub is_site_admin: bool,
    /// Groups from the identity provider at the last login (for the repo creation policy).
    pub groups: Vec<String>,
}

impl Principal {
    /// The signed-in user, or `None` for an anonymous caller.
    pub fn user(&self) -> Option<&UserPrincipal> {
        match self {
            Principal::User(u) => Some(u),
            Principal::Anonymous => None,
        }
    }

    /// The signed-in user's id, or `None` for an anonymous caller.
    pub fn user_id(&self) -> Option<i32> {
        self.user().map(|u| u.id)
    }

    /// Whether the caller is a signed-in site administrator.
    pub fn is_site_admin(&self) -> bool {
        self.user().is_some_and(|u| u.is_site_admin)
    }

    /// The signed-in user, or `Unauthorized`.
    pub fn require_user(&self) -> Result<&UserPrincipal, CoreError> {
        self.user()
            .ok_or_else(|| CoreError::Unauthorized("sign in or send an API token".into()))
    }
}

/// Everything the API lets someone do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// List and search repos: anyone, signed in or not.
    ListRepos,
    /// See a repo, its builds, logs, artifacts and published packages: anyone.
    ViewRepo,
    /// Create a repo: any signed-in user (the site's creation policy may narrow this).
    CreateRepo,
    /// Change a repo's description and retention settings: releng or admin.
    UpdateRepo,
    /// Delete a repo: repo admins.
    DeleteRepo,
    /// List a repo's members: repo admins.
    ListMembers,
    /// Add, change or remove a repo's members: repo admins.
    ManageMembers,
    /// See a repo's mock configs: anyone.
    ViewMockConfigs,
    /// Create, change and delete a repo's mock configs: releng or admin.
    ManageMockConfigs,
    /// Read a repo's audit log: repo admins.
    ViewAudit,
    /// Submit builds to a repo: packager, releng or admin.
    SubmitBuild,
    /// Cancel a repo's builds: packager, releng or admin.
    CancelBuild,
    /// Resubmit a repo's builds: packager, releng or admin.
    ResubmitBuild,
    /// Submit a build with a priority other than 0: releng or admin.
    SetBuildPriority,
    /// Delete a finished build and remove its packages from the repo: packager, releng or admin.
    DeleteBuild,
    /// Regenerate the metadata of every chroot of a repo: releng or admin.
    Createrepo,
    /// Replace a repo's signing key: repo admins.
    RotateKey,
    /// See the chroot catalogue: anyone.
    ListChroots,
    /// Create, change and delete chroots of the catalogue: site admins.
    ManageChroots,
    /// Manage build agents, their registration tokens and builder pools: site admins.
    ManageAgents,
    /// Read the site-wide audit log: site admins.
    ViewSiteAudit,
    /// Create, list and revoke one's own API tokens: any signed-in user.
    ManageOwnTokens,
    /// Site admins' actions on a repo: stop its builds, cancel its queue. Site admins only.
    AdministerRepo,
    /// A repo's webhooks and their delivery log: repo admins.
    ManageWebhooks,
    /// Store, change and delete a repo's packages (their sources) and build them: packager,
    /// releng or admin.
    ManagePackages,
    /// Set or rotate a repo's forge hook secret, read the hook's delivery log, and store the
    /// repo's git credentials: releng or admin.
    ManageSourceSecrets,
    /// Deliver a forge push to a repo's hook: anyone who can sign it with the repo's forge
    /// secret (checked by the hook, not by a session).
    ReceiveForgeHook,
    /// Make a repo private or public: repo admins.
    SetVisibility,
}

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; 28] = [
        Action::ListRepos,
        Action::ViewRepo,
        Action::CreateRepo,
        Action::UpdateRepo,
        Action::DeleteRepo,
        Action::ListMembers,
        Action::ManageMembers,
        Action::ViewMockConfigs,
        Action::ManageMockConfigs,
        Action::ViewAudit,
        Action::SubmitBuild,
        Action::CancelBuild,
        Action::ResubmitBuild,
        Action::SetBuildPriority,
        Action::DeleteBuild,
        Action::Createrepo,
        Action::RotateKey,
        Action::ListChroots,
        Action::ManageChroots,
        Action::ManageAgents,
        Action::ViewSiteAudit,
        Action::ManageOwnTokens,
        Action::AdministerRepo,
        Action::ManageWebhooks,
        Action::ManagePackages,
        Action::ManageSourceSecrets,
        Action::ReceiveForgeHook,
        Action::SetVisibility,
    ];
}

/// What an action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone, anonymous callers included.
    Anyone,
    /// Any signed-in user.
    SignedIn,
    /// At least this role in the repo (site admins always pass).
    RepoRole(Role),
    /// Site administrators only.
    SiteAdmin,
}

/// The table. Roles are ordered: admin ⊇ releng ⊇ packager.
pub fn requirement(action: Action) -> Requirement {
    use Action::*;
    match action {
        ListRepos | ViewRepo | ViewMockConfigs | ListChroots | ReceiveForgeHook => {
            Requirement::Anyone
        }
        CreateRepo | ManageOwnTokens => Requirement::SignedIn,
        SubmitBuild | CancelBuild | ResubmitBuild | DeleteBuild | ManagePackages => {
            Requirement::RepoRole(Role::Packager)
        }
        UpdateRepo | ManageMockConfigs | Createrepo | SetBuildPriority | ManageSourceSecrets => {
            Requirement::RepoRole(Role::Releng)
        }
        DeleteRepo | ListMembers | ManageMembers | ViewAudit | RotateKey | ManageWebhooks
        | SetVisibility => Requirement::RepoRole(Role::Admin),
        ManageChroots | ManageAgents | ViewSiteAudit | AdministerRepo => Requirement::SiteAdmin,
    }
}

/// May `principal`, whose role in the repo concerned is `role`, do `action`?
pub fn authorize(
    principal: &Principal,
    action: Action,
    role: Option<Role>,
) -> Result<(), CoreError> {
    let req = requirement(action);
    if req == Requirement::Anyone {
        return Ok(());
    }
    let user = principal.require_user()?;
    if user.is_site_admin {
        return Ok(());
    }
    match req {
        Requirement::Anyone | Requirement::SignedIn => Ok(()),
        Requirement::RepoRole(needed) if role.is_some_and(|r| r >= needed) => Ok(()),
        Requirement::RepoRole(needed) => Err(CoreError::Forbidden(format!(
            "this needs the {} role in the repo (or higher)",
            needed.as_str()
        ))),
        Requirement::SiteAdmin => Err(CoreError::Forbidden(
            "this needs a site administrator".into(),
        )),
    }
}

/// Whether `authorize` would pass; for deciding which controls a page shows.
pub fn allowed(principal: &Principal, action: Action, role: Option<Role>) -> bool {
    authorize(principal, action, role).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(admin: bool) -> Principal {
        Principal::User(UserPrincipal {
            id: 1,
            username: "u".into(),
            is_site_admin: admin,
            groups: vec![],
        })
    }

    #[test]
    fn role_order_and_table() {
        assert!(Role::Admin > Role::Releng && Role::Releng > Role::Packager);
        for action in Action::ALL {
            let req = requirement(action);
            // Site admins may do everything.
            assert!(allowed(&user(true), action, None), "{action:?}");
            let anon = allowed(&Principal::Anonymous, action, None);
            assert_eq!(anon, req == Requirement::Anyone, "{action:?}");
            if let Requirement::RepoRole(needed) = req {
                for role in Role::ALL {
                    assert_eq!(allowed(&user(false), action, Some(role)), role >= needed);
                }
                assert!(!allowed(&user(false), action, None));
            }
        }
    }

    #[test]
    fn anonymous_gets_unauthorized_and_members_forbidden() {
        assert!(matches!(
            authorize(&Principal::Anonymous, Action::SubmitBuild, None),
            Err(CoreError::Unauthorized(_))
        ));
        assert!(matches!(
            authorize(&user(false), Action::ManageMembers, Some(Role::Releng)),
            Err(CoreError::Forbidden(_))
        ));
    }
}
