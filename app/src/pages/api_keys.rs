//! `/api-keys`: the keys host applications call `/api/v1` with. Plain forms throughout (no wasm
//! needed); a new key's secret appears once, at the top, after it is made.

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api_keys::{api_keys, ApiKeyView, ApiKeysView, CreateApiKey, RevokeApiKey, SCOPES},
    components::copy::CopyValue,
    error::PortalError,
    pages::{home::SignInRequired, wizard::sign_in::when},
};

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let view = Resource::new(|| (), |_| api_keys());
    view! {
        <Title text="API keys"/>
        <Suspense fallback=|| view! { <p class="loading">"Loading the API keys…"</p> }>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(v) => view! { <ApiKeys view=v/> }.into_any(),
                    Err(PortalError::NotSignedIn) => view! { <SignInRequired/> }.into_any(),
                    Err(e) => view! {
                        <section class="panel">
                            <h1>"API keys"</h1>
                            <p class="alert alert-error" role="alert">{e.to_string()}</p>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ApiKeys(view: ApiKeysView) -> impl IntoView {
    let (not_saved, revoked) = use_query_map()
        .with_untracked(|q| (q.get("not_saved").is_some(), q.get("revoked").is_some()));
    let revealed = view.revealed.into_iter().map(|k| {
        view! {
            <div class="alert alert-success new-key" role="status">
                <p><strong>{format!("The key “{}” was made.", k.name)}</strong>" Copy it now: Mailkey keeps only its hash and will never show it again."</p>
                <CopyValue value=k.secret label="the API key".to_string()/>
                <p class="hint">"Give it to the host application's backend as a secret (an environment variable or a vault), never to a browser. It goes in every request as " <code>"Authorization: Bearer mk_live_…"</code> "."</p>
            </div>
        }
    }).collect_view();
    let organisations = view.organisations.clone();
    let active = view.keys.iter().filter(|k| k.revoked_at.is_none()).count();
    view! {
        <section class="panel" aria-labelledby="keys-heading">
            <h1 id="keys-heading">"API keys"</h1>
            <p class="lead">
                "A host application (your ERP, your helpdesk) uses a key to manage its customers' \
                 accounts and to get a fresh access token whenever it sends or reads mail. See "
                <a href="/api/v1/openapi.json">"the API's OpenAPI document"</a>" and the README's “Use it from your application”."
            </p>
            <div id="new-key">{revealed}</div>
            {revoked.then(|| view! {
                <p class="alert alert-success" role="status">"The key was revoked: every request with it is refused from now on, on every Mailkey instance."</p>
            })}
            {if view.keys.is_empty() {
                view! { <p class="empty-keys">"No keys yet."</p> }.into_any()
            } else {
                view! {
                    <p class="hint">{format!("{active} active of {}", view.keys.len())}</p>
                    <ul class="key-list">
                        {view.keys.into_iter().map(|k| view! { <KeyRow key=k/> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section class="panel" aria-labelledby="new-key-heading" id="new-key-form">
            <h2 id="new-key-heading">"New key"</h2>
            {not_saved.then(|| view! {
                <p class="alert alert-error" role="alert">
                    "No key was made: give it a name (1 to 80 characters), at least one permission, and an organisation that still exists."
                </p>
            })}
            <form method="post" action=CreateApiKey::url() class="key-form">
                <div class="field">
                    <label for="key-name">"Name"</label>
                    <input id="key-name" name="name" type="text" required maxlength="80" autocomplete="off" placeholder="Acme ERP production"/>
                    <p class="hint">"Who uses it, so you know which to revoke."</p>
                </div>
                <fieldset class="field">
                    <legend>"It may"</legend>
                    {SCOPES.iter().map(|(id, field, what)| {
                        let checked = *id == "tokens.issue";
                        view! {
                            <label class="choice">
                                <input type="checkbox" name=*field value="on" checked=checked/>
                                " " {*what} " " <code>{*id}</code>
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <div class="field">
                    <label for="key-organisation">"Organisations"</label>
                    <select id="key-organisation" name="organisation">
                        <option value="" selected>"Every organisation"</option>
                        {organisations.into_iter().map(|(id, name)| view! {
                            <option value=id>{format!("Only {name}")}</option>
                        }).collect_view()}
                    </select>
                    <p class="hint">"A key for one organisation sees nothing of the others, not even their IDs."</p>
                </div>
                <div class="step-nav">
                    <button type="submit" class="button button-primary">"Create key"</button>
                </div>
            </form>
        </section>
    }
}

#[component]
fn KeyRow(key: ApiKeyView) -> impl IntoView {
    let used = key.last_used_at.map_or_else(
        || "never used".to_string(),
        |t| format!("last used {}", when(t)),
    );
    let reach = key
        .organisation
        .clone()
        .map_or_else(|| "every organisation".to_string(), |o| format!("only {o}"));
    let state = match key.revoked_at {
        Some(t) => view! { <span class="badge badge-needs_attention">{format!("Revoked {}", when(t))}</span> }.into_any(),
        None => view! {
            <form method="post" action=RevokeApiKey::url() class="revoke-form">
                <input type="hidden" name="id" value=key.id.clone()/>
                <button type="submit" class="button button-secondary" aria-label=format!("Revoke {}", key.name)>"Revoke"</button>
            </form>
        }.into_any(),
    };
    view! {
        <li class="account-row key-row">
            <div class="account-main">
                <span class="account-name">{key.name.clone()}</span>
                <span class="account-email">
                    {key.scopes.join(", ")} " · " {reach} " · made " {when(key.created_at)} " · " {used}
                </span>
            </div>
            <div class="account-state">{state}</div>
        </li>
    }
}
