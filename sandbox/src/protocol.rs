//! What the sandbox's endpoints share: Microsoft's error shape (an `AADSTS<code>: <text>` in
//! `error_description`), the checks of tenant, client ID and app that come first in every
//! request, and scope parsing (one resource per request).

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mailkey_app::rules::identifiers::is_guid;
use serde_json::json;

use super::directory::{random_guid, App, Directory, MultiTenantApp, Tenant};

/// Scopes that belong to no resource: OpenID Connect's and the refresh-token grant.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A refusal, as Microsoft words it.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u32,
    pub text: String,
}

impl Refusal {
    pub fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        text: impl Into<String>,
    ) -> Self {
        Refusal {
            status,
            error,
            code,
            text: text.into(),
        }
    }

    /// `AADSTS50011: The redirect URI … Trace ID: … Correlation ID: … Timestamp: …`
    pub fn description(&self) -> String {
        format!(
            "AADSTS{}: {} Trace ID: {} Correlation ID: {} Timestamp: {}",
            self.code,
            self.text,
            random_guid(),
            random_guid(),
            httpdate_now()
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({
            "error": self.error,
            "error_description": self.description(),
            "error_codes": [self.code],
            "timestamp": httpdate_now(),
            "trace_id": random_guid(),
            "correlation_id": random_guid(),
        });
        (self.status, Json(body)).into_response()
    }
}

fn httpdate_now() -> String {
    let secs = crate::now();
    let day = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(day);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn not_a_guid(client_id: &str) -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        90112,
        format!("Application identifier is expected to be a GUID. '{client_id}' is not."),
    )
}

/// The tenant and app a request names, or the refusal Microsoft gives, in Microsoft's order.
pub fn find_app<'d>(
    dir: &'d Directory,
    tenant: &str,
    client_id: &str,
) -> Result<(&'d Tenant, App), Refusal> {
    let Some(t) = dir.tenant(tenant) else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID \
                 and are signing into the correct cloud."
            ),
        ));
    };
    if !is_guid(client_id) {
        return Err(not_a_guid(client_id));
    }
    let Some(app) = dir.app(t, client_id) else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory \
                 '{}'. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant. You \
                 may have sent your authentication request to the wrong tenant.",
                t.domains[0]
            ),
        ));
    };
    Ok((t, app))
}

/// The authority segment for "any work or school account": the tenant is the signed-in user's.
pub const ORGANIZATIONS: &str = "organizations";

pub fn is_organizations(tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case(ORGANIZATIONS)
}

/// The multi-tenant app a request to `organizations` names, or Microsoft's refusal.
pub fn find_multi_tenant_app<'d>(
    dir: &'d Directory,
    client_id: &str,
) -> Result<&'d MultiTenantApp, Refusal> {
    if !is_guid(client_id) {
        return Err(not_a_guid(client_id));
    }
    if let Some(app) = dir.multi_tenant_app(client_id) {
        return Ok(app);
    }
    if dir.is_single_tenant_app(client_id) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50194,
            format!(
                "Application '{client_id}' is not configured as a multi-tenant application. \
                 Usage of the /common endpoint is not supported for such applications created \
                 after '10/15/2018'. Use a tenant-specific endpoint or configure the \
                 application to be multi-tenant."
            ),
        ));
    }
    Err(Refusal::new(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
        format!(
            "Application with identifier '{client_id}' was not found in the directory \
             'organizations'. This can happen if the application has not been installed by the \
             administrator of the tenant or consented to by any user in the tenant."
        ),
    ))
}

/// The requested scopes split into resource scopes and OpenID ones; more than one resource is
/// AADSTS700022. A bare scope (`Mail.Read`) belongs to Microsoft Graph, as at Microsoft.
pub fn parse_scopes(scope: &str) -> Result<Scopes, Refusal> {
    let mut resource: Option<String> = None;
    let mut granted = Vec::new();
    let mut oidc = Vec::new();
    for s in scope.split_whitespace() {
        if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(s)) {
            oidc.push(s.to_ascii_lowercase());
            continue;
        }
        let (res, name) = match s.rsplit_once('/') {
            Some((r, n)) if r.starts_with("https://") || r.starts_with("api://") => {
                (r.to_ascii_lowercase(), n)
            }
            _ => ("https://graph.microsoft.com".to_string(), s),
        };
        match &resource {
            Some(r) if *r != res => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    700022,
                    "The provided value for the input parameter scope is not valid because it \
                     contains more than one resource. Scope "
                        .to_string()
                        + scope
                        + " is not valid.",
                ))
            }
            _ => resource = Some(res.clone()),
        }
        granted.push(format!("{res}/{name}"));
    }
    Ok(Scopes {
        resource,
        granted,
        oidc,
    })
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes {
    pub resource: Option<String>,
    /// Full names, `https://outlook.office.com/IMAP.AccessAsUser.All`.
    pub granted: Vec<String>,
    pub oidc: Vec<String>,
}

impl Scopes {
    /// Space-separated short names, as an access token's `scp` claim has them.
    pub fn scp(&self) -> String {
        self.granted
            .iter()
            .map(|s| s.rsplit_once('/').map_or(s.as_str(), |(_, n)| n))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn has(&self, oidc: &str) -> bool {
        self.oidc.iter().any(|s| s == oidc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_resource_per_request() {
        let s = parse_scopes(
            "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access openid",
        )
        .unwrap();
        assert_eq!(s.resource.as_deref(), Some("https://outlook.office.com"));
        assert_eq!(s.scp(), "IMAP.AccessAsUser.All SMTP.Send");
        assert!(s.has("offline_access"));
        let e = parse_scopes("https://outlook.office.com/SMTP.Send Mail.Read").unwrap_err();
        assert_eq!(e.code, 700022);
        assert!(e.description().starts_with("AADSTS700022: "));
    }

    #[test]
    fn timestamps_are_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
    }
}
