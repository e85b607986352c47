//! The sandbox tenant most integration tests sign in to: Contoso, its app registration and
//! users, with the switches a test turns (consent, an expired secret, a revoked user, token
//! lifetimes), and the database as only a test looks at it.

use serde_json::Value;

use super::{
    portal::{authorize, Operator},
    TestServer,
};

pub const TENANT_ID: &str = "3f1d8a52-7c4e-4b9a-8e21-6d0c5f7a9b14";
pub const CLIENT_ID: &str = "a7e4c1d9-2b6f-4e83-9c5a-1f0d8b3e6a72";
pub const SECRET_ID: &str = "c2b9e7f4-5a1d-4c3e-8b6f-9d0a2e4c7b15";
pub const SECRET: &str = "Qx38Q~Lm4Nv7Rt2Wb9Kd1Hs6Gf3Jp8Zc5Yx0Ua7E";
pub const OTHER_CLIENT_ID: &str = "0b5e2d8c-9f1a-4a7e-b3c6-8e4d1f9a2c60";
pub const MAILBOX: &str = "invoices@contoso.test";

/// Knobs of the sandbox file for one test.
#[derive(Default)]
pub struct Tenant {
    pub user_consent_off: bool,
    pub secret_expired: bool,
    pub revoked: bool,
    pub refresh_minutes: Option<u32>,
    pub access_minutes: Option<u32>,
    pub admin_consented: bool,
}

pub fn sandbox_file(t: &Tenant) -> String {
    format!(
        r#"
[[tenants]]
id = "{TENANT_ID}"
domains = ["contoso.test"]
user_consent = {user_consent}
access_token_minutes = {access}
refresh_token_minutes = {refresh}

[[tenants.apps]]
client_id = "{CLIENT_ID}"
display_name = "Mailkey invoices"
secret = "{SECRET}"
secret_id = "{SECRET_ID}"
secret_expires = "{expires}"
redirect_uris = ["{{public_url}}/oauth/callback"]
admin_consented = {admin_consented}

[[tenants.users]]
username = "{MAILBOX}"
display_name = "Invoices"
revoked = {revoked}

[[tenants.users]]
username = "admin@contoso.test"
display_name = "Admin"
admin = true

[[tenants]]
id = "9c4e1b7a-3d8f-4a2c-b6e5-0f7d9a1c3e82"
domains = ["fabrikam.test"]

[[tenants.apps]]
client_id = "{OTHER_CLIENT_ID}"
display_name = "Elsewhere"
secret = "{SECRET}"
secret_id = "{SECRET_ID}"
secret_expires = "2099-01-01"
redirect_uris = ["{{public_url}}/oauth/callback"]
"#,
        user_consent = !t.user_consent_off,
        access = t.access_minutes.unwrap_or(60),
        refresh = t.refresh_minutes.unwrap_or(129_600),
        expires = if t.secret_expired {
            "2020-01-01"
        } else {
            "2099-12-31"
        },
        admin_consented = t.admin_consented,
        revoked = t.revoked,
    )
}

pub struct Env {
    pub server: TestServer,
    /// The sandbox file (kept for a restart).
    pub files: tempfile::TempDir,
}

pub async fn start(t: Tenant) -> Env {
    start_with(t, |_| {}).await
}

/// As `start`, with some settings changed.
pub async fn start_with(t: Tenant, adjust: impl FnOnce(&mut mailkey::config::Config)) -> Env {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("sandbox.toml");
    std::fs::write(&path, sandbox_file(&t)).unwrap();
    let server = TestServer::start_with(|c| {
        c.sandbox = true;
        c.sandbox_file = Some(path.clone());
        adjust(c);
    })
    .await;
    Env { server, files }
}

/// The server's database (SQLite or PostgreSQL), for what no API shows (or lets a test
/// change). SQL as both understand it: `$1` placeholders.
pub async fn db(s: &TestServer) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&s.database_url).await.unwrap()
}

/// Everything the database holds, as bytes at rest: SQLite's file and its log, or, on
/// PostgreSQL, a dump with every binary value also as the bytes it holds (pg_dump writes them
/// in hex), so a secret stored in clear shows in either column type.
pub fn db_bytes(s: &TestServer) -> Vec<u8> {
    let mut all = Vec::new();
    if s.database_url.starts_with("postgres") {
        let dump = std::process::Command::new(pg_dump())
            .args(["--data-only", "--dbname", &s.database_url])
            .output()
            .unwrap();
        assert!(
            dump.status.success() && contains(&dump.stdout, "COPY public.accounts"),
            "pg_dump: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        all.extend(unhex_bytea(&dump.stdout));
        all.extend(dump.stdout);
        return all;
    }
    for name in ["mailkey.sqlite3", "mailkey.sqlite3-wal"] {
        if let Ok(b) = std::fs::read(s.data_dir.path().join(name)) {
            all.extend(b);
        }
    }
    all
}

/// Debian's pg_dump of the newest PostgreSQL installed.
fn pg_dump() -> std::path::PathBuf {
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's programs (the test command installs them)")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect();
    versions.sort();
    let v = versions.last().expect("a PostgreSQL version");
    format!("/usr/lib/postgresql/{v}/bin/pg_dump").into()
}

/// The bytes of every `\x…` hex run in a dump.
fn unhex_bytea(dump: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(dump);
    let mut out = Vec::new();
    for run in text.split("\\x").skip(1) {
        let hex: String = run.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        out.extend(
            (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()),
        );
        out.push(b'\n');
    }
    out
}

pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A finished account whose mailbox signed in and accepted.
pub async fn connected(op: &Operator) -> String {
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    assert_eq!(
        outcome(op, &id, MAILBOX, "accept").await["kind"],
        "connected"
    );
    id
}

/// Signs in and returns the problem Mailkey shows, if the sign-in failed.
pub async fn outcome(op: &Operator, id: &str, user: &str, decision: &str) -> Value {
    let url = op.start(id, "sign-in?mode=redirect").await;
    let back = authorize(&url, user, decision).await;
    assert_eq!(op.get(&back).await.status(), 303);
    op.connection(id).await["last_outcome"].clone()
}
