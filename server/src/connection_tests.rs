//! Running an account's connection test: its mailbox settings as a plan, a fresh access token
//! from the token keeper, the test itself, and the run kept in the account's history. The same
//! plan and token send Mailkey's own messages (notices) from a connected mailbox.

use std::{sync::Arc, time::Duration};

use mailkey_app::{
    draft::MailboxSettings,
    mail_test::{Folder, FolderMapping, Role, RunSummary, StageEvent, TestOverview, TestReport},
    provider::{Protocol, Security},
    rules::{Findings, Note},
};
use secrecy::ExposeSecret;
use tokio::sync::mpsc::UnboundedSender;

use crate::{
    config::Config,
    mail_test::{diagnosis, Endpoint, MailTester, Plan, TokenTrouble},
    storage::{now, StorageError, Store, TestFailure},
    tokens::{TokenError, TokenKeeper},
};

#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("the folder mapping has errors")]
    Invalid(Findings),
    #[error("no such account")]
    NotFound,
    #[error("the account's mailbox settings are not complete (finish the Mailbox step)")]
    NotReady,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// How many runs before the latest the account's pages list.
const EARLIER_RUNS_SHOWN: i64 = 5;

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
            config.mail_ports.clone(),
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
        let m: MailboxSettings = r.mailbox.ok_or(TestError::NotReady)?;
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
            // An unset protocol (drafts saved before it was asked) reads over IMAP.
            protocol: Protocol::parse(m.protocol.trim()).unwrap_or(Protocol::Imap),
            read: Endpoint {
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
                .map_err(trouble)
        };
        let mut report = self.tester.run(&plan, token, events).await;
        self.word_a_repeat(account_id, &mut report).await?;
        let run = self
            .store
            .insert_test(account_id, started, test_failure(&report), &report)
            .await?;
        tracing::info!(account = %account_id, ok = report.ok, run, "connection test finished");
        crate::metrics::connection_tested(&report);
        Ok((run, report))
    }
}

/// A token the keeper could not give, as the test explains it.
fn trouble(e: TokenError) -> TokenTrouble {
    match e {
        TokenError::NotSignedIn => TokenTrouble::NotSignedIn,
        TokenError::NeedsSignIn(p) => TokenTrouble::SignInRefused(p.title),
        TokenError::AppRefused { problem, .. } => TokenTrouble::AppRefused(problem.title),
        TokenError::Unavailable { why, .. } => TokenTrouble::Unavailable(why.into()),
        e @ TokenError::RefreshBusy => TokenTrouble::Unavailable(e.to_string()),
        TokenError::Account(e) => TokenTrouble::Internal(e.to_string()),
    }
}

/// Why a message could not be sent from an account's mailbox.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Test(#[from] TestError),
    /// The token or the SMTP server refused, explained as the connection test would.
    #[error("{}: {}", .0.title, .0.fix)]
    Refused(Box<mailkey_app::mail_test::Diagnosis>),
}

impl ConnectionTests {
    /// Sends `message` from the account's mailbox to `to`, through its SMTP server with a token
    /// from the keeper. The address it was sent from.
    pub async fn send_from(
        &self,
        account_id: &str,
        to: &str,
        message: impl FnOnce(&str) -> Result<lettre::Message, String>,
    ) -> Result<String, SendError> {
        let plan = self.plan(account_id).await?;
        let explain = |failure: crate::mail_test::Failure| {
            let cx = diagnosis::Context {
                protocol: "SMTP",
                host: &plan.smtp.host,
                port: plan.smtp.port,
                security: plan.smtp.security,
                mailbox: &plan.mailbox,
                root_folder: &plan.root_folder,
            };
            SendError::Refused(Box::new(diagnosis::explain(&failure, &cx)))
        };
        let message =
            message(&plan.mailbox).map_err(|e| explain(crate::mail_test::Failure::Io(e)))?;
        let token = match self.tokens.access_token(account_id).await {
            Ok(t) => t,
            Err(e) => return Err(explain(crate::mail_test::Failure::Token(trouble(e)))),
        };
        self.tester
            .deliver(
                &plan.smtp,
                &plan.mailbox,
                token.token.expose_secret(),
                to,
                &message,
            )
            .await
            .map_err(|d| SendError::Refused(Box::new(d)))?;
        Ok(plan.mailbox)
    }
}

