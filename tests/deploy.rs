//! What can be checked of `deploy/` without a container engine or a cluster: the systemd units
//! pass `systemd-analyze verify`; the Kubernetes manifests match the API's schema (each object
//! read into its k8s-openapi type and written back unchanged, so no field is unknown or
//! misplaced); the compose stack and the manifests configure Kiln with options it accepts
//! (its own config loader reads them) and agree with each other (keys, URLs, issuer); every
//! command line they run is one the binaries accept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_tests::{in_ci, repo_root, workspace_binary};
use serde_json::Value;

fn deploy(path: &str) -> PathBuf {
    repo_root().join("deploy").join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(&read(path))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The binary accepts `args`: clap stops at `--help` only once every earlier argument parsed.
fn accepts(binary: &str, args: &[String]) {
    let out = Command::new(workspace_binary(binary))
        .args(args)
        .arg("--help")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{binary} {args:?} is refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Splits a systemd ExecStart or a Containerfile command into words (no quoting is used).
fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

// ---------------------------------------------------------------------------------------------
// systemd

/// `systemd-analyze verify` on each unit (the template as an instance), with ExecStart pointed
/// at the binaries this workspace built. Warnings count as failures.
#[test]
fn systemd_units_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(!in_ci(), "systemd-analyze is needed in CI");
        eprintln!("NOTICE: skipping the systemd check: systemd-analyze is not installed");
        return;
    }
    let bin_dir = workspace_binary("kiln")
        .parent()
        .expect("dir")
        .display()
        .to_string();
    let dir = tempfile::tempdir().expect("dir");
    let mut units = Vec::new();
    for (file, instance) in [
        ("kiln.service", "kiln.service"),
        ("kiln-agent@.service", "kiln-agent@1.service"),
    ] {
        let text = read(&deploy(&format!("systemd/{file}")))
            .replace("/usr/local/bin/", &format!("{bin_dir}/"));
        let path = dir.path().join(instance);
        std::fs::write(&path, &text).expect("write");
        units.push(path);
        // The command line parses (systemd variables stand for words).
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .expect("ExecStart");
        let mut args = words(exec);
        let binary = Path::new(&args.remove(0))
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let args: Vec<String> = args
            .into_iter()
            .filter(|a| a != "$KILN_AGENT_ARGS")
            .map(|a| a.replace("%H", "host").replace("%i", "1"))
            .collect();
        accepts(&binary, &args);
    }
    let verify = |paths: &[PathBuf]| {
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .args(paths)
            .output()
            .expect("systemd-analyze")
    };
    let out = verify(&units);
    let complaints = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {complaints}"
    );
    // The check can fail: a misspelt setting is reported.
    let broken = dir.path().join("broken.service");
    std::fs::write(
        &broken,
        read(&units[0]).replace("KillSignal=SIGTERM", "KillSignal=SIGBOGUS"),
    )
    .expect("write");
    let out = verify(&[broken]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "a broken unit passes verify"
    );
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

/// Reads `doc` as `T` and writes it back: equal only when every field is one the API knows,
/// in its place, with a value of its type.
fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value) -> Value {
    let typed: T =
        serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{}: {e}", doc["kind"]));
    serde_json::to_value(typed).expect("serialize")
}

fn schema_check(doc: &Value) -> Value {
    use k8s_openapi::api::{apps::v1::Deployment, core::v1, rbac::v1 as rbac};
    match doc["kind"].as_str().unwrap_or_default() {
        "ServiceAccount" => round_trips::<v1::ServiceAccount>(doc),
        "Role" => round_trips::<rbac::Role>(doc),
        "RoleBinding" => round_trips::<rbac::RoleBinding>(doc),
        "Namespace" => round_trips::<v1::Namespace>(doc),
        "ConfigMap" => round_trips::<v1::ConfigMap>(doc),
        "Secret" => round_trips::<v1::Secret>(doc),
        "Service" => round_trips::<v1::Service>(doc),
        "Deployment" => round_trips::<Deployment>(doc),
        other => panic!("no schema check for kind {other:?}: add it"),
    }
}

fn k8s_documents() -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy("kubernetes"))
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files.iter().flat_map(|f| yaml_documents(f)).collect()
}

