// Sign-in with the sandbox identity provider in a real browser against the release build: the
// popup on desktop (opened in the click), the same-tab fallback on a phone and when popups are
// blocked, and a popup that lost `window.opener` (the wizard learns the result from the server).
// Mailkey runs at debug log level; no token or secret may reach its log.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readDemo, createAccount } from "../lib/sandbox-demo.mjs";
import { startMailkey, launchChromium, openPage, screenshot, VIEWPORTS, islandsHydrated } from "../lib/harness.mjs";

const [PHONE, DESKTOP] = VIEWPORTS;

let mailkey;
let browser;
let demo;

before(async () => {
  mailkey = await startMailkey({ env: { MAILKEY_SANDBOX: "1", MAILKEY_LOG_LEVEL: "debug" } });
  browser = await launchChromium();
  // The generated demo directory: one tenant, one app, the mailbox and an administrator.
  demo = readDemo(mailkey.dataDir);
});

after(async () => {
  await browser?.close();
  await mailkey?.stop();
});

const account = (page, name) => createAccount(page, mailkey, demo, name);

/** Microsoft's side, as the sandbox shows it: pick the account, accept the permissions. */
async function signInAtSandbox(page, user) {
  await page.getByRole("heading", { name: "Pick an account" }).waitFor();
  assert.ok(await page.getByText("Sandbox identity provider.").isVisible());
  await page.locator(`input[name=username][value="${user}"]`).check();
  await page.getByRole("button", { name: "Sign in" }).click();
  const consent = page.getByRole("button", { name: "Accept" });
  if (await consent.isVisible().catch(() => false)) await consent.click();
}

async function reviewPage(page, id) {
  await page.goto(`${mailkey.base}/accounts/${id}/setup/5`);
  await islandsHydrated(page);
}

async function expectConnected(page) {
  await page.getByText("Connected: signed in as").waitFor({ timeout: 15_000 });
  assert.match(await page.locator(".alert-success").innerText(), new RegExp(demo.mailbox.replace(".", "\\.")));
  assert.ok(await page.getByRole("link", { name: "Sign in again" }).isVisible());
}

