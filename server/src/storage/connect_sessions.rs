//! Connect sessions and the organisations' allowed parent origins, decoded once here.

use super::{now, SignInPurpose, StorageError};

/// What a connect session lets its browser do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionMode {
    /// The account's wizard, to its end.
    Setup,
    /// Only sign-in and the connection test (an account that needs its user again).
    Reconnect,
}

impl SessionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionMode::Setup => "setup",
            SessionMode::Reconnect => "reconnect",
        }
    }
}

impl TryFrom<String> for SessionMode {
    type Error = String;

    fn try_from(s: String) -> Result<SessionMode, String> {
        match s.as_str() {
            "setup" => Ok(SessionMode::Setup),
            "reconnect" => Ok(SessionMode::Reconnect),
            _ => Err(format!("unknown connect session mode {s:?}")),
        }
    }
}

/// A stored connect session, never a token.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ConnectSessionRecord {
    pub id: String,
    pub organisation_id: String,
    pub organisation_name: String,
    pub account_id: String,
    #[sqlx(try_from = "String")]
    pub mode: SessionMode,
    pub host_name: String,
    pub return_url: Option<String>,
    pub launched_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    #[sqlx(skip)]
    pub origins: Vec<String>,
}

const SESSION_COLUMNS: &str = "s.id, s.organisation_id, o.name AS organisation_name, \
    s.account_id, s.mode, s.host_name, s.return_url, s.launched_at, s.created_at, s.expires_at, \
    s.revoked_at";

pub struct NewConnectSession<'a> {
    pub id: &'a str,
    pub organisation_id: &'a str,
    pub account_id: &'a str,
    pub mode: SessionMode,
    pub host_name: &'a str,
    pub return_url: Option<&'a str>,
    pub launch_hash: &'a [u8],
    pub expires_at: i64,
    pub origins: &'a [String],
    pub api_key_id: Option<&'a str>,
}

/// How a launch token's first use went.
pub enum Launch {
    /// Exchanged: the session it opened.
    Opened(ConnectSessionRecord),
    /// Used before, expired or revoked: the session it belonged to, to say which.
    Refused(ConnectSessionRecord),
    Unknown,
}

/// A sign-in ticket as the popup redeems it.
pub struct TicketUse {
    pub session_id: String,
    pub account_id: String,
    pub purpose: SignInPurpose,
}

/// Connect sessions: the embedded wizard's launch tokens, sessions and sign-in tickets.
#[async_trait::async_trait]
pub trait ConnectSessionStore: Send + Sync + std::fmt::Debug {
    /// The organisation's allowed parent origins, sorted.
    async fn organisation_origins(&self, organisation: &str) -> Result<Vec<String>, StorageError>;

    /// Replaces the organisation's allowed parent origins. Sessions made before keep theirs
    /// until they expire (at most 30 minutes).
    async fn set_organisation_origins(
        &self,
        organisation: &str,
        origins: &[String],
    ) -> Result<(), StorageError>;

