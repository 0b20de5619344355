"use strict";
// Signing in a real browser: Debian's Chromium (driven by playwright-core, never a downloaded browser), a
// host page on another origin that loads the unmodified hellosign-embedded library from npm and opens a
// sign_url made with the official @dropbox/sign SDK, exactly as an app embeds Dropbox Sign. The signer is
// driven by the page's visible labels. The callback receiver must see viewed → signed → all_signed in
// event_sequence order, then downloadable once the stamped copy exists.
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium); SIGNING_SCREENSHOTS=DIR keeps screenshots.

const { test: nodeTest, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");

const { ApiAppApi, AccountApi, EmbeddedApi, SignatureRequestApi } = require("@dropbox/sign");
const { chromium } = require("playwright-core");

const { FIXTURES, startServer, startCallbackReceiver, uniqueEmail } = require("../lib/harness");
const {
  CHROMIUM,
  UI_TIMEOUT_MS,
  startHost,
  newPage: browserPage,
  hostEvents,
  waitHostEvent,
  screenshot,
} = require("../lib/browser");

const PDF_PATH = path.join(FIXTURES, "simple-two-signers.pdf");
const STEP_TIMEOUT_MS = 90_000;

function test(name, fn) {
  return nodeTest(name, { timeout: STEP_TIMEOUT_MS }, fn);
}

let server;
let expiringServer;
let mailServer;
let smtp;
let receiver;
let host;
let browser;
const s = {};

function newPage(origin, options) {
  return browserPage(browser, origin, options);
}

function api(ApiClass, srv = server) {
  return srv.api(ApiClass, s.account.apiKey);
}

async function createRequest({ fields, extra = {}, signers, srv = server }) {
  const res = await api(SignatureRequestApi, srv).signatureRequestCreateEmbedded({
    clientId: s.clientId,
    files: [fs.createReadStream(PDF_PATH)],
    signers,
    title: "Lease agreement",
    testMode: true,
    formFieldsPerDocument: fields,
    ...extra,
  });
  const request = res.body.signatureRequest;
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", request.signatureRequestId, { timeoutMs: 30_000 });
  return request;
}

async function signUrl(signatureId, srv = server) {
  const res = await api(EmbeddedApi, srv).embeddedSignUrl(signatureId);
  return res.body.embedded.signUrl;
}

/**
 * A real SMTP server on loopback (the commands a client needs to hand over a message), keeping every
 * message: `{ to: [RCPT lines], data }`.
 */
function startSmtp() {
  const messages = [];
  const server = net.createServer((socket) => {
    let buffer = "";
    let inData = false;
    let data = "";
    let rcpt = [];
    socket.write("220 test ESMTP\r\n");
    socket.on("error", () => {});
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      let end;
      while ((end = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            messages.push({ to: rcpt, data });
            data = "";
            rcpt = [];
            socket.write("250 queued\r\n");
          } else {
            data += (line.startsWith("..") ? line.slice(1) : line) + "\n";
          }
          continue;
        }
        const verb = line.split(" ")[0].toUpperCase();
        if (verb === "EHLO" || verb === "HELO") socket.write("250-test\r\n250 OK\r\n");
        else if (verb === "RCPT") {
          rcpt.push(line);
          socket.write("250 OK\r\n");
        } else if (verb === "DATA") {
          inData = true;
          socket.write("354 go ahead\r\n");
        } else if (verb === "QUIT") {
          socket.write("221 bye\r\n");
          socket.end();
        } else socket.write("250 OK\r\n");
      }
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, messages, url: `smtp://127.0.0.1:${server.address().port}` })));
}

