//! Start and finish of one sign-in (or admin-consent) round trip.

use std::collections::HashMap;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use mailkey_app::{
    draft::Step,
    sign_in::{SignInOutcome, SignInProblem},
};
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RequestTokenError, Scope,
    TokenResponse,
};
use rand::RngCore;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::{
    account_app::{refresh_token_aad, AccountApp},
    http::OAuthHttp,
    id_token, problems, SignInError,
};
use crate::{
    providers::Providers,
    secrets::{Aad, Sealer},
    storage::{AttemptRecord, Claim, NewAttempt, Store},
    tokens::TokenKeeper,
};

/// How long a started sign-in may take.
pub const STATE_LIFETIME_SECS: i64 = 600;

/// How long an admin-consent link sent to an administrator stays usable: administrators are
/// often not at hand within minutes.
pub const SHARED_LINK_LIFETIME_SECS: i64 = 7 * 86_400;

// How a sign-in comes back and what it is for: stored with its attempt, so defined there.
pub use crate::storage::{SignInMode as Mode, SignInPurpose as Purpose};

/// Why a callback's `state` was refused. Nothing was exchanged or stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateRefusal {
    Missing,
    Unknown,
    AlreadyUsed,
    Expired,
    OtherBrowser,
    SharedLinkUsed,
    SharedLinkExpired,
}

impl StateRefusal {
    /// Refusals that reach an administrator who opened a shared link (no Mailkey of theirs).
    pub fn is_shared_link(self) -> bool {
        matches!(
            self,
            StateRefusal::SharedLinkUsed | StateRefusal::SharedLinkExpired
        )
    }

    pub fn message(self) -> &'static str {
        match self {
            StateRefusal::Missing => {
                "This address is where Microsoft returns after signing in; it was opened without \
                 a sign-in. Start the sign-in from the account's page."
            }
            StateRefusal::Unknown => {
                "This sign-in was not started by this Mailkey. Start it again from the account's \
                 page."
            }
            StateRefusal::AlreadyUsed => {
                "This sign-in was already completed (the page was reloaded or opened twice). \
                 Nothing was changed; look at the account's page for the result."
            }
            StateRefusal::Expired => {
                "This sign-in was started more than ten minutes ago and has expired. Start it \
                 again from the account's page."
            }
            StateRefusal::SharedLinkUsed => {
                "This approval link was already used. Nothing was changed now. If approval is \
                 still needed, ask the person who sent it for a new link."
            }
            StateRefusal::SharedLinkExpired => {
                "This approval link is more than seven days old and no longer works. Ask the \
                 person who sent it for a new link."
            }
            StateRefusal::OtherBrowser => {
                "This sign-in was started in another browser or by another operator session. \
                 Finish it in the browser that started it, or start again here."
            }
        }
    }
}

#[derive(Debug)]
pub enum Finished {
    Refused(StateRefusal),
    Done {
        account_id: String,
        mode: Mode,
        outcome: SignInOutcome,
    },
}

#[derive(Clone, Debug)]
pub struct SignIn {
    store: Store,
    sealer: Sealer,
    providers: Providers,
    http: OAuthHttp,
    tokens: TokenKeeper,
    redirect_uri: String,
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn state_hash(state: &str) -> [u8; 32] {
    Sha256::digest(state.as_bytes()).into()
}

fn verifier_aad(hash_hex: &str) -> Aad<'_> {
    Aad {
        table: "sign_in_attempts",
        row: hash_hex,
        field: "pkce_verifier",
    }
}

/// Mailkey's own failures, for the admin: what to do, never internals.
fn internal_problem(e: &SignInError) -> mailkey_app::sign_in::SignInProblem {
    match e {
        SignInError::NotReady(step) => problems::unexpected(
            "The account's settings changed during the sign-in and are not complete.",
            "Finish the step named below, then sign in again.",
            Some(*step),
        ),
        SignInError::NotFound => problems::unexpected(
            "The account was deleted during the sign-in.",
            "Nothing to do; create the account again if it is still needed.",
            None,
        ),
        _ => problems::unexpected(
            "Mailkey could not finish the sign-in on its side.",
            "Try again; if it repeats, the operator should check Mailkey's log.",
            None,
        ),
    }
}

