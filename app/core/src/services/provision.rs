//! The builder state machine. For each `[[builders.pools]]` entry, one server at a time (the
//! pool's lock row) looks at the queue every `builders.interval_seconds` and asks the pool's
//! [`Provider`] for builders, with a one-time registration token each; it notices when they
//! register, releases those idle past the pool's timeout (keeping `min_idle`), drains those past
//! their lifetime, and releases and replaces those that never registered or stopped answering.
//! A provider failure is recorded on the pool (shown at `GET /api/v1/builder-pools`) and the
//! next call waits 1, 2, 4 … s.
//!
//! What each builder needs is decided by [`decide`] and [`idle_past_timeout`], pure functions
//! of its row, its agent and the clock; [`builders::plan`] decides what to allocate. This
//! module carries the decisions out. The providers themselves (processes, scripts, Pods) live
//! in the server, which hands them to [`spawn`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ActiveValue::Set, IntoActiveModel};
use time::OffsetDateTime;

use super::{agents as agent_tokens, builders};
use crate::config::PoolConfig;
use crate::entities::{agents, builder_pools, builders as rows};
use crate::policy::{Principal, UserPrincipal};
use crate::Kiln;

/// What a provider is asked for.
pub struct AllocateRequest {
    /// The pool's name.
    pub pool: String,
    /// The builder's arch.
    pub arch: String,
    /// The agent's name (`POOL-ID`).
    pub name: String,
    /// Builds the agent runs at once.
    pub capacity: u32,
    /// Where the agent reaches Kiln.
    pub server: String,
    /// The one-time registration token.
    pub token: String,
}

/// What a provider can tell of a builder's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// It runs.
    Alive,
    /// It ended; why, as far as known.
    Gone(String),
    /// The provider cannot tell (the agent's heartbeats decide).
    Unknown,
}

/// Starts, stops and watches a pool's builders: local processes, the site admin's programs or
/// Kubernetes Pods.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Starts a builder whose agent registers with `req`; returns the provider's id for it.
    async fn allocate(&self, req: &AllocateRequest) -> anyhow::Result<String>;
    /// Stops and removes a builder.
    async fn release(&self, builder: &rows::Model) -> anyhow::Result<()>;
    /// Whether the builder's process still runs, where the provider can tell.
    async fn presence(&self, _builder: &rows::Model) -> Presence {
        Presence::Unknown
    }
    /// Starts a builder whose process ended again, under its agent's credential; its new
    /// provider id, or `None` when it cannot be (the builder is then released and replaced).
    async fn restart(&self, _builder: &rows::Model) -> anyhow::Result<Option<String>> {
        Ok(None)
    }
}

/// The limits [`decide`] applies, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `builders.register_timeout_seconds`.
    pub register_timeout_seconds: i64,
    /// `builds.lease_seconds`: an agent not seen for longer stopped answering.
    pub lease_seconds: i64,
    /// The pool's `max_lifetime_seconds`.
    pub max_lifetime_seconds: Option<u64>,
}

impl Limits {
    /// The limits for `pool` under the site's configuration.
    pub fn of(kiln: &Kiln, pool: &PoolConfig) -> Limits {
        Limits {
            register_timeout_seconds: kiln.config.builders.register_timeout_seconds as i64,
            lease_seconds: kiln.config.builds.lease_seconds,
            max_lifetime_seconds: pool.max_lifetime_seconds,
        }
    }
}

/// What one live builder needs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing.
    Keep,
    /// It was allocating and its agent (this id) has registered: running, idle from now.
    Registered(i32),
    /// Release it, ending in `state` (`released` or `failed`), for this reason.
    Release(&'static str, String),
    /// Past its lifetime with builds running: closed to new work until they end.
    Drain,
    /// It has work: no longer idle.
    Busy,
    /// It has no work: idle from now.
    StartIdle,
    /// Idle since then: a candidate for [`idle_past_timeout`].
    Idle(OffsetDateTime),
}

