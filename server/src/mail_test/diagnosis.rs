//! Failures in plain words: what happened, why it usually happens, and exactly what to change.
//! Keyed on codes (SMTP reply and enhanced status, IMAP response codes, TLS and socket errors),
//! not on one server's wording, and tested against Exchange Online's exact replies.

use mailkey_app::{
    draft::Step,
    mail_test::Diagnosis,
    provider::{Protocol, Security},
};

use super::{
    failure::{Failure, TokenTrouble},
    greeting::Service,
};

/// What the words need to know about the test.
pub struct Context<'a> {
    pub protocol: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub security: Security,
    pub mailbox: &'a str,
    pub root_folder: &'a str,
}

fn d(title: &str, what: String, why: &str, fix: String, step: Option<Step>) -> Diagnosis {
    Diagnosis {
        title: title.into(),
        what,
        why: why.into(),
        fix,
        step: step.map(Step::number),
        reply: None,
        field: None,
        code: String::new(),
    }
}

/// The Mailbox step's field a failure is fixed in, if one is.
fn field_of(f: &Failure, protocol: &str) -> Option<String> {
    let side = if protocol == "SMTP" { "smtp" } else { "imap" };
    let which = match f {
        Failure::HostNotAllowed(_) | Failure::Dns(..) | Failure::PrivateAddress(..) => "host",
        Failure::PortNotAllowed(_)
        | Failure::WrongService { .. }
        | Failure::Silent
        | Failure::Refused(_)
        | Failure::ConnectTimeout(_) => "port",
        Failure::NotTls | Failure::NoStartTls => "security",
        Failure::NoRootFolder(_) => return Some("root_folder".into()),
        _ => return None,
    };
    Some(format!("{side}_{which}"))
}

