//! The wizard's drafts on the server: the authority that validates each step with the shared
//! rules, resolves the tenant, seals the client secret and saves the step. Nothing is written
//! when a step has errors.

use mailkey_app::{
    draft::{AppDetails, AppSource, Draft, MailboxSettings, SecretStatus, Step},
    provider::Provider,
    rules::{
        dates::Day,
        steps::{self, AppContext},
        tenant::{self, Tenant},
        Findings, Note,
    },
};
use rand::RngCore;
use secrecy::SecretString;
use url::Url;

use crate::{
    discovery::{DiscoveryError, TenantDiscovery},
    mail_test::MailPorts,
    operator_settings::operator_secret_aad,
    providers::Providers,
    secrets::{Aad, Sealer},
    sign_in::problems::PERSONAL_ACCOUNTS_TENANT,
    sign_in::refresh_token_aad,
    storage::{
        AppUpdate, DraftRecord, Inserted, MailboxUpdate, NewDraftRecord, StorageError, Store,
    },
};

/// Where Microsoft sends the browser back after sign-in, below the public URL.
pub const CALLBACK_PATH: &str = "/oauth/callback";

#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error("no such account")]
    NotFound,
    #[error("the values have errors")]
    Invalid(Findings),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("this account uses {0}, which this Mailkey no longer offers (is the sandbox off?)")]
    ProviderOff(&'static str),
    /// The account's organisation was deleted while the account was being made.
    #[error("the organisation does not exist (any more)")]
    NoOrganisation,
}

/// What saving a step returns: the warnings to show (errors never get this far) and where to go.
#[derive(Debug)]
pub struct Saved {
    pub next: Step,
    pub warnings: Findings,
    /// The saved values ended the account's sign-in (a new mailbox address).
    pub disconnected: bool,
}

/// What a new account is made of: where it belongs, which app it signs in with, and what the
/// host already knows of it (both may be empty: the wizard asks).
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub provider: String,
    pub app_source: AppSource,
    pub organisation_id: String,
    pub external_id: Option<String>,
    pub name: String,
    pub email: String,
}

/// What creating an account did.
#[derive(Debug)]
pub struct Created {
    pub id: String,
    /// `false`: an account with the same external ID was there and is answered.
    pub created: bool,
    pub warnings: Findings,
}

#[derive(Clone, Debug)]
pub struct Wizard {
    store: Store,
    sealer: Sealer,
    discovery: TenantDiscovery,
    redirect_uri: String,
    providers: Providers,
    mail_ports: MailPorts,
}

fn client_secret_aad(id: &str) -> Aad<'_> {
    Aad {
        table: "accounts",
        row: id,
        field: "client_secret",
    }
}

