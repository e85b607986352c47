//! The sandbox identity provider: off by default, its start page and directory when on, and
//! tenant discovery answered as Microsoft answers it.

mod support;

use std::time::Duration;

use mailkey::{
    config::Config,
    discovery::{DiscoveryError, TenantDiscovery},
    Server,
};
use serde_json::Value;
use support::TestServer;

#[tokio::test]
async fn the_sandbox_is_off_unless_turned_on() {
    let s = TestServer::start().await;
    let c = TestServer::client();
    assert_eq!(c.get(s.url("/sandbox")).send().await.unwrap().status(), 404);
    let doc = c
        .get(s.url("/sandbox/demo.mailkey.test/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(doc.status(), 404);
    s.stop().await;
}

#[tokio::test]
async fn the_demo_tenant_is_discoverable_like_a_microsoft_tenant() {
    let s = TestServer::start_with(|c| c.sandbox = true).await;
    let c = TestServer::client();

    let page = c.get(s.url("/sandbox")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("This is not Microsoft"), "banner");
    assert!(html.contains("demo.mailkey.test"));
    assert!(html.contains(&format!("{}/oauth/callback", s.base)));

    let authority = format!("{}/sandbox", s.base);
    let by_domain: Value = c
        .get(format!(
            "{authority}/demo.mailkey.test/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant_id = by_domain["issuer"]
        .as_str()
        .unwrap()
        .trim_start_matches(&format!("{authority}/"))
        .trim_end_matches("/v2.0")
        .to_string();
    assert!(
        mailkey_app::rules::identifiers::is_guid(&tenant_id),
        "{by_domain}"
    );
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "introspection_endpoint",
    ] {
        assert!(
            by_domain[endpoint]
                .as_str()
                .unwrap()
                .starts_with(&format!("{authority}/{tenant_id}/")),
            "{endpoint}: {by_domain}"
        );
    }

    let unknown = c
        .get(format!(
            "{authority}/nobody.test/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], "invalid_tenant");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS90002:"));

    // The wizard's tenant discovery treats the sandbox as it treats Microsoft.
    let discovery = TenantDiscovery::new(Duration::from_secs(5));
    assert_eq!(
        discovery
            .tenant_id(&authority, "demo.mailkey.test")
            .await
            .as_deref(),
        Ok(tenant_id.as_str())
    );
    assert_eq!(
        discovery.tenant_id(&authority, "nobody.test").await,
        Err(DiscoveryError::UnknownDomain)
    );

    // The demo is generated once and kept: a restart shows the same tenant.
    let dir = s.stop().await;
    let kept = std::fs::read_to_string(dir.path().join("sandbox-demo.toml")).unwrap();
    assert!(kept.contains(&tenant_id));
}

#[tokio::test]
async fn a_bad_sandbox_file_stops_start_up_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sandbox.toml");
    std::fs::write(
        &file,
        "[[tenants]]\nid = \"72f988bf-86f1-41af-91ab-2d7cd011db47\"\ndomains = [\"contoso.test\"]\n\
         [[tenants.apps]]\nclient_id = \"my-app\"\ndisplay_name = \"x\"\nsecret = \"s\"\n\
         secret_id = \"8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a93\"\nsecret_expires = \"2030-01-01\"\n\
         redirect_uris = []\n",
    )
    .unwrap();
    let env = vec![
        ("MAILKEY_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        (
            "MAILKEY_DATA_DIR".to_string(),
            dir.path().display().to_string(),
        ),
        (
            "MAILKEY_SITE_DIR".to_string(),
            dir.path().join("none").display().to_string(),
        ),
        ("MAILKEY_SANDBOX".to_string(), "1".to_string()),
        (
            "MAILKEY_SANDBOX_FILE".to_string(),
            file.display().to_string(),
        ),
    ];
    let config = Config::load_from(None, &env).unwrap();
    let err = Server::prepare(&config).await.err().unwrap().to_string();
    assert!(
        err.contains("tenants[0].apps[0].client_id \"my-app\" is not a GUID"),
        "{err}"
    );
}
