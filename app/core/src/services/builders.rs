//! Provisioned builders: what a pool's provisioner decides (`plan`, a pure function of the
//! queue and the pool's builders) and the rows it keeps. The providers themselves (processes,
//! scripts, Pods) live in the server; this module never starts anything.

use std::collections::{BTreeMap, HashMap};

use kiln_proto::agent::{Builder, BuilderPool};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::config::{PoolConfig, ProviderKind};
use crate::entities::{agents, builder_pools, builders, tasks};
use crate::error::{CoreError, CoreResult};
use crate::policy::{authorize, Action, Principal};
use crate::Kiln;

/// Builder state: asked of the provider, its agent not registered yet.
pub const ALLOCATING: &str = "allocating";
/// Builder state: its agent registered and takes work.
pub const RUNNING: &str = "running";
/// Builder state: past its lifetime; finishes its work, takes no more, then is released.
pub const DRAINING: &str = "draining";
/// Builder state: given back to the provider (idle, or done draining).
pub const RELEASED: &str = "released";
/// Builder state: never registered or stopped answering; released and replaced.
pub const FAILED: &str = "failed";

/// Takes the pool's provisioner turn for `ttl` (one server at a time); `None` when another
/// server has it.
pub async fn lock_pool(
    kiln: &Kiln,
    name: &str,
    ttl: time::Duration,
) -> CoreResult<Option<builder_pools::Model>> {
    let row = builder_pools::ActiveModel {
        name: Set(name.to_owned()),
        failures: Set(0),
        ..Default::default()
    };
    builder_pools::Entity::insert(row)
        .on_conflict(
            OnConflict::column(builder_pools::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&kiln.db)
        .await?;
    let now = crate::now();
    let held = builder_pools::Entity::update_many()
        .col_expr(
            builder_pools::Column::LockedUntil,
            Expr::value(Some(now + ttl)),
        )
        .filter(builder_pools::Column::Name.eq(name))
        .filter(
            sea_orm::Condition::any()
                .add(builder_pools::Column::LockedUntil.is_null())
                .add(builder_pools::Column::LockedUntil.lt(now)),
        )
        .exec_with_returning(&kiln.db)
        .await?;
    Ok(held.into_iter().next())
}

/// Gives up the provisioner turn on pool `id` taken by `lock_pool`, so any server may take it.
pub async fn unlock_pool(kiln: &Kiln, id: i32) -> CoreResult<()> {
    builder_pools::Entity::update_many()
        .col_expr(
            builder_pools::Column::LockedUntil,
            Expr::value(Option::<time::OffsetDateTime>::None),
        )
        .filter(builder_pools::Column::Id.eq(id))
        .exec(&kiln.db)
        .await?;
    Ok(())
}

/// The provider failed: counted, shown to site admins, and the next call waits 1, 2, 4 … s
/// (at most `max_backoff_seconds`).
pub async fn record_failure(kiln: &Kiln, pool_id: i32, error: &str) -> CoreResult<()> {
    let Some(pool) = builder_pools::Entity::find_by_id(pool_id)
        .one(&kiln.db)
        .await?
    else {
        return Ok(());
    };
    let failures = pool.failures + 1;
    let wait = 2u64
        .saturating_pow(failures.clamp(1, 30) as u32 - 1)
        .min(kiln.config.builders.max_backoff_seconds.max(1));
    let now = crate::now();
    let mut active: builder_pools::ActiveModel = pool.into();
    active.failures = Set(failures);
    active.next_attempt_at = Set(Some(now + time::Duration::seconds(wait as i64)));
    active.last_error = Set(Some(error.chars().take(2000).collect()));
    active.last_error_at = Set(Some(now));
    active.update(&kiln.db).await?;
    Ok(())
}

/// The provider worked: the failure count starts again.
pub async fn record_success(kiln: &Kiln, pool: &builder_pools::Model) -> CoreResult<()> {
    if pool.failures == 0 && pool.next_attempt_at.is_none() {
        return Ok(());
    }
    builder_pools::Entity::update_many()
        .col_expr(builder_pools::Column::Failures, Expr::value(0))
        .col_expr(
            builder_pools::Column::NextAttemptAt,
            Expr::value(Option::<time::OffsetDateTime>::None),
        )
        .filter(builder_pools::Column::Id.eq(pool.id))
        .exec(&kiln.db)
        .await?;
    Ok(())
}

/// A builder as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct BuilderView {
    /// The arch the builder was allocated for.
    pub arch: String,
    /// Its state: one of `ALLOCATING`, `RUNNING`, `DRAINING`, `RELEASED`, `FAILED`.
    pub state: String,
    /// Builds it runs now.
    pub running: u32,
}

