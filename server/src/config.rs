//! Mailkey's configuration: built-in defaults, then an optional TOML file, then `MAILKEY_*`
//! environment variables (`MAILKEY_<NAME>_FILE` reads the value from a file, for secrets).
//!
//! Every value goes through one parser per setting, whatever layer it came from, so an admin gets
//! the same message for `listen = "x"` in the file and `MAILKEY_LISTEN=x` in the environment: the
//! key, where the value came from, what is wrong with it and an example of a good one.

use std::{
    collections::BTreeMap,
    fmt,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
};

use url::Url;

use crate::storage::DatabaseLocation;

use crate::secrets::MasterKey;

/// The prefix of every environment variable Mailkey reads.
pub const ENV_PREFIX: &str = "MAILKEY_";
/// Names the configuration file; not itself a setting.
pub const CONFIG_PATH_ENV: &str = "MAILKEY_CONFIG";
/// Read from the working directory when present and no other file is named.
pub const DEFAULT_CONFIG_FILE: &str = "mailkey.toml";

/// One documented setting. The README's configuration table lists exactly these (a test checks).
pub struct Setting {
    pub key: &'static str,
    pub default: Option<&'static str>,
    pub example: &'static str,
    pub help: &'static str,
}

pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "listen",
        default: Some("127.0.0.1:3000"),
        example: "127.0.0.1:3000",
        help: "IP address and port the HTTP server binds to (port 0 picks a free port).",
    },
    Setting {
        key: "public_url",
        default: None,
        example: "https://mailkey.example.com",
        help: "The address users reach Mailkey at; used for links, the OAuth redirect URI and the \
               Origin check. Defaults to http://<listen address>.",
    },
    Setting {
        key: "data_dir",
        default: Some("./data"),
        example: "/var/lib/mailkey",
        help: "Directory for the SQLite database and generated keys; created when missing.",
    },
    Setting {
        key: "database_url",
        default: None,
        example: "postgres://mailkey@db.internal/mailkey (password best given as MAILKEY_DATABASE_URL_FILE)",
        help: "The database. Unset: SQLite in the data directory (one instance). A postgres:// URL: \
               PostgreSQL, which several Mailkey instances may share. Migrations are applied at \
               start.",
    },
    Setting {
        key: "site_dir",
        default: Some("target/site"),
        example: "/usr/share/mailkey/site",
        help: "Directory holding the built web assets (`pkg/`, static files) made by cargo-leptos.",
    },
    Setting {
        key: "master_key",
        default: None,
        example: "(32 random bytes in base64: `openssl rand -base64 32`)",
        help: "Key that encrypts client secrets and tokens at rest. Best given as \
               MAILKEY_MASTER_KEY_FILE. Unset: generated on first start into <data_dir>/master.key \
               (mode 0600); Mailkey refuses to start if stored secrets exist and the key is missing \
               or different.",
    },
    Setting {
        key: "microsoft_authority",
        default: Some("https://login.microsoftonline.com"),
        example: "https://login.microsoftonline.com",
        help: "Base URL of the Microsoft identity platform, used for tenant discovery and the \
               OAuth endpoints (change only for a national cloud or a test server).",
    },
    Setting {
        key: "sandbox",
        default: Some("false"),
        example: "true",
        help: "Turns on the sandbox identity provider under /sandbox (a stand-in for Microsoft, for \
               tests and demos). Never on by default; announced in the log when on.",
    },
    Setting {
        key: "sandbox_file",
        default: None,
        example: "/etc/mailkey/sandbox.toml",
        help: "The sandbox's tenants, apps and users (TOML, see the README). Unset: a demo tenant is \
               generated once into <data_dir>/sandbox-demo.toml.",
    },
    Setting {
        key: "sandbox_url",
        default: None,
        example: "http://127.0.0.1:4000",
        help: "A standalone sandbox identity provider (`mailkey sandbox`) to sign in against \
               instead of one of this instance's own: several instances then share one, as they \
               share Microsoft. Its multi-tenant app (one-click connect) is read from sandbox_file \
               when set. Not together with sandbox = true.",
    },
    Setting {
        key: "tls_ca_file",
        default: None,
        example: "/etc/mailkey/test-ca.pem",
        help: "Extra CA certificates (PEM) trusted for the mail servers' TLS, besides the usual \
               public roots. For test mail servers; production needs none.",
    },
    Setting {
        key: "allow_private_hosts",
        default: Some("false"),
        example: "true",
        help: "Lets connection tests reach mail servers on loopback, private and link-local \
               addresses. Off: a hosted Mailkey cannot be used to probe its own network.",
    },
    Setting {
        key: "mail_hosts",
        default: None,
        example: "mail.contoso.com, imap.fabrikam.com",
        help: "Mail servers connection tests may reach besides the provider's own (for Microsoft \
               365: smtp.office365.com, outlook.office365.com and their regional names).",
    },
    Setting {
        key: "mail_ports",
        default: None,
        example: "2525, 10993",
        help: "Ports connection tests may use besides the mail ports (25, 465, 587, 143, 993, \
               110, 995), comma-separated; `any` for every port (test servers on random ports).",
    },
    Setting {
        key: "attention_keep_alive_days",
        default: Some("30"),
        example: "30",
        help: "How many days token upkeep keeps retrying an account whose app was refused \
               before it stops keeping that sign-in alive (the account still shows what to fix).",
    },
    Setting {
        key: "refresh_lease_seconds",
        default: Some("60"),
        example: "60",
        help: "How long an instance's claim on refreshing an account lasts before another \
               instance may take the refresh over (an instance that died mid-refresh is taken \
               over after this). Longer than Microsoft takes to answer, retries included.",
    },
    Setting {
        key: "api_requests_per_second",
        default: Some("100"),
        example: "500",
        help: "Requests per second one API key (without a key: one client address) may make to \
               /api/v1, and twice as many at once; more get 429 with Retry-After.",
    },
    Setting {
        key: "audit_retention_days",
        default: Some("400"),
        example: "400",
        help: "How many days the audit trail keeps its lines (who changed what, who was handed \
               which token); older ones are forgotten hourly.",
    },
    Setting {
        key: "shutdown_grace_seconds",
        default: Some("0"),
        example: "15",
        help: "At a stop signal (SIGTERM, Ctrl-C), how long the instance goes on serving while \
               /readyz answers 503 \"draining\", so a load balancer takes it out first. Then it \
               stops accepting, lets running requests finish (up to 10 s) and connection tests \
               (up to 25 s; those still running are recorded as interrupted).",
    },
    Setting {
        key: "metrics_listen",
        default: None,
        example: "127.0.0.1:9464",
        help: "An address of its own that serves only Prometheus metrics, at /metrics. Keep it \
               private (a loopback or internal address): it asks no token unless metrics_token \
               is set. Unset: no separate address.",
    },
    Setting {
        key: "metrics_token",
        default: None,
        example: "(32 or more random characters, best given as MAILKEY_METRICS_TOKEN_FILE: `openssl rand -hex 32`)",
        help: "Serves Prometheus metrics at /metrics on the main address, to requests with \
               `Authorization: Bearer <token>`, and asks the same token on metrics_listen. \
               Unset: the main address has no /metrics.",
    },
    Setting {
        key: "operator_app_client_id",
        default: None,
        example: "8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a93",
        help: "Application (client) ID of your own multi-tenant Entra app, for one-click connect: \
               customers sign in and consent instead of registering an app. Unset: customers \
               register their own.",
    },
    Setting {
        key: "operator_app_client_secret",
        default: None,
        example: "(the secret's value, best given as MAILKEY_OPERATOR_APP_CLIENT_SECRET_FILE)",
        help: "Client secret value of the operator app. Required with operator_app_client_id.",
    },
    Setting {
        key: "operator_app_secret_expires",
        default: None,
        example: "2027-06-30",
        help: "When the operator app's secret expires (YYYY-MM-DD), so Mailkey warns before it \
               does: every account using the app stops refreshing then.",
    },
    Setting {
        key: "operator_app_name",
        default: None,
        example: "Acme ERP",
        help: "The operator app's name as customers see it (\"Use Acme ERP's app\").",
    },
    Setting {
        key: "operator_app_publisher",
        default: None,
        example: "Acme Software Ltd",
        help: "Who publishes the operator app, shown next to its name.",
    },
    Setting {
        key: "log_format",
        default: Some("pretty"),
        example: "json",
        help: "`pretty` (human-readable, coloured on a terminal) or `json` (one object per line).",
    },
    Setting {
        key: "log_level",
        default: Some("info"),
        example: "info,mailkey=debug",
        help: "Log filter: a level (`error`..`trace`) or `target=level` directives.",
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The validated configuration the server runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// `None` until the listener is bound; then `http://<bound address>` unless configured.
    pub public_url: Option<Url>,
    pub data_dir: PathBuf,
    /// `database_url`, or SQLite in the data directory.
    pub database: DatabaseLocation,
    pub site_dir: PathBuf,
    pub log_format: LogFormat,
    pub log_level: String,
    /// `None`: use (or create) the key file in the data directory.
    pub master_key: Option<MasterKey>,
    pub microsoft_authority: Url,
    pub sandbox: bool,
    pub sandbox_file: Option<PathBuf>,
    /// A standalone sandbox's address (`mailkey sandbox`), when this instance uses one.
    pub sandbox_url: Option<Url>,
    pub tls_ca_file: Option<PathBuf>,
    pub allow_private_hosts: bool,
    /// Host names connection tests may reach besides the provider's.
    pub mail_hosts: Vec<String>,
    /// Ports connection tests may use besides the standard mail ports.
    pub mail_ports: crate::mail_test::MailPorts,
    /// Days token upkeep retries an account that needs attention.
    pub attention_keep_alive_days: u32,
    /// How long a refresh lease lasts.
    pub refresh_lease: std::time::Duration,
    /// The host API's rate limit per key (or client address).
    pub api_requests_per_second: u32,
    /// The operator's own multi-tenant app for Microsoft 365, if configured.
    pub operator_app: Option<OperatorAppConfig>,
    /// How many days the audit trail keeps its lines.
    pub audit_retention_days: u32,
    /// How long the instance serves on, draining, after a stop signal.
    pub shutdown_grace: std::time::Duration,
    /// An address of its own for /metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// The bearer token /metrics asks for (on the main address, /metrics exists only with one).
    pub metrics_token: Option<secrecy::SecretString>,
}

