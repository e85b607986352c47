//! A connection test as the admin sees it: stages that run one after another (and partly side by
//! side), each with its outcome and duration, and for a failure the diagnosis: what happened, why,
//! and what to change. The server runs the test; the browser and the `mailkey test` command only
//! show these.

use serde::{Deserialize, Serialize};

/// One step of the test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageId {
    Token,
    SmtpResolve,
    SmtpConnect,
    SmtpTls,
    SmtpAuth,
    SmtpSend,
    ImapResolve,
    ImapConnect,
    ImapTls,
    ImapAuth,
    ImapSelect,
    ImapReceive,
    ImapFolders,
}

impl StageId {
    pub fn label(self) -> &'static str {
        match self {
            StageId::Token => "Get an access token",
            StageId::SmtpResolve => "Resolve the outgoing server",
            StageId::SmtpConnect => "Connect to the outgoing server",
            StageId::SmtpTls => "Encrypt the outgoing connection",
            StageId::SmtpAuth => "Sign in to SMTP (XOAUTH2)",
            StageId::SmtpSend => "Send a test message to the mailbox",
            StageId::ImapResolve => "Resolve the incoming server",
            StageId::ImapConnect => "Connect to the incoming server",
            StageId::ImapTls => "Encrypt the incoming connection",
            StageId::ImapAuth => "Sign in to IMAP (XOAUTH2)",
            StageId::ImapSelect => "Open the root folder",
            StageId::ImapReceive => "Receive the test message",
            StageId::ImapFolders => "List the folders",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Running,
    Passed,
    Failed,
    /// Not run because an earlier stage failed.
    Skipped,
}

/// A stage's progress, as it is streamed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageEvent {
    pub stage: StageId,
    pub status: StageStatus,
    /// Milliseconds the stage took (0 while running).
    pub millis: u64,
    /// A short note: the address connected to, the folder count, the server's reply.
    pub detail: Option<String>,
}

/// Why a test failed, in plain words, keyed on the servers' codes rather than their wording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub title: String,
    pub what: String,
    pub why: String,
    pub fix: String,
    /// The wizard step (number) where the fix is made, when it is made in Mailkey.
    pub step: Option<u8>,
    /// The server's reply, for support tickets (never a token).
    pub reply: Option<String>,
}

/// A folder the mailbox has, with its SPECIAL-USE flag when the server gives one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    pub name: String,
    pub special_use: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    pub ok: bool,
    pub stages: Vec<StageEvent>,
    pub diagnosis: Option<Diagnosis>,
    pub folders: Vec<Folder>,
    /// The test message's Message-ID.
    pub message_id: Option<String>,
}
