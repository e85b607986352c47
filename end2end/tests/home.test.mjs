// The portal home in a real browser, on a phone and on a desktop, against the release build.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startMailkey, launchChromium, openPage, screenshot, VIEWPORTS, islandsHydrated } from "../lib/harness.mjs";

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

for (const viewport of VIEWPORTS) {
  test(`home page renders, hydrates and works (${viewport.name} ${viewport.width}x${viewport.height})`, async () => {
    const { context, page, problems } = await openPage(browser, viewport);
    try {
      // The setup link signs in and lands on the home page.
      const res = await page.goto(mailkey.adminLink());
      assert.equal(res.status(), 200);
      assert.equal(new URL(page.url()).pathname, "/");
      assert.equal(await page.title(), "Mailboxes · Mailkey");

      // Server-rendered content is there before any script runs.
      await page.getByRole("heading", { level: 1, name: "Connect your first mailbox" }).waitFor();
      assert.ok(await page.getByRole("banner").isVisible());
      assert.ok(await page.getByRole("main").isVisible());
      assert.ok(await page.getByRole("contentinfo").isVisible());
      assert.match(await page.getByRole("contentinfo").innerText(), /Mailkey \d+\.\d+\.\d+/);
      const cta = page.getByRole("link", { name: "Connect your first mailbox" });
      assert.ok(await cta.isVisible());
      assert.ok((await cta.boundingBox()).height >= 44, "tap target at least 44 px");

      // The WebAssembly hydrated the page: the operator menu now responds to a click.
      await islandsHydrated(page);
      const menu = page.getByRole("button", { name: "Operator" });
      assert.equal(await menu.getAttribute("aria-expanded"), "false");
      assert.ok(!(await page.getByRole("button", { name: "Sign out" }).isVisible()));
      await menu.click();
      assert.equal(await menu.getAttribute("aria-expanded"), "true");
      await page.getByRole("button", { name: "Sign out" }).waitFor({ state: "visible" });
      await screenshot(page, `home-${viewport.name}-menu-open`);
      await page.keyboard.press("Escape");
      assert.equal(await menu.getAttribute("aria-expanded"), "false");

      // Nothing scrolls sideways.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `page scrolls sideways by ${overflow}px`);

      await screenshot(page, `home-${viewport.name}`);
      assert.deepEqual(problems, [], "no console errors");
    } finally {
      await context.close();
    }
  });
}

test("keyboard users reach the content and see where focus is", async () => {
  const { context, page, problems } = await openPage(browser, VIEWPORTS[1]);
  try {
    await page.goto(mailkey.adminLink());
    await islandsHydrated(page);
    await page.keyboard.press("Tab");
    const skip = page.getByRole("link", { name: "Skip to content" });
    assert.ok(await skip.evaluate((el) => el === document.activeElement));
    const outline = await skip.evaluate((el) => getComputedStyle(el).outlineStyle);
    assert.notEqual(outline, "none", "focused element shows a focus ring");
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("signing out ends the session", async () => {
  const { context, page, problems } = await openPage(browser, VIEWPORTS[0]);
  try {
    await page.goto(mailkey.adminLink());
    await islandsHydrated(page);
    await page.getByRole("button", { name: "Operator" }).click();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { level: 1, name: "Sign in to Mailkey" }).waitFor();
    await screenshot(page, "signed-out-phone");
    // The signed-out home answers 401 by design; Chromium reports that status as a console error.
    const unexpected = problems.filter((p) => !p.includes("status of 401"));
    assert.deepEqual(unexpected, []);
  } finally {
    await context.close();
  }
});

test("a used setup link is refused", async () => {
  const { context, page } = await openPage(browser, VIEWPORTS[1]);
  try {
    const link = mailkey.adminLink();
    assert.equal((await page.goto(link)).status(), 200);
    const again = await page.goto(link);
    assert.equal(again.status(), 400);
    assert.match(await page.textContent("body"), /mailkey admin link/);
  } finally {
    await context.close();
  }
});
