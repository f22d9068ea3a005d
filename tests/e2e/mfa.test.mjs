// Two-step verification in a real browser: enroll an authenticator app from the account page
// (the key read off the page, codes computed as an app would), then sign in to a relying party
// with password + TOTP and see amr/acr in its ID token. Screenshots go to $E2E_OUT.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { start, out, totp } from "./setup.mjs";

let env;
const password = "bob's long e2e password";

before(async () => {
  env = await start([{ username: "bob", password, email: "bob@example.com", name: "Bob Example" }]);
});

after(async () => {
  await env?.stop();
});

test("enroll TOTP on the account page, then sign in to a relying party with a code", async () => {
  const { browser, issuer, rpUrl } = env;
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${issuer}/login`);
  await page.fill("input[name=username]", "bob");
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/account$/);

  await page.click("text=Set up an authenticator app");
  await page.waitForURL(/\/account\/mfa\/totp$/);
  assert.ok(await page.isVisible(".qr-code svg"), "the QR code is drawn");
  const href = await page.getAttribute("a[href^='otpauth://']", "href");
  assert.match(href, /^otpauth:\/\/totp\/Lanyard%20e2e:bob\?/);
  await page.click("text=Can't scan it? Enter the key by hand");
  const key = (await page.textContent("#manual-key")).trim();
  assert.match(key, /^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/, "160-bit key in groups of four");
  await page.screenshot({ path: join(out, "mfa-enroll.png"), fullPage: true });

  await page.fill("input[name=code]", "000000" === totp(key) ? "111111" : "000000");
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  assert.match(await page.textContent("[role=alert]"), /does not match/);
  await page.fill("input[name=code]", totp(key));
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForSelector(".backup-codes");
  const codes = await page.$$eval(".backup-codes code", (els) => els.map((e) => e.textContent));
  assert.equal(codes.length, 10);
  assert.ok(await page.isVisible("a[download='backup-codes.txt']"));
  await page.screenshot({ path: join(out, "mfa-backup-codes.png"), fullPage: true });
  await page.click("text=I have saved my codes, continue");
  await page.waitForURL(/\/account/);
  assert.match(await page.textContent("#security"), /On/);
  assert.match(await page.textContent("#security"), /10 of 10 left/);
  await page.screenshot({ path: join(out, "mfa-account.png"), fullPage: true });
  await context.close();

  // A fresh browser signs in to the relying party: password, then the code.
  const rpContext = await browser.newContext();
  const rpPage = await rpContext.newPage();
  await rpPage.goto(rpUrl);
  await rpPage.click("text=Log in with Lanyard");
  await rpPage.waitForURL(/\/login\?(flow|resume)=/);
  await rpPage.fill("input[name=username]", "bob");
  await rpPage.fill("input[name=password]", password);
  await rpPage.click("button[type=submit]");
  await rpPage.waitForURL(/\/login\/mfa\?flow=/);
  assert.equal(await rpPage.getAttribute("input[name=code]", "autocomplete"), "one-time-code");
  assert.equal(await rpPage.getAttribute("input[name=code]", "inputmode"), "numeric");
  assert.match(await rpPage.textContent("body"), /Demo app/);
  await rpPage.screenshot({ path: join(out, "mfa-login.png"), fullPage: true });
  // The enrollment spent this time step; the next step's code is within the ±1 window.
  await rpPage.fill("input[name=code]", totp(key, Date.now() + 30_000));
  await rpPage.click("button[type=submit]");
  await rpPage.waitForURL(/\/consent\?flow=/);
  await rpPage.click("button[value=allow]");
  await rpPage.waitForURL(new RegExp(`^${rpUrl}/callback`));
  const result = await rpPage.textContent("body");
  assert.match(result, /"amr": \[\s*"pwd",\s*"otp",\s*"mfa"\s*\]/, result);
  assert.match(result, /"acr": "urn:lanyard:acr:mfa"/);
  await rpContext.close();
});
