//! Expiry notices: a client secret that stops working soon is announced 30, 7 and 1 days
//! before (`account.client_secret_expiring` for an account's own app registration,
//! `operator_app.secret_expiring` for the operator's). Each threshold is sent once per expiry
//! date: a new date (a renewed secret) starts over.

use std::time::Duration;

use mailkey_app::{rules::dates::Day, webhooks::EventType};

use crate::storage::{NewEvent, NoticeSubject, StorageError, Store};

/// Days before the expiry date at which a notice goes out.
pub const THRESHOLDS: [i64; 3] = [30, 7, 1];
/// How often the secrets are looked at: a day's notice is never more than this late.
const EVERY: Duration = Duration::from_secs(3600);

/// The notice due `days_left` days before an expiry: the smallest threshold reached (a secret
/// entered 5 days before it expires gets the 7-day notice, not a late 30-day one too).
pub fn threshold(days_left: i64) -> Option<i64> {
    (days_left >= 0)
        .then(|| THRESHOLDS.into_iter().filter(|t| days_left <= *t).min())
        .flatten()
}

/// An expiry date (`YYYY-MM-DD`) due for a notice on `today`: the date, the days left and the
/// threshold reached.
fn due(expires: Option<&str>, today: Day) -> Option<(&str, i64, i64)> {
    let expires = expires?;
    let days_left = Day::parse(expires)?.0 - today.0;
    Some((expires, days_left, threshold(days_left)?))
}

#[derive(Clone)]
pub struct Notices {
    pub store: Store,
}

impl Notices {
    pub async fn run(self) {
        loop {
            if let Err(e) = self.round(Day::today()).await {
                tracing::error!(error = %e, "secret expiry notices could not be made");
            }
            tokio::time::sleep(EVERY).await;
        }
    }

    /// Records the notices due on `today`; how many.
    pub async fn round(&self, today: Day) -> Result<usize, StorageError> {
        let mut sent = 0;
        for account in self.store.list_accounts().await? {
            let Some((expires, days_left, t)) = due(account.secret_expires.as_deref(), today)
            else {
                continue;
            };
            let event = NewEvent {
                expires_on: Some(expires),
                days_left: Some(days_left),
                ..NewEvent::about(EventType::AccountSecretExpiring, &account.id)
            };
            let subject = (NoticeSubject::Account, account.id.as_str());
            sent += usize::from(self.record(subject, expires, t, &event).await?);
        }
        for app in self.store.operator_apps().await? {
            let Some((expires, days_left, t)) = due(app.secret_expires.as_deref(), today) else {
                continue;
            };
            let event = NewEvent {
                event_type: Some(EventType::OperatorAppSecretExpiring),
                reason_code: Some("operator_app"),
                reason: app.name.as_deref(),
                expires_on: Some(expires),
                days_left: Some(days_left),
                ..NewEvent::default()
            };
            let subject = (NoticeSubject::OperatorApp, app.provider.as_str());
            sent += usize::from(self.record(subject, expires, t, &event).await?);
        }
        Ok(sent)
    }

    async fn record(
        &self,
        (kind, id): (NoticeSubject, &str),
        expires: &str,
        threshold: i64,
        event: &NewEvent<'_>,
    ) -> Result<bool, StorageError> {
        self.store
            .record_expiry_notice(kind, id, expires, threshold, event)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_threshold_reached() {
        assert_eq!(threshold(31), None);
        assert_eq!(threshold(30), Some(30));
        assert_eq!(threshold(8), Some(30));
        assert_eq!(threshold(7), Some(7));
        assert_eq!(threshold(5), Some(7));
        assert_eq!(threshold(1), Some(1));
        assert_eq!(threshold(0), Some(1));
        assert_eq!(threshold(-1), None);
    }
}