pub fn explain(f: &Failure, cx: &Context<'_>) -> Diagnosis {
    let mailbox_step = Some(Step::Mailbox);
    let (p, host, port) = (cx.protocol, cx.host, cx.port);
    let mut out = match f {
        Failure::Token(TokenTrouble::NotSignedIn) => d(
            "The mailbox is not signed in",
            "Mailkey holds no sign-in for this mailbox, so it has no access token to test with."
                .into(),
            "The mailbox never signed in, or its sign-in was removed when its address or app \
             changed.",
            format!("Sign in as {}.", cx.mailbox),
            None,
        ),
        Failure::Token(TokenTrouble::SignInRefused(title)) => d(
            "Microsoft no longer accepts the sign-in",
            format!("Microsoft refused the mailbox's stored sign-in: {title}."),
            "The sign-in was revoked (a password change, an administrator) or expired unused.",
            format!("Sign in again as {}.", cx.mailbox),
            None,
        ),
        Failure::Token(TokenTrouble::AppRefused(title)) => d(
            "Microsoft refused the app",
            format!("Microsoft refused the app's credentials: {title}."),
            "The client secret is wrong, expired, or was deleted during a rotation. The \
             mailbox's sign-in is kept.",
            "Fix the app's client secret as the account page explains; the mailbox does not \
             need to sign in again."
                .into(),
            None,
        ),
        Failure::Token(TokenTrouble::Unavailable(why)) => d(
            "Microsoft's sign-in service is unavailable for now",
            format!("Mailkey could not get a fresh access token: {why}."),
            "An outage or throttling at Microsoft, or a network problem between Mailkey and \
             Microsoft. The account stays connected.",
            "Test again in a few minutes.".into(),
            None,
        ),
        Failure::Token(TokenTrouble::Internal(why)) => d(
            "Mailkey could not get an access token",
            format!("Mailkey's own side failed: {why}."),
            "A problem of Mailkey's server (its database or master key).",
            "Test again; if it repeats, the operator should check Mailkey's log.".into(),
            None,
        ),
        Failure::HostNotAllowed(h) => d(
            "This server is not allowed",
            format!("Mailkey may not connect to {h}."),
            "A hosted Mailkey only connects to the provider's mail servers and those its operator \
             lists, so it cannot be used to probe other machines.",
            format!(
                "Use the provider's server, or ask the operator to add {h} to mail_hosts."
            ),
            mailbox_step,
        ),
        Failure::PortNotAllowed(port) => d(
            "This port is not a mail port",
            format!("Mailkey may not connect to port {port}."),
            "Connection tests use only the mail ports (SMTP 25, 465, 587; IMAP 143, 993; POP3 \
             110, 995), so Mailkey cannot be used to reach a server's other services.",
            format!(
                "Use the {p} server's mail port (Microsoft 365: SMTP 587, IMAP 993), or ask the \
                 operator to add {port} to mail_ports."
            ),
            mailbox_step,
        ),
        Failure::PrivateAddress(h, ip) => d(
            "This server is on a private network",
            format!("{h} resolves to {ip}, a private, loopback or reserved address."),
            "Mailkey does not connect to internal addresses unless its operator allows it.",
            "Use the server's public name, or ask the operator to set allow_private_hosts.".into(),
            mailbox_step,
        ),
        Failure::Dns(h, _) => d(
            "The server name does not exist",
            format!("The name {h} cannot be resolved."),
            "A typo in the host name, or a name that only exists inside another network.",
            format!(
                "Check the {p} server's host name (for Microsoft 365: smtp.office365.com and \
                 outlook.office365.com)."
            ),
            mailbox_step,
        ),
        Failure::Refused(a) => d(
            "Nothing answers on this port",
            format!("{host} ({a}) refused the connection on port {port}."),
            "The port is wrong, or the mail server is stopped.",
            format!(
                "Check the {p} port (Microsoft 365: SMTP 587 with STARTTLS, IMAP 993 with TLS), \
                 or start the server."
            ),
            mailbox_step,
        ),
        Failure::ConnectTimeout(a) => d(
            "The server does not answer",
            format!("Connecting to {host} ({a}) port {port} timed out."),
            "A firewall drops the connection, or the server is down.",
            "Check that Mailkey's server may open outgoing connections to this port, and that \
             the host and port are right."
                .into(),
            mailbox_step,
        ),
        Failure::WrongService { expected, found } => d(
            &format!("This is {} port", found.with_article()),
            format!(
                "{host}:{port} answered as {} server, not as the {} server this setting is for.",
                found.with_article(),
                expected.name()
            ),
            "The SMTP and IMAP ports were swapped or copied from the other field.",
            format!(
                "{} is on port {} (Microsoft 365: {}). Change the {p} port.",
                expected.name(),
                expected.usual_ports(),
                if *expected == Service::Smtp {
                    "smtp.office365.com, 587 with STARTTLS"
                } else {
                    "outlook.office365.com, 993 with TLS"
                }
            ),
            mailbox_step,
        ),
        Failure::Silent => match Service::of_port(port).filter(|s| s.name() != p) {
            // Silence on another service's port: the port is wrong, not the encryption.
            Some(other) => d(
                &format!("Port {port} is {}'s port", other.name()),
                format!(
                    "{host}:{port} said nothing within seconds: port {port} is where {} \
                     servers listen, not {p} ones.",
                    other.name()
                ),
                "The SMTP and IMAP ports were swapped or copied from the other field.",
                format!(
                    "{p} is on port {} (Microsoft 365: SMTP 587 with STARTTLS, IMAP 993 with \
                     TLS). Change the {p} port.",
                    if p == "SMTP" {
                        Service::Smtp.usual_ports()
                    } else {
                        Service::Imap.usual_ports()
                    }
                ),
                mailbox_step,
            ),
            // TLS was accepted, then nothing: not a mail server on this port (or one stuck).
            None if cx.security == Security::Tls => d(
                "The server does not greet",
                format!(
                    "{host}:{port} accepted the TLS connection but then said nothing within \
                     seconds, as a mail server would."
                ),
                "The port belongs to another service that also speaks TLS (a web server), or the \
                 mail server is overloaded.",
                format!(
                    "Check the {p} port (Microsoft 365: SMTP 587 with STARTTLS, IMAP 993 with TLS)."
                ),
                mailbox_step,
            ),
            None => d(
                "The encryption setting does not match the port",
                format!(
                    "{host}:{port} waited silently: it expects TLS from the first byte, but the \
                     setting is {}.",
                    cx.security.label()
                ),
                "Ports 465 (SMTP) and 993 (IMAP) use implicit TLS; 587 and 143 use STARTTLS.",
                format!("Set the {p} encryption to TLS (implicit), or use the STARTTLS port."),
                mailbox_step,
            ),
        },
        Failure::NotTls | Failure::NoStartTls => d(
            "The encryption setting does not match the port",
            format!(
                "{host}:{port} does not speak {} as configured.",
                cx.security.label()
            ),
            "Ports 587 (SMTP) and 143 (IMAP) use STARTTLS; 465 and 993 use implicit TLS.",
            format!(
                "Set the {p} encryption to {} or change the port.",
                match cx.security {
                    Security::Tls => "STARTTLS",
                    Security::StartTls => "TLS (implicit)",
                }
            ),
            mailbox_step,
        ),
        Failure::TlsUntrusted(_) => d(
            "The server's certificate is not trusted",
            format!("{host} presented a certificate no trusted authority signed."),
            "A self-signed or internal certificate, or a proxy that intercepts TLS.",
            "Use the server's public name with a publicly trusted certificate (Microsoft 365's \
             are); an operator can trust an internal CA with tls_ca_file."
                .into(),
            mailbox_step,
        ),
        Failure::TlsNameMismatch(_) => d(
            "The certificate is for another name",
            format!("The certificate {host} presented is not valid for {host}."),
            "The host name is an alias or an IP address rather than the server's own name.",
            format!("Use the name the certificate is issued for (Microsoft 365: smtp.office365.com / outlook.office365.com) as the {p} server."),
            mailbox_step,
        ),
        Failure::Tls(_) => d(
            "The encrypted connection failed",
            format!("TLS with {host}:{port} could not be set up."),
            "The server needs a TLS version or cipher Mailkey does not offer, or the connection \
             was cut.",
            "Check the encryption setting and that the server supports TLS 1.2 or newer.".into(),
            mailbox_step,
        ),
        Failure::Smtp {
            code,
            enhanced,
            text,
        } => smtp(*code, enhanced.as_deref(), text, cx),
        Failure::SmtpAuthOff => smtp_auth_disabled(cx, false),
        Failure::ImapAuth(_) | Failure::PopAuth(_) if f.is_temporary_auth() => {
            temporary(cx.protocol)
        }
        Failure::ImapAuth(_) => reading_refused(cx, Protocol::Imap),
        Failure::PopAuth(_) => reading_refused(cx, Protocol::Pop),
        Failure::Pop(_) => d(
            "The POP server refused a command",
            "The POP server answered -ERR, or something that is not POP3.".into(),
            "See the server's reply below.",
            "Check the incoming server settings.".into(),
            mailbox_step,
        ),
        Failure::Imap(_) => d(
            "The IMAP server refused a command",
            "The IMAP server answered NO or BAD.".into(),
            "See the server's reply below.",
            "Check the incoming server settings.".into(),
            mailbox_step,
        ),
        Failure::NoRootFolder(folder) => d(
            "The root folder does not exist",
            format!("The mailbox has no folder called \"{folder}\"."),
            "The folder was renamed, or its name was typed differently (names are exact).",
            format!(
                "Set the root folder to one the mailbox has (usually INBOX){}.",
                if cx.root_folder.eq_ignore_ascii_case("inbox") {
                    ""
                } else {
                    "; the folder list is shown below"
                }
            ),
            mailbox_step,
        ),
        Failure::NotReceived => d(
            "The test message did not arrive",
            format!(
                "The message sent to {} did not appear in {} before the connection timeout.",
                cx.mailbox, cx.root_folder
            ),
            "An inbox rule moved it, it landed in Junk, or delivery is slow right now.",
            "Look in Junk and the rules of the mailbox, then test again; raise the connection \
             timeout if delivery is often slow."
                .into(),
            mailbox_step,
        ),
        Failure::Timeout(stage) => d(
            "The server stopped answering",
            format!("\"{}\" took longer than the connection timeout.", stage.label()),
            "The server or the network is very slow or hangs.",
            "Test again; if it repeats, check the server and raise the connection timeout.".into(),
            mailbox_step,
        ),
        Failure::Io(_) => d(
            "The connection broke",
            format!("The connection to {host}:{port} was cut."),
            "A network problem, or the server closed the connection.",
            "Test again.".into(),
            None,
        ),
    };
    out.reply = f.reply();
    if out.code.is_empty() {
        out.code = f.code();
    }
    if out.step == Some(Step::Mailbox.number()) {
        out.field = field_of(f, cx.protocol);
    }
    out
}

