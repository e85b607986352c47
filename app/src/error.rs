//! The one error type of the portal's server functions. Every variant's text is safe to show:
//! the server logs details and sends only these words.

use leptos::server_fn::{codec::JsonEncoding, error::FromServerFnError, ServerFnError};
use serde::{Deserialize, Serialize};

use crate::rules::Findings;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum PortalError {
    #[error(
        "You are not signed in. Open the setup link printed in Mailkey's log, or run \
         `mailkey admin link` on the server to get a new one."
    )]
    NotSignedIn,
    /// Some values of a step are wrong: each field's message says what and how to fix it.
    #[error("Some values need fixing: see the messages next to the fields.")]
    Invalid(Findings),
    #[error("This account does not exist (any more). Go back to the list of mailboxes.")]
    NotFound,
    /// A failure on the server; the text says what the admin can do, never what broke inside.
    #[error("{0}")]
    Server(String),
    /// The call did not complete: network down, server restarting, or a malformed request.
    #[error("Mailkey's server could not be reached or did not understand the request ({0}). Reload the page and try again.")]
    Transport(String),
}

impl PortalError {
    pub fn storage_unavailable() -> PortalError {
        PortalError::Server(
            "Mailkey could not read its database. Try again in a moment; if it keeps happening, \
             the operator should check the server log."
                .into(),
        )
    }
}

impl FromServerFnError for PortalError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        PortalError::Transport(value.to_string())
    }
}

impl From<ServerFnError> for PortalError {
    fn from(value: ServerFnError) -> Self {
        PortalError::Transport(value.to_string())
    }
}