/// The operator's multi-tenant app, as configured (its secret never printed).
#[derive(Clone)]
pub struct OperatorAppConfig {
    pub client_id: String,
    pub client_secret: secrecy::SecretString,
    pub secret_expires: Option<String>,
    pub name: Option<String>,
    pub publisher: Option<String>,
}

impl fmt::Debug for OperatorAppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorAppConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"(set)")
            .field("secret_expires", &self.secret_expires)
            .field("name", &self.name)
            .field("publisher", &self.publisher)
            .finish()
    }
}

/// Where a value came from, so that an error can send the admin to the right place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "built-in default"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {reason}")]
    FileUnreadable { path: PathBuf, reason: String },
    #[error("the configuration file {path} is not valid TOML: {reason}")]
    FileSyntax { path: PathBuf, reason: String },
    #[error(
        "unknown setting `{key}` in {origin}. Known settings: {known}. \
         Check the spelling (keys use snake_case, e.g. `public_url`)"
    )]
    UnknownKey {
        key: String,
        origin: Source,
        known: String,
    },
    #[error("`{key}` in {origin} must be a single value (a string or number), not a table or list. Example: {key} = \"{example}\"")]
    NotAScalar {
        key: String,
        origin: Source,
        example: &'static str,
    },
    #[error("both {var} and {var}_FILE are set; keep only one of them")]
    EnvAndFile { var: String },
    #[error("cannot read {var} (file {path}): {reason}")]
    SecretFileUnreadable {
        var: String,
        path: PathBuf,
        reason: String,
    },
    /// Settings that only make sense together.
    #[error("{0}")]
    Incomplete(String),
    #[error("invalid value for `{key}` ({origin}): {problem}. Example: {key} = \"{example}\"")]
    BadValue {
        key: &'static str,
        origin: Source,
        problem: String,
        example: &'static str,
    },
}

