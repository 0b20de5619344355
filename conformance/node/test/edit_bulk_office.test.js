"use strict";
// Issue 13's operations through @dropbox/sign as a new user would write them: signatureRequestEdit and
// signatureRequestEditEmbeddedWithTemplate (same id, new content, sent again), BulkSendJobApi after
// signatureRequestBulkSendWithTemplate (JSON signer list with one bad row) and
// signatureRequestBulkCreateEmbeddedWithTemplate (CSV signer file), and a Word document with text tags.
// Every answer is checked against the SDK's declared models.

const { test: nodeTest, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { execFileSync } = require("node:child_process");

const { AccountApi, ApiAppApi, BulkSendJobApi, SignatureRequestApi, TemplateApi } = require("@dropbox/sign");

const { FIXTURES, startServer, startCallbackReceiver, uniqueEmail, expectHttpError, assertConforms } = require("../lib/harness");

const PDF_PATH = path.join(FIXTURES, "simple-two-signers.pdf"); // tags for signer1 and signer2
const ONE_SIGNER_PDF = path.join(FIXTURES, "per-glyph-runs.pdf");
const DOCX_PATH = path.join(FIXTURES, "..", "office", "lease.docx");
const STEP_TIMEOUT_MS = 90_000;

function test(name, fn) {
  return nodeTest(name, { timeout: STEP_TIMEOUT_MS }, fn);
}

let server;
let receiver;
const s = {};

function api(ApiClass) {
  return server.api(ApiClass, s.account.apiKey);
}

function sentCount(id) {
  return receiver
    .received(s.callback.path)
    .map((r) => r.parsed && r.parsed.json)
    .filter((j) => j && j.signature_request && j.signature_request.signature_request_id === id && j.event.event_type === "signature_request_sent").length;
}

async function waitUntil(probe, what) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await probe();
    if (value) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function template(file, roles) {
  const created = await api(TemplateApi).templateCreate({
    files: [fs.createReadStream(file)],
    title: "Team agreement",
    signerRoles: roles.map((name, order) => ({ name, order })),
    testMode: true,
  });
  const templateId = created.body.template.templateId;
  await receiver.waitForEvent(
    s.callback,
    (j) => j.template && j.template.template_id === templateId && j.event.event_type === "template_created",
    { what: "template_created" },
  );
  return templateId;
}

before(async () => {
  server = await startServer({ name: "edit-bulk-office" });
  receiver = await startCallbackReceiver();
  s.account = await server.createAccount();
  s.callback = receiver.endpoint(s.account.apiKey, { label: "ebo" });
  await api(AccountApi).accountUpdate({ callbackUrl: s.callback.url });
  const app = await api(ApiAppApi).apiAppCreate({ name: "Bulk app", domains: ["example.com"] });
  s.clientId = app.body.apiApp.clientId;
});

after(async () => {
  if (receiver) await receiver.stop();
  if (server) await server.stop();
});

test("signatureRequestEdit: the same id with new signers and title, sent again", async () => {
  const srs = api(SignatureRequestApi);
  const first = await srs.signatureRequestSend({
    files: [fs.createReadStream(PDF_PATH)],
    signers: [
      { name: "Ann", emailAddress: uniqueEmail("ann") },
      { name: "Bo", emailAddress: uniqueEmail("bo") },
    ],
    title: "Version 1",
    useTextTags: true,
    testMode: true,
  });
  const id = first.body.signatureRequest.signatureRequestId;
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", id, { timeoutMs: 30_000 });
  const edited = await srs.signatureRequestEdit(id, {
    files: [fs.createReadStream(PDF_PATH)],
    signers: [
      { name: "Cy", emailAddress: uniqueEmail("cy") },
      { name: "Bo", emailAddress: uniqueEmail("bo") },
    ],
    title: "Version 2",
    useTextTags: true,
    testMode: true,
  });
  assertConforms(edited.response.data, "SignatureRequestGetResponse", "signatureRequestEdit");
  assert.equal(edited.body.signatureRequest.signatureRequestId, id);
  assert.equal(edited.body.signatureRequest.title, "Version 2");
  assert.notEqual(edited.body.signatureRequest.signatures[0].signatureId, first.body.signatureRequest.signatures[0].signatureId);
  await waitUntil(() => sentCount(id) >= 2, "a second signature_request_sent");
  await expectHttpError(
    srs.signatureRequestEditEmbedded(id, { clientId: s.clientId, files: [fs.createReadStream(PDF_PATH)], signers: [{ name: "X", emailAddress: uniqueEmail("x") }] }),
    400,
    { errorName: "bad_request" },
  );
});

test("signatureRequestEditEmbeddedWithTemplate: a request from a template edited with other signers", async () => {
  const templateId = await template(PDF_PATH, ["Client", "Witness"]);
  const srs = api(SignatureRequestApi);
  const roles = (client) => [
    { role: "Client", name: client, emailAddress: uniqueEmail("client") },
    { role: "Witness", name: "Wen", emailAddress: uniqueEmail("wen") },
  ];
  const created = await srs.signatureRequestCreateEmbeddedWithTemplate({ clientId: s.clientId, templateIds: [templateId], signers: roles("Ann"), testMode: true });
  const id = created.body.signatureRequest.signatureRequestId;
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", id, { timeoutMs: 30_000 });
  const edited = await srs.signatureRequestEditEmbeddedWithTemplate(id, { clientId: s.clientId, templateIds: [templateId], signers: roles("Cleo"), testMode: true });
  assertConforms(edited.response.data, "SignatureRequestGetResponse", "signatureRequestEditEmbeddedWithTemplate");
  assert.equal(edited.body.signatureRequest.signatureRequestId, id);
  assert.equal(edited.body.signatureRequest.signatures[0].signerName, "Cleo");
  await waitUntil(() => sentCount(id) >= 2, "a second signature_request_sent");
});

test("bulk send: a JSON signer list with a bad row, then a CSV signer file", async () => {
  const twoRoles = await template(PDF_PATH, ["Client", "Witness"]);
  const row = (name, email) => ({
    signers: [
      { role: "Client", name, emailAddress: email },
      { role: "Witness", name: "Wen", emailAddress: uniqueEmail("wen") },
    ],
  });
  const sent = await api(SignatureRequestApi).signatureRequestBulkSendWithTemplate({
    templateIds: [twoRoles],
    signerList: [row("Ann", uniqueEmail("ann")), row("Bad", "not-an-address"), row("Cem", uniqueEmail("cem"))],
    testMode: true,
  });
  assertConforms(sent.response.data, "BulkSendJobSendResponse", "signatureRequestBulkSendWithTemplate");
  const jobId = sent.body.bulkSendJob.bulkSendJobId;
  assert.equal(sent.body.bulkSendJob.total, 3);
  const jobs = api(BulkSendJobApi);
  const got = await waitUntil(async () => {
    const r = await jobs.bulkSendJobGet(jobId);
    return r.body.signatureRequests.length === 2 ? r : null;
  }, "the job's two requests");
  assertConforms(got.response.data, "BulkSendJobGetResponse", "bulkSendJobGet");
  assert.deepEqual(got.body.signatureRequests.map((r) => r.signatures[0].signerName), ["Ann", "Cem"]);
  assert.deepEqual(got.body.warnings.map((w) => w.warningName), ["bulk_send_row_failed"]);
  const listed = await jobs.bulkSendJobList();
  assertConforms(listed.response.data, "BulkSendJobListResponse", "bulkSendJobList");
  assert.equal(listed.body.bulkSendJobs[0].bulkSendJobId, jobId);

  const oneRole = await template(ONE_SIGNER_PDF, ["Client"]);
  const csv = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "bulk-")), "signers.csv");
  fs.writeFileSync(csv, `name,email_address\nGeorge,${uniqueEmail("george")}\n"Mary, Jr.",${uniqueEmail("mary")}\n`);
  const embedded = await api(SignatureRequestApi).signatureRequestBulkCreateEmbeddedWithTemplate({
    clientId: s.clientId,
    templateIds: [oneRole],
    signerFile: fs.createReadStream(csv),
    testMode: true,
  });
  const job2 = embedded.body.bulkSendJob.bulkSendJobId;
  const made = await waitUntil(async () => {
    const r = await jobs.bulkSendJobGet(job2);
    return r.body.signatureRequests.length === 2 ? r : null;
  }, "the CSV job's requests");
  assert.deepEqual(made.body.signatureRequests.map((r) => r.signatures[0].signerName), ["George", "Mary, Jr."]);
  await expectHttpError(jobs.bulkSendJobGet("0".repeat(40)), 404, { errorName: "not_found" });
});

