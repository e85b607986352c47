//! Who is calling `/api/v1` and what they may touch: an API key (`Authorization: Bearer …`) or
//! the operator's own browser session. Handlers take [`Allowed<S>`] for the scope they need and
//! never check by hand.

use std::marker::PhantomData;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};

use super::error::HttpError;
use crate::{
    api_keys::{ApiKey, ApiKeys, KeyError, Scope},
    auth::OperatorSession,
};

#[derive(Clone, Debug)]
pub enum Caller {
    /// The portal's own operator: may do everything.
    Operator,
    Key(ApiKey),
}

impl Caller {
    /// The one organisation the caller may see and touch, when it is restricted to one.
    pub fn organisation(&self) -> Option<&str> {
        match self {
            Caller::Operator => None,
            Caller::Key(k) => k.organisation.as_deref(),
        }
    }

    /// The caller as the audit trail names it.
    pub fn actor(&self) -> crate::audit::Actor {
        match self {
            Caller::Operator => crate::audit::Actor::operator(),
            Caller::Key(k) => crate::audit::Actor {
                kind: crate::storage::ActorKind::ApiKey,
                id: Some(k.id.clone()),
                name: k.name.clone(),
                organisation_id: k.organisation.clone(),
                account_id: None,
            },
        }
    }

    /// How the audit lines name the caller (a key by its name, never its secret).
    pub fn label(&self) -> String {
        match self {
            Caller::Operator => "operator session".into(),
            Caller::Key(k) => format!("API key {} ({})", k.name, k.id),
        }
    }
}

/// A scope a route needs, as a type.
pub trait NeedsScope {
    const SCOPE: Scope;
}

pub struct ReadAccounts;
impl NeedsScope for ReadAccounts {
    const SCOPE: Scope = Scope::ReadAccounts;
}

pub struct WriteAccounts;
impl NeedsScope for WriteAccounts {
    const SCOPE: Scope = Scope::WriteAccounts;
}

pub struct IssueTokens;
impl NeedsScope for IssueTokens {
    const SCOPE: Scope = Scope::IssueTokens;
}

pub struct ManageWebhooks;
impl NeedsScope for ManageWebhooks {
    const SCOPE: Scope = Scope::ManageWebhooks;
}

/// A caller allowed `S`'s scope. Without a key or session: 401; a key without the scope: 403.
pub struct Allowed<S> {
    pub caller: Caller,
    scope: PhantomData<S>,
}

impl Allowed<ReadAccounts> {
    /// Every caller allowed to write accounts may read them.
    pub fn of(caller: Caller) -> Allowed<ReadAccounts> {
        Allowed {
            caller,
            scope: PhantomData,
        }
    }
}

impl<S, St> FromRequestParts<St> for Allowed<S>
where
    S: NeedsScope,
    St: Send + Sync,
    ApiKeys: FromRef<St>,
{
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        let caller = caller(parts, state).await?;
        super::audit::AuditSlot::note(parts, caller.actor());
        if let Caller::Key(k) = &caller {
            if !k.may(S::SCOPE) {
                return Err(HttpError::MissingScope(S::SCOPE.as_str()));
            }
        }
        Ok(Allowed {
            caller,
            scope: PhantomData,
        })
    }
}

async fn caller<St>(parts: &Parts, state: &St) -> Result<Caller, HttpError>
where
    ApiKeys: FromRef<St>,
{
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        // A request that carries a credential is judged by it, even if a session cookie is
        // there too.
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(HttpError::BadKey)?;
        return match ApiKeys::from_ref(state).authenticate(presented).await {
            Ok(key) => Ok(Caller::Key(key)),
            Err(KeyError::Storage(e)) => Err(HttpError::Storage(e)),
            Err(_) => Err(HttpError::BadKey),
        };
    }
    if parts.extensions.get::<OperatorSession>().is_some() {
        return Ok(Caller::Operator);
    }
    Err(HttpError::Unauthorized)
}
