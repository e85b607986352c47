//! Mailkey's server: configuration, storage, operator access, the `/api/v1` JSON API, and the
//! server-rendered portal pages with their server functions.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod config;
pub mod connect;
pub mod connection_tests;
pub mod discovery;
pub mod freshness;
pub mod http;
pub mod key_rotation;
pub mod mail_test;
pub mod metrics;
pub mod notice_mail;
pub mod operator_app;
pub mod operator_settings;
mod portal;
mod portal_audit;
mod portal_keys;
mod portal_notices;
mod portal_webhooks;
pub mod providers;
pub mod sandbox;
pub mod secrets;
pub mod server;
pub mod setup_steps;
pub mod sign_in;
pub mod state;
pub mod storage;
pub mod sync;
pub mod telemetry;
pub mod token_views;
pub mod tokens;
pub mod webhooks;
pub mod wizard;

pub use server::{app, Server};
