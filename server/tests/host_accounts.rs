//! A host's backend creating its customers' accounts over `/api/v1`: in an organisation named by
//! the host's own ID, idempotent on the account's external ID, checked whole before anything is
//! written, and listed a page at a time.

use crate::support;

use mailkey::api_keys::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{
    host::{get_api, key, key_for, post_token, send},
    multi_tenant::{self, OPERATOR_APP},
    portal::{authorize, query, Operator},
    TestServer,
};

const SANDBOX: &str = "microsoft365-sandbox";

async fn organisation(s: &TestServer, k: &str, external_id: &str) -> String {
    let (status, org) = send(
        s,
        Method::POST,
        k,
        "/api/v1/organisations",
        Some(json!({"external_id": external_id, "name": format!("Customer {external_id}")})),
    )
    .await;
    assert!(status.is_success(), "{org}");
    org["id"].as_str().unwrap().to_string()
}

async fn create(s: &TestServer, k: &str, body: Value) -> (StatusCode, Value) {
    send(s, Method::POST, k, "/api/v1/accounts", Some(body)).await
}

async fn account_count(s: &TestServer) -> usize {
    s.state.store.list_accounts().await.unwrap().len()
}

#[tokio::test]
async fn a_host_creates_an_account_for_its_customer_and_gets_tokens_once_it_signed_in() {
    let (s, _files) = multi_tenant::start().await;
    let k = key(&s, &Scope::ALL).await;
    let org = organisation(&s, &k, "cust-7").await;

    let body = json!({
        "organisation_external_id": "cust-7",
        "external_id": "mailbox-1",
        "provider": SANDBOX,
        "app": "operator",
        "name": "Invoices",
        "email": " invoices@contoso.test ",
    });
    let (status, made) = create(&s, &k, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let a = &made["account"];
    let id = a["id"].as_str().unwrap().to_string();
    assert_eq!(made["created"], true);
    assert_eq!(a["organisation_id"], org.as_str());
    assert_eq!(a["external_id"], "mailbox-1");
    assert_eq!(a["email"], "invoices@contoso.test", "trimmed");
    assert_eq!(a["name"], "Invoices");
    assert_eq!(
        a["state"], "ready_to_sign_in",
        "the operator's app needs nothing else"
    );
    assert_eq!(
        made["setup_url"],
        s.url(&format!("/accounts/{id}/setup")).as_str()
    );

    // The same external ID again: the same account, nothing new.
    let (status, again) = create(&s, &k, body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["created"], false);
    assert_eq!(again["account"]["id"], id.as_str());
    assert_eq!(account_count(&s).await, 1);
    let (_, found) = get_api(&s, &k, "/api/v1/accounts?external_id=mailbox-1").await;
    assert_eq!(found["accounts"][0]["id"], id.as_str(), "{found}");
    // The same external ID for another mailbox is said, not answered with the old account.
    let (status, taken) = create(
        &s,
        &k,
        json!({"organisation_external_id": "cust-7", "external_id": "mailbox-1",
               "provider": SANDBOX, "app": "operator", "email": "orders@contoso.test"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{taken}");
    assert_eq!(taken["error"]["code"], "external_id_taken");
    assert!(taken["error"]["message"]
        .as_str()
        .unwrap()
        .contains("connects invoices@contoso.test"));
    assert_eq!(account_count(&s).await, 1);

    // No token before the mailbox signed in; after it did, one for that mailbox.
    let (status, _, e) = post_token(&s, Some(&k), &id, "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "needs_reconnect");
    let op = Operator::new(&s).await;
    let url = op.start(&id, "sign-in?mode=redirect").await;
    assert_eq!(query(&url)["client_id"], OPERATOR_APP);
    let back = authorize(&url, "invoices@contoso.test", "accept").await;
    assert_eq!(op.get(&back).await.status(), 303);
    let (status, _, t) = post_token(&s, Some(&k), &id, "").await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["mailbox"], "invoices@contoso.test");

    // An own-app account keeps the address for its mailbox step and waits for its app.
    let (status, own) = create(
        &s,
        &k,
        json!({"organisation_id": org, "provider": SANDBOX, "app": "own",
               "email": "orders@contoso.test"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    assert_eq!(own["account"]["state"], "draft");
    let own_id = own["account"]["id"].as_str().unwrap();
    let (_, detail) = get_api(&s, &k, &format!("/api/v1/accounts/{own_id}")).await;
    assert_eq!(
        detail["mailbox"]["email"], "orders@contoso.test",
        "{detail}"
    );
    assert_eq!(
        detail["servers"],
        Value::Null,
        "its mailbox step is not saved"
    );
}

#[tokio::test]
async fn refused_account_values_say_what_is_wrong_and_create_nothing() {
    let (s, _files) = multi_tenant::start().await;
    let k = key(&s, &Scope::ALL).await;
    let org = organisation(&s, &k, "cust-8").await;
    let other = organisation(&s, &k, "cust-9").await;

    let refusals = [
        (
            json!({"organisation_id": org, "provider": SANDBOX, "app": "operator",
                   "email": "not an address"}),
            StatusCode::BAD_REQUEST,
            "invalid_fields",
            Some("email"),
        ),
        (
            json!({"organisation_id": org, "provider": "exchange2010", "app": "own"}),
            StatusCode::BAD_REQUEST,
            "invalid_fields",
            Some("provider"),
        ),
        (
            // Only the sandbox has an operator app here.
            json!({"organisation_id": org, "provider": "microsoft365", "app": "operator"}),
            StatusCode::BAD_REQUEST,
            "invalid_fields",
            Some("app_source"),
        ),
        (
            json!({"organisation_id": org, "provider": SANDBOX, "app": "own", "external_id": " "}),
            StatusCode::BAD_REQUEST,
            "invalid_fields",
            Some("external_id"),
        ),
        (
            json!({"organisation_id": org, "provider": SANDBOX}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            None,
        ),
        (
            json!({"organisation_id": org, "app": "own", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            None,
        ),
        (
            json!({"app": "own", "provider": SANDBOX}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            None,
        ),
        (
            json!({"organisation_id": org, "organisation_external_id": "cust-8", "app": "own"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            None,
        ),
        (
            json!({"organisation_id": "org_nope", "app": "own", "provider": SANDBOX}),
            StatusCode::NOT_FOUND,
            "organisation_not_found",
            None,
        ),
        (
            json!({"organisation_external_id": "nope", "app": "own", "provider": SANDBOX}),
            StatusCode::NOT_FOUND,
            "organisation_not_found",
            None,
        ),
    ];
    for (body, status, code, field) in refusals {
        let (got, e) = create(&s, &k, body.clone()).await;
        assert_eq!(got, status, "{body} → {e}");
        assert_eq!(e["error"]["code"], code, "{body} → {e}");
        if let Some(field) = field {
            let why = e["error"]["fields"][field].as_str().unwrap_or_default();
            assert!(!why.is_empty(), "{body} → {e}");
        }
        assert_eq!(account_count(&s).await, 0, "{body} created something");
    }

    // A key restricted to one organisation creates there by default, and cannot reach another.
    let mine = key_for(&s, &org).await;
    let (status, e) = create(
        &s,
        &mine,
        json!({"organisation_id": other, "provider": SANDBOX, "app": "own"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    let (status, e) = create(
        &s,
        &mine,
        json!({"organisation_external_id": "cust-9", "provider": SANDBOX, "app": "own"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    assert_eq!(account_count(&s).await, 0);
    let (status, made) = create(&s, &mine, json!({"provider": SANDBOX, "app": "own"})).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["account"]["organisation_id"], org.as_str());

    // Reading alone is not enough to create.
    let reader = key(&s, &[Scope::ReadAccounts]).await;
    let (status, _) = create(
        &s,
        &reader,
        json!({"organisation_id": org, "provider": SANDBOX, "app": "own"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(account_count(&s).await, 1);
}

#[tokio::test]
async fn accounts_are_listed_a_page_at_a_time_without_gaps_or_repeats() {
    let (s, _files) = multi_tenant::start().await;
    let k = key(&s, &Scope::ALL).await;
    let org = organisation(&s, &k, "cust-10").await;
    let mut made = Vec::new();
    for n in 0..5 {
        let (status, a) = create(
            &s,
            &k,
            json!({"organisation_id": org, "provider": SANDBOX, "app": "own",
                   "external_id": format!("m{n}")}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{a}");
        made.push(a["account"]["id"].as_str().unwrap().to_string());
    }

    let mut seen = Vec::new();
    let mut path = format!("/api/v1/accounts?organisation={org}&limit=2");
    let mut pages = 0;
    loop {
        let (status, page) = get_api(&s, &k, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        let accounts = page["accounts"].as_array().unwrap();
        assert!(accounts.len() <= 2);
        seen.extend(
            accounts
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => {
                path = format!("/api/v1/accounts?organisation={org}&limit=2&after={next}")
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "no repeats: {seen:?}");
    made.sort();
    assert_eq!(sorted, made, "no gaps");

    for bad in [
        "limit=0",
        "limit=201",
        "limit=many",
        "after=123",
        "after=x.y%27--",
        "organization=org_default",
    ] {
        let (status, e) = get_api(&s, &k, &format!("/api/v1/accounts?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} → {e}");
        assert_eq!(e["error"]["code"], "invalid_query", "{bad} → {e}");
    }
}

#[tokio::test]
async fn deleting_an_organisation_takes_its_accounts_and_its_restricted_keys() {
    let (s, _files) = multi_tenant::start().await;
    let k = key(&s, &Scope::ALL).await;
    let org = organisation(&s, &k, "cust-11").await;
    let mine = key_for(&s, &org).await;
    let (status, made) = create(&s, &mine, json!({"provider": SANDBOX, "app": "own"})).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");

    let (status, gone) = send(
        &s,
        Method::DELETE,
        &k,
        &format!("/api/v1/organisations/{org}?delete_accounts=true"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["accounts_deleted"], 1);
    assert_eq!(account_count(&s).await, 0);
    let (status, e) = get_api(&s, &mine, "/api/v1/accounts").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{e}");
}

/// In the portal, a new account goes into the organisation the operator picks, or a new one
/// named there; the list says which.
#[tokio::test]
async fn the_portal_puts_an_account_in_the_organisation_picked_or_a_new_one() {
    let (s, _files) = multi_tenant::start().await;
    let op = Operator::new(&s).await;
    let k = key(&s, &Scope::ALL).await;
    let org = organisation(&s, &k, "cust-12").await;

    let info = op.call("accounts/new", &[]).await;
    assert_eq!(info["organisations"][0][0], "org_default", "{info}");
    assert!(info["organisations"].to_string().contains(&org));

    let picked = op
        .call(
            "accounts/create",
            &[("provider", SANDBOX), ("organisation", &org)],
        )
        .await;
    let new = op
        .call(
            "accounts/create",
            &[
                ("one_click", SANDBOX),
                ("organisation", &org),
                ("new_organisation", "Fabrikam Ltd"),
            ],
        )
        .await;
    let accounts = op.call("accounts", &[]).await;
    let of = |id: &Value| {
        accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == *id)
            .cloned()
            .unwrap()
    };
    assert_eq!(of(&picked["id"])["organisation_id"], org.as_str());
    assert_eq!(of(&picked["id"])["organisation_name"], "Customer cust-12");
    let fabrikam = of(&new["id"]);
    assert_eq!(fabrikam["organisation_name"], "Fabrikam Ltd");
    let record = s
        .state
        .store
        .draft(new["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.app_source,
        mailkey_app::draft::AppSource::Operator,
        "Use <app> is the one-click path"
    );

    // An organisation that is not there: refused, nothing made.
    let before = account_count(&s).await;
    let refused = TestServer::client()
        .post(s.url("/_fn/accounts/create"))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .header("accept", "application/json")
        .form(&[("provider", SANDBOX), ("organisation", "org_gone")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("organisation"));
    assert_eq!(account_count(&s).await, before);

    // A refused way in leaves no new organisation behind; a name given again is the same one.
    let organisations = || async { s.state.store.organisations(None).await.unwrap().len() };
    let orgs = organisations().await;
    let refused = TestServer::client()
        .post(s.url("/_fn/accounts/create"))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .header("accept", "application/json")
        .form(&[
            ("one_click", "exchange2010"),
            ("new_organisation", "Northwind"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(organisations().await, orgs, "nothing made");
    assert_eq!(account_count(&s).await, before);
    op.call(
        "accounts/create",
        &[
            ("one_click", SANDBOX),
            ("new_organisation", " fabrikam ltd "),
        ],
    )
    .await;
    assert_eq!(
        organisations().await,
        orgs,
        "Fabrikam Ltd again, not a second one"
    );
}
