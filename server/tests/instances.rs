//! Several Mailkey instances on one database (in the PostgreSQL run of the suites, a real
//! PostgreSQL server; here each instance is a second set of Mailkey's services on the first
//! one's database and sandbox, as a second process would be): one refresh for callers on every
//! instance, a holder stalled past its lease taken over without its late answer overwriting
//! the newer token, and a lease nobody finishes said as such, never as Microsoft refusing; a
//! connection test watched live from another instance than the one running it, and one whose
//! instance died ending as interrupted.

use crate::support;

use std::{collections::HashSet, time::Duration};

use mailkey::{api_keys::Scope, server::Services, tokens::TokenError};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use support::{
    contoso::{connected, db, start, Tenant},
    host::{key, post_token},
    portal::Operator,
    TestServer,
};

/// A second instance: its own token keeper, caches and leases, on the same database.
async fn second_instance(s: &TestServer) -> Services {
    let public_url = url::Url::parse(&s.base).unwrap();
    Services::open(&s.config, &public_url).await.unwrap()
}

async fn generation(s: &TestServer, id: &str) -> i64 {
    sqlx::query_scalar("SELECT refresh_generation FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_one(&db(s).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn callers_on_two_instances_at_once_share_one_refresh() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let other = second_instance(s).await;
    s.state.tokens.forget(&id);
    let sent = sandbox.grants.refresh_requests();
    // The refresh takes a while, so every caller arrives while it runs.
    sandbox
        .grants
        .set_token_delay(Some(Duration::from_millis(300)));
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let keeper = if i % 2 == 0 {
                s.state.tokens.clone()
            } else {
                other.tokens.clone()
            };
            let id = id.clone();
            tokio::spawn(async move {
                keeper
                    .access_token(&id)
                    .await
                    .map(|t| t.token.expose_secret().to_string())
            })
        })
        .collect();
    let mut tokens = HashSet::new();
    for c in calls {
        tokens.insert(c.await.unwrap().expect("every caller gets a token"));
    }
    sandbox.grants.set_token_delay(None);
    assert_eq!(
        sandbox.grants.refresh_requests(),
        sent + 1,
        "one refresh for both instances"
    );
    assert_eq!(tokens.len(), 1, "every caller got the same fresh token");
    assert_eq!(
        s.state.tokens.refreshes_sent() + other.tokens.refreshes_sent(),
        1
    );
    assert_eq!(op.connection(&id).await["state"], "connected");
}

