//! The tenant: a verified domain (`contoso.com`) or the Directory (tenant) ID (a GUID).

use super::{
    identifiers::{is_guid, is_host_name, tidy},
    Check, Note,
};

/// Tenant names that are not one tenant: they only work for multi-tenant apps.
pub const SHARED_AUTHORITIES: [&str; 3] = ["common", "organizations", "consumers"];

pub const MSG_REQUIRED: &str = "Enter your tenant: a verified domain such as contoso.com or \
    contoso.onmicrosoft.com, or the Directory (tenant) ID from the app's Overview page in Entra.";
pub const MSG_SHARED: &str = "\"common\", \"organizations\" and \"consumers\" only work for \
    multi-tenant apps; a single-tenant app registration fails with AADSTS50194. Enter your \
    tenant's domain (contoso.onmicrosoft.com) or its Directory (tenant) ID.";
pub const MSG_URL: &str = "Enter only the domain or the tenant ID, not a web address. For \
    https://login.microsoftonline.com/contoso.com/… enter contoso.com.";
pub const MSG_SHAPE: &str = "This is neither a domain (contoso.com) nor a Directory (tenant) ID \
    (a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47). Copy the Directory (tenant) ID from the \
    app's Overview page in Entra.";

/// What the admin entered, understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tenant {
    /// A Directory (tenant) ID, lower-cased.
    Id(String),
    /// A domain that the server still has to resolve to a tenant ID.
    Domain(String),
}

impl Tenant {
    pub fn as_str(&self) -> &str {
        match self {
            Tenant::Id(s) | Tenant::Domain(s) => s,
        }
    }
}

pub fn parse(input: &str) -> Result<Tenant, Note> {
    let v = tidy(input);
    if v.is_empty() {
        return Err(Note::error(MSG_REQUIRED));
    }
    let lower = v.to_ascii_lowercase();
    if SHARED_AUTHORITIES.contains(&lower.as_str()) {
        return Err(Note::error(MSG_SHARED));
    }
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.contains('/') {
        return Err(Note::error(MSG_URL));
    }
    if let Some((_, domain)) = lower.rsplit_once('@') {
        return Err(Note::error(format!(
            "Enter the domain only, without the mailbox name: {domain}"
        )));
    }
    if is_guid(&lower) {
        return Ok(Tenant::Id(lower));
    }
    let domain = lower.strip_suffix('.').unwrap_or(&lower).to_string();
    if is_host_name(&domain, true) {
        return Ok(Tenant::Domain(domain));
    }
    Err(Note::error(MSG_SHAPE))
}

pub fn check(input: &str) -> Check {
    parse(input).err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ids_and_domains() {
        assert_eq!(
            parse(" 72F988BF-86F1-41AF-91AB-2D7CD011DB47 "),
            Ok(Tenant::Id("72f988bf-86f1-41af-91ab-2d7cd011db47".into()))
        );
        assert_eq!(
            parse("Contoso.onmicrosoft.com"),
            Ok(Tenant::Domain("contoso.onmicrosoft.com".into()))
        );
    }

    #[test]
    fn each_mistake_has_its_message() {
        assert_eq!(check("").unwrap().message, MSG_REQUIRED);
        assert_eq!(check("common").unwrap().message, MSG_SHARED);
        assert_eq!(check("Organizations").unwrap().message, MSG_SHARED);
        assert_eq!(
            check("https://login.microsoftonline.com/contoso.com")
                .unwrap()
                .message,
            MSG_URL
        );
        assert_eq!(
            check("admin@contoso.com").unwrap().message,
            "Enter the domain only, without the mailbox name: contoso.com"
        );
        assert_eq!(check("contoso").unwrap().message, MSG_SHAPE);
        assert_eq!(check("72f988bf-86f1-41af-91ab").unwrap().message, MSG_SHAPE);
    }
}
