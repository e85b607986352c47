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
    // Nothing is typed on the way: every value filled in is counted.
    let typed = 0;
    await page.exposeFunction("mailkeyTyped", () => { typed += 1; });
    await page.addInitScript(() => {
      document.addEventListener("change", (e) => {
        if (e.target.matches("input:not([type=hidden]), textarea, select")) window.mailkeyTyped();
      }, true);
    });
    await page.getByRole("button", { name: "Use Mailkey demo (multi-tenant)", exact: true }).click();
    // Straight to the sign-in: no registration, secret, redirect URI or mailbox to fill in.
    await page.waitForURL(/\/accounts\/[0-9a-f]+\/setup\/5$/);
    const id = page.url().match(/accounts\/([0-9a-f]+)\//)[1];
    await islandsHydrated(page);
    assert.match(await page.locator(".review-section").first().innerText(), /The app Mailkey demo \(multi-tenant\), this Mailkey's own: nothing to register/);
    assert.match(await page.locator("main").innerText(), /the account that signs in is the mailbox Mailkey connects/);
    await screenshot(page, "one-click-1b-sign-in");
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
    assert.equal(typed, 0, "no value was typed on Mailkey's pages to connect the mailbox");

    // The mailbox is the account that signed in, named by its address.
    await page.goto(`${mailkey.base}/`);
    const row = page.locator(".account-row").filter({ hasText: demo.mailbox });
    assert.match(await row.innerText(), /Connected/);

    await page.goto(`${mailkey.base}/accounts/${id}`);
    assert.match(await page.locator(".values").first().innerText(), new RegExp(demo.tenant));
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
