// End to end in a real browser: a relying party (scripts/demo-rp.py) sends headless Chromium
// to Lanyard, the user signs in on the login page, approves the consent page, and lands back at
// the relying party with verified claims. Also signs in to the account page and signs out.
// Screenshots go to $E2E_OUT (default target/e2e) for review.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { start, out } from "./setup.mjs";

let env, browser, issuer, rpUrl;

before(async () => {
  env = await start([{ username: "alice", password: "a long e2e password", email: "alice@example.com", name: "Alice Example" }]);
  ({ browser, issuer, rpUrl } = env);
});

after(async () => {
  await env?.stop();
});

test("a relying party signs a user in through the login and consent pages", async () => {
  const page = await browser.newPage();
  await page.goto(rpUrl);
  await page.click("text=Log in with Lanyard");
  await page.waitForURL(/\/login\?(flow|resume)=/);
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
