//! Private repos' access: read tokens (downloads) and groups.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{rfc3339, Role};

/// `POST /api/v1/repos/OWNER/REPO/read-tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReadTokenCreate {
    /// A label (the machine or the team that downloads), 1 to 100 characters.
    pub name: String,
    /// When the token stops working; it must be in the future. `None`: it never expires.
    #[serde(default, with = "rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A read token as listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReadToken {
    /// The token's id (`DELETE …/read-tokens/ID` revokes it).
    pub id: i32,
    /// Its label.
    pub name: String,
    /// The first characters of the secret (`kiln_rt_` and four more).
    pub prefix: String,
    /// Who made it.
    pub created_by: String,
    /// When it was made.
    #[serde(with = "rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working; `None`: never.
    #[serde(with = "rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it last downloaded something (recorded at most once a minute).
    #[serde(with = "rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// The answer to a creation: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReadTokenCreated {
    /// The token as lists show it.
    #[serde(flatten)]
    pub info: ReadToken,
    /// The secret (`kiln_rt_…`): dnf sends it as the HTTP Basic password, with any user name.
    pub token: String,
    /// The repo's `.repo` file, with the token in the URL: fetched so, it carries `username=`
    /// and `password=` lines for dnf.
    pub repo_file_url: String,
    /// The release RPM, with the token in the URL: `dnf install` it to set a machine up.
    pub release_rpm_url: String,
}

/// A group, as `GET /api/v1/groups/NAME` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Group {
    /// The group's name without the `@`.
    pub name: String,
    /// `@NAME`: the owner part of its repos' `OWNER/REPO`.
    pub owner: String,
    /// Its members' user names, alphabetical, each with where the membership comes from.
    pub members: Vec<GroupMember>,
}

/// One member of a group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupMember {
    /// The member's user name.
    pub username: String,
    /// `oidc` (the OpenID provider's groups claim at their last sign-in) or `local` (added by
    /// a site admin).
    pub source: String,
}

/// `POST /api/v1/groups` (site admins).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupCreate {
    /// The group's name, without the `@`.
    pub name: String,
}

/// `PUT /api/v1/repos/@GROUP/REPO/group-role`: the role the group's members get in the repo.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupRolePut {
    /// `packager` (the default), `releng` or `admin`.
    pub role: Role,
}