#[test]
fn kubernetes_manifests_match_the_api_schema() {
    let docs = k8s_documents();
    for doc in &docs {
        assert_eq!(
            &schema_check(doc),
            doc,
            "{} {} has fields the API does not know (or wrong types)",
            doc["kind"],
            doc["metadata"]["name"]
        );
    }
    // The check can fail: a misplaced field is caught.
    let mut wrong = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment")
        .clone();
    wrong["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always".into();
    assert_ne!(schema_check(&wrong), wrong);

    // The server's config map is a Kiln config, and its secrets are read from files.
    let config_map = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "kiln-config")
        .expect("kiln-config");
    let dir = tempfile::tempdir().expect("dir");
    let toml_path = dir.path().join("kiln.toml");
    std::fs::write(
        &toml_path,
        config_map["data"]["kiln.toml"].as_str().expect("kiln.toml"),
    )
    .expect("write");
    let server = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "kiln")
        .expect("kiln Deployment");
    let container = &server["spec"]["template"]["spec"]["containers"][0];
    let mut env = Vec::new();
    for var in container["env"].as_array().expect("env") {
        let name = var["name"].as_str().expect("name").to_owned();
        let secret_file = dir.path().join(&name);
        std::fs::write(&secret_file, "postgres://kiln:secret@db/kiln-and-more").expect("secret");
        assert!(name.ends_with("_FILE"), "{name}: secrets come from files");
        env.push((name, secret_file.display().to_string()));
    }
    let config = kiln_core::Config::load(Some(&toml_path), env).expect("the config map loads");
    assert_eq!(
        config.storage.backend,
        kiln_core::config::StorageBackend::S3
    );
    assert_eq!(config.listen, "0.0.0.0:8080");
    assert!(config.signing.server_key.is_some());
    assert!(config.storage.s3.secret_access_key.is_some());
    // Probes and the metrics annotation name real endpoints; the command lines parse.
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).expect("args");
    accepts("kiln", &args);
    let agent = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] != "kiln")
        .expect("agent Deployment");
    let agent_container = &agent["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = serde_json::from_value(agent_container["args"].clone()).expect("args");
    accepts("kiln-agent", &args);
    let server_url = agent_container["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|v| v["name"] == "KILN_AGENT_SERVER")
        .expect("server")["value"]
        .clone();
    assert_eq!(server_url, "http://kiln.kiln.svc", "the Service's DNS name");
}

// ---------------------------------------------------------------------------------------------
// Compose

#[test]
fn the_compose_stack_configures_kiln_consistently() {
    let compose = yaml_documents(&deploy("compose/compose.yaml"))
        .pop()
        .expect("compose.yaml");
    let services = compose["services"].as_object().expect("services");
    for name in ["kiln", "agent", "postgres", "garage", "dex"] {
        assert!(services.contains_key(name), "service {name}");
    }
    let compose_dir = deploy("compose");
    // Build contexts, Containerfiles and mounted files exist.
    for (name, svc) in services {
        if let Some(build) = svc.get("build") {
            let context = compose_dir.join(build["context"].as_str().expect("context"));
            assert!(
                context
                    .join(build["dockerfile"].as_str().expect("dockerfile"))
                    .exists(),
                "{name}: Containerfile"
            );
        }
        for volume in svc["volumes"].as_array().into_iter().flatten() {
            let source = volume
                .as_str()
                .expect("volume")
                .split(':')
                .next()
                .expect("src");
            if source.starts_with("./") {
                assert!(compose_dir.join(source).exists(), "{name}: {source}");
            }
        }
    }
    let env_of = |svc: &str| -> BTreeMap<String, String> {
        services[svc]["environment"]
            .as_object()
            .expect("environment")
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect()
    };
    let kiln_env = env_of("kiln");
    let config = kiln_core::Config::load(
        Some(&compose_dir.join("kiln.toml")),
        kiln_env
            .clone()
            .into_iter()
            .filter(|(k, _)| k != "KILN_CONFIG"),
    )
    .expect("Kiln loads the compose configuration");
    assert_eq!(
        config.storage.backend,
        kiln_core::config::StorageBackend::S3
    );
    assert!(config.database_url().starts_with("postgres://"));
    // PostgreSQL: the URL names the database the postgres service creates, on its port.
    let pg = env_of("postgres");
    let url = url::Url::parse(&config.database_url()).expect("url");
    assert_eq!(url.username(), pg["POSTGRES_USER"]);
    assert_eq!(url.password(), Some(pg["POSTGRES_PASSWORD"].as_str()));
    assert_eq!(url.path(), format!("/{}", pg["POSTGRES_DB"]));
    let pg_command = services["postgres"]["command"].to_string();
    assert!(pg_command.contains(&format!("port={}", url.port().expect("port"))));
    // Garage: Kiln's keys and bucket are the ones Garage creates; the endpoint is its S3 API.
    let garage = env_of("garage");
    assert_eq!(
        config.storage.s3.access_key_id.as_deref(),
        Some(garage["GARAGE_DEFAULT_ACCESS_KEY"].as_str())
    );
    assert_eq!(
        config
            .storage
            .s3
            .secret_access_key
            .as_ref()
            .map(|s| s.expose().to_owned()),
        Some(garage["GARAGE_DEFAULT_SECRET_KEY"].clone())
    );
    assert_eq!(config.storage.s3.bucket, garage["GARAGE_DEFAULT_BUCKET"]);
    let garage_toml: toml::Table = read(&compose_dir.join("garage.toml"))
        .parse()
        .expect("garage.toml");
    let api = garage_toml["s3_api"]["api_bind_addr"]
        .as_str()
        .expect("api");
    assert_eq!(
        config.storage.s3.endpoint.as_deref(),
        Some(format!("http://{api}").as_str())
    );
    assert_eq!(
        garage_toml["s3_api"]["s3_region"].as_str(),
        Some(config.storage.s3.region.as_str())
    );
    let secret = garage_toml["rpc_secret"].as_str().expect("rpc_secret");
    assert!(secret.len() == 64 && secret.chars().all(|c| c.is_ascii_hexdigit()));
    // Dex: same issuer, client and secret; Kiln's callback is a registered redirect URI.
    let dex = yaml_documents(&compose_dir.join("dex.yaml"))
        .pop()
        .expect("dex.yaml");
    let provider = &config.auth.oidc[0];
    assert_eq!(dex["issuer"], provider.issuer.as_str());
    let client = &dex["staticClients"][0];
    assert_eq!(client["id"], provider.client_id.as_str());
    assert_eq!(
        client["secret"].as_str(),
        provider.client_secret.as_ref().map(|s| s.expose())
    );
    let callback = format!("{}/auth/oidc/{}/callback", config.public_url(), provider.id);
    assert!(
        client["redirectURIs"]
            .as_array()
            .expect("redirect URIs")
            .contains(&Value::String(callback.clone())),
        "{callback} is not registered with Dex"
    );
    // The agent reaches Kiln where it listens, and its command line parses.
    let agent_env = env_of("agent");
    assert_eq!(
        agent_env["KILN_AGENT_SERVER"],
        format!("http://{}", config.listen)
    );
    let mut args = containerfile_entrypoint("Containerfile.agent");
    args.extend(
        serde_json::from_value::<Vec<String>>(services["agent"]["command"].clone())
            .expect("command"),
    );
    accepts("kiln-agent", &args);
}

/// The arguments of a Containerfile's ENTRYPOINT, after the binary.
fn containerfile_entrypoint(file: &str) -> Vec<String> {
    let text = read(&deploy(&format!("container/{file}")));
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("ENTRYPOINT");
    let mut args: Vec<String> = serde_json::from_str(line).expect("exec form");
    args.remove(0);
    args
}

/// The Containerfiles copy binaries this workspace builds and run command lines they accept.
#[test]
fn containerfiles_run_what_the_workspace_builds() {
    for (file, binary) in [
        ("Containerfile.server", "kiln"),
        ("Containerfile.agent", "kiln-agent"),
    ] {
        let text = read(&deploy(&format!("container/{file}")));
        for line in text.lines().filter(|l| l.starts_with("COPY --from=build")) {
            for word in words(line).iter().filter(|w| w.contains("/release/")) {
                let name = word.rsplit('/').next().expect("name");
                workspace_binary(name);
            }
        }
        let mut args = containerfile_entrypoint(file);
        if let Some(cmd) = text.lines().find_map(|l| l.strip_prefix("CMD ")) {
            args.extend(serde_json::from_str::<Vec<String>>(cmd).expect("CMD exec form"));
        }
        accepts(binary, &args);
    }
}
