//! The 256-bit master key: given in the configuration, or generated on first start into the data
//! directory (mode 0600). Never printed: `Debug` shows only its ID.

use std::{fmt, io::Write, path::Path};

use base64::{engine::general_purpose::STANDARD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::SecretsError;

/// The file a generated key is kept in, inside the data directory.
pub const KEY_FILE: &str = "master.key";

/// The directory, inside the data directory, of the keys `mailkey keys rotate` introduced:
/// one `<key id>.key` file each, in the same form as the key file.
pub const KEYS_DIR: &str = "master-keys";

/// Where the key in use came from, for the start-up log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    Configured,
    DataDirFile,
    Generated,
}

#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id {})", self.id_hex())
    }
}

impl MasterKey {
    /// Parses 32 bytes in standard base64 (what `openssl rand -base64 32` prints). The error
    /// never repeats the value.
    pub fn from_base64(text: &str) -> Result<MasterKey, String> {
        let decoded = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| {
            "it is not base64; generate a key with `openssl rand -base64 32`".to_string()
        })?);
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            format!(
                "it decodes to {} bytes, but a master key is 32 bytes; generate one with \
                 `openssl rand -base64 32`",
                decoded.len()
            )
        })?;
        Ok(MasterKey {
            bytes: Zeroizing::new(bytes),
        })
    }

    pub fn generate() -> MasterKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        MasterKey { bytes }
    }

    /// A public fingerprint of the key, stored in every ciphertext so the right key can be told
    /// from a wrong one without trying to decrypt.
    pub fn id(&self) -> [u8; 8] {
        let digest = Sha256::new()
            .chain_update(b"mailkey master key id\0")
            .chain_update(self.bytes.as_ref())
            .finalize();
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes")
    }

    pub fn id_hex(&self) -> String {
        hex(&self.id())
    }

    pub(super) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The configured key; else the data directory's key file; else, when no rotated key is
    /// there either (`others`), a new key written there, unless the database already holds
    /// ciphertexts (then fail closed: a new key would orphan them).
    pub fn resolve(
        configured: Option<MasterKey>,
        data_dir: &Path,
        database_has_secrets: bool,
    ) -> Result<(MasterKey, KeyOrigin), SecretsError> {
        Self::resolve_beside(configured, data_dir, database_has_secrets, false)
            .map(|found| found.expect("a key is found or made when there are no others"))
    }

    /// [`MasterKey::resolve`], answering `None` rather than making a key when `others` (keys
    /// introduced by rotation) exist.
    pub fn resolve_beside(
        configured: Option<MasterKey>,
        data_dir: &Path,
        database_has_secrets: bool,
        others: bool,
    ) -> Result<Option<(MasterKey, KeyOrigin)>, SecretsError> {
        if let Some(key) = configured {
            return Ok(Some((key, KeyOrigin::Configured)));
        }
        let path = data_dir.join(KEY_FILE);
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                let key =
                    MasterKey::from_base64(&text).map_err(|problem| SecretsError::KeyFile {
                        path: shown,
                        problem,
                    })?;
                Ok(Some((key, KeyOrigin::DataDirFile)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && others => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if database_has_secrets {
                    return Err(SecretsError::KeyMissing { path: shown });
                }
                let key = MasterKey::generate();
                write_key_file(&path, &key).map_err(|e| SecretsError::KeyFile {
                    path: shown,
                    problem: e.to_string(),
                })?;
                Ok(Some((key, KeyOrigin::Generated)))
            }
            Err(e) => Err(SecretsError::KeyFile {
                path: shown,
                problem: e.to_string(),
            }),
        }
    }
}

