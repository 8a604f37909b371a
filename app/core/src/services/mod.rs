//! Core services: each public function takes the caller, checks the policy, does its work in
//! one transaction where it writes, records the audit entry and returns wire types.

pub mod access;
pub mod accounts;
pub mod agents;
pub mod audit;
pub mod browse;
pub mod builders;
pub mod bus;
pub mod chroots;
pub mod cleanup;
pub mod events;
pub mod forge;
pub mod groups;
pub mod members;
pub mod mock_configs;
pub mod outbound;
pub mod packages;
pub mod provision;
pub mod publish;
pub mod read_tokens;
pub mod repos;
pub mod retention;
pub mod source_secrets;
pub mod sources;
pub mod tasks;
pub mod tokens;
pub mod webhooks;

use kiln_proto::Page;

/// `page` is 1-based; `per_page` is clamped to 1..=100.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// The page wanted, counting from 1.
    pub page: u64,
    /// Items per page, 1 to 100 (default 50).
    pub per_page: u64,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            page: 1,
            per_page: 50,
        }
    }
}

impl PageRequest {
    /// A request for `page` (default 1) of `per_page` items (default 50, clamped to 1..=100).
    pub fn new(page: Option<u64>, per_page: Option<u64>) -> Self {
        PageRequest {
            page: page.unwrap_or(1).max(1),
            per_page: per_page.unwrap_or(50).clamp(1, 100),
        }
    }

    /// Wraps one page of `items`, out of `total` in all, with this request's numbers.
    pub fn page_of<T>(&self, items: Vec<T>, total: u64) -> Page<T> {
        Page {
            items,
            total,
            page: self.page,
            per_page: self.per_page,
        }
    }
}
