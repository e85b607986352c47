//! One-click connect: an account on the operator's own multi-tenant app (here the sandbox's)
//! signs in through `organizations`, records the tenant from the ID token, and keeps refreshing
//! on the operator's secret; a tenant that requires admin consent is told so.

use crate::support;

use support::{
    multi_tenant::{sandbox_file, CONTOSO, FABRIKAM, OPERATOR_APP},
    portal::{admin_consent, authorize, location, query, Operator},
    TestServer,
};

/// Microsoft's tenant of personal accounts, as a sandbox tenant: Microsoft's `organizations`
/// endpoint would stop such a user on its own page, so here the token reaches Mailkey, which must
/// refuse it by itself.
const PERSONAL_TENANT: &str = r#"
[[tenants]]
id = "9188040d-6c67-4c5b-b112-36a304b66dad"
domains = ["outlook.test"]

[[tenants.users]]
username = "someone@outlook.test"
display_name = "Someone"
"#;

async fn start() -> (TestServer, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("sandbox.toml");
    std::fs::write(&path, format!("{}{PERSONAL_TENANT}", sandbox_file())).unwrap();
    let s = TestServer::start_with(|c| {
        c.sandbox = true;
        c.sandbox_file = Some(path.clone());
    })
    .await;
    (s, files)
}

#[tokio::test]
async fn an_operator_app_account_connects_in_one_sign_in_and_records_its_tenant() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    let id = op.operator_account("invoices@contoso.test").await;

    let url = op.start(&id, "sign-in?mode=redirect").await;
    let sent = url::Url::parse(&url).unwrap();
    assert_eq!(
        sent.path(),
        "/sandbox/organizations/oauth2/v2.0/authorize",
        "any work account, never common"
    );
    assert_eq!(query(&url)["client_id"], OPERATOR_APP);
    let back = authorize(&url, "invoices@contoso.test", "accept").await;
    assert_eq!(op.get(&back).await.status(), 303);

    let connection = op.connection(&id).await;
    assert_eq!(connection["state"], "connected", "{connection}");
    assert_eq!(connection["signed_in_as"], "invoices@contoso.test");
    let record = s.state.store.draft(&id).await.unwrap().unwrap();
    assert_eq!(
        record.tenant_id.as_deref(),
        Some(CONTOSO),
        "the token's tid"
    );
    assert_eq!(record.app_source, mailkey_app::draft::AppSource::Operator);
    assert!(record.client_secret.is_none(), "no secret per account");

    // Upkeep runs on the operator's secret, through organizations too.
    s.state.tokens.forget(&id);
    let refreshes = s.state.sandbox.as_ref().unwrap().grants.refresh_requests();
    s.state.tokens.access_token(&id).await.unwrap();
    assert_eq!(
        s.state.sandbox.as_ref().unwrap().grants.refresh_requests(),
        refreshes + 1
    );
}

#[tokio::test]
async fn a_tenant_that_requires_admin_consent_is_told_so() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    let id = op.operator_account("orders@fabrikam.test").await;
    let url = op.start(&id, "sign-in?mode=redirect").await;
    let back = authorize(&url, "orders@fabrikam.test", "return").await;
    assert_eq!(op.get(&back).await.status(), 303);
    let connection = op.connection(&id).await;
    let problem = &connection["last_outcome"]["problem"];
    assert_eq!(problem["code"], 65001, "{connection}");
    assert_eq!(problem["admin_consent"], true, "{connection}");

    // The tenant was discovered from the mailbox's domain: the admin-consent link is for it.
    let url = op.start(&id, "admin-consent").await;
    assert!(
        url.contains(&format!("/sandbox/{FABRIKAM}/v2.0/adminconsent?")),
        "{url}"
    );
    let page = TestServer::client().get(&url).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("admin@fabrikam.test"));
    let back = admin_consent(&url, "admin@fabrikam.test", "accept").await;
    assert!(back.contains("admin_consent=True"), "{back}");
    assert_eq!(op.get(&back).await.status(), 303);
    assert_eq!(
        op.connection(&id).await["last_outcome"]["kind"],
        "consent_granted"
    );

    // The user signs in again, without a consent page, and the account is connected.
    let url = op.start(&id, "sign-in?mode=redirect").await;
    let back = authorize(&url, "orders@fabrikam.test", "accept").await;
    assert_eq!(op.get(&back).await.status(), 303);
    assert_eq!(op.connection(&id).await["state"], "connected");
    let record = s.state.store.draft(&id).await.unwrap().unwrap();
    assert_eq!(record.tenant_id.as_deref(), Some(FABRIKAM));
}

