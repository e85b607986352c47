//! The connection test: proves a mailbox can send (SMTP with XOAUTH2, a message to itself) and
//! receive (IMAP with XOAUTH2: the message arrives in the root folder), lists its folders, and
//! explains any failure. Stages are reported as they happen; the SMTP stages and the IMAP
//! sign-in run side by side, so a test costs little more than its slower half.

pub mod diagnosis;
mod failure;
mod greeting;
pub mod guard;
mod imap;
mod pop;
pub mod prerequisites;
mod smtp;
mod tls;

use std::{
    future::Future,
    net::SocketAddr,
    path::Path,
    sync::Mutex,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use mailkey_app::{
    mail_test::{FolderMapping, StageEvent, StageId, StageStatus, TestReport},
    provider::{Protocol, Security},
};
use tokio::{net::TcpStream, sync::mpsc::UnboundedSender};

pub use failure::Failure;
pub use failure::TokenTrouble;
pub use guard::{is_public, HostGuard, MailPorts, MAIL_PORTS};

/// The longest any single step may take, within the test's overall timeout.
const STEP_CAP: Duration = Duration::from_secs(20);
/// How long deleting the test message may take once it is seen.
const CLEANUP_WAIT: Duration = Duration::from_secs(4);

/// `user=<mailbox>^Aauth=Bearer <token>^A^A`, base64: the XOAUTH2 initial response.
fn xoauth2(user: &str, token: &str) -> String {
    STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

#[derive(Clone, Debug)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

/// What to test.
#[derive(Clone, Debug)]
pub struct Plan {
    pub mailbox: String,
    pub smtp: Endpoint,
    /// How the mailbox is read: over IMAP, or POP3.
    pub protocol: Protocol,
    /// The incoming server, of `protocol`.
    pub read: Endpoint,
    pub root_folder: String,
    /// Caps the whole test, the wait for the message included.
    pub timeout: Duration,
}

impl Plan {
    /// What the run depends on, in one line: a later run with other settings has another one.
    pub fn fingerprint(&self) -> String {
        let ep = |e: &Endpoint| format!("{}:{}:{}", e.host, e.port, e.security.as_str());
        // IMAP keeps its old shape: fingerprints stored before POP existed still match.
        let read = match self.protocol {
            Protocol::Imap => ep(&self.read),
            Protocol::Pop => format!("pop:{}", ep(&self.read)),
        };
        format!(
            "{}|{}|{}|{}",
            self.mailbox.to_ascii_lowercase(),
            ep(&self.smtp),
            read,
            self.root_folder
        )
    }
}

#[derive(Clone, Debug)]
pub struct MailTester {
    guard: HostGuard,
    tls: tls::TlsSetup,
}

/// Collects the stages and streams each change.
struct Recorder {
    stages: Mutex<Vec<StageEvent>>,
    events: Option<UnboundedSender<StageEvent>>,
    deadline: Instant,
}

impl Recorder {
    fn emit(&self, e: StageEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(e.clone());
        }
        let mut stages = self.stages.lock().unwrap_or_else(|p| p.into_inner());
        match stages.iter_mut().find(|s| s.stage == e.stage) {
            Some(s) => *s = e,
            None => stages.push(e),
        }
    }

    /// Runs one stage within what is left of the test's time (and the step cap).
    async fn stage<T>(
        &self,
        id: StageId,
        work: impl Future<Output = Result<(T, Option<String>), Failure>>,
    ) -> Result<T, (StageId, Failure)> {
        self.emit(StageEvent {
            stage: id,
            status: StageStatus::Running,
            millis: 0,
            detail: None,
        });
        let started = Instant::now();
        let left = self
            .deadline
            .saturating_duration_since(started)
            .min(STEP_CAP);
        let result = match tokio::time::timeout(left, work).await {
            Ok(r) => r,
            Err(_) => Err(match id {
                StageId::SmtpTls | StageId::ImapTls | StageId::PopTls => Failure::Silent,
                StageId::ImapReceive | StageId::PopReceive => Failure::NotReceived,
                other => Failure::Timeout(other),
            }),
        };
        let millis = started.elapsed().as_millis() as u64;
        match result {
            Ok((value, detail)) => {
                self.emit(StageEvent {
                    stage: id,
                    status: StageStatus::Passed,
                    millis,
                    detail,
                });
                Ok(value)
            }
            Err(f) => {
                self.emit(StageEvent {
                    stage: id,
                    status: StageStatus::Failed,
                    millis,
                    detail: f.reply(),
                });
                Err((id, f))
            }
        }
    }
}

async fn connect(addrs: &[SocketAddr], within: Duration) -> Result<(TcpStream, String), Failure> {
    let mut last = Failure::Io("no address".into());
    for addr in addrs {
        match tokio::time::timeout(within, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                // Small commands back and forth: no Nagle delay.
                let _ = tcp.set_nodelay(true);
                return Ok((tcp, addr.to_string()));
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = Failure::Refused(*addr)
            }
            Ok(Err(e)) => last = Failure::Io(e.to_string()),
            Err(_) => last = Failure::ConnectTimeout(*addr),
        }
    }
    Err(last)
}