impl Wizard {
    pub fn new(
        store: Store,
        sealer: Sealer,
        discovery: TenantDiscovery,
        public_url: &Url,
        providers: Providers,
        mail_ports: MailPorts,
    ) -> Wizard {
        Wizard {
            store,
            sealer,
            discovery,
            redirect_uri: format!(
                "{}{CALLBACK_PATH}",
                public_url.as_str().trim_end_matches('/')
            ),
            providers,
            mail_ports,
        }
    }

    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// A page of the portal, as an absolute URL under the public address.
    pub fn portal_url(&self, path: &str) -> String {
        let base = self
            .redirect_uri
            .strip_suffix(CALLBACK_PATH)
            .unwrap_or(&self.redirect_uri);
        format!("{base}{path}")
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The account's provider and its authority; a provider this server no longer offers (the
    /// sandbox was turned off) is an error the admin can read.
    fn provider_of(&self, r: &DraftRecord) -> Result<(&'static Provider, String), DraftError> {
        let provider = r.provider;
        let authority = self
            .providers
            .authority(provider.id)
            .ok_or(DraftError::ProviderOff(provider.name))?;
        Ok((provider, authority.to_string()))
    }

    /// A new account: checked whole before anything is written. A host's `external_id` already
    /// used in the organisation answers that account instead (creating is idempotent on it).
    /// With an address, an operator-app account is ready to sign in at once; an own-app one
    /// keeps the address for its mailbox step.
    pub async fn create(&self, new: NewAccount) -> Result<Created, DraftError> {
        let mut findings = Findings::default();
        let provider = match self.providers.authority(&new.provider) {
            Some(_) => Provider::by_id(&new.provider),
            None => None,
        };
        if provider.is_none() {
            findings.add(
                "provider",
                Some(Note::error(format!(
                    "\"{}\" is not a provider this Mailkey offers; choose one of: {}.",
                    new.provider,
                    self.providers
                        .offered()
                        .iter()
                        .map(|p| p.id)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            );
        }
        if new.app_source == AppSource::Operator
            && self.providers.operator_app(&new.provider).is_none()
        {
            findings.add(
                "app_source",
                Some(Note::error(
                    "This Mailkey has no app of its own for this provider: register your own \
                     app, or ask the operator to set operator_app_client_id and \
                     operator_app_client_secret.",
                )),
            );
        }
        if self
            .store
            .organisation(&new.organisation_id, None)
            .await?
            .is_none()
        {
            findings.add(
                "organisation",
                Some(Note::error(format!(
                    "There is no organisation \"{}\"; create it first, or pick one that exists.",
                    new.organisation_id
                ))),
            );
        }
        let mailbox = match provider {
            Some(p) if !new.email.trim().is_empty() || !new.name.trim().is_empty() => {
                let mut m = MailboxSettings::preset(p);
                m.email = new.email.clone();
                m.account_name = new.name.clone();
                tidy_mailbox(&mut m);
                findings.add(
                    "email",
                    mailkey_app::rules::mailbox::check_email(&m.email, "e-mail address", true),
                );
                if m.account_name.chars().count() > 200 {
                    findings.add(
                        "name",
                        Some(Note::error("The name can be at most 200 characters.")),
                    );
                }
                Some(m)
            }
            _ => None,
        };
        // A provider not offered is one of the findings.
        let (Some(provider), false) = (provider, findings.has_errors()) else {
            return Err(DraftError::Invalid(findings));
        };
        let mut raw = [0u8; 10];
        rand::rng().fill_bytes(&mut raw);
        let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let inserted = self
            .store
            .insert_draft(&NewDraftRecord {
                id: &id,
                provider: provider.id,
                app_source: new.app_source,
                organisation_id: &new.organisation_id,
                external_id: new.external_id.as_deref(),
            })
            .await?;
        let id = match inserted {
            Inserted::NoOrganisation => return Err(DraftError::NoOrganisation),
            Inserted::New(id) => id,
            Inserted::Existing(id) => {
                return Ok(Created {
                    id,
                    created: false,
                    warnings: Findings::default(),
                })
            }
        };
        let warnings = match (mailbox, new.app_source) {
            (Some(mut m), AppSource::Operator) => {
                if m.account_name.is_empty() {
                    m.account_name = m.email.clone();
                }
                match self.save_mailbox(&id, m).await {
                    Ok(saved) => saved.warnings,
                    Err(e) => {
                        // Nothing half-made stays behind a refusal.
                        self.store.discard_draft(&id).await?;
                        return Err(e);
                    }
                }
            }
            (Some(m), AppSource::Own) => {
                self.store
                    .prefill_mailbox(
                        &id,
                        MailboxUpdate {
                            name: &m.account_name,
                            email: &m.email,
                            mailbox: &m,
                        },
                    )
                    .await?;
                self.complete(&id, Step::Register).await?.warnings
            }
            (None, _) => self.complete(&id, Step::Register).await?.warnings,
        };
        Ok(Created {
            id,
            created: true,
            warnings,
        })
    }

    async fn record(&self, id: &str) -> Result<DraftRecord, DraftError> {
        self.store.draft(id).await?.ok_or(DraftError::NotFound)
    }

    pub async fn load(&self, id: &str) -> Result<Draft, DraftError> {
        let r = self.record(id).await?;
        let (provider, authority) = self.provider_of(&r)?;
        let app = r.app.clone().unwrap_or_default();
        let mailbox = r
            .mailbox
            .clone()
            .unwrap_or_else(|| MailboxSettings::preset(provider));
        Ok(Draft {
            id: r.id,
            today: Day::today().0,
            provider: provider.id.to_string(),
            provider_name: provider.name.to_string(),
            authority,
            redirect_uri: self.redirect_uri.clone(),
            redirect_uri_warning: steps::redirect_uri_warning(&self.redirect_uri)
                .map(|n| n.message),
            client_secret: SecretStatus {
                set: r.client_secret.is_some(),
                expires: (!app.secret_expires.trim().is_empty())
                    .then(|| app.secret_expires.trim().to_string()),
                set_at: r.client_secret_set_at,
            },
            app,
            tenant_id: r.tenant_id,
            mailbox,
            saved_step: r.saved_step,
            organisation: r.organisation.clone(),
            operator_app: (r.app_source == AppSource::Operator)
                .then(|| self.providers.operator_app(provider.id))
                .flatten()
                .map(|a| a.name.clone()),
        })
    }

    /// Steps without values (reading the instructions, copying the redirect URI).
    pub async fn complete(&self, id: &str, step: Step) -> Result<Saved, DraftError> {
        let record = self.record(id).await?;
        // The operator's app needs no registration, secret or redirect URI from the customer:
        // its account goes from the first step to the mailbox.
        // Nor any value before its sign-in: the mailbox is the account that signs in (its name
        // defaults to the address), so the account goes straight to "Sign in"; a different
        // mailbox can still be set at the Mailbox step.
        let operator = record.app_source == AppSource::Operator;
        if operator && step < Step::Mailbox {
            if record.mailbox.is_none() {
                let (provider, _) = self.provider_of(&record)?;
                let preset = MailboxSettings::preset(provider);
                if !self
                    .store
                    .set_default_mailbox(id, Step::Mailbox.number(), &preset)
                    .await?
                {
                    return Err(DraftError::NotFound);
                }
            }
            return Ok(Saved {
                next: Step::Review,
                warnings: Findings::default(),
                disconnected: false,
            });
        }
        let next = step.next().unwrap_or(Step::Review);
        if !self.store.mark_step(id, step.number()).await? {
            return Err(DraftError::NotFound);
        }
        Ok(Saved {
            next,
            warnings: Findings::default(),
            disconnected: false,
        })
    }

    pub async fn save_app(&self, id: &str, mut v: AppDetails) -> Result<Saved, DraftError> {
        let record = self.record(id).await?;
        let (_, authority) = self.provider_of(&record)?;
        tidy_app(&mut v);
        let tenant_id = match tenant::parse(&v.tenant) {
            Ok(Tenant::Id(tid)) => Ok(Some(tid)),
            Ok(Tenant::Domain(domain)) => self.resolve_domain(&authority, &domain).await,
            Err(_) => Ok(None),
        };
        let (mut tenant_id, tenant_note) = match tenant_id {
            Ok(t) => (t, None),
            Err(note) => (None, Some(note)),
        };
        // Left empty with the mailbox already known: the tenant is the one owning its domain.
        if v.tenant.is_empty() && !v.custom_endpoints && record.tenant_id.is_none() {
            if let Some(email) = record
                .mailbox
                .as_ref()
                .map(|m| m.email.trim().to_string())
                .filter(|e| e.contains('@'))
            {
                let domain = email.rsplit_once('@').map_or("", |(_, d)| d).to_string();
                tenant_id = self
                    .resolve_domain(&authority, &domain)
                    .await
                    .ok()
                    .flatten();
            }
        }
        // The same tenant as before that could not be looked up this time (Microsoft slow) is
        // still the tenant it resolved to then: not a new app registration.
        let tenant_id = tenant_id.or_else(|| {
            record
                .app
                .as_ref()
                .filter(|b| b.tenant.trim().eq_ignore_ascii_case(v.tenant.trim()))
                .and(record.tenant_id.clone())
        });
        let mut findings = steps::check_app_details(
            &v,
            &AppContext {
                today: Day::today(),
                authority: &authority,
                secret_set: record.client_secret.is_some(),
                resolved_tenant_id: tenant_id.as_deref(),
            },
        );
        findings.add("tenant", tenant_note);
        if findings.has_errors() {
            return Err(DraftError::Invalid(findings));
        }
        let identity_changed = record.app.as_ref().is_some_and(|b| {
            app_identity(b, record.tenant_id.as_deref()) != app_identity(&v, tenant_id.as_deref())
        });
        let secret = (!v.client_secret.is_empty())
            .then(|| SecretString::from(std::mem::take(&mut v.client_secret)));
        let sealed = secret.map(|s| {
            use secrecy::ExposeSecret;
            self.sealer.seal(s.expose_secret(), &client_secret_aad(id))
        });
        let step = Step::AppDetails;
        let saved = self
            .store
            .update_app(
                id,
                step.number(),
                AppUpdate {
                    app: &v,
                    tenant_id: tenant_id.as_deref(),
                    client_secret: sealed,
                    identity_changed,
                },
            )
            .await?;
        if !saved.found {
            return Err(DraftError::NotFound);
        }
        if saved.disconnected {
            findings.add(
                "client_id",
                Some(Note::warning(
                    "The app registration changed (client ID, tenant or endpoints), so the \
                     mailbox's sign-in with the previous app was removed: sign in again at the \
                     last step.",
                )),
            );
        }
        Ok(Saved {
            next: Step::RedirectUri,
            warnings: findings,
            disconnected: saved.disconnected,
        })
    }

    /// The tenant ID for a domain, or the note the Tenant field shows. An unreachable sign-in
    /// service only warns: the endpoints work with the domain too.
    async fn resolve_domain(&self, authority: &str, domain: &str) -> Result<Option<String>, Note> {
        match self.discovery.tenant_id(authority, domain).await {
            Ok(tid) => Ok(Some(tid)),
            Err(e) => {
                let note = discovery_note(domain, &e);
                if !note.is_error() {
                    tracing::warn!(domain, error = %e, "tenant discovery failed");
                }
                Err(note)
            }
        }
    }

    /// For the Tenant field as the admin leaves it: "found: <tenant id>" or why not.
    pub async fn lookup_tenant(
        &self,
        id: &str,
        input: &str,
    ) -> Result<Result<String, Note>, DraftError> {
        let (_, authority) = self.provider_of(&self.record(id).await?)?;
        Ok(match tenant::parse(input) {
            Err(note) => Err(note),
            Ok(Tenant::Id(tid)) => Ok(tid),
            Ok(Tenant::Domain(domain)) => self
                .discovery
                .tenant_id(&authority, &domain)
                .await
                .map_err(|e| discovery_note(&domain, &e)),
        })
    }

    pub async fn save_mailbox(
        &self,
        id: &str,
        mut v: MailboxSettings,
    ) -> Result<Saved, DraftError> {
        let record = self.record(id).await?;
        let (provider, authority) = self.provider_of(&record)?;
        tidy_mailbox(&mut v);
        if v.account_name.is_empty() {
            v.account_name = v.email.clone();
        }
        let mut findings = steps::check_mailbox(&v, provider);
        for (field, port, protocol) in [
            ("smtp_port", &v.smtp_port, "SMTP"),
            ("imap_port", &v.imap_port, "IMAP"),
        ] {
            if findings.get(field).is_some_and(|n| n.is_error()) {
                continue;
            }
            if let Ok(n) = port.parse::<u16>() {
                if !self.mail_ports.allows(n) {
                    findings.add(field, Some(Note::error(port_not_allowed(protocol, n))));
                }
            }
        }
        if findings.has_errors() {
            return Err(DraftError::Invalid(findings));
        }
        // An own app registration whose tenant was left empty: it is the one that owns the
        // mailbox's domain. Found, the endpoints derive from it; not found, nothing is saved.
        let needs_tenant = record.app_source == AppSource::Own
            && record.tenant_id.is_none()
            && record
                .app
                .as_ref()
                .is_some_and(|a| a.tenant.trim().is_empty() && !a.custom_endpoints);
        let discovered = if needs_tenant {
            let domain = v.email.rsplit_once('@').map_or("", |(_, d)| d).to_string();
            match self.discovery.tenant_id(&authority, &domain).await {
                Ok(tid) => Some(tid),
                Err(e) => {
                    return Err(DraftError::Invalid(Findings::error(
                        "email",
                        format!(
                            "Mailkey could not find the app's tenant from {domain} ({}). Enter \
                             the tenant at Application details: the Directory (tenant) ID from \
                             the app's Overview page in Entra.",
                            match e {
                                DiscoveryError::UnknownDomain =>
                                    "no Microsoft 365 organisation uses it".to_string(),
                                other => other.to_string(),
                            }
                        ),
                    )))
                }
            }
        } else {
            None
        };
        let others = self.store.accounts_with_email(&v.email, id).await?;
        if let Some((_, name)) = others.first() {
            findings.add(
                "email",
                Some(Note::warning(format!(
                    "Another account ({}) already connects {}. Continuing keeps both: this one \
                     becomes a second connection of the same mailbox and replaces nothing. To \
                     change the other one instead, open it from Mailboxes (and delete this one).",
                    if name.is_empty() {
                        "an unfinished draft"
                    } else {
                        name
                    },
                    v.email
                ))),
            );
        }
        let saved = self
            .store
            .update_mailbox(
                id,
                Step::Mailbox.number(),
                MailboxUpdate {
                    name: &v.account_name,
                    email: &v.email,
                    mailbox: &v,
                },
            )
            .await?;
        if !saved.found {
            return Err(DraftError::NotFound);
        }
        if let Some(tid) = discovered {
            self.store.set_discovered_tenant(id, &tid).await?;
        }
        if record.app_source == AppSource::Operator {
            let address_changed = record
                .mailbox
                .as_ref()
                .is_none_or(|b| !b.email.trim().eq_ignore_ascii_case(&v.email));
            // A tenant already known (looked up, or learnt at sign-in) stays for the same address.
            if address_changed || record.tenant_id.is_none() {
                self.discover_operator_tenant(id, &authority, &v.email, &mut findings)
                    .await?;
            }
        }
        if saved.disconnected {
            findings.add(
                "email",
                Some(Note::warning(format!(
                    "The address changed, so the sign-in of the previous mailbox was removed: \
                     sign in again as {}.",
                    v.email
                ))),
            );
        }
        Ok(Saved {
            next: Step::Review,
            warnings: findings,
            disconnected: saved.disconnected,
        })
    }

    /// An account on the operator's app has no tenant field: its tenant is the one that owns
    /// the mailbox's (new) domain, looked up now so the admin-consent link names the
    /// organisation and a domain no Microsoft 365 organisation uses is caught before the
    /// sign-in. Without an answer the tenant is unknown until the sign-in's ID token says.
    async fn discover_operator_tenant(
        &self,
        id: &str,
        authority: &str,
        email: &str,
        findings: &mut Findings,
    ) -> Result<(), DraftError> {
        let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
        match self.discovery.tenant_id(authority, domain).await {
            Ok(tid) if tid.eq_ignore_ascii_case(PERSONAL_ACCOUNTS_TENANT) => {
                findings.add(
                    "email",
                    Some(Note::warning(format!(
                        "{domain} is a domain of personal Microsoft accounts (Outlook.com, \
                         Hotmail), which have no Exchange Online mailbox and cannot be connected \
                         this way. Use the mailbox's work or school address."
                    ))),
                );
                self.store.set_operator_tenant(id, None).await?;
            }
            Ok(tid) => self.store.set_operator_tenant(id, Some(&tid)).await?,
            Err(e) => {
                findings.add("email", Some(operator_discovery_note(domain, &e)));
                self.store.set_operator_tenant(id, None).await?;
            }
        }
        Ok(())
    }

    /// Start-up check: a stored secret must open with the key in use, or Mailkey refuses to run.
    /// Each kind of sealed value is tried: an account's client secret, a refresh token (all an
    /// account on the operator's app has) and the operator's app saved on the settings page.
    pub async fn verify_key(store: &Store, sealer: &Sealer) -> Result<(), StartupKeyError> {
        let seal = StartupKeyError::Seal;
        if let Some((id, blob)) = store.any_sealed_secret().await? {
            sealer.open(&blob, &client_secret_aad(&id)).map_err(seal)?;
        }
        if let Some((id, blob)) = store.any_refresh_token().await? {
            sealer.open(&blob, &refresh_token_aad(&id)).map_err(seal)?;
        }
        if let Some(app) = store.operator_apps().await?.first() {
            sealer
                .open(&app.sealed_secret, &operator_secret_aad(&app.provider))
                .map_err(seal)?;
        }
        Ok(())
    }

    /// Whether anything is sealed, so a missing master key must not be replaced by a new one.
    pub async fn holds_sealed_values(store: &Store) -> Result<bool, StorageError> {
        Ok(store.any_sealed_secret().await?.is_some()
            || store.any_refresh_token().await?.is_some()
            || !store.operator_apps().await?.is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupKeyError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Seal(crate::secrets::SealError),
}

/// A port this Mailkey's connection tests may not use: why, and what to use instead.
fn port_not_allowed(protocol: &str, port: u16) -> String {
    let usual = if protocol == "SMTP" {
        "587 with STARTTLS"
    } else {
        "993 with TLS"
    };
    format!(
        "Port {port} is not a mail port. Mailkey connects only to the mail ports (SMTP 25, 465, \
         587; IMAP 143, 993; POP3 110, 995), so it cannot be used to reach a server's other \
         services. {protocol} is usually on {usual}; if your server really uses {port}, ask the \
         operator to add it to mail_ports."
    )
}

fn discovery_note(domain: &str, e: &DiscoveryError) -> Note {
    match e {
        DiscoveryError::UnknownDomain => Note::error(format!(
            "No Microsoft 365 tenant uses the domain {domain}. Check the spelling, use a domain \
             verified in your tenant (such as yourcompany.onmicrosoft.com), or enter the \
             Directory (tenant) ID."
        )),
        DiscoveryError::Timeout | DiscoveryError::Unreachable => Note::warning(format!(
            "Mailkey could not reach Microsoft to look up {domain} ({e}); it will use the domain \
             as entered. To be sure, enter the Directory (tenant) ID from the app's Overview page."
        )),
        DiscoveryError::Unexpected => Note::warning(format!(
            "Microsoft's answer for {domain} was not understood; Mailkey will use the domain as \
             entered. To be sure, enter the Directory (tenant) ID."
        )),
    }
}

/// For an address (not a tenant field): a warning, since the sign-in still decides.
fn operator_discovery_note(domain: &str, e: &DiscoveryError) -> Note {
    match e {
        DiscoveryError::UnknownDomain => Note::warning(format!(
            "No Microsoft 365 organisation uses the domain {domain}, so this address is probably \
             not an Exchange Online mailbox. Check the spelling; if the mailbox really is in \
             Microsoft 365, sign in anyway and Mailkey learns its organisation then."
        )),
        _ => Note::warning(format!(
            "Mailkey could not look up the organisation of {domain} ({e}); it learns it at the \
             sign-in instead."
        )),
    }
}

/// What a sign-in belongs to: the client ID, the tenant and the endpoints. The secret and the
/// display name are not part of it (a new secret keeps the sign-in).
fn app_identity(
    app: &AppDetails,
    tenant_id: Option<&str>,
) -> (String, String, Option<(String, String)>) {
    (
        app.client_id.trim().to_ascii_lowercase(),
        tenant_id.unwrap_or(app.tenant.trim()).to_ascii_lowercase(),
        app.custom_endpoints.then(|| {
            (
                app.authorize_url.trim().to_string(),
                app.token_url.trim().to_string(),
            )
        }),
    )
}

fn tidy(s: &mut String) {
    let t = mailkey_app::rules::identifiers::tidy(s);
    if t.len() != s.len() {
        *s = t.to_string();
    }
}

fn tidy_app(v: &mut AppDetails) {
    for s in [
        &mut v.tenant,
        &mut v.client_id,
        &mut v.app_name,
        &mut v.client_secret,
        &mut v.secret_expires,
        &mut v.authorize_url,
        &mut v.token_url,
    ] {
        tidy(s);
    }
    if !v.custom_endpoints {
        v.authorize_url.clear();
        v.token_url.clear();
    }
}

fn tidy_mailbox(v: &mut MailboxSettings) {
    for s in [
        &mut v.account_name,
        &mut v.email,
        &mut v.reply_to,
        &mut v.smtp_host,
        &mut v.smtp_port,
        &mut v.imap_host,
        &mut v.imap_port,
        &mut v.root_folder,
        &mut v.timeout_minutes,
    ] {
        tidy(s);
    }
    v.scopes = v.scopes.split_whitespace().collect::<Vec<_>>().join(" ");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_failures_say_what_to_do() {
        let unknown = discovery_note("fabrikam.example", &DiscoveryError::UnknownDomain);
        assert!(unknown.is_error());
        assert_eq!(
            unknown.message,
            "No Microsoft 365 tenant uses the domain fabrikam.example. Check the spelling, use a \
             domain verified in your tenant (such as yourcompany.onmicrosoft.com), or enter the \
             Directory (tenant) ID."
        );
        let timeout = discovery_note("contoso.com", &DiscoveryError::Timeout);
        assert!(
            !timeout.is_error(),
            "an unreachable Microsoft must not block the admin"
        );
        assert_eq!(
            timeout.message,
            "Mailkey could not reach Microsoft to look up contoso.com (the sign-in service did not \
             answer in time); it will use the domain as entered. To be sure, enter the Directory \
             (tenant) ID from the app's Overview page."
        );
    }
}
