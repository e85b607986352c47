//! An account's app registration as the OAuth client needs it: endpoints (derived from the
//! provider's authority and the tenant, or the ones the admin pasted), client ID and the unsealed
//! secret, scopes and the mailbox.

/// The authority segment for any work or school account (never `common`: personal Microsoft
/// accounts have no Exchange Online mailbox to connect).
const ORGANIZATIONS: &str = "organizations";

use mailkey_app::{
    draft::{AppSource, MailboxSettings, Step},
    provider::Provider,
};
use oauth2::{
    basic::{
        BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
        BasicTokenType,
    },
    AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, ExtraTokenFields,
    RedirectUrl, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{problems::Context, SignInError};
use crate::{
    providers::Providers,
    secrets::{Aad, Sealer},
    storage::DraftRecord,
};

/// The ID token rides along in the token response. Its `Debug` never shows the token: a log
/// line that prints a token answer must not carry a credential of the mailbox.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenField")
            .field("id_token", &self.id_token.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

impl ExtraTokenFields for IdTokenField {}

pub type TokenAnswer = StandardTokenResponse<IdTokenField, BasicTokenType>;

pub type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

pub fn client_secret_aad(id: &str) -> Aad<'_> {
    Aad {
        table: "accounts",
        row: id,
        field: "client_secret",
    }
}

pub fn refresh_token_aad(id: &str) -> Aad<'_> {
    Aad {
        table: "accounts",
        row: id,
        field: "refresh_token",
    }
}

pub struct AccountApp {
    pub id: String,
    /// The provider's authority, e.g. `https://login.microsoftonline.com`: ID tokens' issuer is
    /// `{authority}/{tenant id}/v2.0`.
    pub authority: String,
    pub client_id: String,
    secret: SecretString,
    pub authorize_url: String,
    pub token_url: String,
    /// Where admin consent is granted for the tenant.
    pub admin_consent_url: String,
    /// The tenant ID, once known (resolved in the wizard or learnt from a sign-in).
    pub tenant_id: Option<String>,
    pub mailbox: String,
    pub scopes: Vec<String>,
    /// Set for an account on the operator's app: its name, as customers see it.
    pub operator_app_name: Option<String>,
}

fn scopes_of(mailbox: &MailboxSettings) -> Vec<String> {
    mailbox
        .scopes
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

impl AccountApp {
    /// The account's app, if the wizard got far enough to sign in.
    pub fn load(
        r: &DraftRecord,
        providers: &Providers,
        sealer: &Sealer,
    ) -> Result<AccountApp, SignInError> {
        let provider = r.provider;
        let authority = providers
            .authority(provider.id)
            .ok_or(SignInError::ProviderOff(provider.name))?;
        if r.app_source == AppSource::Operator {
            return Self::load_operator(r, provider, authority, providers);
        }
        let (Some(app), Some(secret)) = (&r.app, r.client_secret.as_deref()) else {
            return Err(SignInError::NotReady(Step::AppDetails));
        };
        let Some(mailbox) = r
            .mailbox
            .as_ref()
            .filter(|_| r.saved_step >= Step::Mailbox.number())
        else {
            return Err(SignInError::NotReady(Step::Mailbox));
        };
        if r.saved_step < Step::RedirectUri.number() {
            return Err(SignInError::NotReady(Step::RedirectUri));
        }
        let secret = sealer
            .open(secret, &client_secret_aad(&r.id))
            .map_err(|_| SignInError::Seal)?;
        let tenant = r
            .tenant_id
            .clone()
            .unwrap_or_else(|| app.tenant.trim().to_string());
        // Left empty, the tenant is found at the Mailbox step; until then there is no endpoint.
        if tenant.is_empty() && !app.custom_endpoints {
            return Err(SignInError::NotReady(Step::Mailbox));
        }
        let (authorize_url, token_url) = if app.custom_endpoints {
            (app.authorize_url.trim().into(), app.token_url.trim().into())
        } else {
            (
                format!("{authority}/{tenant}/oauth2/v2.0/authorize"),
                format!("{authority}/{tenant}/oauth2/v2.0/token"),
            )
        };
        Ok(AccountApp {
            id: r.id.clone(),
            authority: authority.to_string(),
            client_id: app.client_id.trim().to_string(),
            secret,
            authorize_url,
            token_url,
            admin_consent_url: format!("{authority}/{tenant}/v2.0/adminconsent"),
            tenant_id: r.tenant_id.clone(),
            mailbox: mailbox.email.trim().to_string(),
            scopes: scopes_of(mailbox),
            operator_app_name: None,
        })
    }

    /// An account on the operator's multi-tenant app: `organizations` endpoints (any work
    /// account; the tenant is the token's), and the operator's client ID and current secret, read
    /// afresh each time so a rotated secret serves every account at once.
    fn load_operator(
        r: &DraftRecord,
        provider: &Provider,
        authority: &str,
        providers: &Providers,
    ) -> Result<AccountApp, SignInError> {
        let operator = providers
            .operator_app(provider.id)
            .ok_or(SignInError::OperatorAppOff(provider.name))?;
        let Some(mailbox) = r
            .mailbox
            .as_ref()
            .filter(|_| r.saved_step >= Step::Mailbox.number())
        else {
            return Err(SignInError::NotReady(Step::Mailbox));
        };
        let consent_tenant = r.tenant_id.as_deref().unwrap_or(ORGANIZATIONS);
        Ok(AccountApp {
            id: r.id.clone(),
            authority: authority.to_string(),
            client_id: operator.client_id.clone(),
            secret: operator.secret.clone(),
            authorize_url: format!("{authority}/{ORGANIZATIONS}/oauth2/v2.0/authorize"),
            token_url: format!("{authority}/{ORGANIZATIONS}/oauth2/v2.0/token"),
            admin_consent_url: format!("{authority}/{consent_tenant}/v2.0/adminconsent"),
            tenant_id: r.tenant_id.clone(),
            mailbox: mailbox.email.trim().to_string(),
            scopes: scopes_of(mailbox),
            operator_app_name: Some(operator.name.clone()),
        })
    }

    /// The problems' context for this account.
    pub fn problem_context<'a>(&'a self, redirect_uri: &'a str, refresh: bool) -> Context<'a> {
        Context {
            redirect_uri,
            // An account that names no mailbox yet connects its own signing-in account.
            mailbox: if self.mailbox.is_empty() {
                "the mailbox's own account"
            } else {
                &self.mailbox
            },
            scopes: &self.scopes,
            operator_app: self.operator_app_name.as_deref(),
            refresh,
        }
    }

    pub fn client(&self, redirect_uri: &str) -> Result<OAuthClient, SignInError> {
        let bad = |what: &str| SignInError::Corrupt(format!("the {what} is not a URL"));
        Ok(oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.secret.expose_secret().to_string()))
            // Microsoft documents the secret in the request body.
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(
                AuthUrl::new(self.authorize_url.clone()).map_err(|_| bad("authorize URL"))?,
            )
            .set_token_uri(TokenUrl::new(self.token_url.clone()).map_err(|_| bad("token URL"))?)
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.to_string()).map_err(|_| bad("redirect URI"))?,
            ))
    }

    /// The resource scopes alone (what admin consent is granted for).
    pub fn resource_scopes(&self) -> String {
        self.scopes
            .iter()
            .filter(|s| s.contains('/'))
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_token_is_never_debug_printed() {
        let f = IdTokenField {
            id_token: Some("eyJhbGciOi.secret.sig".into()),
        };
        assert!(!format!("{f:?}").contains("eyJ"), "{f:?}");
    }
}
