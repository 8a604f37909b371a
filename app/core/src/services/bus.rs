//! Events to message buses (MQTT, AMQP) and build e-mails (SMTP). Each has a cursor in the
//! outbox: events after it
//! are published in order, each acknowledged by the broker (MQTT QoS 1, AMQP publisher
//! confirms) before the cursor moves past it; so a broker that is down gets every event once it
//! is back. One server at a time sends to a bus (the cursor row's lock).

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::entities::{event_cursors, events};
use crate::error::{CoreError, CoreResult};
use crate::Kiln;

/// The MQTT topic of an event: `kiln.build.end` → `kiln/build/end`.
pub fn mqtt_topic(topic: &str) -> String {
    topic.replace('.', "/")
}

fn mqtt_options(url: &str) -> CoreResult<MqttOptions> {
    let u =
        url::Url::parse(url).map_err(|e| CoreError::internal(format!("events.mqtt_url: {e}")))?;
    if u.scheme() != "mqtt" {
        return Err(CoreError::internal(
            "events.mqtt_url must be mqtt://HOST[:PORT]",
        ));
    }
    let host = u.host_str().unwrap_or("127.0.0.1").to_owned();
    let id = format!("kiln-{}", uuid::Uuid::new_v4().simple());
    let mut o = MqttOptions::new(id, host, u.port().unwrap_or(1883));
    o.set_keep_alive(Duration::from_secs(30));
    if !u.username().is_empty() {
        o.set_credentials(u.username(), u.password().unwrap_or_default());
    }
    Ok(o)
}

/// Takes the cursor (created at the newest event: a new bus gets what happens from now on).
async fn lock_cursor(kiln: &Kiln, name: &str) -> CoreResult<Option<event_cursors::Model>> {
    let newest: Option<i32> = events::Entity::find()
        .select_only()
        .column_as(events::Column::Id.max(), "m")
        .into_tuple()
        .one(&kiln.db)
        .await?
        .flatten();
    event_cursors::Entity::insert(event_cursors::ActiveModel {
        name: Set(name.to_owned()),
        last_event_id: Set(newest.unwrap_or(0)),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(event_cursors::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&kiln.db)
    .await?;
    let now = crate::now();
    Ok(event_cursors::Entity::update_many()
        .col_expr(
            event_cursors::Column::LockedUntil,
            Expr::value(Some(now + time::Duration::seconds(60))),
        )
        .filter(event_cursors::Column::Name.eq(name))
        .filter(
            sea_orm::Condition::any()
                .add(event_cursors::Column::LockedUntil.is_null())
                .add(event_cursors::Column::LockedUntil.lt(now)),
        )
        .exec_with_returning(&kiln.db)
        .await?
        .into_iter()
        .next())
}

async fn advance(kiln: &Kiln, cursor: i32, to: i32, locked: bool) -> CoreResult<()> {
    let mut q = event_cursors::Entity::update_many()
        .col_expr(event_cursors::Column::LastEventId, Expr::value(to));
    if !locked {
        q = q.col_expr(
            event_cursors::Column::LockedUntil,
            Expr::value(Option::<time::OffsetDateTime>::None),
        );
    }
    q.filter(event_cursors::Column::Id.eq(cursor))
        .exec(&kiln.db)
        .await?;
    Ok(())
}

struct Mqtt {
    client: AsyncClient,
    events: EventLoop,
}

impl Mqtt {
    async fn connect(url: &str) -> CoreResult<Mqtt> {
        let (client, mut events) = AsyncClient::new(mqtt_options(url)?, 64);
        // Until the broker's CONNACK.
        loop {
            match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => return Ok(Mqtt { client, events }),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(CoreError::internal(format!("MQTT: {e}"))),
                Err(_) => return Err(CoreError::internal("MQTT: no answer in 10 s")),
            }
        }
    }

    /// Publishes with QoS 1 and waits for the broker's PUBACK.
    async fn publish(&mut self, topic: &str, body: Vec<u8>) -> CoreResult<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, body)
            .await
            .map_err(|e| CoreError::internal(format!("MQTT: {e}")))?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.events.poll()).await {
                Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(CoreError::internal(format!("MQTT: {e}"))),
                Err(_) => return Err(CoreError::internal("MQTT: no PUBACK in 10 s")),
            }
        }
    }
}

struct Amqp {
    _conn: lapin::Connection,
    channel: lapin::Channel,
    exchange: String,
}

