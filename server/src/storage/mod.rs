//! Persistence. Callers see [`Store`] and typed records only, decoded here once: never SQL,
//! sqlx types, JSON columns or strings standing for enums, and one error for a row this version
//! cannot read ([`StorageError::Corrupt`]).
//!
//! Storage is reached through one narrow interface per area ([`AccountStore`], [`DraftStore`],
//! [`SignInStore`], [`ApiKeyStore`], [`OperatorSessionStore`], [`ConnectSessionStore`],
//! [`TestHistoryStore`], [`LiveTestStore`], [`OperatorAppStore`], [`OrganisationStore`],
//! [`WebhookOutbox`], [`RevisionStore`], [`AuditStore`], [`MasterKeyStore`]), each implemented
//! once per database: [`SqliteStore`] in the data directory (one instance, the default) and
//! [`PgStore`] (several instances on one database). A service that needs one area holds just that
//! (`Arc<dyn ApiKeyStore>`); [`Store`] is the whole database.
//!
//! Every query is written once, in SQL both understand (`$1` placeholders, standard functions;
//! [`Dialect`] where they differ), and [`per_database!`] compiles it into each database's
//! implementation, with sqlx's own driver and types (not its `Any` driver). What truly differs
//! is written once per database by hand ([`Database`], [`RevisionStore`]).

#[macro_use]
mod dispatch;

mod accounts;
mod api_keys;
mod audit;
mod connect_sessions;
mod connection_tests;
mod drafts;
mod live_tests;
mod location;
mod master_keys;
mod notice_mails;
mod operator;
mod operator_apps;
mod organisations;
mod revision;
mod sign_in;
mod webhooks;

use std::{path::Path, str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

pub use accounts::{AccountFilter, AccountStore, Cursor};
pub use api_keys::{ApiKeyRecord, ApiKeyStore, NewApiKey};
pub use audit::{ActorKind, AuditFilter, AuditRecord, AuditStore, FieldNames, NewAuditEvent};
pub use connect_sessions::{
    ConnectSessionRecord, ConnectSessionStore, Launch, NewConnectSession, SessionMode, TicketUse,
};
pub use connection_tests::{TestFailure, TestHistoryStore, TestRunRecord};
use dispatch::{Dialect, Tx};
pub use drafts::{
    AppSaved, AppUpdate, DraftRecord, DraftStore, Inserted, MailboxSaved, MailboxUpdate,
    NewDraftRecord,
};
pub use live_tests::{LiveTestStore, TestBudget};
pub use location::{DatabaseLocation, LocationError, SecretUrl};
pub use master_keys::{HeldKey, KeyCount, MasterKeyStore, RowKey, SealedColumn, SealedValue};
pub use notice_mails::{DueNoticeMail, NoticeAttempt, NoticeMailRecord, NoticeMailStore};
pub use operator::{OperatorSessionStore, SessionRecord};
pub use operator_apps::{OperatorAppRecord, OperatorAppStore};
pub use organisations::{
    new_organisation_id, Deleted, OrganisationRecord, OrganisationStore, DEFAULT_ORGANISATION,
};
pub use revision::{Heard, RevisionFeed, RevisionStore};
pub use sign_in::{
    AttemptRecord, Claim, LatestOutcome, Lease, NewAttempt, Refreshed, SharedToken, SignInMode,
    SignInPurpose, SignInStore,
};
pub use webhooks::{
    AttemptOutcome, Backlog, DeliveryRecord, DueDelivery, EndpointRecord, EndpointUpdate,
    EventRecord, NewEndpointRecord, NewEvent, NoticeSubject, WebhookOutbox,
};

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "mailkey.sqlite3";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    /// `database` never holds a password (see [`DatabaseLocation`]'s display).
    #[error("cannot open the database {database}: {source}")]
    Open {
        database: String,
        source: sqlx::Error,
    },
    #[error(
        "the database {database} has schema version {found}, newer than this Mailkey knows \
         (up to {known}): a newer Mailkey wrote it. Run that version (or newer), or restore a \
         backup taken with this one"
    )]
    SchemaNewer {
        database: String,
        found: i64,
        known: i64,
    },
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(sqlx::Error),
    #[error("the database holds a value this version does not understand: {0}")]
    Corrupt(String),
    #[error("a value cannot be written to the database: {0}")]
    Encode(String),
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for StorageError {
    /// A column that does not decode (an enum's unknown name, say) is the one unreadable-row
    /// error, wherever it is read.
    fn from(e: sqlx::Error) -> StorageError {
        match e {
            sqlx::Error::ColumnDecode { .. } => StorageError::Corrupt(e.to_string()),
            e => StorageError::Query(e),
        }
    }
}

