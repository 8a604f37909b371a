//! Forge push hooks and private git sources, through a real `kiln-agent`, a real `git daemon`
//! and real pushes: GitHub, Gitea, Forgejo and GitLab deliveries, each signed as that forge
//! signs; a wrong or missing signature is a 401 that builds nothing; a push rebuilds only the
//! auto-rebuild packages whose clone URL it names and whose subdir it changed, at the pushed
//! commit; a tag push builds the tag; a redelivery builds nothing; rel-eng reads the log by
//! API, CLI and the web UI without JavaScript. A private git repo behind HTTP Basic auth is
//! fetched with the repo's sealed credential, which no log or task shows.

use std::path::Path;
use std::process::{Command, Stdio};

use hmac::{Hmac, Mac};
use kiln_tests::dnf::{have_dnf, text, Root};
use kiln_tests::oidc::free_port;
use kiln_tests::pipeline::{wait_final, wait_for, Agent};
use kiln_tests::sources::{app, git, git_daemon, listening, package_repo, spec, Server};
use kiln_tests::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const HOOK: &str = "/hooks/forge/alice/tools";

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// POSTs `payload` to the hook with `headers`; the status and the answer.
async fn deliver(
    app: &TestApp,
    headers: &[(&str, String)],
    payload: &Value,
) -> (StatusCode, Value) {
    let body = serde_json::to_vec(payload).expect("json");
    let mut req = app
        .http
        .post(app.url(HOOK))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.expect("deliver");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// GitHub's headers for `payload` signed with `secret`.
fn github(
    secret: &str,
    event: &str,
    delivery: &str,
    payload: &Value,
) -> Vec<(&'static str, String)> {
    let sig = hmac_hex(secret, &serde_json::to_vec(payload).expect("json"));
    vec![
        ("X-GitHub-Event", event.to_owned()),
        ("X-GitHub-Delivery", delivery.to_owned()),
        ("X-Hub-Signature-256", format!("sha256={sig}")),
    ]
}

/// A GitHub/Gitea push payload.
fn push_payload(clone: &str, git_ref: &str, after: &str, changed: &[&str]) -> Value {
    json!({
        "ref": git_ref,
        "before": "0".repeat(40),
        "after": after,
        "repository": {"clone_url": clone, "html_url": clone.trim_end_matches(".git"), "default_branch": "main"},
        "commits": [{"id": after, "added": [], "removed": [], "modified": changed}],
    })
}

async fn tasks_count(app: &TestApp) -> usize {
    let (_, list) = app.get("/api/v1/repos/alice/tools/builds", None).await;
    list["total"].as_u64().expect("total") as usize
}

fn kiln_cli(app: &TestApp, token: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(kiln_tests::workspace_binary("kiln"))
        .args(args)
        .env_clear()
        .env("HOME", app.dir.path())
        .env("KILN_URL", &app.base)
        .env("KILN_TOKEN", token)
        .stdin(Stdio::null())
        .output()
        .expect("kiln");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Two packages in one git repo (`a/`, `b/`), one that follows another branch and one not
/// rebuilt on push; the git daemon serving it.
fn two_package_tree(base: &Path, work: &Path) -> String {
    let top = work.join("pkgs");
    for (dir, name) in [("a", "kiln-fa"), ("b", "kiln-fb")] {
        std::fs::create_dir_all(top.join(dir)).expect("mkdir");
        std::fs::write(
            top.join(dir).join(format!("{name}.spec")),
            spec(name, "1.0", ""),
        )
        .expect("spec");
        std::fs::write(top.join(dir).join("VERSION"), "one\n").expect("write");
    }
    git(&top, &["init", "-q", "-b", "main"]);
    git(&top, &["add", "."]);
    git(&top, &["commit", "-q", "-m", "two packages"]);
    git(
        &top,
        &[
            "remote",
            "add",
            "origin",
            &base.join("pkgs.git").display().to_string(),
        ],
    );
    git(base, &["init", "-q", "--bare", "pkgs.git"]);
    git(&top, &["push", "-q", "origin", "main"]);
    git(
        &base.join("pkgs.git"),
        &["symbolic-ref", "HEAD", "refs/heads/main"],
    );
    top.display().to_string()
}

/// Commits `content` to `file` of the tree and pushes it; the new commit.
fn commit_and_push(top: &Path, file: &str, content: &str) -> String {
    std::fs::write(top.join(file), content).expect("write");
    git(top, &["commit", "-q", "-am", &format!("change {file}")]);
    git(top, &["push", "-q", "origin", "main"]);
    git(top, &["rev-parse", "HEAD"])
}

#[tokio::test(flavor = "multi_thread")]
async fn forge_pushes_rebuild_what_they_changed() {
    let Some((app, alice)) = app(true).await else {
        return;
    };
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;
    let bob = app.user("bob", false).await;
    let (s, _) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/tools/members/bob",
            Some(&alice.token),
            Some(json!({"role": "packager"})),
        )
        .await;
    assert!(s.is_success());
    let base = tempfile::tempdir().expect("tmp");
    let work = tempfile::tempdir().expect("tmp");
    let top = two_package_tree(base.path(), work.path());
    let top = Path::new(&top);
    let (_daemon, daemon) = git_daemon(base.path()).await;
    let clone = format!("{daemon}/pkgs.git");
    let store = |name: &str, subdir: &str, reference: &str, auto: bool| {
        let body = json!({"source": {"type": "git", "url": clone, "ref": reference, "subdir": subdir}, "auto_rebuild": auto});
        let path = format!("/api/v1/repos/alice/tools/packages/{name}");
        let app = &app;
        let token = alice.token.clone();
        async move {
            let (s, p) = app.call(Method::PUT, &path, Some(&token), Some(body)).await;
            assert_eq!(s, StatusCode::CREATED, "{p:#}");
        }
    };
    store("kiln-fa", "a", "", true).await;
    store("kiln-fb", "b", "main", true).await;
    store("kiln-fc", "a", "", false).await;
    store("kiln-fd", "a", "stable", true).await;

    // No secret yet: refused, nothing recorded or built.
    let first = commit_and_push(top, "a/VERSION", "two\n");
    let payload = push_payload(&clone, "refs/heads/main", &first, &["a/VERSION"]);
    let (s, e) = deliver(&app, &github("anything", "push", "d-0", &payload), &payload).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{e:#}");
    assert!(e.to_string().contains("no forge secret"), "{e:#}");

    // Rel-eng sets the secret; a packager may not, nor read the log.
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/forge/secret",
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .get(
            "/api/v1/repos/alice/tools/forge/deliveries",
            Some(&bob.token),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, made) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/forge/secret",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made:#}");
    let secret = made["secret"].as_str().expect("secret").to_owned();
    assert!(
        made["url"].as_str().expect("url").ends_with(HOOK),
        "{made:#}"
    );
    let (_, hook) = app
        .get("/api/v1/repos/alice/tools/forge", Some(&alice.token))
        .await;
    assert!(hook["secret_set_at"].is_string(), "{hook:#}");
    assert!(
        !hook.to_string().contains(&secret),
        "the secret is shown once: {hook:#}"
    );

    // Wrong signatures, for each forge: 401, nothing built, nothing logged.
    let before = tasks_count(&app).await;
    let body = serde_json::to_vec(&payload).expect("json");
    let wrong = hmac_hex("not the secret", &body);
    for headers in [
        github("not the secret", "push", "d-x1", &payload),
        vec![
            ("X-Gitea-Event", "push".into()),
            ("X-Gitea-Signature", wrong.clone()),
        ],
        vec![
            ("X-Forgejo-Event", "push".into()),
            ("X-Forgejo-Signature", wrong.clone()),
        ],
        vec![
            ("X-Gitlab-Event", "Push Hook".into()),
            ("X-Gitlab-Token", "not the secret".into()),
        ],
        vec![("X-GitHub-Event", "push".into())],
    ] {
        let (s, e) = deliver(&app, &headers, &payload).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{headers:?}: {e:#}");
    }
    // A body changed after signing fails too.
    let sig = github(&secret, "push", "d-x2", &payload);
    let mut forged = payload.clone();
    forged["after"] = "f".repeat(40).into();
    assert_eq!(
        deliver(&app, &sig, &forged).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(tasks_count(&app).await, before);
    let (_, log) = app
        .get(
            "/api/v1/repos/alice/tools/forge/deliveries",
            Some(&alice.token),
        )
        .await;
    assert_eq!(log, json!([]));

    // GitHub: a ping, then the push that changed a/: kiln-fa is rebuilt at that commit; fb
    // (b/ unchanged), fc (not on push) and fd (another branch) are not.
    let ping = json!({"zen": "Keep it logically awesome.", "hook_id": 1});
    let (s, d) = deliver(&app, &github(&secret, "ping", "d-ping", &ping), &ping).await;
    assert_eq!(s, StatusCode::OK, "{d:#}");
    assert_eq!(d["event"], "ping");
    // GitHub's other content type: the JSON in a form's payload field, the body signed.
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &ping.to_string())
        .finish();
    let resp = app
        .http
        .post(app.url(HOOK))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-GitHub-Event", "ping")
        .header("X-GitHub-Delivery", "d-ping-form")
        .header(
            "X-Hub-Signature-256",
            format!("sha256={}", hmac_hex(&secret, form.as_bytes())),
        )
        .body(form)
        .send()
        .await
        .expect("deliver");
    assert_eq!(resp.status(), StatusCode::OK);
    let (s, d) = deliver(&app, &github(&secret, "push", "d-1", &payload), &payload).await;
    assert_eq!(s, StatusCode::OK, "{d:#}");
    assert_eq!(d["forge"], "github");
    let built = d["builds"].as_array().expect("builds").clone();
    assert_eq!(built.len(), 1, "{d:#}");
    assert_eq!(built[0]["package"], "kiln-fa");
    let outcome = d["outcome"].as_str().expect("outcome");
    assert!(
        outcome.contains("kiln-fb: no changed files under b/"),
        "{outcome}"
    );
    assert!(outcome.contains("kiln-fd: follows stable"), "{outcome}");
    assert!(!outcome.contains("kiln-fc"), "{outcome}");
    let fa = built[0]["task"].as_i64().expect("task");
    let done = wait_final(&app, fa, 180).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["source"]["commit"], first.as_str(), "{done:#}");
    // Published, and dnf installs what the push built, with every check on.
    let published = wait_for(&app, fa, 60, |t| t["publish_state"] == "published").await;
    assert_eq!(published["publish_state"], "published", "{published:#}");
    if have_dnf() {
        let repo_text = app
            .http
            .get(app.url("/repos/alice/tools/alice-tools.repo"))
            .send()
            .await
            .expect("repo")
            .text()
            .await
            .expect("repo");
        let root = Root::with_repo_file("alice-tools.repo", &repo_text);
        let out = root.dnf(&["install", "kiln-fa"]);
        assert!(out.status.success(), "{}", text(&out));
        let installed = std::fs::read_to_string(root.root().join("usr/share/kiln-fa/VERSION"))
            .expect("installed file");
        assert_eq!(installed, "two\n", "the pushed commit's content");
    }
    let (_, pkg) = app
        .get("/api/v1/repos/alice/tools/packages/kiln-fa", None)
        .await;
    assert_eq!(pkg["builds"], json!([fa]), "{pkg:#}");

    // The same delivery again builds nothing and answers the first outcome.
    let count = tasks_count(&app).await;
    let (s, again) = deliver(&app, &github(&secret, "push", "d-1", &payload), &payload).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["duplicate"], true, "{again:#}");
    assert_eq!(again["builds"], d["builds"]);
    assert_eq!(tasks_count(&app).await, count);

    // Gitea, then Forgejo: a push that changed b/ rebuilds kiln-fb.
    for (forge, sig_header, event_header) in [
        ("gitea", "X-Gitea-Signature", "X-Gitea-Event"),
        ("forgejo", "X-Forgejo-Signature", "X-Forgejo-Event"),
    ] {
        let commit = commit_and_push(top, "b/VERSION", &format!("{forge}\n"));
        let p = push_payload(&clone, "refs/heads/main", &commit, &["b/VERSION"]);
        let sig = hmac_hex(&secret, &serde_json::to_vec(&p).expect("json"));
        let headers = vec![
            (event_header, "push".to_owned()),
            (sig_header, sig),
            ("X-Gitea-Delivery", format!("{forge}-1")),
            ("X-Forgejo-Delivery", format!("{forge}-1")),
        ];
        let (s, d) = deliver(&app, &headers, &p).await;
        assert_eq!(s, StatusCode::OK, "{d:#}");
        assert_eq!(d["forge"], forge);
        assert_eq!(d["builds"][0]["package"], "kiln-fb", "{d:#}");
        assert_eq!(d["builds"].as_array().map(Vec::len), Some(1), "{d:#}");
    }

    // GitLab: a tag push builds the tag, for every auto-rebuild package of that clone URL.
    git(top, &["tag", "-a", "v2", "-m", "two"]);
    git(top, &["push", "-q", "origin", "v2"]);
    let tagged = git(top, &["rev-parse", "v2^{commit}"]);
    let tag = json!({
        "object_kind": "tag_push", "ref": "refs/tags/v2", "after": tagged,
        "total_commits_count": 0, "commits": [],
        "project": {"git_http_url": clone, "default_branch": "main"},
    });
    let headers = vec![
        ("X-Gitlab-Event", "Tag Push Hook".to_owned()),
        ("X-Gitlab-Token", secret.clone()),
        ("X-Gitlab-Event-UUID", "gl-1".to_owned()),
    ];
    let (s, d) = deliver(&app, &headers, &tag).await;
    assert_eq!(s, StatusCode::OK, "{d:#}");
    assert_eq!(d["event"], "tag");
    let names: Vec<&str> = d["builds"]
        .as_array()
        .expect("builds")
        .iter()
        .filter_map(|b| b["package"].as_str())
        .collect();
    assert_eq!(names, ["kiln-fa", "kiln-fb", "kiln-fd"], "{d:#}");
    let fb = d["builds"][1]["task"].as_i64().expect("task");
    let done = wait_final(&app, fb, 180).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["source"]["commit"], tagged.as_str(), "{done:#}");
    assert_eq!(done["source"]["source"]["ref"], "refs/tags/v2", "{done:#}");

    // The log, newest first, for rel-eng: API and CLI.
    let (_, log) = app
        .get(
            "/api/v1/repos/alice/tools/forge/deliveries",
            Some(&alice.token),
        )
        .await;
    let ids: Vec<&str> = log
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|d| d["delivery"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "gl-1",
            "forgejo-1",
            "gitea-1",
            "d-1",
            "d-ping-form",
            "d-ping"
        ],
        "{log:#}"
    );
    let (ok, out) = kiln_cli(&app, &alice.token, &["forge", "show", "alice/tools"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("hook URL: {}{HOOK}", app.base)),
        "{out}"
    );
    assert!(out.contains("built kiln-fa"), "{out}");
    let (ok, out) = kiln_cli(&app, &bob.token, &["forge", "show", "alice/tools"]);
    assert!(!ok && out.contains("releng"), "{out}");

    // Rotating by CLI: the new secret works at once and the old one no longer does.
    let (ok, out) = kiln_cli(
        &app,
        &alice.token,
        &["forge", "rotate-secret", "alice/tools"],
    );
    assert!(ok, "{out}");
    let new = out
        .lines()
        .find_map(|l| l.strip_prefix("secret:"))
        .expect("secret line")
        .trim()
        .to_owned();
    assert_ne!(new, secret);
    let ping2 = json!({"zen": "again"});
    let (s, _) = deliver(&app, &github(&secret, "ping", "d-ping-2", &ping2), &ping2).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = deliver(&app, &github(&new, "ping", "d-ping-2", &ping2), &ping2).await;
    assert_eq!(s, StatusCode::OK);
    // A private repo's hook still works when signed; unsigned, it is the 404 of a repo that
    // does not exist.
    let (s, _) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/tools",
            Some(&alice.token),
            Some(json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = deliver(&app, &github(&new, "ping", "d-ping-3", &ping2), &ping2).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = deliver(&app, &github(&secret, "ping", "d-ping-4", &ping2), &ping2).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/tools",
            Some(&alice.token),
            Some(json!({"visibility": "public"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // The web UI without JavaScript: the settings show the hook and its log to rel-eng, and a
    // form replaces the secret, shown once; the Packages tab points there.
    let b = kiln_tests::browser();
    let csrf = kiln_tests::sign_in(&app, &b, &alice).await;
    let (_, html) = kiln_tests::page(&b, &app, "/r/alice/tools/packages").await;
    assert!(html.contains("/r/alice/tools/settings#forge"), "{html}");
    let (s, html) = kiln_tests::page(&b, &app, "/r/alice/tools/settings").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Forge hook") && html.contains(HOOK), "{html}");
    assert!(html.contains("kiln-fa #"), "{html}");
    let resp = b
        .post(app.url("/forms/r/alice/tools/forge/secret"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html) = kiln_tests::page(&b, &app, "/r/alice/tools/settings").await;
    assert!(
        html.contains("kiln_forge_"),
        "the new secret is shown once: {html}"
    );
    let (_, html) = kiln_tests::page(&b, &app, "/r/alice/tools/settings").await;
    assert!(!html.contains("kiln_forge_"), "and only once");
    let bb = kiln_tests::browser();
    kiln_tests::sign_in(&app, &bb, &bob).await;
    let (_, html) = kiln_tests::page(&bb, &app, "/r/alice/tools/packages").await;
    assert!(!html.contains("settings#forge"), "{html}");
}

/// A static HTTP server that answers only requests carrying `user:password` as HTTP Basic
/// credentials: git's "dumb" HTTP protocol over `dir`. Its base URL.
async fn basic_auth_server(dir: &Path, user: &str, password: &str) -> (Server, String) {
    let port = free_port();
    let script = r#"
import base64, functools, http.server, sys
want = "Basic " + base64.b64encode(sys.argv[3].encode()).decode()
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        super().do_GET()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), functools.partial(H, directory=sys.argv[2])).serve_forever()
"#;
    let child = Command::new("python3")
        .args([
            "-c",
            script,
            &port.to_string(),
            &dir.display().to_string(),
            &format!("{user}:{password}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    listening(port).await;
    (Server(child), format!("http://127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn private_git_sources_are_fetched_with_the_repos_credential() {
    let Some((app, alice)) = app(true).await else {
        return;
    };
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;
    let base = tempfile::tempdir().expect("tmp");
    let work = tempfile::tempdir().expect("tmp");
    package_repo(
        base.path(),
        work.path(),
        "priv",
        "kiln-private",
        "private\n",
        &[],
    );
    git(&base.path().join("priv.git"), &["update-server-info"]);
    let token = "tok-Zq81-never-shown";
    let (_server, url) = basic_auth_server(base.path(), "bot", token).await;
    let host = url.trim_start_matches("http://").to_owned();
    let source = json!({"type": "git", "url": format!("{url}/priv.git"), "ref": "main"});
    let submit = || async {
        let (s, task) = app
            .call(
                Method::POST,
                "/api/v1/repos/alice/tools/builds",
                Some(&alice.token),
                Some(json!({"source": source})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{task:#}");
        wait_final(&app, task["id"].as_i64().expect("id"), 180).await
    };

    // Without a credential the fetch is refused, and the step says so.
    let failed = submit().await;
    assert_eq!(failed["state"], "failed", "{failed:#}");

    // Bad credentials are refused with the field named; a packager may not store one.
    let path = format!("/api/v1/repos/alice/tools/git-credentials/{host}");
    let (s, e) = app
        .call(
            Method::PUT,
            &path,
            Some(&alice.token),
            Some(json!({"username": "a:b", "password": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e:#}");
    assert_eq!(e["errors"][0]["field"], "username", "{e:#}");
    let (s, e) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/tools/git-credentials/bad%20host",
            Some(&alice.token),
            Some(json!({"username": "bot", "password": token})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e:#}");

    // By CLI, the token from standard input.
    let mut child = tokio::process::Command::new(kiln_tests::workspace_binary("kiln"))
        .args([
            "forge",
            "set-credential",
            "alice/tools",
            &host,
            "--username",
            "bot",
        ])
        .env_clear()
        .env("HOME", app.dir.path())
        .env("KILN_URL", &app.base)
        .env("KILN_TOKEN", &alice.token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kiln");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(format!("{token}\n").as_bytes())
            .await
            .expect("write");
    }
    let out = child.wait_with_output().await.expect("kiln");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (_, hook) = app
        .get("/api/v1/repos/alice/tools/forge", Some(&alice.token))
        .await;
    assert_eq!(
        hook["git_credentials"][0]["host"],
        host.as_str(),
        "{hook:#}"
    );
    assert!(!hook.to_string().contains(token), "{hook:#}");

    let built = submit().await;
    assert_eq!(built["state"], "succeeded", "{built:#}");
    let step = built["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .find(|s| s["kind"] == "srpm")
        .expect("srpm step")
        .clone();
    // The token is in no task, log or event a user can read.
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/tasks/{}/log", step["id"])))
        .send()
        .await
        .expect("log");
    let raw_log = resp.text().await.expect("log");
    for text in [built.to_string(), raw_log.clone()] {
        assert!(!text.contains(token), "{text}");
        let b64 = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("bot:{token}"),
        );
        assert!(!text.contains(&b64), "{text}");
    }
    assert!(raw_log.contains("cloning"), "{raw_log}");

    // Removed: the fetch fails again.
    let (ok, out) = kiln_cli(
        &app,
        &alice.token,
        &["forge", "delete-credential", "alice/tools", &host],
    );
    assert!(ok, "{out}");
    assert_eq!(submit().await["state"], "failed");

    // The settings page without JavaScript: a bad host comes back with its field named and
    // the password not echoed; a good one is listed (never its secret) and removed by form.
    let b = kiln_tests::browser();
    let csrf = kiln_tests::sign_in(&app, &b, &alice).await;
    let post = |host: &str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("host", host.to_owned()),
            ("username", "bot".to_owned()),
            ("password", token.to_owned()),
        ]
    };
    let resp = b
        .post(app.url("/forms/r/alice/tools/git-credentials"))
        .header("accept", "text/html")
        .form(&post("not a host"))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.expect("html");
    assert!(html.contains("is not a host name"), "{html}");
    assert!(!html.contains(token), "the password is not sent back");
    let resp = b
        .post(app.url("/forms/r/alice/tools/git-credentials"))
        .form(&post(&host))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html) = kiln_tests::page(&b, &app, "/r/alice/tools/settings").await;
    assert!(html.contains(&format!("<code>{host}</code>")), "{html}");
    assert!(!html.contains(token), "{html}");
    let resp = b
        .post(app.url(&format!(
            "/forms/r/alice/tools/git-credentials/{host}/delete"
        )))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, hook) = app
        .get("/api/v1/repos/alice/tools/forge", Some(&alice.token))
        .await;
    assert_eq!(hook["git_credentials"], json!([]), "{hook:#}");
}
