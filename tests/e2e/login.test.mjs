// End to end in a real browser: a relying party (scripts/demo-rp.py) sends headless Chromium
// to Lanyard, the user signs in on the login page, approves the consent page, and lands back at
// the relying party with verified claims. Also signs in to the account page and signs out.
// Screenshots go to $E2E_OUT (default target/e2e) for review.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const root = resolve(import.meta.dirname, "../..");
const targetDir = process.env.CARGO_TARGET_DIR || join(root, "target");
const bin = process.env.LANYARD_BIN || join(targetDir, "debug", "lanyard");
const out = process.env.E2E_OUT || join(targetDir, "e2e");
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

let lanyard, rp, browser, issuer, rpUrl;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "lanyard-e2e-"));
  const [port, rpPort] = [await freePort(), await freePort()];
  issuer = `http://127.0.0.1:${port}`;
  rpUrl = `http://127.0.0.1:${rpPort}`;
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
[[clients]]
client_id = "demo"
name = "Demo app"
secret = "demo-secret-change-me"
redirect_uris = ["${rpUrl}/callback"]
scopes = ["openid", "profile", "email", "offline_access"]
`,
  );
  execFileSync(bin, ["--config", config, "user", "add", "alice", "--email", "alice@example.com", "--name", "Alice Example", "--email-verified"], {
    input: "a long e2e password\n",
  });
  lanyard = spawn(bin, ["--config", config, "serve"], { stdio: "inherit" });
  await waitFor(`${issuer}/readyz`);
  rp = spawn("python3", [join(root, "scripts/demo-rp.py")], {
    env: { ...process.env, LANYARD_ISSUER: issuer, DEMO_PORT: String(rpPort) },
    stdio: "inherit",
  });
  await waitFor(rpUrl);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  rp?.kill();
  lanyard?.kill();
});

test("a relying party signs a user in through the login and consent pages", async () => {
  const page = await browser.newPage();
  await page.goto(rpUrl);
  await page.click("text=Log in with Lanyard");
  await page.waitForURL(/\/login\?flow=/);
  assert.match(await page.textContent("body"), /Demo app/, "the login page names the app");
  await page.screenshot({ path: join(out, "login.png"), fullPage: true });

  await page.fill("input[name=username]", "alice");
  await page.fill("input[name=password]", "wrong password");
  await page.click("button[type=submit]");
  assert.match(await page.textContent("[role=alert]"), /Incorrect username or password/);
  await page.screenshot({ path: join(out, "login-error.png"), fullPage: true });

  await page.fill("input[name=password]", "a long e2e password");
  await page.click("button[type=submit]");
  await page.waitForURL(/\/consent\?flow=/);
  const consent = await page.textContent("body");
  assert.match(consent, /Demo app/);
  assert.match(consent, /Your email address/);
  assert.match(consent, /Stay connected/, "offline_access is explained");
  await page.screenshot({ path: join(out, "consent.png"), fullPage: true });

  await page.click("button[value=allow]");
  await page.waitForURL(new RegExp(`^${rpUrl}/callback`));
  const result = await page.textContent("body");
  assert.match(result, /"email": "alice@example.com"/);
  assert.match(result, /"amr": \[\s*"pwd"\s*\]/);
  await page.screenshot({ path: join(out, "rp-signed-in.png"), fullPage: true });

  // A second sign-in is silent: the session and the consent are remembered.
  await page.goto(rpUrl);
  await page.click("text=Log in with Lanyard");
  await page.waitForURL(new RegExp(`^${rpUrl}/callback`));
  await page.close();
});

test("the account page shows the profile and connected apps, and signs out", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${issuer}/account`);
  await page.waitForURL(/\/login$/);
  await page.fill("input[name=username]", "alice");
  await page.fill("input[name=password]", "a long e2e password");
  await page.click("button[type=submit]");
  await page.waitForURL(/\/account$/);
  assert.equal(await page.inputValue("input[name=email]"), "alice@example.com");
  assert.match(await page.textContent("body"), /Demo app/, "the consent given in the first test is listed");
  await page.screenshot({ path: join(out, "account.png"), fullPage: true });

  await page.click("header form button, form[action='/logout'] button");
  await page.waitForLoadState();
  await page.screenshot({ path: join(out, "signed-out.png"), fullPage: true });
  assert.match(await page.textContent("body"), /signed out/i, page.url());
  await page.goto(`${issuer}/account`);
  await page.waitForURL(/\/login$/);
  await context.close();
});