/// The arches of the builders to allocate now: enough that every queued build of the pool's
/// arches has a free slot (counting every online agent's free slots and the builders still
/// coming up), at least `min_idle` builders without work, never more than `max` builders.
pub fn plan(
    pool: &PoolConfig,
    queued: &HashMap<String, u32>,
    free_slots: &HashMap<String, u32>,
    builders: &[BuilderView],
) -> Vec<String> {
    let live: Vec<&BuilderView> = builders
        .iter()
        .filter(|b| [ALLOCATING, RUNNING, DRAINING].contains(&b.state.as_str()))
        .collect();
    let mut room = pool.max.saturating_sub(live.len() as u32);
    let mut out = Vec::new();
    for arch in &pool.arches {
        let coming = live
            .iter()
            .filter(|b| b.state == ALLOCATING && &b.arch == arch)
            .count() as u32
            * pool.capacity;
        let waiting = queued.get(arch).copied().unwrap_or(0);
        let free = free_slots.get(arch).copied().unwrap_or(0) + coming;
        let short = waiting.saturating_sub(free);
        let want = short.div_ceil(pool.capacity).min(room);
        room -= want;
        out.extend(std::iter::repeat_n(arch.clone(), want as usize));
    }
    let idle = live
        .iter()
        .filter(|b| b.state == ALLOCATING || (b.state == RUNNING && b.running == 0))
        .count() as u32
        + out.len() as u32;
    // Idle builders to make up `min_idle`, spread over the arches with the fewest builders.
    for _ in idle..pool.min_idle {
        if room == 0 {
            break;
        }
        let arch = pool
            .arches
            .iter()
            .min_by_key(|a| {
                live.iter().filter(|b| &b.arch == *a).count()
                    + out.iter().filter(|o| o == a).count()
            })
            .cloned()
            .unwrap_or_default();
        out.push(arch);
        room -= 1;
    }
    out
}

/// Queued subtasks per arch.
pub async fn queued_by_arch(kiln: &Kiln) -> CoreResult<HashMap<String, u32>> {
    let rows: Vec<(Option<String>, i64)> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Arch)
        .column_as(tasks::Column::Id.count(), "n")
        .filter(super::tasks::claimable(None, &[], None))
        .group_by(tasks::Column::Arch)
        .into_tuple()
        .all(&kiln.db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(arch, n)| Some((arch?, n.max(0) as u32)))
        .collect())
}

/// Running builds per agent.
pub async fn running_by_agent(kiln: &Kiln) -> CoreResult<HashMap<i32, u32>> {
    let rows: Vec<(Option<i32>, i64)> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::AgentId)
        .column_as(tasks::Column::Id.count(), "n")
        .filter(tasks::Column::State.eq("running"))
        .filter(tasks::Column::AgentId.is_not_null())
        .group_by(tasks::Column::AgentId)
        .into_tuple()
        .all(&kiln.db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, n)| Some((id?, n.max(0) as u32)))
        .collect())
}

/// Whether an agent is answering: seen within its lease.
pub fn responsive(kiln: &Kiln, agent: &agents::Model, now: time::OffsetDateTime) -> bool {
    (now - agent.last_seen_at).whole_seconds() <= kiln.config.builds.lease_seconds
}

/// Free build slots per arch over the online, answering agents.
pub fn free_slots(
    kiln: &Kiln,
    agents: &[agents::Model],
    running: &HashMap<i32, u32>,
    now: time::OffsetDateTime,
) -> HashMap<String, u32> {
    let mut free: HashMap<String, u32> = HashMap::new();
    for a in agents
        .iter()
        .filter(|a| a.state == "online" && responsive(kiln, a, now))
    {
        let left =
            (a.capacity.max(0) as u32).saturating_sub(running.get(&a.id).copied().unwrap_or(0));
        let arches: Vec<String> = serde_json::from_value(a.arches.clone()).unwrap_or_default();
        for arch in arches {
            *free.entry(arch).or_default() += left;
        }
    }
    free
}

