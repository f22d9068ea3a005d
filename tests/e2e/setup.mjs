// Shared set-up for the browser tests: a Lanyard on a fresh SQLite file with one demo client,
// the demo relying party (scripts/demo-rp.py) in front of it, and headless Chromium.
import { spawn, execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const root = resolve(import.meta.dirname, "../..");
const targetDir = process.env.CARGO_TARGET_DIR || join(root, "target");
const bin = process.env.LANYARD_BIN || join(targetDir, "debug", "lanyard");
export const out = process.env.E2E_OUT || join(targetDir, "e2e");
mkdirSync(out, { recursive: true });

const freePort = () =>
  new Promise((ok) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

async function waitFor(url) {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

/// Start Lanyard, the relying party and Chromium. `users`: [{ username, password, email, name }].
/// `host`: the issuer's host name; passkeys need a domain name such as `localhost` (WebAuthn
/// relying-party ids cannot be IP addresses).
export async function start(users, { host = "127.0.0.1" } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "lanyard-e2e-"));
  const [port, rpPort] = [await freePort(), await freePort()];
  const issuer = `http://${host}:${port}`;
  const rpUrl = `http://127.0.0.1:${rpPort}`;
  const config = join(dir, "lanyard.toml");
  writeFileSync(
    config,
    `issuer = "${issuer}"
listen = "127.0.0.1:${port}"
[database]
url = "sqlite://${dir}/lanyard.db"
[encryption]
key = { file = "encryption.key", create = true }
[passwords]
argon2_memory_kib = 4096
argon2_iterations = 1
[mfa]
totp_issuer = "Lanyard e2e"
[[clients]]
client_id = "demo"
name = "Demo app"
secret = "demo-secret-change-me"
redirect_uris = ["${rpUrl}/callback"]
scopes = ["openid", "profile", "email", "offline_access"]
`,
  );
  for (const u of users) {
    execFileSync(bin, ["--config", config, "user", "add", u.username, "--email", u.email, "--name", u.name, "--email-verified"], {
      input: `${u.password}\n`,
    });
  }
  const lanyard = spawn(bin, ["--config", config, "serve"], { stdio: "inherit" });
  await waitFor(`${issuer}/readyz`);
  const rp = spawn("python3", [join(root, "scripts/demo-rp.py")], {
    env: { ...process.env, LANYARD_ISSUER: issuer, DEMO_PORT: String(rpPort) },
    stdio: "inherit",
  });
  await waitFor(rpUrl);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return {
    issuer,
    rpUrl,
    browser,
    async stop() {
      await browser.close();
      rp.kill();
      lanyard.kill();
    },
  };
}

/// RFC 6238 TOTP (HMAC-SHA-1, 6 digits, 30 s) for a base32 key, as an authenticator app does.
export function totp(base32Key, atMs = Date.now()) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32Key.replace(/[\s=]/g, "").toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 1000 / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, "0");
}
