//! Kiln's domain: entities, services, the authorization policy, object storage and
//! configuration. SQL lives only here; HTTP and HTML live in the server and frontend crates.

pub mod config;
pub mod db;
pub mod entities;
pub mod error;
pub mod names;
pub mod policy;
pub mod secret;
pub mod services;
pub mod state;
pub mod storage;

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
    pub db: DatabaseConnection,
    pub storage: Storage,
    pub config: Arc<Config>,
    pub events: Arc<Events>,
}

/// Wake-ups inside one server process: new work for waiting agents, and changes (log lines,
/// states) of a task for log followers. Both are hints; the database stays the truth, so
/// waiters also re-check on a short timer (several server processes share one database).
pub struct Events {
    pub work: tokio::sync::Notify,
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
    pub fn work_available(&self) {
        self.work.notify_waiters();
    }

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
        let kiln = Kiln {
            db,
            storage,
            config: Arc::new(config),
            events: Arc::new(Events::default()),
        };
        services::chroots::seed_catalogue(&kiln).await?;
        Ok(kiln)
    }
}

/// Now, at the millisecond precision the API promises (and both databases keep).
pub fn now() -> time::OffsetDateTime {
    let t = time::OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}
