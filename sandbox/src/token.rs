//! `POST /sandbox/{tenant}/oauth2/v2.0/token`: the authorization-code grant (PKCE S256 and a
//! client secret) and the refresh-token grant with rotation, refusing as Microsoft does.

use std::collections::HashMap;

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Form, Json,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use mailkey_app::rules::dates::Day;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::SandboxState;
use super::{
    authorize::pkce_matches,
    directory::{App, Tenant},
    grants::{Grants, IdTokenFault, Session, CODE_LIFETIME_SECS},
    jwt,
    protocol::{find_app, find_multi_tenant_app, is_organizations, parse_scopes, Refusal},
    RefreshUse, Sandbox,
};
use crate::now;

type Params = HashMap<String, String>;

fn param<'p>(p: &'p Params, k: &str) -> &'p str {
    p.get(k).map(String::as_str).unwrap_or("")
}

fn bad(error: &'static str, code: u32, text: impl Into<String>) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, error, code, text)
}

fn invalid_client(code: u32, text: impl Into<String>) -> Refusal {
    Refusal::new(StatusCode::UNAUTHORIZED, "invalid_client", code, text)
}

/// `client_secret_post` or `client_secret_basic`.
fn credentials(headers: &HeaderMap, p: &Params) -> (String, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let decode = |v: &str| {
                url::form_urlencoded::parse(format!("x={v}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    match basic {
        Some((id, secret)) => (id, Some(secret)),
        None => (
            p.get("client_id").cloned().unwrap_or_default(),
            p.get("client_secret").cloned(),
        ),
    }
}

fn check_secret(app: &App, grants: &Grants, presented: Option<&str>) -> Result<(), Refusal> {
    let Some(presented) = presented.filter(|s| !s.is_empty()) else {
        return Err(invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'.",
        ));
    };
    // Compared as SHA-256 digests, so the time taken says nothing about the secret.
    let digest = Sha256::digest(presented.as_bytes());
    let added = grants.added_secrets(&app.client_id);
    let matched = app
        .secrets()
        .chain(
            added
                .iter()
                .map(|(s, id, exp)| (s.as_str(), id.as_str(), exp.as_str())),
        )
        .filter(|(_, id, _)| !grants.is_secret_removed(id))
        .find(|(secret, _, _)| Sha256::digest(secret.as_bytes()) == digest)
        .map(|(_, _, expires)| expires.to_string());
    let Some(expires) = matched else {
        return Err(invalid_client(
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is \
                 the client secret value, not the client secret ID, for a secret added to app \
                 '{}'.",
                app.client_id
            ),
        ));
    };
    let today = Day(crate::now().div_euclid(86_400));
    let expired = Day::parse(&expires).is_some_and(|d| d <= today);
    if expired {
        return Err(invalid_client(
            7000222,
            format!(
                "The provided client secret keys for app '{}' are expired. Visit the Azure \
                 portal to create new keys for your app: https://aka.ms/NewClientSecret, or \
                 consider using certificate credentials for added security: \
                 https://aka.ms/certCreds.",
                app.client_id
            ),
        ));
    }
    Ok(())
}

pub async fn token(
    State(state): State<SandboxState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(p): Form<Params>,
) -> Response {
    let Some(sandbox) = state.sandbox.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(delay) = sandbox.grants.token_delay() {
        tokio::time::sleep(delay).await;
    }
    if let Some(wait) = sandbox.grants.throttle() {
        // Microsoft's throttling: 429, Retry-After, and an OAuth error body.
        let mut res = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({
                "error": "temporarily_unavailable",
                "error_description": "AADSTS50196: The server terminated an operation because \
                    it encountered a client request loop. Please contact your app vendor.",
                "error_codes": [50196],
            })),
        )
            .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
        return res;
    }
    let answered = answer(sandbox, &tenant, &headers, &p);
    if let Some(late) = sandbox.grants.refresh_answer_delay() {
        if param(&p, "grant_type") == "refresh_token" {
            tokio::time::sleep(late).await;
        }
    }
    match answered {
        Ok(body) => {
            let mut res = Json(body).into_response();
            res.headers_mut()
                .insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
            res
        }
        Err(r) => r.into_response(),
    }
}