/// The raw layers, each value tagged with its origin.
#[derive(Default, Debug)]
pub struct Layers {
    values: BTreeMap<&'static str, (String, Source)>,
}

impl Layers {
    fn set(&mut self, key: &'static str, value: String, source: Source) {
        self.values.insert(key, (value, source));
    }

    fn get(&self, key: &'static str) -> Option<&(String, Source)> {
        self.values.get(key)
    }
}

fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

fn known_keys() -> String {
    SETTINGS
        .iter()
        .map(|s| s.key)
        .collect::<Vec<_>>()
        .join(", ")
}

fn env_var_of(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

impl Config {
    /// Loads the configuration from the process environment and the config file it names (or
    /// `./mailkey.toml` when present).
    pub fn load() -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let explicit = env
            .iter()
            .find(|(k, _)| k == CONFIG_PATH_ENV)
            .map(|(_, v)| PathBuf::from(v));
        Config::load_from(explicit.as_deref(), &env)
    }

    /// Loads from a given environment: the seam the unit tests use.
    pub fn load_from(
        config_file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut layers = Layers::default();
        for s in SETTINGS {
            if let Some(default) = s.default {
                layers.set(s.key, default.to_string(), Source::Default);
            }
        }
        match config_file {
            Some(path) => apply_file(&mut layers, path, read_file(path)?)?,
            None => {
                let path = Path::new(DEFAULT_CONFIG_FILE);
                if path.exists() {
                    apply_file(&mut layers, path, read_file(path)?)?;
                }
            }
        }
        apply_env(&mut layers, env)?;
        Config::from_layers(&layers)
    }

    fn from_layers(layers: &Layers) -> Result<Config, ConfigError> {
        let data_dir: PathBuf =
            parse("data_dir", layers, parse_dir)?.expect("data_dir has a default");
        let database = match parse("database_url", layers, parse_database_url)? {
            Some(postgres @ DatabaseLocation::Postgres(..)) => postgres,
            _ => DatabaseLocation::SqliteIn(data_dir.clone()),
        };
        Config {
            listen: parse("listen", layers, parse_listen)?.expect("listen has a default"),
            public_url: parse("public_url", layers, parse_public_url)?,
            data_dir,
            database,
            site_dir: parse("site_dir", layers, parse_dir)?.expect("site_dir has a default"),
            log_format: parse("log_format", layers, parse_log_format)?
                .expect("log_format has a default"),
            log_level: parse("log_level", layers, parse_log_level)?
                .expect("log_level has a default"),
            master_key: parse("master_key", layers, MasterKey::from_base64)?,
            microsoft_authority: parse("microsoft_authority", layers, parse_authority)?
                .expect("microsoft_authority has a default"),
            sandbox: parse("sandbox", layers, parse_bool)?.expect("sandbox has a default"),
            sandbox_file: parse("sandbox_file", layers, parse_dir)?,
            sandbox_url: parse("sandbox_url", layers, parse_authority)?,
            tls_ca_file: parse("tls_ca_file", layers, parse_dir)?,
            allow_private_hosts: parse("allow_private_hosts", layers, parse_bool)?
                .expect("allow_private_hosts has a default"),
            mail_hosts: parse("mail_hosts", layers, parse_hosts)?.unwrap_or_default(),
            mail_ports: parse("mail_ports", layers, parse_ports)?.unwrap_or_default(),
            attention_keep_alive_days: parse("attention_keep_alive_days", layers, parse_days)?
                .expect("attention_keep_alive_days has a default"),
            refresh_lease: parse("refresh_lease_seconds", layers, parse_lease)?
                .expect("refresh_lease_seconds has a default"),
            api_requests_per_second: parse("api_requests_per_second", layers, parse_rate)?
                .expect("api_requests_per_second has a default"),
            operator_app: operator_app(layers)?,
            audit_retention_days: parse("audit_retention_days", layers, parse_retention)?
                .expect("audit_retention_days has a default"),
            shutdown_grace: parse("shutdown_grace_seconds", layers, parse_grace)?
                .expect("shutdown_grace_seconds has a default"),
            metrics_listen: parse("metrics_listen", layers, parse_listen)?,
            metrics_token: parse("metrics_token", layers, parse_metrics_token)?.map(Into::into),
        }
        .checked()
    }

    /// Refuses settings that contradict each other.
    fn checked(self) -> Result<Config, ConfigError> {
        if self.sandbox && self.sandbox_url.is_some() {
            return Err(ConfigError::Incomplete(
                "sandbox = true and sandbox_url are both set: an instance either serves the \
                 sandbox identity provider itself or uses a standalone one. Keep one of them"
                    .into(),
            ));
        }
        Ok(self)
    }

    /// The URL users reach Mailkey at, once the listener's real address is known.
    pub fn public_url_or(&self, bound: SocketAddr) -> Url {
        self.public_url.clone().unwrap_or_else(|| {
            Url::parse(&format!("http://{bound}")).expect("a socket address makes a valid URL")
        })
    }

    /// Warnings worth a log line at start, though not worth refusing to start.
    pub fn warnings(&self, public_url: &Url) -> Vec<String> {
        let mut out = Vec::new();
        if public_url.scheme() == "http" && !is_local_host(public_url) {
            out.push(format!(
                "public_url {public_url} is plain http on a host other than localhost: cookies \
                 travel unencrypted and Microsoft accepts http redirect URIs only for localhost. \
                 Serve Mailkey over https and set public_url = \"https://...\""
            ));
        }
        out
    }
}

