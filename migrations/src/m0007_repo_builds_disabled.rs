//! Site admins can stop a repo's builds: why, when set (unset: builds are accepted).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Repos {
    Table,
    BuildsDisabled,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Repos::Table)
                    .add_column(text_null(Repos::BuildsDisabled))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Repos::Table)
                    .drop_column(Repos::BuildsDisabled)
                    .to_owned(),
            )
            .await
    }
}
