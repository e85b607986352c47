//! Whether answers kept in memory are still current: the database's `revision` (migration 0013)
//! moves whenever a key is revoked or an account changes in a way the host API depends on.
//!
//! A commit becomes visible to other connections, in any process, when its writer updates the
//! header of SQLite's WAL index (the `-shm` file beside the database: a change counter, the
//! last valid frame, the log's salts). While that header is byte for byte what it was before
//! the last reading, nothing was committed since, and the reading stands: a request compares
//! 48 bytes (one small file read, no database round trip) instead of asking the database.
//!
//! Otherwise the request needs a reading taken after it arrived (so a revocation committed
//! before it counts), but not one of its own: requests that arrive while a reading is under way
//! wait for the next one, which serves them all. Under load one small read serves a batch of
//! requests; alone, a request costs one read.

use crate::sync::lock;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::storage::{StorageError, Store};

#[derive(Clone)]
pub struct Freshness {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    runs: Mutex<Runs>,
    /// The WAL index header before the last reading, and that reading.
    quiet: Mutex<Option<(Signature, i64)>>,
    /// Readings taken so far (each a database round trip).
    readings: std::sync::atomic::AtomicU64,
    /// The last finished reading: its number, and the revision (`None`: it failed).
    done: watch::Sender<(u64, Option<i64>)>,
}

/// Readings are numbered; at most one is under way, taken by one task while requests want one.
#[derive(Default)]
struct Runs {
    /// The number the next reading to start will have.
    next: u64,
    /// The highest reading a request waits for.
    wanted: u64,
    /// Whether the task that takes readings is running.
    leader: bool,
}

impl std::fmt::Debug for Freshness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Freshness").finish_non_exhaustive()
    }
}

impl Freshness {
    pub fn new(store: Store) -> Freshness {
        Freshness {
            inner: Arc::new(Inner {
                store,
                runs: Mutex::new(Runs {
                    next: 1,
                    ..Runs::default()
                }),
                // Readings are numbered from 1: nobody waits for reading 0.
                done: watch::Sender::new((0, None)),
                quiet: Mutex::new(None),
                readings: Default::default(),
            }),
        }
    }

    /// The revision as of now: the last reading while nothing was committed since, else a
    /// reading that started after this call.
    pub async fn current(&self) -> Result<i64, StorageError> {
        let now = Signature::of(&self.inner.store);
        if let (Some(now), Some((then, revision))) = (&now, *lock(&self.inner.quiet)) {
            if *now == then {
                return Ok(revision);
            }
        }
        self.read().await
    }

    /// How many times the database was asked, for tests and metrics.
    pub fn readings(&self) -> u64 {
        self.inner
            .readings
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A reading that started after this call.
    async fn read(&self) -> Result<i64, StorageError> {
        let mut finished = self.inner.done.subscribe();
        let (mine, lead) = {
            let mut runs = lock(&self.inner.runs);
            // A reading under way began before this request; the next one has not.
            let mine = runs.next;
            runs.wanted = runs.wanted.max(mine);
            let lead = !runs.leader;
            runs.leader = true;
            (mine, lead)
        };
        if lead {
            tokio::spawn(read_while_wanted(Leader {
                inner: self.inner.clone(),
                armed: true,
            }));
        }
        loop {
            let (run, revision) = *finished.borrow_and_update();
            if run >= mine {
                return revision.ok_or_else(|| {
                    StorageError::Unavailable("the database's revision cannot be read".into())
                });
            }
            if finished.changed().await.is_err() {
                return Err(StorageError::Unavailable("shutting down".into()));
            }
        }
    }
}

/// Takes readings as long as requests wait for one. The guard is made before the task is
/// spawned: however the task ends (a panic, the runtime shutting down before it ever ran),
/// nobody is left waiting for a reading that will never come.
async fn read_while_wanted(mut guard: Leader) {
    let inner = guard.inner.clone();
    loop {
        let run = {
            let mut runs = lock(&inner.runs);
            if runs.wanted < runs.next {
                runs.leader = false;
                guard.armed = false;
                return;
            }
            runs.next += 1;
            runs.next - 1
        };
        // Taken before the reading: a commit made visible after it changes the header.
        let before = Signature::of(&inner.store);
        inner
            .readings
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let revision = match inner.store.revision().await {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the database's revision");
                None
            }
        };
        *lock(&inner.quiet) = before.zip(revision);
        inner.done.send_replace((run, revision));
    }
}

