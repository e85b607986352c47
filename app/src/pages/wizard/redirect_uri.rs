//! Step 3: the exact redirect URI to add to the app, as Entra must hold it.

use leptos::prelude::*;

use crate::{components::copy::CopyValue, provider::Provider};

#[component]
pub fn RedirectGuide(
    provider: &'static Provider,
    client_id: String,
    redirect_uri: String,
    warning: Option<String>,
) -> AnyView {
    let auth_link = provider.app_page_link(&client_id, "Authentication");
    view! {
        <p class="lead">
            "Microsoft sends the mailbox owner back to Mailkey after sign-in, but only to an \
             address registered on the app. It must match exactly, to the last character."
        </p>
        <CopyValue value=redirect_uri label="redirect URI".to_string()/>
        {warning.map(|w| view! { <p class="alert alert-warning" role="status">{w}</p> })}
        <ol class="guide">
            <li>
                "Open the app's " <a href=auth_link target="_blank" rel="noopener noreferrer"><strong>"Authentication"</strong></a> " page in Entra."
            </li>
            <li>
                "If the address above is not listed under " <strong>"Web"</strong> ", select "
                <strong>"Add a platform → Web"</strong> " (not “Single-page application”: its sign-ins \
                 expire after 24 hours) and paste it."
            </li>
            <li>"Select " <strong>"Configure"</strong> " (or " <strong>"Save"</strong> ")."</li>
        </ol>
    }
    .into_any()
}
