//! The HTTP surface against a real server: health, readiness, the API's authentication, the
//! one-time setup link, sign-out, the Origin check and security headers.

use crate::support;

use support::TestServer;

#[tokio::test]
async fn health_and_readiness_answer() {
    let s = TestServer::start().await;
    let c = TestServer::client();
    let health = c.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    let ready = c.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
    s.stop().await;
}

#[tokio::test]
async fn api_needs_a_session_and_says_so_in_json() {
    let s = TestServer::start().await;
    let res = TestServer::client()
        .get(s.url("/api/v1/accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("mailkey admin link"));

    // A made-up cookie is no session either.
    let res = TestServer::client()
        .get(s.url("/api/v1/accounts"))
        .header("cookie", "mailkey_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn setup_link_signs_in_once_and_only_once() {
    let s = TestServer::start().await;
    let link = s.access.new_setup_link().await.unwrap();
    let c = TestServer::client();

    let first = c.get(link.as_str()).send().await.unwrap();
    assert_eq!(first.status(), 303);
    assert_eq!(first.headers()["location"], "/");
    assert_eq!(first.headers()["cache-control"], "no-store");
    assert_eq!(first.headers()["referrer-policy"], "no-referrer");
    let set_cookie = first.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(
        !set_cookie.contains("Secure"),
        "plain-http test server: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    let accounts = c
        .get(s.url("/api/v1/accounts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(accounts.status(), 200);
    let body: serde_json::Value = accounts.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "accounts": [] }));

    let second = c.get(link.as_str()).send().await.unwrap();
    assert_eq!(second.status(), 400);
    assert!(second.headers().get("set-cookie").is_none());
    assert!(second.text().await.unwrap().contains("mailkey admin link"));

    let missing = c.get(s.url("/setup")).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    let wrong = c
        .get(s.url("/setup?token=not-a-real-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    s.stop().await;
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    let s = TestServer::start().await;
    let link = s.access.new_setup_link().await.unwrap();
    let token = link
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .to_string();
    let cookie = {
        let res = TestServer::client()
            .get(link.as_str())
            .send()
            .await
            .unwrap();
        res.headers()["set-cookie"].to_str().unwrap().to_string()
    };
    let session = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    // The database at rest: its SQLite file and write-ahead log byte for byte (read once the
    // server stopped), or PostgreSQL's dump.
    let bytes = if s.database_url.starts_with("postgres") {
        support::contoso::db_bytes(&s)
    } else {
        Vec::new()
    };
    let data = s.stop().await;
    let bytes = if bytes.is_empty() {
        sqlite_files(data.path())
    } else {
        bytes
    };
    assert!(bytes.len() > 4096, "database files were read");
    for secret in [&token, &session] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a token appears in plaintext in the database"
        );
    }
}

/// The SQLite database's files byte for byte. The write-ahead log may still be folded into the
/// main file and removed while they are read: then all are read again.
fn sqlite_files(dir: &std::path::Path) -> Vec<u8> {
    'again: for _ in 0..50 {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("mailkey.sqlite3")
            {
                continue;
            }
            match std::fs::read(&path) {
                Ok(b) => bytes.extend(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue 'again;
                }
                Err(e) => panic!("{}: {e}", path.display()),
            }
        }
        return bytes;
    }
    panic!("the database files kept changing");
}

#[tokio::test]
async fn sign_out_ends_the_session_and_requires_same_origin() {
    let s = TestServer::start().await;
    let cookie = s.sign_in().await;
    let c = TestServer::client();

    let forged = c
        .post(s.url("/logout"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let body: serde_json::Value = forged.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cross_origin_request");
    let still = c
        .get(s.url("/api/v1/accounts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200, "a refused request changes nothing");

    let out = c
        .post(s.url("/logout"))
        .header("cookie", &cookie)
        .header("origin", &s.base)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = c
        .get(s.url("/api/v1/accounts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    let s = TestServer::start().await;
    let cookie = s.sign_in().await;
    let c = TestServer::client();
    for path in [
        "/",
        "/healthz",
        "/api/v1/accounts",
        "/no-such-page",
        "/setup?token=x",
    ] {
        let res = c
            .get(s.url(path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(h.contains_key("referrer-policy"), "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(
            !h.contains_key("strict-transport-security"),
            "no HSTS over http: {path}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn home_page_is_server_rendered_with_a_nonce_for_each_script() {
    let s = TestServer::start().await;
    let cookie = s.sign_in().await;
    let res = TestServer::client()
        .get(s.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("page CSP carries a nonce")
        .to_string();
    assert!(
        csp.contains("'strict-dynamic'") && csp.contains("'wasm-unsafe-eval'"),
        "{csp}"
    );
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Connect your first mailbox"),
        "empty state rendered"
    );
    assert!(html.contains("/pkg/mailkey"), "loads the wasm bundle");
    let scripts = html.matches("<script").count();
    assert!(scripts > 0);
    assert_eq!(
        html.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "every script carries this response's nonce"
    );

    // A second response gets a different nonce.
    let again = TestServer::client()
        .get(s.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(!again.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains(&nonce));
    s.stop().await;
}

#[tokio::test]
async fn signed_out_visitors_get_instructions_and_no_data() {
    let s = TestServer::start().await;
    let res = TestServer::client().get(s.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let html = res.text().await.unwrap();
    assert!(html.contains("Sign in to Mailkey"));
    assert!(html.contains("mailkey admin link"));
    assert!(!html.contains("Connect your first mailbox"));
    s.stop().await;
}

#[tokio::test]
async fn unknown_pages_and_api_routes_are_404() {
    let s = TestServer::start().await;
    let cookie = s.sign_in().await;
    let c = TestServer::client();
    let page = c
        .get(s.url("/nowhere"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    assert!(page.text().await.unwrap().contains("Page not found"));
    let api = c
        .get(s.url("/api/v1/nowhere"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    s.stop().await;
}

#[tokio::test]
async fn https_public_url_turns_on_hsts_and_secure_cookies() {
    let s = TestServer::start_with(|c| {
        c.public_url = Some(url::Url::parse("https://mailkey.example.com").unwrap());
    })
    .await;
    let link = s.access.new_setup_link().await.unwrap();
    assert!(link
        .as_str()
        .starts_with("https://mailkey.example.com/setup?token="));
    // Follow the link's path and query on the test server itself.
    let local = format!("{}{}?{}", s.base, link.path(), link.query().unwrap());
    let res = TestServer::client().get(local).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(res.headers().contains_key("strict-transport-security"));
    let set_cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.starts_with("__Host-mailkey_session="),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    s.stop().await;
}

/// Servers starting in the same process while another renders pages: each render completes.
/// (Listing a server's page routes once suppressed resource loading process-wide; a render
/// whose resource first polled meanwhile hung until the request deadline.)
#[tokio::test]
async fn pages_render_while_other_servers_start_in_the_same_process() {
    let s = TestServer::start().await;
    let cookie = s.sign_in().await;
    // On a thread and runtime of their own, as concurrent tests are.
    let starting = std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for _ in 0..15 {
                TestServer::start().await.stop().await;
            }
        })
    });
    let client = TestServer::client();
    let mut renders = 0;
    while !starting.is_finished() {
        let res = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            client.get(s.url("/")).header("cookie", &cookie).send(),
        )
        .await
        .expect("the page render hung while another server started")
        .unwrap();
        assert_eq!(res.status(), 200);
        renders += 1;
    }
    starting.join().unwrap();
    assert!(renders > 15, "{renders} renders overlapped the starts");
    s.stop().await;
}
