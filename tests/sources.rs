//! Builds from sources, through real `kiln-agent` processes and real servers: a `.src.rpm` and
//! a `.spec` (its `Source0` fetched) from a local HTTP server, a git source in a subdir with a
//! submodule pinned at an older commit from `git daemon`; the SRPM step is a subtask of its
//! own, the parent records the commit or the download's SHA-256, and a resubmit builds the
//! same commit. Refusals: schemes and addresses the site does not allow (400 before anything is
//! queued), and, in the agent's step, two specs, a missing spec, a subdir outside the tree, and
//! a spec whose `%(…)` code tries to reach the network or write outside the sandbox.

use std::path::Path;
use std::process::Command;

use kiln_tests::pipeline::{srpm, wait_final, Agent};
use kiln_tests::sources::{app, git, git_daemon, http_server, package_repo, spec};
use kiln_tests::{TestApp, TestUser};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

async fn submit(app: &TestApp, alice: &TestUser, source: Value) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/v1/repos/alice/tools/builds",
        Some(&alice.token),
        Some(json!({ "source": source })),
    )
    .await
}

async fn build(app: &TestApp, alice: &TestUser, source: Value) -> Value {
    let (s, task) = submit(app, alice, source).await;
    assert_eq!(s, StatusCode::CREATED, "{task:#}");
    wait_final(app, task["id"].as_i64().expect("id"), 180).await
}

fn subtasks<'a>(task: &'a Value, kind: &str) -> Vec<&'a Value> {
    task["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .filter(|s| s["kind"] == kind)
        .collect()
}

/// The content of `path` inside the subtask's binary RPM.
async fn file_in_rpm(app: &TestApp, subtask: &Value, path: &str) -> String {
    let rpm = subtask["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .find(|a| a["kind"] == "rpm")
        .expect("an RPM");
    let bytes = app
        .http
        .get(app.url(rpm["url"].as_str().expect("url")))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("x.rpm");
    std::fs::write(&file, &bytes).expect("write");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "rpm2archive - < {} | tar -xzO .{path}",
            file.display()
        ))
        .output()
        .expect("rpm2cpio");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn sha256_of(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).expect("read")))
}

