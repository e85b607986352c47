//! Persistence. Callers see [`Store`] and plain Rust types only, never SQL or sqlx types, so a
//! Postgres backend (for several server instances) can be added beside SQLite without touching
//! them: its queries would live in modules of their own behind the same methods.

mod accounts;
mod api_keys;
mod connect_sessions;
mod connection_tests;
mod drafts;
mod operator;
mod operator_apps;
mod organisations;
mod sign_in;
mod webhooks;

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use accounts::{AccountFilter, Cursor};
pub use api_keys::{ApiKeyRecord, NewApiKey};
pub use connect_sessions::{
    ConnectSessionRecord, Launch, NewConnectSession, SessionMode, TicketUse,
};
pub use connection_tests::TestFailure;
pub use drafts::{
    AppSaved, AppUpdate, DraftRecord, Inserted, MailboxSaved, MailboxUpdate, NewDraftRecord,
};
pub use operator::SessionRecord;
pub use operator_apps::OperatorAppRecord;
pub use organisations::{new_organisation_id, Deleted, OrganisationRecord, DEFAULT_ORGANISATION};
pub use sign_in::{AttemptRecord, Claim, NewAttempt};
pub use webhooks::{
    AttemptOutcome, DeliveryRecord, DueDelivery, EndpointRecord, EndpointUpdate, EventRecord,
    NewEndpointRecord, NewEvent, NoticeSubject,
};

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "mailkey.sqlite3";

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the database holds a value this version does not understand: {0}")]
    Corrupt(String),
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
}

impl Store {
    /// The `revision` row (migration 0013): moves whenever an answer kept in memory may be stale.
    pub async fn revision(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar("SELECT n FROM revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await?)
    }
}

/// The handle every part of the server uses to read and write state.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// The database file (its write-ahead log is beside it).
    path: std::sync::Arc<std::path::PathBuf>,
    /// Held, never used: see `open`.
    _keep_open: std::sync::Arc<std::sync::Mutex<sqlx::SqliteConnection>>,
}

impl Store {
    /// Opens (creating when missing) the database in `data_dir` and applies pending migrations.
    pub async fn open(data_dir: &Path) -> Result<Store, StorageError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StorageError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        restrict_permissions(data_dir);
        let path = data_dir.join(DATABASE_FILE);
        let display = path.display().to_string();
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{display}"))
            .map_err(|source| StorageError::Open {
                path: display.clone(),
                source,
            })?
            .create_if_missing(true)
            // WAL lets `mailkey admin link` write while the server reads.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // A deleted account's sealed secrets are overwritten, not left in free pages.
            .pragma("secure_delete", "on")
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .map_err(|source| StorageError::Open {
                path: display,
                source,
            })?;
        MIGRATIONS.run(&pool).await?;
        // One connection outside the pool stays open for the store's life: SQLite then keeps
        // its WAL index (`-shm`), whose header tells every commit apart (see
        // `crate::freshness`); were the last connection to close, the index would be made anew
        // and could repeat an old header. (Not in the pool, whose `close` would wait for it.)
        let keep_open = sqlx::ConnectOptions::connect(&options)
            .await
            .map_err(|source| StorageError::Open {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Store {
            pool,
            _keep_open: std::sync::Arc::new(std::sync::Mutex::new(keep_open)),
            path: std::sync::Arc::new(path),
        })
    }

    /// SQLite's WAL index (`-shm`): its header changes with every commit, by any process.
    pub fn wal_index(&self) -> std::path::PathBuf {
        let mut shm = self.path.as_os_str().to_owned();
        shm.push("-shm");
        shm.into()
    }

    /// The database file.
    pub fn file(&self) -> &Path {
        &self.path
    }

    /// Answers whether the database responds, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The data directory holds keys and tokens: readable by Mailkey's user only.
fn restrict_permissions(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
            tracing::warn!(dir = %dir.display(), error = %e, "could not restrict the data directory to mode 0700");
        }
    }
}

/// Seconds since the Unix epoch: the one time format stored.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