test("a Word document with text tags becomes fields where Word put them", async (t) => {
  let soffice = true;
  try {
    execFileSync("sh", ["-c", "command -v soffice || command -v libreoffice"], { stdio: "ignore" });
  } catch {
    soffice = false;
  }
  if (!soffice) {
    assert.notEqual(process.env.COUNTERSIGN_REQUIRE_OFFICE, "1", "LibreOffice is required in CI");
    t.skip("soffice not found");
    return;
  }
  const res = await api(SignatureRequestApi).signatureRequestCreateEmbedded({
    clientId: s.clientId,
    files: [fs.createReadStream(DOCX_PATH)],
    signers: [
      { name: "Tenant", emailAddress: uniqueEmail("tenant") },
      { name: "Landlord", emailAddress: uniqueEmail("landlord") },
    ],
    useTextTags: true,
    hideTextTags: true,
    testMode: true,
  });
  const id = res.body.signatureRequest.signatureRequestId;
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", id, { timeoutMs: 60_000 });
  const fields = await (await fetch(`${server.apiUrl}/signature_request/fields/${id}`, {
    headers: { Authorization: "Basic " + Buffer.from(`${s.account.apiKey}:`).toString("base64") },
  })).json();
  const placed = fields.fields.map((f) => `${f.type}:${f.signer}`).sort();
  assert.deepEqual(placed, ["date_signed:0", "initials:0", "signature:0", "signature:1", "text:1"]);
});

test("every callback received passes the SDK's checks", () => {
  assert.ok(receiver.checkAllWithSdk() >= 6);
});