/// A JSON column's value as its type: the one place a stored value is read back from JSON.
/// `what` names the value for the error (the account and the column).
fn decode<T: serde::de::DeserializeOwned>(
    text: Option<&str>,
    what: impl FnOnce() -> String,
) -> Result<Option<T>, StorageError> {
    text.map(serde_json::from_str)
        .transpose()
        .map_err(|e| StorageError::Corrupt(format!("{}: {e}", what())))
}

/// A value for a JSON column. Today's stored types are plain data and always serialise; one
/// that cannot (a map with non-string keys, say) is an error, never a crash mid-write.
fn encode<T: serde::Serialize>(value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|e| StorageError::Encode(e.to_string()))
}

/// The handle every part of the server uses to read and write state: one of the two databases,
/// reached through the area interfaces it implements ([`AccountStore`], [`SignInStore`], …;
/// a caller imports the ones it uses). A service that needs one area only can hold just that
/// (`Arc<dyn AccountStore>`, say, through [`Store::backend`]).
#[derive(Clone)]
pub struct Store(Arc<dyn Backend>);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::ops::Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &(dyn Backend + 'static) {
        &*self.0
    }
}

/// Every area's interface: what one database implements.
pub trait Backend:
    Database
    + AccountStore
    + DraftStore
    + SignInStore
    + ApiKeyStore
    + OperatorSessionStore
    + ConnectSessionStore
    + TestHistoryStore
    + LiveTestStore
    + OperatorAppStore
    + OrganisationStore
    + WebhookOutbox
    + RevisionStore
    + AuditStore
    + MasterKeyStore
    + NoticeMailStore
    + testing::RawSql
    + std::fmt::Debug
{
}

impl<T> Backend for T where
    T: Database
        + AccountStore
        + DraftStore
        + SignInStore
        + ApiKeyStore
        + OperatorSessionStore
        + ConnectSessionStore
        + TestHistoryStore
        + LiveTestStore
        + OperatorAppStore
        + OrganisationStore
        + WebhookOutbox
        + RevisionStore
        + AuditStore
        + MasterKeyStore
        + NoticeMailStore
        + testing::RawSql
        + std::fmt::Debug
{
}

/// What the two databases do differently beyond their SQL: written once for each.
#[async_trait::async_trait]
pub trait Database: Send + Sync + std::fmt::Debug {
    /// Whether this is PostgreSQL, where several instances may share the database.
    fn is_postgres(&self) -> bool;

    /// SQLite's WAL index (`-shm`): its header changes with every commit, by any process.
    /// `None` on PostgreSQL, which has no such file.
    fn wal_index(&self) -> Option<std::path::PathBuf>;

    /// The SQLite database file (`None` on PostgreSQL).
    fn file(&self) -> Option<&Path>;

    /// The `revision` row (migration 0013): moves whenever an answer kept in memory may be
    /// stale.
    async fn revision(&self) -> Result<i64, StorageError>;

    /// Answers whether the database responds, for `/readyz`.
    async fn ping(&self) -> Result<(), StorageError>;

    async fn close(&self);
}

/// SQLite in the data directory: one instance (the default).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The database file (its write-ahead log is beside it).
    path: Arc<std::path::PathBuf>,
    /// Held, never used, until the store is closed: see `open_sqlite`.
    keep_open: Arc<std::sync::Mutex<Option<sqlx::SqliteConnection>>>,
}

/// PostgreSQL: several instances on one database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl Store {
    /// Opens (creating when missing) the SQLite database in `data_dir` and applies pending
    /// migrations: the default when no `database_url` is set.
    pub async fn open(data_dir: &Path) -> Result<Store, StorageError> {
        Store::connect(&DatabaseLocation::SqliteIn(data_dir.to_path_buf())).await
    }

    /// Opens the database at `location` and applies pending migrations.
    pub async fn connect(location: &DatabaseLocation) -> Result<Store, StorageError> {
        match location {
            DatabaseLocation::SqliteIn(dir) => open_sqlite(dir).await,
            DatabaseLocation::Postgres(options, _) => open_postgres(location, options).await,
        }
    }

    /// The database behind the handle, to hold one area of it (`Arc<dyn AccountStore>`).
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.0.clone()
    }
}

