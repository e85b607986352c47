//! Everything that speaks HTTP: the router, the JSON API, operator sign-in routes, static assets
//! and the security middleware that wraps them all.

pub mod api_accounts;
mod api_connect;
mod api_organisations;
pub mod api_v1;
pub mod api_webhooks;
pub mod assets;
pub mod audit;
pub mod caller;
pub mod embed;
pub mod error;
pub mod health;
pub mod html;
pub mod limits;
pub mod metrics;
pub mod origin;
pub mod security_headers;
pub mod serve;
pub mod session;
pub mod settle;
pub mod setup;
pub mod sign_in;
pub mod tests_live;

/// A request path as logs show it: an embedded wizard's launch token or sign-in ticket (in its
/// path) is left out.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for prefix in ["/embed/sign-in/", "/embed/api/sign-in/", "/embed/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            if !rest.is_empty()
                && !rest.starts_with("api/")
                && rest != "session"
                && rest != "sign-in"
            {
                return format!("{prefix}…").into();
            }
        }
    }
    path.into()
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn tokens_in_paths_stay_out_of_logs() {
        assert_eq!(loggable_path("/embed/SeCrEt"), "/embed/…");
        assert_eq!(loggable_path("/embed/sign-in/SeCrEt"), "/embed/sign-in/…");
        assert_eq!(
            loggable_path("/embed/api/sign-in/abcd"),
            "/embed/api/sign-in/…"
        );
        assert_eq!(loggable_path("/embed/session"), "/embed/session");
        assert_eq!(loggable_path("/embed/api/state"), "/embed/api/state");
        assert_eq!(loggable_path("/accounts/x"), "/accounts/x");
    }
}
