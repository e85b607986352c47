// Real Dovecot and Postfix for the browser tests, started by the Rust harness the integration
// tests use (`server/examples/browser_mail_servers.rs`), spoken to in JSON lines: first the test
// CA (Mailkey must trust it when it starts), then, given Mailkey's introspection URL, the servers.

import { spawn } from "node:child_process";
import { join } from "node:path";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { root } from "./harness.mjs";

const BIN = process.env.MAILKEY_MAIL_SERVERS_BIN ?? join(root, "target/debug/examples/browser_mail_servers");

/** Makes the test CA; `ca.start({...})` then starts the servers, `ca.stop()` stops them. */
export async function mailServersCa() {
  const child = spawn(BIN, [], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (what) => {
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${BIN} did not send ${what} within 60 s`)), 60_000);
    });
    const { value, done } = await Promise.race([lines.next(), late]).finally(() => clearTimeout(timer));
    if (done) throw new Error(`${BIN} ended before it sent ${what}`);
    return JSON.parse(value);
  };
  const { ca_file: caFile } = await next("the CA file");
  return {
    caFile,
    /** Starts Dovecot and Postfix for `domain`; `users` get plain folder names, `microsoftUsers` Microsoft's. */
    async start({ introspectionUrl, domain, users = [], microsoftUsers = [] }) {
      child.stdin.write(`${JSON.stringify({ introspection_url: introspectionUrl, domain, users, microsoft_users: microsoftUsers })}\n`);
      const ports = await next("the servers' ports");
      return {
        smtpPort: ports.smtp_port,
        imapsPort: ports.imaps_port,
        pop3sPort: ports.pop3s_port,
        /** The messages in `user`'s INBOX (Maildir `new/` and `cur/`), read. */
        inbox(user) {
          const dir = join(ports.maildir_root, user.toLowerCase());
          return ["new", "cur"].flatMap((sub) =>
            existsSync(join(dir, sub)) ? readdirSync(join(dir, sub)).map((f) => readFileSync(join(dir, sub, f), "utf8")) : [],
          );
        },
      };
    },
    async stop() {
      child.stdin.end();
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
    },
  };
}
