//! The connection test against real Dovecot and Postfix that check tokens at the sandbox: a
//! passing run (the message really lands in the Maildir, folders listed with their SPECIAL-USE
//! flags), and each failure that can be made real here, checked for its diagnosis.

use crate::support;

use std::time::Duration;

use mailkey::{
    mail_test::{Endpoint, MailPorts, MailTester, Plan, TokenTrouble},
    sandbox::{parse_scopes, Session},
};
use mailkey_app::{
    mail_test::{StageId, StageStatus, TestReport},
    provider::{Protocol, Security},
};
use support::{
    mail_servers::{MailServers, TestCa},
    portal::{authorize, Operator},
    TestServer,
};

pub(crate) const TENANT_ID: &str = "3f1d8a52-7c4e-4b9a-8e21-6d0c5f7a9b14";
pub(crate) const CLIENT_ID: &str = "a7e4c1d9-2b6f-4e83-9c5a-1f0d8b3e6a72";
pub(crate) const DOMAIN: &str = "contoso.test";
pub(crate) const SECRET: &str = "Qx38Q~Lm4Nv7Rt2Wb9Kd1Hs6Gf3Jp8Zc5Yx0Ua7E";
pub(crate) const MAILBOX: &str = "invoices@contoso.test";
pub(crate) const MICROSOFT_NAMES: &str = "reception@contoso.test";
pub(crate) const SHARED: &str = "shared@contoso.test";

fn sandbox_file() -> String {
    format!(
        r#"
[[tenants]]
id = "{TENANT_ID}"
domains = ["{DOMAIN}"]

[[tenants.apps]]
client_id = "{CLIENT_ID}"
display_name = "Mailkey"
secret = "Qx38Q~Lm4Nv7Rt2Wb9Kd1Hs6Gf3Jp8Zc5Yx0Ua7E"
secret_id = "c2b9e7f4-5a1d-4c3e-8b6f-9d0a2e4c7b15"
secret_expires = "2099-12-31"
redirect_uris = ["{{public_url}}/oauth/callback"]

[[tenants.users]]
username = "{MAILBOX}"
display_name = "Invoices"

[[tenants.users]]
username = "{MICROSOFT_NAMES}"
display_name = "Reception"

[[tenants.users]]
username = "{SHARED}"
display_name = "Shared"
"#
    )
}

pub(crate) struct Env {
    pub(crate) server: TestServer,
    pub(crate) mail: MailServers,
    _ca: TestCa,
    _files: tempfile::TempDir,
}

pub(crate) async fn start() -> Env {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("sandbox.toml");
    std::fs::write(&path, sandbox_file()).unwrap();
    let ca = TestCa::new();
    let ca_file = ca.ca_file.clone();
    let server = TestServer::start_with(|c| {
        c.sandbox = true;
        c.sandbox_file = Some(path.clone());
        c.tls_ca_file = Some(ca_file);
        c.allow_private_hosts = true;
        c.mail_hosts = vec!["localhost".into()];
        c.mail_ports = mailkey::mail_test::MailPorts::Any;
    })
    .await;
    let introspect = server.url(&format!("/sandbox/{TENANT_ID}/oauth2/v2.0/introspect"));
    let ca = tokio::task::spawn_blocking(move || {
        let mail = MailServers::start_with_owners(
            &ca,
            &introspect,
            DOMAIN,
            &[MAILBOX, SHARED],
            &[MICROSOFT_NAMES],
            &[(SHARED, "boss@contoso.test")],
        );
        (ca, mail)
    })
    .await
    .unwrap();
    let (ca, mail) = ca;
    Env {
        server,
        mail,
        _ca: ca,
        _files: files,
    }
}

impl Env {
    /// An account of the portal whose mailbox is on these mail servers, signed in.
    pub(crate) async fn signed_in_account(&self, op: &Operator) -> String {
        let created = op
            .call("accounts/create", &[("provider", "microsoft365-sandbox")])
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        self.sign_in(op, &id).await;
        id
    }

    /// The wizard finished for `id` (on the test mail servers), and the mailbox signed in.
    pub(crate) async fn sign_in(&self, op: &Operator, id: &str) {
        let smtp_port = self.mail.smtp_port.to_string();
        let imap_port = self.mail.imaps_port.to_string();
        op.finish_wizard(
            id,
            CLIENT_ID,
            SECRET,
            MAILBOX,
            &[
                ("smtp_host", "localhost"),
                ("smtp_port", &smtp_port),
                ("imap_host", "localhost"),
                ("imap_port", &imap_port),
            ],
        )
        .await;
        let url = op.start(id, "sign-in?mode=redirect").await;
        let back = authorize(&url, MAILBOX, "accept").await;
        assert_eq!(op.get(&back).await.status(), 303);
    }

    /// An access token the sandbox issued for `user`, valid for `lifetime` seconds.
    fn token(&self, user: &str, lifetime: i64) -> String {
        let sandbox = self.server.state.sandbox.clone().unwrap();
        let session = Session {
            tenant_id: TENANT_ID.into(),
            client_id: CLIENT_ID.into(),
            username: user.into(),
            scopes: parse_scopes(
                "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send",
            )
            .unwrap(),
        };
        sandbox.grants.mint_access_token(&session, "test", lifetime)
    }

