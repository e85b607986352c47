//! One-click connect: an account on the operator's own multi-tenant app (here the sandbox's)
//! signs in through `organizations`, records the tenant from the ID token, and keeps refreshing
//! on the operator's secret; a tenant that requires admin consent is told so.

mod support;

use support::{
    multi_tenant::{sandbox_file, CONTOSO, FABRIKAM, OPERATOR_APP},
    portal::{authorize, location, query, Operator},
    TestServer,
};

async fn start() -> (TestServer, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("sandbox.toml");
    std::fs::write(&path, sandbox_file()).unwrap();
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
    let back = authorize(&s, &url, "invoices@contoso.test", "accept").await;
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
    assert_eq!(record.app_source, "operator");
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
    let back = authorize(&s, &url, "orders@fabrikam.test", "return").await;
    assert_eq!(op.get(&back).await.status(), 303);
    let connection = op.connection(&id).await;
    let problem = &connection["last_outcome"]["problem"];
    assert_eq!(problem["code"], 65001, "{connection}");
    assert_eq!(problem["admin_consent"], true, "{connection}");

    // The tenant is not known before a sign-in succeeds: the admin-consent link goes through
    // organizations, and the administrator who signs in names the tenant.
    let url = op.start(&id, "admin-consent").await;
    assert!(
        url.contains("/sandbox/organizations/v2.0/adminconsent?"),
        "{url}"
    );
    let page = TestServer::client().get(&url).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("admin@fabrikam.test"));
    let mut form = query(&url);
    form.insert("username".into(), "admin@fabrikam.test".into());
    form.insert("decision".into(), "accept".into());
    let res = TestServer::client()
        .post(s.url("/sandbox/organizations/v2.0/adminconsent"))
        .header("origin", &s.base)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let back = location(&res);
    assert!(back.contains("admin_consent=True"), "{back}");
    assert_eq!(op.get(&back).await.status(), 303);
    assert_eq!(
        op.connection(&id).await["last_outcome"]["kind"],
        "consent_granted"
    );

    // The user signs in again, without a consent page, and the account is connected.
    let url = op.start(&id, "sign-in?mode=redirect").await;
    let back = authorize(&s, &url, "orders@fabrikam.test", "accept").await;
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
