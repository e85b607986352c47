//! Where the admin is in the wizard: every step, the current one marked, saved ones linked.

use leptos::prelude::*;

use crate::{draft::Step, server_fns::step_path};

#[component]
pub fn Progress(
    current: Step,
    /// `None` before the draft exists (nothing to link to).
    id: Option<String>,
    saved_step: u8,
    /// On the operator's own app: no registration, details or redirect URI to show.
    #[prop(optional)]
    operator_app: bool,
) -> AnyView {
    let steps: Vec<Step> = if operator_app {
        vec![Step::Mailbox, Step::Review]
    } else {
        Step::ALL.to_vec()
    };
    let position = |step: Step| steps.iter().position(|s| *s == step).map_or(0, |i| i + 1);
    let count = format!("Step {} of {}", position(current), steps.len());
    let numbered: Vec<(usize, Step)> = steps.iter().map(|s| (position(*s), *s)).collect();
    view! {
        <nav class="progress" aria-label="Setup steps">
            <p class="progress-count">{count}</p>
            <ol class="steps">
                {numbered
                    .into_iter()
                    .map(|(number, step)| {
                        let state = if step == current {
                            "current"
                        } else if step.number() <= saved_step {
                            "done"
                        } else {
                            "todo"
                        };
                        // Any step up to the first unsaved one can be opened.
                        let reachable = step.number() <= saved_step + 1 && step != current;
                        let label = view! {
                            <span class="step-number" aria-hidden="true">{number}</span>
                            <span class="step-title">
                                <span class="step-long">{step.title()}</span>
                                <span class="step-short">{step.short()}</span>
                            </span>
                            {(state == "done").then_some(view! { <span class="visually-hidden">" (saved)"</span> })}
                        };
                        let aria_current = (step == current).then_some("step");
                        let content = match (&id, reachable) {
                            (Some(id), true) => view! { <a href=step_path(id, step)>{label}</a> }.into_any(),
                            _ => view! { <span>{label}</span> }.into_any(),
                        };
                        view! { <li class=format!("step step-{state}") aria-current=aria_current>{content}</li> }
                    })
                    .collect_view()}
            </ol>
        </nav>
    }
    .into_any()
}
