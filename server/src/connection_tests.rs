//! Running an account's connection test: its mailbox settings as a plan, a fresh access token
//! from the token keeper, the test itself, and the run kept in the account's history.

use std::{sync::Arc, time::Duration};

use mailkey_app::{
    draft::MailboxSettings,
    mail_test::{StageEvent, TestReport},
    provider::Security,
};
use secrecy::ExposeSecret;
use tokio::sync::mpsc::UnboundedSender;

use crate::{
    config::Config,
    mail_test::{Endpoint, MailTester, Plan},
    storage::{now, StorageError, Store},
    tokens::TokenKeeper,
};

#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("no such account")]
    NotFound,
    #[error("the account's mailbox settings are not complete (finish the Mailbox step)")]
    NotReady,
    #[error("the account's mailbox settings cannot be read: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Clone, Debug)]
pub struct ConnectionTests {
    store: Store,
    tokens: TokenKeeper,
    tester: Arc<MailTester>,
}

impl ConnectionTests {
    /// Mail hosts allowed: every provider's own, plus `mail_hosts`.
    pub fn new(config: &Config, store: Store, tokens: TokenKeeper) -> Result<Self, String> {
        let allowed = mailkey_app::provider::PROVIDERS
            .iter()
            .flat_map(|p| [p.smtp_host.to_string(), p.imap_host.to_string()])
            .chain(config.mail_hosts.iter().cloned());
        let tester = MailTester::new(
            allowed,
            config.allow_private_hosts,
            config.tls_ca_file.as_deref(),
        )?;
        Ok(ConnectionTests {
            store,
            tokens,
            tester: Arc::new(tester),
        })
    }

    async fn plan(&self, account_id: &str) -> Result<Plan, TestError> {
        let r = self
            .store
            .draft(account_id)
            .await?
            .ok_or(TestError::NotFound)?;
        let m: MailboxSettings = r
            .mailbox_settings
            .as_deref()
            .ok_or(TestError::NotReady)
            .and_then(|j| serde_json::from_str(j).map_err(|e| TestError::Corrupt(e.to_string())))?;
        let port = |p: &str| p.trim().parse::<u16>().map_err(|_| TestError::NotReady);
        let security = |s: &str| Security::parse(s.trim()).ok_or(TestError::NotReady);
        let minutes: u64 = m.timeout_minutes.trim().parse().unwrap_or(3).clamp(1, 30);
        Ok(Plan {
            mailbox: m.email.trim().to_string(),
            smtp: Endpoint {
                host: m.smtp_host.trim().to_string(),
                port: port(&m.smtp_port)?,
                security: security(&m.smtp_security)?,
            },
            imap: Endpoint {
                host: m.imap_host.trim().to_string(),
                port: port(&m.imap_port)?,
                security: security(&m.imap_security)?,
            },
            root_folder: m.root_folder.trim().to_string(),
            timeout: Duration::from_secs(minutes * 60),
        })
    }

    /// Runs the test, streaming its stages to `events`, and keeps it in the history.
    pub async fn run(
        &self,
        account_id: &str,
        events: Option<UnboundedSender<StageEvent>>,
    ) -> Result<(i64, TestReport), TestError> {
        let plan = self.plan(account_id).await?;
        let started = now();
        let tokens = self.tokens.clone();
        let id = account_id.to_string();
        let token = async move {
            tokens
                .access_token(&id)
                .await
                .map(|t| t.token.expose_secret().to_string())
                .map_err(|e| e.to_string())
        };
        let report = self.tester.run(&plan, token, events).await;
        let json = serde_json::to_string(&report).expect("the report serialises");
        let run = self
            .store
            .insert_test(account_id, started, report.ok, &json)
            .await?;
        tracing::info!(account = %account_id, ok = report.ok, run, "connection test finished");
        Ok((run, report))
    }
}
