//! The POP3 stages (RFC 1939, STLS from RFC 2595, AUTH from RFC 5034 with an initial response,
//! as Exchange Online and Dovecot take XOAUTH2): the greeting, STLS or implicit TLS, the sign-in,
//! and the test message found by its Message-ID (TOP) and deleted. POP sees the mailbox as it
//! was at sign-in, so waiting for a message means signing in again.

use std::time::Duration;

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::TcpStream,
};
use tokio_rustls::client::TlsStream;

use super::{
    failure::Failure,
    greeting::{self, Service},
    tls::TlsSetup,
};

/// A line longer than this is not POP3.
const MAX_LINE: usize = 8 * 1024;
/// How many of the newest messages are looked at for the test message: it is among the last
/// to arrive, and a mailbox may hold thousands.
const NEWEST_LOOKED_AT: u32 = 25;

/// A POP3 connection.
pub struct Pop<S> {
    stream: BufReader<S>,
}

pub type TlsPop = Pop<TlsStream<TcpStream>>;

impl<S: AsyncRead + AsyncWrite + Unpin> Pop<S> {
    fn new(stream: S) -> Pop<S> {
        Pop {
            stream: BufReader::new(stream),
        }
    }

    /// One line, without its CRLF.
    async fn line(&mut self) -> Result<String, Failure> {
        let mut raw = Vec::new();
        let n = (&mut self.stream)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut raw)
            .await
            .map_err(|e| Failure::Io(e.to_string()))?;
        if n == 0 {
            return Err(Failure::Io("the server closed the connection".into()));
        }
        if !raw.ends_with(b"\n") {
            return Err(Failure::Pop("a line longer than POP3 allows".into()));
        }
        let text = String::from_utf8_lossy(&raw);
        Ok(text.trim_end_matches(['\r', '\n']).to_string())
    }

    /// A status line: `+OK`'s text, or `-ERR`'s as the failure `refused` makes of it.
    async fn status(&mut self, refused: fn(String) -> Failure) -> Result<String, Failure> {
        let line = self.line().await?;
        if let Some(rest) = line.strip_prefix("+OK") {
            return Ok(rest.trim().to_string());
        }
        if let Some(rest) = line.strip_prefix("-ERR") {
            return Err(refused(rest.trim().to_string()));
        }
        match greeting::service_of(line.as_bytes()) {
            Some(found) if found != Service::Pop3 => Err(Failure::WrongService {
                expected: Service::Pop3,
                found,
            }),
            _ => Err(Failure::Pop(format!(
                "an answer POP3 does not have: {line}"
            ))),
        }
    }

    async fn send(&mut self, command: &str) -> Result<(), Failure> {
        let s = self.stream.get_mut();
        s.write_all(format!("{command}\r\n").as_bytes())
            .await
            .map_err(|e| Failure::Io(e.to_string()))?;
        s.flush().await.map_err(|e| Failure::Io(e.to_string()))
    }

    async fn command(&mut self, command: &str) -> Result<String, Failure> {
        self.send(command).await?;
        self.status(Failure::Pop).await
    }

    /// The lines of a multi-line answer, up to its lone `.`, dot-unstuffed.
    async fn lines(&mut self) -> Result<Vec<String>, Failure> {
        let mut out = Vec::new();
        loop {
            let line = self.line().await?;
            if line == "." {
                return Ok(out);
            }
            out.push(line.strip_prefix('.').map(str::to_string).unwrap_or(line));
        }
    }

    /// The greeting: `+OK`, or what the server is instead.
    async fn greeting(&mut self) -> Result<(), Failure> {
        self.status(Failure::Pop).await.map(|_| ())
    }

    /// Ends the session; deletions take effect only now.
    pub async fn quit(mut self) -> Result<(), Failure> {
        self.command("QUIT").await.map(|_| ())
    }
}

/// TLS from the first byte, then the greeting.
pub async fn connect_tls(tcp: TcpStream, tls: &TlsSetup, host: &str) -> Result<TlsPop, Failure> {
    let mut stream = tls.connect(host, tcp).await?;
    let first = greeting::read_first(&mut stream, Service::Pop3).await?;
    let mut pop = Pop::new(Replay {
        first,
        given: 0,
        inner: stream,
    });
    pop.greeting().await?;
    // The greeting bytes are handed back: from here on the plain TLS stream is enough.
    let Replay { inner, .. } = pop.stream.into_inner();
    Ok(Pop::new(inner))
}

/// The greeting in plain text, STLS, then TLS. A server that stays silent expects implicit TLS.
pub async fn connect_starttls(
    tcp: TcpStream,
    tls: &TlsSetup,
    host: &str,
) -> Result<TlsPop, Failure> {
    greeting::expect_on_plain(&tcp, Service::Pop3).await?;
    let mut plain = Pop::new(tcp);
    plain.greeting().await?;
    plain
        .command("STLS")
        .await
        .map_err(|_| Failure::NoStartTls)?;
    let stream = tls.connect(host, plain.stream.into_inner()).await?;
    Ok(Pop::new(stream))
}