/// The pool's builders that are not released or failed.
pub async fn live_builders(kiln: &Kiln, pool: &str) -> CoreResult<Vec<builders::Model>> {
    Ok(builders::Entity::find()
        .filter(builders::Column::Pool.eq(pool))
        .filter(builders::Column::State.is_in([ALLOCATING, RUNNING, DRAINING]))
        .order_by_asc(builders::Column::Id)
        .all(&kiln.db)
        .await?)
}

/// A new builder row (`allocating`), named `POOL-ID`, holding its registration token's id.
pub async fn insert(
    kiln: &Kiln,
    pool: &str,
    arch: &str,
    registration_token_id: i32,
    name: &str,
) -> CoreResult<builders::Model> {
    Ok(builders::ActiveModel {
        pool: Set(pool.to_owned()),
        arch: Set(arch.to_owned()),
        name: Set(name.to_owned()),
        state: Set(ALLOCATING.into()),
        registration_token_id: Set(Some(registration_token_id)),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(&kiln.db)
    .await?)
}

/// Sets a builder's fields.
pub async fn update(kiln: &Kiln, row: builders::ActiveModel) -> CoreResult<builders::Model> {
    Ok(row.update(&kiln.db).await?)
}

/// Sets an agent's state (`online`, `draining`, `disabled`) without an audit entry: the
/// provisioner's own bookkeeping.
pub async fn set_agent_state(kiln: &Kiln, agent_id: i32, state: &str) -> CoreResult<()> {
    agents::Entity::update_many()
        .col_expr(agents::Column::State, Expr::value(state))
        .filter(agents::Column::Id.eq(agent_id))
        .exec(&kiln.db)
        .await?;
    Ok(())
}

/// Records that a builder's agent was started again under its old credential: its new
/// provider id, and a fresh lease for the agent to come back in (it was last seen before it
/// stopped).
pub async fn restarted(
    kiln: &Kiln,
    builder: builders::Model,
    provider_id: String,
) -> CoreResult<builders::Model> {
    if let Some(agent) = builder.agent_id {
        agents::Entity::update_many()
            .col_expr(agents::Column::LastSeenAt, Expr::value(crate::now()))
            .filter(agents::Column::Id.eq(agent))
            .exec(&kiln.db)
            .await?;
    }
    let mut row: builders::ActiveModel = builder.into();
    row.provider_id = Set(Some(provider_id));
    update(kiln, row).await
}

fn provider_name(p: ProviderKind) -> &'static str {
    match p {
        ProviderKind::Local => "local",
        ProviderKind::Command => "command",
        ProviderKind::Kubernetes => "kubernetes",
    }
}

/// Every configured pool with its provider's health and its builders (site admins).
pub async fn pools(kiln: &Kiln, principal: &Principal) -> CoreResult<Vec<BuilderPool>> {
    authorize(principal, Action::ManageAgents, None)?;
    let states: BTreeMap<String, builder_pools::Model> = builder_pools::Entity::find()
        .all(&kiln.db)
        .await?
        .into_iter()
        .map(|p| (p.name.clone(), p))
        .collect();
    let mut out = Vec::new();
    for pool in &kiln.config.builders.pools {
        let mut rows = live_builders(kiln, &pool.name).await?;
        rows.extend(
            builders::Entity::find()
                .filter(builders::Column::Pool.eq(&pool.name))
                .filter(builders::Column::State.is_in([RELEASED, FAILED]))
                .order_by_desc(builders::Column::Id)
                .limit(20)
                .all(&kiln.db)
                .await?,
        );
        let state = states.get(&pool.name);
        out.push(BuilderPool {
            name: pool.name.clone(),
            provider: provider_name(pool.provider).into(),
            arches: pool.arches.clone(),
            min_idle: pool.min_idle,
            max: pool.max,
            failures: state.map(|s| s.failures.max(0) as u32).unwrap_or(0),
            next_attempt_at: state.and_then(|s| s.next_attempt_at),
            last_error: state.and_then(|s| s.last_error.clone()),
            last_error_at: state.and_then(|s| s.last_error_at),
            builders: rows
                .into_iter()
                .map(|b| Builder {
                    id: b.id,
                    name: b.name,
                    arch: b.arch,
                    state: b.state,
                    provider_id: b.provider_id,
                    reason: b.reason,
                    created_at: b.created_at,
                    registered_at: b.registered_at,
                    released_at: b.released_at,
                })
                .collect(),
        });
    }
    Ok(out)
}

