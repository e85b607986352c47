//! Several Mailkey processes (the built binary, as a deployment runs it) on one database and
//! one standalone sandbox identity provider: one refresh for callers on both processes; a
//! process killed with SIGKILL while it waits for the token answer, taken over by the other
//! once its lease ends, with the account still connected and no rotated refresh token lost; a
//! sign-in started on one process that returns to the other; and an API key revoked on one
//! process refused by the other at its next request.

use crate::support;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use mailkey::api_keys::Scope;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{
    contoso::{connected, db, CLIENT_ID, MAILBOX, SECRET},
    host::key,
    portal::{authorize, Operator},
    processes::{Deployment, Process, LEASE_SECONDS},
};

async fn token_from(p: &Process, key: &str, id: &str, body: Value) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(p.url(&format!("/api/v1/accounts/{id}/access-token")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

/// The access token stored for the account has run out: the next caller must refresh.
async fn expire_access_token(d: &Deployment, id: &str) {
    sqlx::query("UPDATE accounts SET access_expires_at = 0 WHERE id = $1")
        .bind(id)
        .execute(&db(&d.setup.server).await)
        .await
        .unwrap();
}

async fn generation(d: &Deployment, id: &str) -> i64 {
    sqlx::query_scalar("SELECT refresh_generation FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_one(&db(&d.setup.server).await)
        .await
        .unwrap()
}

/// A signed-in operator whose browser the balancer sends to `p`.
async fn operator_on(d: &Deployment, p: &Process) -> Operator {
    Operator {
        base: p.base.clone(),
        origin: d.public_url().to_string(),
        cookie: d.setup.server.sign_in().await,
    }
}

#[tokio::test]
async fn two_processes_answer_200_callers_of_an_expired_token_with_one_refresh() {
    let d = Deployment::start().await;
    let s = &d.setup.server;
    let id = connected(&Operator::new(s).await).await;
    let key = key(s, &[Scope::IssueTokens]).await;
    let (a, b) = (d.spawn("A").await, d.spawn("B").await);
    expire_access_token(&d, &id).await;
    let sent = d.sandbox.grants.refresh_requests();
    // The refresh takes a while, so every caller arrives while it runs.
    d.sandbox
        .grants
        .set_token_delay(Some(Duration::from_millis(300)));
    let client = reqwest::Client::new();
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let url = [&a, &b][i % 2].url(&format!("/api/v1/accounts/{id}/access-token"));
            let (client, key) = (client.clone(), key.clone());
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .bearer_auth(key)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                (res.status(), res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut tokens = HashSet::new();
    for c in calls {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        tokens.insert(body["access_token"].as_str().unwrap().to_string());
    }
    d.sandbox.grants.set_token_delay(None);
    assert_eq!(
        d.sandbox.grants.refresh_requests(),
        sent + 1,
        "one refresh for both processes\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    assert_eq!(tokens.len(), 1, "every caller got the same fresh token");
}

#[tokio::test]
async fn a_process_killed_waiting_for_its_refresh_is_taken_over_and_no_rotated_token_is_lost() {
    let d = Deployment::start().await;
    let s = &d.setup.server;
    let id = connected(&Operator::new(s).await).await;
    let key = key(s, &Scope::ALL).await;
    let (mut a, b) = (d.spawn("A").await, d.spawn("B").await);
    expire_access_token(&d, &id).await;
    let generation_before = generation(&d, &id).await;
    let sent = d.sandbox.grants.refresh_requests();
    // Microsoft decides A's refresh (rotating the refresh token) and answers it late.
    d.sandbox
        .grants
        .set_refresh_answer_delay(Some(Duration::from_secs(3)));
    let on_a = {
        let (url, key) = (
            a.url(&format!("/api/v1/accounts/{id}/access-token")),
            key.clone(),
        );
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&json!({}))
                .send()
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.sandbox.grants.refresh_requests() == sent {
        assert!(Instant::now() < deadline, "A never refreshed:\n{}", a.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A holds the lease and waits for the answer: it dies, releasing nothing.
    a.kill_hard();
    let killed = Instant::now();
    assert!(on_a.await.unwrap().is_err(), "A answered after SIGKILL");

    let (status, body) = token_from(&b, &key, &id, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}\nB:\n{}", b.log());
    assert!(
        killed.elapsed() >= Duration::from_secs(LEASE_SECONDS) - Duration::from_secs(2),
        "B took over only once A's lease ran out ({:?})",
        killed.elapsed()
    );
    assert_eq!(
        d.sandbox.grants.refresh_requests(),
        sent + 2,
        "A's, then B's"
    );
    assert_eq!(
        generation(&d, &id).await,
        generation_before + 1,
        "only B's answer was stored"
    );

    // Still connected, and the refresh token B stored is the one that works now.
    d.sandbox.grants.set_refresh_answer_delay(None);
    let (status, list) =
        support::host::get_api_at(&b.base, &key, "/api/v1/accounts?state=connected").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["accounts"][0]["id"], id.as_str(), "{list}");
    let (status, again) = token_from(&b, &key, &id, json!({ "force_refresh": true })).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_ne!(again["access_token"], body["access_token"]);
    assert_eq!(generation(&d, &id).await, generation_before + 2);
}

#[tokio::test]
async fn a_sign_in_started_on_one_process_finishes_on_the_other() {
    let d = Deployment::start().await;
    let (a, b) = (d.spawn("A").await, d.spawn("B").await);
    let on_a = operator_on(&d, &a).await;
    let id = on_a.account(CLIENT_ID, SECRET, MAILBOX).await;
    let to_microsoft = on_a.start(&id, "sign-in?mode=redirect").await;
    let back = authorize(&to_microsoft, MAILBOX, "accept").await;
    let callback = format!("{}/oauth/callback?", d.public_url());
    assert!(back.starts_with(&callback), "{back}");
    // The balancer sends the browser's return to B.
    let on_b = Operator {
        base: b.base.clone(),
        ..on_a
    };
    let res = on_b.get(&back.replacen(d.public_url(), &b.base, 1)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "B:\n{}", b.log());
    assert_eq!(
        on_b.connection(&id).await["last_outcome"]["kind"],
        "connected"
    );
}

#[tokio::test]
async fn a_key_revoked_on_one_process_is_refused_by_the_other_at_its_next_request() {
    let d = Deployment::start().await;
    let s = &d.setup.server;
    let (record, secret) = s
        .state
        .api_keys
        .create("Acme ERP", &Scope::ALL)
        .await
        .unwrap();
    let secret = secret.expose().to_string();
    let (a, b) = (d.spawn("A").await, d.spawn("B").await);
    let (status, _) = support::host::get_api_at(&b.base, &secret, "/api/v1/accounts").await;
    assert_eq!(status, StatusCode::OK, "B takes the key (and remembers it)");

    let on_a = operator_on(&d, &a).await;
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(a.url("/_fn/api-keys/revoke"))
        .header("cookie", &on_a.cookie)
        .header("origin", &on_a.origin)
        .form(&[("id", record.id.as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "revoke on A: {}",
        res.status()
    );
    let (status, body) = support::host::get_api_at(&b.base, &secret, "/api/v1/accounts").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn a_connect_session_minted_on_one_process_opens_on_the_other_once() {
    let d = Deployment::start().await;
    let key = key(&d.setup.server, &Scope::ALL).await;
    let (a, b) = (d.spawn("A").await, d.spawn("B").await);
    let parent = "https://erp.example.com";
    let client = reqwest::Client::new();
    let res = client
        .put(a.url("/api/v1/organisations/org_default/allowed-origins"))
        .bearer_auth(&key)
        .json(&json!({ "origins": [parent] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .post(a.url("/api/v1/connect-sessions"))
        .bearer_auth(&key)
        .json(&json!({
            "organisation_id": "org_default",
            "account": {"external_id": "invoices", "email": MAILBOX, "app": "own", "provider": "microsoft365-sandbox"},
            "allowed_origins": [parent],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let session: Value = res.json().await.unwrap();
    let launch = session["launch_token"].as_str().unwrap();

    // B shows the page, framed by the session's origin, and exchanges the token.
    let page = client
        .get(b.url(&format!("/embed/{launch}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK, "B:\n{}", b.log());
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains(&format!("frame-ancestors {parent}")), "{csp}");
    let exchange = |p: &Process| {
        client
            .post(p.url("/embed/session"))
            .header("origin", d.public_url())
            .json(&json!({ "launch_token": launch }))
            .send()
    };
    let opened = exchange(&b).await.unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    let opened: Value = opened.json().await.unwrap();
    let credential = opened["credential"].as_str().unwrap();
    // Used once, whichever process is asked again; the credential works on either.
    let again = exchange(&a).await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    let state = client
        .get(a.url("/embed/api/state"))
        .header("origin", d.public_url())
        .bearer_auth(credential)
        .send()
        .await
        .unwrap();
    assert_eq!(state.status(), StatusCode::OK, "A:\n{}", a.log());
}

/// A connection test started on process A is watched live from process B: stage by stage as A
/// runs it (the first stage while A still waits for the token), ending with the report A kept;
/// meanwhile B refuses a second test of the account.
#[tokio::test]
async fn a_test_started_on_one_process_is_watched_live_from_the_other() {
    let d = Deployment::start().await;
    let id = connected(&Operator::new(&d.setup.server).await).await;
    let (a, b) = (d.spawn("A").await, d.spawn("B").await);
    let (on_a, on_b) = (operator_on(&d, &a).await, operator_on(&d, &b).await);
    // The test's first stage (the token) takes a while, so B looks while A runs it.
    expire_access_token(&d, &id).await;
    d.sandbox
        .grants
        .set_token_delay(Some(Duration::from_millis(1500)));
    let start_on = |op: &Operator| {
        reqwest::Client::new()
            .post(op.url(&format!("/accounts/{id}/tests")))
            .header("cookie", &op.cookie)
            .header("origin", &op.origin)
            .send()
    };
    let res = start_on(&on_a).await.unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED, "A:\n{}", a.log());
    let started: Value = res.json().await.unwrap();
    let events = started["events"].as_str().unwrap().to_string();
    assert_eq!(
        start_on(&on_b).await.unwrap().status(),
        StatusCode::CONFLICT,
        "one test at a time, on either process"
    );
    let stream = reqwest::Client::new()
        .get(b.url(&events))
        .header("cookie", &on_a.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let seen = support::read_until_report(stream).await;
    d.sandbox.grants.set_token_delay(None);
    let (first_at, first) = seen.first().unwrap();
    assert!(first.contains("\"stage\":\"token\""), "{first}");
    let (report_at, report) = seen.last().unwrap();
    assert!(report.starts_with("event: report"), "{report}");
    assert!(
        report_at.duration_since(*first_at) >= Duration::from_millis(1000),
        "the first stage came while A still waited for the token: {seen:?}"
    );
    let kept = d.setup.server.state.store.tests(&id, 1).await.unwrap();
    assert_eq!(kept.len(), 1, "A kept the run's report");
}
