//! Secrets at rest: the master key and the authenticated encryption that binds every ciphertext
//! to its row and field. A stolen database file alone reveals no client secret or token.

mod master_key;
mod sealed;

pub use master_key::{add_key_file, hex, key_files, KeyOrigin, MasterKey, KEYS_DIR, KEY_FILE};
pub use sealed::{key_id_of, Aad, KeyId, SealError, Sealer};

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "the database holds encrypted secrets but no master key was given and {path} does not \
         exist. Restore that file, or set MAILKEY_MASTER_KEY (or MAILKEY_MASTER_KEY_FILE) to the \
         key the secrets were encrypted with. Mailkey does not start with a new key, because \
         every stored secret would be lost."
    )]
    KeyMissing { path: String },
    #[error(
        "the master key (id {given}) is not the one the stored secrets were encrypted with (id \
         {stored}). Set MAILKEY_MASTER_KEY (or MAILKEY_MASTER_KEY_FILE) to the original key, or \
         restore {path}."
    )]
    WrongKey {
        given: String,
        stored: String,
        path: String,
    },
    #[error(
        "this instance's master key (id {given}) is not the one the other instances on this \
         database use (id {recorded}): values sealed here could not be opened there. Give every \
         instance the same key: set MAILKEY_MASTER_KEY_FILE to the first instance's key file \
         (its <data_dir>/master.key) on all of them, or replace {path} with it."
    )]
    NotTheDatabasesKey {
        given: String,
        recorded: String,
        path: String,
    },
    #[error(
        "this instance does not hold the master key the database's instances seal with now (id \
         {primary}; it holds {held}). Copy {primary}.key from the master-keys directory of an \
         instance that has it (where `mailkey keys rotate` wrote it) into {dir}, then start again."
    )]
    PrimaryNotHeld {
        primary: String,
        held: String,
        dir: String,
    },
    #[error("the master key file {path} cannot be used: {problem}")]
    KeyFile { path: String, problem: String },
    #[error(
        "a stored secret fails its integrity check with the current master key: the database \
         was modified or belongs to another key. Restore the database from a backup."
    )]
    Tampered,
}

/// A key ID from its hex form (as the database and the key files name it).
pub fn key_id_from_hex(text: &str) -> Option<KeyId> {
    if text.len() != 16 || !text.is_ascii() {
        return None;
    }
    let mut id = [0u8; 8];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}
