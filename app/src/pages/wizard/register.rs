//! Step 1: register the app in Entra, in our own words, with deep links and copy buttons.

use leptos::prelude::*;

use crate::{components::copy::CopyValue, provider::Provider};

#[component]
pub fn RegisterGuide(
    provider: &'static Provider,
    /// Known once step 2 was saved: links then open this app's own pages.
    client_id: Option<String>,
    redirect_uri: String,
) -> AnyView {
    let app_page = move |page: &str, fallback: String| match &client_id {
        Some(id) if !id.is_empty() => provider.app_page_link(id, page),
        _ => fallback,
    };
    let secrets_link = app_page("Credentials", provider.app_registrations_link());
    let permissions_link = app_page("CallAnAPI", provider.app_registrations_link());
    view! {
        <p class="lead">
            "Mailkey signs in to the mailbox through an app that you register in your own \
             Microsoft Entra tenant. Keep the Entra admin center open in another tab; each \
             mailbox gets its own app."
        </p>
        <ol class="guide">
            <li>
                <p>
                    "Open " <a href=provider.app_registrations_link() target="_blank" rel="noopener noreferrer">"App registrations in the Entra admin center"</a>
                    ". Sign in as at least an " <strong>"Application Developer"</strong> "."
                </p>
            </li>
            <li>
                <p>"Select " <a href=provider.new_registration_link() target="_blank" rel="noopener noreferrer"><strong>"New registration"</strong></a> " and fill in:"</p>
                <ul>
                    <li><strong>"Name"</strong>": one that says which mailbox it serves, e.g. “Mailkey – invoices@contoso.com”."</li>
                    <li><strong>"Supported account types"</strong>": “Accounts in this organizational directory only (Single tenant)”."</li>
                    <li>
                        <strong>"Redirect URI"</strong>": platform " <strong>"Web"</strong>
                        " (not “Single-page application”), and this address:"
                        <CopyValue value=redirect_uri label="redirect URI".to_string()/>
                    </li>
                </ul>
                <p>"Select " <strong>"Register"</strong> "."</p>
            </li>
            <li>
                <p>
                    "On the app's " <strong>"Overview"</strong> " page, note the "
                    <strong>"Application (client) ID"</strong> ", the " <strong>"Directory (tenant) ID"</strong>
                    " and the " <strong>"Display name"</strong> ": the next step asks for them."
                </p>
            </li>
            <li>
                <p>
                    "Open " <a href=secrets_link target="_blank" rel="noopener noreferrer"><strong>"Certificates & secrets"</strong></a>
                    ", select " <strong>"New client secret"</strong> ", choose an expiry and select " <strong>"Add"</strong> "."
                </p>
                <p class="callout">
                    "Copy the " <strong>"Value"</strong> " column, not the " <strong>"Secret ID"</strong>
                    ". Entra shows the value only once, right after you add it; also note the "
                    <strong>"Expires"</strong> " date."
                </p>
            </li>
            <li>
                <p>
                    "Open " <a href=permissions_link target="_blank" rel="noopener noreferrer"><strong>"API permissions"</strong></a>
                    ", select " <strong>"Add a permission"</strong> " → " <strong>"Microsoft Graph"</strong> " → "
                    <strong>"Delegated permissions"</strong> ", and add:"
                </p>
                <ul class="permissions">
                    <li><CopyValue value="offline_access".to_string() label="offline_access".to_string()/><span class="hint">"keeps the connection alive (refresh tokens)"</span></li>
                    <li><CopyValue value="IMAP.AccessAsUser.All".to_string() label="IMAP.AccessAsUser.All".to_string()/><span class="hint">"reads mail over IMAP"</span></li>
                    <li><CopyValue value="SMTP.Send".to_string() label="SMTP.Send".to_string()/><span class="hint">"sends mail over SMTP"</span></li>
                    <li><CopyValue value="POP.AccessAsUser.All".to_string() label="POP.AccessAsUser.All".to_string()/><span class="hint">"only if you use POP; not recommended"</span></li>
                </ul>
                <p class="hint">
                    "An administrator may select “Grant admin consent” so the mailbox owner is not \
                     asked to consent at sign-in."
                </p>
            </li>
        </ol>
    }
    .into_any()
}