/// The title of a temporary failure, by which a repeat is recognised.
pub const TEMPORARY_TITLE: &str = "Temporary failure";
/// The title of a temporary failure seen in two tests in a row.
pub const REPEATED_TEMPORARY_TITLE: &str = "The sign-in check keeps failing";

/// A "temporary" failure for the second test in a row: waiting did not help, so it is explained
/// as what it then usually is, a token check that cannot work.
pub fn repeated_temporary(reply: Option<String>) -> Diagnosis {
    Diagnosis {
        reply,
        code: "token_check_failing".into(),
        ..d(
            REPEATED_TEMPORARY_TITLE,
            "The mail server could not check the sign-in, in this test and in the one before: \
             this is not a brief outage."
                .into(),
            "The server cannot validate access tokens: its token check is misconfigured or \
             cannot reach the identity provider. A self-run Dovecot whose oauth2 passdb reads a \
             user field the introspection answer does not carry says \"No username returned\" \
             and answers this way.",
            "For Microsoft 365, check the service health in the Microsoft 365 admin center. For \
             a server of your own, read its authentication log: check that the introspection URL \
             answers from the mail server and that username_attribute names a field of the \
             answer (the sandbox's carries email, username and sub)."
                .into(),
            None,
        )
    }
}

/// IMAP or POP refused the token: the protocol turned off for the mailbox, a missing scope, or
/// another user's token, which Exchange words alike.
fn reading_refused(cx: &Context<'_>, protocol: Protocol) -> Diagnosis {
    let (name, scope, switch, exchange_words) = match protocol {
        Protocol::Imap => (
            "IMAP",
            "IMAP.AccessAsUser.All",
            "ImapEnabled",
            "AUTHENTICATE failed",
        ),
        Protocol::Pop => (
            "POP",
            "POP.AccessAsUser.All",
            "PopEnabled",
            "Authentication failure",
        ),
    };
    let mailbox = cx.mailbox;
    d(
        &format!("{name} refused the sign-in"),
        format!("The {name} server refused the access token for {mailbox}."),
        &format!(
            "{name} is turned off for the mailbox, the token lacks {scope}, or it was issued for \
             another user (Exchange answers \"{exchange_words}\" for each)."
        ),
        format!(
            "Make sure {name} is on for the mailbox (Exchange admin center → Recipients → \
             Mailboxes → {mailbox} → Manage email apps → {name}, or Set-CASMailbox -Identity \
             {mailbox} -{switch} $true), that the scopes include \
             https://outlook.office.com/{scope}, and that {mailbox} signed in."
        ),
        None,
    )
}

