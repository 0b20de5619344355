"use strict";
// What the browser suites share: a host app page on its own origin that loads the unmodified
// hellosign-embedded library from npm and records every event the library emits, pages of Debian's
// Chromium opened on it, and screenshots kept when SIGNING_SCREENSHOTS=DIR.

const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const LIBRARY = require.resolve("hellosign-embedded/umd/embedded.production.min.js");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const UI_TIMEOUT_MS = 15_000;
const EVENTS = ["ready", "sign", "send", "createTemplate", "finish", "decline", "reassign", "error", "cancel", "close"];

/** The embedding app's page: the library, `window.openEmbedded(url, clientId, options)`, and every event in `window.events`. */
function startHost() {
  const library = fs.readFileSync(LIBRARY);
  const srv = http.createServer((req, res) => {
    if (req.url === "/embedded.js") {
      res.writeHead(200, { "Content-Type": "text/javascript" });
      return res.end(library);
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html><head><title>Host app</title></head><body>
<h1>Checkout</h1>
<script src="/embedded.js"></script>
<script>
window.events = [];
window.openEmbedded = (url, clientId, options) => {
  const client = new HelloSign({ clientId });
  for (const name of ${JSON.stringify(EVENTS)}) {
    client.on(name, (payload) => window.events.push({ name, payload: payload || null }));
  }
  client.open(url, options || {});
};
window.openSigning = window.openEmbedded;
</script></body></html>`);
  });
  return new Promise((resolve) => srv.listen(0, "127.0.0.1", () => resolve(srv)));
}

/** A page of `browser` on the host app at `origin`. */
async function newPage(browser, origin, { width = 1280, height = 900 } = {}) {
  const page = await browser.newPage({ viewport: { width, height } });
  page.on("pageerror", (e) => process.stderr.write(`page error: ${e.message}\n`));
  page.on("dialog", (d) => d.dismiss()); // the library alert()s when the page never initializes
  await page.goto(`${origin}/checkout`);
  return page;
}

function hostEvents(page) {
  return page.evaluate(() => window.events);
}

async function waitHostEvent(page, name) {
  await page.waitForFunction((n) => window.events.some((e) => e.name === n), name, { timeout: UI_TIMEOUT_MS });
  return (await hostEvents(page)).find((e) => e.name === name);
}

async function screenshot(page, name) {
  const dir = process.env.SIGNING_SCREENSHOTS;
  if (dir) {
    fs.mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: path.join(dir, `${name}.png`) });
  }
}

module.exports = { CHROMIUM, UI_TIMEOUT_MS, startHost, newPage, hostEvents, waitHostEvent, screenshot };
