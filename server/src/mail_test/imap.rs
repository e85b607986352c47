//! The IMAP stages with async-imap: greeting, STARTTLS or implicit TLS, `AUTHENTICATE XOAUTH2`
//! (with SASL-IR, one round trip), SELECT of the root folder, waiting for the test message, LIST.

use std::{fmt::Debug, time::Duration};

use async_imap::{types::NameAttribute, Client, Session};
use futures_util::TryStreamExt;
use mailkey_app::mail_test::Folder;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};
use tokio_rustls::client::TlsStream;

use super::{
    failure::Failure,
    greeting::{self, Service},
    tls::TlsSetup,
};

pub type TlsSession = Session<TlsStream<TcpStream>>;

fn imap_failure(e: async_imap::error::Error) -> Failure {
    match e {
        async_imap::error::Error::No(t) | async_imap::error::Error::Bad(t) => {
            Failure::Imap(server_text(&t))
        }
        other => Failure::Io(other.to_string()),
    }
}

/// The server's reply as the server wrote it. async-imap hands a refusal over as Rust debug text
/// (`code: Some(AuthenticationFailed), info: Some("Authentication failed.")`); this puts back
/// `[AUTHENTICATIONFAILED] Authentication failed.`, which is what support tickets need.
fn server_text(raw: &str) -> String {
    let Some(rest) = raw.strip_prefix("code: ") else {
        return raw.to_string();
    };
    let Some((code, info)) = rest.split_once(", info: ") else {
        return raw.to_string();
    };
    let info = info
        .strip_prefix("Some(\"")
        .and_then(|i| i.strip_suffix("\")"))
        .map(|i| i.replace("\\\"", "\"").replace("\\\\", "\\"))
        .unwrap_or_default();
    let code = code
        .strip_prefix("Some(")
        .and_then(|c| c.strip_suffix(')'))
        .map(|c| c.split(['(', ' ']).next().unwrap_or(c).to_ascii_uppercase());
    match code {
        Some(code) if !info.starts_with('[') => format!("[{code}] {info}").trim_end().to_string(),
        _ => info,
    }
}

async fn greeting<S: AsyncRead + AsyncWrite + Unpin + Debug + Send>(
    client: &mut Client<S>,
) -> Result<(), Failure> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Failure::Io("the server closed the connection".into())),
        Err(e) => Err(not_imap(&e.to_string()).unwrap_or_else(|| Failure::Io(e.to_string()))),
    }
}

/// Not IMAP: an SMTP `220` or a POP3 `+OK` does not parse, and async-imap's error quotes what
/// it could not parse (`… during parsing of "220 …"`). Said as the port mix-up it is.
fn not_imap(error: &str) -> Option<Failure> {
    let (_, quoted) = error.split_once(" during parsing of \"")?;
    match greeting::service_of(quoted.as_bytes()) {
        Some(found) if found != Service::Imap => Some(Failure::WrongService {
            expected: Service::Imap,
            found,
        }),
        _ => None,
    }
}

/// TLS from the first byte, then the greeting.
pub async fn connect_tls(
    tcp: TcpStream,
    tls: &TlsSetup,
    host: &str,
) -> Result<Client<TlsStream<TcpStream>>, Failure> {
    let stream = tls.connect(host, tcp).await?;
    let mut client = Client::new(stream);
    greeting(&mut client).await?;
    Ok(client)
}

/// Greeting in plain text, STARTTLS, then TLS. A server that stays silent expects implicit TLS.
pub async fn connect_starttls(
    tcp: TcpStream,
    tls: &TlsSetup,
    host: &str,
    greeting_timeout: Duration,
) -> Result<Client<TlsStream<TcpStream>>, Failure> {
    super::greeting::expect_on_plain(&tcp, Service::Imap).await?;
    let mut plain = Client::new(tcp);
    tokio::time::timeout(greeting_timeout, greeting(&mut plain))
        .await
        .map_err(|_| Failure::Silent)??;
    plain
        .run_command_and_check_ok("STARTTLS", None)
        .await
        .map_err(|_| Failure::NoStartTls)?;
    let stream = tls.connect(host, plain.into_inner()).await?;
    Ok(Client::new(stream))
}

struct XOAuth2(Vec<u8>);

impl async_imap::Authenticator for XOAuth2 {
    type Response = Vec<u8>;

