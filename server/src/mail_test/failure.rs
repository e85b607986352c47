//! What went wrong in a stage, as facts (codes, addresses), before it is put into words.

use std::net::{IpAddr, SocketAddr};

use mailkey_app::mail_test::StageId;

/// Why no access token could be had for the test, as the token keeper said.
#[derive(Clone, Debug)]
pub enum TokenTrouble {
    /// The mailbox never signed in, or its sign-in was removed.
    NotSignedIn,
    /// Microsoft refused the stored sign-in for good (its title).
    SignInRefused(String),
    /// Microsoft refused the app's credentials; the sign-in is kept (its title).
    AppRefused(String),
    /// Microsoft cannot be reached, fails, or asked to wait: the account stays connected.
    Unavailable(String),
    /// Mailkey's own side failed (storage, a stored secret).
    Internal(String),
}

impl TokenTrouble {
    fn code(&self) -> &'static str {
        match self {
            TokenTrouble::NotSignedIn => "not_signed_in",
            TokenTrouble::SignInRefused(_) => "sign_in_refused",
            TokenTrouble::AppRefused(_) => "app_refused",
            TokenTrouble::Unavailable(_) => "provider_unavailable",
            TokenTrouble::Internal(_) => "internal",
        }
    }
}

#[derive(Clone, Debug)]
pub enum Failure {
    /// No access token.
    Token(TokenTrouble),
    HostNotAllowed(String),
    /// A port that is not a mail port (nor one the operator added).
    PortNotAllowed(u16),
    PrivateAddress(String, IpAddr),
    Dns(String, String),
    Refused(SocketAddr),
    ConnectTimeout(SocketAddr),
    /// Connected, but the server said nothing: it waits for a TLS handshake (implicit TLS port).
    Silent,
    /// Another mail service answered (IMAP's `* OK` where SMTP's `220` was expected).
    WrongService {
        expected: super::greeting::Service,
        found: super::greeting::Service,
    },
    /// The TLS handshake got plain text back: the port speaks STARTTLS or no TLS.
    NotTls,
    TlsUntrusted(String),
    TlsNameMismatch(String),
    Tls(String),
    /// The server does not offer STARTTLS.
    NoStartTls,
    /// An SMTP reply: its code, enhanced status (`5.7.139`) and text.
    Smtp {
        code: u16,
        enhanced: Option<String>,
        text: String,
    },
    /// The server does not offer SMTP AUTH at all.
    SmtpAuthOff,
    /// IMAP refused the sign-in (`NO [AUTHENTICATIONFAILED] …`).
    ImapAuth(String),
    /// IMAP answered NO or BAD to another command.
    Imap(String),
    /// POP3 refused the sign-in (`-ERR [AUTH] …`).
    PopAuth(String),
    /// POP3 answered `-ERR` to another command, or something that is not POP3.
    Pop(String),
    NoRootFolder(String),
    NotReceived,
    Timeout(StageId),
    Io(String),
}

impl Failure {
    /// The cause's stable name (see [`mailkey_app::mail_test::Diagnosis::code`]).
    pub fn code(&self) -> String {
        match self {
            Failure::Token(t) => return format!("token_{}", t.code()),
            Failure::HostNotAllowed(_) => "host_not_allowed",
            Failure::PortNotAllowed(_) => "port_not_allowed",
            Failure::PrivateAddress(..) => "private_address",
            Failure::Dns(..) => "dns",
            Failure::Refused(_) => "connection_refused",
            Failure::ConnectTimeout(_) => "connect_timeout",
            Failure::Silent => "no_greeting",
            Failure::WrongService { .. } => "wrong_service",
            Failure::NotTls => "not_tls",
            Failure::TlsUntrusted(_) => "tls_untrusted",
            Failure::TlsNameMismatch(_) => "tls_name_mismatch",
            Failure::Tls(_) => "tls",
            Failure::NoStartTls => "no_starttls",
            Failure::Smtp { code, enhanced, .. } => {
                return match enhanced {
                    Some(e) => format!("smtp_{code}_{}", e.replace('.', "_")),
                    None => format!("smtp_{code}"),
                }
            }
            Failure::SmtpAuthOff => "smtp_auth_off",
            Failure::ImapAuth(_) => "imap_auth_failed",
            Failure::Imap(_) => "imap",
            Failure::PopAuth(_) => "pop_auth_failed",
            Failure::Pop(_) => "pop",
            Failure::NoRootFolder(_) => "no_root_folder",
            Failure::NotReceived => "not_received",
            Failure::Timeout(_) => "timeout",
            Failure::Io(_) => "connection_broken",
        }
        .into()
    }

    /// The server's words, when it said something (never carries a token).
    pub fn reply(&self) -> Option<String> {
        match self {
            Failure::Smtp { code, text, .. } => Some(format!("{code} {text}")),
            Failure::ImapAuth(t) | Failure::Imap(t) | Failure::PopAuth(t) | Failure::Pop(t) => {
                Some(t.clone())
            }
            Failure::Tls(t) | Failure::TlsUntrusted(t) | Failure::TlsNameMismatch(t) => {
                Some(t.clone())
            }
            _ => None,
        }
    }

    /// The server could not check the sign-in just now (its token check is unavailable); the
    /// token itself may be fine.
    pub fn is_temporary_auth(&self) -> bool {
        match self {
            Failure::ImapAuth(text) => text.contains("UNAVAILABLE"),
            // Dovecot's POP3 words a failed token check `-ERR [SYS/TEMP]`.
            Failure::PopAuth(text) => text.contains("[SYS/TEMP]") || text.contains("UNAVAILABLE"),
            Failure::Smtp { code, .. } => matches!(code, 421 | 454),
            _ => false,
        }
    }

    /// A sign-in refused outright (535), which a temporary failure elsewhere may explain better.
    pub fn is_refused_auth(&self) -> bool {
        matches!(
            self,
            Failure::Smtp { code: 535, .. } | Failure::ImapAuth(_) | Failure::PopAuth(_)
        ) && !self.is_temporary_auth()
    }

    /// An SMTP reply line split into code, enhanced status and text.
    pub fn smtp(code: u16, message: &str) -> Failure {
        let message = message.trim();
        let (first, rest) = message.split_once(' ').unwrap_or((message, ""));
        let looks_enhanced = first.split('.').count() == 3
            && first
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        if looks_enhanced {
            Failure::Smtp {
                code,
                enhanced: Some(first.to_string()),
                text: rest.trim().to_string(),
            }
        } else {
            Failure::Smtp {
                code,
                enhanced: None,
                text: message.to_string(),
            }
        }
    }
}
