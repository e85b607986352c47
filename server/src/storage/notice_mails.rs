//! The outbox of notice e-mails. A notice is queued inside the transaction that records its
//! event ([`queue_for_event`]), for the event's organisation when it has a notice address; a
//! worker takes due ones under a lease (several instances share the queue) and records how
//! each attempt ended.

use mailkey_app::{notice_mail::NoticeMailState, webhooks::EventType};

use super::{now, EventRecord, StorageError};

/// A notice taken by a worker: where it goes and the event it tells of.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DueNoticeMail {
    pub notice_id: i64,
    pub to_address: String,
    pub attempts: i64,
    pub organisation_name: String,
    #[sqlx(flatten)]
    pub event: EventRecord,
}

/// One notice as the portal lists it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct NoticeMailRecord {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub event_type: EventType,
    pub organisation_id: String,
    pub organisation_name: String,
    pub mailbox: Option<String>,
    pub to_address: String,
    #[sqlx(try_from = "String")]
    pub state: NoticeMailState,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sender: Option<String>,
    pub sent_at: Option<i64>,
    pub created_at: i64,
}

/// How an attempt ended.
pub enum NoticeAttempt<'a> {
    /// Sent from the mailbox `sender`.
    Sent { sender: &'a str },
    /// Tried again at `retry_at`, or given up (`None`).
    Failed {
        error: &'a str,
        retry_at: Option<i64>,
    },
    /// Not sent, and never will be: no mailbox was chosen to send notices from.
    Skipped,
}

/// Queues a notice e-mail for the event `event_id` (just recorded in `tx`) when its type is
/// mailed and its organisation has a notice address.
pub(super) async fn queue_for_event(
    tx: &mut super::Tx,
    event_id: &str,
    event_type: EventType,
) -> Result<(), StorageError> {
    if !EventType::MAILED.contains(&event_type) {
        return Ok(());
    }
    let t = now();
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO notice_mails (event_id, organisation_id, to_address, state, next_attempt_at, \
           created_at) \
         SELECT e.id, o.id, o.notice_email, 'pending', $2, $2 FROM webhook_events e \
         JOIN organisations o ON o.id = e.organisation_id \
         WHERE e.id = $1 AND o.notice_email IS NOT NULL",
    )
    .bind(event_id)
    .bind(t)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Notice e-mails: which mailbox sends them, the outbox, and what was sent.
#[async_trait::async_trait]
pub trait NoticeMailStore: Send + Sync + std::fmt::Debug {
    /// The account notices are sent from, if one is chosen.
    async fn notice_sender(&self) -> Result<Option<String>, StorageError>;

    /// Chooses (or with `None` stops) the account notices are sent from.
    async fn set_notice_sender(&self, account: Option<&str>) -> Result<(), StorageError>;

    /// Takes up to `limit` due notices not taken by a live worker, for `lease` seconds.
    async fn take_due_notice_mails(
        &self,
        lease: i64,
        limit: i64,
    ) -> Result<Vec<DueNoticeMail>, StorageError>;

    /// Records how an attempt ended, and lets go of the notice.
    async fn finish_notice_mail(
        &self,
        id: i64,
        outcome: NoticeAttempt<'_>,
    ) -> Result<(), StorageError>;

    /// The latest notices, newest first; of one organisation when `organisation` is given.
    async fn notice_mails(
        &self,
        organisation: Option<&str>,
        limit: i64,
    ) -> Result<Vec<NoticeMailRecord>, StorageError>;
}

