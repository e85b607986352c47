//! The defects a security review found, each proven fixed through Mailkey's real HTTP surface and
//! the sandbox identity provider: accounts that recover once the app's secret works again, 429
//! honoured, two processes refreshing one account, a sign-in whose account changed meanwhile,
//! app changes that end the connection, ID tokens wrong in each way, the Host check, request
//! limits, and account deletion.

use crate::support;

use std::time::Duration;

use mailkey::{
    sandbox::{AddedSecret, IdTokenFault},
    tokens::TokenError,
};
use reqwest::StatusCode;
use serde_json::Value;
use support::{
    contoso::{
        connected, db, outcome, start, Tenant, CLIENT_ID, MAILBOX, SECRET, SECRET_ID, TENANT_ID,
    },
    portal::{authorize, location, query, Operator},
    TestServer,
};

const NEW_SECRET: &str = "Nw82Q~Zy7Xw6Vu5Ts4Rq3Po2Nm1Lk0Ji9Hg8Fe7D";
const NEW_SECRET_ID: &str = "e1d2c3b4-a5f6-4789-9abc-def012345678";

async fn column(s: &TestServer, id: &str, sql: &str) -> Option<i64> {
    sqlx::query_scalar(&format!("SELECT {sql} FROM accounts WHERE id = $1"))
        .bind(id)
        .fetch_one(&db(s).await)
        .await
        .unwrap()
}

/// The account is back to "ready to sign in": no refresh token kept, no token handed out.
/// Returns its connection as the page reads it.
async fn signed_out(s: &TestServer, op: &Operator, id: &str) -> Value {
    let c = op.connection(id).await;
    assert_eq!(c["state"], "ready_to_sign_in", "{c}");
    assert_eq!(
        c["refresh_token_stored"], false,
        "no refresh token kept: {c}"
    );
    assert!(matches!(
        s.state.tokens.access_token(id).await,
        Err(TokenError::NotSignedIn)
    ));
    c
}

/// Saves the app step again with a new client secret (what an admin does after a rotation).
async fn save_secret(op: &Operator, id: &str, secret: &str) -> Value {
    op.call(
        "accounts/app",
        &[
            ("id", id),
            ("tenant", "contoso.test"),
            ("client_id", CLIENT_ID),
            ("app_name", "Mailkey invoices"),
            ("client_secret", secret),
            ("secret_expires", "2030-05-01"),
        ],
    )
    .await
}

#[tokio::test]
async fn a_refused_app_keeps_the_sign_in_backs_off_and_recovers_on_the_first_refresh_that_works() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(s).await;
    let id = connected(&op).await;

    // The secret is deleted in Entra before the new one is saved in Mailkey.
    sandbox.grants.remove_secret(SECRET_ID);
    s.state.tokens.forget(&id);
    let err = s.state.tokens.access_token(&id).await.err().unwrap();
    let TokenError::AppRefused { problem, retry_at } = err else {
        panic!("{err}");
    };
    assert_eq!(problem.code, Some(7000215));
    assert!(
        problem.fix.contains("does not need to sign in again"),
        "{problem:?}"
    );
    assert!(retry_at > mailkey::storage::now());
    let c = op.connection(&id).await;
    assert_eq!(c["state"], "needs_attention", "{c}");
    assert_eq!(c["refresh_token_stored"], true, "the sign-in is kept");
    // The page still offers the connection test (it says what fails).
    let page = op
        .get(&format!("/accounts/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"run-test\""), "{page}");

    // During the backoff nobody sends another request: not callers, not the upkeep. (The
    // sandbox refuses the secret before it counts a refresh: count what Mailkey sends.)
    let sent = s.state.tokens.refreshes_sent();
    for _ in 0..20 {
        assert!(matches!(
            s.state.tokens.access_token(&id).await,
            Err(TokenError::AppRefused { .. })
        ));
    }
    assert_eq!(s.state.tokens.keep_alive(3600).await, 0);
    assert_eq!(
        s.state.tokens.refreshes_sent(),
        sent,
        "no request during the backoff"
    );

    // Once the backoff is over the upkeep retries by itself; still refused, it waits longer.
    sqlx::query("UPDATE accounts SET refresh_retry_at = 1 WHERE id = $1")
        .bind(&id)
        .execute(&db(s).await)
        .await
        .unwrap();
    assert_eq!(s.state.tokens.keep_alive(3600).await, 0);
    assert_eq!(s.state.tokens.refreshes_sent(), sent + 1, "upkeep retried");
    let second_wait = column(s, &id, "refresh_retry_at").await.unwrap() - mailkey::storage::now();
    assert!(second_wait > 90, "the backoff grows: {second_wait}");
    assert_eq!(column(s, &id, "refresh_failures").await, Some(2));

    // The admin adds a secret in Entra and saves its value: no new sign-in, connected again.
    sandbox.grants.add_secret(AddedSecret {
        client_id: CLIENT_ID.into(),
        secret: NEW_SECRET.into(),
        secret_id: NEW_SECRET_ID.into(),
        expires: "2031-01-01".into(),
    });
    let saved = save_secret(&op, &id, NEW_SECRET).await;
    assert!(!saved.to_string().contains("sign in again"), "{saved}");
    s.state.tokens.access_token(&id).await.unwrap();
    let c = op.connection(&id).await;
    assert_eq!(c["state"], "connected", "{c}");
    assert!(c["problem"].is_null(), "the problem is cleared: {c}");
    assert_eq!(column(s, &id, "refresh_failures").await, Some(0));
    assert_eq!(column(s, &id, "refresh_retry_at").await, None);
}

