//! The audit trail: every change answered, with who (an API key by its name, the operator, an
//! embedded wizard's session), what (the route and the names of the fields sent, never their
//! values), which organisation and account, when and from where; access tokens handed out,
//! counted in batches; listed by `GET /api/v1/audit-events`, scoped like everything else, and
//! forgotten after the retention.

use crate::support;

use mailkey::api_keys::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{
    contoso::{connected, contains, db_bytes, start_with, Tenant, SECRET},
    host::{get_api, key_for, post_token, send},
    portal::Operator,
};

const SANDBOX: &str = "microsoft365-sandbox";

/// The lines whose action is `action`.
fn lines<'a>(list: &'a Value, action: &str) -> Vec<&'a Value> {
    list["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .collect()
}

#[tokio::test]
async fn changes_and_hand_outs_are_recorded_with_who_and_what_and_never_a_value() {
    let env = start_with(Tenant::default(), |_| {}).await;
    let s = &env.server;
    let (record, secret) = s
        .state
        .api_keys
        .create("Acme ERP", &Scope::ALL)
        .await
        .unwrap();
    let k = secret.expose().to_string();

    // A change through the API: who, what, which account, from where.
    let (status, created) = send(
        s,
        Method::POST,
        &k,
        "/api/v1/accounts",
        Some(
            json!({"organisation_id": "org_default", "provider": SANDBOX, "app": "own",
                    "email": "orders@contoso.test", "external_id": "orders"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let api_account = created["account"]["id"].as_str().unwrap().to_string();

    // Changes through the portal, by the operator: an account made, its app (with its client
    // secret) and mailbox saved, signed in.
    let op = Operator::new(s).await;
    let id = connected(&op).await;

    // Tokens handed out: counted, one line for the three.
    for _ in 0..3 {
        let (status, _, t) = post_token(s, Some(&k), &id, "").await;
        assert_eq!(status, StatusCode::OK, "{t}");
    }

    let (status, list) = get_api(s, &k, "/api/v1/audit-events?limit=200").await;
    assert_eq!(status, StatusCode::OK, "{list}");

    let made = lines(&list, "POST /api/v1/accounts");
    assert_eq!(made.len(), 1, "{list}");
    let made = made[0];
    assert_eq!(made["actor_kind"], "api_key");
    assert_eq!(made["actor_id"], record.id);
    assert_eq!(made["actor_name"], "Acme ERP");
    assert_eq!(made["account_id"], api_account.as_str());
    assert_eq!(made["organisation_id"], "org_default");
    assert_eq!(made["address"], "127.0.0.1");
    assert_eq!(
        made["fields"],
        json!(["app", "email", "external_id", "organisation_id", "provider"])
    );
    assert!(made["at"].as_i64().unwrap() > 0);

    let app_saved = lines(&list, "POST /_fn/accounts/app");
    assert!(!app_saved.is_empty(), "{list}");
    assert_eq!(app_saved[0]["actor_kind"], "operator");
    assert_eq!(app_saved[0]["account_id"], id.as_str());
    assert!(
        app_saved[0]["fields"]
            .as_array()
            .unwrap()
            .contains(&json!("client_secret")),
        "{}",
        app_saved[0]
    );

    // The portal's new account, with its ID; the sign-in that connected it, though a GET.
    let created = lines(&list, "POST /_fn/accounts/create");
    assert_eq!(created.len(), 1, "{list}");
    assert_eq!(created[0]["account_id"], id.as_str());
    assert_eq!(created[0]["organisation_id"], "org_default");
    let signed_in = lines(&list, "GET /oauth/callback");
    assert_eq!(signed_in.len(), 1, "{list}");
    assert_eq!(signed_in[0]["actor_kind"], "operator");
    assert_eq!(signed_in[0]["account_id"], id.as_str());
    assert_eq!(signed_in[0]["organisation_id"], "org_default");
    assert_eq!(signed_in[0]["fields"], json!(["refresh_token"]));

    let handed = lines(&list, "POST /api/v1/accounts/{id}/access-token");
    assert_eq!(handed.len(), 1, "{list}");
    assert_eq!(handed[0]["count"], 3);
    assert_eq!(handed[0]["actor_name"], "Acme ERP");
    assert_eq!(handed[0]["account_id"], id.as_str());
    assert!(handed[0]["first_at"].as_i64() <= handed[0]["at"].as_i64());

    // Reads are not changes.
    assert!(lines(&list, "POST /_fn/accounts").is_empty(), "{list}");
    assert!(lines(&list, "GET /api/v1/audit-events").is_empty());

    // Never a value: not the client secret, not the key, not a token.
    let text = list.to_string();
    for secret in [SECRET, k.as_str(), "sbx.rt."] {
        assert!(!text.contains(secret), "{secret} in the trail");
    }
    assert!(
        !contains(&db_bytes(s), SECRET),
        "the client secret in the database's bytes"
    );

    // Filtered by account; paged.
    let (_, of_account) = get_api(
        s,
        &k,
        &format!("/api/v1/audit-events?account={api_account}"),
    )
    .await;
    assert_eq!(
        of_account["events"].as_array().unwrap().len(),
        1,
        "{of_account}"
    );
    let (_, page) = get_api(s, &k, "/api/v1/audit-events?limit=2").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let before = page["next"].as_i64().unwrap();
    let (_, older) = get_api(
        s,
        &k,
        &format!("/api/v1/audit-events?limit=2&before={before}"),
    )
    .await;
    assert!(older["events"][0]["id"].as_i64().unwrap() < before);

    // A key restricted to another organisation sees none of this one's lines.
    let (_, org) = send(
        s,
        Method::POST,
        &k,
        "/api/v1/organisations",
        Some(json!({"external_id": "fabrikam", "name": "Fabrikam"})),
    )
    .await;
    let other = key_for(s, org["id"].as_str().unwrap()).await;
    let (status, theirs) = get_api(s, &other, "/api/v1/audit-events").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        theirs["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["organisation_id"] == org["id"]),
        "{theirs}"
    );
    let (_, asked) = get_api(s, &other, "/api/v1/audit-events?organisation=org_default").await;
    assert_eq!(asked["events"], json!([]));

    // A bad query says what is wrong.
    let (status, bad) = get_api(s, &k, "/api/v1/audit-events?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"]["code"], "invalid_query", "{bad}");
}

#[tokio::test]
async fn lines_past_the_retention_are_forgotten() {
    let env = start_with(Tenant::default(), |c| c.audit_retention_days = 30).await;
    let s = &env.server;
    let old = mailkey::storage::now() - 31 * 86_400;
    s.state
        .store
        .execute_raw(&format!(
            "INSERT INTO audit_events (at, first_at, actor_kind, actor_name, action, count) \
             VALUES ({old}, {old}, 'operator', 'operator', 'POST /_fn/accounts/delete', 1), \
             ({now}, {now}, 'operator', 'operator', 'POST /_fn/api-keys/revoke', 1)",
            now = mailkey::storage::now()
        ))
        .await;
    assert_eq!(s.state.audit.prune().await, 1);
    let left = s
        .state
        .store
        .text_raw("SELECT action FROM audit_events")
        .await;
    assert_eq!(left.as_deref(), Some("POST /_fn/api-keys/revoke"));
}

/// The portal's audit trail page: the operator's and a key's changes, filtered by actor and
/// organisation through the page's address; looking at it records nothing.
#[tokio::test]
async fn the_portal_shows_the_trail_filtered_by_actor_organisation_and_account() {
    let env = start_with(Tenant::default(), |_| {}).await;
    let s = &env.server;
    let (record, secret) = s
        .state
        .api_keys
        .create("Acme ERP", &Scope::ALL)
        .await
        .unwrap();
    let k = secret.expose().to_string();
    let (status, created) = send(
        s,
        Method::POST,
        &k,
        "/api/v1/organisations",
        Some(json!({"external_id": "fabrikam", "name": "Fabrikam"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let fabrikam = created["id"].as_str().unwrap().to_string();
    let (status, created) = send(
        s,
        Method::POST,
        &k,
        "/api/v1/accounts",
        Some(
            json!({"organisation_id": fabrikam, "provider": SANDBOX, "app": "own",
                    "email": "orders@fabrikam.test", "external_id": "orders"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let op = Operator::new(s).await;
    let id = connected(&op).await;

    let page = |path: String| {
        let cookie = op.cookie.clone();
        let url = s.url(&path);
        async move {
            let res = support::TestServer::client()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            res.text().await.unwrap()
        }
    };
    let all = page("/audit".into()).await;
    assert!(all.contains("Audit trail"), "{all}");
    assert!(all.contains("POST /api/v1/organisations"), "{all}");
    assert!(
        all.contains("API key “Acme ERP”"),
        "the filter offers the key: {all}"
    );
    assert!(all.contains(&id), "the operator's account: {all}");
    assert!(all.contains("fields: "), "{all}");
    assert!(!all.contains(SECRET), "never a value");

    // Only the key's lines.
    let by_key = page(format!("/audit?actor={}", record.id)).await;
    assert!(by_key.contains("POST /api/v1/organisations"), "{by_key}");
    assert!(!by_key.contains(&id), "no operator line: {by_key}");
    // Only Fabrikam's: its creation, no line of the operator's account.
    let by_org = page(format!("/audit?organisation={fabrikam}")).await;
    assert!(by_org.contains("POST /api/v1/accounts"), "{by_org}");
    assert!(!by_org.contains(&format!("<code>{id}</code>")), "{by_org}");
    // Only the account's.
    let by_account = page(format!("/audit?account={id}")).await;
    assert!(
        !by_account.contains("POST /api/v1/organisations"),
        "{by_account}"
    );
    assert!(by_account.contains(&id), "{by_account}");
    let none = page("/audit?account=acc_nobody".into()).await;
    assert!(none.contains("No lines match."), "{none}");

    // Looking recorded nothing: the same number of lines as before.
    let (_, before) = get_api(s, &k, "/api/v1/audit-events?limit=200").await;
    page("/audit".into()).await;
    let (_, after) = get_api(s, &k, "/api/v1/audit-events?limit=200").await;
    assert_eq!(
        before["events"].as_array().unwrap().len(),
        after["events"].as_array().unwrap().len()
    );

    // Signed out: the sign-in panel, no lines.
    let res = support::TestServer::client()
        .get(s.url("/audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body = res.text().await.unwrap();
    assert!(!body.contains("/api/v1/organisations"), "{body}");
}
