//! `/audit`: the audit trail, newest first, filtered by a plain GET form (no wasm needed); each
//! line's actor, organisation and account narrow the list to theirs.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    audit::{audit_trail, AuditLine, AuditQuery, AuditView},
    error::PortalError,
    pages::{home::SignInRequired, wizard::sign_in::when},
};

fn actor_label(kind: &str) -> &'static str {
    match kind {
        "operator" => "Operator",
        "api_key" => "API key",
        "connect_session" => "Embedded wizard",
        _ => "Link or token",
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let params = use_query_map();
    let query = move || {
        params.with(|q| {
            let text = |k: &str| {
                q.get(k)
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            AuditQuery {
                organisation: text("organisation"),
                account: text("account"),
                actor: text("actor"),
                before: q.get("before").and_then(|b| b.parse().ok()),
            }
        })
    };
    let trail = Resource::new(query, |q| {
        audit_trail(q.organisation, q.account, q.actor, q.before)
    });
    view! {
        <Title text="Audit trail"/>
        <Suspense fallback=|| view! { <p class="loading">"Loading the audit trail…"</p> }>
            {move || Suspend::new(async move {
                match trail.await {
                    Ok(v) => view! { <AuditTrail view=v query=query()/> }.into_any(),
                    Err(PortalError::NotSignedIn) => view! { <SignInRequired/> }.into_any(),
                    Err(e) => view! {
                        <section class="panel">
                            <h1>"Audit trail"</h1>
                            <p class="alert alert-error" role="alert">{e.to_string()}</p>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AuditTrail(view: AuditView, query: AuditQuery) -> impl IntoView {
    let filtered = query != AuditQuery::default();
    let option = |(id, name): (String, String), chosen: &Option<String>| {
        let selected = chosen.as_deref() == Some(id.as_str());
        view! { <option value=id selected=selected>{name}</option> }
    };
    let organisations = view
        .organisations
        .into_iter()
        .map(|o| option(o, &query.organisation))
        .collect_view();
    let actors = view
        .actors
        .into_iter()
        .map(|a| option(a, &query.actor))
        .collect_view();
    let older = view.older.map(|before| {
        AuditQuery {
            before: Some(before),
            ..query.clone()
        }
        .href()
    });
    let empty = view.lines.is_empty();
    let lines = view
        .lines
        .into_iter()
        .map(|line| view! { <AuditRow line=line query=query.clone()/> })
        .collect_view();
    view! {
        <section class="panel" aria-labelledby="audit-heading">
            <h1 id="audit-heading">"Audit trail"</h1>
            <p class="lead">
                "Every change made to this Mailkey, by whom and from where, and how many access \
                 tokens were handed out. Field names are listed, never their values."
            </p>
            <p class="hint">{format!("Lines are kept for {} days (the audit_retention_days setting). Host applications read the same lines at GET /api/v1/audit-events.", view.retention_days)}</p>
            <form method="get" action="/audit" class="audit-filter" aria-label="Filter the audit trail">
                <label>
                    "Organisation"
                    <select name="organisation">
                        <option value="">"Any"</option>
                        {organisations}
                    </select>
                </label>
                <label>
                    "Who"
                    <select name="actor">
                        <option value="">"Anyone"</option>
                        {actors}
                    </select>
                </label>
                <label>
                    "Account ID"
                    <input type="text" name="account" value=query.account.clone().unwrap_or_default()
                        placeholder="acc_…" autocomplete="off" spellcheck="false"/>
                </label>
                <button type="submit" class="button button-secondary">"Filter"</button>
                {filtered.then(|| view! { <a class="button button-quiet" href="/audit">"Clear"</a> })}
            </form>
            {if empty {
                view! { <p class="empty-audit">{if filtered { "No lines match." } else { "Nothing recorded yet." }}</p> }.into_any()
            } else {
                view! {
                    <table class="deliveries audit-table">
                            <thead>
                                <tr>
                                    <th scope="col">"When"</th>
                                    <th scope="col">"Who"</th>
                                    <th scope="col">"What"</th>
                                    <th scope="col">"Where"</th>
                                    <th scope="col">"From"</th>
                                </tr>
                            </thead>
                            <tbody>{lines}</tbody>
                    </table>
                }.into_any()
            }}
            {older.map(|href| view! { <p><a class="button button-quiet" href=href>"Older lines"</a></p> })}
        </section>
    }
}

#[component]
fn AuditRow(line: AuditLine, query: AuditQuery) -> impl IntoView {
    let narrowed = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            before: None,
            ..query.clone()
        };
        f(&mut q);
        q.href()
    };
    let who = match &line.actor_id {
        Some(id) => {
            let id = id.clone();
            let href = narrowed(&|q| q.actor = Some(id.clone()));
            view! { <a href=href>{line.actor_name.clone()}</a> }.into_any()
        }
        None => view! { <span>{line.actor_name.clone()}</span> }.into_any(),
    };
    let what = if line.count > 1 {
        format!(
            "{} ×{} (since {})",
            line.action,
            line.count,
            when(line.first_at)
        )
    } else {
        line.action.clone()
    };
    let fields = (!line.fields.is_empty()).then(|| {
        view! { <span class="audit-fields">{format!("fields: {}", line.fields.join(", "))}</span> }
    });
    let organisation = line.organisation.clone().map(|(id, name)| {
        let href = narrowed(&|q| q.organisation = Some(id.clone()));
        view! { <a href=href>{name}</a> }
    });
    let account = line.account_id.clone().map(|id| {
        let href = narrowed(&|q| q.account = Some(id.clone()));
        view! { " · " <a href=href><code>{id.clone()}</code></a> }
    });
    view! {
        <tr>
            <td>{when(line.at)}</td>
            <td><span class="hint">{actor_label(&line.actor_kind)}</span>" " {who}</td>
            <td><code>{what}</code>" " {fields}</td>
            <td>{organisation}{account}</td>
            <td>{line.address.clone().unwrap_or_default()}</td>
        </tr>
    }
}