impl SqliteStore {
    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn begin(&self) -> Result<Tx, StorageError> {
        Ok(Tx::Sqlite(self.pool.begin().await?))
    }

    /// A transaction that reads, then writes what it read. SQLite takes its write lock at once,
    /// so a commit by another connection in between cannot fail the upgrade
    /// (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out).
    async fn begin_write(&self) -> Result<Tx, StorageError> {
        Ok(Tx::Sqlite(self.pool.begin_with("BEGIN IMMEDIATE").await?))
    }
}

impl PgStore {
    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn begin(&self) -> Result<Tx, StorageError> {
        Ok(Tx::Postgres(self.pool.begin().await?))
    }

    /// A transaction that reads, then writes what it read: it locks the rows read with
    /// [`Dialect::for_update`].
    async fn begin_write(&self) -> Result<Tx, StorageError> {
        self.begin().await
    }
}

#[async_trait::async_trait]
impl Database for SqliteStore {
    fn is_postgres(&self) -> bool {
        false
    }

    fn wal_index(&self) -> Option<std::path::PathBuf> {
        let mut shm = self.path.as_os_str().to_owned();
        shm.push("-shm");
        Some(shm.into())
    }

    fn file(&self) -> Option<&Path> {
        Some(&self.path)
    }

    async fn revision(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar("SELECT n FROM revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection, the one kept open too: SQLite then checkpoints and removes
    /// its write-ahead log before this returns, not whenever the last handle is dropped.
    async fn close(&self) {
        self.pool.close().await;
        let kept = crate::sync::lock(&self.keep_open).take();
        if let Some(connection) = kept {
            if let Err(e) = sqlx::Connection::close(connection).await {
                tracing::warn!(error = %e, "the database's kept connection did not close cleanly");
            }
        }
    }
}

#[async_trait::async_trait]
impl Database for PgStore {
    fn is_postgres(&self) -> bool {
        true
    }

    fn wal_index(&self) -> Option<std::path::PathBuf> {
        None
    }

    fn file(&self) -> Option<&Path> {
        None
    }

    async fn revision(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar("SELECT n FROM revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await
    }
}

async fn open_sqlite(data_dir: &Path) -> Result<Store, StorageError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StorageError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    restrict_permissions(data_dir);
    let path = data_dir.join(DATABASE_FILE);
    let display = path.display().to_string();
    let open_error = |source| StorageError::Open {
        database: display.clone(),
        source,
    };
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{display}"))
        .map_err(open_error)?
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
        .map_err(open_error)?;
    migrate(&SQLITE_MIGRATIONS, &pool, &display).await?;
    // One connection outside the pool stays open for the store's life: SQLite then keeps its
    // WAL index (`-shm`), whose header tells every commit apart (see `crate::freshness`); were
    // the last connection to close, the index would be made anew and could repeat an old
    // header. (Not in the pool, whose `close` would wait for it.)
    let keep_open = sqlx::ConnectOptions::connect(&options)
        .await
        .map_err(open_error)?;
    Ok(Store(Arc::new(SqliteStore {
        pool,
        keep_open: Arc::new(std::sync::Mutex::new(Some(keep_open))),
        path: Arc::new(path),
    })))
}

async fn open_postgres(
    location: &DatabaseLocation,
    options: &PgConnectOptions,
) -> Result<Store, StorageError> {
    let display = location.to_string();
    // One connection first, for its own error: the pool's would only say it timed out.
    let first = tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::ConnectOptions::connect(options),
    )
    .await
    .map_err(|_| StorageError::Unavailable(format!("{display} did not answer within 10 s: check that PostgreSQL runs there and that no firewall drops the connection")))?
    .map_err(|source| StorageError::Open {
        database: format!("{display} (check that PostgreSQL runs and listens there, and the URL's user, password and database)"),
        source,
    })?;
    sqlx::Connection::close(first).await.ok();
    let pool = PgPoolOptions::new()
        .max_connections(16)
        // A database that does not answer is said at start, not after the OS's TCP timeout.
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.clone())
        .await
        .map_err(|source| StorageError::Open {
            database: display.clone(),
            source,
        })?;
    migrate(&POSTGRES_MIGRATIONS, &pool, &display).await?;
    Ok(Store(Arc::new(PgStore { pool })))
}