/// True for `localhost` and loopback addresses, where plain http is acceptable.
pub fn is_local_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::FileUnreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn apply_file(layers: &mut Layers, path: &Path, text: String) -> Result<(), ConfigError> {
    let source = Source::File(path.to_path_buf());
    let table: toml::Table =
        text.parse()
            .map_err(|e: toml::de::Error| ConfigError::FileSyntax {
                path: path.to_path_buf(),
                reason: e.message().to_string(),
            })?;
    for (key, value) in table {
        let Some(s) = setting(&key) else {
            return Err(ConfigError::UnknownKey {
                key,
                origin: source,
                known: known_keys(),
            });
        };
        let text = match value {
            toml::Value::String(v) => v,
            toml::Value::Integer(v) => v.to_string(),
            toml::Value::Float(v) => v.to_string(),
            toml::Value::Boolean(v) => v.to_string(),
            toml::Value::Datetime(v) => v.to_string(),
            toml::Value::Array(_) | toml::Value::Table(_) => {
                return Err(ConfigError::NotAScalar {
                    key,
                    origin: source,
                    example: s.example,
                })
            }
        };
        layers.set(s.key, text, source.clone());
    }
    Ok(())
}

fn apply_env(layers: &mut Layers, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if var == CONFIG_PATH_ENV {
            continue;
        }
        // A setting whose own name ends in `_file` (`sandbox_file`) is that setting, not the
        // file variant of another.
        let (name, from_file) = match rest.strip_suffix("_FILE") {
            Some(name) if setting(&rest.to_ascii_lowercase()).is_none() => (name, true),
            _ => (rest, false),
        };
        let key = name.to_ascii_lowercase();
        let Some(s) = setting(&key) else {
            return Err(ConfigError::UnknownKey {
                key: var.clone(),
                origin: Source::Env(var.clone()),
                known: SETTINGS
                    .iter()
                    .map(|s| env_var_of(s.key))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let plain_var = env_var_of(s.key);
        if from_file {
            if env.iter().any(|(k, _)| *k == plain_var) {
                return Err(ConfigError::EnvAndFile { var: plain_var });
            }
            let path = PathBuf::from(value);
            let contents =
                std::fs::read_to_string(&path).map_err(|e| ConfigError::SecretFileUnreadable {
                    var: var.clone(),
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            // Files written by `echo` or editors end in a newline that is not part of the secret.
            let trimmed = contents.trim_end_matches(['\n', '\r']).to_string();
            layers.set(s.key, trimmed, Source::Env(var.clone()));
        } else {
            layers.set(s.key, value.clone(), Source::Env(var.clone()));
        }
    }
    Ok(())
}

fn parse<T>(
    key: &'static str,
    layers: &Layers,
    parser: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ConfigError> {
    let Some((raw, source)) = layers.get(key) else {
        return Ok(None);
    };
    let s = setting(key).expect("parse is only called with known keys");
    parser(raw.trim())
        .map(Some)
        .map_err(|problem| ConfigError::BadValue {
            key: s.key,
            origin: source.clone(),
            problem,
            example: s.example,
        })
}

/// A `postgres://` URL (the message never repeats it: it may hold a password).
fn parse_database_url(raw: &str) -> Result<DatabaseLocation, String> {
    DatabaseLocation::from_setting(Some(raw), Path::new("")).map_err(|e| e.to_string())
}

/// The operator app's settings, checked together: an ID needs a secret and the reverse.
fn operator_app(layers: &Layers) -> Result<Option<OperatorAppConfig>, ConfigError> {
    let client_id = parse("operator_app_client_id", layers, parse_client_id)?;
    let secret = parse("operator_app_client_secret", layers, parse_client_secret)?;
    let secret_expires = parse("operator_app_secret_expires", layers, parse_date)?;
    let name = parse("operator_app_name", layers, parse_label)?;
    let publisher = parse("operator_app_publisher", layers, parse_label)?;
    match (client_id, secret) {
        (Some(client_id), Some(client_secret)) => Ok(Some(OperatorAppConfig {
            client_id,
            client_secret: client_secret.into(),
            secret_expires,
            name,
            publisher,
        })),
        (None, None) if secret_expires.is_none() && name.is_none() && publisher.is_none() => {
            Ok(None)
        }
        (Some(_), None) => Err(ConfigError::Incomplete(
            "operator_app_client_id is set but operator_app_client_secret is not; give the \
             secret's value (best as MAILKEY_OPERATOR_APP_CLIENT_SECRET_FILE)"
                .into(),
        )),
        _ => Err(ConfigError::Incomplete(
            "the operator app's settings need operator_app_client_id and \
             operator_app_client_secret; set both, or remove the other operator_app_* settings"
                .into(),
        )),
    }
}

fn parse_client_id(raw: &str) -> Result<String, String> {
    match mailkey_app::rules::secret::check_client_id(raw) {
        None => Ok(raw.to_ascii_lowercase()),
        Some(note) => Err(note.message),
    }
}

fn parse_client_secret(raw: &str) -> Result<String, String> {
    match mailkey_app::rules::secret::check_client_secret(raw, false) {
        None => Ok(raw.to_string()),
        Some(note) => Err(note.message),
    }
}

fn parse_date(raw: &str) -> Result<String, String> {
    mailkey_app::rules::dates::Day::parse(raw)
        .map(|_| raw.to_string())
        .ok_or_else(|| format!("\"{raw}\" is not a date like 2027-06-30"))
}

fn parse_label(raw: &str) -> Result<String, String> {
    if raw.is_empty() || !mailkey_app::rules::operator_app::is_short_label(raw) {
        return Err("give a short name (1 to 80 characters, one line)".into());
    }
    Ok(raw.to_string())
}

/// A bearer token for /metrics: long enough not to be guessed, and sendable in a header. The
/// message never repeats it.
fn parse_metrics_token(raw: &str) -> Result<String, String> {
    let length = raw.chars().count();
    if length < 32 {
        return Err(format!(
            "the token has {length} characters; use at least 32 random ones (for example the \
             output of `openssl rand -hex 32`)"
        ));
    }
    if length > 512 || !raw.chars().all(|c| c.is_ascii_graphic()) {
        return Err(
            "the token must be at most 512 characters, letters, digits and punctuation without \
             spaces (for example the output of `openssl rand -hex 32`)"
                .into(),
        );
    }
    Ok(raw.to_string())
}

fn parse_listen(raw: &str) -> Result<SocketAddr, String> {
    if raw.is_empty() {
        return Err("it is empty; give an IP address and a port".into());
    }
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if raw.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "\"{raw}\" has no port; add one, as in \"{raw}:3000\""
        ));
    }
    if let Some((host, port)) = raw.rsplit_once(':') {
        if host.parse::<IpAddr>().is_err() && !host.starts_with('[') {
            return Err(format!(
                "\"{host}\" is not an IP address; listen takes a numeric address such as \
                 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"
            ));
        }
        if port.parse::<u16>().is_err() {
            return Err(format!("\"{port}\" is not a port number (0 to 65535)"));
        }
    }
    Err(format!("\"{raw}\" is not an IP address and port"))
}

fn parse_public_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("\"{raw}\" is not a URL ({e})"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "\"{raw}\" uses the scheme `{}`; use https:// (or http:// for localhost)",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err(format!("\"{raw}\" has no host name"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "\"{raw}\" has a path, query or fragment; give only scheme, host and port (Mailkey \
             must be served at the root of its host)"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it contains a user name or password; remove them".into());
    }
    Ok(url)
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("\"{raw}\" is not true or false")),
    }
}

fn parse_authority(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("\"{raw}\" is not a URL ({e})"))?;
    let local = is_local_host(&url);
    if url.scheme() != "https" && !(url.scheme() == "http" && local) {
        return Err(format!(
            "\"{raw}\" must use https:// (http:// is accepted only for a test server on localhost)"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "\"{raw}\" has a query or fragment; give only the base URL"
        ));
    }
    Ok(url)
}

