//! The host application's side of `/api/v1`: API keys (made, checked, scoped, revoked) and
//! `POST /api/v1/accounts/{id}/access-token`, through the real HTTP surface against the sandbox.

use crate::support;

use mailkey::api_keys::Scope;
use reqwest::StatusCode;
use serde_json::Value;
use support::{
    contoso::{connected, contains, db, db_bytes, start, Tenant, CLIENT_ID, MAILBOX, SECRET},
    host::{get_api, key, key_for, post_token, send},
    portal::Operator,
    TestServer,
};

#[tokio::test]
async fn a_host_gets_a_token_and_everything_to_use_it_and_never_a_secret() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let k = key(s, &Scope::ALL).await;
    assert!(k.starts_with("mk_live_") && k.len() == 51, "{k}");

    let (status, headers, t) = post_token(s, Some(&k), &id, "").await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["mailbox"], MAILBOX);
    assert_eq!(t["xoauth2_user"], MAILBOX);
    assert_eq!(t["servers"]["smtp"]["host"], "smtp.office365.com");
    assert_eq!(t["servers"]["smtp"]["port"], 587);
    assert_eq!(t["servers"]["smtp"]["security"], "starttls");
    assert_eq!(t["servers"]["incoming"]["port"], 993);
    assert!(t["expires_at"].as_i64().unwrap() > mailkey::storage::now() + 300);
    assert_eq!(
        t["scopes"],
        serde_json::json!([
            "https://outlook.office.com/IMAP.AccessAsUser.All",
            "https://outlook.office.com/SMTP.Send"
        ])
    );
    // The token is the sandbox's and works for the mailbox.
    let sandbox = s.state.sandbox.clone().unwrap();
    let claims = sandbox
        .grants
        .introspect(t["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims["upn"], MAILBOX);
    // No refresh token or secret in the answer, nor in the database's bytes.
    let text = t.to_string();
    for secret in ["sbx.rt.", SECRET, &k] {
        assert!(!text.contains(secret), "{secret} in the answer");
        assert!(!contains(&db_bytes(s), secret), "{secret} in the database");
    }
    // The same token from the cache while it is valid long enough; a new one when forced.
    let (_, _, again) = post_token(s, Some(&k), &id, r#"{"min_validity": 600}"#).await;
    assert_eq!(again["access_token"], t["access_token"]);
    let before = sandbox.grants.refresh_requests();
    let (_, _, forced) = post_token(s, Some(&k), &id, r#"{"force_refresh": true}"#).await;
    assert_ne!(forced["access_token"], t["access_token"]);
    assert_eq!(sandbox.grants.refresh_requests(), before + 1);
}

#[tokio::test]
async fn keys_are_checked_scoped_and_revoked_and_never_say_whether_one_existed() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let reader = key(s, &[Scope::ReadAccounts]).await;
    let issuer = key(s, &[Scope::IssueTokens]).await;

    // No key, a malformed one, an unknown one and a revoked one: the same 401.
    let unknown = format!("mk_live_{}", "A".repeat(43));
    let (gone, revoked) = s
        .state
        .api_keys
        .create("Revoked", &Scope::ALL)
        .await
        .unwrap();
    let revoked = revoked.expose().to_string();
    assert!(s.state.api_keys.revoke(&gone.id).await.unwrap());
    let mut bodies = Vec::new();
    for bearer in [
        None,
        Some("not a key"),
        Some(unknown.as_str()),
        Some(revoked.as_str()),
    ] {
        let (status, _, body) = post_token(s, bearer, &id, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bearer:?}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        if bearer.is_some() {
            bodies.push(body);
        }
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");

    // Scopes: a reader lists accounts but gets no token; an issuer the reverse.
    let (status, list) = get_api(s, &reader, "/api/v1/accounts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["accounts"][0]["id"], id.as_str());
    let (status, _, body) = post_token(s, Some(&reader), &id, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("tokens.issue"));
    let (status, _) = get_api(s, &issuer, "/api/v1/accounts").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        post_token(s, Some(&issuer), &id, "").await.0,
        StatusCode::OK
    );

    // Revoked: refused from the very next request.
    let issuer_id = s
        .state
        .api_keys
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.issue_tokens && !k.read_accounts)
        .unwrap()
        .id;
    s.state.api_keys.revoke(&issuer_id).await.unwrap();
    assert_eq!(
        post_token(s, Some(&issuer), &id, "").await.0,
        StatusCode::UNAUTHORIZED
    );

    // The operator's browser session keeps working on /api/v1.
    assert_eq!(op.get("/api/v1/accounts").await.status(), StatusCode::OK);

    // When a key was last used is written in a batch, not on the request's path.
    let pool = db(s).await;
    let last: Option<i64> = sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = $1")
        .bind(&issuer_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(last, None, "no write per request");
    s.state.api_keys.flush().await;
    let last: Option<i64> = sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = $1")
        .bind(&issuer_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(last.is_some());
}

#[tokio::test]
async fn a_bad_body_is_refused_in_the_one_error_shape_and_changes_nothing() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let k = key(s, &Scope::ALL).await;
    for (body, words) in [
        ("{not json", "send a JSON object"),
        (r#"{"min_validty": 60}"#, "unknown field `min_validty`"),
        (r#"{"min_validity": "soon"}"#, "invalid type"),
        (r#"{"min_validity": 5000}"#, "at most 3000"),
    ] {
        let (status, _, e) = post_token(s, Some(&k), &id, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert_eq!(e["error"]["code"], "invalid_body", "{body}: {e}");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{body}: {message}");
    }
    let (status, _, e) = post_token(s, Some(&k), "no-such-account", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["code"], "account_not_found");
}

#[tokio::test]
async fn a_hundred_hosts_asking_at_once_share_one_refresh() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let k = key(s, &Scope::ALL).await;
    let sandbox = s.state.sandbox.clone().unwrap();
    s.state.tokens.forget(&id);
    let before = sandbox.grants.refresh_requests();
    let calls = (0..100).map(|_| {
        let url = s.url(&format!("/api/v1/accounts/{id}/access-token"));
        let k = k.clone();
        tokio::spawn(async move {
            let res = TestServer::client()
                .post(url)
                .header("authorization", format!("Bearer {k}"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_string()
        })
    });
    let mut tokens = std::collections::HashSet::new();
    for c in calls {
        tokens.insert(c.await.unwrap());
    }
    assert_eq!(sandbox.grants.refresh_requests(), before + 1, "one refresh");
    assert_eq!(tokens.len(), 1, "every caller got the same fresh token");
}

#[tokio::test]
async fn a_mailbox_to_reconnect_and_microsoft_unavailable_are_told_apart() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let k = key(s, &Scope::ALL).await;
    let sandbox = s.state.sandbox.clone().unwrap();

    // Throttled: 503 with Retry-After, the account stays connected.
    sandbox.grants.set_throttle(Some(90));
    s.state.tokens.forget(&id);
    let (status, headers, e) = post_token(s, Some(&k), &id, "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert_eq!(e["error"]["code"], "provider_unavailable");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((80..=90).contains(&wait), "{wait}");
    assert_eq!(op.connection(&id).await["state"], "connected");
    sandbox.grants.set_throttle(None);

    // Never signed in: 409 needs_reconnect.
    let fresh = op.account(CLIENT_ID, SECRET, "admin@contoso.test").await;
    let (status, _, e) = post_token(s, Some(&k), &fresh, "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "needs_reconnect");
    let _ = id;
}

#[tokio::test]
async fn a_revoked_sign_in_is_needs_reconnect_with_its_reason() {
    let env = start(Tenant {
        revoked: true,
        ..Tenant::default()
    })
    .await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let k = key(s, &Scope::ALL).await;
    s.state.tokens.forget(&id);
    let (status, headers, e) = post_token(s, Some(&k), &id, "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "needs_reconnect");
    assert!(!headers.contains_key("retry-after"));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("The sign-in was revoked"),
        "{e}"
    );
}

#[tokio::test]
async fn organisations_are_created_once_per_external_id_and_a_restricted_key_sees_only_its_own() {
    use reqwest::Method;
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let admin = key(s, &Scope::ALL).await;

    // Existing accounts are in the default organisation.
    let (_, list) = get_api(s, &admin, "/api/v1/organisations").await;
    assert_eq!(list["organisations"][0]["external_id"], "default", "{list}");
    assert_eq!(list["organisations"][0]["accounts"], 1);

    let body = serde_json::json!({"external_id": "cust-42", "name": "Contoso Ltd"});
    let (status, created) = send(
        s,
        Method::POST,
        &admin,
        "/api/v1/organisations",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, again) = send(s, Method::POST, &admin, "/api/v1/organisations", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "idempotent on external_id");
    assert_eq!(again["id"], created["id"]);
    let org = created["id"].as_str().unwrap().to_string();
    let (status, renamed) = send(
        s,
        Method::PATCH,
        &admin,
        &format!("/api/v1/organisations/{org}"),
        Some(serde_json::json!({"name": "Contoso Group"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Contoso Group");
    let (status, e) = send(
        s,
        Method::POST,
        &admin,
        "/api/v1/organisations",
        Some(serde_json::json!({"external_id": "", "name": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["code"], "invalid_body");

    // A key restricted to the new organisation: the default one's account does not exist for it.
    let restricted = key_for(s, &org).await;
    let (_, mine) = get_api(s, &restricted, "/api/v1/accounts").await;
    assert_eq!(mine["accounts"], serde_json::json!([]), "{mine}");
    let (_, mine) = get_api(s, &restricted, "/api/v1/accounts?organisation=org_default").await;
    assert_eq!(mine["accounts"], serde_json::json!([]), "{mine}");
    let (status, e) = get_api(s, &restricted, &format!("/api/v1/accounts/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    assert_eq!(e["error"]["code"], "account_not_found");
    assert_eq!(
        post_token(s, Some(&restricted), &id, "").await.0,
        StatusCode::NOT_FOUND
    );
    let (_, orgs) = get_api(s, &restricted, "/api/v1/organisations").await;
    assert_eq!(orgs["organisations"].as_array().unwrap().len(), 1, "{orgs}");
    let (status, _) = get_api(s, &restricted, "/api/v1/organisations/org_default").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(
        s,
        Method::POST,
        &restricted,
        "/api/v1/organisations",
        Some(serde_json::json!({"external_id": "other", "name": "Other"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Filters.
    let (_, connected_only) = get_api(s, &admin, "/api/v1/accounts?state=connected").await;
    assert_eq!(connected_only["accounts"].as_array().unwrap().len(), 1);
    let (status, e) = get_api(s, &admin, "/api/v1/accounts?state=gone").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");

    // Deleting: refused while it has accounts, unless they go with it; final.
    let (status, e) = send(
        s,
        Method::DELETE,
        &admin,
        "/api/v1/organisations/org_default",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "organisation_not_empty");
    let (status, gone) = send(
        s,
        Method::DELETE,
        &admin,
        "/api/v1/organisations/org_default?delete_accounts=true",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["accounts_deleted"], 1);
    assert_eq!(
        post_token(s, Some(&admin), &id, "").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_account_deleted_over_the_api_is_gone_for_good() {
    use reqwest::Method;
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let reader = key(s, &[Scope::ReadAccounts, Scope::IssueTokens]).await;
    let (status, _) = send(
        s,
        Method::DELETE,
        &reader,
        &format!("/api/v1/accounts/{id}"),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "deleting needs accounts.write"
    );
    let writer = key(s, &[Scope::WriteAccounts]).await;
    let (status, gone) = send(
        s,
        Method::DELETE,
        &writer,
        &format!("/api/v1/accounts/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["deleted"], true);
    assert!(gone["note"].as_str().unwrap().contains("cannot be undone"));
    assert_eq!(
        post_token(s, Some(&reader), &id, "").await.0,
        StatusCode::NOT_FOUND
    );
    assert!(
        !contains(&db_bytes(s), "sbx.rt."),
        "no refresh token left behind"
    );
}

/// The OpenAPI document describes every route, and every route it describes is there: an
/// unauthenticated call to each answers 401 in the error shape, never the "no such endpoint" of
/// the fallback; a path it does not describe is that fallback.
#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let s = TestServer::start().await;
    let res = TestServer::client()
        .get(s.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    // For the independent checker `cargo xtask test` runs next (openapi-spec-validator).
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi.json"),
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    let expected = [
        ("GET", "/accounts"),
        ("POST", "/accounts"),
        ("GET", "/accounts/{id}"),
        ("DELETE", "/accounts/{id}"),
        ("POST", "/accounts/{id}/access-token"),
        ("GET", "/accounts/{id}/tests"),
        ("GET", "/accounts/{id}/folders"),
        ("PUT", "/accounts/{id}/folders"),
        ("GET", "/audit-events"),
        ("GET", "/organisations"),
        ("POST", "/organisations"),
        ("GET", "/organisations/{id}"),
        ("PATCH", "/organisations/{id}"),
        ("DELETE", "/organisations/{id}"),
        ("GET", "/organisations/{id}/allowed-origins"),
        ("PUT", "/organisations/{id}/allowed-origins"),
        ("POST", "/connect-sessions"),
        ("DELETE", "/connect-sessions/{id}"),
        ("GET", "/webhook-endpoints"),
        ("POST", "/webhook-endpoints"),
        ("GET", "/webhook-endpoints/{id}"),
        ("PATCH", "/webhook-endpoints/{id}"),
        ("DELETE", "/webhook-endpoints/{id}"),
        ("GET", "/webhook-endpoints/{id}/deliveries"),
        ("POST", "/webhook-endpoints/{id}/test"),
        (
            "POST",
            "/webhook-endpoints/{id}/deliveries/{delivery}/redeliver",
        ),
    ];
    for (m, p) in expected {
        assert!(
            operations.iter().any(|(om, op)| om == m && op == p),
            "{m} {p} is not described: {operations:?}"
        );
    }
    assert_eq!(operations.len(), expected.len(), "{operations:?}");
    // Client generators name their functions after these: each must be unique.
    let mut ids: Vec<&str> = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    assert_eq!(ids.len(), operations.len(), "every operation has an ID");
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        operations.len(),
        "operation IDs are unique: {ids:?}"
    );
    for (method, path) in &operations {
        let url = s.url(&format!(
            "/api/v1{}",
            path.replace("{id}", "x").replace("{delivery}", "1")
        ));
        let res = TestServer::client()
            .request(method.parse().unwrap(), url)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
    }
    let res = TestServer::client()
        .get(s.url("/api/v1/not-a-route"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Every documented answer's schema is there to read.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "AccessTokenAnswer",
        "AccountDetail",
        "Organisation",
        "ErrorBody",
        "WebhookEndpoint",
        "CreatedWebhookEndpoint",
        "EventType",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
}

/// One key cannot take the server: past its budget it gets 429 with `Retry-After` in the error
/// shape, while another key goes on.
#[tokio::test]
async fn each_key_has_its_own_rate_limit() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let busy = key(s, &Scope::ALL).await;
    let other = key(s, &Scope::ALL).await;
    // A budget of 200 at once plus 100 a second: a thousand at once cannot all fit.
    let calls = (0..1000).map(|_| {
        let url = s.url("/api/v1/accounts");
        let busy = busy.clone();
        tokio::spawn(async move {
            let res = TestServer::client()
                .get(url)
                .header("authorization", format!("Bearer {busy}"))
                .send()
                .await
                .unwrap();
            let status = res.status();
            let retry = res.headers().contains_key("retry-after");
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (status, retry, body)
        })
    });
    let mut limited = 0;
    for c in calls {
        let (status, retry, body) = c.await.unwrap();
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
            assert!(retry, "{body}");
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        } else {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    assert!(
        limited > 0,
        "400 requests at once stay within no budget of 200"
    );
    let (status, _) = get_api(s, &other, "/api/v1/accounts").await;
    assert_eq!(status, StatusCode::OK, "another key has its own budget");
}

/// Keys and token answers are remembered in memory, yet a change made by another instance (here
/// another connection to the database, as `mailkey api-key revoke` or a second server makes)
/// counts from the very next request.
#[tokio::test]
async fn a_change_made_elsewhere_counts_on_the_next_request_though_answers_are_remembered() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let org = s
        .state
        .store
        .create_organisation("org_other", "other", "Other")
        .await
        .unwrap()
        .0
        .id;
    let restricted = key_for(s, "org_default").await;
    let k = key(s, &Scope::ALL).await;
    for bearer in [&k, &restricted] {
        assert_eq!(post_token(s, Some(bearer), &id, "").await.0, StatusCode::OK);
    }
    let elsewhere = db(s).await;
    // Whatever writes through Mailkey (another instance, the CLI) answers only once every
    // listening instance heard the change; these writes go around it, so they settle as it does.
    let settled = || s.state.token_views.freshness().settle();

    // The account moves to another organisation: the restricted key no longer sees it.
    sqlx::query("UPDATE accounts SET organisation_id = $1 WHERE id = $2")
        .bind(&org)
        .bind(&id)
        .execute(&elsewhere)
        .await
        .unwrap();
    settled().await;
    let (status, _, e) = post_token(s, Some(&restricted), &id, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    assert_eq!(post_token(s, Some(&k), &id, "").await.0, StatusCode::OK);

    // The key is revoked elsewhere.
    sqlx::query("UPDATE api_keys SET revoked_at = 1 WHERE revoked_at IS NULL")
        .execute(&elsewhere)
        .await
        .unwrap();
    settled().await;
    let (status, _, e) = post_token(s, Some(&k), &id, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{e}");
    assert_eq!(e["error"]["code"], "unauthorized");
}

/// The portal's API keys page: a key made there is shown once and works; a bad one is refused
/// with nothing made; revoking refuses it from the next request.
#[tokio::test]
async fn the_operator_makes_shows_once_and_revokes_keys_in_the_portal() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;

    let refused = TestServer::client()
        .post(s.url("/_fn/api-keys/create"))
        .header("cookie", &op.cookie)
        .header("origin", &s.base)
        .header("accept", "application/json")
        .form(&[("name", " "), ("issue_tokens", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("name"));
    assert!(s.state.api_keys.list().await.unwrap().is_empty());

    op.call(
        "api-keys/create",
        &[("name", "Acme ERP"), ("issue_tokens", "on")],
    )
    .await;
    let page = op.call("api-keys", &[]).await;
    let secret = page["revealed"][0]["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("mk_live_"), "{page}");
    assert_eq!(
        page["keys"][0]["scopes"],
        serde_json::json!(["tokens.issue"])
    );
    let again = op.call("api-keys", &[]).await;
    assert_eq!(again["revealed"], serde_json::json!([]), "shown once");
    assert!(!again.to_string().contains(&secret));
    assert_eq!(
        post_token(s, Some(&secret), &id, "").await.0,
        StatusCode::OK
    );

    let key_id = page["keys"][0]["id"].as_str().unwrap();
    op.call("api-keys/revoke", &[("id", key_id)]).await;
    // A second click (another tab) is no error: the key is as refused as it gets.
    op.call("api-keys/revoke", &[("id", key_id)]).await;
    assert_eq!(
        post_token(s, Some(&secret), &id, "").await.0,
        StatusCode::UNAUTHORIZED
    );
    let after = op.call("api-keys", &[]).await;
    assert!(after["keys"][0]["revoked_at"].is_i64(), "{after}");
}
