//! Webhooks, as a host receives them: every delivery checked by an independent Standard
//! Webhooks verifier (the PyPI `standardwebhooks` package, in a Python receiver), delivered
//! after the receiver comes back (also across a Mailkey restart), once per `webhook-id`, and an
//! endpoint answering `410 Gone` turned off.

use crate::support;

use std::time::Duration;

use mailkey::api_keys::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{
    contoso::{connected, contains, db_bytes, start_with, Tenant, MAILBOX},
    host::{get_api, key, key_for, send},
    portal::Operator,
    webhooks::{free_port, Receiver},
    TestServer,
};

async fn wait_for_attempt(s: &TestServer, k: &str, endpoint: &str) -> Value {
    for _ in 0..100 {
        let (_, d) = get_api(
            s,
            k,
            &format!("/api/v1/webhook-endpoints/{endpoint}/deliveries"),
        )
        .await;
        if let Some(first) = d["deliveries"].as_array().and_then(|a| a.last()) {
            if first["attempts"].as_i64() > Some(0) {
                return first.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no attempt was made");
}

#[tokio::test]
async fn a_down_receiver_gets_each_event_once_after_it_comes_back_across_a_restart() {
    let env = start_with(Tenant::default(), |c| c.allow_private_hosts = true).await;
    let files = env.files;
    let s = env.server;
    let k = key(&s, &Scope::ALL).await;
    let mut receiver = Receiver::on(free_port());

    let (status, created) = send(
        &s,
        Method::POST,
        &k,
        "/api/v1/webhook-endpoints",
        Some(json!({"url": receiver.url(), "description": "Acme ERP"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let endpoint = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.set_secret(&secret);
    // Shown once: never in a later answer, never in the database's bytes.
    let (_, shown) = get_api(&s, &k, &format!("/api/v1/webhook-endpoints/{endpoint}")).await;
    assert_eq!(shown["url"], receiver.url());
    assert!(shown.get("secret").is_none(), "{shown}");
    assert!(!contains(&db_bytes(&s), &secret));

    // The account connects while the receiver is down: the first attempt fails, and says why.
    let op = Operator::new(&s).await;
    let account = connected(&op).await;
    let first = wait_for_attempt(&s, &k, &endpoint).await;
    assert_eq!(first["event_type"], "account.connected");
    assert_eq!(first["state"], "pending", "{first}");
    assert!(
        first["last_error"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{first}"
    );
    assert!(first["next_attempt_at"].as_i64().is_some());
    drop(op);

    // Mailkey stops before the retry; the receiver comes up; Mailkey starts again on the same
    // data directory and delivers from its outbox.
    let config = s.config.clone();
    let data = s.stop().await;
    receiver.start(204);
    let s = TestServer::start_in(data, config).await;
    let got = receiver
        .wait_for("account.connected", Duration::from_secs(20))
        .await;
    let body = &got["body"];
    assert_eq!(body["data"]["account"]["id"], account);
    assert_eq!(body["data"]["account"]["mailbox"], MAILBOX);
    assert_eq!(body["data"]["organisation"]["external_id"], "default");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    let (_, list) = get_api(
        &s,
        &k,
        &format!("/api/v1/webhook-endpoints/{endpoint}/deliveries"),
    )
    .await;
    let delivered = list["deliveries"][0].clone();
    assert_eq!(delivered["state"], "delivered", "{list}");
    // At least the one that failed and the one that worked (a slow stop may fit another in).
    assert!(delivered["attempts"].as_i64().unwrap() >= 2, "{delivered}");
    assert_eq!(delivered["event_id"], got["id"]);

    // A test event, then a deletion: each arrives verified, with the host's IDs.
    let (status, _) = send(
        &s,
        Method::POST,
        &k,
        &format!("/api/v1/webhook-endpoints/{endpoint}/test"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    receiver
        .wait_for("webhook.test", Duration::from_secs(10))
        .await;
    let (status, _) = send(
        &s,
        Method::DELETE,
        &k,
        &format!("/api/v1/accounts/{account}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let deleted = receiver
        .wait_for("account.deleted", Duration::from_secs(10))
        .await;
    assert_eq!(deleted["body"]["data"]["account"]["id"], account);

    // Exactly once per webhook-id: nothing delivered is sent again by itself.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = receiver.received();
    let mut ids: Vec<&str> = received.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "a webhook-id arrived twice: {received:?}");
    assert_eq!(n, 3, "{received:?}");

    // A redelivery on request carries the same webhook-id.
    let (status, again) = send(
        &s,
        Method::POST,
        &k,
        &format!(
            "/api/v1/webhook-endpoints/{endpoint}/deliveries/{}/redeliver",
            delivered["id"]
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    for _ in 0..100 {
        if receiver.received().len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = receiver.received();
    assert_eq!(received.len(), 4, "{received:?}");
    assert_eq!(received[3]["id"], got["id"]);
    s.stop().await;
    drop(files);
}

#[tokio::test]
async fn a_receiver_answering_410_turns_its_endpoint_off() {
    let env = start_with(Tenant::default(), |c| c.allow_private_hosts = true).await;
    let s = &env.server;
    let k = key(s, &Scope::ALL).await;
    let mut receiver = Receiver::on(free_port());
    let (_, created) = send(
        s,
        Method::POST,
        &k,
        "/api/v1/webhook-endpoints",
        Some(json!({"url": receiver.url(), "event_types": ["webhook.test", "account.connected"]})),
    )
    .await;
    let endpoint = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        created["event_types"],
        json!(["account.connected", "webhook.test"])
    );
    receiver.set_secret(created["secret"].as_str().unwrap());
    receiver.start(410);
    // Counted for the metrics (the process's counters: compared before and after).
    let scrape = mailkey::metrics::Scrape::new(s.state.store.clone());
    async fn gone(scrape: &mailkey::metrics::Scrape) -> f64 {
        scrape
            .render()
            .await
            .lines()
            .find_map(|l| {
                l.strip_prefix("mailkey_webhook_delivery_attempts_total{outcome=\"gone\"} ")
            })
            .map_or(0.0, |v| v.parse().unwrap())
    }
    let before = gone(&scrape).await;
    send(
        s,
        Method::POST,
        &k,
        &format!("/api/v1/webhook-endpoints/{endpoint}/test"),
        None,
    )
    .await;
    receiver
        .wait_for("webhook.test", Duration::from_secs(10))
        .await;
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = get_api(s, &k, &format!("/api/v1/webhook-endpoints/{endpoint}"))
            .await
            .1;
        if shown["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shown["enabled"], false, "{shown}");
    assert_eq!(shown["disabled_reason"], "gone");
    let after = gone(&scrape).await;
    assert_eq!(after - before, 1.0, "one attempt, answered 410");
    let (_, list) = get_api(
        s,
        &k,
        &format!("/api/v1/webhook-endpoints/{endpoint}/deliveries"),
    )
    .await;
    assert_eq!(list["deliveries"][0]["state"], "failed");
    assert_eq!(list["deliveries"][0]["last_status"], 410);
    // Turned off: the next event is not queued for it.
    let op = Operator::new(s).await;
    connected(&op).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, list) = get_api(
        s,
        &k,
        &format!("/api/v1/webhook-endpoints/{endpoint}/deliveries"),
    )
    .await;
    assert_eq!(list["deliveries"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(receiver.received().len(), 1);
    // Enabling it again clears the reason.
    let (status, on) = send(
        s,
        Method::PATCH,
        &k,
        &format!("/api/v1/webhook-endpoints/{endpoint}"),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{on}");
    assert_eq!(on["enabled"], true);
    assert!(on.get("disabled_reason").is_none(), "{on}");
}

#[tokio::test]
async fn endpoints_are_checked_and_scoped() {
    let s = TestServer::start().await;
    let k = key(&s, &Scope::ALL).await;
    // Refused values, each with its reason; nothing is made.
    let (status, e) = send(
        &s,
        Method::POST,
        &k,
        "/api/v1/webhook-endpoints",
        Some(json!({"url": "http://127.0.0.1:9/hooks", "description": "a\nb", "event_types": []})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["code"], "invalid_fields");
    let fields = &e["error"]["fields"];
    assert!(
        fields["url"].as_str().unwrap().contains("https"),
        "{fields}"
    );
    assert!(fields["description"].as_str().is_some(), "{fields}");
    assert!(fields["event_types"].as_str().is_some(), "{fields}");
    for url in [
        "https://10.0.0.5/hooks",
        "https://localhost/hooks",
        "https://user:pw@erp.example.com/",
    ] {
        let (status, e) = send(
            &s,
            Method::POST,
            &k,
            "/api/v1/webhook-endpoints",
            Some(json!({"url": url})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {e}");
        assert!(e["error"]["fields"]["url"].is_string(), "{url}: {e}");
    }
    let (status, e) = send(
        &s,
        Method::POST,
        &k,
        "/api/v1/webhook-endpoints",
        Some(json!({"url": "https://erp.example.com/h", "event_types": ["account.exploded"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "invalid_body", "{e}");
    assert_eq!(
        get_api(&s, &k, "/api/v1/webhook-endpoints").await.1["endpoints"],
        json!([])
    );

    // A key without the scope is refused; a key of one organisation sees only its own.
    let reader = key(&s, &[Scope::ReadAccounts]).await;
    let (status, e) = get_api(&s, &reader, "/api/v1/webhook-endpoints").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    let (_, everyone) = send(
        &s,
        Method::POST,
        &k,
        "/api/v1/webhook-endpoints",
        Some(json!({"url": "https://erp.example.com/all"})),
    )
    .await;
    let (_, org) = send(
        &s,
        Method::POST,
        &k,
        "/api/v1/organisations",
        Some(json!({"external_id": "cust-1", "name": "Customer 1"})),
    )
    .await;
    let own = key_for(&s, org["id"].as_str().unwrap()).await;
    let (status, mine) = send(
        &s,
        Method::POST,
        &own,
        "/api/v1/webhook-endpoints",
        Some(json!({"url": "https://erp.example.com/one"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    assert_eq!(mine["organisation_id"], org["id"]);
    let (_, listed) = get_api(&s, &own, "/api/v1/webhook-endpoints").await;
    assert_eq!(listed["endpoints"].as_array().unwrap().len(), 1, "{listed}");
    let (status, _) = get_api(
        &s,
        &own,
        &format!(
            "/api/v1/webhook-endpoints/{}",
            everyone["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(
        &s,
        Method::DELETE,
        &own,
        &format!(
            "/api/v1/webhook-endpoints/{}",
            everyone["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        get_api(&s, &k, "/api/v1/webhook-endpoints").await.1["endpoints"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Every answer in the one error shape, a bad path included; a change that says nothing
    // clear is refused, not ignored.
    let id = everyone["id"].as_str().unwrap();
    let (status, e) = send(
        &s,
        Method::POST,
        &k,
        &format!("/api/v1/webhook-endpoints/{id}/deliveries/abc/redeliver"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["code"], "delivery_not_found", "{e}");
    let (status, e) = send(
        &s,
        Method::PATCH,
        &k,
        &format!("/api/v1/webhook-endpoints/{id}"),
        Some(json!({"all_events": false})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(e["error"]["fields"]["all_events"].is_string(), "{e}");
    let (status, e) = get_api(
        &s,
        &k,
        &format!("/api/v1/webhook-endpoints/{id}/deliveries?limit=0"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");

    // At most 20 endpoints get the same events.
    for n in 1..20 {
        let (status, e) = send(
            &s,
            Method::POST,
            &k,
            "/api/v1/webhook-endpoints",
            Some(json!({"url": format!("https://erp.example.com/{n}")})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{n}: {e}");
    }
    let (status, e) = send(
        &s,
        Method::POST,
        &k,
        "/api/v1/webhook-endpoints",
        Some(json!({"url": "https://erp.example.com/21"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["fields"]["url"]
            .as_str()
            .unwrap()
            .contains("20 endpoints"),
        "{e}"
    );
}

#[tokio::test]
async fn a_refused_sign_in_and_an_expiring_secret_reach_the_host_with_their_reasons() {
    let env = start_with(
        Tenant {
            revoked: true,
            ..Tenant::default()
        },
        |c| c.allow_private_hosts = true,
    )
    .await;
    let s = &env.server;
    let k = key(s, &Scope::ALL).await;
    let mut receiver = Receiver::on(free_port());
    let (_, created) = send(
        s,
        Method::POST,
        &k,
        "/api/v1/webhook-endpoints",
        Some(json!({"url": receiver.url(), "event_types": [
            "account.needs_reconnect", "account.client_secret_expiring"
        ]})),
    )
    .await;
    receiver.set_secret(created["secret"].as_str().unwrap());
    receiver.start(204);
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    // The sandbox revoked the sign-in: the next refresh is refused for good.
    s.state.tokens.forget(&id);
    let (status, _, _) = support::host::post_token(s, Some(&k), &id, "").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let refused = receiver
        .wait_for("account.needs_reconnect", Duration::from_secs(10))
        .await;
    let data = &refused["body"]["data"];
    assert_eq!(data["account"]["id"], id);
    assert_eq!(data["reason"]["code"], "refresh_token_refused");
    assert!(
        data["reason"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{data}"
    );

    // The portal's home says so above the list, as well as on the account's row.
    let home = op.get("/").await.text().await.unwrap();
    assert!(
        home.contains("1 mailbox stopped working and needs you."),
        "{home}"
    );

    // The account's own secret expires 2030-05-01: a week before, the 7-day notice, once.
    let notices = mailkey::webhooks::notices::Notices {
        store: s.state.store.clone(),
    };
    let week_before = mailkey_app::rules::dates::Day::parse("2030-04-24").unwrap();
    assert_eq!(notices.round(week_before).await.unwrap(), 1);
    assert_eq!(notices.round(week_before).await.unwrap(), 0, "sent once");
    let expiring = receiver
        .wait_for("account.client_secret_expiring", Duration::from_secs(10))
        .await;
    assert_eq!(expiring["body"]["data"]["days_left"], 7);
    assert_eq!(expiring["body"]["data"]["expires_on"], "2030-05-01");
    // Only the types it asked for: the connection itself was not sent.
    assert!(receiver
        .received()
        .iter()
        .all(|e| e["type"] != "account.connected"));
}

#[tokio::test]
async fn turning_an_endpoint_off_stops_its_queued_deliveries() {
    let env = start_with(Tenant::default(), |c| c.allow_private_hosts = true).await;
    let s = &env.server;
    let k = key(s, &Scope::ALL).await;
    let receiver = Receiver::on(free_port());
    let (_, created) = send(
        s,
        Method::POST,
        &k,
        "/api/v1/webhook-endpoints",
        Some(json!({"url": receiver.url()})),
    )
    .await;
    let endpoint = created["id"].as_str().unwrap().to_string();
    let op = Operator::new(s).await;
    connected(&op).await;
    let first = wait_for_attempt(s, &k, &endpoint).await;
    assert_eq!(first["state"], "pending", "{first}");
    let (status, _) = send(
        s,
        Method::PATCH,
        &k,
        &format!("/api/v1/webhook-endpoints/{endpoint}"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = get_api(
        s,
        &k,
        &format!("/api/v1/webhook-endpoints/{endpoint}/deliveries"),
    )
    .await;
    assert_eq!(list["deliveries"][0]["state"], "skipped", "{list}");
}