fn answer(
    sandbox: &Sandbox,
    tenant: &str,
    headers: &HeaderMap,
    p: &Params,
) -> Result<serde_json::Value, Refusal> {
    let (client_id, secret) = credentials(headers, p);
    // `organizations` names no tenant: the grant's own tenant answers, for a multi-tenant app.
    let issued_in;
    let tenant = if is_organizations(tenant) {
        find_multi_tenant_app(&sandbox.directory, &client_id)?;
        let grant_tenant = match param(p, "grant_type") {
            "authorization_code" => sandbox.grants.code_tenant(param(p, "code")),
            "refresh_token" => sandbox.grants.refresh_tenant(param(p, "refresh_token")),
            _ => None,
        };
        issued_in = grant_tenant.ok_or_else(|| {
            bad(
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid.",
            )
        })?;
        issued_in.as_str()
    } else {
        tenant
    };
    let (t, app) = find_app(&sandbox.directory, tenant, &client_id)?;
    check_secret(&app, &sandbox.grants, secret.as_deref())?;
    let (session, nonce) = match param(p, "grant_type") {
        "authorization_code" => redeem_code(sandbox, t, &app, p)?,
        "refresh_token" => (use_refresh(sandbox, t, &app, p)?, None),
        "" => {
            return Err(bad(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            ))
        }
        other => {
            return Err(bad(
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            ))
        }
    };
    Ok(tokens(sandbox, t, &app, &session, nonce))
}

fn redeem_code(
    sandbox: &Sandbox,
    t: &Tenant,
    app: &App,
    p: &Params,
) -> Result<(Session, Option<String>), Refusal> {
    let code = param(p, "code");
    if code.is_empty() {
        return Err(bad(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'code'.",
        ));
    }
    let Some(grant) = sandbox.grants.redeem_code(code, &t.id, &app.client_id) else {
        return Err(bad(
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid.",
        ));
    };
    if grant.redeemed {
        return Err(bad(
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code \
             or use an existing refresh token.",
        ));
    }
    if now() - grant.issued_at > CODE_LIFETIME_SECS {
        return Err(bad(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. \
             Send a new interactive authorization request for this user and resource.",
        ));
    }
    let redirect_uri = param(p, "redirect_uri");
    if redirect_uri != grant.redirect_uri {
        return Err(bad(
            "invalid_grant",
            500112,
            format!(
                "The reply address '{redirect_uri}' does not match the reply address '{}' \
                 provided when requesting Authorization code.",
                grant.redirect_uri
            ),
        ));
    }
    if let Some(challenge) = &grant.code_challenge {
        let verifier = param(p, "code_verifier");
        if verifier.is_empty() || !pkce_matches(verifier, challenge) {
            return Err(bad(
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the \
                 authorization request.",
            ));
        }
    }
    Ok((grant.session, grant.nonce))
}

