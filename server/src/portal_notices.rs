//! The settings page's notice e-mails: the sending mailbox (a connected account), where the
//! operator's own organisation gets notices, and the latest notices. Values are checked before
//! anything is written; a refused one changes nothing.

use mailkey_app::{
    api::AccountState,
    error::PortalError,
    notice_mail::{NoticeMailView, NoticeSettingsView, SenderChoice},
    rules::{mailbox::check_email, Findings, Level},
};

use crate::{
    storage::{StorageError, Store, DEFAULT_ORGANISATION},
    webhooks::payload::rfc3339,
};

/// How many notices the page lists.
const RECENT: i64 = 20;

fn storage(e: StorageError) -> PortalError {
    tracing::error!(error = %e, "notice settings: storage failed");
    PortalError::storage_unavailable()
}

/// `2026-12-07T23:51:32Z` as `2026-12-07 23:51 UTC`.
fn when(secs: i64) -> String {
    let t = rfc3339(secs);
    format!("{} {} UTC", &t[..10], &t[11..16])
}

async fn senders(store: &Store) -> Result<Vec<SenderChoice>, PortalError> {
    Ok(store
        .list_accounts()
        .await
        .map_err(storage)?
        .into_iter()
        .filter(|a| a.state == AccountState::Connected && !a.email.is_empty())
        .map(|a| SenderChoice {
            label: format!("{} <{}>", a.name, a.email),
            account_id: a.id,
        })
        .collect())
}

pub async fn view(store: &Store) -> Result<NoticeSettingsView, PortalError> {
    let own = store
        .organisation(DEFAULT_ORGANISATION, None)
        .await
        .map_err(storage)?;
    let recent = store
        .notice_mails(None, RECENT)
        .await
        .map_err(storage)?
        .into_iter()
        .map(|n| NoticeMailView {
            event_type: n.event_type,
            organisation_name: n.organisation_name,
            mailbox: n.mailbox.unwrap_or_default(),
            to_address: n.to_address,
            state: n.state,
            attempts: n.attempts,
            last_error: n.last_error,
            when: when(n.sent_at.unwrap_or(n.created_at)),
        })
        .collect();
    Ok(NoticeSettingsView {
        sender: store.notice_sender().await.map_err(storage)?,
        senders: senders(store).await?,
        own_address: own.and_then(|o| o.notice_email),
        recent,
    })
}

pub async fn save(store: &Store, sender: &str, own_address: &str) -> Result<(), PortalError> {
    let sender = Some(sender.trim()).filter(|s| !s.is_empty());
    let address = Some(own_address.trim()).filter(|a| !a.is_empty());
    let mut refused = Findings::default();
    if let Some(id) = sender {
        if !senders(store).await?.iter().any(|c| c.account_id == id) {
            refused.add(
                "sender",
                Some(mailkey_app::rules::Note::error(
                    "that mailbox is not connected, or no longer exists",
                )),
            );
        }
    }
    if let Some(a) = address {
        refused.add(
            "own_address",
            check_email(a, "notice address", true).filter(|n| n.level == Level::Error),
        );
    }
    if refused.has_errors() {
        return Err(PortalError::Invalid(refused));
    }
    store.set_notice_sender(sender).await.map_err(storage)?;
    store
        .set_organisation_notice_email(DEFAULT_ORGANISATION, address)
        .await
        .map_err(storage)?;
    Ok(())
}
