//! One body of code per query, compiled once per database: [`per_database!`] implements an
//! area's trait for each database from one body, and [`on_db!`] and [`on_tx!`] hand that body
//! the concrete pool or connection.

use sqlx::{Postgres, Sqlite, Transaction};

use super::StorageError;

/// Where the two databases' SQL differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A table's row number, in insertion order, where it has no ID column of its own.
    pub(super) fn row_number(self) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "seq",
        }
    }

    /// The larger of two values (SQLite's two-argument `MAX`).
    pub(super) fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MAX",
            Dialect::Postgres => "GREATEST",
        }
    }

    /// Locks the rows a read-then-write transaction read. SQLite has no row locks: its
    /// `begin_write` holds the database's write lock from the start instead.
    pub(super) fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

impl Dialect {
    /// Takes the rows of `table` a queue's reader selects, passing over those another
    /// transaction is taking. SQLite has one writer at a time: nothing to pass over.
    pub(super) fn skip_locked(self, table: &str) -> String {
        match self {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres => format!(" FOR UPDATE OF {table} SKIP LOCKED"),
        }
    }

    /// Reads rows of `table` that a new row will refer to, so that one being deleted is waited
    /// for and then left out instead of failing the insert's foreign key. It blocks neither
    /// readers nor updates that keep the key. SQLite has one writer at a time: nothing to do.
    pub(super) fn key_share(self, table: &str) -> String {
        match self {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres => format!(" FOR KEY SHARE OF {table}"),
        }
    }
}

/// Implements an area's trait for both databases from one body (`impl Trait { … }`), and
/// helper methods both need (`impl { … }`): each copy is compiled against its own database's
/// pool, so each gets sqlx's own driver and types.
macro_rules! per_database {
    (impl $trait:ident { $($body:tt)* } $(impl { $($helpers:tt)* })?) => {
        #[async_trait::async_trait]
        impl $trait for $crate::storage::SqliteStore { $($body)* }
        #[async_trait::async_trait]
        impl $trait for $crate::storage::PgStore { $($body)* }
        $(
            impl $crate::storage::SqliteStore { $($helpers)* }
            impl $crate::storage::PgStore { $($helpers)* }
        )?
    };
}

/// Runs `$body` with `$pool` bound to the database's own pool (and `$dialect`, when named, to
/// its [`Dialect`]), inside a [`per_database!`] body.
macro_rules! on_db {
    ($store:expr, $pool:ident => $body:expr) => {
        on_db!($store, $pool, _dialect => $body)
    };
    ($store:expr, $pool:ident, $dialect:ident => $body:expr) => {{
        let $pool = $store.pool();
        #[allow(unused_variables)]
        let $dialect = $store.dialect();
        $body
    }};
}

/// [`on_db!`] inside a transaction: `$conn` is the transaction's connection.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        on_tx!($tx, $conn, _dialect => $body)
    };
    ($tx:expr, $conn:ident, $dialect:ident => $body:expr) => {
        match $tx {
            $crate::storage::dispatch::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                #[allow(unused_variables)]
                let $dialect = $crate::storage::dispatch::Dialect::Sqlite;
                $body
            }
            $crate::storage::dispatch::Tx::Postgres(t) => {
                let $conn = &mut **t;
                #[allow(unused_variables)]
                let $dialect = $crate::storage::dispatch::Dialect::Postgres;
                $body
            }
        }
    };
}

/// An open transaction on either database.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub(super) async fn commit(self) -> Result<(), StorageError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub(super) async fn rollback(self) -> Result<(), StorageError> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}
