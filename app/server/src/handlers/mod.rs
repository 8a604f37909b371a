//! HTTP handlers, one file per resource: typed extractors, one core call, a wire type back.

pub mod access;
pub mod agent;
pub mod audit;
pub mod browse;
pub mod builds;
pub mod chroots;
pub mod copr;
pub mod forge;
pub mod forms;
pub mod health;
pub mod login;
pub mod me;
pub mod members;
pub mod mock_configs;
pub mod packages;
pub mod publish;
pub mod repos;
pub mod webhooks;
