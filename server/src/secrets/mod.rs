//! Secrets at rest: the master key and the authenticated encryption that binds every ciphertext
//! to its row and field. A stolen database file alone reveals no client secret or token.

mod master_key;
mod sealed;

pub use master_key::{hex, KeyOrigin, MasterKey, KEY_FILE};
pub use sealed::{Aad, SealError, Sealer};

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
    #[error("the master key file {path} cannot be used: {problem}")]
    KeyFile { path: String, problem: String },
    #[error(
        "a stored secret fails its integrity check with the current master key: the database \
         was modified or belongs to another key. Restore the database from a backup."
    )]
    Tampered,
}
