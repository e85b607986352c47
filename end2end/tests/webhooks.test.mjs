// The operator's Webhooks page in a real browser: an endpoint a host made over the API is listed
// with what it gets, a test event is queued from the page (a plain form), and its failed
// delivery (the receiver's name does not resolve here) is shown with the reason and the retry.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startMailkey, launchChromium, openPage, screenshot, VIEWPORTS, islandsHydrated } from "../lib/harness.mjs";

const [PHONE, DESKTOP] = VIEWPORTS;

let mailkey;
let browser;

before(async () => {
  mailkey = await startMailkey();
  browser = await launchChromium();
  const key = mailkey.apiKey("Acme ERP");
  const res = await fetch(`${mailkey.base}/api/v1/webhook-endpoints`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ url: "https://hooks.acme-erp.invalid/mailkey", description: "Acme ERP", event_types: ["account.needs_reconnect", "webhook.test"] }),
  });
  assert.equal(res.status, 201, await res.text());
});

after(async () => {
  await browser?.close();
  await mailkey?.stop();
});

for (const viewport of [DESKTOP, PHONE]) {
  test(`${viewport.name}: the endpoints, a test event and its failed delivery, explained`, async () => {
    const { context, page, problems } = await openPage(browser, viewport);
    try {
      await page.goto(mailkey.adminLink());
      await page.goto(`${mailkey.base}/webhooks`);
      const list = page.locator(".webhook-list");
      assert.match(await list.innerText(), /https:\/\/hooks\.acme-erp\.invalid\/mailkey/);
      assert.match(await list.innerText(), /account\.needs_reconnect, webhook\.test/);
      assert.match(await list.innerText(), /Enabled/);
      await page.getByRole("button", { name: "Send a test event" }).click();
      await page.waitForURL(/\/webhooks\?queued=test$/);
      assert.match(await page.locator("main").innerText(), /A test event is queued/);
      // The worker tries within a second or two; the page shows why it failed and when it
      // tries again.
      let text = "";
      for (let i = 0; i < 40 && !/Retrying: attempt 1 failed/.test(text); i++) {
        await page.waitForTimeout(250);
        await page.reload();
        text = await page.locator(".deliveries").first().innerText().catch(() => "");
      }
      assert.match(text, /webhook\.test/);
      assert.match(text, /Retrying: attempt 1 failed; next/);
      assert.match(text, /could not connect|request failed|non-public/);
      await islandsHydrated(page);
      await screenshot(page, `webhooks-${viewport.name}`);
      // Nothing wider than the phone: the deliveries table scrolls inside its own box.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the window`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
}
