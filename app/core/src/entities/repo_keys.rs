//! The `repo_keys` table: one row per OpenPGP signing key a repo has had.

use sea_orm::entity::prelude::*;

/// A repo's OpenPGP signing key. The secret key is stored locked with the server key; the
/// active one signs, older ones stay for the record after a rotation.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "repo_keys")]
pub struct Model {
    /// The key's row id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The repo it belongs to (`repos.id`).
    pub repo_id: i32,
    /// Hex, upper case.
    pub fingerprint: String,
    /// ASCII armor.
    pub public_key: String,
    /// ASCII armor, locked (S2K, AES-256) with the server key.
    pub secret_key: String,
    /// Whether it is the repo's current key, the one that signs (at most one per repo).
    pub active: bool,
    /// When it was made (with the repo, or by a rotation).
    pub created_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
