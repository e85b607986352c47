//! What kind of server answers: the first line a mail server sends says whether it speaks SMTP
//! (`220`), IMAP (`* OK`) or POP3 (`+OK`). A port mix-up (SMTP pointed at IMAP's port) is then
//! named as such, and a server that says nothing is noticed within seconds rather than at the
//! end of the stage's time.

use std::time::Duration;

use tokio::{io::AsyncReadExt, net::TcpStream};

use super::failure::Failure;

/// How long a server may take to greet. Real servers greet within milliseconds; one that waits
/// longer is waiting for a TLS handshake (an implicit-TLS port) or is not a mail server.
pub const GREETING_WAIT: Duration = Duration::from_secs(5);
/// On port 25, where servers between servers may delay the greeting against spam.
const PORT_25_GREETING_WAIT: Duration = Duration::from_secs(12);

/// The mail protocols, as a greeting tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Smtp,
    Imap,
    Pop3,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Smtp => "SMTP",
            Service::Imap => "IMAP",
            Service::Pop3 => "POP3",
        }
    }

    /// "an SMTP", "an IMAP", "a POP3", as the words need it.
    pub fn with_article(self) -> &'static str {
        match self {
            Service::Smtp => "an SMTP",
            Service::Imap => "an IMAP",
            Service::Pop3 => "a POP3",
        }
    }

    /// Where the service usually is, for the advice.
    pub fn usual_ports(self) -> &'static str {
        match self {
            Service::Smtp => "587 (STARTTLS) or 465 (TLS)",
            Service::Imap => "993 (TLS) or 143 (STARTTLS)",
            Service::Pop3 => "995 (TLS) or 110 (STARTTLS)",
        }
    }

    /// The service the standards give a port to, if it is a mail port.
    pub fn of_port(port: u16) -> Option<Service> {
        match port {
            25 | 465 | 587 => Some(Service::Smtp),
            143 | 993 => Some(Service::Imap),
            110 | 995 => Some(Service::Pop3),
            _ => None,
        }
    }
}

/// The service a greeting's first bytes belong to, if they are one's.
pub fn service_of(first: &[u8]) -> Option<Service> {
    if first.starts_with(b"* ") {
        Some(Service::Imap)
    } else if first.starts_with(b"+OK") || first.starts_with(b"-ERR") {
        Some(Service::Pop3)
    } else if first.len() >= 3 && first[..3].iter().all(u8::is_ascii_digit) {
        Some(Service::Smtp)
    } else {
        None
    }
}

/// The greeting on a plain connection, looked at without taking it from the socket (the protocol
/// client reads it next). Silence within [`GREETING_WAIT`] is [`Failure::Silent`]; another
/// service's greeting is [`Failure::WrongService`].
pub async fn expect_on_plain(tcp: &TcpStream, expected: Service) -> Result<(), Failure> {
    let mut buf = [0u8; 16];
    // Port 25 servers may hold their greeting on purpose (Postfix's postscreen waits 6 s).
    let wait = if tcp.peer_addr().is_ok_and(|a| a.port() == 25) {
        PORT_25_GREETING_WAIT
    } else {
        GREETING_WAIT
    };
    let n = tokio::time::timeout(wait, tcp.peek(&mut buf))
        .await
        .map_err(|_| Failure::Silent)?
        .map_err(|e| Failure::Io(e.to_string()))?;
    check(&buf[..n], expected)
}

/// The greeting's first bytes read from a stream (a TLS one, which cannot be peeked at), to be
/// handed back to the protocol client before the rest.
pub async fn read_first<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    expected: Service,
) -> Result<Vec<u8>, Failure> {
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(GREETING_WAIT, stream.read(&mut buf))
        .await
        .map_err(|_| Failure::Silent)?
        .map_err(|e| Failure::Io(e.to_string()))?;
    buf.truncate(n);
    check(&buf, expected)?;
    Ok(buf)
}

fn check(first: &[u8], expected: Service) -> Result<(), Failure> {
    if first.is_empty() {
        return Err(Failure::Io("the server closed the connection".into()));
    }
    match service_of(first) {
        Some(found) if found != expected => Err(Failure::WrongService { expected, found }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_name_their_service() {
        assert_eq!(service_of(b"220 mx.example ESMTP"), Some(Service::Smtp));
        assert_eq!(
            service_of(b"* OK [CAPABILITY IMAP4rev1] Dovecot ready."),
            Some(Service::Imap)
        );
        assert_eq!(service_of(b"+OK Dovecot ready."), Some(Service::Pop3));
        assert_eq!(service_of(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(Service::of_port(993), Some(Service::Imap));
        assert_eq!(Service::of_port(8080), None);
    }
}
