//! The audit trail: who changed what, and who was handed which secret. Changes are recorded
//! as they are answered (`http::audit`); access-token hand-outs, the one hot path, are counted
//! in memory and written in batches every [`FLUSH_EVERY`], one line per key, account and
//! address. Old lines are forgotten after `audit_retention_days`.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{
    storage::{now, ActorKind, AuditStore, FieldNames, NewAuditEvent, Store},
    sync::lock,
};

/// The action a batched hand-out line names: the route it was handed out by.
pub const HAND_OUT_ACTION: &str = "POST /api/v1/accounts/{id}/access-token";
/// How often counted hand-outs are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// How often lines past the retention are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Who is calling, as the trail names them: an API key by its name and ID, never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
    pub name: String,
    /// The organisation the caller is restricted to, when it is.
    pub organisation_id: Option<String>,
    /// The account the caller is restricted to (an embedded wizard's).
    pub account_id: Option<String>,
}

impl Actor {
    pub fn operator() -> Actor {
        Actor {
            kind: ActorKind::Operator,
            id: None,
            name: "operator".into(),
            organisation_id: None,
            account_id: None,
        }
    }

    pub fn anonymous() -> Actor {
        Actor {
            kind: ActorKind::Anonymous,
            id: None,
            name: String::new(),
            organisation_id: None,
            account_id: None,
        }
    }
}

/// What a change is about.
#[derive(Clone, Debug, Default)]
pub struct Change {
    pub action: String,
    pub organisation_id: Option<String>,
    pub account_id: Option<String>,
    pub fields: Vec<String>,
    pub address: Option<IpAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct HandOut {
    actor: Actor,
    organisation_id: String,
    account_id: String,
    address: Option<IpAddr>,
}

#[derive(Clone, Copy, Debug)]
struct Counted {
    first_at: i64,
    at: i64,
    count: i64,
}

#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn AuditStore>,
    hand_outs: Arc<Mutex<HashMap<HandOut, Counted>>>,
    retention_days: u32,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("retention_days", &self.retention_days)
            .finish_non_exhaustive()
    }
}

impl Audit {
    pub fn new(store: &Store, retention_days: u32) -> Audit {
        Audit {
            store: store.backend(),
            hand_outs: Arc::default(),
            retention_days,
        }
    }

    /// Records a change. A trail that cannot be written is logged, never the change undone: the
    /// change already happened.
    pub async fn record(&self, actor: &Actor, change: Change) {
        let t = now();
        let event = NewAuditEvent {
            at: t,
            first_at: t,
            actor_kind: actor.kind,
            actor_id: actor.id.clone(),
            actor_name: actor.name.clone(),
            action: change.action,
            organisation_id: change
                .organisation_id
                .or_else(|| actor.organisation_id.clone()),
            account_id: change.account_id.or_else(|| actor.account_id.clone()),
            fields: FieldNames(change.fields),
            address: change.address.map(|a| a.to_string()),
            count: 1,
        };
        if let Err(e) = self.store.record_audit(std::slice::from_ref(&event)).await {
            tracing::error!(error = %e, action = %event.action, "an audit line could not be written");
        }
    }

    /// Counts an access token handed out; written with the next flush.
    pub fn handed_out(
        &self,
        actor: &Actor,
        organisation_id: &str,
        account_id: &str,
        address: Option<IpAddr>,
    ) {
        let t = now();
        let key = HandOut {
            actor: actor.clone(),
            organisation_id: organisation_id.to_string(),
            account_id: account_id.to_string(),
            address,
        };
        lock(&self.hand_outs)
            .entry(key)
            .and_modify(|c| {
                c.at = t;
                c.count += 1;
            })
            .or_insert(Counted {
                first_at: t,
                at: t,
                count: 1,
            });
    }

    /// Writes the hand-outs counted since the last flush.
    /// How many days lines are kept.
    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }

    pub async fn flush(&self) {
        let counted: Vec<(HandOut, Counted)> = lock(&self.hand_outs).drain().collect();
        if counted.is_empty() {
            return;
        }
        let events: Vec<NewAuditEvent> = counted
            .into_iter()
            .map(|(h, c)| NewAuditEvent {
                at: c.at,
                first_at: c.first_at,
                actor_kind: h.actor.kind,
                actor_id: h.actor.id,
                actor_name: h.actor.name,
                action: HAND_OUT_ACTION.into(),
                organisation_id: Some(h.organisation_id),
                account_id: Some(h.account_id),
                fields: FieldNames::default(),
                address: h.address.map(|a| a.to_string()),
                count: c.count,
            })
            .collect();
        if let Err(e) = self.store.record_audit(&events).await {
            tracing::error!(error = %e, lines = events.len(), "counted token hand-outs could not be written to the audit trail");
        }
    }

    /// Forgets lines older than the retention; how many.
    pub async fn prune(&self) -> u64 {
        let before = now() - i64::from(self.retention_days) * 86_400;
        match self.store.prune_audit(before).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "old audit lines could not be forgotten");
                0
            }
        }
    }

    /// Flushes the counted hand-outs every [`FLUSH_EVERY`] and prunes every hour.
    pub fn spawn_upkeep(&self) -> tokio::task::JoinHandle<()> {
        let audit = self.clone();
        tokio::spawn(async move {
            let mut pruned = tokio::time::Instant::now() - PRUNE_EVERY;
            loop {
                tokio::time::sleep(FLUSH_EVERY).await;
                audit.flush().await;
                if pruned.elapsed() >= PRUNE_EVERY {
                    pruned = tokio::time::Instant::now();
                    let n = audit.prune().await;
                    if n > 0 {
                        tracing::info!(lines = n, "audit lines past their retention forgotten");
                    }
                }
            }
        })
    }
}