/// `AUTH XOAUTH2` with the credentials as its initial response. A refused token brings a `+`
/// challenge (the JSON error) first, answered with an empty line so the server says `-ERR`.
pub async fn authenticate(pop: &mut TlsPop, user: &str, token: &str) -> Result<(), Failure> {
    pop.send(&format!("AUTH XOAUTH2 {}", super::xoauth2(user, token)))
        .await?;
    let line = pop.line().await?;
    let answer = if line.starts_with('+') && !line.starts_with("+OK") {
        pop.send("").await?;
        pop.line().await?
    } else {
        line
    };
    if answer.starts_with("+OK") {
        return Ok(());
    }
    let text = answer.strip_prefix("-ERR").unwrap_or(&answer).trim();
    Err(Failure::PopAuth(text.to_string()))
}

/// The number of the message with this Message-ID among the newest, if it is there.
pub async fn find(pop: &mut TlsPop, message_id: &str) -> Result<Option<u32>, Failure> {
    let stat = pop.command("STAT").await?;
    let count: u32 = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Failure::Pop(format!("STAT answered {stat:?}")))?;
    for n in (1..=count).rev().take(NEWEST_LOOKED_AT as usize) {
        pop.command(&format!("TOP {n} 0")).await?;
        let header = pop.lines().await?;
        if message_id_of(&header).is_some_and(|id| id.eq_ignore_ascii_case(message_id)) {
            return Ok(Some(n));
        }
    }
    Ok(None)
}

/// Marks a message deleted (it goes at QUIT).
pub async fn delete(pop: &mut TlsPop, n: u32) -> Result<(), Failure> {
    pop.command(&format!("DELE {n}")).await.map(|_| ())
}

/// The Message-ID header's value in a message's header lines (folded or not).
fn message_id_of(header: &[String]) -> Option<&str> {
    let at = header.iter().position(|l| {
        l.split_once(':')
            .is_some_and(|(name, _)| name.eq_ignore_ascii_case("message-id"))
    })?;
    let (_, value) = header[at].split_once(':')?;
    let value = value.trim();
    if !value.is_empty() {
        return Some(value);
    }
    // Folded onto the next line.
    header
        .get(at + 1)
        .filter(|l| l.starts_with([' ', '\t']))
        .map(|l| l.trim())
}

/// How long to wait before signing in again to look for the message the `n`th time (from 0):
/// soon at first, as delivery to oneself is usually quick, then every 2 s, so a slow delivery
/// does not become dozens of sign-ins a mail server may throttle.
pub fn recheck_after(n: u32) -> Duration {
    Duration::from_millis(match n {
        0 => 250,
        1 => 500,
        2 => 1000,
        _ => 2000,
    })
}

/// A TLS stream that first hands back the greeting bytes already read to look at them.
struct Replay<S> {
    first: Vec<u8>,
    given: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.given < self.first.len() {
            let n = buf.remaining().min(self.first.len() - self.given);
            let from = self.given;
            buf.put_slice(&self.first[from..from + n]);
            self.given += n;
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &[&str]) -> Vec<String> {
        s.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn looks_again_soon_then_every_two_seconds() {
        let waits: Vec<u128> = (0..5).map(|n| recheck_after(n).as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 2000]);
    }

    #[test]
    fn the_message_id_is_found_plain_or_folded() {
        assert_eq!(
            message_id_of(&lines(&["From: a@b.c", "message-ID: <x@y>", "Subject: s"])),
            Some("<x@y>")
        );
        assert_eq!(
            message_id_of(&lines(&["Message-Id:", "  <folded@y>", "Subject: s"])),
            Some("<folded@y>")
        );
        assert_eq!(message_id_of(&lines(&["Subject: Message-ID: <no>"])), None);
    }

    #[tokio::test]
    async fn answers_are_read_as_pop3_says_them() {
        let (client, mut server) = tokio::io::duplex(4096);
        server
            .write_all(b"+OK ready\r\n-ERR [AUTH] no\r\n+OK 2 lines\r\n..stuffed\r\nplain\r\n.\r\n220 smtp\r\n")
            .await
            .unwrap();
        let mut pop = Pop::new(client);
        pop.greeting().await.unwrap();
        assert!(
            matches!(pop.status(Failure::PopAuth).await, Err(Failure::PopAuth(t)) if t == "[AUTH] no")
        );
        pop.status(Failure::Pop).await.unwrap();
        assert_eq!(pop.lines().await.unwrap(), vec![".stuffed", "plain"]);
        assert!(matches!(
            pop.status(Failure::Pop).await,
            Err(Failure::WrongService {
                found: Service::Smtp,
                ..
            })
        ));
    }
}
