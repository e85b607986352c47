//! Mailkey's integration tests, one module per area, linked into one test binary (see
//! `autotests` in Cargo.toml). Run one area with `cargo test -p mailkey --test integration keys::`.

mod support;

mod audit;
mod cli;
mod connect_sessions;
mod first_time;
mod hardening;
mod host_accounts;
mod host_api;
mod http_api;
mod instances;
mod keys;
mod mail_test;
mod metrics;
mod notice_mail;
mod one_click;
mod operator_settings;
mod processes;
mod sandbox;
mod sign_in;
mod webhooks;
mod wizard_api;
