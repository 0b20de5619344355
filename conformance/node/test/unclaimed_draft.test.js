"use strict";
// Unclaimed drafts through @dropbox/sign as a new user would write them: unclaimedDraftCreate (the claim
// page on its own, e-mail signing), unclaimedDraftCreateEmbedded with holdRequest then
// signatureRequestReleaseHold, unclaimedDraftCreateEmbeddedWithTemplate, and the documented 400s and 404s.
// Every answer is checked against the SDK's declared models. The requester page behind each claim_url is
// driven here as its script drives it (the fields it shows, posted with the page's session); the browser
// suite drives the same page in Chromium.

const { test: nodeTest, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { AccountApi, ApiAppApi, SignatureRequestApi, TemplateApi, UnclaimedDraftApi } = require("@dropbox/sign");

const { FIXTURES, startServer, startCallbackReceiver, uniqueEmail, expectHttpError, assertConforms } = require("../lib/harness");

const PDF_PATH = path.join(FIXTURES, "simple-two-signers.pdf"); // tags for signer1 and signer2
const STEP_TIMEOUT_MS = 60_000;

function test(name, fn) {
  return nodeTest(name, { timeout: STEP_TIMEOUT_MS }, fn);
}

let server;
let receiver;
const s = {};

function api(ApiClass) {
  return server.api(ApiClass, s.account.apiKey);
}

function signers() {
  return [
    { name: "Nia Nurse", emailAddress: uniqueEmail("nia"), order: 0 },
    { name: "Dev Doctor", emailAddress: uniqueEmail("dev"), order: 1 },
  ];
}

/** Opens a claim_url once the draft's documents are read (from the app's page when `embedded`). */
async function claimPage(claimUrl, embedded) {
  const url = embedded ? `${claimUrl}&parent_url=${encodeURIComponent("https://example.com/app")}&client_id=${s.clientId}` : claimUrl;
  const deadline = Date.now() + 30_000;
  let page;
  while ((page = await fetch(url)).status === 409) {
    assert.ok(Date.now() < deadline, "the draft's documents were never read");
    await new Promise((r) => setTimeout(r, 100));
  }
  const html = await page.text();
  assert.equal(page.status, 200, html.slice(0, 500));
  const config = JSON.parse(html.match(/id="countersign-config">([\s\S]*?)<\/script>/)[1]);
  return { html, config };
}

/** The requester page's "Send request": its fields as they are. */
async function sendFromPage(config) {
  const base = new URL(server.baseUrl).origin;
  const res = await fetch(base + config.action, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ session: config.session, expires: config.expires, fields: config.fields }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.signature_request_id;
}

before(async () => {
  server = await startServer({ name: "drafts" });
  receiver = await startCallbackReceiver();
  s.account = await server.createAccount();
  s.callback = receiver.endpoint(s.account.apiKey, { label: "drafts" });
  await api(AccountApi).accountUpdate({ callbackUrl: s.callback.url });
  const app = await api(ApiAppApi).apiAppCreate({ name: "Requesting app", domains: ["example.com"] });
  s.clientId = app.body.apiApp.clientId;
});

after(async () => {
  if (receiver) await receiver.stop();
  if (server) await server.stop();
});

test("unclaimedDraftCreate: the claim page sends a request signed from e-mails", async () => {
  const who = signers();
  const res = await api(UnclaimedDraftApi).unclaimedDraftCreate({
    type: "request_signature",
    files: [fs.createReadStream(PDF_PATH)],
    signers: who,
    subject: "Shift agreement",
    useTextTags: true,
    testMode: true,
  });
  assertConforms(res.response.data, "UnclaimedDraftCreateResponse", "unclaimedDraftCreate");
  assert.equal(res.body.warnings, undefined, JSON.stringify(res.body.warnings));
  assert.equal(res.body.unclaimedDraft.signatureRequestId ?? null, null);
  const { html, config } = await claimPage(res.body.unclaimedDraft.claimUrl, false);
  assert.ok(html.includes("Send request"));
  assert.equal(config.fields.length, 5, "the text tags are placed");
  const id = await sendFromPage(config);
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", id, { timeoutMs: 30_000 });
  const request = (await api(SignatureRequestApi).signatureRequestGet(id)).body.signatureRequest;
  assert.equal(request.subject, "Shift agreement");
  assert.deepEqual(request.signatures.map((x) => x.signerEmailAddress), who.map((x) => x.emailAddress));
  assert.ok(request.signingUrl, "signed from e-mails: the request has a signing URL");
});

test("unclaimedDraftCreateEmbedded with holdRequest: prepared, then signatureRequestReleaseHold sends it", async () => {
  const res = await api(UnclaimedDraftApi).unclaimedDraftCreateEmbedded({
    clientId: s.clientId,
    requesterEmailAddress: s.account.emailAddress,
    files: [fs.createReadStream(PDF_PATH)],
    signers: signers(),
    useTextTags: true,
    holdRequest: true,
    isForEmbeddedSigning: true,
    testMode: true,
  });
  assertConforms(res.response.data, "UnclaimedDraftCreateResponse", "unclaimedDraftCreateEmbedded");
  const { config } = await claimPage(res.body.unclaimedDraft.claimUrl, true);
  const id = await sendFromPage(config);
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_prepared", id, { timeoutMs: 30_000 });
  const released = await api(SignatureRequestApi).signatureRequestReleaseHold(id);
  assertConforms(released.response.data, "SignatureRequestGetResponse", "signatureRequestReleaseHold");
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", id, { timeoutMs: 30_000 });
  await expectHttpError(api(SignatureRequestApi).signatureRequestReleaseHold(id), 400, { errorName: "bad_request" });
});

test("unclaimedDraftCreateEmbeddedWithTemplate: the template's fields and merge values, the signers by role", async () => {
  const created = await api(TemplateApi).templateCreate({
    files: [fs.createReadStream(PDF_PATH)],
    title: "Visit report",
    signerRoles: [{ name: "Nurse", order: 0 }, { name: "Doctor", order: 1 }],
    mergeFields: [{ name: "Ward", type: "text" }],
    formFieldsPerDocument: [
      { documentIndex: 0, apiId: "ward", name: "Ward", type: "text-merge", signer: "sender", x: 300, y: 700, width: 150, height: 18, required: true, page: 1 },
    ],
    testMode: true,
  });
  const templateId = created.body.template.templateId;
  await receiver.waitForEvent(
    s.callback,
    (j) => j.template && j.template.template_id === templateId && j.event.event_type === "template_created",
    { what: "template_created" },
  );
  const nurse = { role: "Nurse", name: "Nia Nurse", emailAddress: uniqueEmail("nia") };
  const doctor = { role: "Doctor", name: "Dev Doctor", emailAddress: uniqueEmail("dev") };
  const res = await api(UnclaimedDraftApi).unclaimedDraftCreateEmbeddedWithTemplate({
    clientId: s.clientId,
    requesterEmailAddress: s.account.emailAddress,
    templateIds: [templateId],
    signers: [doctor, nurse],
    customFields: [{ name: "Ward", value: "7B" }],
    testMode: true,
  });
  assertConforms(res.response.data, "UnclaimedDraftCreateResponse", "unclaimedDraftCreateEmbeddedWithTemplate");
  const { config } = await claimPage(res.body.unclaimedDraft.claimUrl, true);
  assert.ok(config.fields.some((f) => f.type === "text-merge"), "the merge field is on the page");
  const id = await sendFromPage(config);
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", id, { timeoutMs: 30_000 });
  const request = (await api(SignatureRequestApi).signatureRequestGet(id)).body.signatureRequest;
  assert.equal(request.title, "Visit report");
  assert.deepEqual(request.signatures.map((x) => x.signerName), ["Nia Nurse", "Dev Doctor"], "in the roles' order");
});

test("the documented refusals: signers missing, an unknown request to edit and resend", async () => {
  await expectHttpError(
    api(UnclaimedDraftApi).unclaimedDraftCreate({ type: "request_signature", files: [fs.createReadStream(PDF_PATH)] }),
    400,
    { errorName: "bad_request", errorPath: "signers" },
  );
  await expectHttpError(
    api(UnclaimedDraftApi).unclaimedDraftEditAndResend("f".repeat(40), { clientId: s.clientId }),
    404,
    { errorName: "not_found" },
  );
});

test("every callback received passes the SDK's checks", () => {
  assert.ok(receiver.checkAllWithSdk() >= 4);
});
