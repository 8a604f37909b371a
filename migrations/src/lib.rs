//! Kiln's database schema as sea-orm migrations. Each migration is self-contained (it names its
//! own tables and columns and never imports entities) and uses only sea-orm's schema helpers, so
//! the same steps run on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m0001_accounts_repos;
mod m0002_agents;
mod m0003_tasks;
mod m0004_publishing;
mod m0005_retention;
mod m0006_builders;
mod m0007_repo_builds_disabled;
mod m0008_events;
mod m0009_event_cursors;
mod m0010_notify_builds;
mod m0011_build_results;
mod m0012_sources;
mod m0013_repo_packages;
mod m0014_forge;
mod m0015_visibility;
mod m0016_read_tokens_groups;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_accounts_repos::Migration),
            Box::new(m0002_agents::Migration),
            Box::new(m0003_tasks::Migration),
            Box::new(m0004_publishing::Migration),
            Box::new(m0005_retention::Migration),
            Box::new(m0006_builders::Migration),
            Box::new(m0007_repo_builds_disabled::Migration),
            Box::new(m0008_events::Migration),
            Box::new(m0009_event_cursors::Migration),
            Box::new(m0010_notify_builds::Migration),
            Box::new(m0011_build_results::Migration),
            Box::new(m0012_sources::Migration),
            Box::new(m0013_repo_packages::Migration),
            Box::new(m0014_forge::Migration),
            Box::new(m0015_visibility::Migration),
            Box::new(m0016_read_tokens_groups::Migration),
        ]
    }
}