test("desktop: the popup signs in and the wizard shows the connection", async () => {
  const { context, page, problems } = await openPage(browser, DESKTOP);
  try {
    await page.goto(mailkey.adminLink());
    assert.ok(await page.getByText("Sandbox identity provider on.").isVisible());
    const id = await account(page, "Popup");
    await reviewPage(page, id);
    // Before signing in: what the tenant must allow, and what the test says when it does not.
    const checklist = page.locator(".prerequisites");
    assert.match(await checklist.innerText(), /uncheck "Turn off SMTP AUTH protocol for your organization"/);
    const smtpAuth = checklist.locator("#prerequisite-smtp-auth");
    await smtpAuth.getByText("What the connection test says if this is missing").click();
    assert.ok(await smtpAuth.getByRole("heading", { name: "SMTP AUTH is turned off" }).isVisible());
    await screenshot(page, "sign-in-desktop-1-review");
    const [popup] = await Promise.all([page.waitForEvent("popup"), page.getByRole("link", { name: "Sign in with Microsoft" }).click()]);
    assert.match(await page.getByRole("status").filter({ hasText: "Microsoft's window" }).innerText(), /Complete the sign-in/);
    await signInAtSandbox(popup, demo.mailbox);
    await popup.waitForEvent("close", { timeout: 15_000 });
    await expectConnected(page);
    assert.equal(await page.locator(".prerequisites").count(), 0, "the checklist gives way to the connection test");
    await screenshot(page, "sign-in-desktop-2-connected");
    // The list leads to the account's own page, which shows the same.
    await page.goto(`${mailkey.base}/`);
    await page.locator(".account-row").filter({ hasText: "Popup" }).getByRole("link").click();
    await page.waitForURL(new RegExp(`/accounts/${id}$`));
    await expectConnected(page);
    await screenshot(page, "sign-in-desktop-3-account-page");
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("desktop: a popup without window.opener still completes the wizard (server-sent events)", async () => {
  const { context, page, problems } = await openPage(browser, DESKTOP);
  try {
    await page.goto(mailkey.adminLink());
    const id = await account(page, "No opener");
    await reviewPage(page, id);
    const [popup] = await Promise.all([page.waitForEvent("popup"), page.getByRole("link", { name: "Sign in with Microsoft" }).click()]);
    await popup.waitForLoadState();
    // Cut the popup off from the wizard, as some browsers and embedding pages do.
    await popup.evaluate(() => { window.opener = null; });
    await signInAtSandbox(popup, demo.mailbox);
    await popup.getByText(`Signed in as ${demo.mailbox}`).waitFor();
    await expectConnected(page);
    assert.ok(!popup.isClosed(), "without an opener the popup stays, saying what happened");
    await popup.close();
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("desktop: closing the popup without signing in gives the button back", async () => {
  const { context, page, problems } = await openPage(browser, DESKTOP);
  try {
    await page.goto(mailkey.adminLink());
    const id = await account(page, "Cancelled");
    await reviewPage(page, id);
    const button = page.getByRole("link", { name: "Sign in with Microsoft" });
    const [popup] = await Promise.all([page.waitForEvent("popup"), button.click()]);
    const waiting = page.getByText("Complete the sign-in in Microsoft's window");
    await waiting.waitFor();
    await popup.close();
    await waiting.waitFor({ state: "detached", timeout: 10_000 });
    const [again] = await Promise.all([page.waitForEvent("popup"), button.click()]);
    await signInAtSandbox(again, demo.mailbox);
    await expectConnected(page);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("desktop: with popups blocked, the sign-in happens in the same tab", async () => {
  const { context, page, problems } = await openPage(browser, DESKTOP);
  try {
    await context.addInitScript(() => { window.open = () => null; });
    await page.goto(mailkey.adminLink());
    const id = await account(page, "Blocked");
    await reviewPage(page, id);
    await page.getByRole("link", { name: "Sign in with Microsoft" }).click();
    await signInAtSandbox(page, demo.mailbox);
    await page.waitForURL(new RegExp(`/accounts/${id}/setup/5#sign-in-heading$`));
    await expectConnected(page);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("phone: the sign-in happens in the same tab and a wrong account is explained", async () => {
  const { context, page, problems } = await openPage(browser, PHONE);
  try {
    await page.goto(mailkey.adminLink());
    const id = await account(page, "Phone");
    await reviewPage(page, id);
    // The administrator signs in instead of the mailbox.
    await page.getByRole("link", { name: "Sign in with Microsoft" }).click();
    await signInAtSandbox(page, demo.admin);
    await page.waitForURL(new RegExp(`/accounts/${id}/setup/5#sign-in-heading$`));
    const alert = page.locator(".sign-in-problem");
    await alert.waitFor();
    assert.match(await alert.innerText(), new RegExp(`${demo.admin.replace(".", "\\.")} signed in, but this account connects`));
    await screenshot(page, "sign-in-phone-1-wrong-account");
    await islandsHydrated(page);
    await page.getByRole("link", { name: "Sign in again" }).click();
    await signInAtSandbox(page, demo.mailbox);
    await page.waitForURL(new RegExp(`/accounts/${id}/setup/5#sign-in-heading$`));
    await expectConnected(page);
    await screenshot(page, "sign-in-phone-2-connected");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `scrolls sideways by ${overflow}px`);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("no token, code or secret reaches Mailkey's log at debug level", () => {
  const log = mailkey.log.join("\n");
  assert.ok(log.includes("mailbox signed in"), "the run did sign in");
  for (const needle of ["sbx.rt.", "sbx.code.", "eyJhbGciOiJIUzI1NiIs", demo.secret]) {
    assert.ok(!log.includes(needle), `${needle} is in the log`);
  }
});
