//! Message-bus publishing: how far each bus has been sent the outbox, and which server sends
//! it now.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EventCursors {
    Table,
    Id,
    Name,
    LastEventId,
    LockedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventCursors::Table)
                    .col(pk_auto(EventCursors::Id))
                    .col(string_len_uniq(EventCursors::Name, 32))
                    .col(integer(EventCursors::LastEventId))
                    .col(timestamp_with_time_zone_null(EventCursors::LockedUntil))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EventCursors::Table).to_owned())
            .await
    }
}
