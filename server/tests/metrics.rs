//! `/metrics`: behind its token on the main address, on an address of its own with
//! `metrics_listen`, and counting what happens (tokens handed out, refreshes by outcome,
//! accounts by state, the webhook backlog) in Prometheus' text format.

use crate::support;

use mailkey::api_keys::Scope;
use reqwest::StatusCode;
use support::{
    contoso::{connected, start_with, Tenant},
    host::{key, post_token},
    portal::Operator,
    TestServer,
};

const TOKEN: &str = "0123456789abcdef0123456789abcdef-metrics";

/// The value of the sample `name{labels}` (labels as written, in the exporter's order), if
/// the text has it. Counters are the process's (several servers in one test process share
/// them), so tests compare a value before and after.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let key = if labels.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == key).then(|| v.parse().ok()).flatten()
    })
}

async fn scrape(url: &str, bearer: Option<&str>) -> (StatusCode, String) {
    let mut req = TestServer::client().get(url);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    if status == StatusCode::OK {
        assert_eq!(
            res.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
    }
    (status, res.text().await.unwrap())
}

#[tokio::test]
async fn metrics_on_the_main_address_need_their_token_and_count_what_happens() {
    let env = start_with(Tenant::default(), |c| {
        c.metrics_token = Some(TOKEN.to_string().into());
    })
    .await;
    let s = &env.server;
    let url = s.url("/metrics");
    assert_eq!(scrape(&url, None).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = scrape(&url, Some("not-the-token-not-the-token-not-the-t")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!body.contains(TOKEN), "{body}");

    let handed = |t: &str| sample(t, "mailkey_access_tokens_handed_out_total", "").unwrap_or(0.0);
    let refreshed = |t: &str| {
        ["fresh", "rotated"]
            .iter()
            .filter_map(|o| {
                sample(
                    t,
                    "mailkey_token_refreshes_total",
                    &format!("outcome=\"{o}\""),
                )
            })
            .sum::<f64>()
    };

    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let k = key(s, &[Scope::IssueTokens]).await;
    // The database's figures are read at the first scrape (then kept for 15 s): after the
    // account is connected.
    let (_, before) = scrape(&url, Some(TOKEN)).await;
    for _ in 0..3 {
        let (status, _, t) = post_token(s, Some(&k), &id, "").await;
        assert_eq!(status, StatusCode::OK, "{t}");
    }
    let (status, _, t) = post_token(s, Some(&k), &id, r#"{"force_refresh": true}"#).await;
    assert_eq!(status, StatusCode::OK, "{t}");

    let (status, after) = scrape(&url, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(handed(&after) - handed(&before), 4.0, "{after}");
    assert_eq!(refreshed(&after) - refreshed(&before), 1.0, "{after}");
    assert!(
        after.contains("# TYPE mailkey_access_token_seconds histogram"),
        "{after}"
    );
    assert!(
        sample(&after, "mailkey_access_token_seconds_count", "").unwrap() >= 4.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, "mailkey_accounts", "state=\"connected\""),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "mailkey_accounts", "state=\"needs_attention\""),
        Some(0.0),
        "{after}"
    );
    assert!(
        sample(&after, "mailkey_webhook_deliveries_pending", "").is_some(),
        "{after}"
    );
    // Described, so Prometheus shows what each means.
    assert!(
        after.contains("# HELP mailkey_token_refreshes_total"),
        "{after}"
    );
}

#[tokio::test]
async fn without_a_token_the_main_address_has_no_metrics_and_their_own_address_serves_them() {
    let env = start_with(Tenant::default(), |c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let s = &env.server;
    assert_eq!(
        scrape(&s.url("/metrics"), None).await.0,
        StatusCode::NOT_FOUND
    );
    let own = s.metrics_addr.expect("metrics_listen is bound");
    assert_ne!(own.port(), s.addr.port());
    let (status, body) = scrape(&format!("http://{own}/metrics"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("mailkey_accounts{state=\"draft\"} 0"),
        "{body}"
    );
    // Only /metrics there: not the portal, not the API.
    for path in ["/", "/api/v1/accounts", "/healthz"] {
        let res = TestServer::client()
            .get(format!("http://{own}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[test]
fn a_short_metrics_token_is_refused_without_being_repeated() {
    let env = [(
        "MAILKEY_METRICS_TOKEN".to_string(),
        "short-secret".to_string(),
    )];
    let err = mailkey::config::Config::load_from(None, &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("metrics_token"), "{err}");
    assert!(err.contains("at least 32"), "{err}");
    assert!(!err.contains("short-secret"), "{err}");
}
