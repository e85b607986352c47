//! TLS for the mail connections: the public roots (Mozilla's, via webpki-roots) plus the CAs of
//! `tls_ca_file`, for tokio-rustls (IMAP, implicit-TLS SMTP) and for lettre's STARTTLS alike.

use std::{path::Path, sync::Arc};

use lettre::transport::smtp::client::{Certificate, TlsParameters};
use rustls_pki_types::{pem::PemObject, CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::{client::TlsStream, rustls, TlsConnector};

use super::failure::Failure;

#[derive(Clone)]
pub struct TlsSetup {
    connector: TlsConnector,
    /// The extra CAs as PEM, one certificate each, for lettre.
    extra_pem: Arc<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsSetup({} extra CAs)", self.extra_pem.len())
    }
}

impl TlsSetup {
    pub fn new(ca_file: Option<&Path>) -> Result<TlsSetup, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut extra_pem = Vec::new();
        if let Some(path) = ca_file {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| format!("cannot read tls_ca_file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "tls_ca_file {} holds no PEM certificate",
                    path.display()
                ));
            }
            for c in certs {
                extra_pem.push(pem_of(&c));
                roots
                    .add(c)
                    .map_err(|e| format!("tls_ca_file {}: {e}", path.display()))?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(TlsSetup {
            connector: TlsConnector::from(Arc::new(config)),
            extra_pem: Arc::new(extra_pem),
        })
    }

    pub async fn connect(
        &self,
        host: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, Failure> {
        let name = ServerName::try_from(tls_name(host).to_string())
            .map_err(|_| Failure::Tls(format!("{host} is not a valid TLS name")))?;
        self.connector
            .connect(name, tcp)
            .await
            .map_err(|e| classify(&e))
    }

    /// The same trust for lettre's STARTTLS.
    pub fn lettre(&self, host: &str) -> Result<TlsParameters, Failure> {
        let mut b = TlsParameters::builder(tls_name(host).to_string());
        for pem in self.extra_pem.iter() {
            let cert = Certificate::from_pem(pem).map_err(|e| Failure::Tls(e.to_string()))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls().map_err(|e| Failure::Tls(e.to_string()))
    }
}

/// The name a certificate must carry: an IPv6 address without the brackets of a host field.
fn tls_name(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn pem_of(c: &CertificateDer<'_>) -> Vec<u8> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let b64 = STANDARD.encode(c.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out.into_bytes()
}

/// The TLS failure somewhere in an error's chain of sources, if there is one.
pub fn in_chain(e: &(dyn std::error::Error + 'static)) -> Option<Failure> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(from_rustls(r, err.to_string()));
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(from_rustls(r, io.to_string()));
            }
        }
        cur = err.source();
    }
    None
}

/// A TLS handshake error as a failure: untrusted, wrong name, or not TLS at all.
pub fn classify(e: &std::io::Error) -> Failure {
    let text = e.to_string();
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(r) => from_rustls(r, text),
        None if text.contains("corrupt message") || text.contains("InvalidContentType") => {
            Failure::NotTls
        }
        None => Failure::Tls(text),
    }
}

fn from_rustls(e: &rustls::Error, text: String) -> Failure {
    match Some(e.clone()) {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
        | Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForNameContext { .. },
        )) => Failure::TlsNameMismatch(text),
        Some(rustls::Error::InvalidCertificate(_)) => Failure::TlsUntrusted(text),
        Some(rustls::Error::InvalidMessage(_)) => Failure::NotTls,
        _ => Failure::Tls(text),
    }
}