    fn plan(&self, mailbox: &str) -> Plan {
        Plan {
            mailbox: mailbox.into(),
            smtp: Endpoint {
                host: "localhost".into(),
                port: self.mail.smtp_port,
                security: Security::StartTls,
            },
            protocol: Protocol::Imap,
            read: Endpoint {
                host: "localhost".into(),
                port: self.mail.imaps_port,
                security: Security::Tls,
            },
            root_folder: "INBOX".into(),
            timeout: Duration::from_secs(20),
        }
    }

    /// As `plan`, reading over POP3 on the port that speaks it with `security`.
    fn pop_plan(&self, mailbox: &str, security: Security) -> Plan {
        let port = match security {
            Security::Tls => self.mail.pop3s_port,
            Security::StartTls => self.mail.pop3_port,
        };
        Plan {
            protocol: Protocol::Pop,
            read: Endpoint {
                host: "localhost".into(),
                port,
                security,
            },
            ..self.plan(mailbox)
        }
    }

    fn tester(&self) -> MailTester {
        MailTester::new(
            ["localhost".to_string(), "nowhere.invalid".to_string()],
            true,
            MailPorts::Any,
            Some(&self.mail.ca_file),
        )
        .unwrap()
    }

    async fn run(&self, plan: &Plan, token: &str) -> TestReport {
        let token = token.to_string();
        self.tester()
            .run(plan, async move { Ok(token) }, None)
            .await
    }
}

fn failed_at(r: &TestReport) -> StageId {
    r.stages
        .iter()
        .find(|s| s.status == StageStatus::Failed)
        .map(|s| s.stage)
        .unwrap_or_else(|| panic!("nothing failed: {r:?}"))
}

fn title(r: &TestReport) -> &str {
    &r.diagnosis.as_ref().expect("a diagnosis").title
}

