//! The connection test's speed against the local Dovecot and Postfix, next to a minimal scripted
//! client (Python's smtplib + imaplib) doing the same protocol steps in the same run. The budget
//! (issue: "≤ 1.2× the minimal client") excludes the wait for delivery: for Mailkey, the time of
//! the "receive" stage is taken out; the script does not wait at all. Prints figures; run by
//! `cargo xtask bench` (as root, like the tests, for the mail servers).

#[path = "../tests/support/mod.rs"]
mod support;

use std::{process::Command, time::Instant};

use mailkey::{
    mail_test::{Endpoint, MailPorts, MailTester, Plan},
    sandbox::{parse_scopes, Session},
};
use mailkey_app::{
    mail_test::StageId,
    provider::{Protocol, Security},
};
use support::{
    mail_servers::{MailServers, TestCa},
    TestServer,
};

const RUNS: usize = 15;
const BUDGET: f64 = 1.2;

const CLIENT: &str = r#"
import base64, imaplib, smtplib, ssl, sys, time
host, smtp_port, imap_port, ca, user, token = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
auth = "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)
t = time.perf_counter()
s = smtplib.SMTP(host, int(smtp_port)); s.ehlo("bench"); s.starttls(context=ctx); s.ehlo("bench")
code, _ = s.docmd("AUTH", "XOAUTH2 " + base64.b64encode(auth.encode()).decode())
assert code == 235, code
s.sendmail(user, [user], "From: %s\r\nTo: %s\r\nSubject: bench\r\nMessage-ID: <b%f@bench>\r\n\r\nbench\r\n" % (user, user, t))
s.quit()
m = imaplib.IMAP4_SSL(host, int(imap_port), ssl_context=ctx)
m.authenticate("XOAUTH2", lambda _: auth.encode())
m.select("INBOX"); m.list(); m.logout()
print((time.perf_counter() - t) * 1000)
"#;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let tenant = "3f1d8a52-7c4e-4b9a-8e21-6d0c5f7a9b14";
    let client = "a7e4c1d9-2b6f-4e83-9c5a-1f0d8b3e6a72";
    let user = "bench@contoso.test";
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("sandbox.toml");
    std::fs::write(
        &path,
        format!(
            "[[tenants]]\nid = \"{tenant}\"\ndomains = [\"contoso.test\"]\n\n[[tenants.apps]]\n\
             client_id = \"{client}\"\ndisplay_name = \"Bench\"\n\
             secret = \"Qx38Q~Lm4Nv7Rt2Wb9Kd1Hs6Gf3Jp8Zc5Yx0Ua7E\"\n\
             secret_id = \"c2b9e7f4-5a1d-4c3e-8b6f-9d0a2e4c7b15\"\nsecret_expires = \"2099-12-31\"\n\
             redirect_uris = [\"{{public_url}}/oauth/callback\"]\n\n[[tenants.users]]\n\
             username = \"{user}\"\ndisplay_name = \"Bench\"\n"
        ),
    )
    .unwrap();
    let server = TestServer::start_with(|c| {
        c.sandbox = true;
        c.sandbox_file = Some(path.clone());
    })
    .await;
    let introspect = server.url(&format!("/sandbox/{tenant}/oauth2/v2.0/introspect"));
    let ca = TestCa::new();
    let mail = MailServers::start(&ca, &introspect, "contoso.test", &[user], &[]);
    let sandbox = server.state.sandbox.clone().unwrap();
    let token = sandbox.grants.mint_access_token(
        &Session {
            tenant_id: tenant.into(),
            client_id: client.into(),
            username: user.into(),
            scopes: parse_scopes(
                "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send",
            )
            .unwrap(),
        },
        "bench",
        3600,
    );
    let tester = MailTester::new(
        ["localhost".to_string()],
        true,
        MailPorts::Any,
        Some(&ca.ca_file),
    )
    .unwrap();
    let plan = Plan {
        mailbox: user.into(),
        smtp: Endpoint {
            host: "localhost".into(),
            port: mail.smtp_port,
            security: Security::StartTls,
        },
        protocol: Protocol::Imap,
        read: Endpoint {
            host: "localhost".into(),
            port: mail.imaps_port,
            security: Security::Tls,
        },
        root_folder: "INBOX".into(),
        timeout: std::time::Duration::from_secs(30),
    };

    let mut ours = Vec::new();
    let mut script = Vec::new();
    let mut per_stage = std::collections::BTreeMap::new();
    for round in 0..=RUNS {
        let t = token.clone();
        let started = Instant::now();
        let report = tester.run(&plan, async move { Ok(t) }, None).await;
        let total = started.elapsed().as_secs_f64() * 1000.0;
        assert!(report.ok, "the test failed: {:#?}", report.diagnosis);
        let wait = report
            .stages
            .iter()
            .find(|s| s.stage == StageId::ImapReceive)
            .map_or(0, |s| s.millis) as f64;
        let out = Command::new("python3")
            .args(["-c", CLIENT, "localhost"])
            .arg(mail.smtp_port.to_string())
            .arg(mail.imaps_port.to_string())
            .arg(&ca.ca_file)
            .args([user, token.as_str()])
            .output()
            .expect("python3 runs (cargo xtask bench installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        // The first round warms up both (TLS sessions, Dovecot's processes).
        if round > 0 {
            ours.push(total - wait);
            script.push(theirs);
            for st in &report.stages {
                per_stage
                    .entry(st.stage.label())
                    .or_insert_with(Vec::new)
                    .push(st.millis as f64);
            }
        }
    }
    let (a, b) = (median(ours), median(script));
    let ratio = a / b;
    println!("Connection test against local Dovecot + Postfix, median of {RUNS} runs, delivery wait excluded:");
    println!("  Mailkey (SMTP and IMAP side by side)   {a:8.1} ms");
    println!("  minimal Python client (sequential)     {b:8.1} ms");
    println!(
        "budget: {ratio:.2}x the minimal client, {BUDGET}x allowed -> {}",
        if ratio <= BUDGET {
            "within budget"
        } else {
            "OVER BUDGET"
        }
    );
    println!("Where Mailkey's time goes (median per stage; SMTP and IMAP overlap):");
    for (stage, millis) in per_stage {
        println!("  {stage:<40} {:6.1} ms", median(millis));
    }
    drop(mail);
    server.stop().await;
    // As the first-load benchmark: a budget that is not met fails the command.
    if ratio > BUDGET {
        std::process::exit(1);
    }
}
