//! `GET /setup?token=…` signs the operator in with a one-time link; `POST /logout` signs out.

use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::error::HttpError;
use crate::auth::{cookie, operator::SESSION_LIFETIME_SECS, OperatorAccess};

#[derive(Deserialize)]
pub struct SetupQuery {
    token: Option<String>,
}

pub async fn redeem(
    State(access): State<OperatorAccess>,
    Query(q): Query<SetupQuery>,
) -> Result<Response, HttpError> {
    let token = q.token.unwrap_or_default();
    let opened = if token.is_empty() {
        None
    } else {
        access.redeem(&token).await?
    };
    let mut res = match opened {
        Some(session) => {
            tracing::info!("operator signed in with a setup link");
            let mut res = Redirect::to("/").into_response();
            res.headers_mut().insert(
                header::SET_COOKIE,
                cookie::set(
                    session.expose(),
                    access.secure_cookies(),
                    SESSION_LIFETIME_SECS,
                ),
            );
            res
        }
        None => {
            tracing::warn!("refused an unknown, used or expired setup link");
            (StatusCode::BAD_REQUEST, Html(LINK_REFUSED_PAGE)).into_response()
        }
    };
    // The token is in this URL: keep it out of caches and out of any Referer header.
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(res)
}

pub async fn logout(
    State(access): State<OperatorAccess>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    if let Some(value) = cookie::read(&headers, access.secure_cookies()) {
        access.sign_out(&value).await?;
    }
    let mut res = Redirect::to("/").into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, cookie::clear(access.secure_cookies()));
    Ok(res)
}

const LINK_REFUSED_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Setup link not valid · Mailkey</title></head>
<body><main>
<h1>This setup link cannot sign you in</h1>
<p>It has already been used, it has expired (links last 24 hours), or it was copied incompletely.</p>
<p>On the server, run <code>mailkey admin link</code> to get a fresh link, then open it in this browser.</p>
</main></body></html>
"#;
