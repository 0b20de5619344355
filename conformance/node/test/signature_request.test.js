"use strict";
// The core scenario, through @dropbox/sign exactly as a new user would write it: an API app and an account
// callback URL, an embedded request from an uploaded PDF with text tags, reading it back, an embedded sign
// URL, downloads, a request sent from file_urls with remind and update, cancel, and the error format.
//
// Steps share one account and run in order; a step whose prerequisite failed fails with "needs ...".

const { test: nodeTest, before, after } = require("node:test");
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const {
  AccountApi,
  ApiAppApi,
  EmbeddedApi,
  ErrorResponse,
  EventCallbackHelper,
  EventCallbackRequest,
  SignatureRequestApi,
} = require("@dropbox/sign");

const {
  FIXTURES,
  CLIENT_ID_RE,
  startServer,
  startCallbackReceiver,
  startFileServer,
  uniqueEmail,
  expectHttpError,
  assertConforms,
} = require("../lib/harness");

const PDF_PATH = path.join(FIXTURES, "simple-two-signers.pdf"); // tags for signer1 and signer2
const REQUEST_ID_RE = /^[0-9a-f]{40}$/;
const SIGNATURE_ID_RE = /^[0-9a-f]{32}$/;

const STEP_TIMEOUT_MS = 60_000; // a backstop for a hung SDK call (axios has no timeout by default)

/** node:test's `test` with a per-step timeout. */
function test(name, fn) {
  return nodeTest(name, { timeout: STEP_TIMEOUT_MS }, fn);
}

let server;
let receiver;
let fileServer;
const s = {}; // state shared by the steps

function need(...keys) {
  for (const k of keys) {
    if (s[k] === undefined) throw new Error(`needs ${k} from an earlier step, which failed`);
  }
}

function api(ApiClass) {
  return server.api(ApiClass, s.account.apiKey);
}

function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

before(async () => {
  server = await startServer();
  receiver = await startCallbackReceiver();
  fileServer = await startFileServer({
    "/docs/simple-two-signers.pdf": { body: fs.readFileSync(PDF_PATH), contentType: "application/pdf" },
  });
  s.account = await server.createAccount();
});

after(async () => {
  if (fileServer) await fileServer.stop();
  if (receiver) await receiver.stop();
  if (server) await server.stop();
});

test("1. apiAppCreate returns a client_id; accountUpdate sets the account callback URL", async () => {
  s.appCallback = receiver.endpoint(s.account.apiKey, { label: "app" });
  const created = await api(ApiAppApi).apiAppCreate({
    name: "Node conformance app",
    domains: ["example.com"],
    callbackUrl: s.appCallback.url,
  });
  assert.equal(created.response.status, 201);
  assertConforms(created.response.data, "ApiAppGetResponse", "apiAppCreate");
  const app = created.body.apiApp;
  assert.match(app.clientId, CLIENT_ID_RE);
  assert.equal(app.name, "Node conformance app");
  assert.deepEqual(app.domains, ["example.com"]);
  assert.equal(app.callbackUrl, s.appCallback.url);
  assert.equal(app.ownerAccount.accountId, s.account.accountId);
  s.appCallback.clientId = app.clientId;

  const accountCallback = receiver.endpoint(s.account.apiKey, { label: "account" });
  const updated = await api(AccountApi).accountUpdate({ callbackUrl: accountCallback.url });
  assert.equal(updated.response.status, 200);
  assertConforms(updated.response.data, "AccountGetResponse", "accountUpdate");
  assert.equal(updated.body.account.accountId, s.account.accountId);
  assert.equal(updated.body.account.emailAddress, s.account.emailAddress);
  assert.equal(updated.body.account.callbackUrl, accountCallback.url);

  const got = await api(AccountApi).accountGet();
  assert.equal(got.body.account.callbackUrl, accountCallback.url);

  s.clientId = app.clientId;
  s.accountCallback = accountCallback;
});

