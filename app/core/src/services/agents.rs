//! Builder agent registration tokens, made by site admins (`kiln admin agent-token`) and stored
//! hashed. Agents trade one for their own credential when they register.

use sea_orm::{ActiveModelTrait, Set, TransactionTrait};

use super::audit;
use crate::entities::agent_registration_tokens;
use crate::error::{CoreError, CoreResult};
use crate::names::validate_name;
use crate::policy::{authorize, Action, Principal};
use crate::secret::{hash_token, new_token, Secret, AGENT_REGISTRATION_PREFIX};
use crate::Kiln;

pub async fn create_registration_token(kiln: &Kiln, principal: &Principal, name: &str) -> CoreResult<Secret> {
    authorize(principal, Action::ManageAgents, None)?;
    validate_name("name", name)?;
    let secret = new_token(AGENT_REGISTRATION_PREFIX);
    let txn = kiln.db.begin().await?;
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
    audit::record(&txn, None, principal, "agent_token.create", &format!("agent-token:{}", row.id), serde_json::json!({"name": name})).await?;
    txn.commit().await?;
    Ok(secret)
}
