//! Publishing end to end with real dnf: builds made by real agents are signed with the repo's
//! RSA key, published per chroot, served with HTTP caching and ranges, and installed by
//! Debian's dnf into an installroot with gpgcheck=1 and repo_gpgcheck=1; the release RPM, the
//! dnf copr plugin, tampering, a foreign key and deleted builds.

use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_tests::dnf::{have_dnf, text, Root};
use kiln_tests::pipeline::{have_rpmbuild, srpm, submit_files, wait_final, wait_for, Agent};
use kiln_tests::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn app() -> Option<TestApp> {
    if !have_rpmbuild() || !have_dnf() {
        return None;
    }
    TestApp::with_config(|c| {
        c.signing.key_type = kiln_core::config::SigningKeyType::Rsa4096;
        c.publish.grace_seconds = 1;
    })
    .await
}

/// An installroot with alice/tools' `.repo` file in place.
async fn root_with_repo(app: &TestApp) -> Root {
    let repo_text = get(app, "/repos/alice/tools/alice-tools.repo")
        .await
        .text()
        .await
        .expect("repo");
    Root::with_repo_file("alice-tools.repo", &repo_text)
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http.get(app.url(path)).send().await.expect("get")
}

/// Builds kiln-hello (noarch) and kiln-hello-c in alice/tools and waits until published.
async fn published_build(app: &TestApp) -> (kiln_tests::TestUser, i64, Agent) {
    published(app, &["kiln-hello", "kiln-hello-c"]).await
}

/// Builds the fixtures `specs` in alice/tools (a new repo) and waits until published.
async fn published(app: &TestApp, specs: &[&str]) -> (kiln_tests::TestUser, i64, Agent) {
    let alice = app.user("alice", false).await;
    app.repo(&alice, "tools", &[]).await;
    let agent = Agent::start(app, "builder-1", &["x86_64"], 2).await;
    let id = build(app, &alice, specs).await;
    (alice, id, agent)
}

