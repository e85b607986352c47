//! Sign-in against the sandbox identity provider, through Mailkey's real HTTP surface: the
//! authorize request's parameters, the callback's state checks (replayed, foreign, expired: each
//! refused with nothing exchanged or stored), AADSTS failures in plain words, the signed-in-user
//! check, admin consent, refresh with rotation and single flight, and no token or secret in the
//! database file or API answers.

use crate::support;

use reqwest::StatusCode;
use support::{
    contoso::{
        contains, db, db_bytes, outcome, start, Tenant, CLIENT_ID, MAILBOX, OTHER_CLIENT_ID,
        SECRET, TENANT_ID,
    },
    portal::{admin_consent, authorize, location, query, Operator, SCOPES},
    TestServer,
};

#[tokio::test]
async fn the_mailbox_signs_in_and_only_sealed_tokens_are_kept() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;

    let url = op.start(&id, "sign-in?mode=redirect").await;
    assert!(
        url.starts_with(&format!(
            "{}/sandbox/{TENANT_ID}/oauth2/v2.0/authorize?",
            s.base
        )),
        "{url}"
    );
    let q = query(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], format!("{}/oauth/callback", s.base));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 22, "state must carry at least 128 bits");
    assert!(q["nonce"].len() >= 16);
    assert_eq!(q["login_hint"], MAILBOX);
    assert_eq!(q["prompt"], "select_account");
    assert_eq!(q["scope"], SCOPES);
    // A second start gets a fresh state and verifier.
    let again = query(&op.start(&id, "sign-in?mode=redirect").await);
    assert_ne!(again["state"], q["state"]);
    assert_ne!(again["code_challenge"], q["code_challenge"]);

    let back = authorize(&url, MAILBOX, "accept").await;
    assert!(
        back.starts_with(&format!("{}/oauth/callback?code=", s.base)),
        "{back}"
    );
    // The wizard listens for the result on a server-sent event stream while the popup is open.
    let events = op.get(&format!("/accounts/{id}/sign-in/events")).await;
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let stream = tokio::spawn(async move {
        let mut events = events;
        let mut text = String::new();
        while let Ok(Some(chunk)) = events.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("event: finished") {
                break;
            }
        }
        text
    });
    let res = op.get(&back).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        location(&res),
        format!("/accounts/{id}/setup/5#sign-in-heading")
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let text = tokio::time::timeout(std::time::Duration::from_secs(5), stream)
        .await
        .expect("the stream reports the finished sign-in")
        .unwrap();
    assert!(text.contains("event: finished"), "{text}");

    let c = op.connection(&id).await;
    assert_eq!(c["state"], "connected", "{c}");
    assert_eq!(c["signed_in_as"], MAILBOX);
    assert_eq!(c["refresh_token_stored"], true);
    assert_eq!(c["last_outcome"]["kind"], "connected");
    assert!(c["access_token_expires_at"].as_i64().is_some());

    // An access token is at hand without another request to the sandbox.
    let sandbox = s.state.sandbox.clone().unwrap();
    let before = sandbox.grants.refresh_requests();
    let token = s.state.tokens.access_token(&id).await.unwrap();
    assert_eq!(sandbox.grants.refresh_requests(), before);
    use secrecy::ExposeSecret;
    let claims = sandbox
        .grants
        .introspect(token.token.expose_secret())
        .unwrap();
    assert_eq!(claims["upn"], MAILBOX);
    assert_eq!(claims["scp"], "IMAP.AccessAsUser.All SMTP.Send");

    // Tokens and secrets: none in the database file, none in any answer.
    let api = op
        .get(&format!("/api/v1/accounts/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let wizard = op
        .get(&format!("/accounts/{id}/setup/5"))
        .await
        .text()
        .await
        .unwrap();
    let bytes = db_bytes(s);
    for secret in [
        "sbx.rt.",
        "sbx.code.",
        "eyJhbGciOiJIUzI1NiIs",
        SECRET,
        token.token.expose_secret(),
    ] {
        assert!(
            !contains(&bytes, secret),
            "{secret} is in the database file"
        );
        assert!(!api.contains(secret), "{secret} is in the API answer");
        assert!(!wizard.contains(secret), "{secret} is in the page");
        assert!(!c.to_string().contains(secret));
    }
    assert!(wizard.contains("Connected: signed in as"), "{wizard}");
    let page = op
        .get(&format!("/accounts/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Connected: signed in as"), "{page}");
    assert!(page.contains("Sign in again"));
    let home = op.get("/").await.text().await.unwrap();
    assert!(home.contains(&format!("href=\"/accounts/{id}\"")), "{home}");
}

#[tokio::test]
async fn replayed_foreign_and_expired_states_are_refused_and_change_nothing() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    let sandbox = s.state.sandbox.clone().unwrap();

    // Another browser (another operator session) brings back this browser's code and state.
    let url = op.start(&id, "sign-in?mode=redirect").await;
    let back = authorize(&url, MAILBOX, "accept").await;
    let intruder = Operator::new(s).await;
    let res = intruder.get(&back).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("another browser"));
    // No session at all.
    let res = TestServer::client().get(&back).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // An unknown state, and none.
    let forged = back.replace("state=", "state=x");
    assert_eq!(op.get(&forged).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        op.get("/oauth/callback?code=abc").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        sandbox.grants.code_requests(),
        0,
        "no token request for a refused state"
    );
    assert_ne!(op.connection(&id).await["state"], "connected");
    assert_eq!(op.connection(&id).await["refresh_token_stored"], false);

    // The rightful browser still completes it, once.
    assert_eq!(op.get(&back).await.status(), 303);
    assert_eq!(sandbox.grants.code_requests(), 1);
    let res = op.get(&back).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("already completed"));
    assert_eq!(sandbox.grants.code_requests(), 1, "a replay sends nothing");

    // A state older than ten minutes.
    let url = op.start(&id, "sign-in?mode=redirect").await;
    let back = authorize(&url, MAILBOX, "accept").await;
    let pool = db(s).await;
    sqlx::query("UPDATE sign_in_attempts SET expires_at = expires_at - 601 WHERE used_at IS NULL")
        .execute(&pool)
        .await
        .unwrap();
    let res = op.get(&back).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("expired"));
    assert_eq!(sandbox.grants.code_requests(), 1);
}

