//! Connection tests over HTTP. `POST /accounts/{id}/tests` starts a run in the background (one
//! at a time per account) and answers `202` with where to watch it;
//! `GET /accounts/{id}/tests/{run}/events` streams it as server-sent events: a `stage` event
//! (JSON `StageEvent`) as each stage starts and ends, then one `report` (JSON `TestReport`, with
//! the diagnosis) when it is done. A run is watched only by the browser session that started it.
//!
//! A run lives in the database (`storage::live_tests`), so it can be watched from any instance:
//! watchers on the instance driving it wake as each stage is written; those on another look
//! every quarter second. A run whose instance died ends, for its watchers, as interrupted.

use crate::sync::lock;
use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
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
use tokio::{sync::watch, time::Instant};

use super::error::HttpError;
use crate::{
    auth::OperatorSession,
    connection_tests::TestError,
    state::AppState,
    storage::{now_ms, StorageError},
};

/// How long a run's driver counts as alive after it last said so, and how often it says so: a
/// run whose instance died stops blocking the account's next test within this.
const ALIVE_FOR_MS: i64 = 30_000;
const SAY_ALIVE_EVERY: Duration = Duration::from_secs(10);
/// How often a watcher looks for news in the database when another instance drives the run.
const LOOK_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone, Default)]
pub struct LiveTests {
    /// The runs this instance drives, each with the signal that it changed, so watchers here
    /// need not wait for their next look.
    driven: Arc<Mutex<HashMap<String, watch::Receiver<u64>>>>,
}