/// Why an ID token does not belong to this sign-in, if it does not: it must be for this app
/// (`aud`), this very request (`nonce`), the account's organisation (`tid`, when known), issued by
/// the authority the sign-in went to (`iss`), and not expired (`exp`, five minutes of clock skew).
fn binding_problem(
    claims: &id_token::IdClaims,
    app: &AccountApp,
    nonce: &str,
) -> Option<SignInProblem> {
    if !claims.aud.eq_ignore_ascii_case(&app.client_id) {
        return Some(id_token_refused(
            "The ID token was issued for another app than this account's (its audience is not \
             the account's client ID).",
            "The token endpoint is not the one of this app registration, or the client ID was \
             changed in Entra.",
            "Check the Application (client) ID and the endpoints, then sign in again.",
            Some(Step::AppDetails),
        ));
    }
    if claims.nonce.as_deref() != Some(nonce) {
        return Some(id_token_refused(
            "The ID token belongs to another sign-in than this one (its nonce differs).",
            "An answer of an earlier or foreign sign-in was replayed, or something between \
             Mailkey and Microsoft altered the request.",
            "Sign in again. If it repeats, check what stands between Mailkey and Microsoft \
             (a proxy rewriting requests).",
            None,
        ));
    }
    let Some(tid) = claims.tid.as_deref() else {
        return Some(id_token_refused(
            "The ID token names no organisation (no tid claim).",
            "The token endpoint is not Microsoft's v2.0 endpoint.",
            "Use the v2.0 endpoints (leave \"I have the endpoints\" off), then sign in again.",
            Some(Step::AppDetails),
        ));
    };
    if let Some(expected) = &app.tenant_id {
        if !expected.eq_ignore_ascii_case(tid) {
            return Some(id_token_refused(
                &format!(
                    "The account that signed in belongs to organisation {tid}, not to the \
                     mailbox's organisation {expected}."
                ),
                "An account of another Microsoft 365 organisation was picked on Microsoft's page.",
                &format!("Sign in again as {}.", app.mailbox),
                None,
            ));
        }
    }
    if !claims
        .iss
        .eq_ignore_ascii_case(&format!("{}/{tid}/v2.0", app.authority))
    {
        return Some(id_token_refused(
            "The ID token was not issued by the sign-in service this account uses (its issuer \
             is another authority).",
            "The endpoints point at another identity provider or cloud than the account's.",
            "Check the endpoints in Application details, then sign in again.",
            Some(Step::AppDetails),
        ));
    }
    if claims.exp <= crate::storage::now() - 300 {
        return Some(id_token_refused(
            "The ID token had already expired when Mailkey received it.",
            "The clock of Mailkey's server is wrong by more than five minutes, or the answer \
             was held back.",
            "Check the server's clock (NTP), then sign in again.",
            None,
        ));
    }
    None
}

const ACCOUNT_CHANGED_TITLE: &str = "The account changed during the sign-in";

/// The account's mailbox or app changed during the sign-in: its result was discarded.
fn account_changed(mailbox: &str) -> SignInProblem {
    SignInProblem {
        code: None,
        title: ACCOUNT_CHANGED_TITLE.into(),
        what: "The account's mailbox address or app registration was changed while this \
               sign-in was under way, so its result was discarded: it was for the account as it \
               was before."
            .into(),
        why: "Someone saved the Mailbox or Application details step while the Microsoft window \
              was open."
            .into(),
        fix: if mailbox.is_empty() {
            "Sign in again.".to_string()
        } else {
            format!("Sign in again, now as {mailbox}.")
        },
        step: None,
        admin_consent: false,
        sign_in_again_as: (!mailbox.is_empty()).then(|| mailbox.to_string()),
        detail: None,
    }
}

