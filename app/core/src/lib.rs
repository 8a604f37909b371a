#![warn(missing_docs)]
//! Kiln's domain: entities, services, the authorization policy, object storage and
//! configuration. SQL lives only here; HTTP and HTML live in the server and frontend crates.

pub mod config;
pub mod db;
pub mod distro;
pub mod entities;
pub mod error;
pub mod metrics;
pub mod names;
pub mod policy;
pub mod provenance;
pub mod repodata;
pub mod secret;
pub mod services;
pub mod signing;
pub mod state;
pub mod storage;
pub mod token_memory;

use std::sync::Arc;

pub use config::Config;
pub use error::{CoreError, CoreResult};
pub use policy::{Action, Principal, UserPrincipal};
pub use sea_orm::DatabaseConnection;
pub use storage::Storage;

/// Everything a service needs: the database, object storage, configuration and the in-process
/// event hub. Cheap to clone.
#[derive(Clone)]
pub struct Kiln {
    /// The database connection pool (SQLite or PostgreSQL).
    pub db: DatabaseConnection,
    /// Object storage: uploaded sources, build artifacts and published repo metadata.
    pub storage: Storage,
    /// The server configuration, as loaded at start.
    pub config: Arc<Config>,
    /// In-process wake-ups for agents, workers and log followers.
    pub events: Arc<Events>,
    /// Locks each repo's secret signing key at rest.
    pub server_key: Arc<secret::Secret>,
    /// Wakes the publisher.
    pub publish_wake: Arc<tokio::sync::Notify>,
    /// Cancelled when the server begins to stop: long waits (agents' claims, log streams)
    /// end at once instead of holding the graceful shutdown up.
    pub stopping: tokio_util::sync::CancellationToken,
    /// Compressed metadata segments of recent publishes (see `repodata::Segment`).
    pub segments: Arc<services::publish::SegmentCache>,
    /// Prometheus metrics of this process.
    pub metrics: Arc<metrics::Metrics>,
    /// Read tokens this server has checked (see `services::read_tokens`).
    pub read_tokens: Arc<token_memory::Remembered>,
    /// Repo keys unlocked for signing `repomd.xml`, by fingerprint.
    pub signers: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<signing::Signer>>>>,
    /// SQLite has one writer; write transactions take turns here so that none has to upgrade
    /// a read snapshot, which SQLite refuses instead of waiting.
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction (see `Kiln::begin`).
pub struct WriteTxn {
    txn: sea_orm::DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTxn {
    /// Commits the transaction; on SQLite the next writer of this process may then begin.
    pub async fn commit(self) -> Result<(), sea_orm::DbErr> {
        self.txn.commit().await
    }

    /// Rolls the transaction back; on SQLite the next writer of this process may then begin.
    pub async fn rollback(self) -> Result<(), sea_orm::DbErr> {
        self.txn.rollback().await
    }
}

#[async_trait::async_trait]
impl sea_orm::ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> sea_orm::DbBackend {
        self.txn.get_database_backend()
    }
    async fn execute(
        &self,
        stmt: sea_orm::Statement,
    ) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
        self.txn.execute(stmt).await
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
        self.txn.execute_unprepared(sql).await
    }
    async fn query_one(
        &self,
        stmt: sea_orm::Statement,
    ) -> Result<Option<sea_orm::QueryResult>, sea_orm::DbErr> {
        self.txn.query_one(stmt).await
    }
    async fn query_all(
        &self,
        stmt: sea_orm::Statement,
    ) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
        self.txn.query_all(stmt).await
    }
    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// Wake-ups inside one server process: new work for waiting agents, and changes (log lines,
/// states) of a task for log followers. Both are hints; the database stays the truth, so
/// waiters also re-check on a short timer (several server processes share one database).
pub struct Events {
    /// Notified when new work may be waiting: tasks to claim, deliveries to send.
    pub work: tokio::sync::Notify,
    /// Carries the id of each task whose log or state changed.
    pub task_changed: tokio::sync::broadcast::Sender<i32>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            work: tokio::sync::Notify::new(),
            task_changed: tokio::sync::broadcast::channel(1024).0,
        }
    }
}

impl Events {
    /// Wakes everything currently waiting on `work`.
    pub fn work_available(&self) {
        self.work.notify_waiters();
    }

    /// Tells log followers that task `task_id` changed; nobody listening is not an error.
    pub fn changed(&self, task_id: i32) {
        let _ = self.task_changed.send(task_id);
    }
}

impl Kiln {
    /// Connects to the database (applying migrations), opens storage and seeds the base
    /// chroot catalogue on a fresh install.
    pub async fn open(config: Config) -> anyhow::Result<Kiln> {
        let db = db::connect(&config).await?;
        db::migrate(&db).await?;
        let storage = storage::open(&config).await?;
        let server_key = Arc::new(signing::server_key(&config)?);
        let kiln = Kiln {
            db,
            storage,
            server_key,
            publish_wake: Arc::default(),
            stopping: Default::default(),
            segments: Arc::new(services::publish::SegmentCache::new(
                config.publish.segment_cache_mb << 20,
            )),
            signers: Arc::default(),
            read_tokens: Arc::default(),
            metrics: Arc::default(),
            config: Arc::new(config),
            events: Arc::new(Events::default()),
            sqlite_writer: Arc::default(),
        };
        services::chroots::seed_catalogue(&kiln).await?;
        services::webhooks::seal_stored_secrets(&kiln).await?;
        Ok(kiln)
    }
}

impl Kiln {
    /// Begins a write transaction (on SQLite, after the previous one of this process ended).
    pub async fn begin(&self) -> Result<WriteTxn, sea_orm::DbErr> {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        let turn = if self.db.get_database_backend() == sea_orm::DbBackend::Sqlite {
            Some(self.sqlite_writer.clone().lock_owned().await)
        } else {
            None
        };
        let txn = self.db.begin().await?;
        if turn.is_some() {
            // Take SQLite's write lock now, as BEGIN IMMEDIATE would (sea-orm only issues
            // BEGIN): a transaction that reads first and writes later fails at once when another
            // writer committed in between, while one that writes first waits its turn.
            txn.execute_unprepared("UPDATE users SET id = id WHERE 1 = 0")
                .await?;
        }
        Ok(WriteTxn { txn, _turn: turn })
    }
}

/// Now, at the millisecond precision the API promises (and both databases keep).
pub fn now() -> time::OffsetDateTime {
    let t = time::OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}
