//! Connect sessions, as a host's backend and an embedded page use them: minted over the API
//! with the organisation's allowed origins, rendered without spending the launch token, used
//! once for a credential held as a bearer header (no cookie), signed in through a popup whose
//! own cookie binds the round trip, and bound to one account.

use crate::support;

use mailkey::api_keys::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{
    host::{key, key_for, send},
    multi_tenant,
    portal::{authorize, location},
    TestServer,
};

const PARENT: &str = "https://erp.example.com";
const MAILBOX: &str = "invoices@contoso.test";

async fn embed(
    s: &TestServer,
    method: Method,
    path: &str,
    credential: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = TestServer::client()
        .request(method, s.url(path))
        .header("origin", &s.base);
    if let Some(c) = credential {
        req = req.header("authorization", format!("Bearer {c}"));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

/// A session for a new operator-app account with its mailbox named, framed by `PARENT`.
async fn minted(s: &TestServer, k: &str) -> Value {
    let (status, origins) = send(
        s,
        Method::PUT,
        k,
        "/api/v1/organisations/org_default/allowed-origins",
        Some(json!({"origins": ["https://ERP.example.com/", "https://other.example.net"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{origins}");
    assert_eq!(
        origins["origins"],
        json!(["https://erp.example.com", "https://other.example.net"])
    );
    let (status, session) = send(
        s,
        Method::POST,
        k,
        "/api/v1/connect-sessions",
        Some(json!({
            "organisation_id": "org_default",
            "account": {"external_id": "invoices", "email": MAILBOX, "app": "operator", "provider": "microsoft365-sandbox"},
            "allowed_origins": [PARENT],
            "host_name": "Acme ERP",
            "lifetime_secs": 600
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    session
}

/// A session framed by `PARENT` (the organisation's one origin) for the account `account`.
async fn session_for(s: &TestServer, k: &str, account: Value) -> Value {
    send(
        s,
        Method::PUT,
        k,
        "/api/v1/organisations/org_default/allowed-origins",
        Some(json!({"origins": [PARENT]})),
    )
    .await;
    let (status, session) = send(
        s,
        Method::POST,
        k,
        "/api/v1/connect-sessions",
        Some(json!({
            "organisation_id": "org_default",
            "account": account,
            "allowed_origins": [PARENT],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    session
}

/// The own app registration's details, as the page saves them.
async fn put_app(s: &TestServer, credential: &str, body: Option<Value>) -> (StatusCode, Value) {
    embed(s, Method::PUT, "/embed/api/app", Some(credential), body).await
}

/// The host withdraws the session.
async fn revoke(s: &TestServer, k: &str, session: &Value) {
    let path = format!(
        "/api/v1/connect-sessions/{}",
        session["id"].as_str().unwrap()
    );
    let (status, answer) = send(s, Method::DELETE, k, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// The session's account, as the host API answers it.
async fn account_of(s: &TestServer, k: &str, session: &Value) -> Value {
    let path = format!(
        "/api/v1/accounts/{}",
        session["account_id"].as_str().unwrap()
    );
    let (status, account) = send(s, Method::GET, k, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    account
}

/// The page's first step: the launch token for its credential.
async fn open(s: &TestServer, session: &Value) -> String {
    let (status, opened) = embed(
        s,
        Method::POST,
        "/embed/session",
        None,
        Some(json!({"launch_token": session["launch_token"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    opened["credential"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_session_is_framed_only_by_its_origins_used_once_and_signs_in_through_a_popup() {
    let (s, _files) = multi_tenant::start().await;
    let k = key(&s, &Scope::ALL).await;
    let session = minted(&s, &k).await;
    let launch = session["launch_token"].as_str().unwrap();
    assert_eq!(session["mode"], "setup");
    assert_eq!(session["allowed_origins"], json!([PARENT]));
    assert_eq!(session["url"], s.url(&format!("/embed/{launch}")));

    // The page renders without using the token (twice: a link scanner must not spend it), may
    // be framed by the session's origin only, and shows neither the portal's menu nor accounts.
    for _ in 0..2 {
        let page = TestServer::client()
            .get(s.url(&format!("/embed/{launch}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains(&format!("frame-ancestors {PARENT}")), "{csp}");
        assert!(page.headers().get("x-frame-options").is_none());
        let html = page.text().await.unwrap();
        assert!(html.contains("Connect your mailbox to Acme ERP"), "{html}");
        assert!(!html.contains("operator-menu"), "no operator menu");
    }
    // Every other page still refuses to be framed.
    let home = TestServer::client().get(s.url("/")).send().await.unwrap();
    assert!(home.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(home.headers()["x-frame-options"], "DENY");

    // Used once: the credential; a second use is refused with a code the host acts on.
    let (status, opened) = embed(
        &s,
        Method::POST,
        "/embed/session",
        None,
        Some(json!({"launch_token": launch})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    let credential = opened["credential"].as_str().unwrap().to_string();
    assert_eq!(opened["account_id"], session["account_id"]);
    assert_eq!(opened["external_id"], "invoices");
    let (status, again) = embed(
        &s,
        Method::POST,
        "/embed/session",
        None,
        Some(json!({"launch_token": launch})),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(again["error"]["code"], "launch_token_used", "{again}");
    let used = TestServer::client()
        .get(s.url(&format!("/embed/{launch}")))
        .send()
        .await
        .unwrap();
    let html = used.text().await.unwrap();
    assert!(html.contains("already used"), "the page says so: {html}");

    // The account, nothing else: no cookie, the bearer credential.
    let (status, state) = embed(&s, Method::GET, "/embed/api/state", Some(&credential), None).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["mailbox"], MAILBOX);
    assert_eq!(state["ready_to_sign_in"], true);
    assert_eq!(state["connected"], false);
    assert_eq!(opened["state"], state, "the launch answers the same state");
    let (status, e) = embed(
        &s,
        Method::GET,
        "/embed/api/state",
        Some("not-a-credential"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"]["code"], "session_ended");

    // Sign-in: a ticket for the popup; the popup (no operator session) gets its own cookie and
    // goes to the sandbox; the callback in that window completes it; the frame learns it.
    let (status, ticket) = embed(
        &s,
        Method::POST,
        "/embed/api/sign-in",
        Some(&credential),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ticket}");
    let popup = TestServer::client()
        .get(s.url(ticket["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(popup.status(), 303);
    let cookie = popup.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let to_microsoft = location(&popup);
    let back = authorize(&to_microsoft, MAILBOX, "accept").await;
    // Without the popup's cookie (another window, another browser) the callback is refused.
    let stranger = TestServer::client().get(&back).send().await.unwrap();
    assert_eq!(stranger.status(), 400);
    let done = TestServer::client()
        .get(&back)
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(done
        .text()
        .await
        .unwrap()
        .contains("You can close this window"));
    let path = format!("/embed/api/sign-in/{}", ticket["ticket"].as_str().unwrap());
    let (_, result) = embed(&s, Method::GET, &path, Some(&credential), None).await;
    assert_eq!(result["finished"], true, "{result}");
    assert_eq!(result["connected"], true, "{result}");
    let (_, state) = embed(&s, Method::GET, "/embed/api/state", Some(&credential), None).await;
    assert_eq!(state["connected"], true, "{state}");
    assert_eq!(state["signed_in_as"], MAILBOX);
    // The ticket worked once.
    let reuse = TestServer::client()
        .get(s.url(ticket["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(reuse.status(), 410);

    // Expired: the credential stops, and the page says so in the admin's words.
    let db = support::contoso::db(&s).await;
    sqlx::query("UPDATE connect_sessions SET expires_at = $1 WHERE id = $2")
        .bind(mailkey::storage::now() - 1)
        .bind(session["id"].as_str().unwrap())
        .execute(&db)
        .await
        .unwrap();
    let (status, e) = embed(&s, Method::GET, "/embed/api/state", Some(&credential), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"]["code"], "session_ended", "{e}");
    let expired = TestServer::client()
        .get(s.url(&format!("/embed/{launch}")))
        .send()
        .await
        .unwrap();
    assert!(expired.text().await.unwrap().contains("has expired"));
    sqlx::query("UPDATE connect_sessions SET expires_at = $1 WHERE id = $2")
        .bind(mailkey::storage::now() + 600)
        .bind(session["id"].as_str().unwrap())
        .execute(&db)
        .await
        .unwrap();

    // Revoked: the credential stops at the next request.
    revoke(&s, &k, &session).await;
    let (status, _) = embed(&s, Method::GET, "/embed/api/state", Some(&credential), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_session_cannot_be_widened_and_bad_values_change_nothing() {
    let (s, _files) = multi_tenant::start().await;
    let k = key(&s, &Scope::ALL).await;
    minted(&s, &k).await;
    // An origin the organisation does not allow, a return URL elsewhere, too long a life: all
    // refused at once, and no account is made.
    let (status, e) = send(
        &s,
        Method::POST,
        &k,
        "/api/v1/connect-sessions",
        Some(json!({
            "organisation_id": "org_default",
            "account": {"external_id": "sales", "email": "sales@contoso.test", "app": "operator", "provider": "microsoft365-sandbox"},
            "allowed_origins": ["https://evil.example"],
            "return_url": "https://evil.example/back",
            "lifetime_secs": 7200
        })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let fields = &e["error"]["fields"];
    assert!(
        fields["allowed_origins"]
            .as_str()
            .unwrap()
            .contains("not one of the organisation's allowed origins"),
        "{fields}"
    );
    assert!(fields["return_url"].is_string(), "{fields}");
    assert!(fields["lifetime_secs"].is_string(), "{fields}");
    let (_, list) = send(
        &s,
        Method::GET,
        &k,
        "/api/v1/accounts?external_id=sales",
        None,
    )
    .await;
    assert_eq!(list["accounts"], json!([]), "no account made");
    // Origins are checked as origins.
    let (status, e) = send(
        &s,
        Method::PUT,
        &k,
        "/api/v1/organisations/org_default/allowed-origins",
        Some(json!({"origins": ["http://erp.example.com", "https://erp.example.com/settings"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let why = e["error"]["fields"]["origins"].as_str().unwrap();
    assert!(
        why.contains("plain http") && why.contains("has a path"),
        "{why}"
    );
    // A key of another organisation reaches neither this organisation nor its accounts.
    let (_, other) = send(
        &s,
        Method::POST,
        &k,
        "/api/v1/organisations",
        Some(json!({"external_id": "other", "name": "Other"})),
    )
    .await;
    let foreign = key_for(&s, other["id"].as_str().unwrap()).await;
    let (_, accounts) = send(
        &s,
        Method::GET,
        &k,
        "/api/v1/accounts?external_id=invoices",
        None,
    )
    .await;
    let account = accounts["accounts"][0]["id"].as_str().unwrap();
    let (status, _) = send(
        &s,
        Method::POST,
        &foreign,
        "/api/v1/connect-sessions",
        Some(json!({"reconnect_account_id": account})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(
        &s,
        Method::PUT,
        &foreign,
        "/api/v1/organisations/org_default/allowed-origins",
        Some(json!({"origins": []})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An unknown launch token: a page that says so, framed by nobody.
    let page = TestServer::client()
        .get(s.url("/embed/not-a-token"))
        .send()
        .await
        .unwrap();
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(page.text().await.unwrap().contains("not valid"));
    // The script hosts load from their own pages.
    let js = TestServer::client()
        .get(s.url("/embed.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.headers()["cross-origin-resource-policy"], "cross-origin");
}

/// One popup round trip of the embedded wizard: the ticket's popup, Microsoft's page answered
/// by `answer` (the sandbox's sign-in or admin-consent form), the callback in that window.
async fn popup(
    s: &TestServer,
    credential: &str,
    admin_consent: bool,
    answer: impl AsyncFnOnce(String) -> String,
) -> Value {
    let (status, ticket) = embed(
        s,
        Method::POST,
        "/embed/api/sign-in",
        Some(credential),
        Some(json!({"admin_consent": admin_consent})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ticket}");
    let start = TestServer::client()
        .get(s.url(ticket["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let cookie = start.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let back = answer(location(&start)).await;
    let done = TestServer::client()
        .get(&back)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let path = format!("/embed/api/sign-in/{}", ticket["ticket"].as_str().unwrap());
    embed(s, Method::GET, &path, Some(credential), None).await.1
}

#[tokio::test]
async fn admin_consent_works_from_the_frame() {
    let (s, _files) = multi_tenant::start().await;
    let k = key(&s, &Scope::ALL).await;
    let session = session_for(
        &s,
        &k,
        json!({"external_id": "orders", "email": "orders@fabrikam.test", "app": "operator", "provider": "microsoft365-sandbox"}),
    )
    .await;
    let credential = open(&s, &session).await;

    // Fabrikam lets only administrators consent: the user's sign-in says so, with the way out.
    let refused = popup(&s, &credential, false, async |url| {
        authorize(&url, "orders@fabrikam.test", "return").await
    })
    .await;
    assert_eq!(refused["finished"], true, "{refused}");
    assert_eq!(refused["connected"], false);
    assert_eq!(refused["problem"]["admin_consent"], true, "{refused}");
    // "I am an administrator": the popup goes to the organisation's admin-consent page (never
    // the frame: Microsoft refuses to be framed), and the frame hears it was granted.
    let granted = popup(&s, &credential, true, async |url| {
        assert!(url.contains("/v2.0/adminconsent?"), "{url}");
        support::portal::admin_consent(&url, "admin@fabrikam.test", "accept").await
    })
    .await;
    assert_eq!(granted["consent_granted"], true, "{granted}");
    // Then the user signs in, without a consent page, and the account is connected.
    let connected = popup(&s, &credential, false, async |url| {
        authorize(&url, "orders@fabrikam.test", "accept").await
    })
    .await;
    assert_eq!(connected["connected"], true, "{connected}");
}

#[tokio::test]
async fn a_revoked_session_stops_its_sign_in_in_flight() {
    let (s, _files) = multi_tenant::start().await;
    let k = key(&s, &Scope::ALL).await;
    let session = minted(&s, &k).await;
    let credential = open(&s, &session).await;
    let (_, ticket) = embed(
        &s,
        Method::POST,
        "/embed/api/sign-in",
        Some(&credential),
        Some(json!({})),
    )
    .await;
    let start = TestServer::client()
        .get(s.url(ticket["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let cookie = start.headers()["set-cookie"].to_str().unwrap().to_string();
    let back = authorize(&location(&start), MAILBOX, "accept").await;

    // The host withdraws the session while the person is at Microsoft's page.
    revoke(&s, &k, &session).await;
    let done = TestServer::client()
        .get(&back)
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::GONE);
    assert!(done.text().await.unwrap().contains("stored nothing"));
    let db = support::contoso::db(&s).await;
    let (state, refresh_token): (String, Option<Vec<u8>>) =
        sqlx::query_as("SELECT state, refresh_token FROM accounts WHERE id = $1")
            .bind(session["account_id"].as_str().unwrap())
            .fetch_one(&db)
            .await
            .unwrap();
    assert_ne!(state, "connected");
    assert!(refresh_token.is_none(), "no refresh token was stored");

    // The page hears a revoke as a revoke (not as an expiry to replace with a new session).
    let (status, e) = embed(&s, Method::GET, "/embed/api/state", Some(&credential), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"]["code"], "session_revoked", "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("withdrew"));
}

#[tokio::test]
async fn an_own_app_account_is_set_up_in_the_frame_with_the_wizards_checks() {
    let (s, _files) = multi_tenant::start().await;
    let k = key(&s, &Scope::ALL).await;
    let session = session_for(
        &s,
        &k,
        json!({"external_id": "own", "email": MAILBOX, "app": "own", "provider": "microsoft365-sandbox"}),
    )
    .await;
    let credential = open(&s, &session).await;
    let (_, state) = embed(&s, Method::GET, "/embed/api/state", Some(&credential), None).await;
    assert_eq!(state["needs_app"], true, "{state}");
    assert_eq!(state["ready_to_sign_in"], false);
    assert_eq!(state["redirect_uri"], s.url("/oauth/callback"));
    // No sign-in before the app registration is in.
    let (status, _) = embed(
        &s,
        Method::POST,
        "/embed/api/sign-in",
        Some(&credential),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The wizard's own checks, field by field; nothing is saved.
    let (status, refused) = put_app(
        &s,
        &credential,
        Some(json!({"client_id": "my-app", "client_secret": multi_tenant::SINGLE_TENANT_APP})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let fields = &refused["error"]["fields"];
    assert!(
        fields["client_id"].as_str().unwrap().contains("GUID"),
        "{refused}"
    );
    assert!(
        fields["client_secret"]
            .as_str()
            .unwrap()
            .contains("Secret ID"),
        "{refused}"
    );
    let (_, state) = embed(&s, Method::GET, "/embed/api/state", Some(&credential), None).await;
    assert_eq!(state["needs_app"], true);

    // The three values; the tenant is found from the mailbox's domain, the named mailbox saved
    // with its presets, and the person only signs in.
    let (status, saved) = put_app(
        &s,
        &credential,
        Some(json!({
            "client_id": multi_tenant::SINGLE_TENANT_APP,
            "client_secret": multi_tenant::SINGLE_TENANT_APP_SECRET,
            "secret_expires": "2099-12-31",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["state"]["needs_app"], false, "{saved}");
    assert_eq!(saved["state"]["ready_to_sign_in"], true, "{saved}");
    assert_eq!(saved["state"]["app_name"], "your organisation's app");
    let result = popup(&s, &credential, false, async |to| {
        authorize(&to, MAILBOX, "accept").await
    })
    .await;
    assert_eq!(result["connected"], true, "{result}");
    let account = account_of(&s, &k, &session).await;
    assert_eq!(account["app"]["client_id"], multi_tenant::SINGLE_TENANT_APP);
    assert_eq!(account["tenant_id"], multi_tenant::CONTOSO, "{account}");
    // The secret is never answered back.
    assert!(!account.to_string().contains("Sg93Q~"));

    // Set once: the page cannot change the app registration afterwards, even with good values.
    let (status, e) = put_app(
        &s,
        &credential,
        Some(json!({
            "client_id": multi_tenant::OPERATOR_APP,
            "client_secret": multi_tenant::NEW_SECRET,
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "app_already_set");
    // Nor can a reconnect session.
    let (_, again) = send(
        &s,
        Method::POST,
        &k,
        "/api/v1/connect-sessions",
        Some(json!({
            "organisation_id": "org_default",
            "reconnect_account_id": session["account_id"],
            "allowed_origins": [PARENT],
        })),
    )
    .await;
    let reconnecting = open(&s, &again).await;
    let (status, _) = put_app(
        &s,
        &reconnecting,
        Some(json!({
            "client_id": multi_tenant::OPERATOR_APP,
            "client_secret": multi_tenant::NEW_SECRET,
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let account = account_of(&s, &k, &session).await;
    assert_eq!(account["app"]["client_id"], multi_tenant::SINGLE_TENANT_APP);
}

#[tokio::test]
async fn an_own_app_save_whose_mailbox_cannot_be_placed_can_be_corrected_in_the_frame() {
    let (s, _files) = multi_tenant::start().await;
    let k = key(&s, &Scope::ALL).await;
    // No organisation in the sandbox owns this domain: the tenant cannot be found from it.
    let session = session_for(
        &s,
        &k,
        json!({"external_id": "elsewhere", "email": "invoices@elsewhere.test", "app": "own", "provider": "microsoft365-sandbox"}),
    )
    .await;
    let credential = open(&s, &session).await;
    let app = json!({
        "client_id": multi_tenant::SINGLE_TENANT_APP,
        "client_secret": multi_tenant::SINGLE_TENANT_APP_SECRET,
    });
    let (status, refused) = put_app(&s, &credential, Some(app.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused["error"]["fields"]["email"]
            .as_str()
            .unwrap()
            .contains("Enter the tenant"),
        "{refused}"
    );
    // The step stays open: with the tenant given, the same save goes through.
    let (_, state) = embed(&s, Method::GET, "/embed/api/state", Some(&credential), None).await;
    assert_eq!(state["needs_app"], true, "{state}");
    let mut fixed = app;
    fixed["tenant"] = json!(multi_tenant::CONTOSO);
    let (status, saved) = put_app(&s, &credential, Some(fixed)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["state"]["needs_app"], false);
    assert_eq!(saved["state"]["ready_to_sign_in"], true);
}
