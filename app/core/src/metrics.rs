//! Prometheus metrics (`GET /metrics`). Durations are observed in this process as they happen
//! (each server exports its own: HTTP latency, dispatch latency, build and publish durations);
//! the state of the whole site is read from the database at each scrape (queue depth per arch,
//! subtasks by state, agents online, provisioned builders), so every server reports the same.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::entities::{agents, builders, tasks, webhook_deliveries};
use crate::{CoreError, CoreResult, Kiln};

/// Labels of `kiln_http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The request method (`GET`, `POST` …).
    pub method: String,
    /// The route's pattern (`/api/v1/repos/{owner}/{repo}`), never the raw path.
    pub route: String,
    /// The response's HTTP status code.
    pub status: u16,
}

/// Labels of `kiln_build_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// How the build ended: `succeeded`, `failed`, `canceled` or `handed_back`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArchLabels {
    arch: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: String,
    state: String,
}

/// Kiln's Prometheus metrics (prefix `kiln_`): histograms this process observes, and gauges
/// read from the database at each scrape.
pub struct Metrics {
    registry: Registry,
    /// HTTP request durations in seconds, by method, route pattern and status.
    pub http: Family<HttpLabels, Histogram, fn() -> Histogram>,
    /// Subtask queued to claimed by an agent.
    pub dispatch: Histogram,
    /// Subtask claimed to finished, by result.
    pub build: Family<ResultLabels, Histogram, fn() -> Histogram>,
    /// One metadata run of a chroot.
    pub publish: Histogram,
    queue: Family<ArchLabels, Gauge>,
    tasks: Family<StateLabels, Gauge>,
    agents_online: Gauge,
    builders: Family<PoolLabels, Gauge>,
    webhook_deliveries: Family<StateLabels, Gauge>,
}

fn fast() -> Histogram {
    // 0.5 ms … ~33 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

fn slow() -> Histogram {
    // 1 s … ~9 h
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kiln");
        let http = Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(fast);
        let dispatch = fast();
        let build =
            Family::<ResultLabels, Histogram, fn() -> Histogram>::new_with_constructor(slow);
        let publish = fast();
        let queue = Family::<ArchLabels, Gauge>::default();
        let tasks = Family::<StateLabels, Gauge>::default();
        let agents_online = Gauge::default();
        let builders = Family::<PoolLabels, Gauge>::default();
        let webhook_deliveries = Family::<StateLabels, Gauge>::default();
        registry.register(
            "http_request_duration_seconds",
            "HTTP requests by method, route pattern and status",
            http.clone(),
        );
        registry.register(
            "dispatch_latency_seconds",
            "Time from a build being queued to an agent claiming it",
            dispatch.clone(),
        );
        registry.register(
            "build_duration_seconds",
            "Time from claim to finish of each build, by result",
            build.clone(),
        );
        registry.register(
            "publish_duration_seconds",
            "Time of one chroot's metadata run",
            publish.clone(),
        );
        registry.register(
            "queue_depth",
            "Builds waiting for an agent, by architecture",
            queue.clone(),
        );
        registry.register(
            "subtasks",
            "Builds (one SRPM on one mock config) by state",
            tasks.clone(),
        );
        registry.register(
            "agents_online",
            "Agents online and answering within their lease",
            agents_online.clone(),
        );
        registry.register(
            "builders",
            "Provisioned builders by pool and state",
            builders.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries in the log, by state (pending: waiting for the receiver)",
            webhook_deliveries.clone(),
        );
        Metrics {
            registry,
            http,
            dispatch,
            build,
            publish,
            queue,
            tasks,
            agents_online,
            builders,
            webhook_deliveries,
        }
    }
}

impl Metrics {
    /// Records a build's seconds from claim to finish under its `result`.
    pub fn observe_build(&self, result: &str, seconds: f64) {
        self.build
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .observe(seconds);
    }
}

/// Sets a by-state gauge family: every `known` state at 0 (so it shows when empty), then the
/// counts read.
fn set_by_state(family: &Family<StateLabels, Gauge>, known: &[&str], counts: Vec<(String, i64)>) {
    family.clear();
    for state in known {
        family
            .get_or_create(&StateLabels {
                state: (*state).into(),
            })
            .set(0);
    }
    for (state, n) in counts {
        family.get_or_create(&StateLabels { state }).set(n);
    }
}

/// The text exposition, with the site's state read now.
pub async fn render(kiln: &Kiln) -> CoreResult<String> {
    let m = &kiln.metrics;
    let by_state: Vec<(String, i64)> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::State)
        .column_as(tasks::Column::Id.count(), "n")
        .filter(tasks::Column::ParentId.is_not_null())
        .group_by(tasks::Column::State)
        .into_tuple()
        .all(&kiln.db)
        .await?;
    set_by_state(
        &m.tasks,
        &[
            "pending",
            "running",
            "succeeded",
            "failed",
            "canceled",
            "skipped",
        ],
        by_state,
    );
    m.queue.clear();
    for (arch, n) in crate::services::builders::queued_by_arch(kiln).await? {
        m.queue.get_or_create(&ArchLabels { arch }).set(n as i64);
    }
    let now = crate::now();
    let online = agents::Entity::find()
        .filter(agents::Column::State.eq("online"))
        .all(&kiln.db)
        .await?
        .iter()
        .filter(|a| crate::services::builders::responsive(kiln, a, now))
        .count();
    m.agents_online.set(online as i64);
    let pools: Vec<(String, String, i64)> = builders::Entity::find()
        .select_only()
        .column(builders::Column::Pool)
        .column(builders::Column::State)
        .column_as(builders::Column::Id.count(), "n")
        .filter(builders::Column::State.is_in([
            crate::services::builders::ALLOCATING,
            crate::services::builders::RUNNING,
            crate::services::builders::DRAINING,
        ]))
        .group_by(builders::Column::Pool)
        .group_by(builders::Column::State)
        .into_tuple()
        .all(&kiln.db)
        .await?;
    m.builders.clear();
    for (pool, state, n) in pools {
        m.builders.get_or_create(&PoolLabels { pool, state }).set(n);
    }
    let deliveries: Vec<(String, i64)> = webhook_deliveries::Entity::find()
        .select_only()
        .column(webhook_deliveries::Column::State)
        .column_as(webhook_deliveries::Column::Id.count(), "n")
        .group_by(webhook_deliveries::Column::State)
        .into_tuple()
        .all(&kiln.db)
        .await?;
    set_by_state(
        &m.webhook_deliveries,
        &["pending", "succeeded", "failed"],
        deliveries,
    );
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &m.registry)
        .map_err(|e| CoreError::internal(format!("encoding metrics: {e}")))?;
    Ok(out)
}
