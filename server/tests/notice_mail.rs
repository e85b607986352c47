//! Notice e-mails: an organisation's notice address hears, by e-mail sent through one of the
//! deployment's own connected mailboxes (real Postfix and Dovecot, tokens checked at the
//! sandbox), that a mailbox needs a person; without a sending mailbox the notice is recorded as
//! not sent and why. Bad settings are refused and change nothing.

use crate::support;

use std::time::Duration;

use mailkey::{storage::NoticeMailRecord, webhooks::notices::Notices};
use mailkey_app::{notice_mail::NoticeMailState, rules::dates::Day};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{
    host::{key, send},
    portal::{location, Operator},
    TestServer,
};

use crate::mail_test::{CLIENT_ID, MAILBOX, MICROSOFT_NAMES, SECRET, SHARED};

/// The settings section's form, posted as a browser without script posts it.
async fn save_settings(op: &Operator, sender: &str, own_address: &str) -> String {
    let res = TestServer::client()
        .post(op.url("/_fn/settings/notices/save"))
        .header("cookie", &op.cookie)
        .header("origin", &op.origin)
        .header("accept", "text/html")
        .form(&[("sender", sender), ("own_address", own_address)])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{:?}", res.text().await);
    location(&res)
}

/// A stored message as read: header lines unfolded, the quoted-printable body decoded.
fn readable(message: &str) -> String {
    let text = message.replace("\r\n", "\n").replace("\n ", " ");
    let text = text.replace("=\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits until no notice is pending, and answers them, newest first.
async fn settled(s: &TestServer, expected: usize) -> Vec<NoticeMailRecord> {
    let started = std::time::Instant::now();
    loop {
        let all = s.state.store.notice_mails(None, 50).await.unwrap();
        if all.len() >= expected && all.iter().all(|n| n.state != NoticeMailState::Pending) {
            return all;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "notices still pending: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_expiring_secret_is_e_mailed_to_the_organisation_from_a_connected_mailbox() {
    let env = crate::mail_test::start().await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let smtp_port = env.mail.smtp_port.to_string();
    let imap_port = env.mail.imaps_port.to_string();
    let servers = [
        ("smtp_host", "localhost"),
        ("smtp_port", smtp_port.as_str()),
        ("imap_host", "localhost"),
        ("imap_port", imap_port.as_str()),
    ];
    // The sender: a connected mailbox. The account in trouble: on its own app registration,
    // whose secret expires 2030-05-01 (never signed in: the notice needs no sign-in).
    let sender = env.signed_in_account(&op).await;
    let payroll = op.account_with(CLIENT_ID, SECRET, SHARED, &servers).await;

    // Refused values change nothing, and the page says which and how to fix it.
    let to = save_settings(&op, &sender, "it at contoso").await;
    assert_eq!(to, "/settings?notice_problem=own_address#notices");
    let page = op.get(&to).await.text().await.unwrap();
    assert!(
        page.contains("the notice address must be one e-mail address"),
        "{page}"
    );
    let to = save_settings(&op, &payroll, MICROSOFT_NAMES).await;
    assert_eq!(
        to, "/settings?notice_problem=sender#notices",
        "not connected"
    );
    assert_eq!(s.state.store.notice_sender().await.unwrap(), None);
    let own = s
        .state
        .store
        .organisation(mailkey::storage::DEFAULT_ORGANISATION, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(own.notice_email, None);

    // An address but no sending mailbox: the 7-day notices are kept as not sent, saying why.
    let to = save_settings(&op, "", MICROSOFT_NAMES).await;
    assert_eq!(to, "/settings?saved=notices#notices");
    let notices = Notices {
        store: s.state.store.clone(),
    };
    assert_eq!(
        notices
            .round(Day::parse("2030-04-24").unwrap())
            .await
            .unwrap(),
        2,
        "both accounts' secrets expire 2030-05-01"
    );
    let skipped = settled(s, 2).await;
    assert!(
        skipped.iter().all(|n| n.state == NoticeMailState::Skipped
            && n.last_error
                .as_deref()
                .unwrap()
                .contains("no mailbox is chosen")),
        "{skipped:#?}"
    );

    // With a sending mailbox, the 1-day notices are e-mailed from it.
    let to = save_settings(&op, &sender, MICROSOFT_NAMES).await;
    assert_eq!(to, "/settings?saved=notices#notices");
    assert_eq!(
        s.state.store.notice_sender().await.unwrap().as_deref(),
        Some(sender.as_str())
    );
    notices
        .round(Day::parse("2030-04-30").unwrap())
        .await
        .unwrap();
    let all = settled(s, 4).await;
    let sent: Vec<_> = all
        .iter()
        .filter(|n| n.state == NoticeMailState::Sent)
        .collect();
    assert_eq!(sent.len(), 2, "{all:#?}");
    assert!(sent.iter().all(|n| n.sender.as_deref() == Some(MAILBOX)));

    // It really arrived, through Postfix and Dovecot, in the notice address's mailbox.
    let subject =
        format!("Subject: {SHARED}: its app's client secret expires in 1 day (2030-05-01)");
    let started = std::time::Instant::now();
    let message = loop {
        let inbox: Vec<String> = env
            .mail
            .inbox_messages(MICROSOFT_NAMES)
            .iter()
            .map(|m| readable(m))
            .collect();
        if let Some(m) = inbox.iter().find(|m| m.contains(&subject)) {
            break m.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no notice arrived: {inbox:#?}\n{}",
            env.mail.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        message.contains(&format!("From: Mailkey <{MAILBOX}>")),
        "{message}"
    );
    assert!(
        message.contains("Auto-Submitted: auto-generated"),
        "{message}"
    );
    assert!(
        message.contains("before 2030-05-01, create a new client secret in Microsoft Entra"),
        "{message}"
    );
    assert!(
        message.contains(&format!("/accounts/{payroll}/renew-secret")),
        "the operator's own account links to its renewal page: {message}"
    );
    assert!(!message.contains(SECRET), "never a secret");

    // The settings page lists what was sent and what was not.
    let page = op.get("/settings").await.text().await.unwrap();
    assert!(page.contains("Not sent (no sending mailbox)"), "{page}");
    assert!(page.contains("badge-notice-sent"), "{page}");
}

#[tokio::test]
async fn the_host_sets_an_organisations_notice_address() {
    let s = TestServer::start().await;
    let k = key(&s, &mailkey::api_keys::Scope::ALL).await;
    let (status, org) = send(
        &s,
        Method::POST,
        &k,
        "/api/v1/organisations",
        Some(json!({"external_id": "cust-7", "name": "Fabrikam"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    assert_eq!(org["notice_email"], Value::Null);
    let path = format!("/api/v1/organisations/{}", org["id"].as_str().unwrap());
    let (status, body) = send(
        &s,
        Method::PATCH,
        &k,
        &path,
        Some(json!({"notice_email": "it at fabrikam"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("notice_email"),
        "{body}"
    );
    let (status, body) = send(&s, Method::PATCH, &k, &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "nothing to change: {body}");
    let (status, body) = send(
        &s,
        Method::PATCH,
        &k,
        &path,
        Some(json!({"notice_email": " it@fabrikam.example "})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["notice_email"], "it@fabrikam.example");
    assert_eq!(body["name"], "Fabrikam", "the name is left alone");
    let (_, body) = send(
        &s,
        Method::PATCH,
        &k,
        &path,
        Some(json!({"name": "Fabrikam Ltd"})),
    )
    .await;
    assert_eq!(
        body["notice_email"], "it@fabrikam.example",
        "left out: unchanged"
    );
    let (_, body) = send(
        &s,
        Method::PATCH,
        &k,
        &path,
        Some(json!({"notice_email": null})),
    )
    .await;
    assert_eq!(body["notice_email"], Value::Null, "null clears it");
    assert_eq!(body["name"], "Fabrikam Ltd");
}