/// Applies pending migrations; a database migrated by a newer Mailkey is refused by name
/// rather than run with a schema this version does not know.
async fn migrate<'a, A>(
    migrator: &sqlx::migrate::Migrator,
    db: A,
    display: &str,
) -> Result<(), StorageError>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    match migrator.run(db).await {
        Err(sqlx::migrate::MigrateError::VersionMissing(found)) => Err(StorageError::SchemaNewer {
            database: display.to_owned(),
            found,
            known: migrator.iter().map(|m| m.version).max().unwrap_or(0),
        }),
        other => Ok(other?),
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

/// Milliseconds since the Unix epoch: for leases, which last seconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// For the test suites, which run against both databases: the test command sets
/// `POSTGRES_TEST_SERVER` to a server of its own for the second run.
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// The variable naming the PostgreSQL server (a URL with a user that may create databases).
    /// (Not `MAILKEY_…`: Mailkey refuses settings it does not know, and the CLI tests start it.)
    pub const POSTGRES_VARIABLE: &str = "POSTGRES_TEST_SERVER";

    /// A database of its own for one test: SQLite in `dir`, or a fresh database on the server
    /// `POSTGRES_TEST_SERVER` names.
    pub async fn location(dir: &Path) -> DatabaseLocation {
        let url = postgres_database().await;
        DatabaseLocation::from_setting(url.as_deref(), dir).expect("a PostgreSQL URL")
    }

    /// A fresh database's URL when the suites run on PostgreSQL, else `None` (SQLite).
    pub async fn postgres_database() -> Option<String> {
        match std::env::var(POSTGRES_VARIABLE) {
            Ok(server) if !server.is_empty() => Some(fresh_postgres_database(&server).await),
            _ => None,
        }
    }

    /// The URL of a new, empty database on `server`.
    pub async fn fresh_postgres_database(server: &str) -> String {
        use rand::RngCore;
        let mut bytes = [0u8; 8];
        rand::rng().fill_bytes(&mut bytes);
        let name = format!(
            "mailkey_test_{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let mut admin: sqlx::PgConnection =
            sqlx::Connection::connect(server).await.unwrap_or_else(|e| {
                panic!("{POSTGRES_VARIABLE} names a server that cannot be reached: {e}")
            });
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        let _ = sqlx::Connection::close(admin).await;
        let mut url = url::Url::parse(server).expect("a URL");
        url.set_path(&name);
        url.to_string()
    }

    /// A store on a database of its own (see [`location`]).
    pub async fn store(dir: &Path) -> Store {
        Store::connect(&location(dir).await).await.unwrap()
    }

    /// SQL as written, for tests.
    #[async_trait::async_trait]
    pub trait RawSql: Send + Sync {
        /// Runs statements as written (several, `;`-separated; no parameters): for a test that
        /// puts a row into a state the code would never write.
        async fn execute_raw(&self, sql: &str);

        /// The one text value `sql` selects.
        async fn text_raw(&self, sql: &str) -> Option<String>;
    }

    per_database! {
        impl RawSql {
            async fn execute_raw(&self, sql: &str) {
                on_db!(self, pool => sqlx::raw_sql(sql).execute(pool).await.map(drop)).unwrap();
            }

            async fn text_raw(&self, sql: &str) -> Option<String> {
                on_db!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await).unwrap()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database a newer Mailkey migrated is refused by name at start, not run with a schema
    /// this version does not know.
    #[tokio::test]
    async fn a_schema_newer_than_this_version_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let url = testing::postgres_database().await;
        let location = DatabaseLocation::from_setting(url.as_deref(), dir.path()).unwrap();
        let store = Store::connect(&location).await.unwrap();
        let checksum = if store.is_postgres() {
            "'\\x00'::bytea"
        } else {
            "X'00'"
        };
        store
            .execute_raw(&format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                 execution_time) VALUES (9999, 'from a newer Mailkey', TRUE, {checksum}, 0)"
            ))
            .await;
        store.close().await;
        match Store::connect(&location).await {
            Err(e @ StorageError::SchemaNewer { found: 9999, .. }) => {
                let said = e.to_string();
                assert!(said.contains("newer than this Mailkey knows"), "{said}");
                assert!(said.contains(&location.to_string()), "{said}");
            }
            other => panic!("{other:?}"),
        }
    }
}
