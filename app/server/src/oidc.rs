//! OpenID Connect login (openidconnect crate): discovery on first use, authorization code flow
//! with PKCE, state and nonce checked, ID token validated. Claims the typed client does not
//! know (the configurable username and groups claims) are read from the validated token.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use kiln_core::config::OidcProviderConfig;
use kiln_core::services::accounts::OidcClaims;
use kiln_core::CoreError;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the session remembers between the redirect to the provider and the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

pub const SESSION_PENDING: &str = "oidc_pending";

pub struct Provider {
    pub config: OidcProviderConfig,
    redirect_url: String,
    client: Mutex<Option<Arc<Client>>>,
}

pub struct Oidc {
    pub providers: Vec<Provider>,
    http: openidconnect::reqwest::Client,
}

fn login_failed(detail: impl Into<String>) -> CoreError {
    CoreError::Unauthorized(detail.into())
}

impl Oidc {
    pub fn new(configs: &[OidcProviderConfig], public_url: &str) -> anyhow::Result<Self> {
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects here would let a provider point us anywhere (SSRF).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()?;
        Ok(Oidc {
            providers: configs
                .iter()
                .map(|c| Provider {
                    redirect_url: format!("{public_url}/auth/oidc/{}/callback", c.id),
                    config: c.clone(),
                    client: Mutex::new(None),
                })
                .collect(),
            http,
        })
    }

    pub fn provider(&self, id: &str) -> Result<&Provider, CoreError> {
        self.providers
            .iter()
            .find(|p| p.config.id == id)
            .ok_or_else(|| CoreError::not_found(format!("there is no login provider {id:?}")))
    }

    /// The discovered client, fetched once and then kept; a failed discovery is retried on the
    /// next login.
    async fn client(&self, p: &Provider) -> Result<Arc<Client>, CoreError> {
        let mut guard = p.client.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let issuer = IssuerUrl::new(p.config.issuer.clone())
            .map_err(|e| CoreError::internal(format!("issuer URL of {}: {e}", p.config.id)))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(provider = %p.config.id, error = %e, "OIDC discovery failed");
                CoreError::Storage(format!(
                    "the identity provider {} is not reachable",
                    p.config.id
                ))
            })?;
        let redirect = RedirectUrl::new(p.redirect_url.clone()).map_err(CoreError::internal)?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(p.config.client_id.clone()),
            p.config
                .client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose().to_owned())),
        )
        .set_redirect_uri(redirect);
        let client = Arc::new(client);
        *guard = Some(client.clone());
        Ok(client)
    }

    /// The provider's authorization URL and what to remember for the callback.
    pub async fn start(&self, id: &str) -> Result<(String, PendingLogin), CoreError> {
        let p = self.provider(id)?;
        let client = self.client(p).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in &p.config.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        Ok((
            url.to_string(),
            PendingLogin {
                provider: id.to_owned(),
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
            },
        ))
    }

    /// Exchanges the code, validates the ID token (signature, issuer, audience, expiry, nonce)
    /// and returns the user's claims.
    pub async fn finish(
        &self,
        pending: &PendingLogin,
        code: &str,
    ) -> Result<OidcClaims, CoreError> {
        let p = self.provider(&pending.provider)?;
        let client = self.client(p).await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(CoreError::internal)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                tracing::info!(provider = %p.config.id, error = %e, "OIDC code exchange refused");
                login_failed("the identity provider refused the login code (it may have been used already); sign in again")
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| login_failed("the identity provider sent no ID token"))?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(pending.nonce.clone()))
            .map_err(|e| {
                tracing::info!(provider = %p.config.id, error = %e, "ID token rejected");
                login_failed(format!("the ID token is not valid: {e}"))
            })?;
        // The token is verified; read the claims the typed client does not model.
        let raw = id_token.to_string();
        let payload = raw
            .split('.')
            .nth(1)
            .and_then(|b| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(b)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<HashMap<String, serde_json::Value>>(&b).ok())
            .unwrap_or_default();
        let string_claim = |name: &str| {
            payload
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let groups = match payload.get(&p.config.groups_claim) {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            _ => vec![],
        };
        Ok(OidcClaims {
            subject: claims.subject().to_string(),
            preferred_username: string_claim(&p.config.username_claim),
            email: claims.email().map(|e| e.to_string()),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.to_string()),
            groups,
        })
    }
}

/// The ways to sign in this site offers (the local form, each provider), for the UI.
pub fn login_options(state: &crate::AppState) -> kiln_proto::LoginOptions {
    kiln_proto::LoginOptions {
        local_enabled: state.kiln.config.auth.local_accounts,
        providers: state
            .oidc
            .providers
            .iter()
            .map(|p| kiln_proto::LoginProvider {
                id: p.config.id.clone(),
                display_name: if p.config.display_name.is_empty() {
                    p.config.id.clone()
                } else {
                    p.config.display_name.clone()
                },
            })
            .collect(),
    }
}
