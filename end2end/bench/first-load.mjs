// First-load weight: Chromium opens each page once with a cold cache; every file it loads (HTML,
// CSS, JS, WASM, icons) is listed raw, gzip (level 9) and brotli (quality 11), beside the bytes
// the server actually sent. Exits non-zero when a page is over its budget.

import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { startMailkey, launchChromium, islandsHydrated, SITE } from "../lib/harness.mjs";
import { composition } from "./wasm-composition.mjs";

const KB = 1000;
// Budgets: the whole first load (brotli) and, for the wizard's first step, its HTML and CSS alone
// (the page must be usable before the wasm arrives).
const PAGES = [
  { name: "home", path: () => "/", budgetBrotli: 200 * KB },
  { name: "wizard step 1", path: () => "/accounts/new", budgetBrotli: 250 * KB, budgetHtmlCss: 30 * KB },
  { name: "wizard step 2 (application details form)", path: (draft) => `/accounts/${draft}/setup/2`, budgetBrotli: 250 * KB },
];
// The size-optimised wasm before wasm-bindgen and wasm-opt, which still has function names.
const NAMED_WASM = join(import.meta.dirname, "../../target/front/wasm32-unknown-unknown/wasm-release/mailkey_frontend.wasm");

const fmt = (n) => (n / KB).toFixed(1).padStart(9);
const brotli = (b) =>
  brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: b.length } }).length;

/** Every file a cold first visit of `url` loads, with its sizes. */
async function measure(context, url) {
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
  await page.goto(url, { waitUntil: "networkidle" });
  await islandsHydrated(page);
  return Promise.all(files);
}

/** Prints the table of one page's files; its totals. */
function report(name, path, rows) {
  console.log(`\nFirst load of ${name} (${path}), ${rows.length} files, sizes in KB (1 KB = 1000 bytes)`);
  console.log(`${"file".padEnd(44)} ${"type".padEnd(22)}       raw      gzip    brotli    served as`);
  const total = { raw: 0, gzip: 0, brotli: 0, served: 0 };
  for (const r of rows) {
    const shown = r.path.length > 43 ? "…" + r.path.slice(-42) : r.path;
    console.log(`${shown.padEnd(44)} ${r.type.padEnd(22)} ${fmt(r.raw)} ${fmt(r.gzip)} ${fmt(r.brotli)} ${fmt(r.served)} ${r.encoding}`);
    for (const k of Object.keys(total)) total[k] += r[k];
  }
  console.log(`${"total".padEnd(44)} ${"".padEnd(22)} ${fmt(total.raw)} ${fmt(total.gzip)} ${fmt(total.brotli)} ${fmt(total.served)}`);
  return total;
}

const totals = new Map();
const mailkey = await startMailkey();
const browser = await launchChromium();
let failed = false;
try {
  for (const p of PAGES) {
    const context = await browser.newContext();
    // Sign in without loading the page, so the measured visit is the first.
    const signIn = await context.request.get(mailkey.adminLink(), { maxRedirects: 0 });
    if (signIn.status() !== 303) throw new Error(`sign-in failed: ${signIn.status()}`);
    const created = await context.request.post(`${mailkey.base}/_fn/accounts/create`, {
      headers: { origin: mailkey.base, accept: "application/json" },
    });
    const draft = (await created.json()).id;
    const path = p.path(draft);
    const rows = await measure(context, mailkey.base + path);
    await context.close();
    const total = report(p.name, path, rows);
    totals.set(p.name, total.brotli);
    const ok = total.brotli <= p.budgetBrotli;
    failed ||= !ok;
    console.log(
      `budget: ${(total.brotli / KB).toFixed(1)} KB brotli of ${p.budgetBrotli / KB} KB allowed -> ${ok ? "within budget" : "OVER BUDGET"}`,
    );
    if (p.budgetHtmlCss) {
      const htmlCss = rows
        .filter((r) => r.type === "text/html" || r.type === "text/css")
        .reduce((sum, r) => sum + r.brotli, 0);
      const fits = htmlCss <= p.budgetHtmlCss;
      failed ||= !fits;
      console.log(
        `HTML + CSS alone (usable before the wasm): ${(htmlCss / KB).toFixed(1)} KB brotli of ${p.budgetHtmlCss / KB} KB allowed -> ${fits ? "within budget" : "OVER BUDGET"}`,
      );
    }
  }
  // The host's embedding script, as its pages load it: at most 5 KB brotli.
  const script = readFileSync(join(SITE, "embed.js"));
  const scriptBrotli = brotli(script);
  const scriptOk = scriptBrotli <= 5 * KB;
  failed ||= !scriptOk;
  console.log(
    `\n/embed.js: ${(script.length / KB).toFixed(1)} KB raw, ${(scriptBrotli / KB).toFixed(1)} KB brotli of 5 KB allowed -> ${scriptOk ? "within budget" : "OVER BUDGET"}`,
  );
  // The embedded wizard's first step, next to the portal's first step of the same path (an
  // account on the operator's app with its mailbox named: the sign-in step), measured in the
  // same run on the same server: it may be no heavier.
  const embedded = await startMailkey({ env: { MAILKEY_SANDBOX: "1" } });
  try {
    const key = embedded.apiKey("bench");
    const api = (method, path, body) =>
      fetch(`${embedded.base}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then((r) => r.json());
    await api("PUT", "/organisations/org_default/allowed-origins", { origins: ["https://erp.example.com"] });
    const session = await api("POST", "/connect-sessions", {
      organisation_id: "org_default",
      account: { external_id: "bench", email: "invoices@contoso.test", app: "operator", provider: "microsoft365-sandbox" },
      allowed_origins: ["https://erp.example.com"],
      host_name: "Acme ERP",
    });
    const operator = await browser.newContext();
    const signIn = await operator.request.get(embedded.adminLink(), { maxRedirects: 0 });
    if (signIn.status() !== 303) throw new Error(`sign-in failed: ${signIn.status()}`);
    const portalPath = `/accounts/${session.account_id}/setup/5`;
    const portal = report("the portal's sign-in step of the same account", portalPath, await measure(operator, embedded.base + portalPath));
    await operator.close();
    const portalFirst = portal.brotli;
    const context = await browser.newContext();
    const rows = await measure(context, `${embedded.base}/embed/${session.launch_token}`);
    await context.close();
    const total = report("the embedded wizard's first step", "/embed/{launch_token}", rows);
    const fits = total.brotli <= portalFirst;
    failed ||= !fits;
    console.log(
      `budget: ${(total.brotli / KB).toFixed(1)} KB brotli; the portal's ${(portalFirst / KB).toFixed(1)} KB in this run -> ${fits ? "no heavier" : "HEAVIER"}`,
    );
  } finally {
    await embedded.stop();
  }

  // What dominates the wasm: code per crate, by function names of the build before wasm-opt
  // (shares carry over; wasm-opt shrinks all of them).
  const { code, data, crates } = composition(NAMED_WASM);
  console.log(`\nWhat the wasm is made of (before wasm-opt: code ${(code / KB).toFixed(1)} KB, data ${(data / KB).toFixed(1)} KB)`);
  for (const [crate, size] of crates.slice(0, 12)) {
    console.log(`${crate.padEnd(28)} ${fmt(size)} KB ${((100 * size) / code).toFixed(1).padStart(5)} %`);
  }
} finally {
  await browser.close();
  await mailkey.stop();
}
process.exit(failed ? 1 : 0);