impl MailTester {
    pub fn new(
        allowed_hosts: impl IntoIterator<Item = String>,
        allow_private: bool,
        ports: MailPorts,
        ca_file: Option<&Path>,
    ) -> Result<MailTester, String> {
        Ok(MailTester {
            guard: HostGuard::new(allowed_hosts, allow_private, ports),
            tls: tls::TlsSetup::new(ca_file)?,
        })
    }

    /// Runs the whole test. `token` yields the access token (a refresh, maybe); each stage is
    /// sent to `events` as it starts and ends.
    pub async fn run(
        &self,
        plan: &Plan,
        token: impl Future<Output = Result<String, TokenTrouble>>,
        events: Option<UnboundedSender<StageEvent>>,
    ) -> TestReport {
        let rec = Recorder {
            stages: Mutex::new(Vec::new()),
            events,
            deadline: Instant::now() + plan.timeout,
        };
        let message_id = format!(
            "<mailkey-test-{}@mailkey.local>",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>())
        );
        let outcome = self.stages(&rec, plan, token, &message_id).await;
        let mut stages = rec.stages.into_inner().unwrap_or_else(|p| p.into_inner());
        let explain = |(stage, f): (StageId, Failure)| {
            let (protocol, ep) = match stage.reads() {
                Some(Protocol::Imap) => ("IMAP", &plan.read),
                Some(Protocol::Pop) => ("POP", &plan.read),
                None => ("SMTP", &plan.smtp),
            };
            let cx = diagnosis::Context {
                protocol,
                host: &ep.host,
                port: ep.port,
                security: ep.security,
                mailbox: &plan.mailbox,
                root_folder: &plan.root_folder,
            };
            diagnosis::explain(&f, &cx)
        };
        let (ok, diagnosis, also, folders) = match outcome {
            Ok(folders) => (true, None, Vec::new(), folders),
            Err(Failed { first, other }) => {
                let first = explain(first);
                // The other side's words, unless they say the same thing again.
                let also = other
                    .map(explain)
                    .filter(|d| d.title != first.title || d.what != first.what)
                    .into_iter()
                    .collect();
                (false, Some(first), also, Vec::new())
            }
        };
        // Stages never reached, in order, so the timeline shows the whole test.
        for id in StageId::of_test(plan.protocol) {
            if !stages.iter().any(|s| s.stage == id) {
                stages.push(StageEvent {
                    stage: id,
                    status: StageStatus::Skipped,
                    millis: 0,
                    detail: None,
                });
            }
        }
        stages.sort_by_key(|s| StageId::ALL.iter().position(|id| *id == s.stage));
        // POP sees the inbox only: there are no folders to map.
        let proposed_mapping =
            (ok && plan.protocol == Protocol::Imap).then(|| FolderMapping::propose(&folders));
        TestReport {
            ok,
            stages,
            diagnosis,
            also,
            settings: Some(plan.fingerprint()),
            folders,
            proposed_mapping,
            message_id: Some(message_id),
        }
    }

    /// Sends one message through the mailbox's SMTP server, signed in with `token`, as the
    /// test's SMTP half does (same host guard, TLS and XOAUTH2): Mailkey's own notices go out
    /// this way. A failure is explained as the test would explain it.
    pub async fn deliver(
        &self,
        smtp: &Endpoint,
        mailbox: &str,
        token: &str,
        to: &str,
        message: &lettre::Message,
    ) -> Result<(), mailkey_app::mail_test::Diagnosis> {
        let work = async {
            let addrs = self.guard.resolve(&smtp.host, smtp.port).await?;
            let (tcp, _) = connect(&addrs, STEP_CAP).await?;
            let mut conn = match smtp.security {
                Security::Tls => smtp::greet_tls(self.tls.connect(&smtp.host, tcp).await?).await?,
                Security::StartTls => {
                    let mut c = smtp::greet_plain(tcp).await?;
                    smtp::starttls(&mut c, &self.tls, &smtp.host).await?;
                    c
                }
            };
            smtp::auth(&mut conn, mailbox, token).await?;
            smtp::send_message(&mut conn, mailbox, to, message).await
        };
        let failure = match tokio::time::timeout(STEP_CAP * 2, work).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(f)) => f,
            Err(_) => Failure::Timeout(StageId::SmtpSend),
        };
        Err(diagnosis::explain(
            &failure,
            &diagnosis::Context {
                protocol: "SMTP",
                host: &smtp.host,
                port: smtp.port,
                security: smtp.security,
                mailbox,
                root_folder: "INBOX",
            },
        ))
    }

    async fn stages(
        &self,
        rec: &Recorder,
        plan: &Plan,
        token: impl Future<Output = Result<String, TokenTrouble>>,
        message_id: &str,
    ) -> Result<Vec<mailkey_app::mail_test::Folder>, Failed> {
        let token = rec
            .stage(StageId::Token, async {
                token.await.map(|t| (t, None)).map_err(Failure::Token)
            })
            .await
            .map_err(Failed::one)?;
        let subject = format!(
            "Mailkey connection test {}",
            message_id.trim_matches(['<', '>'])
        );
        let send = self.send(rec, plan, &token, message_id, &subject);
        if plan.protocol == Protocol::Pop {
            let (sent, opened) = tokio::join!(send, self.open_pop(rec, plan, &token));
            let pop = both(sent, opened, |p: pop::TlsPop| async move {
                let _ = p.quit().await;
            })
            .await?;
            self.receive_over_pop(rec, plan, &token, pop, message_id)
                .await
                .map_err(Failed::one)?;
            return Ok(Vec::new());
        }
        let (sent, opened) = tokio::join!(send, self.open_imap(rec, plan, &token));
        let mut session = both(sent, opened, imap::logout).await?;
        // The wait leaves the stage time to delete the message once it is seen.
        let left = rec
            .deadline
            .saturating_duration_since(Instant::now())
            .min(STEP_CAP)
            .saturating_sub(CLEANUP_WAIT);
        rec.stage(StageId::ImapReceive, async {
            let uids = imap::wait_for(&mut session, message_id, left).await?;
            // Seen: receipt is proven. Then it goes, so the application never processes it.
            let cleanup =
                tokio::time::timeout(CLEANUP_WAIT, imap::remove(&mut session, &uids)).await;
            let after = match cleanup {
                Ok(Ok(imap::Cleanup::Deleted)) => "then deleted it".to_string(),
                Ok(Ok(imap::Cleanup::Left)) => {
                    "left it there (the server cannot delete one message alone)".to_string()
                }
                Ok(Err(_)) | Err(_) => "could not delete it; delete it by hand".to_string(),
            };
            Ok(((), Some(format!("found in {}, {after}", plan.root_folder))))
        })
        .await
        .map_err(Failed::one)?;
        let folders = rec
            .stage(StageId::ImapFolders, async {
                let f = imap::folders(&mut session).await?;
                let n = f.len();
                Ok((f, Some(format!("{n} folders"))))
            })
            .await
            .map_err(Failed::one)?;
        imap::logout(session).await;
        Ok(folders)
    }

    /// The resolve and connect stages: addresses the guard allows, then the first that answers.
    async fn reach(
        &self,
        rec: &Recorder,
        ep: &Endpoint,
        resolve: StageId,
        connect_stage: StageId,
    ) -> Result<TcpStream, (StageId, Failure)> {
        let addrs = rec
            .stage(resolve, async {
                let a = self.guard.resolve(&ep.host, ep.port).await?;
                let shown = a
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                Ok((a, Some(shown)))
            })
            .await?;
        rec.stage(connect_stage, async {
            let (tcp, to) = connect(&addrs, STEP_CAP).await?;
            Ok((tcp, Some(to)))
        })
        .await
    }

    async fn send(
        &self,
        rec: &Recorder,
        plan: &Plan,
        token: &str,
        message_id: &str,
        subject: &str,
    ) -> Result<(), (StageId, Failure)> {
        let ep = &plan.smtp;
        let tcp = self
            .reach(rec, ep, StageId::SmtpResolve, StageId::SmtpConnect)
            .await?;
        let mut conn = rec
            .stage(StageId::SmtpTls, async {
                let conn = match ep.security {
                    Security::Tls => {
                        smtp::greet_tls(self.tls.connect(&ep.host, tcp).await?).await?
                    }
                    Security::StartTls => {
                        let mut c = smtp::greet_plain(tcp).await?;
                        smtp::starttls(&mut c, &self.tls, &ep.host).await?;
                        c
                    }
                };
                Ok((conn, Some(ep.security.label().to_string())))
            })
            .await?;
        rec.stage(StageId::SmtpAuth, async {
            smtp::auth(&mut conn, &plan.mailbox, token)
                .await
                .map(|_| ((), None))
        })
        .await?;
        rec.stage(StageId::SmtpSend, async {
            smtp::send(&mut conn, &plan.mailbox, message_id, subject)
                .await
                .map(|_| ((), Some(message_id.to_string())))
        })
        .await
    }

    /// The POP3 resolve, connect, encryption and sign-in stages.
    async fn open_pop(
        &self,
        rec: &Recorder,
        plan: &Plan,
        token: &str,
    ) -> Result<pop::TlsPop, (StageId, Failure)> {
        let ep = &plan.read;
        let tcp = self
            .reach(rec, ep, StageId::PopResolve, StageId::PopConnect)
            .await?;
        let mut pop = rec
            .stage(StageId::PopTls, async {
                let p = self.pop_tls(ep, tcp).await?;
                Ok((p, Some(ep.security.label().to_string())))
            })
            .await?;
        rec.stage(StageId::PopAuth, async {
            pop::authenticate(&mut pop, &plan.mailbox, token)
                .await
                .map(|_| ((), None))
        })
        .await?;
        Ok(pop)
    }

    async fn pop_tls(&self, ep: &Endpoint, tcp: TcpStream) -> Result<pop::TlsPop, Failure> {
        match ep.security {
            Security::Tls => pop::connect_tls(tcp, &self.tls, &ep.host).await,
            Security::StartTls => pop::connect_starttls(tcp, &self.tls, &ep.host).await,
        }
    }

    /// Signs in again without recording stages (they passed once): POP shows a message that
    /// arrived after sign-in only to a new session.
    async fn reopen_pop(&self, plan: &Plan, token: &str) -> Result<pop::TlsPop, Failure> {
        let ep = &plan.read;
        let addrs = self.guard.resolve(&ep.host, ep.port).await?;
        let (tcp, _) = connect(&addrs, STEP_CAP).await?;
        let mut pop = self.pop_tls(ep, tcp).await?;
        pop::authenticate(&mut pop, &plan.mailbox, token).await?;
        Ok(pop)
    }

    /// The receive stage over POP3: the newest messages' headers until the test message is
    /// among them (signing in again between looks), then it is deleted.
    async fn receive_over_pop(
        &self,
        rec: &Recorder,
        plan: &Plan,
        token: &str,
        first: pop::TlsPop,
        message_id: &str,
    ) -> Result<(), (StageId, Failure)> {
        let left = rec
            .deadline
            .saturating_duration_since(Instant::now())
            .min(STEP_CAP);
        rec.stage(StageId::PopReceive, async {
            let deadline = tokio::time::Instant::now() + left;
            let mut session = first;
            for look in 0.. {
                if let Some(n) = pop::find(&mut session, message_id).await? {
                    // Seen: receipt is proven. Then it goes, so the application never gets it.
                    let deleted = match pop::delete(&mut session, n).await {
                        Ok(()) => session.quit().await.is_ok(),
                        Err(_) => false,
                    };
                    let after = if deleted {
                        "then deleted it"
                    } else {
                        "could not delete it; delete it by hand"
                    };
                    return Ok(((), Some(format!("found in INBOX, {after}"))));
                }
                let _ = session.quit().await;
                let wait = pop::recheck_after(look);
                if tokio::time::Instant::now() + wait >= deadline {
                    break;
                }
                tokio::time::sleep(wait).await;
                session = self.reopen_pop(plan, token).await?;
            }
            Err(Failure::NotReceived)
        })
        .await
    }

    async fn open_imap(
        &self,
        rec: &Recorder,
        plan: &Plan,
        token: &str,
    ) -> Result<imap::TlsSession, (StageId, Failure)> {
        let ep = &plan.read;
        let tcp = self
            .reach(rec, ep, StageId::ImapResolve, StageId::ImapConnect)
            .await?;
        let client = rec
            .stage(StageId::ImapTls, async {
                let c = match ep.security {
                    Security::Tls => imap::connect_tls(tcp, &self.tls, &ep.host).await?,
                    Security::StartTls => {
                        imap::connect_starttls(tcp, &self.tls, &ep.host, Duration::from_secs(5))
                            .await?
                    }
                };
                Ok((c, Some(ep.security.label().to_string())))
            })
            .await?;
        let mut session = rec
            .stage(StageId::ImapAuth, async {
                imap::authenticate(client, &plan.mailbox, token)
                    .await
                    .map(|s| (s, None))
            })
            .await?;
        rec.stage(StageId::ImapSelect, async {
            let n = imap::select(&mut session, &plan.root_folder).await?;
            let messages = if n == 1 { "message" } else { "messages" };
            Ok(((), Some(format!("{} ({n} {messages})", plan.root_folder))))
        })
        .await?;
        Ok(session)
    }
}