/// The agent registered with `registration_token_id`, if any has yet.
pub async fn agent_of_token(
    kiln: &Kiln,
    registration_token_id: i32,
) -> CoreResult<Option<agents::Model>> {
    Ok(agents::Entity::find()
        .filter(agents::Column::RegistrationTokenId.eq(registration_token_id))
        .one(&kiln.db)
        .await?)
}

/// Agents by id.
pub async fn agents_by_id(kiln: &Kiln) -> CoreResult<Vec<agents::Model>> {
    Ok(agents::Entity::find().all(&kiln.db).await?)
}

/// A builder name the provider can be trusted with (it goes into scripts' environments and
/// Pod names): the pool's name, a dash, the row id.
pub fn builder_name(pool: &str, id: i32) -> String {
    format!("{pool}-{id}")
}

/// The error a provider's failure is recorded with.
pub fn provider_error(e: impl std::fmt::Display) -> CoreError {
    CoreError::internal(format!("builder provider: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(min_idle: u32, max: u32, capacity: u32) -> PoolConfig {
        PoolConfig {
            name: "p".into(),
            provider: ProviderKind::Command,
            arches: vec!["x86_64".into(), "aarch64".into()],
            min_idle,
            max,
            capacity,
            idle_timeout_seconds: 60,
            max_lifetime_seconds: None,
            server_url: None,
            allocate: vec![],
            release: vec![],
            backend: None,
            image: None,
            namespace: None,
            api_url: None,
            cpu: None,
            memory: None,
        }
    }

    fn b(arch: &str, state: &str, running: u32) -> BuilderView {
        BuilderView {
            arch: arch.into(),
            state: state.into(),
            running,
        }
    }

    fn map(pairs: &[(&str, u32)]) -> HashMap<String, u32> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn builders_follow_the_queue_of_each_arch() {
        // Nothing queued, nothing wanted.
        assert!(plan(&pool(0, 4, 1), &map(&[]), &map(&[]), &[]).is_empty());
        // Three aarch64 builds, one x86_64; capacity 2 per builder.
        let got = plan(
            &pool(0, 4, 2),
            &map(&[("aarch64", 3), ("x86_64", 1)]),
            &map(&[]),
            &[],
        );
        assert_eq!(got, ["x86_64", "aarch64", "aarch64"]);
        // Free slots elsewhere and builders still coming up count.
        let got = plan(
            &pool(0, 4, 1),
            &map(&[("aarch64", 3)]),
            &map(&[("aarch64", 1)]),
            &[b("aarch64", ALLOCATING, 0)],
        );
        assert_eq!(got, ["aarch64"]);
        // Never past max, draining builders included.
        let got = plan(
            &pool(0, 2, 1),
            &map(&[("x86_64", 10)]),
            &map(&[]),
            &[b("x86_64", DRAINING, 1)],
        );
        assert_eq!(got, ["x86_64"]);
    }

    #[test]
    fn min_idle_builders_wait_for_work() {
        // One idle wanted: one made, on the arch with the fewest builders.
        let got = plan(
            &pool(1, 4, 1),
            &map(&[]),
            &map(&[]),
            &[b("x86_64", RUNNING, 1)],
        );
        assert_eq!(got, ["aarch64"]);
        // A builder without work is idle already.
        assert!(plan(
            &pool(1, 4, 1),
            &map(&[]),
            &map(&[]),
            &[b("x86_64", RUNNING, 0)]
        )
        .is_empty());
        // Released and failed builders are gone.
        let got = plan(
            &pool(1, 4, 1),
            &map(&[]),
            &map(&[]),
            &[b("x86_64", FAILED, 0)],
        );
        assert_eq!(got.len(), 1);
    }
}
