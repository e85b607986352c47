//! Which database the `database_url` setting names.

use std::{fmt, path::PathBuf, str::FromStr};

use sqlx::postgres::PgConnectOptions;

/// The database a store opens. Its `Debug` is its display: sqlx's options would print the
/// password.
#[derive(Clone)]
pub enum DatabaseLocation {
    /// SQLite in this data directory (no `database_url`: one instance, nothing to set up).
    SqliteIn(PathBuf),
    /// A PostgreSQL database (`postgres://…`): several instances may share it.
    Postgres(Box<PgConnectOptions>, SecretUrl),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocationError {
    #[error(
        "database_url must start with postgres:// or postgresql:// (for example \
         postgres://mailkey@db.internal/mailkey); leave it unset for SQLite in the data directory"
    )]
    Scheme,
    #[error("database_url is not a valid PostgreSQL URL: {0}")]
    Invalid(String),
    #[error("database_url names no database: add it after the host, as in postgres://mailkey@db.internal/mailkey")]
    NoDatabase,
}

impl DatabaseLocation {
    /// The location `database_url` names; unset, SQLite in `data_dir`.
    pub fn from_setting(
        url: Option<&str>,
        data_dir: &std::path::Path,
    ) -> Result<DatabaseLocation, LocationError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(DatabaseLocation::SqliteIn(data_dir.to_path_buf()));
        };
        let parsed = url::Url::parse(url).map_err(|_| LocationError::Scheme)?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(LocationError::Scheme);
        }
        if parsed.path().trim_start_matches('/').is_empty() {
            return Err(LocationError::NoDatabase);
        }
        // sqlx's message may quote the URL: said without it, so a password never shows.
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| LocationError::Invalid(without_url(&e.to_string(), url)))?
            .application_name("mailkey");
        Ok(DatabaseLocation::Postgres(
            Box::new(options),
            SecretUrl(secrecy::SecretString::from(url.to_owned())),
        ))
    }
}

/// The URL as configured, password and all: kept for the tools that take a URL (a test's own
/// connection, `pg_dump`), never printed.
#[derive(Clone)]
pub struct SecretUrl(secrecy::SecretString);

impl SecretUrl {
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

fn without_url(message: &str, url: &str) -> String {
    message.replace(url, "(the URL)")
}

/// Said in logs and errors: the database's name and host, never a password.
impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseLocation::SqliteIn(dir) => {
                write!(f, "{}", dir.join(super::DATABASE_FILE).display())
            }
            DatabaseLocation::Postgres(o, _) => write!(
                f,
                "postgres://{}@{}:{}/{}",
                o.get_username(),
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("")
            ),
        }
    }
}

impl fmt::Debug for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseLocation({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn unset_is_sqlite_in_the_data_directory() {
        let l = DatabaseLocation::from_setting(None, Path::new("/srv/mk")).unwrap();
        assert!(matches!(l, DatabaseLocation::SqliteIn(ref d) if d == Path::new("/srv/mk")));
        assert_eq!(l.to_string(), "/srv/mk/mailkey.sqlite3");
        let blank = DatabaseLocation::from_setting(Some("  "), Path::new("/srv/mk")).unwrap();
        assert!(matches!(blank, DatabaseLocation::SqliteIn(_)));
    }

    #[test]
    fn a_postgres_url_is_said_without_its_password() {
        let l = DatabaseLocation::from_setting(
            Some("postgres://mk:s3cret-pw@db.internal:6432/mailkey"),
            Path::new("."),
        )
        .unwrap();
        assert_eq!(l.to_string(), "postgres://mk@db.internal:6432/mailkey");
        assert!(!format!("{l:?}").contains("s3cret-pw"), "{l:?}");
    }

    #[test]
    fn other_urls_are_refused_with_the_fix() {
        for bad in ["mysql://db/mk", "db.internal/mailkey", "sqlite://x.db"] {
            assert_eq!(
                DatabaseLocation::from_setting(Some(bad), Path::new(".")).unwrap_err(),
                LocationError::Scheme,
                "{bad}"
            );
        }
        assert_eq!(
            DatabaseLocation::from_setting(Some("postgres://mk@db.internal"), Path::new("."))
                .unwrap_err(),
            LocationError::NoDatabase
        );
    }
}