test("2. signatureRequestCreateEmbedded with an uploaded PDF (fs.createReadStream) → 200, then signature_request_sent", async () => {
  need("clientId", "accountCallback");
  const tag = crypto.randomBytes(5).toString("hex");
  const title = `NodeConf ${tag}`;
  const signers = [
    { name: "Signer One", emailAddress: uniqueEmail("one"), order: 0 },
    { name: "Signer Two", emailAddress: uniqueEmail("two"), order: 1 },
  ];
  const metadata = { customer_id: `cust-${tag}`, n: 7 };
  const res = await api(SignatureRequestApi).signatureRequestCreateEmbedded({
    clientId: s.clientId,
    files: [fs.createReadStream(PDF_PATH)],
    signers,
    title,
    subject: "Please sign",
    message: "Node conformance",
    metadata,
    useTextTags: true,
    testMode: true,
  });
  assert.equal(res.response.status, 200);
  assertConforms(res.response.data, "SignatureRequestGetResponse", "signatureRequestCreateEmbedded");
  const sr = res.body.signatureRequest;
  assert.match(sr.signatureRequestId, REQUEST_ID_RE);
  assert.equal(sr.title, title);
  assert.equal(sr.subject, "Please sign");
  assert.equal(sr.message, "Node conformance");
  assert.deepEqual(sr.metadata, metadata);
  assert.equal(sr.testMode, true);
  assert.equal(sr.isComplete, false);
  assert.equal(sr.isDeclined, false);
  assert.equal(sr.hasError, false);
  assert.equal(sr.requesterEmailAddress, s.account.emailAddress);
  assert.equal(sr.signatures.length, 2);
  sr.signatures.forEach((sig, i) => {
    assert.match(sig.signatureId, SIGNATURE_ID_RE);
    assert.equal(sig.signerEmailAddress, signers[i].emailAddress);
    assert.equal(sig.signerName, signers[i].name);
    assert.equal(sig.order, i);
    assert.equal(sig.statusCode, "awaiting_signature");
  });

  const sent = await receiver.waitForSignatureRequestEvent(s.accountCallback, "signature_request_sent", sr.signatureRequestId);
  const event = receiver.checkWithSdk(sent);
  assert.ok(event instanceof EventCallbackRequest);
  assert.equal(event.event.eventType, "signature_request_sent");
  assert.equal(EventCallbackHelper.isValid(s.account.apiKey, event), true);
  assert.equal(EventCallbackHelper.isValid("0".repeat(64), event), false, "isValid must fail with another key");
  assert.equal(EventCallbackHelper.getCallbackType(event), EventCallbackHelper.EVENT_TYPE_ACCOUNT_CALLBACK);
  assert.equal(event.signatureRequest.signatureRequestId, sr.signatureRequestId);
  assert.deepEqual(event.signatureRequest.metadata, metadata);
  assert.deepEqual(
    event.signatureRequest.signatures.map((x) => x.signatureId),
    sr.signatures.map((x) => x.signatureId),
  );

  // The request was made with the app's client_id, so the app's callback URL gets it too.
  const appSent = await receiver.waitForSignatureRequestEvent(s.appCallback, "signature_request_sent", sr.signatureRequestId);
  const appEvent = receiver.checkWithSdk(appSent);
  assert.equal(EventCallbackHelper.getCallbackType(appEvent), EventCallbackHelper.EVENT_TYPE_APP_CALLBACK);
  assert.equal(appEvent.event.eventMetadata.reportedForAppId, s.clientId);

  s.embedded = { sr, title, tag, signers, metadata };
});

test("2b. signatureRequestCreateEmbedded with a RequestDetailedFile (Buffer + filename + contentType)", async () => {
  need("clientId", "accountCallback");
  const res = await api(SignatureRequestApi).signatureRequestCreateEmbedded({
    clientId: s.clientId,
    files: [{ value: fs.readFileSync(PDF_PATH), options: { filename: "contract.pdf", contentType: "application/pdf" } }],
    signers: [
      { name: "B One", emailAddress: uniqueEmail("b1"), order: 0 },
      { name: "B Two", emailAddress: uniqueEmail("b2"), order: 1 },
    ],
    useTextTags: true,
    testMode: true,
  });
  assert.equal(res.response.status, 200);
  assertConforms(res.response.data, "SignatureRequestGetResponse", "signatureRequestCreateEmbedded (Buffer)");
  const sr = res.body.signatureRequest;
  assert.match(sr.signatureRequestId, REQUEST_ID_RE);
  assert.deepEqual(sr.signatures.map((x) => x.statusCode), ["awaiting_signature", "awaiting_signature"]);
  await receiver.waitForSignatureRequestEvent(s.accountCallback, "signature_request_sent", sr.signatureRequestId);
});