/// What a live builder needs, from its row, its agent (for an allocating builder, the agent
/// its registration token made, if any), how many builds the agent runs and the clock.
pub fn decide(
    b: &rows::Model,
    agent: Option<&agents::Model>,
    running: u32,
    now: OffsetDateTime,
    limits: Limits,
) -> Step {
    if b.state == builders::ALLOCATING {
        return match agent {
            Some(agent) => Step::Registered(agent.id),
            None if (now - b.created_at).whole_seconds() > limits.register_timeout_seconds => {
                Step::Release(
                    builders::FAILED,
                    format!(
                        "did not register within {} s",
                        limits.register_timeout_seconds
                    ),
                )
            }
            None => Step::Keep,
        };
    }
    let Some(agent) = agent else {
        return Step::Release(builders::FAILED, "its agent was removed".into());
    };
    let silent = (now - agent.last_seen_at).whole_seconds();
    if silent > limits.lease_seconds {
        return Step::Release(
            builders::FAILED,
            format!("stopped answering (last seen {silent} s ago)"),
        );
    }
    let busy = running > 0;
    let expired = limits.max_lifetime_seconds.is_some_and(|max| {
        b.registered_at
            .is_some_and(|t| (now - t).whole_seconds() > max as i64)
    });
    if b.state == builders::DRAINING || expired {
        return if !busy {
            Step::Release(builders::RELEASED, "reached its maximum lifetime".into())
        } else if b.state != builders::DRAINING {
            Step::Drain
        } else {
            Step::Keep
        };
    }
    match (busy, b.idle_since) {
        (true, Some(_)) => Step::Busy,
        (false, None) => Step::StartIdle,
        (false, Some(since)) => Step::Idle(since),
        (true, None) => Step::Keep,
    }
}

/// The idle builders whose idle time reached `idle_timeout_seconds`, longest idle first, with
/// how long each has waited. The caller releases them while more than `min_idle` stay idle.
pub fn idle_past_timeout<B>(
    mut idle: Vec<(OffsetDateTime, B)>,
    idle_timeout_seconds: u64,
    now: OffsetDateTime,
) -> Vec<(B, i64)> {
    idle.sort_by_key(|(since, _)| *since);
    idle.into_iter()
        .map(|(since, b)| (b, (now - since).whole_seconds()))
        .take_while(|(_, waited)| *waited >= idle_timeout_seconds as i64)
        .collect()
}

/// Runs `pool`'s provisioner until the server stops (`Kiln::stopping`): a pass on every tick
/// of `builders.interval_seconds`, and shortly after any submission. A pass under way when the
/// server stops is finished, so that the pool's turn is handed back (a server that stops
/// holding it would block every server's provisioning until the turn expires); the task ends
/// then.
pub fn spawn(
    kiln: &Kiln,
    pool: PoolConfig,
    provider: Arc<dyn Provider>,
    server_url: String,
) -> tokio::task::JoinHandle<()> {
    tracing::info!(pool = %pool.name, provider = ?pool.provider, "builder provisioner started");
    let kiln = kiln.clone();
    tokio::spawn(async move {
        let every = Duration::from_secs_f64(kiln.config.builders.interval_seconds.max(0.05));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // A submission wakes the provisioner at once (at most four passes a second).
            let wake = kiln.events.work.notified();
            tokio::select! {
                _ = kiln.stopping.cancelled() => break,
                _ = tick.tick() => {}
                _ = wake => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    tick.reset();
                }
            }
            if kiln.stopping.is_cancelled() {
                break;
            }
            // Each pass is a task of its own: a panic in a provider ends that pass, not the
            // pool's provisioning.
            let pass = {
                let (kiln, pool, provider, url) = (
                    kiln.clone(),
                    pool.clone(),
                    provider.clone(),
                    server_url.clone(),
                );
                tokio::spawn(async move { turn(&kiln, &pool, provider.as_ref(), &url).await })
            };
            match pass.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(pool = %pool.name, error = %e, "provisioner pass failed")
                }
                Err(e) => {
                    tracing::error!(pool = %pool.name, error = %e, "provisioner pass panicked")
                }
            }
        }
        tracing::info!(pool = %pool.name, "builder provisioner stopped");
    })
}

fn provisioner() -> Principal {
    Principal::User(UserPrincipal {
        id: 0,
        username: "provisioner".into(),
        is_site_admin: true,
        groups: vec![],
    })
}

/// One pass over a pool, if this server holds its turn.
async fn turn(
    kiln: &Kiln,
    pool: &PoolConfig,
    provider: &dyn Provider,
    server_url: &str,
) -> anyhow::Result<()> {
    let Some(lock) = builders::lock_pool(kiln, &pool.name, time::Duration::minutes(5)).await?
    else {
        return Ok(());
    };
    let pass = Pass {
        kiln,
        pool,
        provider,
        lock: &lock,
    };
    let result = pass.reconcile(server_url).await;
    builders::unlock_pool(kiln, lock.id).await?;
    result
}

/// One pass's context.
struct Pass<'a> {
    kiln: &'a Kiln,
    pool: &'a PoolConfig,
    provider: &'a dyn Provider,
    lock: &'a builder_pools::Model,
}

