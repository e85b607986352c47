//! Concurrent clients on every kind of request at once, for a while: the portal's pages (each a
//! server render with its data loaded), the host's token endpoint and the live event streams. The
//! budget (issue 16): no request hangs (each has 10 s on the client's clock) and none fails. The
//! same mix from one client of each kind, in the same run, is the baseline the p99s stand next
//! to. On SQLite and, when a PostgreSQL server is named (`cargo xtask bench` starts one), on
//! PostgreSQL too. Prints figures; run by `cargo xtask bench`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use mailkey::api_keys::Scope;
use support::{
    contoso::{connected, start_with, Tenant},
    portal::Operator,
};

const LOAD_SECONDS: u64 = 20;
const BASELINE_SECONDS: u64 = 5;
/// Past this a request counts as hung.
const CLIENT_DEADLINE: Duration = Duration::from_secs(10);
/// How long a stream client keeps an event stream open before it lets go and opens another.
const STREAM_HELD: Duration = Duration::from_millis(1500);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    HomePage,
    AccountPage,
    AccessToken,
    EventStream,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::HomePage => "portal: home page (GET /)",
            Kind::AccountPage => "portal: account page",
            Kind::AccessToken => "host API: access token (POST)",
            Kind::EventStream => "event stream: opened, held, let go",
        }
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
    hung: u64,
    first_error: Option<String>,
}

type Tallies = Arc<Mutex<BTreeMap<Kind, Tally>>>;

/// What one client needs to ask: where, as whom.
#[derive(Clone)]
struct Target {
    base: String,
    cookie: String,
    key: String,
    account: String,
    /// The sign-in attempt the account page already shows: its stream then waits for the next.
    since: String,
}

async fn one(client: &reqwest::Client, t: &Target, kind: Kind) -> Result<(), String> {
    let res = match kind {
        Kind::HomePage => client.get(format!("{}/", t.base)),
        Kind::AccountPage => client.get(format!("{}/accounts/{}", t.base, t.account)),
        Kind::AccessToken => client
            .post(format!(
                "{}/api/v1/accounts/{}/access-token",
                t.base, t.account
            ))
            .header("authorization", format!("Bearer {}", t.key))
            .json(&serde_json::json!({})),
        Kind::EventStream => client
            .get(format!(
                "{}/accounts/{}/sign-in/events?since={}",
                t.base, t.account, t.since
            ))
            .header("accept", "text/event-stream"),
    }
    .header("cookie", &t.cookie)
    .send()
    .await
    .map_err(|e| e.to_string())?;
    let status = res.status();
    if !status.is_success() {
        return Err(format!("{kind:?} answered {status}"));
    }
    if kind == Kind::EventStream {
        // Held open as a browser tab would, then dropped.
        let mut res = res;
        let held = tokio::time::sleep(STREAM_HELD);
        tokio::pin!(held);
        loop {
            tokio::select! {
                _ = &mut held => return Ok(()),
                chunk = res.chunk() => match chunk {
                    Ok(Some(_)) => continue,
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                },
            }
        }
    }
    res.bytes().await.map_err(|e| e.to_string())?;
    Ok(())
}

/// One client asking `kinds` in turn, back to back, until `until`.
async fn client_loop(t: Target, kinds: Vec<Kind>, until: Instant, tallies: Tallies) {
    let client = support::TestServer::client();
    let mut i = 0;
    while Instant::now() < until {
        let kind = kinds[i % kinds.len()];
        i += 1;
        let started = Instant::now();
        let deadline = if kind == Kind::EventStream {
            CLIENT_DEADLINE + STREAM_HELD
        } else {
            CLIENT_DEADLINE
        };
        let result = tokio::time::timeout(deadline, one(&client, &t, kind)).await;
        let took = started.elapsed();
        let mut all = tallies.lock().unwrap();
        let tally = all.entry(kind).or_default();
        match result {
            Ok(Ok(())) => tally.latencies.push(took),
            Ok(Err(e)) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(e);
            }
            Err(_) => tally.hung += 1,
        }
    }
}