impl Amqp {
    async fn connect(url: &str, exchange: &str) -> CoreResult<Amqp> {
        let err = |e: lapin::Error| CoreError::internal(format!("AMQP: {e}"));
        let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
            .await
            .map_err(err)?;
        let channel = conn.create_channel().await.map_err(err)?;
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .map_err(err)?;
        Ok(Amqp {
            _conn: conn,
            channel,
            exchange: exchange.to_owned(),
        })
    }

    /// Publishes (persistent, JSON) and waits for the broker's confirm.
    async fn publish(&mut self, routing_key: &str, body: Vec<u8>) -> CoreResult<()> {
        let err = |e: lapin::Error| CoreError::internal(format!("AMQP: {e}"));
        let confirm = self
            .channel
            .basic_publish(
                self.exchange.as_str().into(),
                routing_key.into(),
                lapin::options::BasicPublishOptions::default(),
                &body,
                lapin::BasicProperties::default()
                    .with_content_type("application/json".into())
                    .with_delivery_mode(2),
            )
            .await
            .map_err(err)?
            .await
            .map_err(err)?;
        if confirm.is_nack() {
            return Err(CoreError::internal("AMQP: the broker refused the event"));
        }
        Ok(())
    }
}

/// E-mail: the submitter of a build that ended, if they opted in; other events pass.
struct Mail {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
    kiln: Kiln,
}

impl Mail {
    fn connect(kiln: &Kiln, url: &str) -> CoreResult<Mail> {
        let u = url::Url::parse(url)
            .map_err(|e| CoreError::internal(format!("events.smtp_url: {e}")))?;
        if u.scheme() != "smtp" {
            return Err(CoreError::internal(
                "events.smtp_url must be smtp://HOST[:PORT]",
            ));
        }
        let mut b = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(
            u.host_str().unwrap_or("127.0.0.1"),
        )
        .port(u.port().unwrap_or(25))
        .timeout(Some(Duration::from_secs(20)));
        if !u.username().is_empty() {
            b = b.credentials(lettre::transport::smtp::authentication::Credentials::new(
                u.username().to_owned(),
                u.password().unwrap_or_default().to_owned(),
            ));
        }
        let from = kiln
            .config
            .events
            .mail_from
            .parse()
            .map_err(|e| CoreError::internal(format!("events.mail_from: {e}")))?;
        Ok(Mail {
            transport: b.build(),
            from,
            kiln: kiln.clone(),
        })
    }

    async fn publish(&mut self, topic: &str, body: &serde_json::Value) -> CoreResult<()> {
        use lettre::AsyncTransport;
        if topic != "kiln.build.end" {
            return Ok(());
        }
        let data = &body["data"];
        let Some(submitter) = data["submitter"].as_str() else {
            return Ok(());
        };
        let Some(user) = crate::entities::users::Entity::find()
            .filter(crate::entities::users::Column::Username.eq(submitter))
            .one(&self.kiln.db)
            .await?
        else {
            return Ok(());
        };
        let (true, Some(email)) = (user.notify_builds, user.email.clone()) else {
            return Ok(());
        };
        let to: lettre::message::Mailbox = match email.parse() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(user = %user.username, error = %e, "not an e-mail address");
                return Ok(());
            }
        };
        let repo = body["repo"].as_str().unwrap_or_default();
        let id = data["id"].as_i64().unwrap_or_default();
        let state = data["state"].as_str().unwrap_or_default();
        let mut text = format!(
            "Build #{id} of {repo} {state}.\n\n{}/r/{repo}/builds/{id}\n\n",
            self.kiln.config.public_url()
        );
        for s in data["subtasks"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                "  {:<28} {:<10} {}{}\n",
                s["mock_config"].as_str().unwrap_or_default(),
                s["state"].as_str().unwrap_or_default(),
                s["package"].as_str().unwrap_or_default(),
                s["reason"]
                    .as_str()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
            ));
        }
        text.push_str("\nYou get this because you asked for e-mails about your builds.\n");
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("[Kiln] {repo} build #{id} {state}"))
            .body(text)
            .map_err(|e| CoreError::internal(format!("e-mail: {e}")))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| CoreError::internal(format!("SMTP: {e}")))?;
        Ok(())
    }
}

