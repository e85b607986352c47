//! A refresh storm: 1,000 connected accounts whose refresh tokens all fall due at once, kept
//! alive by two instances on one database (PostgreSQL when a server is named, as `cargo xtask
//! bench` does; else SQLite). Prints how long until every account is fresh again, how the work
//! split between the instances, and how many refreshes each account got: the budget is exactly
//! one each (the sandbox rotates the refresh token on every refresh, so each one moves the
//! account's token generation by one).

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use mailkey::{server::Services, tokens::TokenKeeper};
use support::{
    contoso::{db, start_with, Tenant, CLIENT_ID, MAILBOX, SECRET},
    portal::{authorize, Operator},
};

const ACCOUNTS: usize = 1000;
/// How old a refresh token may be before the upkeep refreshes it (a day, so all are due).
const MAX_AGE_SECS: i64 = 86_400;

/// Connects `n` accounts: the wizard over HTTP, the sign-in started through the service (the
/// portal's per-address limit on sign-in starts is not what is measured) and finished at the
/// sandbox as a browser would.
async fn connect_accounts(s: &support::TestServer, op: &Operator, n: usize) -> Vec<String> {
    let cookie_value = op.cookie.split_once('=').unwrap().1;
    let browser = mailkey::auth::token::hash(cookie_value);
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
        let url = s
            .state
            .sign_in
            .start(
                &id,
                &browser,
                mailkey::sign_in::Mode::Redirect,
                mailkey::sign_in::Purpose::SignIn,
            )
            .await
            .unwrap();
        let back = authorize(url.as_str(), MAILBOX, "accept").await;
        assert_eq!(op.get(&back).await.status(), 303);
        ids.push(id);
    }
    ids
}

async fn generations(s: &support::TestServer) -> BTreeMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>("SELECT id, refresh_generation FROM accounts")
        .fetch_all(&db(s).await)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

async fn due(s: &support::TestServer, before: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM accounts WHERE refresh_token IS NOT NULL \
         AND COALESCE(refreshed_at, 0) < $1",
    )
    .bind(before)
    .fetch_one(&db(s).await)
    .await
    .unwrap()
}

/// One instance's upkeep, round after round until no account is due: how many it refreshed.
async fn keep_up(keeper: TokenKeeper, s: &support::TestServer, before: i64) -> usize {
    let mut total = 0;
    loop {
        let n = keeper.keep_alive(MAX_AGE_SECS).await;
        total += n;
        if n == 0 {
            if due(s, before).await == 0 {
                return total;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::main]
async fn main() {
    let env = start_with(Tenant::default(), |_| {}).await;
    let s = &env.server;
    let database = if s.database_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let op = Operator::new(s).await;
    let made = Instant::now();
    let ids = connect_accounts(s, &op, ACCOUNTS).await;
    println!(
        "Refresh storm on {database}: {ACCOUNTS} accounts connected in {:.1} s",
        made.elapsed().as_secs_f64()
    );
    let other = Services::open(&s.config, &url::Url::parse(&s.base).unwrap())
        .await
        .unwrap();
    let sandbox = s.state.sandbox.clone().unwrap();
    // Every refresh token falls due at once; no access token is kept anywhere.
    sqlx::query("UPDATE accounts SET refreshed_at = 0, access_token = NULL")
        .execute(&db(s).await)
        .await
        .unwrap();
    for id in &ids {
        s.state.tokens.forget(id);
        other.tokens.forget(id);
    }
    let before = generations(s).await;
    let refreshes = sandbox.grants.refresh_requests();
    let started = mailkey::storage::now();
    let clock = Instant::now();
    let (a, b) = tokio::join!(
        keep_up(s.state.tokens.clone(), s, started),
        keep_up(other.tokens.clone(), s, started)
    );
    let took = clock.elapsed();
    let after = generations(s).await;
    let at_sandbox = sandbox.grants.refresh_requests() - refreshes;
    let mut per_account: BTreeMap<i64, usize> = BTreeMap::new();
    for id in &ids {
        *per_account.entry(after[id] - before[id]).or_default() += 1;
    }
    let connected: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE state = 'connected'")
            .fetch_one(&db(s).await)
            .await
            .unwrap();
    println!(
        "  all {ACCOUNTS} fresh again after {:.2} s ({:.0} refreshes/s); instance A refreshed {a}, \
         instance B {b}; token requests at the sandbox: {at_sandbox}; connected after: {connected}",
        took.as_secs_f64(),
        ACCOUNTS as f64 / took.as_secs_f64()
    );
    let spread: Vec<String> = per_account
        .iter()
        .map(|(refreshes, accounts)| format!("{accounts} accounts refreshed {refreshes}x"))
        .collect();
    println!("  refreshes per account: {}", spread.join(", "));
    let within = per_account.len() == 1
        && per_account.contains_key(&1)
        && at_sandbox == ACCOUNTS as u64
        && connected == ACCOUNTS as i64;
    println!(
        "budget: exactly one refresh per account, every account connected -> {}",
        if within {
            "within budget"
        } else {
            "OVER BUDGET"
        }
    );
    drop(op);
    env.server.stop().await;
    if !within {
        std::process::exit(1);
    }
}