fn use_refresh(sandbox: &Sandbox, t: &Tenant, app: &App, p: &Params) -> Result<Session, Refusal> {
    let malformed = || {
        bad(
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid.",
        )
    };
    let (session, issued_at) =
        match sandbox
            .grants
            .use_refresh(param(p, "refresh_token"), &t.id, &app.client_id)
        {
            RefreshUse::Valid(s, at) => (s, at),
            RefreshUse::Unknown => return Err(malformed()),
            RefreshUse::Spent => {
                return Err(bad(
                    "invalid_grant",
                    70000,
                    "Provided grant is invalid or malformed. The refresh token was replaced and \
                 has been used since.",
                ))
            }
        };
    if !session.client_id.eq_ignore_ascii_case(&app.client_id)
        || !session.tenant_id.eq_ignore_ascii_case(&t.id)
    {
        return Err(malformed());
    }
    if t.user(&session.username).is_none_or(|u| u.revoked) {
        return Err(bad(
            "invalid_grant",
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is \
             needed. The user might have changed or reset their password.",
        ));
    }
    let inactive = now() - issued_at;
    if inactive >= i64::from(t.refresh_token_minutes) * 60 {
        return Err(bad(
            "invalid_grant",
            700082,
            format!(
                "The refresh token has expired due to inactivity. The token was issued on {} \
                 and was inactive for {} minutes.",
                issued_at,
                inactive / 60
            ),
        ));
    }
    let requested = param(p, "scope");
    if requested.is_empty() {
        return Ok(session);
    }
    let scopes = parse_scopes(requested)?;
    if scopes
        .granted
        .iter()
        .any(|s| !session.scopes.granted.contains(s))
    {
        return Err(bad(
            "invalid_grant",
            65001,
            format!(
                "The user or administrator has not consented to use the application with ID \
                 '{}' named '{}'. Send an interactive authorization request for this user and \
                 resource.",
                app.client_id, app.display_name
            ),
        ));
    }
    Ok(Session { scopes, ..session })
}

/// A stable object ID per user, as Entra's `oid` is.
fn object_id(username: &str) -> String {
    let h = Sha256::digest(username.to_ascii_lowercase().as_bytes());
    let x: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn tokens(
    sandbox: &Sandbox,
    t: &Tenant,
    app: &App,
    session: &Session,
    nonce: Option<String>,
) -> serde_json::Value {
    let lifetime = i64::from(t.access_token_minutes) * 60;
    let issuer = format!("{}/{}/", sandbox.authority, t.id);
    let access = sandbox.grants.mint_access_token(session, &issuer, lifetime);
    let mut scope: Vec<String> = session.scopes.granted.clone();
    scope.extend(session.scopes.oidc.iter().cloned());
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scope.join(" "),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access,
    });
    if session.scopes.has("offline_access") {
        body["refresh_token"] = sandbox.grants.issue_refresh(session.clone()).into();
    }
    if session.scopes.has("openid") {
        let user = t.user(&session.username);
        let n = now();
        let mut claims = json!({
            "aud": app.client_id,
            "iss": format!("{}/{}/v2.0", sandbox.authority, t.id),
            "iat": n,
            "nbf": n,
            "exp": n + 3600,
            "sub": object_id(&format!("{}:{}", app.client_id, session.username)),
            "oid": object_id(&session.username),
            "tid": t.id,
            "ver": "2.0",
        });
        if session.scopes.has("profile") {
            claims["name"] = user
                .map(|u| u.display_name.clone())
                .unwrap_or_default()
                .into();
            claims["preferred_username"] = session.username.clone().into();
        }
        if session.scopes.has("email") {
            claims["email"] = session.username.clone().into();
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        if let Some(fault) = sandbox.grants.id_token_fault() {
            spoil(&mut claims, fault, &sandbox.authority);
        }
        body["id_token"] = jwt::sign(&claims, app.secret.as_bytes()).into();
    }
    body
}

/// An ID token wrong in one way, everything else as it should be.
fn spoil(claims: &mut serde_json::Value, fault: IdTokenFault, authority: &str) {
    const ELSEWHERE: &str = "00000000-1111-4222-8333-444444444444";
    match fault {
        IdTokenFault::WrongAudience => claims["aud"] = ELSEWHERE.into(),
        IdTokenFault::WrongNonce => claims["nonce"] = "a-nonce-of-another-sign-in".into(),
        IdTokenFault::WrongTenant => {
            claims["tid"] = ELSEWHERE.into();
            claims["iss"] = format!("{authority}/{ELSEWHERE}/v2.0").into();
        }
        IdTokenFault::WrongIssuer => {
            let tid = claims["tid"].as_str().unwrap_or_default().to_string();
            claims["iss"] = format!("https://login.evil.example/{tid}/v2.0").into();
        }
        IdTokenFault::Expired => claims["exp"] = (now() - 3600).into(),
    }
}