/// A `.src.rpm` URL is built as it is; a `.spec` URL has its `Source0` fetched first. Both go
/// through an `srpm` subtask, and the parent records what was downloaded.
#[tokio::test]
async fn url_sources_build_through_the_srpm_step() {
    let Some((app, alice)) = app(true).await else {
        return;
    };
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;
    let site = tempfile::tempdir().expect("tmp");
    let made = srpm("kiln-hello", site.path());
    let (_http, base) = http_server(site.path()).await;
    let file = made.file_name().and_then(|n| n.to_str()).expect("name");

    let done = build(
        &app,
        &alice,
        json!({"type": "url", "url": format!("{base}/{file}")}),
    )
    .await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let step = subtasks(&done, "srpm");
    assert_eq!(step.len(), 1, "{done:#}");
    assert_eq!(step[0]["state"], "succeeded");
    let builds = subtasks(&done, "build");
    assert!(!builds.is_empty(), "{done:#}");
    assert!(builds
        .iter()
        .all(|b| b["state"] == "succeeded" && b["package"]["name"] == "kiln-hello"));
    assert_eq!(done["source"]["source"]["type"], "url");
    assert_eq!(done["source"]["sha256"], sha256_of(&made));
    // The build's end event says what it was made from and shows the step.
    let ends = kiln_core::entities::events::Entity::find()
        .filter(kiln_core::entities::events::Column::Topic.eq("kiln.build.end"))
        .all(&app.kiln_ref().db)
        .await
        .expect("events");
    let end = ends
        .iter()
        .find(|e| e.body["data"]["id"] == done["id"])
        .expect("the end event");
    assert_eq!(
        end.body["data"]["source"]["sha256"],
        sha256_of(&made),
        "{:#}",
        end.body
    );
    assert!(
        end.body["data"]["subtasks"]
            .as_array()
            .expect("subtasks")
            .iter()
            .any(|s| s["kind"] == "srpm"),
        "{:#}",
        end.body
    );

    // A spec whose Source0 is a URL: fetched by the agent, then rpmbuild -bs in the sandbox.
    std::fs::write(site.path().join("VERSION.txt"), "from-the-web\n").expect("write");
    std::fs::write(
        site.path().join("kiln-web.spec"),
        spec("kiln-web", "2.0", "").replace(
            "Source1: VERSION\n",
            &format!("Source1: {base}/VERSION.txt#/VERSION\n"),
        ),
    )
    .expect("spec");
    let done = build(
        &app,
        &alice,
        json!({"type": "url", "url": format!("{base}/kiln-web.spec")}),
    )
    .await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let builds = subtasks(&done, "build");
    assert_eq!(
        file_in_rpm(&app, builds[0], "/usr/share/kiln-web/VERSION").await,
        "from-the-web"
    );
    // The CLI: `kiln build OWNER/REPO --url URL --wait` follows the step and the builds.
    let cli = tokio::process::Command::new(kiln_tests::workspace_binary("kiln"))
        .args([
            "build",
            "alice/tools",
            "--url",
            &format!("{base}/{file}"),
            "--wait",
        ])
        .env_clear()
        .env("HOME", app.dir.path())
        .env("KILN_URL", &app.base)
        .env("KILN_TOKEN", &alice.token)
        .output()
        .await
        .expect("kiln build");
    let out = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(out.contains(&format!("from {base}/{file}")), "{out}");
    assert!(out.contains("SRPM step: succeeded"), "{out}");
    assert!(out.contains("kiln-hello: succeeded"), "{out}");

    // The step's log says what it fetched.
    let log = kiln_tests::pipeline::task_log(&app, &subtasks(&done, "srpm")[0]["id"]).await;
    assert!(log.contains("=== Kiln SRPM step attempt 1"), "{log}");
    assert!(
        log.contains(&format!("Source1: downloading {base}/VERSION.txt")),
        "{log}"
    );
}

