//! The `forge_deliveries` table: the log of a repo's forge hook, one row per delivery id.

use sea_orm::entity::prelude::*;

/// One delivery of a forge's push or tag event, and what came of it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "forge_deliveries")]
pub struct Model {
    /// The row's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The repo whose hook received it (`repos.id`).
    pub repo_id: i32,
    /// The forge's delivery id (`X-GitHub-Delivery`, `X-Gitea-Delivery`, GitLab's event UUID),
    /// unique per repo; `sha256:…` of the body when the forge sent none.
    pub delivery: String,
    /// `github`, `gitea`, `forgejo` or `gitlab`.
    pub forge: String,
    /// `push`, `tag`, `ping` or the forge's own name of an event Kiln ignores.
    pub event: String,
    /// The pushed ref (`refs/heads/main`, `refs/tags/v1`); empty for a ping.
    pub git_ref: String,
    /// The commit the ref points at after the push; empty when none.
    pub commit: String,
    /// The clone URL the payload names.
    pub clone_url: String,
    /// What came of it: the packages built, or why none.
    pub outcome: String,
    /// The builds it started: `[{"package": NAME, "task": ID}]`.
    pub builds: Json,
    /// When it arrived.
    pub received_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
