//! The `repo_members` table: one row per user with a role in a repo.

use sea_orm::entity::prelude::*;

/// A user's membership of a repo, with their role; one row per repo and user.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "repo_members")]
pub struct Model {
    /// The membership's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The repo (`repos.id`).
    pub repo_id: i32,
    /// The member (`users.id`).
    pub user_id: i32,
    /// `admin`, `releng` or `packager` (`kiln_proto::Role`).
    pub role: String,
    /// When the user became a member (a role change keeps it).
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