/// The default site allows only https to public addresses: other schemes, loopback, private
/// and metadata addresses are refused with a 400 naming the field, and nothing is queued.
#[tokio::test]
async fn sources_the_site_does_not_allow_are_refused_before_anything_is_queued() {
    let Some((app, alice)) = app(false).await else {
        return;
    };
    for (source, field, why) in [
        (
            json!({"type": "url", "url": "ftp://example.org/x.src.rpm"}),
            "source.url",
            "scheme ftp: is not allowed",
        ),
        (
            json!({"type": "url", "url": "file:///etc/passwd.src.rpm"}),
            "source.url",
            "scheme file: is not allowed",
        ),
        (
            json!({"type": "url", "url": "https://127.0.0.1/x.src.rpm"}),
            "source.url",
            "not a public address",
        ),
        (
            json!({"type": "url", "url": "https://localhost/x.src.rpm"}),
            "source.url",
            "not a public address",
        ),
        (
            json!({"type": "url", "url": "http://169.254.169.254/latest.spec"}),
            "source.url",
            "not a public address",
        ),
        (
            json!({"type": "git", "url": "git://10.0.0.1/x.git"}),
            "source.url",
            "not a public address",
        ),
        (
            json!({"type": "git", "url": "https://u:p@192.0.2.1/x.git"}),
            "source.url",
            "credentials",
        ),
        (
            json!({"type": "url", "url": "https://1.1.1.1/x.tar.gz"}),
            "source.url",
            "must name a .src.rpm or a .spec",
        ),
        (
            json!({"type": "git", "url": "https://1.1.1.1/x.git", "ref": "--upload-pack=sh"}),
            "source.ref",
            "is not a git ref",
        ),
        (
            json!({"type": "git", "url": "https://1.1.1.1/x.git", "subdir": "../etc"}),
            "source.subdir",
            "relative path",
        ),
        (
            json!({"type": "git", "url": "https://1.1.1.1/x.git", "spec": "a/b.spec"}),
            "source.spec",
            "name of a .spec",
        ),
        (
            json!({"type": "git", "url": "https://1.1.1.1/x.git", "method": "make_srpm"}),
            "source.method",
            "needs a builder agent with the mock backend",
        ),
        (
            json!({"type": "svn", "url": "https://1.1.1.1/x"}),
            "body",
            "",
        ),
    ] {
        let (s, body) = submit(&app, &alice, source.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{source}: {body:#}");
        let detail = body["errors"][0]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(why), "{source}: {body:#}");
        if field != "body" {
            assert!(detail.starts_with(field), "{source}: {body:#}");
        }
    }
    let (_, list) = app.get("/api/v1/repos/alice/tools/builds", None).await;
    assert_eq!(list["total"], 0, "{list:#}");
}

/// A git source in a subdir whose spec takes a file from a submodule: the submodule is checked
/// out at the commit the tree pins (not its branch's newest), the parent records the commit,
/// and a resubmit builds that commit even after the branch moved on. The agent's step refuses
/// two specs, a missing spec and a missing subdir, and a spec's `%(…)` runs without network and
/// cannot write outside its workspace.
#[tokio::test]
async fn git_sources_build_the_pinned_tree() {
    let Some((app, alice)) = app(true).await else {
        return;
    };
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;
    let base = tempfile::tempdir().expect("tmp");
    let work = tempfile::tempdir().expect("tmp");
    // The submodule: VERSION 1 (pinned), then 2 on its branch.
    let sub = work.path().join("vendor");
    std::fs::create_dir_all(&sub).expect("mkdir");
    git(&sub, &["init", "-q", "-b", "main"]);
    std::fs::write(sub.join("VERSION"), "pinned-1\n").expect("write");
    git(&sub, &["add", "."]);
    git(&sub, &["commit", "-q", "-m", "one"]);
    git(
        base.path(),
        &[
            "clone",
            "-q",
            "--bare",
            &sub.display().to_string(),
            "vendor.git",
        ],
    );
    // The package: pkg/kiln-git.spec, pkg/VERSION -> vendor/VERSION (a symlink into the
    // submodule).
    let (_daemon, url) = git_daemon(base.path()).await;
    // A server the hostile spec tries to reach (it must not, from the sandbox).
    let site = tempfile::tempdir().expect("tmp");
    let (_http, http_base) = http_server(site.path()).await;
    let top = work.path().join("top");
    std::fs::create_dir_all(top.join("pkg")).expect("mkdir");
    git(&top, &["init", "-q", "-b", "main"]);
    std::fs::write(top.join("pkg/kiln-git.spec"), spec("kiln-git", "1.0", "")).expect("spec");
    git(
        &top,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            &format!("{url}/vendor.git"),
            "pkg/vendor",
        ],
    );
    std::os::unix::fs::symlink("vendor/VERSION", top.join("pkg/VERSION")).expect("symlink");
    // Two specs and a hostile one in other dirs.
    std::fs::create_dir_all(top.join("two")).expect("mkdir");
    std::fs::write(top.join("two/a.spec"), spec("a", "1", "")).expect("spec");
    std::fs::write(top.join("two/b.spec"), spec("b", "1", "")).expect("spec");
    std::fs::create_dir_all(top.join("hostile")).expect("mkdir");
    let escape = base.path().join("escaped");
    std::fs::write(top.join("hostile/VERSION"), "x\n").expect("write");
    std::fs::write(
        top.join("hostile/kiln-hostile-spec.spec"),
        spec(
            "kiln-hostile-spec",
            &format!(
                "%(python3 -c 'import urllib.request; urllib.request.urlopen(\"{http_base}/\", timeout=3)' >/dev/null 2>&1 && echo 9 || echo 1)"
            ),
            &format!("%global escaped %(touch {} 2>/dev/null; echo)\n", escape.display()),
        ),
    )
    .expect("spec");
    git(&top, &["add", "."]);
    git(&top, &["commit", "-q", "-m", "package"]);
    let pinned = git(&top, &["rev-parse", "HEAD"]);
    git(
        base.path(),
        &[
            "clone",
            "-q",
            "--bare",
            &top.display().to_string(),
            "top.git",
        ],
    );
    // The submodule's branch moves on after the pin.
    std::fs::write(sub.join("VERSION"), "newer-2\n").expect("write");
    git(&sub, &["commit", "-q", "-am", "two"]);
    git(
        &sub,
        &[
            "push",
            "-q",
            &base.path().join("vendor.git").display().to_string(),
            "main",
        ],
    );

    let source =
        json!({"type": "git", "url": format!("{url}/top.git"), "ref": "main", "subdir": "pkg"});
    let done = build(&app, &alice, source).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["source"]["commit"], pinned, "{done:#}");
    let b = &subtasks(&done, "build")[0];
    assert_eq!(
        file_in_rpm(&app, b, "/usr/share/kiln-git/VERSION").await,
        "pinned-1"
    );

    // The branch moves on; a resubmit builds the recorded commit.
    std::fs::write(top.join("pkg/kiln-git.spec"), spec("kiln-git", "3.0", "")).expect("spec");
    git(&top, &["commit", "-q", "-am", "three"]);
    git(
        &top,
        &[
            "push",
            "-q",
            &base.path().join("top.git").display().to_string(),
            "main",
        ],
    );
    let (s, again) = app
        .call(
            Method::POST,
            &format!("/api/v1/tasks/{}/resubmit", done["id"]),
            Some(&alice.token),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{again:#}");
    let again = wait_final(&app, again["id"].as_i64().expect("id"), 180).await;
    assert_eq!(again["state"], "succeeded", "{again:#}");
    assert_eq!(again["source"]["commit"], pinned, "{again:#}");
    assert_eq!(subtasks(&again, "build")[0]["package"]["version"], "1.0");

    // The web UI without JavaScript: the upload page's git form. A bad subdir comes back with
    // the message next to its field; a good one goes to the build's page, which shows the
    // source and, once fetched, the commit.
    let b = kiln_tests::browser();
    let csrf = kiln_tests::sign_in(&app, &b, &alice).await;
    let (s, html) = kiln_tests::page(&b, &app, "/r/alice/tools/upload").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("action=\"/forms/r/alice/tools/source\""),
        "{html}"
    );
    let git_url = format!("{url}/top.git");
    let form = |subdir: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("type", "git".to_owned()),
            ("url", git_url.clone()),
            ("ref", "main".to_owned()),
            ("subdir", subdir.to_owned()),
        ]
    };
    let resp = b
        .post(app.url("/forms/r/alice/tools/source"))
        .header("accept", "text/html")
        .form(&form("../up"))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.expect("html");
    assert!(
        html.contains("must be a relative path inside the tree"),
        "{html}"
    );
    assert!(html.contains(&git_url), "the typed URL is kept: {html}");
    let resp = b
        .post(app.url("/forms/r/alice/tools/source"))
        .form(&form("pkg"))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let id: i64 = to
        .rsplit('/')
        .next()
        .and_then(|i| i.parse().ok())
        .expect("build id");
    let from_form = wait_final(&app, id, 180).await;
    assert_eq!(from_form["state"], "succeeded", "{from_form:#}");
    let (_, html) = kiln_tests::page(&b, &app, &to).await;
    assert!(html.contains("SRPM step"), "{html}");
    assert!(
        html.contains(from_form["source"]["commit"].as_str().expect("commit")),
        "{html}"
    );

    // Refusals in the step: failed srpm subtasks with the reason, no builds.
    for (subdir, spec_name, why) in [
        ("two", "", "2 spec files (a.spec, b.spec)"),
        ("pkg", "missing.spec", "there is no missing.spec"),
        ("nowhere", "", "no directory"),
    ] {
        let done = build(
            &app,
            &alice,
            json!({"type": "git", "url": format!("{url}/top.git"), "subdir": subdir, "spec": spec_name}),
        )
        .await;
        assert_eq!(done["state"], "failed", "{done:#}");
        let step = subtasks(&done, "srpm");
        assert_eq!(step[0]["failure_stage"], "source", "{done:#}");
        assert!(
            step[0]["reason"].as_str().unwrap_or_default().contains(why),
            "{done:#}"
        );
        assert!(subtasks(&done, "build").is_empty());
    }
    // The hostile spec: no network (version 1, not 9) and nothing written outside.
    let done = build(
        &app,
        &alice,
        json!({"type": "git", "url": format!("{url}/top.git"), "subdir": "hostile"}),
    )
    .await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(
        subtasks(&done, "build")[0]["package"]["version"],
        "1",
        "{done:#}"
    );
    assert!(!escape.exists(), "the spec wrote outside the sandbox");
}