impl Pass<'_> {
    /// Every live builder's step carried out, idle builders past the timeout released, then
    /// new builders for the queue (unless the provider is in its backoff).
    async fn reconcile(&self, server_url: &str) -> anyhow::Result<()> {
        let (kiln, pool) = (self.kiln, self.pool);
        let now = crate::now();
        let agents: HashMap<i32, agents::Model> = builders::agents_by_id(kiln)
            .await?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
        let running = builders::running_by_agent(kiln).await?;
        let limits = Limits::of(kiln, pool);
        let mut idle = Vec::new();
        let mut ended = false;
        for b in builders::live_builders(kiln, &pool.name).await? {
            if let Presence::Gone(how) = self.provider.presence(&b).await {
                ended |= !self.restart(b, how).await?;
                continue;
            }
            let agent = if b.state == builders::ALLOCATING {
                match b.registration_token_id {
                    Some(t) => builders::agent_of_token(kiln, t).await?,
                    None => None,
                }
            } else {
                b.agent_id.and_then(|id| agents.get(&id).cloned())
            };
            let busy = agent
                .as_ref()
                .and_then(|a| running.get(&a.id).copied())
                .unwrap_or(0);
            match decide(&b, agent.as_ref(), busy, now, limits) {
                Step::Idle(since) => idle.push((since, b)),
                step => self.apply(b, step, now).await?,
            }
        }
        self.release_idle(idle, now).await?;

        if ended || self.lock.next_attempt_at.is_some_and(|t| t > now) {
            return Ok(());
        }
        let live = builders::live_builders(kiln, &pool.name).await?;
        let views: Vec<builders::BuilderView> = live
            .iter()
            .map(|b| builders::BuilderView {
                arch: b.arch.clone(),
                state: b.state.clone(),
                running: b
                    .agent_id
                    .and_then(|a| running.get(&a).copied())
                    .unwrap_or(0),
            })
            .collect();
        let queued = builders::queued_by_arch(kiln).await?;
        let all_agents: Vec<_> = agents.into_values().collect();
        let free = builders::free_slots(kiln, &all_agents, &running, now);
        for arch in builders::plan(pool, &queued, &free, &views) {
            if let Err(e) = self.allocate(server_url, &arch).await {
                tracing::warn!(pool = %pool.name, %arch, error = %e, "allocating a builder failed");
                builders::record_failure(kiln, self.lock.id, &format!("{e:#}")).await?;
                return Ok(());
            }
        }
        Ok(())
    }

    /// A builder whose process ended: started again under its own credential where the
    /// provider can, else released as failed. Whether it runs again.
    async fn restart(&self, b: rows::Model, how: String) -> anyhow::Result<bool> {
        let (kiln, pool) = (self.kiln, self.pool);
        match self.provider.restart(&b).await {
            Ok(Some(id)) => {
                tracing::warn!(pool = %pool.name, builder = %b.name, %how, provider_id = %id, "builder's process ended; started again under its own credential");
                builders::restarted(kiln, b, id).await?;
                Ok(true)
            }
            outcome => {
                let mut why = format!("its process ended ({how})");
                if let Err(e) = outcome {
                    why = format!("{why}; starting it again failed: {e:#}");
                }
                // Counted as the provider's failure, so a builder that cannot run is not
                // replaced in a tight loop.
                builders::record_failure(kiln, self.lock.id, &format!("{}: {why}", b.name)).await?;
                self.release(b, builders::FAILED, why).await?;
                Ok(false)
            }
        }
    }

    /// Carries out one builder's [`Step`].
    async fn apply(&self, b: rows::Model, step: Step, now: OffsetDateTime) -> anyhow::Result<()> {
        let kiln = self.kiln;
        match step {
            Step::Keep | Step::Idle(_) => {}
            Step::Registered(agent_id) => {
                tracing::info!(pool = %self.pool.name, builder = %b.name, "builder registered");
                // A builder that came up is what shows the provider works again.
                builders::record_success(kiln, self.lock).await?;
                let mut row = b.clone().into_active_model();
                row.state = Set(builders::RUNNING.into());
                row.agent_id = Set(Some(agent_id));
                row.registered_at = Set(Some(now));
                row.idle_since = Set(Some(now));
                builders::update(kiln, row).await?;
                revoke_token(kiln, &b).await;
            }
            Step::Release(state, why) => self.release(b, state, why).await?,
            Step::Drain => {
                if let Some(agent) = b.agent_id {
                    builders::set_agent_state(kiln, agent, "draining").await?;
                }
                let mut row = b.into_active_model();
                row.state = Set(builders::DRAINING.into());
                builders::update(kiln, row).await?;
            }
            Step::Busy | Step::StartIdle => {
                let mut row = b.into_active_model();
                row.idle_since = Set((step == Step::StartIdle).then_some(now));
                builders::update(kiln, row).await?;
            }
        }
        Ok(())
    }

    /// Idle past the timeout: released, longest idle first, keeping `min_idle`.
    async fn release_idle(
        &self,
        idle: Vec<(OffsetDateTime, rows::Model)>,
        now: OffsetDateTime,
    ) -> anyhow::Result<()> {
        let kiln = self.kiln;
        let mut idle_count = idle.len() as u32;
        for (b, waited) in idle_past_timeout(idle, self.pool.idle_timeout_seconds, now) {
            if idle_count <= self.pool.min_idle {
                break;
            }
            let agent_id = b.agent_id.unwrap_or_default();
            // Closed to new work first; a claim that slipped in keeps the builder.
            builders::set_agent_state(kiln, agent_id, "disabled").await?;
            let running = builders::running_by_agent(kiln).await?;
            if running.get(&agent_id).copied().unwrap_or(0) > 0 {
                builders::set_agent_state(kiln, agent_id, "online").await?;
                continue;
            }
            self.release(b, builders::RELEASED, format!("idle for {waited} s"))
                .await?;
            idle_count -= 1;
        }
        Ok(())
    }

    /// A builder row, a one-time registration token, then the provider's call.
    async fn allocate(&self, server_url: &str, arch: &str) -> anyhow::Result<()> {
        let (kiln, pool) = (self.kiln, self.pool);
        let token = agent_tokens::create_registration_token_info(
            kiln,
            &provisioner(),
            &format!("{}-builder", pool.name),
        )
        .await?;
        let temporary = format!("{}-new-{}", pool.name, uuid::Uuid::new_v4().simple());
        let row = builders::insert(kiln, &pool.name, arch, token.info.id, &temporary).await?;
        let name = builders::builder_name(&pool.name, row.id);
        let mut named = row.clone().into_active_model();
        named.name = Set(name.clone());
        let row = builders::update(kiln, named).await?;
        let req = AllocateRequest {
            pool: pool.name.clone(),
            arch: arch.to_owned(),
            name: name.clone(),
            capacity: pool.capacity,
            server: server_url.to_owned(),
            token: token.token,
        };
        match self.provider.allocate(&req).await {
            Ok(id) => {
                tracing::info!(pool = %pool.name, builder = %name, %arch, provider_id = %id, "builder allocated");
                let mut r = row.into_active_model();
                r.provider_id = Set(Some(id));
                builders::update(kiln, r).await?;
                Ok(())
            }
            Err(e) => {
                let mut r = row.clone().into_active_model();
                r.state = Set(builders::FAILED.into());
                r.reason = Set(Some(format!("allocation failed: {e:#}")));
                r.released_at = Set(Some(crate::now()));
                builders::update(kiln, r).await?;
                revoke_token(kiln, &row).await;
                Err(e)
            }
        }
    }

    /// Closes the builder's agent to work, asks the provider to release it and records why.
    /// A release the provider refuses is shown on the pool.
    async fn release(&self, b: rows::Model, state: &str, why: String) -> anyhow::Result<()> {
        let (kiln, pool) = (self.kiln, self.pool);
        if let Some(agent) = b.agent_id {
            builders::set_agent_state(kiln, agent, "disabled").await?;
        }
        revoke_token(kiln, &b).await;
        let mut reason = why.clone();
        if let Err(e) = self.provider.release(&b).await {
            tracing::warn!(pool = %pool.name, builder = %b.name, error = %e, "releasing a builder failed");
            reason = format!("{why}; release failed: {e:#}");
            builders::record_failure(kiln, self.lock.id, &format!("releasing {}: {e:#}", b.name))
                .await?;
        }
        tracing::info!(pool = %pool.name, builder = %b.name, %state, reason = %reason, "builder released");
        let mut row = b.into_active_model();
        row.state = Set(state.to_owned());
        row.reason = Set(Some(reason));
        row.released_at = Set(Some(crate::now()));
        builders::update(kiln, row).await?;
        Ok(())
    }
}

