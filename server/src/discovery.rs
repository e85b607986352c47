//! Tenant discovery: a domain is resolved to its tenant ID through the identity platform's
//! openid-configuration document, as Microsoft's own tools do.

use std::time::Duration;

use mailkey_app::rules::identifiers::is_guid;
use serde::Deserialize;

/// The document is a few KB; anything far larger is not what we asked for.
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("no Microsoft 365 tenant uses this domain")]
    UnknownDomain,
    #[error("the sign-in service did not answer in time")]
    Timeout,
    #[error("the sign-in service could not be reached")]
    Unreachable,
    #[error("the sign-in service sent an answer Mailkey does not understand")]
    Unexpected,
}

#[derive(Clone, Debug)]
pub struct TenantDiscovery {
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct OpenIdConfiguration {
    token_endpoint: String,
}

#[derive(Deserialize)]
struct ErrorDocument {
    error: String,
}

impl TenantDiscovery {
    pub fn new(timeout: Duration) -> TenantDiscovery {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("Mailkey/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's fixed settings are valid");
        TenantDiscovery { client }
    }

    /// The tenant ID of `domain` (already checked by the tenant rule) at `authority`.
    pub async fn tenant_id(&self, authority: &str, domain: &str) -> Result<String, DiscoveryError> {
        let authority = authority.trim_end_matches('/');
        let url = format!("{authority}/{domain}/v2.0/.well-known/openid-configuration");
        let mut res = self.client.get(&url).send().await.map_err(classify)?;
        let status = res.status();
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(DiscoveryError::Unexpected);
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            let doc: OpenIdConfiguration =
                serde_json::from_slice(&body).map_err(|_| DiscoveryError::Unexpected)?;
            return tenant_of(authority, &doc.token_endpoint);
        }
        // Microsoft answers 400 {"error":"invalid_tenant", "error_description":"AADSTS90002: ..."}.
        match serde_json::from_slice::<ErrorDocument>(&body) {
            Ok(e) if e.error == "invalid_tenant" => Err(DiscoveryError::UnknownDomain),
            _ if status == reqwest::StatusCode::NOT_FOUND => Err(DiscoveryError::UnknownDomain),
            _ => Err(DiscoveryError::Unexpected),
        }
    }
}

fn tenant_of(authority: &str, token_endpoint: &str) -> Result<String, DiscoveryError> {
    token_endpoint
        .strip_prefix(authority)
        .and_then(|rest| rest.trim_start_matches('/').split('/').next())
        .filter(|id| is_guid(id))
        .map(str::to_ascii_lowercase)
        .ok_or(DiscoveryError::Unexpected)
}

fn classify(e: reqwest::Error) -> DiscoveryError {
    if e.is_timeout() {
        DiscoveryError::Timeout
    } else {
        DiscoveryError::Unreachable
    }
}
