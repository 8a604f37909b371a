//! Events through webhooks: a real HTTP receiver gets one signed message per build event
//! (submit, start, end with the subtasks inside, publish) and per repo or membership change;
//! while it is down its deliveries wait in the outbox and all arrive, in order, once it is
//! back; the delivery log shows the response codes; "send test"; only repo admins manage
//! webhooks; by default no webhook reaches a private address, whatever DNS says later; old
//! events go once nothing waits for them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use kiln_proto::Role;
use kiln_tests::pipeline::{have_rpmbuild, srpm, submit_files, wait_for, Agent};
use kiln_tests::{TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// What the receiver got: (topic header, signature header, body).
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A webhook receiver on a fixed port that can be stopped and started again.
struct Receiver {
    port: u16,
    got: Received,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    async fn start(port: u16, got: Received) -> Receiver {
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |axum::extract::State(got): axum::extract::State<Received>,
                     headers: axum::http::HeaderMap,
                     body: axum::body::Bytes| async move {
                        let h = |n: &str| {
                            headers
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        got.lock().expect("lock").push((
                            h("x-kiln-event"),
                            h("x-kiln-signature"),
                            body.to_vec(),
                        ));
                        StatusCode::OK
                    },
                ),
            )
            .route(
                "/broken",
                axum::routing::post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .with_state(got.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the receiver");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            port,
            got,
            task: Some(task),
        }
    }

    async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The messages so far, their signatures checked against `secret`.
    fn messages(&self, secret: &str) -> Vec<Value> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .map(|(topic, sig, body)| {
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
                mac.update(body);
                let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                assert_eq!(sig, &want, "signature of a {topic} message");
                let v: Value = serde_json::from_slice(body).expect("JSON body");
                assert_eq!(v["topic"], topic.as_str());
                assert_eq!(v["version"], 1);
                v
            })
            .collect()
    }
}

async fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// bob becomes a packager of `repo`, then its description changes: two events, in order.
async fn two_changes(app: &TestApp, token: &str, repo: &str) {
    let (s, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/repos/{repo}/members/bob"),
            Some(token),
            Some(json!({"role": Role::Packager})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/repos/{repo}"),
            Some(token),
            Some(json!({"description": "changed while the receiver was away"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

/// alice (owner of alice/tools), bob, and a webhook of alice/tools to a running receiver (as
/// made: the answer with its secret).
async fn repo_with_webhook(app: &TestApp) -> (TestUser, TestUser, Receiver, Received, Value) {
    let alice = app.user("alice", false).await;
    let bob = app.user("bob", false).await;
    app.repo(&alice, "tools", &[]).await;
    let got: Received = Arc::default();
    let receiver = Receiver::start(0, got.clone()).await;
    let (s, created) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/webhooks",
            Some(&alice.token),
            Some(json!({"url": receiver.url("/hook")})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    (alice, bob, receiver, got, created)
}

fn topics(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["topic"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_get_every_event_signed_in_order_even_after_an_outage() {
    if !have_rpmbuild() {
        return;
    }
    let Some(app) = TestApp::with_config(|c| {
        c.builds.lease_seconds = 3;
        // The receiver is on 127.0.0.1.
        c.events.webhooks_to_private_addresses = true;
    })
    .await
    else {
        return;
    };
    // Repo admins manage webhooks; the secret is shown once.
    let (alice, bob, mut receiver, got, created) = repo_with_webhook(&app).await;
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let id = created["id"].as_i64().expect("id");
    let (_, list) = app
        .get("/api/v1/repos/alice/tools/webhooks", Some(&alice.token))
        .await;
    assert!(
        !list.to_string().contains(&secret),
        "the secret is shown once"
    );
    // Sealed at rest (under a key from the server key); the signatures below show it opens.
    {
        use kiln_core::entities::webhooks;
        use sea_orm::EntityTrait;
        let row = webhooks::Entity::find_by_id(id as i32)
            .one(&app.kiln.db)
            .await
            .expect("db")
            .expect("row");
        assert!(row.secret.starts_with("enc1:"), "{}", row.secret);
        assert!(!row.secret.contains(&secret));
    }
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/webhooks",
            Some(&alice.token),
            Some(json!({"url": "ftp://example.org/x"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");

    // "Send test".
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/repos/alice/tools/webhooks/{id}/test"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    wait_until(10, "the test message", || {
        !got.lock().expect("lock").is_empty()
    })
    .await;
    assert_eq!(topics(&receiver.messages(&secret)), ["kiln.webhook.test"]);

    // A build: one message per step of the build, the subtasks inside.
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    let dir = tempfile::tempdir().expect("dir");
    let hello = srpm("kiln-hello", dir.path());
    let task = submit_files(&app, &alice.token, "alice/tools", &[&hello], &[]).await;
    let build = task["id"].as_i64().expect("id");
    wait_for(&app, build, 60, |t| t["publish_state"] == "published").await;
    wait_until(15, "the publish message", || {
        got.lock()
            .expect("lock")
            .iter()
            .any(|(t, _, _)| t == "kiln.build.publish")
    })
    .await;
    let messages = receiver.messages(&secret);
    assert_eq!(
        topics(&messages),
        [
            "kiln.webhook.test",
            "kiln.build.submit",
            "kiln.build.start",
            "kiln.build.end",
            "kiln.build.publish"
        ]
    );
    let end = &messages[3];
    // The message schema (version 1) is pinned: a change to it shows here first.
    insta::assert_json_snapshot!("build_end_v1", end, {
        ".id" => "[event id]",
        ".time" => "[time]",
        ".data.id" => "[build id]",
        ".data.subtasks[].id" => "[subtask id]",
    });
    assert_eq!(end["repo"], "alice/tools");
    assert_eq!(end["data"]["id"], build);
    assert_eq!(end["data"]["state"], "succeeded");
    assert_eq!(
        end["data"]["subtasks"][0]["mock_config"],
        "fedora-44-x86_64"
    );
    assert_eq!(end["data"]["subtasks"][0]["state"], "succeeded");
    let ids: Vec<i64> = messages.iter().filter_map(|m| m["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");

    // The receiver goes down; changes go on; nothing is lost.
    receiver.stop().await;
    got.lock().expect("lock").clear();
    two_changes(&app, &alice.token, "alice/tools").await;
    let log_path = format!("/api/v1/repos/alice/tools/webhooks/{id}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, log) = app.get(&log_path, Some(&alice.token)).await;
        let first = &log[1]; // newest first: the member change, then the repo update
        if first["attempts"].as_i64() >= Some(2) {
            assert_eq!(first["topic"], "kiln.member.update");
            assert_eq!(first["state"], "pending");
            assert_eq!(first["error"], "could not connect");
            // Operators see it waiting.
            let metrics = app.metrics().await;
            assert!(
                metrics.contains("kiln_webhook_deliveries{state=\"pending\"} 2"),
                "{metrics}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{log:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let receiver = Receiver::start(receiver.port, got.clone()).await;
    wait_until(30, "the held messages", || {
        got.lock().expect("lock").len() >= 2
    })
    .await;
    let messages = receiver.messages(&secret);
    assert_eq!(
        topics(&messages),
        ["kiln.member.update", "kiln.repo.update"],
        "both, in order, once"
    );
    assert_eq!(messages[0]["data"]["target"], "bob");
    insta::assert_json_snapshot!("member_update_v1", messages[0], {
        ".id" => "[event id]",
        ".time" => "[time]",
    });
    let (_, log) = app.get(&log_path, Some(&alice.token)).await;
    assert!(log
        .as_array()
        .expect("log")
        .iter()
        .all(|d| d["state"] == "succeeded" && d["response_code"] == 200));
    let retried = &log[1];
    assert!(retried["attempts"].as_i64() >= Some(2), "{retried}");

    // A receiver that answers 500: the log shows it, and it is tried again.
    let (_, broken) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/webhooks",
            Some(&alice.token),
            Some(json!({"url": receiver.url("/broken")})),
        )
        .await;
    let broken_id = broken["id"].as_i64().expect("id");
    app.call(
        Method::POST,
        &format!("/api/v1/repos/alice/tools/webhooks/{broken_id}/test"),
        Some(&alice.token),
        None,
    )
    .await;
    let broken_log = format!("/api/v1/repos/alice/tools/webhooks/{broken_id}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, log) = app.get(&broken_log, Some(&alice.token)).await;
        if log[0]["response_code"] == 500 {
            assert_eq!(log[0]["state"], "pending");
            break;
        }
        assert!(Instant::now() < deadline, "{log:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A packager sees no webhooks.
    let (s, _) = app
        .get("/api/v1/repos/alice/tools/webhooks", Some(&bob.token))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------------------------------------
// MQTT

/// A TCP proxy to the real broker, which the test stops and starts to take the broker away
/// from Kiln and bring it back (the broker itself is shared by the machine).
struct Proxy {
    port: u16,
    tasks: tokio::task::JoinSet<()>,
}

impl Proxy {
    async fn start(port: u16, to: &'static str) -> Proxy {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("addr").port();
        let mut tasks = tokio::task::JoinSet::new();
        let conns = Arc::new(Mutex::new(Vec::<tokio::task::AbortHandle>::new()));
        let held = conns.clone();
        tasks.spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let handle = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                held.lock().expect("lock").push(handle.abort_handle());
            }
        });
        // Closing the proxy closes its connections too.
        tasks.spawn(async move {
            struct Closer(Arc<Mutex<Vec<tokio::task::AbortHandle>>>);
            impl Drop for Closer {
                fn drop(&mut self) {
                    for h in self.0.lock().expect("lock").drain(..) {
                        h.abort();
                    }
                }
            }
            let _closer = Closer(conns);
            std::future::pending::<()>().await;
        });
        Proxy { port, tasks }
    }

    async fn stop(mut self) -> u16 {
        self.tasks.shutdown().await;
        self.port
    }
}

type Heard = Arc<Mutex<Vec<(String, Value)>>>;

/// Whether a broker answers at `addr`; outside CI a missing one skips the test with a notice.
async fn broker_up(addr: &str, what: &str) -> bool {
    if tokio::net::TcpStream::connect(addr).await.is_ok() {
        return true;
    }
    assert!(!kiln_tests::in_ci(), "{what} at {addr} is required in CI");
    eprintln!("NOTICE: skipping the {what} test: nothing answers at {addr}");
    false
}

/// Kiln publishes to `broker` through a proxy; a subscriber on the broker itself fills
/// `heard` with (topic or routing key, message). A repo is created; the proxy stops; two
/// changes are made; the proxy comes back: all three arrive, in order, with `sep` between the
/// topic's words.
async fn events_survive_a_broker_outage(
    broker: &'static str,
    url_of: impl Fn(u16) -> String + Send + Sync + 'static,
    heard: Heard,
    sep: &str,
) {
    let proxy = Proxy::start(0, broker).await;
    let url = url_of(proxy.port);
    let is_mqtt = url.starts_with("mqtt:");
    let Some(app) = TestApp::with_config(move |c| {
        let secret = Some(kiln_core::secret::Secret::new(url.clone()));
        if is_mqtt {
            c.events.mqtt_url = secret;
        } else {
            c.events.amqp_url = secret;
        }
    })
    .await
    else {
        return;
    };
    let alice = app.user("alice", false).await;
    app.user("bob", false).await;
    // A repo name of this run alone: the broker is shared.
    let repo = format!("bus{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let full = format!("alice/{repo}");
    let mine = |heard: &Heard| -> Vec<(String, Value)> {
        heard
            .lock()
            .expect("lock")
            .iter()
            .filter(|(_, v)| v["repo"] == full.as_str())
            .cloned()
            .collect()
    };
    app.repo(&alice, &repo, &[]).await;
    wait_until(15, "the repo's creation", || !mine(&heard).is_empty()).await;
    let first = mine(&heard);
    assert_eq!(first[0].1["topic"], "kiln.repo.create");
    assert_eq!(first[0].1["version"], 1);

    let port = proxy.stop().await;
    two_changes(&app, &alice.token, &full).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        mine(&heard).len(),
        1,
        "nothing passes while the broker is away"
    );
    let _proxy = Proxy::start(port, broker).await;
    wait_until(60, "the held events", || mine(&heard).len() >= 3).await;
    let all = mine(&heard);
    let topics: Vec<String> = all.iter().map(|(t, _)| t.clone()).collect();
    let want: Vec<String> = ["kiln.repo.create", "kiln.member.update", "kiln.repo.update"]
        .iter()
        .map(|t| t.replace('.', sep))
        .collect();
    assert_eq!(topics, want);
    let ids: Vec<i64> = all.iter().filter_map(|(_, v)| v["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

/// A subscriber to `kiln/#` on the local MQTT broker, ready when this returns: what it hears.
async fn mqtt_subscriber() -> Heard {
    let mut options = rumqttc::MqttOptions::new(
        format!("kiln-test-{}", uuid::Uuid::new_v4().simple()),
        "127.0.0.1",
        1883,
    );
    options.set_keep_alive(Duration::from_secs(30));
    let (sub, mut sub_loop) = rumqttc::AsyncClient::new(options, 64);
    sub.subscribe("kiln/#", rumqttc::QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let heard: Heard = Arc::default();
    let sink = heard.clone();
    let listening = Arc::new(tokio::sync::Notify::new());
    let ready = listening.clone();
    tokio::spawn(async move {
        while let Ok(ev) = sub_loop.poll().await {
            match ev {
                rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) => ready.notify_one(),
                rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) => {
                    if let Ok(v) = serde_json::from_slice::<Value>(&p.payload) {
                        sink.lock().expect("lock").push((p.topic.clone(), v));
                    }
                }
                _ => {}
            }
        }
    });
    listening.notified().await;
    heard
}

#[tokio::test(flavor = "multi_thread")]
async fn events_reach_an_mqtt_subscriber_even_after_a_broker_outage() {
    const BROKER: &str = "127.0.0.1:1883";
    if !broker_up(BROKER, "MQTT broker").await {
        return;
    }
    let heard = mqtt_subscriber().await;
    events_survive_a_broker_outage(
        BROKER,
        |port| format!("mqtt://127.0.0.1:{port}"),
        heard,
        "/",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_reach_an_amqp_consumer_even_after_a_broker_outage() {
    use futures::StreamExt;
    use lapin::options::{
        BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions,
    };
    const BROKER: &str = "127.0.0.1:5672";
    if !broker_up(BROKER, "AMQP broker").await {
        return;
    }
    let conn = lapin::Connection::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect("connect to RabbitMQ");
    let ch = conn.create_channel().await.expect("channel");
    let queue = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .expect("queue");
    ch.queue_bind(
        queue.name().as_str().into(),
        "amq.topic".into(),
        "kiln.#".into(),
        QueueBindOptions::default(),
        Default::default(),
    )
    .await
    .expect("bind");
    let mut consumer = ch
        .basic_consume(
            queue.name().as_str().into(),
            "kiln-test".into(),
            BasicConsumeOptions::default(),
            Default::default(),
        )
        .await
        .expect("consume");
    let heard: Heard = Arc::default();
    let sink = heard.clone();
    tokio::spawn(async move {
        let _conn = conn;
        while let Some(Ok(d)) = consumer.next().await {
            if let Ok(v) = serde_json::from_slice::<Value>(&d.data) {
                sink.lock()
                    .expect("lock")
                    .push((d.routing_key.as_str().to_owned(), v));
            }
            let _ = d.ack(BasicAckOptions::default()).await;
        }
    });
    events_survive_a_broker_outage(
        BROKER,
        |port| format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        heard,
        ".",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// E-mail

/// A real SMTP server process: Python's `smtpd` DebuggingServer (Python 3.11), which prints
/// every message it receives.
fn smtp_server(port: u16, out: &std::path::Path) -> Option<std::process::Child> {
    let child = std::process::Command::new("python3")
        .args([
            "-W",
            "ignore",
            "-u",
            "-m",
            "smtpd",
            "-n",
            "-c",
            "DebuggingServer",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::fs::File::create(out).expect("out"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    Some(child)
}

#[tokio::test(flavor = "multi_thread")]
async fn opted_in_submitters_get_one_email_per_build() {
    if !have_rpmbuild() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("smtp.out");
    let Some(mut smtp) = smtp_server(port, &out) else {
        assert!(!kiln_tests::in_ci(), "python3 is needed in CI");
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline || smtp.try_wait().ok().flatten().is_some() {
            let _ = smtp.kill();
            assert!(
                !kiln_tests::in_ci(),
                "the SMTP server (python3 -m smtpd) did not start"
            );
            eprintln!("NOTICE: skipping the e-mail test: python3 -m smtpd is not available");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _smtp = Kill(smtp);
    let Some(app) = TestApp::with_config(move |c| {
        c.builds.lease_seconds = 3;
        c.events.smtp_url = Some(kiln_core::secret::Secret::new(format!(
            "smtp://127.0.0.1:{port}"
        )));
        c.events.mail_from = "Kiln builds <builds@kiln.example.org>".into();
    })
    .await
    else {
        return;
    };
    let alice = app.user("alice", false).await;
    let bob = app.user("bob", false).await;
    app.repo(&alice, "tools", &[(&bob, Role::Packager)]).await;
    // Addresses as an identity provider would have given them.
    {
        use kiln_core::entities::users;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        for name in ["alice", "bob"] {
            users::Entity::update_many()
                .col_expr(
                    users::Column::Email,
                    sea_orm::sea_query::Expr::value(format!("{name}@example.org")),
                )
                .filter(users::Column::Username.eq(name))
                .exec(&app.kiln.db)
                .await
                .expect("email");
        }
    }
    // Alice opts in; bob does not. A bad body is refused.
    let (s, me) = app
        .call(
            Method::PATCH,
            "/api/v1/me",
            Some(&alice.token),
            Some(json!({"notify_builds": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["notify_builds"], true);
    let (s, _) = app
        .call(
            Method::PATCH,
            "/api/v1/me",
            Some(&alice.token),
            Some(json!({"notify": true})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    let srpms = tempfile::tempdir().expect("dir");
    let hello = srpm("kiln-hello", srpms.path());
    let mine = submit_files(&app, &alice.token, "alice/tools", &[&hello], &[]).await;
    let theirs = submit_files(&app, &bob.token, "alice/tools", &[&hello], &[]).await;
    for t in [&mine, &theirs] {
        wait_for(&app, t["id"].as_i64().expect("id"), 60, |t| {
            t["state"] == "succeeded"
        })
        .await;
    }
    let id = mine["id"].as_i64().expect("id");
    let subject = format!("Subject: [Kiln] alice/tools build #{id} succeeded");
    wait_until(30, "alice's e-mail", || {
        std::fs::read_to_string(&out).is_ok_and(|t| t.contains(&subject))
    })
    .await;
    // Bob's build ended too, later: give its (absent) e-mail the time to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let text = std::fs::read_to_string(&out).expect("smtp output");
    assert_eq!(text.matches("MESSAGE FOLLOWS").count(), 1, "{text}");
    assert!(text.contains("To: alice@example.org"), "{text}");
    assert!(text.contains("builds@kiln.example.org"), "{text}");
    assert!(
        text.contains(&format!("/r/alice/tools/builds/{id}")),
        "{text}"
    );
    assert!(text.contains("fedora-44-x86_64"), "{text}");
    assert!(!text.contains("bob@example.org"), "bob did not opt in");
}

/// By default a webhook cannot point into the server's own network: loopback, private,
/// link-local (cloud metadata) and mapped addresses are refused when the webhook is made, and
/// at delivery a name that now resolves to such an address is refused too (a real receiver
/// listens there and gets nothing).
#[tokio::test(flavor = "multi_thread")]
async fn webhooks_do_not_reach_private_addresses_by_default() {
    let Some(app) = TestApp::new().await else {
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let got: Received = Arc::default();
    let receiver = Receiver::start(0, got.clone()).await;
    let port = receiver.port;
    for url in [
        receiver.url("/hook"),
        format!("http://localhost:{port}/hook"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.1.2.3/hook".to_owned(),
        format!("http://[::1]:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        "http://0.0.0.0/hook".to_owned(),
    ] {
        let (s, body) = app
            .call(
                Method::POST,
                "/api/v1/repos/alice/tools/webhooks",
                Some(&alice.token),
                Some(json!({ "url": url })),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert!(
            body.to_string().contains("is not a public address"),
            "{url}: {body}"
        );
    }
    let (_, list) = app
        .get("/api/v1/repos/alice/tools/webhooks", Some(&alice.token))
        .await;
    assert_eq!(list, json!([]), "nothing stored");

    // A name that resolved to a public address when the webhook was made and resolves to
    // loopback now (DNS rebinding): the row is written as creation would have.
    use kiln_core::entities::webhooks;
    use sea_orm::{ActiveModelTrait, Set};
    let repo_id: i32 = app
        .get("/api/v1/repos/alice/tools", Some(&alice.token))
        .await
        .1["id"]
        .as_i64()
        .expect("repo id") as i32;
    let hook = webhooks::ActiveModel {
        repo_id: Set(repo_id),
        url: Set(format!("http://localhost:{port}/hook")),
        secret: Set("whsec_test".into()),
        active: Set(true),
        created_at: Set(kiln_core::now()),
        ..Default::default()
    }
    .insert(&app.kiln.db)
    .await
    .expect("insert");
    // A secret stored before secrets were sealed is sealed at start.
    kiln_core::services::webhooks::seal_stored_secrets(&app.kiln)
        .await
        .expect("seal");
    use sea_orm::EntityTrait;
    let stored = webhooks::Entity::find_by_id(hook.id)
        .one(&app.kiln.db)
        .await
        .expect("db")
        .expect("row")
        .secret;
    assert!(stored.starts_with("enc1:") && !stored.contains("whsec_test"));
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/repos/alice/tools/webhooks/{}/test", hook.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let log_path = format!("/api/v1/repos/alice/tools/webhooks/{}/deliveries", hook.id);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, log) = app.get(&log_path, Some(&alice.token)).await;
        if log[0]["attempts"].as_i64() >= Some(1) {
            let error = log[0]["error"].as_str().unwrap_or_default();
            assert!(
                error.contains("localhost is not a public address"),
                "{log:#}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{log:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        got.lock().expect("lock").is_empty(),
        "the receiver got nothing"
    );
}

/// `events.keep_days`: events past it go with their delivery log, except what a webhook (a
/// pending delivery) or a bus still served (its cursor) has still to send.
#[tokio::test(flavor = "multi_thread")]
async fn old_events_go_once_nothing_waits_for_them() {
    use kiln_core::entities::{event_cursors, events, webhook_deliveries};
    use sea_orm::sea_query::Expr;
    use sea_orm::{
        ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    };
    let Some(app) = TestApp::with_config(|c| {
        c.events.webhooks_to_private_addresses = true;
        c.events.keep_days = 1;
    })
    .await
    else {
        return;
    };
    let db = &app.kiln.db;
    let (alice, _, mut receiver, got, created) = repo_with_webhook(&app).await;
    let id = created["id"].as_i64().expect("id");
    let log_path = format!("/api/v1/repos/alice/tools/webhooks/{id}/deliveries");
    // Delivered: bob joins. Then the receiver goes: the description change waits.
    app.call(
        Method::PUT,
        "/api/v1/repos/alice/tools/members/bob",
        Some(&alice.token),
        Some(json!({"role": Role::Packager})),
    )
    .await;
    wait_until(10, "the member message", || {
        !got.lock().expect("lock").is_empty()
    })
    .await;
    receiver.stop().await;
    app.call(
        Method::PATCH,
        "/api/v1/repos/alice/tools",
        Some(&alice.token),
        Some(json!({"description": "waiting"})),
    )
    .await;
    let all = events::Entity::find().count(db).await.expect("count");
    assert!(all >= 3, "repo.create, member.update, repo.update: {all}");

    // Nothing is old yet.
    assert_eq!(
        kiln_core::services::events::prune(&app.kiln)
            .await
            .expect("prune"),
        0
    );
    // Two days pass.
    events::Entity::update_many()
        .col_expr(
            events::Column::CreatedAt,
            Expr::value(kiln_core::now() - time::Duration::days(2)),
        )
        .exec(db)
        .await
        .expect("backdate");
    let gone = kiln_core::services::events::prune(&app.kiln)
        .await
        .expect("prune");
    assert_eq!(gone, all - 1, "all but the one still to deliver");
    let (_, log) = app.get(&log_path, Some(&alice.token)).await;
    assert_eq!(
        topics(&log.as_array().expect("log").clone()),
        ["kiln.repo.update"]
    );
    assert_eq!(log[0]["state"], "pending");

    // The receiver is back and gets it; a bus served an hour ago has not sent it yet.
    let _receiver = Receiver::start(receiver.port, got.clone()).await;
    wait_until(30, "the held message", || {
        got.lock().expect("lock").len() >= 2
    })
    .await;
    let last = events::Entity::find()
        .order_by_desc(events::Column::Id)
        .one(db)
        .await
        .expect("find")
        .expect("the last event")
        .id;
    let cursor = event_cursors::ActiveModel {
        name: Set("mqtt".into()),
        last_event_id: Set(last - 1),
        locked_until: Set(Some(kiln_core::now() - time::Duration::hours(1))),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("cursor");
    assert_eq!(
        kiln_core::services::events::prune(&app.kiln)
            .await
            .expect("prune"),
        0
    );
    // Not served for three days: gone, and the event with it.
    event_cursors::Entity::update_many()
        .col_expr(
            event_cursors::Column::LockedUntil,
            Expr::value(Some(kiln_core::now() - time::Duration::days(3))),
        )
        .filter(event_cursors::Column::Id.eq(cursor.id))
        .exec(db)
        .await
        .expect("age the cursor");
    assert_eq!(
        kiln_core::services::events::prune(&app.kiln)
            .await
            .expect("prune"),
        1
    );
    assert_eq!(events::Entity::find().count(db).await.expect("count"), 0);
    assert_eq!(
        webhook_deliveries::Entity::find()
            .count(db)
            .await
            .expect("count"),
        0
    );
}

/// A private repo's events go to its own webhooks and stay off the buses, unless the site opts
/// in (`repos.private_events_on_buses`); a public repo's go everywhere (issue 18).
#[tokio::test(flavor = "multi_thread")]
async fn a_private_repos_events_stay_off_the_buses_unless_the_site_opts_in() {
    const BROKER: &str = "127.0.0.1:1883";
    if !broker_up(BROKER, "MQTT broker").await {
        return;
    }
    for opt_in in [false, true] {
        let heard = mqtt_subscriber().await;
        let Some(app) = TestApp::with_config(move |c| {
            c.events.mqtt_url = Some(kiln_core::secret::Secret::new(format!("mqtt://{BROKER}")));
            c.events.webhooks_to_private_addresses = true;
            c.repos.private_events_on_buses = opt_in;
        })
        .await
        else {
            return;
        };
        let alice = app.user("alice", false).await;
        app.user("bob", false).await;
        // Names of this run alone: the broker is shared.
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let (public, private) = (format!("pub{tag}"), format!("priv{tag}"));
        app.repo(&alice, &public, &[]).await;
        let (s, _) = app
            .call(
                Method::POST,
                "/api/v1/repos",
                Some(&alice.token),
                Some(json!({"name": private, "visibility": "private"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let got: Received = Arc::default();
        let receiver = Receiver::start(0, got.clone()).await;
        let (s, _) = app
            .call(
                Method::POST,
                &format!("/api/v1/repos/alice/{private}/webhooks"),
                Some(&alice.token),
                Some(json!({"url": receiver.url("/hook")})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        two_changes(&app, &alice.token, &format!("alice/{private}")).await;
        two_changes(&app, &alice.token, &format!("alice/{public}")).await;
        let of = |repo: &str| {
            heard
                .lock()
                .expect("lock")
                .iter()
                .filter(|(_, v)| v["repo"] == format!("alice/{repo}"))
                .count()
        };
        // The public repo's three events (create, member, update) arrive after the private
        // repo's, in order; so by then the private ones would have too.
        wait_until(20, "the public repo's events", || of(&public) >= 3).await;
        wait_until(20, "the private repo's webhook", || {
            got.lock().expect("lock").len() >= 2
        })
        .await;
        if opt_in {
            wait_until(20, "the private repo's events on the bus", || {
                of(&private) >= 3
            })
            .await;
        } else {
            assert_eq!(of(&private), 0, "a private repo's events reached the bus");
        }
    }
}
