//! What an admin trying Mailkey for the first time ran into, each proven fixed through the portal
//! as the browser drives it: a refused sign-in shows as needing attention with its reason, an
//! expired client secret is refused, and one about to expire is told on every page of the account.

use crate::support;

use mailkey_app::rules::dates::Day;
use reqwest::StatusCode;
use serde_json::Value;
use support::{
    contoso::{outcome, start, Tenant, CLIENT_ID, MAILBOX, SECRET},
    portal::Operator,
    TestServer,
};

/// The day `n` days from today, as the wizard's date field submits it.
fn in_days(n: i64) -> String {
    Day(Day::today().0 + n).iso()
}

async fn save_app(op: &Operator, id: &str, secret: &str, expires: &str) -> (StatusCode, Value) {
    let res = TestServer::client()
        .post(op.url("/_fn/accounts/app"))
        .header("cookie", &op.cookie)
        .header("origin", &op.origin)
        .header("accept", "application/json")
        .form(&[
            ("id", id),
            ("tenant", "contoso.test"),
            ("client_id", CLIENT_ID),
            ("app_name", "Mailkey invoices"),
            ("client_secret", secret),
            ("secret_expires", expires),
        ])
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test]
async fn a_refused_sign_in_leaves_the_account_needing_attention_with_its_reason() {
    let env = start(Tenant::default()).await;
    let op = Operator::new(&env.server).await;
    let id = op
        .account(
            CLIENT_ID,
            "Zz99Q~wrongwrongwrongwrongwrongwrongwron",
            MAILBOX,
        )
        .await;
    let o = outcome(&op, &id, MAILBOX, "accept").await;
    assert_eq!(o["problem"]["code"], 7000215, "{o}");
    let list: Value = op.get("/api/v1/accounts").await.json().await.unwrap();
    let row = &list["accounts"][0];
    assert_eq!(row["state"], "needs_attention", "{list}");
    assert_eq!(
        row["problem"], "Microsoft refused the client secret",
        "{list}"
    );
    let home = op.get("/").await.text().await.unwrap();
    assert!(home.contains("Needs attention"), "{home}");
    assert!(
        home.contains("Microsoft refused the client secret"),
        "{home}"
    );

    // The right secret, and a sign-in that works: connected, the reason gone.
    let (status, _) = save_app(&op, &id, SECRET, &in_days(400)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        outcome(&op, &id, MAILBOX, "accept").await["kind"],
        "connected"
    );
    let list: Value = op.get("/api/v1/accounts").await.json().await.unwrap();
    assert_eq!(list["accounts"][0]["state"], "connected", "{list}");
    assert!(list["accounts"][0]["problem"].is_null(), "{list}");
}

#[tokio::test]
async fn an_expired_secret_is_refused_and_one_about_to_expire_is_told_everywhere() {
    let env = start(Tenant::default()).await;
    let op = Operator::new(&env.server).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;

    let (status, body) = save_app(&op, &id, SECRET, "2024-03-31").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string()
            .contains("This secret expired on 2024-03-31"),
        "{body}"
    );
    let detail: Value = op
        .get(&format!("/api/v1/accounts/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["client_secret"]["expires"], "2030-05-01",
        "nothing changed"
    );

    let soon = in_days(10);
    let (status, _) = save_app(&op, &id, SECRET, &soon).await;
    assert_eq!(status, StatusCode::OK);
    let home = op.get("/").await.text().await.unwrap();
    assert!(
        home.contains(&format!("Client secret expires {soon}")),
        "{home}"
    );
    let told = format!("The client secret expires in 10 days ({soon})");
    for page in [format!("/accounts/{id}"), format!("/accounts/{id}/setup/5")] {
        let html = op.get(&page).await.text().await.unwrap();
        assert!(html.contains(&told), "{page}: {html}");
    }
}

#[tokio::test]
async fn the_api_names_the_provider_and_gives_ports_as_numbers() {
    let env = start(Tenant::default()).await;
    let op = Operator::new(&env.server).await;
    let id = op.account(CLIENT_ID, SECRET, MAILBOX).await;
    let detail: Value = op
        .get(&format!("/api/v1/accounts/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["provider"], "microsoft365-sandbox", "{detail}");
    assert_eq!(detail["servers"]["smtp"]["port"], 587, "{detail}");
    assert_eq!(
        detail["servers"]["smtp"]["security"], "starttls",
        "{detail}"
    );
    assert_eq!(
        detail["servers"]["incoming"]["host"],
        "outlook.office365.com"
    );
    assert_eq!(detail["servers"]["incoming"]["port"], 993, "{detail}");
    assert_eq!(detail["servers"]["protocol"], "imap");
}

/// The own-app path needs three values: the client ID, the secret's value and the address. The
/// tenant is found from the address's domain; the names default; the expiry may wait.
#[tokio::test]
async fn an_own_app_connects_with_the_client_id_the_secret_and_the_address_alone() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let created = op
        .call("accounts/create", &[("provider", "microsoft365-sandbox")])
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let typed = [("client_id", CLIENT_ID), ("client_secret", SECRET)];
    let mut form = vec![("id", id.as_str())];
    form.extend(typed);
    let saved = op.call("accounts/app", &form).await;
    assert_eq!(saved["next"], "RedirectUri", "{saved}");
    op.call("accounts/step", &[("id", &id), ("step", "3")])
        .await;
    // The Mailbox step with the address alone typed; the rest is the form's preset.
    let res = TestServer::client()
        .post(s.url("/_fn/accounts/mailbox"))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .header("accept", "application/json")
        .form(&[
            ("id", id.as_str()),
            ("account_name", ""),
            ("email", MAILBOX),
            ("smtp_host", "smtp.office365.com"),
            ("smtp_port", "587"),
            ("smtp_security", "starttls"),
            ("protocol", "imap"),
            ("imap_host", "outlook.office365.com"),
            ("imap_port", "993"),
            ("imap_security", "tls"),
            ("root_folder", "INBOX"),
            ("timeout_minutes", "3"),
            ("scopes", support::portal::SCOPES),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(status, StatusCode::OK, "{}", res.text().await.unwrap());

    let detail: Value = op
        .get(&format!("/api/v1/accounts/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["tenant_id"],
        support::contoso::TENANT_ID,
        "found from {MAILBOX}: {detail}"
    );
    assert_eq!(detail["mailbox"]["account_name"], MAILBOX);
    assert_eq!(
        outcome(&op, &id, MAILBOX, "accept").await["kind"],
        "connected"
    );
}
