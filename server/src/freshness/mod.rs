//! Whether answers kept in memory are still current: the database's `revision` (migration 0013)
//! moves whenever a key is revoked or an account changes in a way the host API depends on.
//!
//! On SQLite, a commit becomes visible to other connections, in any process, when its writer updates the
//! header of SQLite's WAL index (the `-shm` file beside the database: a change counter, the
//! last valid frame, the log's salts). While that header is byte for byte what it was before
//! the last reading, nothing was committed since, and the reading stands: a request compares
//! 48 bytes (one small file read, no database round trip) instead of asking the database.
//!
//! On PostgreSQL the instance hears the revision move instead (see [`listener`]): while nothing
//! was heard since the last reading, and the instance is sure it would have heard, the reading
//! stands.
//!
//! Otherwise the request needs a reading taken after it arrived (so a revocation committed
//! before it counts), but not one of its own: requests that arrive while a reading is under way
//! wait for the next one, which serves them all. Under load one small read serves a batch of
//! requests; alone, a request costs one read.

mod listener;

use crate::sync::lock;
use std::sync::{Arc, Mutex};

pub use listener::Listening;

use std::time::Duration;

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
    /// What this instance's listener heard (PostgreSQL).
    hearing: Arc<listener::Hearing>,
    /// SQLite's WAL index, once opened.
    wal_index: std::sync::OnceLock<std::fs::File>,
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
                hearing: Default::default(),
                wal_index: Default::default(),
            }),
        }
    }

    /// Starts hearing the revision move, so that requests need not read it (PostgreSQL; on
    /// SQLite it does nothing). Stop it with [`Listening::stop`] when the server stops.
    pub fn listen(&self) -> Listening {
        Listening::start(self.inner.store.clone(), self.inner.hearing.clone())
    }

    /// Waits until every instance listening on the database has taken in the current revision
    /// (or its lease ran out): after a write that may have moved it, so that nothing is answered
    /// from a stale memory once the write is answered. Nothing to wait for on SQLite, where
    /// each request sees every commit.
    pub async fn settle(&self) {
        let store = &self.inner.store;
        if !store.is_postgres() {
            return;
        }
        let deadline = tokio::time::Instant::now() + listener::LEASE + Duration::from_secs(1);
        let mut pause = Duration::from_millis(1);
        loop {
            match store.listeners_behind().await {
                Ok(0) => return,
                Ok(behind) if tokio::time::Instant::now() >= deadline => {
                    tracing::warn!(
                        behind,
                        "instances have not taken in a change within their lease"
                    );
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot tell whether every instance has taken in a change");
                    return;
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// The revision as of now: the last reading while nothing was committed since, else a
    /// reading that started after this call.
    pub async fn current(&self) -> Result<i64, StorageError> {
        let now = Signature::of(&self.inner);
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
        let before = Signature::of(&inner);
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

/// What every commit changes, as this instance can see it without asking the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signature {
    /// SQLite: the WAL index header (the first of its two copies).
    WalIndex([u8; 48]),
    /// PostgreSQL: how many times the listener heard the revision move (or lost its connection).
    Heard(u64),
}

impl Signature {
    /// `None` when nothing can be relied on (SQLite not in WAL mode, say, or a PostgreSQL
    /// listener not yet or no longer sure it hears): then every request asks the database.
    fn of(inner: &Inner) -> Option<Signature> {
        if inner.store.is_postgres() {
            return inner.hearing.signature().map(Signature::Heard);
        }
        use std::os::unix::fs::FileExt;
        let mut header = [0u8; 48];
        inner.wal_index()?.read_exact_at(&mut header, 0).ok()?;
        Some(Signature::WalIndex(header))
    }
}

impl Inner {
    /// The WAL index, opened once: a read is then one system call. The file is never replaced
    /// while the store lives: SQLite keeps it as long as a connection is open, and the store
    /// holds one open for its whole life.
    fn wal_index(&self) -> Option<&std::fs::File> {
        if let Some(file) = self.wal_index.get() {
            return Some(file);
        }
        let file = std::fs::File::open(self.store.wal_index()?).ok()?;
        Some(self.wal_index.get_or_init(|| file))
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

    /// Another instance on the same PostgreSQL database: its own pool and its own memory.
    async fn postgres_pair() -> Option<(Store, Store)> {
        let url = crate::storage::testing::postgres_database().await?;
        let dir = tempfile::tempdir().unwrap();
        let location = crate::storage::DatabaseLocation::from_setting(Some(&url), dir.path())
            .expect("a PostgreSQL URL");
        let a = Store::connect(&location).await.unwrap();
        let b = Store::connect(&location).await.unwrap();
        Some((a, b))
    }

    /// Calls `current` until a call needs no reading: the listener is then trusted.
    async fn until_heard(f: &Freshness) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            f.current().await.unwrap();
            let before = f.readings();
            f.current().await.unwrap();
            if f.readings() == before {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the listener never came to be trusted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// PostgreSQL: requests do not read the revision while the listener hears nothing move,
    /// and a revocation settled by the instance that wrote it is seen by the other's very next
    /// call.
    #[tokio::test]
    async fn on_postgres_a_reading_stands_until_a_move_is_heard_and_writers_wait_for_it() {
        let Some((a, b)) = postgres_pair().await else {
            return;
        };
        let on_b = Freshness::new(b.clone());
        let listening = on_b.listen();
        until_heard(&on_b).await;
        let start = on_b.current().await.unwrap();
        let before = on_b.readings();
        for _ in 0..200 {
            assert_eq!(on_b.current().await.unwrap(), start);
        }
        assert_eq!(
            on_b.readings(),
            before,
            "nothing moved: no database round trip"
        );

        let on_a = Freshness::new(a.clone());
        let keys = crate::api_keys::ApiKeys::new(a.clone(), on_a.clone());
        let (key, _) = keys
            .create("Host", &[crate::api_keys::Scope::IssueTokens])
            .await
            .unwrap();
        for round in 1..=20 {
            // Creating a key moves nothing; revoking (or restoring) it does.
            a.execute_raw(&format!(
                "UPDATE api_keys SET revoked_at = {} WHERE id = '{}'",
                if round % 2 == 1 { "1" } else { "NULL" },
                key.id
            ))
            .await;
            on_a.settle().await;
            let now = a.revision().await.unwrap();
            assert_eq!(
                on_b.current().await.unwrap(),
                now,
                "round {round}: the write was answered, so the other instance has it"
            );
        }
        listening.stop().await;
        assert_eq!(
            a.text_raw("SELECT count(*)::text FROM revision_listeners")
                .await
                .as_deref(),
            Some("0"),
            "a stopped instance is not waited for"
        );
    }

    /// PostgreSQL: an instance that stopped answering (a listener row whose lease runs, never
    /// acknowledging) holds a write's answer until its lease runs out, and no longer; one whose
    /// listening connection is gone (its process died) does not hold it at all.
    #[tokio::test]
    async fn on_postgres_a_silent_instance_is_waited_for_until_its_lease_ends() {
        let Some((a, _)) = postgres_pair().await else {
            return;
        };
        // One alive (its connection is one of this pool's, which stays open) but silent; one
        // whose connection is gone (no server process has that ID), as after SIGKILL.
        a.execute_raw(
            "INSERT INTO revision_listeners (instance, seen, expires_at, backend) VALUES \
             ('stalled', 0, clock_timestamp() + interval '2 seconds', pg_backend_pid()), \
             ('killed', 0, clock_timestamp() + interval '1 hour', -1)",
        )
        .await;
        let on_a = Freshness::new(a.clone());
        let keys = crate::api_keys::ApiKeys::new(a.clone(), on_a.clone());
        let (key, _) = keys
            .create("Host", &[crate::api_keys::Scope::IssueTokens])
            .await
            .unwrap();
        // The revocation settles before it returns.
        let began = std::time::Instant::now();
        keys.revoke(&key.id).await.unwrap();
        let waited = began.elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(1500),
            "answered after {waited:?}, before the silent instance's lease ran out"
        );
        assert!(
            waited < std::time::Duration::from_secs(5),
            "waited {waited:?}, past the lease"
        );
        let began = std::time::Instant::now();
        on_a.settle().await;
        assert!(
            began.elapsed() < std::time::Duration::from_millis(500),
            "nobody left to wait for"
        );
    }
}
