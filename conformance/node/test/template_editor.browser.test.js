"use strict";
// Authoring a template, and preparing an unclaimed draft, in a real browser as a new user would: templateCreateEmbeddedDraft with the official
// SDK, the edit_url opened by the unmodified hellosign-embedded library on the app's page (Debian's
// Chromium, driven by playwright-core), fields dragged from the palette onto the pages and given to signer
// roles by their visible labels, saved — then createTemplate and finish reach the app, template_created
// reaches the callback URL, and a request sent from the template with the SDK is signed in the signer page
// and sealed.
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium); SIGNING_SCREENSHOTS=DIR keeps screenshots.

const { test: nodeTest, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");

const { AccountApi, ApiAppApi, EmbeddedApi, SignatureRequestApi, TemplateApi, UnclaimedDraftApi } = require("@dropbox/sign");
const { chromium } = require("playwright-core");

const { startServer, startCallbackReceiver, uniqueEmail } = require("../lib/harness");
const { CHROMIUM, UI_TIMEOUT_MS, startHost, newPage, waitHostEvent, screenshot } = require("../lib/browser");

const STEP_TIMEOUT_MS = 120_000;

function test(name, fn) {
  return nodeTest(name, { timeout: STEP_TIMEOUT_MS }, fn);
}

let server;
let receiver;
let host;
let browser;
const s = {};

/**
 * A PDF of `pages` US-letter pages with a line of text on each and no text tags (what a user authors a
 * template from in the editor), written object by object with its cross-reference table.
 */
function plainPdf(pages) {
  const objects = ["<< /Type /Catalog /Pages 2 0 R >>", null, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"];
  const kids = [];
  for (let i = 1; i <= pages; i++) {
    const text = `BT /F1 14 Tf 72 720 Td (Equipment loan agreement - page ${i} of ${pages}) Tj ET`;
    objects.push(`<< /Length ${text.length} >>\nstream\n${text}\nendstream`);
    const content = objects.length;
    objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${content} 0 R >>`);
    kids.push(`${objects.length} 0 R`);
  }
  objects[1] = `<< /Type /Pages /Kids [${kids.join(" ")}] /Count ${pages} >>`;
  let out = "%PDF-1.4\n";
  const offsets = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out);
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) out += `${String(offset).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

function api(ApiClass) {
  return server.api(ApiClass, s.account.apiKey);
}

/** Drags the palette item `label` onto the page image `pageIndex` (0-based) at fractions (fx, fy) of it. */
async function dragOnto(page, frame, label, pageIndex, fx, fy) {
  const item = frame.getByRole("button", { name: label, exact: true });
  const target = frame.locator("section.page").nth(pageIndex);
  await target.scrollIntoViewIfNeeded();
  const from = await item.boundingBox();
  const to = await target.boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  const x = to.x + to.width * fx;
  const y = to.y + to.height * fy;
  for (let i = 1; i <= 8; i++) {
    await page.mouse.move(from.x + ((x - from.x) * i) / 8, from.y + ((y - from.y) * i) / 8);
  }
  await page.mouse.up();
}

/** Opens a draft's claim_url with hellosign-embedded on the app's page once its documents are read. */
async function openRequesterPage(claimUrl, viewport = { width: 1366, height: 900 }) {
  const deadline = Date.now() + 30_000;
  while ((await fetch(claimUrl)).status === 409) {
    assert.ok(Date.now() < deadline, "the draft's documents were never read");
    await new Promise((r) => setTimeout(r, 100));
  }
  const page = await newPage(browser, s.hostOrigin, viewport);
  await page.evaluate(
    ([url, clientId, email]) => window.openEmbedded(url, clientId, { testMode: true, requestingEmail: email }),
    [claimUrl, s.clientId, s.account.emailAddress],
  );
  await waitHostEvent(page, "ready");
  const frame = page.frameLocator("iframe.x-hellosign-embedded__iframe");
  await frame.getByRole("button", { name: "Send request" }).waitFor({ timeout: UI_TIMEOUT_MS });
  return { page, frame };
}

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (apt-get install chromium)`);
  server = await startServer({ name: "editor" });
  receiver = await startCallbackReceiver();
  s.account = await server.createAccount();
  s.callback = receiver.endpoint(s.account.apiKey, { label: "account" });
  await api(AccountApi).accountUpdate({ callbackUrl: s.callback.url });
  const app = await api(ApiAppApi).apiAppCreate({ name: "Template builder", domains: ["localhost"] });
  s.clientId = app.body.apiApp.clientId;
  host = await startHost();
  s.hostOrigin = `http://localhost:${host.address().port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  if (browser) await browser.close();
  if (host) host.close();
  if (receiver) await receiver.stop();
  if (server) await server.stop();
});

test("a template is authored in the embedded editor by dragging fields, then sent with the SDK and signed", async () => {
  const draft = await api(TemplateApi).templateCreateEmbeddedDraft({
    clientId: s.clientId,
    files: [{ value: plainPdf(3), options: { filename: "equipment-loan.pdf", contentType: "application/pdf" } }],
    title: "Equipment loan",
    signerRoles: [{ name: "Borrower", order: 0 }, { name: "Lender", order: 1 }],
    mergeFields: [{ name: "Serial number", type: "text" }],
    testMode: true,
  });
  const { templateId, editUrl } = draft.body.template;
  assert.match(templateId, /^[0-9a-f]{40}$/);
  assert.ok(editUrl.includes("embeddedTemplate"), editUrl);

  // The documents are read in the background; the editor opens once they are.
  const deadline = Date.now() + 30_000;
  while ((await fetch(editUrl)).status === 409) {
    assert.ok(Date.now() < deadline, "the draft's documents were never read");
    await new Promise((r) => setTimeout(r, 100));
  }

  const page = await newPage(browser, s.hostOrigin, { width: 1366, height: 900 });
  await page.evaluate(([url, clientId]) => window.openEmbedded(url, clientId, { testMode: true }), [editUrl, s.clientId]);
  await waitHostEvent(page, "ready");
  const frame = page.frameLocator("iframe.x-hellosign-embedded__iframe");
  await frame.getByRole("button", { name: "Save template" }).waitFor({ timeout: UI_TIMEOUT_MS });
  await frame.locator("section.page img").first().evaluate((img) => img.decode());

  // Saving with nothing placed says what is missing.
  await frame.getByRole("button", { name: "Save template" }).click();
  await frame.getByText("Place at least one field for a signer role").waitFor({ timeout: UI_TIMEOUT_MS });

  // The borrower: a signature and a date on page 1, a text box on page 2.
  await frame.getByLabel("Signer role").selectOption({ label: "Borrower" });
  await dragOnto(page, frame, "Signature", 0, 0.3, 0.8);
  await dragOnto(page, frame, "Date signed", 0, 0.7, 0.8);
  await dragOnto(page, frame, "Text box", 1, 0.4, 0.3);
  await frame.getByLabel("Field name").fill("Borrower phone");
  // The lender: a signature on page 3, placed by choosing it and clicking the page.
  await frame.getByLabel("Signer role").selectOption({ label: "Lender" });
  await frame.getByRole("button", { name: "Signature", exact: true }).click();
  const third = frame.locator("section.page").nth(2);
  await third.scrollIntoViewIfNeeded();
  await third.click({ position: { x: 200, y: 300 } });
  // A merge field for the sender.
  await dragOnto(page, frame, "Merge text", 0, 0.5, 0.15);
  await frame.getByLabel("Field name").fill("Serial number");
  // A field put on the wrong role is moved to the right one in its panel.
  await dragOnto(page, frame, "Initials", 2, 0.8, 0.9);
  await frame.getByLabel("Assigned to").selectOption({ label: "Lender" });
  // The lender picks a return schedule: two radio buttons of one group, each named in its panel.
  await dragOnto(page, frame, "Radio button", 2, 0.2, 0.5);
  await frame.getByLabel("Field name").fill("Weekly");
  await dragOnto(page, frame, "Radio button", 2, 0.4, 0.5);
  await frame.getByLabel("Field name").fill("Monthly");
  assert.equal(await frame.getByLabel("Radio group").inputValue(), "Group 1", "the second button joins the first one's group");
  // A hyperlink the borrower reads, with its text and address in its panel.
  await frame.getByLabel("Signer role").selectOption({ label: "Borrower" });
  await dragOnto(page, frame, "Hyperlink", 1, 0.4, 0.6);
  await frame.getByLabel("Link text").fill("Loan terms");
  await frame.getByLabel("Link address").fill("https://example.com/loan-terms");
  await frame.getByText("9 fields placed").waitFor({ timeout: UI_TIMEOUT_MS });
  await screenshot(page, "template-editor");

  await frame.getByRole("button", { name: "Save template" }).click();
  const created = await waitHostEvent(page, "createTemplate");
  assert.equal(created.payload.templateId, templateId);
  assert.deepEqual(created.payload.signerRoles.map((r) => r.name), ["Borrower", "Lender"]);
  await waitHostEvent(page, "finish");
  await waitHostEvent(page, "close");

  const callback = await receiver.waitForEvent(
    s.callback,
    (j) => j.event.event_type === "template_created" && j.template && j.template.template_id === templateId,
    { what: "template_created" },
  );
  receiver.checkWithSdk(callback);
  const got = await api(TemplateApi).templateGet(templateId);
  const template = got.body.template;
  const placed = template.documents[0].formFields;
  assert.equal(placed.length, 8, JSON.stringify(placed));
  assert.deepEqual(placed.map((f) => f.signer).sort(), ["1", "1", "1", "1", "2", "2", "2", "2"]);
  // `page` is not in the SDK's model of a form field; the raw body has it.
  const raw = got.response.data.template.documents[0].form_fields;
  assert.ok(raw.some((f) => f.name === "Borrower phone" && f.page === 2), JSON.stringify(raw));
  assert.ok(raw.some((f) => f.type === "signature" && f.signer === "2" && f.page === 3), JSON.stringify(raw));
  assert.deepEqual(template.documents[0].customFields.map((f) => f.name), ["Serial number"]);

  // Sent from the template with the SDK, and signed by both roles in the signer page.
  const borrower = { role: "Borrower", name: "Bo Borrower", emailAddress: uniqueEmail("bo") };
  const lender = { role: "Lender", name: "Lee Lender", emailAddress: uniqueEmail("lee") };
  const sent = await api(SignatureRequestApi).signatureRequestCreateEmbeddedWithTemplate({
    clientId: s.clientId,
    templateIds: [templateId],
    signers: [lender, borrower],
    customFields: [{ name: "Serial number", value: "SN-4471" }],
    testMode: true,
  });
  const request = sent.body.signatureRequest;
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", request.signatureRequestId, { timeoutMs: 30_000 });
  for (const [index, who] of [[0, borrower], [1, lender]]) {
    const signUrl = (await api(EmbeddedApi).embeddedSignUrl(request.signatures[index].signatureId)).body.embedded.signUrl;
    const signer = await newPage(browser, s.hostOrigin);
    await signer.evaluate(([url, clientId]) => window.openEmbedded(url, clientId, { testMode: true }), [signUrl, s.clientId]);
    const signerFrame = signer.frameLocator("iframe.x-hellosign-embedded__iframe");
    await signerFrame.getByRole("button", { name: "I agree" }).waitFor({ timeout: UI_TIMEOUT_MS });
    await signerFrame.getByText("SN-4471").first().waitFor({ timeout: UI_TIMEOUT_MS });
    for (const button of await signerFrame.getByRole("button", { name: /^(Signature|Initials)/ }).all()) {
      await button.click();
      await signerFrame.getByRole("tab", { name: "Type" }).click();
      await signerFrame.getByLabel("Type your name").fill(who.name);
      await signerFrame.getByRole("button", { name: "Insert" }).click();
    }
    if (index === 0) {
      await signerFrame.getByRole("textbox", { name: /Borrower phone/ }).fill("+1 415 555 0199");
      assert.equal(await signerFrame.getByRole("link", { name: "Loan terms" }).getAttribute("href"), "https://example.com/loan-terms");
    } else {
      await signerFrame.getByRole("radio", { name: "Monthly" }).check();
    }
    await signerFrame.getByRole("button", { name: "I agree" }).click();
    await waitHostEvent(signer, "sign");
    await signer.close();
  }
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_downloadable", request.signatureRequestId, { timeoutMs: 30_000 });
  const final = (await api(SignatureRequestApi).signatureRequestGet(request.signatureRequestId)).body.signatureRequest;
  const values = Object.fromEntries(final.responseData.map((d) => [d.apiId, d.value]));
  assert.ok(Object.values(values).includes("+1 415 555 0199"), JSON.stringify(final.responseData));
  const chosen = final.responseData.filter((d) => d.type === "radio").map((d) => [d.name, d.value]);
  assert.deepEqual(chosen.sort(), [["Monthly", true], ["Weekly", false]], JSON.stringify(final.responseData));
  for (const entry of receiver.received(s.callback.path)) receiver.checkWithSdk(entry);
});

test("an unclaimed draft is prepared on the requester page in the iFrame and sent", async () => {
  const signers = [
    { name: "Ivy Investor", emailAddress: uniqueEmail("ivy") },
    { name: "Oren Owner", emailAddress: uniqueEmail("oren") },
  ];
  const res = await api(UnclaimedDraftApi).unclaimedDraftCreateEmbedded({
    clientId: s.clientId,
    requesterEmailAddress: s.account.emailAddress,
    files: [{ value: plainPdf(2), options: { filename: "term-sheet.pdf", contentType: "application/pdf" } }],
    signers,
    subject: "Term sheet",
    isForEmbeddedSigning: true,
    testMode: true,
  });
  const claimUrl = res.body.unclaimedDraft.claimUrl;
  assert.ok(!res.body.unclaimedDraft.signatureRequestId, "no request until the draft is claimed");
  const { page, frame } = await openRequesterPage(claimUrl);
  await frame.getByLabel("Signer", { exact: true }).selectOption({ label: `Ivy Investor <${signers[0].emailAddress}>` });
  await dragOnto(page, frame, "Signature", 0, 0.3, 0.7);
  await frame.getByLabel("Signer", { exact: true }).selectOption({ label: `Oren Owner <${signers[1].emailAddress}>` });
  await dragOnto(page, frame, "Signature", 1, 0.3, 0.7);
  await dragOnto(page, frame, "Date signed", 1, 0.7, 0.7);
  await frame.getByText("3 fields placed").waitFor({ timeout: UI_TIMEOUT_MS });
  await screenshot(page, "requester-page");
  await frame.getByRole("button", { name: "Send request" }).click();

  const sent = await waitHostEvent(page, "send");
  const id = sent.payload.signatureRequestId;
  assert.match(id, /^[0-9a-f]{40}$/);
  await waitHostEvent(page, "finish");
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", id, { timeoutMs: 30_000 });
  const request = (await api(SignatureRequestApi).signatureRequestGet(id)).body.signatureRequest;
  assert.equal(request.title, "Term sheet");
  assert.deepEqual(request.signatures.map((x) => x.signerEmailAddress), signers.map((x) => x.emailAddress));
  const signUrl = (await api(EmbeddedApi).embeddedSignUrl(request.signatures[1].signatureId)).body.embedded.signUrl;
  assert.ok(signUrl.includes("embeddedSign"), "signed in the app: is_for_embedded_signing");
});

test("the requester adds the signers on the requester page of a draft made without them", async () => {
  // The SDKs' own example of unclaimedDraftCreateEmbedded: no signers; the requester names them.
  const res = await api(UnclaimedDraftApi).unclaimedDraftCreateEmbedded({
    clientId: s.clientId,
    requesterEmailAddress: s.account.emailAddress,
    files: [{ value: plainPdf(1), options: { filename: "lease.pdf", contentType: "application/pdf" } }],
    testMode: true,
  });
  const claimUrl = res.body.unclaimedDraft.claimUrl;
  const people = [
    { name: "Tia Tenant", emailAddress: uniqueEmail("tia") },
    { name: "Lou Landlord", emailAddress: uniqueEmail("lou") },
  ];
  const { page, frame } = await openRequesterPage(claimUrl);
  const first = frame.getByRole("group", { name: "Signer 1" });
  await first.getByLabel("Name").fill(people[0].name);
  await first.getByLabel("E-mail address").fill(people[0].emailAddress);
  await frame.getByRole("button", { name: "Add signer" }).click();
  const second = frame.getByRole("group", { name: "Signer 2" });
  await second.getByLabel("Name").fill(people[1].name);
  await second.getByLabel("E-mail address").fill(people[1].emailAddress);

  const signer = frame.getByLabel("Signer", { exact: true });
  await signer.selectOption({ label: people[0].name });
  await dragOnto(page, frame, "Signature", 0, 0.3, 0.6);
  // The placed field has the focus; Shift + arrow keys move it ten points at a time.
  const placedField = frame.getByRole("button", { name: `Signature — ${people[0].name}` });
  const before = await placedField.boundingBox();
  await placedField.press("Shift+ArrowDown");
  await placedField.press("Shift+ArrowDown");
  const after = await placedField.boundingBox();
  assert.ok(after.y > before.y + 10 && Math.abs(after.x - before.x) < 1, `moved down by keyboard: ${before.y} → ${after.y}`);
  await signer.selectOption({ label: people[1].name });
  await dragOnto(page, frame, "Signature", 0, 0.3, 0.8);
  await frame.getByText("2 fields placed").waitFor({ timeout: UI_TIMEOUT_MS });
  await screenshot(page, "requester-page-signers");
  await frame.getByRole("button", { name: "Send request" }).click();

  const sent = await waitHostEvent(page, "send");
  const id = sent.payload.signatureRequestId;
  await waitHostEvent(page, "finish");
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", id, { timeoutMs: 30_000 });
  const request = (await api(SignatureRequestApi).signatureRequestGet(id)).body.signatureRequest;
  assert.deepEqual(
    request.signatures.map((x) => [x.signerName, x.signerEmailAddress]),
    people.map((p) => [p.name, p.emailAddress]),
  );
  assert.equal(request.title, "lease.pdf");
  s.lease = { id, people };
});

test("unclaimedDraftEditAndResend: the requester changes a signer in the iFrame and the new request replaces the old", async () => {
  assert.ok(s.lease, "needs the request of the previous step");
  const res = await api(UnclaimedDraftApi).unclaimedDraftEditAndResend(s.lease.id, { clientId: s.clientId, testMode: true });
  assert.equal(res.body.unclaimedDraft.signatureRequestId ?? null, null, "no new request until it is sent");
  const { page, frame } = await openRequesterPage(res.body.unclaimedDraft.claimUrl);
  const second = frame.getByRole("group", { name: "Signer 2" });
  await second.getByLabel("Name").waitFor({ timeout: UI_TIMEOUT_MS });
  assert.equal(await second.getByLabel("E-mail address").inputValue(), s.lease.people[1].emailAddress);
  const agent = { name: "Ada Agent", emailAddress: uniqueEmail("ada") };
  await second.getByLabel("Name").fill(agent.name);
  await second.getByLabel("E-mail address").fill(agent.emailAddress);
  await frame.getByText("2 fields placed").waitFor({ timeout: UI_TIMEOUT_MS });
  await screenshot(page, "requester-page-resend");
  await frame.getByRole("button", { name: "Send request" }).click();

  const sent = await waitHostEvent(page, "send");
  const id = sent.payload.signatureRequestId;
  assert.notEqual(id, s.lease.id);
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_canceled", s.lease.id, { timeoutMs: 30_000 });
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", id, { timeoutMs: 30_000 });
  const request = (await api(SignatureRequestApi).signatureRequestGet(id)).body.signatureRequest;
  assert.deepEqual(
    request.signatures.map((x) => x.signerEmailAddress),
    [s.lease.people[0].emailAddress, agent.emailAddress],
  );
  await assert.rejects(api(SignatureRequestApi).signatureRequestGet(s.lease.id), (e) => e.statusCode === 410);
});

test("on a phone-sized screen the requester page stacks the palette above the pages, and a field is placed by tapping", async () => {
  const res = await api(UnclaimedDraftApi).unclaimedDraftCreateEmbedded({
    clientId: s.clientId,
    requesterEmailAddress: s.account.emailAddress,
    files: [{ value: plainPdf(1), options: { filename: "receipt.pdf", contentType: "application/pdf" } }],
    testMode: true,
  });
  const { page, frame } = await openRequesterPage(res.body.unclaimedDraft.claimUrl, { width: 390, height: 844 });
  const signer = frame.getByRole("group", { name: "Signer 1" });
  await signer.getByLabel("Name").fill("Pat Payer");
  await signer.getByLabel("E-mail address").fill(uniqueEmail("pat"));
  const pageImage = frame.locator("section.page").first();
  await pageImage.scrollIntoViewIfNeeded();
  const box = await pageImage.boundingBox();
  assert.ok(box.width > 250, `the page is shown at the screen's width, not squeezed: ${box.width}px`);
  // Tap the palette item, then the page.
  await frame.getByRole("button", { name: "Signature", exact: true }).click();
  await pageImage.click({ position: { x: box.width * 0.5, y: box.height * 0.7 } });
  await frame.getByText("1 field placed").waitFor({ timeout: UI_TIMEOUT_MS });
  await screenshot(page, "requester-page-phone");
  await frame.getByRole("button", { name: "Send request" }).click();
  const sent = await waitHostEvent(page, "send");
  await receiver.waitForSignatureRequestEvent(s.callback, "signature_request_sent", sent.payload.signatureRequestId, { timeoutMs: 30_000 });
});
