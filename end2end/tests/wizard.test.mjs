// The setup wizard in a real browser against the release build: a full walk with good values,
// each kind of validation message raised by a bad value and cleared by a good one, the draft
// resumed after a reload, the secret never shown again; phone and desktop.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startMailkey, launchChromium, openPage, screenshot, VIEWPORTS, islandsHydrated } from "../lib/harness.mjs";

const TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID = "8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a93";
const SECRET = "Xk28Q~f1bN3pVqz9Lr.4hT7wYc_2mJd5sGe8uAoR";

let mailkey;
let browser;

before(async () => {
  mailkey = await startMailkey();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await mailkey?.stop();
});

/** `YYYY-MM-DD`, `days` from today. */
function isoDate(days) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

async function noSidewaysScroll(page, where) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `${where}: page scrolls sideways by ${overflow}px`);
}

const hydrated = islandsHydrated;

/** The message under a field, "" when there is none. */
async function message(page, field) {
  const msg = page.locator(`#f-${field}-msg`);
  return ((await msg.count()) ? await msg.innerText() : "").replace(/\s+/g, " ").trim();
}

/** Types a value, leaves the field, and returns the message the admin then sees. */
async function enter(page, field, value) {
  const input = page.locator(`#f-${field}`);
  await input.fill(value);
  await input.press("Tab");
  return message(page, field);
}

async function expectMessage(page, field, value, expected) {
  await enter(page, field, value);
  await page.waitForFunction(
    ([f, e]) => (document.querySelector(`#f-${f}-msg`)?.innerText ?? "").includes(e),
    [field, expected],
    { timeout: 5_000 },
  ).catch(() => {});
  const got = await message(page, field);
  assert.ok(got.includes(expected), `${field}=${JSON.stringify(value)}: expected "${expected}", got "${got}"`);
  if (!expected.startsWith("Warning")) {
    assert.equal(await page.locator(`#f-${field}`).getAttribute("aria-invalid"), "true", `${field} marked invalid`);
  }
}

async function expectClear(page, field, value) {
  await enter(page, field, value);
  await page.waitForFunction((f) => !(document.querySelector(`#f-${f}-msg`)?.innerText ?? "").trim(), field, { timeout: 5_000 }).catch(() => {});
  assert.equal(await message(page, field), "", `${field}=${JSON.stringify(value)} should clear the message`);
  assert.equal(await page.locator(`#f-${field}`).getAttribute("aria-invalid"), "false");
}