per_database! {
    impl NoticeMailStore {
        async fn notice_sender(&self) -> Result<Option<String>, StorageError> {
            let sender: Option<Option<String>> = on_db!(self, pool => sqlx::query_scalar(
                "SELECT sender_account_id FROM notice_settings WHERE id = 1",
            )
            .fetch_optional(pool)
            .await)?;
            Ok(sender.flatten())
        }

        async fn set_notice_sender(&self, account: Option<&str>) -> Result<(), StorageError> {
            on_db!(self, pool => sqlx::query(
                "INSERT INTO notice_settings (id, sender_account_id, updated_at) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO UPDATE SET sender_account_id = excluded.sender_account_id, \
                   updated_at = excluded.updated_at",
            )
            .bind(account)
            .bind(now())
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn take_due_notice_mails(
            &self,
            lease: i64,
            limit: i64,
        ) -> Result<Vec<DueNoticeMail>, StorageError> {
            let t = now();
            let mut tx = self.begin().await?;
            // As webhook deliveries are taken: the outer condition is checked again on a row
            // another instance just took, and PostgreSQL passes over rows being taken.
            let ids: Vec<i64> = on_tx!(&mut tx, c, dialect => sqlx::query_scalar(&format!(
                "UPDATE notice_mails SET locked_until = $1 + $2 WHERE id IN ( \
                   SELECT m.id FROM notice_mails m \
                   WHERE m.state = 'pending' AND m.next_attempt_at <= $1 \
                   AND (m.locked_until IS NULL OR m.locked_until < $1) \
                   ORDER BY m.next_attempt_at, m.id LIMIT $3{}) \
                 AND state = 'pending' AND (locked_until IS NULL OR locked_until < $1) RETURNING id",
                dialect.skip_locked("m")
            ))
            .bind(t)
            .bind(lease)
            .bind(limit)
            .fetch_all(c)
            .await)?;
            let mut due = Vec::with_capacity(ids.len());
            for id in ids {
                due.push(on_tx!(&mut tx, c => sqlx::query_as::<_, DueNoticeMail>(
                    "SELECT m.id AS notice_id, m.to_address, m.attempts, o.name AS organisation_name, \
                       e.id, e.event_type, e.occurred_at, e.organisation_id, \
                       e.organisation_external_id, e.account_id, e.account_external_id, \
                       e.account_name, e.mailbox, e.reason_code, e.reason, e.expires_on, \
                       e.days_left \
                     FROM notice_mails m JOIN webhook_events e ON e.id = m.event_id \
                     JOIN organisations o ON o.id = m.organisation_id WHERE m.id = $1",
                )
                .bind(id)
                .fetch_one(c)
                .await)?);
            }
            tx.commit().await?;
            Ok(due)
        }

        async fn finish_notice_mail(
            &self,
            id: i64,
            outcome: NoticeAttempt<'_>,
        ) -> Result<(), StorageError> {
            let t = now();
            let (state, sender, error, next) = match outcome {
                NoticeAttempt::Sent { sender } => (NoticeMailState::Sent, Some(sender), None, None),
                NoticeAttempt::Failed { error, retry_at } => (
                    if retry_at.is_some() {
                        NoticeMailState::Pending
                    } else {
                        NoticeMailState::Failed
                    },
                    None,
                    Some(error),
                    retry_at,
                ),
                NoticeAttempt::Skipped => (
                    NoticeMailState::Skipped,
                    None,
                    Some("no mailbox is chosen to send notices from (Settings, Notice e-mails)"),
                    None,
                ),
            };
            on_db!(self, pool => sqlx::query(
                "UPDATE notice_mails SET state = $1, attempts = attempts + $2, last_error = $3, \
                   sender = COALESCE($4, sender), next_attempt_at = COALESCE($5, next_attempt_at), \
                   locked_until = NULL, sent_at = CASE WHEN $6 = 'sent' THEN $7 ELSE sent_at END \
                 WHERE id = $8 AND state = 'pending'",
            )
            .bind(state.as_str())
            .bind(i64::from(!matches!(state, NoticeMailState::Skipped)))
            .bind(error)
            .bind(sender)
            .bind(next)
            .bind(state.as_str())
            .bind(t)
            .bind(id)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn notice_mails(
            &self,
            organisation: Option<&str>,
            limit: i64,
        ) -> Result<Vec<NoticeMailRecord>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_as::<_, NoticeMailRecord>(
                "SELECT m.id, e.event_type, m.organisation_id, o.name AS organisation_name, \
                   e.mailbox, m.to_address, m.state, m.attempts, m.last_error, m.sender, \
                   m.sent_at, m.created_at \
                 FROM notice_mails m JOIN webhook_events e ON e.id = m.event_id \
                 JOIN organisations o ON o.id = m.organisation_id \
                 WHERE $1 IS NULL OR m.organisation_id = $1 \
                 ORDER BY m.created_at DESC, m.id DESC LIMIT $2",
            )
            .bind(organisation)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
        }
    }
}
