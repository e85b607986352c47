//! "Before signing in": what the tenant's admin must allow, with the exact steps, and what the
//! connection test says when an item is missing (the server builds both from the same code).

use leptos::prelude::*;

use crate::mail_test::Prerequisite;

use super::connection_test::DiagnosisView;

#[component]
pub fn Prerequisites(id: String, items: Vec<Prerequisite>) -> impl IntoView {
    let rows = items
        .into_iter()
        .map(|item| {
            let anchor = format!("prerequisite-{}", item.key);
            let missing = item.when_missing.map(|d| {
                view! {
                    <details>
                        <summary>"What the connection test says if this is missing"</summary>
                        <DiagnosisView id=id.clone() diagnosis=d example=true/>
                    </details>
                }
            });
            view! {
                <li id=anchor>
                    <strong>{item.title}</strong>
                    <p>{item.steps}</p>
                    {missing}
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="prerequisites" aria-labelledby="prerequisites-heading">
            <h3 id="prerequisites-heading">"Before signing in: what Microsoft 365 must allow"</h3>
            <p>"A Microsoft 365 admin checks these once for the mailbox; each takes a minute in the admin centers."</p>
            <ol class="checklist">{rows}</ol>
        </section>
    }
}