impl ConnectionTests {
    /// "Wait a minute and test again" helps once: a temporary failure that the previous test
    /// also had is explained as the misconfiguration it then usually is.
    async fn word_a_repeat(
        &self,
        account_id: &str,
        report: &mut TestReport,
    ) -> Result<(), TestError> {
        let temporary = |d: &Option<mailkey_app::mail_test::Diagnosis>| {
            d.as_ref().is_some_and(|d| {
                d.title == diagnosis::TEMPORARY_TITLE
                    || d.title == diagnosis::REPEATED_TEMPORARY_TITLE
            })
        };
        if !temporary(&report.diagnosis) {
            return Ok(());
        }
        let before = self.store.tests(account_id, 1).await?;
        let repeated = before
            .first()
            .is_some_and(|run| temporary(&run.report.diagnosis));
        if repeated {
            let reply = report.diagnosis.as_ref().and_then(|d| d.reply.clone());
            report.diagnosis = Some(diagnosis::repeated_temporary(reply));
        }
        Ok(())
    }

    /// The folders of the latest passing test, if one passed.
    pub async fn known_folders(&self, account_id: &str) -> Result<Option<Vec<Folder>>, TestError> {
        if self.store.draft(account_id).await?.is_none() {
            return Err(TestError::NotFound);
        }
        let runs = self.store.tests(account_id, 50).await?;
        Ok(runs
            .into_iter()
            .find(|run| run.ok)
            .map(|run| run.report.folders))
    }

    /// What the account's pages show: the latest run, and the mapping with its folders.
    pub async fn overview(&self, account_id: &str) -> Result<TestOverview, TestError> {
        let folders = self.known_folders(account_id).await?;
        let mut runs = self
            .store
            .tests(account_id, 1 + EARLIER_RUNS_SHOWN)
            .await?
            .into_iter()
            .map(|run| (run.started_at, run.report));
        let latest = runs.next();
        let earlier = runs
            .map(|(started_at, r)| RunSummary {
                started_at,
                ok: r.ok,
                problem: r.diagnosis.map(|d| d.title),
            })
            .collect();
        let (mapping, mapping_saved) = self.mapping(account_id).await?;
        // Settings saved since the run ("Change it", then back here): it says nothing of them.
        let now = self.plan(account_id).await.ok().map(|p| p.fingerprint());
        let latest_stale = latest
            .as_ref()
            .and_then(|(_, r)| r.settings.as_ref())
            .zip(now.as_ref())
            .is_some_and(|(then, now)| then != now);
        Ok(TestOverview {
            latest_stale,
            latest,
            mapping,
            mapping_saved,
            folders: folders.unwrap_or_default(),
            earlier,
        })
    }

    /// The saved mapping, else the one proposed from the latest passing test.
    pub async fn mapping(&self, account_id: &str) -> Result<(FolderMapping, bool), TestError> {
        let folders = self.known_folders(account_id).await?;
        if let Some(saved) = self.store.folder_mapping(account_id).await? {
            return Ok((saved, true));
        }
        Ok((
            folders
                .map(|f| FolderMapping::propose(&f))
                .unwrap_or_default(),
            false,
        ))
    }

    /// Saves a mapping whose every folder the mailbox has (per the latest passing test) and
    /// which names an Inbox; otherwise says which field is wrong and changes nothing.
    pub async fn save_mapping(
        &self,
        account_id: &str,
        mapping: &FolderMapping,
    ) -> Result<(), TestError> {
        let Some(folders) = self.known_folders(account_id).await? else {
            let f = Findings::error(
                "inbox",
                "Run the connection test first: folders are chosen from those it finds.",
            );
            return Err(TestError::Invalid(f));
        };
        let mut findings = Findings::default();
        for role in Role::ALL {
            let field = format!("{role:?}").to_ascii_lowercase();
            let note = match mapping.get(role).map(str::trim).filter(|n| !n.is_empty()) {
                None if role == Role::Inbox => Some(Note::error(
                    "Choose the Inbox folder: the application reads new mail from it.",
                )),
                None => None,
                Some(name) if folders.iter().any(|f| f.name == name) => None,
                Some(name) => Some(Note::error(format!(
                    "The mailbox has no folder \"{name}\". Choose one the test found ({}), or \
                     run the test again if it was just created.",
                    folders
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            };
            findings.add(&field, note);
        }
        if findings.has_errors() {
            return Err(TestError::Invalid(findings));
        }
        if !self.store.set_folder_mapping(account_id, mapping).await? {
            return Err(TestError::NotFound);
        }
        tracing::info!(account = %account_id, "folder mapping saved");
        Ok(())
    }
}

/// What a failed report's event says: the diagnosis's code and title.
pub fn test_failure(report: &mailkey_app::mail_test::TestReport) -> Option<TestFailure<'_>> {
    if report.ok {
        return None;
    }
    Some(match &report.diagnosis {
        Some(d) => TestFailure {
            code: if d.code.is_empty() { "failed" } else { &d.code },
            title: &d.title,
        },
        None => TestFailure {
            code: "failed",
            title: "The connection test failed",
        },
    })
}