fn temporary(what: &str) -> Diagnosis {
    d(
        TEMPORARY_TITLE,
        format!("The {what} server could not check the sign-in right now."),
        "The server's authentication service is briefly unavailable.",
        "Wait a minute and test again.".into(),
        None,
    )
}

fn smtp_auth_disabled(cx: &Context<'_>, for_tenant: bool) -> Diagnosis {
    let tenant = "In the Exchange admin center → Settings → Mail flow, uncheck \"Turn off SMTP \
                  AUTH protocol for your organization\"";
    let mailbox = format!(
        "in Microsoft 365 admin center → Users → {} → Mail → Manage email apps, check \
         \"Authenticated SMTP\" (or Set-CASMailbox -Identity {} -SmtpClientAuthenticationDisabled \
         $false)",
        cx.mailbox, cx.mailbox
    );
    let mut out = d(
        "SMTP AUTH is turned off",
        if for_tenant {
            "Exchange refuses SMTP AUTH for the whole organisation.".to_string()
        } else {
            format!("SMTP AUTH is turned off for {}.", cx.mailbox)
        },
        "Microsoft turns SMTP AUTH off by default; it must be allowed for the organisation or \
         for this mailbox.",
        if for_tenant {
            format!("{tenant}, or allow it for this mailbox only: {mailbox}.")
        } else {
            format!("Allow it for this mailbox: {mailbox}. (Or organisation-wide: {tenant}.)")
        },
        None,
    );
    out.code = "smtp_auth_disabled".into();
    out
}

