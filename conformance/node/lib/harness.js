"use strict";
// Test harness for the Countersign Node conformance suite (mirrors conformance/python/tests/conftest.py).
//
// It drives a real `countersign serve` process with the official, unchanged `@dropbox/sign` package.
//
// Environment:
//   COUNTERSIGN_BIN            path of the server binary (default <repo>/target/debug/countersign)
//   CONFORMANCE_DATABASE_URL   optional postgres://... URL, passed to the server as COUNTERSIGN_DATABASE_URL
//                              (default: SQLite in a temp data dir)
//   CONFORMANCE_KEEP_TMP=1     keep the temp data dirs and server logs (kept anyway when a test failed)
//
// The callback receiver is a real HTTP server in the test process (127.0.0.1, free port) that records every
// request the Countersign delivery engine sends and acknowledges it the way Dropbox Sign requires (HTTP 200,
// body "Hello API Event Received").

const assert = require("node:assert/strict");
const { spawn, execFile, execFileSync } = require("node:child_process");
const crypto = require("node:crypto");
const { EventEmitter } = require("node:events");
const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");
const { setTimeout: delay } = require("node:timers/promises");

const sdk = require("@dropbox/sign");
const { assertConforms } = require("./models");

const REPO = path.resolve(__dirname, "..", "..", "..");
const FIXTURES = path.join(REPO, "fixtures", "pdf");
const HEALTH_DEADLINE_MS = 30_000;
const CLI_TIMEOUT_MS = 60_000;
const STOP_DEADLINE_MS = 10_000;
const CALLBACK_DEADLINE_MS = 15_000;
const CALLBACK_ACK = "Hello API Event Received";

const ACCOUNT_ID_RE = /^[0-9a-f]{40}$/;
const CLIENT_ID_RE = /^[0-9a-f]{32}$/;

// ---------------------------------------------------------------------------------------------------
// Temp dir, kept when the run failed
// ---------------------------------------------------------------------------------------------------

const servers = [];
let tmpRoot = null;

function tmp() {
  if (!tmpRoot) {
    tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "countersign-conformance-node-"));
    process.on("exit", (code) => {
      const failed = code !== 0 || (process.exitCode !== undefined && process.exitCode !== 0);
      for (const s of servers) s.killNow();
      if (failed) {
        for (const s of servers) {
          process.stderr.write(`\n---- countersign server log tail (${s.logPath}) ----\n${tail(s.logPath, 40)}\n`);
        }
        process.stderr.write(`conformance temp dir kept: ${tmpRoot}\n`);
      } else if (process.env.CONFORMANCE_KEEP_TMP !== "1") {
        fs.rmSync(tmpRoot, { recursive: true, force: true });
      }
    });
  }
  return tmpRoot;
}

