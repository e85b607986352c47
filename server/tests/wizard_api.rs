//! The wizard's server functions and the account API against a real server and SQLite file:
//! drafts saved and resumed, 422 with per-field messages and nothing changed, the client secret
//! write-only and encrypted at rest, tenant discovery, and a fail-closed master key.

use crate::support;

use std::time::Duration;

use axum::{extract::Path, http::StatusCode, routing::get, Json, Router};
use mailkey::{config::Config, Server};
use serde_json::{json, Value};
use support::TestServer;

const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a93";
const SECRET: &str = "Xk28Q~f1bN3pVqz9Lr.4hT7wYc_2mJd5sGe8uAoR";

/// A signed-in operator calling the wizard's server functions as the browser does.
struct Operator<'a> {
    server: &'a TestServer,
    cookie: String,
}

impl Operator<'_> {
    async fn new(server: &TestServer) -> Operator<'_> {
        Operator {
            cookie: server.sign_in().await,
            server,
        }
    }

    async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let res = TestServer::client()
            .post(self.server.url(&format!("/_fn/{endpoint}")))
            .header("cookie", &self.cookie)
            .header("origin", &self.server.base)
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn create(&self) -> String {
        let (status, body) = self.call("accounts/create", &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["next"], "AppDetails");
        body["id"].as_str().unwrap().to_string()
    }

    async fn draft(&self, id: &str) -> Value {
        let (status, body) = self.call("accounts/draft", &[("id", id)]).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn api(&self, path: &str) -> (StatusCode, Value) {
        let res = TestServer::client()
            .get(self.server.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap())
    }
}

fn app_form<'a>(id: &'a str, overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("id", id),
        ("tenant", TENANT_ID),
        ("client_id", CLIENT_ID),
        ("app_name", "Mailkey invoices"),
        ("client_secret", SECRET),
        ("secret_expires", "2030-05-01"),
    ];
    for (k, v) in overrides {
        form.retain(|(f, _)| f != k);
        form.push((k, v));
    }
    form
}

fn mailbox_form<'a>(id: &'a str, overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("id", id),
        ("account_name", "Invoices"),
        ("email", "invoices@contoso.com"),
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
        (
            "scopes",
            "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access openid email profile",
        ),
    ];
    for (k, v) in overrides {
        form.retain(|(f, _)| f != k);
        form.push((k, v));
    }
    form
}

fn field_message<'a>(body: &'a Value, field: &str) -> &'a str {
    body["Invalid"]
        .as_array()
        .unwrap_or_else(|| panic!("not an Invalid error: {body}"))
        .iter()
        .find(|n| n["field"] == field && n["level"] == "error")
        .and_then(|n| n["message"].as_str())
        .unwrap_or_else(|| panic!("no error for {field}: {body}"))
}

#[tokio::test]
async fn a_draft_is_saved_after_every_step_and_resumed() {
    let s = TestServer::start().await;
    let op = Operator::new(&s).await;
    let id = op.create().await;
    let draft = op.draft(&id).await;
    assert_eq!(draft["saved_step"], 1);
    assert_eq!(
        draft["mailbox"]["smtp_host"], "smtp.office365.com",
        "presets"
    );
    assert_eq!(draft["redirect_uri"], format!("{}/oauth/callback", s.base));

    let (status, body) = op.call("accounts/app", &app_form(&id, &[])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["next"], "RedirectUri");
    let (status, _) = op
        .call("accounts/step", &[("id", &id), ("step", "3")])
        .await;
    assert_eq!(status, 200);
    let (status, body) = op.call("accounts/mailbox", &mailbox_form(&id, &[])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["next"], "Review");

    // A new sign-in (another tab, a phone that locked) finds everything.
    let again = Operator::new(&s).await;
    let draft = again.draft(&id).await;
    assert_eq!(draft["saved_step"], 4);
    assert_eq!(draft["tenant_id"], TENANT_ID);
    assert_eq!(draft["app"]["client_id"], CLIENT_ID);
    assert_eq!(draft["mailbox"]["email"], "invoices@contoso.com");
    let (status, list) = again.api("/api/v1/accounts").await;
    assert_eq!(status, 200);
    assert_eq!(list["accounts"][0]["name"], "Invoices");
    assert_eq!(list["accounts"][0]["state"], "ready_to_sign_in");
    s.stop().await;
}

