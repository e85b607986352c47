//! Every way a sign-in or a refresh fails, in plain words: what happened, why it usually happens,
//! and exactly what to change. Keyed on Microsoft's AADSTS numbers (they are stable; the wording
//! around them is not), falling back on the OAuth `error` code.

use mailkey_app::{draft::Step, sign_in::SignInProblem};

/// The AADSTS number in an `error_description` ("AADSTS7000215: Invalid client secret…").
pub fn aadsts_code(description: &str) -> Option<u32> {
    let rest = &description[description.find("AADSTS")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Microsoft's first sentence, without the trace and correlation IDs, for support tickets.
fn first_sentence(description: &str) -> Option<String> {
    let text = description.split(" Trace ID:").next()?.trim();
    let end = text.find(". ").map_or(text.len(), |i| i + 1);
    let s: String = text[..end].chars().take(300).collect();
    (!s.is_empty()).then_some(s)
}

struct Words {
    title: &'static str,
    what: String,
    why: &'static str,
    fix: String,
    step: Option<Step>,
    admin_consent: bool,
}

fn words(
    title: &'static str,
    what: impl Into<String>,
    why: &'static str,
    fix: impl Into<String>,
) -> Words {
    Words {
        title,
        what: what.into(),
        why,
        fix: fix.into(),
        step: None,
        admin_consent: false,
    }
}

impl Words {
    fn at(mut self, step: Step) -> Words {
        self.step = Some(step);
        self
    }

    fn consent(mut self) -> Words {
        self.admin_consent = true;
        self
    }

    fn into_problem(self, code: Option<u32>, detail: Option<String>) -> SignInProblem {
        SignInProblem {
            code,
            title: self.title.into(),
            what: self.what,
            why: self.why.into(),
            fix: self.fix,
            step: self.step.map(Step::number),
            admin_consent: self.admin_consent,
            sign_in_again_as: None,
            detail,
        }
    }
}

/// What the sign-in needs to know to word its advice.
pub struct Context<'a> {
    pub redirect_uri: &'a str,
    pub mailbox: &'a str,
    /// The scopes asked for, to say what was declined.
    pub scopes: &'a [String],
    /// The account signs in with the operator's own app (its name): the app's credentials are
    /// the operator's to fix, not the customer's.
    pub operator_app: Option<&'a str>,
    /// A refresh of a stored sign-in, not an interactive sign-in: a refusal of the app's
    /// credentials keeps the sign-in, which works again once the app is fixed.
    pub refresh: bool,
}

/// OAuth's own error codes (RFC 6749 and OpenID Connect): safe to name, whoever sent them.
const OAUTH_ERRORS: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "invalid_client",
    "invalid_grant",
    "unsupported_grant_type",
    "interaction_required",
    "login_required",
    "consent_required",
    "account_selection_required",
];

/// The code of a refusal Mailkey has no words for, as it may be shown: an AADSTS number, or one
/// of OAuth's own codes. Anything else that came back is not repeated (an answer in a browser's
/// address bar can be written by whoever holds the link).
fn known_code(error: &str, code: Option<u32>) -> String {
    match code {
        Some(n) => format!("Microsoft refused with code AADSTS{n}."),
        None if OAUTH_ERRORS.contains(&error) => format!("Microsoft refused with code {error}."),
        None => "Microsoft refused without a code Mailkey knows.".into(),
    }
}

/// Codes that mean the app's own credentials (its client secret) were refused.
fn refuses_the_app(error: &str, code: Option<u32>) -> bool {
    matches!(code, Some(7000215) | Some(7000222) | Some(7000218))
        || (code.is_none() && error == "invalid_client")
}

/// A permission as Microsoft's consent page words it, for people who never saw a scope.
fn permission_words(scope: &str) -> Option<&'static str> {
    let name = scope.rsplit('/').next().unwrap_or(scope);
    Some(match name {
        "SMTP.Send" => "send mail as the mailbox (SMTP.Send)",
        "IMAP.AccessAsUser.All" => "read and manage its mail over IMAP (IMAP.AccessAsUser.All)",
        "POP.AccessAsUser.All" => "read its mail over POP (POP.AccessAsUser.All)",
        "offline_access" => "keep this access when nobody is signed in (offline_access)",
        _ => return None,
    })
}