/** Waits for a message to `address` whose text contains `containing`; returns its text (quoted-printable undone). */
async function mailTo(address, containing) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = smtp.messages.find((m) => m.to.some((t) => t.includes(address)) && m.data.replace(/=\n/g, "").includes(containing));
    if (found) return found.data.replace(/=\n/g, "").replace(/=3D/g, "=");
    assert.ok(Date.now() < deadline, `no e-mail to ${address} with ${JSON.stringify(containing)}; got ${smtp.messages.length}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function linkIn(text) {
  const match = text.match(/https?:\/\/\S+\/sign\/[0-9a-f]{32}\?\S+/);
  assert.ok(match, `no signing link in: ${text}`);
  return match[0];
}

/** Draws a short stroke on the page's drawing area. */
async function drawSignature(page, frame) {
  const pad = frame.getByLabel(/Drawing area/);
  await pad.waitFor();
  const box = await pad.boundingBox();
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.6);
  await page.mouse.down();
  for (let i = 1; i <= 12; i++) {
    await page.mouse.move(box.x + box.width * (0.2 + i * 0.05), box.y + box.height * (0.6 - 0.25 * Math.sin(i)));
  }
  await page.mouse.up();
}

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (apt-get install chromium)`);
  server = await startServer();
  receiver = await startCallbackReceiver();
  s.account = await server.createAccount();
  s.callback = receiver.endpoint(s.account.apiKey, { label: "account" });
  await api(AccountApi).accountUpdate({ callbackUrl: s.callback.url });
  const app = await api(ApiAppApi).apiAppCreate({ name: "Browser app", domains: ["localhost"] });
  s.clientId = app.body.apiApp.clientId;
  host = await startHost();
  s.hostOrigin = `http://localhost:${host.address().port}`;
  s.wrongOrigin = `http://127.0.0.1:${host.address().port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  if (browser) await browser.close();
  if (host) host.close();
  if (receiver) await receiver.stop();
  if (expiringServer) await expiringServer.stop();
  if (mailServer) await mailServer.stop();
  if (smtp) smtp.server.close();
  if (server) await server.stop();
});

test("a signer fills every field type in the unmodified hellosign-embedded iFrame, and the events follow in order", async () => {
  const signer = { name: "Zoë Łukasiewicz", emailAddress: uniqueEmail("zoe") };
  const at = (y) => ({ documentIndex: 0, page: 1, x: 90, y, width: 180, height: 24 });
  const fields = [
    { ...at(90), apiId: "sig", name: "Tenant signature", type: "signature", signer: 0, required: true, height: 40 },
    { ...at(150), apiId: "ini", name: "Tenant initials", type: "initials", signer: 0, required: true, width: 60, height: 30 },
    { ...at(200), apiId: "phone", name: "Phone number", type: "text", signer: 0, required: true, validationType: "phone_number" },
    { ...at(240), apiId: "code", name: "Unit code", type: "text", signer: 0, required: false, validationType: "custom_regex", validationCustomRegex: "[A-Z]{2}-\\d{3}", validationCustomRegexFormatLabel: "a code like AB-123" },
    { ...at(280), apiId: "when", name: "Date", type: "date_signed", signer: 0, required: true },
    { ...at(320), apiId: "pets", name: "Pets allowed", type: "checkbox", signer: 0, required: true, isChecked: false, width: 16, height: 16 },
    { ...at(360), apiId: "monthly", name: "Monthly", type: "radio", signer: 0, group: "term", isChecked: false, width: 16, height: 16 },
    { ...at(360), apiId: "yearly", name: "Yearly", type: "radio", signer: 0, group: "term", isChecked: false, x: 150, width: 16, height: 16 },
    { ...at(400), apiId: "color", name: "Door color", type: "dropdown", signer: 0, required: true, options: ["Red", "Green"], content: "Red" },
    { ...at(440), apiId: "terms", name: "Terms", type: "hyperlink", signer: 0, content: "Read the terms", contentUrl: "https://example.com/terms" },
    { ...at(480), apiId: "landlord", name: "landlord", type: "text-merge", signer: "sender" },
    { ...at(520), apiId: "furnished", name: "furnished", type: "checkbox-merge", signer: "sender", width: 16, height: 16 },
  ];
  const request = await createRequest({
    fields,
    signers: [signer],
    extra: {
      customFields: [{ name: "landlord", value: "ACME Homes" }, { name: "furnished", value: "true" }],
      formFieldGroups: [{ groupId: "term", groupLabel: "Lease term", requirement: "require_1" }],
    },
  });
  const id = request.signatureRequestId;
  const signatureId = request.signatures[0].signatureId;

  const page = await newPage(s.hostOrigin);
  await page.evaluate(([url, clientId]) => window.openSigning(url, clientId, {}), [await signUrl(signatureId), s.clientId]);
  const ready = await waitHostEvent(page, "ready");
  assert.equal(ready.payload.signatureId, signatureId);
  const frame = page.frameLocator("iframe.x-hellosign-embedded__iframe");
  await frame.getByRole("button", { name: "I agree" }).waitFor({ timeout: UI_TIMEOUT_MS });
  await frame.locator(".page img").first().evaluate((img) => img.decode());
  await screenshot(page, "signer-page-desktop");

  // Merge fields show the sender's values; the signer cannot change them.
  await assert.doesNotReject(frame.getByText("ACME Homes").waitFor({ timeout: UI_TIMEOUT_MS }));
  assert.equal(await frame.getByRole("checkbox", { name: "furnished" }).isChecked(), true);
  assert.equal(await frame.getByRole("checkbox", { name: "furnished" }).isDisabled(), true);
  assert.equal(await frame.getByRole("link", { name: "Read the terms" }).getAttribute("href"), "https://example.com/terms");

  // Submitting early points at what is missing.
  await frame.getByRole("button", { name: "I agree" }).click();
  await frame.getByText("Some fields still need your attention.").waitFor({ timeout: UI_TIMEOUT_MS });

  await frame.getByRole("button", { name: /Tenant signature/ }).click();
  await frame.getByRole("tab", { name: "Draw" }).click();
  await drawSignature(page, frame);
  await screenshot(page, "signature-dialog");
  await frame.getByRole("button", { name: "Insert" }).click();
  // A signed field opens the dialog again; cancelling keeps the signature.
  await frame.getByRole("button", { name: /Tenant signature \(signed/ }).click();
  await frame.getByRole("button", { name: "Cancel" }).click();
  await frame.getByRole("button", { name: /Tenant signature \(signed/ }).waitFor({ timeout: UI_TIMEOUT_MS });
  await frame.getByRole("button", { name: /Tenant initials/ }).click();
  await frame.getByRole("tab", { name: "Type" }).click();
  await frame.getByLabel("Type your name").fill("ZŁ");
  await frame.getByRole("button", { name: "Insert" }).click();

  const phone = frame.getByRole("textbox", { name: /Phone number/ });
  await phone.fill("call me maybe");
  await phone.blur();
  await frame.getByText("Enter a phone number.").waitFor({ timeout: UI_TIMEOUT_MS });
  await phone.fill("+1 415 555 0100");
  await frame.getByRole("textbox", { name: /Unit code/ }).fill("AB-123");
  await frame.getByRole("checkbox", { name: /Pets allowed/ }).check();
  await frame.getByRole("radio", { name: "Yearly" }).check();
  await frame.getByRole("combobox", { name: /Door color/ }).selectOption("Green");
  await screenshot(page, "signer-page-filled");
  await frame.getByRole("button", { name: "I agree" }).click();

  const sign = await waitHostEvent(page, "sign");
  assert.equal(sign.payload.signatureId, signatureId);
  await waitHostEvent(page, "finish");
  await waitHostEvent(page, "close");

  const all = await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_all_signed", id);
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_downloadable", id, { timeoutMs: 30_000 });
  const mine = receiver
    .received(s.callback.path)
    .map((r) => r.parsed.json)
    .filter((j) => j.signature_request && j.signature_request.signature_request_id === id)
    .sort((a, b) => a.event_sequence - b.event_sequence)
    .map((j) => j.event.event_type);
  const order = [...new Set(mine)];
  assert.deepEqual(order, [
    "signature_request_sent",
    "signature_request_viewed",
    "signature_request_signed",
    "signature_request_all_signed",
    "signature_request_downloadable",
  ]);
  assert.equal(all.parsed.json.signature_request.is_complete, true);
  for (const entry of receiver.received(s.callback.path)) receiver.checkWithSdk(entry);

  const got = await api(SignatureRequestApi).signatureRequestGet(id);
  const values = Object.fromEntries(got.body.signatureRequest.responseData.map((d) => [d.apiId, d.value]));
  assert.equal(values.sig, signer.name, "a signature's value is the signer's name");
  assert.equal(values.phone, "+1 415 555 0100");
  assert.equal(values.code, "AB-123");
  assert.equal(values.pets, true);
  assert.equal(values.yearly, true);
  assert.equal(values.monthly, false);
  assert.equal(values.color, "Green");
  assert.match(String(values.when), /^\d\d \/ \d\d \/ \d{4}$/);
  assert.equal(got.body.signatureRequest.signatures[0].statusCode, "signed");

  // The final copy, downloaded with the SDK: sealed (pdfsig: valid, whole document), the typed values
  // in it, the audit trail after them.
  const file = await api(SignatureRequestApi).signatureRequestFiles(id, "pdf");
  const pdf = Buffer.from(file.body);
  assert.equal(pdf.subarray(0, 5).toString(), "%PDF-");
  const sealed = poppler("pdfsig", [], pdf);
  if (sealed !== null) {
    assert.match(sealed, /Signature is Valid/);
    assert.match(sealed, /Total document signed/);
  }
  const text = poppler("pdftotext", ["-enc", "UTF-8"], pdf, ["-"]);
  if (text !== null) {
    assert.match(text, /AB-123/);
    assert.match(text, /ZŁ/, "typed initials are text in the final copy");
    assert.match(text, /Audit trail/);
    assert.ok(text.includes(id), "the audit trail names the request");
  }
  await page.close();
});

/** Output of a poppler tool run on `pdf`, or null (a notice) when poppler is not installed; with
 * COUNTERSIGN_REQUIRE_POPPLER=1 (as in CI) a missing tool fails the test. */
function poppler(tool, args, pdf, after = []) {
  const exe = `/usr/bin/${tool}`;
  if (!fs.existsSync(exe)) {
    assert.notEqual(process.env.COUNTERSIGN_REQUIRE_POPPLER, "1", `${tool} is required but missing`);
    console.log(`NOTICE: ${tool} not found; skipping its check`);
    return null;
  }
  const file = path.join(require("node:os").tmpdir(), `countersign-final-${process.pid}-${Date.now()}.pdf`);
  fs.writeFileSync(file, pdf);
  try {
    const out = require("node:child_process").spawnSync(exe, [...args, file, ...after], { encoding: "utf8" });
    return `${out.stdout}${out.stderr}`;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

test("on a phone-sized screen the page fits and the signer can decline with a reason", async () => {
  const signer = { name: "Dee Cline", emailAddress: uniqueEmail("dee") };
  const request = await createRequest({
    fields: [{ documentIndex: 0, apiId: "s", type: "signature", signer: 0, page: 1, x: 90, y: 90, width: 180, height: 40, required: true }],
    signers: [signer],
    extra: { allowDecline: true },
  });
  const page = await newPage(s.hostOrigin, { width: 390, height: 844 });
  await page.evaluate(([url, clientId]) => window.openSigning(url, clientId, {}), [await signUrl(request.signatures[0].signatureId), s.clientId]);
  await waitHostEvent(page, "ready");
  const frame = page.frameLocator("iframe.x-hellosign-embedded__iframe");
  await frame.getByRole("button", { name: "I agree" }).waitFor({ timeout: UI_TIMEOUT_MS });
  await frame.locator(".page img").first().evaluate((img) => img.decode());
  await screenshot(page, "signer-page-phone");
  const overflow = await frame.locator("body").evaluate((b) => b.scrollWidth - b.clientWidth);
  assert.ok(overflow <= 1, `the page is wider than a phone's screen by ${overflow}px`);

  await frame.getByRole("button", { name: "Decline" }).click();
  await frame.getByLabel("Reason for declining").fill("The rent is wrong");
  await frame.getByRole("dialog").getByRole("button", { name: "Decline" }).click();
  const decline = await waitHostEvent(page, "decline");
  assert.deepEqual(decline.payload, { signatureId: request.signatures[0].signatureId, reason: "The rent is wrong" });
  const declined = await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_declined", request.signatureRequestId);
  assert.equal(declined.parsed.json.event.event_metadata.event_message, "The rent is wrong");
  assert.equal(declined.parsed.json.signature_request.is_declined, true);
  await page.close();
});

