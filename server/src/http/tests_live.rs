//! Connection tests over HTTP. `POST /accounts/{id}/tests` starts a run in the background (one
//! at a time per account) and answers `202` with where to watch it;
//! `GET /accounts/{id}/tests/{run}/events` streams it as server-sent events: a `stage` event
//! (JSON `StageEvent`) as each stage starts and ends, then one `report` (JSON `TestReport`, with
//! the diagnosis) when it is done. A run is watched only by the browser session that started it.

use crate::sync::lock;
use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Redirect, Response,
    },
    Extension, Json,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use mailkey_app::{
    api::ErrorBody,
    mail_test::{FolderMapping, StageEvent, TestReport},
};
use serde_json::json;
use tokio::sync::watch;

use super::error::HttpError;
use crate::{auth::OperatorSession, connection_tests::TestError, state::AppState};

/// How long a finished run can still be watched.
const KEEP_FINISHED: Duration = Duration::from_secs(600);

#[derive(Default)]
pub struct Run {
    account_id: String,
    session_hash: [u8; 32],
    events: Vec<StageEvent>,
    report: Option<TestReport>,
    finished_at: Option<Instant>,
}

/// A run and the signal that it changed.
type Watched = (Arc<Mutex<Run>>, watch::Receiver<u64>);

#[derive(Clone, Default)]
pub struct LiveTests {
    runs: Arc<Mutex<HashMap<String, Watched>>>,
    /// Tests started per account (besides the limit per client address on the route).
    per_account: super::limits::PerAccount,
}

impl LiveTests {
    /// Whether a test of the account is still going.
    pub fn is_running(&self, account_id: &str) -> bool {
        busy(&lock(&self.runs), account_id)
    }
}

fn busy(runs: &HashMap<String, Watched>, account_id: &str) -> bool {
    runs.values().any(|(r, _)| {
        let r = lock(r);
        r.account_id == account_id && r.report.is_none()
    })
}

impl std::fmt::Debug for LiveTests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTests").finish_non_exhaustive()
    }
}

/// A browser posting the Test form without the wasm: it waits for the run and is sent back to
/// the page, which shows the result.
fn plain_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// How long a plain form post waits for its run before it returns to a page saying the run goes
/// on: reverse proxies commonly give up on a silent answer after 60 seconds.
const PLAIN_FORM_WAIT: Duration = Duration::from_secs(45);

/// Where a plain form post returns: the page it came from when that is one of this account's
/// pages (only its path, never another site), else the account page. `note` is what the page
/// then says about the test: `running` (one is still going), `limited` (the account's limit).
fn back_to(headers: &HeaderMap, id: &str, note: Option<&str>) -> String {
    let own = format!("/accounts/{id}");
    let path = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| u.path().to_string())
        .filter(|p| p == &own || p.starts_with(&format!("{own}/")))
        .unwrap_or(own);
    let query = note.map(|n| format!("?test={n}")).unwrap_or_default();
    format!("{path}{query}#connection-test")
}

pub async fn start(
    State(state): State<AppState>,
    session: Option<Extension<OperatorSession>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let Some(Extension(session)) = session else {
        return Err(HttpError::Unauthorized);
    };
    if state.store.draft(&id).await?.is_none() {
        return Err(HttpError::AccountNotFound);
    }
    let (key, run, mut changed) = match begin(&state, &id, session.id_hash)? {
        Began::Started(key, run, rx) => (key, run, rx),
        Began::Busy if plain_form(&headers) => {
            return Ok(Redirect::to(&back_to(&headers, &id, Some("running"))).into_response())
        }
        Began::Busy => {
            return Ok((
                StatusCode::CONFLICT,
                Json(json!({"error": {"code": "test_running", "message": "A test of this account is running; wait for it to finish."}})),
            )
                .into_response())
        }
        Began::Limited(_) if plain_form(&headers) => {
            return Ok(Redirect::to(&back_to(&headers, &id, Some("limited"))).into_response())
        }
        Began::Limited(limited) => return Err(limited),
    };
    if plain_form(&headers) {
        let finished = async {
            while lock(&run).report.is_none() {
                if changed.changed().await.is_err() {
                    break;
                }
            }
        };
        let running = tokio::time::timeout(PLAIN_FORM_WAIT, finished)
            .await
            .is_err();
        return Ok(
            Redirect::to(&back_to(&headers, &id, running.then_some("running"))).into_response(),
        );
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "run": key, "events": format!("/accounts/{id}/tests/{key}/events") })),
    )
        .into_response())
}

/// How asking for a run went.
pub enum Began {
    /// Its key, the run, and the signal that it changed.
    Started(String, Arc<Mutex<Run>>, watch::Receiver<u64>),
    /// A test of the account is still going.
    Busy,
    /// The account's own budget of tests is spent.
    Limited(HttpError),
}

