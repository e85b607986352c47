//! Where a connection test may connect. Mail hosts are user input, so a hosted Mailkey must not
//! become a port scanner: the host must be the provider's or one the operator listed, and every
//! address it resolves to must be public unless `allow_private_hosts` is set. The caller then
//! connects to an address checked here, never to the name again (no second lookup to rebind).
//! Only mail ports are used, unless the operator names others, so an allowed host cannot be
//! probed on its other services either.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::failure::Failure;

/// SMTP (25, 465, 587), IMAP (143, 993) and POP3 (110, 995).
pub const MAIL_PORTS: [u16; 7] = [25, 465, 587, 143, 993, 110, 995];

/// The ports connection tests may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailPorts {
    /// The mail ports and these.
    Standard(Vec<u16>),
    /// Every port (`mail_ports = "any"`: test servers on random ports).
    Any,
}

impl Default for MailPorts {
    fn default() -> Self {
        MailPorts::Standard(Vec::new())
    }
}

impl MailPorts {
    pub fn allows(&self, port: u16) -> bool {
        match self {
            MailPorts::Any => true,
            MailPorts::Standard(extra) => MAIL_PORTS.contains(&port) || extra.contains(&port),
        }
    }
}

#[derive(Clone, Debug)]
pub struct HostGuard {
    allowed: Vec<String>,
    allow_private: bool,
    ports: MailPorts,
}

impl HostGuard {
    pub fn new(
        allowed: impl IntoIterator<Item = String>,
        allow_private: bool,
        ports: MailPorts,
    ) -> HostGuard {
        HostGuard {
            allowed: allowed.into_iter().map(|h| normal(&h)).collect(),
            allow_private,
            ports,
        }
    }

    pub fn allows_port(&self, port: u16) -> bool {
        self.ports.allows(port)
    }

    /// The host's addresses, each checked; refuses a host not on the list or a port that is not
    /// a mail port.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
        let host = normal(host);
        if !self.allowed.contains(&host) {
            return Err(Failure::HostNotAllowed(host));
        }
        if !self.ports.allows(port) {
            return Err(Failure::PortNotAllowed(port));
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| Failure::Dns(host.clone(), e.to_string()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(Failure::Dns(host, "no addresses".into()));
        }
        if !self.allow_private {
            if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(Failure::PrivateAddress(host, bad.ip()));
            }
        }
        Ok(addrs)
    }
}

/// A host as compared: lower case, no trailing dot, an IPv6 address without its brackets.
fn normal(host: &str) -> String {
    let h = host.trim().trim_end_matches('.').to_ascii_lowercase();
    h.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .map(str::to_string)
        .unwrap_or(h)
}

/// Globally reachable unicast: not loopback, private, link-local, shared, documentation,
/// benchmarking, multicast or otherwise reserved. IPv4-mapped IPv6 is judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated, relays anywhere)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated, still routed inside sites)
        || (s[0..6] == [0; 6]) // ::/96, IPv4-compatible (deprecated, embeds IPv4)
        || (s[0] == 0x2001 && s[1] == 0x0000) // Teredo, embeds IPv4
        || (s[0..4] == [0; 4] && s[4] == 0xffff && s[5] == 0) // ::ffff:0:0/96, IPv4-translated
        || (s[0] == 0x0100 && s[1..4] == [0; 3]) // 100::/64, discard
        || (s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0) // 2001:2::/48, benchmarking
        || (s[0] & 0xfff0) == 0x3ff0 // 3fff::/20, documentation
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64, embeds IPv4
        || s[0] == 0x2002) // 6to4, embeds IPv4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "::7f00:1",
            "::a00:1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fec0::1",
            "192.88.99.1",
            "::ffff:0:a00:1",
            "100::1",
            "2001:2::1",
            "3fff::1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad}");
        }
        for good in ["52.96.0.1", "40.99.1.2", "2603:1026::1"] {
            assert!(is_public(good.parse().unwrap()), "{good}");
        }
    }

    #[tokio::test]
    async fn only_listed_hosts_and_public_addresses() {
        let guard = HostGuard::new(
            [
                "localhost".to_string(),
                "127.0.0.1".to_string(),
                "::1".to_string(),
            ],
            false,
            MailPorts::default(),
        );
        assert!(matches!(
            guard.resolve("evil.example", 25).await,
            Err(Failure::HostNotAllowed(_))
        ));
        for host in ["localhost", "127.0.0.1", "::1"] {
            assert!(
                matches!(
                    guard.resolve(host, 25).await,
                    Err(Failure::PrivateAddress(..))
                ),
                "{host}"
            );
        }
        let open = HostGuard::new(["127.0.0.1".to_string()], true, MailPorts::default());
        assert_eq!(
            open.resolve("127.0.0.1", 25).await.unwrap(),
            vec!["127.0.0.1:25".parse().unwrap()]
        );
        // An allowed host, but not on a mail port: its other services are not for probing.
        for port in [22, 80, 3306, 6379, 8080] {
            assert!(
                matches!(
                    open.resolve("127.0.0.1", port).await,
                    Err(Failure::PortNotAllowed(p)) if p == port
                ),
                "{port}"
            );
        }
        let extra = HostGuard::new(
            ["127.0.0.1".to_string()],
            true,
            MailPorts::Standard(vec![2525]),
        );
        assert!(extra.resolve("127.0.0.1", 2525).await.is_ok());
        assert!(extra.resolve("127.0.0.1", 2526).await.is_err());
    }
}
