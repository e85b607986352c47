//! The audit trail (migration 0021 on SQLite, 0022 on PostgreSQL): append-only, decoded here
//! into [`AuditRecord`]s. Values never enter it: only the names of the fields a change sent.

use super::StorageError;

/// Who made a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// The portal's operator (a browser session).
    Operator,
    /// A host application's API key.
    ApiKey,
    /// An embedded wizard's connect session.
    ConnectSession,
    /// Nobody signed in: a one-time link or token in the request itself.
    Anonymous,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Operator => "operator",
            ActorKind::ApiKey => "api_key",
            ActorKind::ConnectSession => "connect_session",
            ActorKind::Anonymous => "anonymous",
        }
    }
}

impl TryFrom<String> for ActorKind {
    type Error = String;

    fn try_from(s: String) -> Result<ActorKind, String> {
        [
            ActorKind::Operator,
            ActorKind::ApiKey,
            ActorKind::ConnectSession,
            ActorKind::Anonymous,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown audit actor kind {s:?}"))
    }
}

/// Field names as stored: one column, names joined by commas (names never hold one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldNames(pub Vec<String>);

impl From<String> for FieldNames {
    fn from(s: String) -> FieldNames {
        FieldNames(
            s.split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }
}

impl FieldNames {
    fn stored(&self) -> String {
        self.0.join(",")
    }
}

/// One line of the trail to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub at: i64,
    /// For a batch of hand-outs, the first; else `at`.
    pub first_at: i64,
    pub actor_kind: ActorKind,
    pub actor_id: Option<String>,
    pub actor_name: String,
    pub action: String,
    pub organisation_id: Option<String>,
    pub account_id: Option<String>,
    pub fields: FieldNames,
    pub address: Option<String>,
    pub count: i64,
}

/// One line of the trail.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub first_at: i64,
    #[sqlx(try_from = "String")]
    pub actor_kind: ActorKind,
    pub actor_id: Option<String>,
    pub actor_name: String,
    pub action: String,
    pub organisation_id: Option<String>,
    pub account_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub fields: FieldNames,
    pub address: Option<String>,
    pub count: i64,
}

/// Which lines to list: newest first, before the cursor.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter<'a> {
    pub organisation_id: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub actor_id: Option<&'a str>,
    /// Lines older than this one (its ID).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// The audit trail.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync + std::fmt::Debug {
    /// Appends lines, in one transaction.
    async fn record_audit(&self, events: &[NewAuditEvent]) -> Result<(), StorageError>;

    /// The lines a filter selects, newest first.
    async fn audit_events(&self, f: &AuditFilter<'_>) -> Result<Vec<AuditRecord>, StorageError>;

    /// Forgets lines older than `before` (the retention); how many.
    async fn prune_audit(&self, before: i64) -> Result<u64, StorageError>;
}

per_database! {
    impl AuditStore {
        async fn record_audit(&self, events: &[NewAuditEvent]) -> Result<(), StorageError> {
            let mut tx = self.begin().await?;
            for e in events {
                on_tx!(&mut tx, c => sqlx::query(
                    "INSERT INTO audit_events (at, first_at, actor_kind, actor_id, actor_name, \
                     action, organisation_id, account_id, fields, address, count) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(e.at)
                .bind(e.first_at)
                .bind(e.actor_kind.as_str())
                .bind(e.actor_id.as_deref())
                .bind(&e.actor_name)
                .bind(&e.action)
                .bind(e.organisation_id.as_deref())
                .bind(e.account_id.as_deref())
                .bind(e.fields.stored())
                .bind(e.address.as_deref())
                .bind(e.count)
                .execute(c)
                .await
                .map(drop))?;
            }
            tx.commit().await
        }

        async fn audit_events(
            &self,
            f: &AuditFilter<'_>,
        ) -> Result<Vec<AuditRecord>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_as(
                "SELECT id, at, first_at, actor_kind, actor_id, actor_name, action, \
                   organisation_id, account_id, fields, address, count \
                 FROM audit_events \
                 WHERE ($1 IS NULL OR organisation_id = $1) AND ($2 IS NULL OR account_id = $2) \
                   AND ($3 IS NULL OR actor_id = $3) AND ($4 IS NULL OR id < $4) \
                 ORDER BY id DESC LIMIT $5",
            )
            .bind(f.organisation_id)
            .bind(f.account_id)
            .bind(f.actor_id)
            .bind(f.before_id)
            .bind(i64::from(f.limit))
            .fetch_all(pool)
            .await)?)
        }

        async fn prune_audit(&self, before: i64) -> Result<u64, StorageError> {
            Ok(on_db!(self, pool => sqlx::query("DELETE FROM audit_events WHERE at < $1")
                .bind(before)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?)
        }
    }
}