#[tokio::test]
async fn microsofts_refusals_are_explained_with_the_fix() {
    let env = start(Tenant {
        secret_expired: false,
        ..Tenant::default()
    })
    .await;
    let s = &env.server;
    let op = Operator::new(s).await;

    // Declined consent (first: once the mailbox accepts, it is not asked again).
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    let o = outcome(&op, &id, MAILBOX, "decline").await;
    assert_eq!(o["problem"]["code"], 65004, "{o}");

    // A wrong secret value.
    let id = op
        .account(
            CLIENT_ID,
            "Zz99Q~wrongwrongwrongwrongwrongwrongwron",
            MAILBOX,
        )
        .await;
    let o = outcome(&op, &id, MAILBOX, "accept").await;
    assert_eq!(o["problem"]["code"], 7000215, "{o}");
    assert_eq!(o["problem"]["step"], 2);
    assert!(o["problem"]["fix"].as_str().unwrap().contains("Value"));
    assert!(o["problem"]["detail"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS7000215"));
    assert_ne!(op.connection(&id).await["state"], "connected");

    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    // Someone of another organisation.
    let o = outcome(&op, &id, "someone@fabrikam.test", "accept").await;
    assert_eq!(o["problem"]["code"], 50020, "{o}");

    // The administrator signs in instead of the mailbox: named, and offered a retry.
    let o = outcome(&op, &id, "admin@contoso.test", "accept").await;
    assert_eq!(o["kind"], "failed");
    assert!(
        o["problem"]["what"]
            .as_str()
            .unwrap()
            .contains("admin@contoso.test signed in"),
        "{o}"
    );
    assert_eq!(o["problem"]["sign_in_again_as"], MAILBOX);
    assert_ne!(op.connection(&id).await["state"], "connected");
    let page = op
        .get(&format!("/accounts/{id}/setup/5"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Another account signed in"), "{page}");

    // The mailbox itself: connected (consent was given once, by the mailbox's own accept).
    let o = outcome(&op, &id, MAILBOX, "accept").await;
    assert_eq!(o["kind"], "connected", "{o}");

    // A redirect URI the app does not have: Microsoft shows it on its own page.
    let res = TestServer::client()
        .get(s.url(&format!(
            "/sandbox/{TENANT_ID}/oauth2/v2.0/authorize?client_id={CLIENT_ID}&response_type=code&redirect_uri=https://evil.example/cb&scope=openid"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("AADSTS50011"));
    // An app of another tenant.
    let res = TestServer::client()
        .get(s.url(&format!(
            "/sandbox/{TENANT_ID}/oauth2/v2.0/authorize?client_id={OTHER_CLIENT_ID}&response_type=code&scope=openid"
        )))
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("AADSTS700016"));
}

#[tokio::test]
async fn an_expired_secret_is_explained() {
    let env = start(Tenant {
        secret_expired: true,
        ..Tenant::default()
    })
    .await;
    let op = Operator::new(&env.server).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    let o = outcome(&op, &id, MAILBOX, "accept").await;
    assert_eq!(o["problem"]["code"], 7000222, "{o}");
    assert_eq!(o["problem"]["title"], "The client secret has expired");
}

#[tokio::test]
async fn missing_consent_offers_admin_consent_then_the_sign_in_works() {
    let env = start(Tenant {
        user_consent_off: true,
        ..Tenant::default()
    })
    .await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;

    let o = outcome(&op, &id, MAILBOX, "return").await;
    assert_eq!(o["problem"]["code"], 65001, "{o}");
    assert_eq!(o["problem"]["admin_consent"], true);
    let page = op
        .get(&format!("/accounts/{id}/setup/5"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("/accounts/{id}/admin-consent")),
        "{page}"
    );

    // The admin grants consent for the organisation.
    let url = op.start(&id, "admin-consent").await;
    assert!(
        url.contains(&format!("/sandbox/{TENANT_ID}/v2.0/adminconsent?")),
        "{url}"
    );
    let back = admin_consent(&url, "admin@contoso.test", "accept").await;
    assert!(back.contains("admin_consent=True"), "{back}");
    assert_eq!(op.get(&back).await.status(), 303);
    assert_eq!(
        op.connection(&id).await["last_outcome"]["kind"],
        "consent_granted"
    );

    // Now the mailbox signs in without being asked for consent.
    let url = op.start(&id, "sign-in?mode=redirect").await;
    let mut form = query(&url);
    form.insert("username".into(), MAILBOX.into());
    form.insert("step".into(), "account".into());
    let res = TestServer::client()
        .post(s.url(&format!("/sandbox/{TENANT_ID}/oauth2/v2.0/authorize")))
        .header("origin", &s.base)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "no consent page after admin consent");
    assert_eq!(op.get(&location(&res)).await.status(), 303);
    assert_eq!(op.connection(&id).await["state"], "connected");
}

#[tokio::test]
async fn refreshes_rotate_and_collapse_into_one() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    assert_eq!(
        outcome(&op, &id, MAILBOX, "accept").await["kind"],
        "connected"
    );
    let sandbox = s.state.sandbox.clone().unwrap();
    let generation = || async {
        let pool = db(s).await;
        let g: i64 = sqlx::query_scalar("SELECT refresh_generation FROM accounts WHERE id = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
        g
    };
    assert_eq!(generation().await, 1);

    // The token from the sign-in is gone (expired or never cached: the same to the keeper).
    s.state.tokens.forget(&id);
    let calls = (0..100).map(|_| {
        let tokens = s.state.tokens.clone();
        let id = id.clone();
        tokio::spawn(async move { tokens.access_token(&id).await.map(|t| t.expires_at) })
    });
    let results = futures_join(calls).await;
    assert!(
        results.iter().all(|r| r.is_ok()),
        "every caller gets a token"
    );
    assert_eq!(
        sandbox.grants.refresh_requests(),
        1,
        "100 callers, one refresh"
    );
    assert_eq!(
        generation().await,
        2,
        "the rotated refresh token was stored"
    );
    let expiries: std::collections::HashSet<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(expiries.len(), 1, "all callers got the one refreshed token");

    // The next caller uses the cache; a later refresh uses the rotated token.
    s.state.tokens.access_token(&id).await.unwrap();
    assert_eq!(sandbox.grants.refresh_requests(), 1);
    s.state.tokens.forget(&id);
    s.state.tokens.access_token(&id).await.unwrap();
    assert_eq!(sandbox.grants.refresh_requests(), 2);
    assert_eq!(generation().await, 3);

    // Upkeep: a connection quiet for longer than the keep-alive age is refreshed by itself.
    assert_eq!(
        s.state.tokens.keep_alive(3600).await,
        0,
        "refreshed just now"
    );
    sqlx::query("UPDATE accounts SET refreshed_at = refreshed_at - 8 * 86400 WHERE id = $1")
        .bind(&id)
        .execute(&db(s).await)
        .await
        .unwrap();
    assert_eq!(
        s.state
            .tokens
            .keep_alive(mailkey::tokens::KEEP_ALIVE_AFTER_SECS)
            .await,
        1
    );
    assert_eq!(sandbox.grants.refresh_requests(), 3);
    assert_eq!(generation().await, 4);
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_revoked_or_expired_refresh_token_needs_a_new_sign_in() {
    for (tenant, code) in [
        (
            Tenant {
                revoked: true,
                ..Tenant::default()
            },
            50173,
        ),
        (
            Tenant {
                refresh_minutes: Some(0),
                ..Tenant::default()
            },
            700082,
        ),
    ] {
        let env = start(tenant).await;
        let s = &env.server;
        let op = Operator::new(s).await;
        let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
        assert_eq!(
            outcome(&op, &id, MAILBOX, "accept").await["kind"],
            "connected"
        );
        s.state.tokens.forget(&id);
        let err = s.state.tokens.access_token(&id).await.err().unwrap();
        assert!(
            matches!(err, mailkey::tokens::TokenError::NeedsSignIn(ref p) if p.code == Some(code)),
            "{err}"
        );
        let c = op.connection(&id).await;
        assert_eq!(c["state"], "needs_attention", "{c}");
        assert_eq!(c["refresh_token_stored"], false);
        assert_eq!(c["problem"]["code"], code);
        let page = op
            .get(&format!("/accounts/{id}/setup/5"))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("Sign in again"), "{page}");
    }
}

#[tokio::test]
async fn network_failures_and_5xx_are_retried_and_leave_the_account_connected() {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    assert_eq!(
        outcome(&op, &id, MAILBOX, "accept").await["kind"],
        "connected"
    );

    // The token endpoint goes down: it answers 503 to everything.
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let down = axum::Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "maintenance") }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down_url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, down).await.unwrap() });
    let pool = db(s).await;
    edit_app_settings(&pool, &id, |app| {
        app["custom_endpoints"] = true.into();
        app["authorize_url"] = down_url.clone().into();
        app["token_url"] = down_url.clone().into();
    })
    .await;

    s.state.tokens.forget(&id);
    let err = s.state.tokens.access_token(&id).await.err().unwrap();
    assert!(
        matches!(err, mailkey::tokens::TokenError::Unavailable { .. }),
        "{err}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3, "tried three times");
    let c = op.connection(&id).await;
    assert_eq!(c["state"], "connected", "{c}");
    assert_eq!(c["refresh_token_stored"], true);

    // Nothing listens at all: the same.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/token", l.local_addr().unwrap())
    };
    edit_app_settings(&pool, &id, |app| app["token_url"] = closed.clone().into()).await;
    let err = s.state.tokens.access_token(&id).await.err().unwrap();
    assert!(
        matches!(err, mailkey::tokens::TokenError::Unavailable { .. }),
        "{err}"
    );
    assert_eq!(op.connection(&id).await["state"], "connected");
}

