//! Saving the setup steps that can change who an account signs in as (its app registration, its
//! mailbox). Each save runs under the account's token lock, so no refresh or sign-in can cache
//! the old identity's access token between the save and forgetting it. The portal's wizard and
//! the embedded one both save through here.

use mailkey_app::draft::{AppDetails, MailboxSettings};

use crate::{
    tokens::TokenKeeper,
    wizard::{DraftError, Saved, Wizard},
};

/// The application details (client ID, secret, tenant, expiry).
pub async fn save_app(
    wizard: &Wizard,
    tokens: &TokenKeeper,
    id: &str,
    values: AppDetails,
) -> Result<Saved, DraftError> {
    let flight = tokens.flight(id);
    let _turn = flight.lock().await;
    let saved = wizard.save_app(id, values).await?;
    if saved.disconnected {
        // Its cached access token is the old app's.
        tokens.forget(id);
        tracing::info!(account = %id, "app registration changed; the sign-in was removed");
    } else {
        // A new secret may be what a refused account was waiting for.
        tokens.wake_upkeep();
    }
    // Field names only: values (the secret above all) never reach the log.
    tracing::info!(account = %id, fields = "tenant,client_id,app_name,client_secret?,secret_expires,endpoints", "application details saved");
    Ok(saved)
}

/// The mailbox step (address, servers, folders).
pub async fn save_mailbox(
    wizard: &Wizard,
    tokens: &TokenKeeper,
    id: &str,
    values: MailboxSettings,
) -> Result<Saved, DraftError> {
    let flight = tokens.flight(id);
    let _turn = flight.lock().await;
    let saved = wizard.save_mailbox(id, values).await?;
    if saved.disconnected {
        // Its cached access token is the old mailbox's.
        tokens.forget(id);
        tracing::info!(account = %id, "mailbox address changed; the sign-in was removed");
    }
    tracing::info!(account = %id, "mailbox settings saved");
    Ok(saved)
}
