// Starts the real Mailkey release binary on a free loopback port with a throwaway data directory,
// and Debian's Chromium through playwright-core. Shared by the browser tests and the benchmark.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, "../..");

export const BIN = process.env.MAILKEY_BIN ?? join(root, "target/release/mailkey");
export const SITE = process.env.MAILKEY_SITE ?? join(root, "target/site");
export const RESULTS = join(root, "end2end/test-results");

export const VIEWPORTS = [
  { name: "phone", width: 390, height: 844, isMobile: true, hasTouch: true },
  { name: "desktop", width: 1280, height: 800, isMobile: false, hasTouch: false },
];

/**
 * A running Mailkey: `base` URL, a setup link (from `mailkey admin link`), `adminLink()` for more, its `log`
 * lines and `dataDir`. `env` adds settings (e.g. `{ MAILKEY_SANDBOX: "1" }`).
 */
export async function startMailkey({ env: extra = {}, bin = BIN, cwd = undefined } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "mailkey-e2e-"));
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MAILKEY_"))),
    MAILKEY_LISTEN: "127.0.0.1:0",
    MAILKEY_DATA_DIR: dataDir,
    MAILKEY_SITE_DIR: SITE,
    MAILKEY_LOG_FORMAT: "json",
    ...extra,
  };
  const child = spawn(bin, ["serve"], { env, cwd, stdio: ["ignore", "ignore", "pipe"] });
  const log = [];
  const found = {};
  const ready = new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`Mailkey did not start:\n${log.join("\n")}`)), 30_000);
    child.on("exit", (code) => reject(new Error(`Mailkey exited with ${code}:\n${log.join("\n")}`)));
    createInterface({ input: child.stderr }).on("line", (line) => {
      log.push(line);
      let v;
      try { v = JSON.parse(line); } catch { return; }
      if (v.address) found.address = v.address;
      if (found.address) {
        clearTimeout(timer);
        resolveReady();
      }
    });
  });
  await ready;
  // The server logs no link (its log is not a terminal): the operator asks for one.
  const adminLink = () =>
    execFileSync(bin, ["admin", "link"], {
      env: { ...env, MAILKEY_LISTEN: found.address },
      encoding: "utf8",
      // The command's note for people ("signs in once...") goes to stderr; keep it out of TAP.
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  // A host application's API key (`mailkey api-key create`), printed once on stdout.
  const apiKey = (name = "Host application") =>
    execFileSync(bin, ["api-key", "create", "--name", name], {
      env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  return {
    base: `http://${found.address}`,
    setupLink: adminLink(),
    apiKey,
    log,
    dataDir,
    adminLink,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

/** A fresh browser context for a viewport, collecting console errors and page errors. */
export async function openPage(browser, viewport, { javaScriptEnabled = true } = {}) {
  const context = await browser.newContext({
    javaScriptEnabled,
    viewport: { width: viewport.width, height: viewport.height },
    isMobile: viewport.isMobile,
    hasTouch: viewport.hasTouch,
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}${m.location()?.url ? ` (${m.location().url})` : ""}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  return { context, page, problems };
}

export async function screenshot(page, name) {
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: true });
}

/**
 * Waits until every island on the page runs its wasm (each marks its root `data-hydrated`), and
 * the embedded page's flow, which is booted rather than an island, likewise.
 */
export async function islandsHydrated(page) {
  await page.waitForFunction(
    () => {
      const roots = [...document.querySelectorAll("leptos-island, #embed-flow")];
      return roots.length > 0 && roots.every((r) => r.matches('[data-hydrated="true"]') || r.querySelector('[data-hydrated="true"]'));
    },
    null,
    { timeout: 15_000 },
  );
}
