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
    PopResolve,
    PopConnect,
    PopTls,
    PopAuth,
    PopReceive,
}

impl StageId {
    pub const ALL: [StageId; 18] = [
        StageId::Token,
        StageId::SmtpResolve,
        StageId::SmtpConnect,
        StageId::SmtpTls,
        StageId::SmtpAuth,
        StageId::SmtpSend,
        StageId::ImapResolve,
        StageId::ImapConnect,
        StageId::ImapTls,
        StageId::ImapAuth,
        StageId::ImapSelect,
        StageId::ImapReceive,
        StageId::ImapFolders,
        StageId::PopResolve,
        StageId::PopConnect,
        StageId::PopTls,
        StageId::PopAuth,
        StageId::PopReceive,
    ];

    /// The stages of a test that reads over `protocol`, in order.
    pub fn of_test(protocol: crate::provider::Protocol) -> impl Iterator<Item = StageId> {
        StageId::ALL
            .into_iter()
            .filter(move |s| s.reads() != Some(protocol.other()))
    }

    /// The protocol a reading stage speaks (`None`: the token and the SMTP stages).
    pub fn reads(self) -> Option<crate::provider::Protocol> {
        use crate::provider::Protocol;
        match self {
            StageId::ImapResolve
            | StageId::ImapConnect
            | StageId::ImapTls
            | StageId::ImapAuth
            | StageId::ImapSelect
            | StageId::ImapReceive
            | StageId::ImapFolders => Some(Protocol::Imap),
            StageId::PopResolve
            | StageId::PopConnect
            | StageId::PopTls
            | StageId::PopAuth
            | StageId::PopReceive => Some(Protocol::Pop),
            _ => None,
        }
    }

    /// Its stable name, as in the JSON (`smtp_auth`).
    pub fn as_str(self) -> &'static str {
        match self {
            StageId::Token => "token",
            StageId::SmtpResolve => "smtp_resolve",
            StageId::SmtpConnect => "smtp_connect",
            StageId::SmtpTls => "smtp_tls",
            StageId::SmtpAuth => "smtp_auth",
            StageId::SmtpSend => "smtp_send",
            StageId::ImapResolve => "imap_resolve",
            StageId::ImapConnect => "imap_connect",
            StageId::ImapTls => "imap_tls",
            StageId::ImapAuth => "imap_auth",
            StageId::ImapSelect => "imap_select",
            StageId::ImapReceive => "imap_receive",
            StageId::ImapFolders => "imap_folders",
            StageId::PopResolve => "pop_resolve",
            StageId::PopConnect => "pop_connect",
            StageId::PopTls => "pop_tls",
            StageId::PopAuth => "pop_auth",
            StageId::PopReceive => "pop_receive",
        }
    }

    /// Where the stage stands in the test: the order the timeline is drawn in.
    pub fn order(self) -> u8 {
        self as u8
    }

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
            StageId::PopResolve => "Resolve the incoming server",
            StageId::PopConnect => "Connect to the incoming server",
            StageId::PopTls => "Encrypt the incoming connection",
            StageId::PopAuth => "Sign in to POP (XOAUTH2)",
            StageId::PopReceive => "Receive the test message",
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

impl TryFrom<String> for StageId {
    type Error = String;

    fn try_from(s: String) -> Result<StageId, String> {
        StageId::ALL
            .into_iter()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| format!("unknown test stage {s:?}"))
    }
}

impl StageStatus {
    /// Its stable name, as in the JSON (`passed`).
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Running => "running",
            StageStatus::Passed => "passed",
            StageStatus::Failed => "failed",
            StageStatus::Skipped => "skipped",
        }
    }
}

impl TryFrom<String> for StageStatus {
    type Error = String;

