//! The `mailkey` command.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use mailkey::{
    auth::OperatorAccess,
    config::{Config, CONFIG_PATH_ENV},
    server::{shutdown_signal, Server, Services},
    storage::Store,
    telemetry,
};

/// Mailkey connects business applications to Microsoft 365 mailboxes over OAuth 2.0 and keeps
/// the connection alive.
#[derive(Parser)]
#[command(name = "mailkey", version, about, long_about = None)]
struct Cli {
    /// Configuration file (default: ./mailkey.toml when present). Also MAILKEY_CONFIG.
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Test an account's connection from this terminal: the same stages as the portal's Test,
    /// printed as they happen. Exits 0 only if the mailbox can send and receive.
    Test {
        /// The account: its ID (as in the portal's address, /accounts/<id>), name or e-mail
        /// address.
        account: String,
    },
    /// List the accounts: ID, state, e-mail address and name.
    Accounts,
    /// API keys for host applications.
    #[command(name = "api-key")]
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Serve only the sandbox identity provider (a stand-in for Microsoft, for tests and demos),
    /// on an address of its own, for several Mailkey instances to share: set their sandbox_url
    /// to its address. Its tenants come from sandbox_file, else a demo generated in data_dir.
    Sandbox {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:4000", value_name = "ADDR")]
        listen: std::net::SocketAddr,
        /// The Mailkey instances' public URL: their apps' redirect URI is
        /// <URL>/oauth/callback (default: the public_url setting).
        #[arg(long, value_name = "URL")]
        mailkey_url: Option<url::Url>,
        /// This sandbox's own address as the instances reach it (default: http://<ADDR>).
        #[arg(long, value_name = "URL")]
        public_url: Option<url::Url>,
    },
    /// Operator tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The master keys that seal client secrets and tokens at rest: rotate, see, retire.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Introduce a new master key: written into <data_dir>/master-keys/, made the key new
    /// values are sealed with once every running instance holds it, then every value is
    /// re-sealed with it. Old values open meanwhile; running instances need no restart.
    Rotate {
        /// Take the new key from this file (32 bytes in base64, as `openssl rand -base64 32`
        /// prints) instead of generating one; also how a rotation is finished after copying
        /// the key to other instances.
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
        /// How long to wait for running instances to take the new key in.
        #[arg(long, default_value_t = 20, value_name = "SECONDS")]
        wait: u64,
    },
    /// List the keys: which one new values are sealed with, which this instance holds, and how
    /// many stored values each still seals.
    Status,
    /// Retire a key nothing needs any more (refused while it is the primary key or seals any
    /// value). Instances let go of it; its file can then be deleted everywhere.
    Retire {
        /// The key's ID (16 hex digits, as `status` shows).
        id: String,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Make a key; it is printed once (only its hash is kept).
    Create {
        /// What the key is for, e.g. "Acme ERP production".
        #[arg(long)]
        name: String,
        /// What it may do: accounts.read, accounts.write, tokens.issue, webhooks.manage (repeat
        /// for several; default all four).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Restrict the key to one organisation, by the host's external ID.
        #[arg(long, value_name = "EXTERNAL_ID")]
        organisation: Option<String>,
    },
    /// List the keys: ID, name, scopes, created, last used, revoked.
    List,
    /// Revoke a key: refused from its next request on.
    Revoke {
        /// The key's ID (`key_…`, as `list` shows).
        id: String,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Print a fresh one-time link that signs the operator in to the portal.
    Link,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.config {
        Some(path) => {
            let env: Vec<(String, String)> = std::env::vars().collect();
            Config::load_from(Some(&path), &env)
        }
        None => Config::load(),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mailkey: configuration error: {e}");
            eprintln!("(settings come from built-in defaults, then {CONFIG_PATH_ENV} or ./mailkey.toml, then MAILKEY_* variables; see the README)");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mailkey: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Admin {
                command: AdminCommand::Link,
            } => admin_link(config).await,
            Command::Test { account } => test(config, &account).await,
            Command::Accounts => accounts(config).await,
            Command::ApiKey { command } => api_key(config, command).await,
            Command::Keys { command } => keys(config, command).await,
            Command::Sandbox {
                listen,
                mailkey_url,
                public_url,
            } => sandbox(config, listen, mailkey_url, public_url).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailkey: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn sandbox(
    config: Config,
    listen: std::net::SocketAddr,
    mailkey_url: Option<url::Url>,
    public_url: Option<url::Url>,
) -> Result<(), String> {
    telemetry::init(config.log_format, &config.log_level);
    let mailkey_url = mailkey_url.or(config.public_url).ok_or(
        "say which Mailkey signs in here: --mailkey-url https://mailkey.example.com (its public \
         URL; the sandbox's apps accept <URL>/oauth/callback), or set public_url",
    )?;
    let options = mailkey::sandbox::StandaloneOptions {
        public_url,
        mailkey_url,
        sandbox_file: config.sandbox_file,
        data_dir: config.data_dir,
        site_dir: config.site_dir,
    };
    let sandbox = mailkey::sandbox::Standalone::prepare(listen, options)
        .await
        .map_err(|e| e.to_string())?;
    sandbox
        .run(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn serve(config: Config) -> Result<(), String> {
    telemetry::init(config.log_format, &config.log_level);
    let server = Server::prepare(&config).await.map_err(|e| e.to_string())?;
    // A person at a terminal gets the link printed; a service or container (output not a
    // terminal, or JSON logs for a shipper) gets only the way to ask for one.
    let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && config.log_format == mailkey::config::LogFormat::Pretty;
    server
        .announce_setup_link(on_terminal)
        .await
        .map_err(|e| e.to_string())?;
    server
        .run(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn test(config: Config, account: &str) -> Result<(), String> {
    use mailkey_app::mail_test::StageStatus;

    let public_url = config.public_url_or(config.listen);
    let services = Services::open(&config, &public_url)
        .await
        .map_err(|e| e.to_string())?;
    let account = &resolve_account(&services.store, account).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<mailkey_app::mail_test::StageEvent>();
    let printer = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            let mark = match e.status {
                StageStatus::Running => continue,
                StageStatus::Passed => "ok  ",
                StageStatus::Failed => "FAIL",
                StageStatus::Skipped => "skip",
            };
            let detail = e.detail.map(|d| format!("  ({d})")).unwrap_or_default();
            println!("{mark} {:<38} {:>6} ms{detail}", e.stage.label(), e.millis);
        }
    });
    let (_, report) = services
        .connection_tests
        .run(account, Some(tx))
        .await
        .map_err(|e| format!("cannot test account {account}: {e}"))?;
    let _ = printer.await;
    match report.diagnosis {
        None => {
            println!(
                "\nThe mailbox can send and receive. Folders: {}",
                report
                    .folders
                    .iter()
                    .map(|f| match &f.special_use {
                        Some(u) => format!("{} ({u})", f.name),
                        None => f.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
        Some(d) => {
            println!(
                "\n{}\n  What happened: {}\n  Why: {}\n  What to do: {}",
                d.title, d.what, d.why, d.fix
            );
            if let Some(reply) = d.reply {
                println!("  The server said: {reply}");
            }
            Err("the connection test failed".into())
        }
    }
}

/// The one account `term` names (ID, name or address), or why there is none.
async fn resolve_account(store: &Store, term: &str) -> Result<String, String> {
    let found = store
        .accounts_matching(term)
        .await
        .map_err(|e| e.to_string())?;
    match found.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(format!(
            "no account has the ID, name or e-mail address \"{term}\"; `mailkey accounts` lists \
             them"
        )),
        several => Err(format!(
            "\"{term}\" names {} accounts; give one's ID:\n{}",
            several.len(),
            several
                .iter()
                .map(|a| format!("  {}  {}  {}", a.id, a.email, a.name))
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}

async fn accounts(config: Config) -> Result<(), String> {
    let store = Store::connect(&config.database)
        .await
        .map_err(|e| e.to_string())?;
    let list = store.list_accounts().await.map_err(|e| e.to_string())?;
    if list.is_empty() {
        eprintln!("No accounts yet: add one in the portal (`mailkey admin link` signs you in).");
        return Ok(());
    }
    println!("{:<20}  {:<16}  {:<32}  NAME", "ID", "STATE", "E-MAIL");
    for a in list {
        println!(
            "{:<20}  {:<16}  {:<32}  {}",
            a.id,
            a.state.label(),
            if a.email.is_empty() { "-" } else { &a.email },
            if a.name.is_empty() { "-" } else { &a.name }
        );
    }
    Ok(())
}

async fn api_key(config: Config, command: ApiKeyCommand) -> Result<(), String> {
    use mailkey::api_keys::{ApiKeys, Scope};
    let store = Store::connect(&config.database)
        .await
        .map_err(|e| e.to_string())?;
    // A revocation returns once running instances have taken it in.
    let keys = ApiKeys::new(
        store.clone(),
        mailkey::freshness::Freshness::new(store.clone()),
    );
    match command {
        ApiKeyCommand::Create {
            name,
            scopes,
            organisation,
        } => {
            let scopes = if scopes.is_empty() {
                Scope::ALL.to_vec()
            } else {
                scopes
                    .iter()
                    .map(|s| {
                        Scope::parse(s).ok_or_else(|| {
                            format!(
                                "\"{s}\" is not a scope; use one of: {}",
                                Scope::ALL.map(Scope::as_str).join(", ")
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?
            };
            let organisation = match organisation {
                None => None,
                Some(external) => Some(
                    store
                        .organisation_by_external_id(&external)
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| {
                            format!(
                                "no organisation has the external ID \"{external}\"; create it \
                                 first (POST /api/v1/organisations)"
                            )
                        })?
                        .id,
                ),
            };
            let (key, secret) = keys
                .create_for(&name, &scopes, organisation.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", secret.expose());
            eprintln!(
                "API key {} (\"{}\", {}) made. This is the only time it is shown: store it in \
                 your application's secrets now.",
                key.id,
                key.name,
                key.scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        ApiKeyCommand::List => {
            let when = |t: Option<i64>| t.map_or("-".to_string(), |t| t.to_string());
            println!(
                "{:<20}  {:<28}  {:<26}  {:<10}  {:<10}  REVOKED",
                "ID", "NAME", "SCOPES", "CREATED", "LAST USED"
            );
            for k in keys.list().await.map_err(|e| e.to_string())? {
                let scopes = mailkey::api_keys::scopes_of(&k)
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(",");
                println!(
                    "{:<20}  {:<28}  {:<26}  {:<10}  {:<10}  {}",
                    k.id,
                    k.name,
                    scopes,
                    k.created_at,
                    when(k.last_used_at),
                    when(k.revoked_at)
                );
            }
        }
        ApiKeyCommand::Revoke { id } => {
            if !keys.revoke(&id).await.map_err(|e| e.to_string())? {
                return Err(format!(
                    "no API key has the ID {id}; `mailkey api-key list` lists them"
                ));
            }
            eprintln!("API key {id} revoked: it is refused from its next request on.");
        }
    }
    Ok(())
}

async fn keys(config: Config, command: KeysCommand) -> Result<(), String> {
    use mailkey::{key_rotation::KeyRotation, secrets::MasterKey};
    let store = Store::connect(&config.database)
        .await
        .map_err(|e| e.to_string())?;
    let sealer = mailkey::server::open_secrets(&config, &store)
        .await
        .map_err(|e| e.to_string())?;
    let rotation = KeyRotation::new(store.backend(), sealer, &config.data_dir);
    match command {
        KeysCommand::Rotate { from_file, wait } => {
            let key = match from_file {
                None => None,
                Some(path) => {
                    let text =
                        zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
                            format!("cannot read the key file {}: {e}", path.display())
                        })?);
                    Some(MasterKey::from_base64(&text).map_err(|problem| {
                        format!("the key file {} cannot be used: {problem}", path.display())
                    })?)
                }
            };
            let (id, path, resealed) = rotation
                .rotate(key, std::time::Duration::from_secs(wait))
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "New values are sealed with master key {id} ({}).",
                path.display()
            );
            println!(
                "{} stored value(s) re-sealed with it. Back up {} with the database; `mailkey \
                 keys status` shows what each key still holds, and `mailkey keys retire ID` \
                 retires an old one once it holds nothing.",
                resealed.resealed,
                path.display()
            );
        }
        KeysCommand::Status => {
            let keys = rotation.status().await.map_err(|e| e.to_string())?;
            println!(
                "{:<18} {:<9} {:<9} {:>7}  VALUES",
                "KEY ID", "ROLE", "HELD HERE", "TOTAL"
            );
            for k in keys {
                let role = if k.primary {
                    "primary"
                } else if k.retired {
                    "retired"
                } else {
                    "previous"
                };
                let what = k
                    .values
                    .iter()
                    .map(|(what, n)| format!("{n} {what}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                println!(
                    "{:<18} {:<9} {:<9} {:>7}  {}",
                    k.key_id,
                    role,
                    if k.held_here { "yes" } else { "NO" },
                    k.total(),
                    what
                );
            }
            match rotation.check().await {
                Ok(n) => println!("All {n} stored values open with the keys held here."),
                Err(e) => return Err(e.to_string()),
            }
        }
        KeysCommand::Retire { id } => {
            rotation.retire(&id).await.map_err(|e| e.to_string())?;
            println!(
                "Master key {id} is retired: no value is sealed with it and instances let go of \
                 it within seconds. Delete its file ({}/{id}.key, or the key file it came from) \
                 on every instance.",
                rotation.keys_dir().display()
            );
        }
    }
    store.close().await;
    Ok(())
}

async fn admin_link(config: Config) -> Result<(), String> {
    let store = Store::connect(&config.database)
        .await
        .map_err(|e| e.to_string())?;
    let public_url = config.public_url_or(config.listen);
    let link = OperatorAccess::new(store, public_url)
        .new_setup_link()
        .await
        .map_err(|e| e.to_string())?;
    println!("{link}");
    eprintln!("This link signs in the operator once and expires in 24 hours.");
    Ok(())
}
