//! Renewing an account's client secret before it expires: paste the new value and its expiry,
//! test, done. The sign-in is kept (a new secret for the same app needs no new sign-in), and
//! refused values change nothing.

use leptos::prelude::*;

use crate::{
    error::PortalError,
    rules::{
        dates::Day,
        secret::{
            check_client_secret, MSG_EXPIRY_SHAPE, MSG_SECRET_IS_ID, MSG_SECRET_REQUIRED,
            MSG_SECRET_SPACES,
        },
    },
};

/// Why a renewal changed nothing. Carried in the page's address as a code (never as text, so a
/// crafted link cannot put words in Mailkey's mouth).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenewProblem {
    SecretMissing,
    SecretIsId,
    SecretSpaces,
    ExpiryMissing,
    ExpiryShape,
    Expired,
    /// The saved app details themselves need fixing (in the wizard's step 2).
    AppDetails,
}

impl RenewProblem {
    const ALL: [RenewProblem; 7] = [
        RenewProblem::SecretMissing,
        RenewProblem::SecretIsId,
        RenewProblem::SecretSpaces,
        RenewProblem::ExpiryMissing,
        RenewProblem::ExpiryShape,
        RenewProblem::Expired,
        RenewProblem::AppDetails,
    ];

    pub fn code(self) -> &'static str {
        match self {
            RenewProblem::SecretMissing => "secret_missing",
            RenewProblem::SecretIsId => "secret_is_id",
            RenewProblem::SecretSpaces => "secret_spaces",
            RenewProblem::ExpiryMissing => "expiry_missing",
            RenewProblem::ExpiryShape => "expiry_shape",
            RenewProblem::Expired => "expired",
            RenewProblem::AppDetails => "app_details",
        }
    }

    pub fn from_code(code: &str) -> Option<RenewProblem> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            RenewProblem::SecretMissing => MSG_SECRET_REQUIRED,
            RenewProblem::SecretIsId => MSG_SECRET_IS_ID,
            RenewProblem::SecretSpaces => MSG_SECRET_SPACES,
            RenewProblem::ExpiryMissing => {
                "Enter the new secret's expiry date (the Expires column next to it under \
                 Certificates & secrets) so Mailkey can remind you before this one stops too."
            }
            RenewProblem::ExpiryShape => MSG_EXPIRY_SHAPE,
            RenewProblem::Expired => {
                "That date is in the past: Microsoft refuses an expired secret (AADSTS7000222). \
                 Create a new secret and enter the expiry Entra shows for it."
            }
            RenewProblem::AppDetails => {
                "The account's other app details need fixing first: open its settings (the \
                 wizard's step 2), where each field says what is wrong."
            }
        }
    }

    /// Which form field it is about (for `aria-describedby` and focus).
    pub fn field(self) -> &'static str {
        match self {
            RenewProblem::SecretMissing | RenewProblem::SecretIsId | RenewProblem::SecretSpaces => {
                "client_secret"
            }
            RenewProblem::ExpiryMissing | RenewProblem::ExpiryShape | RenewProblem::Expired => {
                "secret_expires"
            }
            RenewProblem::AppDetails => "client_secret",
        }
    }
}

/// The first problem with a renewal's values, checked as the wizard checks them; for a renewal
/// the expiry is required and may not be past.
pub fn check_renewal(secret: &str, expires: &str, today: Day) -> Option<RenewProblem> {
    if let Some(note) = check_client_secret(secret, false) {
        return Some(match note.message.as_str() {
            MSG_SECRET_IS_ID => RenewProblem::SecretIsId,
            MSG_SECRET_SPACES => RenewProblem::SecretSpaces,
            _ => RenewProblem::SecretMissing,
        });
    }
    let expires = expires.trim();
    if expires.is_empty() {
        return Some(RenewProblem::ExpiryMissing);
    }
    match Day::parse(expires) {
        None => Some(RenewProblem::ExpiryShape),
        Some(day) if day.0 < today.0 => Some(RenewProblem::Expired),
        Some(_) => None,
    }
}

/// The renewal page's address.
pub fn renew_path(id: &str) -> String {
    format!("/accounts/{id}/renew-secret")
}

/// "Save the new secret" (a plain form): saves it with the account's other app details as they
/// are, keeping the sign-in, and leads back to the page, where the connection test proves it.
#[server(prefix = "/_fn", endpoint = "accounts/renew-secret")]
pub async fn renew_secret(
    id: String,
    #[server(default)] client_secret: String,
    #[server(default)] secret_expires: String,
) -> Result<(), PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    let back = renew_path(&id);
    if let Some(problem) = check_renewal(&client_secret, &secret_expires, Day::today()) {
        crate::backend::redirect(&format!("{back}?not_saved={}#renew-form", problem.code()));
        return Ok(());
    }
    let draft = backend.0.load_draft(&parts, id.clone()).await?;
    if draft.operator_app.is_some() {
        return Err(PortalError::Server(
            "This account signs in with this Mailkey's own app: its secret is renewed once, for \
             every such account, on the Settings page."
                .into(),
        ));
    }
    let mut app = draft.app;
    app.client_secret = client_secret;
    app.secret_expires = secret_expires.trim().to_string();
    match backend.0.save_app_details(&parts, id, app).await {
        Ok(_) => crate::backend::redirect(&format!("{back}?saved=1#test")),
        Err(PortalError::Invalid(_)) => crate::backend::redirect(&format!(
            "{back}?not_saved={}#renew-form",
            RenewProblem::AppDetails.code()
        )),
        Err(e) => return Err(e),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_needs_a_secret_value_and_a_future_expiry() {
        let today = Day::parse("2026-12-07").unwrap();
        let value = "Xk28Q~abcdefghijklmnopqrstuvwxyz0123456789";
        assert_eq!(check_renewal(value, "2027-12-01", today), None);
        assert_eq!(
            check_renewal("", "2027-12-01", today),
            Some(RenewProblem::SecretMissing)
        );
        assert_eq!(
            check_renewal("6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b", "2027-12-01", today),
            Some(RenewProblem::SecretIsId)
        );
        assert_eq!(
            check_renewal("Xk28Q~ab cd", "2027-12-01", today),
            Some(RenewProblem::SecretSpaces)
        );
        assert_eq!(
            check_renewal(value, "", today),
            Some(RenewProblem::ExpiryMissing)
        );
        assert_eq!(
            check_renewal(value, "01/12/2027", today),
            Some(RenewProblem::ExpiryShape)
        );
        assert_eq!(
            check_renewal(value, "2026-12-06", today),
            Some(RenewProblem::Expired)
        );
        for p in RenewProblem::ALL {
            assert_eq!(RenewProblem::from_code(p.code()), Some(p));
        }
        assert_eq!(RenewProblem::from_code("<script>"), None);
    }
}
