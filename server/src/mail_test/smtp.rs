//! The SMTP stages with lettre: greeting and EHLO on a socket Mailkey opened (to an address the
//! guard checked), STARTTLS or implicit TLS, `AUTH XOAUTH2`, and the test message.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use lettre::{
    address::Envelope,
    message::{header::ContentType, Mailbox as Address},
    transport::smtp::{
        authentication::Mechanism,
        client::{AsyncSmtpConnection, AsyncTokioStream},
        extension::ClientId,
    },
    Message,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::client::TlsStream;

use super::{
    failure::Failure,
    greeting::{self, Service},
    tls::TlsSetup,
};

fn hello() -> ClientId {
    ClientId::Domain("mailkey.local".into())
}

/// An SMTP failure from lettre: the server's reply when there was one.
pub fn failure(e: lettre::transport::smtp::Error) -> Failure {
    if let Some(code) = e.status() {
        let text = std::error::Error::source(&e)
            .map(|s| s.to_string())
            .unwrap_or_default();
        return Failure::smtp(u16::from(code), &text);
    }
    if e.is_timeout() {
        return Failure::Silent;
    }
    if let Some(tls) = super::tls::in_chain(&e) {
        return tls;
    }
    if e.is_tls() {
        return Failure::Tls(e.to_string());
    }
    Failure::Io(e.to_string())
}

/// Greeting and EHLO on a plain connection. The greeting is looked at first: silence or
/// another service's greeting is said at once, in words, instead of a parse error or a wait.
pub async fn greet_plain(tcp: TcpStream) -> Result<AsyncSmtpConnection, Failure> {
    greeting::expect_on_plain(&tcp, Service::Smtp).await?;
    AsyncSmtpConnection::connect_with_transport(Box::new(QuickAck(tcp)), &hello())
        .await
        .map_err(failure)
}

/// Greeting and EHLO over implicit TLS.
pub async fn greet_tls(mut tls: TlsStream<TcpStream>) -> Result<AsyncSmtpConnection, Failure> {
    let first = greeting::read_first(&mut tls, Service::Smtp).await?;
    let stream = Tls {
        inner: tls,
        first,
        given: 0,
    };
    AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello())
        .await
        .map_err(failure)
}

pub async fn starttls(
    conn: &mut AsyncSmtpConnection,
    tls: &TlsSetup,
    host: &str,
) -> Result<(), Failure> {
    if !conn.can_starttls() {
        return Err(Failure::NoStartTls);
    }
    conn.starttls(tls.lettre(host)?, &hello())
        .await
        .map_err(failure)
}

/// `AUTH XOAUTH2`, sent by hand: on a refused token the server first sends a 334 JSON challenge,
/// which lettre's own XOAUTH2 cannot answer; an empty reply brings out the real 535.
pub async fn auth(conn: &mut AsyncSmtpConnection, user: &str, token: &str) -> Result<(), Failure> {
    if !conn
        .server_info()
        .supports_auth_mechanism(Mechanism::Xoauth2)
    {
        // EHLO lists no XOAUTH2 (or no AUTH at all): the server has SMTP AUTH turned off, as
        // Postfix does without SASL; Exchange refuses with 5.7.139 instead.
        return Err(Failure::SmtpAuthOff);
    }
    let response = conn
        .command(format!("AUTH XOAUTH2 {}\r\n", super::xoauth2(user, token)))
        .await
        .map_err(failure)?;
    if u16::from(response.code()) == 334 {
        conn.command("\r\n").await.map_err(failure)?;
    }
    Ok(())
}

/// Sends the test message from the mailbox to itself.
pub async fn send(
    conn: &mut AsyncSmtpConnection,
    mailbox: &str,
    message_id: &str,
    subject: &str,
) -> Result<(), Failure> {
    let address: Address = mailbox
        .parse()
        .map_err(|_| Failure::Io(format!("{mailbox} is not an address")))?;
    let message = Message::builder()
        .from(address.clone())
        .to(address.clone())
        .subject(subject)
        .message_id(Some(message_id.to_string()))
        .header(ContentType::TEXT_PLAIN)
        .body(
            "Mailkey sent this message to check that the mailbox can send and receive, and \
             deletes it as soon as it has seen it arrive. If it is still here, it can be deleted."
                .to_string(),
        )
        .map_err(|e| Failure::Io(e.to_string()))?;
    let envelope = Envelope::new(Some(address.email.clone()), vec![address.email])
        .map_err(|e| Failure::Io(e.to_string()))?;
    conn.send(&envelope, &message.formatted())
        .await
        .map_err(failure)?;
    let _ = conn.quit().await;
    Ok(())
}

/// Sends `message` (from `mailbox`, which signed in) to `to`, then says goodbye.
pub async fn send_message(
    conn: &mut AsyncSmtpConnection,
    mailbox: &str,
    to: &str,
    message: &Message,
) -> Result<(), Failure> {
    let parse = |a: &str| {
        a.parse::<lettre::Address>()
            .map_err(|_| Failure::Io(format!("{a} is not an address")))
    };
    let envelope = Envelope::new(Some(parse(mailbox)?), vec![parse(to)?])
        .map_err(|e| Failure::Io(e.to_string()))?;
    conn.send(&envelope, &message.formatted())
        .await
        .map_err(failure)?;
    let _ = conn.quit().await;
    Ok(())
}

/// The plain socket of a STARTTLS connection, acknowledging what it receives at once.
///
/// Right after the TLS 1.3 handshake the client sends EHLO while the server's session tickets are
/// still on their way; nothing then carries their ACK, so the kernel delays it (40 ms on Linux),
/// and a server with Nagle's algorithm on holds its EHLO reply until that ACK. Re-arming
/// TCP_QUICKACK before each read (the kernel clears it by itself) removes the 40 ms.
#[derive(Debug)]
struct QuickAck(TcpStream);

impl AsyncTokioStream for QuickAck {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        #[cfg(target_os = "linux")]
        let _ = self.0.set_quickack(true);
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A TLS stream lettre can use as its transport, first handing back the greeting bytes already
/// read to look at them.
#[derive(Debug)]
struct Tls {
    inner: TlsStream<TcpStream>,
    first: Vec<u8>,
    given: usize,
}

impl AsyncTokioStream for Tls {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.get_ref().0.peer_addr()
    }
}

impl AsyncRead for Tls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.given < self.first.len() {
            let n = buf.remaining().min(self.first.len() - self.given);
            let from = self.given;
            buf.put_slice(&self.first[from..from + n]);
            self.given += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