test("a signer reassigns their signature to a colleague from the iFrame", async () => {
  const request = await createRequest({
    fields: [{ documentIndex: 0, apiId: "s", type: "signature", signer: 0, page: 1, x: 90, y: 90, width: 180, height: 40, required: true }],
    signers: [{ name: "Busy Bee", emailAddress: uniqueEmail("busy") }],
    extra: { allowReassign: true },
  });
  const signatureId = request.signatures[0].signatureId;
  const page = await newPage(s.hostOrigin);
  await page.evaluate(([url, clientId]) => window.openSigning(url, clientId, {}), [await signUrl(signatureId), s.clientId]);
  await waitHostEvent(page, "ready");
  const frame = page.frameLocator("iframe.x-hellosign-embedded__iframe");
  await frame.getByRole("button", { name: "Reassign" }).click();
  const colleague = uniqueEmail("colleague");
  await frame.getByLabel("Their name").fill("Colleague Carla");
  await frame.getByLabel("Their email address").fill(colleague);
  await frame.getByLabel("Reason (optional)").fill("On holiday");
  await frame.getByRole("dialog").getByRole("button", { name: "Reassign" }).click();
  const reassign = await waitHostEvent(page, "reassign");
  assert.deepEqual(reassign.payload, { signatureId, name: "Colleague Carla", email: colleague, reason: "On holiday" });
  const event = await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_reassigned", request.signatureRequestId);
  const moved = event.parsed.json.signature_request.signatures[0];
  assert.equal(moved.signer_email_address, colleague);
  assert.equal(moved.reassigned_from, signatureId);
  assert.notEqual(moved.signature_id, signatureId);
  await page.close();
});

