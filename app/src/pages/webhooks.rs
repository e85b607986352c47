//! `/webhooks`: the host's webhook endpoints (made over the API) with their latest deliveries.
//! Plain forms: a test event and a redelivery work without the wasm.

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    error::PortalError,
    pages::{home::SignInRequired, wizard::sign_in::when},
    webhooks::{
        webhooks_page, DeliveryState, EndpointOverview, RedeliverWebhook, SendWebhookTest,
        WebhookDelivery, WebhooksView,
    },
};

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let view = Resource::new(|| (), |_| webhooks_page());
    view! {
        <Title text="Webhooks"/>
        <Suspense fallback=|| view! { <p class="loading">"Loading the webhooks…"</p> }>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(v) => view! { <Webhooks view=v/> }.into_any(),
                    Err(PortalError::NotSignedIn) => view! { <SignInRequired/> }.into_any(),
                    Err(e) => view! {
                        <section class="panel">
                            <h1>"Webhooks"</h1>
                            <p class="alert alert-error" role="alert">{e.to_string()}</p>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Webhooks(view: WebhooksView) -> impl IntoView {
    let queued = use_query_map().with_untracked(|q| q.get("queued"));
    let note = queued.map(|q| {
        let words = if q == "test" {
            "A test event is queued: it goes out within a few seconds."
        } else {
            "The event is queued again, with the same webhook-id."
        };
        view! { <p class="alert alert-success" role="status">{words}</p> }
    });
    view! {
        <section class="panel" aria-labelledby="webhooks-heading">
            <h1 id="webhooks-heading">"Webhooks"</h1>
            <p class="lead">
                "Where host applications hear about their accounts: connected, needs reconnect, \
                 test failed, secret expiring, deleted. Each delivery is signed (Standard \
                 Webhooks) and retried for about three days. Endpoints are made with the API ("
                <code>"POST /api/v1/webhook-endpoints"</code>", a key with " <code>"webhooks.manage"</code> ")."
            </p>
            {note}
            {if view.endpoints.is_empty() {
                view! { <p class="empty-keys">"No endpoints yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="webhook-list">
                        {view.endpoints.into_iter().map(|e| view! { <Endpoint e=e/> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Endpoint(e: EndpointOverview) -> impl IntoView {
    let ep = e.endpoint;
    let reach = e
        .organisation
        .map_or_else(|| "every organisation".to_string(), |o| format!("only {o}"));
    let types = ep.event_types.as_ref().map_or_else(
        || "every event".to_string(),
        |t| t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
    );
    let state = match (ep.enabled, ep.disabled_reason.as_deref()) {
        (true, _) => view! { <span class="badge badge-connected">"Enabled"</span> }.into_any(),
        (false, Some("gone")) => view! {
            <span class="badge badge-needs_attention">"Turned off: the receiver answered 410 Gone"</span>
        }.into_any(),
        (false, _) => view! { <span class="badge badge-draft">"Disabled"</span> }.into_any(),
    };
    let id = ep.id.clone();
    let deliveries = if e.deliveries.is_empty() {
        view! { <p class="hint">"Nothing sent yet."</p> }.into_any()
    } else {
        let rows = e
            .deliveries
            .into_iter()
            .map(|d| view! { <DeliveryRow endpoint=id.clone() d=d/> })
            .collect_view();
        view! {
            <table class="deliveries">
                <caption class="visually-hidden">{format!("Latest deliveries to {}", ep.url)}</caption>
                <thead><tr><th scope="col">"Event"</th><th scope="col">"State"</th><th scope="col">"Last attempt"</th><th scope="col"></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }.into_any()
    };
    view! {
        <li class="webhook-endpoint">
            <div class="account-main">
                <span class="account-name"><code>{ep.url.clone()}</code></span>
                <span class="account-email">
                    {(!ep.description.is_empty()).then(|| format!("{} · ", ep.description))}
                    {types} " · " {reach} " · made " {when(ep.created_at)}
                </span>
            </div>
            <div class="account-state">
                {state}
                <form method="post" action=SendWebhookTest::url() class="revoke-form">
                    <input type="hidden" name="endpoint" value=ep.id.clone()/>
                    <button type="submit" class="button button-secondary">"Send a test event"</button>
                </form>
            </div>
            {deliveries}
        </li>
    }
}

#[component]
fn DeliveryRow(endpoint: String, d: WebhookDelivery) -> impl IntoView {
    let state = match d.state {
        DeliveryState::Delivered => format!("Delivered ({} attempt(s))", d.attempts),
        DeliveryState::Pending if d.attempts == 0 => "Queued".to_string(),
        DeliveryState::Pending => format!(
            "Retrying: attempt {} failed; next {}",
            d.attempts,
            d.next_attempt_at.map(when).unwrap_or_default()
        ),
        DeliveryState::Failed => format!("Failed after {} attempt(s)", d.attempts),
        DeliveryState::Skipped => "Not sent (endpoint turned off)".to_string(),
    };
    let last = match (d.last_attempt_at, d.last_status, d.last_error.clone()) {
        (None, _, _) => "-".to_string(),
        (Some(t), Some(s), None) => format!("{}: HTTP {s}", when(t)),
        (Some(t), Some(s), Some(e)) => format!("{}: HTTP {s}, {e}", when(t)),
        (Some(t), None, Some(e)) => format!("{}: {e}", when(t)),
        (Some(t), None, None) => when(t),
    };
    // A pending one goes out by itself; sending it again would only queue a duplicate.
    let again = (d.state != DeliveryState::Pending).then(|| {
        view! {
            <form method="post" action=RedeliverWebhook::url()>
                <input type="hidden" name="endpoint" value=endpoint/>
                <input type="hidden" name="delivery" value=d.id.to_string()/>
                <button type="submit" class="button button-quiet">"Send again"</button>
            </form>
        }
    });
    view! {
        <tr>
            <td><code>{d.event_type.as_str()}</code><br/><span class="hint">{d.event_id.clone()}</span></td>
            <td>{state}</td>
            <td>{last}</td>
            <td>{again}</td>
        </tr>
    }
}