#[tokio::test]
async fn bad_values_get_422_with_each_fields_message_and_change_nothing() {
    let s = TestServer::start().await;
    let op = Operator::new(&s).await;
    let id = op.create().await;
    let before = op.draft(&id).await;

    let cases: &[(&str, &str, &str)] = &[
        (
            "client_id",
            "my-app",
            "The Application (client) ID is a GUID",
        ),
        (
            "client_secret",
            CLIENT_ID,
            "This looks like the Secret ID. Copy the Value column instead",
        ),
        (
            "tenant",
            "common",
            "\"common\", \"organizations\" and \"consumers\" only work",
        ),
        ("secret_expires", "1/5/2028", "Enter the date as YYYY-MM-DD"),
    ];
    for (field, value, expected) in cases {
        let (status, body) = op
            .call("accounts/app", &app_form(&id, &[(field, value)]))
            .await;
        assert_eq!(status, 422, "{field}: {body}");
        assert!(
            field_message(&body, field).starts_with(expected),
            "{field}: {body}"
        );
    }
    let (status, body) = op
        .call(
            "accounts/app",
            &app_form(
                &id,
                &[
                    ("custom_endpoints", "on"),
                    (
                        "authorize_url",
                        "https://login.microsoftonline.com/contoso.com/oauth2/authorize",
                    ),
                    (
                        "token_url",
                        "https://login.microsoftonline.com/common/oauth2/v2.0/token",
                    ),
                ],
            ),
        )
        .await;
    assert_eq!(status, 422);
    assert!(field_message(&body, "authorize_url").starts_with("This is a v1 endpoint"));
    assert!(field_message(&body, "token_url").starts_with("This endpoint uses \"common\""));

    let mailbox_cases: &[(&str, &str, &str)] = &[
        ("email", "invoices", "The e-mail address needs an @"),
        ("smtp_security", "tls", "Port 587 uses STARTTLS"),
        ("imap_port", "70000", "Enter a port number from 1 to 65535"),
        ("scopes", "https://outlook.office.com/SMTP.Send https://graph.microsoft.com/Mail.Read offline_access", "These scopes belong to 2 different resources"),
        ("timeout_minutes", "0", "Enter the connection timeout in whole minutes"),
    ];
    for (field, value, expected) in mailbox_cases {
        let (status, body) = op
            .call("accounts/mailbox", &mailbox_form(&id, &[(field, value)]))
            .await;
        assert_eq!(status, 422, "{field}: {body}");
        let reported = if *field == "smtp_security" {
            "smtp_port"
        } else {
            field
        };
        assert!(
            field_message(&body, reported).starts_with(expected),
            "{field}: {body}"
        );
    }
    assert_eq!(op.draft(&id).await, before, "nothing was saved");

    // An account that does not exist, and a caller without a session.
    let (status, body) = op.call("accounts/app", &app_form("nope", &[])).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!("NotFound")));
    let (status, _) = TestServer::client()
        .post(s.url("/_fn/accounts/app"))
        .header("origin", &s.base)
        .form(&app_form(&id, &[]))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_ne!(status, 200);
    s.stop().await;
}

