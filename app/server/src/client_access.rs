//! `kiln read-token …` and `kiln group …`, through the HTTP API.

use anyhow::Context;
use kiln_proto::{
    Group, GroupCreate, GroupRolePut, ReadToken, ReadTokenCreate, ReadTokenCreated, Role,
};

use crate::client::client;
use crate::client_forge::{base, send};

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `kiln read-token create`: the secret once, then the lines that use it.
pub async fn read_token_create(
    repo: &str,
    name: &str,
    expires_days: Option<u32>,
) -> anyhow::Result<()> {
    let (http, base) = base(repo)?;
    let body = ReadTokenCreate {
        name: name.to_owned(),
        expires_at: expires_days
            .filter(|d| *d > 0)
            .map(|d| time::OffsetDateTime::now_utc() + time::Duration::days(d.into())),
    };
    let t: ReadTokenCreated = send(http.post(format!("{base}/read-tokens")).json(&body))
        .await?
        .json()
        .await?;
    println!("{}", t.token);
    eprintln!(
        "read token {} (id {}): copy it now, it is not shown again.",
        t.info.name, t.info.id
    );
    eprintln!(
        "set a machine up with:\n  sudo dnf install '{}'",
        t.release_rpm_url
    );
    eprintln!(
        "or fetch only the .repo file:\n  sudo curl -fsS -o /etc/yum.repos.d/{}.repo '{}'",
        repo.replace('/', "-"),
        t.repo_file_url
    );
    Ok(())
}

/// `kiln read-token list`.
pub async fn read_token_list(repo: &str) -> anyhow::Result<()> {
    let (http, base) = base(repo)?;
    let list: Vec<ReadToken> = send(http.get(format!("{base}/read-tokens")))
        .await?
        .json()
        .await?;
    if list.is_empty() {
        eprintln!("{repo} has no read token");
    }
    for t in list {
        println!(
            "{:>5}  {:<24} {}…  made {} by {}  expires {}  last used {}",
            t.id,
            t.name,
            t.prefix,
            rfc3339(t.created_at),
            t.created_by,
            t.expires_at.map_or("never".into(), rfc3339),
            t.last_used_at.map_or("never".into(), rfc3339),
        );
    }
    Ok(())
}

/// `kiln read-token revoke`.
pub async fn read_token_revoke(repo: &str, id: i32) -> anyhow::Result<()> {
    let (http, base) = base(repo)?;
    send(http.delete(format!("{base}/read-tokens/{id}"))).await?;
    eprintln!("revoked read token {id} of {repo}");
    Ok(())
}

/// One `kiln group` call.
pub enum GroupCall {
    List,
    Show(String),
    Create(String),
    Add(String, String),
    Remove(String, String),
}

fn print_group(g: &Group) {
    println!("{}", g.owner);
    for m in &g.members {
        println!("  {} ({})", m.username, m.source);
    }
}

/// `kiln group list|show|create|add-member|remove-member`.
pub async fn group_call(call: GroupCall) -> anyhow::Result<()> {
    let (http, url, _) = client()?;
    let groups = format!("{url}/api/v1/groups");
    let bare = |g: &str| g.trim_start_matches('@').to_owned();
    let req = match &call {
        GroupCall::List => http.get(&groups),
        GroupCall::Show(g) => http.get(format!("{groups}/{}", bare(g))),
        GroupCall::Create(g) => http.post(&groups).json(&GroupCreate { name: bare(g) }),
        GroupCall::Add(g, u) => http.put(format!("{groups}/{}/members/{u}", bare(g))),
        GroupCall::Remove(g, u) => http.delete(format!("{groups}/{}/members/{u}", bare(g))),
    };
    let resp = send(req).await?;
    if let GroupCall::List = call {
        let list: Vec<Group> = resp.json().await?;
        list.iter().for_each(print_group);
    } else {
        print_group(&resp.json::<Group>().await?);
    }
    Ok(())
}

/// `kiln group set-role @GROUP/REPO ROLE`.
pub async fn group_role(repo: &str, role: &str) -> anyhow::Result<()> {
    let role = Role::parse(role).context("the role is packager, releng or admin")?;
    let (http, base) = base(repo)?;
    send(
        http.put(format!("{base}/group-role"))
            .json(&GroupRolePut { role }),
    )
    .await?;
    eprintln!(
        "members of the group owning {repo} are now {} there",
        role.as_str()
    );
    Ok(())
}
