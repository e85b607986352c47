//! Real Dovecot (IMAP, LMTP, SASL) and Postfix (submission with STARTTLS) on loopback ports,
//! configured under a temporary directory and stopped on drop. Tokens are checked against the
//! sandbox's RFC 7662 introspection endpoint; Postfix delivers through Dovecot LMTP, so a message
//! sent over SMTP really appears over IMAP. TLS uses a test CA that only the tests trust.
//!
//! Dovecot and Postfix drop privileges to their own users, so this needs root (the test command
//! installs the Debian packages when run as root).

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

/// A mailbox with the usual folder names, and one with Microsoft's.
pub const FOLDERS_PLAIN: [&str; 5] = ["Sent", "Drafts", "Trash", "Junk", "Archive"];
pub const FOLDERS_MICROSOFT: [&str; 5] = [
    "Sent Items",
    "Drafts",
    "Deleted Items",
    "Junk Email",
    "Archive",
];

pub struct MailServers {
    pub dir: tempfile::TempDir,
    /// Where the server certificate and key are.
    tls: String,
    /// Postfix submission (STARTTLS required before AUTH).
    pub smtp_port: u16,
    /// Postfix submission with SMTP AUTH turned off, as a tenant with it disabled.
    pub smtp_no_auth_port: u16,
    /// Dovecot IMAP over implicit TLS.
    pub imaps_port: u16,
    /// Dovecot IMAP with STARTTLS.
    pub imap_port: u16,
    /// Dovecot POP3 over implicit TLS.
    pub pop3s_port: u16,
    /// Dovecot POP3 with STLS.
    pub pop3_port: u16,
    pub ca_file: PathBuf,
    pub domain: String,
    running: bool,
}

