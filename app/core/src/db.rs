//! Database connection (SQLite or PostgreSQL, chosen by the URL) and migrations.

use std::time::Duration;

use kiln_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

use crate::config::Config;

/// Connects to `config.database_url()`, creating a SQLite file's directory first; SQLite
/// databases are switched to WAL.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url();
    if url.starts_with("sqlite://") {
        // Create the data directory for the default SQLite file.
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .and_then(|p| p.split('?').next())
            .map(std::path::Path::new)
            .and_then(|p| p.parent())
        {
            if !path.as_os_str().is_empty() {
                std::fs::create_dir_all(path)?;
            }
        }
    }
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(config.database_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(std::env::var_os("KILN_SQL_LOG").is_some());
    let db = Database::connect(opts)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to the database: {e}"))?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // WAL lets readers work while a writer commits; it is a property of the file.
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(db)
}

/// Applies every migration not applied yet.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .map_err(|e| anyhow::anyhow!("applying migrations: {e}"))
}

/// `SELECT … FOR UPDATE` where the database has it (PostgreSQL); SQLite serializes writers.
/// Makes claims in quota-counting transactions take turns: a transaction-scoped advisory lock
/// on PostgreSQL; nothing on SQLite, whose write transactions already take turns.
pub async fn claim_turn(db: &impl ConnectionTrait) -> Result<(), sea_orm::DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("SELECT pg_advisory_xact_lock(7469211)")
            .await?;
    }
    Ok(())
}

/// Makes transactions that write events take turns on PostgreSQL (held to commit), so event
/// ids are in commit order and a bus cursor never passes an event still to be committed.
/// SQLite has one writer already.
pub async fn events_turn(db: &impl ConnectionTrait) -> Result<(), sea_orm::DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("SELECT pg_advisory_xact_lock(7469212)")
            .await?;
    }
    Ok(())
}

/// Whether the database has row locks (`FOR UPDATE`, `SKIP LOCKED`): PostgreSQL only.
pub fn supports_row_locks(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}
