//! Starts a real Mailkey server on a free loopback port with its own temporary data directory.

#![allow(dead_code)]

pub mod contoso;
pub mod host;
pub mod mail_servers;
pub mod multi_tenant;
pub mod portal;
pub mod processes;
pub mod webhooks;

use std::net::SocketAddr;

use mailkey::{config::Config, Server};
use tokio::sync::oneshot;

/// The setting that points a restarted server (or the CLI) at a test server's database: none
/// for SQLite (it is in the data directory), `MAILKEY_DATABASE_URL` for PostgreSQL.
pub fn database_setting(url: &str) -> Vec<(String, String)> {
    if url.starts_with("postgres") {
        vec![("MAILKEY_DATABASE_URL".to_string(), url.to_string())]
    } else {
        Vec::new()
    }
}

pub struct TestServer {
    pub base: String,
    pub addr: SocketAddr,
    /// `metrics_listen`'s address, when set.
    pub metrics_addr: Option<SocketAddr>,
    pub data_dir: tempfile::TempDir,
    pub access: mailkey::auth::OperatorAccess,
    pub state: mailkey::state::AppState,
    /// The settings it runs with (public URL not set: it is the bound address).
    pub config: Config,
    /// Its database as a URL (`sqlite://…` or `postgres://…`), for a test's own look at it.
    pub database_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = tempfile::tempdir().unwrap();
        let env = vec![
            ("MAILKEY_LISTEN".to_string(), "127.0.0.1:0".to_string()),
            (
                "MAILKEY_DATA_DIR".to_string(),
                data_dir.path().display().to_string(),
            ),
            (
                "MAILKEY_SITE_DIR".to_string(),
                data_dir.path().join("no-site").display().to_string(),
            ),
        ];
        let mut config = Config::load_from(None, &env).unwrap();
        // The second run of the suites is on PostgreSQL: each server a database of its own.
        let postgres = mailkey::storage::testing::postgres_database().await;
        config.database =
            mailkey::storage::DatabaseLocation::from_setting(postgres.as_deref(), data_dir.path())
                .unwrap();
        adjust(&mut config);
        Self::start_in(data_dir, config).await
    }

    /// Starts on an existing data directory with these settings, as after a restart.
    pub async fn start_in(data_dir: tempfile::TempDir, config: Config) -> TestServer {
        let server = Server::prepare(&config).await.unwrap();
        let kept = config.clone();
        let addr = server.local_addr();
        let metrics_addr = server.metrics_addr();
        let access = server.operator_access().clone();
        let state = server.state().clone();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        let database_url = match &config.database {
            mailkey::storage::DatabaseLocation::Postgres(_, url) => url.expose().to_owned(),
            mailkey::storage::DatabaseLocation::SqliteIn(dir) => {
                format!("sqlite://{}", dir.join("mailkey.sqlite3").display())
            }
        };
        TestServer {
            database_url,
            base: format!("http://{addr}"),
            addr,
            metrics_addr,
            data_dir,
            access,
            state,
            config: kept,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Another instance on this one's database and master key, on a port of its own: as a
    /// second process behind the same load balancer would be.
    pub async fn another_instance(&self) -> TestServer {
        let mut config = self.config.clone();
        config.listen = "127.0.0.1:0".parse().unwrap();
        Self::start_in(tempfile::tempdir().unwrap(), config).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client that shows redirects instead of following them, and keeps no cookies.
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Signs in through a fresh setup link and returns the `Cookie` header value.
    pub async fn sign_in(&self) -> String {
        let link = self.access.new_setup_link().await.unwrap();
        let res = Self::client().get(link.as_str()).send().await.unwrap();
        assert_eq!(res.status(), 303, "setup link should redirect");
        let set_cookie = res.headers()["set-cookie"].to_str().unwrap();
        set_cookie.split(';').next().unwrap().to_string()
    }

    /// Stops the server gracefully and hands back its data directory for inspection.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        self.data_dir
    }
}

/// Reads a server-sent event stream until its `report`, noting when each event arrived.
pub async fn read_until_report(mut stream: reqwest::Response) -> Vec<(std::time::Instant, String)> {
    let mut text = String::new();
    let mut events = Vec::new();
    let read = async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                if event.starts_with("event:") {
                    events.push((std::time::Instant::now(), event.clone()));
                }
                if event.starts_with("event: report") {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), read)
        .await
        .expect("the run ends");
    events
}
