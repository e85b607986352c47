//! Compact JWTs signed with HMAC-SHA256: the sandbox's access and ID tokens. Microsoft signs with
//! RS256 and publishes keys; the sandbox needs no key distribution because only it verifies its
//! access tokens (through introspection), and OpenID Connect lets an ID token fetched straight
//! from the token endpoint over TLS go unverified by the client (Core 3.1.3.7), which is what
//! Mailkey does with Microsoft's too. HS256 with the client secret is OIDC's own choice for that.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

pub fn sign(claims: &Value, key: &[u8]) -> String {
    let body = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body.as_bytes());
    format!(
        "{body}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The claims of a token this key signed, or `None` for anything else.
pub fn verify(token: &str, key: &[u8]) -> Option<Value> {
    let (body, sig) = token.rsplit_once('.')?;
    let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&sig).ok()?;
    let (_, claims) = body.split_once('.')?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_its_own_key_verifies() {
        let t = sign(&json!({"sub": "a", "exp": 5}), b"key one");
        assert_eq!(verify(&t, b"key one").unwrap()["sub"], "a");
        assert!(verify(&t, b"key two").is_none());
        let forged = t.replace(
            t.split('.').nth(1).unwrap(),
            &URL_SAFE_NO_PAD.encode(r#"{"sub":"b","exp":5}"#),
        );
        assert!(verify(&forged, b"key one").is_none());
        assert!(verify("not a token", b"key one").is_none());
    }
}