/// `N` distinct free ports. The listeners are held until all are chosen: released one by one,
/// the kernel may hand the same port out twice, and Dovecot then refuses its configuration
/// ("duplicate listener").
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts a daemon that forks into the background. Its output goes to `log`: a pipe would be
/// held open by the forked daemon, and waiting for it would never end.
fn start_daemon(cmd: &mut Command, log: &Path) {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    let status = cmd
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        status.success(),
        "{cmd:?} failed: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn wait_for(port: u16, what: &str, log: &Path) {
    let started = Instant::now();
    while TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_err()
    {
        if started.elapsed() > Duration::from_secs(20) {
            panic!(
                "{what} did not listen on {port}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn chown(path: &Path, owner: &str) {
    run(Command::new("chown").arg("-R").arg(owner).arg(path));
}

/// How Dovecot's oauth2 passdb is set up.
#[derive(Clone, Copy)]
enum OAuth2Settings {
    /// Every setting named, as this harness always had it.
    Shaped,
    /// Only what Dovecot's documentation asks for; the rest at Dovecot's defaults.
    Stock,
}

impl MailServers {
    /// Starts both servers for `domain`, checking tokens at `introspection_url`. `users` get a
    /// mailbox with the plain folder names; `microsoft_users` one with Microsoft's.
    pub fn start(
        ca: &TestCa,
        introspection_url: &str,
        domain: &str,
        users: &[&str],
        microsoft_users: &[&str],
    ) -> MailServers {
        Self::start_with_owners(ca, introspection_url, domain, users, microsoft_users, &[])
    }

    /// As `start`, with addresses that belong to another login (`(address, owner)`): signed in as
    /// the address itself, sending from it is refused (553 5.7.1), as Exchange refuses a sender
    /// the signed-in user may not send as.
    pub fn start_with_owners(
        ca: &TestCa,
        introspection_url: &str,
        domain: &str,
        users: &[&str],
        microsoft_users: &[&str],
        owners: &[(&str, &str)],
    ) -> MailServers {
        Self::start_full(
            ca,
            introspection_url,
            domain,
            users,
            microsoft_users,
            owners,
            OAuth2Settings::Shaped,
        )
    }

    /// As `start`, with Dovecot's oauth2 passdb as an admin sets it up from Dovecot's
    /// documentation, knowing nothing of Mailkey: only the introspection mode and URL, every
    /// other setting at Dovecot's default (`username_attribute = email`, no `active_attribute`).
    pub fn start_stock(
        ca: &TestCa,
        introspection_url: &str,
        domain: &str,
        users: &[&str],
    ) -> MailServers {
        Self::start_full(
            ca,
            introspection_url,
            domain,
            users,
            &[],
            &[],
            OAuth2Settings::Stock,
        )
    }

    fn start_full(
        ca: &TestCa,
        introspection_url: &str,
        domain: &str,
        users: &[&str],
        microsoft_users: &[&str],
        owners: &[(&str, &str)],
        oauth2: OAuth2Settings,
    ) -> MailServers {
        assert!(
            is_root(),
            "the mail-server tests run real Dovecot and Postfix, which need root: run `cargo xtask \
             test` as root (it installs them)"
        );
        for bin in ["/usr/sbin/dovecot", "/usr/sbin/postfix", "/usr/bin/openssl"] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: `cargo xtask test` installs dovecot-imapd, dovecot-lmtpd, \
                 dovecot-pop3d, postfix and openssl"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        // The servers' own users must reach their files.
        std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let ca_file = ca.ca_file.clone();
        let [smtp_port, smtp_no_auth_port, imaps_port, imap_port, pop3s_port, pop3_port, lmtp_port, sasl_port] =
            free_ports();
        let servers = MailServers {
            tls: ca.dir.path().display().to_string(),
            smtp_port,
            smtp_no_auth_port,
            imaps_port,
            imap_port,
            pop3s_port,
            pop3_port,
            ca_file,
            domain: domain.to_string(),
            running: true,
            dir,
        };
        servers.make_mailboxes(users, microsoft_users);
        servers.start_dovecot(introspection_url, lmtp_port, sasl_port, oauth2);
        servers.start_postfix(lmtp_port, sasl_port, owners);
        servers
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The Maildir of `user` (its INBOX is `new/` and `cur/`).
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.root().join("mail").join(user.to_lowercase())
    }

    /// Every message file in the user's INBOX, read.
    pub fn inbox_messages(&self, user: &str) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir(user).join(sub)) {
                for e in entries.flatten() {
                    out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        out
    }

    /// Puts a message straight into `user`'s INBOX (Maildir `cur/`, `name` with its flags).
    pub fn put_in_inbox(&self, user: &str, name: &str, message: &str) {
        let path = self.maildir(user).join("cur").join(name);
        std::fs::write(&path, message).unwrap();
        chown(&path, "dovecot:dovecot");
    }

    fn make_mailboxes(&self, users: &[&str], microsoft_users: &[&str]) {
        let mail = self.root().join("mail");
        for (list, folders) in [(users, FOLDERS_PLAIN), (microsoft_users, FOLDERS_MICROSOFT)] {
            for user in list {
                let home = mail.join(user.to_lowercase());
                for sub in ["new", "cur", "tmp"] {
                    std::fs::create_dir_all(home.join(sub)).unwrap();
                }
                for f in folders {
                    for sub in ["new", "cur", "tmp"] {
                        std::fs::create_dir_all(home.join(format!(".{f}")).join(sub)).unwrap();
                    }
                }
                std::fs::write(home.join("subscriptions"), folders.join("\n") + "\n").unwrap();
            }
        }
        std::fs::create_dir_all(&mail).unwrap();
        chown(&mail, "dovecot:dovecot");
    }

    fn start_dovecot(
        &self,
        introspection_url: &str,
        lmtp_port: u16,
        sasl_port: u16,
        oauth2: OAuth2Settings,
    ) {
        let root = self.root().display().to_string();
        let conf = self.root().join("dovecot");
        std::fs::create_dir_all(conf.join("run")).unwrap();
        std::fs::create_dir_all(conf.join("state")).unwrap();
        let special: String = [
            ("Sent", "Sent"),
            ("Sent Items", "Sent"),
            ("Drafts", "Drafts"),
            ("Trash", "Trash"),
            ("Deleted Items", "Trash"),
            ("Junk", "Junk"),
            ("Junk Email", "Junk"),
            ("Archive", "Archive"),
        ]
        .iter()
        .map(|(name, flag)| {
            format!("  mailbox \"{name}\" {{\n    special_use = \\{flag}\n    auto = no\n  }}\n")
        })
        .collect();
        let config = format!(
            r#"instance_name = mailkey-test-{imaps}
base_dir = {root}/dovecot/run
state_dir = {root}/dovecot/state
log_path = {root}/dovecot/dovecot.log
protocols = imap pop3 lmtp
# UIDs as Exchange and most servers give them; Dovecot asks for one to be chosen.
pop3_uidl_format = %08Xu%08Xv
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
ssl = yes
ssl_cert = <{tls}/server.crt
ssl_key = <{tls}/server.key
disable_plaintext_auth = yes
auth_mechanisms = xoauth2 oauthbearer
# Failure tests would wait seconds for each refusal otherwise.
auth_failure_delay = 0
auth_verbose = yes
mail_location = maildir:{root}/mail/%Lu
mail_uid = dovecot
mail_gid = dovecot
first_valid_uid = 1
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/dovecot/oauth2.conf.ext
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%Lu allow_all_users=yes
}}
namespace inbox {{
  inbox = yes
  separator = /
{special}}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service auth {{
  inet_listener sasl {{
    address = 127.0.0.1
    port = {sasl_port}
  }}
}}
# The per-IP penalty (2, 4, 8, 15 s after failures) off.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"#,
            imap = self.imap_port,
            imaps = self.imaps_port,
            pop3 = self.pop3_port,
            pop3s = self.pop3s_port,
            tls = self.tls,
        );
        std::fs::write(conf.join("dovecot.conf"), config).unwrap();
        // Dovecot 2.3: `post` mode, and it reads `{"active": false}` (HTTP 200) as a refusal.
        let oauth2 = match oauth2 {
            OAuth2Settings::Shaped => format!(
                "introspection_mode = post\nintrospection_url = {introspection_url}\n\
                 username_attribute = username\nactive_attribute = active\nactive_value = true\n\
                 force_introspection = yes\n"
            ),
            OAuth2Settings::Stock => {
                format!("introspection_mode = post\nintrospection_url = {introspection_url}\n")
            }
        };
        std::fs::write(conf.join("oauth2.conf.ext"), oauth2).unwrap();
        start_daemon(
            Command::new("/usr/sbin/dovecot")
                .arg("-c")
                .arg(conf.join("dovecot.conf")),
            &conf.join("start.log"),
        );
        let log = conf.join("dovecot.log");
        wait_for(self.imaps_port, "Dovecot", &log);
        wait_for(sasl_port, "Dovecot auth", &log);
        wait_for(self.pop3s_port, "Dovecot POP3", &log);
    }

    fn start_postfix(&self, lmtp_port: u16, sasl_port: u16, owners: &[(&str, &str)]) {
        let root = self.root().display().to_string();
        let conf = self.root().join("postfix");
        std::fs::create_dir_all(conf.join("queue")).unwrap();
        std::fs::create_dir_all(conf.join("data")).unwrap();
        chown(&conf.join("data"), "postfix");
        let domain = &self.domain;
        let tls = &self.tls;
        std::fs::write(
            conf.join("main.cf"),
            format!(
                "compatibility_level = 3.6
queue_directory = {root}/postfix/queue
data_directory = {root}/postfix/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.{domain}
mydomain = {domain}
myorigin = $mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file = {root}/postfix/postfix.log
maillog_file_prefixes = {root}
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = {domain}
virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{sasl_port}
smtpd_tls_cert_file = {tls}/server.crt
smtpd_tls_key_file = {tls}/server.key
smtpd_tls_auth_only = yes
smtpd_relay_restrictions = permit_sasl_authenticated, reject
# Each signed-in user may send only as itself (553 5.7.1 otherwise).
smtpd_sender_login_maps = regexp:{root}/postfix/senders.regexp
smtpd_sender_restrictions = reject_sender_login_mismatch
# An XOAUTH2 line carries a whole access token.
line_length_limit = 16384
smtputf8_enable = no
biff = no
"
            ),
        )
        .unwrap();
        let mut senders: String = owners
            .iter()
            .map(|(address, owner)| format!("/^{}$/ {owner}\n", address.replace('.', "\\.")))
            .collect();
        senders.push_str("/^(.*)$/ ${1}\n");
        std::fs::write(conf.join("senders.regexp"), senders).unwrap();
        std::fs::write(
            conf.join("master.cf"),
            format!(
                "127.0.0.1:{smtp} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
127.0.0.1:{no_auth} inet n - n - - smtpd
  -o syslog_name=postfix/no-auth
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=no
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
",
                smtp = self.smtp_port,
                no_auth = self.smtp_no_auth_port,
            ),
        )
        .unwrap();
        start_daemon(
            Command::new("/usr/sbin/postfix")
                .arg("-c")
                .arg(&conf)
                .arg("start"),
            &conf.join("start.log"),
        );
        wait_for(self.smtp_port, "Postfix", &conf.join("postfix.log"));
    }

    /// Stops Dovecot (tests of a stopped server).
    pub fn stop_dovecot(&self) {
        let _ = Command::new("/usr/sbin/dovecot")
            .arg("-c")
            .arg(self.root().join("dovecot/dovecot.conf"))
            .arg("stop")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }

    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let _ = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.root().join("postfix"))
            .arg("stop")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        self.stop_dovecot();
    }

    pub fn logs(&self) -> String {
        let read = |p: &str| std::fs::read_to_string(self.root().join(p)).unwrap_or_default();
        format!(
            "--- dovecot\n{}\n--- postfix\n{}",
            read("dovecot/dovecot.log"),
            read("postfix/postfix.log")
        )
    }
}

impl Drop for MailServers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA only the tests trust (Mailkey gets it as `tls_ca_file`), and a certificate for
/// `localhost` / 127.0.0.1 signed by it, for the servers.
pub struct TestCa {
    pub dir: tempfile::TempDir,
    pub ca_file: PathBuf,
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let ca_file = make_certificates(dir.path());
        TestCa { dir, ca_file }
    }
}

fn make_certificates(dir: &Path) -> PathBuf {
    let p = |f: &str| dir.join(f);
    let openssl = |args: &[&str]| {
        run(Command::new("/usr/bin/openssl").args(args).current_dir(dir));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=Mailkey test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        p("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    // Dovecot reads the key as root before dropping privileges; Postfix too.
    p("ca.crt")
}