#[tokio::test]
async fn the_operator_path_needs_an_operator_app() {
    let s = TestServer::start_with(|c| c.sandbox = true).await;
    let op = Operator::new(&s).await;
    let res = TestServer::client()
        .post(s.url("/_fn/accounts/create"))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .header("accept", "application/json")
        .form(&[("provider", "microsoft365"), ("app_source", "operator")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("no app of its own"), "{body}");
    let res = TestServer::client()
        .post(s.url("/_fn/accounts/create"))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .header("accept", "application/json")
        .form(&[
            ("provider", "microsoft365-sandbox"),
            ("app_source", "theirs"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
}

#[tokio::test]
async fn a_domain_without_a_tenant_is_warned_and_the_consent_link_uses_organizations() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    let id = op.operator_draft().await;
    let saved = op.save_mailbox(&id, "orders@nowhere.test", &[]).await;
    let warnings = saved["warnings"].to_string();
    assert!(
        warnings.contains("No Microsoft 365 organisation uses the domain nowhere.test"),
        "{warnings}"
    );
    let record = s.state.store.draft(&id).await.unwrap().unwrap();
    assert_eq!(record.tenant_id, None);
    // Without a known tenant, the administrator who signs in names it.
    let url = op.start(&id, "admin-consent").await;
    assert!(
        url.contains("/sandbox/organizations/v2.0/adminconsent?"),
        "{url}"
    );
}

/// A page as a browser without Mailkey's cookie sees it (the administrator's).
async fn page_at(url: &str) -> String {
    let res = TestServer::client().get(url).send().await.unwrap();
    res.text().await.unwrap()
}

/// "Get a link for your administrator": the page that shows it, and the link in it.
async fn link_for_administrator(op: &Operator, id: &str) -> String {
    let res = TestServer::client()
        .post(op.url(&format!("/accounts/{id}/admin-consent-link")))
        .header("cookie", &op.cookie)
        .header("origin", &op.origin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Send this link to your administrator"),
        "{page}"
    );
    let start = page.find("<textarea").unwrap();
    let start = start + page[start..].find('>').unwrap() + 1;
    let end = start + page[start..].find("</textarea>").unwrap();
    page[start..end].replace("&amp;", "&")
}

/// The user cannot grant consent and sends the link to their administrator, who opens it in
/// their own browser (no Mailkey session), approves, and is told to have the user sign in again.
#[tokio::test]
async fn the_link_for_the_administrator_works_in_their_browser_once() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    let id = op.operator_account("orders@fabrikam.test").await;

    // The page that shows the link: Microsoft's admin-consent address for Fabrikam, with a
    // state of Mailkey's own.
    let link = link_for_administrator(&op, &id).await;
    assert!(
        link.starts_with(&format!("{}/sandbox/{FABRIKAM}/v2.0/adminconsent?", s.base)),
        "{link}"
    );
    let params = query(&link);
    assert_eq!(params["client_id"], OPERATOR_APP);
    assert!(params["state"].len() >= 43, "256 bits");

    // Without the origin check passing, no link is made.
    let refused = TestServer::client()
        .post(s.url(&format!("/accounts/{id}/admin-consent-link")))
        .header("cookie", &op.cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    // The administrator, in another browser: Microsoft's page, Accept, back to Mailkey.
    let back = admin_consent(&link, "admin@fabrikam.test", "accept").await;
    let res = TestServer::client().get(&back).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Consent granted"), "{page}");
    assert!(
        page.contains("Ask the person connecting orders@fabrikam.test to sign"),
        "{page}"
    );
    // The operator's wizard learns it too.
    assert_eq!(
        op.connection(&id).await["last_outcome"]["kind"],
        "consent_granted"
    );

    // The link works once, and says so in the administrator's words.
    let again = TestServer::client().get(&back).send().await.unwrap();
    assert_eq!(again.status(), 400);
    let page = again.text().await.unwrap();
    assert!(
        page.contains("This approval link was already used"),
        "{page}"
    );
    assert!(!page.contains("Back to mailboxes"), "{page}");

    // The user signs in again, without a consent page, and is connected.
    let url = op.start(&id, "sign-in?mode=redirect").await;
    let back = authorize(&url, "orders@fabrikam.test", "accept").await;
    assert_eq!(op.get(&back).await.status(), 303);
    assert_eq!(op.connection(&id).await["state"], "connected");
}

/// An administrator who declines is told what was declined and how to try again.
#[tokio::test]
async fn an_administrator_who_declines_is_told_how_to_retry() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    let id = op.operator_account("orders@fabrikam.test").await;
    let link = link_for_administrator(&op, &id).await;
    let back = admin_consent(&link, "admin@fabrikam.test", "decline").await;
    let page = page_at(&back).await;
    assert!(page.contains("Consent not granted"), "{page}");
    assert!(
        page.contains("ask the person connecting orders@fabrikam.test for a"),
        "{page}"
    );
    let outcome = &op.connection(&id).await["last_outcome"];
    assert_eq!(outcome["kind"], "failed", "{outcome}");
}

#[tokio::test]
async fn a_personal_microsoft_account_is_warned_and_refused() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    let id = op.operator_draft().await;
    let saved = op.save_mailbox(&id, "someone@outlook.test", &[]).await;
    let warnings = saved["warnings"].to_string();
    assert!(
        warnings.contains("outlook.test is a domain of personal Microsoft accounts"),
        "{warnings}"
    );

    let url = op.start(&id, "sign-in?mode=redirect").await;
    let back = authorize(&url, "someone@outlook.test", "accept").await;
    assert_eq!(op.get(&back).await.status(), 303);
    let connection = op.connection(&id).await;
    assert_ne!(connection["state"], "connected");
    assert_eq!(
        connection["last_outcome"]["problem"]["title"], "A personal Microsoft account signed in",
        "{connection}"
    );
    let record = s.state.store.draft(&id).await.unwrap().unwrap();
    assert!(record.refresh_token.is_none(), "nothing kept");
}

/// Whoever holds the link can shape the answer that comes back, but not make consent for another
/// organisation (or Microsoft's words of their own) count for this account.
#[tokio::test]
async fn a_consent_answer_for_another_organisation_is_not_taken() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    let id = op.operator_account("orders@fabrikam.test").await;
    let link = link_for_administrator(&op, &id).await;
    let state = &query(&link)["state"];
    let forged = format!("/oauth/callback?state={state}&admin_consent=True&tenant={CONTOSO}");
    let page = page_at(&s.url(&forged)).await;
    assert!(page.contains("Consent not granted"), "{page}");
    let connection = op.connection(&id).await;
    let problem = &connection["last_outcome"]["problem"];
    assert!(
        problem["what"]
            .as_str()
            .unwrap()
            .contains("another organisation than the mailbox's"),
        "{connection}"
    );
    // The returned tenant is compared, never repeated: on neither page.
    assert!(!connection.to_string().contains(CONTOSO), "{connection}");
    assert!(!page.contains(CONTOSO), "{page}");

    // An error code nobody knows, written by the link's holder, is not repeated either.
    let link = link_for_administrator(&op, &id).await;
    let state = &query(&link)["state"];
    let forged = format!(
        "/oauth/callback?state={state}&error=Call+0900+1234+for+help&error_description=Call+now"
    );
    let page = page_at(&s.url(&forged)).await;
    let connection = op.connection(&id).await;
    for shown in [page.as_str(), &connection.to_string()] {
        assert!(!shown.contains("0900"), "{shown}");
        assert!(!shown.contains("Call now"), "{shown}");
    }
    assert_eq!(
        connection["last_outcome"]["problem"]["what"],
        "Microsoft refused without a code Mailkey knows.",
        "{connection}"
    );

    let link = link_for_administrator(&op, &id).await;
    let state = &query(&link)["state"];
    let forged = format!(
        "/oauth/callback?state={state}&error=access_denied&error_description=AADSTS65004%3A+Call+0900+now."
    );
    TestServer::client()
        .get(s.url(&forged))
        .send()
        .await
        .unwrap();
    let connection = op.connection(&id).await;
    let problem = &connection["last_outcome"]["problem"];
    assert_eq!(problem["code"], 65004, "{connection}");
    assert!(
        problem["detail"].is_null(),
        "no words from the link's holder: {connection}"
    );
}

