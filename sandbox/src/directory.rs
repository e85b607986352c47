//! The sandbox's directory: its tenants, their app registrations and users. Read from the sandbox
//! file (TOML), or a demo directory generated once and kept in the data directory.

use std::{collections::HashSet, path::Path};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use mailkey_app::rules::identifiers::{is_guid, is_host_name};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Where the generated demo directory is kept, inside the data directory.
pub const DEMO_FILE: &str = "sandbox-demo.toml";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    /// Apps registered once and usable from every tenant, as a vendor's own app is; reached
    /// through the `organizations` authority.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub multi_tenant_apps: Vec<MultiTenantApp>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// The Directory (tenant) ID, a GUID.
    pub id: String,
    /// Verified domains; the first is the tenant's `*.onmicrosoft.com`-style name.
    pub domains: Vec<String>,
    #[serde(default)]
    pub apps: Vec<App>,
    #[serde(default)]
    pub users: Vec<User>,
    /// Whether users may consent to apps themselves; when off, an admin must grant consent for
    /// the tenant first (AADSTS65001 / 90094), as many organisations configure Entra.
    #[serde(default = "yes")]
    pub user_consent: bool,
    /// Lifetime of issued access tokens (Microsoft's are 60–90 minutes).
    #[serde(default = "default_access_minutes")]
    pub access_token_minutes: u32,
    /// Lifetime of an unused refresh token (Microsoft's: 90 days); 0 makes every refresh fail
    /// with AADSTS700082.
    #[serde(default = "default_refresh_minutes")]
    pub refresh_token_minutes: u32,
}

fn yes() -> bool {
    true
}

fn default_access_minutes() -> u32 {
    60
}

fn default_refresh_minutes() -> u32 {
    90 * 24 * 60
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub client_id: String,
    pub display_name: String,
    /// The client secret's value (the sandbox is a test system: it keeps it readable).
    pub secret: String,
    /// The secret's ID, what admins paste by mistake.
    pub secret_id: String,
    /// `YYYY-MM-DD`.
    pub secret_expires: String,
    pub redirect_uris: Vec<String>,
    /// Whether an admin granted consent for the whole tenant.
    #[serde(default)]
    pub admin_consented: bool,
    /// Further valid secrets (a multi-tenant app's while one is rotated in).
    #[serde(skip)]
    pub more_secrets: Vec<AppSecret>,
}

/// One client secret of a multi-tenant app.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSecret {
    pub secret: String,
    pub secret_id: String,
    /// `YYYY-MM-DD`.
    pub expires: String,
}

/// An app registered in its publisher's tenant and usable by users of any tenant once they (or
/// their admin) consent, as an operator's own Mailkey app is.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiTenantApp {
    pub client_id: String,
    pub display_name: String,
    /// Shown on the consent page, as Entra shows a verified publisher.
    #[serde(default)]
    pub publisher: String,
    /// Every secret valid at once: a new one is added before the old one is removed.
    pub secrets: Vec<AppSecret>,
    pub redirect_uris: Vec<String>,
}

impl MultiTenantApp {
    /// The app as a tenant sees it, with its first secret as the main one (`None` without a
    /// secret, which loading the sandbox file already refuses).
    pub fn in_tenant(&self) -> Option<App> {
        let (first, rest) = self.secrets.split_first()?;
        Some(App {
            client_id: self.client_id.clone(),
            display_name: self.display_name.clone(),
            secret: first.secret.clone(),
            secret_id: first.secret_id.clone(),
            secret_expires: first.expires.clone(),
            redirect_uris: self.redirect_uris.clone(),
            admin_consented: false,
            more_secrets: rest.to_vec(),
        })
    }
}

