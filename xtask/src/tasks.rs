//! The tasks themselves.

use std::{path::PathBuf, process::Command, time::Instant};

use crate::{
    postgres::TestCluster,
    setup::{self, path_with_npm_bin, root, run, step},
};

/// Where cargo-leptos leaves the release server binary (with `hash.txt` beside it).
fn release_binary() -> PathBuf {
    root().join("target/release/mailkey")
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    // A clean clone never reuses incremental state, and it costs gigabytes of disk (a CI run once
    // failed with "No space left on device").
    if std::env::var("CI").as_deref() == Ok("true") {
        cmd.env("CARGO_INCREMENTAL", "0");
    }
    cmd
}

/// The release build: size-optimised wasm, hashed file names, normal-speed server. `--split`
/// moves each `#[island(lazy)]` (the wizard's forms, the sign-in and test buttons) into a wasm
/// file of its own, loaded only by a page that has that island; every page loads the rest.
fn build_release_site() -> Result<(), String> {
    step("building the release site (server + WebAssembly) with cargo-leptos");
    let started = Instant::now();
    run(cargo()
        .args(["leptos", "build", "--release", "--split"])
        .env("PATH", path_with_npm_bin()))?;
    // cargo-leptos leaves the manifest of hashed file names beside the binary; a copy in the
    // site makes the site directory whole, so it can be installed anywhere on its own.
    let manifest = root().join("target/release/hash.txt");
    let site_copy = root().join("target/site/hash.txt");
    std::fs::copy(&manifest, &site_copy).map_err(|e| {
        format!(
            "cannot copy {} to {}: {e}",
            manifest.display(),
            site_copy.display()
        )
    })?;
    println!("release site built in {:.0?}", started.elapsed());
    Ok(())
}

pub fn run_mailkey(args: &[String]) -> Result<(), String> {
    setup::build_tools()?;
    build_release_site()?;
    step("starting Mailkey (Ctrl-C stops it)");
    let mut cmd = Command::new(release_binary());
    cmd.current_dir(root()).args(args);
    // `exec` semantics: Mailkey receives Ctrl-C directly and shuts down gracefully.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        Err(format!(
            "cannot start {}: {err}",
            release_binary().display()
        ))
    }
    #[cfg(not(unix))]
    {
        run(&mut cmd)
    }
}

pub fn test() -> Result<(), String> {
    let started = Instant::now();
    setup::build_tools()?;
    setup::test_tools()?;

    step("formatting (cargo fmt --check)");
    run(cargo().args(["fmt", "--all", "--check"]))?;

    // Separate invocations: the server (ssr) and the browser (hydrate, wasm) builds enable
    // different features of the same crates, which must not be unified into one build.
    step("lints (cargo clippy -D warnings): server, sandbox, task runner, shared app");
    run(cargo().args([
        "clippy",
        "--all-targets",
        "--package",
        "mailkey",
        "--package",
        "mailkey-app",
        "--package",
        "mailkey-sandbox",
        "--package",
        "xtask",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("lints (cargo clippy -D warnings): browser build");
    run(cargo().args([
        "clippy",
        "--package",
        "mailkey-frontend",
        "--target",
        "wasm32-unknown-unknown",
        "--",
        "-D",
        "warnings",
    ]))?;

    step("unit and integration tests (cargo test)");
    let verifier = setup::webhook_verifier_python()?;
    run(cargo().env("STANDARDWEBHOOKS_PYTHON", &verifier).args([
        "test",
        "--package",
        "mailkey",
        "--package",
        "mailkey-app",
        "--package",
        "mailkey-sandbox",
        "--package",
        "xtask",
    ]))?;

    step("the storage and integration suites again, on PostgreSQL (a cluster of its own on loopback)");
    let postgres_started = Instant::now();
    let cluster = TestCluster::start()?;
    // The server's test support gives each test server and store a fresh database on it. On
    // failure, `?` drops the cluster, which stops it.
    run(cargo()
        .env("STANDARDWEBHOOKS_PYTHON", &verifier)
        .env("POSTGRES_TEST_SERVER", cluster.url())
        .args(["test", "--package", "mailkey"]))?;
    drop(cluster);
    println!(
        "the PostgreSQL run passed in {:.0?}",
        postgres_started.elapsed()
    );

    // The OpenAPI document the integration test wrote, checked by a validator nobody here wrote.
    step("OpenAPI document (openapi-spec-validator)");
    let validator = setup::openapi_validator()?;
    run(Command::new(validator).arg(root().join("target/tmp/openapi.json")))?;

    build_release_site()?;
    // The browser tests' mail servers come from the integration tests' harness (already built
    // by `cargo test`, which builds examples).
    run(cargo().args([
        "build",
        "--package",
        "mailkey",
        "--example",
        "browser_mail_servers",
    ]))?;
    step("browser tests (Playwright + Chromium) against the release build");
    run(Command::new("node")
        .args(["--test", "--test-concurrency=1", "tests/"])
        .current_dir(root().join("end2end"))
        .env("MAILKEY_BIN", release_binary())
        .env(
            "MAILKEY_MAIL_SERVERS_BIN",
            root().join("target/debug/examples/browser_mail_servers"),
        )
        .env("MAILKEY_SITE", root().join("target/site")))?;

    println!("\nall checks and tests passed in {:.0?}", started.elapsed());
    Ok(())
}

pub fn bench() -> Result<(), String> {
    setup::build_tools()?;
    setup::test_tools()?;
    build_release_site()?;
    setup::bench_tools()?;
    step("first-load weight (Chromium loads each page once, cold cache)");
    run(Command::new("node")
        .arg("bench/first-load.mjs")
        .current_dir(root().join("end2end"))
        .env("MAILKEY_BIN", release_binary())
        .env("MAILKEY_SITE", root().join("target/site")))?;
    step("connection test speed against local Dovecot + Postfix, next to a minimal Python client");
    run(cargo().args([
        "bench",
        "--package",
        "mailkey",
        "--bench",
        "connection_test",
    ]))?;
    step("the token endpoint under wrk on SQLite and on PostgreSQL, next to a bare axum handler");
    let cluster = TestCluster::start()?;
    run(cargo()
        .args(["bench", "--package", "mailkey", "--bench", "token_endpoint"])
        .env("POSTGRES_TEST_SERVER", cluster.url()))?;
    step("a refresh storm: 1,000 accounts due at once, kept alive by two instances on PostgreSQL");
    run(cargo()
        .args(["bench", "--package", "mailkey", "--bench", "refresh_storm"])
        .env("POSTGRES_TEST_SERVER", cluster.url()))?;
    step("load: portal pages, the token endpoint and event streams at once, on SQLite and PostgreSQL");
    run(cargo()
        .args(["bench", "--package", "mailkey", "--bench", "load"])
        .env("POSTGRES_TEST_SERVER", cluster.url()))
}