    fn try_from(s: String) -> Result<StageStatus, String> {
        [
            StageStatus::Running,
            StageStatus::Passed,
            StageStatus::Failed,
            StageStatus::Skipped,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| format!("unknown stage status {s:?}"))
    }
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
    /// The form field at fault on that step (`smtp_port`), so "Change it" lands on it.
    #[serde(default)]
    pub field: Option<String>,
    /// A stable name of the cause (`smtp_auth_disabled`, `tls_untrusted`, …), for host
    /// applications and webhooks: the words may change, the code does not.
    #[serde(default)]
    pub code: String,
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
    /// When SMTP and IMAP both failed, the other side's diagnosis: each gets its own words.
    #[serde(default)]
    pub also: Vec<Diagnosis>,
    /// The settings the run was made with (servers, ports, encryption, folder, mailbox), so a
    /// later change can be told: a fingerprint, never a secret.
    #[serde(default)]
    pub settings: Option<String>,
    pub folders: Vec<Folder>,
    /// The folder mapping offered for the folders found.
    pub proposed_mapping: Option<FolderMapping>,
    /// The test message's Message-ID.
    pub message_id: Option<String>,
}

/// Something the tenant must allow before the mailbox can connect, with the admin's steps and
/// what the connection test says when it is missing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prerequisite {
    /// A stable name, used as the item's anchor.
    pub key: String,
    pub title: String,
    pub steps: String,
    pub when_missing: Option<Diagnosis>,
}

/// What the account's pages show of its connection tests: the latest run, and the folder
/// mapping (saved, or proposed from the latest passing run) with the folders to choose from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOverview {
    /// The latest run: when it started (seconds since the Unix epoch) and its report.
    pub latest: Option<(i64, TestReport)>,
    /// The settings changed since the latest run: it says nothing of them yet.
    #[serde(default)]
    pub latest_stale: bool,
    pub mapping: FolderMapping,
    pub mapping_saved: bool,
    /// The folders of the latest passing run; empty when none passed.
    pub folders: Vec<Folder>,
    /// The runs before the latest, newest first (a few).
    pub earlier: Vec<RunSummary>,
}

/// A run of the history, in a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Seconds since the Unix epoch.
    pub started_at: i64,
    pub ok: bool,
    /// The diagnosis' title of a failed run.
    pub problem: Option<String>,
}

/// The folders a host application needs, as the Salesorder seed's "Default Folder Mappings".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Inbox,
        Role::Sent,
        Role::Drafts,
        Role::Trash,
        Role::Junk,
        Role::Archive,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Role::Inbox => "Inbox",
            Role::Sent => "Sent",
            Role::Drafts => "Drafts",
            Role::Trash => "Trash",
            Role::Junk => "Junk",
            Role::Archive => "Archive",
        }
    }

    /// The SPECIAL-USE flag (RFC 6154) that marks this folder, if any.
    fn special_use(self) -> Option<&'static str> {
        match self {
            Role::Inbox => None,
            Role::Sent => Some("Sent"),
            Role::Drafts => Some("Drafts"),
            Role::Trash => Some("Trash"),
            Role::Junk => Some("Junk"),
            Role::Archive => Some("Archive"),
        }
    }

    /// Names servers commonly give the folder, Exchange's included.
    fn common_names(self) -> &'static [&'static str] {
        match self {
            Role::Inbox => &["INBOX"],
            Role::Sent => &["Sent Items", "Sent", "Sent Messages", "Sent Mail"],
            Role::Drafts => &["Drafts", "Draft"],
            Role::Trash => &["Deleted Items", "Trash", "Deleted Messages", "Bin"],
            Role::Junk => &["Junk Email", "Junk E-mail", "Junk", "Spam"],
            Role::Archive => &["Archive", "Archives"],
        }
    }
}

/// A folder for each role, `None` where the mailbox has none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FolderMapping {
    pub inbox: Option<String>,
    pub sent: Option<String>,
    pub drafts: Option<String>,
    pub trash: Option<String>,
    pub junk: Option<String>,
    pub archive: Option<String>,
}

