// First-load weight: Chromium opens each page once with a cold cache; every file it loads (HTML,
// CSS, JS, WASM, icons) is listed raw, gzip (level 9) and brotli (quality 11), beside the bytes
// the server actually sent. Exits non-zero when a page is over its budget.

import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { startMailkey, launchChromium } from "../lib/harness.mjs";

const KB = 1000;
const PAGES = [{ name: "home", path: "/", budgetBrotli: 200 * KB }];

const fmt = (n) => (n / KB).toFixed(1).padStart(9);
const brotli = (b) =>
  brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: b.length } }).length;

const mailkey = await startMailkey();
const browser = await launchChromium();
let failed = false;
try {
  for (const p of PAGES) {
    const context = await browser.newContext();
    // Sign in without loading the page, so the measured visit is the first.
    const signIn = await context.request.get(mailkey.adminLink(), { maxRedirects: 0 });
    if (signIn.status() !== 303) throw new Error(`sign-in failed: ${signIn.status()}`);
    const page = await context.newPage();
    const files = [];
    page.on("requestfinished", async (req) => {
      files.push(
        (async () => {
          const res = await req.response();
          const body = await res.body();
          const sizes = await req.sizes();
          return {
            path: new URL(req.url()).pathname,
            type: (res.headers()["content-type"] ?? "").split(";")[0],
            encoding: res.headers()["content-encoding"] ?? "identity",
            served: sizes.responseBodySize,
            raw: body.length,
            gzip: gzipSync(body, { level: 9 }).length,
            brotli: brotli(body),
          };
        })(),
      );
    });
    await page.goto(mailkey.base + p.path, { waitUntil: "networkidle" });
    await page.locator(".app[data-hydrated=true]").waitFor({ timeout: 15_000 });
    const rows = await Promise.all(files);
    await context.close();

    console.log(`\nFirst load of ${p.name} (${p.path}), ${rows.length} files, sizes in KB (1 KB = 1000 bytes)`);
    console.log(`${"file".padEnd(44)} ${"type".padEnd(22)}       raw      gzip    brotli    served as`);
    const total = { raw: 0, gzip: 0, brotli: 0, served: 0 };
    for (const r of rows) {
      const name = r.path.length > 43 ? "…" + r.path.slice(-42) : r.path;
      console.log(`${name.padEnd(44)} ${r.type.padEnd(22)} ${fmt(r.raw)} ${fmt(r.gzip)} ${fmt(r.brotli)} ${fmt(r.served)} ${r.encoding}`);
      for (const k of Object.keys(total)) total[k] += r[k];
    }
    console.log(`${"total".padEnd(44)} ${"".padEnd(22)} ${fmt(total.raw)} ${fmt(total.gzip)} ${fmt(total.brotli)} ${fmt(total.served)}`);
    const ok = total.brotli <= p.budgetBrotli;
    failed ||= !ok;
    console.log(
      `budget: ${(total.brotli / KB).toFixed(1)} KB brotli of ${p.budgetBrotli / KB} KB allowed -> ${ok ? "within budget" : "OVER BUDGET"}`,
    );
  }
} finally {
  await browser.close();
  await mailkey.stop();
}
process.exit(failed ? 1 : 0);
