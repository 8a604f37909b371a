//! Forge push hooks and private sources: each repo's forge secret (sealed), the log of the
//! hook's deliveries (unique per delivery id, so a redelivery builds nothing twice), the
//! repo's git credentials (sealed, per host), its SRPM-build mock config, and the backend a
//! subtask needs (a `make_srpm` step runs only on mock agents unless the site allows the host).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ForgeDeliveries {
    Table,
    Id,
    RepoId,
    Delivery,
    Forge,
    Event,
    GitRef,
    Commit,
    CloneUrl,
    Outcome,
    Builds,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum RepoSecrets {
    Table,
    Id,
    RepoId,
    Kind,
    Host,
    Username,
    Secret,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Repos {
    Table,
    SrpmConfig,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    NeedsBackend,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ForgeDeliveries::Table)
                    .col(pk_auto(ForgeDeliveries::Id))
                    .col(integer(ForgeDeliveries::RepoId))
                    .col(string_len(ForgeDeliveries::Delivery, 200))
                    .col(string_len(ForgeDeliveries::Forge, 20))
                    .col(string_len(ForgeDeliveries::Event, 40))
                    .col(string_len(ForgeDeliveries::GitRef, 300))
                    .col(string_len(ForgeDeliveries::Commit, 64))
                    .col(string_len(ForgeDeliveries::CloneUrl, 2000))
                    .col(text(ForgeDeliveries::Outcome))
                    .col(json(ForgeDeliveries::Builds))
                    .col(timestamp_with_time_zone(ForgeDeliveries::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("forge_deliveries_repo_delivery")
                    .table(ForgeDeliveries::Table)
                    .col(ForgeDeliveries::RepoId)
                    .col(ForgeDeliveries::Delivery)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RepoSecrets::Table)
                    .col(pk_auto(RepoSecrets::Id))
                    .col(integer(RepoSecrets::RepoId))
                    .col(string_len(RepoSecrets::Kind, 20))
                    .col(string_len(RepoSecrets::Host, 255))
                    .col(string_len(RepoSecrets::Username, 255))
                    .col(text(RepoSecrets::Secret))
                    .col(timestamp_with_time_zone(RepoSecrets::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("repo_secrets_repo_kind_host")
                    .table(RepoSecrets::Table)
                    .col(RepoSecrets::RepoId)
                    .col(RepoSecrets::Kind)
                    .col(RepoSecrets::Host)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Repos::Table)
                    .add_column(string_len_null(Repos::SrpmConfig, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(string_len_null(Tasks::NeedsBackend, 20))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .drop_column(Tasks::NeedsBackend)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Repos::Table)
                    .drop_column(Repos::SrpmConfig)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(RepoSecrets::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ForgeDeliveries::Table).to_owned())
            .await
    }
}