/// Starts a run of the account's test for the browser `session_hash` (an operator session or an
/// embedded wizard's credential), one at a time per account, within the account's budget.
pub fn begin(state: &AppState, id: &str, session_hash: [u8; 32]) -> Result<Began, HttpError> {
    let live = &state.live_tests;
    let mut runs = lock(&live.runs);
    runs.retain(|_, (r, _)| {
        lock(r)
            .finished_at
            .is_none_or(|t| t.elapsed() < KEEP_FINISHED)
    });
    if busy(&runs, id) {
        return Ok(Began::Busy);
    }
    if let Err(limited) = live.per_account.check(id) {
        return Ok(Began::Limited(limited));
    }
    let key = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
    let run = Arc::new(Mutex::new(Run {
        account_id: id.to_string(),
        session_hash,
        ..Run::default()
    }));
    let (tx, rx) = watch::channel(0u64);
    runs.insert(key.clone(), (run.clone(), rx.clone()));
    tokio::spawn(drive(state.clone(), id.to_string(), run.clone(), tx));
    Ok(Began::Started(key, run, rx))
}

/// What a run did after its first `after` stage events, waiting up to `wait` for something new:
/// the newer events and, once done, the report. `None`: no such run of this browser's.
pub async fn progress(
    state: &AppState,
    key: &str,
    session_hash: [u8; 32],
    after: usize,
    wait: Duration,
) -> Option<(Vec<StageEvent>, Option<TestReport>)> {
    let (run, mut changed) = lock(&state.live_tests.runs)
        .get(key)
        .cloned()
        .filter(|(r, _)| lock(r).session_hash == session_hash)?;
    let look = |run: &Arc<Mutex<Run>>| {
        let r = lock(run);
        (
            r.events.iter().skip(after).cloned().collect::<Vec<_>>(),
            r.report.clone(),
        )
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (events, report) = look(&run);
        if !events.is_empty() || report.is_some() {
            return Some((events, report));
        }
        match tokio::time::timeout_at(deadline, changed.changed()).await {
            Ok(Ok(())) => continue,
            _ => return Some(look(&run)),
        }
    }
}

/// Runs the test, recording each stage and the report for the watchers.
async fn drive(state: AppState, id: String, run: Arc<Mutex<Run>>, changed: watch::Sender<u64>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let forward = {
        let run = run.clone();
        let changed = changed.clone();
        async move {
            while let Some(e) = rx.recv().await {
                lock(&run).events.push(e);
                changed.send_modify(|v| *v += 1);
            }
        }
    };
    let started = crate::storage::now();
    let test = state.connection_tests.run(&id, Some(tx));
    let (result, ()) = tokio::join!(test, forward);
    let report = match result {
        Ok((_, report)) => report,
        Err(e) => {
            let report = not_started(&e);
            if !matches!(e, TestError::NotReady | TestError::NotFound) {
                tracing::error!(account = %id, error = %e, "connection test could not run");
            }
            // Kept in the history like any run, so the page the admin returns to says why.
            if matches!(e, TestError::NotReady | TestError::Corrupt(_)) {
                let json = serde_json::to_string(&report).expect("the report serialises");
                if let Err(e) = state
                    .store
                    .insert_test(
                        &id,
                        started,
                        crate::connection_tests::test_failure(&report),
                        &json,
                    )
                    .await
                {
                    tracing::error!(account = %id, error = %e, "keeping a test that could not start failed");
                }
            }
            report
        }
    };
    {
        let mut r = lock(&run);
        r.report = Some(report);
        r.finished_at = Some(Instant::now());
    }
    changed.send_modify(|v| *v += 1);
}

/// The report of a run that could not start, in words safe to show (the detail is logged).
fn not_started(e: &TestError) -> TestReport {
    let (what, why) = match e {
        TestError::NotReady => (
            "The account's mailbox settings are not complete.",
            "The Mailbox step was not finished and saved.",
        ),
        TestError::NotFound => (
            "This account does not exist (any more).",
            "It was deleted, or the address is wrong.",
        ),
        _ => (
            "Mailkey could not read this account's settings.",
            "The database is unavailable, or the settings were saved by another version of \
             Mailkey; the operator finds the detail in the server log.",
        ),
    };
    TestReport {
        ok: false,
        stages: Vec::new(),
        diagnosis: Some(mailkey_app::mail_test::Diagnosis {
            title: "The test could not start".into(),
            what: what.into(),
            why: why.into(),
            fix: "Check the Mailbox step, save it, then test again.".into(),
            step: Some(mailkey_app::draft::Step::Mailbox.number()),
            reply: None,
            field: None,
            code: "not_started".into(),
        }),
        also: Vec::new(),
        settings: None,
        folders: Vec::new(),
        proposed_mapping: None,
        message_id: None,
    }
}