#[tokio::test]
async fn an_operator_apps_refusal_is_the_operators_to_fix_and_ends_with_a_saved_secret() {
    let (s, _files) = support::multi_tenant::start().await;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(&s).await;
    let id = op.operator_account("invoices@contoso.test").await;
    let url = op.start(&id, "sign-in?mode=redirect").await;
    let back = authorize(&url, "invoices@contoso.test", "accept").await;
    assert_eq!(op.get(&back).await.status(), 303);
    assert_eq!(op.connection(&id).await["state"], "connected");

    let app = sandbox.directory.multi_tenant_apps[0].clone();
    for secret in &app.secrets {
        sandbox.grants.remove_secret(&secret.secret_id);
    }
    s.state.tokens.forget(&id);
    let err = s.state.tokens.access_token(&id).await.err().unwrap();
    let TokenError::AppRefused { problem, .. } = err else {
        panic!("{err}");
    };
    assert_eq!(problem.title, "Microsoft refused the operator's app");
    assert!(problem.fix.contains("Settings page"), "{problem:?}");
    assert_eq!(op.connection(&id).await["refresh_token_stored"], true);

    // The operator saves a new secret on the settings page: the account reconnects at once.
    sandbox.grants.add_secret(AddedSecret {
        client_id: app.client_id.clone(),
        secret: NEW_SECRET.into(),
        secret_id: NEW_SECRET_ID.into(),
        expires: "2031-01-01".into(),
    });
    op.call(
        "settings/operator-app",
        &[
            ("provider", "microsoft365-sandbox"),
            ("client_id", &app.client_id),
            ("name", "Acme ERP"),
            ("publisher", ""),
            ("client_secret", NEW_SECRET),
            ("secret_expires", "2031-01-01"),
        ],
    )
    .await;
    s.state.tokens.access_token(&id).await.unwrap();
    let c = op.connection(&id).await;
    assert_eq!(c["state"], "connected", "{c}");
    assert!(c["problem"].is_null(), "{c}");
}

#[tokio::test]
async fn a_429_is_waited_out_without_further_requests_and_the_account_stays_connected() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(s).await;
    let id = connected(&op).await;

    sandbox.grants.set_throttle(Some(120));
    s.state.tokens.forget(&id);
    let sent = sandbox.grants.refresh_requests();
    let err = s.state.tokens.access_token(&id).await.err().unwrap();
    let TokenError::Unavailable { retry_at, .. } = err else {
        panic!("{err}");
    };
    let wait = retry_at.unwrap() - mailkey::storage::now();
    assert!((110..=120).contains(&wait), "Retry-After honoured: {wait}");
    // The sandbox counts only requests that reached its grants; a 429 is answered before, so
    // count the calls Mailkey made instead.
    let made = s.state.tokens.refreshes_sent();
    for _ in 0..50 {
        assert!(matches!(
            s.state.tokens.access_token(&id).await,
            Err(TokenError::Unavailable { .. })
        ));
    }
    assert_eq!(
        s.state.tokens.refreshes_sent(),
        made,
        "no request during the wait"
    );
    assert_eq!(sandbox.grants.refresh_requests(), sent);
    let c = op.connection(&id).await;
    assert_eq!(c["state"], "connected", "{c}");
    assert!(c["problem"].is_null(), "{c}");

    // After the wait, the next caller refreshes.
    sandbox.grants.set_throttle(None);
    sqlx::query("UPDATE accounts SET refresh_retry_at = 1 WHERE id = $1")
        .bind(&id)
        .execute(&db(s).await)
        .await
        .unwrap();
    s.state.tokens.access_token(&id).await.unwrap();
    assert_eq!(sandbox.grants.refresh_requests(), sent + 1);
}

