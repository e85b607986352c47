//! AES-256-GCM with associated data. Layout of a sealed value:
//! `version (1) | key id (8) | nonce (12) | ciphertext and tag`.
//!
//! The sealer holds a ring of master keys: new values are sealed with the primary one, and a
//! value opens with whichever held key its ID names, so a key can be rotated while values sealed
//! with the one before it are still being re-sealed.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

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

/// A master key's ID: the first 8 bytes of a fingerprint of it, stored in every ciphertext.
pub type KeyId = [u8; 8];

/// The ID a sealed value names, if it is in a format this version understands.
pub fn key_id_of(blob: &[u8]) -> Option<KeyId> {
    if blob.len() < HEADER + 16 || blob[0] != VERSION {
        return None;
    }
    blob[1..9].try_into().ok()
}

struct Ring {
    primary: KeyId,
    ciphers: HashMap<KeyId, Aes256Gcm>,
}

#[derive(Clone)]
pub struct Sealer {
    ring: Arc<RwLock<Ring>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer(primary key id {})", self.key_id_hex())
    }
}

impl Sealer {
    pub fn new(key: MasterKey) -> Sealer {
        let primary = key.id();
        let sealer = Sealer {
            ring: Arc::new(RwLock::new(Ring {
                primary,
                ciphers: HashMap::new(),
            })),
        };
        sealer.hold(&key);
        sealer
    }

    fn ring(&self) -> std::sync::RwLockReadGuard<'_, Ring> {
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }

    fn ring_mut(&self) -> std::sync::RwLockWriteGuard<'_, Ring> {
        self.ring.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The key new values are sealed with.
    pub fn primary(&self) -> KeyId {
        self.ring().primary
    }

    pub fn key_id_hex(&self) -> String {
        hex(&self.primary())
    }

    /// Adds a key values may be opened with (and that may become the primary one).
    pub fn hold(&self, key: &MasterKey) {
        let cipher = Aes256Gcm::new(key.bytes().into());
        self.ring_mut().ciphers.insert(key.id(), cipher);
    }

    pub fn holds(&self, id: &KeyId) -> bool {
        self.ring().ciphers.contains_key(id)
    }

    /// Every held key's ID, the primary one first.
    pub fn held(&self) -> Vec<KeyId> {
        let ring = self.ring();
        let mut ids: Vec<KeyId> = ring.ciphers.keys().copied().collect();
        ids.sort_by_key(|id| (*id != ring.primary, *id));
        ids
    }

    /// Seals from now on with `id`; false (nothing changed) unless it is held.
    pub fn use_primary(&self, id: &KeyId) -> bool {
        let mut ring = self.ring_mut();
        if !ring.ciphers.contains_key(id) {
            return false;
        }
        ring.primary = *id;
        true
    }

    /// Lets go of a key (retired: nothing is sealed with it); never the primary one.
    pub fn forget(&self, id: &KeyId) -> bool {
        let mut ring = self.ring_mut();
        if ring.primary == *id {
            return false;
        }
        ring.ciphers.remove(id).is_some()
    }

    pub fn seal(&self, plaintext: &str, aad: &Aad<'_>) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ring = self.ring();
        let cipher = ring
            .ciphers
            .get(&ring.primary)
            .expect("the primary key is always held");
        let sealed = cipher
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
        out.extend_from_slice(&ring.primary);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, blob: &[u8], aad: &Aad<'_>) -> Result<SecretString, SealError> {
        let key_id = key_id_of(blob).ok_or(SealError::Format)?;
        let ring = self.ring();
        let cipher = ring
            .ciphers
            .get(&key_id)
            .ok_or_else(|| SealError::WrongKey(hex(&key_id)))?;
        let plain = Zeroizing::new(
            cipher
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

    /// The value sealed again with the primary key, or `None` when it already is.
    pub fn reseal(&self, blob: &[u8], aad: &Aad<'_>) -> Result<Option<Vec<u8>>, SealError> {
        if key_id_of(blob) == Some(self.primary()) {
            return Ok(None);
        }
        let plain = self.open(blob, aad)?;
        Ok(Some(
            self.seal(secrecy::ExposeSecret::expose_secret(&plain), aad),
        ))
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
    fn a_ring_opens_what_any_held_key_sealed_and_seals_with_the_primary() {
        let old = MasterKey::generate();
        let new = MasterKey::generate();
        let sealer = Sealer::new(old.clone());
        let before = sealer.seal("value", &aad("a1"));
        sealer.hold(&new);
        assert_eq!(key_id_of(&sealer.seal("v", &aad("a1"))), Some(old.id()));
        assert!(sealer.use_primary(&new.id()));
        let after = sealer.seal("value", &aad("a1"));
        assert_eq!(key_id_of(&after), Some(new.id()));
        for blob in [&before, &after] {
            assert_eq!(
                sealer.open(blob, &aad("a1")).unwrap().expose_secret(),
                "value"
            );
        }
        let resealed = sealer.reseal(&before, &aad("a1")).unwrap().unwrap();
        assert_eq!(key_id_of(&resealed), Some(new.id()));
        assert_eq!(sealer.reseal(&resealed, &aad("a1")).unwrap(), None);
        assert!(!sealer.forget(&new.id()), "never the primary");
        assert!(sealer.forget(&old.id()));
        assert!(matches!(
            sealer.open(&before, &aad("a1")),
            Err(SealError::WrongKey(_))
        ));
        assert!(!sealer.use_primary(&old.id()), "a key not held");
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
