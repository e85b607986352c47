//! Notice e-mails as the portal shows them: which connected mailbox sends them, where the
//! operator's own organisation gets them, and the latest ones sent.

use serde::{Deserialize, Serialize};

use crate::webhooks::EventType;

/// Where a notice e-mail stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeMailState {
    /// Not sent yet; tried again later.
    Pending,
    Sent,
    /// Every attempt failed.
    Failed,
    /// Not sent: no mailbox was chosen to send notices from.
    Skipped,
}

impl NoticeMailState {
    pub const ALL: [NoticeMailState; 4] = [
        NoticeMailState::Pending,
        NoticeMailState::Sent,
        NoticeMailState::Failed,
        NoticeMailState::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeMailState::Pending => "pending",
            NoticeMailState::Sent => "sent",
            NoticeMailState::Failed => "failed",
            NoticeMailState::Skipped => "skipped",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            NoticeMailState::Pending => "Waiting to be sent",
            NoticeMailState::Sent => "Sent",
            NoticeMailState::Failed => "Not sent",
            NoticeMailState::Skipped => "Not sent (no sending mailbox)",
        }
    }
}

impl TryFrom<String> for NoticeMailState {
    type Error = String;

    fn try_from(s: String) -> Result<NoticeMailState, String> {
        NoticeMailState::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown notice mail state {s:?}"))
    }
}

/// A mailbox notices may be sent from: a connected account of the deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderChoice {
    pub account_id: String,
    /// "Invoices <invoices@contoso.com>"
    pub label: String,
}

/// One notice e-mail, newest first on the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeMailView {
    pub event_type: EventType,
    pub organisation_name: String,
    /// The mailbox the notice is about.
    pub mailbox: String,
    pub to_address: String,
    pub state: NoticeMailState,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// `YYYY-MM-DD HH:MM` UTC.
    pub when: String,
}

/// The settings page's notice section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeSettingsView {
    /// The account notices are sent from; `None`: notices are not e-mailed.
    pub sender: Option<String>,
    pub senders: Vec<SenderChoice>,
    /// Where notices about the operator's own organisation's mailboxes go.
    pub own_address: Option<String>,
    pub recent: Vec<NoticeMailView>,
}

/// What the settings page says about a refused field (named in its address after a plain
/// form's post): fixed words, so a crafted link cannot put text on the page.
pub fn refusal(field: &str) -> Option<&'static str> {
    match field {
        "sender" => Some(
            "Nothing was saved: that mailbox is not connected (or no longer exists). Choose a \
             connected mailbox, or \u{201c}Do not e-mail notices\u{201d}.",
        ),
        "own_address" => Some(
            "Nothing was saved: the notice address must be one e-mail address, e.g. \
             it@contoso.com, or empty.",
        ),
        _ => None,
    }
}
