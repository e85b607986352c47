//! "Test the connection" and "Folders": the last step of the wizard and a part of the account
//! page, shown once the mailbox is signed in.
//!
//! The server renders the latest run (its timeline, and the diagnosis when it failed) and the
//! folder mapping as a plain form. The only wasm is the Test button: it starts a run, draws each
//! stage live from the server's event stream, and reloads the page when the report is in (the
//! server has saved it by then). Without the wasm the button is a form post that waits for the
//! run and comes back to the page.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::{
    draft::Step,
    mail_test::{Diagnosis, Folder, Role, StageEvent, StageStatus, TestOverview, TestReport},
    server_fns::{connection_test, step_path},
};

use super::sign_in::when;

/// The section, loaded on its own so a slow history never holds up the sign-in part.
#[component]
pub fn ConnectionTestSection(id: String) -> AnyView {
    let overview = Resource::new(
        {
            let id = id.clone();
            move || id.clone()
        },
        connection_test,
    );
    view! {
        <section class="connection-test" id="connection-test" aria-labelledby="test-heading">
            <h2 id="test-heading">"Test the connection"</h2>
            <p>
                "Mailkey sends a message from the mailbox to itself over SMTP and waits for it to \
                 arrive, reading the mailbox as it is set up to be read (IMAP, which also lists \
                 its folders, or POP)."
            </p>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || {
                    let id = id.clone();
                    Suspend::new(async move {
                        match overview.await {
                            Ok(o) => view! { <Overview id=id overview=o/> }.into_any(),
                            Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
    .into_any()
}

#[component]
fn Overview(id: String, overview: TestOverview) -> AnyView {
    let label = if overview.latest.is_some() {
        "Test again"
    } else {
        "Test the connection"
    };
    let latest = overview
        .latest
        .clone()
        .map(|(at, report)| view! { <LatestRun id=id.clone() at=at report=report stale=overview.latest_stale/> });
    let (test, folders_refused) = use_query_map().with_untracked(|q| {
        (
            q.get("test"),
            q.get("folders").as_deref() == Some("not_saved"),
        )
    });
    let running = match test.as_deref() {
        Some("running") => Some(view! {
            <p class="alert alert-info" role="status">
                "A test of this account is still running. Reload this page in a minute to see its result."
            </p>
        }.into_any()),
        Some("limited") => Some(view! {
            <p class="alert alert-warning" role="status">
                "This account was tested five times in the last few minutes; each test sends a real message. Wait a minute, then test again."
            </p>
        }.into_any()),
        _ => None,
    };
    let folders = if overview.folders.is_empty() {
        folders_refused.then(|| view! {
            <p class="alert alert-error" role="alert" id="folders">
                "The folders were not saved: run the test until it passes, then choose from the folders it finds."
            </p>
        }.into_any())
    } else {
        Some(
            view! { <FolderForm id=id.clone() overview=overview.clone() refused=folders_refused/> }
                .into_any(),
        )
    };
    let earlier = (!overview.earlier.is_empty()).then(|| {
        let rows = overview
            .earlier
            .iter()
            .map(|r| {
                let result = match (&r.ok, &r.problem) {
                    (true, _) => "passed".to_string(),
                    (false, Some(p)) => format!("failed: {p}"),
                    (false, None) => "failed".to_string(),
                };
                view! { <li>{when(r.started_at)} " — " {result}</li> }
            })
            .collect_view();
        view! {
            <details class="earlier-runs">
                <summary>{format!("Earlier runs ({})", overview.earlier.len())}</summary>
                <ul>{rows}</ul>
            </details>
        }
    });
    view! {
        {running}
        {latest}
        {earlier}
        <TestButton id=id label=label.to_string()/>
        {folders}
    }
    .into_any()
}

#[component]
fn LatestRun(id: String, at: i64, report: TestReport, stale: bool) -> impl IntoView {
    let result = if report.ok {
        view! {
            <p class="alert alert-success" role="status">
                "Passed " {when(at)} ": the mailbox sent the test message and received it."
            </p>
        }
        .into_any()
    } else {
        view! {
            <p class="alert alert-error">"Failed " {when(at)} "."</p>
        }
        .into_any()
    };
    view! {
        // Focusable, so the page the live view reloads to (`#test-result`) starts reading here.
        <div class="test-result" id="test-result" tabindex="-1" data-result=if report.ok { "passed" } else { "failed" }>
            {result}
            {stale.then(|| view! {
                <p class="alert alert-warning" role="status">
                    "This run was made before the settings were last changed: test again to see whether the change fixed it."
                </p>
            })}
            <ol class="timeline">{report.stages.iter().map(stage_row).collect_view()}</ol>
            {report.diagnosis.map(|d| view! { <DiagnosisView id=id.clone() diagnosis=d/> })}
            // Both sides failed: each has its own explanation.
            {report.also.into_iter().map(|d| view! { <DiagnosisView id=id.clone() diagnosis=d/> }).collect_view()}
        </div>
    }
}

/// One stage of the timeline; the server and the live view draw it alike.
pub(crate) fn stage_row(e: &StageEvent) -> impl IntoView {
    let (class, status) = match e.status {
        StageStatus::Running => ("stage stage-running", "Running…"),
        StageStatus::Passed => ("stage stage-passed", "Passed"),
        StageStatus::Failed => ("stage stage-failed", "Failed"),
        StageStatus::Skipped => ("stage stage-skipped", "Not run"),
    };
    let took = matches!(e.status, StageStatus::Passed | StageStatus::Failed)
        .then(|| format!("{} ms", e.millis));
    view! {
        <li class=class>
            <span class="stage-label">{e.stage.label()}</span>
            <span class="stage-status">{status}</span>
            <span class="stage-time">{took}</span>
            {e.detail.clone().map(|d| view! { <span class="stage-detail">{d}</span> })}
        </li>
    }
}

#[component]
pub(super) fn DiagnosisView(
    id: String,
    diagnosis: Diagnosis,
    /// An example (in the checklist) rather than this account's failure: not an alert.
    #[prop(optional)]
    example: bool,
) -> impl IntoView {
    let step = diagnosis.step.and_then(Step::from_number);
    // Lands on the field at fault: the step's form focuses the field its address names.
    let field = diagnosis.field.clone();
    view! {
        <div class="alert alert-error diagnosis" role=(!example).then_some("alert")>
            <h3>{diagnosis.title}</h3>
            <p><strong>"What happened: "</strong>{diagnosis.what}</p>
            <p><strong>"Why: "</strong>{diagnosis.why}</p>
            <p><strong>"What to do: "</strong>{diagnosis.fix}</p>
            {step.map(|s| view! {
                <p class="problem-actions">
                    <a class="button button-secondary" href=format!("{}{}", step_path(&id, s), field.as_ref().map(|f| format!("#f-{f}")).unwrap_or_default())>{format!("Change it: {}", s.title())}</a>
                </p>
            })}
            {diagnosis.reply.map(|r| view! {
                <details><summary>"The server's reply"</summary><p><code>{r}</code></p></details>
            })}
        </div>
    }
}

/// The folder mapping, a plain form: every choice is one of the folders the test found.
#[component]
fn FolderForm(id: String, overview: TestOverview, refused: bool) -> impl IntoView {
    let saved_now =
        use_query_map().with_untracked(|q| q.get("folders").as_deref() == Some("saved"));
    let status = if refused {
        view! {
            <p class="alert alert-error" role="alert">
                "The folders were not saved: choose an Inbox, and only folders the latest test \
                 found. If the mailbox's folders changed, run the test again first."
            </p>
        }
        .into_any()
    } else if saved_now {
        view! { <p class="alert alert-success" role="status">"Folders saved."</p> }.into_any()
    } else if overview.mapping_saved {
        view! { <p>"These folders are saved. Change them and save again if the application should use others."</p> }.into_any()
    } else {
        view! {
            <p>
                "Mailkey pre-selected a folder for each purpose from the folders' flags and names. "
                "Check them and save."
            </p>
        }
        .into_any()
    };
    let rows = Role::ALL
        .iter()
        .map(|&role| {
            let chosen = overview.mapping.get(role).map(str::to_string);
            folder_select(role, &overview.folders, chosen)
        })
        .collect_view();
    view! {
        <form method="post" action="/_fn/accounts/folders" class="folder-mapping" id="folders" aria-labelledby="folders-heading">
            <h3 id="folders-heading">"Folders"</h3>
            {status}
            <input type="hidden" name="id" value=id/>
            <div class="folder-rows">{rows}</div>
            <button type="submit" class="button button-primary" id="save-folders">"Save folders"</button>
        </form>
    }
}

fn folder_select(role: Role, folders: &[Folder], chosen: Option<String>) -> impl IntoView {
    let name = format!("{role:?}").to_ascii_lowercase();
    let field = format!("folder-{name}");
    // Every mailbox has an Inbox; the other purposes may have no folder.
    let none = (role != Role::Inbox).then(|| {
        view! { <option value="" selected=chosen.is_none()>"None"</option> }
    });
    // A saved folder the latest test did not find stays visible, so saving again never swaps
    // it for another without saying so.
    let missing = chosen
        .clone()
        .filter(|c| !folders.iter().any(|f| &f.name == c))
        .map(|c| {
            let text = format!("{c} (not found by the latest test)");
            view! { <option value=c selected=true>{text}</option> }
        });
    let options = folders
        .iter()
        .map(|f| {
            let selected = chosen.as_deref() == Some(f.name.as_str());
            let text = match &f.special_use {
                Some(flag) => format!("{} (flagged {flag})", f.name),
                None => f.name.clone(),
            };
            view! { <option value=f.name.clone() selected=selected>{text}</option> }
        })
        .collect_view();
    view! {
        <div class="field">
            <label for=field.clone()>{role.label()}</label>
            <select id=field name=name required=role == Role::Inbox>{none}{missing}{options}</select>
        </div>
    }
}

/// The Test button and the live timeline.
#[island(lazy)]
fn TestButton(id: String, label: String) -> impl IntoView {
    let hydrated = crate::components::hydrated::marker();
    let stages = RwSignal::new(Vec::<StageEvent>::new());
    let running = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let action = format!("/accounts/{id}/tests");
    #[cfg(feature = "hydrate")]
    let on_submit = {
        let action = action.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            if running.get_untracked() {
                return;
            }
            running.set(true);
            stages.set(Vec::new());
            problem.set(None);
            leptos::task::spawn_local(live::run(action.clone(), stages, problem, running));
        }
    };
    #[cfg(not(feature = "hydrate"))]
    let on_submit = move |_: leptos::ev::SubmitEvent| {};
    // Screen readers hear one line per change (the latest stage), not the whole list again.
    let latest = move || {
        stages.with(|s| {
            s.last().map(|e| {
                let status = match e.status {
                    StageStatus::Running => "running",
                    StageStatus::Passed => "passed",
                    StageStatus::Failed => "failed",
                    StageStatus::Skipped => "not run",
                };
                format!("{}: {status}", e.stage.label())
            })
        })
    };
    view! {
        <form method="post" action=action class="test-action" data-hydrated=hydrated on:submit=on_submit>
            // `aria-disabled` rather than `disabled`: a disabled button would drop keyboard focus.
            <button type="submit" class="button button-primary" id="run-test" aria-disabled=move || running.get().then_some("true")>
                {move || if running.get() { "Testing…".to_string() } else { label.clone() }}
            </button>
        </form>
        <div class="live-test">
            <p class="visually-hidden" role="status">{latest}</p>
            <ol class="timeline" hidden=move || stages.with(Vec::is_empty)>
                {move || stages.with(|s| s.iter().map(stage_row).collect_view())}
            </ol>
            {move || problem.get().map(|p| view! { <p class="alert alert-error" role="alert">{p}</p> })}
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod live {
    //! Starts a run and follows its event stream.

    use futures_util::StreamExt;
    use gloo_net::{eventsource::futures::EventSource, http::Request};
    use leptos::prelude::*;
    use serde::Deserialize;

    use crate::mail_test::StageEvent;

    #[derive(Deserialize)]
    struct Started {
        run: String,
        events: String,
    }

    #[derive(Deserialize)]
    struct Refused {
        error: RefusedError,
    }

    #[derive(Deserialize)]
    struct RefusedError {
        message: String,
    }

    const UNREACHABLE: &str =
        "Mailkey's server could not be reached. Check the network and press Test again.";

    pub async fn run(
        start: String,
        stages: RwSignal<Vec<StageEvent>>,
        problem: RwSignal<Option<String>>,
        running: RwSignal<bool>,
    ) {
        if let Err(message) = follow(&start, stages).await {
            problem.set(Some(message));
            running.set(false);
        }
    }

    /// `Ok` once the report is in and the page is reloading.
    async fn follow(start: &str, stages: RwSignal<Vec<StageEvent>>) -> Result<(), String> {
        let response = Request::post(start)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|_| UNREACHABLE.to_string())?;
        if response.status() != 202 {
            let refused: Option<Refused> = response.json().await.ok();
            return Err(refused.map(|r| r.error.message).unwrap_or_else(|| {
                format!(
                    "Mailkey refused to start the test (HTTP {}). Reload the page and try again.",
                    response.status()
                )
            }));
        }
        let started: Started = response.json().await.map_err(|_| UNREACHABLE.to_string())?;
        let mut source = EventSource::new(&started.events).map_err(|_| UNREACHABLE.to_string())?;
        let stage = source
            .subscribe("stage")
            .map_err(|_| UNREACHABLE.to_string())?;
        let report = source
            .subscribe("report")
            .map_err(|_| UNREACHABLE.to_string())?;
        let mut events = futures_util::stream::select(stage, report);
        while let Some(next) = events.next().await {
            let Ok((kind, message)) = next else {
                // A dropped connection: the browser reconnects by itself and the server replays
                // the run from its start (rows are replaced by stage). Only a closed one is final.
                if source.state() == gloo_net::eventsource::State::Closed {
                    break;
                }
                continue;
            };
            if kind == "report" {
                source.close();
                // The server saved the run: its page shows it. A new query per run makes this a
                // real load even when the address only differed by its fragment, and drops notes
                // of earlier visits (`?folders=saved`).
                if let Some(w) = web_sys::window() {
                    let path = w.location().pathname().unwrap_or_default();
                    let _ = w
                        .location()
                        .set_href(&format!("{path}?run={}#test-result", started.run));
                }
                return Ok(());
            }
            let data = message.data().as_string().unwrap_or_default();
            if let Ok(e) = serde_json::from_str::<StageEvent>(&data) {
                stages.update(|all| {
                    match all.iter_mut().find(|s| s.stage == e.stage) {
                        Some(s) => *s = e,
                        None => all.push(e),
                    }
                    // SMTP and IMAP run side by side: drawn in the test's own order, as the
                    // finished report is, not in the order their events happened to arrive.
                    all.sort_by_key(|s| s.stage.order());
                });
            }
        }
        source.close();
        Err("The live view lost its connection to Mailkey; the test goes on. Reload the page in a minute to see its result.".into())
    }
}
