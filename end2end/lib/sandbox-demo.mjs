// The sandbox's generated demo directory, and accounts made for it through the same server
// functions the wizard's forms post to (the wizard itself is walked in wizard.test.mjs).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const SCOPES = "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access openid email profile";

/** The demo tenant of a Mailkey started with the sandbox on: its app and its two users. */
export function readDemo(dataDir) {
  const toml = readFileSync(join(dataDir, "sandbox-demo.toml"), "utf8");
  // The tenant's own app comes first in the file, before the multi-tenant one.
  const value = (key) => toml.match(new RegExp(`^${key} = "([^"]+)"`, "m"))[1];
  const domain = toml.match(/^domains = \["([^"]+)"/m)[1];
  return {
    tenant: value("id"),
    clientId: value("client_id"),
    secret: value("secret"),
    domain,
    mailbox: `invoices@${domain}`,
    admin: `admin@${domain}`,
  };
}

/** A finished wizard for the demo tenant; `mailbox` overrides the Mailbox step's values. */
export async function createAccount(page, mailkey, demo, name, mailbox = {}) {
  const call = async (endpoint, form) => {
    const res = await page.request.post(`${mailkey.base}/_fn/${endpoint}`, {
      form,
      headers: { origin: mailkey.base, accept: "application/json" },
    });
    assert.equal(res.status(), 200, `${endpoint}: ${await res.text()}`);
    return res.json();
  };
  const { id } = await call("accounts/create", { provider: "microsoft365-sandbox" });
  await call("accounts/app", {
    id, tenant: demo.domain, client_id: demo.clientId, app_name: "Mailkey demo",
    client_secret: demo.secret, secret_expires: "2099-12-31",
    custom_endpoints: "false", authorize_url: "", token_url: "",
  });
  await call("accounts/step", { id, step: "3" });
  await call("accounts/mailbox", {
    id, account_name: name, email: demo.mailbox, reply_to: "",
    smtp_host: "smtp.office365.com", smtp_port: "587", smtp_security: "starttls", protocol: "imap",
    imap_host: "outlook.office365.com", imap_port: "993", imap_security: "tls",
    root_folder: "INBOX", timeout_minutes: "3", scopes: SCOPES,
    ...mailbox,
  });
  return id;
}
