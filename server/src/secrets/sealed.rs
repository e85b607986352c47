//! AES-256-GCM with associated data. Layout of a sealed value:
//! `version (1) | key id (8) | nonce (12) | ciphertext and tag`.

use aes_gcm::{
    aead::{Aead, Payload},
    Aes256Gcm, KeyInit, Nonce,
};
use rand::RngCore;
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::{master_key::hex, MasterKey};

const VERSION: u8 = 1;
const HEADER: usize = 1 + 8 + 12;

/// What a ciphertext is bound to: moving it to another row or field makes it fail to open.
pub struct Aad<'a> {
    pub table: &'static str,
    pub row: &'a str,
    pub field: &'static str,
}

impl Aad<'_> {
    fn bytes(&self) -> Vec<u8> {
        format!(
            "mailkey:v{VERSION}:{}:{}:{}",
            self.table, self.row, self.field
        )
        .into_bytes()
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the stored secret is not in a format this version understands")]
    Format,
    #[error("the stored secret was encrypted with another master key (id {0})")]
    WrongKey(String),
    #[error("the stored secret fails its integrity check")]
    Tampered,
}

#[derive(Clone)]
pub struct Sealer {
    key: MasterKey,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({:?})", self.key)
    }
}

impl Sealer {
    pub fn new(key: MasterKey) -> Sealer {
        let cipher = Aes256Gcm::new(key.bytes().into());
        Sealer { key, cipher }
    }

    pub fn key_id_hex(&self) -> String {
        self.key.id_hex()
    }

    pub fn seal(&self, plaintext: &str, aad: &Aad<'_>) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad.bytes(),
                },
            )
            .expect("AES-GCM encryption of a short value cannot fail");
        let mut out = Vec::with_capacity(HEADER + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&self.key.id());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, blob: &[u8], aad: &Aad<'_>) -> Result<SecretString, SealError> {
        if blob.len() < HEADER + 16 || blob[0] != VERSION {
            return Err(SealError::Format);
        }
        let key_id = &blob[1..9];
        if key_id != self.key.id() {
            return Err(SealError::WrongKey(hex(key_id)));
        }
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(&blob[9..HEADER]),
                    Payload {
                        msg: &blob[HEADER..],
                        aad: &aad.bytes(),
                    },
                )
                .map_err(|_| SealError::Tampered)?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| SealError::Format)?;
        Ok(SecretString::from(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn aad(row: &str) -> Aad<'_> {
        Aad {
            table: "accounts",
            row,
            field: "client_secret",
        }
    }

    #[test]
    fn round_trips_and_hides_the_plaintext() {
        let sealer = Sealer::new(MasterKey::generate());
        let blob = sealer.seal("Xk28Q~secret-value", &aad("a1"));
        assert!(!blob.windows(6).any(|w| w == b"Xk28Q~"));
        assert_eq!(
            sealer.open(&blob, &aad("a1")).unwrap().expose_secret(),
            "Xk28Q~secret-value"
        );
        // Fresh nonce each time.
        assert_ne!(blob, sealer.seal("Xk28Q~secret-value", &aad("a1")));
    }

    #[test]
    fn bound_to_row_key_and_content() {
        let sealer = Sealer::new(MasterKey::generate());
        let blob = sealer.seal("value", &aad("a1"));
        assert_eq!(
            sealer.open(&blob, &aad("a2")).unwrap_err(),
            SealError::Tampered
        );
        let other = Sealer::new(MasterKey::generate());
        assert!(matches!(
            other.open(&blob, &aad("a1")),
            Err(SealError::WrongKey(_))
        ));
        let mut flipped = blob.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(
            sealer.open(&flipped, &aad("a1")).unwrap_err(),
            SealError::Tampered
        );
        assert_eq!(
            sealer.open(&blob[..10], &aad("a1")).unwrap_err(),
            SealError::Format
        );
    }
}