    async fn insert_connect_session(&self, s: &NewConnectSession<'_>) -> Result<(), StorageError>;

    /// The session a launch token belongs to, used or not (the page says which).
    async fn connect_session_by_launch(
        &self,
        launch_hash: &[u8],
    ) -> Result<Option<ConnectSessionRecord>, StorageError>;

    async fn connect_session(
        &self,
        id: &str,
        organisation: Option<&str>,
    ) -> Result<Option<ConnectSessionRecord>, StorageError>;

    /// Uses a launch token once, atomically: a live, unused one gets the credential.
    async fn launch_connect_session(
        &self,
        launch_hash: &[u8],
        credential_hash: &[u8],
    ) -> Result<Launch, StorageError>;

    /// The session a credential was given for, live or not (the caller says which ended how).
    async fn connect_session_by_credential(
        &self,
        credential_hash: &[u8],
    ) -> Result<Option<ConnectSessionRecord>, StorageError>;

    /// Revokes a session: its launch token and credential stop working. False if none.
    async fn revoke_connect_session(&self, id: &str) -> Result<bool, StorageError>;

    async fn insert_sign_in_ticket(
        &self,
        ticket_hash: &[u8],
        session_id: &str,
        purpose: SignInPurpose,
        lifetime_secs: i64,
    ) -> Result<(), StorageError>;

    /// Redeems a ticket once, for the popup whose browser binding is `browser_hash`, while its
    /// session lives.
    async fn use_sign_in_ticket(
        &self,
        ticket_hash: &[u8],
        browser_hash: &[u8],
    ) -> Result<Option<TicketUse>, StorageError>;

    /// The popup's browser binding of a ticket of this session, once the popup used it.
    async fn ticket_browser(
        &self,
        ticket_hash: &[u8],
        session_id: &str,
    ) -> Result<Option<Option<Vec<u8>>>, StorageError>;

    /// Whether the popup with this browser binding was opened for a session revoked since: its
    /// sign-in must not connect the mailbox.
    async fn popup_session_revoked(&self, browser_hash: &[u8]) -> Result<bool, StorageError>;

    /// Forgets connect sessions that ended before `before` (their origins and sign-in tickets go
    /// with them).
    async fn prune_connect_sessions(&self, before: i64) -> Result<u64, StorageError>;
}

per_database! {
    impl ConnectSessionStore {
        async fn organisation_origins(
            &self,
            organisation: &str,
        ) -> Result<Vec<String>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_scalar(
                "SELECT origin FROM organisation_origins WHERE organisation_id = $1 ORDER BY origin",
            )
            .bind(organisation)
            .fetch_all(pool)
            .await)?)
        }

        async fn set_organisation_origins(
            &self,
            organisation: &str,
            origins: &[String],
        ) -> Result<(), StorageError> {
            // The organisation's row is locked first: two lists saved at once end as one of them,
            // never merged (PostgreSQL's DELETE would not see the other's new rows and keep them).
            let mut tx = self.begin_write().await?;
            let _: Option<String> = on_tx!(&mut tx, c, dialect => sqlx::query_scalar(&format!(
                "SELECT id FROM organisations WHERE id = $1{}",
                dialect.for_update()
            ))
            .bind(organisation)
            .fetch_optional(c)
            .await)?;
            on_tx!(&mut tx, c => sqlx::query("DELETE FROM organisation_origins WHERE organisation_id = $1")
                .bind(organisation)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            for o in origins {
                on_tx!(&mut tx, c => sqlx::query(
                    "INSERT INTO organisation_origins (organisation_id, origin) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(organisation)
                .bind(o)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn insert_connect_session(
            &self,
            s: &NewConnectSession<'_>,
        ) -> Result<(), StorageError> {
            let mut tx = self.begin().await?;
            on_tx!(&mut tx, c => sqlx::query(
                "INSERT INTO connect_sessions (id, organisation_id, account_id, mode, host_name, \
                   return_url, launch_hash, created_at, expires_at, api_key_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(s.id)
            .bind(s.organisation_id)
            .bind(s.account_id)
            .bind(s.mode.as_str())
            .bind(s.host_name)
            .bind(s.return_url)
            .bind(s.launch_hash)
            .bind(now())
            .bind(s.expires_at)
            .bind(s.api_key_id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
            for o in s.origins {
                on_tx!(&mut tx, c => sqlx::query(
                    "INSERT INTO connect_session_origins (session_id, origin) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(s.id)
                .bind(o)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn connect_session_by_launch(
            &self,
            launch_hash: &[u8],
        ) -> Result<Option<ConnectSessionRecord>, StorageError> {
            let found = on_db!(self, pool => sqlx::query_as::<_, ConnectSessionRecord>(&format!(
                "SELECT {SESSION_COLUMNS} FROM connect_sessions s \
                 JOIN organisations o ON o.id = s.organisation_id WHERE s.launch_hash = $1"
            ))
            .bind(launch_hash)
            .fetch_optional(pool)
            .await)?;
            self.with_origins(found).await
        }

        async fn connect_session(
            &self,
            id: &str,
            organisation: Option<&str>,
        ) -> Result<Option<ConnectSessionRecord>, StorageError> {
            let found = on_db!(self, pool => sqlx::query_as::<_, ConnectSessionRecord>(&format!(
                "SELECT {SESSION_COLUMNS} FROM connect_sessions s \
                 JOIN organisations o ON o.id = s.organisation_id \
                 WHERE s.id = $1 AND ($2 IS NULL OR s.organisation_id = $2)"
            ))
            .bind(id)
            .bind(organisation)
            .fetch_optional(pool)
            .await)?;
            self.with_origins(found).await
        }

        async fn launch_connect_session(
            &self,
            launch_hash: &[u8],
            credential_hash: &[u8],
        ) -> Result<Launch, StorageError> {
            let t = now();
            let opened: Option<String> = on_db!(self, pool => sqlx::query_scalar(
                "UPDATE connect_sessions SET launched_at = $1, credential_hash = $2 \
                 WHERE launch_hash = $3 AND launched_at IS NULL AND revoked_at IS NULL \
                   AND expires_at > $4 RETURNING id",
            )
            .bind(t)
            .bind(credential_hash)
            .bind(launch_hash)
            .bind(t)
            .fetch_optional(pool)
            .await)?;
            let record = self.connect_session_by_launch(launch_hash).await?;
            Ok(match (opened, record) {
                (Some(_), Some(r)) => Launch::Opened(r),
                (None, Some(r)) => Launch::Refused(r),
                _ => Launch::Unknown,
            })
        }

        async fn connect_session_by_credential(
            &self,
            credential_hash: &[u8],
        ) -> Result<Option<ConnectSessionRecord>, StorageError> {
            let found = on_db!(self, pool => sqlx::query_as::<_, ConnectSessionRecord>(&format!(
                "SELECT {SESSION_COLUMNS} FROM connect_sessions s \
                 JOIN organisations o ON o.id = s.organisation_id \
                 WHERE s.credential_hash = $1"
            ))
            .bind(credential_hash)
            .fetch_optional(pool)
            .await)?;
            self.with_origins(found).await
        }

        async fn revoke_connect_session(&self, id: &str) -> Result<bool, StorageError> {
            Ok(on_db!(self, pool => sqlx::query(
                "UPDATE connect_sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
            )
            .bind(now())
            .bind(id)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?
                == 1)
        }

        async fn insert_sign_in_ticket(
            &self,
            ticket_hash: &[u8],
            session_id: &str,
            purpose: SignInPurpose,
            lifetime_secs: i64,
        ) -> Result<(), StorageError> {
            let t = now();
            on_db!(self, pool => sqlx::query(
                "INSERT INTO embed_sign_ins (ticket_hash, session_id, purpose, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(ticket_hash)
            .bind(session_id)
            .bind(purpose.as_str())
            .bind(t)
            .bind(t + lifetime_secs)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn use_sign_in_ticket(
            &self,
            ticket_hash: &[u8],
            browser_hash: &[u8],
        ) -> Result<Option<TicketUse>, StorageError> {
            let t = now();
            let row: Option<(String, String)> = on_db!(self, pool => sqlx::query_as(
                "UPDATE embed_sign_ins SET used_at = $1, browser_hash = $2 \
                 WHERE ticket_hash = $3 AND used_at IS NULL AND expires_at > $1 \
                   AND session_id IN (SELECT id FROM connect_sessions \
                     WHERE revoked_at IS NULL AND expires_at > $1) \
                 RETURNING session_id, purpose",
            )
            .bind(t)
            .bind(browser_hash)
            .bind(ticket_hash)
            .fetch_optional(pool)
            .await)?;
            let Some((session_id, purpose)) = row else {
                return Ok(None);
            };
            let account_id: String = on_db!(self, pool => sqlx::query_scalar("SELECT account_id FROM connect_sessions WHERE id = $1")
                    .bind(&session_id)
                    .fetch_one(pool)
                    .await)?;
            Ok(Some(TicketUse {
                session_id,
                account_id,
                purpose: SignInPurpose::try_from(purpose)
                    .map_err(|e| StorageError::Corrupt(format!("embed sign-in ticket: {e}")))?,
            }))
        }

        async fn ticket_browser(
            &self,
            ticket_hash: &[u8],
            session_id: &str,
        ) -> Result<Option<Option<Vec<u8>>>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_scalar(
                "SELECT browser_hash FROM embed_sign_ins WHERE ticket_hash = $1 AND session_id = $2",
            )
            .bind(ticket_hash)
            .bind(session_id)
            .fetch_optional(pool)
            .await)?)
        }

        async fn popup_session_revoked(&self, browser_hash: &[u8]) -> Result<bool, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM embed_sign_ins e \
                 JOIN connect_sessions s ON s.id = e.session_id \
                 WHERE e.browser_hash = $1 AND s.revoked_at IS NOT NULL)",
            )
            .bind(browser_hash)
            .fetch_one(pool)
            .await)?)
        }

        async fn prune_connect_sessions(&self, before: i64) -> Result<u64, StorageError> {
            Ok(
                on_db!(self, pool => sqlx::query("DELETE FROM connect_sessions WHERE expires_at < $1")
                    .bind(before)
                    .execute(pool)
                    .await.map(|r| r.rows_affected()))?,
            )
        }
    }

    impl {
        async fn with_origins(
            &self,
            found: Option<ConnectSessionRecord>,
        ) -> Result<Option<ConnectSessionRecord>, StorageError> {
            let Some(mut s) = found else {
                return Ok(None);
            };
            s.origins = on_db!(self, pool => sqlx::query_scalar(
                "SELECT origin FROM connect_session_origins WHERE session_id = $1 ORDER BY origin",
            )
            .bind(&s.id)
            .fetch_all(pool)
            .await)?;
            Ok(Some(s))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::DEFAULT_ORGANISATION;

    /// Two lists of allowed origins saved at the same moment (two admins, two instances) end
    /// as one of them: an origin one of them removed never stays allowed by a merge.
    #[tokio::test]
    async fn origins_saved_at_once_end_as_one_list_never_merged() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::storage::testing::store(dir.path()).await;
        let a = vec!["https://a.example".to_string()];
        let b = vec!["https://b.example".to_string()];
        for _ in 0..20 {
            let (x, y) = tokio::join!(
                store.set_organisation_origins(DEFAULT_ORGANISATION, &a),
                store.set_organisation_origins(DEFAULT_ORGANISATION, &b)
            );
            x.unwrap();
            y.unwrap();
            let now = store
                .organisation_origins(DEFAULT_ORGANISATION)
                .await
                .unwrap();
            assert!(now == a || now == b, "merged: {now:?}");
        }
    }
}
