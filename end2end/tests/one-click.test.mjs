// One-click connect in a real browser against the sandbox's multi-tenant app: "Use <operator>'s
// app" skips the app registration, the mailbox signs in through `organizations` in a popup, and
// the account records the tenant it signed in from.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readDemo, SCOPES } from "../lib/sandbox-demo.mjs";
import { startMailkey, launchChromium, openPage, screenshot, VIEWPORTS, islandsHydrated } from "../lib/harness.mjs";

const [, DESKTOP] = VIEWPORTS;

let mailkey;
let browser;
let demo;

before(async () => {
  mailkey = await startMailkey({ env: { MAILKEY_SANDBOX: "1" } });
  browser = await launchChromium();
  demo = readDemo(mailkey.dataDir);
});

after(async () => {
  await browser?.close();
  await mailkey?.stop();
});

test("desktop: the operator's app connects a mailbox in one sign-in", async () => {
  const { context, page, problems } = await openPage(browser, DESKTOP);
  try {
    await page.goto(mailkey.adminLink());
    await page.goto(`${mailkey.base}/accounts/new`);
    const oneClick = page.locator(".one-click");
    assert.match(await oneClick.innerText(), /Just sign in \(recommended\)/);
    await screenshot(page, "one-click-1-choice");
    await page.getByRole("button", { name: "Use Mailkey demo (multi-tenant)", exact: true }).click();
    // Straight to the mailbox: no registration, secret or redirect URI.
    await page.waitForURL(/\/accounts\/[0-9a-f]+\/setup\/4$/);
    const id = page.url().match(/accounts\/([0-9a-f]+)\//)[1];
    const res = await page.request.post(`${mailkey.base}/_fn/accounts/mailbox`, {
      form: {
        id, account_name: "One click", email: demo.mailbox, reply_to: "",
        smtp_host: "smtp.office365.com", smtp_port: "587", smtp_security: "starttls", protocol: "imap",
        imap_host: "outlook.office365.com", imap_port: "993", imap_security: "tls",
        root_folder: "INBOX", timeout_minutes: "3", scopes: SCOPES,
      },
      headers: { origin: mailkey.base, accept: "application/json" },
    });
    assert.equal(res.status(), 200, await res.text());

    await page.goto(`${mailkey.base}/accounts/${id}/setup/5`);
    await islandsHydrated(page);
    assert.match(await page.locator(".review-section").first().innerText(), /The app Mailkey demo \(multi-tenant\), this Mailkey's own: nothing to register/);
    const [popup] = await Promise.all([page.waitForEvent("popup"), page.getByRole("link", { name: "Sign in with Microsoft" }).click()]);
    await popup.getByRole("heading", { name: "Pick an account" }).waitFor();
    assert.match(popup.url(), /\/sandbox\/organizations\/oauth2\/v2\.0\/authorize/);
    assert.match(await popup.locator("main, body").first().innerText(), /any work or school account/);
    await popup.locator(`input[name=username][value="${demo.mailbox}"]`).check();
    await popup.getByRole("button", { name: "Sign in" }).click();
    const consent = popup.getByRole("button", { name: "Accept" });
    if (await consent.isVisible().catch(() => false)) await consent.click();
    await popup.waitForEvent("close", { timeout: 15_000 });
    await page.getByText("Connected: signed in as").waitFor({ timeout: 15_000 });
    await screenshot(page, "one-click-2-connected");

    await page.goto(`${mailkey.base}/accounts/${id}`);
    assert.match(await page.locator(".values").first().innerText(), new RegExp(demo.tenant));
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