fn smtp(code: u16, enhanced: Option<&str>, text: &str, cx: &Context<'_>) -> Diagnosis {
    match (code, enhanced) {
        (535, Some("5.7.139")) => {
            let tenant = text.to_ascii_lowercase().contains("tenant");
            smtp_auth_disabled(cx, tenant)
        }
        (535, Some("5.7.3")) | (535, Some("5.7.8")) | (535, None) => d(
            "SMTP refused the access token",
            format!("The SMTP server refused the sign-in for {}.", cx.mailbox),
            "The token was issued for another user or without SMTP.Send, or it expired.",
            format!(
                "Make sure the scopes include https://outlook.office.com/SMTP.Send and sign in \
                 again as {}.",
                cx.mailbox
            ),
            Some(Step::Mailbox),
        ),
        (454, _) | (421, _) => temporary("SMTP"),
        (503, _) | (502, _) | (504, _) => smtp_auth_disabled(cx, false),
        (550, Some("5.7.60")) | (553, Some("5.7.1")) | (554, Some("5.7.1")) => d(
            "Not allowed to send as this address",
            format!(
                "The server will not send mail from {} for this sign-in.",
                cx.mailbox
            ),
            "The signed-in mailbox is not the sender address and has no Send As permission for \
             it.",
            format!(
                "Sign in as {} itself, or give the signed-in user Send As permission on it \
                 (Exchange admin center → Recipients → Mailboxes → {} → Delegation).",
                cx.mailbox, cx.mailbox
            ),
            None,
        ),
        (552, _) | (554, _) | (550, _) => d(
            "The server refused the test message",
            "The SMTP server did not accept the message.".into(),
            "A policy on the server (size, recipients, content) refused it.",
            "See the server's reply below.".into(),
            None,
        ),
        _ => d(
            "The SMTP server refused",
            format!("The SMTP server answered {code}."),
            "See the server's reply below.",
            "Correct what the reply names, then test again.".into(),
            Some(Step::Mailbox),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CX: Context<'static> = Context {
        protocol: "SMTP",
        host: "smtp.office365.com",
        port: 587,
        security: Security::StartTls,
        mailbox: "invoices@contoso.com",
        root_folder: "INBOX",
    };

    /// Exchange Online's exact replies.
    #[test]
    fn exchange_online_replies() {
        let tenant = Failure::smtp(
            535,
            "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the \
             Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. \
             [SN4PR0501CA0054.namprd05.prod.outlook.com]",
        );
        let t = explain(&tenant, &CX);
        assert_eq!(t.title, "SMTP AUTH is turned off");
        assert!(
            t.fix.starts_with("In the Exchange admin center"),
            "{}",
            t.fix
        );
        assert!(t
            .reply
            .unwrap()
            .starts_with("535 Authentication unsuccessful"));

        let mailbox = Failure::smtp(
            535,
            "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the \
             Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.",
        );
        assert!(explain(&mailbox, &CX)
            .fix
            .starts_with("Allow it for this mailbox"));

        let token = Failure::smtp(
            535,
            "5.7.3 Authentication unsuccessful [BN9PR03CA0123.namprd03.prod.outlook.com]",
        );
        assert_eq!(explain(&token, &CX).title, "SMTP refused the access token");

        let send_as = Failure::smtp(
            550,
            "5.7.60 SMTP; Client does not have permissions to send as this sender \
             [DM6PR11MB4691.namprd11.prod.outlook.com]",
        );
        assert_eq!(
            explain(&send_as, &CX).title,
            "Not allowed to send as this address"
        );

        let imap = Failure::ImapAuth("AUTHENTICATE failed.".into());
        let i = explain(
            &imap,
            &Context {
                protocol: "IMAP",
                ..CX
            },
        );
        assert!(i.fix.contains("ImapEnabled"), "{}", i.fix);
    }

    #[test]
    fn dovecot_and_postfix_replies_map_by_code() {
        let postfix_token = Failure::smtp(
            535,
            "5.7.8 Error: authentication failed: (reason unavailable)",
        );
        assert_eq!(
            explain(&postfix_token, &CX).title,
            "SMTP refused the access token"
        );
        let not_owned = Failure::smtp(
            553,
            "5.7.1 <ceo@contoso.com>: Sender address rejected: not owned by user invoices@contoso.com",
        );
        assert_eq!(
            explain(&not_owned, &CX).title,
            "Not allowed to send as this address"
        );
        let auth_off = Failure::smtp(503, "5.5.1 Error: authentication not enabled");
        assert_eq!(explain(&auth_off, &CX).title, "SMTP AUTH is turned off");
        let temp = Failure::smtp(454, "4.7.0 Temporary authentication failure");
        assert_eq!(explain(&temp, &CX).title, "Temporary failure");
    }
}
