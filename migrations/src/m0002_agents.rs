//! Builder agents: each registered agent with its own hashed credential, what it declares
//! (arches, capacity, backend, version) and its state.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agents {
    Table,
    Id,
    Name,
    TokenHash,
    Arches,
    Capacity,
    Backend,
    Version,
    State,
    RegistrationTokenId,
    RegisteredAt,
    LastSeenAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Agents::Table)
                    .col(pk_auto(Agents::Id))
                    .col(string_len_uniq(Agents::Name, 64))
                    .col(string_len_uniq(Agents::TokenHash, 64))
                    .col(json(Agents::Arches))
                    .col(integer(Agents::Capacity))
                    .col(string_len(Agents::Backend, 16))
                    .col(string_len(Agents::Version, 64))
                    .col(string_len(Agents::State, 16))
                    .col(integer_null(Agents::RegistrationTokenId))
                    .col(timestamp_with_time_zone(Agents::RegisteredAt))
                    .col(timestamp_with_time_zone(Agents::LastSeenAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Agents::Table).to_owned())
            .await
    }
}
