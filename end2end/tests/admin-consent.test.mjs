// One-click connect where the organisation requires admin consent, in real browsers: the user
// is told why in plain words, gets a link for their administrator, the administrator approves
// it in their own browser (no Mailkey session), and the user signs in again and connects. The
// operator then rotates the app's secret on the settings page.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { createServer } from "node:http";
import { SCOPES } from "../lib/sandbox-demo.mjs";
import { root, startMailkey, launchChromium, openPage, screenshot, VIEWPORTS, islandsHydrated } from "../lib/harness.mjs";

const [PHONE, DESKTOP] = VIEWPORTS;
const FABRIKAM = "2c8d4f3b-5e6a-4b7c-9d0e-1f2a3b4c5d6e";
const NEW_SECRET = "Nw71Q~Ab2Cd3Ef4Gh5Ij6Kl7Mn8Op9Qr0St1Uv2W";

// The one-click tests' sandbox (shared with the Rust tests): Fabrikam lets only administrators
// consent, as many organisations configure Entra.
const SANDBOX_FILE = join(root, "server/tests/support/multi_tenant_sandbox.toml");

let mailkey;
let browser;

before(async () => {
  mailkey = await startMailkey({ env: { MAILKEY_SANDBOX: "1", MAILKEY_SANDBOX_FILE: SANDBOX_FILE } });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await mailkey?.stop();
});