/// `clients` clients per kind (streams: at most the per-session cap) for `seconds`.
async fn drive(t: &Target, clients: usize, seconds: u64) -> BTreeMap<Kind, Tally> {
    let tallies: Tallies = Arc::default();
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for n in 0..clients {
        let portal = if n % 2 == 0 {
            vec![Kind::HomePage, Kind::AccountPage]
        } else {
            vec![Kind::AccountPage, Kind::HomePage]
        };
        tasks.push(tokio::spawn(client_loop(
            t.clone(),
            portal,
            until,
            tallies.clone(),
        )));
        tasks.push(tokio::spawn(client_loop(
            t.clone(),
            vec![Kind::AccessToken],
            until,
            tallies.clone(),
        )));
    }
    // One browser session holds at most 8 streams (limits::STREAMS_PER_SESSION).
    for _ in 0..clients.min(6) {
        tasks.push(tokio::spawn(client_loop(
            t.clone(),
            vec![Kind::EventStream],
            until,
            tallies.clone(),
        )));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(tallies)
        .ok()
        .expect("every client finished")
        .into_inner()
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

struct Measured {
    baseline: BTreeMap<Kind, Tally>,
    load: BTreeMap<Kind, Tally>,
}

async fn measure(database: Option<String>, clients: usize) -> Measured {
    let env = start_with(Tenant::default(), move |c| {
        // The host API's rate limit is the operator's to set; here it must not be what is measured.
        c.api_requests_per_second = 1_000_000;
        c.database =
            mailkey::storage::DatabaseLocation::from_setting(database.as_deref(), &c.data_dir)
                .unwrap();
    })
    .await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let account = connected(&op).await;
    let (_, key) = s
        .state
        .api_keys
        .create("Load", &[Scope::IssueTokens])
        .await
        .unwrap();
    // The stream without `since` tells the latest attempt at once and ends.
    let told = support::TestServer::client()
        .get(s.url(&format!("/accounts/{account}/sign-in/events")))
        .header("cookie", &op.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let since = told
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .expect("the latest sign-in is told")
        .trim()
        .to_string();
    let target = Target {
        base: s.base.clone(),
        cookie: op.cookie.clone(),
        key: key.expose().to_string(),
        account,
        since,
    };
    // Warm: first renders, first connections.
    drive(&target, 1, 1).await;
    let baseline = drive(&target, 1, BASELINE_SECONDS).await;
    let load = drive(&target, clients, LOAD_SECONDS).await;
    drop(op);
    env.server.stop().await;
    Measured { baseline, load }
}

#[tokio::main]
async fn main() {
    let postgres = match std::env::var(mailkey::storage::testing::POSTGRES_VARIABLE) {
        Ok(server) if !server.is_empty() => {
            Some(mailkey::storage::testing::fresh_postgres_database(&server).await)
        }
        _ => None,
    };
    let clients = 12;
    let mut runs = vec![("SQLite", measure(None, clients).await)];
    if let Some(url) = postgres {
        runs.push(("PostgreSQL", measure(Some(url), clients).await));
    }
    println!(
        "Load: {clients} portal clients, {clients} host clients and {} stream clients at once for \
         {LOAD_SECONDS} s, next to one client of each alone for {BASELINE_SECONDS} s; a request \
         past {} s counts as hung:",
        clients.min(6),
        CLIENT_DEADLINE.as_secs()
    );
    let mut within = true;
    for (database, m) in &mut runs {
        println!("  {database}:");
        println!(
            "    {:<40} {:>8} {:>7} {:>5}   {:>9} {:>9}   {:>15}",
            "", "answered", "errors", "hung", "p50", "p99", "p99 alone"
        );
        for (kind, tally) in m.load.iter_mut() {
            tally.latencies.sort();
            let alone = m
                .baseline
                .get_mut(kind)
                .map(|b| {
                    b.latencies.sort();
                    percentile(&b.latencies, 0.99)
                })
                .unwrap_or(f64::NAN);
            println!(
                "    {:<40} {:>8} {:>7} {:>5}   {:>6.1} ms {:>6.1} ms   {:>12.1} ms",
                kind.label(),
                tally.latencies.len(),
                tally.errors,
                tally.hung,
                percentile(&tally.latencies, 0.5),
                percentile(&tally.latencies, 0.99),
                alone
            );
            if let Some(e) = &tally.first_error {
                println!("      first error: {e}");
            }
            within &= tally.errors == 0 && tally.hung == 0 && !tally.latencies.is_empty();
        }
        for (kind, tally) in &m.baseline {
            within &= tally.errors == 0 && tally.hung == 0;
            if tally.errors + tally.hung > 0 {
                println!(
                    "    alone, {}: {} errors, {} hung",
                    kind.label(),
                    tally.errors,
                    tally.hung
                );
            }
        }
    }
    println!(
        "  budget: no request hung and none failed -> {}",
        if within {
            "within budget"
        } else {
            "OVER BUDGET"
        }
    );
    if runs.len() == 1 {
        println!(
            "  (PostgreSQL not measured: {} is not set; `cargo xtask bench` sets it)",
            mailkey::storage::testing::POSTGRES_VARIABLE
        );
    }
    if !within {
        std::process::exit(1);
    }
}
