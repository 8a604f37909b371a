//! The build pipeline's task tree: submissions (a parent task with one build subtask per SRPM
//! and mock config), fair and atomic dispatch to agents, leases, logs, artifacts, cancel and
//! resubmit. Every state change goes through `transition`, a conditional UPDATE that follows
//! the state machine in `crate::state`.

use kiln_proto::TaskState;

use crate::entities::tasks;

mod dispatch;
mod leases;
mod query;
mod reports;
mod sources;
mod state;
mod submit;

pub use dispatch::{agent_arches, claim, claim_as, claimable};
use leases::*;
pub use leases::{expire_leases, lease_keeper, renew};
use query::*;
pub use query::{get, list_for_repo, TaskFilter};
pub use reports::{append_log, artifact, finish, held_by, log_chunks, source_of, store_artifact};
pub use sources::{check_source, submit_source, submit_source_of};
pub use state::cancel;
use state::*;
pub use submit::{resubmit, submit, Submission};

pub(super) const BUILD: &str = "build";

pub(super) fn state_of(t: &tasks::Model) -> TaskState {
    TaskState::parse(&t.state).unwrap_or(TaskState::Failed)
}
