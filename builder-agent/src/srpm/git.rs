//! Clones under the site's limits: checked addresses, no redirects, no prompts, allowed
//! transports only, submodules at their pins, a size cap.

use std::path::Path;
use std::time::Duration;

use kiln_outbound::Policy;
use kiln_proto::agent::{FetchLimits, GitAuth};

use super::exec::{output, run};
use super::{Failed, Log};

/// Git's environment: no prompts, no system or user configuration, only the allowed
/// transports (never `file` or `ext`).
fn git_env(policy: &Policy, home: &Path) -> Vec<(String, String)> {
    let allowed: Vec<&str> = policy
        .allowed_schemes
        .iter()
        .map(String::as_str)
        .filter(|s| !kiln_outbound::NEVER.contains(s))
        .collect();
    vec![
        ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
        ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
        ("GIT_ALLOW_PROTOCOL".into(), allowed.join(":")),
        ("HOME".into(), home.display().to_string()),
        ("LC_ALL".into(), "C.UTF-8".into()),
    ]
}

/// Clones `url` at `reference` into `tree`, with submodules at the commit's own pins; the
/// commit. Every URL (the clone's and each submodule's) is checked after DNS; HTTP
/// connections go to the checked addresses and follow no redirect; the tree may not grow
/// past the cap.
pub(super) async fn clone(
    log: &mut Log<'_>,
    policy: &Policy,
    limits: &FetchLimits,
    url: &str,
    reference: &str,
    auth: Option<&GitAuth>,
    tree: &Path,
) -> Result<String, Failed> {
    if reference.starts_with('-')
        || reference.len() > 255
        || reference
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Failed(format!("{reference:?} is not a git ref")));
    }
    let pins = pinned(policy, url).await?;
    let home = tree.with_file_name("git-home");
    tokio::fs::create_dir_all(&home).await?;
    tokio::fs::create_dir_all(tree).await?;
    let mut env = git_env(policy, &home);
    env.extend(auth_env(url, auth));
    let git = |args: Vec<String>| {
        let mut argv = vec!["git".to_owned()];
        argv.extend(pins.iter().cloned());
        argv.extend([
            "-c".into(),
            "protocol.file.allow=never".into(),
            "-c".into(),
            "http.followRedirects=false".into(),
        ]);
        argv.extend(args);
        argv
    };
    let step = Duration::from_secs(limits.step_timeout_seconds.max(1));
    let t = tree.display().to_string();
    log.say(&format!("=== cloning {url} ===")).await;
    run(log, &["git", "init", "-q", &t], &env, tree, step, None).await?;
    run(
        log,
        &git(vec![
            "-C".into(),
            t.clone(),
            "remote".into(),
            "add".into(),
            "origin".into(),
            url.into(),
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
        &env,
        tree,
        step,
        None,
    )
    .await?;
    let wanted = if reference.is_empty() {
        "HEAD"
    } else {
        reference
    };
    let fetch = |depth: bool| {
        let mut a = vec!["-C".to_owned(), t.clone(), "fetch".into(), "-q".into()];
        if depth {
            a.push("--depth=1".into());
        }
        a.extend(["origin".into(), wanted.to_owned()]);
        git(a)
    };
    let cap = Some((tree.to_path_buf(), limits.max_clone_bytes));
    let shallow = fetch(true);
    let shallow: Vec<&str> = shallow.iter().map(String::as_str).collect();
    let is_commit = reference.len() >= 7 && reference.chars().all(|c| c.is_ascii_hexdigit());
    if run(log, &shallow, &env, tree, step, cap.clone())
        .await
        .is_err()
    {
        // A commit id the server will not serve shallowly, or a server without shallow
        // fetches (git's "dumb" HTTP): the whole history of the ref, or of every ref for a
        // commit id.
        log.say("=== the shallow fetch failed; fetching the history ===")
            .await;
        let mut all = git(vec![
            "-C".into(),
            t.clone(),
            "fetch".into(),
            "-q".into(),
            "origin".into(),
        ]);
        if !is_commit {
            all.push(wanted.to_owned());
        }
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run(log, &all, &env, tree, step, cap.clone()).await?;
    }
    let target = if is_commit { reference } else { "FETCH_HEAD" };
    run(
        log,
        &["git", "-C", &t, "checkout", "-q", "--detach", target],
        &env,
        tree,
        step,
        // A small pack may unpack to a huge tree: the cap counts the checkout too.
        cap.clone(),
    )
    .await?;
    let commit = output(&["git", "-C", &t, "rev-parse", "HEAD"], &env, tree, step)
        .await?
        .trim()
        .to_owned();
    log.say(&format!("commit {commit}")).await;
    if tree.join(".gitmodules").is_file() {
        let listed = output(
            &[
                "git",
                "-C",
                &t,
                "config",
                "-f",
                ".gitmodules",
                "--get-regexp",
                r"^submodule\..*\.url$",
            ],
            &env,
            tree,
            step,
        )
        .await
        .unwrap_or_default();
        let base = url::Url::parse(url).ok();
        let mut sub_pins = Vec::new();
        for line in listed.lines() {
            let Some((_, sub)) = line.split_once(' ') else {
                continue;
            };
            // Relative submodule URLs are relative to the clone's URL.
            let absolute = match (&base, sub.starts_with("../") || sub.starts_with("./")) {
                (Some(b), true) => b
                    .join(&format!("{}/", b.path().trim_end_matches('/')))
                    .and_then(|b| b.join(sub))
                    .map(|u| u.to_string())
                    .unwrap_or_else(|_| sub.to_owned()),
                _ => sub.to_owned(),
            };
            sub_pins.extend(pinned(policy, &absolute).await?);
        }
        log.say("=== submodules, at the commits this commit pins ===")
            .await;
        let mut argv = vec!["git".to_owned()];
        argv.extend(pins.iter().cloned());
        argv.extend(sub_pins);
        argv.extend(
            [
                "-c",
                "protocol.file.allow=never",
                "-c",
                "http.followRedirects=false",
                "-C",
                &t,
                "submodule",
                "update",
                "--init",
                "--recursive",
            ]
            .map(str::to_owned),
        );
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        run(log, &argv, &env, tree, step, cap).await?;
    }
    Ok(commit)
}

/// The repo's credential for the clone's host as git configuration in the environment
/// (`http.<scheme>://<host>/.extraHeader`): sent to that host only, never in a URL, an
/// argument or the tree's `.git/config`, and never to a submodule elsewhere.
fn auth_env(url: &str, auth: Option<&GitAuth>) -> Vec<(String, String)> {
    use base64::Engine;
    let (Some(auth), Ok(u)) = (auth, url::Url::parse(url)) else {
        return Vec::new();
    };
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Vec::new();
    }
    let host = match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
        None => u.host_str().unwrap_or_default().to_owned(),
    };
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", auth.username, auth.password));
    vec![
        ("GIT_CONFIG_COUNT".into(), "1".into()),
        (
            "GIT_CONFIG_KEY_0".into(),
            format!("http.{}://{host}/.extraHeader", u.scheme()),
        ),
        (
            "GIT_CONFIG_VALUE_0".into(),
            format!("Authorization: Basic {basic}"),
        ),
    ]
}

/// `-c http.curloptResolve=HOST:PORT:ADDR` for an http(s) URL, so that git connects to the
/// addresses just checked (a name that resolves elsewhere a moment later is not followed).
async fn pinned(policy: &Policy, url: &str) -> Result<Vec<String>, Failed> {
    let (parsed, addrs) = policy.check_host(url).await?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Ok(Vec::new());
    }
    let host = parsed.host_str().unwrap_or_default();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let list: Vec<String> = addrs
        .iter()
        .map(|a| match a.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        })
        .collect();
    Ok(vec![
        "-c".into(),
        format!("http.curloptResolve={host}:{port}:{}", list.join(",")),
    ])
}
