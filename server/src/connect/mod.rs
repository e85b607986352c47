//! Connect sessions: the host's backend starts the wizard for one account, to run in its page
//! (an iframe) or top-level (a hosted link). What the browser may do (which account, which
//! organisation, which parent origins) is bound into the session here; the browser holds only a
//! launch token, which works once and is exchanged for a short-lived credential kept in the
//! page's memory (never a cookie: an iframe's cookies are blocked as third-party).

pub mod origins;

use std::collections::BTreeMap;

use url::Url;

use crate::{
    auth::token::{self, Token},
    storage::{
        now, ConnectSessionRecord, Launch, NewConnectSession, SessionMode, StorageError, Store,
    },
};

/// The longest a session lives: long enough for an admin to sign in and test, short enough
/// that a leaked link is soon worthless.
pub const MAX_LIFETIME_SECS: i64 = 30 * 60;
const DEFAULT_LIFETIME_SECS: i64 = 15 * 60;
/// A sign-in ticket (frame → popup) lives this long.
pub const TICKET_LIFETIME_SECS: i64 = 10 * 60;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("some values are not valid")]
    Invalid(BTreeMap<String, String>),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn invalid(field: &str, why: impl Into<String>) -> ConnectError {
    ConnectError::Invalid(BTreeMap::from([(field.to_string(), why.into())]))
}

/// A session as asked for; the organisation and account already resolved and allowed.
pub struct Mint<'a> {
    pub organisation_id: &'a str,
    pub account_id: &'a str,
    pub mode: SessionMode,
    pub origins: &'a [String],
    pub return_url: Option<&'a str>,
    pub lifetime_secs: Option<i64>,
    pub host_name: &'a str,
    pub api_key_id: Option<&'a str>,
}

/// A session's own values, checked and normalised.
pub struct Checked {
    pub origins: Vec<String>,
    pub return_url: Option<String>,
    pub lifetime: i64,
    pub host_name: String,
}

/// A session just made: the launch token is answered this once.
pub struct Minted {
    pub session: ConnectSessionRecord,
    pub launch_token: Token,
    pub url: String,
}

/// Why a launch token opened nothing, in terms the page and the host act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Used,
    Expired,
    Revoked,
    Unknown,
}

impl Refusal {
    /// The stable code the host's `onEvent` gets.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Used => "launch_token_used",
            Refusal::Expired => "session_expired",
            Refusal::Revoked => "session_revoked",
            Refusal::Unknown => "launch_token_unknown",
        }
    }

    /// What the person in front of the page reads.
    pub fn words(self) -> &'static str {
        match self {
            Refusal::Used => {
                "This link was already used. Start the connection again from the application."
            }
            Refusal::Expired => {
                "This link has expired (they work for a few minutes). Start the connection again \
                 from the application."
            }
            Refusal::Revoked => {
                "This link was withdrawn by the application. Start the connection again from it."
            }
            Refusal::Unknown => {
                "This link is not valid. Start the connection again from the application."
            }
        }
    }

    pub fn of(s: &ConnectSessionRecord) -> Refusal {
        if s.revoked_at.is_some() {
            Refusal::Revoked
        } else if s.expires_at <= now() {
            Refusal::Expired
        } else {
            Refusal::Used
        }
    }
}

#[derive(Clone)]
pub struct ConnectSessions {
    store: std::sync::Arc<dyn crate::storage::ConnectSessionStore>,
    public_url: Url,
    allow_http: bool,
}

impl ConnectSessions {
    pub fn new(store: Store, public_url: Url, allow_http: bool) -> ConnectSessions {
        ConnectSessions {
            store: store.backend(),
            public_url,
            allow_http,
        }
    }

    pub fn allows_http(&self) -> bool {
        self.allow_http
    }

    /// Replaces an organisation's allowed parent origins: every one checked first.
    pub async fn set_origins(
        &self,
        organisation: &str,
        raw: &[String],
    ) -> Result<Vec<String>, ConnectError> {
        if raw.len() > 20 {
            return Err(invalid("origins", "at most 20 origins per organisation"));
        }
        let origins =
            origins::parse_all(raw, self.allow_http).map_err(|e| invalid("origins", e))?;
        self.store
            .set_organisation_origins(organisation, &origins)
            .await?;
        Ok(origins)
    }

