//! The `group_members` table: who is in a group (a `users` row with `is_group`).

use sea_orm::entity::prelude::*;

/// A user's membership of a group; one row per group and user.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "group_members")]
pub struct Model {
    /// The membership's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The group (`users.id` of a row with `is_group`).
    pub group_id: i32,
    /// The member (`users.id`).
    pub user_id: i32,
    /// `oidc`: from the OpenID provider's groups claim at the user's last sign-in (replaced at
    /// each one); `local`: added by a site admin.
    pub source: String,
    /// When the user joined.
    pub created_at: TimeDateTimeWithTimeZone,
}

/// The membership's relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The member (`user_id`).
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id"
    )]
    User,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