    /// The credentials were sent with the command (SASL-IR); a challenge now is the JSON error
    /// of a refused token, answered with an empty line so the server sends its NO.
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

pub async fn authenticate(
    client: Client<TlsStream<TcpStream>>,
    user: &str,
    token: &str,
) -> Result<TlsSession, Failure> {
    let initial = super::xoauth2(user, token);
    client
        .authenticate(format!("XOAUTH2 {initial}"), XOAuth2(Vec::new()))
        .await
        .map_err(|(e, _)| match e {
            async_imap::error::Error::No(t) | async_imap::error::Error::Bad(t) => {
                Failure::ImapAuth(server_text(&t))
            }
            other => Failure::Io(other.to_string()),
        })
}

/// IMAP's quoted string.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub async fn select(session: &mut TlsSession, folder: &str) -> Result<u32, Failure> {
    // `select` quotes the name itself.
    session
        .select(folder)
        .await
        .map(|m| m.exists)
        .map_err(|e| match e {
            async_imap::error::Error::No(_) => Failure::NoRootFolder(folder.to_string()),
            other => imap_failure(other),
        })
}

/// Polls (NOOP, SEARCH) until the message is there or `within` has passed; its UIDs.
pub async fn wait_for(
    session: &mut TlsSession,
    message_id: &str,
    within: Duration,
) -> Result<Vec<u32>, Failure> {
    let deadline = tokio::time::Instant::now() + within;
    let query = format!("HEADER Message-ID {}", quoted(message_id));
    loop {
        let found = session.uid_search(&query).await.map_err(imap_failure)?;
        if !found.is_empty() {
            let mut uids: Vec<u32> = found.into_iter().collect();
            uids.sort_unstable();
            return Ok(uids);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::NotReceived);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        session.noop().await.map_err(imap_failure)?;
    }
}

/// What became of the test message once it was seen.
pub enum Cleanup {
    Deleted,
    /// The server cannot expunge one message alone (no UIDPLUS): a plain EXPUNGE would also
    /// remove messages the user marked deleted, so the test message is left.
    Left,
}

/// Deletes the test message, and only it: flagged `\Deleted`, then `UID EXPUNGE` of its UIDs
/// (RFC 4315). A helpdesk or ERP that processes the INBOX must not process Mailkey's tests.
pub async fn remove(session: &mut TlsSession, uids: &[u32]) -> Result<Cleanup, Failure> {
    let caps = session.capabilities().await.map_err(imap_failure)?;
    if !caps.has_str("UIDPLUS") {
        return Ok(Cleanup::Left);
    }
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    session
        .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
        .await
        .map_err(imap_failure)?
        .try_collect::<Vec<_>>()
        .await
        .map_err(imap_failure)?;
    session
        .uid_expunge(&set)
        .await
        .map_err(imap_failure)?
        .try_collect::<Vec<_>>()
        .await
        .map_err(imap_failure)?;
    Ok(Cleanup::Deleted)
}

pub async fn folders(session: &mut TlsSession) -> Result<Vec<Folder>, Failure> {
    let names: Vec<_> = session
        .list(Some(""), Some("*"))
        .await
        .map_err(imap_failure)?
        .try_collect()
        .await
        .map_err(imap_failure)?;
    Ok(names
        .iter()
        .filter(|n| !n.attributes().contains(&NameAttribute::NoSelect))
        .map(|n| Folder {
            name: n.name().to_string(),
            special_use: n.attributes().iter().find_map(|a| {
                Some(
                    match a {
                        NameAttribute::Sent => "Sent",
                        NameAttribute::Drafts => "Drafts",
                        NameAttribute::Trash => "Trash",
                        NameAttribute::Junk => "Junk",
                        NameAttribute::Archive => "Archive",
                        NameAttribute::All => "All",
                        NameAttribute::Flagged => "Flagged",
                        _ => return None,
                    }
                    .to_string(),
                )
            }),
        })
        .collect())
}

pub async fn logout(mut session: TlsSession) {
    let _ = session.logout().await;
}

#[cfg(test)]
mod tests {
    use super::server_text;

    #[test]
    fn a_refusal_reads_as_the_server_wrote_it() {
        assert_eq!(
            server_text(
                r#"code: None, info: Some("[UNAVAILABLE] Temporary authentication failure.")"#
            ),
            "[UNAVAILABLE] Temporary authentication failure."
        );
        assert_eq!(
            server_text(
                r#"code: Some(AuthenticationFailed), info: Some("Authentication failed.")"#
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(server_text("AUTHENTICATE failed."), "AUTHENTICATE failed.");
    }
}