impl LiveTests {
    /// At shutdown: lets the runs this instance drives finish within `within`, then records
    /// those still running as interrupted, so their watchers (here or on another instance) are
    /// told at once rather than when the run's word that it is alive runs out.
    pub async fn finish_or_interrupt(&self, store: &crate::storage::Store, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let running: Vec<String> = lock(&self.driven).keys().cloned().collect();
            if running.is_empty() {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                for key in running {
                    tracing::warn!(run = %key, "a connection test was still running at shutdown: recorded as interrupted");
                    if let Err(e) = store.finish_live_test(&key, &interrupted()).await {
                        tracing::error!(run = %key, error = %e, "an interrupted test could not be recorded; its watchers learn of it when its word that it is alive runs out");
                    }
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
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
    let key = match begin(&state, &id, session.id_hash).await? {
        Began::Started(key) => key,
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
        let deadline = Instant::now() + PLAIN_FORM_WAIT;
        let mut watch = Watch::new(&state, &key, session.id_hash, Some(&id));
        let running = loop {
            match watch.look(usize::MAX).await? {
                Some((_, Some(_))) | None => break false,
                Some(_) if Instant::now() >= deadline => break true,
                Some(_) => watch.next_change(deadline).await,
            }
        };
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
    /// Its key.
    Started(String),
    /// A test of the account is still going (on any instance).
    Busy,
    /// The account's own budget of tests is spent.
    Limited(HttpError),
}

/// Starts a run of the account's test for the browser `session_hash` (an operator session or an
/// embedded wizard's credential), one at a time per account, within the account's budget.
pub async fn begin(state: &AppState, id: &str, session_hash: [u8; 32]) -> Result<Began, HttpError> {
    // Asked first so a click on a running test spends none of the budget.
    if state.store.live_test_running(id).await? {
        return Ok(Began::Busy);
    }
    // The account's budget (besides the limit per client address on the route), in the
    // database: tests started on every instance spend from it.
    let budget = super::limits::TESTS_PER_ACCOUNT.as_budget();
    if let Some(wait_ms) = state.store.spend_test_budget(id, budget).await? {
        return Ok(Began::Limited(HttpError::TestsLimited {
            retry_after_secs: u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1),
        }));
    }
    let key = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
    if !state
        .store
        .begin_live_test(&key, id, &session_hash, now_ms() + ALIVE_FOR_MS)
        .await?
    {
        return Ok(Began::Busy);
    }
    let (tx, rx) = watch::channel(0u64);
    lock(&state.live_tests.driven).insert(key.clone(), rx);
    tokio::spawn(drive(state.clone(), id.to_string(), key.clone(), tx));
    Ok(Began::Started(key))
}

/// What a watcher has seen of a run: its newer stage events and, once done, the report.
type News = (Vec<StageEvent>, Option<TestReport>);

/// One watcher's view of a run: only the session that started it (and, where the path names
/// one, of that account) sees it.
struct Watch {
    state: AppState,
    key: String,
    session_hash: [u8; 32],
    account_id: Option<String>,
    /// The driver's signal, while this instance drives the run.
    changed: Option<watch::Receiver<u64>>,
}

impl Watch {
    fn new(state: &AppState, key: &str, session_hash: [u8; 32], account_id: Option<&str>) -> Watch {
        Watch {
            changed: lock(&state.live_tests.driven).get(key).cloned(),
            state: state.clone(),
            key: key.to_string(),
            session_hash,
            account_id: account_id.map(str::to_string),
        }
    }

    /// The run's events after its first `after` and its report; `None`: no such run of this
    /// watcher's. A run whose driver stopped saying it is alive ends as interrupted.
    async fn look(&self, after: usize) -> Result<Option<News>, StorageError> {
        let store = &self.state.store;
        let Some(run) = store.live_test(&self.key).await? else {
            return Ok(None);
        };
        if run.session_hash != self.session_hash
            || self
                .account_id
                .as_ref()
                .is_some_and(|a| *a != run.account_id)
        {
            return Ok(None);
        }
        // Read after the run: its events are all written before its report.
        let events = if after == usize::MAX {
            Vec::new()
        } else {
            store.live_test_events(&self.key, after).await?
        };
        let report = run
            .report
            .or_else(|| (run.alive_until < now_ms()).then(interrupted));
        Ok(Some((events, report)))
    }

    /// Waits until the run may have changed: the driver's signal here, else the next look, and
    /// never past `deadline`.
    async fn next_change(&mut self, deadline: Instant) {
        let look = tokio::time::sleep_until(deadline.min(Instant::now() + LOOK_EVERY));
        match &mut self.changed {
            Some(rx) => {
                tokio::select! {
                    ended = rx.changed() => if ended.is_err() {
                        // The driver is done: what is left is in the database.
                        self.changed = None;
                    },
                    () = look => {}
                }
            }
            None => look.await,
        }
    }
}

/// What a run did after its first `after` stage events, waiting up to `wait` for something new:
/// the newer events and, once done, the report. `None`: no such run of this browser's.
pub async fn progress(
    state: &AppState,
    key: &str,
    session_hash: [u8; 32],
    after: usize,
    wait: Duration,
) -> Result<Option<News>, HttpError> {
    let deadline = Instant::now() + wait;
    let mut watch = Watch::new(state, key, session_hash, None);
    loop {
        let Some((events, report)) = watch.look(after).await? else {
            return Ok(None);
        };
        if !events.is_empty() || report.is_some() || Instant::now() >= deadline {
            return Ok(Some((events, report)));
        }
        watch.next_change(deadline).await;
    }
}

/// Runs the test, recording each stage and the report for the watchers on every instance.
async fn drive(state: AppState, id: String, key: String, changed: watch::Sender<u64>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let forward = async {
        let mut seq = 0;
        while let Some(e) = rx.recv().await {
            match state.store.add_live_test_event(&key, seq, &e).await {
                Ok(()) => seq += 1,
                Err(e) => {
                    tracing::warn!(account = %id, error = %e, "a test stage could not be recorded for its watchers")
                }
            }
            changed.send_modify(|v| *v += 1);
        }
    };
    let started = crate::storage::now();
    let work = async { tokio::join!(state.connection_tests.run(&id, Some(tx)), forward) };
    tokio::pin!(work);
    let (result, ()) = loop {
        tokio::select! {
            done = &mut work => break done,
            () = tokio::time::sleep(SAY_ALIVE_EVERY) => {
                if let Err(e) = state.store.keep_live_test_alive(&key, now_ms() + ALIVE_FOR_MS).await {
                    tracing::warn!(account = %id, error = %e, "a running test could not say it is alive");
                }
            }
        }
    };
    let report = match result {
        Ok((_, report)) => report,
        Err(e) => {
            let report = not_started(&e);
            if !matches!(e, TestError::NotReady | TestError::NotFound) {
                tracing::error!(account = %id, error = %e, "connection test could not run");
            }
            // Kept in the history like any run, so the page the admin returns to says why.
            if matches!(
                e,
                TestError::NotReady | TestError::Storage(StorageError::Corrupt(_))
            ) {
                if let Err(e) = state
                    .store
                    .insert_test(
                        &id,
                        started,
                        crate::connection_tests::test_failure(&report),
                        &report,
                    )
                    .await
                {
                    tracing::error!(account = %id, error = %e, "keeping a test that could not start failed");
                }
            }
            report
        }
    };
    if let Err(e) = state.store.finish_live_test(&key, &report).await {
        tracing::error!(account = %id, error = %e, "a finished test could not be recorded for its watchers");
    }
    changed.send_modify(|v| *v += 1);
    lock(&state.live_tests.driven).remove(&key);
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
    unfinished(
        "The test could not start",
        what,
        why,
        "Check the Mailbox step, save it, then test again.",
        "not_started",
    )
}

/// The report of a run whose instance stopped (restarted, or died) before it finished.
fn interrupted() -> TestReport {
    unfinished(
        "The test was interrupted",
        "The Mailkey server running this test stopped before it finished.",
        "It was restarted or shut down while the test ran.",
        "Test again.",
        "interrupted",
    )
}

fn unfinished(title: &str, what: &str, why: &str, fix: &str, code: &str) -> TestReport {
    TestReport {
        ok: false,
        stages: Vec::new(),
        diagnosis: Some(mailkey_app::mail_test::Diagnosis {
            title: title.into(),
            what: what.into(),
            why: why.into(),
            fix: fix.into(),
            step: Some(mailkey_app::draft::Step::Mailbox.number()),
            reply: None,
            field: None,
            code: code.into(),
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
    let watch = Watch::new(&state, &key, session.id_hash, Some(&id));
    if watch.look(usize::MAX).await?.is_none() {
        return Err(HttpError::NotFound);
    }
    // Held while the stream is open: the session's place among its open streams.
    let slot = state.stream_caps.open(session.id_hash)?;
    // Sends what happened since the last look, then waits for more; ends after the report.
    struct Streaming {
        watch: Watch,
        sent: usize,
        queued: VecDeque<Event>,
        done: bool,
    }
    let start = Streaming {
        watch,
        sent: 0,
        queued: VecDeque::new(),
        done: false,
    };
    let stream = futures_util::stream::unfold(start, move |mut s| {
        let _slot = &slot;
        async move {
            loop {
                if let Some(event) = s.queued.pop_front() {
                    return Some((Ok::<_, Infallible>(event), s));
                }
                if s.done {
                    return None;
                }
                let (events, report) = match s.watch.look(s.sent).await {
                    Ok(Some(news)) => news,
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::warn!(error = %e, "a test's events could not be read");
                        return None;
                    }
                };
                s.sent += events.len();
                for e in &events {
                    s.queued.push_back(
                        Event::default()
                            .event("stage")
                            .json_data(e)
                            .unwrap_or_default(),
                    );
                }
                if let Some(report) = report {
                    s.queued.push_back(
                        Event::default()
                            .event("report")
                            .json_data(&report)
                            .unwrap_or_default(),
                    );
                    s.done = true;
                } else if events.is_empty() {
                    let far = Instant::now() + Duration::from_secs(3600);
                    s.watch.next_change(far).await;
                }
            }
        }
    });
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
        .map(|run| {
            json!({ "id": run.id, "started_at": run.started_at, "ok": run.ok, "report": run.report })
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