fn parse_hosts(raw: &str) -> Result<Vec<String>, String> {
    raw.split([',', ' '])
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            if mailkey_app::rules::identifiers::is_host_name(h, false)
                || mailkey_app::rules::identifiers::is_ip_literal(h)
            {
                Ok(h.to_ascii_lowercase())
            } else {
                Err(format!(
                    "\"{h}\" is not a host name or IP address (no https://, port or path); give \
                     them separated by commas, e.g. mail.contoso.com, 192.0.2.10"
                ))
            }
        })
        .collect()
}

fn parse_ports(raw: &str) -> Result<crate::mail_test::MailPorts, String> {
    if raw.eq_ignore_ascii_case("any") {
        return Ok(crate::mail_test::MailPorts::Any);
    }
    raw.split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "\"{p}\" is not a port number (1 to 65535); give ports separated by commas, e.g. \
                 2525, 10993, or `any`"
            )),
        })
        .collect::<Result<Vec<u16>, String>>()
        .map(crate::mail_test::MailPorts::Standard)
}

fn parse_days(raw: &str) -> Result<u32, String> {
    match raw.parse::<u32>() {
        Ok(n) if (1..=3650).contains(&n) => Ok(n),
        _ => Err(format!("\"{raw}\" is not a number of days from 1 to 3650")),
    }
}

