// Passkeys in a real browser, with Chromium's virtual authenticator (CDP WebAuthn domain)
// standing in for a platform authenticator with user verification: add one on the account
// page (static/passkeys.js runs navigator.credentials.create), then use it after the password,
// and alone from the login page's "Sign in with a passkey". Screenshots go to $E2E_OUT.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { start, out } from "./setup.mjs";

let env;
const password = "carol's long e2e password";

before(async () => {
  // Passkeys need a domain name as relying-party id: serve the issuer as localhost.
  env = await start([{ username: "carol", password, email: "carol@example.com", name: "Carol Example" }], { host: "localhost" });
});

after(async () => {
  await env?.stop();
});

async function signInWithPassword(page, issuer) {
  await page.goto(`${issuer}/login`);
  await page.fill("input[name=username]", "carol");
  await page.fill("input[name=password]", password);
  await page.click("form[action='/login'] button[type=submit]");
}

test("add a passkey, then use it as the second factor and to sign in alone", async () => {
  const { browser, issuer } = env;
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  await signInWithPassword(page, issuer);
  await page.waitForURL(/\/account$/);
  await page.click("text=Add a passkey");
  await page.waitForURL(/\/account\/passkeys\/new$/);
  assert.ok(await page.isVisible("button:has-text('Create passkey')"), "the button shows when WebAuthn works");
  await page.screenshot({ path: join(out, "passkey-add.png"), fullPage: true });
  await page.fill("input[name=name]", "Test laptop");
  await page.fill("input[name=password]", password);
  await page.click("button:has-text('Create passkey')");
  await page.waitForURL(/\/account\?notice=passkey_added/);
  const account = await page.textContent("#passkeys");
  assert.match(account, /Test laptop/);
  assert.match(account, /Not used yet/);
  await page.screenshot({ path: join(out, "passkey-listed.png"), fullPage: true });
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true, "a discoverable credential was made");

  const logout = () =>
    Promise.all([page.waitForURL(/\/logout/), page.click("form[action='/logout'] button")]);
  const presence = (enabled) =>
    cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId, enabled });

  // The username field's autofill (conditional mediation): Chromium's virtual authenticator
  // answers the background request at once, as a user picking the passkey from autofill would.
  await logout();
  await page.goto(`${issuer}/login`);
  await page.waitForURL(/\/account$/);
  assert.match(await page.textContent("#passkeys"), /Last used/);

  // Password, then the passkey as the second factor (the autofill request left unanswered).
  await logout();
  await presence(false);
  await signInWithPassword(page, issuer);
  await page.waitForURL(/\/login\/mfa/);
  await page.screenshot({ path: join(out, "passkey-second-factor.png"), fullPage: true });
  await presence(true);
  await page.click("button:has-text('Use a passkey')");
  await page.waitForURL(/\/account$/);

  // The passkey alone, from the button (which cancels the autofill request).
  await logout();
  await presence(false);
  await page.goto(`${issuer}/login`);
  assert.equal(await page.getAttribute("input[name=username]", "autocomplete"), "username webauthn");
  await page.screenshot({ path: join(out, "passkey-login.png"), fullPage: true });
  await presence(true);
  await page.click("button:has-text('Sign in with a passkey')");
  await page.waitForURL(/\/account$/);
  const events = await page.textContent("body");
  assert.match(events, /Passkey used/, "security activity names the passkey events");
  await context.close();
});
