// The connection test in a real browser against real Dovecot and Postfix that check the
// sandbox's tokens: the wizard signs in, "Test the connection" draws each stage live from the
// server's event stream, the message lands in the mailbox's Maildir, and the folders the test
// found are mapped and saved. Without the wasm the same button is a form post that waits.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { readDemo, createAccount } from "../lib/sandbox-demo.mjs";
import { startMailkey, launchChromium, openPage, screenshot, VIEWPORTS, islandsHydrated } from "../lib/harness.mjs";
import { mailServersCa } from "../lib/mail-servers.mjs";

const [PHONE, DESKTOP] = VIEWPORTS;

let mail;
let servers;
let mailkey;
let browser;
let demo;

before(async () => {
  mail = await mailServersCa();
  mailkey = await startMailkey({
    env: {
      MAILKEY_SANDBOX: "1",
      MAILKEY_TLS_CA_FILE: mail.caFile,
      MAILKEY_ALLOW_PRIVATE_HOSTS: "true",
      MAILKEY_MAIL_HOSTS: "localhost",
      MAILKEY_MAIL_PORTS: "any",
    },
  });
  demo = readDemo(mailkey.dataDir);
  servers = await mail.start({
    introspectionUrl: `${mailkey.base}/sandbox/${demo.tenant}/oauth2/v2.0/introspect`,
    domain: demo.domain,
    microsoftUsers: [demo.mailbox],
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await mailkey?.stop();
  await mail?.stop();
});

/** A finished wizard pointing at the local servers. */
function account(page, name, { smtpPort = servers.smtpPort } = {}) {
  return createAccount(page, mailkey, demo, name, {
    smtp_host: "localhost", smtp_port: String(smtpPort), imap_host: "localhost", imap_port: String(servers.imapsPort), timeout_minutes: "1",
  });
}

/** Signs the mailbox in at the sandbox, in the same tab. */
async function signIn(page, id) {
  await page.goto(`${mailkey.base}/accounts/${id}/sign-in?mode=redirect`);
  await page.locator(`input[name=username][value="${demo.mailbox}"]`).check();
  await page.getByRole("button", { name: "Sign in" }).click();
  const consent = page.getByRole("button", { name: "Accept" });
  if (await consent.isVisible().catch(() => false)) await consent.click();
  await page.getByText("Connected: signed in as").waitFor({ timeout: 15_000 });
}

test("desktop: the test runs live, the message arrives, and the folders are saved", async () => {
  const { context, page, problems } = await openPage(browser, DESKTOP);
  try {
    await page.goto(mailkey.adminLink());
    const id = await account(page, "Tested");
    await signIn(page, id);
    await page.goto(`${mailkey.base}/accounts/${id}/setup/5`);
    await islandsHydrated(page);
    // The live rows vanish when the page reloads with the result: note every one drawn.
    await page.evaluate(() => {
      new MutationObserver(() => {
        const seen = new Set(JSON.parse(sessionStorage.getItem("live") ?? "[]"));
        for (const row of document.querySelectorAll(".live-test .stage")) seen.add(row.innerText.split("\n")[0] + "|" + row.className);
        sessionStorage.setItem("live", JSON.stringify([...seen]));
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    const before = servers.inbox(demo.mailbox).length;
    await Promise.all([
      page.waitForEvent("load", { timeout: 60_000 }),
      page.getByRole("button", { name: "Test the connection" }).click(),
    ]);
    const live = await page.evaluate(() => JSON.parse(sessionStorage.getItem("live") ?? "[]"));
    assert.ok(live.some((r) => r.includes("stage-running")), `a stage was drawn running: ${live}`);
    assert.ok(live.some((r) => r.startsWith("Sign in to SMTP (XOAUTH2)|") && r.includes("stage-passed")), `SMTP sign-in drawn passed: ${live}`);

    const result = page.locator('.test-result[data-result="passed"]');
    await result.waitFor();
    assert.match(await result.locator(".alert-success").innerText(), /sent the test message and received it/);
    assert.equal(await result.locator(".stage-passed").count(), 13, await result.innerText());
    await screenshot(page, "connection-test-desktop-1-passed");

    // Received (the stage says where), then deleted: the INBOX the application reads keeps
    // nothing of the test.
    assert.match(await result.innerText(), /found in INBOX, then deleted it/);
    const inbox = servers.inbox(demo.mailbox);
    assert.equal(inbox.length, before, "the test message does not stay in the INBOX");

    // Folders: pre-selected from the flags of Microsoft's names; the admin drops Archive and saves.
    const sent = page.getByLabel("Sent", { exact: true });
    assert.equal(await sent.inputValue(), "Sent Items");
    assert.equal(await page.getByLabel("Trash", { exact: true }).inputValue(), "Deleted Items");
    assert.equal(await page.getByLabel("Junk", { exact: true }).inputValue(), "Junk Email");
    await page.getByLabel("Archive", { exact: true }).selectOption("");
    await page.getByRole("button", { name: "Save folders" }).click();
    await page.waitForURL(new RegExp(`/accounts/${id}\\?folders=saved#folders$`));
    await page.getByText("Folders saved.").waitFor();
    assert.equal(await page.getByLabel("Archive", { exact: true }).inputValue(), "");
    await screenshot(page, "connection-test-desktop-2-folders-saved");
    const saved = await (await page.request.get(`${mailkey.base}/api/v1/accounts/${id}/folders`)).json();
    assert.equal(saved.saved, true);
    assert.deepEqual(saved.mapping, { inbox: "INBOX", sent: "Sent Items", drafts: "Drafts", trash: "Deleted Items", junk: "Junk Email", archive: null });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("phone without JavaScript: the Test button waits for the run and shows the result", async () => {
  const { context, page } = await openPage(browser, PHONE, { javaScriptEnabled: false });
  try {
    await page.goto(mailkey.adminLink());
    const id = await account(page, "No script");
    // Sign in with the wasm off too: the same-tab link is a plain link.
    await signIn(page, id);
    await page.goto(`${mailkey.base}/accounts/${id}`);
    await page.getByRole("button", { name: "Test the connection" }).click();
    await page.waitForURL(new RegExp(`/accounts/${id}#connection-test$`), { timeout: 60_000 });
    await page.locator('.test-result[data-result="passed"]').waitFor();
    await screenshot(page, "connection-test-phone-1-passed");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `scrolls sideways by ${overflow}px`);
  } finally {
    await context.close();
  }
});

test("phone: a POP mailbox is tested over POP3, with POP's own stages", async () => {
  const { context, page, problems } = await openPage(browser, PHONE);
  try {
    await page.goto(mailkey.adminLink());
    const id = await createAccount(page, mailkey, demo, "Read over POP", {
      smtp_host: "localhost", smtp_port: String(servers.smtpPort), protocol: "pop",
      imap_host: "localhost", imap_port: String(servers.pop3sPort), imap_security: "tls", timeout_minutes: "1",
      scopes: "https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access openid email profile",
    });
    await signIn(page, id);
    await page.goto(`${mailkey.base}/accounts/${id}`);
    await islandsHydrated(page);
    const before = servers.inbox(demo.mailbox).length;
    await Promise.all([
      page.waitForEvent("load", { timeout: 60_000 }),
      page.getByRole("button", { name: "Test the connection" }).click(),
    ]);
    const result = page.locator('.test-result[data-result="passed"]');
    await result.waitFor({ timeout: 60_000 });
    const words = await result.innerText();
    assert.match(words, /Sign in to POP \(XOAUTH2\)/);
    assert.doesNotMatch(words, /IMAP/);
    assert.match(words, /found in INBOX, then deleted it/);
    assert.equal(await result.locator(".stage-passed").count(), 11, words);
    assert.equal(servers.inbox(demo.mailbox).length, before, "the test message does not stay");
    await screenshot(page, "connection-test-phone-pop-passed");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `scrolls sideways by ${overflow}px`);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});


/** A loopback port nothing listens on. */
async function closedPort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

test("desktop: a failed run is explained, with the way to the step that fixes it", async () => {
  const { context, page, problems } = await openPage(browser, DESKTOP);
  try {
    await page.goto(mailkey.adminLink());
    const port = await closedPort();
    const id = await account(page, "Wrong port", { smtpPort: port });
    await signIn(page, id);
    await page.goto(`${mailkey.base}/accounts/${id}`);
    await islandsHydrated(page);
    await Promise.all([
      page.waitForEvent("load", { timeout: 60_000 }),
      page.getByRole("button", { name: "Test the connection" }).click(),
    ]);
    const result = page.locator('.test-result[data-result="failed"]');
    await result.waitFor();
    assert.equal(await result.locator(".stage-failed .stage-label").innerText(), "Connect to the outgoing server");
    const diagnosis = page.getByRole("alert").filter({ has: page.getByRole("heading", { name: "Nothing answers on this port" }) });
    assert.match(await diagnosis.innerText(), new RegExp(`refused the connection on port ${port}`));
    assert.match(await diagnosis.innerText(), /SMTP 587 with STARTTLS/);
    await screenshot(page, "connection-test-desktop-3-failed");
    assert.equal(await page.locator("#folders").count(), 0, "no folders to map without a passing run");
    await diagnosis.getByRole("link", { name: /^Change it:/ }).click();
    await page.waitForURL(new RegExp(`/accounts/${id}/setup/4#f-smtp_port$`));
    // The field at fault has the focus, ready to be corrected.
    await islandsHydrated(page);
    await page.waitForFunction(() => document.activeElement?.id === "f-smtp_port", null, { timeout: 5_000 });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("phone: a client secret is renewed on its own page, stays signed in, and the test proves it", async () => {
  const { context, page, problems } = await openPage(browser, PHONE);
  try {
    await page.goto(mailkey.adminLink());
    const id = await account(page, "Renewed");
    await signIn(page, id);
    await page.goto(`${mailkey.base}/accounts/${id}`);
    await page.getByRole("link", { name: "Renew the client secret" }).click();
    await page.waitForURL(new RegExp(`/accounts/${id}/renew-secret$`));
    assert.match(await page.locator("main").innerText(), /Make a new secret in Entra/);

    // The Secret ID pasted by mistake: the page says so, next to the field, and saves nothing.
    await page.getByLabel("New client secret value").fill("6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b");
    await page.getByLabel("It expires on").fill("2031-01-01");
    await page.getByRole("button", { name: "Save the new secret" }).click();
    await page.waitForURL(/not_saved=secret_is_id/);
    assert.match(await page.locator("#client_secret-error").innerText(), /Secret ID/);
    assert.equal(await page.getByLabel("New client secret value").getAttribute("aria-invalid"), "true");

    // The value: saved, still signed in; the test proves Microsoft (here the sandbox) takes it.
    await page.getByLabel("New client secret value").fill(demo.secret);
    await page.getByLabel("It expires on").fill("2031-01-01");
    await page.getByRole("button", { name: "Save the new secret" }).click();
    await page.waitForURL(/saved=1#test$/);
    await page.locator("#renewed").waitFor();
    await islandsHydrated(page);
    await Promise.all([
      page.waitForEvent("load", { timeout: 60_000 }),
      page.getByRole("button", { name: "Test the connection" }).click(),
    ]);
    await page.locator('.test-result[data-result="passed"]').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `scrolls sideways by ${overflow}px`);
    await screenshot(page, "renew-secret-phone-1-tested");
    // Still signed in: no new sign-in was asked for.
    await page.goto(`${mailkey.base}/accounts/${id}`);
    await page.getByText("Connected: signed in as").waitFor();
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