#[tokio::test]
async fn the_mailbox_sends_and_receives_and_its_folders_are_listed() {
    let env = start().await;
    // A message the user marked deleted but has not expunged yet: the test must not expunge it.
    env.mail.put_in_inbox(
        MAILBOX,
        "1700000000.M1P1.mailkey-test:2,T",
        "From: a@contoso.test\r\nMessage-ID: <kept@contoso.test>\r\nSubject: keep\r\n\r\nkeep\r\n",
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let token = env.token(MAILBOX, 3600);
    let report = env
        .tester()
        .run(&env.plan(MAILBOX), async move { Ok(token) }, Some(tx))
        .await;
    assert!(report.ok, "{report:#?}\n{}", env.mail.logs());
    assert!(report
        .stages
        .iter()
        .all(|s| s.status == StageStatus::Passed));
    // Received (the stage proves it), then deleted: the INBOX keeps nothing of the test.
    let id = report.message_id.clone().unwrap();
    let receive = report
        .stages
        .iter()
        .find(|s| s.stage == StageId::ImapReceive)
        .unwrap();
    assert_eq!(
        receive.detail.as_deref(),
        Some("found in INBOX, then deleted it"),
        "{receive:?}"
    );
    let inbox = env.mail.inbox_messages(MAILBOX);
    assert!(
        !inbox
            .iter()
            .any(|m| m.contains(&format!("Message-ID: {id}"))),
        "the test message is gone from the Maildir: {inbox:?}"
    );
    assert!(
        inbox
            .iter()
            .any(|m| m.contains("Message-ID: <kept@contoso.test>")),
        "only the test message was expunged, not one the user had marked deleted: {inbox:?}"
    );
    let special: Vec<_> = report
        .folders
        .iter()
        .filter_map(|f| f.special_use.as_deref().map(|u| (f.name.as_str(), u)))
        .collect();
    for pair in [
        ("Sent", "Sent"),
        ("Drafts", "Drafts"),
        ("Trash", "Trash"),
        ("Junk", "Junk"),
        ("Archive", "Archive"),
    ] {
        assert!(special.contains(&pair), "{pair:?} in {special:?}");
    }
    // Every stage was streamed as it started and as it ended.
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    assert_eq!(events.len(), 2 * report.stages.len(), "{events:?}");

    // Microsoft's folder names are found by their SPECIAL-USE flags.
    let report = env
        .run(
            &env.plan(MICROSOFT_NAMES),
            &env.token(MICROSOFT_NAMES, 3600),
        )
        .await;
    assert!(report.ok, "{report:#?}");
    let sent = report
        .folders
        .iter()
        .find(|f| f.special_use.as_deref() == Some("Sent"))
        .unwrap();
    assert_eq!(sent.name, "Sent Items");
    let trash = report
        .folders
        .iter()
        .find(|f| f.special_use.as_deref() == Some("Trash"))
        .unwrap();
    assert_eq!(trash.name, "Deleted Items");
}

#[tokio::test]
async fn refused_tokens_are_diagnosed() {
    let env = start().await;
    let plan = env.plan(MAILBOX);
    for (why, token) in [
        ("forged", "not-a-token".to_string()),
        ("expired", env.token(MAILBOX, -60)),
        ("another user's", env.token(MICROSOFT_NAMES, 3600)),
    ] {
        let r = env.run(&plan, &token).await;
        assert!(!r.ok, "{why}");
        assert_eq!(failed_at(&r), StageId::SmtpAuth, "{why}: {r:#?}");
        assert_eq!(title(&r), "SMTP refused the access token", "{why}");
        // Hosts and webhooks get a stable code next to the words.
        assert!(
            r.diagnosis.as_ref().unwrap().code.starts_with("smtp_535"),
            "{why}: {:?}",
            r.diagnosis
        );
        assert!(r
            .diagnosis
            .as_ref()
            .unwrap()
            .reply
            .as_deref()
            .unwrap()
            .starts_with("535"));
        let imap = r
            .stages
            .iter()
            .find(|s| s.stage == StageId::ImapAuth)
            .unwrap();
        assert_eq!(
            imap.status,
            StageStatus::Failed,
            "{why}: IMAP refuses it too"
        );
        // Each side's failure in its own words, and the IMAP server's reply as it wrote it.
        assert_eq!(r.also.len(), 1, "{why}: {r:#?}");
        assert_eq!(r.also[0].title, "IMAP refused the sign-in", "{why}");
        assert_eq!(r.also[0].code, "imap_auth_failed", "{why}");
        let reply = imap.detail.as_deref().unwrap_or_default();
        assert!(
            !reply.contains("info: Some") && !reply.contains("code: "),
            "{why}: {reply}"
        );
    }
    // No token at all (the account needs a sign-in).
    let r = env
        .tester()
        .run(&plan, async { Err(TokenTrouble::NotSignedIn) }, None)
        .await;
    assert_eq!(failed_at(&r), StageId::Token);
    assert_eq!(title(&r), "The mailbox is not signed in");
    assert_eq!(r.diagnosis.as_ref().unwrap().code, "token_not_signed_in");
    // Microsoft unreachable is not worded as a lost sign-in.
    let r = env
        .tester()
        .run(
            &plan,
            async { Err(TokenTrouble::Unavailable("Microsoft asked to wait".into())) },
            None,
        )
        .await;
    assert_eq!(
        title(&r),
        "Microsoft's sign-in service is unavailable for now"
    );
    assert!(!r.diagnosis.as_ref().unwrap().fix.contains("Sign in"));
    assert!(r
        .stages
        .iter()
        .filter(|s| s.stage != StageId::Token)
        .all(|s| s.status == StageStatus::Skipped));
}

#[tokio::test]
async fn a_pop_mailbox_sends_and_receives_over_pop3() {
    let env = start().await;
    // Mail already in the mailbox: POP lists it too, and the test leaves it alone.
    env.mail.put_in_inbox(
        MAILBOX,
        "1700000000.M1P1.mailkey-test:2,S",
        "From: a@contoso.test\r\nMessage-ID: <kept@contoso.test>\r\nSubject: keep\r\n\r\nkeep\r\n",
    );
    for security in [Security::Tls, Security::StartTls] {
        let plan = env.pop_plan(MAILBOX, security);
        let r = env.run(&plan, &env.token(MAILBOX, 3600)).await;
        assert!(r.ok, "{security:?}: {r:#?}\n{}", env.mail.logs());
        let names: Vec<&str> = r.stages.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(
            names,
            [
                "token",
                "smtp_resolve",
                "smtp_connect",
                "smtp_tls",
                "smtp_auth",
                "smtp_send",
                "pop_resolve",
                "pop_connect",
                "pop_tls",
                "pop_auth",
                "pop_receive"
            ],
            "a POP test has POP stages, no IMAP ones"
        );
        assert!(r.stages.iter().all(|s| s.status == StageStatus::Passed));
        let receive = r.stages.last().unwrap();
        assert_eq!(
            receive.detail.as_deref(),
            Some("found in INBOX, then deleted it")
        );
        assert_eq!(r.proposed_mapping, None, "POP has no folders to map");
        let id = r.message_id.clone().unwrap();
        let inbox = env.mail.inbox_messages(MAILBOX);
        assert!(
            !inbox
                .iter()
                .any(|m| m.contains(&format!("Message-ID: {id}"))),
            "the test message is gone: {inbox:?}"
        );
        assert!(
            inbox.iter().any(|m| m.contains("<kept@contoso.test>")),
            "the user's mail stays: {inbox:?}"
        );
    }
    // Another user's token: POP refuses it in its own words, next to SMTP's.
    let r = env
        .run(
            &env.pop_plan(MAILBOX, Security::Tls),
            &env.token(MICROSOFT_NAMES, 3600),
        )
        .await;
    assert_eq!(failed_at(&r), StageId::SmtpAuth, "{r:#?}");
    let pop = r
        .stages
        .iter()
        .find(|s| s.stage == StageId::PopAuth)
        .unwrap();
    assert_eq!(pop.status, StageStatus::Failed, "{r:#?}");
    assert_eq!(r.also.len(), 1, "{r:#?}");
    assert_eq!(r.also[0].title, "POP refused the sign-in");
    assert_eq!(r.also[0].code, "pop_auth_failed");
    assert!(r.also[0].fix.contains("PopEnabled"), "{:?}", r.also[0]);
    // An IMAP port given as the POP server: named as the mix-up it is.
    let mut plan = env.pop_plan(MAILBOX, Security::Tls);
    plan.read.port = env.mail.imaps_port;
    let r = env.run(&plan, &env.token(MAILBOX, 3600)).await;
    assert_eq!(failed_at(&r), StageId::PopTls, "{r:#?}");
    assert!(title(&r).contains("IMAP"), "{:?}", r.diagnosis);
}

#[tokio::test]
async fn server_side_refusals_are_diagnosed() {
    let env = start().await;
    let token = env.token(MAILBOX, 3600);

    // SMTP AUTH turned off on the server.
    let mut plan = env.plan(MAILBOX);
    plan.smtp.port = env.mail.smtp_no_auth_port;
    let r = env.run(&plan, &token).await;
    assert_eq!(
        (failed_at(&r), title(&r)),
        (StageId::SmtpAuth, "SMTP AUTH is turned off")
    );

    // Signed in, but not allowed to send as this address.
    let r = env.run(&env.plan(SHARED), &env.token(SHARED, 3600)).await;
    assert_eq!(failed_at(&r), StageId::SmtpSend, "{r:#?}");
    assert_eq!(title(&r), "Not allowed to send as this address");
    assert!(r
        .diagnosis
        .as_ref()
        .unwrap()
        .reply
        .as_deref()
        .unwrap()
        .starts_with("553"));

    // Watching a folder the message never reaches (it lands in INBOX): not received in time.
    let mut plan = env.plan(MAILBOX);
    plan.root_folder = "Archive".into();
    plan.timeout = Duration::from_secs(3);
    let r = env.run(&plan, &token).await;
    assert_eq!(
        (failed_at(&r), title(&r)),
        (StageId::ImapReceive, "The test message did not arrive")
    );

    // A root folder the mailbox does not have.
    let mut plan = env.plan(MAILBOX);
    plan.root_folder = "Invoices".into();
    let r = env.run(&plan, &token).await;
    assert_eq!(
        (failed_at(&r), title(&r)),
        (StageId::ImapSelect, "The root folder does not exist")
    );
}

#[tokio::test]
async fn network_and_tls_mistakes_are_diagnosed() {
    let env = start().await;
    let token = env.token(MAILBOX, 3600);

    // Implicit TLS on the STARTTLS port, and STARTTLS on the implicit-TLS port.
    let mut plan = env.plan(MAILBOX);
    plan.smtp.security = Security::Tls;
    let r = env.run(&plan, &token).await;
    assert_eq!(failed_at(&r), StageId::SmtpTls, "{r:#?}");
    assert_eq!(title(&r), "The encryption setting does not match the port");
    let mut plan = env.plan(MAILBOX);
    plan.read.security = Security::StartTls;
    plan.timeout = Duration::from_secs(8);
    let r = env.run(&plan, &token).await;
    assert_eq!(failed_at(&r), StageId::ImapTls, "{r:#?}");
    assert_eq!(title(&r), "The encryption setting does not match the port");

    // A certificate no trusted CA signed (the test CA left out).
    let untrusted = MailTester::new(["localhost".to_string()], true, MailPorts::Any, None).unwrap();
    let t = token.clone();
    let r = untrusted
        .run(&env.plan(MAILBOX), async move { Ok(t) }, None)
        .await;
    assert_eq!(failed_at(&r), StageId::SmtpTls, "{r:#?}");
    assert_eq!(title(&r), "The server's certificate is not trusted");
    assert_eq!(r.diagnosis.as_ref().unwrap().code, "tls_untrusted");

    // A name that does not resolve, and a stopped server.
    let mut plan = env.plan(MAILBOX);
    plan.smtp.host = "nowhere.invalid".into();
    let r = env.run(&plan, &token).await;
    assert_eq!(
        (failed_at(&r), title(&r)),
        (StageId::SmtpResolve, "The server name does not exist")
    );
    env.mail.stop_dovecot();
    let r = env.run(&env.plan(MAILBOX), &token).await;
    let failed = failed_at(&r);
    assert!(
        matches!(failed, StageId::ImapConnect | StageId::SmtpAuth),
        "{r:#?}"
    );
}

#[tokio::test]
async fn private_addresses_are_refused_before_any_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let guarded = MailTester::new(
        ["localhost".to_string(), "127.0.0.1".to_string()],
        false,
        MailPorts::Any,
        None,
    )
    .unwrap();
    let plan = Plan {
        mailbox: MAILBOX.into(),
        smtp: Endpoint {
            host: "127.0.0.1".into(),
            port,
            security: Security::StartTls,
        },
        protocol: Protocol::Imap,
        read: Endpoint {
            host: "localhost".into(),
            port,
            security: Security::Tls,
        },
        root_folder: "INBOX".into(),
        timeout: Duration::from_secs(5),
    };
    let r = guarded
        .run(&plan, async { Ok("t".to_string()) }, None)
        .await;
    assert_eq!(failed_at(&r), StageId::SmtpResolve);
    assert_eq!(title(&r), "This server is on a private network");
    // Neither SMTP nor IMAP reached the listener.
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(
        accepted.is_err(),
        "a connection reached the loopback listener"
    );
    // A host not on the list is refused by name.
    let mut plan = plan;
    plan.smtp.host = "intranet.example".into();
    let r = guarded
        .run(&plan, async { Ok("t".to_string()) }, None)
        .await;
    assert_eq!(title(&r), "This server is not allowed");
}

