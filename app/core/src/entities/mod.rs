//! sea-orm entities, one per table, kept thin: finders and behaviour live in `services`.

pub mod agent_registration_tokens;
pub mod agents;
pub mod api_tokens;
pub mod artifacts;
pub mod audit_log;
pub mod base_chroots;
pub mod builder_pools;
pub mod builders;
pub mod event_cursors;
pub mod events;
pub mod identities;
pub mod mock_configs;
pub mod packages;
pub mod publishes;
pub mod repo_chroots;
pub mod repo_keys;
pub mod repo_members;
pub mod repo_packages;
pub mod repos;
pub mod sources;
pub mod storage_cleanup;
pub mod task_logs;
pub mod tasks;
pub mod users;
pub mod webhook_deliveries;
pub mod webhooks;
