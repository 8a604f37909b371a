//! Builder agent registration tokens, made by site admins (`kiln admin agent-token`) and stored
//! hashed. Agents trade one for their own credential when they register.

use kiln_proto::agent::{
    Agent, AgentState, AgentWork, HeartbeatReply, Register, Registered, RegistrationToken,
    RegistrationTokenCreated,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::audit;
use crate::entities::{agent_registration_tokens, agents, tasks, users};
use crate::error::{CoreError, CoreResult};
use crate::names::validate_name;
use crate::policy::{authorize, Action, Principal};
use crate::secret::{hash_token, new_token, Secret, AGENT_PREFIX, AGENT_REGISTRATION_PREFIX};
use crate::Kiln;

/// Makes a registration token named `name` (site admins) and returns it; only its hash is
/// stored, so this is the one time it is shown. Refuses an invalid name with a validation error.
pub async fn create_registration_token(
    kiln: &Kiln,
    principal: &Principal,
    name: &str,
) -> CoreResult<Secret> {
    authorize(principal, Action::ManageAgents, None)?;
    validate_name("name", name)?;
    let secret = new_token(AGENT_REGISTRATION_PREFIX);
    let txn = kiln.begin().await?;
    let row = agent_registration_tokens::ActiveModel {
        name: Set(name.to_owned()),
        token_hash: Set(hash_token(secret.expose())),
        created_by_id: Set(principal.user_id().filter(|id| *id > 0)),
        created_at: Set(crate::now()),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(CoreError::from)?;
    audit::record(
        &txn,
        None,
        principal,
        "agent_token.create",
        &format!("agent-token:{}", row.id),
        serde_json::json!({"name": name}),
    )
    .await?;
    txn.commit().await?;
    Ok(secret)
}

/// Seconds between heartbeats: three to a lease, so one lost heartbeat loses nothing.
pub fn heartbeat_seconds(kiln: &Kiln) -> u64 {
    (kiln.config.builds.lease_seconds / 3).max(1) as u64
}

fn state_str(s: AgentState) -> &'static str {
    match s {
        AgentState::Online => "online",
        AgentState::Draining => "draining",
        AgentState::Disabled => "disabled",
    }
}

fn parse_state(s: &str) -> AgentState {
    match s {
        "draining" => AgentState::Draining,
        "disabled" => AgentState::Disabled,
        _ => AgentState::Online,
    }
}

/// The agent as the API returns it, without its running work (`list` fills that in).
pub fn to_wire(a: &agents::Model) -> Agent {
    Agent {
        id: a.id,
        name: a.name.clone(),
        arches: serde_json::from_value(a.arches.clone()).unwrap_or_default(),
        capacity: a.capacity.max(0) as u32,
        backend: a.backend.clone(),
        version: a.version.clone(),
        state: parse_state(&a.state),
        registered_at: a.registered_at,
        last_seen_at: a.last_seen_at,
        running: Vec::new(),
        work: Vec::new(),
    }
}

/// Every registration token, newest first, with the number of agents that used it.
pub async fn list_registration_tokens(
    kiln: &Kiln,
    principal: &Principal,
) -> CoreResult<Vec<RegistrationToken>> {
    authorize(principal, Action::ManageAgents, None)?;
    let rows = agent_registration_tokens::Entity::find()
        .order_by_desc(agent_registration_tokens::Column::Id)
        .all(&kiln.db)
        .await?;
    let used: Vec<Option<i32>> = agents::Entity::find()
        .select_only()
        .column(agents::Column::RegistrationTokenId)
        .into_tuple()
        .all(&kiln.db)
        .await?;
    let creators: std::collections::HashMap<i32, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(rows.iter().filter_map(|r| r.created_by_id)))
        .all(&kiln.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| RegistrationToken {
            id: r.id,
            agents: used.iter().filter(|u| **u == Some(r.id)).count() as u32,
            created_by: r.created_by_id.and_then(|id| creators.get(&id).cloned()),
            name: r.name,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}

/// Creates a token and describes it; the secret is in the answer only.
pub async fn create_registration_token_info(
    kiln: &Kiln,
    principal: &Principal,
    name: &str,
) -> CoreResult<RegistrationTokenCreated> {
    let secret = create_registration_token(kiln, principal, name).await?;
    let info = agent_registration_tokens::Entity::find()
        .filter(agent_registration_tokens::Column::TokenHash.eq(hash_token(secret.expose())))
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::internal("the new registration token vanished"))?;
    Ok(RegistrationTokenCreated {
        info: RegistrationToken {
            id: info.id,
            name: info.name,
            created_by: principal.user().map(|u| u.username.clone()),
            created_at: info.created_at,
            revoked_at: None,
            agents: 0,
        },
        token: secret.expose().to_owned(),
    })
}

/// Revokes a registration token: no new agent registers with it (agents that did keep their
/// own credentials).
pub async fn revoke_registration_token(
    kiln: &Kiln,
    principal: &Principal,
    id: i32,
) -> CoreResult<()> {
    authorize(principal, Action::ManageAgents, None)?;
    let txn = kiln.begin().await?;
    let row = agent_registration_tokens::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no registration token {id}")))?;
    if row.revoked_at.is_none() {
        let mut active: agent_registration_tokens::ActiveModel = row.clone().into();
        active.revoked_at = Set(Some(crate::now()));
        active.update(&txn).await?;
        audit::record(
            &txn,
            None,
            principal,
            "agent_token.revoke",
            &format!("agent-token:{id}"),
            serde_json::json!({"name": row.name}),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

fn validate_register(r: &Register) -> CoreResult<()> {
    validate_name("name", &r.name)?;
    if r.arches.is_empty() || r.arches.len() > 16 {
        return Err(CoreError::validation(
            "arches",
            "declare 1 to 16 architectures",
        ));
    }
    for a in &r.arches {
        if a.is_empty()
            || a.len() > 16
            || !a
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(CoreError::validation(
                "arches",
                format!("{a:?} is not an architecture name"),
            ));
        }
    }
    if !(1..=256).contains(&r.capacity) {
        return Err(CoreError::validation("capacity", "must be 1 to 256"));
    }
    if !matches!(r.backend.as_str(), "mock" | "rpmbuild") {
        return Err(CoreError::validation("backend", "must be mock or rpmbuild"));
    }
    crate::names::validate_text("version", &r.version, 64)?;
    Ok(())
}

/// Trades a registration token for the agent's own credential.
pub async fn register(
    kiln: &Kiln,
    registration_token: &str,
    input: Register,
) -> CoreResult<Registered> {
    let reg = agent_registration_tokens::Entity::find()
        .filter(agent_registration_tokens::Column::TokenHash.eq(hash_token(registration_token)))
        .filter(agent_registration_tokens::Column::RevokedAt.is_null())
        .one(&kiln.db)
        .await?
        .ok_or_else(|| CoreError::Unauthorized("the registration token is not valid".into()))?;
    validate_register(&input)?;
    let secret = new_token(AGENT_PREFIX);
    let txn = kiln.begin().await?;
    if agents::Entity::find()
        .filter(agents::Column::Name.eq(&input.name))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(CoreError::Conflict(format!(
            "an agent named {} is registered already; revoke it first or choose another name",
            input.name
        )));
    }
    let now = crate::now();
    let row = agents::ActiveModel {
        name: Set(input.name.clone()),
        token_hash: Set(hash_token(secret.expose())),
        arches: Set(serde_json::json!(input.arches)),
        capacity: Set(input.capacity as i32),
        backend: Set(input.backend.clone()),
        version: Set(input.version.clone()),
        state: Set(state_str(AgentState::Online).into()),
        registration_token_id: Set(Some(reg.id)),
        registered_at: Set(now),
        last_seen_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    tracing::info!(agent = %row.name, arches = ?input.arches, capacity = input.capacity, backend = %input.backend, "agent registered");
    Ok(Registered {
        agent_id: row.id,
        token: secret.expose().to_owned(),
        heartbeat_seconds: heartbeat_seconds(kiln),
    })
}

/// The agent an agent credential belongs to.
pub async fn authenticate(kiln: &Kiln, token: &str) -> CoreResult<agents::Model> {
    if !token.starts_with(AGENT_PREFIX) {
        return Err(CoreError::Unauthorized("not an agent credential".into()));
    }
    agents::Entity::find()
        .filter(agents::Column::TokenHash.eq(hash_token(token)))
        .one(&kiln.db)
        .await?
        .ok_or_else(|| {
            CoreError::Unauthorized("the agent credential is not valid (revoked?)".into())
        })
}

/// Records that the agent is alive, renews the leases of what it runs and tells it what to
/// stop.
pub async fn heartbeat(
    kiln: &Kiln,
    agent: agents::Model,
    running: &[i32],
) -> CoreResult<HeartbeatReply> {
    let state = parse_state(&agent.state);
    let cancel = super::tasks::renew(kiln, &agent, running).await?;
    let mut active: agents::ActiveModel = agent.into();
    active.last_seen_at = Set(crate::now());
    active.update(&kiln.db).await?;
    Ok(HeartbeatReply { state, cancel })
}

async fn find_by_name(db: &impl sea_orm::ConnectionTrait, name: &str) -> CoreResult<agents::Model> {
    agents::Entity::find()
        .filter(agents::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| CoreError::not_found(format!("there is no agent named {name}")))
}

/// Every agent (site admins), by name, each with the tasks it is running now.
pub async fn list(kiln: &Kiln, principal: &Principal) -> CoreResult<Vec<Agent>> {
    authorize(principal, Action::ManageAgents, None)?;
    let rows = agents::Entity::find()
        .order_by_asc(agents::Column::Name)
        .all(&kiln.db)
        .await?;
    let running = tasks::Entity::find()
        .filter(tasks::Column::State.eq("running"))
        .filter(tasks::Column::AgentId.is_not_null())
        .order_by_asc(tasks::Column::Id)
        .all(&kiln.db)
        .await?;
    let repo_names = super::access::full_names(&kiln.db, running.iter().map(|t| t.repo_id)).await?;
    Ok(rows
        .iter()
        .map(|a| {
            let mine: Vec<&tasks::Model> = running
                .iter()
                .filter(|t| t.agent_id == Some(a.id))
                .collect();
            Agent {
                running: mine.iter().map(|t| t.id).collect(),
                work: mine
                    .iter()
                    .map(|t| AgentWork {
                        task_id: t.id,
                        parent_id: t.parent_id.unwrap_or(t.id),
                        repo: repo_names.get(&t.repo_id).cloned().unwrap_or_default(),
                        mock_config: t.mock_config_name.clone().unwrap_or_default(),
                        file_name: t.file_name.clone().unwrap_or_default(),
                    })
                    .collect(),
                ..to_wire(a)
            }
        })
        .collect())
}

/// Drain, disable or bring back an agent.
pub async fn set_state(
    kiln: &Kiln,
    principal: &Principal,
    name: &str,
    state: AgentState,
) -> CoreResult<Agent> {
    authorize(principal, Action::ManageAgents, None)?;
    let txn = kiln.begin().await?;
    let row = find_by_name(&txn, name).await?;
    let mut active: agents::ActiveModel = row.into();
    active.state = Set(state_str(state).into());
    let row = active.update(&txn).await?;
    audit::record(
        &txn,
        None,
        principal,
        "agent.state",
        name,
        serde_json::json!({"state": state}),
    )
    .await?;
    txn.commit().await?;
    Ok(to_wire(&row))
}

/// Revokes an agent: its credential stops working at once.
pub async fn revoke(kiln: &Kiln, principal: &Principal, name: &str) -> CoreResult<()> {
    authorize(principal, Action::ManageAgents, None)?;
    let txn = kiln.begin().await?;
    let row = find_by_name(&txn, name).await?;
    agents::Entity::delete_by_id(row.id).exec(&txn).await?;
    audit::record(
        &txn,
        None,
        principal,
        "agent.revoke",
        name,
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
