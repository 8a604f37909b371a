//! Publishing: each repo's signing keys, the package metadata read once at import, the
//! publish (createrepo) tasks and the published state of each chroot.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RepoKeys {
    Table,
    Id,
    RepoId,
    Fingerprint,
    PublicKey,
    SecretKey,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Packages {
    Table,
    Id,
    ArtifactId,
    RepoId,
    ParentId,
    Chroot,
    Name,
    Epoch,
    Version,
    Release,
    Arch,
    Href,
    Pkgid,
    Size,
    KeyFingerprint,
    InRepo,
    PrimaryXml,
    FilelistsXml,
    OtherXml,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Publishes {
    Table,
    Id,
    RepoId,
    Chroot,
    ParentId,
    Reason,
    State,
    Error,
    RequestedBy,
    CreatedAt,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum RepoChroots {
    Table,
    Id,
    RepoId,
    Chroot,
    Revision,
    Packages,
    Files,
    LockedUntil,
    PublishedAt,
}

#[derive(DeriveIden)]
enum StorageCleanup {
    Table,
    NotBefore,
}

#[derive(DeriveIden)]
enum Repos {
    Table,
    Id,
    KeepBuilds,
    KeepLogsDays,
    ReleaseSerial,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RepoKeys::Table)
                    .col(pk_auto(RepoKeys::Id))
                    .col(integer(RepoKeys::RepoId))
                    .col(string_len(RepoKeys::Fingerprint, 80))
                    .col(text(RepoKeys::PublicKey))
                    .col(text(RepoKeys::SecretKey))
                    .col(boolean(RepoKeys::Active))
                    .col(timestamp_with_time_zone(RepoKeys::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RepoKeys::Table, RepoKeys::RepoId)
                            .to(Repos::Table, Repos::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("repo_keys_repo")
                    .table(RepoKeys::Table)
                    .col(RepoKeys::RepoId)
                    .col(RepoKeys::Active)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Packages::Table)
                    .col(pk_auto(Packages::Id))
                    .col(integer_uniq(Packages::ArtifactId))
                    .col(integer(Packages::RepoId))
                    .col(integer(Packages::ParentId))
                    .col(string_len(Packages::Chroot, 64))
                    .col(string(Packages::Name))
                    .col(integer(Packages::Epoch))
                    .col(string(Packages::Version))
                    .col(string(Packages::Release))
                    .col(string_len(Packages::Arch, 16))
                    .col(string(Packages::Href))
                    .col(string_len(Packages::Pkgid, 64))
                    .col(big_integer(Packages::Size))
                    .col(string_len(Packages::KeyFingerprint, 80))
                    .col(boolean(Packages::InRepo))
                    .col(text(Packages::PrimaryXml))
                    .col(text(Packages::FilelistsXml))
                    .col(text(Packages::OtherXml))
                    .col(timestamp_with_time_zone(Packages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Packages::Table, Packages::RepoId)
                            .to(Repos::Table, Repos::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("packages_chroot")
                    .table(Packages::Table)
                    .col(Packages::RepoId)
                    .col(Packages::Chroot)
                    .col(Packages::InRepo)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("packages_href")
                    .table(Packages::Table)
                    .col(Packages::RepoId)
                    .col(Packages::Chroot)
                    .col(Packages::Href)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("packages_parent")
                    .table(Packages::Table)
                    .col(Packages::ParentId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Publishes::Table)
                    .col(pk_auto(Publishes::Id))
                    .col(integer(Publishes::RepoId))
                    .col(string_len(Publishes::Chroot, 64))
                    .col(integer_null(Publishes::ParentId))
                    .col(string_len(Publishes::Reason, 16))
                    .col(string_len(Publishes::State, 16))
                    .col(text_null(Publishes::Error))
                    .col(integer_null(Publishes::RequestedBy))
                    .col(timestamp_with_time_zone(Publishes::CreatedAt))
                    .col(timestamp_with_time_zone_null(Publishes::StartedAt))
                    .col(timestamp_with_time_zone_null(Publishes::FinishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Publishes::Table, Publishes::RepoId)
                            .to(Repos::Table, Repos::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("publishes_state")
                    .table(Publishes::Table)
                    .col(Publishes::State)
                    .col(Publishes::RepoId)
                    .col(Publishes::Chroot)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("publishes_parent")
                    .table(Publishes::Table)
                    .col(Publishes::ParentId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RepoChroots::Table)
                    .col(pk_auto(RepoChroots::Id))
                    .col(integer(RepoChroots::RepoId))
                    .col(string_len(RepoChroots::Chroot, 64))
                    .col(big_integer(RepoChroots::Revision))
                    .col(integer(RepoChroots::Packages))
                    .col(json(RepoChroots::Files))
                    .col(timestamp_with_time_zone_null(RepoChroots::LockedUntil))
                    .col(timestamp_with_time_zone_null(RepoChroots::PublishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RepoChroots::Table, RepoChroots::RepoId)
                            .to(Repos::Table, Repos::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("repo_chroots_unique")
                    .table(RepoChroots::Table)
                    .col(RepoChroots::RepoId)
                    .col(RepoChroots::Chroot)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(StorageCleanup::Table)
                    .add_column(timestamp_with_time_zone_null(StorageCleanup::NotBefore))
                    .to_owned(),
            )
            .await?;
        // Retention policy and the release RPM's serial, per repo.
        for col in [
            ColumnDef::new(Repos::KeepBuilds)
                .integer()
                .null()
                .to_owned(),
            ColumnDef::new(Repos::KeepLogsDays)
                .integer()
                .null()
                .to_owned(),
            ColumnDef::new(Repos::ReleaseSerial)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Repos::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StorageCleanup::Table)
                    .drop_column(StorageCleanup::NotBefore)
                    .to_owned(),
            )
            .await?;
        for col in [Repos::KeepBuilds, Repos::KeepLogsDays, Repos::ReleaseSerial] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Repos::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        for t in [
            RepoChroots::Table.into_iden(),
            Publishes::Table.into_iden(),
            Packages::Table.into_iden(),
            RepoKeys::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}
