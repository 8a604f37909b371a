//! Accounts, API tokens, repos, members, base chroots, mock configs, the audit log, the
//! background object-cleanup queue and builder registration tokens.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    DisplayName,
    Email,
    PasswordHash,
    IsSiteAdmin,
    Groups,
    Disabled,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Identities {
    Table,
    Id,
    UserId,
    Provider,
    Subject,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    Prefix,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Repos {
    Table,
    Id,
    OwnerId,
    Name,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RepoMembers {
    Table,
    Id,
    RepoId,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BaseChroots {
    Table,
    Id,
    Name,
    Distro,
    Release,
    Arch,
    BaseRepos,
    MockTemplate,
    DistMacro,
    Enabled,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MockConfigs {
    Table,
    Id,
    RepoId,
    Name,
    BaseChrootId,
    ExtraRepos,
    BuildrootAdd,
    BuildrootRemove,
    Macros,
    IncludeOwnRepo,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    RepoId,
    ActorId,
    Action,
    Target,
    Detail,
    CreatedAt,
}

#[derive(DeriveIden)]
enum StorageCleanup {
    Table,
    Id,
    Prefix,
    Attempts,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentRegistrationTokens {
    Table,
    Id,
    Name,
    TokenHash,
    CreatedById,
    CreatedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_auto(Users::Id))
                    .col(string_len_uniq(Users::Username, 64))
                    .col(string_null(Users::DisplayName))
                    .col(string_null(Users::Email))
                    .col(string_null(Users::PasswordHash))
                    .col(boolean(Users::IsSiteAdmin).default(false))
                    .col(json(Users::Groups))
                    .col(boolean(Users::Disabled).default(false))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Identities::Table)
                    .col(pk_auto(Identities::Id))
                    .col(integer(Identities::UserId))
                    .col(string(Identities::Provider))
                    .col(string(Identities::Subject))
                    .col(timestamp_with_time_zone(Identities::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Identities::Table, Identities::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("identities_provider_subject")
                    .table(Identities::Table)
                    .col(Identities::Provider)
                    .col(Identities::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(pk_auto(ApiTokens::Id))
                    .col(integer(ApiTokens::UserId))
                    .col(string(ApiTokens::Name))
                    .col(string(ApiTokens::Prefix))
                    .col(string_len_uniq(ApiTokens::TokenHash, 64))
                    .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiTokens::Table, ApiTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Repos::Table)
                    .col(pk_auto(Repos::Id))
                    .col(integer(Repos::OwnerId))
                    .col(string_len(Repos::Name, 64))
                    .col(text(Repos::Description).default(""))
                    .col(timestamp_with_time_zone(Repos::CreatedAt))
                    .col(timestamp_with_time_zone(Repos::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Repos::Table, Repos::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("repos_owner_name")
                    .table(Repos::Table)
                    .col(Repos::OwnerId)
                    .col(Repos::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RepoMembers::Table)
                    .col(pk_auto(RepoMembers::Id))
                    .col(integer(RepoMembers::RepoId))
                    .col(integer(RepoMembers::UserId))
                    .col(string_len(RepoMembers::Role, 16))
                    .col(timestamp_with_time_zone(RepoMembers::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RepoMembers::Table, RepoMembers::RepoId)
                            .to(Repos::Table, Repos::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(RepoMembers::Table, RepoMembers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("repo_members_repo_user")
                    .table(RepoMembers::Table)
                    .col(RepoMembers::RepoId)
                    .col(RepoMembers::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BaseChroots::Table)
                    .col(pk_auto(BaseChroots::Id))
                    .col(string_len_uniq(BaseChroots::Name, 128))
                    .col(string(BaseChroots::Distro))
                    .col(string(BaseChroots::Release))
                    .col(string(BaseChroots::Arch))
                    .col(json(BaseChroots::BaseRepos))
                    .col(text(BaseChroots::MockTemplate))
                    .col(string(BaseChroots::DistMacro))
                    .col(boolean(BaseChroots::Enabled).default(true))
                    .col(timestamp_with_time_zone(BaseChroots::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MockConfigs::Table)
                    .col(pk_auto(MockConfigs::Id))
                    .col(integer(MockConfigs::RepoId))
                    .col(string_len(MockConfigs::Name, 128))
                    .col(integer(MockConfigs::BaseChrootId))
                    .col(json(MockConfigs::ExtraRepos))
                    .col(json(MockConfigs::BuildrootAdd))
                    .col(json(MockConfigs::BuildrootRemove))
                    .col(json(MockConfigs::Macros))
                    .col(boolean(MockConfigs::IncludeOwnRepo).default(true))
                    .col(boolean(MockConfigs::Enabled).default(true))
                    .col(timestamp_with_time_zone(MockConfigs::CreatedAt))
                    .col(timestamp_with_time_zone(MockConfigs::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(MockConfigs::Table, MockConfigs::RepoId)
                            .to(Repos::Table, Repos::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MockConfigs::Table, MockConfigs::BaseChrootId)
                            .to(BaseChroots::Table, BaseChroots::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mock_configs_repo_name")
                    .table(MockConfigs::Table)
                    .col(MockConfigs::RepoId)
                    .col(MockConfigs::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // The audit log outlives what it talks about: no foreign keys, so deleting a repo or a
        // user keeps the record of what happened to it.
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(pk_auto(AuditLog::Id))
                    .col(integer_null(AuditLog::RepoId))
                    .col(integer_null(AuditLog::ActorId))
                    .col(string(AuditLog::Action))
                    .col(string(AuditLog::Target))
                    .col(json(AuditLog::Detail))
                    .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_log_repo")
                    .table(AuditLog::Table)
                    .col(AuditLog::RepoId)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StorageCleanup::Table)
                    .col(pk_auto(StorageCleanup::Id))
                    .col(string(StorageCleanup::Prefix))
                    .col(integer(StorageCleanup::Attempts).default(0))
                    .col(timestamp_with_time_zone(StorageCleanup::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AgentRegistrationTokens::Table)
                    .col(pk_auto(AgentRegistrationTokens::Id))
                    .col(string(AgentRegistrationTokens::Name))
                    .col(string_len_uniq(AgentRegistrationTokens::TokenHash, 64))
                    .col(integer_null(AgentRegistrationTokens::CreatedById))
                    .col(timestamp_with_time_zone(AgentRegistrationTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        AgentRegistrationTokens::RevokedAt,
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AgentRegistrationTokens::Table.into_iden(),
            StorageCleanup::Table.into_iden(),
            AuditLog::Table.into_iden(),
            MockConfigs::Table.into_iden(),
            BaseChroots::Table.into_iden(),
            RepoMembers::Table.into_iden(),
            Repos::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Identities::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
