//! Master key rotation without downtime. `mailkey keys rotate` writes a new key into the data
//! directory's `master-keys/` and, once every running instance holds it, makes it the database's
//! primary key: new values are sealed with it, values sealed before still open (each names its
//! key), and a pass re-seals them. Each instance's upkeep takes in new key files, follows the
//! primary, says which keys it holds and re-seals in small batches; `mailkey keys retire` lets
//! go of a key only once no value needs it.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use crate::{
    secrets::{add_key_file, hex, key_files, key_id_from_hex, Aad, MasterKey, Sealer, KEYS_DIR},
    storage::{now, MasterKeyStore, RowKey, SealedColumn, StorageError},
};

/// How often an instance looks for new key files, follows the primary key and re-seals.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);
/// An instance not heard from for this long is not waited for by a rotation.
const LIVE_FOR_SECS: i64 = 20;
/// Values re-sealed per statement batch: each is one conditional update, nothing held between.
const BATCH: i64 = 200;

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot write the new key into {dir}: {source}")]
    KeyFile { dir: String, source: std::io::Error },
    #[error(
        "the new key {key_id} is in {path}, but these running instances do not hold it yet: \
         {missing}. Copy that file into each one's master-keys directory (they take it in within \
         {every} s), then run `mailkey keys rotate --from-file {path}` again."
    )]
    NotEverywhere {
        key_id: String,
        path: String,
        missing: String,
        every: u64,
    },
    #[error("another rotation made {0} the primary key meanwhile; run `mailkey keys status`")]
    Raced(String),
    #[error("\"{0}\" is not a key ID: `mailkey keys status` lists them (16 hex digits)")]
    NotAKeyId(String),
    #[error("{0} is the primary key: new values are sealed with it. Rotate first.")]
    RetiringPrimary(String),
    #[error(
        "{key_id} still holds {count} value(s) ({what}); the re-seal pass moves them to the primary \
         key within seconds while an instance runs (or run `mailkey keys rotate` again). Nothing \
         was retired."
    )]
    StillNeeded {
        key_id: String,
        count: i64,
        what: String,
    },
    #[error(
        "running instances still seal new values with {key_id}: {instances}. They follow the \
         rotation within {every} s; try again then. Nothing was retired."
    )]
    StillSealing {
        key_id: String,
        instances: String,
        every: u64,
    },
    #[error("no key with ID {0} is known here or holds any value")]
    UnknownKey(String),
    #[error(
        "{count} value(s) are sealed with a key this instance does not hold ({key_ids}): copy \
         those keys' files into {dir}"
    )]
    Unopenable {
        count: usize,
        key_ids: String,
        dir: String,
    },
}

/// One key as `mailkey keys status` shows it.
#[derive(Debug, Clone)]
pub struct KeyState {
    pub key_id: String,
    pub primary: bool,
    pub retired: bool,
    /// Held by the instance asking.
    pub held_here: bool,
    /// Values sealed with it, by column.
    pub values: BTreeMap<&'static str, i64>,
}

impl KeyState {
    pub fn total(&self) -> i64 {
        self.values.values().sum()
    }
}

/// What a re-seal pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    pub resealed: usize,
    /// Changed by their writer meanwhile (sealed anew already) or gone.
    pub skipped: usize,
}

#[derive(Clone)]
pub struct KeyRotation {
    store: Arc<dyn MasterKeyStore>,
    sealer: Sealer,
    keys_dir: PathBuf,
    instance: String,
}

impl std::fmt::Debug for KeyRotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRotation")
            .field("keys_dir", &self.keys_dir)
            .finish_non_exhaustive()
    }
}

/// What binds a column's values to their rows: the same as their writers use.
fn aad(column: SealedColumn, row: &str) -> Aad<'_> {
    let (table, _, sealed) = column.sql();
    let field = match column {
        SealedColumn::OperatorAppSecret => "client_secret",
        _ => sealed,
    };
    Aad { table, row, field }
}

/// The key a sealed value names, for telling an operator which key file is missing.
fn named_key(blob: &[u8]) -> String {
    crate::secrets::key_id_of(blob)
        .map(|id| hex(&id))
        .unwrap_or_else(|| "unreadable".into())
}

fn row_text(row: &RowKey) -> String {
    match row {
        RowKey::Text(t) => t.clone(),
        RowKey::Bytes(b) => hex(b),
    }
}

impl KeyRotation {
    pub fn new(store: Arc<dyn MasterKeyStore>, sealer: Sealer, data_dir: &Path) -> KeyRotation {
        KeyRotation {
            store,
            sealer,
            keys_dir: data_dir.join(KEYS_DIR),
            instance: format!(
                "{}:{}",
                hostname(),
                crate::tokens::instance_name()[..8].to_owned()
            ),
        }
    }

    /// The ID of the key this instance seals with now.
    pub fn primary(&self) -> String {
        self.sealer.key_id_hex()
    }

    pub fn keys_dir(&self) -> &Path {
        &self.keys_dir
    }

    async fn retired(&self) -> Result<BTreeSet<String>, RotationError> {
        Ok(self
            .store
            .retired_master_keys()
            .await?
            .into_iter()
            .collect())
    }