test("a page outside the app's domains is refused, and the library is told", async () => {
  const request = await createRequest({
    fields: [{ documentIndex: 0, apiId: "s", type: "signature", signer: 0, page: 1, x: 90, y: 90, width: 180, height: 40, required: true }],
    signers: [{ name: "Wrong Place", emailAddress: uniqueEmail("wrong") }],
  });
  const page = await newPage(s.wrongOrigin);
  await page.evaluate(([url, clientId]) => window.openSigning(url, clientId, {}), [await signUrl(request.signatures[0].signatureId), s.clientId]);
  const error = await waitHostEvent(page, "error");
  assert.equal(error.payload.code, "domain_verification_failed");
  const frame = page.frameLocator("iframe.x-hellosign-embedded__iframe");
  await frame.getByText("This page cannot show this request").waitFor({ timeout: UI_TIMEOUT_MS });
  assert.equal(await frame.getByRole("button", { name: "I agree" }).count(), 0);
  const got = await api(SignatureRequestApi).signatureRequestGet(request.signatureRequestId);
  assert.equal(got.body.signatureRequest.signatures[0].lastViewedAt, null, "a refused page views nothing");
  await page.close();
});

test("an expired sign_url shows a clear page, tells the library, and fires sign_url_invalid", async () => {
  expiringServer = await startServer({ name: "expiring", env: { COUNTERSIGN_SIGN_URL_LIFETIME: "2s" } });
  const callback = receiver.endpoint(s.account.apiKey, { label: "expiring" });
  // The same account on a second server (same database on PostgreSQL; a new one on SQLite).
  s.expiringAccount = await expiringServer.createAccount();
  const key = s.expiringAccount.apiKey;
  await expiringServer.api(AccountApi, key).accountUpdate({ callbackUrl: callback.url });
  const app = await expiringServer.api(ApiAppApi, key).apiAppCreate({ name: "Expiring app", domains: ["localhost"] });
  const created = await expiringServer.api(SignatureRequestApi, key).signatureRequestCreateEmbedded({
    clientId: app.body.apiApp.clientId,
    files: [fs.createReadStream(PDF_PATH)],
    signers: [{ name: "Late Larry", emailAddress: uniqueEmail("late") }],
    testMode: true,
    useTextTags: false,
  });
  const request = created.body.signatureRequest;
  await receiver.waitForSignatureRequestEvent(callback, "signature_request_sent", request.signatureRequestId, { timeoutMs: 30_000 });
  const url = (await expiringServer.api(EmbeddedApi, key).embeddedSignUrl(request.signatures[0].signatureId)).body.embedded;
  // Wait until the link's own expiry has passed (a condition on the clock, with a deadline).
  const deadline = Date.now() + 10_000;
  while (Date.now() / 1000 <= url.expiresAt + 1) {
    assert.ok(Date.now() < deadline, "the link did not expire in time");
    await new Promise((r) => setTimeout(r, 100));
  }
  const page = await newPage(s.hostOrigin);
  await page.evaluate(([u, clientId]) => window.openSigning(u, clientId, {}), [url.signUrl, app.body.apiApp.clientId]);
  const error = await waitHostEvent(page, "error");
  assert.equal(error.payload.code, "expired_link");
  const frame = page.frameLocator("iframe.x-hellosign-embedded__iframe");
  await frame.getByRole("heading", { name: "This link has expired" }).waitFor({ timeout: UI_TIMEOUT_MS });
  await screenshot(page, "expired-link");
  const invalid = await receiver.waitForSignatureRequestEvent(callback, "sign_url_invalid", request.signatureRequestId);
  assert.equal(invalid.parsed.json.event.event_metadata.related_signature_id, request.signatures[0].signatureId);
  await page.close();
});