/// The task taking readings, while it has not stopped of its own accord.
struct Leader {
    inner: Arc<Inner>,
    armed: bool,
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut runs = lock(&self.inner.runs);
        runs.leader = false;
        // Every waiter gets an answer: no reading.
        let last = runs.next.max(runs.wanted);
        runs.next = last + 1;
        self.inner.done.send_replace((last, None));
    }
}

/// What every commit changes: the WAL index header (the first of its two copies), and which
/// file holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Signature {
    file: (u64, u64),
    header: [u8; 48],
}

impl Signature {
    /// `None` when the index cannot be read (the database is not in WAL mode, say) or there is
    /// none (PostgreSQL): then every request asks the database.
    fn of(store: &Store) -> Option<Signature> {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let shm = std::fs::File::open(store.wal_index()?).ok()?;
        let meta = shm.metadata().ok()?;
        let mut header = [0u8; 48];
        shm.read_exact_at(&mut header, 0).ok()?;
        Some(Signature {
            file: (meta.dev(), meta.ino()),
            header,
        })
    }
}

/// A map of answers valid at one revision: emptied when the revision moves.
pub struct AtRevision<K, V> {
    revision: i64,
    entries: std::collections::HashMap<K, V>,
}

impl<K: std::hash::Hash + Eq, V: Clone> AtRevision<K, V> {
    /// Beyond this many entries the map starts over (a bound, not a policy: hosts have far
    /// fewer keys and hot accounts).
    const MAX: usize = 100_000;

    pub fn new() -> Self {
        AtRevision {
            revision: i64::MIN,
            entries: Default::default(),
        }
    }

    pub fn get(&mut self, revision: i64, key: &K) -> Option<V> {
        if revision != self.revision {
            self.entries.clear();
            self.revision = revision;
            return None;
        }
        self.entries.get(key).cloned()
    }

    /// Keeps `value` if it was read at `revision` and that is still the map's.
    pub fn put(&mut self, revision: i64, key: K, value: V) {
        if revision != self.revision {
            return;
        }
        if self.entries.len() >= Self::MAX {
            self.entries.clear();
        }
        self.entries.insert(key, value);
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Default for AtRevision<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn bump(store: &Store) {
        // Another connection, as another process would write.
        let other = sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            store.file().expect("SQLite").display()
        ))
        .await
        .unwrap();
        sqlx::query("UPDATE revision SET n = n + 1")
            .execute(&other)
            .await
            .unwrap();
        other.close().await;
    }

    #[tokio::test]
    async fn a_commit_anywhere_is_seen_by_the_next_call_and_otherwise_the_reading_stands() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let f = Freshness::new(store.clone());
        let first = f.current().await.unwrap();
        assert_eq!(f.readings(), 1);
        bump(&store).await;
        assert_eq!(
            f.current().await.unwrap(),
            first + 1,
            "a fresh write counts at once"
        );

        // A reading is trusted until the next commit.
        f.current().await.unwrap();
        let before = f.readings();
        for _ in 0..100 {
            assert_eq!(f.current().await.unwrap(), first + 1);
        }
        assert_eq!(
            f.readings(),
            before,
            "nothing committed: no database round trip"
        );
        bump(&store).await;
        assert_eq!(f.current().await.unwrap(), first + 2);
        assert_eq!(f.readings(), before + 1);
    }

    #[tokio::test]
    async fn callers_at_once_share_readings() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let f = Freshness::new(store.clone());
        bump(&store).await;
        let calls: Vec<_> = (0..200)
            .map(|_| {
                let f = f.clone();
                tokio::spawn(async move { f.current().await.unwrap() })
            })
            .collect();
        for c in calls {
            c.await.unwrap();
        }
        assert!(
            f.readings() < 200,
            "{} readings for 200 calls",
            f.readings()
        );
    }
}