function tail(file, n = 60) {
  try {
    // eslint-disable-next-line no-control-regex
    const text = fs.readFileSync(file, "utf8").replace(/\x1b\[[0-9;]*m/g, "");
    return text.split("\n").slice(-n).join("\n");
  } catch {
    return "<no log>";
  }
}

// ---------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------

function binary() {
  return process.env.COUNTERSIGN_BIN || path.join(REPO, "target", "debug", "countersign");
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = http.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

class Server {
  constructor({ baseUrl, dataDir, bin, env, logPath, proc }) {
    this.baseUrl = baseUrl; // http://127.0.0.1:PORT
    this.apiUrl = baseUrl + "/v3";
    this.dataDir = dataDir;
    this.bin = bin;
    this.env = env;
    this.logPath = logPath;
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
    this.exitStatus = null;
    this.exited.then((s) => (this.exitStatus = s));
  }

  /** Sets an account's sign-in password with the CLI (`countersign account password`, read from stdin). */
  setPassword(email, password) {
    execFileSync(this.bin, ["account", "password", "--account", email, "--data-dir", this.dataDir], {
      env: this.env,
      input: `${password}\n`,
      stdio: ["pipe", "pipe", "pipe"],
      timeout: CLI_TIMEOUT_MS,
    });
  }

  /** Creates an account with the CLI (`countersign account create`), returns its credentials. */
  createAccount(email = uniqueEmail()) {
    return new Promise((resolve, reject) => {
      execFile(
        this.bin,
        ["account", "create", "--email", email, "--data-dir", this.dataDir],
        { env: this.env, timeout: CLI_TIMEOUT_MS },
        (err, stdout, stderr) => {
          if (err) {
            reject(new Error(`\`countersign account create\` failed: ${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
            return;
          }
          const out = stdout.trim();
          let data;
          try {
            data = JSON.parse(out);
          } catch {
            reject(new Error(`\`account create\` stdout is not exactly one JSON object: ${JSON.stringify(out)}`));
            return;
          }
          try {
            assert.equal(typeof data, "object", `\`account create\` printed ${out}`);
            for (const key of ["account_id", "email_address", "api_key"]) {
              assert.ok(key in data, `\`account create\` output lacks ${key}: ${out}`);
            }
            assert.match(data.account_id, ACCOUNT_ID_RE);
          } catch (e) {
            reject(e);
            return;
          }
          resolve({ accountId: data.account_id, emailAddress: data.email_address, apiKey: data.api_key });
        },
      );
    });
  }

  /** An SDK API object configured exactly as a user would: the API key as Basic user name, the base path. */
  api(ApiClass, apiKey) {
    const api = new ApiClass();
    api.username = apiKey;
    api.basePath = this.apiUrl;
    return api;
  }

  async stop() {
    if (this.exitStatus) return;
    this.proc.kill("SIGTERM");
    const timer = new AbortController();
    const stopped = await Promise.race([
      this.exited,
      delay(STOP_DEADLINE_MS, null, { signal: timer.signal }).catch(() => null),
    ]);
    timer.abort();
    if (!stopped) {
      this.proc.kill("SIGKILL");
      await this.exited;
    }
  }

  killNow() {
    if (!this.exitStatus) {
      try {
        this.proc.kill("SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }
}

/** The master key passed on PostgreSQL, so that every test file's server (and the CLI) can share one database. */
function masterKeyFor(databaseUrl) {
  return crypto.createHash("sha256").update(`countersign-node-conformance:${databaseUrl}`).digest("hex");
}

async function startServer({ name = "main", allowPrivateCallbacks = true, databaseUrl = process.env.CONFORMANCE_DATABASE_URL, env: extraEnv = {} } = {}) {
  const bin = binary();
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new Error(`countersign binary not found or not executable at ${bin} (build it or set COUNTERSIGN_BIN)`);
  }
  const dir = fs.mkdtempSync(path.join(tmp(), `${name}-`));
  const dataDir = path.join(dir, "data");
  fs.mkdirSync(dataDir);
  const logPath = path.join(dir, "server.log");

  const env = { ...process.env };
  delete env.COUNTERSIGN_ALLOW_PRIVATE_CALLBACKS;
  delete env.COUNTERSIGN_DATABASE_URL;
  if (allowPrivateCallbacks) env.COUNTERSIGN_ALLOW_PRIVATE_CALLBACKS = "1";
  Object.assign(env, extraEnv);
  if (databaseUrl) {
    env.COUNTERSIGN_DATABASE_URL = databaseUrl;
    if (!env.COUNTERSIGN_MASTER_KEY) env.COUNTERSIGN_MASTER_KEY = masterKeyFor(databaseUrl);
  }

  const port = await freePort();
  const log = fs.openSync(logPath, "w");
  const proc = spawn(bin, ["serve", "--addr", `127.0.0.1:${port}`, "--data-dir", dataDir], {
    env,
    stdio: ["ignore", log, log],
  });
  fs.closeSync(log);
  const server = new Server({ baseUrl: `http://127.0.0.1:${port}`, dataDir, bin, env, logPath, proc });
  servers.push(server);

  const deadline = Date.now() + HEALTH_DEADLINE_MS;
  let lastErr = null;
  for (;;) {
    if (server.exitStatus) {
      throw new Error(`countersign serve exited (${JSON.stringify(server.exitStatus)}) before becoming healthy:\n${tail(logPath)}`);
    }
    try {
      const r = await fetch(server.baseUrl + "/healthz", { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return server;
      lastErr = `HTTP ${r.status}`;
    } catch (e) {
      lastErr = String(e && e.cause ? e.cause : e);
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`/healthz not 200 within ${HEALTH_DEADLINE_MS} ms (last: ${lastErr}):\n${tail(logPath)}`);
    }
    await delay(100); // poll interval, bounded by the deadline above
  }
}

function uniqueEmail(prefix = "conf") {
  return `${prefix}-${crypto.randomBytes(6).toString("hex")}@example.com`;
}

// ---------------------------------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------------------------------

/**
 * Resolves with `probe()`'s first truthy result. `probe` runs now and on every `emitter` 'change' event;
 * rejects with `describe()` once `timeoutMs` has passed.
 */
function waitUntil(emitter, probe, { timeoutMs = CALLBACK_DEADLINE_MS, describe = () => "condition" } = {}) {
  return new Promise((resolve, reject) => {
    let timer = null;
    const onChange = () => {
      let got;
      try {
        got = probe();
      } catch (e) {
        finish();
        reject(e);
        return;
      }
      if (got) {
        finish();
        resolve(got);
      }
    };
    const finish = () => {
      clearTimeout(timer);
      emitter.off("change", onChange);
    };
    timer = setTimeout(() => {
      finish();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`));
    }, timeoutMs);
    emitter.on("change", onChange);
    onChange();
  });
}

// ---------------------------------------------------------------------------------------------------
// Callback receiver
// ---------------------------------------------------------------------------------------------------

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Parses a multipart/form-data body with the platform's own parser (undici's Response.formData()). */
async function parseMultipart(contentType, body) {
  assert.ok((contentType || "").toLowerCase().startsWith("multipart/form-data"), `Content-Type is ${contentType}`);
  const form = await new Response(body, { headers: { "content-type": contentType } }).formData();
  const fields = [];
  for (const [name, value] of form.entries()) {
    fields.push([name, typeof value === "string" ? value : Buffer.from(await value.arrayBuffer()).toString("utf8")]);
  }
  return fields;
}

class CallbackReceiver extends EventEmitter {
  constructor() {
    super();
    this.setMaxListeners(100);
    this.requests = []; // { method, path, headers, rawHeaders, body, receivedAt, parsed }
    this.endpoints = new Map(); // path -> { path, url, apiKey, clientId }
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.baseUrl = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  async handle(req, res) {
    const body = await readBody(req);
    const entry = {
      method: req.method,
      path: req.url,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body,
      receivedAt: Date.now(),
      parsed: null, // { fields, text, json } once parsed
      parseError: null,
    };
    try {
      const fields = await parseMultipart(req.headers["content-type"], body);
      const json = fields.find(([n]) => n === "json");
      entry.parsed = { fields, text: json ? json[1] : null, json: json ? JSON.parse(json[1]) : null };
    } catch (e) {
      entry.parseError = e;
    }
    this.requests.push(entry);
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(CALLBACK_ACK) });
    res.end(CALLBACK_ACK);
    this.emit("change");
  }

  /** A fresh callback URL on this receiver, registered so every callback to it can be checked. */
  endpoint(apiKey, { clientId = null, label = "cb" } = {}) {
    const p = `/${label}/${crypto.randomBytes(16).toString("hex")}`;
    const ep = { path: p, url: this.baseUrl + p, apiKey, clientId };
    this.endpoints.set(p, ep);
    return ep;
  }

  received(p = null) {
    return this.requests.filter((r) => p === null || r.path === p);
  }

  /** Waits for a callback to `ep` whose parsed `json` satisfies `match(json)`; returns the request entry. */
  waitForEvent(ep, match, { timeoutMs = CALLBACK_DEADLINE_MS, what = "a matching event" } = {}) {
    return waitUntil(this, () => this.received(ep.path).find((r) => r.parsed && r.parsed.json && match(r.parsed.json)), {
      timeoutMs,
      describe: () => {
        const seen = this.received(ep.path).map((r) =>
          r.parsed && r.parsed.json
            ? `${r.parsed.json.event && r.parsed.json.event.event_type}(${r.parsed.json.signature_request ? r.parsed.json.signature_request.signature_request_id : "-"})`
            : `unparsable: ${r.parseError}`,
        );
        return `${what} at ${ep.path} (it got ${seen.length}: ${JSON.stringify(seen)}; receiver total ${this.requests.length})`;
      },
    });
  }

  waitForSignatureRequestEvent(ep, eventType, signatureRequestId, opts = {}) {
    return this.waitForEvent(
      ep,
      (j) => j.event && j.event.event_type === eventType && j.signature_request && j.signature_request.signature_request_id === signatureRequestId,
      { what: `${eventType} for ${signatureRequestId}`, ...opts },
    );
  }

  /**
   * Checks one received callback the way an SDK user would: a POST of multipart/form-data with exactly one
   * field `json`; `EventCallbackRequest.init(JSON.parse(json))`; `EventCallbackHelper.isValid(apiKey, event)`;
   * `getCallbackType` says app callback exactly for an app's URL; the raw JSON matches the SDK model types.
   * Returns the SDK's EventCallbackRequest.
   */
  checkWithSdk(entry) {
    const ep = this.endpoints.get(entry.path);
    assert.ok(ep, `request to an unregistered receiver path: ${entry.method} ${entry.path}`);
    assert.equal(entry.method, "POST", `${entry.method} ${entry.path}: callbacks must be POSTed`);
    assert.equal(entry.parseError, null, `callback body is not multipart/form-data: ${entry.parseError}\n${entry.body.subarray(0, 300)}`);
    const names = entry.parsed.fields.map(([n]) => n);
    assert.deepEqual(names, ["json"], `callback form fields are ${JSON.stringify(names)}, expected exactly ["json"]`);
    const raw = entry.parsed.json;
    assertConforms(raw, "EventCallbackRequest", `callback to ${entry.path}`);
    const callback = sdk.EventCallbackRequest.init(raw);
    assert.ok(callback instanceof sdk.EventCallbackRequest, `init returned ${callback}`);
    assert.equal(sdk.EventCallbackHelper.isValid(ep.apiKey, callback), true, `EventCallbackHelper.isValid is false for ${entry.path}: ${entry.parsed.text}`);
    const expected = ep.clientId ? sdk.EventCallbackHelper.EVENT_TYPE_APP_CALLBACK : sdk.EventCallbackHelper.EVENT_TYPE_ACCOUNT_CALLBACK;
    assert.equal(sdk.EventCallbackHelper.getCallbackType(callback), expected, entry.parsed.text);
    if (ep.clientId) assert.equal(callback.event.eventMetadata.reportedForAppId, ep.clientId, entry.parsed.text);
    return callback;
  }

  /** checkWithSdk on every request received so far; returns how many were checked. */
  checkAllWithSdk() {
    for (const entry of this.requests) this.checkWithSdk(entry);
    return this.requests.length;
  }
}

async function startCallbackReceiver() {
  return new CallbackReceiver().start();
}

// ---------------------------------------------------------------------------------------------------
// File server (for file_urls)
// ---------------------------------------------------------------------------------------------------

class FileServer extends EventEmitter {
  constructor(files) {
    super();
    this.files = files; // url path -> { body: Buffer, contentType }
    this.requests = [];
    this.server = http.createServer((req, res) => {
      this.requests.push({ method: req.method, path: req.url, headers: req.headers, at: Date.now() });
      const f = this.files[req.url.split("?")[0]];
      if (!f) {
        res.writeHead(404, { "Content-Type": "text/plain" });
        res.end("not found");
      } else {
        res.writeHead(200, { "Content-Type": f.contentType, "Content-Length": f.body.length });
        res.end(req.method === "HEAD" ? undefined : f.body);
      }
      this.emit("change");
    });
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.baseUrl = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  url(p) {
    return this.baseUrl + p;
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

async function startFileServer(files) {
  return new FileServer(files).start();
}

// ---------------------------------------------------------------------------------------------------
// SDK errors
// ---------------------------------------------------------------------------------------------------

/**
 * Awaits `promise`, asserts it rejected with the SDK's HttpError for HTTP `status` with an ErrorResponse
 * body (the SDK deserializes 4xx bodies into ErrorResponse), and checks the raw body is
 * {"error": {"error_msg", "error_name", "error_path"?}}. Returns the HttpError.
 */
async function expectHttpError(promise, status, { errorName, errorPath } = {}) {
  let err = null;
  try {
    const r = await promise;
    assert.fail(`expected HTTP ${status}, but the SDK call resolved with HTTP ${r && r.response && r.response.status}: ${JSON.stringify(r && r.response && r.response.data)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.ok(err instanceof sdk.HttpError, `expected the SDK's HttpError, got ${err && err.name}: ${err && err.message}`);
  const raw = err.response && err.response.data;
  assert.equal(err.statusCode, status, `expected HTTP ${status}, got ${err.statusCode}; body=${JSON.stringify(raw)}`);
  assert.match(String(err.response.headers["content-type"]), /^application\/json/, "error Content-Type");
  assertConforms(raw, "ErrorResponse", `HTTP ${status} body`);
  assert.ok(err.body instanceof sdk.ErrorResponse, `SDK did not deserialize the body into ErrorResponse: ${JSON.stringify(raw)}`);
  assert.ok(err.body.error instanceof sdk.ErrorResponseError, `no error object: ${JSON.stringify(raw)}`);
  assert.equal(typeof err.body.error.errorMsg, "string");
  assert.ok(err.body.error.errorMsg.length > 0, `empty error_msg: ${JSON.stringify(raw)}`);
  assert.equal(typeof err.body.error.errorName, "string");
  if (errorName !== undefined) assert.equal(err.body.error.errorName, errorName, JSON.stringify(raw));
  if (errorPath !== undefined) assert.equal(err.body.error.errorPath, errorPath, JSON.stringify(raw));
  return err;
}

module.exports = {
  REPO,
  FIXTURES,
  CALLBACK_ACK,
  CALLBACK_DEADLINE_MS,
  ACCOUNT_ID_RE,
  CLIENT_ID_RE,
  startServer,
  startCallbackReceiver,
  startFileServer,
  uniqueEmail,
  waitUntil,
  expectHttpError,
  assertConforms,
  parseMultipart,
};
