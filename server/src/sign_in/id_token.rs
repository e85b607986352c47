//! The claims of an ID token. Mailkey receives it straight from the token endpoint over TLS in
//! answer to its own authenticated request, so, as OpenID Connect Core 3.1.3.7 allows, the
//! signature is not verified; the claims that bind it to this request (audience, nonce, tenant,
//! expiry) are.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct IdClaims {
    #[serde(default)]
    pub aud: String,
    #[serde(default)]
    pub iss: String,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub tid: Option<String>,
    #[serde(default)]
    pub exp: i64,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

pub fn claims(token: &str) -> Option<IdClaims> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_payload() {
        let body = URL_SAFE_NO_PAD
            .encode(r#"{"aud":"a","nonce":"n","tid":"t","exp":5,"email":"x@contoso.com"}"#);
        let c = claims(&format!("e30.{body}.sig")).unwrap();
        assert_eq!(c.email.as_deref(), Some("x@contoso.com"));
        assert_eq!(c.nonce.as_deref(), Some("n"));
        assert!(claims("garbage").is_none());
    }
}
