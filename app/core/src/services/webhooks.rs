//! Webhooks: per-repo receivers of the repo's events (repo admins manage them), each event
//! POSTed as JSON signed with HMAC-SHA256 under the webhook's secret (sealed at rest), in order
//! per webhook, retried 1, 2, 4 … s apart, with a delivery log. Deliveries reach only public
//! addresses (`outbound`).

use std::collections::HashMap;
use std::net::IpAddr;

use hmac::{Hmac, Mac};
use kiln_proto::{Webhook, WebhookCreate, WebhookCreated, WebhookDelivery};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use sha2::Sha256;

use super::access::authorize_repo;
use super::events::{queue_delivery, VERSION};
use super::outbound::{guard, is_public, public_addresses};
use crate::entities::{events, webhook_deliveries, webhooks};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::Kiln;

/// Attempts before a delivery is given up (about a day of backoff).
const MAX_ATTEMPTS: i32 = 30;

fn to_wire(w: &webhooks::Model) -> Webhook {
    Webhook {
        id: w.id,
        url: w.url.clone(),
        active: w.active,
        created_at: w.created_at,
    }
}

async fn validate_url(kiln: &Kiln, url: &str) -> CoreResult<()> {
    let parsed = url::Url::parse(url)
        .map_err(|e| CoreError::validation("url", format!("is not a URL: {e}")))?;
    if !["http", "https"].contains(&parsed.scheme()) || parsed.host().is_none() {
        return Err(CoreError::validation(
            "url",
            "must be an http:// or https:// URL",
        ));
    }
    if url.len() > 2000 {
        return Err(CoreError::validation(
            "url",
            "is longer than 2000 characters",
        ));
    }
    if !kiln.config.events.webhooks_to_private_addresses {
        let host = parsed.host_str().unwrap_or_default();
        let port = parsed.port_or_known_default().unwrap_or(80);
        public_addresses(host, port).await.map_err(|e| {
            CoreError::validation(
                "url",
                format!(
                    "{e}; a site admin can allow such webhooks with \
                     events.webhooks_to_private_addresses"
                ),
            )
        })?;
    }
    Ok(())
}

/// Adds a webhook to the repo (repo admins) and returns it with its signing secret, shown this
/// once. Refuses with a validation error a URL that is not http(s), is over 2000 characters
/// or (unless `events.webhooks_to_private_addresses`) does not resolve to public addresses only.
pub async fn create_webhook(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    input: WebhookCreate,
) -> CoreResult<WebhookCreated> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageWebhooks).await?;
    validate_url(kiln, &input.url).await?;
    let secret = crate::secret::new_token("whsec_");
    let txn = kiln.begin().await?;
    let row = webhooks::ActiveModel {
        repo_id: Set(ctx.repo.id),
        url: Set(input.url.clone()),
        // Sealed at rest: the HMAC needs the secret itself, so it cannot be hashed.
        secret: Set(crate::secret::seal(&kiln.server_key, secret.expose())),
        active: Set(true),
        created_at: Set(crate::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    super::audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        "webhook.create",
        &format!("webhook:{}", row.id),
        serde_json::json!({"url": input.url}),
    )
    .await?;
    txn.commit().await?;
    Ok(WebhookCreated {
        webhook: to_wire(&row),
        secret: secret.expose().to_owned(),
    })
}

/// The repo's webhooks, oldest first (repo admins).
pub async fn list_webhooks(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
) -> CoreResult<Vec<Webhook>> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageWebhooks).await?;
    Ok(webhooks::Entity::find()
        .filter(webhooks::Column::RepoId.eq(ctx.repo.id))
        .order_by_asc(webhooks::Column::Id)
        .all(&kiln.db)
        .await?
        .iter()
        .map(to_wire)
        .collect())
}

async fn find_webhook(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    id: i32,
) -> CoreResult<(webhooks::Model, super::access::RepoCtx)> {
    let ctx = authorize_repo(kiln, principal, owner, repo, Action::ManageWebhooks).await?;
    let hook = webhooks::Entity::find_by_id(id)
        .filter(webhooks::Column::RepoId.eq(ctx.repo.id))
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no webhook {id} in this repo")))?;
    Ok((hook, ctx))
}

