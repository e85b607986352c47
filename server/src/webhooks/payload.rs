//! The body of a delivery, made from the event's columns: the same bytes on every attempt.
//! Standard Webhooks' shape: `{"type", "timestamp", "data"}`.

use mailkey_app::rules::dates::Day;
use serde::Serialize;

use crate::storage::EventRecord;

#[derive(Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    event_type: &'static str,
    /// RFC 3339, UTC.
    timestamp: String,
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    organisation: Option<Ref<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<AccountRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<Reason<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_on: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    days_left: Option<i64>,
}

#[derive(Serialize)]
struct Ref<'a> {
    id: &'a str,
    external_id: Option<&'a str>,
}

#[derive(Serialize)]
struct AccountRef<'a> {
    id: &'a str,
    external_id: Option<&'a str>,
    name: Option<&'a str>,
    mailbox: Option<&'a str>,
}

#[derive(Serialize)]
struct Reason<'a> {
    /// Stable: `refresh_token_refused`, a connection test's diagnosis code.
    code: &'a str,
    /// In words, for people.
    message: Option<&'a str>,
}

/// Seconds since the epoch as RFC 3339 (`2026-12-01T14:05:09Z`).
pub fn rfc3339(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        Day(secs.div_euclid(86_400)).iso(),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn body(e: &EventRecord) -> Vec<u8> {
    let payload = Payload {
        event_type: e.event_type.as_str(),
        timestamp: rfc3339(e.occurred_at),
        data: Data {
            organisation: e.organisation_id.as_deref().map(|id| Ref {
                id,
                external_id: e.organisation_external_id.as_deref(),
            }),
            account: e.account_id.as_deref().map(|id| AccountRef {
                id,
                external_id: e.account_external_id.as_deref(),
                name: e.account_name.as_deref(),
                mailbox: e.mailbox.as_deref(),
            }),
            reason: e.reason_code.as_deref().map(|code| Reason {
                code,
                message: e.reason.as_deref(),
            }),
            expires_on: e.expires_on.as_deref(),
            days_left: e.days_left,
        },
    };
    serde_json::to_vec(&payload).expect("a payload serialises")
}

/// What a test event says, so a receiver can tell it from a real one.
pub const TEST_REASON: &str = "A test event sent on request; nothing happened to any account.";

#[cfg(test)]
mod tests {
    use super::*;
    use mailkey_app::webhooks::EventType;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_614_265_330), "2021-02-25T15:02:10Z");
    }

    #[test]
    fn an_account_event_carries_both_external_ids() {
        let e = EventRecord {
            id: "msg_1".into(),
            event_type: EventType::AccountConnected,
            occurred_at: 1_614_265_330,
            organisation_id: Some("org_1".into()),
            organisation_external_id: Some("cust-42".into()),
            account_id: Some("acc_1".into()),
            account_external_id: Some("mailbox-7".into()),
            account_name: Some("Sales".into()),
            mailbox: Some("sales@contoso.com".into()),
            reason_code: None,
            reason: None,
            expires_on: None,
            days_left: None,
        };
        let v: serde_json::Value = serde_json::from_slice(&body(&e)).unwrap();
        assert_eq!(v["type"], "account.connected");
        assert_eq!(v["timestamp"], "2021-02-25T15:02:10Z");
        assert_eq!(v["data"]["organisation"]["external_id"], "cust-42");
        assert_eq!(v["data"]["account"]["external_id"], "mailbox-7");
        assert_eq!(v["data"]["account"]["mailbox"], "sales@contoso.com");
        assert!(v["data"].get("reason").is_none());
    }
}