test("3. signatureRequestGet matches the created request; signatureRequestList has list_info", async () => {
  need("embedded");
  const { sr, title, tag, metadata } = s.embedded;
  const srApi = api(SignatureRequestApi);
  const got = await srApi.signatureRequestGet(sr.signatureRequestId);
  assert.equal(got.response.status, 200);
  assertConforms(got.response.data, "SignatureRequestGetResponse", "signatureRequestGet");
  const g = got.body.signatureRequest;
  assert.equal(g.signatureRequestId, sr.signatureRequestId);
  assert.equal(g.title, title);
  assert.deepEqual(g.metadata, metadata);
  assert.equal(g.testMode, true);
  assert.equal(g.createdAt, sr.createdAt);
  assert.deepEqual(
    g.signatures.map((x) => [x.signatureId, x.signerEmailAddress, x.statusCode]),
    sr.signatures.map((x) => [x.signatureId, x.signerEmailAddress, "awaiting_signature"]),
  );

  const listed = await srApi.signatureRequestList(undefined, 1, 5, tag);
  assert.equal(listed.response.status, 200);
  assertConforms(listed.response.data, "SignatureRequestListResponse", "signatureRequestList");
  const info = listed.body.listInfo;
  assert.ok(info, "listInfo missing");
  assert.equal(info.page, 1);
  assert.equal(info.pageSize, 5);
  assert.equal(info.numResults, 1, `query ${tag} should match exactly the request titled ${title}`);
  assert.equal(info.numPages, 1);
  assert.deepEqual(listed.body.signatureRequests.map((x) => x.signatureRequestId), [sr.signatureRequestId]);

  const all = await srApi.signatureRequestList(undefined, 1, 1);
  assert.equal(all.body.listInfo.pageSize, 1);
  assert.equal(all.body.signatureRequests.length, 1);
  assert.ok(all.body.listInfo.numResults >= 2, `numResults ${all.body.listInfo.numResults}`);
  assert.equal(all.body.listInfo.numPages, all.body.listInfo.numResults);
});

test("3b. signatureRequestList query with a field (title:...), as the Dropbox Sign search guide documents", async () => {
  need("embedded");
  const { sr, title } = s.embedded;
  // https://developers.hellosign.com/api/reference/search/ — e.g. query=title:Field Trip Release AND from:me
  const listed = await api(SignatureRequestApi).signatureRequestList(undefined, 1, 20, `title:${title.split(" ")[1]}`);
  assertConforms(listed.response.data, "SignatureRequestListResponse", "signatureRequestList");
  assert.deepEqual(
    listed.body.signatureRequests.map((x) => x.signatureRequestId),
    [sr.signatureRequestId],
    `query "title:${title.split(" ")[1]}" found ${listed.body.listInfo.numResults} request(s); raw: ${JSON.stringify(listed.response.data.list_info)}`,
  );
});

test("4. embeddedSignUrl → sign_url containing embeddedSign, expiring in the future, that answers 200", async () => {
  need("embedded");
  const signatureId = s.embedded.sr.signatures[0].signatureId;
  const res = await api(EmbeddedApi).embeddedSignUrl(signatureId);
  assert.equal(res.response.status, 200);
  assertConforms(res.response.data, "EmbeddedSignUrlResponse", "embeddedSignUrl");
  const { signUrl, expiresAt } = res.body.embedded;
  assert.equal(typeof signUrl, "string");
  assert.ok(signUrl.includes("embeddedSign"), `sign_url ${signUrl} lacks embeddedSign`);
  assert.ok(new URL(signUrl).searchParams.get("signature_id") === signatureId, signUrl);
  assert.equal(typeof expiresAt, "number");
  assert.ok(expiresAt > nowSeconds(), `expires_at ${expiresAt} is not in the future`);
  const page = await fetch(signUrl, { signal: AbortSignal.timeout(15_000) });
  assert.equal(page.status, 200, `GET ${signUrl} → ${page.status}`);
  assert.match(page.headers.get("content-type") || "", /text\/html/);
  await page.arrayBuffer();
});