/// Deletes the repo's webhook `id` and its delivery log (repo admins); 404 when the repo has
/// no such webhook.
pub async fn delete_webhook(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    id: i32,
) -> CoreResult<()> {
    let (hook, ctx) = find_webhook(kiln, principal, owner, repo, id).await?;
    let txn = kiln.begin().await?;
    webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::WebhookId.eq(hook.id))
        .exec(&txn)
        .await?;
    webhooks::Entity::delete_by_id(hook.id).exec(&txn).await?;
    super::audit::record(
        &txn,
        Some(ctx.repo.id),
        principal,
        "webhook.delete",
        &format!("webhook:{}", hook.id),
        serde_json::json!({"url": hook.url}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// "Send test": a `kiln.webhook.test` event for this webhook alone.
pub async fn send_test(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    id: i32,
) -> CoreResult<WebhookDelivery> {
    let (hook, ctx) = find_webhook(kiln, principal, owner, repo, id).await?;
    let txn = kiln.begin().await?;
    let now = crate::now();
    crate::db::events_turn(&txn).await?;
    let event = events::ActiveModel {
        topic: Set("kiln.webhook.test".into()),
        repo_id: Set(None),
        body: Set(serde_json::json!({
            "topic": "kiln.webhook.test",
            "version": VERSION,
            "time": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "repo": ctx.full_name(),
            "data": {"webhook": hook.id, "requested_by": principal.user().map(|u| u.username.clone())},
        })),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    queue_delivery(&txn, hook.id, event.id).await?;
    txn.commit().await?;
    kiln.events.work_available();
    let d = webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::EventId.eq(event.id))
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::internal("the test delivery vanished"))?;
    Ok(delivery_wire(&d, "kiln.webhook.test"))
}

fn delivery_wire(d: &webhook_deliveries::Model, topic: &str) -> WebhookDelivery {
    WebhookDelivery {
        id: d.id,
        event_id: d.event_id,
        topic: topic.to_owned(),
        state: d.state.clone(),
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at,
        response_code: d.response_code,
        error: d.error.clone(),
        created_at: d.created_at,
        delivered_at: d.delivered_at,
    }
}

/// The delivery log of a webhook, newest first (100 at most).
pub async fn deliveries(
    kiln: &Kiln,
    principal: &Principal,
    owner: &str,
    repo: &str,
    id: i32,
) -> CoreResult<Vec<WebhookDelivery>> {
    let (hook, _) = find_webhook(kiln, principal, owner, repo, id).await?;
    let rows = webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::WebhookId.eq(hook.id))
        .order_by_desc(webhook_deliveries::Column::Id)
        .limit(100)
        .all(&kiln.db)
        .await?;
    let topics: HashMap<i32, String> = events::Entity::find()
        .select_only()
        .column(events::Column::Id)
        .column(events::Column::Topic)
        .filter(events::Column::Id.is_in(rows.iter().map(|d| d.event_id).collect::<Vec<_>>()))
        .into_tuple()
        .all(&kiln.db)
        .await?
        .into_iter()
        .collect();
    Ok(rows
        .iter()
        .map(|d| delivery_wire(d, topics.get(&d.event_id).map(String::as_str).unwrap_or("")))
        .collect())
}

/// `sha256=HEX` of HMAC-SHA256(secret, body).
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers due webhook deliveries until stopped. Per webhook, events go in order: only its
/// oldest pending delivery is tried.
pub async fn deliver_forever(kiln: Kiln) {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kiln-webhooks/", env!("CARGO_PKG_VERSION")));
    let http = match guard(http, kiln.config.events.webhooks_to_private_addresses).build() {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for webhooks");
            return;
        }
    };
    loop {
        match deliver_due(&kiln, &http).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhook deliveries"),
        }
        let wake = kiln.events.work.notified();
        tokio::select! {
            _ = wake => {}
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
    }
}

