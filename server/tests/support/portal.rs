//! The portal as a browser drives it, for integration tests: a signed-in operator, the wizard's
//! server functions, and Microsoft's side of a sign-in as the sandbox shows it.

use std::collections::HashMap;

use serde_json::Value;

use super::TestServer;

pub const SCOPES: &str = "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access openid email profile";

/// A signed-in operator calling the portal's server functions and pages as the browser does.
pub struct Operator {
    /// Where requests go: the instance this operator's browser reaches.
    pub base: String,
    /// The page's origin the browser names: Mailkey's public URL (behind a load balancer, not
    /// the instance's own address).
    pub origin: String,
    pub cookie: String,
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

pub fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl Operator {
    pub async fn new(s: &TestServer) -> Operator {
        Operator {
            cookie: s.sign_in().await,
            base: s.base.clone(),
            origin: s.base.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> Value {
        let res = TestServer::client()
            .post(self.url(&format!("/_fn/{endpoint}")))
            .header("cookie", &self.cookie)
            .header("origin", &self.origin)
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert!(status.is_success(), "{endpoint}: {status} {body}");
        body
    }

    /// A finished wizard for the sandbox's tenant.
    pub async fn account(&self, client_id: &str, secret: &str, email: &str) -> String {
        self.account_with(client_id, secret, email, &[]).await
    }

    /// As `account`, with some mailbox settings changed (servers, ports, root folder).
    pub async fn account_with(
        &self,
        client_id: &str,
        secret: &str,
        email: &str,
        mailbox: &[(&str, &str)],
    ) -> String {
        let created = self
            .call("accounts/create", &[("provider", "microsoft365-sandbox")])
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        self.finish_wizard(&id, client_id, secret, email, mailbox)
            .await;
        id
    }

    /// The wizard's steps for an account that exists (made over the API, say): the app, its
    /// redirect URI, the mailbox.
    pub async fn finish_wizard(
        &self,
        id: &str,
        client_id: &str,
        secret: &str,
        email: &str,
        mailbox: &[(&str, &str)],
    ) {
        self.call(
            "accounts/app",
            &[
                ("id", id),
                ("tenant", "contoso.test"),
                ("client_id", client_id),
                ("app_name", "Mailkey invoices"),
                ("client_secret", secret),
                ("secret_expires", "2030-05-01"),
            ],
        )
        .await;
        self.call("accounts/step", &[("id", id), ("step", "3")])
            .await;
        self.save_mailbox(id, email, mailbox).await;
    }

    /// An account on the operator's own (the sandbox's multi-tenant) app: no app registration,
    /// straight from the first step to the mailbox.
    pub async fn operator_account(&self, email: &str) -> String {
        let id = self.operator_draft().await;
        self.save_mailbox(&id, email, &[]).await;
        id
    }

    /// A new account on the operator's app, its mailbox not named.
    pub async fn operator_draft(&self) -> String {
        let created = self
            .call(
                "accounts/create",
                &[
                    ("provider", "microsoft365-sandbox"),
                    ("app_source", "operator"),
                ],
            )
            .await;
        // Nothing to type first: straight to signing in (the Mailbox step stays open to name
        // another mailbox than the account that signs in).
        assert_eq!(created["next"], "Review", "{created}");
        created["id"].as_str().unwrap().to_string()
    }

    /// The Mailbox step with the usual Exchange Online values, some of them changed.
    pub async fn save_mailbox(&self, id: &str, email: &str, mailbox: &[(&str, &str)]) -> Value {
        let mut form = vec![
            ("id", id),
            ("account_name", "Invoices"),
            ("email", email),
            ("reply_to", ""),
            ("smtp_host", "smtp.office365.com"),
            ("smtp_port", "587"),
            ("smtp_security", "starttls"),
            ("protocol", "imap"),
            ("imap_host", "outlook.office365.com"),
            ("imap_port", "993"),
            ("imap_security", "tls"),
            ("root_folder", "INBOX"),
            ("timeout_minutes", "3"),
        ];
        form.push(("scopes", SCOPES));
        for (k, v) in mailbox {
            form.retain(|(f, _)| f != k);
            form.push((k, v));
        }
        self.call("accounts/mailbox", &form).await
    }

    pub async fn get(&self, path_or_url: &str) -> reqwest::Response {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            self.url(path_or_url)
        };
        TestServer::client()
            .get(url)
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// Starts a sign-in; returns the authorize URL Mailkey sent the browser to.
    pub async fn start(&self, id: &str, path: &str) -> String {
        let res = self.get(&format!("/accounts/{id}/{path}")).await;
        assert_eq!(res.status(), 303);
        location(&res)
    }

    pub async fn connection(&self, id: &str) -> Value {
        self.call("accounts/connection", &[("id", id)]).await
    }
}

/// Where a form on the sandbox's page at `page_url` posts: the page's own origin and path (the
/// sandbox may be Mailkey's own or a standalone one), and that origin.
fn form_target(page_url: &str) -> (String, String) {
    let url = url::Url::parse(page_url).unwrap();
    let origin = url.origin().ascii_serialization();
    (format!("{origin}{}", url.path()), origin)
}

/// An administrator on the sandbox's admin-consent page of `consent_url`: picks `admin`, then
/// `accept` or `decline`. Returns where the sandbox sends the browser back.
pub async fn admin_consent(consent_url: &str, admin: &str, decision: &str) -> String {
    let (target, origin) = form_target(consent_url);
    let mut form = query(consent_url);
    form.insert("username".into(), admin.into());
    form.insert("decision".into(), decision.into());
    let res = TestServer::client()
        .post(target)
        .header("origin", origin)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    location(&res)
}

/// Microsoft's side: the sign-in page, picking `user`, and the consent decision when asked.
/// Returns the address the sandbox sends the browser back to.
pub async fn authorize(authorize_url: &str, user: &str, decision: &str) -> String {
    let page = TestServer::client()
        .get(authorize_url)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    let (target, origin) = form_target(authorize_url);
    let mut form = query(authorize_url);
    form.insert("username".into(), user.into());
    form.insert("step".into(), "account".into());
    let post = |form: HashMap<String, String>| {
        let (target, origin) = (target.clone(), origin.clone());
        async move {
            TestServer::client()
                .post(target)
                .header("origin", origin)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let res = post(form.clone()).await;
    if res.status() == 303 {
        return location(&res);
    }
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Permissions requested") || html.contains("Need admin approval"),
        "{html}"
    );
    form.insert("step".into(), "consent".into());
    form.insert("decision".into(), decision.into());
    let res = post(form).await;
    assert_eq!(res.status(), 303);
    location(&res)
}