for (const viewport of VIEWPORTS) {
  test(`the wizard walks through every step, checking values as they are typed (${viewport.name})`, async () => {
    const { context, page, problems } = await openPage(browser, viewport);
    const shot = (name) => screenshot(page, `wizard-${viewport.name}-${name}`);
    const email = `invoices-${viewport.name}@contoso.com`;
    try {
      await page.goto(mailkey.adminLink());
      // The empty state's button, or the list's once an account exists.
      await page.getByRole("link", { name: /^(Connect your first mailbox|New Microsoft 365 account)$/ }).click();

      // Step 1: the registration guide, with the redirect URI to paste and deep links.
      await page.getByRole("heading", { level: 1, name: "Register the app in Entra" }).waitFor();
      assert.equal(await page.title(), "Step 1: Register the app in Entra · Mailkey");
      await hydrated(page);
      assert.ok((await page.locator(".copy-text").first().innerText()).endsWith("/oauth/callback"));
      assert.ok(await page.getByRole("link", { name: "New registration" }).getAttribute("href").then((h) => h.startsWith("https://entra.microsoft.com/")));
      for (const permission of ["offline_access", "IMAP.AccessAsUser.All", "SMTP.Send", "POP.AccessAsUser.All"]) {
        assert.ok(await page.getByRole("button", { name: `Copy ${permission}` }).isVisible(), permission);
      }
      assert.match(await page.locator(".permissions").innerText(), /only if you use POP; not recommended/);
      await noSidewaysScroll(page, "step 1");
      await shot("1-register");
      await page.getByRole("button", { name: "I registered the app: next" }).click();

      // Step 2: application details.
      await page.waitForURL(/\/accounts\/[0-9a-f]+\/setup\/2$/);
      const accountPath = new URL(page.url()).pathname.replace(/\/setup\/2$/, "");
      await page.getByRole("heading", { level: 1, name: "Application details" }).waitFor();
      await hydrated(page);
      for (const label of ["Tenant", "Application (client) ID", "Application display name", "Client secret value", "Client secret expires"]) {
        assert.ok(await page.getByLabel(label, { exact: false }).first().isVisible(), label);
      }
      assert.equal(await page.locator("#f-client_secret").getAttribute("type"), "password");

      await expectMessage(page, "tenant", "common", "only work for multi-tenant apps");
      await expectMessage(page, "tenant", "admin@contoso.com", "Enter the domain only, without the mailbox name: contoso.com");
      await expectClear(page, "tenant", TENANT_ID);
      await expectMessage(page, "client_id", "my-app", "The Application (client) ID is a GUID");
      await expectMessage(page, "client_id", SECRET, "This looks like a client secret value");
      await expectClear(page, "client_id", CLIENT_ID);
      await expectMessage(page, "client_secret", CLIENT_ID, "This looks like the Secret ID. Copy the Value column instead");
      await expectClear(page, "client_secret", SECRET);
      await expectMessage(page, "secret_expires", isoDate(10), "Warning: This secret expires in 10 days");
      // Already expired: refused, not saved and forgotten.
      await expectMessage(page, "secret_expires", isoDate(-3), "This secret expired on");
      await expectClear(page, "secret_expires", "2030-05-01");

      // Pasted endpoints: v1 and another tenant are named as such.
      assert.match(await page.locator(".derived-endpoints").innerText(), new RegExp(`login.microsoftonline.com/${TENANT_ID}/oauth2/v2.0/authorize`));
      await page.getByLabel("I have the endpoints").check();
      await expectMessage(page, "authorize_url", `https://login.microsoftonline.com/${TENANT_ID}/oauth2/authorize`, "This is a v1 endpoint");
      await expectMessage(page, "token_url", "https://login.microsoftonline.com/fabrikam.com/oauth2/v2.0/token", "This endpoint belongs to tenant fabrikam.com");
      await expectClear(page, "authorize_url", `https://login.microsoftonline.com/${TENANT_ID}/oauth2/v2.0/authorize`);
      await expectClear(page, "token_url", `https://login.microsoftonline.com/${TENANT_ID}/oauth2/v2.0/token`);
      await page.getByLabel("I have the endpoints").uncheck();

      // Submitting with a field missing lists it above the form, linked to the field.
      await page.locator("#f-client_id").fill("");
      await page.getByRole("button", { name: "Save and continue" }).click();
      const summary = page.getByRole("alert").filter({ hasText: "Please fix these before going on" });
      await summary.waitFor();
      assert.match(await summary.innerText(), /Application \(client\) ID/);
      await noSidewaysScroll(page, "step 2");
      await shot("2-app-details-errors");
      await expectClear(page, "client_id", CLIENT_ID);
      // The display name is optional (Mailkey names the app by it when given).
      await expectClear(page, "app_name", "Mailkey invoices");
      await shot("2-app-details");
      await page.getByRole("button", { name: "Save and continue" }).click();

      // Step 3: the redirect URI to add to the app.
      await page.waitForURL(/\/setup\/3$/);
      await page.getByRole("heading", { level: 1, name: "Redirect URI" }).waitFor();
      assert.equal(await page.locator(".copy-text").first().innerText(), `${mailkey.base}/oauth/callback`);
      assert.match(await page.locator("main").innerText(), /Add a platform → Web/);
      assert.ok(!(await page.content()).includes(SECRET), "the secret never comes back to the browser");
      await hydrated(page);
      await noSidewaysScroll(page, "step 3");
      await shot("3-redirect-uri");
      await page.getByRole("button", { name: "I added the redirect URI: next" }).click();

      // Step 4: the mailbox, preset for Exchange Online.
      await page.waitForURL(/\/setup\/4$/);
      await page.getByRole("heading", { level: 1, name: "Mailbox" }).waitFor();
      await hydrated(page);
      assert.equal(await page.locator("#f-smtp_host").inputValue(), "smtp.office365.com");
      assert.equal(await page.locator("#f-smtp_port").inputValue(), "587");
      assert.equal(await page.locator("#f-imap_host").inputValue(), "outlook.office365.com");
      assert.equal(await page.locator("#f-imap_port").inputValue(), "993");
      assert.equal(await page.locator("#f-root_folder").inputValue(), "INBOX");
      assert.equal(await page.locator("#f-timeout_minutes").inputValue(), "3");
      assert.equal(await page.locator("#f-email").getAttribute("inputmode"), "email");
      assert.equal(await page.locator("#f-smtp_port").getAttribute("inputmode"), "numeric");

      await expectClear(page, "account_name", "Invoices");
      await expectMessage(page, "email", "invoices", "The e-mail address needs an @ and a domain");
      await expectClear(page, "email", email);
      await expectMessage(page, "reply_to", "billing@contoso", "is not a mail domain");
      await expectClear(page, "reply_to", "");
      await page.locator("#f-smtp_security").selectOption("tls");
      await page.waitForFunction(() => (document.querySelector("#f-smtp_port-msg")?.innerText ?? "").includes("Port 587 uses STARTTLS"));
      await page.locator("#f-smtp_security").selectOption("starttls");
      await page.waitForFunction(() => !(document.querySelector("#f-smtp_port-msg")?.innerText ?? "").trim());
      await expectMessage(page, "imap_port", "143", "Port 143 uses STARTTLS");
      await expectClear(page, "imap_port", "993");
      await expectMessage(page, "scopes", "Mail.Send IMAP.AccessAsUser.All offline_access", "Warning: These are Microsoft Graph scopes");
      await expectMessage(page, "scopes", "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send", "Warning: Without offline_access");
      await page.getByRole("button", { name: "Reset to defaults" }).click();
      await page.waitForFunction(() => !(document.querySelector("#f-scopes-msg")?.innerText ?? "").trim());
      await expectMessage(page, "timeout_minutes", "0", "Enter the connection timeout in whole minutes");
      await expectClear(page, "timeout_minutes", "3");
      await noSidewaysScroll(page, "step 4");
      await shot("4-mailbox");
      await page.getByRole("button", { name: "Save and continue" }).click();

      // Step 5: review; the secret only as "set".
      await page.waitForURL(/\/setup\/5$/);
      await page.getByRole("heading", { level: 1, name: "Review and sign in" }).waitFor();
      const review = await page.locator("main").innerText();
      for (const expected of [CLIENT_ID, "Mailkey invoices", "Set (expires 2030-05-01)", email, "smtp.office365.com:587", "INBOX", "3 minutes"]) {
        assert.ok(review.includes(expected), `review shows ${expected}`);
      }
      assert.ok(!(await page.content()).includes(SECRET), "the secret is never shown");
      await noSidewaysScroll(page, "step 5");
      await shot("5-review");

      // A reload (or a phone that locked) loses nothing; the list resumes where the draft stopped.
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Review and sign in" }).waitFor();
      assert.ok((await page.locator("main").innerText()).includes(email));
      await page.goto(`${mailkey.base}/`);
      const row = page.locator(".account-row").filter({ hasText: email });
      assert.match(await row.innerText(), /Ready to sign in/);
      await row.getByRole("link").click();
      await page.waitForURL(new RegExp(`${accountPath}/setup$`));
      await page.getByRole("heading", { level: 1, name: "Review and sign in" }).waitFor();

      // Each review section leads back to its step, with the saved values filled in.
      await hydrated(page);
      await page.getByRole("link", { name: "Edit application" }).click();
      await page.waitForURL(/\/setup\/2$/);
      assert.equal(await page.locator("#f-client_id").inputValue(), CLIENT_ID);
      assert.equal(await page.locator("#f-client_secret").inputValue(), "", "secrets are write-only");
      assert.match(await page.locator("#f-client_secret-hint").innerText(), /A secret is saved/);

      assert.deepEqual(problems, [], "no console errors");
    } finally {
      await context.close();
    }
  });
}