/// One pass: the oldest pending delivery of each webhook, if it is due. Returns how many were
/// tried.
pub async fn deliver_due(kiln: &Kiln, http: &reqwest::Client) -> CoreResult<usize> {
    let now = crate::now();
    let heads: Vec<(i32, i32)> = webhook_deliveries::Entity::find()
        .select_only()
        .column(webhook_deliveries::Column::WebhookId)
        .column_as(webhook_deliveries::Column::Id.min(), "id")
        .filter(webhook_deliveries::Column::State.eq("pending"))
        .group_by(webhook_deliveries::Column::WebhookId)
        .into_tuple()
        .all(&kiln.db)
        .await?;
    let mut tried = 0;
    for (hook_id, delivery_id) in heads {
        let Some(d) = webhook_deliveries::Entity::find_by_id(delivery_id)
            .one(&kiln.db)
            .await?
        else {
            continue;
        };
        if d.next_attempt_at > now {
            continue;
        }
        // One server at a time: the attempt is claimed by moving its next attempt forward.
        let claimed = webhook_deliveries::Entity::update_many()
            .col_expr(
                webhook_deliveries::Column::NextAttemptAt,
                Expr::value(now + time::Duration::seconds(60)),
            )
            .filter(webhook_deliveries::Column::Id.eq(d.id))
            .filter(webhook_deliveries::Column::NextAttemptAt.eq(d.next_attempt_at))
            .exec(&kiln.db)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let (Some(hook), Some(event)) = (
            webhooks::Entity::find_by_id(hook_id).one(&kiln.db).await?,
            events::Entity::find_by_id(d.event_id).one(&kiln.db).await?,
        ) else {
            continue;
        };
        tried += 1;
        let Some(secret) = crate::secret::unseal(&kiln.server_key, &hook.secret) else {
            let error = "the webhook's secret cannot be read (was the server key changed?)";
            record_attempt(kiln, d, None, Some(error.to_owned())).await?;
            continue;
        };
        let mut body = event.body.clone();
        body["id"] = event.id.into();
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        // The resolver checks names; an address written in the URL is checked here.
        let literal = url::Url::parse(&hook.url)
            .ok()
            .and_then(|u| match u.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            });
        if let Some(ip) = literal
            .filter(|ip| !kiln.config.events.webhooks_to_private_addresses && !is_public(*ip))
        {
            let error = format!(
                "{ip} is not a public address; events.webhooks_to_private_addresses is off"
            );
            record_attempt(kiln, d, None, Some(error)).await?;
            continue;
        }
        let result = http
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("x-kiln-event", &event.topic)
            .header("x-kiln-delivery", d.id.to_string())
            .header("x-kiln-signature", signature(secret.expose(), &bytes))
            .body(bytes)
            .send()
            .await;
        let (code, error) = match result {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16() as i32), None),
            Ok(r) => (
                Some(r.status().as_u16() as i32),
                Some(format!("the receiver answered {}", r.status())),
            ),
            Err(e) => (None, Some(delivery_error(&e))),
        };
        record_attempt(kiln, d, code, error).await?;
    }
    Ok(tried)
}

/// What the delivery log says of a failed request: the refusal of a non-public address as
/// such, else the kind of failure.
fn delivery_error(e: &reqwest::Error) -> String {
    let mut deepest = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        deepest = s.to_string();
        source = s.source();
    }
    if deepest.contains("not a public address") || deepest.contains("resolve") {
        deepest
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else if e.is_timeout() {
        "timed out after 10 s".to_owned()
    } else {
        e.to_string()
    }
}

/// Writes an attempt's outcome to the delivery log: delivered, or tried again after 1, 2,
/// 4 … s (at most an hour apart) until `MAX_ATTEMPTS`.
async fn record_attempt(
    kiln: &Kiln,
    d: webhook_deliveries::Model,
    code: Option<i32>,
    error: Option<String>,
) -> CoreResult<()> {
    let attempts = d.attempts + 1;
    let mut row: webhook_deliveries::ActiveModel = d.into();
    row.attempts = Set(attempts);
    row.response_code = Set(code);
    row.error = Set(error.clone());
    if error.is_none() {
        row.state = Set("succeeded".into());
        row.delivered_at = Set(Some(crate::now()));
    } else if attempts >= MAX_ATTEMPTS {
        row.state = Set("failed".into());
    } else {
        let wait = 2i64.pow((attempts - 1).clamp(0, 12) as u32).min(3600);
        row.next_attempt_at = Set(crate::now() + time::Duration::seconds(wait));
    }
    row.update(&kiln.db).await?;
    Ok(())
}

/// Seals webhook secrets stored before secrets were sealed at rest (once, at start).
pub async fn seal_stored_secrets(kiln: &Kiln) -> CoreResult<()> {
    let plain = webhooks::Entity::find()
        .filter(webhooks::Column::Secret.not_like("enc1:%"))
        .all(&kiln.db)
        .await?;
    for hook in plain {
        let sealed = crate::secret::seal(&kiln.server_key, &hook.secret);
        let mut row: webhooks::ActiveModel = hook.into();
        row.secret = Set(sealed);
        row.update(&kiln.db).await?;
    }
    Ok(())
}
