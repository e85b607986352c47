//! A host application's backend calling `/api/v1` with an API key.

use mailkey::api_keys::Scope;
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::Value;

use super::TestServer;

/// A new key with these scopes, as its secret.
pub async fn key(s: &TestServer, scopes: &[Scope]) -> String {
    let (_, secret) = s.state.api_keys.create("Acme ERP", scopes).await.unwrap();
    secret.expose().to_string()
}

/// A new key restricted to one organisation.
pub async fn key_for(s: &TestServer, organisation: &str) -> String {
    let (_, secret) = s
        .state
        .api_keys
        .create_for("One customer", &Scope::ALL, Some(organisation))
        .await
        .unwrap();
    secret.expose().to_string()
}

/// `POST /api/v1/accounts/{id}/access-token` with this raw body.
pub async fn post_token(
    s: &TestServer,
    bearer: Option<&str>,
    id: &str,
    body: &str,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = TestServer::client()
        .post(s.url(&format!("/api/v1/accounts/{id}/access-token")))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

pub async fn get_api(s: &TestServer, bearer: &str, path: &str) -> (StatusCode, Value) {
    send(s, Method::GET, bearer, path, None).await
}

/// `GET` on the instance at `base` (another process, say).
pub async fn get_api_at(base: &str, bearer: &str, path: &str) -> (StatusCode, Value) {
    send_at(base, Method::GET, bearer, path, None).await
}

pub async fn send(
    s: &TestServer,
    method: Method,
    bearer: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    send_at(&s.base, method, bearer, path, body).await
}

async fn send_at(
    base: &str,
    method: Method,
    bearer: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = TestServer::client()
        .request(method, format!("{base}{path}"))
        .header("authorization", format!("Bearer {bearer}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}
