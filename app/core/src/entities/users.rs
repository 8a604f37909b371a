//! The `users` table: one row per user account, local or made by a first OpenID Connect login.

use sea_orm::entity::prelude::*;

/// A user account.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// The account's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The unique login name.
    #[sea_orm(unique)]
    pub username: String,
    /// The full name the OpenID provider gave at the first login; NULL for local accounts or
    /// when it gave none.
    pub display_name: Option<String>,
    /// The e-mail address the OpenID provider gave (updated at each login that gives one); NULL
    /// for local accounts or when it gave none.
    pub email: Option<String>,
    /// The argon2id hash (PHC string) of a local account's password; NULL: no password login.
    pub password_hash: Option<String>,
    /// A site administrator, who may do everything (default false).
    pub is_site_admin: bool,
    /// Groups from the identity provider at the last login (`Vec<String>`).
    pub groups: Json,
    /// A disabled account cannot sign in, and its API tokens and sessions are refused.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: TimeDateTimeWithTimeZone,
    /// E-mail me when a build I submitted ends.
    pub notify_builds: bool,
    /// This row is a group (`@NAME`): it owns repos but never signs in.
    pub is_group: bool,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
