//! The portal's home: the list of mailbox connections.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{AccountState, AccountSummary},
    error::PortalError,
    rules::{dates::Day, secret::saved_expiry_notice},
    server_fns::list_accounts,
};

#[component]
pub fn HomePage() -> impl IntoView {
    let accounts = Resource::new(|| (), |_| list_accounts());
    let deleted =
        leptos_router::hooks::use_query_map().with_untracked(|q| q.get("deleted").is_some());
    view! {
        <Title text="Mailboxes"/>
        {deleted.then(|| view! {
            <p class="alert alert-success" role="status" id="deleted-notice">"The account was deleted; Mailkey forgot its sign-in and secrets."</p>
        })}
        <Suspense fallback=|| view! { <p class="loading">"Loading mailboxes…"</p> }>
            {move || Suspend::new(async move {
                match accounts.await {
                    Ok(list) if list.is_empty() => view! { <EmptyState/> }.into_any(),
                    Ok(list) => view! { <AccountsList accounts=list/> }.into_any(),
                    Err(PortalError::NotSignedIn) => view! { <SignInRequired/> }.into_any(),
                    Err(e) => view! {
                        <section class="panel">
                            <h1>"Mailboxes"</h1>
                            <p class="alert alert-error" role="alert">{e.to_string()}</p>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn EmptyState() -> impl IntoView {
    view! {
        <section class="panel empty-state">
            <h1>"Connect your first mailbox"</h1>
            <p>
                "Mailkey walks you through registering an app in Microsoft Entra, signing in with \
                 the mailbox and proving it can send and receive, then keeps the connection alive \
                 for your business application."
            </p>
            <p class="hint">"Where this Mailkey has an app of its own, a mailbox connects with one sign-in; otherwise the wizard guides you through registering yours in Entra."</p>
            <a class="button button-primary" href="/accounts/new">"Connect your first mailbox"</a>
        </section>
    }
}

#[component]
fn AccountsList(accounts: Vec<AccountSummary>) -> impl IntoView {
    let only = leptos_router::hooks::use_query_map()
        .with_untracked(|q| q.get("organisation"))
        .filter(|o| !o.is_empty());
    // The organisations that have accounts, by name, for the filter.
    let mut organisations: Vec<(String, String)> = accounts
        .iter()
        .map(|a| (a.organisation_id.clone(), a.organisation_name.clone()))
        .collect();
    organisations.sort_by_cached_key(|(id, name)| (name.to_lowercase(), id.clone()));
    organisations.dedup();
    let several = organisations.len() > 1;
    let shown: Vec<AccountSummary> = accounts
        .into_iter()
        .filter(|a| only.as_ref().is_none_or(|o| *o == a.organisation_id))
        .collect();
    let filter = several.then(|| {
        let only = only.clone().unwrap_or_default();
        view! {
            <form method="get" action="/" class="organisation-filter">
                <label for="organisation-filter">"Organisation"</label>
                <select id="organisation-filter" name="organisation">
                    <option value="" selected=only.is_empty()>"All organisations"</option>
                    {organisations.into_iter().map(|(id, name)| {
                        let selected = id == only;
                        view! { <option value=id selected=selected>{name}</option> }
                    }).collect_view()}
                </select>
                <button type="submit" class="button button-secondary">"Show"</button>
            </form>
        }
    });
    let attention = attention_summary(&shown);
    let none_here = shown.is_empty().then(|| view! {
        <p class="empty-filter">"No mailboxes in this organisation. " <a href="/">"Show all"</a></p>
    });
    view! {
        <section class="panel">
            <div class="panel-head">
                <h1>"Mailboxes"</h1>
                <a class="button button-primary" href="/accounts/new">"New Microsoft 365 account"</a>
            </div>
            {filter}
            {attention}
            {none_here}
            <ul class="account-list">
                {shown
                    .into_iter()
                    .map(|a| view! { <AccountRow account=a/> })
                    .collect_view()}
            </ul>
        </section>
    }
}

/// One line above the list when mailboxes need a person: how many stopped working, how many
/// client secrets run out soon. The rows below say which and why.
fn attention_summary(accounts: &[AccountSummary]) -> Option<impl IntoView> {
    let stopped = accounts
        .iter()
        .filter(|a| a.state == AccountState::NeedsAttention)
        .count();
    let expiring = accounts
        .iter()
        .filter(|a| saved_expiry_notice(a.secret_expires.as_deref(), today()).is_some())
        .count();
    let mut parts = Vec::new();
    match stopped {
        0 => {}
        1 => parts.push("1 mailbox stopped working and needs you".to_string()),
        n => parts.push(format!("{n} mailboxes stopped working and need you")),
    }
    match expiring {
        0 => {}
        1 => parts.push("1 client secret expires within 30 days (or has expired)".to_string()),
        n => parts.push(format!(
            "{n} client secrets expire within 30 days (or have expired)"
        )),
    }
    (!parts.is_empty()).then(|| {
        let words = format!(
            "{}. The rows below say which, why and what to do.",
            parts.join("; ")
        );
        view! { <p class="alert alert-warning" role="status" id="attention-summary">{words}</p> }
    })
}

/// Today on the server: the list is rendered there only (it has no island).
fn today() -> Day {
    #[cfg(feature = "ssr")]
    return Day::today();
    #[cfg(not(feature = "ssr"))]
    return Day(0);
}

#[component]
fn AccountRow(account: AccountSummary) -> impl IntoView {
    let organisation = view! {
        <span class="account-organisation">{account.organisation_name.clone()}</span>
    };
    let state_class = format!("badge badge-{}", account.state.as_str());
    let attention = account.state != AccountState::Connected;
    let next = account
        .problem
        .clone()
        .unwrap_or_else(|| account.state.next_step().to_string());
    let expiry = saved_expiry_notice(account.secret_expires.as_deref(), today()).map(|n| {
        let class = if n.is_error() {
            "next-step expiry expiry-error"
        } else {
            "next-step expiry"
        };
        let words = match account.secret_expires.as_deref() {
            Some(d) if n.is_error() => format!("Client secret expired {d}"),
            Some(d) => format!("Client secret expires {d}"),
            None => String::new(),
        };
        let renew = crate::renew::renew_path(&account.id);
        view! { <a class=class href=renew>{words}" · renew"</a> }
    });
    let name = if account.name.trim().is_empty() {
        "Untitled draft".to_string()
    } else {
        account.name
    };
    let email = if account.email.trim().is_empty() {
        "No mailbox yet".to_string()
    } else {
        account.email
    };
    let href = match account.state {
        AccountState::Connected | AccountState::NeedsAttention => {
            format!("/accounts/{}", account.id)
        }
        _ => format!("/accounts/{}/setup", account.id),
    };
    view! {
        <li class="account-row">
            <div class="account-main">
                // Drafts open the wizard where they stopped; signed-in accounts their page.
                <a class="account-name" href=href>{name}</a>
                <span class="account-email">{email}</span>
                {organisation}
            </div>
            <div class="account-state">
                <span class=state_class>{account.state.label()}</span>
                {attention.then(|| view! { <span class="next-step">{next}</span> })}
                {expiry}
            </div>
        </li>
    }
}

/// What a visitor without an operator session sees: how to get in, never any data.
#[component]
pub fn SignInRequired() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::backend::set_status(401);
    view! {
        <section class="panel sign-in-required">
            <h1>"Sign in to Mailkey"</h1>
            <p>
                "This portal is for the operator of this Mailkey server. Sign in with the one-time \
                 setup link that Mailkey printed on its terminal when it started."
            </p>
            <p>"No link at hand? On the server, run:"</p>
            <pre class="command"><code>"mailkey admin link"</code></pre>
            <p class="hint">"Each link works once and expires after 24 hours."</p>
        </section>
    }
}
