//! The operator settings page's app: saved sealed, never shown again, changeable without a
//! restart; rotating its secret (new one added, old one deleted) keeps every connected account
//! refreshing, with no account signing in again.

use crate::support;

use mailkey_app::provider::MICROSOFT_365_SANDBOX;
use secrecy::ExposeSecret;
use serde_json::Value;
use support::{
    multi_tenant::{start, NEW_SECRET, OLD_SECRET, OLD_SECRET_ID, OPERATOR_APP},
    portal::{authorize, Operator},
    TestServer,
};

const SANDBOX: &str = MICROSOFT_365_SANDBOX.id;

/// Posts the settings form the way the page's island does (JSON back, 422 when refused).
async fn save(op: &Operator, fields: &[(&str, &str)]) -> (u16, Value) {
    let res = TestServer::client()
        .post(op.url("/_fn/settings/operator-app"))
        .header("cookie", &op.cookie)
        .header("origin", &op.origin)
        .header("accept", "application/json")
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn app_fields<'a>(secret: &'a str, expires: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("provider", SANDBOX),
        ("client_id", OPERATOR_APP),
        ("name", "Acme ERP"),
        ("publisher", "Acme Software"),
        ("client_secret", secret),
        ("secret_expires", expires),
    ]
}

/// Mailkey's services opened again on a stopped server's data directory, as after a restart.
async fn reopen(
    data: &std::path::Path,
    files: &std::path::Path,
    database: &[(String, String)],
) -> Result<mailkey::server::Services, mailkey::server::StartError> {
    let mut env = vec![
        ("MAILKEY_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ("MAILKEY_DATA_DIR".to_string(), data.display().to_string()),
    ];
    env.extend_from_slice(database);
    let mut config = mailkey::config::Config::load_from(None, &env).unwrap();
    config.sandbox = true;
    config.sandbox_file = Some(files.join("sandbox.toml"));
    let url = url::Url::parse("http://127.0.0.1:3000").unwrap();
    mailkey::server::Services::open(&config, &url).await
}

async fn connect(op: &Operator, email: &str) -> String {
    let id = op.operator_account(email).await;
    let url = op.start(&id, "sign-in?mode=redirect").await;
    let back = authorize(&url, email, "accept").await;
    assert_eq!(op.get(&back).await.status(), 303);
    assert_eq!(op.connection(&id).await["state"], "connected");
    id
}

#[tokio::test]
async fn rotating_the_operator_secret_keeps_every_account_refreshing() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    // The app starts on the old secret, as before a rotation.
    let (status, body) = save(&op, &app_fields(OLD_SECRET, "2099-06-30")).await;
    assert_eq!(status, 200, "{body}");
    let contoso = connect(&op, "invoices@contoso.test").await;
    let fabrikam_admin = connect(&op, "admin@fabrikam.test").await;

    // Rotation: the new secret is saved on the page, then the old one is deleted in Entra.
    let (status, body) = save(&op, &app_fields(NEW_SECRET, "2099-12-31")).await;
    assert_eq!(status, 200, "{body}");
    let grants = &s.state.sandbox.as_ref().unwrap().grants;
    grants.remove_secret(OLD_SECRET_ID);

    let refreshes = grants.refresh_requests();
    for id in [&contoso, &fabrikam_admin] {
        s.state.tokens.forget(id);
        s.state
            .tokens
            .access_token(id)
            .await
            .unwrap_or_else(|e| panic!("{id} still refreshes after the rotation: {e}"));
    }
    assert_eq!(grants.refresh_requests(), refreshes + 2);

    // The deleted secret really is refused: saving it back breaks the refresh, as it would at
    // Microsoft (so the passing refreshes above ran on the new secret).
    let (status, _) = save(&op, &app_fields(OLD_SECRET, "2099-06-30")).await;
    assert_eq!(status, 200);
    s.state.tokens.forget(&contoso);
    assert!(
        s.state.tokens.access_token(&contoso).await.is_err(),
        "a deleted secret must not refresh"
    );
    let connection = op.connection(&contoso).await;
    assert_eq!(connection["problem"]["code"], 7000215, "{connection}");
}

/// Several instances on one database: a secret rotated on one instance's settings page is
/// used by another without its restart.
#[tokio::test]
async fn a_secret_saved_on_one_instance_is_used_by_another_without_a_restart() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    let (status, body) = save(&op, &app_fields(OLD_SECRET, "2099-06-30")).await;
    assert_eq!(status, 200, "{body}");
    let id = connect(&op, "invoices@contoso.test").await;
    let public_url = url::Url::parse(&s.base).unwrap();
    let other = mailkey::server::Services::open(&s.config, &public_url)
        .await
        .unwrap();
    let follow = other
        .operator_settings
        .spawn_follow(std::time::Duration::from_millis(50), other.tokens.clone());

    // Rotated on the first instance: the new secret saved, the old one deleted in Entra.
    let (status, body) = save(&op, &app_fields(NEW_SECRET, "2099-12-31")).await;
    assert_eq!(status, 200, "{body}");
    s.state
        .sandbox
        .as_ref()
        .unwrap()
        .grants
        .remove_secret(OLD_SECRET_ID);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while other
        .wizard
        .providers()
        .operator_app(SANDBOX)
        .is_none_or(|a| a.secret.expose_secret() != NEW_SECRET)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the other instance took the new secret"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    other
        .tokens
        .access_token(&id)
        .await
        .unwrap_or_else(|e| panic!("the other instance refreshes with the new secret: {e}"));
    follow.abort();
}

