//! The operator's "Audit trail" page: who changed what and when, and how many access tokens
//! were handed out, filtered by organisation, account and actor. The same lines as
//! `GET /api/v1/audit-events`; the portal's operator sees every organisation's.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::PortalError;

/// Which lines: all four optional, as the page's address carries them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub organisation: Option<String>,
    pub account: Option<String>,
    /// An API key's or connect session's ID.
    pub actor: Option<String>,
    /// Lines older than this one (its ID).
    pub before: Option<i64>,
}

impl AuditQuery {
    /// The page's address for this query.
    pub fn href(&self) -> String {
        let pairs: Vec<String> = [
            ("organisation", self.organisation.clone()),
            ("account", self.account.clone()),
            ("actor", self.actor.clone()),
            ("before", self.before.map(|b| b.to_string())),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", urlencode(&v))))
        .collect();
        if pairs.is_empty() {
            "/audit".into()
        } else {
            format!("/audit?{}", pairs.join("&"))
        }
    }
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One line of the trail, as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLine {
    pub id: i64,
    /// Seconds since the Unix epoch; for counted hand-outs, the last.
    pub at: i64,
    pub first_at: i64,
    /// `operator`, `api_key`, `connect_session` or `anonymous`.
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_name: String,
    /// The method and route, as `POST /api/v1/accounts`.
    pub action: String,
    /// (ID, name); the name is the ID when the organisation is gone.
    pub organisation: Option<(String, String)>,
    pub account_id: Option<String>,
    /// The names of the fields sent, never their values.
    pub fields: Vec<String>,
    pub address: Option<String>,
    pub count: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    pub lines: Vec<AuditLine>,
    /// The filter's choices: (ID, name).
    pub organisations: Vec<(String, String)>,
    pub actors: Vec<(String, String)>,
    /// The next (older) page's `before`, when there is one.
    pub older: Option<i64>,
    /// How long lines are kept.
    pub retention_days: u32,
}

#[server(prefix = "/_fn", endpoint = "audit")]
pub async fn audit_trail(
    #[server(default)] organisation: Option<String>,
    #[server(default)] account: Option<String>,
    #[server(default)] actor: Option<String>,
    #[server(default)] before: Option<i64>,
) -> Result<AuditView, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    let query = AuditQuery {
        organisation,
        account,
        actor,
        before,
    };
    backend.0.audit_trail(&parts, query).await
}
