"use strict";
// Signer page benchmark, in Debian's Chromium (playwright-core):
//   * page ready: from opening a sign_url to the page being usable (the "I agree" button and the fields
//     interactive, the first page's image decoded), for a 1-page and a 50-page document, beside the floor:
//     fetching the same document's PDF bytes from the same server;
//   * sign submissions/s: signers' "I agree" posts (one signature image each) against the server, with
//     `--concurrency` in flight.
//
//   node conformance/node/bench/sign.js [--runs 7] [--submissions 200] [--concurrency 8]
//
// COUNTERSIGN_BIN picks the server (build it with --release for numbers worth quoting). Progress goes to
// stderr; one JSON line with the medians goes to stdout.

const fs = require("node:fs");
const path = require("node:path");

const { chromium } = require("playwright-core");
const { startServer, FIXTURES } = require("../lib/harness");

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith("--") ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const RUNS = Number(args.runs || 7);
const SUBMISSIONS = Number(args.submissions || 200);
const CONCURRENCY = Number(args.concurrency || 8);
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function log(message) {
  process.stderr.write(`bench sign: ${message}\n`);
}

async function main() {
  const server = await startServer({ name: "bench-sign", env: { COUNTERSIGN_RATE_LIMIT_PER_MINUTE: "0" } });
  const account = await server.createAccount();
  const auth = "Basic " + Buffer.from(account.apiKey + ":").toString("base64");
  const api = async (method, p, body) => {
    const response = await fetch(server.apiUrl + p, {
      method,
      headers: { Authorization: auth, ...(body && !(body instanceof FormData) ? { "Content-Type": "application/json" } : {}) },
      body: body instanceof FormData ? body : body && JSON.stringify(body),
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`${method} ${p}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  const app = await api("POST", "/api_app", { name: "Bench", domains: ["localhost"] });
  const clientId = app.api_app.client_id;

  async function request(file) {
    const form = new FormData();
    form.append("client_id", clientId);
    form.append("test_mode", "1");
    form.append("signers[0][name]", "Bench Signer");
    form.append("signers[0][email_address]", "bench@example.com");
    form.append(
      "form_fields_per_document",
      JSON.stringify([{ document_index: 0, api_id: "s", type: "signature", signer: 0, page: 1, x: 100, y: 100, width: 200, height: 50, required: true }]),
    );
    form.append("files[0]", new Blob([fs.readFileSync(path.join(FIXTURES, file))], { type: "application/pdf" }), file);
    const created = (await api("POST", "/signature_request/create_embedded", form)).signature_request;
    const id = created.signature_request_id;
    for (const deadline = Date.now() + 60_000; ; ) {
      const files = await fetch(`${server.apiUrl}/signature_request/files_as_file_url/${id}`, { headers: { Authorization: auth } });
      if (files.status === 200) return { id, signatureId: created.signatures[0].signature_id, fileUrl: (await files.json()).file_url };
      if (Date.now() > deadline) throw new Error(`request ${id} not processed in time`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const results = {};
  for (const [label, file] of [["1_page", "simple-two-signers.pdf"], ["50_pages", "fifty-pages.pdf"]]) {
    const ready = [];
    const floor = [];
    for (let run = 0; run < RUNS; run++) {
      const r = await request(file);
      const url = (await api("GET", `/embedded/sign_url/${r.signatureId}`)).embedded.sign_url;
      const started = Date.now();
      const bytes = await (await fetch(r.fileUrl)).arrayBuffer();
      floor.push(Date.now() - started);
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const opened = Date.now();
      await page.goto(url);
      await page.waitForFunction(() => {
        const img = document.querySelector(".page img");
        const button = document.querySelector("#finish");
        return img && img.complete && img.naturalWidth > 0 && button && !button.disabled && document.querySelector(".sign-field");
      }, null, { timeout: 30_000 });
      ready.push(Date.now() - opened);
      await page.close();
      log(`${label} run ${run + 1}/${RUNS}: ready ${ready[ready.length - 1]} ms, PDF bytes (${bytes.byteLength} B) ${floor[floor.length - 1]} ms`);
    }
    results[`${label}_ready_ms`] = median(ready);
    results[`${label}_pdf_fetch_ms`] = median(floor);
  }
  await browser.close();

  log(`preparing ${SUBMISSIONS} signers for the submission run`);
  const sessions = [];
  for (let i = 0; i < SUBMISSIONS; i++) {
    const r = await request("simple-two-signers.pdf");
    const url = (await api("GET", `/embedded/sign_url/${r.signatureId}`)).embedded.sign_url;
    const html = await (await fetch(url)).text();
    const json = html.match(/id="countersign-config">([^<]*)<\/script>/)[1];
    sessions.push(JSON.parse(json));
    if ((i + 1) % 50 === 0) log(`  ${i + 1}/${SUBMISSIONS}`);
  }
  let next = 0;
  let failed = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < sessions.length) {
        const config = sessions[next++];
        const response = await fetch(`${server.baseUrl}/sign/${config.signature_id}/sign`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ session: config.session, expires: config.expires, values: {}, images: { s: PNG } }),
        });
        if (!response.ok) failed++;
        await response.arrayBuffer();
      }
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  results.sign_submissions_per_sec = Math.round((sessions.length - failed) / seconds);
  results.sign_submissions_failed = failed;
  await server.stop();
  process.stdout.write(JSON.stringify(results) + "\n");
}

main().catch((e) => {
  process.stderr.write(`bench sign failed: ${e.stack || e}\n`);
  process.exit(1);
});