#[tokio::test]
async fn a_new_mailbox_address_ends_the_old_mailboxs_sign_in() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    assert_eq!(
        outcome(&op, &id, MAILBOX, "accept").await["kind"],
        "connected"
    );
    assert!(s.state.tokens.access_token(&id).await.is_ok());

    // Same address, other settings: still connected.
    let mut form = vec![
        ("id", id.as_str()),
        ("account_name", "Invoices (renamed)"),
        ("email", "Invoices@Contoso.test"),
        ("reply_to", ""),
        ("smtp_host", "smtp.office365.com"),
        ("smtp_port", "587"),
        ("smtp_security", "starttls"),
        ("protocol", "imap"),
        ("imap_host", "outlook.office365.com"),
        ("imap_port", "993"),
        ("imap_security", "tls"),
        ("root_folder", "INBOX"),
        ("timeout_minutes", "3"),
        ("scopes", SCOPES),
    ];
    op.call("accounts/mailbox", &form).await;
    assert_eq!(op.connection(&id).await["state"], "connected");

    // Another mailbox: the old one's tokens must never be handed out for it.
    form.retain(|(k, _)| *k != "email");
    form.push(("email", "admin@contoso.test"));
    let saved = op.call("accounts/mailbox", &form).await;
    assert!(
        saved
            .to_string()
            .contains("sign in again as admin@contoso.test"),
        "{saved}"
    );
    let c = op.connection(&id).await;
    assert_eq!(c["state"], "ready_to_sign_in", "{c}");
    assert_eq!(c["refresh_token_stored"], false);
    assert!(c["signed_in_as"].is_null());
    assert!(matches!(
        s.state.tokens.access_token(&id).await,
        Err(mailkey::tokens::TokenError::NotSignedIn)
    ));
}

/// Changes the account's stored app settings (JSON) as no API would.
async fn edit_app_settings(
    pool: &sqlx::AnyPool,
    id: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) {
    let text: String = sqlx::query_scalar("SELECT app_settings FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap();
    let mut app: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut app);
    sqlx::query("UPDATE accounts SET app_settings = $1 WHERE id = $2")
        .bind(app.to_string())
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
}