/// A package keeps its source: stored (201, then 200 when replaced), checked like a build's
/// source, built now (its build points back to it), listed with its builds and its newest
/// published version, by the API and the CLI; only packagers may change it.
#[tokio::test]
async fn packages_keep_their_source_and_build_it_now() {
    let Some((app, alice)) = app(true).await else {
        return;
    };
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;
    let site = tempfile::tempdir().expect("tmp");
    let made = srpm("kiln-hello", site.path());
    let (_http, base) = http_server(site.path()).await;
    let file = made.file_name().and_then(|n| n.to_str()).expect("name");
    let path = "/api/v1/repos/alice/tools/packages/kiln-hello";
    let body = json!({"source": {"type": "url", "url": format!("{base}/{file}")}});

    let (s, p) = app
        .call(Method::PUT, path, Some(&alice.token), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p:#}");
    assert_eq!(p["auto_rebuild"], false);
    let mut again = body.clone();
    again["auto_rebuild"] = true.into();
    let (s, p) = app
        .call(Method::PUT, path, Some(&alice.token), Some(again))
        .await;
    assert_eq!(s, StatusCode::OK, "{p:#}");
    assert_eq!(p["auto_rebuild"], true);
    assert_eq!(p["builds"], json!([]));

    // Refusals: a bad name, a source the site does not allow, strangers and anonymous.
    let (s, e) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/tools/packages/bad%20name",
            Some(&alice.token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e:#}");
    let (s, e) = app
        .call(
            Method::PUT,
            path,
            Some(&alice.token),
            Some(json!({"source": {"type": "url", "url": "ftp://example.org/x.src.rpm"}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e:#}");
    assert!(
        e["errors"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("source.url"),
        "{e:#}"
    );
    let bob = app.user("bob", false).await;
    let (s, _) = app
        .call(Method::PUT, path, Some(&bob.token), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(Method::POST, &format!("{path}/builds"), None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Build it now: the build records the package; once published, the package shows it.
    let (s, task) = app
        .call(
            Method::POST,
            &format!("{path}/builds"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{task:#}");
    let id = task["id"].as_i64().expect("id");
    let done = kiln_tests::pipeline::wait_for(&app, id, 180, |t| {
        t["publish_state"] == "published" || t["state"] == "failed"
    })
    .await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let (_, p) = app.get(path, None).await;
    assert_eq!(p["builds"], json!([id]), "{p:#}");
    let published = p["published"].as_array().expect("published");
    assert!(
        published
            .iter()
            .any(|v| v["name"] == "kiln-hello" && v["version"] == "1.0" && v["build"] == id),
        "{p:#}"
    );
    let (_, list) = app.get("/api/v1/repos/alice/tools/packages", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list:#}");

    // The CLI lists it with its newest version.
    let cli = tokio::process::Command::new(kiln_tests::workspace_binary("kiln"))
        .args(["package", "list", "alice/tools"])
        .env_clear()
        .env("HOME", app.dir.path())
        .env("KILN_URL", &app.base)
        .env("KILN_TOKEN", &alice.token)
        .output()
        .await
        .expect("kiln package list");
    let out = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(
        out.contains(&format!("kiln-hello  {base}/{file}  (rebuilt on push)")),
        "{out}"
    );
    assert!(out.contains("kiln-hello-1.0-1"), "{out}");

    // The web UI without JavaScript: the packages tab lists it; a packager stores another
    // package (a bad URL comes back next to its field) and builds it now.
    let b = kiln_tests::browser();
    let csrf = kiln_tests::sign_in(&app, &b, &alice).await;
    let (s, html) = kiln_tests::page(&b, &app, "/r/alice/tools/packages").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("id=\"package-kiln-hello\""), "{html}");
    assert!(html.contains("kiln-hello-1.0-1"), "{html}");
    // Its own page: the source, what is published, its builds with their state.
    let (s, html) = kiln_tests::page(&b, &app, "/r/alice/tools/packages/kiln-hello").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&format!("{base}/{file}")), "{html}");
    assert!(html.contains("kiln-hello-1.0-1"), "{html}");
    assert!(
        html.contains(&format!("/r/alice/tools/builds/{id}")),
        "{html}"
    );
    assert!(html.contains("Build kiln-hello now"), "{html}");
    let (s, _) = kiln_tests::page(&b, &app, "/r/alice/tools/packages/no-such").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let store = |url: String| {
        vec![
            ("csrf_token", csrf.clone()),
            ("name", "kiln-hello-copy".to_owned()),
            ("type", "url".to_owned()),
            ("url", url),
        ]
    };
    let resp = b
        .post(app.url("/forms/r/alice/tools/packages"))
        .header("accept", "text/html")
        .form(&store("ftp://example.org/x.src.rpm".into()))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.expect("html");
    assert!(html.contains("is not allowed"), "{html}");
    let resp = b
        .post(app.url("/forms/r/alice/tools/packages"))
        .form(&store(format!("{base}/{file}")))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = b
        .post(app.url("/forms/r/alice/tools/packages/kiln-hello-copy/build"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let built: i64 = to
        .rsplit('/')
        .next()
        .and_then(|i| i.parse().ok())
        .expect("build id");
    assert_eq!(wait_final(&app, built, 180).await["state"], "succeeded");
    let (_, copy) = app
        .get("/api/v1/repos/alice/tools/packages/kiln-hello-copy", None)
        .await;
    assert_eq!(copy["builds"], json!([built]), "{copy:#}");

    // Deleting the package keeps its builds.
    let (s, _) = app
        .call(Method::DELETE, path, Some(&alice.token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.get(path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.get(&format!("/api/v1/tasks/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
}

/// A git tree whose `.copr/Makefile` writes the spec and makes the SRPM (Copr's make_srpm),
/// in `pkg/`; the bare repo under `base` and its URL.
fn makefile_tree(base: &Path, work: &Path) {
    let top = work.join("made");
    std::fs::create_dir_all(top.join(".copr")).expect("mkdir");
    std::fs::create_dir_all(top.join("pkg")).expect("mkdir");
    std::fs::write(
        top.join("pkg/kiln-made.spec.in"),
        spec("kiln-made", "@VERSION@", ""),
    )
    .expect("spec");
    std::fs::write(top.join("pkg/VERSION"), "made by make\n").expect("write");
    std::fs::write(
        top.join(".copr/Makefile"),
        "srpm:\n\tsed 's/@VERSION@/3.1/' kiln-made.spec.in > kiln-made.spec\n\
         \trpmbuild -bs kiln-made.spec --define \"_sourcedir $$PWD\" --define \"_srcrpmdir $(outdir)\" \
         --define \"_topdir /tmp/top\"\n",
    )
    .expect("makefile");
    git(&top, &["init", "-q", "-b", "main"]);
    git(&top, &["add", "."]);
    git(&top, &["commit", "-q", "-m", "made"]);
    git(
        base,
        &[
            "clone",
            "-q",
            "--bare",
            &top.display().to_string(),
            "made.git",
        ],
    );
}

/// `make_srpm` runs the tree's `.copr/Makefile` in a mock chroot (the named fake mock here),
/// or on the host in bubblewrap where the site allows it; with neither, it is refused at
/// submission, and an rpmbuild agent given one anyway fails the step with the reason.
#[tokio::test]
async fn make_srpm_runs_the_trees_makefile_in_a_chroot() {
    let Some((app, alice)) = app(true).await else {
        return;
    };
    let base = tempfile::tempdir().expect("tmp");
    let work = tempfile::tempdir().expect("tmp");
    makefile_tree(base.path(), work.path());
    let (_daemon, url) = git_daemon(base.path()).await;
    let source = json!({"type": "git", "url": format!("{url}/made.git"), "subdir": "pkg", "method": "make_srpm"});
    // Only an rpmbuild agent: refused before anything is queued.
    let _plain = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    let (s, e) = submit(&app, &alice, source.clone()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e:#}");
    assert_eq!(e["errors"][0]["field"], "source.method", "{e:#}");
    // With a mock agent: the step runs in its chroot. (The rpmbuild agent is drained so the
    // mock agent takes it.)
    let root = app.user("root", true).await;
    let (st, _) = app
        .call(
            Method::PUT,
            "/api/v1/agents/builder-1/state",
            Some(&root.token),
            Some(json!({"state": "draining"})),
        )
        .await;
    assert!(st.is_success(), "{st}");
    let fake = kiln_tests::repo_root().join("tests/fixtures/fake-mock");
    let _mocker = Agent::start_with(&app, "mocker", &["x86_64"], 1, "mock", Some(&fake)).await;
    // Submissions check that a mock agent is online: wait until it has registered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, agents) = app.get("/api/v1/agents", Some(&root.token)).await;
        let online = agents
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["name"] == "mocker" && a["state"] == "online");
        if online {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the mock agent registers: {agents:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let done = build(&app, &alice, source.clone()).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let rpm = subtasks(&done, "build")[0];
    assert_eq!(
        file_in_rpm(&app, rpm, "/usr/share/kiln-made/VERSION").await,
        "made by make"
    );
    assert_eq!(rpm["package"]["version"], "3.1", "{done:#}");
    let step = subtasks(&done, "srpm")[0];
    let log = app
        .http
        .get(app.url(&format!("/api/v1/tasks/{}/log", step["id"])))
        .send()
        .await
        .expect("log")
        .text()
        .await
        .expect("log");
    assert!(log.contains("make_srpm in a mock chroot"), "{log}");

    // On the host where the site allows it (an rpmbuild agent only).
    let Some((host_app, owner)) = host_app().await else {
        return;
    };
    let _agent = Agent::start(&host_app, "builder-h", &["x86_64"], 1).await;
    let done = build(&host_app, &owner, source).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
}

async fn host_app() -> Option<(TestApp, TestUser)> {
    let app = TestApp::with_config(|c| {
        c.builds.lease_seconds = 5;
        c.sources.allowed_schemes = vec!["git".into()];
        c.sources.allow_private_networks = true;
        c.sources.make_srpm_on_host = true;
    })
    .await?;
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    Some((app, alice))
}

/// What is in `dir`, recursively (files and directories), for "nothing left behind".
fn leftovers(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            out.push(e.path().display().to_string());
            if e.path().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

/// A download past `max_download_mib` and a clone past `max_clone_mib` fail the SRPM step with
/// the reason; no build is made, and neither the agent's workspace nor the server's staging
/// directory keeps anything.
#[tokio::test]
async fn fetches_past_their_caps_fail_and_leave_nothing_behind() {
    if !kiln_tests::pipeline::have_rpmbuild() {
        return;
    }
    let Some(app) = TestApp::with_config(|c| {
        c.builds.lease_seconds = 5;
        c.sources.allowed_schemes = vec!["http".into(), "git".into()];
        c.sources.allow_private_networks = true;
        c.sources.max_download_mib = 1;
        c.sources.max_clone_mib = 1;
    })
    .await
    else {
        return;
    };
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    // 2 MiB that do not compress: past both caps.
    let big = {
        use std::io::Read;
        let mut v = Vec::new();
        std::fs::File::open("/dev/urandom")
            .expect("urandom")
            .take(2 << 20)
            .read_to_end(&mut v)
            .expect("read");
        v
    };
    let site = tempfile::tempdir().expect("tmp");
    std::fs::write(site.path().join("big.tar.gz"), &big).expect("write");
    let (_http, http_base) = http_server(site.path()).await;
    std::fs::write(
        site.path().join("kiln-big.spec"),
        spec(
            "kiln-big",
            "1.0",
            &format!("Source0: {http_base}/big.tar.gz"),
        ),
    )
    .expect("spec");
    let base = tempfile::tempdir().expect("tmp");
    let work = tempfile::tempdir().expect("tmp");
    package_repo(
        base.path(),
        work.path(),
        "big",
        "kiln-big",
        "1\n",
        &[("blob", &big)],
    );
    let (_daemon, url) = git_daemon(base.path()).await;
    for (source, why) in [
        (
            json!({"type": "url", "url": format!("{http_base}/kiln-big.spec")}),
            "larger than the limit of 1048576 bytes",
        ),
        (
            json!({"type": "git", "url": format!("{url}/big.git")}),
            "the clone passed the limit of 1048576 bytes",
        ),
    ] {
        let done = build(&app, &alice, source.clone()).await;
        assert_eq!(done["state"], "failed", "{source}: {done:#}");
        let step = subtasks(&done, "srpm")[0];
        assert_eq!(step["failure_stage"], "source", "{done:#}");
        assert!(
            step["reason"].as_str().unwrap_or_default().contains(why),
            "{source}: {done:#}"
        );
        assert!(subtasks(&done, "build").is_empty(), "{done:#}");
    }
    let workspace = leftovers(&app.dir.path().join("agent-builder-1"));
    assert!(
        workspace
            .iter()
            .all(|p| !p.contains("/src") && !p.ends_with(".src.rpm")),
        "the agent's workspace keeps nothing of the refused steps: {workspace:?}"
    );
    let staged = leftovers(&app.kiln.config.data_dir.join("tmp"));
    assert!(staged.is_empty(), "{staged:?}");
}

/// The repo's SRPM-build mock config makes the SRPM of every source build (not one of the
/// builds' own configs); it must be one of the repo's, and deleting it goes back to the
/// default (the first config of each build).
#[tokio::test]
async fn the_repos_srpm_config_makes_the_srpm() {
    let Some((app, alice)) = app(true).await else {
        return;
    };
    let (s, c) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/mock-configs",
            Some(&alice.token),
            Some(json!({"name": "srpm-maker", "base": "fedora-44-x86_64", "enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c:#}");
    let patch = |v: &str| {
        app.call(
            Method::PATCH,
            "/api/v1/repos/alice/tools",
            Some(&alice.token),
            Some(json!({ "srpm_config": v })),
        )
    };
    let (s, e) = patch("nope").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e:#}");
    assert_eq!(e["errors"][0]["field"], "srpm_config", "{e:#}");
    let (s, r) = patch("srpm-maker").await;
    assert_eq!(s, StatusCode::OK, "{r:#}");
    assert_eq!(r["srpm_config"], "srpm-maker");
    let source = json!({"type": "git", "url": "git://203.0.113.10/x.git"});
    let step_config = |task: &Value| subtasks(task, "srpm")[0]["mock_config"].clone();
    let (s, task) = submit(&app, &alice, source.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{task:#}");
    assert_eq!(step_config(&task), "srpm-maker", "{task:#}");
    // Deleting the config goes back to the builds' own first config.
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/repos/alice/tools/mock-configs/srpm-maker",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, r) = app.get("/api/v1/repos/alice/tools", None).await;
    assert!(r.get("srpm_config").is_none(), "{r:#}");
    let (_, task) = submit(&app, &alice, source).await;
    assert_eq!(step_config(&task), "fedora-44-x86_64", "{task:#}");
}
