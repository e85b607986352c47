//! Real Dovecot and Postfix for the browser tests (`end2end/`), from the same harness the Rust
//! integration tests use. It speaks JSON lines on stdin/stdout, in two steps, because each side
//! needs something from the other: Mailkey must trust the test CA when it starts, and the mail
//! servers must know Mailkey's introspection URL.
//!
//! 1. It makes the test CA and prints `{"ca_file": …}`.
//! 2. It reads `{"introspection_url", "domain", "users", "microsoft_users"}`, starts the servers
//!    and prints `{"smtp_port", "imaps_port", "imap_port", "pop3s_port", "maildir_root"}`.
//! 3. When stdin closes (the test is over, or it died), it stops the servers and exits.
//!
//! Needs root, as the integration tests do (`cargo xtask test` runs as root in CI).

#[path = "../tests/support/mail_servers.rs"]
#[allow(dead_code)]
mod mail_servers;

use std::io::{BufRead, Write};

use serde::Deserialize;
use serde_json::json;

use mail_servers::{MailServers, TestCa};

#[derive(Deserialize)]
struct Request {
    introspection_url: String,
    domain: String,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    microsoft_users: Vec<String>,
}

fn say(value: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}").expect("stdout is open");
    out.flush().expect("stdout is open");
}

fn main() {
    let ca = TestCa::new();
    say(json!({ "ca_file": ca.ca_file }));

    let mut lines = std::io::stdin().lock().lines();
    let Some(Ok(line)) = lines.next() else {
        return;
    };
    let request: Request = serde_json::from_str(&line).unwrap_or_else(|e| {
        panic!("expected {{introspection_url, domain, users, microsoft_users}}: {e}")
    });
    let users: Vec<&str> = request.users.iter().map(String::as_str).collect();
    let microsoft: Vec<&str> = request.microsoft_users.iter().map(String::as_str).collect();
    let servers = MailServers::start(
        &ca,
        &request.introspection_url,
        &request.domain,
        &users,
        &microsoft,
    );
    say(json!({
        "smtp_port": servers.smtp_port,
        "imaps_port": servers.imaps_port,
        "imap_port": servers.imap_port,
        "pop3s_port": servers.pop3s_port,
        "maildir_root": servers.dir.path().join("mail"),
    }));

    // Waits for the end of stdin; the servers stop when `servers` drops.
    for _ in lines {}
    drop(servers);
}
