//! The `identities` table: one row per OpenID Connect identity linked to a user account.

use sea_orm::entity::prelude::*;

/// A provider's subject linked to a user: signing in through that provider as that subject
/// signs in as the user.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "identities")]
pub struct Model {
    /// The identity's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The user it signs in as (`users.id`).
    pub user_id: i32,
    /// The `id` of the `[[auth.oidc]]` provider.
    pub provider: String,
    /// The provider's `sub` claim for the user; unique per provider.
    pub subject: String,
    /// When it was linked (the first login through that provider).
    pub created_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