test("e-mail signing: ordered signers get their links in turn, a PIN guards the first, the CC hears at the end", async () => {
  smtp = await startSmtp();
  mailServer = await startServer({ name: "mail", env: { COUNTERSIGN_SMTP_URL: smtp.url } });
  const account = await mailServer.createAccount();
  const callback = receiver.endpoint(account.apiKey, { label: "mail" });
  await mailServer.api(AccountApi, account.apiKey).accountUpdate({ callbackUrl: callback.url });
  const first = uniqueEmail("first");
  const second = uniqueEmail("second");
  const cc = uniqueEmail("cc");
  const sigField = (apiId, signer, y) => ({ documentIndex: 0, apiId, type: "signature", signer, page: 1, x: 90, y, width: 200, height: 45, required: true });
  const sent = await mailServer.api(SignatureRequestApi, account.apiKey).signatureRequestSend({
    files: [fs.createReadStream(PDF_PATH)],
    title: "Partnership agreement",
    message: "Please sign this week.",
    signers: [
      { name: "First Partner", emailAddress: first, order: 0, pin: "2468" },
      { name: "Second Partner", emailAddress: second, order: 1 },
    ],
    ccEmailAddresses: [cc],
    formFieldsPerDocument: [sigField("first_sig", 0, 90), sigField("second_sig", 1, 160)],
    testMode: true,
  });
  const id = sent.body.signatureRequest.signatureRequestId;

  const invitation = await mailTo(first, "Please sign this week.");
  assert.equal(smtp.messages.some((m) => m.to.some((t) => t.includes(second))), false, "the second signer waits their turn");
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(linkIn(invitation));
  await page.getByLabel("Access code").fill("1111");
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByText("That access code is not correct.").waitFor({ timeout: UI_TIMEOUT_MS });
  await page.getByLabel("Access code").fill("2468");
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("button", { name: /Signature/ }).click();
  await page.getByRole("tab", { name: "Type" }).click();
  await page.getByRole("button", { name: "Insert" }).click();
  await page.getByRole("button", { name: "I agree" }).click();
  await page.getByRole("heading", { name: "You have signed" }).waitFor({ timeout: UI_TIMEOUT_MS });

  const turn = await mailTo(second, "Partnership agreement");
  await page.goto(linkIn(turn));
  await page.getByRole("button", { name: /Signature/ }).click();
  await page.getByRole("tab", { name: "Draw" }).click();
  await drawSignature(page, page);
  await page.getByRole("button", { name: "Insert" }).click();
  await page.getByRole("button", { name: "I agree" }).click();
  await page.getByRole("heading", { name: "You have signed" }).waitFor({ timeout: UI_TIMEOUT_MS });
  await mailTo(cc, "Everyone has signed it");

  await receiver.waitForSignatureRequestEvent(callback, "signature_request_downloadable", id, { timeoutMs: 30_000 });
  const types = receiver
    .received(callback.path)
    .map((r) => r.parsed.json)
    .filter((j) => j.signature_request && j.signature_request.signature_request_id === id)
    .sort((a, b) => a.event_sequence - b.event_sequence)
    .map((j) => j.event.event_type);
  assert.deepEqual([...new Set(types)], [
    "signature_request_sent",
    "signature_request_viewed",
    "signature_request_signed",
    "signature_request_all_signed",
    "signature_request_downloadable",
  ]);
  const viewed = types.filter((t) => t === "signature_request_viewed").length;
  assert.ok(viewed >= 2, `each signer's first view fires viewed (${viewed})`);
  await page.close();
});