#[tokio::test]
async fn a_holder_stalled_past_its_lease_is_taken_over_and_its_late_answer_overwrites_nothing() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let other = second_instance(s).await;
    for keeper in [&s.state.tokens, &other.tokens] {
        keeper.set_refresh_lease(Duration::from_millis(300));
    }
    s.state.tokens.forget(&id);
    let before = generation(s, &id).await;

    // The first instance takes the lease and its request hangs at the token endpoint.
    sandbox
        .grants
        .set_token_delay(Some(Duration::from_millis(1500)));
    let stalled = {
        let keeper = s.state.tokens.clone();
        let id = id.clone();
        tokio::spawn(async move { keeper.access_token(&id).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    sandbox.grants.set_token_delay(None);

    // The other waits out the lease, takes over and stores the rotated token.
    let started = std::time::Instant::now();
    other.tokens.access_token(&id).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "it waited for the lease"
    );
    assert_eq!(
        generation(s, &id).await,
        before + 1,
        "the take-over's token"
    );

    // The stalled holder's answer comes: still a valid token for its caller, but the newer
    // refresh token stays.
    stalled.await.unwrap().unwrap();
    assert_eq!(
        generation(s, &id).await,
        before + 1,
        "the late answer overwrote nothing"
    );
    // The token kept is the one that works: a refresh with it succeeds.
    other.tokens.forget(&id);
    s.state.tokens.forget(&id);
    other.tokens.access_token(&id).await.unwrap();
    assert_eq!(generation(s, &id).await, before + 2);
    let c = op.connection(&id).await;
    assert_eq!(c["state"], "connected", "{c}");
    assert!(c["problem"].is_null(), "{c}");
}

#[tokio::test]
async fn a_lease_nobody_finishes_is_its_own_retryable_answer() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    s.state.tokens.set_refresh_lease(Duration::from_millis(200));
    s.state.tokens.forget(&id);
    // Another instance took the lease and will not finish within the wait.
    let t = mailkey::storage::now_ms();
    assert!(s
        .state
        .store
        .take_refresh_lease(&id, "an-instance-that-hangs", t, t + 60_000)
        .await
        .unwrap()
        .taken());
    let err = s.state.tokens.access_token(&id).await.err().unwrap();
    assert!(matches!(err, TokenError::RefreshBusy), "{err}");

    let k = key(s, &[Scope::IssueTokens]).await;
    let (status, headers, e) = post_token(s, Some(&k), &id, "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert_eq!(e["error"]["code"], "refresh_in_progress", "{e}");
    assert!(headers.contains_key("retry-after"));
    // Nothing was said about the sign-in: the account is still connected.
    let c = op.connection(&id).await;
    assert_eq!(c["state"], "connected", "{c}");
    assert!(c["problem"].is_null(), "{c}");
}

/// A connection test started on one instance is watched live from another (stage by stage as
/// the first instance runs it, not all at the end), only by the session that started it; and
/// while it runs, the other instance refuses a second test of the account.
#[tokio::test]
async fn a_test_started_on_one_instance_is_watched_live_from_another() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let b = s.another_instance().await;
    // The first stage (the token) takes a while, so the run is still going when B looks.
    s.state.tokens.forget(&id);
    sandbox
        .grants
        .set_token_delay(Some(Duration::from_millis(1500)));
    let post_test = |server: &TestServer| {
        TestServer::client()
            .post(server.url(&format!("/accounts/{id}/tests")))
            .header("cookie", &op.cookie)
            .header("origin", &server.base)
            .send()
    };
    let res = post_test(s).await.unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let started: serde_json::Value = res.json().await.unwrap();
    let events_path = started["events"].as_str().unwrap().to_string();

    let busy = post_test(&b).await.unwrap();
    assert_eq!(
        busy.status(),
        StatusCode::CONFLICT,
        "one test at a time, on any instance"
    );

    let stranger = Operator::new(&b).await;
    assert_eq!(
        stranger.get(&events_path).await.status(),
        StatusCode::NOT_FOUND,
        "another session cannot watch it from the other instance either"
    );
    let stream = TestServer::client()
        .get(b.url(&events_path))
        .header("cookie", &op.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let events = support::read_until_report(stream).await;
    let (first_at, first) = events.first().unwrap();
    assert!(first.contains("\"stage\":\"token\""), "{first}");
    let (report_at, report) = events.last().unwrap();
    assert!(
        report_at.duration_since(*first_at) >= Duration::from_millis(1000),
        "the first stage arrived while the token was still being fetched: {events:?}"
    );
    // What B streamed is what A ran: its kept report, every stage it ran started and ended.
    let kept = s.state.store.tests(&id, 1).await.unwrap().remove(0);
    let streamed: serde_json::Value = serde_json::from_str(
        report
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(streamed, serde_json::to_value(&kept.report).unwrap());
    let stages = events.len() - 1;
    let ran = kept
        .report
        .stages
        .iter()
        .filter(|st| st.status != mailkey_app::mail_test::StageStatus::Skipped)
        .count();
    assert_eq!(stages, 2 * ran, "{events:?}");
    b.stop().await;
}

/// A run whose instance died stops blocking the account once its driver's word runs out, and
/// its watchers are told it was interrupted rather than left waiting.
#[tokio::test]
async fn a_test_whose_instance_died_ends_as_interrupted() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let watcher = [7u8; 32];
    // A run begun by an instance that then died: it said it was alive for 300 ms, no more.
    let t = mailkey::storage::now_ms();
    assert!(s
        .state
        .store
        .begin_live_test("run-of-a-dead-instance", &id, &watcher, t + 300)
        .await
        .unwrap());
    assert!(s.state.store.live_test_running(&id).await.unwrap());
    let (events, report) = mailkey::http::tests_live::progress(
        &s.state,
        "run-of-a-dead-instance",
        watcher,
        0,
        Duration::from_secs(5),
    )
    .await
    .unwrap()
    .expect("the watcher's run");
    assert!(events.is_empty());
    let report = report.expect("an end within the wait");
    assert_eq!(report.diagnosis.unwrap().code, "interrupted");
    assert!(!s.state.store.live_test_running(&id).await.unwrap());
    let next = TestServer::client()
        .post(s.url(&format!("/accounts/{id}/tests")))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .send()
        .await
        .unwrap();
    assert_eq!(
        next.status(),
        StatusCode::ACCEPTED,
        "the account can be tested again"
    );
}

/// Token upkeep on two instances shares a round: every due account is refreshed exactly once,
/// by one of them, each doing a part; the next round finds nothing due.
#[tokio::test]
async fn upkeep_on_two_instances_refreshes_each_due_account_once_between_them() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let sandbox = s.state.sandbox.clone().unwrap();
    let op = Operator::new(s).await;
    let mut ids = Vec::new();
    for _ in 0..16 {
        ids.push(connected(&op).await);
    }
    let other = second_instance(s).await;
    // Every connection quiet for longer than the upkeep allows.
    sqlx::query("UPDATE accounts SET refreshed_at = 0")
        .execute(&db(s).await)
        .await
        .unwrap();
    sandbox
        .grants
        .set_token_delay(Some(Duration::from_millis(100)));
    let before = sandbox.grants.refresh_requests();
    let day = 86_400;
    let (a, b) = tokio::join!(s.state.tokens.keep_alive(day), other.tokens.keep_alive(day));
    assert_eq!(
        sandbox.grants.refresh_requests() - before,
        ids.len() as u64,
        "one refresh per account"
    );
    assert_eq!(a + b, ids.len(), "each counted by the instance that did it");
    assert!(a > 0 && b > 0, "both instances took a part: {a} and {b}");
    for id in &ids {
        assert_eq!(op.connection(id).await["state"], "connected");
    }
    let (a, b) = tokio::join!(s.state.tokens.keep_alive(day), other.tokens.keep_alive(day));
    assert_eq!((a, b), (0, 0), "nothing due after the round");
}
