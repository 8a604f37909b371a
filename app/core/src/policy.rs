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
    /// A repo's read token (the HTTP Basic password dnf sends): it downloads that repo's
    /// published files and is anonymous for everything else.
    ReadToken(ReadTokenPrincipal),
}

/// A read token, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadTokenPrincipal {
    /// The token's id (`read_tokens.id`).
    pub id: i32,
    /// The repo it downloads from.
    pub repo_id: i32,
    /// The repo's `read_token_revision` when the token was last checked: if the repo's has
    /// moved since, a token of it was revoked and this one is checked again.
    pub revision: i32,
}

/// What the policy knows of the repo an action concerns, and of the caller's place in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoStanding {
    /// The repo's id.
    pub repo_id: i32,
    /// A private repo exists only for those who may see it (`sees`).
    pub private: bool,
    /// The caller's own role in the repo (`repo_members`).
    pub role: Option<Role>,
    /// The role the caller has as a member of the group that owns the repo.
    pub group_role: Option<Role>,
}

impl RepoStanding {
    /// The caller's role: the higher of their own and their group's.
    pub fn effective_role(&self) -> Option<Role> {
        self.role.max(self.group_role)
    }
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
            Principal::Anonymous | Principal::ReadToken(_) => None,
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
        self.user().ok_or_else(|| {
            CoreError::Unauthorized(match self {
                Principal::ReadToken(_) => {
                    "a read token only downloads its repo's packages: sign in or send an API token"
                        .into()
                }
                _ => "sign in or send an API token".into(),
            })
        })
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
    /// Download a repo's published files (`/repos/…`, its `.repo` file and release RPM, the
    /// Copr repo endpoints): anyone for a public repo; for a private one its members, the site
    /// admins and its read tokens.
    Download,
    /// Create, list and revoke a repo's read tokens: repo admins.
    ManageReadTokens,
    /// Create groups and set who is in the local ones: site admins.
    ManageGroups,
}

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; 31] = [
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
        Action::Download,
        Action::ManageReadTokens,
        Action::ManageGroups,
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
        ListRepos | ViewRepo | ViewMockConfigs | ListChroots | ReceiveForgeHook | Download => {
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
        | SetVisibility | ManageReadTokens => Requirement::RepoRole(Role::Admin),
        ManageChroots | ManageAgents | ViewSiteAudit | AdministerRepo | ManageGroups => {
            Requirement::SiteAdmin
        }
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

/// Whether the repo exists for `principal` doing `action`: a public repo for everyone; a
/// private one for its members (their own role or their group's), the site admins, and its
/// own read tokens downloading. For everyone else it answers the 404 of a repo never created.
pub fn sees(principal: &Principal, action: Action, repo: &RepoStanding) -> bool {
    !repo.private
        || repo.effective_role().is_some()
        || principal.is_site_admin()
        || matches!(principal, Principal::ReadToken(t)
            if t.repo_id == repo.repo_id && action == Action::Download)
}

/// `authorize` for an action on a repo: `NotFound` (with `not_found`'s message) when the repo
/// does not exist for the caller, else the table with the caller's effective role.
pub fn authorize_in_repo(
    principal: &Principal,
    action: Action,
    repo: &RepoStanding,
    not_found: impl FnOnce() -> CoreError,
) -> Result<(), CoreError> {
    if !sees(principal, action, repo) {
        return Err(not_found());
    }
    authorize(principal, action, repo.effective_role())
}

/// Whether `authorize` would pass; for deciding which controls a page shows.
pub fn allowed(principal: &Principal, action: Action, role: Option<Role>) -> bool {
    authorize(principal, action, role).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i32, admin: bool) -> Principal {
        Principal::User(UserPrincipal {
            id,
            username: format!("u{id}"),
            is_site_admin: admin,
            groups: vec![],
        })
    }

    /// The principal kinds, in the order of the table's columns, with their standing in repo 7.
    fn principals(private: bool) -> Vec<(&'static str, Principal, RepoStanding)> {
        let standing = |role, group_role| RepoStanding {
            repo_id: 7,
            private,
            role,
            group_role,
        };
        let token = |repo_id| {
            Principal::ReadToken(ReadTokenPrincipal {
                id: 1,
                repo_id,
                revision: 0,
            })
        };
        vec![
            ("anonymous", Principal::Anonymous, standing(None, None)),
            ("stranger", user(2, false), standing(None, None)),
            (
                "packager",
                user(3, false),
                standing(Some(Role::Packager), None),
            ),
            ("releng", user(4, false), standing(Some(Role::Releng), None)),
            ("admin", user(5, false), standing(Some(Role::Admin), None)),
            (
                "group member",
                user(6, false),
                standing(None, Some(Role::Packager)),
            ),
            ("read token", token(7), standing(None, None)),
            ("other read token", token(8), standing(None, None)),
            ("site admin", user(9, true), standing(None, None)),
        ]
    }

    /// Every action × every principal kind, on a public repo and on a private one. `Y`: allowed,
    /// `U`: 401, `F`: 403, `N`: 404 (the repo does not exist for them). Columns: anonymous,
    /// stranger, packager, releng, admin, group member (packager by the group), the repo's read
    /// token, another repo's read token, site admin. Written out, not derived from the table.
    const EXPECTED: [(Action, &str, &str); 31] = [
        (Action::ListRepos, "YYYYYYYYY", "NNYYYYNNY"),
        (Action::ViewRepo, "YYYYYYYYY", "NNYYYYNNY"),
        (Action::CreateRepo, "UYYYYYUUY", "NNYYYYNNY"),
        (Action::UpdateRepo, "UFFYYFUUY", "NNFYYFNNY"),
        (Action::DeleteRepo, "UFFFYFUUY", "NNFFYFNNY"),
        (Action::ListMembers, "UFFFYFUUY", "NNFFYFNNY"),
        (Action::ManageMembers, "UFFFYFUUY", "NNFFYFNNY"),
        (Action::ViewMockConfigs, "YYYYYYYYY", "NNYYYYNNY"),
        (Action::ManageMockConfigs, "UFFYYFUUY", "NNFYYFNNY"),
        (Action::ViewAudit, "UFFFYFUUY", "NNFFYFNNY"),
        (Action::SubmitBuild, "UFYYYYUUY", "NNYYYYNNY"),
        (Action::CancelBuild, "UFYYYYUUY", "NNYYYYNNY"),
        (Action::ResubmitBuild, "UFYYYYUUY", "NNYYYYNNY"),
        (Action::SetBuildPriority, "UFFYYFUUY", "NNFYYFNNY"),
        (Action::DeleteBuild, "UFYYYYUUY", "NNYYYYNNY"),
        (Action::Createrepo, "UFFYYFUUY", "NNFYYFNNY"),
        (Action::RotateKey, "UFFFYFUUY", "NNFFYFNNY"),
        (Action::ListChroots, "YYYYYYYYY", "NNYYYYNNY"),
        (Action::ManageChroots, "UFFFFFUUY", "NNFFFFNNY"),
        (Action::ManageAgents, "UFFFFFUUY", "NNFFFFNNY"),
        (Action::ViewSiteAudit, "UFFFFFUUY", "NNFFFFNNY"),
        (Action::ManageOwnTokens, "UYYYYYUUY", "NNYYYYNNY"),
        (Action::AdministerRepo, "UFFFFFUUY", "NNFFFFNNY"),
        (Action::ManageWebhooks, "UFFFYFUUY", "NNFFYFNNY"),
        (Action::ManagePackages, "UFYYYYUUY", "NNYYYYNNY"),
        (Action::ManageSourceSecrets, "UFFYYFUUY", "NNFYYFNNY"),
        (Action::ReceiveForgeHook, "YYYYYYYYY", "NNYYYYNNY"),
        (Action::SetVisibility, "UFFFYFUUY", "NNFFYFNNY"),
        (Action::Download, "YYYYYYYYY", "NNYYYYYNY"),
        (Action::ManageReadTokens, "UFFFYFUUY", "NNFFYFNNY"),
        (Action::ManageGroups, "UFFFFFUUY", "NNFFFFNNY"),
    ];

    fn outcome(r: Result<(), CoreError>) -> char {
        match r {
            Ok(()) => 'Y',
            Err(CoreError::Unauthorized(_)) => 'U',
            Err(CoreError::Forbidden(_)) => 'F',
            Err(CoreError::NotFound(_)) => 'N',
            Err(e) => panic!("unexpected refusal {e:?}"),
        }
    }

    #[test]
    fn every_action_for_every_principal_on_public_and_private_repos() {
        // The table names every action once.
        let named: Vec<Action> = EXPECTED.iter().map(|e| e.0).collect();
        assert_eq!(named, Action::ALL);
        for (action, public, private) in EXPECTED {
            for (is_private, want) in [(false, public), (true, private)] {
                let got: String = principals(is_private)
                    .iter()
                    .map(|(_, p, standing)| {
                        outcome(authorize_in_repo(p, action, standing, || {
                            CoreError::not_found("there is no repo o/r")
                        }))
                    })
                    .collect();
                assert_eq!(
                    got,
                    want,
                    "{action:?} on a {} repo; columns: {:?}",
                    if is_private { "private" } else { "public" },
                    principals(false).iter().map(|p| p.0).collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn roles_are_ordered_and_the_group_role_adds_to_ones_own() {
        assert!(Role::Admin > Role::Releng && Role::Releng > Role::Packager);
        let s = RepoStanding {
            repo_id: 1,
            private: true,
            role: Some(Role::Packager),
            group_role: Some(Role::Releng),
        };
        assert_eq!(s.effective_role(), Some(Role::Releng));
    }

    #[test]
    fn read_tokens_are_told_what_they_can_do() {
        let t = Principal::ReadToken(ReadTokenPrincipal {
            id: 1,
            repo_id: 1,
            revision: 0,
        });
        match authorize(&t, Action::SubmitBuild, None) {
            Err(CoreError::Unauthorized(m)) => assert!(m.contains("read token"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
