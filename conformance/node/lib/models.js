"use strict";
// Checks a raw JSON response against the @dropbox/sign model types.
//
// The Node SDK never rejects a response body: `ObjectSerializer.deserialize` copies whatever it finds,
// so a string where the SDK's TypeScript types promise a number reaches the user's code silently. To
// catch what a TypeScript user would trip over, this module reads the model classes the package ships
// (node_modules/@dropbox/sign/model/*.ts) and checks, for every key the SDK maps:
//   - required properties (declared without `?`) are present,
//   - `null` only where the declaration says `| null`,
//   - the JSON type matches the SDK type (string, number, boolean, arrays, maps, nested models,
//     discriminated sub-models chosen the way ObjectSerializer chooses them, enum values).
// Unknown extra keys are ignored, as the SDK ignores them.

const fs = require("node:fs");
const path = require("node:path");
const sdk = require("@dropbox/sign");

const MODEL_DIR = path.join(path.dirname(require.resolve("@dropbox/sign/package.json")), "model");

let declarations = null; // class name -> { parent, fields: Map(name -> { optional, nullable, tsType }) }

function loadDeclarations() {
  if (declarations) return declarations;
  declarations = new Map();
  for (const file of fs.readdirSync(MODEL_DIR)) {
    if (!file.endsWith(".ts")) continue;
    const text = fs.readFileSync(path.join(MODEL_DIR, file), "utf8");
    const classRe = /^export (?:abstract )?class (\w+)(?: extends (\w+))? \{([\s\S]*?)^\s*static discriminator/gm;
    let m;
    while ((m = classRe.exec(text)) !== null) {
      const [, name, parent, body] = m;
      const fields = new Map();
      const fieldRe = /^\s*"(\w+)"(\?)?: ([^;=]+?)(?: = [^;]+)?;\s*$/gm;
      let f;
      while ((f = fieldRe.exec(body)) !== null) {
        const tsType = f[3].trim();
        fields.set(f[1], { optional: f[2] === "?", nullable: /\|\s*null\b/.test(tsType), tsType });
      }
      declarations.set(name, { parent: parent || null, fields });
    }
  }
  return declarations;
}

function fieldDeclaration(className, fieldName) {
  const decls = loadDeclarations();
  for (let c = className; c; c = decls.get(c) && decls.get(c).parent) {
    const d = decls.get(c);
    if (d && d.fields.has(fieldName)) return d.fields.get(fieldName);
  }
  return null;
}

function enumValues(enumName) {
  let obj = sdk;
  for (const part of enumName.split(".")) {
    obj = obj && obj[part];
  }
  return obj && typeof obj === "object" ? Object.values(obj) : null;
}

function jsonType(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/**
 * Returns a list of violations (strings "path: problem") of `value` against SDK type `type`
 * (an ObjectSerializer type string: "SignatureRequestGetResponse", "Array<string>", "number", ...).
 */
function check(value, type, where = "$", out = []) {
  if (value === undefined || value === null) return out; // presence/nullability is checked by the parent
  const t = type.replace(/ \| (null|undefined)$/, "");
  const lower = t.toLowerCase();
  if (["string", "boolean", "number", "integer", "long", "double", "float"].includes(lower)) {
    const want = lower === "string" ? "string" : lower === "boolean" ? "boolean" : "number";
    if (typeof value !== want) out.push(`${where}: expected ${want}, got ${jsonType(value)} ${JSON.stringify(value)}`);
    else if (["integer", "long"].includes(lower) && !Number.isInteger(value)) out.push(`${where}: expected an integer, got ${value}`);
    return out;
  }
  if (lower === "any" || lower === "object") return out;
  if (t.startsWith("Array<") && t.endsWith(">")) {
    if (!Array.isArray(value)) {
      out.push(`${where}: expected an array, got ${jsonType(value)} ${JSON.stringify(value)}`);
      return out;
    }
    const sub = t.slice("Array<".length, -1);
    value.forEach((v, i) => {
      if (v === null) out.push(`${where}[${i}]: null inside an array`);
      else check(v, sub, `${where}[${i}]`, out);
    });
    return out;
  }
  if (t.startsWith("{ [key: string]: ") && t.endsWith("; }")) {
    if (jsonType(value) !== "object") out.push(`${where}: expected an object (map), got ${jsonType(value)} ${JSON.stringify(value)}`);
    else {
      const sub = t.slice("{ [key: string]: ".length, -"; }".length);
      for (const [k, v] of Object.entries(value)) check(v, sub, `${where}.${k}`, out);
    }
    return out;
  }
  if (t === "Date") {
    if (typeof value !== "string" || Number.isNaN(Date.parse(value))) out.push(`${where}: expected a date string, got ${JSON.stringify(value)}`);
    return out;
  }
  if (t === "RequestFile" || t === "Buffer") return out;
  if (sdk.enumsMap[t]) {
    const allowed = enumValues(t);
    if (typeof value !== "string") out.push(`${where}: expected a ${t} string, got ${jsonType(value)}`);
    else if (allowed && !allowed.includes(value)) out.push(`${where}: ${JSON.stringify(value)} is not one of ${t} (${allowed.join(", ")})`);
    return out;
  }
  if (!sdk.typeMap[t]) {
    out.push(`${where}: unknown SDK type ${t} (checker bug)`);
    return out;
  }
  if (jsonType(value) !== "object") {
    out.push(`${where}: expected a ${t} object, got ${jsonType(value)} ${JSON.stringify(value)}`);
    return out;
  }
  const concrete = sdk.ObjectSerializer.findCorrectType(value, t);
  const cls = sdk.typeMap[concrete];
  for (const attr of cls.getAttributeTypeMap()) {
    const decl = fieldDeclaration(concrete, attr.name);
    const v = value[attr.baseName];
    const here = `${where}.${attr.baseName}`;
    if (v === undefined) {
      if (decl && !decl.optional) out.push(`${here}: required by ${concrete} but missing`);
      continue;
    }
    if (v === null) {
      if (decl && !decl.nullable) out.push(`${here}: null, but ${concrete}.${attr.name} is declared ${decl.tsType} (not nullable)`);
      continue;
    }
    check(v, attr.type, here, out);
  }
  return out;
}

/** Throws an AssertionError listing every violation of `raw` against SDK model `type`. */
function assertConforms(raw, type, label = type) {
  const problems = check(raw, type);
  if (problems.length) {
    const assert = require("node:assert/strict");
    assert.fail(
      `${label}: the response does not match the @dropbox/sign model ${type}:\n  - ${problems.join("\n  - ")}\n` +
        `raw: ${JSON.stringify(raw).slice(0, 2000)}`,
    );
  }
}

module.exports = { check, assertConforms, fieldDeclaration };
