//! Scale-out: two `kiln serve` processes on one PostgreSQL database and one S3 store serve the
//! same users. A session made on one server works on the other (CSRF included); agents
//! registered with either server share one queue without a build claimed twice; a build's log
//! is followed live through the server that did not receive it; both servers publish into
//! the same repos and serve the same metadata. PostgreSQL is required (skipped with a notice
//! outside CI when no server answers).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kiln_tests::pipeline::{have_rpmbuild, srpm};
use kiln_tests::{fresh_pg_database, workspace_binary};
use serde_json::{json, Value};

/// Child processes killed with the test.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

struct Site {
    env: Vec<(String, String)>,
}

impl Site {
    fn kiln(&self, data: &Path) -> Command {
        let mut c = Command::new(workspace_binary("kiln"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", data)
            .env("KILN_DATA_DIR", data)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    /// `kiln ARGS` (an admin command on the shared database); its standard output.
    fn admin(&self, data: &Path, args: &[&str], stdin: &str) -> String {
        let mut child = self
            .kiln(data)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kiln admin");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "kiln {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Starts `kiln serve` on a free port; its base URL once it answers /readyz.
    async fn serve(&self, data: &Path, children: &mut Children) -> String {
        let port = free_port();
        let child = self
            .kiln(data)
            .env("KILN_LISTEN", format!("127.0.0.1:{port}"))
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(data.join("server.log")).expect("log"))
            .spawn()
            .expect("kiln serve");
        children.0.push(child);
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
                if r.status().is_success() {
                    return base;
                }
            }
            assert!(
                Instant::now() < deadline,
                "kiln serve did not start: {}",
                std::fs::read_to_string(data.join("server.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// An agent registered with `server`, built with rpmbuild; stops when the test ends.
fn agent(site: &Site, data: &Path, server: &str, name: &str, children: &mut Children) {
    let token = site.admin(data, &["admin", "agent-token", "--name", name], "");
    let work = data.join(format!("agent-{name}"));
    std::fs::create_dir_all(&work).expect("work");
    let child = Command::new(workspace_binary("kiln-agent"))
        .args(["--server", server, "--name", name, "--capacity", "1"])
        .args(["--backend", "rpmbuild", "--exit-with-stdin", "--work-dir"])
        .arg(&work)
        .env("KILN_AGENT_REGISTRATION_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data.join(format!("{name}.log"))).expect("log"))
        .spawn()
        .expect("kiln-agent");
    children.0.push(child);
}

async fn submit(http: &reqwest::Client, base: &str, token: &str, srpm: &PathBuf) -> i64 {
    let name = srpm.file_name().and_then(|n| n.to_str()).expect("name");
    let form = reqwest::multipart::Form::new().part(
        "srpm",
        reqwest::multipart::Part::bytes(std::fs::read(srpm).expect("srpm"))
            .file_name(name.to_owned()),
    );
    let resp = http
        .post(format!("{base}/api/v1/repos/alice/tools/builds"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("submit");
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id")
}

async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

async fn task(http: &reqwest::Client, base: &str, id: i64) -> Value {
    get_json(http, format!("{base}/api/v1/tasks/{id}")).await
}

async fn wait_published(http: &reqwest::Client, base: &str, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let t = task(http, base, id).await;
        if t["publish_state"] == "published" {
            return t;
        }
        assert!(
            t["state"] != "failed" && Instant::now() < deadline,
            "task {id}: {t:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_share_one_database_and_one_store() {
    if !have_rpmbuild() {
        return;
    }
    let Some(pg) = fresh_pg_database().await else {
        return;
    };
    let s3 = kiln_tests::s3::S3Server::start().await;
    let c = s3.config();
    let site = Site {
        env: vec![
            ("KILN_DATABASE_URL", pg),
            ("KILN_STORAGE_BACKEND", "s3".into()),
            ("KILN_S3_ENDPOINT", c.endpoint.clone().unwrap_or_default()),
            ("KILN_S3_REGION", c.region.clone()),
            ("KILN_S3_BUCKET", c.bucket.clone()),
            ("KILN_S3_PREFIX", c.prefix.clone()),
            ("KILN_S3_PATH_STYLE", "true".into()),
            ("KILN_S3_ACCESS_KEY_ID", s3.access_key.clone()),
            ("KILN_S3_SECRET_ACCESS_KEY", s3.secret_key.clone()),
            (
                "KILN_SIGNING_SERVER_KEY",
                "one server key for both servers".into(),
            ),
            ("KILN_SIGNING_KEY_TYPE", "ed25519".into()),
            ("KILN_LOCAL_AGENT", "off".into()),
            ("KILN_BUILDS_LEASE_SECONDS", "3".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    };
    let dirs = [
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    ];
    let (da, db) = (dirs[0].path(), dirs[1].path());
    let mut children = Children(Vec::new());
    let a = site.serve(da, &mut children).await;
    let b = site.serve(db, &mut children).await;
    site.admin(
        da,
        &[
            "admin",
            "create-user",
            "--username",
            "alice",
            "--password-file",
            "-",
        ],
        "alice-long-password\n",
    );
    let token = site.admin(
        da,
        &[
            "admin",
            "create-token",
            "--username",
            "alice",
            "--name",
            "cli",
        ],
        "",
    );

    // A session made on A works on B, and B accepts A's CSRF token.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let csrf: Value = get_json(&browser, format!("{a}/auth/csrf")).await;
    let csrf = csrf["csrf_token"].as_str().expect("token").to_owned();
    let login = browser
        .post(format!("{a}/auth/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "alice"),
            ("password", "alice-long-password"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 303);
    let me: Value = get_json(&browser, format!("{b}/api/v1/me")).await;
    assert_eq!(me["username"], "alice", "{me}");
    let csrf: Value = get_json(&browser, format!("{b}/auth/csrf")).await;
    let created = browser
        .post(format!("{b}/api/v1/repos"))
        .header("x-csrf-token", csrf["csrf_token"].as_str().expect("token"))
        .json(&json!({"name": "tools", "chroots": ["fedora-44-x86_64"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    let macros = reqwest::Client::new()
        .patch(format!(
            "{a}/api/v1/repos/alice/tools/mock-configs/fedora-44-x86_64"
        ))
        .bearer_auth(&token)
        .json(&json!({"macros": {"slow_seconds": "3"}}))
        .send()
        .await
        .expect("macros");
    assert_eq!(macros.status(), 200);

    // One agent on each server; six builds submitted alternately to A and B.
    agent(&site, da, &a, "agent-a", &mut children);
    agent(&site, db, &b, "agent-b", &mut children);
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().expect("srpms");
    let hello = srpm("kiln-hello", dir.path());
    let slow = srpm("kiln-slow", dir.path());
    let mut ids = Vec::new();
    for i in 0..6 {
        let base = if i % 2 == 0 { &a } else { &b };
        ids.push(submit(&http, base, &token, &hello).await);
    }
    // The log of a build sent to A, followed live through B.
    let slow_id = submit(&http, &a, &token, &slow).await;
    let sub = task(&http, &a, slow_id).await["subtasks"][0]["id"]
        .as_i64()
        .expect("subtask");
    let follow = http
        .get(format!("{b}/api/v1/tasks/{sub}/log?follow=1"))
        .send()
        .await
        .expect("follow");
    assert_eq!(follow.status(), 200);
    let mut stream = follow.bytes_stream();
    let mut text = String::new();
    let mut tick_seen_running = false;
    let deadline = Instant::now() + Duration::from_secs(90);
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline.into(), stream.next()).await {
        text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        if !tick_seen_running && text.contains("kiln-slow: tick 1") {
            let t = task(&http, &a, slow_id).await;
            tick_seen_running = t["subtasks"][0]["state"] == "running";
        }
    }
    assert!(tick_seen_running, "the log arrived while the build ran");
    assert!(text.contains("kiln-slow: tick 3"), "{text}");
    assert!(text.contains("event: end"), "{text}");

    // Every build built once, by either agent, and published; both agents worked.
    let mut agents = std::collections::BTreeSet::new();
    ids.push(slow_id);
    for id in &ids {
        let t = wait_published(&http, &b, *id).await;
        let s = &t["subtasks"][0];
        assert_eq!(s["state"], "succeeded", "{t:#}");
        assert_eq!(s["attempt"], 1, "claimed once: {t:#}");
        agents.insert(s["agent"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        agents.into_iter().collect::<Vec<_>>(),
        ["agent-a", "agent-b"]
    );
    // Both servers serve the same metadata, listing every build.
    let repomd = |base: &str| {
        let url = format!("{base}/repos/alice/tools/fedora-44-x86_64/repodata/repomd.xml");
        let http = http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .expect("repomd")
                .text()
                .await
                .expect("text")
        }
    };
    let (ra, rb) = (repomd(&a).await, repomd(&b).await);
    assert_eq!(ra, rb);
    let primary_href = ra
        .split("<data type=\"primary\">")
        .nth(1)
        .and_then(|s| s.split("<location href=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .expect("primary");
    let gz = http
        .get(format!(
            "{b}/repos/alice/tools/fedora-44-x86_64/{primary_href}"
        ))
        .send()
        .await
        .expect("primary")
        .bytes()
        .await
        .expect("bytes");
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut xml)
        .expect("gunzip");
    // Six builds of kiln-hello-1.0-1.fc44.noarch and one of kiln-slow: one entry per NEVRA,
    // the newest kiln-hello build's.
    assert!(xml.contains("packages=\"2\""), "{xml}");
    let newest = ids[..6].iter().max().expect("builds");
    let newest_task = task(&http, &a, *newest).await;
    let href = format!(
        "{:08}/kiln-hello-1.0-1.fc44.noarch.rpm",
        newest_task["subtasks"][0]["id"].as_i64().expect("subtask")
    );
    assert!(xml.contains(&href), "{href}: {xml}");
}
