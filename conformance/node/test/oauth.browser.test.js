"use strict";
// The OAuth code flow in a real browser, as a platform built on the official @dropbox/sign SDK runs it:
// the platform's page sends the user (Debian's Chromium, driven by visible labels) to Countersign's
// authorization page; the user signs in with the password the operator set and presses Allow; the
// platform's back end receives the code at its OAuth callback URL, exchanges it with
// OAuthApi.oauthTokenGenerate and calls the API for the user with `accessToken` set — the SDK unchanged,
// only its base paths pointed at this server. Deny brings the user back with error=access_denied.
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium); SIGNING_SCREENSHOTS=DIR keeps screenshots.

const { test: nodeTest, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");

const { AccountApi, ApiAppApi, OAuthApi, TemplateApi } = require("@dropbox/sign");
const { chromium } = require("playwright-core");

const { startServer, uniqueEmail, expectHttpError } = require("../lib/harness");
const { CHROMIUM, UI_TIMEOUT_MS, screenshot } = require("../lib/browser");

function test(name, fn) {
  return nodeTest(name, { timeout: 90_000 }, fn);
}

let server;
let platform;
let browser;
const s = {};

/**
 * The platform: `/connect` sends the browser to the authorization page; `/oauth/done` is its OAuth
 * callback URL, where its back end exchanges the code and greets the user by the e-mail address the API
 * gives for the token. What it got is kept in `s.connected`.
 */
function startPlatform() {
  const srv = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    if (url.pathname === "/connect") {
      const target = new URL("/oauth/authorize", server.baseUrl);
      target.search = new URLSearchParams({ response_type: "code", client_id: s.clientId, state: url.searchParams.get("state") }).toString();
      res.writeHead(302, { Location: target.toString() });
      return res.end();
    }
    if (url.pathname === "/oauth/done") {
      try {
        if (url.searchParams.get("error")) {
          res.writeHead(200, { "Content-Type": "text/html" });
          return res.end(`<h1>Not connected: ${url.searchParams.get("error")}</h1>`);
        }
        const oauth = new OAuthApi();
        oauth.basePath = server.baseUrl; // app.hellosign.com on Dropbox Sign
        const tokens = (await oauth.oauthTokenGenerate({
          clientId: s.clientId,
          clientSecret: s.secret,
          code: url.searchParams.get("code"),
          state: url.searchParams.get("state"),
          grantType: "authorization_code",
        })).body;
        const account = new AccountApi();
        account.basePath = server.apiUrl;
        account.accessToken = tokens.accessToken;
        const me = (await account.accountGet()).body.account;
        s.connected = { tokens, me, state: url.searchParams.get("state") };
        res.writeHead(200, { "Content-Type": "text/html" });
        return res.end(`<h1>Connected as ${me.emailAddress}</h1>`);
      } catch (e) {
        res.writeHead(500, { "Content-Type": "text/plain" });
        return res.end(`exchange failed: ${e && e.message}`);
      }
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve) => srv.listen(0, "127.0.0.1", () => resolve(srv)));
}

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (apt-get install chromium)`);
  server = await startServer();
  platform = await startPlatform();
  s.platformOrigin = `http://localhost:${platform.address().port}`;
  const developer = await server.createAccount();
  const app = await server.api(ApiAppApi, developer.apiKey).apiAppCreate({
    name: "Platform Connect",
    domains: ["localhost"],
    oauth: { callbackUrl: `${s.platformOrigin}/oauth/done`, scopes: ["basic_account_info", "request_signature"] },
  });
  s.clientId = app.body.apiApp.clientId;
  s.secret = app.body.apiApp.oauth.secret;
  s.user = await server.createAccount(uniqueEmail("owner"));
  s.password = "correct horse battery staple";
  server.setPassword(s.user.emailAddress, s.password);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  if (browser) await browser.close();
  if (platform) platform.close();
  if (server) await server.stop();
});

test("a user signs in on the authorization page and allows; the platform acts for them with the SDK", async () => {
  const page = await browser.newPage();
  await page.goto(`${s.platformOrigin}/connect?state=abc123`);
  await page.getByRole("heading", { name: /Allow Platform Connect/ }).waitFor({ timeout: UI_TIMEOUT_MS });
  assert.ok(await page.getByText("Send signature requests in your name").isVisible());
  await screenshot(page, "oauth-authorize");

  // A wrong password is told on the page, which stays.
  await page.getByLabel("E-mail address").fill(s.user.emailAddress);
  await page.getByLabel("Password", { exact: true }).fill("not my password");
  await page.getByRole("button", { name: "Allow" }).click();
  await page.getByRole("alert").filter({ hasText: "not right" }).waitFor({ timeout: UI_TIMEOUT_MS });

  await page.getByLabel("Password", { exact: true }).fill(s.password);
  await page.getByRole("button", { name: "Allow" }).click();
  await page.getByRole("heading", { name: `Connected as ${s.user.emailAddress}` }).waitFor({ timeout: UI_TIMEOUT_MS });
  await screenshot(page, "oauth-connected");
  await page.close();

  assert.equal(s.connected.state, "abc123");
  assert.equal(s.connected.me.accountId, s.user.accountId);
  assert.equal(s.connected.tokens.tokenType, "Bearer");

  // The token reaches only what its scopes allow.
  const templates = new TemplateApi();
  templates.basePath = server.apiUrl;
  templates.accessToken = s.connected.tokens.accessToken;
  await expectHttpError(templates.templateList(), 403, { errorName: "forbidden" });

  // Refresh with the SDK; the spent refresh token is refused afterwards.
  const oauth = new OAuthApi();
  oauth.basePath = server.baseUrl;
  const refreshed = (await oauth.oauthTokenRefresh({ grantType: "refresh_token", refreshToken: s.connected.tokens.refreshToken })).body;
  assert.notEqual(refreshed.accessToken, s.connected.tokens.accessToken);
  const account = new AccountApi();
  account.basePath = server.apiUrl;
  account.accessToken = refreshed.accessToken;
  assert.equal((await account.accountGet()).body.account.emailAddress, s.user.emailAddress);
  await expectHttpError(oauth.oauthTokenRefresh({ grantType: "refresh_token", refreshToken: s.connected.tokens.refreshToken }), 400, { errorName: "invalid_grant" });
});

test("Deny sends the user back to the platform with error=access_denied and grants nothing", async () => {
  s.connected = null;
  const page = await browser.newPage();
  await page.goto(`${s.platformOrigin}/connect?state=deny-1`);
  await page.getByRole("button", { name: "Deny" }).click();
  await page.getByRole("heading", { name: "Not connected: access_denied" }).waitFor({ timeout: UI_TIMEOUT_MS });
  assert.equal(s.connected, null);
  await page.close();
});
