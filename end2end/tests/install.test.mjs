// The README's "Install on a server", followed: the release binary and the site directory copied
// to the unit's paths under a temporary root, Mailkey started from another directory with the
// unit's Environment= lines (read from the README, so the two cannot drift), and the portal
// loading every asset and hydrating. A copy without the site's hash.txt is refused at start.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, cpSync, mkdtempSync, mkdirSync, copyFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { root, BIN, SITE, startMailkey, launchChromium, openPage, islandsHydrated, screenshot, VIEWPORTS } from "../lib/harness.mjs";

const readme = readFileSync(join(root, "README.md"), "utf8");
const unit = readme.match(/```ini\n(\[Unit\][\s\S]*?)```/)[1];
const environment = Object.fromEntries(
  [...unit.matchAll(/^Environment=(MAILKEY_\w+)=(.*)$/gm)].map((m) => [m[1], m[2].trim()]),
);
const execStart = unit.match(/^ExecStart=(\S+) serve$/m)[1];

let prefix;
let browser;

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Installs the build under a fresh root: the binary at ExecStart, the site at MAILKEY_SITE_DIR. */
function install({ withManifest = true } = {}) {
  const at = mkdtempSync(join(tmpdir(), "mailkey-install-"));
  const bin = join(at, execStart);
  mkdirSync(dirname(bin), { recursive: true });
  copyFileSync(BIN, bin);
  const site = join(at, environment.MAILKEY_SITE_DIR);
  cpSync(SITE, site, { recursive: true });
  if (!withManifest) rmSync(join(site, "hash.txt"));
  const data = join(at, environment.MAILKEY_DATA_DIR);
  mkdirSync(data, { recursive: true });
  return { at, bin, site, data };
}

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (prefix) rmSync(prefix, { recursive: true, force: true });
});

test("the README's install on a server serves a working portal from the copied site", async () => {
  assert.equal(execStart, "/usr/local/bin/mailkey");
  assert.ok(environment.MAILKEY_SITE_DIR && environment.MAILKEY_DATA_DIR, unit);
  const where = install();
  prefix = where.at;
  const port = await freePort();
  const mailkey = await startMailkey({
    bin: where.bin,
    cwd: "/",
    env: {
      ...environment,
      MAILKEY_SITE_DIR: where.site,
      MAILKEY_DATA_DIR: where.data,
      // The test talks to Mailkey directly, not through the unit's https proxy.
      MAILKEY_LISTEN: `127.0.0.1:${port}`,
      MAILKEY_PUBLIC_URL: `http://127.0.0.1:${port}`,
    },
  });
  try {
    assert.ok(
      !mailkey.log.some((l) => l.includes("NO WEB ASSETS")),
      `the copied site was not found:\n${mailkey.log.join("\n")}`,
    );
    for (const viewport of VIEWPORTS) {
      const { context, page, problems } = await openPage(browser, viewport);
      const missing = [];
      page.on("response", (r) => {
        if (new URL(r.url()).pathname.startsWith("/pkg/") && r.status() !== 200) missing.push(`${r.status()} ${r.url()}`);
      });
      try {
        const res = await page.goto(mailkey.adminLink());
        assert.equal(res.status(), 200);
        await islandsHydrated(page);
        // Styled: the stylesheet applied (the header is laid out as a bar, not default text).
        const styled = await page.evaluate(() => getComputedStyle(document.body).fontFamily);
        assert.match(styled, /system-ui/);
        assert.deepEqual(missing, [], "every asset the page asks for is served");
        assert.deepEqual(problems, [], "no console errors");
        await screenshot(page, `install-${viewport.name}`);
      } finally {
        await context.close();
      }
    }
  } finally {
    await mailkey.stop();
  }
});

test("a site copied without its hash.txt is refused at start, saying what to copy", async () => {
  const where = install({ withManifest: false });
  try {
    const run = spawnSync(where.bin, ["serve"], {
      cwd: "/",
      env: {
        PATH: process.env.PATH,
        MAILKEY_SITE_DIR: where.site,
        MAILKEY_DATA_DIR: where.data,
        MAILKEY_LISTEN: "127.0.0.1:0",
      },
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.notEqual(run.status, 0, "Mailkey must not serve a dead portal");
    assert.match(run.stderr, /hash\.txt/, run.stderr);
    assert.match(run.stderr, /Copy the site directory whole/, run.stderr);
  } finally {
    rmSync(where.at, { recursive: true, force: true });
  }
});
