//! Notice e-mails: when one of an organisation's mailboxes needs a person (a refused sign-in,
//! refused app credentials, a client secret about to expire), its notice address is told by
//! e-mail, sent through one of the deployment's own connected mailboxes (Mailkey uses what it
//! builds). Notices are queued by storage with their event; [`NoticeMailer`] sends them,
//! retrying a failure for about a day.

pub mod compose;

use std::{sync::Arc, time::Duration};

use lettre::message::{
    header::{ContentType, Header, HeaderName, HeaderValue},
    Mailbox, Message,
};

use crate::{
    connection_tests::ConnectionTests,
    storage::{now, DueNoticeMail, NoticeAttempt, StorageError, Store},
};

/// How often the outbox is looked at: a notice waits at most this long.
const EVERY: Duration = Duration::from_secs(5);
/// How long a taken notice is this instance's before another may take it (a send is capped
/// well within it).
const LEASE_SECS: i64 = 120;
/// Waits before each retry: about a day in all, then the notice is given up.
const RETRY_AFTER_SECS: [i64; 6] = [60, 300, 1800, 3600, 6 * 3600, 12 * 3600];

#[derive(Clone)]
pub struct NoticeMailer {
    store: Store,
    tests: ConnectionTests,
    public_url: Arc<str>,
}

/// `Auto-Submitted: auto-generated` (RFC 3834): out-of-office replies and other robots leave
/// the message alone.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

impl NoticeMailer {
    pub fn new(store: Store, tests: ConnectionTests, public_url: &str) -> NoticeMailer {
        NoticeMailer {
            store,
            tests,
            public_url: public_url.into(),
        }
    }

    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.round().await {
                    tracing::error!(error = %e, "notice e-mails could not be taken");
                }
                tokio::time::sleep(EVERY).await;
            }
        })
    }

    /// Sends what is due; how many were sent.
    pub async fn round(&self) -> Result<usize, StorageError> {
        let due = self.store.take_due_notice_mails(LEASE_SECS, 10).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let sender = self.store.notice_sender().await?;
        let mut sent = 0;
        for notice in due {
            let outcome = match &sender {
                None => {
                    crate::metrics::notice_mailed("skipped");
                    self.store
                        .finish_notice_mail(notice.notice_id, NoticeAttempt::Skipped)
                        .await?;
                    continue;
                }
                Some(account) => self.send(account, &notice).await,
            };
            match outcome {
                Ok(from) => {
                    sent += 1;
                    crate::metrics::notice_mailed("sent");
                    tracing::info!(notice = notice.notice_id, event = %notice.event.id, "notice e-mailed");
                    self.store
                        .finish_notice_mail(notice.notice_id, NoticeAttempt::Sent { sender: &from })
                        .await?;
                }
                Err(why) => {
                    let retry_at = usize::try_from(notice.attempts)
                        .ok()
                        .and_then(|n| RETRY_AFTER_SECS.get(n))
                        .map(|wait| now() + wait);
                    crate::metrics::notice_mailed(if retry_at.is_some() {
                        "failed"
                    } else {
                        "given_up"
                    });
                    tracing::warn!(notice = notice.notice_id, error = %why, "a notice e-mail was not sent");
                    self.store
                        .finish_notice_mail(
                            notice.notice_id,
                            NoticeAttempt::Failed {
                                error: &why,
                                retry_at,
                            },
                        )
                        .await?;
                }
            }
        }
        Ok(sent)
    }

    /// Sends one notice from `account`'s mailbox: the address it went from, or why not.
    async fn send(&self, account: &str, notice: &DueNoticeMail) -> Result<String, String> {
        let links = compose::Links {
            public_url: &self.public_url,
        };
        let Some(words) = compose::compose(
            &notice.event,
            &notice.organisation_name,
            &notice.to_address,
            &links,
        ) else {
            return Err(format!(
                "{} events are not e-mailed",
                notice.event.event_type.as_str()
            ));
        };
        let to = &notice.to_address;
        let message = |from: &str| -> Result<Message, String> {
            let parse = |a: &str| {
                a.parse::<Mailbox>()
                    .map_err(|_| format!("{a} is not an e-mail address"))
            };
            let from = parse(from)?;
            Message::builder()
                .from(Mailbox::new(Some("Mailkey".into()), from.email))
                .to(parse(to)?)
                .subject(words.subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .header(AutoSubmitted)
                .body(words.body.clone())
                .map_err(|e| e.to_string())
        };
        self.tests
            .send_from(account, to, message)
            .await
            .map_err(|e| e.to_string())
    }
}
