//! The `mailkey` command.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use mailkey::{
    auth::OperatorAccess,
    config::{Config, CONFIG_PATH_ENV},
    server::{shutdown_signal, Server},
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
    /// Operator tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
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

async fn serve(config: Config) -> Result<(), String> {
    telemetry::init(config.log_format, &config.log_level);
    let server = Server::prepare(&config).await.map_err(|e| e.to_string())?;
    server
        .announce_setup_link()
        .await
        .map_err(|e| e.to_string())?;
    server
        .run(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn admin_link(config: Config) -> Result<(), String> {
    let store = Store::open(&config.data_dir)
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