/// The keys in `dir` (see [`KEYS_DIR`]), with their files; none when it does not exist. A file
/// named for another key than it holds is refused: the name is what operators copy by.
pub fn key_files(dir: &Path) -> Result<Vec<(MasterKey, std::path::PathBuf)>, SecretsError> {
    let shown = |p: &Path| p.display().to_string();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(SecretsError::KeyFile {
                path: shown(dir),
                problem: e.to_string(),
            })
        }
    };
    let mut keys = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| SecretsError::KeyFile {
                path: shown(dir),
                problem: e.to_string(),
            })?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some("key") {
            continue;
        }
        let text =
            Zeroizing::new(
                std::fs::read_to_string(&path).map_err(|e| SecretsError::KeyFile {
                    path: shown(&path),
                    problem: e.to_string(),
                })?,
            );
        let key = MasterKey::from_base64(&text).map_err(|problem| SecretsError::KeyFile {
            path: shown(&path),
            problem,
        })?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if stem != key.id_hex() {
            return Err(SecretsError::KeyFile {
                path: shown(&path),
                problem: format!(
                    "it holds the key with id {}; rename it to {}.key",
                    key.id_hex(),
                    key.id_hex()
                ),
            });
        }
        keys.push((key, path));
    }
    keys.sort_by_key(|(k, _)| k.id());
    Ok(keys)
}

/// Writes `key` into `dir` as `<id>.key` (the directory made owner-only if new); a file already
/// there for the same key is kept.
pub fn add_key_file(dir: &Path, key: &MasterKey) -> std::io::Result<std::path::PathBuf> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    let path = dir.join(format!("{}.key", key.id_hex()));
    match write_key_file(&path, key) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(path),
        other => other.map(|()| path),
    }
}

/// Creates the key file readable by its owner only; never overwrites an existing one.
fn write_key_file(path: &Path, key: &MasterKey) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let text = Zeroizing::new(STANDARD.encode(key.bytes.as_ref()));
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_32_bytes_and_never_echoes_the_value() {
        let good = STANDARD.encode([7u8; 32]);
        assert!(MasterKey::from_base64(&good).is_ok());
        let short = STANDARD.encode([7u8; 16]);
        let err = MasterKey::from_base64(&short).unwrap_err();
        assert!(err.contains("decodes to 16 bytes"), "{err}");
        assert!(!err.contains(&short));
        let err = MasterKey::from_base64("not base64!").unwrap_err();
        assert!(!err.contains("not base64!"));
        assert_eq!(
            format!("{:?}", MasterKey::from_base64(&good).unwrap()),
            format!(
                "MasterKey(id {})",
                MasterKey::from_base64(&good).unwrap().id_hex()
            )
        );
    }

    #[test]
    fn generates_once_then_reuses_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let (first, origin) = MasterKey::resolve(None, dir.path(), false).unwrap();
        assert_eq!(origin, KeyOrigin::Generated);
        let (second, origin) = MasterKey::resolve(None, dir.path(), true).unwrap();
        assert_eq!(origin, KeyOrigin::DataDirFile);
        assert_eq!(first.id(), second.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn rotated_keys_are_read_by_their_names_and_spare_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join(KEYS_DIR);
        assert!(key_files(&keys).unwrap().is_empty());
        let key = MasterKey::generate();
        let path = add_key_file(&keys, &key).unwrap();
        assert_eq!(add_key_file(&keys, &key).unwrap(), path, "kept");
        let found = key_files(&keys).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0.id(), key.id());
        // With rotated keys there, no key file is made.
        assert!(MasterKey::resolve_beside(None, dir.path(), true, true)
            .unwrap()
            .is_none());
        assert!(!dir.path().join(KEY_FILE).exists());
        std::fs::rename(&path, keys.join("0011223344556677.key")).unwrap();
        let err = key_files(&keys).unwrap_err().to_string();
        assert!(
            err.contains(&format!("rename it to {}.key", key.id_hex())),
            "{err}"
        );
    }

    #[test]
    fn refuses_to_invent_a_key_when_secrets_exist() {
        let dir = tempfile::tempdir().unwrap();
        let err = MasterKey::resolve(None, dir.path(), true).unwrap_err();
        assert!(matches!(err, SecretsError::KeyMissing { .. }));
        assert!(!dir.path().join(KEY_FILE).exists());
    }
}
