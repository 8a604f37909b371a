//! Builder provisioning: each pool's state (who runs its provisioner now, its provider's
//! failures and backoff) and the builders its provider allocated.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BuilderPools {
    Table,
    Id,
    Name,
    LockedUntil,
    Failures,
    NextAttemptAt,
    LastError,
    LastErrorAt,
}

#[derive(DeriveIden)]
enum Builders {
    Table,
    Id,
    Pool,
    Arch,
    Name,
    ProviderId,
    State,
    RegistrationTokenId,
    AgentId,
    Reason,
    CreatedAt,
    RegisteredAt,
    IdleSince,
    ReleasedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BuilderPools::Table)
                    .col(pk_auto(BuilderPools::Id))
                    .col(string_len_uniq(BuilderPools::Name, 64))
                    .col(timestamp_with_time_zone_null(BuilderPools::LockedUntil))
                    .col(integer(BuilderPools::Failures).default(0))
                    .col(timestamp_with_time_zone_null(BuilderPools::NextAttemptAt))
                    .col(text_null(BuilderPools::LastError))
                    .col(timestamp_with_time_zone_null(BuilderPools::LastErrorAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Builders::Table)
                    .col(pk_auto(Builders::Id))
                    .col(string_len(Builders::Pool, 64))
                    .col(string_len(Builders::Arch, 16))
                    .col(string_len_uniq(Builders::Name, 128))
                    .col(string_null(Builders::ProviderId))
                    .col(string_len(Builders::State, 16))
                    .col(integer_null(Builders::RegistrationTokenId))
                    .col(integer_null(Builders::AgentId))
                    .col(text_null(Builders::Reason))
                    .col(timestamp_with_time_zone(Builders::CreatedAt))
                    .col(timestamp_with_time_zone_null(Builders::RegisteredAt))
                    .col(timestamp_with_time_zone_null(Builders::IdleSince))
                    .col(timestamp_with_time_zone_null(Builders::ReleasedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("builders_pool_state")
                    .table(Builders::Table)
                    .col(Builders::Pool)
                    .col(Builders::State)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Builders::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(BuilderPools::Table).to_owned())
            .await
    }
}