/// A POP account as the wizard saves it (protocol, POP server in the incoming fields, the POP
/// scope) is tested over POP3 once signed in.
#[tokio::test]
async fn a_pop_account_from_the_wizard_is_tested_over_pop3() {
    let env = start().await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let smtp_port = env.mail.smtp_port.to_string();
    let pop_port = env.mail.pop3s_port.to_string();
    let scopes = mailkey_app::provider::MICROSOFT_365_SANDBOX.default_scopes(Protocol::Pop);
    let id = op
        .account_with(
            CLIENT_ID,
            SECRET,
            MAILBOX,
            &[
                ("smtp_host", "localhost"),
                ("smtp_port", &smtp_port),
                ("protocol", "pop"),
                ("imap_host", "localhost"),
                ("imap_port", &pop_port),
                ("imap_security", "tls"),
                ("scopes", &scopes),
            ],
        )
        .await;
    // Before signing in, the checklist asks for POP, not IMAP.
    let status = op.connection(&id).await;
    let keys: Vec<&str> = status["prerequisites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["user-mailbox", "smtp-auth", "pop"], "{status}");
    let url = op.start(&id, "sign-in?mode=redirect").await;
    let back = authorize(&url, MAILBOX, "accept").await;
    assert_eq!(op.get(&back).await.status(), 303);
    let (_, report) = s.state.connection_tests.run(&id, None).await.unwrap();
    assert!(report.ok, "{report:#?}\n{}", env.mail.logs());
    assert!(report
        .stages
        .iter()
        .any(|st| st.stage == StageId::PopReceive));
    assert!(!report
        .stages
        .iter()
        .any(|st| st.stage == StageId::ImapReceive));
}

/// Through the portal: an account on the sandbox with the local servers, signed in, tested in
/// the server (history kept) and with `mailkey test` from a terminal.
#[tokio::test]
async fn a_signed_in_account_is_tested_in_the_portal_and_from_the_terminal() {
    let env = start().await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = env.signed_in_account(&op).await;
    let smtp_port = env.mail.smtp_port.to_string();
    let imap_port = env.mail.imaps_port.to_string();

    // Counted for the metrics (the process's counters: compared before and after).
    let scrape = mailkey::metrics::Scrape::new(s.state.store.clone());
    let passed = |text: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(
                    "mailkey_connection_tests_total{outcome=\"passed\",failed_stage=\"none\"} ",
                )
            })
            .map_or(0.0, |v| v.parse::<f64>().unwrap())
    };
    let before = passed(&scrape.render().await);
    let (run, report) = s.state.connection_tests.run(&id, None).await.unwrap();
    assert!(report.ok, "{report:#?}");
    let counted = scrape.render().await;
    assert_eq!(passed(&counted) - before, 1.0, "{counted}");
    let history = s.state.store.tests(&id, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, run);
    assert!(history[0].ok, "kept as passed");

    // From the portal: started by a POST, watched as server-sent events until the report.
    let res = TestServer::client()
        .post(s.url(&format!("/accounts/{id}/tests")))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let started: serde_json::Value = res.json().await.unwrap();
    let events_path = started["events"].as_str().unwrap().to_string();
    let other = Operator::new(s).await;
    assert_eq!(
        other.get(&events_path).await.status(),
        404,
        "another session cannot watch it"
    );
    let mut stream = op.get(&events_path).await;
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("event: report") && text.ends_with("\n\n") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the run ends");
    assert_eq!(text.matches("event: stage").count(), 26, "{text}");
    let report_line = text
        .lines()
        .skip_while(|l| *l != "event: report")
        .nth(1)
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(report_line.trim_start_matches("data: ")).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let (status, history) = {
        let res = op.get(&format!("/api/v1/accounts/{id}/tests")).await;
        (res.status(), res.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(history["tests"].as_array().unwrap().len(), 2, "{history}");
    assert!(
        !history.to_string().contains("eyJ"),
        "no token in the history"
    );

    // Without the wasm, the Test button is a form post: it waits for the run and goes back to
    // the account's page it came from, or to the account page for any other Referer.
    let form_post = |referer: String| {
        TestServer::client()
            .post(s.url(&format!("/accounts/{id}/tests")))
            .header("cookie", &op.cookie)
            .header("origin", &s.base)
            .header("accept", "text/html,application/xhtml+xml")
            .header("referer", referer)
            .send()
    };
    let res = form_post(s.url(&format!("/accounts/{id}/setup/5")))
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/accounts/{id}/setup/5#connection-test").as_str()
    );
    let res = form_post(format!("https://elsewhere.example/accounts/{id}"))
        .await
        .unwrap();
    assert_eq!(
        res.headers()["location"],
        format!("/accounts/{id}#connection-test").as_str(),
        "never back to another site"
    );
    assert_eq!(
        s.state.store.tests(&id, 10).await.unwrap().len(),
        4,
        "both runs finished before the answer"
    );
    // The pages show the latest run in full and the earlier ones in a line each.
    let overview: serde_json::Value = TestServer::client()
        .post(s.url("/_fn/accounts/connection-test"))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .header("accept", "application/json")
        .form(&[("id", id.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(overview["latest"][1]["ok"], true, "{overview}");
    assert_eq!(
        overview["earlier"].as_array().unwrap().len(),
        3,
        "{overview}"
    );
    assert_eq!(overview["earlier"][0]["ok"], true);

    // Folder mapping: proposed from the test, refused for a folder the mailbox lacks, saved.
    let folders: serde_json::Value = op
        .get(&format!("/api/v1/accounts/{id}/folders"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(folders["saved"], false);
    assert_eq!(folders["mapping"]["sent"], "Sent", "{folders}");
    assert_eq!(folders["mapping"]["inbox"], "INBOX");
    let put = |body: serde_json::Value| {
        TestServer::client()
            .put(s.url(&format!("/api/v1/accounts/{id}/folders")))
            .header("cookie", &op.cookie)
            .header("origin", &s.base)
            .json(&body)
            .send()
    };
    let mut wrong = folders["mapping"].clone();
    wrong["sent"] = "Sent Items".into();
    let res = put(wrong).await.unwrap();
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["fields"][0]["field"], "sent", "{body}");
    assert!(body["error"]["fields"][0]["message"]
        .as_str()
        .unwrap()
        .contains("no folder \"Sent Items\""));
    // The wizard's folder form is plain HTML: a refusal sends it back to itself, saying so.
    let res = TestServer::client()
        .post(s.url("/_fn/accounts/folders"))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .header("accept", "text/html")
        .form(&[
            ("id", id.as_str()),
            ("inbox", "INBOX"),
            ("sent", "Sent Items"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(
        res.headers()["location"],
        format!("/accounts/{id}?folders=not_saved#folders").as_str()
    );
    let unchanged: serde_json::Value = op
        .get(&format!("/api/v1/accounts/{id}/folders"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged["saved"], false, "nothing saved");
    let res = put(folders["mapping"].clone()).await.unwrap();
    assert_eq!(res.status(), 200);
    let again: serde_json::Value = op
        .get(&format!("/api/v1/accounts/{id}/folders"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["saved"], true);
    assert_eq!(again["mapping"], folders["mapping"]);

    // Settings changed after the run ("Change it"): the run is said to be of earlier settings.
    let overview = op.call("accounts/connection-test", &[("id", &id)]).await;
    assert_eq!(overview["latest_stale"], false, "{overview}");
    op.save_mailbox(
        &id,
        MAILBOX,
        &[
            ("smtp_host", "localhost"),
            ("smtp_port", &smtp_port),
            ("imap_host", "localhost"),
            ("imap_port", &imap_port),
            ("root_folder", "Archive"),
        ],
    )
    .await;
    let overview = op.call("accounts/connection-test", &[("id", &id)]).await;
    assert_eq!(overview["latest_stale"], true, "{overview}");
    let page = op
        .get(&format!("/accounts/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("This run was made before the settings were last changed"),
        "{page}"
    );
    op.save_mailbox(
        &id,
        MAILBOX,
        &[
            ("smtp_host", "localhost"),
            ("smtp_port", &smtp_port),
            ("imap_host", "localhost"),
            ("imap_port", &imap_port),
        ],
    )
    .await;

    // The same test from a terminal, against the same data directory and running server.
    let cli = |account: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mailkey"));
        cmd.arg("test")
            .arg(account)
            .envs(support::database_setting(&s.database_url))
            .env("MAILKEY_DATA_DIR", s.data_dir.path())
            .env("MAILKEY_PUBLIC_URL", &s.base)
            .env("MAILKEY_SANDBOX", "1")
            .env(
                "MAILKEY_SANDBOX_FILE",
                env._files.path().join("sandbox.toml"),
            )
            .env("MAILKEY_TLS_CA_FILE", &env.mail.ca_file)
            .env("MAILKEY_ALLOW_PRIVATE_HOSTS", "1")
            .env("MAILKEY_MAIL_HOSTS", "localhost")
            .env("MAILKEY_MAIL_PORTS", "any");
        cmd
    };
    let mut cmd = cli(&id);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("ok   Send a test message to the mailbox"),
        "{text}"
    );
    assert!(text.contains("The mailbox can send and receive."), "{text}");
    // By its e-mail address or its name too, as the README says `<account>`.
    for term in [MAILBOX, "invoices"] {
        let mut cmd = cli(term);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{term}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut cmd = cli("no-such-account");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no account has the ID, name or e-mail address \"no-such-account\""),
        "{err}"
    );
    // A name two accounts share is refused with both.
    op.account(
        CLIENT_ID,
        "Qx38Q~Lm4Nv7Rt2Wb9Kd1Hs6Gf3Jp8Zc5Yx0Ua7E",
        "orders@contoso.test",
    )
    .await;
    let mut cmd = cli("Invoices");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"Invoices\" names 2 accounts"), "{err}");
    assert!(err.contains(&id), "{err}");
    // `mailkey accounts` lists them.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailkey"))
        .arg("accounts")
        .envs(support::database_setting(&s.database_url))
        .env("MAILKEY_DATA_DIR", s.data_dir.path())
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        list.contains(&id) && list.contains(MAILBOX) && list.contains("Connected"),
        "{list}"
    );
    assert!(list.contains("orders@contoso.test"), "{list}");
}

/// When Dovecot cannot reach the token check, IMAP answers `[UNAVAILABLE]` and Postfix a plain
/// 535: the test explains the temporary failure (the token may be fine), as it does Exchange's
/// 454 when its sign-in service is briefly down.
#[tokio::test]
async fn an_unreachable_token_check_is_a_temporary_failure() {
    let mut env = start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let introspect = format!("http://127.0.0.1:{closed}/introspect");
    let (ca, mail) = tokio::task::spawn_blocking(move || {
        let ca = TestCa::new();
        let mail = MailServers::start(&ca, &introspect, DOMAIN, &[MAILBOX], &[]);
        (ca, mail)
    })
    .await
    .unwrap();
    env.mail = mail;
    env._ca = ca;
    let r = env.run(&env.plan(MAILBOX), &env.token(MAILBOX, 3600)).await;
    assert!(!r.ok);
    assert_eq!(failed_at(&r), StageId::SmtpAuth, "both sign-ins failed");
    assert_eq!(title(&r), "Temporary failure", "{r:#?}");
    let reply = r.diagnosis.as_ref().unwrap().reply.clone().unwrap();
    assert!(reply.contains("[UNAVAILABLE]"), "{reply}");
    let imap = r
        .stages
        .iter()
        .find(|s| s.stage == StageId::ImapAuth)
        .unwrap();
    assert_eq!(imap.status, StageStatus::Failed);
}

/// A Dovecot set up from Dovecot's own documentation, not by this harness: its oauth2 passdb
/// reads the user from the introspection answer's `email` (its default), which the sandbox
/// must therefore carry.
#[tokio::test]
async fn a_stock_dovecot_accepts_the_sandboxs_tokens() {
    let mut env = start().await;
    let introspect = env
        .server
        .url(&format!("/sandbox/{TENANT_ID}/oauth2/v2.0/introspect"));
    let (ca, mail) = tokio::task::spawn_blocking(move || {
        let ca = TestCa::new();
        let mail = MailServers::start_stock(&ca, &introspect, DOMAIN, &[MAILBOX]);
        (ca, mail)
    })
    .await
    .unwrap();
    env.mail = mail;
    env._ca = ca;
    let r = env.run(&env.plan(MAILBOX), &env.token(MAILBOX, 3600)).await;
    assert!(r.ok, "{r:#?}\n{}", env.mail.logs());
    let r = env.run(&env.plan(MAILBOX), &env.token(MAILBOX, -60)).await;
    assert!(!r.ok, "an expired token is refused: {r:#?}");
}

/// "Wait a minute and test again" helps once: the second test in a row with the same temporary
/// failure says it is not brief and points at the token check.
#[tokio::test]
async fn a_temporary_failure_that_repeats_is_not_called_temporary() {
    let mut env = start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let introspect = format!("http://127.0.0.1:{closed}/introspect");
    // The same CA the server trusts, for mail servers whose token check cannot be reached.
    let ca = std::mem::replace(&mut env._ca, TestCa::new());
    let (ca, mail) = tokio::task::spawn_blocking(move || {
        let mail = MailServers::start(&ca, &introspect, DOMAIN, &[MAILBOX], &[]);
        (ca, mail)
    })
    .await
    .unwrap();
    env.mail = mail;
    env._ca = ca;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = env.signed_in_account(&op).await;

    let (_, first) = s.state.connection_tests.run(&id, None).await.unwrap();
    assert_eq!(title(&first), "Temporary failure", "{first:#?}");
    let (_, second) = s.state.connection_tests.run(&id, None).await.unwrap();
    assert_eq!(
        title(&second),
        "The sign-in check keeps failing",
        "{second:#?}"
    );
    let d = second.diagnosis.unwrap();
    assert!(!d.fix.contains("Wait a minute"), "{d:?}");
    assert!(d.reply.unwrap().contains("[UNAVAILABLE]"));
    // Each failed run is an account.connection_test_failed event, recorded with the run.
    let codes: Vec<(String, String)> = sqlx::query_as(
        "SELECT account_id, reason_code FROM webhook_events \
         WHERE event_type = 'account.connection_test_failed'",
    )
    .fetch_all(&support::contoso::db(s).await)
    .await
    .unwrap();
    assert_eq!(codes.len(), 2, "{codes:?}");
    assert!(codes.iter().all(|(a, _)| *a == id), "{codes:?}");
    // (Both may fall in one second: which came first is not asked of the database.)
    assert!(
        codes.iter().any(|(_, c)| c == "token_check_failing"),
        "{codes:?}"
    );
}

/// The ports swapped, as people do: the server that answers is named, and silence is noticed in
/// seconds (it used to take the stage's 20 s, then advise something that did not help).
#[tokio::test]
async fn a_swapped_port_is_named_and_silence_is_noticed_in_seconds() {
    let env = start().await;
    let token = env.token(MAILBOX, 3600);
    let smtp_at = |port: u16, security: Security| {
        let mut plan = env.plan(MAILBOX);
        plan.smtp.port = port;
        plan.smtp.security = security;
        plan
    };
    // SMTP on IMAP's plain port, and on its implicit-TLS port with TLS.
    for plan in [
        smtp_at(env.mail.imap_port, Security::StartTls),
        smtp_at(env.mail.imaps_port, Security::Tls),
    ] {
        let r = env.run(&plan, &token).await;
        assert_eq!(failed_at(&r), StageId::SmtpTls, "{r:#?}");
        assert_eq!(title(&r), "This is an IMAP port", "{r:#?}");
        let fix = &r.diagnosis.as_ref().unwrap().fix;
        assert!(fix.contains("SMTP is on port 587"), "{fix}");
    }
    // SMTP with STARTTLS on the implicit-TLS port: the server waits for a handshake.
    let started = std::time::Instant::now();
    let r = env
        .run(&smtp_at(env.mail.imaps_port, Security::StartTls), &token)
        .await;
    assert_eq!(failed_at(&r), StageId::SmtpTls, "{r:#?}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "silence noticed within seconds: {:?}",
        started.elapsed()
    );
    // IMAP on SMTP's port.
    let mut plan = env.plan(MAILBOX);
    plan.read.port = env.mail.smtp_port;
    plan.read.security = Security::StartTls;
    let r = env.run(&plan, &token).await;
    let imap_tls = r
        .stages
        .iter()
        .find(|s| s.stage == StageId::ImapTls)
        .unwrap();
    assert_eq!(imap_tls.status, StageStatus::Failed, "{r:#?}");
    assert_eq!(title(&r), "This is an SMTP port", "{r:#?}");
}

/// The contract from the host's side: a token from `/api/v1` and a mail client that is not
/// Mailkey's (Python's smtplib and imaplib) send a message and find it, against the real
/// Postfix and Dovecot.
#[tokio::test]
async fn a_host_sends_and_reads_mail_with_a_token_from_the_api_in_python() {
    let env = start().await;
    let s = &env.server;
    let (_, key) = s
        .state
        .api_keys
        .create("Host test", &mailkey::api_keys::Scope::ALL)
        .await
        .unwrap();
    let host = |method: reqwest::Method, path: &str| {
        TestServer::client()
            .request(method, s.url(path))
            .header("authorization", format!("Bearer {}", key.expose()))
    };
    // The host's backend: its customer, and the customer's mailbox account.
    let org = host(reqwest::Method::POST, "/api/v1/organisations")
        .json(&serde_json::json!({"external_id": "cust-1", "name": "Contoso"}))
        .send()
        .await
        .unwrap();
    assert_eq!(org.status(), 201);
    let made: serde_json::Value = host(reqwest::Method::POST, "/api/v1/accounts")
        .json(
            &serde_json::json!({"organisation_external_id": "cust-1", "external_id": "invoices",
                                  "provider": "microsoft365-sandbox", "app": "own",
                                  "email": MAILBOX}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = made["account"]["id"].as_str().unwrap().to_string();
    // The customer's admin connects it (the wizard, today in the portal).
    let op = Operator::new(s).await;
    env.sign_in(&op, &id).await;

    let answer: serde_json::Value = host(
        reqwest::Method::POST,
        &format!("/api/v1/accounts/{id}/access-token"),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let script = r#"
import base64, imaplib, os, smtplib, ssl, time, uuid
user, token = os.environ["MK_USER"], os.environ["MK_TOKEN"]
ctx = ssl.create_default_context(cafile=os.environ["MK_CA"])
auth = f"user={user}\x01auth=Bearer {token}\x01\x01"
mid = f"<{uuid.uuid4()}@host.example>"
smtp = smtplib.SMTP(os.environ["MK_SMTP_HOST"], int(os.environ["MK_SMTP_PORT"]), timeout=20)
smtp.starttls(context=ctx)
smtp.ehlo()
code, reply = smtp.docmd("AUTH", "XOAUTH2 " + base64.b64encode(auth.encode()).decode())
assert code == 235, (code, reply)
smtp.sendmail(user, [user], f"From: {user}\r\nTo: {user}\r\nSubject: from the host\r\nMessage-ID: {mid}\r\n\r\nhello\r\n")
smtp.quit()
imap = imaplib.IMAP4_SSL(os.environ["MK_IMAP_HOST"], int(os.environ["MK_IMAP_PORT"]), ssl_context=ctx)
imap.authenticate("XOAUTH2", lambda _: auth.encode())
imap.select("INBOX")
for _ in range(100):
    typ, data = imap.search(None, "HEADER", "Message-ID", mid)
    if data[0]:
        print("received", mid)
        break
    time.sleep(0.1)
    imap.noop()
else:
    raise SystemExit("the message never arrived")
imap.logout()
"#;
    let servers = &answer["servers"];
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    cmd.arg("-c")
        .arg(script)
        .env("MK_USER", answer["xoauth2_user"].as_str().unwrap())
        .env("MK_TOKEN", answer["access_token"].as_str().unwrap())
        .env("MK_CA", &env.mail.ca_file)
        .env("MK_SMTP_HOST", servers["smtp"]["host"].as_str().unwrap())
        .env("MK_SMTP_PORT", servers["smtp"]["port"].to_string())
        .env(
            "MK_IMAP_HOST",
            servers["incoming"]["host"].as_str().unwrap(),
        )
        .env("MK_IMAP_PORT", servers["incoming"]["port"].to_string());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        env.mail.logs()
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("received"));
}