test("keyboard only: every wizard control is reachable and focus is visible", async () => {
  const { context, page, problems } = await openPage(browser, VIEWPORTS[1]);
  try {
    await page.goto(mailkey.adminLink());
    await page.goto(`${mailkey.base}/accounts/new`);
    await hydrated(page);
    const seen = new Set();
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press("Tab");
      const info = await page.evaluate(() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        return { text: (el.getAttribute("aria-label") || el.innerText || "").trim(), outline: style.outlineStyle !== "none" && style.outlineWidth !== "0px" };
      });
      if (info.text) seen.add(info.text);
      if (info.text === "I registered the app: next") {
        assert.ok(info.outline, "focused control shows an outline");
        break;
      }
    }
    assert.ok(seen.has("Copy redirect URI"), [...seen].join(" | "));
    assert.ok(seen.has("I registered the app: next"), [...seen].join(" | "));
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/setup\/2$/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("without the wasm, the steps still submit, and a refused step says nothing was saved", async () => {
  const { context, page } = await openPage(browser, VIEWPORTS[0], { javaScriptEnabled: false });
  try {
    await page.goto(mailkey.adminLink());
    await page.goto(`${mailkey.base}/accounts/new`);
    await page.getByRole("button", { name: "I registered the app: next" }).click();
    await page.waitForURL(/\/setup\/2$/);
    await page.locator("#f-tenant").fill(TENANT_ID);
    await page.locator("#f-client_id").fill("my-app");
    await page.locator("#f-app_name").fill("Mailkey no-JS");
    await page.locator("#f-client_secret").fill(SECRET);
    await page.getByRole("button", { name: "Save and continue" }).click();
    await page.waitForURL(/\/setup\/2\?not_saved=1$/);
    assert.match(await page.getByRole("alert").innerText(), /Nothing was saved/);
    await page.locator("#f-tenant").fill(TENANT_ID);
    await page.locator("#f-client_id").fill(CLIENT_ID);
    await page.locator("#f-app_name").fill("Mailkey no-JS");
    await page.locator("#f-client_secret").fill(SECRET);
    await page.getByRole("button", { name: "Save and continue" }).click();
    await page.waitForURL(/\/setup\/3$/);
    await page.getByRole("heading", { level: 1, name: "Redirect URI" }).waitFor();
    await screenshot(page, "wizard-no-wasm-3-redirect-uri");
  } finally {
    await context.close();
  }
});

test("the narrowest phones (320 px) never scroll sideways", async () => {
  const narrow = { name: "narrow", width: 320, height: 640, isMobile: true, hasTouch: true };
  const { context, page, problems } = await openPage(browser, narrow);
  try {
    await page.goto(mailkey.adminLink());
    await page.goto(`${mailkey.base}/accounts/new`);
    await noSidewaysScroll(page, "320 px step 1");
    await page.getByRole("button", { name: "I registered the app: next" }).click();
    await page.waitForURL(/\/setup\/2$/);
    await hydrated(page);
    await noSidewaysScroll(page, "320 px step 2");
    await screenshot(page, "wizard-320-2-app-details");
    const base = page.url().replace(/\/2$/, "");
    await page.goto(`${base}/4`);
    // Step 4 opens only after 2 and 3 are saved: the wizard sends the admin back to step 2.
    await page.getByRole("heading", { level: 1, name: "Application details" }).waitFor();
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("the client secret never appears in Mailkey's log", () => {
  const log = mailkey.log.join("\n");
  assert.ok(log.length > 0);
  assert.ok(!log.includes(SECRET), "secret found in the server log");
});