/// The server and `mailkey test` are two processes with one database: both refresh at once.
#[tokio::test]
async fn two_processes_refreshing_one_account_both_get_a_token() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(s).await;
    let id = connected(&op).await;

    // A second process: its own token keeper on the same database and sandbox.
    let public_url = url::Url::parse(&s.base).unwrap();
    let other = mailkey::server::Services::open(&s.config, &public_url)
        .await
        .unwrap();
    s.state.tokens.forget(&id);
    sandbox
        .grants
        .set_token_delay(Some(Duration::from_millis(400)));
    let (a, b) = tokio::join!(
        s.state.tokens.access_token(&id),
        other.tokens.access_token(&id)
    );
    sandbox.grants.set_token_delay(None);
    assert!(a.is_ok(), "{:?}", a.err());
    assert!(
        b.is_ok(),
        "the loser uses its own valid answer: {:?}",
        b.err()
    );
    let c = op.connection(&id).await;
    assert_eq!(c["state"], "connected", "{c}");
    assert!(c["problem"].is_null(), "{c}");
    // The stored (winner's) refresh token still refreshes.
    s.state.tokens.forget(&id);
    s.state.tokens.access_token(&id).await.unwrap();
}

#[tokio::test]
async fn a_sign_in_whose_mailbox_changed_meanwhile_is_discarded() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(s).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    let url = op.start(&id, "sign-in?mode=redirect").await;
    let back = authorize(&url, MAILBOX, "accept").await;

    // The callback waits on Microsoft's token endpoint while the address is changed.
    sandbox
        .grants
        .set_token_delay(Some(Duration::from_millis(800)));
    let callback = {
        let op_cookie = op.cookie.clone();
        let back = back.clone();
        tokio::spawn(async move {
            TestServer::client()
                .get(back)
                .header("cookie", op_cookie)
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    op.save_mailbox(&id, "admin@contoso.test", &[]).await;
    assert_eq!(callback.await.unwrap(), 303);
    sandbox.grants.set_token_delay(None);

    let c = signed_out(s, &op, &id).await;
    assert_eq!(
        c["last_outcome"]["problem"]["title"], "The account changed during the sign-in",
        "{c}"
    );
}

#[tokio::test]
async fn a_new_client_id_ends_the_connection_and_a_new_secret_keeps_it() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;

    // A new secret only: still connected.
    let saved = save_secret(&op, &id, SECRET).await;
    assert!(!saved.to_string().contains("sign in again"), "{saved}");
    assert_eq!(op.connection(&id).await["state"], "connected");
    assert!(s.state.tokens.access_token(&id).await.is_ok());

    // Another app registration: its sign-in and cached token are of the old app.
    let saved = op
        .call(
            "accounts/app",
            &[
                ("id", &id),
                ("tenant", "contoso.test"),
                ("client_id", "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"),
                ("app_name", "Another app"),
                ("secret_expires", "2030-05-01"),
            ],
        )
        .await;
    assert!(saved.to_string().contains("sign in again"), "{saved}");
    let c = signed_out(s, &op, &id).await;
    assert!(
        c["access_token_expires_at"].is_null(),
        "no cached token of the old app: {c}"
    );
}

#[tokio::test]
async fn an_id_token_wrong_in_any_way_is_refused_with_its_reason_and_nothing_is_stored() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(s).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    for (fault, words) in [
        (IdTokenFault::WrongAudience, "issued for another app"),
        (IdTokenFault::WrongNonce, "belongs to another sign-in"),
        (
            IdTokenFault::WrongTenant,
            "belongs to organisation 00000000",
        ),
        (
            IdTokenFault::WrongIssuer,
            "not issued by the sign-in service",
        ),
        (IdTokenFault::Expired, "had already expired"),
    ] {
        sandbox.grants.set_id_token_fault(Some(fault));
        let o = outcome(&op, &id, MAILBOX, "accept").await;
        assert_eq!(o["kind"], "failed", "{fault:?}: {o}");
        let what = o["problem"]["what"].as_str().unwrap();
        assert!(what.contains(words), "{fault:?}: {what}");
        assert!(what.contains("stored nothing"), "{fault:?}: {what}");
        let c = op.connection(&id).await;
        assert_ne!(c["state"], "connected", "{fault:?}");
        assert_eq!(c["refresh_token_stored"], false, "{fault:?}");
        assert!(c["access_token_expires_at"].is_null(), "{fault:?}");
    }
    sandbox.grants.set_id_token_fault(None);
    assert_eq!(
        outcome(&op, &id, MAILBOX, "accept").await["kind"],
        "connected"
    );
}

