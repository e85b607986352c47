// The host side in a real browser: a new account goes into a new organisation, the list shows
// and filters by it, and the API keys page makes a key (shown once), which the API accepts until
// it is revoked there.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startMailkey, launchChromium, openPage, screenshot, VIEWPORTS, islandsHydrated } from "../lib/harness.mjs";

const [PHONE, DESKTOP] = VIEWPORTS;

let mailkey;
let browser;
// The account the first test makes in Contoso Ltd, for the audit trail's filter.
let contosoAccount;

before(async () => {
  mailkey = await startMailkey({ env: { MAILKEY_SANDBOX: "1" } });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await mailkey?.stop();
});

async function tokenStatus(key, account) {
  const res = await fetch(`${mailkey.base}/api/v1/accounts/${account}/access-token`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: "{}",
  });
  return res.status;
}

test("desktop: an account in a new organisation, and a key for that organisation only", async () => {
  const { context, page, problems } = await openPage(browser, DESKTOP);
  try {
    await page.goto(mailkey.adminLink());
    await page.goto(`${mailkey.base}/accounts/new`);
    await page.getByLabel("Or a new organisation").fill("Contoso Ltd");
    await screenshot(page, "organisations-1-new-account");
    await page.getByRole("button", { name: "Use Mailkey demo (multi-tenant)", exact: true }).click();
    await page.waitForURL(/\/accounts\/[0-9a-f]+\/setup\/5$/);
    const account = page.url().match(/accounts\/([0-9a-f]+)\//)[1];
    contosoAccount = account;

    // A second account, in the default organisation.
    await page.goto(`${mailkey.base}/accounts/new`);
    await page.getByRole("button", { name: "Use Mailkey demo (multi-tenant)", exact: true }).click();
    await page.waitForURL(/\/setup\/5$/);

    await page.goto(`${mailkey.base}/`);
    assert.equal(await page.locator(".account-row").count(), 2);
    assert.match(await page.locator(".account-list").innerText(), /Contoso Ltd/);
    await page.getByLabel("Organisation", { exact: true }).selectOption({ label: "Contoso Ltd" });
    await page.getByRole("button", { name: "Show" }).click();
    await page.waitForURL(/organisation=org_/);
    assert.equal(await page.locator(".account-row").count(), 1, "only Contoso's");
    await screenshot(page, "organisations-2-filtered");

    // The operator menu leads to the API keys.
    await islandsHydrated(page);
    await page.getByRole("button", { name: "Operator" }).click();
    await page.getByRole("link", { name: "API keys" }).click();
    await page.waitForURL(/\/api-keys$/);
    assert.match(await page.locator("main").innerText(), /No keys yet/);
    await page.getByLabel("Name", { exact: true }).fill("Acme ERP production");
    await page.getByLabel("Organisations", { exact: true }).selectOption({ label: "Only Contoso Ltd" });
    await page.getByRole("button", { name: "Create key" }).click();
    const revealed = page.locator("#new-key .new-key");
    await revealed.waitFor();
    const key = (await revealed.locator(".copy-text").innerText()).trim();
    assert.match(key, /^mk_live_[A-Za-z0-9_-]{43}$/);
    assert.match(await page.locator(".key-list").innerText(), /Acme ERP production[\s\S]*tokens\.issue[\s\S]*only Contoso Ltd/);
    await screenshot(page, "api-keys-1-created");

    // The key works for Contoso's account: it is not signed in yet, so 409, not 401.
    assert.equal(await tokenStatus(key, account), 409);
    await page.reload();
    assert.equal(await page.locator("#new-key .new-key").count(), 0, "shown once");
    assert.ok(!(await page.content()).includes(key));

    await page.getByRole("button", { name: "Revoke Acme ERP production" }).click();
    await page.waitForURL(/revoked=1/);
    assert.match(await page.locator(".key-list").innerText(), /Revoked/);
    assert.equal(await tokenStatus(key, account), 401);
    await screenshot(page, "api-keys-2-revoked");
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("phone, without JavaScript: a key is made and shown with plain forms", async () => {
  const { context, page } = await openPage(browser, PHONE, { javaScriptEnabled: false });
  try {
    await page.goto(mailkey.adminLink());
    await page.goto(`${mailkey.base}/api-keys`);
    // Without a name nothing is made, and the page says why.
    await page.getByLabel("Name", { exact: true }).fill(" ");
    await page.getByRole("button", { name: "Create key" }).click();
    await page.waitForURL(/not_saved=1/);
    assert.match(await page.locator("main").innerText(), /No key was made/);
    await page.getByLabel("Name", { exact: true }).fill("Helpdesk");
    await page.getByRole("button", { name: "Create key" }).click();
    await page.locator("#new-key .new-key").waitFor();
    assert.match(await page.locator("#new-key .copy-text").innerText(), /^mk_live_/);
    await screenshot(page, "api-keys-3-phone");
  } finally {
    await context.close();
  }
});

test("phone: the audit trail lists the operator's changes and narrows to one account", async () => {
  const { context, page, problems } = await openPage(browser, PHONE);
  try {
    await page.goto(mailkey.adminLink());
    await page.goto(`${mailkey.base}/audit`);
    const table = page.locator(".audit-table");
    await table.waitFor();
    const all = await table.innerText();
    assert.match(all, /POST \/_fn\/api-keys\/create/);
    assert.match(all, /fields: .*name/);
    assert.match(all, /POST \/_fn\/api-keys\/revoke/);
    assert.ok(!all.includes("mk_live_"), "never a value");
    await page.getByLabel("Account ID").fill(contosoAccount);
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/\/audit\?.*account=[0-9a-f]/);
    const rows = page.locator(".audit-table tbody tr");
    assert.ok((await rows.count()) > 0, "the account's lines");
    for (const text of await rows.allInnerTexts()) {
      assert.ok(text.includes(contosoAccount), text);
    }
    const overflow = await page.evaluate(() => document.scrollingElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
    await screenshot(page, "audit-1-phone-filtered");
    await page.getByRole("link", { name: "Clear" }).click();
    await page.waitForURL(/\/audit$/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