/// A shared link for an account whose organisation Mailkey does not know yet: a reported consent
/// cannot be checked against the mailbox's organisation, so it is not shown as granted.
#[tokio::test]
async fn a_forged_consent_for_an_unknown_organisation_is_not_called_granted() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    let id = op.operator_draft().await;
    let saved = op
        .save_mailbox(&id, "orders@unknown-domain.test", &[])
        .await;
    assert!(
        saved["warnings"]
            .to_string()
            .contains("No Microsoft 365 organisation"),
        "{saved}"
    );
    let link = link_for_administrator(&op, &id).await;
    let state = &query(&link)["state"];
    let forged = format!("/oauth/callback?state={state}&admin_consent=True&tenant={CONTOSO}");
    let page = page_at(&s.url(&forged)).await;
    assert!(!page.contains("Consent granted"), "{page}");
    assert!(page.contains("Consent not granted"), "{page}");
    let connection = op.connection(&id).await;
    assert_eq!(
        connection["last_outcome"]["problem"]["title"], "Consent could not be confirmed",
        "{connection}"
    );
    assert!(!connection.to_string().contains(CONTOSO), "{connection}");
}

/// The one-click path asks for nothing before the sign-in: the account that signs in is the
/// mailbox, and its address becomes the account's name.
#[tokio::test]
async fn nothing_is_typed_before_the_sign_in_and_the_mailbox_is_the_account_that_signs_in() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    let id = op.operator_draft().await;
    let url = op.start(&id, "sign-in?mode=redirect").await;
    assert!(!query(&url).contains_key("login_hint"), "{url}");
    let back = authorize(&url, "invoices@contoso.test", "accept").await;
    assert_eq!(op.get(&back).await.status(), 303);
    let c = op.connection(&id).await;
    assert_eq!(c["state"], "connected", "{c}");
    assert_eq!(c["signed_in_as"], "invoices@contoso.test");
    let list: serde_json::Value = op.get("/api/v1/accounts").await.json().await.unwrap();
    let row = &list["accounts"][0];
    assert_eq!(row["email"], "invoices@contoso.test", "{list}");
    assert_eq!(row["name"], "invoices@contoso.test", "{list}");
    let record = s.state.store.draft(&id).await.unwrap().unwrap();
    assert_eq!(
        record.tenant_id.as_deref(),
        Some(CONTOSO),
        "learnt from the token"
    );
    // A later sign-in of someone else is then the wrong account, as for any account.
    let url = op.start(&id, "sign-in?mode=redirect").await;
    assert_eq!(query(&url)["login_hint"], "invoices@contoso.test");
}

/// A link for an administrator must name the organisation or at least the mailbox: without
/// either, its answer could not be checked, so the Mailbox step asks for the address first.
#[tokio::test]
async fn a_link_for_the_administrator_first_asks_for_the_mailbox_when_none_is_named() {
    let (s, _files) = start().await;
    let op = Operator::new(&s).await;
    let id = op.operator_draft().await;
    let res = TestServer::client()
        .post(s.url(&format!("/accounts/{id}/admin-consent-link")))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/accounts/{id}/setup/4"));
    // Named, the organisation is found from it and the link is made.
    op.save_mailbox(&id, "orders@fabrikam.test", &[]).await;
    let link = link_for_administrator(&op, &id).await;
    assert!(
        link.contains(&format!("/sandbox/{FABRIKAM}/v2.0/adminconsent")),
        "{link}"
    );
}
