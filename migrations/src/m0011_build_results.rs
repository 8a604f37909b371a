//! What a build reports besides its state: the stage a failure happened in and the backend
//! (and host toolchain) that built it; `nocheck` per mock config.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    FailureStage,
    Backend,
}

#[derive(DeriveIden)]
enum MockConfigs {
    Table,
    Nocheck,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column at a time.
        for col in [Tasks::FailureStage, Tasks::Backend] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tasks::Table)
                        .add_column(string_null(col))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(MockConfigs::Table)
                    .add_column(boolean(MockConfigs::Nocheck).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(MockConfigs::Table)
                    .drop_column(MockConfigs::Nocheck)
                    .to_owned(),
            )
            .await?;
        for col in [Tasks::FailureStage, Tasks::Backend] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tasks::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