/// An ID token that does not belong to this sign-in, by the claim that gives it away. Nothing
/// of it is stored.
fn id_token_refused(what: &str, why: &str, fix: &str, step: Option<Step>) -> SignInProblem {
    SignInProblem {
        code: None,
        title: "The sign-in answer was not for this sign-in".into(),
        what: format!("{what} Mailkey stored nothing from this sign-in."),
        why: why.into(),
        fix: fix.into(),
        step: step.map(Step::number),
        admin_consent: false,
        sign_in_again_as: None,
        detail: None,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl SignIn {
    pub fn new(
        store: Store,
        sealer: Sealer,
        providers: Providers,
        http: OAuthHttp,
        tokens: TokenKeeper,
        redirect_uri: String,
    ) -> SignIn {
        SignIn {
            store,
            sealer,
            providers,
            http,
            tokens,
            redirect_uri,
        }
    }

    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The account's app and its identity epoch (what a sign-in started now is for).
    async fn app(&self, id: &str) -> Result<(AccountApp, i64), SignInError> {
        let r = self.store.draft(id).await?.ok_or(SignInError::NotFound)?;
        Ok((
            AccountApp::load(&r, &self.providers, &self.sealer)?,
            r.identity_epoch,
        ))
    }

    /// Makes the account that signed in the account's mailbox (it named none), and its name
    /// the address when it has none. False when the account changed meanwhile.
    async fn adopt_mailbox(
        &self,
        id: &str,
        attempt: &AttemptRecord,
        username: &str,
    ) -> Result<bool, SignInError> {
        let record = self.store.draft(id).await?.ok_or(SignInError::NotFound)?;
        let mut mailbox = record.mailbox.ok_or(SignInError::NotReady(Step::Mailbox))?;
        mailbox.email = username.to_string();
        if mailbox.account_name.trim().is_empty() {
            mailbox.account_name = username.to_string();
        }
        Ok(self
            .store
            .adopt_mailbox(
                id,
                attempt.account_epoch,
                &mailbox.account_name,
                username,
                &mailbox,
            )
            .await?)
    }

    /// Records a new attempt for this browser and returns the address to send it to.
    pub async fn start(
        &self,
        account_id: &str,
        session_hash: &[u8],
        mode: Mode,
        purpose: Purpose,
    ) -> Result<String, SignInError> {
        let (app, epoch) = self.app(account_id).await?;
        // A link for an administrator names the organisation, or at least the mailbox whose
        // organisation it must be: with neither, the answer could not be checked. The Mailbox
        // step asks for the address first (and finds the organisation from it).
        if mode == Mode::Shared && app.tenant_id.is_none() && app.mailbox.is_empty() {
            return Err(SignInError::NotReady(Step::Mailbox));
        }
        // 256 random bits; only its hash is stored.
        let state = random_b64(32);
        let hash = state_hash(&state);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let sealed = self
            .sealer
            .seal(verifier.secret(), &verifier_aad(&hex(&hash)));
        let nonce = random_b64(16);
        self.store
            .insert_attempt(NewAttempt {
                state_hash: &hash,
                account_id,
                session_hash,
                purpose,
                mode,
                sealed_verifier: &sealed,
                nonce: &nonce,
                lifetime_secs: if mode == Mode::Shared {
                    SHARED_LINK_LIFETIME_SECS
                } else {
                    STATE_LIFETIME_SECS
                },
                account_epoch: epoch,
            })
            .await?;
        if purpose == Purpose::AdminConsent {
            let mut url = url::Url::parse(&app.admin_consent_url)
                .map_err(|_| SignInError::Corrupt("the admin-consent URL".into()))?;
            url.query_pairs_mut()
                .append_pair("client_id", &app.client_id)
                .append_pair("scope", &app.resource_scopes())
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("state", &state);
            return Ok(url.into());
        }
        let client = app.client(&self.redirect_uri)?;
        let mut request = client
            .authorize_url(|| CsrfToken::new(state))
            .add_scopes(app.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .add_extra_param("response_mode", "query")
            .add_extra_param("nonce", nonce);
        // No address yet (the mailbox is whoever signs in): no hint.
        if !app.mailbox.is_empty() {
            request = request.add_extra_param("login_hint", app.mailbox.clone());
        }
        let (url, _) = request
            // Let the admin pick the mailbox rather than their own remembered account; never
            // `prompt=consent`, which would ask every user to consent again.
            .add_extra_param("prompt", "select_account")
            .url();
        Ok(url.into())
    }

    /// The callback. `state` is checked before anything else; a refused one changes nothing.
    pub async fn finish(
        &self,
        query: &HashMap<String, String>,
        session_hash: Option<&[u8]>,
    ) -> Result<Finished, SignInError> {
        let Some(state) = query.get("state").filter(|s| !s.is_empty()) else {
            return Ok(Finished::Refused(StateRefusal::Missing));
        };
        let hash = state_hash(state);
        let attempt = match self.store.claim_attempt(&hash, session_hash).await? {
            Claim::Claimed(a) => a,
            Claim::Unknown => return Ok(Finished::Refused(StateRefusal::Unknown)),
            Claim::AlreadyUsed => return Ok(Finished::Refused(StateRefusal::AlreadyUsed)),
            Claim::Expired => return Ok(Finished::Refused(StateRefusal::Expired)),
            Claim::OtherBrowser => return Ok(Finished::Refused(StateRefusal::OtherBrowser)),
            Claim::SharedLinkUsed => return Ok(Finished::Refused(StateRefusal::SharedLinkUsed)),
            Claim::SharedLinkExpired => {
                return Ok(Finished::Refused(StateRefusal::SharedLinkExpired))
            }
        };
        let mode = attempt.mode;
        // Once the state is used, the attempt always gets an outcome, so the wizard (listening
        // for it) and the popup learn how it ended even when Mailkey's side failed.
        let outcome = match self.complete(&attempt, &hash, query).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(account = %attempt.account_id, error = %e, "sign-in could not be completed");
                SignInOutcome::Failed {
                    problem: internal_problem(&e),
                }
            }
        };
        self.store.finish_attempt(&hash, &outcome).await?;
        // A refused sign-in leaves the account needing attention, with why, until one works; a
        // result discarded because the account changed is no problem of the account's.
        if matches!(outcome, SignInOutcome::ConsentGranted) {
            // The consent the account waited for is there: it is ready to sign in again.
            self.store
                .clear_sign_in_problem(&attempt.account_id)
                .await?;
        }
        if let SignInOutcome::Failed { problem } = &outcome {
            if problem.title != ACCOUNT_CHANGED_TITLE {
                self.store
                    .mark_sign_in_failed(&attempt.account_id, problem)
                    .await?;
            }
        }
        match &outcome {
            SignInOutcome::Connected { username } => {
                tracing::info!(account = %attempt.account_id, %username, "mailbox signed in")
            }
            SignInOutcome::ConsentGranted => {
                tracing::info!(account = %attempt.account_id, "admin consent granted")
            }
            SignInOutcome::Failed { problem } => tracing::warn!(
                account = %attempt.account_id,
                aadsts = problem.code.unwrap_or(0),
                problem = %problem.title,
                "sign-in failed"
            ),
        }
        Ok(Finished::Done {
            account_id: attempt.account_id,
            mode,
            outcome,
        })
    }

    async fn complete(
        &self,
        attempt: &AttemptRecord,
        hash: &[u8; 32],
        query: &HashMap<String, String>,
    ) -> Result<SignInOutcome, SignInError> {
        let (app, epoch) = self.app(&attempt.account_id).await?;
        if epoch != attempt.account_epoch {
            return Ok(SignInOutcome::Failed {
                problem: account_changed(&app.mailbox),
            });
        }
        let cx = app.problem_context(&self.redirect_uri, false);
        let failed = |problem| Ok(SignInOutcome::Failed { problem });
        if let Some(error) = query.get("error") {
            let mut problem = problems::from_microsoft(
                error,
                query.get("error_description").map(String::as_str),
                &cx,
            );
            // A shared link's answer may come from whoever holds the link: Microsoft's own
            // words are not shown, only what Mailkey says of its code.
            if attempt.mode == Mode::Shared {
                problem.detail = None;
            }
            return failed(problem);
        }
        if attempt.purpose == Purpose::AdminConsent {
            let granted = query
                .get("admin_consent")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            if !granted {
                return failed(problems::from_microsoft("access_denied", None, &cx));
            }
            // Microsoft names the organisation consent was granted for. Whoever holds a shared
            // link can write this answer, so its `tenant` is compared, never repeated, and
            // consent for an organisation Mailkey cannot name is not reported as granted.
            let granted_for = query.get("tenant").map(|t| t.trim());
            return match (&app.tenant_id, granted_for) {
                (Some(expected), Some(t)) if expected.eq_ignore_ascii_case(t) => {
                    Ok(SignInOutcome::ConsentGranted)
                }
                (Some(_), Some(_)) => failed(problems::unexpected(
                    "Consent was reported for another organisation than the mailbox's.",
                    "An administrator of the mailbox's own organisation must grant it: ask for a \
                     new link and have it opened by one of that organisation's administrators.",
                    None,
                )),
                (None, _) if attempt.mode == Mode::Shared => failed(SignInProblem {
                    code: None,
                    title: "Consent could not be confirmed".into(),
                    what: "Microsoft's answer reports consent, but Mailkey does not know the \
                           mailbox's organisation yet, so it cannot tell whether the consent \
                           is for it."
                        .into(),
                    why: "The mailbox's domain was not found at Microsoft when it was entered, \
                          and nobody of the organisation has signed in yet."
                        .into(),
                    fix: format!(
                        "Sign in as {}: if the consent is in place, no permissions page appears \
                         and the account connects.",
                        app.mailbox
                    ),
                    step: None,
                    admin_consent: false,
                    sign_in_again_as: Some(app.mailbox.clone()),
                    detail: None,
                }),
                (None, Some(_)) => Ok(SignInOutcome::ConsentGranted),
                (_, None) => failed(problems::unexpected(
                    "Microsoft's answer did not say which organisation consent was granted for.",
                    "Sign in again: if consent is in place, no permissions page appears.",
                    None,
                )),
            };
        }
        let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
            return failed(problems::unexpected(
                "Microsoft returned neither a sign-in code nor an error.",
                "Sign in again.",
                None,
            ));
        };
        let verifier = self
            .sealer
            .open(&attempt.sealed_verifier, &verifier_aad(&hex(hash)))
            .map_err(|_| SignInError::Seal)?;
        let client = app.client(&self.redirect_uri)?;
        let http = self.http.clone();
        let answer = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_string()))
            .request_async(&move |req| {
                let http = http.clone();
                async move { http.send(req).await }
            })
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(RequestTokenError::ServerResponse(e)) => {
                return failed(problems::from_microsoft(
                    e.error().as_ref(),
                    e.error_description().map(String::as_str),
                    &cx,
                ))
            }
            Err(RequestTokenError::Request(e)) => {
                return failed(problems::unreachable(&e.to_string()))
            }
            Err(_) => {
                return failed(problems::unexpected(
                    "The token endpoint's answer is not a token response.",
                    "Check that the token endpoint is Microsoft's (Application details).",
                    Some(mailkey_app::draft::Step::AppDetails),
                ))
            }
        };
        let claims = answer
            .extra_fields()
            .id_token
            .as_deref()
            .and_then(id_token::claims);
        let Some(claims) = claims else {
            return failed(problems::unexpected(
                "Microsoft sent no ID token, so Mailkey cannot tell who signed in.",
                "Add openid, email and profile to the scopes.",
                Some(mailkey_app::draft::Step::Mailbox),
            ));
        };
        if let Some(problem) = binding_problem(&claims, &app, &attempt.nonce) {
            return failed(problem);
        }
        // `email` can be set by a tenant's admin to anything; it is trusted only when the tenant
        // is pinned to the account's.
        let username = claims
            .preferred_username
            .as_deref()
            .filter(|u| !u.is_empty())
            .or_else(|| app.tenant_id.as_ref().and(claims.email.as_deref()));
        let Some(username) = username else {
            return failed(problems::unexpected(
                "The ID token does not say which account signed in.",
                "Add email and profile to the scopes.",
                Some(mailkey_app::draft::Step::Mailbox),
            ));
        };
        if claims
            .tid
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(problems::PERSONAL_ACCOUNTS_TENANT))
        {
            return failed(problems::personal_account(username, &app.mailbox));
        }
        // An account that named no mailbox connects the one that signed in.
        if !app.mailbox.is_empty() && !username.eq_ignore_ascii_case(&app.mailbox) {
            return failed(problems::wrong_user(username, &app.mailbox));
        }
        let Some(refresh) = answer.refresh_token() else {
            return failed(problems::unexpected(
                "Microsoft sent no refresh token, so the connection would end within the hour.",
                "Add offline_access to the scopes.",
                Some(mailkey_app::draft::Step::Mailbox),
            ));
        };
        let sealed = self
            .sealer
            .seal(refresh.secret(), &refresh_token_aad(&app.id));
        // Under the account's refresh lock, so a refresh of the previous sign-in cannot
        // overwrite this one's token.
        let flight = self.tokens.flight(&app.id);
        let _turn = flight.lock().await;
        if app.mailbox.is_empty() && !self.adopt_mailbox(&app.id, attempt, username).await? {
            // Someone named a mailbox meanwhile: this sign-in was for none.
            return failed(account_changed(""));
        }
        let stored = self
            .store
            .store_connection(
                &app.id,
                attempt.account_epoch,
                &sealed,
                username,
                claims.tid.as_deref(),
            )
            .await?;
        if stored.is_none() {
            // The mailbox address or the app changed while Microsoft was signing in: this
            // sign-in is for what the account was, not what it is.
            return failed(account_changed(&app.mailbox));
        }
        self.tokens
            .prime(&app.id, answer.access_token().secret(), answer.expires_in());
        Ok(SignInOutcome::Connected {
            username: username.to_string(),
        })
    }
}
