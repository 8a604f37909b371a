//! Packages with stored sources: a repo's package keeps where its source lives (git or a URL)
//! and whether a forge push rebuilds it; builds made from it point back to it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RepoPackages {
    Table,
    Id,
    RepoId,
    Name,
    Source,
    AutoRebuild,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    PackageId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RepoPackages::Table)
                    .col(pk_auto(RepoPackages::Id))
                    .col(integer(RepoPackages::RepoId))
                    .col(string_len(RepoPackages::Name, 100))
                    .col(json(RepoPackages::Source))
                    .col(boolean(RepoPackages::AutoRebuild).default(false))
                    .col(timestamp_with_time_zone(RepoPackages::CreatedAt))
                    .col(timestamp_with_time_zone(RepoPackages::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("repo_packages_repo_name")
                    .table(RepoPackages::Table)
                    .col(RepoPackages::RepoId)
                    .col(RepoPackages::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(integer_null(Tasks::PackageId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .drop_column(Tasks::PackageId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(RepoPackages::Table).to_owned())
            .await
    }
}