/// Submits the fixtures `specs` to alice/tools and waits until the build is published.
async fn build(app: &TestApp, alice: &kiln_tests::TestUser, specs: &[&str]) -> i64 {
    let out = app
        .dir
        .path()
        .join(format!("srpms-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&out).expect("dir");
    let files: Vec<PathBuf> = specs.iter().map(|s| srpm(s, &out)).collect();
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let task = submit_files(app, &alice.token, "alice/tools", &refs, &[]).await;
    let id = task["id"].as_i64().expect("id");
    let done = wait_final(app, id, 90).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let done = wait_for(app, id, 30, |t| t["publish_state"] != "pending").await;
    assert_eq!(done["publish_state"], "published", "{done:#}");
    id
}

fn rpm_k(dir: &Path, key: &Path, file: &Path) -> String {
    let db = dir.join("rpmdb");
    std::fs::create_dir_all(&db).expect("db");
    let home = dir.join("home-k");
    std::fs::create_dir_all(&home).expect("home");
    let import = Command::new("rpm")
        .args(["--dbpath"])
        .arg(&db)
        .arg("--import")
        .arg(key)
        .env("HOME", &home)
        .output()
        .expect("rpm --import");
    assert!(import.status.success(), "{}", text(&import));
    let out = Command::new("rpm")
        .args(["--dbpath"])
        .arg(&db)
        .arg("-K")
        .arg(file)
        .env("HOME", &home)
        .output()
        .expect("rpm -K");
    text(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnf_installs_signed_packages_from_the_published_repo() {
    let Some(app) = app().await else { return };
    let (_alice, _id, _agent) = published_build(&app).await;
    let work = app.dir.path().join("work");
    std::fs::create_dir_all(&work).expect("work");

    // The key, and RPMs that `rpm -K` accepts with it.
    let resp = get(&app, "/repos/alice/tools/pubkey.gpg").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/pgp-keys");
    let key = resp.text().await.expect("key");
    assert!(
        key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"),
        "{key}"
    );
    let key_path = work.join("pubkey.gpg");
    std::fs::write(&key_path, &key).expect("key");

    // repomd.xml: short cache, ETag, conditional GET, HEAD, ranges.
    let repomd_url = "/repos/alice/tools/fedora-44-x86_64/repodata/repomd.xml";
    let resp = get(&app, repomd_url).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/xml");
    assert_eq!(resp.headers()["cache-control"], "public, max-age=60");
    let etag = resp.headers()["etag"].to_str().expect("etag").to_owned();
    assert!(resp.headers().contains_key("last-modified"));
    let repomd = resp.text().await.expect("repomd");
    let primary_href = repomd
        .split("<location href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("primary href")
        .to_owned();
    assert!(primary_href.ends_with("-primary.xml.gz"), "{repomd}");
    let again = app
        .http
        .get(app.url(repomd_url))
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("get");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let head = app
        .http
        .head(app.url(repomd_url))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()["content-length"].to_str().ok(),
        Some(repomd.len().to_string().as_str())
    );
    let part = app
        .http
        .get(app.url(repomd_url))
        .header("Range", "bytes=0-4")
        .send()
        .await
        .expect("range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.text().await.expect("part"), "<?xml");
    let past = app
        .http
        .get(app.url(repomd_url))
        .header("Range", "bytes=999999-")
        .send()
        .await
        .expect("range");
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let primary = get(
        &app,
        &format!("/repos/alice/tools/fedora-44-x86_64/{primary_href}"),
    )
    .await;
    assert_eq!(primary.status(), StatusCode::OK);
    assert_eq!(
        primary.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let asc = get(
        &app,
        "/repos/alice/tools/fedora-44-x86_64/repodata/repomd.xml.asc",
    )
    .await;
    assert_eq!(asc.status(), StatusCode::OK);

    // A published package passes `rpm -K` with the repo key.
    let pkg_href = {
        use flate2::read::MultiGzDecoder;
        use std::io::Read;
        let gz = primary.bytes().await.expect("primary");
        let mut xml = String::new();
        MultiGzDecoder::new(&gz[..])
            .read_to_string(&mut xml)
            .expect("gunzip");
        assert!(xml.contains("packages=\"2\""), "{xml}");
        xml.split("<location href=\"")
            .filter_map(|s| s.split('"').next())
            .find(|h| h.ends_with("noarch.rpm"))
            .expect("noarch package")
            .to_owned()
    };
    let pkg = get(
        &app,
        &format!("/repos/alice/tools/fedora-44-x86_64/{pkg_href}"),
    )
    .await;
    assert_eq!(pkg.status(), StatusCode::OK);
    assert_eq!(pkg.headers()["content-type"], "application/x-rpm");
    let pkg_path = work.join("kiln-hello.rpm");
    std::fs::write(&pkg_path, pkg.bytes().await.expect("rpm")).expect("write");
    let checked = rpm_k(&work, &key_path, &pkg_path);
    assert!(
        checked.contains("signatures OK") || checked.contains("pgp") && checked.contains("OK"),
        "{checked}"
    );

    // The .repo file per CONTRACT.
    let repo_file = get(&app, "/repos/alice/tools/alice-tools.repo").await;
    assert_eq!(repo_file.status(), StatusCode::OK);
    let repo_text = repo_file.text().await.expect("repo");
    assert!(
        repo_text.contains(&format!(
            "baseurl={}/repos/alice/tools/fedora-$releasever-$basearch/",
            app.base
        )),
        "{repo_text}"
    );
    assert!(repo_text.contains("gpgcheck=1") && repo_text.contains("repo_gpgcheck=1"));
    assert!(repo_text.contains(&format!("gpgkey={}/repos/alice/tools/pubkey.gpg", app.base)));

    // dnf installs the release RPM from its URL, then the package with every check on.
    let root = Root::new();
    let release_url = app.url("/repos/alice/tools/alice-tools-release.noarch.rpm");
    let out = root.dnf(&["install", &release_url]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(root.installed("alice-tools-release"));
    assert!(
        root.root()
            .join("etc/yum.repos.d/alice-tools.repo")
            .exists(),
        "the release RPM installs the .repo file"
    );
    assert!(root
        .root()
        .join("etc/pki/rpm-gpg/RPM-GPG-KEY-kiln-alice-tools")
        .exists());
    // The release RPM itself is signed with the repo key.
    let rel_path = work.join("release.rpm");
    let rel = get(&app, "/repos/alice/tools/alice-tools-release.noarch.rpm").await;
    std::fs::write(&rel_path, rel.bytes().await.expect("release")).expect("write");
    let checked = rpm_k(&work, &key_path, &rel_path);
    assert!(
        checked.contains("OK") && !checked.contains("NOT OK"),
        "{checked}"
    );

    let out = root.dnf(&["install", "kiln-hello"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(root.installed("kiln-hello"));
    assert_eq!(
        std::fs::read_to_string(root.root().join("usr/share/kiln-hello/hello.txt")).expect("file"),
        "hello from kiln\n"
    );
    // dnf sees the C package with its files, requires and changelog.
    let out = root.dnf(&["repoquery", "--requires", "kiln-hello-c"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("libc.so.6"),
        "{}",
        text(&out)
    );
    let out = root.dnf(&["repoquery", "--changelog", "kiln-hello-c"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("First release."),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_foreign_signed_packages_are_refused_and_deleted_builds_vanish() {
    let Some(app) = app().await else { return };
    let (alice, id, _agent) = published_build(&app).await;
    let root = root_with_repo(&app).await;

    // The stored package, as the filesystem store keeps it.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let pkg = kiln_core::entities::packages::Entity::find()
        .filter(kiln_core::entities::packages::Column::Name.eq("kiln-hello"))
        .filter(kiln_core::entities::packages::Column::Arch.eq("noarch"))
        .one(&app.kiln.db)
        .await
        .expect("db")
        .expect("package");
    let artifact = kiln_core::entities::artifacts::Entity::find_by_id(pkg.artifact_id)
        .one(&app.kiln.db)
        .await
        .expect("db")
        .expect("artifact");
    let stored = app.dir.path().join("objects").join(&artifact.storage_key);
    assert!(stored.exists(), "{}", stored.display());
    let original = std::fs::read(&stored).expect("read");

    // A flipped byte in the payload: refused.
    let mut bad = original.clone();
    let n = bad.len();
    bad[n - 10] ^= 0xff;
    std::fs::write(&stored, &bad).expect("tamper");
    let out = root.dnf(&["install", "kiln-hello"]);
    assert!(
        !out.status.success(),
        "a tampered package installed: {}",
        text(&out)
    );
    assert!(!root.installed("kiln-hello"));

    // Signed with another key, with metadata that matches the file: refused by the signature.
    std::fs::write(&stored, &original).expect("restore");
    let other = kiln_core::signing::generate(
        kiln_core::config::SigningKeyType::Rsa4096,
        "Mallory <mallory@example.org>",
        &app.kiln.server_key,
    )
    .expect("key");
    let signer =
        kiln_core::signing::rpm_signer(&other.secret_key, &app.kiln.server_key).expect("signer");
    kiln_core::signing::sign_rpm(&stored, &signer).expect("resign");
    let resigned = std::fs::read(&stored).expect("read");
    let new_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&resigned))
    };
    {
        use sea_orm::{ActiveModelTrait, Set};
        let mut row: kiln_core::entities::packages::ActiveModel = pkg.clone().into();
        row.pkgid = Set(new_sha.clone());
        row.size = Set(resigned.len() as i64);
        row.primary_xml = Set(pkg.primary_xml.replace(&pkg.pkgid, &new_sha).replace(
            &format!("package=\"{}\"", pkg.size),
            &format!("package=\"{}\"", resigned.len()),
        ));
        row.filelists_xml = Set(pkg.filelists_xml.replace(&pkg.pkgid, &new_sha));
        row.other_xml = Set(pkg.other_xml.replace(&pkg.pkgid, &new_sha));
        row.update(&app.kiln.db).await.expect("update");
    }
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/createrepo",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    wait_until(|| async {
        let xml = primary_xml(&app).await;
        xml.contains(&new_sha)
    })
    .await;
    let out = root.dnf(&["--refresh", "install", "kiln-hello"]);
    assert!(
        !out.status.success(),
        "a package signed by another key installed: {}",
        text(&out)
    );
    assert!(!root.installed("kiln-hello"));

    // A packager deletes the build: dnf no longer sees its packages.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/repos/alice/tools/builds/{id}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    wait_until(|| async { primary_xml(&app).await.contains("packages=\"0\"") }).await;
    let out = root.dnf(&[
        "--refresh",
        "repoquery",
        "--available",
        "kiln-hello",
        "kiln-hello-c",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("kiln-hello"),
        "{}",
        text(&out)
    );
    let (s, _) = app.get(&format!("/api/v1/tasks/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dnf_copr_plugin_enables_the_repo() {
    let Some(app) = app().await else { return };
    let (_alice, _id, _agent) = published_build(&app).await;

    // Copr's project list and search.
    let resp = get(&app, "/api_3/project/list?ownername=alice").await;
    let list: Value = resp.json().await.expect("json");
    assert_eq!(list["items"][0]["name"], "tools");
    assert_eq!(list["items"][0]["full_name"], "alice/tools");
    let resp = get(&app, "/api_3/project/search?query=tool").await;
    let found: Value = resp.json().await.expect("json");
    assert_eq!(found["items"][0]["full_name"], "alice/tools");

    // A chroot the repo does not publish: 404 with the available ones.
    let resp = get(&app, "/coprs/alice/tools/repo/epel-9/dnf.repo?arch=x86_64").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let data = resp.headers()["copr-error-data"]
        .to_str()
        .expect("header")
        .to_owned();
    use base64::Engine;
    let decoded: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64"),
    )
    .expect("json");
    assert_eq!(decoded["available chroots"][0], "fedora-44-x86_64");

    // The real plugin, with a hub pointing at this server, from a config dir of its own.
    let root = Root::new();
    let port = app.base.rsplit(':').next().expect("port").to_owned();
    let plugin_conf = root.dir.path().join("pluginconf");
    std::fs::create_dir_all(plugin_conf.join("copr.d")).expect("dir");
    std::fs::write(
        plugin_conf.join("copr.conf"),
        "[main]\ndistribution = fedora\nreleasever = 44\n",
    )
    .expect("conf");
    std::fs::write(
        plugin_conf.join("copr.d/kiln.conf"),
        format!("[kiln]\nhostname = 127.0.0.1\nprotocol = http\nport = {port}\n"),
    )
    .expect("hub");
    let rootdir = root.root();
    let out = Command::new("dnf")
        .arg("-y")
        .arg(format!("--installroot={}", rootdir.display()))
        .arg("--releasever=44")
        .arg(format!(
            "--setopt=reposdir={}/etc/yum.repos.d",
            rootdir.display()
        ))
        .arg(format!("--setopt=pluginconfpath={}", plugin_conf.display()))
        .args([
            "copr",
            "enable",
            "--hub",
            "kiln",
            "alice/tools",
            "fedora-44-x86_64",
        ])
        .env("HOME", root.dir.path().join("home"))
        .output()
        .expect("dnf copr");
    assert!(out.status.success(), "{}", text(&out));
    let written: Vec<String> = std::fs::read_dir(rootdir.join("etc/yum.repos.d"))
        .expect("reposdir")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    assert!(
        written
            .iter()
            .any(|n| n == "_copr:127.0.0.1:alice:tools.repo"),
        "{written:?}"
    );
    let out = root.dnf(&["install", "kiln-hello"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(root.installed("kiln-hello"));
}

async fn primary_xml(app: &TestApp) -> String {
    kiln_tests::pipeline::primary_xml(app, "/repos/alice/tools/fedora-44-x86_64/").await
}

async fn wait_until<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for the publisher");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_publishing_requests_get_clear_errors_and_change_nothing() {
    let Some(app) = TestApp::new().await else {
        return;
    };
    let alice = app.user("alice", false).await;
    let bob = app.user("bob", false).await;
    app.repo(&alice, "tools", &[(&bob, kiln_proto::Role::Packager)])
        .await;

    // Nothing published yet: a 404 with the error envelope, not an empty 200.
    let resp = get(
        &app,
        "/repos/alice/tools/fedora-44-x86_64/repodata/repomd.xml",
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "not_found", "{body}");
    // Hostile and malformed paths and names.
    for (path, status) in [
        (
            "/repos/alice/tools/fedora-44-x86_64/a%2F..%2Fb.rpm",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/repos/alice/tools/fedora-44-x86_64/00000001/nope.rpm",
            StatusCode::NOT_FOUND,
        ),
        (
            "/repos/alice/tools/..%2fetc/repodata/repomd.xml",
            StatusCode::BAD_REQUEST,
        ),
        ("/repos/alice/nope/pubkey.gpg", StatusCode::NOT_FOUND),
        ("/repos/alice/tools/other.txt", StatusCode::NOT_FOUND),
        (
            "/repos/alice/tools/alice-tools.repo?distro=epel",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/coprs/alice/tools/repo/fedora/dnf.repo?arch=x86_64",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let resp = get(&app, path).await;
        assert_eq!(resp.status(), status, "{path}");
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(
            body["errors"][0]["detail"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{path}: {body}"
        );
    }
    // The repo's own files answer.
    assert_eq!(
        get(&app, "/repos/alice/tools/pubkey.gpg").await.status(),
        StatusCode::OK
    );

    // Only rel-eng and admins regenerate; only finished builds of this repo are deleted.
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/createrepo",
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/createrepo",
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, body) = app
        .call(
            Method::DELETE,
            "/api/v1/repos/alice/tools/builds/999",
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    // Key rotation: admins only, an existing repo; a refused rotation keeps the key.
    let key_before = get(&app, "/repos/alice/tools/pubkey.gpg")
        .await
        .bytes()
        .await
        .expect("key");
    for (path, token, status) in [
        (
            "/api/v1/repos/alice/tools/key/rotate",
            Some(&bob.token),
            StatusCode::FORBIDDEN,
        ),
        (
            "/api/v1/repos/alice/tools/key/rotate",
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/api/v1/repos/alice/nope/key/rotate",
            Some(&alice.token),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/repos/alice/..%2Ftools/key/rotate",
            Some(&alice.token),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (s, body) = app
            .call(Method::POST, path, token.map(|t| t.as_str()), None)
            .await;
        assert_eq!(s, status, "{path}: {body}");
        assert!(!kiln_tests::error_of(&body).1.is_empty(), "{path}: {body}");
    }
    assert_eq!(
        get(&app, "/repos/alice/tools/pubkey.gpg")
            .await
            .bytes()
            .await
            .expect("key"),
        key_before
    );
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        kiln_core::entities::publishes::Entity::find()
            .count(&app.kiln.db)
            .await
            .expect("count"),
        0,
        "refused requests queued nothing"
    );
    // The admin's regeneration is queued and runs: the empty chroot gets metadata.
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/createrepo",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["chroots"][0], "fedora-44-x86_64");
    wait_until(|| async { primary_xml(&app).await.contains("packages=\"0\"") }).await;
}

/// What dnf sees in the repository at `baseurl` (tests/fixtures/dnf-query.py, Debian's
/// python3-dnf): every package with its EVR, dependencies, files, changelogs and checksum.
fn dnf_query(baseurl: &str, cache: &Path) -> Value {
    let out = Command::new("/usr/bin/python3")
        .arg(kiln_tests::repo_root().join("tests/fixtures/dnf-query.py"))
        .arg(baseurl)
        .arg(cache)
        .output()
        .expect("python3 dnf-query.py");
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("dnf-query JSON")
}

fn have_createrepo_c() -> bool {
    let ok = Command::new("createrepo_c")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if kiln_tests::in_ci() {
            panic!("createrepo_c is required in CI (tests/run installs it)");
        }
        eprintln!("NOTICE: skipping the metadata comparison: createrepo_c is not installed");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnf_sees_the_same_repo_from_our_metadata_as_from_createrepo_c() {
    if !have_createrepo_c() {
        return;
    }
    let Some(app) = app().await else { return };
    let (_alice, _id, _agent) = published(&app, &["kiln-hello", "kiln-hello-c", "kiln-rich"]).await;
    let work = app.dir.path().join("compare");
    let chroot = "/repos/alice/tools/fedora-44-x86_64/";
    let ours = dnf_query(&app.url(chroot), &work.join("cache-ours"));
    let packages = ours.as_array().expect("packages");

    // The same signed files, laid out as in our repo, indexed by createrepo_c.
    let tree = work.join("createrepo_c");
    for p in packages {
        let location = p["location"].as_str().expect("location");
        let bytes = get(&app, &format!("{chroot}{location}"))
            .await
            .bytes()
            .await
            .expect("package");
        let path = tree.join(location);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
        std::fs::write(&path, &bytes).expect("write");
    }
    let out = Command::new("createrepo_c")
        .arg("--quiet")
        .arg(&tree)
        .output()
        .expect("createrepo_c");
    assert!(out.status.success(), "{}", text(&out));
    let theirs = dnf_query(
        &format!("file://{}", tree.display()),
        &work.join("cache-theirs"),
    );
    for (a, b) in packages.iter().zip(theirs.as_array().expect("packages")) {
        assert_eq!(
            a, b,
            "dnf sees {} differently from our metadata (left) and createrepo_c's (right)",
            a["name"]
        );
    }
    assert_eq!(ours, theirs);

    // The comparison covered what it claims to: binary and source packages, every
    // dependency kind, files beyond primary, ten changelog entries of the rich package.
    let names: Vec<(&str, &str)> = packages
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or(""),
                p["arch"].as_str().unwrap_or(""),
            )
        })
        .collect();
    for want in [
        ("kiln-hello", "noarch"),
        ("kiln-hello-c", "x86_64"),
        ("kiln-rich", "noarch"),
        ("kiln-rich-data", "noarch"),
    ] {
        assert!(names.contains(&want), "{want:?} missing from {names:?}");
    }
    let rich = packages
        .iter()
        .find(|p| p["name"] == "kiln-rich" && p["arch"] == "noarch")
        .expect("kiln-rich");
    assert_eq!(rich["evr"], "2:3.1-4.fc44");
    assert_eq!(rich["changelogs"].as_array().map(Vec::len), Some(10));
    for (field, value) in [
        ("requires_pre", "/usr/bin/getent"),
        ("obsoletes", "kiln-old < 2"),
        ("conflicts", "kiln-bad <= 1:0.9"),
        ("recommends", "kiln-hello"),
        ("suggests", "kiln-doc"),
        ("supplements", "kiln-hello-c"),
        ("enhances", "kiln-hello"),
        ("provides", "kiln-rich-api = 3"),
        ("files", "/var/lib/kiln-rich/state"),
    ] {
        let values = rich[field].as_array().expect(field);
        assert!(
            values.iter().any(|v| v == value),
            "{field} lacks {value}: {values:?}"
        );
    }
    let c = packages
        .iter()
        .find(|p| p["name"] == "kiln-hello-c" && p["arch"] == "x86_64")
        .expect("kiln-hello-c");
    assert!(
        c["requires"]
            .as_array()
            .expect("requires")
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.starts_with("libc.so.6"))),
        "{c:#}"
    );
}

/// A detached signature checked by gpg against `key` alone.
fn gpg_verifies(dir: &Path, key: &[u8], data: &[u8], signature: &[u8]) -> bool {
    let home = tempfile::tempdir_in(dir).expect("gnupg home");
    std::fs::write(home.path().join("key.asc"), key).expect("key");
    std::fs::write(home.path().join("data"), data).expect("data");
    std::fs::write(home.path().join("data.asc"), signature).expect("sig");
    let gpg = |args: &[&str]| {
        Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--quiet"])
            .args(args)
            .current_dir(home.path())
            .output()
            .expect("gpg")
    };
    let import = gpg(&["--import", "key.asc"]);
    assert!(import.status.success(), "{}", text(&import));
    gpg(&["--verify", "data.asc", "data"]).status.success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_resigns_and_republishes_on_s3_storage() {
    if !have_rpmbuild() || !have_dnf() {
        return;
    }
    let s3 = kiln_tests::s3::S3Server::start().await;
    let s3_config = s3.config();
    let Some(app) = TestApp::with_config(|c| {
        c.signing.key_type = kiln_core::config::SigningKeyType::Rsa4096;
        c.publish.grace_seconds = 1;
        c.storage.backend = kiln_core::config::StorageBackend::S3;
        c.storage.s3 = s3_config;
    })
    .await
    else {
        return;
    };
    let (alice, _id, _agent) = published_build(&app).await;
    let work = app.dir.path().join("rotation");
    std::fs::create_dir_all(&work).expect("work");
    let chroot = "/repos/alice/tools/fedora-44-x86_64";

    // Serving from S3 behaves like the filesystem: ETag, 304, ranges, cache lifetimes.
    let primary = primary_xml(&app).await;
    let href = primary
        .split("<location href=\"")
        .find_map(|s| s.split('"').next().filter(|h| h.contains("kiln-hello-1.0")))
        .expect("kiln-hello in primary")
        .to_owned();
    let url = format!("{chroot}/{href}");
    let full = get(&app, &url).await;
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(
        full.headers()["content-type"],
        "application/x-rpm",
        "{:?}",
        full.headers()
    );
    let etag = full.headers()["etag"].clone();
    let old_rpm = full.bytes().await.expect("rpm");
    let again = app
        .http
        .get(app.url(&url))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("get");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let part = app
        .http
        .get(app.url(&url))
        .header("range", "bytes=0-3")
        .send()
        .await
        .expect("get");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        &part.bytes().await.expect("part")[..],
        &[0xed, 0xab, 0xee, 0xdb]
    );
    let repomd = get(&app, &format!("{chroot}/repodata/repomd.xml")).await;
    assert!(repomd.headers()["cache-control"]
        .to_str()
        .is_ok_and(|v| v.contains("max-age=60")));

    let old_key = get(&app, "/repos/alice/tools/pubkey.gpg")
        .await
        .bytes()
        .await
        .expect("key");
    let old_release = get(&app, "/repos/alice/tools/alice-tools-release.noarch.rpm")
        .await
        .bytes()
        .await
        .expect("release");

    // The owner (a repo admin) rotates; the refusals are in the bad-request test.
    let (s, rotation) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/key/rotate",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{rotation}");
    assert_ne!(rotation["fingerprint"], rotation["previous_fingerprint"]);
    assert_eq!(rotation["chroots"], serde_json::json!(["fedora-44-x86_64"]));

    // The key served changes at once; the packages are re-signed and republished.
    let new_key = get(&app, "/repos/alice/tools/pubkey.gpg")
        .await
        .bytes()
        .await
        .expect("key");
    assert_ne!(new_key, old_key);
    let old_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&old_rpm))
    };
    wait_until(|| async {
        let xml = primary_xml(&app).await;
        xml.contains("kiln-hello-1.0") && !xml.contains(&old_sha)
    })
    .await;
    let new_rpm = get(&app, &url).await.bytes().await.expect("rpm");
    assert_ne!(new_rpm, old_rpm);
    let new_path = work.join("new.rpm");
    std::fs::write(&new_path, &new_rpm).expect("rpm");
    std::fs::write(work.join("new.asc"), &new_key).expect("key");
    std::fs::write(work.join("old.asc"), &old_key).expect("key");
    let with_new = rpm_k(&work.join("k-new"), &work.join("new.asc"), &new_path);
    assert!(
        with_new.contains("digests signatures OK"),
        "rpm -K with the new key: {with_new}"
    );
    let with_old = rpm_k(&work.join("k-old"), &work.join("old.asc"), &new_path);
    assert!(
        !with_old.contains("digests signatures OK"),
        "rpm -K with only the old key: {with_old}"
    );
    // The metadata lists the re-signed file's checksum.
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&new_rpm))
    };
    assert!(primary_xml(&app).await.contains(&sha));

    // repomd.xml.asc is made with the new key.
    let repomd = get(&app, &format!("{chroot}/repodata/repomd.xml"))
        .await
        .bytes()
        .await
        .expect("repomd");
    let asc = get(&app, &format!("{chroot}/repodata/repomd.xml.asc"))
        .await
        .bytes()
        .await
        .expect("asc");
    assert!(gpg_verifies(&work, &new_key, &repomd, &asc));
    assert!(!gpg_verifies(&work, &old_key, &repomd, &asc));

    // The release RPM is rebuilt with the new key; dnf installs it and then the packages,
    // with gpgcheck=1 and repo_gpgcheck=1, from S3-backed storage.
    let new_release = get(&app, "/repos/alice/tools/alice-tools-release.noarch.rpm")
        .await
        .bytes()
        .await
        .expect("release");
    assert_ne!(new_release, old_release);
    let root = Root::new();
    let out = root.dnf(&[
        "install",
        &app.url("/repos/alice/tools/alice-tools-release.noarch.rpm"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let installed_key = std::fs::read(
        root.root()
            .join("etc/pki/rpm-gpg/RPM-GPG-KEY-kiln-alice-tools"),
    )
    .expect("key file");
    assert_eq!(installed_key, new_key);
    let out = root.dnf(&["install", "kiln-hello"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(root.installed("kiln-hello"));

    // The rotation is in the audit log.
    let (_, log) = app
        .get("/api/v1/repos/alice/tools/audit", Some(&alice.token))
        .await;
    assert!(
        kiln_tests::audit_entries(&log)
            .iter()
            .any(|(_, action, _)| action == "repo.key.rotate"),
        "{log:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_newest_builds_of_each_package_and_expires_old_logs() {
    let Some(app) = (if have_rpmbuild() && have_dnf() {
        TestApp::with_config(|c| {
            c.publish.grace_seconds = 1;
            c.publish.retention_interval_seconds = 1;
        })
        .await
    } else {
        None
    }) else {
        return;
    };
    let (alice, first, _agent) = published(&app, &["kiln-hello"]).await;
    let other = build(&app, &alice, &["kiln-hello-c"]).await;
    let newest = build(&app, &alice, &["kiln-hello"]).await;
    let bob = app.user("bob", false).await;
    let (s, _) = app
        .call(
            Method::PUT,
            "/api/v1/repos/alice/tools/members/bob",
            Some(&alice.token),
            Some(serde_json::json!({"role": "packager"})),
        )
        .await;
    assert!(s.is_success(), "{s}");
    let patch = |token: Option<&str>, body: Value| {
        let token = token.map(str::to_owned);
        let app = &app;
        async move {
            app.call(
                Method::PATCH,
                "/api/v1/repos/alice/tools",
                token.as_deref(),
                Some(body),
            )
            .await
        }
    };

    // The policy is rel-eng's; nonsense is refused and changes nothing.
    let (s, _) = patch(Some(&bob.token), serde_json::json!({"keep_builds": 1})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = patch(
        Some(&alice.token),
        serde_json::json!({"keep_builds": 20000}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(kiln_tests::error_of(&body).0, "validation");
    let (s, body) = patch(Some(&alice.token), serde_json::json!({"keep_builds": -1})).await;
    assert!(s.is_client_error(), "{s} {body}");
    let (_, repo) = app.get("/api/v1/repos/alice/tools", None).await;
    assert_eq!(repo["keep_builds"], Value::Null, "{repo:#}");

    // Keep one build per package: the older kiln-hello build goes, the only kiln-hello-c
    // build and the newest kiln-hello build stay.
    let (s, repo) = patch(Some(&alice.token), serde_json::json!({"keep_builds": 1})).await;
    assert_eq!(s, StatusCode::OK, "{repo}");
    assert_eq!(repo["keep_builds"], 1);
    wait_until(|| async {
        app.get(&format!("/api/v1/tasks/{first}"), None).await.0 == StatusCode::NOT_FOUND
    })
    .await;
    for id in [other, newest] {
        let (s, t) = app.get(&format!("/api/v1/tasks/{id}"), None).await;
        assert_eq!(s, StatusCode::OK, "{t}");
    }
    let subtask_of = |parent: i64| {
        let app = &app;
        async move {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            kiln_core::entities::tasks::Entity::find()
                .filter(kiln_core::entities::tasks::Column::ParentId.eq(parent as i32))
                .one(&app.kiln.db)
                .await
                .expect("db")
                .expect("subtask")
        }
    };
    let newest_sub = subtask_of(newest).await;
    wait_until(|| async {
        let xml = primary_xml(&app).await;
        xml.contains("packages=\"2\"")
            && xml.contains(&format!("{:08}/kiln-hello-1.0", newest_sub.id))
            && xml.contains("kiln-hello-c-2.0")
    })
    .await;
    let root = root_with_repo(&app).await;
    // dnf sees one kiln-hello (the newest build's) and kiln-hello-c, and installs.
    let out = root.dnf(&["repoquery", "--location", "kiln-hello", "kiln-hello-c"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        listed.lines().filter(|l| l.contains(".rpm")).count(),
        2,
        "{listed}"
    );
    assert!(
        listed.contains(&format!("{:08}/kiln-hello-1.0", newest_sub.id)),
        "{listed}"
    );
    let out = root.dnf(&["install", "kiln-hello"]);
    assert!(out.status.success(), "{}", text(&out));
    let (_, log) = app
        .get("/api/v1/repos/alice/tools/audit", Some(&alice.token))
        .await;
    assert!(
        log.as_array().is_some_and(|a| a
            .iter()
            .any(|e| e["action"] == "build.delete" && e["detail"]["reason"] == "retention")),
        "{log:#}"
    );

    // Logs for two days: a build that ended three days ago loses its logs, keeps its RPMs.
    let (s, _) = patch(Some(&alice.token), serde_json::json!({"keep_logs_days": 2})).await;
    assert_eq!(s, StatusCode::OK);
    let other_sub = subtask_of(other).await;
    let (s, _) = app.get(&format!("/api/v1/tasks/{other}/log"), None).await;
    assert_eq!(s, StatusCode::OK);
    let file_names = |task: &Value| -> Vec<String> {
        task["subtasks"][0]["artifacts"]
            .as_array()
            .expect("artifacts")
            .iter()
            .filter_map(|a| a["file_name"].as_str().map(str::to_owned))
            .collect()
    };
    let (_, task) = app.get(&format!("/api/v1/tasks/{other}"), None).await;
    assert!(
        file_names(&task).iter().any(|f| f.ends_with(".log")),
        "{task:#}"
    );
    {
        use sea_orm::{ActiveModelTrait, Set};
        let mut row: kiln_core::entities::tasks::ActiveModel = other_sub.clone().into();
        row.finished_at = Set(Some(kiln_core::now() - time::Duration::days(3)));
        row.update(&app.kiln.db).await.expect("age the build");
    }
    wait_until(|| async {
        app.get(&format!("/api/v1/tasks/{other}/log"), None).await.0 == StatusCode::GONE
    })
    .await;
    let (s, body) = app
        .get(&format!("/api/v1/tasks/{}/log", other_sub.id), None)
        .await;
    assert_eq!(s, StatusCode::GONE, "{body}");
    assert!(
        kiln_tests::error_of(&body).1.contains("retention"),
        "{body}"
    );
    let (s, task) = app.get(&format!("/api/v1/tasks/{other}"), None).await;
    assert_eq!(s, StatusCode::OK);
    let files = file_names(&task);
    assert!(files.iter().all(|f| !f.ends_with(".log")), "{files:?}");
    assert!(
        files.iter().any(|f| f.ends_with(".x86_64.rpm")),
        "{files:?}"
    );
    let (s, _) = app.get(&format!("/api/v1/tasks/{newest}/log"), None).await;
    assert_eq!(s, StatusCode::OK, "a recent build keeps its logs");
    assert!(primary_xml(&app).await.contains("kiln-hello-c-2.0"));
}

/// A private repo with real dnf (issue 18): nothing without a token; one `dnf install` of the
/// release RPM's URL with a read token in it sets the machine up (the installed `.repo` file
/// carries the token), then packages install with gpgcheck and repo_gpgcheck; revoked, the
/// token is refused at the next metadata refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnf_installs_from_a_private_repo_with_a_read_token_until_revoked() {
    let Some(app) = app().await else { return };
    let (alice, _id, _agent) = published(&app, &["kiln-hello"]).await;
    let (s, _) = app
        .call(
            Method::PATCH,
            "/api/v1/repos/alice/tools",
            Some(&alice.token),
            Some(serde_json::json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let release = "/repos/alice/tools/alice-tools-release.noarch.rpm";
    // A stranger's dnf gets nothing.
    let root = Root::new();
    let out = root.dnf(&["install", &app.url(release)]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!root.installed("alice-tools-release"));

    let (s, t) = app
        .call(
            Method::POST,
            "/api/v1/repos/alice/tools/read-tokens",
            Some(&alice.token),
            Some(serde_json::json!({"name": "build-farm"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let token = t["token"].as_str().expect("token").to_owned();
    let url = t["release_rpm_url"].as_str().expect("url").to_owned();
    assert_eq!(
        url,
        app.url(release)
            .replace("://", &format!("://kiln:{token}@"))
    );
    let out = root.dnf(&["install", &url]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(root.installed("alice-tools-release"));
    let installed = std::fs::read_to_string(root.root().join("etc/yum.repos.d/alice-tools.repo"))
        .expect("repo");
    assert!(
        installed.contains(&format!("username=kiln\npassword={token}\n")),
        "{installed}"
    );
    let out = root.dnf(&["install", "kiln-hello"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(root.installed("kiln-hello"));

    // Revoked: the next refresh is refused, and so is the install.
    let id = t["id"].as_i64().expect("id");
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/repos/alice/tools/read-tokens/{id}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let out = root.dnf(&["--refresh", "reinstall", "kiln-hello"]);
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("404") || said.contains("alice-tools"),
        "{said}"
    );
}