fn parse_lease(raw: &str) -> Result<std::time::Duration, String> {
    match raw.parse::<u64>() {
        Ok(n) if (5..=3600).contains(&n) => Ok(std::time::Duration::from_secs(n)),
        _ => Err(format!(
            "\"{raw}\" is not a number of seconds from 5 to 3600 (Microsoft may take seconds to \
             answer; too short a lease lets two instances refresh at once)"
        )),
    }
}

fn parse_retention(raw: &str) -> Result<u32, String> {
    match raw.parse::<u32>() {
        Ok(n) if (1..=3650).contains(&n) => Ok(n),
        _ => Err(format!("\"{raw}\" is not a number of days from 1 to 3650")),
    }
}

fn parse_grace(raw: &str) -> Result<std::time::Duration, String> {
    match raw.parse::<u64>() {
        Ok(n) if n <= 300 => Ok(std::time::Duration::from_secs(n)),
        _ => Err(format!(
            "\"{raw}\" is not a number of seconds from 0 to 300 (a load balancer's health check \
             interval times its failure threshold is enough)"
        )),
    }
}

fn parse_rate(raw: &str) -> Result<u32, String> {
    match raw.parse::<u32>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "\"{raw}\" is not a number of requests per second from 1 to 1000000"
        )),
    }
}

fn parse_dir(raw: &str) -> Result<PathBuf, String> {
    if raw.is_empty() {
        return Err("it is empty; give a directory path".into());
    }
    Ok(PathBuf::from(raw))
}

fn parse_log_format(raw: &str) -> Result<LogFormat, String> {
    match raw.to_ascii_lowercase().as_str() {
        "pretty" => Ok(LogFormat::Pretty),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!(
            "\"{raw}\" is not a log format; use `pretty` or `json`"
        )),
    }
}

