"use strict";
// The dashboard in Debian's Chromium, walked as a new user would by visible labels: sign in with the
// password the operator set, set the account's callback URL on the settings page (then the official SDK
// reads it back), create an API key (it works with the SDK) and revoke it (it stops), and sign out.
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium); SIGNING_SCREENSHOTS=DIR keeps screenshots.

const { test: nodeTest, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");

const { AccountApi } = require("@dropbox/sign");
const { chromium } = require("playwright-core");

const { startServer, startCallbackReceiver, uniqueEmail, expectHttpError } = require("../lib/harness");
const { CHROMIUM, UI_TIMEOUT_MS, screenshot } = require("../lib/browser");

function test(name, fn) {
  return nodeTest(name, { timeout: 90_000 }, fn);
}

let server;
let receiver;
let browser;
const s = {};

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (apt-get install chromium)`);
  server = await startServer();
  receiver = await startCallbackReceiver();
  s.user = await server.createAccount(uniqueEmail("dash"));
  s.password = "dashboard passphrase 1";
  server.setPassword(s.user.emailAddress, s.password);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  if (browser) await browser.close();
  if (receiver) await receiver.stop();
  if (server) await server.stop();
});

test("sign in, set the callback URL, create and revoke an API key, sign out", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${server.baseUrl}/dashboard`);
  await page.getByRole("heading", { name: "Sign in to the dashboard" }).waitFor({ timeout: UI_TIMEOUT_MS });
  await screenshot(page, "dashboard-login");
  await page.getByLabel("E-mail address").fill(s.user.emailAddress);
  await page.getByLabel("Password", { exact: true }).fill("wrong password here");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "not right" }).waitFor({ timeout: UI_TIMEOUT_MS });
  await page.getByLabel("Password", { exact: true }).fill(s.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor({ timeout: UI_TIMEOUT_MS });
  assert.ok(await page.getByText(s.user.emailAddress).first().isVisible());
  await screenshot(page, "dashboard-overview");

  // Settings: the callback URL, saved and read back through the SDK.
  await page.getByRole("navigation", { name: "Dashboard" }).getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { name: "Settings", level: 1 }).waitFor({ timeout: UI_TIMEOUT_MS });
  const endpoint = receiver.endpoint(s.user.apiKey, { label: "dashboard" });
  await page.getByLabel("Callback URL", { exact: true }).fill(endpoint.url);
  await page.getByRole("button", { name: "Save callback URL" }).click();
  await page.getByRole("status").filter({ hasText: "callback URL was saved" }).waitFor({ timeout: UI_TIMEOUT_MS });
  const account = server.api(AccountApi, s.user.apiKey);
  assert.equal((await account.accountGet()).body.account.callbackUrl, endpoint.url);

  // Callbacks: Send test event reaches the receiver, and the page shows the delivery.
  await page.getByRole("navigation", { name: "Dashboard" }).getByRole("link", { name: "Callbacks" }).click();
  await page.getByRole("heading", { name: "Callbacks", level: 1 }).waitFor({ timeout: UI_TIMEOUT_MS });
  await page.getByRole("button", { name: `Send test event to ${endpoint.url}` }).click();
  await page.getByRole("status").filter({ hasText: "Test event sent" }).waitFor({ timeout: UI_TIMEOUT_MS });
  await receiver.waitForEvent(endpoint, (j) => j.event && j.event.event_type === "callback_test", { timeoutMs: 30_000, what: "the test event" });
  await screenshot(page, "dashboard-callbacks");
  await page.getByRole("navigation", { name: "Dashboard" }).getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { name: "Settings", level: 1 }).waitFor({ timeout: UI_TIMEOUT_MS });

  // A key made on the page works with the SDK; revoked on the page, it stops.
  await page.getByRole("button", { name: "Create API key" }).click();
  const key = (await page.locator("#new-api-key").textContent()).trim();
  assert.match(key, /^[0-9a-f]{64}$/);
  await screenshot(page, "dashboard-settings");
  assert.equal((await server.api(AccountApi, key).accountGet()).body.account.accountId, s.user.accountId);
  await page.getByRole("button", { name: `Revoke key ${key.slice(0, 6)}` }).click();
  await page.getByRole("status").filter({ hasText: "revoked" }).waitFor({ timeout: UI_TIMEOUT_MS });
  await expectHttpError(server.api(AccountApi, key).accountGet(), 401, { errorName: "unauthorized" });

  // Signing out leads back to the sign-in page, and the pages stay closed.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in to the dashboard" }).waitFor({ timeout: UI_TIMEOUT_MS });
  await page.goto(`${server.baseUrl}/dashboard/settings`);
  await page.getByRole("heading", { name: "Sign in to the dashboard" }).waitFor({ timeout: UI_TIMEOUT_MS });
  await page.close();
});