test("5. signatureRequestFiles (pdf, zip), signatureRequestFilesAsDataUri, signatureRequestFilesAsFileUrl", async () => {
  need("embedded");
  const id = s.embedded.sr.signatureRequestId;
  const srApi = api(SignatureRequestApi);

  const pdf = await srApi.signatureRequestFiles(id, "pdf");
  assert.equal(pdf.response.status, 200);
  assert.ok(Buffer.isBuffer(pdf.body), `body is ${typeof pdf.body}`);
  assert.equal(pdf.body.subarray(0, 5).toString("latin1"), "%PDF-");
  assert.match(pdf.response.headers["content-type"], /^application\/pdf/);

  const zip = await srApi.signatureRequestFiles(id, "zip");
  assert.equal(zip.response.status, 200);
  assert.ok(Buffer.isBuffer(zip.body));
  assert.equal(zip.body.subarray(0, 4).toString("latin1"), "PK\x03\x04");

  const dataUri = await srApi.signatureRequestFilesAsDataUri(id);
  assert.equal(dataUri.response.status, 200);
  assertConforms(dataUri.response.data, "FileResponseDataUri", "signatureRequestFilesAsDataUri");
  const prefix = "data:application/pdf;base64,";
  assert.ok(dataUri.body.dataUri.startsWith(prefix), dataUri.body.dataUri.slice(0, 60));
  const decoded = Buffer.from(dataUri.body.dataUri.slice(prefix.length), "base64");
  assert.equal(decoded.subarray(0, 5).toString("latin1"), "%PDF-");
  assert.ok(decoded.equals(pdf.body), "data URI and files?file_type=pdf differ");

  const fileUrl = await srApi.signatureRequestFilesAsFileUrl(id);
  assert.equal(fileUrl.response.status, 200);
  assertConforms(fileUrl.response.data, "FileResponse", "signatureRequestFilesAsFileUrl");
  assert.ok(fileUrl.body.expiresAt > nowSeconds(), `expires_at ${fileUrl.body.expiresAt}`);
  const download = await fetch(fileUrl.body.fileUrl, { signal: AbortSignal.timeout(15_000) });
  assert.equal(download.status, 200, `GET ${fileUrl.body.fileUrl} → ${download.status}`);
  const bytes = Buffer.from(await download.arrayBuffer());
  assert.ok(bytes.equals(pdf.body), "file_url content differs from files?file_type=pdf");
});

test("6. signatureRequestSend with fileUrls → signature_request_sent", async () => {
  need("accountCallback");
  const url = fileServer.url("/docs/simple-two-signers.pdf");
  const before = fileServer.requests.length;
  const expiresAt = nowSeconds() + 30 * 24 * 3600;
  const signers = [
    { name: "Sent One", emailAddress: uniqueEmail("s1"), order: 0 },
    { name: "Sent Two", emailAddress: uniqueEmail("s2"), order: 1 },
  ];
  const res = await api(SignatureRequestApi).signatureRequestSend({
    fileUrls: [url],
    signers,
    title: "Sent from file_urls",
    useTextTags: true,
    testMode: true,
    metadata: { via: "file_urls" },
    expiresAt,
  });
  assert.equal(res.response.status, 200);
  assertConforms(res.response.data, "SignatureRequestGetResponse", "signatureRequestSend");
  const sr = res.body.signatureRequest;
  assert.match(sr.signatureRequestId, REQUEST_ID_RE);
  assert.deepEqual(sr.signatures.map((x) => x.signerEmailAddress), signers.map((x) => x.emailAddress));
  assert.deepEqual(sr.signatures.map((x) => x.statusCode), ["awaiting_signature", "awaiting_signature"]);
  // Dropbox Sign rounds expires_at down to the hour (developers.hellosign.com/docs/signature-request/expiration).
  assert.equal(sr.expiresAt, Math.floor(expiresAt / 3600) * 3600);
  assert.deepEqual(sr.metadata, { via: "file_urls" });

  const sent = await receiver.waitForSignatureRequestEvent(s.accountCallback, "signature_request_sent", sr.signatureRequestId);
  receiver.checkWithSdk(sent);
  const fetched = fileServer.requests.slice(before).filter((r) => r.path === "/docs/simple-two-signers.pdf" && r.method === "GET");
  assert.ok(fetched.length >= 1, `the server never fetched ${url}`);
  s.sent = { sr, signers };
});

test("6b. signatureRequestRemind on the sent request", async () => {
  need("sent");
  const { sr, signers } = s.sent;
  const res = await api(SignatureRequestApi).signatureRequestRemind(sr.signatureRequestId, {
    emailAddress: signers[0].emailAddress,
  });
  assert.equal(res.response.status, 200);
  assertConforms(res.response.data, "SignatureRequestGetResponse", "signatureRequestRemind");
  assert.equal(res.body.signatureRequest.signatureRequestId, sr.signatureRequestId);
  const reminded = res.body.signatureRequest.signatures.find((x) => x.signerEmailAddress === signers[0].emailAddress);
  assert.equal(typeof reminded.lastRemindedAt, "number", "last_reminded_at of the reminded signer");
  assert.ok(Math.abs(reminded.lastRemindedAt - nowSeconds()) < 120, `last_reminded_at ${reminded.lastRemindedAt}`);

  const remindEvent = await receiver.waitForSignatureRequestEvent(s.accountCallback, "signature_request_remind", sr.signatureRequestId);
  const event = receiver.checkWithSdk(remindEvent);
  assert.equal(event.event.eventMetadata.relatedSignatureId, reminded.signatureId);
});

