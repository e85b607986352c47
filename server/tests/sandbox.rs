//! The sandbox identity provider: off by default, its start page and directory when on, and
//! tenant discovery answered as Microsoft answers it.

use crate::support;

use std::time::Duration;

use mailkey::{
    config::Config,
    discovery::{DiscoveryError, TenantDiscovery},
    Server,
};
use serde_json::Value;
use support::{
    multi_tenant::{
        sandbox_file as multi_tenant_sandbox, CONTOSO, FABRIKAM, NEW_SECRET, OLD_SECRET,
        OPERATOR_APP, SINGLE_TENANT_APP,
    },
    portal::{authorize, location, query},
    TestServer,
};

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
    // Not mounted at all: its token endpoint is an unknown path too.
    let token = c
        .post(s.url("/sandbox/demo.mailkey.test/oauth2/v2.0/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 404);
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
    assert!(html.contains("Multi-tenant app “Mailkey demo (multi-tenant)”"));
    assert!(html.contains(&format!("{}/sandbox/organizations", s.base)));
    // What a mail server of one's own needs: the introspection endpoint and Dovecot's settings.
    assert!(html.contains("/oauth2/v2.0/introspect</code>"), "{html}");
    assert!(html.contains("username_attribute = email"), "{html}");

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

/// A code for the demo's mailbox, obtained the way a browser does, with this PKCE challenge.
async fn demo_code(s: &TestServer, challenge: &str) -> (String, String, String) {
    let sandbox = s.state.sandbox.clone().unwrap();
    let t = &sandbox.directory.tenants[0];
    let app = &t.apps[0];
    let redirect = format!("{}/oauth/callback", s.base);
    let form = [
        ("client_id", app.client_id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", &redirect),
        (
            "scope",
            "https://outlook.office.com/IMAP.AccessAsUser.All offline_access openid email",
        ),
        ("state", "st"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("username", &t.users[0].username),
        ("step", "consent"),
        ("decision", "accept"),
    ];
    let res = TestServer::client()
        .post(s.url(&format!("/sandbox/{}/oauth2/v2.0/authorize", t.id)))
        .header("origin", &s.base)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let back = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    (code, app.client_id.clone(), app.secret.clone())
}

async fn token(s: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let sandbox = s.state.sandbox.clone().unwrap();
    let tid = sandbox.directory.tenants[0].id.clone();
    let res = TestServer::client()
        .post(s.url(&format!("/sandbox/{tid}/oauth2/v2.0/token")))
        .form(form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn aadsts(v: &Value) -> u64 {
    v["error_codes"][0].as_u64().unwrap_or(0)
}

// RFC 7636, appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[tokio::test]
async fn the_token_endpoint_refuses_as_microsoft_does() {
    let s = TestServer::start_with(|c| c.sandbox = true).await;
    let redirect = format!("{}/oauth/callback", s.base);

    // PKCE: a missing and a wrong verifier.
    let (code, client_id, secret) = demo_code(&s, CHALLENGE).await;
    let base = |code: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("client_id", client_id.clone()),
            ("client_secret", secret.clone()),
            ("redirect_uri", redirect.clone()),
            ("code", code.to_string()),
        ]
    };
    let call = |v: Vec<(&'static str, String)>| {
        let s = &s;
        async move {
            let form: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(s, &form).await
        }
    };
    let (status, body) = call(base(&code)).await;
    assert_eq!((status, aadsts(&body)), (400, 501481), "{body}");
    let (code, ..) = demo_code(&s, CHALLENGE).await;
    let mut wrong = base(&code);
    wrong.push(("code_verifier", "x".repeat(43)));
    let (status, body) = call(wrong).await;
    assert_eq!((status, aadsts(&body)), (400, 501481), "{body}");

    // The secret ID instead of its value; a redirect URI other than the authorize request's.
    let (code, ..) = demo_code(&s, CHALLENGE).await;
    let sandbox = s.state.sandbox.clone().unwrap();
    let secret_id = sandbox.directory.tenants[0].apps[0].secret_id.clone();
    let mut f = base(&code);
    f.retain(|(k, _)| *k != "client_secret");
    f.push(("client_secret", secret_id));
    f.push(("code_verifier", VERIFIER.into()));
    let (status, body) = call(f).await;
    assert_eq!((status, aadsts(&body)), (401, 7000215), "{body}");
    assert_eq!(body["error"], "invalid_client");
    // The refused client did not use up the code; a different redirect URI does.
    let mut f = base(&code);
    f.retain(|(k, _)| *k != "redirect_uri");
    f.push(("redirect_uri", format!("{}/other", s.base)));
    f.push(("code_verifier", VERIFIER.into()));
    let (_, body) = call(f).await;
    assert_eq!(aadsts(&body), 500112, "{body}");

    // The right request: tokens; then the code again: 54005.
    let (code, ..) = demo_code(&s, CHALLENGE).await;
    let mut good = base(&code);
    good.push(("code_verifier", VERIFIER.into()));
    let (status, body) = call(good.clone()).await;
    assert_eq!(status, 200, "{body}");
    let first_refresh = body["refresh_token"].as_str().unwrap().to_string();
    assert!(body["id_token"].as_str().is_some());
    let (_, again) = call(good).await;
    assert_eq!(aadsts(&again), 54005);

    // Refresh rotation: a new refresh token each time; the replaced one works once more.
    let refresh = |rt: String| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", client_id.clone()),
            ("client_secret", secret.clone()),
            ("refresh_token", rt),
        ]
    };
    let (status, r1) = call(refresh(first_refresh.clone())).await;
    assert_eq!(status, 200, "{r1}");
    assert_ne!(r1["refresh_token"], first_refresh.as_str());
    let (status, _) = call(refresh(first_refresh.clone())).await;
    assert_eq!(status, 200, "a replaced refresh token works once more");
    let (status, body) = call(refresh(first_refresh)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Introspection: valid, then a forged token gets 200 {"active": false}.
    let tid = sandbox.directory.tenants[0].id.clone();
    let intro = |t: String| {
        let url = s.url(&format!("/sandbox/{tid}/oauth2/v2.0/introspect"));
        async move {
            let res = TestServer::client()
                .post(url)
                .form(&[("token", t)])
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = intro(r1["access_token"].as_str().unwrap().to_string()).await;
    assert_eq!((status, v["active"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(
        v["username"],
        sandbox.directory.tenants[0].users[0].username.as_str()
    );
    let (status, v) = intro("forged".into()).await;
    assert_eq!((status, v), (200, serde_json::json!({"active": false})));
    // An expired token minted for tests.
    let session = mailkey::sandbox::Session {
        tenant_id: tid.clone(),
        client_id: client_id.clone(),
        username: "invoices@demo.mailkey.test".into(),
        scopes: mailkey::sandbox::parse_scopes("https://outlook.office.com/IMAP.AccessAsUser.All")
            .unwrap(),
    };
    let expired = sandbox.grants.mint_access_token(&session, "test", -60);
    let (_, v) = intro(expired).await;
    assert_eq!(v["active"], false);

    // Unknown tenant and a client ID that is not a GUID.
    let res = TestServer::client()
        .post(s.url("/sandbox/nobody.test/oauth2/v2.0/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(aadsts(&res.json().await.unwrap()), 90002);
    let (_, body) = token(
        &s,
        &[
            ("client_id", "Mailkey invoices"),
            ("grant_type", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(aadsts(&body), 90112);
}

fn organizations_authorize(s: &TestServer, client_id: &str, login_hint: &str) -> String {
    let mut url = url::Url::parse(&s.url("/sandbox/organizations/oauth2/v2.0/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &format!("{}/oauth/callback", s.base))
        .append_pair(
            "scope",
            "https://outlook.office.com/SMTP.Send offline_access openid profile",
        )
        .append_pair("state", "st")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .append_pair("login_hint", login_hint);
    url.to_string()
}

async fn organizations_token(s: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let res = TestServer::client()
        .post(s.url("/sandbox/organizations/oauth2/v2.0/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn id_claims(answer: &Value) -> Value {
    let payload = answer["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    use base64::Engine;
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_multi_tenant_app_serves_every_tenant_through_organizations() {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("sandbox.toml");
    std::fs::write(&path, multi_tenant_sandbox()).unwrap();
    let s = TestServer::start_with(|c| {
        c.sandbox = true;
        c.sandbox_file = Some(path.clone());
    })
    .await;
    let c = TestServer::client();
    let authority = format!("{}/sandbox", s.base);
    let callback = format!("{}/oauth/callback", s.base);

    // Discovery: organizations has its own endpoints and an issuer template.
    let doc: Value = c
        .get(format!(
            "{authority}/organizations/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], format!("{authority}/{{tenantid}}/v2.0"));
    assert_eq!(
        doc["token_endpoint"],
        format!("{authority}/organizations/oauth2/v2.0/token")
    );

    // A tenant's own app cannot use organizations.
    let page = c
        .get(organizations_authorize(&s, SINGLE_TENANT_APP, ""))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("AADSTS50194"));

    // A Contoso user (user consent allowed) signs in and consents; the token is Contoso's.
    let url = organizations_authorize(&s, OPERATOR_APP, "invoices@contoso.test");
    let page = c.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Acme ERP") && page.contains("by Acme Software"),
        "{page}"
    );
    assert!(
        page.contains("orders@fabrikam.test"),
        "every tenant's users are offered"
    );
    let back = authorize(&url, "invoices@contoso.test", "accept").await;
    let code = query(&back)["code"].clone();
    let redeem = |secret: &'static str, code: String| {
        let callback = callback.clone();
        let s = &s;
        async move {
            organizations_token(
                s,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", OPERATOR_APP),
                    ("client_secret", secret),
                    ("code", &code),
                    ("redirect_uri", &callback),
                    ("code_verifier", VERIFIER),
                ],
            )
            .await
        }
    };
    let (status, answer) = redeem(NEW_SECRET, code).await;
    assert_eq!(status, 200, "{answer}");
    let claims = id_claims(&answer);
    assert_eq!(claims["tid"], CONTOSO);
    assert_eq!(claims["iss"], format!("{authority}/{CONTOSO}/v2.0"));
    assert_eq!(claims["preferred_username"], "invoices@contoso.test");

    // Both secrets work while one is rotated in; refreshing through organizations too.
    let refresh = answer["refresh_token"].as_str().unwrap().to_string();
    let (status, refreshed) = organizations_token(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", OPERATOR_APP),
            ("client_secret", OLD_SECRET),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let (status, wrong) = organizations_token(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", OPERATOR_APP),
            ("client_secret", "not-a-secret"),
            (
                "refresh_token",
                refreshed["refresh_token"].as_str().unwrap(),
            ),
        ],
    )
    .await;
    assert_eq!((status, aadsts(&wrong)), (401, 7000215), "{wrong}");

    // Fabrikam requires admin consent: the user is sent back with 65001, an admin grants it
    // for the organisation, and the user then signs in without a consent page.
    let url = organizations_authorize(&s, OPERATOR_APP, "orders@fabrikam.test");
    let back = authorize(&url, "orders@fabrikam.test", "return").await;
    let q = query(&back);
    assert_eq!(q["error"], "consent_required");
    assert!(q["error_description"].starts_with("AADSTS65001"), "{back}");
    let granted = c
        .post(s.url(&format!("/sandbox/{FABRIKAM}/v2.0/adminconsent")))
        .form(&[
            ("client_id", OPERATOR_APP),
            ("redirect_uri", &callback),
            ("scope", "https://outlook.office.com/.default"),
            ("state", "consent-state"),
            ("username", "admin@fabrikam.test"),
            ("decision", "accept"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 303);
    assert_eq!(query(&location(&granted))["admin_consent"], "True");
    let back = authorize(&url, "orders@fabrikam.test", "accept").await;
    let (status, answer) = redeem(OLD_SECRET, query(&back)["code"].clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(id_claims(&answer)["tid"], FABRIKAM);

    // Someone no tenant knows is told so on the page.
    let res = c
        .post(s.url("/sandbox/organizations/oauth2/v2.0/authorize"))
        .form(&[
            ("client_id", OPERATOR_APP),
            ("response_type", "code"),
            ("redirect_uri", callback.as_str()),
            ("scope", "openid offline_access"),
            ("username", "someone@nowhere.test"),
            ("step", "account"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("AADSTS50034"));
    s.stop().await;
}