impl App {
    /// Every valid secret of the app: (value, ID, expiry).
    pub fn secrets(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        std::iter::once((
            self.secret.as_str(),
            self.secret_id.as_str(),
            self.secret_expires.as_str(),
        ))
        .chain(
            self.more_secrets
                .iter()
                .map(|s| (s.secret.as_str(), s.secret_id.as_str(), s.expires.as_str())),
        )
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    pub display_name: String,
    /// May grant consent for the whole tenant (a Global or Cloud Application Administrator).
    #[serde(default)]
    pub admin: bool,
    /// The user's sessions were revoked (password reset, "Revoke sessions"): refreshing a token
    /// issued to them fails with AADSTS50173.
    #[serde(default)]
    pub revoked: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read the sandbox file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("the sandbox file {path} is not valid: {reason}. The format is described in the README under \"Sandbox identity provider\"")]
    Invalid { path: String, reason: String },
    #[error("cannot write the demo sandbox directory {path}: {reason}")]
    Unwritable { path: String, reason: String },
}

impl Tenant {
    pub fn user(&self, username: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
    }
}

impl Directory {
    /// Reads and checks a sandbox file.
    pub fn load(path: &Path) -> Result<Directory, DirectoryError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| DirectoryError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let dir: Directory = toml::from_str(&text).map_err(|e| DirectoryError::Invalid {
            path: shown.clone(),
            reason: e.message().to_string(),
        })?;
        dir.check().map_err(|reason| DirectoryError::Invalid {
            path: shown,
            reason,
        })?;
        Ok(dir)
    }

    /// The demo directory of `data_dir`, generated on first use so its secret stays the same
    /// across restarts (drafts saved with it keep working).
    pub fn demo(data_dir: &Path, redirect_uri: &str) -> Result<Directory, DirectoryError> {
        let path = data_dir.join(DEMO_FILE);
        if path.exists() {
            let mut dir = Directory::load(&path)?;
            // The public URL may have changed since the demo was made.
            let uris = dir
                .tenants
                .iter_mut()
                .flat_map(|t| t.apps.iter_mut().map(|a| &mut a.redirect_uris))
                .chain(
                    dir.multi_tenant_apps
                        .iter_mut()
                        .map(|a| &mut a.redirect_uris),
                );
            for uris in uris {
                if !uris.iter().any(|u| u == redirect_uri) {
                    uris.push(redirect_uri.to_string());
                }
            }
            return Ok(dir);
        }
        let dir = Directory::generate(redirect_uri);
        let text = toml::to_string(&dir).expect("the directory serialises");
        write_private(&path, &text).map_err(|e| DirectoryError::Unwritable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(dir)
    }

    fn generate(redirect_uri: &str) -> Directory {
        let domain = "demo.mailkey.test";
        Directory {
            tenants: vec![Tenant {
                id: random_guid(),
                domains: vec![domain.into()],
                apps: vec![App {
                    client_id: random_guid(),
                    display_name: "Mailkey demo".into(),
                    secret: random_secret(),
                    secret_id: random_guid(),
                    secret_expires: "2099-12-31".into(),
                    redirect_uris: vec![redirect_uri.into()],
                    admin_consented: false,
                    more_secrets: Vec::new(),
                }],
                users: vec![
                    User {
                        username: format!("invoices@{domain}"),
                        display_name: "Invoices mailbox".into(),
                        admin: false,
                        revoked: false,
                    },
                    User {
                        username: format!("admin@{domain}"),
                        display_name: "Demo administrator".into(),
                        admin: true,
                        revoked: false,
                    },
                ],
                user_consent: true,
                access_token_minutes: default_access_minutes(),
                refresh_token_minutes: default_refresh_minutes(),
            }],
            multi_tenant_apps: vec![MultiTenantApp {
                client_id: random_guid(),
                display_name: "Mailkey demo (multi-tenant)".into(),
                publisher: "Mailkey sandbox".into(),
                secrets: vec![AppSecret {
                    secret: random_secret(),
                    secret_id: random_guid(),
                    expires: "2099-12-31".into(),
                }],
                redirect_uris: vec![redirect_uri.into()],
            }],
        }
    }

    /// `{public_url}` in a redirect URI stands for Mailkey's public URL, so one sandbox file
    /// serves any deployment (and tests on random ports).
    pub fn with_public_url(mut self, base: &str) -> Directory {
        let uris = self
            .tenants
            .iter_mut()
            .flat_map(|t| t.apps.iter_mut().map(|a| &mut a.redirect_uris))
            .chain(
                self.multi_tenant_apps
                    .iter_mut()
                    .map(|a| &mut a.redirect_uris),
            );
        for uri in uris.flatten() {
            *uri = uri.replace("{public_url}", base);
        }
        self
    }

    /// The tenant named by an ID or one of its domains (case-insensitive).
    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| {
            t.id.eq_ignore_ascii_case(name)
                || t.domains.iter().any(|d| d.eq_ignore_ascii_case(name))
        })
    }

    /// The app registration `client_id` in this tenant: its own, or a multi-tenant one.
    pub fn app(&self, tenant: &Tenant, client_id: &str) -> Option<App> {
        tenant
            .apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
            .cloned()
            .or_else(|| {
                self.multi_tenant_app(client_id)
                    .and_then(MultiTenantApp::in_tenant)
            })
    }

    pub fn multi_tenant_app(&self, client_id: &str) -> Option<&MultiTenantApp> {
        self.multi_tenant_apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// Whether `client_id` is registered in some tenant only (not multi-tenant).
    pub fn is_single_tenant_app(&self, client_id: &str) -> bool {
        self.tenants
            .iter()
            .flat_map(|t| &t.apps)
            .any(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The tenant a work account belongs to: where the user is, else the one owning its domain.
    pub fn home_tenant(&self, username: &str) -> Option<&Tenant> {
        self.tenants
            .iter()
            .find(|t| t.user(username).is_some())
            .or_else(|| {
                let domain = username.rsplit_once('@')?.1;
                self.tenant(domain)
            })
    }

    fn check(&self) -> Result<(), String> {
        let mut ids = HashSet::new();
        let mut domains = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            let at = format!("tenants[{i}]");
            if !is_guid(&t.id) {
                return Err(format!(
                    "{at}.id \"{}\" is not a GUID (like 72f988bf-86f1-41af-91ab-2d7cd011db47)",
                    t.id
                ));
            }
            if !ids.insert(t.id.to_ascii_lowercase()) {
                return Err(format!("{at}.id {} appears twice", t.id));
            }
            if t.domains.is_empty() {
                return Err(format!(
                    "{at}.domains is empty; give at least one, e.g. [\"contoso.onmicrosoft.com\"]"
                ));
            }
            for d in &t.domains {
                if !is_host_name(d, true) {
                    return Err(format!("{at}.domains: \"{d}\" is not a domain name"));
                }
                if !domains.insert(d.to_ascii_lowercase()) {
                    return Err(format!("{at}.domains: {d} belongs to two tenants"));
                }
            }
            for (j, a) in t.apps.iter().enumerate() {
                let at = format!("{at}.apps[{j}]");
                for (field, v) in [("client_id", &a.client_id), ("secret_id", &a.secret_id)] {
                    if !is_guid(v) {
                        return Err(format!("{at}.{field} \"{v}\" is not a GUID"));
                    }
                }
                if a.secret.trim().is_empty() {
                    return Err(format!("{at}.secret is empty"));
                }
                if mailkey_app::rules::dates::Day::parse(&a.secret_expires).is_none() {
                    return Err(format!(
                        "{at}.secret_expires \"{}\" is not a date like 2030-12-31",
                        a.secret_expires
                    ));
                }
            }
            for (j, u) in t.users.iter().enumerate() {
                if mailkey_app::rules::mailbox::check_email(&u.username, "username", true).is_some()
                {
                    return Err(format!("{at}.users[{j}].username \"{}\" is not an address like invoices@contoso.com", u.username));
                }
            }
        }
        for (i, a) in self.multi_tenant_apps.iter().enumerate() {
            let at = format!("multi_tenant_apps[{i}]");
            if !is_guid(&a.client_id) {
                return Err(format!("{at}.client_id \"{}\" is not a GUID", a.client_id));
            }
            if self.is_single_tenant_app(&a.client_id) {
                return Err(format!(
                    "{at}.client_id {} is also a tenant's own app; give each app one client ID",
                    a.client_id
                ));
            }
            if a.secrets.is_empty() {
                return Err(format!(
                    "{at}.secrets is empty; give at least one [[{at}.secrets]] with secret, \
                     secret_id and expires"
                ));
            }
            for (j, s) in a.secrets.iter().enumerate() {
                let at = format!("{at}.secrets[{j}]");
                if !is_guid(&s.secret_id) {
                    return Err(format!("{at}.secret_id \"{}\" is not a GUID", s.secret_id));
                }
                if s.secret.trim().is_empty() {
                    return Err(format!("{at}.secret is empty"));
                }
                if mailkey_app::rules::dates::Day::parse(&s.expires).is_none() {
                    return Err(format!(
                        "{at}.expires \"{}\" is not a date like 2030-12-31",
                        s.expires
                    ));
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn random_guid() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Shaped like Entra's values: a `Q~` near the start, 40 characters.
fn random_secret() -> String {
    let mut b = [0u8; 30];
    rand::rng().fill_bytes(&mut b);
    let tail = URL_SAFE_NO_PAD.encode(b);
    format!("{}8Q~{}", &tail[..3], &tail[3..37])
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_is_valid_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = Directory::demo(dir.path(), "http://127.0.0.1:3000/oauth/callback").unwrap();
        first.check().unwrap();
        let app = &first.tenants[0].apps[0];
        assert_eq!(app.secret.len(), 40);
        assert!(mailkey_app::rules::secret::check_client_secret(&app.secret, false).is_none());
        let again = Directory::demo(dir.path(), "http://127.0.0.1:4000/oauth/callback").unwrap();
        assert_eq!(again.tenants[0].apps[0].secret, app.secret);
        assert_eq!(again.tenants[0].apps[0].redirect_uris.len(), 2);
        assert!(again.tenant("DEMO.mailkey.test").is_some());
        assert!(again.tenant(&first.tenants[0].id.to_uppercase()).is_some());
        assert!(again.tenant("other.test").is_none());
        let operator = &again.multi_tenant_apps[0];
        assert_eq!(operator.redirect_uris.len(), 2, "kept up to date too");
        let seen = again.app(&again.tenants[0], &operator.client_id).unwrap();
        assert_eq!(
            seen.secret, operator.secrets[0].secret,
            "usable in every tenant"
        );
    }

    #[test]
    fn a_multi_tenant_app_needs_a_secret_and_its_own_client_id() {
        let mut dir = Directory::generate("http://127.0.0.1:3000/oauth/callback");
        dir.multi_tenant_apps[0].secrets.clear();
        let err = dir.check().unwrap_err();
        assert!(
            err.starts_with("multi_tenant_apps[0].secrets is empty"),
            "{err}"
        );
        let mut dir = Directory::generate("http://127.0.0.1:3000/oauth/callback");
        dir.multi_tenant_apps[0].client_id = dir.tenants[0].apps[0].client_id.clone();
        let err = dir.check().unwrap_err();
        assert!(err.contains("is also a tenant's own app"), "{err}");
    }

    #[test]
    fn a_bad_file_names_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox.toml");
        std::fs::write(
            &path,
            "[[tenants]]\nid = \"contoso\"\ndomains = [\"contoso.test\"]\n",
        )
        .unwrap();
        let err = Directory::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("tenants[0].id \"contoso\" is not a GUID"),
            "{err}"
        );
        std::fs::write(
            &path,
            "[[tenants]]\nid = \"72f988bf-86f1-41af-91ab-2d7cd011db47\"\ndomain = [\"x.test\"]\n",
        )
        .unwrap();
        let err = Directory::load(&path).unwrap_err().to_string();
        assert!(err.contains("unknown field `domain`"), "{err}");
    }
}
