//! PostgreSQL's counterpart of the WAL index: each instance hears the revision move on a
//! listening connection, and answers from memory only while it can be sure it would have heard.
//!
//! - **Hearing.** A request trusts the last reading while nothing was heard since (a count that
//!   moves with every revision heard and every lost connection) and the instance's trust holds.
//! - **Trust.** Every [`RENEW_EVERY`] the instance renews its row in `revision_listeners` (lease
//!   [`LEASE`]) and sends a heartbeat on the same channel, in one transaction. Notifications
//!   arrive in commit order, so hearing its own heartbeat proves every revision committed before
//!   the heartbeat was heard; trust then lasts until the lease's end as this instance measures
//!   it (from before the renewal was sent, less [`MARGIN`]), which is before the database's.
//!   A connection that died without a word stops heartbeats, and so trust.
//! - **Settling.** A write that moved the revision is answered once every listener whose lease
//!   runs has taken it in (acknowledged in its row after it stopped trusting the old reading):
//!   within milliseconds; when an instance died, at once (its listening connection is gone
//!   from the database server); when one stopped answering otherwise, when its lease ran out,
//!   by which time it has stopped trusting its memory. So "revoked on A" is "refused on B" at B's
//!   next request, with no database round trip on B's other requests.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::{task::JoinHandle, time::Instant};

use crate::{
    storage::{Heard, Store},
    sync::lock,
};

/// How long an instance's word that it listens lasts in the database.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often it renews its word, sending a heartbeat.
const RENEW_EVERY: Duration = Duration::from_secs(3);
/// How much sooner than its lease an instance stops trusting what it heard.
const MARGIN: Duration = Duration::from_secs(1);
/// How long before a feed that could not be opened is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What this instance's listener has heard, shared with the requests that rely on it.
#[derive(Default)]
pub(super) struct Hearing {
    /// Moves with every revision heard and every connection lost.
    count: AtomicU64,
    /// The revision last taken in (read after listening, or heard since).
    seen: AtomicI64,
    /// Whether a feed is open and its first reading taken: only then is the lease renewed.
    listening: AtomicBool,
    /// The database server's process serving the open feed.
    backend: std::sync::atomic::AtomicI32,
    /// Until when what was heard can be trusted (`None`: not yet, or no longer).
    trusted_until: Mutex<Option<Instant>>,
    /// Heartbeats sent and not yet heard: their number and when their renewal began.
    beats: Mutex<VecDeque<(u64, Instant)>>,
}

impl Hearing {
    /// What a reading taken now is tied to: `None` when what was heard cannot be trusted.
    pub(super) fn signature(&self) -> Option<u64> {
        let until = (*lock(&self.trusted_until))?;
        (Instant::now() < until).then(|| self.count.load(Ordering::SeqCst))
    }

    fn moved(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    fn lost(&self) {
        self.listening.store(false, Ordering::SeqCst);
        *lock(&self.trusted_until) = None;
        self.moved();
    }

    fn heard_own_beat(&self, beat: u64) {
        let mut beats = lock(&self.beats);
        // Older beats not heard were lost with a connection: forgotten.
        while let Some(&(b, began)) = beats.front() {
            beats.pop_front();
            if b == beat {
                *lock(&self.trusted_until) = Some(began + LEASE - MARGIN);
                return;
            }
        }
    }
}

/// This instance's listener while it runs (nothing on SQLite, which has none).
pub struct Listening {
    tasks: Vec<JoinHandle<()>>,
    store: Store,
    instance: String,
}

impl Listening {
    pub(super) fn start(store: Store, hearing: Arc<Hearing>) -> Listening {
        let instance = crate::tokens::instance_name();
        let tasks = if store.is_postgres() {
            vec![
                tokio::spawn(follow(store.clone(), hearing.clone(), instance.clone())),
                tokio::spawn(renew(store.clone(), hearing, instance.clone())),
            ]
        } else {
            Vec::new()
        };
        Listening {
            tasks,
            store,
            instance,
        }
    }

    /// Stops listening, and tells writers not to wait for this instance.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Err(e) = self.store.remove_listener(&self.instance).await {
            tracing::warn!(error = %e, "cannot remove this instance's revision listener; writers wait for its lease to run out");
        }
    }
}

/// Opens the feed, takes a first reading and follows what it hears; after a loss, starts over.
async fn follow(store: Store, hearing: Arc<Hearing>, instance: String) {
    if let Err(e) = store.forget_stale_listeners().await {
        tracing::debug!(error = %e, "cannot forget stale revision listeners");
    }
    loop {
        let mut feed = match store.revision_feed().await {
            Ok(Some(feed)) => feed,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for the database's revision; every request reads it meanwhile");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        // Read after listening: whatever commits later is heard.
        match store.revision().await {
            Ok(n) => hearing.seen.fetch_max(n, Ordering::SeqCst),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the database's revision");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        hearing.backend.store(feed.backend(), Ordering::SeqCst);
        hearing.listening.store(true, Ordering::SeqCst);
        loop {
            match feed.next().await {
                Heard::Revision(n) => {
                    // Readings stop being trusted before the writer is told: then it answers.
                    hearing.moved();
                    hearing.seen.fetch_max(n, Ordering::SeqCst);
                    if let Err(e) = store.acknowledge_revision(&instance, n).await {
                        tracing::warn!(error = %e, "cannot acknowledge a revision; its writer waits for this instance's lease");
                    }
                }
                Heard::Heartbeat { instance: of, beat } if of == instance => {
                    hearing.heard_own_beat(beat)
                }
                Heard::Heartbeat { .. } => {}
                Heard::Unknown => hearing.moved(),
                Heard::Lost => {
                    tracing::warn!("the connection listening for the database's revision was lost; reconnecting");
                    hearing.lost();
                    break;
                }
            }
        }
    }
}

/// Renews this instance's lease with a heartbeat, while a feed is open.
async fn renew(store: Store, hearing: Arc<Hearing>, instance: String) {
    let mut beat = 0u64;
    loop {
        if hearing.listening.load(Ordering::SeqCst) {
            beat += 1;
            let began = Instant::now();
            {
                let mut beats = lock(&hearing.beats);
                // Beats on a connection that died without a word are never heard.
                if beats.len() >= 16 {
                    beats.pop_front();
                }
                beats.push_back((beat, began));
            }
            let seen = hearing.seen.load(Ordering::SeqCst);
            let backend = hearing.backend.load(Ordering::SeqCst);
            if let Err(e) = store
                .renew_listener(&instance, backend, seen, LEASE, beat)
                .await
            {
                tracing::warn!(error = %e, "cannot renew this instance's revision listener");
            }
            tokio::time::sleep(RENEW_EVERY).await;
        } else {
            // The feed is being opened: soon, and its first beat gives trust.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