    /// Checks a session's own values (before its account is made): the normalised origins,
    /// return URL, lifetime and host name.
    pub async fn check(
        &self,
        organisation: &str,
        raw_origins: &[String],
        return_url: Option<&str>,
        lifetime_secs: Option<i64>,
        host_name: &str,
    ) -> Result<Checked, ConnectError> {
        let mut problems = BTreeMap::new();
        let allowed = self.store.organisation_origins(organisation).await?;
        let origins = match origins::parse_all(raw_origins, self.allow_http) {
            Ok(o) => {
                if let Some(foreign) = o.iter().find(|o| !allowed.contains(o)) {
                    problems.insert(
                        "allowed_origins".to_string(),
                        format!(
                            "{foreign} is not one of the organisation's allowed origins; add it \
                             first with PUT /api/v1/organisations/{{id}}/allowed-origins"
                        ),
                    );
                }
                o
            }
            Err(e) => {
                problems.insert("allowed_origins".to_string(), e);
                Vec::new()
            }
        };
        let return_url = match return_url.map(str::trim).filter(|u| !u.is_empty()) {
            None => None,
            Some(raw) => match Url::parse(raw) {
                Ok(u)
                    if origins.contains(&u.origin().ascii_serialization())
                        && allowed.contains(&u.origin().ascii_serialization()) =>
                {
                    Some(u.to_string())
                }
                Ok(_) => {
                    problems.insert(
                        "return_url".to_string(),
                        "the return URL must be on one of the session's allowed origins".into(),
                    );
                    None
                }
                Err(_) => {
                    problems.insert(
                        "return_url".to_string(),
                        format!("{raw:?} is not a URL; give the full address"),
                    );
                    None
                }
            },
        };
        let lifetime = lifetime_secs.unwrap_or(DEFAULT_LIFETIME_SECS);
        if !(60..=MAX_LIFETIME_SECS).contains(&lifetime) {
            problems.insert(
                "lifetime_secs".to_string(),
                format!("a session lives 60 to {MAX_LIFETIME_SECS} seconds; {lifetime} is not"),
            );
        }
        let host_name = host_name.trim();
        if host_name.chars().count() > 80 || host_name.chars().any(char::is_control) {
            problems.insert(
                "host_name".to_string(),
                "the application's name is at most 80 characters on one line".into(),
            );
        }
        if !problems.is_empty() {
            return Err(ConnectError::Invalid(problems));
        }
        Ok(Checked {
            origins,
            return_url,
            lifetime,
            host_name: host_name.to_string(),
        })
    }

    /// Makes a session. Every value is checked before anything is written.
    pub async fn mint(&self, m: Mint<'_>) -> Result<Minted, ConnectError> {
        let Checked {
            origins,
            return_url,
            lifetime,
            host_name,
        } = self
            .check(
                m.organisation_id,
                m.origins,
                m.return_url,
                m.lifetime_secs,
                m.host_name,
            )
            .await?;
        let id = format!("cs_{}", &Token::generate().expose()[..20]);
        let launch = Token::generate();
        self.store
            .insert_connect_session(&NewConnectSession {
                id: &id,
                organisation_id: m.organisation_id,
                account_id: m.account_id,
                mode: m.mode,
                host_name: &host_name,
                return_url: return_url.as_deref(),
                launch_hash: &launch.hash(),
                expires_at: now() + lifetime,
                origins: &origins,
                api_key_id: m.api_key_id,
            })
            .await?;
        let session = self
            .store
            .connect_session(&id, None)
            .await?
            .ok_or_else(|| StorageError::Corrupt("a connect session just made is gone".into()))?;
        let url = self
            .public_url
            .join(&format!("/embed/{}", launch.expose()))
            .map(String::from)
            .unwrap_or_default();
        Ok(Minted {
            session,
            launch_token: launch,
            url,
        })
    }

    /// The session a launch token belongs to, without using it (the page renders first: a
    /// link scanner fetching the URL must not spend it).
    pub async fn preview(
        &self,
        launch_token: &str,
    ) -> Result<Result<ConnectSessionRecord, (Refusal, Option<ConnectSessionRecord>)>, StorageError>
    {
        Ok(
            match self
                .store
                .connect_session_by_launch(&token::hash(launch_token))
                .await?
            {
                None => Err((Refusal::Unknown, None)),
                Some(s)
                    if s.launched_at.is_some()
                        || s.revoked_at.is_some()
                        || s.expires_at <= now() =>
                {
                    let why = Refusal::of(&s);
                    Err((why, Some(s)))
                }
                Some(s) => Ok(s),
            },
        )
    }

    /// Uses a launch token, once: the session and its credential.
    pub async fn launch(
        &self,
        launch_token: &str,
    ) -> Result<
        Result<(ConnectSessionRecord, Token), (Refusal, Option<ConnectSessionRecord>)>,
        StorageError,
    > {
        let credential = Token::generate();
        Ok(
            match self
                .store
                .launch_connect_session(&token::hash(launch_token), &credential.hash())
                .await?
            {
                Launch::Opened(s) => Ok((s, credential)),
                Launch::Refused(s) => Err((Refusal::of(&s), Some(s))),
                Launch::Unknown => Err((Refusal::Unknown, None)),
            },
        )
    }

    /// The live session a credential opens, or why it opens none: a revoked session is told
    /// apart from an ended one (the host withdrew it; the page must not ask for another).
    pub async fn authenticate(
        &self,
        credential: &str,
    ) -> Result<Result<ConnectSessionRecord, Refusal>, StorageError> {
        let found = self
            .store
            .connect_session_by_credential(&token::hash(credential))
            .await?;
        Ok(match found {
            None => Err(Refusal::Unknown),
            Some(s) if s.revoked_at.is_some() || s.expires_at <= now() => Err(Refusal::of(&s)),
            Some(s) => Ok(s),
        })
    }

    /// A one-time ticket for the sign-in popup of this session: its path.
    pub async fn sign_in_ticket(
        &self,
        session: &ConnectSessionRecord,
        purpose: crate::storage::SignInPurpose,
    ) -> Result<(Token, String), StorageError> {
        let ticket = Token::generate();
        self.store
            .insert_sign_in_ticket(&ticket.hash(), &session.id, purpose, TICKET_LIFETIME_SECS)
            .await?;
        let path = format!("/embed/sign-in/{}", ticket.expose());
        Ok((ticket, path))
    }
}