/// The sending half and the reading half's sign-in, which ran side by side, as one outcome: the
/// reading session when both passed, else the failure to explain first (the reading session, if
/// it opened, is closed with `close`).
async fn both<T, F: Future<Output = ()>>(
    sent: Result<(), (StageId, Failure)>,
    opened: Result<T, (StageId, Failure)>,
    close: impl FnOnce(T) -> F,
) -> Result<T, Failed> {
    // Both sign-ins refused while one server says its token check is unavailable: the token may
    // well be fine, so that is the failure to explain. (Postfix words Dovecot's temporary
    // failure as a plain 535; Dovecot's IMAP says `[UNAVAILABLE]`, its POP3 `[SYS/TEMP]`.)
    let read_first = matches!(
        (&sent, &opened),
        (Err((_, smtp)), Err((_, read))) if smtp.is_refused_auth() && read.is_temporary_auth()
    );
    match (sent, opened) {
        (Ok(()), Ok(session)) => Ok(session),
        (Err(smtp), Err(read)) if read_first => Err(Failed {
            first: read,
            other: Some(smtp),
        }),
        (Err(smtp), Err(read)) => Err(Failed {
            first: smtp,
            other: Some(read),
        }),
        (Err(smtp), Ok(session)) => {
            close(session).await;
            Err(Failed::one(smtp))
        }
        (Ok(()), Err(read)) => Err(Failed::one(read)),
    }
}

/// Why a test failed: the failure to explain first, and the other side's when both failed.
struct Failed {
    first: (StageId, Failure),
    other: Option<(StageId, Failure)>,
}

impl Failed {
    fn one(first: (StageId, Failure)) -> Failed {
        Failed { first, other: None }
    }
}
