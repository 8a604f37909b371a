//! Read tokens and groups. A read token downloads one repo's published files (dnf sends it as
//! the HTTP Basic password); it is stored hashed, named, optionally expiring, revocable, with
//! its last use; rows with a `task_id` are the short-lived ones a builder agent gets for the
//! task it runs. A group is a `users` row with `is_group` (its name is `@NAME`, it never signs
//! in), so repos owned by a group need nothing new; `group_members` says who is in it (from the
//! OpenID provider's groups claim or set by a site admin) and `repos.group_role` what role they
//! get in the group's repos. `repos.read_token_revision` moves whenever one of the repo's read
//! tokens is revoked, so a server that remembers tokens it checked knows at once, from the repo
//! row every download reads anyway, that it must check again. `events.private` marks a private repo's events, which the buses
//! skip unless the site opts in.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReadTokens {
    Table,
    Id,
    RepoId,
    Name,
    Prefix,
    TokenHash,
    CreatedBy,
    TaskId,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum GroupMembers {
    Table,
    Id,
    GroupId,
    UserId,
    Source,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    IsGroup,
}

#[derive(DeriveIden)]
enum Repos {
    Table,
    GroupRole,
    ReadTokenRevision,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Private,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReadTokens::Table)
                    .col(pk_auto(ReadTokens::Id))
                    .col(integer(ReadTokens::RepoId))
                    .col(string_len(ReadTokens::Name, 100))
                    .col(string_len(ReadTokens::Prefix, 20))
                    .col(string_len_uniq(ReadTokens::TokenHash, 64))
                    .col(integer(ReadTokens::CreatedBy))
                    .col(integer_null(ReadTokens::TaskId))
                    .col(timestamp_with_time_zone(ReadTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(ReadTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ReadTokens::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ReadTokens::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("read_tokens_repo")
                    .table(ReadTokens::Table)
                    .col(ReadTokens::RepoId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GroupMembers::Table)
                    .col(pk_auto(GroupMembers::Id))
                    .col(integer(GroupMembers::GroupId))
                    .col(integer(GroupMembers::UserId))
                    .col(string_len(GroupMembers::Source, 10))
                    .col(timestamp_with_time_zone(GroupMembers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("group_members_group_user")
                    .table(GroupMembers::Table)
                    .col(GroupMembers::GroupId)
                    .col(GroupMembers::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("group_members_user")
                    .table(GroupMembers::Table)
                    .col(GroupMembers::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(boolean(Users::IsGroup).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Repos::Table)
                    .add_column(string_len(Repos::GroupRole, 10).default("packager"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Repos::Table)
                    .add_column(integer(Repos::ReadTokenRevision).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(boolean(Events::Private).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .drop_column(Events::Private)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Repos::Table)
                    .drop_column(Repos::ReadTokenRevision)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Repos::Table)
                    .drop_column(Repos::GroupRole)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::IsGroup)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(GroupMembers::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ReadTokens::Table).to_owned())
            .await
    }
}