enum Conn {
    Mqtt(Box<Mqtt>),
    Amqp(Box<Amqp>),
    Mail(Box<Mail>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bus {
    Mqtt,
    Amqp,
    Mail,
}

impl Bus {
    fn name(self) -> &'static str {
        match self {
            Bus::Mqtt => "mqtt",
            Bus::Amqp => "amqp",
            Bus::Mail => "mail",
        }
    }

    fn url(self, kiln: &Kiln) -> Option<String> {
        let e = &kiln.config.events;
        match self {
            Bus::Mqtt => e.mqtt_url.as_ref(),
            Bus::Amqp => e.amqp_url.as_ref(),
            Bus::Mail => e.smtp_url.as_ref(),
        }
        .map(|s| s.expose().to_owned())
    }

    async fn connect(self, kiln: &Kiln, url: &str) -> CoreResult<Conn> {
        Ok(match self {
            Bus::Mqtt => Conn::Mqtt(Box::new(Mqtt::connect(url).await?)),
            Bus::Mail => Conn::Mail(Box::new(Mail::connect(kiln, url)?)),
            Bus::Amqp => Conn::Amqp(Box::new(
                Amqp::connect(url, &kiln.config.events.amqp_exchange).await?,
            )),
        })
    }
}

impl Conn {
    async fn publish(&mut self, topic: &str, body: &serde_json::Value) -> CoreResult<()> {
        let bytes = || serde_json::to_vec(body).unwrap_or_default();
        match self {
            Conn::Mqtt(m) => m.publish(&mqtt_topic(topic), bytes()).await,
            Conn::Amqp(a) => a.publish(topic, bytes()).await,
            Conn::Mail(m) => m.publish(topic, body).await,
        }
    }
}

/// Publishes the outbox to MQTT until stopped (when `events.mqtt_url` is set).
pub async fn mqtt_forever(kiln: Kiln) {
    forever(kiln, Bus::Mqtt).await
}

/// Sends build e-mails until stopped (when `events.smtp_url` is set).
pub async fn mail_forever(kiln: Kiln) {
    forever(kiln, Bus::Mail).await
}

/// Publishes the outbox to AMQP until stopped (when `events.amqp_url` is set).
pub async fn amqp_forever(kiln: Kiln) {
    forever(kiln, Bus::Amqp).await
}

async fn forever(kiln: Kiln, bus: Bus) {
    let Some(url) = bus.url(&kiln) else {
        return;
    };
    let mut conn: Option<Conn> = None;
    let mut backoff = Duration::from_secs(1);
    loop {
        match pass(&kiln, bus, &url, &mut conn).await {
            Ok(_) => backoff = Duration::from_secs(1),
            Err(e) => {
                tracing::warn!(bus = bus.name(), error = %e, retry_in_s = backoff.as_secs(), "publishing events");
                conn = None;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        let wake = kiln.events.work.notified();
        tokio::select! {
            _ = wake => {}
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}

/// Sends what is after the cursor, if this server holds it; how many were sent.
async fn pass(kiln: &Kiln, bus: Bus, url: &str, conn: &mut Option<Conn>) -> CoreResult<usize> {
    let Some(cursor) = lock_cursor(kiln, bus.name()).await? else {
        return Ok(0);
    };
    let result = async {
        let pending = events::Entity::find()
            .filter(events::Column::Id.gt(cursor.last_event_id))
            .order_by_asc(events::Column::Id)
            .limit(200)
            .all(&kiln.db)
            .await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let c = match conn {
            Some(c) => c,
            None => conn.insert(bus.connect(kiln, url).await?),
        };
        let mut sent = 0;
        // A private repo's events stay off the buses unless the site opts in (e-mails go to
        // the submitter, a member, either way).
        let skip_private = bus != Bus::Mail && !kiln.config.repos.private_events_on_buses;
        for e in &pending {
            if e.private && skip_private {
                advance(kiln, cursor.id, e.id, true).await?;
                continue;
            }
            let mut body = e.body.clone();
            body["id"] = e.id.into();
            c.publish(&e.topic, &body).await?;
            advance(kiln, cursor.id, e.id, true).await?;
            sent += 1;
        }
        Ok(sent)
    }
    .await;
    // Released whatever happened (the cursor keeps what was acknowledged).
    let last = event_cursors::Entity::find_by_id(cursor.id)
        .one(&kiln.db)
        .await?
        .map(|c| c.last_event_id)
        .unwrap_or(cursor.last_event_id);
    advance(kiln, cursor.id, last, false).await?;
    result
}