async fn revoke_token(kiln: &Kiln, b: &rows::Model) {
    if let Some(id) = b.registration_token_id {
        if let Err(e) = agent_tokens::revoke_registration_token(kiln, &provisioner(), id).await {
            tracing::debug!(builder = %b.name, error = %e, "revoking its registration token");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-03 12:00 UTC);
    const LIMITS: Limits = Limits {
        register_timeout_seconds: 300,
        lease_seconds: 60,
        max_lifetime_seconds: Some(3600),
    };

    fn builder(state: &str) -> rows::Model {
        rows::Model {
            id: 1,
            pool: "p".into(),
            name: "p-1".into(),
            arch: "x86_64".into(),
            state: state.into(),
            provider_id: Some("x".into()),
            registration_token_id: Some(7),
            agent_id: Some(3),
            reason: None,
            created_at: NOW - time::Duration::minutes(10),
            registered_at: Some(NOW - time::Duration::minutes(9)),
            idle_since: None,
            released_at: None,
        }
    }

    fn agent(seen_seconds_ago: i64) -> agents::Model {
        agents::Model {
            id: 3,
            name: "p-1".into(),
            token_hash: String::new(),
            arches: serde_json::json!(["x86_64"]),
            capacity: 2,
            backend: "rpmbuild".into(),
            version: "test".into(),
            state: "online".into(),
            registration_token_id: Some(7),
            registered_at: NOW - time::Duration::minutes(9),
            last_seen_at: NOW - time::Duration::seconds(seen_seconds_ago),
        }
    }

    #[test]
    fn an_allocating_builder_registers_or_times_out() {
        let mut b = builder(builders::ALLOCATING);
        assert_eq!(
            decide(&b, Some(&agent(0)), 0, NOW, LIMITS),
            Step::Registered(3)
        );
        assert_eq!(
            decide(&b, None, 0, NOW, LIMITS),
            Step::Release(builders::FAILED, "did not register within 300 s".into())
        );
        b.created_at = NOW - time::Duration::seconds(299);
        assert_eq!(decide(&b, None, 0, NOW, LIMITS), Step::Keep);
    }

    #[test]
    fn a_silent_or_missing_agent_fails_its_builder() {
        let b = builder(builders::RUNNING);
        assert_eq!(
            decide(&b, None, 0, NOW, LIMITS),
            Step::Release(builders::FAILED, "its agent was removed".into())
        );
        assert_eq!(
            decide(&b, Some(&agent(61)), 1, NOW, LIMITS),
            Step::Release(
                builders::FAILED,
                "stopped answering (last seen 61 s ago)".into()
            )
        );
    }

    #[test]
    fn past_its_lifetime_a_builder_drains_then_goes() {
        let mut b = builder(builders::RUNNING);
        b.registered_at = Some(NOW - time::Duration::seconds(3601));
        assert_eq!(decide(&b, Some(&agent(0)), 2, NOW, LIMITS), Step::Drain);
        b.state = builders::DRAINING.into();
        assert_eq!(decide(&b, Some(&agent(0)), 2, NOW, LIMITS), Step::Keep);
        assert_eq!(
            decide(&b, Some(&agent(0)), 0, NOW, LIMITS),
            Step::Release(builders::RELEASED, "reached its maximum lifetime".into())
        );
        let forever = Limits {
            max_lifetime_seconds: None,
            ..LIMITS
        };
        b.state = builders::RUNNING.into();
        assert_eq!(
            decide(&b, Some(&agent(0)), 0, NOW, forever),
            Step::StartIdle
        );
    }

    #[test]
    fn idle_time_starts_and_stops_with_work() {
        let mut b = builder(builders::RUNNING);
        assert_eq!(decide(&b, Some(&agent(0)), 0, NOW, LIMITS), Step::StartIdle);
        assert_eq!(decide(&b, Some(&agent(0)), 1, NOW, LIMITS), Step::Keep);
        let since = NOW - time::Duration::seconds(30);
        b.idle_since = Some(since);
        assert_eq!(
            decide(&b, Some(&agent(0)), 0, NOW, LIMITS),
            Step::Idle(since)
        );
        assert_eq!(decide(&b, Some(&agent(0)), 1, NOW, LIMITS), Step::Busy);
    }

    #[test]
    fn the_longest_idle_go_first_and_only_past_the_timeout() {
        let at = |s: i64| NOW - time::Duration::seconds(s);
        let idle = vec![
            (at(100), "b"),
            (at(900), "a"),
            (at(700), "c"),
            (at(601), "d"),
        ];
        assert_eq!(
            idle_past_timeout(idle, 600, NOW),
            vec![("a", 900), ("c", 700), ("d", 601)]
        );
        assert!(idle_past_timeout(vec![(at(10), "x")], 600, NOW).is_empty());
    }
}