fn parse_log_level(raw: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(raw)
        .map(|_| raw.to_string())
        .map_err(|e| format!("\"{raw}\" is not a log filter ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn toml_file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_apply_without_file_or_env() {
        let c = Config::load_from(None, &[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.public_url, None);
        assert_eq!(c.public_url_or(c.listen).as_str(), "http://127.0.0.1:3000/");
    }

    #[test]
    fn file_overrides_defaults_and_env_overrides_file() {
        let f =
            toml_file("listen = \"0.0.0.0:8080\"\nlog_format = \"json\"\ndata_dir = \"/srv/a\"\n");
        let c = Config::load_from(Some(f.path()), &env(&[("MAILKEY_DATA_DIR", "/srv/b")])).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.data_dir, PathBuf::from("/srv/b"));
    }

    #[test]
    fn unrelated_environment_variables_are_ignored() {
        let c = Config::load_from(None, &env(&[("HOME", "/root"), ("LISTEN", "x")])).unwrap();
        assert_eq!(c.listen, "127.0.0.1:3000".parse().unwrap());
    }

    #[test]
    fn file_variant_reads_value_and_strips_the_trailing_newline() {
        let f = toml_file("https://mail.example.com\n");
        let c = Config::load_from(
            None,
            &env(&[("MAILKEY_PUBLIC_URL_FILE", f.path().to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(c.public_url.unwrap().as_str(), "https://mail.example.com/");
    }

    #[test]
    fn bad_listen_value_names_key_source_problem_and_example() {
        let err =
            Config::load_from(None, &env(&[("MAILKEY_LISTEN", "localhost:3000")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value for `listen` (environment variable MAILKEY_LISTEN): \"localhost\" is \
             not an IP address; listen takes a numeric address such as 127.0.0.1 (this machine \
             only) or 0.0.0.0 (every interface). Example: listen = \"127.0.0.1:3000\""
        );
    }

    #[test]
    fn listen_without_port_suggests_one() {
        let err = Config::load_from(None, &env(&[("MAILKEY_LISTEN", "127.0.0.1")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value for `listen` (environment variable MAILKEY_LISTEN): \"127.0.0.1\" has \
             no port; add one, as in \"127.0.0.1:3000\". Example: listen = \"127.0.0.1:3000\""
        );
    }

    #[test]
    fn listen_with_bad_port() {
        let err =
            Config::load_from(None, &env(&[("MAILKEY_LISTEN", "127.0.0.1:99999")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("\"99999\" is not a port number (0 to 65535)"),
            "{err}"
        );
    }

    #[test]
    fn bad_value_in_file_names_the_file() {
        let f = toml_file("log_format = \"xml\"\n");
        let err = Config::load_from(Some(f.path()), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid value for `log_format` (file {}): \"xml\" is not a log format; use \
                 `pretty` or `json`. Example: log_format = \"json\"",
                f.path().display()
            )
        );
    }

    #[test]
    fn unknown_key_in_file_is_refused_with_the_known_keys() {
        let f = toml_file("listen_addr = \"127.0.0.1:3000\"\n");
        let err = Config::load_from(Some(f.path()), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "unknown setting `listen_addr` in file {}. Known settings: listen, public_url, \
                 data_dir, database_url, site_dir, master_key, microsoft_authority, sandbox, sandbox_file, \
                 sandbox_url, tls_ca_file, allow_private_hosts, mail_hosts, mail_ports, \
                 attention_keep_alive_days, refresh_lease_seconds, api_requests_per_second, audit_retention_days, shutdown_grace_seconds, metrics_listen, \
                 metrics_token, operator_app_client_id, \
                 operator_app_client_secret, operator_app_secret_expires, operator_app_name, \
                 operator_app_publisher, log_format, log_level. Check the spelling (keys use \
                 snake_case, e.g. `public_url`)",
                f.path().display()
            )
        );
    }

    #[test]
    fn unknown_environment_variable_with_our_prefix_is_refused() {
        let err = Config::load_from(None, &env(&[("MAILKEY_LISTN", "127.0.0.1:1")])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("unknown setting `MAILKEY_LISTN` in environment variable MAILKEY_LISTN. Known settings: MAILKEY_LISTEN, MAILKEY_PUBLIC_URL"), "{msg}");
    }

    #[test]
    fn table_value_is_refused() {
        let f = toml_file("[listen]\nhost = \"x\"\n");
        let err = Config::load_from(Some(f.path()), &[]).unwrap_err();
        assert!(err.to_string().starts_with("`listen` in file"), "{err}");
        assert!(
            err.to_string()
                .ends_with("Example: listen = \"127.0.0.1:3000\""),
            "{err}"
        );
    }

    #[test]
    fn invalid_toml_is_reported_with_the_path() {
        let f = toml_file("listen = \n");
        let err = Config::load_from(Some(f.path()), &[]).unwrap_err();
        assert!(matches!(err, ConfigError::FileSyntax { .. }), "{err:?}");
        assert!(err.to_string().contains(&f.path().display().to_string()));
    }

    #[test]
    fn named_config_file_that_is_missing_stops_start_up() {
        let err = Config::load_from(Some(Path::new("/nonexistent/mailkey.toml")), &[]).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot read the configuration file /nonexistent/mailkey.toml"));
    }

    #[test]
    fn env_and_file_variant_together_are_refused() {
        let err = Config::load_from(
            None,
            &env(&[("MAILKEY_DATA_DIR", "/a"), ("MAILKEY_DATA_DIR_FILE", "/b")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "both MAILKEY_DATA_DIR and MAILKEY_DATA_DIR_FILE are set; keep only one of them"
        );
    }

    #[test]
    fn the_readme_documents_every_setting() {
        let readme = include_str!("../../README.md");
        for s in SETTINGS {
            let row = format!("| `{}` | `{}` |", s.key, env_var_of(s.key));
            assert!(
                readme.contains(&row),
                "README's configuration table lacks {row}"
            );
        }
    }

    #[test]
    fn the_operator_app_needs_its_id_and_secret_together() {
        let id = "8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a93";
        let c = Config::load_from(
            None,
            &env(&[
                ("MAILKEY_OPERATOR_APP_CLIENT_ID", id),
                (
                    "MAILKEY_OPERATOR_APP_CLIENT_SECRET",
                    "Xk28Q~f1bN3pVqz9Lr.4hT7wYc_2mJd5sGe8uAo",
                ),
                ("MAILKEY_OPERATOR_APP_NAME", "Acme ERP"),
            ]),
        )
        .unwrap();
        let app = c.operator_app.unwrap();
        assert_eq!(app.client_id, id);
        assert_eq!(app.name.as_deref(), Some("Acme ERP"));
        assert!(
            !format!("{app:?}").contains("Xk28Q"),
            "the secret is never printed"
        );

        let err = Config::load_from(None, &env(&[("MAILKEY_OPERATOR_APP_CLIENT_ID", id)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("operator_app_client_secret is not"), "{err}");
        let err = Config::load_from(
            None,
            &env(&[
                ("MAILKEY_OPERATOR_APP_CLIENT_ID", id),
                (
                    "MAILKEY_OPERATOR_APP_CLIENT_SECRET",
                    "0b6c7c37-5a1e-4a57-9a59-6d1f3b5c2e10",
                ),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("Secret ID"),
            "a secret ID is named as one: {err}"
        );
        assert!(!err.contains("0b6c7c37"), "and not echoed: {err}");
        assert!(Config::load_from(None, &env(&[]))
            .unwrap()
            .operator_app
            .is_none());
    }

    #[test]
    fn sandbox_file_is_its_own_setting_not_a_file_variant() {
        let env = vec![
            ("MAILKEY_SANDBOX".to_string(), "1".to_string()),
            (
                "MAILKEY_SANDBOX_FILE".to_string(),
                "/etc/mailkey/sandbox.toml".to_string(),
            ),
        ];
        let c = Config::load_from(None, &env).unwrap();
        assert!(c.sandbox);
        assert_eq!(
            c.sandbox_file,
            Some(PathBuf::from("/etc/mailkey/sandbox.toml"))
        );
        let bad = vec![("MAILKEY_SANDBOX".to_string(), "maybe".to_string())];
        let err = Config::load_from(None, &bad).unwrap_err().to_string();
        assert!(err.contains("\"maybe\" is not true or false"), "{err}");
    }

    #[test]
    fn unreadable_secret_file_names_variable_and_path() {
        let err = Config::load_from(None, &env(&[("MAILKEY_PUBLIC_URL_FILE", "/nonexistent/x")]))
            .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot read MAILKEY_PUBLIC_URL_FILE (file /nonexistent/x):"));
    }

    #[test]
    fn public_url_rules() {
        let bad = |v: &str| {
            Config::load_from(None, &env(&[("MAILKEY_PUBLIC_URL", v)]))
                .unwrap_err()
                .to_string()
        };
        assert!(bad("mailkey.example.com").contains("is not a URL"));
        assert!(bad("ftp://mailkey.example.com").contains("uses the scheme `ftp`"));
        assert!(bad("https://mailkey.example.com/portal").contains("has a path, query or fragment"));
        assert!(bad("https://u:p@mailkey.example.com").contains("user name or password"));
    }

    #[test]
    fn plain_http_public_url_warns_unless_local() {
        let c = Config::load_from(None, &[]).unwrap();
        let remote = Url::parse("http://mailkey.example.com").unwrap();
        let w = c.warnings(&remote);
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("public_url http://mailkey.example.com/ is plain http"));
        for local in [
            "http://localhost:3000",
            "http://127.0.0.1:3000",
            "https://x.example",
        ] {
            assert!(
                c.warnings(&Url::parse(local).unwrap()).is_empty(),
                "{local}"
            );
        }
    }

    #[test]
    fn mail_hosts_take_names_and_ip_addresses() {
        let c = Config::load_from(
            None,
            &env(&[(
                "MAILKEY_MAIL_HOSTS",
                "mail.contoso.com, 192.0.2.10, [2001:db8::1]",
            )]),
        )
        .unwrap();
        assert_eq!(
            c.mail_hosts,
            ["mail.contoso.com", "192.0.2.10", "[2001:db8::1]"]
        );
        let err = Config::load_from(None, &env(&[("MAILKEY_MAIL_HOSTS", "https://mail.x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a host name or IP address"), "{err}");
    }

    #[test]
    fn bad_log_level_is_explained() {
        let err = Config::load_from(None, &env(&[("MAILKEY_LOG_LEVEL", "info,mailkey=loud")]))
            .unwrap_err();
        assert!(
            err.to_string().starts_with("invalid value for `log_level`"),
            "{err}"
        );
    }

    #[test]
    fn an_own_sandbox_and_a_standalone_one_are_refused_together() {
        let env = [
            ("MAILKEY_SANDBOX".to_string(), "true".to_string()),
            (
                "MAILKEY_SANDBOX_URL".to_string(),
                "http://127.0.0.1:4000".to_string(),
            ),
        ];
        let err = Config::load_from(None, &env).unwrap_err().to_string();
        assert!(err.contains("Keep one of them"), "{err}");
        let plain = Config::load_from(None, &env[1..]).unwrap();
        assert_eq!(
            plain.sandbox_url.unwrap().as_str(),
            "http://127.0.0.1:4000/"
        );
        let remote = [(
            "MAILKEY_SANDBOX_URL".to_string(),
            "http://sandbox.example.com".to_string(),
        )];
        let err = Config::load_from(None, &remote).unwrap_err().to_string();
        assert!(err.contains("https://"), "{err}");
    }
}