#[tokio::test]
async fn the_client_secret_is_write_only_and_never_stored_in_plaintext() {
    let s = TestServer::start().await;
    let op = Operator::new(&s).await;
    let id = op.create().await;
    let (status, body) = op.call("accounts/app", &app_form(&id, &[])).await;
    assert_eq!(status, 200);
    assert!(!body.to_string().contains(SECRET));

    let draft = op.draft(&id).await;
    assert!(!draft.to_string().contains(SECRET), "{draft}");
    assert_eq!(draft["client_secret"]["set"], true);
    let (status, detail) = op.api(&format!("/api/v1/accounts/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(detail["client_secret"]["set"], true);
    assert_eq!(detail["client_secret"]["expires"], "2030-05-01");
    assert!(!detail.to_string().contains(SECRET));
    assert!(detail["app"].get("client_secret").is_none());

    // Saving again with the secret left empty keeps it.
    let (status, _) = op
        .call("accounts/app", &app_form(&id, &[("client_secret", "")]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(op.draft(&id).await["client_secret"]["set"], true);

    let (status, _) = op.api("/api/v1/accounts/unknown").await;
    assert_eq!(status, 404);

    let dir = s.stop().await;
    // The SQLite file and its write-ahead log: the secret's bytes appear nowhere.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "{} holds the secret in plaintext",
                path.display()
            );
        }
    }
}

async fn start_with_key(
    dir: &std::path::Path,
    database: &[(String, String)],
    key: Option<&str>,
) -> Result<Server, String> {
    let mut env = vec![
        ("MAILKEY_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ("MAILKEY_DATA_DIR".to_string(), dir.display().to_string()),
        (
            "MAILKEY_SITE_DIR".to_string(),
            dir.join("no-site").display().to_string(),
        ),
    ];
    env.extend_from_slice(database);
    if let Some(k) = key {
        env.push(("MAILKEY_MASTER_KEY".to_string(), k.to_string()));
    }
    let config = Config::load_from(None, &env).unwrap();
    Server::prepare(&config).await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn start_fails_closed_when_the_master_key_is_missing_or_wrong() {
    let s = TestServer::start().await;
    let op = Operator::new(&s).await;
    let id = op.create().await;
    assert_eq!(op.call("accounts/app", &app_form(&id, &[])).await.0, 200);
    let database = support::database_setting(&s.database_url);
    let dir = s.stop().await;
    let key_file = dir.path().join("master.key");
    let key = std::fs::read_to_string(&key_file).unwrap();

    let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let err = start_with_key(dir.path(), &database, Some(other))
        .await
        .err()
        .unwrap();
    assert!(
        err.contains("is not the one the stored secrets were encrypted with"),
        "{err}"
    );
    assert!(!err.contains(other));

    std::fs::remove_file(&key_file).unwrap();
    let err = start_with_key(dir.path(), &database, None)
        .await
        .err()
        .unwrap();
    assert!(
        err.contains("the database holds encrypted secrets but no master key"),
        "{err}"
    );
    assert!(!key_file.exists(), "no new key may be invented");

    // The right key, given through the environment, opens it again.
    assert!(start_with_key(dir.path(), &database, Some(key.trim()))
        .await
        .is_ok());
}

/// Instances on one database hold one master key, even before anything is sealed: the first to
/// start records its key's ID, and another with a different key refuses to start, naming both
/// IDs and never a key.
#[tokio::test]
async fn a_second_instance_with_another_master_key_refuses_to_start() {
    let first_dir = tempfile::tempdir().unwrap();
    let database = match mailkey::storage::testing::postgres_database().await {
        Some(url) => vec![("MAILKEY_DATABASE_URL".to_string(), url)],
        None => Vec::new(),
    };
    let first = start_with_key(first_dir.path(), &database, None)
        .await
        .unwrap();
    let first_key = std::fs::read_to_string(first_dir.path().join("master.key")).unwrap();
    // Another instance: SQLite's file is in the first one's data directory; on PostgreSQL its
    // own directory would do, and there it generates a key of its own.
    let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let err = start_with_key(first_dir.path(), &database, Some(other))
        .await
        .err()
        .unwrap();
    assert!(
        err.contains("is not the one the other instances on this database use"),
        "{err}"
    );
    assert!(
        !err.contains(other) && !err.contains(first_key.trim()),
        "{err}"
    );
    if !database.is_empty() {
        let own_dir = tempfile::tempdir().unwrap();
        let err = start_with_key(own_dir.path(), &database, None)
            .await
            .err()
            .unwrap();
        assert!(err.contains("MAILKEY_MASTER_KEY_FILE"), "{err}");
    }
    // The same key, given to the second instance, is taken.
    assert!(
        start_with_key(first_dir.path(), &database, Some(first_key.trim()))
            .await
            .is_ok()
    );
    drop(first);
}

/// A stand-in for login.microsoftonline.com: knows contoso.com, refuses other domains as
/// Microsoft does, and is slow for slow.example.
async fn fake_authority() -> String {
    async fn openid(Path(tenant): Path<String>) -> (StatusCode, Json<Value>) {
        match tenant.as_str() {
            "contoso.com" => (
                StatusCode::OK,
                Json(json!({
                    "token_endpoint": format!("{{authority}}/{TENANT_ID}/oauth2/v2.0/token"),
                    "issuer": format!("https://login.microsoftonline.com/{TENANT_ID}/v2.0"),
                })),
            ),
            "slow.example" => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                (StatusCode::OK, Json(json!({})))
            }
            _ => (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "error": "invalid_tenant",
                    "error_description": "AADSTS90002: Tenant 'x' not found."
                })),
            ),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let fixed = base.clone();
    let app = Router::new().route(
        "/{tenant}/v2.0/.well-known/openid-configuration",
        get(move |p: Path<String>| {
            let fixed = fixed.clone();
            async move {
                let (status, Json(mut v)) = openid(p).await;
                if let Some(t) = v.get_mut("token_endpoint") {
                    *t = json!(t.as_str().unwrap().replace("{authority}", &fixed));
                }
                (status, Json(v))
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn a_tenant_domain_is_resolved_through_openid_configuration() {
    let authority = fake_authority().await;
    let s = TestServer::start_with(|c| c.microsoft_authority = authority.parse().unwrap()).await;
    let op = Operator::new(&s).await;
    let id = op.create().await;

    let (status, body) = op
        .call("tenant", &[("id", &id), ("tenant", "Contoso.com")])
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "Ok": TENANT_ID })));
    let (_, body) = op
        .call("tenant", &[("id", &id), ("tenant", "fabrikam.example")])
        .await;
    assert_eq!(body["Err"]["level"], "error");
    assert!(
        body["Err"]["message"]
            .as_str()
            .unwrap()
            .starts_with("No Microsoft 365 tenant uses the domain fabrikam.example."),
        "{body}"
    );

    let (status, body) = op
        .call("accounts/app", &app_form(&id, &[("tenant", "contoso.com")]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(op.draft(&id).await["tenant_id"], TENANT_ID);
    // Endpoints may name the tenant by ID or by the domain entered.
    let tenant_url = format!("{authority}/{TENANT_ID}/oauth2/v2.0/authorize");
    let token_url = format!("{authority}/contoso.com/oauth2/v2.0/token");
    let (status, body) = op
        .call(
            "accounts/app",
            &app_form(
                &id,
                &[
                    ("tenant", "contoso.com"),
                    ("custom_endpoints", "on"),
                    ("authorize_url", &tenant_url),
                    ("token_url", &token_url),
                ],
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = op
        .call(
            "accounts/app",
            &app_form(&id, &[("tenant", "fabrikam.example")]),
        )
        .await;
    assert_eq!(status, 422);
    assert!(field_message(&body, "tenant")
        .starts_with("No Microsoft 365 tenant uses the domain fabrikam.example."));
    s.stop().await;
}

#[tokio::test]
async fn tenant_discovery_gives_up_after_its_timeout() {
    let authority = fake_authority().await;
    let discovery = mailkey::discovery::TenantDiscovery::new(Duration::from_millis(300));
    let started = std::time::Instant::now();
    assert_eq!(
        discovery.tenant_id(&authority, "slow.example").await,
        Err(mailkey::discovery::DiscoveryError::Timeout)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        discovery
            .tenant_id(&authority, "contoso.com")
            .await
            .as_deref(),
        Ok(TENANT_ID)
    );
    assert_eq!(
        discovery.tenant_id(&authority, "nobody.example").await,
        Err(mailkey::discovery::DiscoveryError::UnknownDomain)
    );
}

#[tokio::test]
async fn a_second_account_for_the_same_address_is_warned_about() {
    let s = TestServer::start().await;
    let op = Operator::new(&s).await;
    let first = op.create().await;
    assert_eq!(
        op.call("accounts/mailbox", &mailbox_form(&first, &[]))
            .await
            .0,
        200
    );
    let second = op.create().await;
    let (status, body) = op
        .call(
            "accounts/mailbox",
            &mailbox_form(&second, &[("email", "INVOICES@contoso.com")]),
        )
        .await;
    assert_eq!(status, 200);
    let warning = body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["field"] == "email")
        .unwrap();
    assert_eq!(warning["level"], "warning");
    assert!(warning["message"]
        .as_str()
        .unwrap()
        .starts_with("Another account (Invoices) already connects"));
    assert!(warning["message"]
        .as_str()
        .unwrap()
        .contains("replaces nothing"));
    s.stop().await;
}