impl FolderMapping {
    pub fn get(&self, role: Role) -> Option<&str> {
        match role {
            Role::Inbox => self.inbox.as_deref(),
            Role::Sent => self.sent.as_deref(),
            Role::Drafts => self.drafts.as_deref(),
            Role::Trash => self.trash.as_deref(),
            Role::Junk => self.junk.as_deref(),
            Role::Archive => self.archive.as_deref(),
        }
    }

    fn set(&mut self, role: Role, folder: Option<String>) {
        let slot = match role {
            Role::Inbox => &mut self.inbox,
            Role::Sent => &mut self.sent,
            Role::Drafts => &mut self.drafts,
            Role::Trash => &mut self.trash,
            Role::Junk => &mut self.junk,
            Role::Archive => &mut self.archive,
        };
        *slot = folder;
    }

    /// The pre-selection offered after a test: by SPECIAL-USE flag first, else by a common name
    /// (compared case-insensitively, on the last part of a hierarchical name).
    pub fn propose(folders: &[Folder]) -> FolderMapping {
        let mut m = FolderMapping::default();
        for role in Role::ALL {
            let by_flag = role.special_use().and_then(|flag| {
                folders
                    .iter()
                    .find(|f| f.special_use.as_deref() == Some(flag))
            });
            let by_name = || {
                role.common_names().iter().find_map(|name| {
                    folders.iter().find(|f| {
                        let leaf = f.name.rsplit(['/', '.']).next().unwrap_or(&f.name);
                        leaf.eq_ignore_ascii_case(name) || f.name.eq_ignore_ascii_case(name)
                    })
                })
            };
            m.set(role, by_flag.or_else(by_name).map(|f| f.name.clone()));
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str, special_use: Option<&str>) -> Folder {
        Folder {
            name: name.into(),
            special_use: special_use.map(str::to_string),
        }
    }

    /// The names stored in the database are the JSON's, so either reads the other's.
    #[test]
    fn stage_names_are_the_json_names_and_come_back() {
        for id in StageId::ALL {
            assert_eq!(serde_json::to_value(id).unwrap(), id.as_str());
            assert_eq!(StageId::try_from(id.as_str().to_string()), Ok(id));
        }
        for st in [
            StageStatus::Running,
            StageStatus::Passed,
            StageStatus::Failed,
            StageStatus::Skipped,
        ] {
            assert_eq!(serde_json::to_value(st).unwrap(), st.as_str());
            assert_eq!(StageStatus::try_from(st.as_str().to_string()), Ok(st));
        }
        assert!(StageId::try_from("smtp_magic".to_string()).is_err());
    }

    #[test]
    fn flags_first_then_common_names() {
        let exchange = [
            folder("INBOX", None),
            folder("Sent Items", Some("Sent")),
            folder("Deleted Items", Some("Trash")),
            folder("Junk Email", Some("Junk")),
            folder("Drafts", Some("Drafts")),
            folder("Archive", Some("Archive")),
            folder("Sent", None),
        ];
        let m = FolderMapping::propose(&exchange);
        assert_eq!(m.inbox.as_deref(), Some("INBOX"));
        assert_eq!(
            m.sent.as_deref(),
            Some("Sent Items"),
            "the flag wins over the name"
        );
        assert_eq!(m.trash.as_deref(), Some("Deleted Items"));
        assert_eq!(m.junk.as_deref(), Some("Junk Email"));

        let unflagged = [
            folder("INBOX", None),
            folder("INBOX/Sent Messages", None),
            folder("INBOX/spam", None),
        ];
        let m = FolderMapping::propose(&unflagged);
        assert_eq!(m.sent.as_deref(), Some("INBOX/Sent Messages"));
        assert_eq!(m.junk.as_deref(), Some("INBOX/spam"));
        assert_eq!(m.drafts, None);
        assert_eq!(m.archive, None);
    }
}
