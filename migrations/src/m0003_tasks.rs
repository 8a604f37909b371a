//! The build pipeline: content-addressed sources (SRPMs), the task tree (a parent task per
//! submission, a build subtask per SRPM and mock config), log chunks, and artifacts with their
//! origin.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sources {
    Table,
    Id,
    Sha256,
    StorageKey,
    Size,
    Name,
    Epoch,
    Version,
    Release,
    ExclusiveArch,
    ExcludeArch,
    BuildArchs,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    ParentId,
    Kind,
    RepoId,
    OwnerId,
    SubmitterId,
    State,
    Scratch,
    Priority,
    SourceId,
    FileName,
    MockConfigName,
    MockConfigSnapshot,
    Arch,
    Reason,
    Attempt,
    AgentId,
    LeaseExpiresAt,
    CancelRequested,
    CreatedAt,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum TaskLogs {
    Table,
    Id,
    TaskId,
    Chunk,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Artifacts {
    Table,
    Id,
    TaskId,
    ParentId,
    RepoId,
    SourceId,
    AgentId,
    SubmitterId,
    FileName,
    Kind,
    Name,
    Epoch,
    Version,
    Release,
    Arch,
    License,
    Size,
    Sha256,
    StorageKey,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sources::Table)
                    .col(pk_auto(Sources::Id))
                    .col(string_len_uniq(Sources::Sha256, 64))
                    .col(string(Sources::StorageKey))
                    .col(big_integer(Sources::Size))
                    .col(string(Sources::Name))
                    .col(integer_null(Sources::Epoch))
                    .col(string(Sources::Version))
                    .col(string(Sources::Release))
                    .col(json(Sources::ExclusiveArch))
                    .col(json(Sources::ExcludeArch))
                    .col(json(Sources::BuildArchs))
                    .col(timestamp_with_time_zone(Sources::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(pk_auto(Tasks::Id))
                    .col(integer_null(Tasks::ParentId))
                    .col(string_len(Tasks::Kind, 16))
                    .col(integer(Tasks::RepoId))
                    .col(integer(Tasks::OwnerId))
                    .col(integer(Tasks::SubmitterId))
                    .col(string_len(Tasks::State, 16))
                    .col(boolean(Tasks::Scratch))
                    .col(integer(Tasks::Priority).default(0))
                    .col(integer_null(Tasks::SourceId))
                    .col(string_null(Tasks::FileName))
                    .col(string_null(Tasks::MockConfigName))
                    .col(json_null(Tasks::MockConfigSnapshot))
                    .col(string_len_null(Tasks::Arch, 16))
                    .col(text_null(Tasks::Reason))
                    .col(integer(Tasks::Attempt).default(0))
                    .col(integer_null(Tasks::AgentId))
                    .col(timestamp_with_time_zone_null(Tasks::LeaseExpiresAt))
                    .col(boolean(Tasks::CancelRequested).default(false))
                    .col(timestamp_with_time_zone(Tasks::CreatedAt))
                    .col(timestamp_with_time_zone_null(Tasks::StartedAt))
                    .col(timestamp_with_time_zone_null(Tasks::FinishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tasks::Table, Tasks::ParentId)
                            .to(Tasks::Table, Tasks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The dispatcher's questions: which owners have pending work, at which priority, oldest
        // first (the arch is checked on the rows found).
        manager
            .create_index(
                Index::create()
                    .name("tasks_dispatch")
                    .table(Tasks::Table)
                    .col(Tasks::State)
                    .col(Tasks::OwnerId)
                    .col(Tasks::Priority)
                    .col(Tasks::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tasks_agent")
                    .table(Tasks::Table)
                    .col(Tasks::AgentId)
                    .col(Tasks::State)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tasks_parent")
                    .table(Tasks::Table)
                    .col(Tasks::ParentId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tasks_repo")
                    .table(Tasks::Table)
                    .col(Tasks::RepoId)
                    .col(Tasks::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TaskLogs::Table)
                    .col(pk_auto(TaskLogs::Id))
                    .col(integer(TaskLogs::TaskId))
                    .col(text(TaskLogs::Chunk))
                    .col(timestamp_with_time_zone(TaskLogs::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TaskLogs::Table, TaskLogs::TaskId)
                            .to(Tasks::Table, Tasks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("task_logs_task")
                    .table(TaskLogs::Table)
                    .col(TaskLogs::TaskId)
                    .col(TaskLogs::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Artifacts::Table)
                    .col(pk_auto(Artifacts::Id))
                    .col(integer(Artifacts::TaskId))
                    .col(integer(Artifacts::ParentId))
                    .col(integer(Artifacts::RepoId))
                    .col(integer_null(Artifacts::SourceId))
                    .col(integer_null(Artifacts::AgentId))
                    .col(integer(Artifacts::SubmitterId))
                    .col(string(Artifacts::FileName))
                    .col(string_len(Artifacts::Kind, 16))
                    .col(string_null(Artifacts::Name))
                    .col(integer_null(Artifacts::Epoch))
                    .col(string_null(Artifacts::Version))
                    .col(string_null(Artifacts::Release))
                    .col(string_len_null(Artifacts::Arch, 16))
                    .col(text_null(Artifacts::License))
                    .col(big_integer(Artifacts::Size))
                    .col(string_len(Artifacts::Sha256, 64))
                    .col(string(Artifacts::StorageKey))
                    .col(timestamp_with_time_zone(Artifacts::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Artifacts::Table, Artifacts::TaskId)
                            .to(Tasks::Table, Tasks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("artifacts_task")
                    .table(Artifacts::Table)
                    .col(Artifacts::TaskId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Artifacts::Table.into_iden(),
            TaskLogs::Table.into_iden(),
            Tasks::Table.into_iden(),
            Sources::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}
