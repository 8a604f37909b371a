//! `kiln forge …`: a repo's forge hook (its URL, a new secret, the delivery log) and its git
//! credentials, through the HTTP API.

use std::io::BufRead;

use anyhow::Context;
use kiln_proto::{ForgeDelivery, ForgeHook, ForgeSecret, GitCredentialPut};

use crate::client::{api_error, authed, client};

/// Sends `req` with the client's token; the error envelope's message when it fails.
pub(crate) async fn send(req: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
    let (_, url, token) = client()?;
    let resp = authed(req, &token)
        .send()
        .await
        .with_context(|| format!("reaching {url}"))?;
    if !resp.status().is_success() {
        return Err(api_error(resp).await);
    }
    Ok(resp)
}

/// `URL/api/v1/repos/OWNER/REPO`.
pub(crate) fn base(repo: &str) -> anyhow::Result<(reqwest::Client, String)> {
    let (http, url, _) = client()?;
    let (owner, name) = repo.split_once('/').context("the repo is OWNER/REPO")?;
    Ok((http, format!("{url}/api/v1/repos/{owner}/{name}")))
}

fn print_deliveries(list: &[ForgeDelivery]) {
    for d in list {
        println!(
            "{}  {:<7} {:<4} {} {}  {}",
            d.received_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            d.forge,
            d.event,
            d.git_ref,
            d.commit.get(..12).unwrap_or(&d.commit),
            d.outcome
        );
    }
}

/// `kiln forge show`: the hook's URL, whether a secret is set, the git credentials and the
/// latest deliveries.
pub async fn show(repo: &str) -> anyhow::Result<()> {
    let (http, base) = base(repo)?;
    let hook: ForgeHook = send(http.get(format!("{base}/forge")))
        .await?
        .json()
        .await?;
    println!("hook URL: {}", hook.url);
    match hook.secret_set_at {
        Some(t) => println!(
            "secret set {}",
            t.format(&time::format_description::well_known::Rfc3339)?
        ),
        None => println!("no secret: deliveries are refused (kiln forge rotate-secret {repo})"),
    }
    for c in &hook.git_credentials {
        println!("git credential for {} as {}", c.host, c.username);
    }
    let list: Vec<ForgeDelivery> = send(http.get(format!("{base}/forge/deliveries")))
        .await?
        .json()
        .await?;
    print_deliveries(&list);
    Ok(())
}

/// `kiln forge rotate-secret`: a new secret, printed once, for the forge's webhook settings.
pub async fn rotate_secret(repo: &str) -> anyhow::Result<()> {
    let (http, base) = base(repo)?;
    let s: ForgeSecret = send(http.post(format!("{base}/forge/secret")))
        .await?
        .json()
        .await?;
    println!("hook URL: {}", s.url);
    println!("secret:   {}", s.secret);
    eprintln!(
        "Give both to the forge (content type application/json); the secret is not shown again."
    );
    Ok(())
}

/// `kiln forge credential set`: the password or token is read from standard input.
pub async fn credential_set(repo: &str, host: &str, username: &str) -> anyhow::Result<()> {
    let (http, base) = base(repo)?;
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let body = GitCredentialPut {
        username: username.to_owned(),
        password,
    };
    send(
        http.put(format!("{base}/git-credentials/{host}"))
            .json(&body),
    )
    .await?;
    println!("stored the git credential for {host} in {repo}");
    Ok(())
}

/// `kiln forge credential delete`.
pub async fn credential_delete(repo: &str, host: &str) -> anyhow::Result<()> {
    let (http, base) = base(repo)?;
    send(http.delete(format!("{base}/git-credentials/{host}"))).await?;
    println!("removed the git credential for {host} from {repo}");
    Ok(())
}