pub async fn events(
    State(state): State<AppState>,
    session: Option<Extension<OperatorSession>>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    let Some(Extension(session)) = session else {
        return Err(HttpError::Unauthorized);
    };
    let found = lock(&state.live_tests.runs).get(&key).cloned();
    let Some((run, changed)) = found.filter(|(r, _)| {
        let r = lock(r);
        r.account_id == id && r.session_hash == session.id_hash
    }) else {
        return Err(HttpError::NotFound);
    };
    // Held while the stream is open: the session's place among its open streams.
    let slot = state.stream_caps.open(session.id_hash)?;
    // Sends what happened since the last look, then waits for more; ends after the report.
    let stream = futures_util::stream::unfold(
        (0usize, false, changed),
        move |(sent, done, mut changed)| {
            let run = run.clone();
            let _slot = &slot;
            async move {
                if done {
                    return None;
                }
                loop {
                    let (next, report) = {
                        let r = lock(&run);
                        (r.events.get(sent).cloned(), r.report.clone())
                    };
                    if let Some(e) = next {
                        let event = Event::default()
                            .event("stage")
                            .json_data(&e)
                            .unwrap_or_default();
                        return Some((Ok::<_, Infallible>(event), (sent + 1, false, changed)));
                    }
                    if let Some(report) = report {
                        let event = Event::default()
                            .event("report")
                            .json_data(&report)
                            .unwrap_or_default();
                        return Some((Ok(event), (sent, true, changed)));
                    }
                    if changed.changed().await.is_err() {
                        return None;
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// `GET /api/v1/accounts/{id}/tests`: the latest runs, newest first.
#[utoipa::path(get, path = "/accounts/{id}/tests", operation_id = "list_connection_tests", tag = "connection tests",
    params(("id" = String, Path, description = "The account's ID")),
    responses(
        (status = 200, description = "The latest runs, newest first: `{\"tests\": [...]}`", body = Object),
        (status = 401, description = "No operator session", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ))]
pub async fn history(
    State(state): State<AppState>,
    session: Option<Extension<OperatorSession>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, HttpError> {
    if session.is_none() {
        return Err(HttpError::Unauthorized);
    }
    if state.store.draft(&id).await?.is_none() {
        return Err(HttpError::AccountNotFound);
    }
    let runs: Vec<_> = state
        .store
        .tests(&id, 20)
        .await?
        .into_iter()
        .map(|(run, started_at, ok, report)| {
            let report: serde_json::Value = serde_json::from_str(&report).unwrap_or_default();
            json!({ "id": run, "started_at": started_at, "ok": ok, "report": report })
        })
        .collect();
    Ok(Json(json!({ "tests": runs })))
}

fn test_error(e: TestError) -> Response {
    match e {
        TestError::NotFound => HttpError::AccountNotFound.into_response(),
        TestError::Invalid(findings) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": {
                "code": "invalid",
                "message": "Some folders are not right; nothing was saved.",
                "fields": findings,
            }})),
        )
            .into_response(),
        TestError::Storage(e) => HttpError::Storage(e).into_response(),
        other => HttpError::Internal(other.to_string()).into_response(),
    }
}

/// `GET /api/v1/accounts/{id}/folders`: the mapping (saved, or proposed from the latest passing
/// test) and the folders it can choose from.
#[utoipa::path(get, path = "/accounts/{id}/folders", operation_id = "get_folder_mapping", tag = "connection tests",
    params(("id" = String, Path, description = "The account's ID")),
    responses(
        (status = 200, description = "`{\"mapping\", \"saved\", \"folders\"}`", body = Object),
        (status = 401, description = "No operator session", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ))]
pub async fn folders(
    State(state): State<AppState>,
    session: Option<Extension<OperatorSession>>,
    Path(id): Path<String>,
) -> Response {
    if session.is_none() {
        return HttpError::Unauthorized.into_response();
    }
    let known = match state.connection_tests.known_folders(&id).await {
        Ok(f) => f,
        Err(e) => return test_error(e),
    };
    match state.connection_tests.mapping(&id).await {
        Ok((mapping, saved)) => Json(json!({
            "mapping": mapping,
            "saved": saved,
            "folders": known.unwrap_or_default(),
        }))
        .into_response(),
        Err(e) => test_error(e),
    }
}

/// `PUT /api/v1/accounts/{id}/folders` with a `FolderMapping`: saved if every folder exists.
#[utoipa::path(put, path = "/accounts/{id}/folders", operation_id = "save_folder_mapping", tag = "connection tests",
    params(("id" = String, Path, description = "The account's ID")),
    request_body = FolderMapping,
    responses(
        (status = 200, description = "Saved: `{\"mapping\", \"saved\": true}`", body = Object),
        (status = 401, description = "No operator session", body = ErrorBody),
        (status = 422, description = "A folder the mailbox does not have", body = Object),
    ))]
pub async fn save_folders(
    State(state): State<AppState>,
    session: Option<Extension<OperatorSession>>,
    Path(id): Path<String>,
    Json(mapping): Json<mailkey_app::mail_test::FolderMapping>,
) -> Response {
    if session.is_none() {
        return HttpError::Unauthorized.into_response();
    }
    match state.connection_tests.save_mapping(&id, &mapping).await {
        Ok(()) => Json(json!({ "mapping": mapping, "saved": true })).into_response(),
        Err(e) => test_error(e),
    }
}