async function newOperatorAccount(page) {
  await page.goto(`${mailkey.base}/accounts/new`);
  await page.getByRole("button", { name: "Use Acme ERP", exact: true }).click();
  // Straight to signing in; this user names the mailbox first (a different one stays possible).
  await page.waitForURL(/\/accounts\/[0-9a-f]+\/setup\/5$/);
  const id = page.url().match(/accounts\/([0-9a-f]+)\//)[1];
  const res = await page.request.post(`${mailkey.base}/_fn/accounts/mailbox`, {
    form: {
      id, account_name: "Orders", email: "orders@fabrikam.test", reply_to: "",
      smtp_host: "smtp.office365.com", smtp_port: "587", smtp_security: "starttls", protocol: "imap",
      imap_host: "outlook.office365.com", imap_port: "993", imap_security: "tls",
      root_folder: "INBOX", timeout_minutes: "3", scopes: SCOPES,
    },
    headers: { origin: mailkey.base, accept: "application/json" },
  });
  assert.equal(res.status(), 200, await res.text());
  return id;
}

test("desktop: admin consent through a link the administrator opens in their own browser", async () => {
  const { context, page, problems } = await openPage(browser, DESKTOP);
  const admin = await openPage(browser, PHONE);
  try {
    await page.goto(mailkey.adminLink());
    const id = await newOperatorAccount(page);

    // The user signs in; Fabrikam needs an administrator first.
    await page.goto(`${mailkey.base}/accounts/${id}/setup/5`);
    await islandsHydrated(page);
    const [popup] = await Promise.all([page.waitForEvent("popup"), page.getByRole("link", { name: "Sign in with Microsoft" }).click()]);
    await popup.locator('input[name=username][value="orders@fabrikam.test"]').check();
    await popup.getByRole("button", { name: "Sign in" }).click();
    await popup.getByRole("heading", { name: "Need admin approval" }).waitFor();
    await popup.getByRole("button", { name: /Return to the application/ }).click();
    await popup.waitForEvent("close", { timeout: 15_000 });
    const problem = page.locator(".sign-in-problem");
    await problem.waitFor({ timeout: 15_000 });
    assert.match(await problem.innerText(), /An administrator must grant consent first/);
    assert.match(await problem.innerText(), /I am an administrator — grant for my organisation/);
    await screenshot(page, "admin-consent-1-needed");

    // The link for the administrator: Microsoft's admin-consent address for Fabrikam.
    await page.getByRole("button", { name: "Get a link for your administrator" }).click();
    await page.getByRole("heading", { name: "Send this link to your administrator" }).waitFor();
    const link = await page.locator("#consent-link").inputValue();
    assert.ok(link.startsWith(`${mailkey.base}/sandbox/${FABRIKAM}/v2.0/adminconsent?`), link);
    assert.match(await page.getByRole("link", { name: "Email it" }).getAttribute("href"), /^mailto:\?subject=Please%20approve/);
    await screenshot(page, "admin-consent-2-link");

    // The administrator, on their phone, with no Mailkey session.
    await admin.page.goto(link);
    await admin.page.getByRole("heading", { name: "Permissions requested for your organization" }).waitFor();
    await admin.page.locator('input[name=username][value="admin@fabrikam.test"]').check();
    await admin.page.getByRole("button", { name: "Accept" }).click();
    await admin.page.getByRole("heading", { name: "Consent granted" }).waitFor();
    assert.match(await admin.page.locator("main").innerText(), /Ask the person connecting orders@fabrikam\.test to sign in again/);
    await screenshot(admin.page, "admin-consent-3-granted-phone");

    // The user signs in again: no permissions page, connected.
    await page.getByRole("link", { name: "Back to the account" }).click();
    await page.getByText("Microsoft reports that an administrator granted consent for the organisation. Sign in now.").waitFor();
    await islandsHydrated(page);
    const [again] = await Promise.all([page.waitForEvent("popup"), page.getByRole("link", { name: "Sign in again" }).click()]);
    await again.locator('input[name=username][value="orders@fabrikam.test"]').check();
    await again.getByRole("button", { name: "Sign in" }).click();
    await again.waitForEvent("close", { timeout: 15_000 });
    await page.getByText("Connected: signed in as").waitFor({ timeout: 15_000 });
    const record = await page.request.post(`${mailkey.base}/_fn/accounts/connection`, {
      form: { id }, headers: { origin: mailkey.base, accept: "application/json" },
    });
    assert.equal((await record.json()).state, "connected");
    assert.deepEqual(problems, []);
    assert.deepEqual(admin.problems, []);
  } finally {
    await admin.context.close();
    await context.close();
  }
});

test("desktop: admin consent from inside a cross-site frame: a popup grants it and the frame goes on", async () => {
  // Its own Mailkey: the sandbox remembers consent, and the test above granted Fabrikam's.
  const own = await startMailkey({ env: { MAILKEY_SANDBOX: "1", MAILKEY_SANDBOX_FILE: SANDBOX_FILE } });
  let src = "about:blank";
  const host = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<!doctype html><title>Acme ERP</title><iframe title="Connect your mailbox" src="${src}" style="width:100%;height:900px;border:0"></iframe>`);
  });
  await new Promise((r) => host.listen(0, "127.0.0.1", r));
  const origin = `http://localhost:${host.address().port}`;
  const key = own.apiKey("consent");
  const api = (method, path, body) =>
    fetch(`${own.base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then((r) => r.json());
  const { context, page, problems } = await openPage(browser, DESKTOP);
  try {
    await api("PUT", "/organisations/org_default/allowed-origins", { origins: [origin] });
    const session = await api("POST", "/connect-sessions", {
      organisation_id: "org_default",
      account: { external_id: "orders", email: "orders@fabrikam.test", app: "operator", provider: "microsoft365-sandbox" },
      allowed_origins: [origin],
      host_name: "Acme ERP",
    });
    src = session.url;
    await page.goto(`${origin}/`);
    const frame = await (await page.waitForSelector("iframe")).contentFrame();
    await frame.waitForSelector(".embed-flow[data-hydrated=true]", { timeout: 60_000 });

    // The user's sign-in: Fabrikam needs an administrator first.
    const [popup] = await Promise.all([page.waitForEvent("popup"), frame.locator("#embed-sign-in").click()]);
    await popup.locator('input[name=username][value="orders@fabrikam.test"]').check();
    await popup.getByRole("button", { name: "Sign in" }).click();
    await popup.getByRole("heading", { name: "Need admin approval" }).waitFor();
    await popup.getByRole("button", { name: /Return to the application/ }).click();
    await popup.waitForEvent("close", { timeout: 15_000 }).catch(() => popup.close());
    await frame.locator("#embed-admin-consent").waitFor({ timeout: 15_000 });
    assert.match(await frame.locator(".sign-in-problem").innerText(), /An administrator must grant consent first/);
    await screenshot(page, "embed-admin-consent-1-needed");

    // The administrator grants it in a popup: the frame itself never leaves Mailkey's page.
    const [consent] = await Promise.all([page.waitForEvent("popup"), frame.locator("#embed-admin-consent").click()]);
    await consent.getByRole("heading", { name: "Permissions requested for your organization" }).waitFor();
    await consent.locator('input[name=username][value="admin@fabrikam.test"]').check();
    await consent.getByRole("button", { name: "Accept" }).click();
    await consent.getByText("Admin consent was granted").waitFor().catch(() => {});
    await consent.close().catch(() => {});
    // Back at the sign-in, and the problem is gone (its block is hidden in a shown step).
    await frame.locator("#embed-sign-in-step:not([hidden]) #embed-problem[hidden]").waitFor({ state: "attached", timeout: 15_000 });
    assert.ok(frame.url().startsWith(`${own.base}/embed/`), frame.url());

    // The user signs in again: no permissions page, signed in, and the test starts by itself.
    const [again] = await Promise.all([page.waitForEvent("popup"), frame.locator("#embed-sign-in").click()]);
    await again.locator('input[name=username][value="orders@fabrikam.test"]').check();
    await again.getByRole("button", { name: "Sign in" }).click();
    await again.waitForEvent("close", { timeout: 15_000 }).catch(() => again.close());
    await frame.locator("#embed-testing, #embed-diagnosis, #embed-connected").first().waitFor({ timeout: 15_000 });
    await screenshot(page, "embed-admin-consent-2-signed-in");
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    host.close();
    await own.stop();
  }
});

test("desktop: the operator rotates the app's secret on the settings page", async () => {
  const { context, page, problems } = await openPage(browser, DESKTOP);
  try {
    await page.goto(mailkey.adminLink());
    await page.goto(`${mailkey.base}/settings`);
    const section = page.locator("#app-microsoft365-sandbox");
    assert.match(await section.innerText(), /Use Acme ERP's app/);
    assert.match(await section.locator(".secret-expires").innerText(), /2099-12-31/);
    assert.match(await section.innerText(), /Set in\s+the sandbox file/);
    await islandsHydrated(page);

    // A secret ID pasted by mistake is named at once, and nothing is saved.
    const secret = section.getByLabel("New client secret value");
    await secret.fill("7b3c9e8a-0d1f-4a2b-8c5d-6e7f8091a2b3");
    await secret.blur();
    await section.getByText("This looks like the Secret ID").waitFor();
    await screenshot(page, "settings-1-secret-id");

    await secret.fill(NEW_SECRET);
    await section.getByLabel("Client secret expires").fill("2099-12-31");
    await section.getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/\/settings\?saved=microsoft365-sandbox/);
    const saved = page.locator("#app-microsoft365-sandbox");
    assert.match(await saved.innerText(), /Saved\. Every account that uses this app/);
    assert.match(await saved.innerText(), /Set in\s+this page/);
    assert.ok(!(await page.content()).includes(NEW_SECRET), "the secret is never shown");
    assert.ok(!mailkey.log.join("\n").includes(NEW_SECRET), "nor logged");
    await screenshot(page, "settings-2-saved");

    // Notice e-mails (a plain form): a bad address is refused in words, with nothing saved.
    const address = () => page.locator("#notices").getByLabel("Notices about your own mailboxes go to");
    await address().fill("it at contoso");
    await page.locator("#notices").getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/notice_problem=own_address/);
    assert.match(await page.locator("#notices [role=alert]").innerText(), /Nothing was saved: the notice address must be one e-mail address/);
    assert.equal(await address().inputValue(), "");
    await address().fill("it@contoso.test");
    await page.locator("#notices").getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/saved=notices/);
    assert.equal(await address().inputValue(), "it@contoso.test");
    assert.equal(await page.locator("#notice-sender").inputValue(), "", "no mailbox chosen yet");
    await screenshot(page, "settings-3-notices");
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
