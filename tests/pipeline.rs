//! The build pipeline end to end: real `kiln-agent` processes on the rpmbuild backend build
//! SRPMs made from `tests/fixtures` specs; success, failure, skipped arches, cancel, a lost
//! agent, live logs; and bad uploads that must leave nothing behind.

use std::time::Duration;

use kiln_proto::Role;
use kiln_tests::pipeline::{
    add_mock_config, have_rpmbuild, srpm, submit, submit_files, task_log, wait_final, wait_for,
    Agent,
};
use kiln_tests::{error_of, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;

async fn app() -> Option<TestApp> {
    if !have_rpmbuild() {
        return None;
    }
    TestApp::with_config(|c| {
        c.builds.lease_seconds = 3;
        c.builds.max_srpm_size = 1024 * 1024;
    })
    .await
}

fn sub<'a>(task: &'a Value, config: &str, package: &str) -> &'a Value {
    task["subtasks"]
        .as_array()
        .and_then(|s| {
            s.iter()
                .find(|s| s["mock_config"] == config && s["package"]["name"] == package)
        })
        .unwrap_or_else(|| panic!("no subtask {package} on {config} in {task:#}"))
}

/// alice/tools whose fedora-44-x86_64 config builds kiln-slow for `seconds`, and that SRPM.
async fn slow_repo(app: &TestApp, seconds: &str) -> (kiln_tests::TestUser, std::path::PathBuf) {
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let (s, _) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/tools/mock-configs/fedora-44-x86_64",
            Some(&alice.token),
            Some(json!({"macros": {"slow_seconds": seconds}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let slow = srpm("kiln-slow", &out);
    (alice, slow)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noarch_and_c_packages_build_and_keep_their_origin() {
    let Some(app) = app().await else { return };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let noarch = srpm("kiln-hello", &out);
    let c = srpm("kiln-hello-c", &out);
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;

    let task = submit_files(&app, &alice.token, "alice/tools", &[&noarch, &c], &[]).await;
    assert_eq!(task["repo"], "alice/tools");
    assert_eq!(task["scratch"], false);
    assert_eq!(task["subtasks"].as_array().map(|s| s.len()), Some(2));
    assert_eq!(task["publish_state"], "waiting");
    let id = task["id"].as_i64().expect("id");

    let done = wait_final(&app, id, 60).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert!(
        matches!(
            done["publish_state"].as_str(),
            Some("pending" | "published")
        ),
        "{done:#}"
    );
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());

    let hello = sub(&done, "fedora-44-x86_64", "kiln-hello");
    assert_eq!(hello["state"], "succeeded");
    assert_eq!(hello["agent"], "builder-1");
    assert_eq!(hello["attempt"], 1);
    let rpm = hello["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["kind"] == "rpm"))
        .expect("the binary rpm");
    assert_eq!(rpm["file_name"], "kiln-hello-1.0-1.fc44.noarch.rpm");
    assert_eq!(
        (
            rpm["name"].as_str(),
            rpm["version"].as_str(),
            rpm["release"].as_str(),
            rpm["arch"].as_str()
        ),
        (
            Some("kiln-hello"),
            Some("1.0"),
            Some("1.fc44"),
            Some("noarch")
        )
    );
    assert_eq!(rpm["license"], "MIT");
    let names: Vec<&str> = hello["artifacts"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["file_name"].as_str())
        .collect();
    assert!(names.contains(&"build.log"), "{names:?}");
    // The source is the SRPM that was uploaded.
    let uploaded = std::fs::read(&noarch).expect("read");
    assert_eq!(
        hello["package"]["sha256"].as_str(),
        Some(hex::encode(sha2::Sha256::digest(&uploaded)).as_str())
    );
    assert_eq!(
        hello["file_name"].as_str(),
        noarch.file_name().and_then(|n| n.to_str())
    );

    // The download is the file the agent built, byte for byte.
    let resp = app
        .http
        .get(app.url(rpm["url"].as_str().expect("url")))
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/x-rpm");
    let bytes = resp.bytes().await.expect("bytes");
    assert_eq!(bytes.len() as i64, rpm["size"].as_i64().expect("size"));
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        rpm["sha256"].as_str().expect("sha")
    );

    let cpkg = sub(&done, "fedora-44-x86_64", "kiln-hello-c");
    let crpm = cpkg["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["kind"] == "rpm"))
        .expect("rpm");
    assert_eq!(crpm["arch"], "x86_64");
    assert_eq!(crpm["license"], "GPL-2.0-or-later");

    // The log holds rpmbuild's output.
    let log = task_log(&app, &hello["id"]).await;
    assert!(
        log.contains("Wrote:") && log.contains("kiln-hello-1.0-1.fc44.noarch.rpm"),
        "{log}"
    );

    // Origin: each artifact knows its subtask, parent, submitter, source and agent, and the
    // subtask keeps the mock config it was built with.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let row = kiln_core::entities::artifacts::Entity::find()
        .filter(
            kiln_core::entities::artifacts::Column::Id.eq(rpm["id"].as_i64().expect("id") as i32),
        )
        .one(&app.kiln.db)
        .await
        .expect("db")
        .expect("row");
    assert_eq!(row.parent_id as i64, id);
    assert_eq!(row.submitter_id, alice.id);
    assert!(row.source_id.is_some() && row.agent_id.is_some());
    let subtask = kiln_core::entities::tasks::Entity::find_by_id(row.task_id)
        .one(&app.kiln.db)
        .await
        .expect("db")
        .expect("task");
    let snapshot = subtask.mock_config_snapshot.expect("snapshot");
    assert_eq!(snapshot["config"]["name"], "fedora-44-x86_64");
    assert!(snapshot["rendered"]
        .as_str()
        .is_some_and(|r| r.contains("config_opts['root']")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_build_fails_with_its_log_and_publishes_nothing() {
    let Some(app) = app().await else { return };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let broken = srpm("kiln-broken", &out);
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    let task = submit_files(&app, &alice.token, "alice/tools", &[&broken], &[]).await;
    let done = wait_final(&app, task["id"].as_i64().expect("id"), 60).await;
    assert_eq!(done["state"], "failed", "{done:#}");
    assert_eq!(done["publish_state"], "not_published");
    let s = &done["subtasks"][0];
    assert_eq!(s["state"], "failed");
    assert!(
        s["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("%build failed: ") && r.contains("rpmbuild exited")),
        "{s}"
    );
    assert_eq!(s["failure_stage"], "%build", "{s}");
    assert!(
        s["artifacts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["file_name"] == "build.log")),
        "logs are kept after a failure"
    );
    let log = task_log(&app, &done["id"]).await;
    assert!(
        log.contains("[fedora-44-x86_64] kiln-broken: about to fail on purpose"),
        "{log}"
    );

    // Resubmitting only the failed part makes a new task.
    let (st, again) = app
        .call(
            Method::POST,
            &format!("/api/v1/tasks/{}/resubmit", done["id"]),
            Some(&alice.token),
            Some(json!({"only_failed": true})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{again}");
    assert_ne!(again["id"], done["id"]);
    let again = wait_final(&app, again["id"].as_i64().expect("id"), 60).await;
    assert_eq!(again["state"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_arches_are_skipped_with_the_reason() {
    let Some(app) = app().await else { return };
    let root = app.user("root", true).await;
    let alice = app.user("alice", false).await;
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/chroots",
            Some(&root.token),
            Some(json!({"name": "fedora-44-i686", "base_repos": [{"id": "fedora", "baseurl": "https://dl.example.org/fedora/44/i386/"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    app.repo(&alice, "tools", &[]).await;
    add_mock_config(&app, &alice.token, "fedora-44-i686").await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let c = srpm("kiln-hello-c", &out);
    let noarch = srpm("kiln-hello", &out);
    // An x86_64 agent also takes i686 work.
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;
    let task = submit_files(&app, &alice.token, "alice/tools", &[&c, &noarch], &[]).await;
    let skipped = sub(&task, "fedora-44-i686", "kiln-hello-c");
    assert_eq!(skipped["state"], "skipped");
    assert_eq!(
        skipped["reason"],
        "ExclusiveArch (x86_64 aarch64) does not include i686"
    );
    let done = wait_final(&app, task["id"].as_i64().expect("id"), 60).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(
        sub(&done, "fedora-44-i686", "kiln-hello")["state"],
        "succeeded"
    );
    assert_eq!(
        sub(&done, "fedora-44-x86_64", "kiln-hello-c")["state"],
        "succeeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_a_running_build_within_seconds() {
    let Some(app) = app().await else { return };
    let alice = app.user("alice", false).await;
    let pkg = app.user("pkg", false).await;
    app.repo(&alice, "tools", &[(&pkg, Role::Packager)]).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let slow = srpm("kiln-slow", &out);
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    let task = submit_files(&app, &pkg.token, "alice/tools", &[&slow], &[]).await;
    let id = task["id"].as_i64().expect("id");
    wait_for(&app, id, 30, |t| t["subtasks"][0]["state"] == "running").await;
    // Some log lines arrive while it runs.
    let sid = task["subtasks"][0]["id"].as_i64().expect("sid");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = app
            .http
            .get(app.url(&format!("/api/v1/tasks/{sid}/log")))
            .send()
            .await
            .expect("log")
            .text()
            .await
            .expect("text");
        if log.contains("kiln-slow: tick 2") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no live log lines: {log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/tasks/{id}/cancel"),
            Some(&pkg.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let started = std::time::Instant::now();
    let done = wait_final(&app, id, 15).await;
    assert_eq!(done["state"], "canceled", "{done:#}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cancel took {:?}",
        started.elapsed()
    );
    // Anonymous users and outsiders may not cancel.
    let outsider = app.user("outsider", false).await;
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/tasks/{id}/cancel"),
            Some(&outsider.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agents_build_is_finished_by_another_exactly_once() {
    let Some(app) = app().await else { return };
    // Short enough to finish soon on the second agent, long enough to kill the first mid-build.
    let (alice, slow) = slow_repo(&app, "4").await;
    let mut first = Agent::start(&app, "doomed", &["x86_64"], 1).await;
    let task = submit_files(&app, &alice.token, "alice/tools", &[&slow], &[]).await;
    let id = task["id"].as_i64().expect("id");
    let running = wait_for(&app, id, 30, |t| {
        t["subtasks"][0]["state"] == "running" && t["subtasks"][0]["agent"] == "doomed"
    })
    .await;
    // Killed mid-build: once its log shows the build running.
    let log_url = app.url(&format!(
        "/api/v1/tasks/{}/log",
        running["subtasks"][0]["id"]
    ));
    for _ in 0..100 {
        let log = app.http.get(&log_url).send().await.expect("log");
        if log
            .text()
            .await
            .unwrap_or_default()
            .contains("kiln-slow: tick 1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.kill();
    let _second = Agent::start(&app, "rescuer", &["x86_64"], 1).await;
    let done = wait_final(&app, id, 60).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let s = &done["subtasks"][0];
    assert_eq!(s["agent"], "rescuer");
    assert_eq!(s["attempt"], 2);
    // Each file once.
    let names: Vec<&str> = s["artifacts"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["file_name"].as_str())
        .collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(names.len(), unique.len(), "{names:?}");
    assert!(
        names.contains(&"kiln-slow-0.1-1.fc44.noarch.rpm"),
        "{names:?}"
    );
    // The log keeps both attempts, each starting with its header.
    let log = task_log(&app, &s["id"]).await;
    let first = log.find("=== Kiln build attempt 1 of task ").expect(&log);
    let second = log.find("=== Kiln build attempt 2 of task ").expect(&log);
    assert!(first < second, "{log}");
    assert!(log[second..].contains("by agent rescuer at "), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_streams_the_log_as_server_sent_events() {
    let Some(app) = app().await else { return };
    let (alice, slow) = slow_repo(&app, "3").await;
    let task = submit_files(&app, &alice.token, "alice/tools", &[&slow], &[]).await;
    let sid = task["subtasks"][0]["id"].as_i64().expect("sid");
    // Follow before any agent exists: the stream waits, then carries the build as it happens.
    let mut resp = app
        .http
        .get(app.url(&format!("/api/v1/tasks/{sid}/log?follow=1")))
        .send()
        .await
        .expect("follow");
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    let mut text = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(30), resp.chunk())
        .await
        .expect("stream stalled")
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if text.contains("event: end") || std::time::Instant::now() > deadline {
            break;
        }
    }
    assert!(text.contains("event: log"), "{text}");
    assert!(text.contains("kiln-slow: tick 3"), "{text}");
    assert!(text.contains("event: end\ndata: succeeded"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_leave_nothing() {
    let Some(app) = app().await else { return };
    let alice = app.user("alice", false).await;
    let pkg = app.user("pkg", false).await;
    app.repo(&alice, "tools", &[(&pkg, Role::Packager)]).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let good = std::fs::read(srpm("kiln-hello", &out)).expect("srpm");
    // A binary RPM: build one.
    let top = app.dir.path().join("bin-top");
    let status = std::process::Command::new("rpmbuild")
        .arg("-bb")
        .arg(kiln_tests::repo_root().join("tests/fixtures/kiln-hello.spec"))
        .args(["--define", &format!("_topdir {}", top.display())])
        .args(["--define", &format!("_dbpath {}/db", top.display())])
        .env("HOME", &top)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("rpmbuild -bb");
    assert!(status.success());
    let binary =
        std::fs::read(top.join("RPMS/noarch/kiln-hello-1.0-1.noarch.rpm")).expect("binary rpm");
    let random: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut header_bomb = good[..96].to_vec();
    header_bomb.extend_from_slice(&[
        0x8e, 0xad, 0xe8, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff,
    ]);
    let big = vec![7u8; 2 * 1024 * 1024];

    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "truncated.src.rpm",
            good[..good.len() / 3].to_vec(),
            StatusCode::BAD_REQUEST,
            "truncated.src.rpm",
        ),
        (
            "empty.src.rpm",
            vec![],
            StatusCode::BAD_REQUEST,
            "shorter than an RPM lead",
        ),
        (
            "random.src.rpm",
            random,
            StatusCode::BAD_REQUEST,
            "not an RPM file",
        ),
        (
            "kiln-hello-1.0-1.noarch.src.rpm",
            binary,
            StatusCode::BAD_REQUEST,
            "binary RPM, not a source RPM",
        ),
        (
            "bomb.src.rpm",
            header_bomb,
            StatusCode::BAD_REQUEST,
            "impossible size",
        ),
        (
            "huge.src.rpm",
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        ),
        (
            "../../etc/passwd.src.rpm",
            good.clone(),
            StatusCode::BAD_REQUEST,
            "not a path",
        ),
        (
            "evil\u{7}name.src.rpm",
            good.clone(),
            StatusCode::BAD_REQUEST,
            "control characters",
        ),
        (
            "evil\nname.src.rpm",
            good.clone(),
            StatusCode::BAD_REQUEST,
            "control characters",
        ),
        (
            "x".repeat(300).leak(),
            good.clone(),
            StatusCode::BAD_REQUEST,
            "1 to 255 bytes",
        ),
        (
            "hello.tar.gz",
            good.clone(),
            StatusCode::BAD_REQUEST,
            "ends in .src.rpm",
        ),
    ];
    for (name, bytes, status, why) in cases {
        // A good file first, then the bad one: the whole submission is refused.
        let (s, body) = submit(
            &app,
            &pkg.token,
            "alice/tools",
            &[("kiln-hello-1.0-1.src.rpm", good.clone()), (name, bytes)],
            &[],
        )
        .await;
        assert_eq!(s, status, "{name}: {body}");
        let detail = error_of(&body).1;
        assert!(detail.contains(why), "{name}: {detail}");
    }
    for (fields, why) in [
        (
            vec![("chroot", "no-such-config")],
            "has no mock config no-such-config",
        ),
        (vec![("scratch", "perhaps")], "scratch"),
        (vec![("priority", "5")], "releng"),
        (vec![("colour", "blue")], "unexpected part"),
    ] {
        let (s, body) = submit(
            &app,
            &pkg.token,
            "alice/tools",
            &[("kiln-hello-1.0-1.src.rpm", good.clone())],
            &fields,
        )
        .await;
        assert!(s.is_client_error(), "{fields:?}: {s} {body}");
        assert!(error_of(&body).1.contains(why), "{fields:?}: {body}");
    }
    let (s, body) = submit(&app, &pkg.token, "alice/tools", &[], &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let outsider = app.user("outsider", false).await;
    let (s, _) = submit(
        &app,
        &outsider.token,
        "alice/tools",
        &[("kiln-hello-1.0-1.src.rpm", good.clone())],
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Nothing was written: no tasks, no sources, no objects, no temporary files.
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        kiln_core::entities::tasks::Entity::find()
            .count(&app.kiln.db)
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        kiln_core::entities::sources::Entity::find()
            .count(&app.kiln.db)
            .await
            .expect("count"),
        0
    );
    assert!(app
        .kiln
        .storage
        .list("sources/")
        .await
        .expect("list")
        .is_empty());
    let tmp: Vec<_> = std::fs::read_dir(app.kiln.config.data_dir.join("tmp"))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");

    // The same SRPM twice is stored once.
    let (s, _) = submit(
        &app,
        &pkg.token,
        "alice/tools",
        &[("kiln-hello-1.0-1.src.rpm", good.clone())],
        &[("scratch", "true")],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, t2) = submit(
        &app,
        &pkg.token,
        "alice/tools",
        &[("renamed.src.rpm", good.clone())],
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(t2["subtasks"][0]["file_name"], "renamed.src.rpm");
    assert_eq!(
        kiln_core::entities::sources::Entity::find()
            .count(&app.kiln.db)
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        app.kiln.storage.list("sources/").await.expect("list").len(),
        1
    );
    let (_, list) = app.get("/api/v1/repos/alice/tools/builds", None).await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][1]["scratch"], true, "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_is_fair_between_owners_and_honours_priority() {
    let Some(app) = app().await else { return };
    let alice = app.user("alice", false).await;
    let bob = app.user("bob", false).await;
    app.repo(&alice, "big", &[]).await;
    app.repo(&bob, "small", &[]).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let hello = srpm("kiln-hello", &out);
    let bytes = std::fs::read(&hello).expect("read");
    // Alice queues a batch of 10, then Bob one build, then Alice one urgent build.
    let files: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("batch{i}.src.rpm"), bytes.clone()))
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let (s, _) = submit(&app, &alice.token, "alice/big", &refs, &[]).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = submit(
        &app,
        &bob.token,
        "bob/small",
        &[("bob.src.rpm", bytes.clone())],
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = submit(
        &app,
        &alice.token,
        "alice/big",
        &[("urgent.src.rpm", bytes.clone())],
        &[("priority", "10")],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "an admin may set a priority");

    // Claim as an agent would, without building.
    let root = kiln_core::Principal::User(kiln_core::UserPrincipal {
        id: 0,
        username: "t".into(),
        is_site_admin: true,
        groups: vec![],
    });
    let reg = kiln_core::services::agents::create_registration_token(&app.kiln, &root, "fake")
        .await
        .expect("reg");
    kiln_core::services::agents::register(
        &app.kiln,
        reg.expose(),
        kiln_proto::agent::Register {
            name: "fake".into(),
            arches: vec!["x86_64".into()],
            capacity: 100,
            backend: "rpmbuild".into(),
            version: "t".into(),
        },
    )
    .await
    .expect("register");
    use sea_orm::EntityTrait;
    let agent = kiln_core::entities::agents::Entity::find()
        .one(&app.kiln.db)
        .await
        .expect("db")
        .expect("agent");
    let mut order = Vec::new();
    for _ in 0..4 {
        let job = kiln_core::services::tasks::claim(&app.kiln, &agent)
            .await
            .expect("claim")
            .expect("a job");
        order.push(job.source.display_name().to_owned());
    }
    assert_eq!(
        order,
        [
            "urgent.src.rpm",
            "bob.src.rpm",
            "batch0.src.rpm",
            "batch1.src.rpm"
        ],
        "priority first, then the owner with fewer running builds"
    );
}

/// The packager client: `kiln build … --wait` shows progress and exits non-zero when a build
/// fails; `kiln watch` follows the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_builds_waits_and_watches() {
    let Some(app) = app().await else { return };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let hello = srpm("kiln-hello", &out);
    let broken = srpm("kiln-broken", &out);
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;
    let kiln = |args: Vec<String>| {
        tokio::process::Command::new(kiln_tests::workspace_binary("kiln"))
            .args(args)
            .env_clear()
            .env("HOME", app.dir.path())
            .env("KILN_URL", &app.base)
            .env("KILN_TOKEN", &alice.token)
            .output()
    };
    let p = |p: &std::path::Path| p.display().to_string();
    let ok = kiln(vec![
        "build".into(),
        "alice/tools".into(),
        p(&hello),
        "--wait".into(),
    ])
    .await
    .expect("kiln build");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("uploading kiln-hello-1.0-1.src.rpm: 100%"),
        "{stderr}"
    );
    assert!(
        stdout.contains("[fedora-44-x86_64] kiln-hello: succeeded"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l.ends_with(": succeeded")),
        "{stdout}"
    );

    let bad = kiln(vec![
        "build".into(),
        "alice/tools".into(),
        p(&broken),
        "--wait".into(),
    ])
    .await
    .expect("kiln build");
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(
        !bad.status.success(),
        "a failed build exits non-zero: {stdout}"
    );
    assert!(
        stdout.contains("kiln-broken: failed (%build failed: Bad exit status from "),
        "{stdout}"
    );
    let id: i64 = stdout
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("task id");

    let watched = kiln(vec!["watch".into(), id.to_string()])
        .await
        .expect("kiln watch");
    let log = String::from_utf8_lossy(&watched.stdout);
    assert!(!watched.status.success());
    assert!(
        log.contains("kiln-broken: about to fail on purpose"),
        "{log}"
    );

    let missing = kiln(vec![
        "build".into(),
        "alice/tools".into(),
        "/nonexistent.src.rpm".into(),
    ])
    .await
    .expect("kiln build");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("opening /nonexistent.src.rpm"));
}

/// Many agents claiming at once through two independent connection pools (two servers' worth)
/// never get the same subtask, and every subtask is handed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_hand_a_subtask_out_twice() {
    // Leases long enough that none expires (and is rightly handed out again) during the test.
    let Some(app) = TestApp::with_config(|c| c.builds.lease_seconds = 600).await else {
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let (_, repo) = app.get("/api/v1/repos/alice/tools", None).await;
    let repo_id = repo["id"].as_i64().expect("id") as i32;
    let n = 300;
    kiln_tests::pipeline::queue_subtasks(&app.kiln, repo_id, alice.id, n, "x86_64").await;
    let second = kiln_core::Kiln::open((*app.kiln.config).clone())
        .await
        .expect("second server's pool");
    let mut claimers = Vec::new();
    for i in 0..16 {
        let kiln = if i % 2 == 0 {
            app.kiln.clone()
        } else {
            second.clone()
        };
        claimers.push((
            kiln.clone(),
            kiln_tests::pipeline::fake_agent(&kiln, &format!("claimer{i}"), 256).await,
        ));
    }
    let mut handles = Vec::new();
    for (kiln, agent) in claimers {
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut idle = 0;
            while idle < 3 {
                match kiln_core::services::tasks::claim(&kiln, &agent)
                    .await
                    .expect("claim")
                {
                    Some(job) => {
                        got.push(job.task_id);
                        idle = 0;
                    }
                    None => idle += 1,
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("claimer"));
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "a subtask was handed out twice");
    assert_eq!(total, n, "every subtask was handed out");
}

/// A subtask whose agents keep disappearing fails as an infrastructure error, not a build
/// failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_agents_use_up_the_attempts_then_it_fails_as_infrastructure() {
    let Some(app) = TestApp::with_config(|c| {
        c.builds.lease_seconds = 1;
        c.builds.max_attempts = 2;
    })
    .await
    else {
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let (_, repo) = app.get("/api/v1/repos/alice/tools", None).await;
    let parent = kiln_tests::pipeline::queue_subtasks(
        &app.kiln,
        repo["id"].as_i64().expect("id") as i32,
        alice.id,
        1,
        "x86_64",
    )
    .await;
    let agent = kiln_tests::pipeline::fake_agent(&app.kiln, "vanishing", 1).await;
    for attempt in 1..=2 {
        let job = kiln_core::services::tasks::claim(&app.kiln, &agent)
            .await
            .expect("claim")
            .expect("job");
        assert_eq!(job.attempt, attempt);
        // The agent never heartbeats again; the lease keeper notices.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        kiln_core::services::tasks::expire_leases(&app.kiln)
            .await
            .expect("expire");
    }
    let t = wait_final(&app, parent as i64, 10).await;
    assert_eq!(t["state"], "failed");
    let reason = t["subtasks"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("infrastructure error after 2 attempts"),
        "{reason}"
    );
    assert!(kiln_core::services::tasks::claim(&app.kiln, &agent)
        .await
        .expect("claim")
        .is_none());
}

/// SIGTERM while building: the agent waits its grace period, then hands the build back; it is
/// queued again and another agent builds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_running_work_back() {
    let Some(app) = app().await else { return };
    let (alice, slow) = slow_repo(&app, "6").await;
    let mut first = Agent::start(&app, "leaving", &["x86_64"], 1).await;
    let task = submit_files(&app, &alice.token, "alice/tools", &[&slow], &[]).await;
    let id = task["id"].as_i64().expect("id");
    wait_for(&app, id, 30, |t| t["subtasks"][0]["state"] == "running").await;
    let status = first.terminate();
    assert!(status.success(), "a clean stop");
    let t = wait_for(&app, id, 10, |t| t["subtasks"][0]["state"] == "pending").await;
    assert!(
        t["subtasks"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("the agent was stopped")),
        "{t:#}"
    );
    let _second = Agent::start(&app, "staying", &["x86_64"], 1).await;
    let done = wait_final(&app, id, 60).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["subtasks"][0]["agent"], "staying");
}

/// A server killed (SIGKILL) with a build running and others queued loses nothing: after the
/// restart the running build's results arrive, the queue is worked off, each build succeeds
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_loses_no_queued_or_running_work() {
    if !have_rpmbuild() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let mut env = vec![
        ("KILN_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
        ("KILN_LOCAL_AGENT".to_owned(), "off".to_owned()),
        ("KILN_BUILDS_LEASE_SECONDS".to_owned(), "15".to_owned()),
    ];
    if kiln_tests::db_kind() == kiln_tests::DbKind::Postgres {
        let Some(url) = kiln_tests::fresh_pg_database().await else {
            return;
        };
        env.push(("KILN_DATABASE_URL".to_owned(), url));
    }
    let mut server = kiln_tests::pipeline::ServerProcess::start(dir.path(), env);
    std::fs::write(dir.path().join("pw"), "a-long-password\n").expect("pw");
    server.admin(&[
        "admin",
        "create-user",
        "--username",
        "alice",
        "--password-file",
        "pw",
    ]);
    let token = server.admin(&[
        "admin",
        "create-token",
        "--username",
        "alice",
        "--name",
        "t",
    ]);
    let reg = server.admin(&["admin", "agent-token", "--name", "fleet"]);
    let http = reqwest::Client::new();
    let url = server.url.clone();
    let r = http
        .post(format!("{url}/api/v1/repos"))
        .bearer_auth(&token)
        .json(&json!({"name": "tools", "chroots": ["fedora-44-x86_64"]}))
        .send()
        .await
        .expect("create repo");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = http
        .patch(format!(
            "{url}/api/v1/repos/alice/tools/mock-configs/fedora-44-x86_64"
        ))
        .bearer_auth(&token)
        .json(&json!({"macros": {"slow_seconds": "4"}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::OK);
    let out = dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let slow = std::fs::read(srpm("kiln-slow", &out)).expect("slow");
    let hello = std::fs::read(srpm("kiln-hello", &out)).expect("hello");
    let form = reqwest::multipart::Form::new()
        .part(
            "srpm",
            reqwest::multipart::Part::bytes(slow).file_name("kiln-slow-0.1-1.src.rpm"),
        )
        .part(
            "srpm",
            reqwest::multipart::Part::bytes(hello.clone()).file_name("kiln-hello-1.0-1.src.rpm"),
        )
        .part(
            "srpm",
            reqwest::multipart::Part::bytes(hello).file_name("kiln-hello-copy.src.rpm"),
        );
    let task: Value = http
        .post(format!("{url}/api/v1/repos/alice/tools/builds"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("submit")
        .json()
        .await
        .expect("json");
    let id = task["id"].as_i64().expect("id");
    let agent_dir = dir.path().join("agent");
    let mut agent = std::process::Command::new(kiln_tests::workspace_binary("kiln-agent"))
        .args([
            "--server",
            &url,
            "--name",
            "survivor",
            "--capacity",
            "1",
            "--backend",
            "rpmbuild",
            "--arch",
            "x86_64",
        ])
        .arg("--work-dir")
        .arg(&agent_dir)
        .env("KILN_AGENT_REGISTRATION_TOKEN", &reg)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("agent.log")).expect("log"))
        .spawn()
        .expect("agent");
    let get = |http: reqwest::Client, url: String, token: String| async move {
        http.get(format!("{url}/api/v1/tasks/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json::<Value>()
            .await
            .ok()
    };
    // Wait until the slow build runs (and the others wait), then kill the server.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let t = get(http.clone(), url.clone(), token.clone())
            .await
            .expect("task");
        let states: Vec<&str> = t["subtasks"]
            .as_array()
            .expect("subs")
            .iter()
            .filter_map(|s| s["state"].as_str())
            .collect();
        if states.contains(&"running") && states.contains(&"pending") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never running: {t:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.restart();
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let done = loop {
        if let Some(t) = get(http.clone(), url.clone(), token.clone()).await {
            if t["state"]
                .as_str()
                .is_some_and(|s| s != "pending" && s != "running")
            {
                break t;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not finished after the restart:\n{}\n{}",
            std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(done["state"], "succeeded", "{done:#}");
    for s in done["subtasks"].as_array().expect("subs") {
        assert_eq!(s["state"], "succeeded", "{s}");
        let names: Vec<&str> = s["artifacts"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|a| a["file_name"].as_str())
            .collect();
        assert_eq!(
            names.iter().filter(|n| n.ends_with(".noarch.rpm")).count(),
            1,
            "{names:?}"
        );
    }
}

/// The mock backend, with a FAKE mock (tests/fixtures/fake-mock/mock; Fedora's mock cannot run
/// on Debian): the agent writes the rendered config, runs mock with it and a result dir, and
/// uploads the RPMs and mock's logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_backend_runs_mock_with_the_rendered_config() {
    let Some(app) = app().await else { return };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let hello = srpm("kiln-hello", &out);
    let fake = kiln_tests::repo_root().join("tests/fixtures/fake-mock");
    let _agent = Agent::start_with(&app, "mocker", &["x86_64"], 1, "mock", Some(&fake)).await;
    let task = submit_files(&app, &alice.token, "alice/tools", &[&hello], &[]).await;
    let done = wait_final(&app, task["id"].as_i64().expect("id"), 60).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let s = &done["subtasks"][0];
    let file = |name: &str| {
        s["artifacts"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["file_name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no {name}: {s:#}"))
    };
    assert_eq!(
        file("kiln-hello-1.0-1.fc44.noarch.rpm")["release"],
        "1.fc44"
    );
    for log in ["build.log", "state.log", "root.log", "mock-output.log"] {
        file(log);
    }
    let fetch = |name: &str| {
        let url = app.url(file(name)["url"].as_str().expect("url"));
        let http = app.http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .expect("get")
                .text()
                .await
                .expect("text")
        }
    };
    let config = fetch("root.log").await;
    assert!(
        config.contains("config_opts['root'] = 'kiln-alice-tools-fedora-44-x86_64'"),
        "{config}"
    );
    assert!(
        config.contains(&format!(
            "baseurl={}/repos/alice/tools/fedora-44-x86_64/",
            app.kiln.config.public_url()
        )),
        "{config}"
    );
    let output = fetch("mock-output.log").await;
    assert!(
        output.contains("FAKE MOCK") && output.contains("--resultdir"),
        "{output}"
    );
}

/// A drained agent takes no new work until a site admin brings it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_agent_takes_no_new_work() {
    let Some(app) = app().await else { return };
    let root = app.user("root", true).await;
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let hello = srpm("kiln-hello", &out);
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    // Wait for it to register, then drain it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (s, _) = app
            .call(
                Method::PUT,
                "/api/v1/agents/builder-1/state",
                Some(&root.token),
                Some(json!({"state": "draining"})),
            )
            .await;
        if s == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never registered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let task = submit_files(&app, &alice.token, "alice/tools", &[&hello], &[]).await;
    let id = task["id"].as_i64().expect("id");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, t) = app.get(&format!("/api/v1/tasks/{id}"), None).await;
    assert_eq!(
        t["subtasks"][0]["state"], "pending",
        "a draining agent claimed work"
    );
    let (s, _) = app
        .call(
            Method::PUT,
            "/api/v1/agents/builder-1/state",
            Some(&root.token),
            Some(json!({"state": "online"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let done = wait_final(&app, id, 60).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
}

/// The agent against a server reached over HTTPS (a private CA, trusted with --ca-cert); a
/// certificate it does not trust is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_work_against_an_https_server() {
    let Some(app) = app().await else { return };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let (https, ca, _front) = kiln_tests::pipeline::https_front(&app.base).await;
    let ca_file = app.dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca).expect("ca");
    let root = kiln_core::Principal::User(kiln_core::UserPrincipal {
        id: 0,
        username: "t".into(),
        is_site_admin: true,
        groups: vec![],
    });
    let reg = kiln_core::services::agents::create_registration_token(&app.kiln, &root, "tls")
        .await
        .expect("reg");
    let run = |extra: &[&str], name: &str| {
        let mut c = std::process::Command::new(kiln_tests::workspace_binary("kiln-agent"));
        c.args([
            "--server",
            &https,
            "--name",
            name,
            "--backend",
            "rpmbuild",
            "--arch",
            "x86_64",
        ])
        .args(extra)
        .arg("--work-dir")
        .arg(app.dir.path().join(format!("agent-{name}")))
        .env("KILN_AGENT_REGISTRATION_TOKEN", reg.expose())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
        c
    };
    // Without the CA the certificate is not trusted: registration fails.
    let out = run(&[], "untrusting").output().expect("agent");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("reaching https://"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ca_arg = ca_file.display().to_string();
    let mut agent = run(&["--ca-cert", &ca_arg], "tls-builder")
        .spawn()
        .expect("agent");
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let hello = srpm("kiln-hello", &out);
    let task = submit_files(&app, &alice.token, "alice/tools", &[&hello], &[]).await;
    let done = wait_final(&app, task["id"].as_i64().expect("id"), 60).await;
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["subtasks"][0]["agent"], "tls-builder");
}

/// The value of a metric line (`NAME{LABELS} VALUE`) in the text exposition.
fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_report_the_queue_builds_publishes_and_requests() {
    let Some(app) = app().await else {
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    add_mock_config(&app, &alice.token, "fedora-44-aarch64").await;
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    let dir = tempfile::tempdir().expect("dir");
    let hello = srpm("kiln-hello", dir.path());
    // x86_64 builds and publishes; aarch64 waits: no agent builds it.
    let task = submit_files(&app, &alice.token, "alice/tools", &[&hello], &[]).await;
    let id = task["id"].as_i64().expect("id");
    wait_for(&app, id, 60, |t| {
        t["subtasks"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["state"] == "succeeded"))
    })
    .await;
    let resp = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/plain"));
    let text = resp.text().await.expect("text");
    assert_eq!(
        metric(&text, "kiln_queue_depth{arch=\"aarch64\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(metric(&text, "kiln_subtasks{state=\"pending\"}"), Some(1.0));
    assert_eq!(
        metric(&text, "kiln_subtasks{state=\"succeeded\"}"),
        Some(1.0)
    );
    assert_eq!(metric(&text, "kiln_agents_online"), Some(1.0));
    assert_eq!(
        metric(&text, "kiln_dispatch_latency_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "kiln_build_duration_seconds_count{result=\"succeeded\"}"
        ),
        Some(1.0)
    );
    // The submission, by route pattern (no owner or repo name in a label).
    assert_eq!(
        metric(
            &text,
            "kiln_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/repos/{owner}/{repo}/builds\",status=\"201\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("alice"), "raw paths leak into labels");
    // Nothing published yet: the parent still has its aarch64 build waiting.
    assert_eq!(
        metric(&text, "kiln_publish_duration_seconds_count"),
        Some(0.0)
    );
    // An x86_64-only build is published: its metadata run is observed.
    let task = submit_files(
        &app,
        &alice.token,
        "alice/tools",
        &[&hello],
        &[("chroot", "fedora-44-x86_64")],
    )
    .await;
    let id = task["id"].as_i64().expect("id");
    wait_for(&app, id, 60, |t| t["publish_state"] == "published").await;
    let text = app.metrics().await;
    assert!(
        metric(&text, "kiln_publish_duration_seconds_count") >= Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "kiln_dispatch_latency_seconds_count"),
        Some(2.0)
    );
}

/// States of a task's subtasks, as the API shows them.
async fn subtask_state(app: &TestApp, id: i64) -> String {
    let (_, t) = app.get(&format!("/api/v1/tasks/{id}"), None).await;
    t["subtasks"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repo_quota_holds_back_its_second_build() {
    quota_holds_back_the_second_build(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_quota_holds_back_the_build_of_another_repo() {
    quota_holds_back_the_second_build(true).await;
}

/// Two builds an agent could run at once; a quota of one (per repo, or per owner with the
/// second build in another of the owner's repos) runs them one after the other.
async fn quota_holds_back_the_second_build(per_owner: bool) {
    if !have_rpmbuild() {
        return;
    }
    let Some(app) = TestApp::with_config(move |c| {
        c.builds.lease_seconds = 3;
        if per_owner {
            c.builds.max_running_per_owner = 1;
        } else {
            c.builds.max_running_per_repo = 1;
        }
    })
    .await
    else {
        return;
    };
    let (alice, slow) = slow_repo(&app, "2").await;
    let second = if per_owner {
        app.repo(&alice, "more", &[]).await;
        let (s, _) = app
            .call(
                Method::PATCH,
                "/api/v1/repos/alice/more/mock-configs/fedora-44-x86_64",
                Some(&alice.token),
                Some(json!({"macros": {"slow_seconds": "2"}})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        "alice/more"
    } else {
        "alice/tools"
    };
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;
    let a = submit_files(&app, &alice.token, "alice/tools", &[&slow], &[]).await["id"]
        .as_i64()
        .expect("id");
    let b = submit_files(&app, &alice.token, second, &[&slow], &[]).await["id"]
        .as_i64()
        .expect("id");
    // Both succeed; by the server's own times, one started after the other ended.
    let span = |t: &Value| {
        let at = |k: &str| {
            time::OffsetDateTime::parse(
                t["subtasks"][0][k].as_str().expect("time"),
                &time::format_description::well_known::Rfc3339,
            )
            .expect("rfc3339")
        };
        (at("started_at"), at("finished_at"))
    };
    let ta = wait_final(&app, a, 60).await;
    let tb = wait_final(&app, b, 60).await;
    assert_eq!(
        (&ta["state"], &tb["state"]),
        (&json!("succeeded"), &json!("succeeded"))
    );
    let ((a0, a1), (b0, b1)) = (span(&ta), span(&tb));
    assert!(
        b0 >= a1 || a0 >= b1,
        "the two builds overlapped: {a0}..{a1} and {b0}..{b1}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn site_admins_stop_a_repos_builds_and_cancel_its_queue() {
    let Some(app) = app().await else { return };
    let root = app.user("root", true).await;
    let (alice, slow) = slow_repo(&app, "3").await;
    let x = submit_files(&app, &alice.token, "alice/tools", &[&slow], &[]).await["id"]
        .as_i64()
        .expect("id");
    let y = submit_files(&app, &alice.token, "alice/tools", &[&slow], &[]).await["id"]
        .as_i64()
        .expect("id");
    // Stopped: with a reason; the repo's admin cannot lift it.
    let (s, body) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/tools/builds-disabled",
            Some(&root.token),
            Some(json!({"reason": "mining cryptocurrency in %build"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["builds_disabled"], "mining cryptocurrency in %build");
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/repos/alice/tools/builds-disabled",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/tools/builds-disabled",
            Some(&root.token),
            Some(json!({"reason": "  "})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // New submissions are refused with the reason; queued builds wait.
    let (s, body) = submit(
        &app,
        &alice.token,
        "alice/tools",
        &[(
            "kiln-slow-0.1-1.src.rpm",
            std::fs::read(&slow).expect("srpm"),
        )],
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(
        error_of(&body).1.contains("mining cryptocurrency"),
        "{body}"
    );
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(subtask_state(&app, x).await, "pending");
    assert_eq!(subtask_state(&app, y).await, "pending");
    // Resumed: the first builds; then the whole queue is canceled, running build included.
    let (s, body) = app
        .call(
            Method::DELETE,
            "/api/v1/repos/alice/tools/builds-disabled",
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.get("builds_disabled").is_none(), "{body}");
    wait_for(&app, x, 30, |t| t["subtasks"][0]["state"] == "running").await;
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/cancel-queue",
            Some(&root.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["builds"], 2);
    for id in [x, y] {
        let t = wait_final(&app, id, 30).await;
        assert_eq!(t["state"], "canceled", "{t:#}");
    }
    // Recorded in the repo's audit log.
    let (_, audit) = app
        .get("/api/v1/repos/alice/tools/audit", Some(&alice.token))
        .await;
    let text = audit.to_string();
    assert!(text.contains("repo.builds_disabled") && text.contains("repo.builds_enabled"));
}

/// A group member builds in a private group repo through a real agent (issue 18): the mock
/// backend (the FAKE mock, which reads the repos its config names with their credentials, as
/// dnf in the chroot would) reads the repo's own published packages with the task's read
/// token, which appears in no log, task or rendered config and ends with the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_member_builds_in_a_private_group_repo_whose_own_repo_the_builder_reads() {
    use kiln_tests::pipeline::wait_final_as;
    let Some(app) = app().await else { return };
    let root = app.user("root", true).await;
    let alice = app.user("alice", false).await;
    let gina = app.user("gina", false).await;
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/groups",
            Some(&root.token),
            Some(json!({"name": "team"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    for u in ["alice", "gina"] {
        let (s, _) = app
            .call(
                Method::PUT,
                &format!("/api/v1/groups/team/members/{u}"),
                Some(&root.token),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, r) = app
        .call(
            Method::POST,
            "/api/v1/repos",
            Some(&alice.token),
            Some(
                json!({"name": "tools", "owner": "@team", "visibility": "private",
                "chroots": ["fedora-44-x86_64"]}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let fake = kiln_tests::repo_root().join("tests/fixtures/fake-mock");
    let _agent = Agent::start_with(&app, "mocker", &["x86_64"], 1, "mock", Some(&fake)).await;
    // Gina is a packager by the group: her builds go through and publish.
    let mut logs = String::new();
    for spec in ["kiln-hello", "kiln-hello-c"] {
        let file = srpm(spec, &out);
        let task = submit_files(&app, &gina.token, "@team/tools", &[&file], &[]).await;
        let id = task["id"].as_i64().expect("id");
        let done = wait_final_as(&app, Some(&gina.token), id, 90).await;
        assert_eq!(done["state"], "succeeded", "{done:#}");
        let done = kiln_tests::pipeline::wait_for_as(&app, Some(&gina.token), id, 30, |t| {
            t["publish_state"] != "pending"
        })
        .await;
        assert_eq!(done["publish_state"], "published", "{done:#}");
        assert!(!done.to_string().contains("kiln_rt_"), "{done:#}");
        for a in done["subtasks"][0]["artifacts"]
            .as_array()
            .expect("artifacts")
        {
            let name = a["file_name"].as_str().unwrap_or_default();
            if name.ends_with(".log") {
                let resp = app
                    .http
                    .get(app.url(a["url"].as_str().expect("url")))
                    .bearer_auth(&gina.token)
                    .send()
                    .await
                    .expect("log");
                logs.push_str(&format!(
                    "--- {name}\n{}\n",
                    resp.text().await.expect("text")
                ));
            }
        }
        let (_, live) = app
            .get(
                &format!("/api/v1/tasks/{}/log", done["subtasks"][0]["id"]),
                Some(&gina.token),
            )
            .await;
        logs.push_str(&live.to_string());
    }
    // The second build's buildroot read the first one's publication, with the task's token.
    let reads: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("with its credentials"))
        .collect();
    assert_eq!(reads.len(), 2, "{logs}");
    assert!(
        reads[0].ends_with("HTTP 404"),
        "nothing published yet: {}",
        reads[0]
    );
    assert!(
        reads[1].starts_with("fake mock: [kiln-_team-tools] "),
        "{}",
        reads[1]
    );
    assert!(
        logs.contains("/repos/@team/tools/fedora-44-x86_64/repodata/repomd.xml with its credentials: HTTP 200"),
        "{logs}"
    );
    // The credential reached mock's config (root.log is the FAKE's copy of it) but no log.
    assert!(logs.contains("password=[redacted]"), "{logs}");
    assert!(!logs.contains("kiln_rt_"), "{logs}");
    let (_, rendered) = app
        .get(
            "/api/v1/repos/@team/tools/mock-configs/fedora-44-x86_64/rendered",
            Some(&alice.token),
        )
        .await;
    assert!(!rendered.to_string().contains("password="), "{rendered}");
    // The tasks' tokens ended with them.
    use kiln_core::entities::read_tokens;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let task_tokens = read_tokens::Entity::find()
        .filter(read_tokens::Column::TaskId.is_not_null())
        .all(&app.kiln.db)
        .await
        .expect("db");
    assert_eq!(task_tokens.len(), 2, "{task_tokens:?}");
    assert!(
        task_tokens.iter().all(|t| t.revoked_at.is_some()),
        "{task_tokens:?}"
    );
    // A stranger sees none of it.
    let bob = app.user("bob", false).await;
    let (s, _) = app
        .get("/api/v1/repos/@team/tools/builds", Some(&bob.token))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