/// "send mail as the mailbox (SMTP.Send), … and keep this access …".
pub fn declined_permissions(scopes: &[String]) -> String {
    let words: Vec<&str> = scopes.iter().filter_map(|s| permission_words(s)).collect();
    match words.as_slice() {
        [] => "the permissions Mailkey asked for".into(),
        [one] => (*one).into(),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

/// A refusal from Microsoft, in the callback (`error`, `error_description`) or a token response.
pub fn from_microsoft(error: &str, description: Option<&str>, cx: &Context<'_>) -> SignInProblem {
    let code = description.and_then(aadsts_code);
    let w = match code {
        Some(7000215) => words(
            "Microsoft refused the client secret",
            "The client secret Mailkey sent is not a valid secret of this app registration.",
            "Almost always the Secret ID was copied instead of the secret's Value, or the value \
             was cut short when copying.",
            "In Entra, open the app → Certificates & secrets, create a new client secret, copy its \
             Value (shown only once, not the Secret ID) and enter it under Client secret.",
        )
        .at(Step::AppDetails),
        Some(7000222) => words(
            "The client secret has expired",
            "Microsoft refused the client secret because it expired.",
            "Client secrets last 6 to 24 months; this one reached its end date.",
            "In Entra, open the app → Certificates & secrets, create a new client secret and \
             enter its Value and new expiry date under Client secret.",
        )
        .at(Step::AppDetails),
        Some(7000218) => words(
            "No client secret was sent",
            "Microsoft needs the app's client secret and none was given.",
            "The secret was never entered, or was removed.",
            "Enter the client secret's Value under Client secret.",
        )
        .at(Step::AppDetails),
        Some(50011) | Some(500113) => words(
            "The redirect URI is not registered",
            format!(
                "Microsoft will only send the sign-in back to addresses registered for the app, \
                 and {} is not one of them.",
                cx.redirect_uri
            ),
            "The redirect URI was not added, was added under another platform (SPA or mobile \
             instead of Web), or differs in one character (http/https, a trailing slash, a \
             port).",
            format!(
                "In Entra, open the app → Authentication → Add a platform → Web, and add exactly \
                 {}. Then sign in again.",
                cx.redirect_uri
            ),
        )
        .at(Step::RedirectUri),
        Some(500112) => words(
            "The redirect URI changed during sign-in",
            "The address Microsoft sent the sign-in back to is not the one the sign-in started \
             with.",
            "Usually a proxy in front of Mailkey rewrites https to http or changes the host, so \
             Mailkey's public URL is not what the browser sees.",
            format!(
                "Set Mailkey's public_url to the address users open (now the redirect URI is {}), \
                 register that redirect URI in Entra, and sign in again.",
                cx.redirect_uri
            ),
        )
        .at(Step::RedirectUri),
        Some(65001) | Some(90094) | Some(90095) => words(
            "An administrator must grant consent first",
            "The app has not been allowed to use the mailbox permissions in this organisation.",
            "The organisation lets only administrators consent to apps, or this app's \
             permissions need an administrator.",
            "Ask a Global or Cloud Application Administrator to grant consent for the \
             organisation (they can use the admin-consent link below, or Entra → the app → API \
             permissions → Grant admin consent), then sign in again.",
        )
        .consent(),
        Some(65004) => words(
            "The permissions were declined",
            format!(
                "Someone chose Cancel on Microsoft's permissions page, so the app may not {}. \
                 Without these Mailkey can neither send nor read the mailbox's mail.",
                declined_permissions(cx.scopes)
            ),
            "The permissions screen looks alarming, or the wrong account was signed in.",
            format!(
                "Sign in again as {} and choose Accept. If your organisation requires an \
                 administrator, ask one to grant consent instead (below).",
                cx.mailbox
            ),
        )
        .consent(),
        Some(700016) => words(
            "The app is not in this tenant",
            "Microsoft found no app with this client ID in the tenant Mailkey signs in to.",
            "The client ID was copied from another app, or the tenant belongs to another \
             organisation than the app registration.",
            "Check the Application (client) ID and the Directory (tenant) ID on the app's \
             Overview page in Entra.",
        )
        .at(Step::AppDetails),
        Some(90002) | Some(900023) => words(
            "The tenant does not exist",
            "Microsoft knows no tenant by the ID or domain Mailkey sent.",
            "A typo in the tenant, or a domain that is not verified in Microsoft 365.",
            "Copy the Directory (tenant) ID from the app's Overview page in Entra.",
        )
        .at(Step::AppDetails),
        Some(90112) => words(
            "The client ID is not a GUID",
            "Microsoft expects the Application (client) ID, a GUID.",
            "The app's name or another value was entered as the client ID.",
            "Copy the Application (client) ID from the app's Overview page in Entra.",
        )
        .at(Step::AppDetails),
        Some(50194) => words(
            "This app cannot use the common endpoint",
            "The app registration is single-tenant, and the sign-in went to /common.",
            "The endpoints were copied from a multi-tenant example.",
            "Use the tenant's own endpoints (leave \"I have the endpoints\" off, or paste the \
             ones from the app's Endpoints page).",
        )
        .at(Step::AppDetails),
        Some(50020) => words(
            "This account is not in the app's tenant",
            "The account that signed in does not belong to the organisation the app is \
             registered in.",
            "A personal Microsoft account or an account of another organisation was picked on \
             Microsoft's page.",
            format!("Sign in again and pick {}.", cx.mailbox),
        ),
        Some(50105) => words(
            "This account is not assigned to the app",
            "The app requires user assignment and this account is not assigned.",
            "\"Assignment required\" is on for the app in Enterprise applications.",
            format!(
                "In Entra → Enterprise applications → the app → Users and groups, add {}, then \
                 sign in again.",
                cx.mailbox
            ),
        ),
        Some(700022) | Some(70011) => words(
            "The scopes are not valid",
            "Microsoft refused the list of permissions Mailkey asked for.",
            "Scopes of two resources (for example Outlook and Microsoft Graph) were mixed; one \
             sign-in can ask for one resource only.",
            "Use only https://outlook.office.com/… scopes plus offline_access openid email \
             profile.",
        )
        .at(Step::Mailbox),
        Some(54005) => words(
            "The sign-in was used twice",
            "Microsoft's one-time sign-in code was already used.",
            "The sign-in page was reloaded or opened twice.",
            "Sign in again.",
        ),
        Some(70008) => words(
            "The sign-in took too long",
            "Microsoft's one-time sign-in code expired before Mailkey could use it.",
            "The sign-in window was left open for a long time.",
            "Sign in again.",
        ),
        Some(50173) | Some(70043) => words(
            "The sign-in was revoked",
            "Microsoft no longer accepts the mailbox's saved sign-in.",
            "The mailbox's password was changed or reset, or an administrator revoked its \
             sessions.",
            format!("Sign in again as {}.", cx.mailbox),
        ),
        Some(700082) => words(
            "The saved sign-in expired",
            "Microsoft no longer accepts the saved sign-in because it was not used for too long.",
            "Refresh tokens expire after 90 days without use (or less, by the organisation's \
             policy).",
            format!("Sign in again as {}.", cx.mailbox),
        ),
        Some(53003) | Some(530035) | Some(530034) => words(
            "Blocked by a Conditional Access policy",
            "The organisation's sign-in policy refused this sign-in.",
            "A Conditional Access policy (location, device, or security defaults) blocks it.",
            "Ask the Microsoft 365 administrator to allow the mailbox to sign in to this app \
             (Entra → Protection → Conditional Access → Sign-in logs show which policy).",
        ),
        Some(50076) | Some(50079) => words(
            "Multi-factor authentication is needed",
            "The sign-in needs a second factor that was not completed.",
            "The organisation requires MFA and the prompt was cancelled.",
            format!(
                "Sign in again as {} and complete the MFA prompt.",
                cx.mailbox
            ),
        ),
        _ => match error {
            "access_denied" => words(
                "The sign-in was cancelled",
                "Microsoft's page was closed or the sign-in was refused.",
                "Someone chose Cancel or Back on Microsoft's page.",
                format!("Sign in again as {}.", cx.mailbox),
            ),
            "invalid_client" => words(
                "Microsoft refused the app's credentials",
                "The client ID or secret was not accepted.",
                "The secret is wrong or expired.",
                "Create a new client secret in Entra and enter its Value.",
            )
            .at(Step::AppDetails),
            "invalid_grant" => words(
                "Microsoft refused the saved sign-in",
                "The sign-in Mailkey holds is no longer valid.",
                "It expired, was revoked, or the password changed.",
                format!("Sign in again as {}.", cx.mailbox),
            ),
            "temporarily_unavailable" | "server_error" => words(
                "Microsoft's sign-in service had a problem",
                "Microsoft answered with a temporary error.",
                "An outage or maintenance at Microsoft.",
                "Wait a few minutes and sign in again.",
            ),
            _ => words(
                "Microsoft refused the sign-in",
                known_code(error, code),
                "Mailkey has no advice of its own for this code; Microsoft documents each AADSTS \
                 code under \"Microsoft Entra authentication and authorization error codes\".",
                "Correct what the code names, then sign in again.",
            ),
        },
    };
    let w = if refuses_the_app(error, code) {
        app_refused(w, cx)
    } else {
        w
    };
    w.into_problem(code, description.and_then(first_sentence))
}

/// A refusal of the app's credentials, as the one who can fix it needs it: the operator, for an
/// account on the operator's app; after a refresh, with the news that no new sign-in is needed.
fn app_refused(w: Words, cx: &Context<'_>) -> Words {
    let w = match cx.operator_app {
        Some(name) => Words {
            title: "Microsoft refused the operator's app",
            what: format!(
                "Microsoft did not accept the credentials of {name}'s app, which this account \
                 signs in with. {}",
                w.what
            ),
            why: "The app's client secret expired, was deleted in Entra during a rotation, or \
                  the new one was not saved in Mailkey yet.",
            fix: "This is for the operator of this Mailkey to fix: create a new client secret \
                  for the app in Entra and save its Value on Mailkey's Settings page."
                .into(),
            step: None,
            ..w
        },
        None => w,
    };
    if !cx.refresh {
        return w;
    }
    Words {
        fix: format!(
            "{} The mailbox does not need to sign in again: Mailkey keeps its sign-in, retries \
             by itself and is connected again as soon as the app's credentials work.",
            w.fix
        ),
        ..w
    }
}

/// Someone else signed in on Microsoft's page.
pub fn wrong_user(signed_in: &str, expected: &str) -> SignInProblem {
    SignInProblem {
        code: None,
        title: "Another account signed in".into(),
        what: format!("{signed_in} signed in, but this account connects {expected}."),
        why: "Microsoft's page remembers the last account used; often it is the administrator's \
              own account instead of the mailbox."
            .into(),
        fix: format!(
            "Sign in again and pick {expected} (\"Use another account\" on Microsoft's page). To \
             connect {signed_in} instead, change the email address in the Mailbox step."
        ),
        step: None,
        admin_consent: false,
        sign_in_again_as: Some(expected.to_string()),
        detail: None,
    }
}

/// The tenant of personal Microsoft accounts (outlook.com, hotmail.com, live.com).
pub const PERSONAL_ACCOUNTS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// A personal Microsoft account signed in: it has no Exchange Online mailbox to connect.
pub fn personal_account(signed_in: &str, expected: &str) -> SignInProblem {
    SignInProblem {
        code: None,
        title: "A personal Microsoft account signed in".into(),
        what: format!(
            "{signed_in} is a personal Microsoft account (Outlook.com, Hotmail), not a work or \
             school account."
        ),
        why: "Mailkey connects Microsoft 365 mailboxes, which belong to an organisation's tenant; \
              personal accounts have no Exchange Online mailbox and cannot use SMTP AUTH with \
              OAuth."
            .into(),
        fix: if expected.is_empty() {
            "Sign in again with the mailbox's work or school account.".to_string()
        } else {
            format!("Sign in again with the work account {expected}.")
        },
        step: None,
        admin_consent: false,
        sign_in_again_as: (!expected.is_empty()).then(|| expected.to_string()),
        detail: None,
    }
}

/// Microsoft could not be reached or answered with a server error.
pub fn unreachable(reason: &str) -> SignInProblem {
    SignInProblem {
        code: None,
        title: "Microsoft's sign-in service could not be reached".into(),
        what: format!("Mailkey's server could not complete the token request: {reason}."),
        why: "A network problem, a firewall or proxy between Mailkey and Microsoft, or an outage \
              at Microsoft."
            .into(),
        fix: "Check that Mailkey's server can reach the token endpoint over HTTPS, then sign in \
              again."
            .into(),
        step: None,
        admin_consent: false,
        sign_in_again_as: None,
        detail: None,
    }
}

/// The answer was not what the protocol says (wrong audience, nonce, no refresh token, …).
pub fn unexpected(what: &str, fix: &str, step: Option<Step>) -> SignInProblem {
    SignInProblem {
        code: None,
        title: "The sign-in answer cannot be used".into(),
        what: what.into(),
        why: "The token endpoint is not Microsoft's, or the app's settings do not match the \
              sign-in."
            .into(),
        fix: fix.into(),
        step: step.map(Step::number),
        admin_consent: false,
        sign_in_again_as: None,
        detail: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CX: Context<'static> = Context {
        scopes: &[],
        redirect_uri: "https://mailkey.example/oauth/callback",
        mailbox: "invoices@contoso.com",
        operator_app: None,
        refresh: false,
    };

    #[test]
    fn an_unknown_answer_is_never_repeated() {
        let p = from_microsoft("<script>alert(1)</script>", Some("Please call +1 555"), &CX);
        assert_eq!(p.what, "Microsoft refused without a code Mailkey knows.");
        assert!(!p.why.contains("script") && !p.fix.contains("script"));
        let p = from_microsoft("interaction_required", None, &CX);
        assert_eq!(p.what, "Microsoft refused with code interaction_required.");
        let p = from_microsoft("x", Some("AADSTS123456: words"), &CX);
        assert_eq!(p.what, "Microsoft refused with code AADSTS123456.");
    }

    #[test]
    fn an_operator_apps_refusal_is_for_the_operator() {
        let cx = Context {
            operator_app: Some("Acme ERP"),
            refresh: true,
            ..CX
        };
        let p = from_microsoft(
            "invalid_client",
            Some("AADSTS7000215: Invalid secret."),
            &cx,
        );
        assert_eq!(p.title, "Microsoft refused the operator's app");
        assert!(p.what.contains("Acme ERP's app"), "{}", p.what);
        assert!(p.fix.contains("Settings page"), "{}", p.fix);
        assert!(
            p.fix.contains("does not need to sign in again"),
            "{}",
            p.fix
        );
        assert_eq!(p.step, None, "nothing in the customer's wizard fixes it");
    }

    #[test]
    fn reads_the_code_not_the_wording() {
        assert_eq!(
            aadsts_code("AADSTS7000215: Invalid client secret provided. Trace ID: x"),
            Some(7000215)
        );
        assert_eq!(aadsts_code("no code here"), None);
        let p = from_microsoft(
            "invalid_client",
            Some("AADSTS7000215: Something reworded. Trace ID: 1 Correlation ID: 2"),
            &CX,
        );
        assert_eq!(p.code, Some(7000215));
        assert!(p.fix.contains("Value"), "{p:?}");
        assert_eq!(p.step, Some(2));
        assert_eq!(
            p.detail.as_deref(),
            Some("AADSTS7000215: Something reworded.")
        );
    }

    #[test]
    fn a_declined_consent_names_the_permissions() {
        let scopes: Vec<String> = "https://outlook.office.com/IMAP.AccessAsUser.All \
            https://outlook.office.com/SMTP.Send offline_access openid"
            .split_whitespace()
            .map(String::from)
            .collect();
        let cx = Context {
            scopes: &scopes,
            ..CX
        };
        let p = from_microsoft("access_denied", Some("AADSTS65004: User declined."), &cx);
        assert!(
            p.what.contains(
                "read and manage its mail over IMAP (IMAP.AccessAsUser.All), send mail as the \
                 mailbox (SMTP.Send), and keep this access"
            ),
            "{}",
            p.what
        );
    }

    #[test]
    fn each_code_has_its_own_advice() {
        for (code, step, consent) in [
            (7000222, Some(2), false),
            (50011, Some(3), false),
            (500112, Some(3), false),
            (65001, None, true),
            (65004, None, true),
            (700016, Some(2), false),
            (90002, Some(2), false),
            (90112, Some(2), false),
            (50020, None, false),
            (700022, Some(4), false),
            (54005, None, false),
            (50173, None, false),
            (700082, None, false),
        ] {
            let p = from_microsoft("x", Some(&format!("AADSTS{code}: text.")), &CX);
            assert_eq!(p.step, step, "{code}");
            assert_eq!(p.admin_consent, consent, "{code}");
            assert!(
                !p.title.starts_with("Microsoft refused the sign-in"),
                "{code}"
            );
        }
        let redirect = from_microsoft("invalid_request", Some("AADSTS50011: x"), &CX);
        assert!(redirect.fix.contains(CX.redirect_uri));
    }

    #[test]
    fn the_wrong_user_is_named() {
        let p = wrong_user("admin@contoso.com", "invoices@contoso.com");
        assert!(p.what.contains("admin@contoso.com"));
        assert_eq!(p.sign_in_again_as.as_deref(), Some("invoices@contoso.com"));
    }
}
