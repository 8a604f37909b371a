//! Build results you can trust, end to end through real `kiln-agent` processes on the rpmbuild
//! backend: only what a build made is uploaded and signed (a tarball carrying `*.rpm` and
//! `build.log` files, a spec smuggling files into `RPMS/`), logs in order with a header per
//! attempt, failures that name their stage, the distro's macros, `nocheck` from the API, a mock
//! config, the CLI and the no-JS form, one metadata entry per NEVRA, browsable repos, and
//! packages shaped like real ones installed with dnf.

use std::path::{Path, PathBuf};

use kiln_core::entities::events;
use kiln_tests::dnf::{have_dnf, text, Root};
use kiln_tests::pipeline::{
    add_mock_config, binary_rpm, have_rpmbuild, rpmbuild_bs, srpm, srpm_with_tarball, submit_files,
    task_log, wait_final, wait_for, Agent,
};
use kiln_tests::{browser, page, repo_root, sign_in, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

async fn app() -> Option<TestApp> {
    if !have_rpmbuild() {
        return None;
    }
    TestApp::with_config(|c| {
        c.builds.lease_seconds = 5;
        c.builds.max_srpm_size = 8 * 1024 * 1024;
        c.signing.key_type = kiln_core::config::SigningKeyType::Rsa4096;
        c.publish.grace_seconds = 1;
    })
    .await
}

async fn alice_tools(app: &TestApp) -> TestUser {
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    alice
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}

fn names(subtask: &Value) -> Vec<String> {
    let mut names: Vec<String> = subtask["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter_map(|a| a["file_name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

async fn get_text(app: &TestApp, path: &str) -> (StatusCode, String) {
    let resp = app.http.get(app.url(path)).send().await.expect("get");
    (resp.status(), resp.text().await.expect("text"))
}

/// The uploaded `build.log` artifact of a subtask.
async fn build_log(app: &TestApp, subtask: &Value) -> String {
    let (s, log) = get_text(
        app,
        &format!("/api/v1/tasks/{}/artifacts/build.log", subtask["id"]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{log}");
    log
}

/// Submits SRPMs and waits for the parent to end.
async fn build(app: &TestApp, alice: &TestUser, srpms: &[&Path], fields: &[(&str, &str)]) -> Value {
    let task = submit_files(app, &alice.token, "alice/tools", srpms, fields).await;
    wait_final(app, task["id"].as_i64().expect("id"), 180).await
}

/// Waits until a succeeded build is published.
async fn published(app: &TestApp, done: &Value) -> Value {
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let id = done["id"].as_i64().expect("id");
    let done = wait_for(app, id, 60, |t| t["publish_state"] != "pending").await;
    assert_eq!(done["publish_state"], "published", "{done:#}");
    done
}

/// The position of `needle` in `log`, which must hold it.
fn at(log: &str, needle: &str) -> usize {
    log.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is not in the log:\n{log}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tarballs_rpm_and_log_files_are_never_uploaded_or_signed() {
    let Some(app) = app().await else { return };
    let alice = alice_tools(&app).await;
    let dir = app.dir.path();
    // The extras a tarball carries: a real package of another name, and the markers.
    let extra = dir.join("extra");
    std::fs::create_dir_all(&extra).expect("dir");
    let other = binary_rpm("kiln-hello", &dir.join("other"));
    std::fs::copy(&other, extra.join("other.rpm")).expect("copy");
    for marker in ["FAIL", "SMUGGLE"] {
        std::fs::write(extra.join(marker), "").expect("marker");
    }
    let spec = fixture("kiln-hostile.spec");
    let other_rpm = extra.join("other.rpm");
    let ok = srpm_with_tarball(&spec, "kiln-hostile", &[&other_rpm], &dir.join("ok"));
    let failing = srpm_with_tarball(
        &spec,
        "kiln-hostile",
        &[&other_rpm, &extra.join("FAIL")],
        &dir.join("fail"),
    );
    let smuggling = srpm_with_tarball(
        &spec,
        "kiln-hostile",
        &[&other_rpm, &extra.join("SMUGGLE")],
        &dir.join("smuggle"),
    );
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;

    // Succeeding: its own RPM and the agent's log; the tarball's x.rpm, other.rpm and
    // build.log stay where they were.
    let done = build(&app, &alice, &[&ok], &[]).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let s = &done["subtasks"][0];
    assert_eq!(
        names(s),
        ["build.log", "kiln-hostile-1.0-1.fc44.noarch.rpm"],
        "{s:#}"
    );
    let log = build_log(&app, s).await;
    assert!(!log.contains("FAKE LOG FROM THE TARBALL"), "{log}");
    // One stream, in the order written: each section's header before its commands.
    assert!(
        log.starts_with("=== Kiln build attempt 1 of task "),
        "{log}"
    );
    assert!(log.contains("by agent builder-1 at "), "{log}");
    let prep = at(&log, "Executing(%prep)");
    let build_header = at(&log, "Executing(%build)");
    let building = at(&log, "\nkiln-hostile: building");
    let install = at(&log, "Executing(%install)");
    assert!(
        prep < build_header && build_header < building && building < install,
        "{log}"
    );
    assert!(
        at(&log, "+ echo kiln-hostile: building") < building,
        "{log}"
    );
    // The backend says what it is.
    let backend = s["backend"].as_str().expect("backend");
    assert!(backend.starts_with("rpmbuild (RPM version 4."), "{backend}");
    assert!(backend.contains("not the chroot's"), "{backend}");
    assert!(log.contains(&format!("=== backend: {backend}")), "{log}");
    assert_eq!(s["failure_stage"], Value::Null);

    // Failing in %build: the real log, the stage, no retry as an infrastructure error.
    let done = build(&app, &alice, &[&failing], &[]).await;
    assert_eq!(done["state"], "failed", "{done:#}");
    let s = &done["subtasks"][0];
    assert_eq!(s["failure_stage"], "%build", "{s:#}");
    assert_eq!(s["attempt"], 1, "{s:#}");
    let reason = s["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("%build failed: Bad exit status from ")
            && reason.contains("(rpmbuild exited with status 1)"),
        "{reason}"
    );
    assert_eq!(names(s), ["build.log"], "{s:#}");
    let log = build_log(&app, s).await;
    assert!(log.contains("kiln-hostile: FAIL marker found"), "{log}");
    assert!(!log.contains("FAKE LOG FROM THE TARBALL"), "{log}");
    // The end event carries the stage too.
    let ends = events::Entity::find()
        .filter(events::Column::Topic.eq("kiln.build.end"))
        .all(&app.kiln_ref().db)
        .await
        .expect("events");
    let end = ends
        .iter()
        .find(|e| e.body["data"]["id"] == done["id"])
        .expect("an end event");
    assert_eq!(
        end.body["data"]["subtasks"][0]["failure_stage"], "%build",
        "{:#}",
        end.body
    );

    // Smuggling files into RPMS/: the server refuses them, the build fails saying why, and
    // neither file is stored or signed.
    let done = build(&app, &alice, &[&smuggling], &[]).await;
    assert_eq!(done["state"], "failed", "{done:#}");
    let s = &done["subtasks"][0];
    assert_eq!(s["failure_stage"], "results", "{s:#}");
    assert_eq!(
        s["attempt"], 1,
        "not retried as an infrastructure error: {s:#}"
    );
    let reason = s["reason"].as_str().expect("reason");
    assert!(
        reason.contains(
            "other.rpm was built from kiln-hello-1.0-1.src.rpm, not from this build's SRPM (kiln-hostile-1.0)"
        ),
        "{reason}"
    );
    assert!(reason.contains("x.rpm: not a readable RPM"), "{reason}");
    assert!(!reason.contains("infrastructure"), "{reason}");
    let got = names(s);
    assert!(
        !got.iter().any(|n| n == "other.rpm" || n == "x.rpm"),
        "{got:?}"
    );
    for file in ["other.rpm", "x.rpm"] {
        let (st, _) = get_text(&app, &format!("/api/v1/tasks/{}/artifacts/{file}", s["id"])).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
    }
    assert_eq!(done["publish_state"], "not_published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_shaped_like_real_ones_build_with_their_distros_macros_and_install() {
    let Some(app) = app().await else { return };
    if !have_dnf() {
        return;
    }
    let alice = alice_tools(&app).await;
    add_mock_config(&app, &alice.token, "epel-9-x86_64").await;
    let out = app.dir.path().join("srpms");
    let autotools = srpm_with_tarball(&fixture("kiln-autotools.spec"), "kiln-autotools", &[], &out);
    let branch = srpm("kiln-distro-branch", &out);
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;
    let done = build(&app, &alice, &[&autotools, &branch], &[]).await;
    let done = published(&app, &done).await;
    let sub = |config: &str, package: &str| {
        done["subtasks"]
            .as_array()
            .expect("subtasks")
            .iter()
            .find(|s| s["mock_config"] == config && s["package"]["name"] == package)
            .cloned()
            .unwrap_or_else(|| panic!("no {package} on {config}: {done:#}"))
    };
    let fedora = sub("fedora-44-x86_64", "kiln-autotools");
    assert_eq!(
        names(&fedora),
        [
            "build.log",
            "kiln-autotools-1.2-1.fc44.x86_64.rpm",
            "kiln-autotools-devel-1.2-1.fc44.x86_64.rpm"
        ]
    );
    let log = build_log(&app, &fedora).await;
    assert!(
        log.contains("PASS: tests/test-kilnmath"),
        "%check ran: {log}"
    );
    let el9 = sub("epel-9-x86_64", "kiln-autotools");
    assert!(
        names(&el9).contains(&"kiln-autotools-devel-1.2-1.el9.x86_64.rpm".to_owned()),
        "{el9:#}"
    );

    // Fedora 44: the -devel package pulls in the program; the spec took its %fedora branch.
    let repo_file = |distro: &str| {
        let app = &app;
        let distro = distro.to_owned();
        async move {
            get_text(
                app,
                &format!("/repos/alice/tools/alice-tools.repo?distro={distro}"),
            )
            .await
            .1
        }
    };
    let root = Root::with_repo_file("alice-tools.repo", &repo_file("fedora").await);
    let out = root.dnf(&["install", "kiln-autotools-devel", "kiln-distro-branch"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(root.installed("kiln-autotools"), "{}", text(&out));
    assert!(root.root().join("usr/include/kilnmath.h").is_file());
    let distro = std::fs::read_to_string(root.root().join("usr/share/kiln-distro-branch/distro"))
        .expect("distro file");
    assert_eq!(distro, "fedora 44\n");
    let ran = std::process::Command::new(root.root().join("usr/bin/kiln-autotools"))
        .output()
        .expect("run the installed program");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "kiln-autotools 1.2: 6 x 7 = 42"
    );

    // EPEL 9: the %rhel branch, with %el9.
    let mut root = Root::with_repo_file("alice-tools.repo", &repo_file("epel").await);
    root.releasever = "9".into();
    let out = root.dnf(&["install", "kiln-distro-branch"]);
    assert!(out.status.success(), "{}", text(&out));
    let distro = std::fs::read_to_string(root.root().join("usr/share/kiln-distro-branch/distro"))
        .expect("distro file");
    assert_eq!(distro, "rhel 9\nel9\n");
}

/// kiln-distro-branch with a %check that fails.
fn failing_check_srpm(app: &TestApp) -> PathBuf {
    let spec = std::fs::read_to_string(fixture("kiln-distro-branch.spec")).expect("spec");
    let failing = spec.replace(
        "%{!?kiln_fail_check:%global kiln_fail_check 0}",
        "%{!?kiln_fail_check:%global kiln_fail_check 1}",
    );
    assert_ne!(spec, failing, "the fixture's switch moved");
    let top = app.dir.path().join("failing-check");
    std::fs::create_dir_all(&top).expect("dir");
    let path = top.join("kiln-distro-branch.spec");
    std::fs::write(&path, failing).expect("spec");
    rpmbuild_bs(&path, &top, &top, &app.dir.path().join("failing-check-out"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nocheck_skips_check_per_submission_per_config_from_the_cli_and_the_form() {
    let Some(app) = app().await else { return };
    let alice = alice_tools(&app).await;
    let srpm = failing_check_srpm(&app);
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;

    let done = build(&app, &alice, &[&srpm], &[]).await;
    assert_eq!(done["state"], "failed", "{done:#}");
    let s = &done["subtasks"][0];
    assert_eq!(s["failure_stage"], "%check", "{s:#}");
    assert_eq!(s["nocheck"], false);

    // Per submission (API).
    let done = build(&app, &alice, &[&srpm], &[("nocheck", "true")]).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let s = &done["subtasks"][0];
    assert_eq!(s["nocheck"], true);
    let log = build_log(&app, s).await;
    assert!(log.contains("; %check skipped (--nocheck) ==="), "{log}");
    assert!(!log.contains("Executing(%check)"), "{log}");

    // A bad value is a 400 that names the field.
    let (st, body) = kiln_tests::pipeline::submit(
        &app,
        &alice.token,
        "alice/tools",
        &[("x.src.rpm", std::fs::read(&srpm).expect("srpm"))],
        &[("nocheck", "perhaps")],
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        kiln_tests::error_of(&body),
        ("validation".into(), "nocheck: must be true or false".into()),
        "{body}"
    );

    // Per mock config.
    let config = "/api/v1/repos/alice/tools/mock-configs/fedora-44-x86_64";
    let (st, body) = app
        .call(
            Method::PATCH,
            config,
            Some(&alice.token),
            Some(json!({"nocheck": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["nocheck"], true);
    let done = build(&app, &alice, &[&srpm], &[]).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["subtasks"][0]["nocheck"], true);
    let (st, _) = app
        .call(
            Method::PATCH,
            config,
            Some(&alice.token),
            Some(json!({"nocheck": false})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    // The CLI.
    let cli = tokio::process::Command::new(kiln_tests::workspace_binary("kiln"))
        .args([
            "build",
            "alice/tools",
            &srpm.display().to_string(),
            "--nocheck",
            "--wait",
        ])
        .env_clear()
        .env("HOME", app.dir.path())
        .env("KILN_URL", &app.base)
        .env("KILN_TOKEN", &alice.token)
        .output()
        .await
        .expect("kiln build");
    let stdout = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(stdout.contains("kiln-distro-branch: succeeded"), "{stdout}");

    // The upload form without JavaScript.
    let b = browser();
    let csrf = sign_in(&app, &b, &alice).await;
    let form = reqwest::multipart::Form::new()
        .part(
            "srpm",
            reqwest::multipart::Part::bytes(std::fs::read(&srpm).expect("srpm"))
                .file_name("kiln-distro-branch-1.0-1.src.rpm"),
        )
        .text("chroot", "fedora-44-x86_64")
        .text("nocheck", "on");
    let resp = b
        .post(app.url(&format!("/forms/r/alice/tools/upload?csrf_token={csrf}")))
        .header("accept", "text/html")
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, builds) = app
        .get("/api/v1/repos/alice/tools/builds", Some(&alice.token))
        .await;
    let newest = builds["items"][0]["id"].as_i64().expect("a build");
    let done = wait_final(&app, newest, 120).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["subtasks"][0]["nocheck"], true);
    // The settings form's checkbox for the mock config.
    let (_, settings) = page(&b, &app, "/r/alice/tools/settings").await;
    assert!(settings.contains("name=\"nocheck\""), "{settings}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_build_page_names_the_stage_and_backend_and_says_what_of_the_log_it_cuts() {
    let Some(app) = app().await else { return };
    let alice = alice_tools(&app).await;
    // A loud package: about 400 KiB of log, then %check fails.
    let top = app.dir.path().join("loud");
    std::fs::create_dir_all(&top).expect("dir");
    let spec = top.join("kiln-loud.spec");
    std::fs::write(
        &spec,
        "Name: kiln-loud\nVersion: 1\nRelease: 1\nSummary: loud\nLicense: MIT\nBuildArch: noarch\n\
         %description\nPrints a long log.\n%build\n\
         for i in $(seq 1 5000); do echo \"line $i of a long build log, long enough to pass the cut............\"; done\n\
         %install\nmkdir -p %{buildroot}/usr/share/kiln-loud\ntouch %{buildroot}/usr/share/kiln-loud/x\n\
         %check\necho 'the tests fail'\nexit 1\n%files\n/usr/share/kiln-loud\n",
    )
    .expect("spec");
    let loud = rpmbuild_bs(&spec, &top, &top, &app.dir.path().join("loud-out"));
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    let done = build(&app, &alice, &[&loud], &[]).await;
    assert_eq!(done["state"], "failed", "{done:#}");
    assert_eq!(done["subtasks"][0]["failure_stage"], "%check");
    let backend = done["subtasks"][0]["backend"]
        .as_str()
        .expect("backend")
        .to_owned();

    let b = browser();
    sign_in(&app, &b, &alice).await;
    let (s, html) = page(&b, &app, &format!("/r/alice/tools/builds/{}", done["id"])).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("failed in <code>%check</code>"), "{html}");
    // Leptos escapes the apostrophe.
    assert!(
        html.contains(&backend.replace('\'', "&#x27;")) || html.contains(&backend),
        "{html}"
    );
    let cut = html
        .find("id=\"log-cut\"")
        .expect("the page says the log is cut");
    let notice = &html[cut..cut + 400];
    assert!(notice.contains("The first "), "{notice}");
    assert!(notice.contains(" lines ("), "{notice}");
    assert!(
        notice.contains(&format!("href=\"/api/v1/tasks/{}/log\"", done["id"])),
        "{notice}"
    );
    // The whole log is behind that link; the page holds its end.
    let (_, whole) = get_text(&app, &format!("/api/v1/tasks/{}/log", done["id"])).await;
    assert!(
        whole.contains("line 1 of a long build log"),
        "{}",
        &whole[..200]
    );
    assert!(!html.contains("line 1 of a long build log"));
    assert!(html.contains("line 5000 of a long build log"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_nevra_is_one_metadata_entry_and_published_repos_are_browsable() {
    let Some(app) = app().await else { return };
    if !have_dnf() {
        return;
    }
    let alice = alice_tools(&app).await;
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let hello = srpm("kiln-hello", &out);
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 1).await;
    let first = published(&app, &build(&app, &alice, &[&hello], &[]).await).await;
    let second = published(&app, &build(&app, &alice, &[&hello], &[]).await).await;
    let href = |t: &Value| {
        format!(
            "{:08}/kiln-hello-1.0-1.fc44.noarch.rpm",
            t["subtasks"][0]["id"].as_i64().expect("id")
        )
    };
    let chroot = "/repos/alice/tools/fedora-44-x86_64/";
    let index = |app: &TestApp| {
        let url = app.url(&format!("{chroot}?format=json"));
        let http = app.http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .expect("index")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    // The newer build's package replaced the older one's entry.
    let listed = index(&app).await;
    let hrefs: Vec<&str> = listed["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["href"].as_str())
        .collect();
    assert_eq!(hrefs, [href(&second)], "{listed:#}");
    let primary = kiln_tests::pipeline::primary_xml(&app, chroot).await;
    assert_eq!(
        primary.matches("<name>kiln-hello</name>").count(),
        1,
        "{primary}"
    );
    assert!(primary.contains(&href(&second)), "{primary}");
    let repo_text = get_text(&app, "/repos/alice/tools/alice-tools.repo")
        .await
        .1;
    let root = Root::with_repo_file("alice-tools.repo", &repo_text);
    let out = root.dnf(&["install", "kiln-hello"]);
    assert!(out.status.success(), "{}", text(&out));

    // Browsing: the repo, the chroot, repodata/, a build's directory, JSON on request.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for (from, to) in [
        ("/repos/alice/tools", "/repos/alice/tools/"),
        ("/repos/alice/tools/fedora-44-x86_64", chroot),
    ] {
        let resp = plain.get(app.url(from)).send().await.expect("get");
        assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT, "{from}");
        assert_eq!(resp.headers()["location"], to, "{from}");
    }
    let (s, html) = get_text(&app, "/repos/alice/tools/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("<title>Index of /repos/alice/tools/</title>"),
        "{html}"
    );
    for link in [
        "fedora-44-x86_64/",
        "alice-tools.repo",
        "alice-tools-release.noarch.rpm",
        "pubkey.gpg",
    ] {
        assert!(html.contains(&format!("href=\"{link}\"")), "{link}: {html}");
    }
    let json_index = app
        .http
        .get(app.url("/repos/alice/tools/"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("get")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(json_index["repo"], "alice/tools");
    assert_eq!(json_index["chroots"][0]["name"], "fedora-44-x86_64");
    assert_eq!(json_index["chroots"][0]["packages"], 1);
    let (_, html) = get_text(&app, chroot).await;
    assert!(
        html.contains(&format!("href=\"{}\"", href(&second))),
        "{html}"
    );
    assert!(html.contains("href=\"repodata/\""), "{html}");
    let (_, html) = get_text(&app, &format!("{chroot}repodata/")).await;
    assert!(html.contains("href=\"repomd.xml\""), "{html}");
    let build_dir = href(&second).split('/').next().expect("dir").to_owned();
    let (s, html) = get_text(&app, &format!("{chroot}{build_dir}/")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("href=\"kiln-hello-1.0-1.fc44.noarch.rpm\""),
        "{html}"
    );
    // Every link of the chroot index answers.
    for link in [
        format!("{chroot}repodata/repomd.xml"),
        format!("{chroot}{}", href(&second)),
    ] {
        let (s, _) = get_text(&app, &link).await;
        assert_eq!(s, StatusCode::OK, "{link}");
    }
    for missing in [
        "/repos/alice/tools/epel-9-x86_64/",
        "/repos/alice/nothing/",
        "/repos/alice/tools/fedora-44-x86_64/99999999/",
    ] {
        let (s, body) = get_text(&app, missing).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{missing}: {body}");
    }
    let (s, _) = get_text(&app, "/repos/alice/tools/fedora-44-x86_64/../x/").await;
    assert!(s.is_client_error());

    // Deleting the newer build brings the older one's entry back.
    let (s, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/repos/alice/tools/builds/{}", second["id"]),
            Some(&alice.token),
            None,
        )
        .await;
    assert!(s.is_success(), "{body}");
    let mut back = Vec::new();
    for _ in 0..100 {
        let listed = index(&app).await;
        back = listed["packages"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["href"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if back == [href(&first)] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(back, [href(&first)]);
}

/// The mock backend, with the FAKE mock of `tests/fixtures/fake-mock` (Fedora's mock cannot run
/// on Debian): the stage comes from mock's own build.log, `--nocheck` reaches mock, and the
/// backend says it is mock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_backend_names_the_stage_and_passes_nocheck() {
    let Some(app) = app().await else { return };
    let alice = alice_tools(&app).await;
    let failing = failing_check_srpm(&app);
    let fake = repo_root().join("tests/fixtures/fake-mock");
    let _agent = Agent::start_with(&app, "mocker", &["x86_64"], 1, "mock", Some(&fake)).await;
    let done = build(&app, &alice, &[&failing], &[]).await;
    assert_eq!(done["state"], "failed", "{done:#}");
    let s = &done["subtasks"][0];
    assert_eq!(s["failure_stage"], "%check", "{s:#}");
    let backend = s["backend"].as_str().expect("backend");
    assert!(
        backend.starts_with("mock (5.6 (FAKE: a stand-in for Fedora's mock)) on "),
        "{backend}"
    );
    assert!(names(s).contains(&"mock-output.log".to_owned()), "{s:#}");
    let done = build(&app, &alice, &[&failing], &[("nocheck", "true")]).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let (_, output) = get_text(
        &app,
        &format!(
            "/api/v1/tasks/{}/artifacts/mock-output.log",
            done["subtasks"][0]["id"]
        ),
    )
    .await;
    assert!(output.contains("--nocheck"), "{output}");
}

/// The two stages no log line names: a build past its time limit, and a backend killed by a
/// signal (here the package kills its own rpmbuild, as the kernel's OOM killer would).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_killed_builds_say_so() {
    if !have_rpmbuild() {
        return;
    }
    let Some(app) = TestApp::with_config(|c| c.builds.build_timeout_seconds = 3).await else {
        return;
    };
    let alice = alice_tools(&app).await;
    let (st, body) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/tools/mock-configs/fedora-44-x86_64",
            Some(&alice.token),
            Some(json!({"macros": {"slow_seconds": "60"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let out = app.dir.path().join("srpms");
    std::fs::create_dir_all(&out).expect("dir");
    let slow = srpm("kiln-slow", &out);
    let top = app.dir.path().join("killed");
    std::fs::create_dir_all(&top).expect("dir");
    let spec = top.join("kiln-killed.spec");
    std::fs::write(
        &spec,
        "Name: kiln-killed\nVersion: 1\nRelease: 1\nSummary: killed\nLicense: MIT\n\
         BuildArch: noarch\n%description\nKills its rpmbuild.\n%build\n\
         echo 'about to be killed'\nkill -KILL $PPID\nsleep 5\n%files\n",
    )
    .expect("spec");
    let killed = rpmbuild_bs(&spec, &top, &top, &app.dir.path().join("killed-out"));
    let _agent = Agent::start(&app, "builder-1", &["x86_64"], 2).await;

    let done = build(&app, &alice, &[&slow], &[]).await;
    let s = &done["subtasks"][0];
    assert_eq!(s["state"], "failed", "{done:#}");
    assert_eq!(s["failure_stage"], "timeout", "{s:#}");
    assert_eq!(
        s["reason"],
        "the build took longer than 3 seconds and was stopped"
    );

    let done = build(&app, &alice, &[&killed], &[]).await;
    let s = &done["subtasks"][0];
    assert_eq!(s["state"], "failed", "{done:#}");
    assert_eq!(s["failure_stage"], "killed", "{s:#}");
    assert_eq!(
        s["reason"],
        "rpmbuild was killed by signal 9 (SIGKILL: out of memory?); see build.log"
    );
    assert!(task_log(&app, &s["id"])
        .await
        .contains("about to be killed"));
}
