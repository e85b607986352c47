//! Organisations: the host's customers, each with the host's own `external_id`.

use super::{now, StorageError};

/// The organisation existing accounts were moved into.
pub const DEFAULT_ORGANISATION: &str = "org_default";

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrganisationRecord {
    pub id: String,
    pub external_id: String,
    pub name: String,
    /// Where notices about its mailboxes are e-mailed (none: not e-mailed).
    pub notice_email: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// How many accounts it has (a count, not a column).
    pub accounts: i64,
}

const SELECT: &str =
    "SELECT o.id, o.external_id, o.name, o.notice_email, o.created_at, o.updated_at, \
    (SELECT COUNT(*) FROM accounts a WHERE a.organisation_id = o.id) AS accounts \
    FROM organisations o";

/// What deleting an organisation did.
pub enum Deleted {
    Gone {
        accounts: i64,
    },
    NotFound,
    /// It still has accounts and they were not to be deleted with it.
    HasAccounts(i64),
}

/// A new organisation's ID: `org_` and 64 random bits in hex.
pub fn new_organisation_id() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 8];
    rand::rng().fill_bytes(&mut raw);
    format!(
        "org_{}",
        raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The host's organisations, which own accounts and keys.
#[async_trait::async_trait]
pub trait OrganisationStore: Send + Sync + std::fmt::Debug {
    /// Creates the organisation, or returns the one with this `external_id` (false: it existed).
    async fn create_organisation(
        &self,
        id: &str,
        external_id: &str,
        name: &str,
    ) -> Result<(OrganisationRecord, bool), StorageError>;

    /// Organisations visible to a caller restricted to `only` (every one when `None`).
    async fn organisations(
        &self,
        only: Option<&str>,
    ) -> Result<Vec<OrganisationRecord>, StorageError>;

    async fn organisation(
        &self,
        id: &str,
        only: Option<&str>,
    ) -> Result<Option<OrganisationRecord>, StorageError>;

    async fn organisation_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<OrganisationRecord>, StorageError>;

    async fn rename_organisation(&self, id: &str, name: &str) -> Result<bool, StorageError>;

    /// Sets (or with `None` clears) where its notices are e-mailed. False if there is none.
    async fn set_organisation_notice_email(
        &self,
        id: &str,
        address: Option<&str>,
    ) -> Result<bool, StorageError>;

    /// Deletes an organisation; with `with_accounts`, its accounts too (their secrets, sign-ins
    /// and history), else only when it has none.
    async fn delete_organisation(
        &self,
        id: &str,
        with_accounts: bool,
    ) -> Result<Deleted, StorageError>;

    /// Whether the account exists and a caller restricted to `only` may see it.
    async fn account_visible(&self, id: &str, only: Option<&str>) -> Result<bool, StorageError>;
}

per_database! {
    impl OrganisationStore {
        async fn create_organisation(
            &self,
            id: &str,
            external_id: &str,
            name: &str,
        ) -> Result<(OrganisationRecord, bool), StorageError> {
            let t = now();
            let created = on_db!(self, pool => sqlx::query(
                "INSERT INTO organisations (id, external_id, name, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (external_id) DO NOTHING",
            )
            .bind(id)
            .bind(external_id)
            .bind(name)
            .bind(t)
            .bind(t)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?
                == 1;
            let record = on_db!(self, pool => sqlx::query_as::<_, OrganisationRecord>(&format!("{SELECT} WHERE o.external_id = $1"))
                    .bind(external_id)
                    .fetch_one(pool)
                    .await)?;
            Ok((record, created))
        }

        async fn organisations(
            &self,
            only: Option<&str>,
        ) -> Result<Vec<OrganisationRecord>, StorageError> {
            Ok(
                on_db!(self, pool => sqlx::query_as::<_, OrganisationRecord>(&format!(
                "{SELECT} WHERE ($1 IS NULL OR o.id = $1) ORDER BY lower(o.name), o.id"
            ))
            .bind(only)
            .fetch_all(pool)
            .await)?,
            )
        }

        async fn organisation(
            &self,
            id: &str,
            only: Option<&str>,
        ) -> Result<Option<OrganisationRecord>, StorageError> {
            Ok(
                on_db!(self, pool => sqlx::query_as::<_, OrganisationRecord>(&format!(
                "{SELECT} WHERE o.id = $1 AND ($2 IS NULL OR o.id = $3)"
            ))
            .bind(id)
            .bind(only)
            .bind(only)
            .fetch_optional(pool)
            .await)?,
            )
        }

        async fn organisation_by_external_id(
            &self,
            external_id: &str,
        ) -> Result<Option<OrganisationRecord>, StorageError> {
            Ok(
                on_db!(self, pool => sqlx::query_as::<_, OrganisationRecord>(&format!("{SELECT} WHERE o.external_id = $1"))
                    .bind(external_id)
                    .fetch_optional(pool)
                    .await)?,
            )
        }

        async fn rename_organisation(&self, id: &str, name: &str) -> Result<bool, StorageError> {
            let done = on_db!(self, pool => sqlx::query("UPDATE organisations SET name = $1, updated_at = $2 WHERE id = $3")
                .bind(name)
                .bind(now())
                .bind(id)
                .execute(pool)
                .await.map(|r| r.rows_affected()))?;
            Ok(done == 1)
        }

        async fn set_organisation_notice_email(
            &self,
            id: &str,
            address: Option<&str>,
        ) -> Result<bool, StorageError> {
            let done = on_db!(self, pool => sqlx::query(
                "UPDATE organisations SET notice_email = $1, updated_at = $2 WHERE id = $3",
            )
            .bind(address)
            .bind(now())
            .bind(id)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(done == 1)
        }

        async fn delete_organisation(
            &self,
            id: &str,
            with_accounts: bool,
        ) -> Result<Deleted, StorageError> {
            // Counts, then deletes: taken for writing at once. On PostgreSQL the organisation and
            // its keys are locked first, before anything that moves the revision row (the accounts'
            // delete does): a key revoked meanwhile holds its key and then the revision, so taking
            // them in that order too leaves no circle to wait in.
            let mut tx = self.begin_write().await?;
            let _: Option<String> = on_tx!(&mut tx, c, dialect => sqlx::query_scalar(&format!(
                "SELECT id FROM organisations WHERE id = $1{}",
                dialect.for_update()
            ))
            .bind(id)
            .fetch_optional(c)
            .await)?;
            let _: Vec<String> = on_tx!(&mut tx, c, dialect => sqlx::query_scalar(&format!(
                "SELECT id FROM api_keys WHERE organisation_id = $1 ORDER BY id{}",
                dialect.for_update()
            ))
            .bind(id)
            .fetch_all(c)
            .await)?;
            let accounts: i64 = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE organisation_id = $1")
                .bind(id)
                .fetch_one(c)
                .await)?;
            if accounts > 0 && !with_accounts {
                return Ok(Deleted::HasAccounts(accounts));
            }
            super::accounts::delete_accounts(
                &mut tx,
                super::accounts::Accounts::OfOrganisation(id),
                true,
            )
            .await?;
            // Keys restricted to it can reach nothing any more: they go with it (and the key table
            // refers to the organisation, so they must).
            on_tx!(&mut tx, c => sqlx::query("DELETE FROM api_keys WHERE organisation_id = $1")
                .bind(id)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            // So do webhook endpoints restricted to it, with their deliveries (the accounts'
            // `account.deleted` events still reach the endpoints of every organisation).
            on_tx!(&mut tx, c => sqlx::query("DELETE FROM webhook_endpoints WHERE organisation_id = $1")
                .bind(id)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            let gone = on_tx!(&mut tx, c => sqlx::query("DELETE FROM organisations WHERE id = $1")
                .bind(id)
                .execute(c)
                .await.map(|r| r.rows_affected()))?
                == 1;
            tx.commit().await?;
            Ok(if gone {
                Deleted::Gone { accounts }
            } else {
                Deleted::NotFound
            })
        }

        async fn account_visible(
            &self,
            id: &str,
            only: Option<&str>,
        ) -> Result<bool, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM accounts \
                   WHERE id = $1 AND ($2 IS NULL OR organisation_id = $2))",
            )
            .bind(id)
            .bind(only)
            .fetch_one(pool)
            .await)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::{testing, DatabaseLocation, Inserted, NewDraftRecord, Store};

    fn draft<'a>(id: &'a str, organisation_id: &'a str) -> NewDraftRecord<'a> {
        NewDraftRecord {
            id,
            provider: "microsoft365",
            app_source: mailkey_app::draft::AppSource::Own,
            organisation_id,
            external_id: None,
        }
    }

    /// An account is never made in an organisation that does not exist, nor in one deleted on
    /// another instance while the account is being made (PostgreSQL: the insert waits for the
    /// delete, then leaves the account out).
    #[tokio::test]
    async fn no_account_is_made_in_an_organisation_that_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let location = testing::location(dir.path()).await;
        let a = Store::connect(&location).await.unwrap();
        assert!(matches!(
            a.insert_draft(&draft("acc0", "org_never")).await.unwrap(),
            Inserted::NoOrganisation
        ));
        let (org, _) = a
            .create_organisation("org_gone", "ext-gone", "Gone Ltd")
            .await
            .unwrap();
        let DatabaseLocation::Postgres(..) = location else {
            return;
        };
        // Another instance deletes the organisation; its transaction is still open when this
        // one makes an account in it.
        let b = Store::connect(&location).await.unwrap();
        let url = match &location {
            DatabaseLocation::Postgres(_, url) => url.expose().to_owned(),
            _ => unreachable!(),
        };
        let mut other: sqlx::PgConnection = sqlx::Connection::connect(&url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut other).await.unwrap();
        sqlx::query("SELECT id FROM organisations WHERE id = $1 FOR UPDATE")
            .bind(&org.id)
            .execute(&mut other)
            .await
            .unwrap();
        sqlx::query("DELETE FROM organisations WHERE id = $1")
            .bind(&org.id)
            .execute(&mut other)
            .await
            .unwrap();
        let org_id = org.id.clone();
        let insert =
            tokio::spawn(async move { b.insert_draft(&draft("acc1", &org_id)).await.unwrap() });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!insert.is_finished(), "the insert waits for the delete");
        sqlx::query("COMMIT").execute(&mut other).await.unwrap();
        assert!(matches!(insert.await.unwrap(), Inserted::NoOrganisation));
        assert_eq!(
            a.text_raw("SELECT count(*)::text FROM accounts")
                .await
                .as_deref(),
            Some("0")
        );
    }
}