#[tokio::test]
async fn requests_for_another_host_name_are_refused() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let port = s.addr.port();
    // A DNS-rebinding page: its own name, pointed at Mailkey's address.
    let evil = format!("rebind.evil.example:{port}");
    let res = TestServer::client()
        .get(s.url("/sandbox"))
        .header("host", &evil)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "foreign_host", "{body}");
    let res = TestServer::client()
        .post(s.url("/logout"))
        .header("host", &evil)
        .header("origin", format!("http://{evil}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Mailkey's own names, and the health checks under any name, still answer.
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let res = TestServer::client()
            .get(s.url("/sandbox"))
            .header("host", host.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{host}");
    }
    let res = TestServer::client()
        .get(s.url("/healthz"))
        .header("host", &evil)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn setup_link_guesses_sign_in_starts_and_event_streams_are_bounded() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    // Live event streams: a cap per browser session.
    let op = Operator::new(s).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    let mut open = Vec::new();
    for _ in 0..mailkey::http::limits::STREAMS_PER_SESSION {
        let res = op.get(&format!("/accounts/{id}/sign-in/events")).await;
        assert_eq!(res.status(), StatusCode::OK);
        open.push(res);
    }
    let res = op.get(&format!("/accounts/{id}/sign-in/events")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams", "{body}");
    // Another session has its own; a closed stream gives its place back.
    let other = Operator::new(s).await;
    assert_eq!(
        other
            .get(&format!("/accounts/{id}/sign-in/events"))
            .await
            .status(),
        StatusCode::OK
    );
    drop(open.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let res = op.get(&format!("/accounts/{id}/sign-in/events")).await;
        if res.status() == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the place was not given back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Setup links: nobody needs more than a few tries.
    let mut limited = None;
    for n in 0..15 {
        let res = TestServer::client()
            .get(s.url("/setup?token=guess"))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((n, res));
            break;
        }
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    let (n, res) = limited.expect("setup link guesses are rate limited");
    // Ten links in all from this address: the two operators' own sign-ins were two of them.
    assert_eq!(n, 8, "ten tries, then a wait");
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start().await;
    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was held open for 20 s");
    let took = started.elapsed();
    assert!(
        took >= mailkey::http::serve::HEADER_READ_TIMEOUT - Duration::from_secs(1),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_deleted_account_is_forgotten_with_its_secrets_and_history() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let page = op
        .get(&format!("/accounts/{id}/delete"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("Delete {MAILBOX}?")), "{page}");

    let res = TestServer::client()
        .post(s.url("/_fn/accounts/delete"))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .header("accept", "text/html")
        .form(&[("id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(location(&res), "/?deleted=1");
    let pool = db(s).await;
    for table in [
        "accounts WHERE id",
        "sign_in_attempts WHERE account_id",
        "connection_tests WHERE account_id",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} = $1"))
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    assert_eq!(
        op.get(&format!("/api/v1/accounts/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    // At once: there is no refresh lease to wait out for an account that is gone.
    let asked = std::time::Instant::now();
    let Err(refused) = s.state.tokens.access_token(&id).await else {
        panic!("a deleted account's token was handed out");
    };
    assert!(
        matches!(
            refused,
            mailkey::tokens::TokenError::Account(mailkey::sign_in::SignInError::NotFound)
        ),
        "{refused:?}"
    );
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    let home = op.get("/?deleted=1").await.text().await.unwrap();
    assert!(home.contains("The account was deleted"), "{home}");
}

#[tokio::test]
async fn accounts_needing_attention_for_too_long_are_no_longer_kept_alive() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    sandbox.grants.remove_secret(SECRET_ID);
    s.state.tokens.forget(&id);
    assert!(s.state.tokens.access_token(&id).await.is_err());
    let pool = db(s).await;
    // Refused 31 days ago, backoff over: past the 30 days of attention_keep_alive_days.
    sqlx::query(
        "UPDATE accounts SET refresh_retry_at = 1, attention_since = attention_since - 31 * 86400 \
         WHERE id = $1",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    let sent = s.state.tokens.refreshes_sent();
    assert_eq!(s.state.tokens.keep_alive(3600).await, 0);
    assert_eq!(
        s.state.tokens.refreshes_sent(),
        sent,
        "not retried any more"
    );
    // Until someone saves a new secret: then it is retried (and connects) at once.
    sandbox.grants.add_secret(AddedSecret {
        client_id: CLIENT_ID.into(),
        secret: NEW_SECRET.into(),
        secret_id: NEW_SECRET_ID.into(),
        expires: "2031-01-01".into(),
    });
    let sent = s.state.tokens.refreshes_sent();
    save_secret(&op, &id, NEW_SECRET).await;
    // Saving woke the upkeep: it (or this round) retries the account, once.
    s.state.tokens.keep_alive(3600).await;
    assert_eq!(op.connection(&id).await["state"], "connected");
    assert_eq!(s.state.tokens.refreshes_sent(), sent + 1);
    // Refused again and left for 31 days: no longer retried.
    sandbox.grants.remove_secret(NEW_SECRET_ID);
    s.state.tokens.forget(&id);
    assert!(s.state.tokens.access_token(&id).await.is_err());
    sqlx::query(
        "UPDATE accounts SET refresh_retry_at = 1, attention_since = attention_since - 31 * 86400 \
         WHERE id = $1",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    let sent = s.state.tokens.refreshes_sent();
    assert_eq!(s.state.tokens.keep_alive(3600).await, 0);
    assert_eq!(s.state.tokens.refreshes_sent(), sent);
    // Within the limit it is retried.
    sqlx::query("UPDATE accounts SET attention_since = attention_since + 30 * 86400 WHERE id = $1")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    s.state.tokens.keep_alive(3600).await;
    assert_eq!(s.state.tokens.refreshes_sent(), sent + 1);
}

#[tokio::test]
async fn a_non_mail_port_is_refused_at_the_mailbox_step() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    let res = TestServer::client()
        .post(s.url("/_fn/accounts/mailbox"))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .header("accept", "application/json")
        .form(&[
            ("id", id.as_str()),
            ("account_name", "Invoices"),
            ("email", MAILBOX),
            ("smtp_host", "smtp.office365.com"),
            ("smtp_port", "6379"),
            ("smtp_security", "starttls"),
            ("protocol", "imap"),
            ("imap_host", "outlook.office365.com"),
            ("imap_port", "993"),
            ("imap_security", "tls"),
            ("root_folder", "INBOX"),
            ("timeout_minutes", "3"),
            ("scopes", support::portal::SCOPES),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("Port 6379 is not a mail port"), "{body}");
    let _ = (TENANT_ID, query);
}

/// Connection tests are limited per account too, whoever asks: five, then a wait, while
/// another account's tests still start.
#[tokio::test]
async fn connection_tests_are_limited_per_account() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let first = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    let second = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    // Each start waits until the account's previous run is kept (a run still going would
    // answer 409, and polling with requests would spend the per-address budget too).
    let start_test = |id: String| {
        let op = &op;
        async move {
            for _ in 0..200 {
                let running = s.state.store.live_test_running(&id).await.unwrap();
                if !running {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            support::TestServer::client()
                .post(s.url(&format!("/accounts/{id}/tests")))
                .header("cookie", &op.cookie)
                .header("origin", &s.base)
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..5 {
        assert_eq!(
            start_test(first.clone()).await.status(),
            StatusCode::ACCEPTED
        );
    }
    let refused = start_test(first.clone()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("This account was tested five times"),
        "{body}"
    );
    // Without the wasm, the Test button's form goes back to the page, which says why.
    let plain = support::TestServer::client()
        .post(s.url(&format!("/accounts/{first}/tests")))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .header("accept", "text/html")
        .header("referer", s.url(&format!("/accounts/{first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        plain.headers()["location"],
        format!("/accounts/{first}?test=limited#connection-test").as_str()
    );
    assert_eq!(start_test(second).await.status(), StatusCode::ACCEPTED);
}

/// A keep-alive refresh under way when the server is told to stop finishes and is stored (the
/// refresh token Microsoft may have rotated is not lost); the upkeep starts no other.
#[tokio::test]
async fn a_keep_alive_refresh_under_way_at_shutdown_finishes_and_is_stored() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let pool = db(s).await;
    // Quiet for 8 days: due for the upkeep.
    sqlx::query("UPDATE accounts SET refreshed_at = refreshed_at - 8 * 86400 WHERE id = $1")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let before = column(s, &id, "refreshed_at").await.unwrap();
    let sent = s.state.tokens.refreshes_sent();
    sandbox
        .grants
        .set_token_delay(Some(Duration::from_millis(1500)));
    s.state.tokens.wake_upkeep();
    for _ in 0..100 {
        if s.state.tokens.refreshes_sent() > sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        s.state.tokens.refreshes_sent(),
        sent + 1,
        "the refresh is under way"
    );
    drop(op);
    env.server.stop().await;
    let after: i64 = sqlx::query_scalar("SELECT refreshed_at FROM accounts WHERE id = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        after > before,
        "the refresh was stored before the server stopped"
    );
}

/// Renewing a client secret on its own page: bad values change nothing and say why, a new value
/// is saved with its expiry and the sign-in is kept, and the old secret can then go.
#[tokio::test]
async fn a_secret_is_renewed_on_its_own_page_keeping_the_sign_in() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let path = format!("/accounts/{id}/renew-secret");
    let page = op.get(&path).await.text().await.unwrap();
    assert!(page.contains("Make a new secret in Entra"), "{page}");
    assert!(page.contains(CLIENT_ID), "the app is named: {page}");
    let account = op
        .get(&format!("/accounts/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(account.contains(&path), "the account page leads there");

    let renew = |secret: &'static str, expires: &'static str| {
        let cookie = op.cookie.clone();
        let url = s.url("/_fn/accounts/renew-secret");
        let origin = s.base.clone();
        let id = id.clone();
        async move {
            let res = TestServer::client()
                .post(url)
                .header("cookie", cookie)
                .header("origin", origin)
                .header("accept", "text/html")
                .form(&[
                    ("id", id.as_str()),
                    ("client_secret", secret),
                    ("secret_expires", expires),
                ])
                .send()
                .await
                .unwrap();
            assert!(res.status().is_redirection(), "{}", res.status());
            location(&res)
        }
    };
    let expires_before = secret_expires(s, &id).await;

    // The Secret ID pasted instead of the value; an expiry in the past: nothing changes.
    let refused = renew(NEW_SECRET_ID, "2031-01-01").await;
    assert_eq!(refused, format!("{path}?not_saved=secret_is_id#renew-form"));
    let shown = op.get(&refused).await.text().await.unwrap();
    assert!(shown.contains("This looks like the Secret ID"), "{shown}");
    assert!(!shown.contains(NEW_SECRET_ID), "the value is not echoed");
    assert_eq!(
        renew(NEW_SECRET, "2020-01-01").await,
        format!("{path}?not_saved=expired#renew-form")
    );
    assert_eq!(secret_expires(s, &id).await, expires_before);

    // The new value, made in Entra: saved with its expiry, still connected.
    sandbox.grants.add_secret(AddedSecret {
        client_id: CLIENT_ID.into(),
        secret: NEW_SECRET.into(),
        secret_id: NEW_SECRET_ID.into(),
        expires: "2031-01-01".into(),
    });
    assert_eq!(
        renew(NEW_SECRET, "2031-01-01").await,
        format!("{path}?saved=1#test")
    );
    assert_eq!(op.connection(&id).await["state"], "connected");
    assert_eq!(secret_expires(s, &id).await.as_deref(), Some("2031-01-01"));
    let shown = op
        .get(&format!("{path}?saved=1"))
        .await
        .text()
        .await
        .unwrap();
    assert!(shown.contains("The new secret is saved"), "{shown}");

    // The old secret deleted in Entra: tokens keep coming, with the new one.
    sandbox.grants.remove_secret(SECRET_ID);
    s.state.tokens.forget(&id);
    if let Err(e) = s.state.tokens.access_token_for(&id, 0, true).await {
        panic!("{e}");
    }
}

/// The account's client secret expiry, as its pages show it.
async fn secret_expires(s: &TestServer, id: &str) -> Option<String> {
    s.state
        .store
        .account_summary(id)
        .await
        .unwrap()
        .unwrap()
        .secret_expires
}
