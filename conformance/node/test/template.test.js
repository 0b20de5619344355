"use strict";
// Templates through @dropbox/sign as a new user would write it: templateCreate from an uploaded PDF with
// text tags plus formFieldsPerDocument, the template_created callback checked with EventCallbackHelper,
// templateGet / templateList / templateFiles* (every body checked against the SDK's declared models),
// signatureRequestSendWithTemplate by role with a merge value, sharing with another account, delete, and
// the documented 400s and 404s.
//
// Steps share one account and run in order; a step whose prerequisite failed fails with "needs ...".

const { test: nodeTest, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { AccountApi, EmbeddedApi, SignatureRequestApi, TemplateApi } = require("@dropbox/sign");

const { FIXTURES, startServer, startCallbackReceiver, uniqueEmail, expectHttpError, assertConforms } = require("../lib/harness");

const PDF_PATH = path.join(FIXTURES, "simple-two-signers.pdf"); // tags for signer1 and signer2
const TEMPLATE_ID_RE = /^[0-9a-f]{40}$/;
const STEP_TIMEOUT_MS = 60_000;

function test(name, fn) {
  return nodeTest(name, { timeout: STEP_TIMEOUT_MS }, fn);
}

let server;
let receiver;
const s = {};

function need(...keys) {
  for (const k of keys) {
    if (s[k] === undefined) throw new Error(`needs ${k} from an earlier step, which failed`);
  }
}

function api(ApiClass, key = s.account.apiKey) {
  return server.api(ApiClass, key);
}

function templateEvent(templateId) {
  return receiver.waitForEvent(
    s.callback,
    (j) => j.template && j.template.template_id === templateId && /^template_(created|error)$/.test(j.event.event_type),
    { what: `a template callback for ${templateId}` },
  );
}

function roleSigners() {
  return [
    { role: "Tenant", name: "Tess Tenant", emailAddress: uniqueEmail("tenant") },
    { role: "Landlord", name: "Lars Landlord", emailAddress: uniqueEmail("landlord") },
  ];
}

before(async () => {
  server = await startServer({ name: "templates" });
  receiver = await startCallbackReceiver();
  s.account = await server.createAccount();
  s.other = await server.createAccount();
  s.callback = receiver.endpoint(s.account.apiKey, { label: "templates" });
  await api(AccountApi).accountUpdate({ callbackUrl: s.callback.url });
});

after(async () => {
  if (receiver) await receiver.stop();
  if (server) await server.stop();
});

test("1. templateCreate answers at once; template_created follows and passes EventCallbackHelper", async () => {
  const res = await api(TemplateApi).templateCreate({
    files: [fs.createReadStream(PDF_PATH)],
    title: "Lease",
    subject: "Your lease",
    message: "Please sign",
    signerRoles: [
      { name: "Landlord", order: 0 },
      { name: "Tenant", order: 1 },
    ],
    ccRoles: ["Agent"],
    mergeFields: [{ name: "Rent", type: "text" }],
    formFieldsPerDocument: [
      {
        documentIndex: 0, apiId: "rent", name: "Rent", type: "text-merge", signer: "sender",
        x: 300, y: 700, width: 150, height: 18, required: true, page: 1,
      },
    ],
    testMode: true,
  });
  assert.equal(res.response.status, 200);
  assertConforms(res.response.data, "TemplateCreateResponse", "templateCreate");
  const templateId = res.body.template.templateId;
  assert.match(templateId, TEMPLATE_ID_RE);

  const event = receiver.checkWithSdk(await templateEvent(templateId));
  assert.equal(event.event.eventType, "template_created");
  assert.equal(event.template.templateId, templateId);
  s.templateId = templateId;
});

test("2. templateGet and templateList show the roles, merge fields and placed fields in the SDK's models", async () => {
  need("templateId");
  const got = await api(TemplateApi).templateGet(s.templateId);
  assertConforms(got.response.data, "TemplateGetResponse", "templateGet");
  const t = got.body.template;
  assert.equal(t.title, "Lease");
  assert.deepEqual(t.signerRoles.map((r) => [r.name, r.order]), [["Landlord", 0], ["Tenant", 1]]);
  assert.deepEqual(t.ccRoles.map((r) => r.name), ["Agent"]);
  assert.equal(t.isCreator, true);
  assert.equal(t.canEdit, true);
  const doc = t.documents[0];
  assert.equal(doc.formFields.length, 5, JSON.stringify(got.response.data.template.documents[0].form_fields));
  assert.deepEqual(doc.customFields.map((f) => [f.name, f.type]), [["Rent", "text"]]);

  const listed = await api(TemplateApi).templateList(undefined, 1, 10);
  assertConforms(listed.response.data, "TemplateListResponse", "templateList");
  assert.deepEqual(listed.body.templates.map((x) => x.templateId), [s.templateId]);
  assert.equal(listed.body.listInfo.numResults, 1);
});

test("3. templateFiles, templateFilesAsDataUri and templateFilesAsFileUrl give back the original PDF", async () => {
  need("templateId");
  const original = fs.readFileSync(PDF_PATH);
  const file = await api(TemplateApi).templateFiles(s.templateId, "pdf");
  assert.ok(Buffer.from(file.body).equals(original));
  const dataUri = await api(TemplateApi).templateFilesAsDataUri(s.templateId);
  assertConforms(dataUri.response.data, "FileResponseDataUri", "templateFilesAsDataUri");
  assert.ok(Buffer.from(dataUri.body.dataUri.split(",")[1], "base64").equals(original));
  const link = await api(TemplateApi).templateFilesAsFileUrl(s.templateId);
  assertConforms(link.response.data, "FileResponse", "templateFilesAsFileUrl");
  const fetched = await fetch(link.body.fileUrl, { signal: AbortSignal.timeout(15_000) });
  assert.equal(fetched.status, 200);
  assert.ok(Buffer.from(await fetched.arrayBuffer()).equals(original));
});

test("4. signatureRequestSendWithTemplate by role with the merge value → signature_request_sent", async () => {
  need("templateId");
  const res = await api(SignatureRequestApi).signatureRequestSendWithTemplate({
    templateIds: [s.templateId],
    signers: roleSigners(),
    ccs: [{ role: "Agent", emailAddress: uniqueEmail("agent") }],
    customFields: [{ name: "Rent", value: "1 200 EUR" }],
    testMode: true,
  });
  assertConforms(res.response.data, "SignatureRequestGetResponse", "signatureRequestSendWithTemplate");
  const sr = res.body.signatureRequest;
  assert.deepEqual(sr.templateIds, [s.templateId]);
  assert.deepEqual(sr.signatures.map((x) => x.signerRole), ["Landlord", "Tenant"]);
  assert.deepEqual(sr.signatures.map((x) => x.signerName), ["Lars Landlord", "Tess Tenant"]);
  assert.equal(sr.title, "Lease");
  receiver.checkWithSdk(await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", sr.signatureRequestId));
});

test("4b. templateUpdateFiles makes a copy on the new file, with the fields where they were; template_created follows", async () => {
  need("templateId");
  const res = await api(TemplateApi).templateUpdateFiles(s.templateId, {
    files: [{ value: fs.readFileSync(PDF_PATH), options: { filename: "lease-v2.pdf", contentType: "application/pdf" } }],
    subject: "Your lease, version 2",
  });
  assertConforms(res.response.data, "TemplateUpdateFilesResponse", "templateUpdateFiles");
  const copyId = res.body.template.templateId;
  assert.match(copyId, TEMPLATE_ID_RE);
  assert.notEqual(copyId, s.templateId);
  const event = receiver.checkWithSdk(await templateEvent(copyId));
  assert.equal(event.event.eventType, "template_created");
  const [original, copy] = await Promise.all([api(TemplateApi).templateGet(s.templateId), api(TemplateApi).templateGet(copyId)]);
  assert.equal(copy.body.template.documents[0].name, "lease-v2.pdf");
  assert.deepEqual(
    copy.body.template.documents[0].formFields.map((f) => [f.apiId, f.signer, f.x, f.y]),
    original.body.template.documents[0].formFields.map((f) => [f.apiId, f.signer, f.x, f.y]),
  );
  await api(TemplateApi).templateDelete(copyId);
});

test("5. sending wrongly is refused: a role left empty, an unknown role, a missing merge value, another account's template", async () => {
  need("templateId");
  const send = (extra, key) =>
    api(SignatureRequestApi, key).signatureRequestSendWithTemplate({ templateIds: [s.templateId], testMode: true, ...extra });
  const ccs = [{ role: "Agent", emailAddress: uniqueEmail("agent") }];
  const rent = [{ name: "Rent", value: "1" }];
  let err = await expectHttpError(send({ signers: roleSigners().slice(0, 1), ccs, customFields: rent }), 400, { errorName: "bad_request" });
  assert.match(err.body.error.errorMsg, /Landlord/);
  const stranger = { role: "Janitor", name: "J", emailAddress: uniqueEmail("j") };
  err = await expectHttpError(send({ signers: [...roleSigners(), stranger], ccs, customFields: rent }), 400, { errorName: "bad_request" });
  assert.match(err.body.error.errorMsg, /Janitor/);
  err = await expectHttpError(send({ signers: roleSigners(), ccs }), 400, { errorName: "bad_request" });
  assert.match(err.body.error.errorMsg, /Rent/);
  await expectHttpError(send({ signers: roleSigners(), ccs, customFields: rent }, s.other.apiKey), 404, {
    errorName: "not_found",
    errorPath: "template_ids[0]",
  });
});

test("6. templateAddUser shares with another account; templateRemoveUser takes it back", async () => {
  need("templateId");
  await expectHttpError(api(TemplateApi, s.other.apiKey).templateGet(s.templateId), 404, { errorName: "not_found" });
  const added = await api(TemplateApi).templateAddUser(s.templateId, { accountId: s.other.accountId });
  assertConforms(added.response.data, "TemplateGetResponse", "templateAddUser");
  assert.deepEqual(added.body.template.accounts.map((a) => a.accountId).sort(), [s.account.accountId, s.other.accountId].sort());
  const seen = await api(TemplateApi, s.other.apiKey).templateGet(s.templateId);
  assert.equal(seen.body.template.isCreator, false);
  assert.equal(seen.body.template.canEdit, false);
  const removed = await api(TemplateApi).templateRemoveUser(s.templateId, { accountId: s.other.accountId });
  assertConforms(removed.response.data, "TemplateGetResponse", "templateRemoveUser");
  await expectHttpError(api(TemplateApi, s.other.apiKey).templateGet(s.templateId), 404, { errorName: "not_found" });
});

test("6b. embeddedEditUrl is for templates made with templateCreateEmbeddedDraft: 400 for this one", async () => {
  need("templateId");
  const err = await expectHttpError(api(EmbeddedApi).embeddedEditUrl(s.templateId, {}), 400, { errorName: "bad_request" });
  assert.match(err.body.error.errorMsg, /create_embedded_draft/);
});

test("7. templateDelete: the template is gone (404) and no longer listed", async () => {
  need("templateId");
  const res = await api(TemplateApi).templateDelete(s.templateId);
  assert.equal(res.response.status, 200);
  await expectHttpError(api(TemplateApi).templateGet(s.templateId), 404, { errorName: "not_found" });
  const listed = await api(TemplateApi).templateList();
  assert.equal(listed.body.listInfo.numResults, 0);
});

test("8. every callback received passes the SDK's checks", () => {
  assert.ok(receiver.checkAllWithSdk() >= 2);
});