test("6c. signatureRequestUpdate with a new email address returns a new signature_id", async () => {
  need("sent");
  const { sr } = s.sent;
  const old = sr.signatures[0];
  const newEmail = uniqueEmail("updated");
  const res = await api(SignatureRequestApi).signatureRequestUpdate(sr.signatureRequestId, {
    signatureId: old.signatureId,
    emailAddress: newEmail,
  });
  assert.equal(res.response.status, 200);
  assertConforms(res.response.data, "SignatureRequestGetResponse", "signatureRequestUpdate");
  const sigs = res.body.signatureRequest.signatures;
  const updated = sigs.find((x) => x.signerEmailAddress === newEmail);
  assert.ok(updated, `no signature for ${newEmail}: ${JSON.stringify(res.response.data)}`);
  assert.match(updated.signatureId, SIGNATURE_ID_RE);
  assert.notEqual(updated.signatureId, old.signatureId, "changing the email must generate a new signature_id");
  assert.equal(updated.signerName, old.signerName);
  assert.ok(!sigs.some((x) => x.signatureId === old.signatureId), "the old signature_id is still listed");
  assert.ok(sigs.some((x) => x.signatureId === sr.signatures[1].signatureId), "the other signer's signature_id changed");

  const got = await api(SignatureRequestApi).signatureRequestGet(sr.signatureRequestId);
  assert.equal(got.body.signatureRequest.signatures.find((x) => x.signatureId === updated.signatureId).signerEmailAddress, newEmail);
});

test("6d. signatureRequestRemind on an embedded request → HTTP 400 (reminders are not allowed for embedded requests)", async () => {
  need("embedded");
  await expectHttpError(
    api(SignatureRequestApi).signatureRequestRemind(s.embedded.sr.signatureRequestId, {
      emailAddress: s.embedded.signers[0].emailAddress,
    }),
    400,
  );
});

test("7. signatureRequestCancel → signature_request_canceled; a later signatureRequestGet is HTTP 410", async () => {
  need("embedded", "accountCallback");
  const id = s.embedded.sr.signatureRequestId;
  const srApi = api(SignatureRequestApi);
  const res = await srApi.signatureRequestCancel(id);
  assert.equal(res.response.status, 200);

  const canceled = await receiver.waitForSignatureRequestEvent(s.accountCallback, "signature_request_canceled", id);
  const event = receiver.checkWithSdk(canceled);
  assert.equal(event.event.eventType, "signature_request_canceled");
  await receiver.waitForSignatureRequestEvent(s.appCallback, "signature_request_canceled", id);

  const err = await expectHttpError(srApi.signatureRequestGet(id), 410);
  assert.ok(err.body instanceof ErrorResponse);
  assert.equal(err.body.error.errorName, "deleted");
});

test("8. createEmbedded without clientId → HTTP 400 with a parsed ErrorResponse", async () => {
  const err = await expectHttpError(
    api(SignatureRequestApi).signatureRequestCreateEmbedded({
      files: [fs.createReadStream(PDF_PATH)],
      signers: [{ name: "No App", emailAddress: uniqueEmail("noapp") }],
      testMode: true,
    }),
    400,
    { errorPath: "client_id" },
  );
  const raw = err.response.data;
  assert.deepEqual(Object.keys(raw), ["error"]);
  assert.deepEqual(Object.keys(raw.error).sort(), ["error_msg", "error_name", "error_path"]);
  assert.equal(err.body.error.errorName, "bad_request");
  assert.match(err.body.error.errorMsg, /client_id/);
});

test("8b. a wrong API key → HTTP 401 with a parsed ErrorResponse", async () => {
  const wrong = server.api(SignatureRequestApi, "f".repeat(64));
  await expectHttpError(wrong.signatureRequestList(), 401, { errorName: "unauthorized" });
});

test("8c. an unknown signature_request_id → HTTP 404 with a parsed ErrorResponse", async () => {
  await expectHttpError(api(SignatureRequestApi).signatureRequestGet("0".repeat(40)), 404, { errorName: "not_found" });
});

test("9. every callback received is accepted by the SDK (EventCallbackRequest, isValid, getCallbackType)", async () => {
  // Every step above already waited for the callbacks it asserts on; this re-checks all that arrived,
  // including those no step looked at (the app's copies, events that came in after a step ended).
  assert.ok(receiver.requests.length > 0, "no callback was received at all");
  const n = receiver.checkAllWithSdk();
  assert.equal(n, receiver.requests.length);
});