#[tokio::test]
async fn the_secret_is_write_only_sealed_and_survives_a_restart() {
    let (s, files) = start().await;
    let op = Operator::new(&s).await;
    let (status, body) = save(&op, &app_fields(NEW_SECRET, "2099-12-31")).await;
    assert_eq!(status, 200, "{body}");

    let overview = op.call("settings/operator-apps", &[]).await;
    let text = overview.to_string();
    assert!(!text.contains(NEW_SECRET), "the secret never goes back");
    assert!(overview["redirect_uri"]
        .as_str()
        .unwrap()
        .ends_with("/oauth/callback"));
    let sandbox = overview["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["provider_id"] == SANDBOX)
        .unwrap();
    assert_eq!(sandbox["app"]["origin"], "settings_page", "{sandbox}");
    assert_eq!(sandbox["app"]["secret_expires"], "2099-12-31");

    let page = op.get("/settings").await.text().await.unwrap();
    assert!(page.contains("Acme ERP") && !page.contains(NEW_SECRET));

    let database = support::database_setting(&s.database_url);
    let at_rest = support::contoso::db_bytes(&s);
    let data = s.stop().await;
    assert!(
        !support::contoso::contains(&at_rest, NEW_SECRET),
        "the secret is stored sealed"
    );

    // A restart on the same data directory uses the saved app, not the sandbox file's.
    let services = reopen(data.path(), files.path(), &database).await.unwrap();
    let app = services.wizard.providers().operator_app(SANDBOX).unwrap();
    assert_eq!(app.secret.expose_secret(), NEW_SECRET);
    assert_eq!(app.secret_expires.as_deref(), Some("2099-12-31"));
}

#[tokio::test]
async fn bad_values_are_refused_by_name_and_change_nothing() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    connect(&op, "invoices@contoso.test").await;

    let (status, body) = save(
        &op,
        &app_fields("6a2b8d7f-9c0e-4f1a-9b4c-5d6e7f8091a2", "31/12/2099"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let text = body.to_string();
    assert!(text.contains("Secret ID"), "{text}");
    assert!(text.contains("YYYY-MM-DD"), "{text}");

    // Another client ID would disconnect the account that uses this app.
    let mut other = app_fields(NEW_SECRET, "2099-12-31");
    other[1] = ("client_id", "9a9a9a9a-1b1b-4c4c-8d8d-0e0e0e0e0e0e");
    let (status, body) = save(&op, &other).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string()
            .contains("1 account(s) sign in with Acme ERP"),
        "{body}"
    );

    let app = s.state.wizard.providers().operator_app(SANDBOX).unwrap();
    assert_eq!(app.client_id, OPERATOR_APP, "nothing changed");
    assert_eq!(app.secret.expose_secret(), NEW_SECRET);

    // Signed out: nothing is shown or saved.
    let res = TestServer::client()
        .post(s.url("/_fn/settings/operator-app"))
        .header("origin", &s.base)
        .header("accept", "application/json")
        .form(&app_fields(OLD_SECRET, "2099-12-31"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_secret_near_its_expiry_is_announced_on_every_page() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    let soon = mailkey_app::rules::dates::Day(mailkey_app::rules::dates::Day::today().0 + 12).iso();
    let (status, body) = save(&op, &app_fields(NEW_SECRET, &soon)).await;
    assert_eq!(status, 200, "{body}");
    for page in ["/", "/settings", "/accounts/new"] {
        let html = op.get(page).await.text().await.unwrap();
        assert!(
            html.contains(&format!("client secret expires in 12 days ({soon})")),
            "{page} warns"
        );
    }
}

/// An account on the operator's app has no secret of its own: its refresh token (and the app
/// saved on the page) are still what a missing or wrong master key must not silently lose.
#[tokio::test]
async fn the_master_key_guards_operator_accounts_too() {
    let (s, files) = start().await;
    let op = Operator::new(&s).await;
    connect(&op, "invoices@contoso.test").await;
    let database = support::database_setting(&s.database_url);
    let data = s.stop().await;
    std::fs::remove_file(data.path().join("master.key")).unwrap();
    let Err(err) = reopen(data.path(), files.path(), &database).await else {
        panic!("a lost master key must stop the start");
    };
    assert!(
        err.to_string()
            .contains("the database holds encrypted secrets but no master key"),
        "{err}"
    );
    assert!(
        !data.path().join("master.key").exists(),
        "no new key invented"
    );
}