    /// The error for values that did not open, by the key each names.
    fn unopenable(&self, by_key: BTreeMap<String, usize>) -> Result<(), RotationError> {
        if by_key.is_empty() {
            return Ok(());
        }
        Err(RotationError::Unopenable {
            count: by_key.values().sum(),
            key_ids: by_key.keys().cloned().collect::<Vec<_>>().join(", "),
            dir: self.keys_dir.display().to_string(),
        })
    }

    /// Takes in key files added since, lets go of retired keys and follows the database's
    /// primary key. A primary this instance does not hold is reported, never guessed around.
    pub async fn follow(&self) -> Result<(), RotationError> {
        let retired = self.retired().await?;
        match key_files(&self.keys_dir) {
            Ok(found) => {
                for (key, _) in found {
                    if !retired.contains(&key.id_hex()) && !self.sealer.holds(&key.id()) {
                        tracing::info!(key_id = %key.id_hex(), "master key taken in");
                        self.sealer.hold(&key);
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "the master-keys directory cannot be read"),
        }
        for id in self.sealer.held() {
            if retired.contains(&hex(&id)) && self.sealer.forget(&id) {
                tracing::info!(key_id = %hex(&id), "retired master key let go");
            }
        }
        if let Some(primary) = self.store.primary_master_key().await? {
            let id = key_id_from_hex(&primary);
            if id.is_some_and(|id| id != self.sealer.primary()) {
                if id.is_some_and(|id| self.sealer.use_primary(&id)) {
                    tracing::info!(key_id = %primary, "new values are sealed with the rotated master key");
                } else {
                    tracing::error!(
                        key_id = %primary,
                        dir = %self.keys_dir.display(),
                        "the database's primary master key is not held here: copy its key file into the master-keys directory"
                    );
                }
            }
        }
        let held: Vec<String> = self.sealer.held().iter().map(|id| hex(id)).collect();
        self.store
            .report_held_keys(&self.instance, &held, &self.sealer.key_id_hex(), now())
            .await?;
        Ok(())
    }

    /// Re-seals with the primary key every value sealed with another, in batches, until none
    /// is left. A value whose writer sealed it anew meanwhile is left to the writer.
    pub async fn reseal(&self) -> Result<Resealed, RotationError> {
        let mut done = Resealed::default();
        let mut unopenable: BTreeMap<String, usize> = BTreeMap::new();
        for column in SealedColumn::ALL {
            loop {
                let primary = self.sealer.primary();
                let batch = self
                    .store
                    .values_not_sealed_with(column, &primary, BATCH)
                    .await?;
                let mut progress = false;
                for value in &batch {
                    let row = row_text(&value.row);
                    match self.sealer.reseal(&value.blob, &aad(column, &row)) {
                        Ok(Some(new)) => {
                            if self
                                .store
                                .replace_sealed(column, &value.row, &value.blob, &new)
                                .await?
                            {
                                done.resealed += 1;
                            } else {
                                done.skipped += 1;
                            }
                            progress = true;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            let id = named_key(&value.blob);
                            tracing::error!(column = column.label(), key_id = %id, error = %e, "a sealed value cannot be re-sealed");
                            *unopenable.entry(id).or_default() += 1;
                        }
                    }
                }
                if (batch.len() as i64) < BATCH || !progress {
                    break;
                }
            }
        }
        self.unopenable(unopenable)?;
        if done.resealed > 0 {
            tracing::info!(
                resealed = done.resealed,
                "values re-sealed with the primary master key"
            );
        }
        Ok(done)
    }

    /// Opens every stored value with the keys held here: how many there are. An error names
    /// the keys of the values that do not open.
    pub async fn check(&self) -> Result<usize, RotationError> {
        let mut opened = 0;
        let mut unopenable: BTreeMap<String, usize> = BTreeMap::new();
        for column in SealedColumn::ALL {
            // No value is sealed with an all-zero ID: this reads them all.
            for value in self
                .store
                .values_not_sealed_with(column, &[0; 8], i64::MAX)
                .await?
            {
                match self
                    .sealer
                    .open(&value.blob, &aad(column, &row_text(&value.row)))
                {
                    Ok(_) => opened += 1,
                    Err(_) => {
                        let id = named_key(&value.blob);
                        *unopenable.entry(id).or_default() += 1;
                    }
                }
            }
        }
        self.unopenable(unopenable)?;
        Ok(opened)
    }

    /// Every key that holds a value, is held here, is primary or retired, with its counts.
    pub async fn status(&self) -> Result<Vec<KeyState>, RotationError> {
        let primary = self.store.primary_master_key().await?;
        let retired = self.retired().await?;
        let mut keys: BTreeMap<String, KeyState> = BTreeMap::new();
        let entry = |keys: &mut BTreeMap<String, KeyState>, id: String| {
            keys.entry(id.clone()).or_insert_with(|| KeyState {
                primary: primary.as_deref() == Some(id.as_str()),
                retired: retired.contains(&id),
                held_here: key_id_from_hex(&id).is_some_and(|k| self.sealer.holds(&k)),
                key_id: id,
                values: BTreeMap::new(),
            });
        };
        for id in self.sealer.held().iter().map(|id| hex(id)) {
            entry(&mut keys, id);
        }
        for id in &retired {
            entry(&mut keys, id.clone());
        }
        if let Some(p) = &primary {
            entry(&mut keys, p.clone());
        }
        for column in SealedColumn::ALL {
            for count in self.store.count_by_key(column).await? {
                let id = hex(&count.key_id);
                entry(&mut keys, id.clone());
                if let Some(k) = keys.get_mut(&id) {
                    *k.values.entry(column.label()).or_default() += count.held;
                }
            }
        }
        let mut list: Vec<KeyState> = keys.into_values().collect();
        list.sort_by_key(|k| (!k.primary, k.retired, k.key_id.clone()));
        Ok(list)
    }

    /// Introduces `new` (or a generated key): written into the master-keys directory, made the
    /// primary key once every live instance holds it (waiting up to `wait` for them to take it
    /// in), then everything is re-sealed with it. Run again with the same key, it finishes what
    /// an earlier run could not.
    pub async fn rotate(
        &self,
        new: Option<MasterKey>,
        wait: Duration,
    ) -> Result<(String, PathBuf, Resealed), RotationError> {
        let key = new.unwrap_or_else(MasterKey::generate);
        let key_id = key.id_hex();
        let path = add_key_file(&self.keys_dir, &key).map_err(|source| RotationError::KeyFile {
            dir: self.keys_dir.display().to_string(),
            source,
        })?;
        self.sealer.hold(&key);
        self.follow().await?;
        let give_up = tokio::time::Instant::now() + wait;
        loop {
            let missing = self.instances_without(&key_id).await?;
            if missing.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(RotationError::NotEverywhere {
                    key_id,
                    path: path.display().to_string(),
                    missing: missing.join(", "),
                    every: UPKEEP_EVERY.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let old = self
            .store
            .primary_master_key()
            .await?
            .unwrap_or_else(|| self.sealer.key_id_hex());
        if old != key_id && !self.store.promote_master_key(&old, &key_id).await? {
            let now_primary = self.store.primary_master_key().await?.unwrap_or_default();
            return Err(RotationError::Raced(now_primary));
        }
        self.follow().await?;
        let resealed = self.reseal().await?;
        Ok((key_id, path, resealed))
    }

    /// Live instances (heard from within the last seconds) that do not hold `key_id`.
    async fn instances_without(&self, key_id: &str) -> Result<Vec<String>, RotationError> {
        let held = self.store.held_keys_since(now() - LIVE_FOR_SECS).await?;
        let live: BTreeSet<&str> = held.iter().map(|h| h.instance.as_str()).collect();
        Ok(live
            .into_iter()
            .filter(|i| !held.iter().any(|h| h.instance == *i && h.key_id == key_id))
            .map(str::to_owned)
            .collect())
    }

    /// Retires a key: refused while it is the primary one or any value is sealed with it.
    pub async fn retire(&self, key_id: &str) -> Result<(), RotationError> {
        let key_id = key_id.trim().to_ascii_lowercase();
        if key_id_from_hex(&key_id).is_none() {
            return Err(RotationError::NotAKeyId(key_id));
        }
        let status = self.status().await?;
        let Some(key) = status.iter().find(|k| k.key_id == key_id) else {
            return Err(RotationError::UnknownKey(key_id));
        };
        if key.primary {
            return Err(RotationError::RetiringPrimary(key_id));
        }
        if key.total() > 0 {
            return Err(RotationError::StillNeeded {
                count: key.total(),
                what: key
                    .values
                    .iter()
                    .map(|(what, n)| format!("{n} {what}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                key_id,
            });
        }
        let sealing: Vec<String> = self
            .store
            .held_keys_since(now() - LIVE_FOR_SECS)
            .await?
            .into_iter()
            .filter(|h| h.seals && h.key_id == key_id)
            .map(|h| h.instance)
            .collect();
        if !sealing.is_empty() {
            return Err(RotationError::StillSealing {
                key_id,
                instances: sealing.join(", "),
                every: UPKEEP_EVERY.as_secs(),
            });
        }
        self.store.retire_master_key(&key_id, now()).await?;
        self.follow().await?;
        Ok(())
    }

    /// Says this instance holds no key any more (it is stopping): a rotation or retirement
    /// need not wait for it.
    pub async fn leave(&self) {
        if let Err(e) = self
            .store
            .report_held_keys(&self.instance, &[], "", now())
            .await
        {
            tracing::warn!(error = %e, "could not say this instance stopped holding master keys; it is forgotten after 20 s");
        }
    }

    /// Follows and re-seals every [`UPKEEP_EVERY`] until aborted.
    pub fn spawn_upkeep(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            loop {
                every.tick().await;
                if let Err(e) = this.follow().await {
                    tracing::warn!(error = %e, "master key upkeep failed; trying again");
                    continue;
                }
                if let Err(e) = this.reseal().await {
                    tracing::warn!(error = %e, "re-sealing with the primary master key failed; trying again");
                }
            }
        })
    }
}

/// This machine's name, for telling operators which instance lacks a key.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
