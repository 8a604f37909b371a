//! The API suite: the real router on a loopback port, over SQLite or PostgreSQL
//! (`KILN_TEST_DB`). `tests/run` runs it on both.

mod accounts;
mod agents;
mod chroots;
mod copr;
mod errors;
mod members;
mod mock_configs;
mod policy_table;
mod private;
mod repos;
mod sessions;
mod ui;

/// Skips a test (returning early) when its database is not available outside CI.
#[macro_export]
macro_rules! app {
    () => {
        match kiln_tests::TestApp::new().await {
            Some(app) => app,
            None => return,
        }
    };
    ($edit:expr) => {
        match kiln_tests::TestApp::with_config($edit).await {
            Some(app) => app,
            None => return,
        }
    };
}
