// jambonz's own validators, driven by confab's integration tests (tests/it/support/tools.rs).
//
// Why: confab's jambonz dialect must answer verbs that a real jambonz feature server accepts,
// so the tests run the very package the feature server runs rather than a copy of its rules.
// Found by NODE_PATH (the tests install the packages under target/test-tools/node).
//
//   node jambonz_tool.js verbs            stdin: verb array; @jambonz/verb-specifications
//   node jambonz_tool.js schema-verbs     stdin: verb array; @jambonz/schema (JSON Schema)
//   node jambonz_tool.js payload KIND     stdin: a webhook body jambonz sends; @jambonz/schema
//                                         callbacks/KIND.schema.json (session-new,
//                                         conference-status, conference, gather, call-status,
//                                         ...)
//
// Exit 0: valid. Exit 1: invalid, the validator's message on stderr. Exit 2: the tool itself
// failed (bad arguments, stdin not JSON, package missing).

const fs = require('fs');
const path = require('path');

// normalizeJambones logs through the caller's pino logger; the tests need no log.
const logger = {debug() {}, info() {}, warn() {}, error() {}, child() { return logger; }};

// Exactly the feature server's path for a webhook's answer (jambonz-feature-server
// lib/middleware.js and lib/tasks/make_task.js): normalizeJambones(logger, json), then for each
// task one key whose value is an object, then validateVerb(name, data, logger).
function verbs(doc) {
  const {normalizeJambones, validateVerb} = require('@jambonz/verb-specifications');
  for (const tdata of normalizeJambones(logger, doc)) {
    const keys = Object.keys(tdata);
    if (keys.length !== 1 || typeof tdata[keys[0]] !== 'object') {
      throw new Error('malformed jambonz application payload');
    }
    validateVerb(keys[0], tdata[keys[0]], logger);
  }
}

// @jambonz/schema's own entry point: normalize, then each verb against its JSON Schema.
function schemaVerbs(doc) {
  require('@jambonz/schema').validate(logger, doc);
}

// @jambonz/schema exports no payload check, so compile its callback schema with the same Ajv
// and options its lib/validator.js uses (components and callbacks registered by $id).
function payload(kind, body) {
  const Ajv = require('ajv');
  const root = path.dirname(require.resolve('@jambonz/schema/package.json'));
  const ajv = new Ajv({allErrors: true, strict: false, validateSchema: false, logger: false});
  for (const dir of ['components', 'callbacks']) {
    for (const f of fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith('.schema.json'))) {
      ajv.addSchema(JSON.parse(fs.readFileSync(path.join(root, dir, f), 'utf8')));
    }
  }
  const check = ajv.getSchema(`https://jambonz.org/schema/callbacks/${kind}`);
  if (!check) throw Object.assign(new Error(`no callback schema named ${kind}`), {tool: true});
  if (!check(body)) throw new Error(`${kind}: ${ajv.errorsText(check.errors)}`);
}

function main() {
  const [mode, kind] = process.argv.slice(2);
  let input;
  try {
    input = JSON.parse(fs.readFileSync(0, 'utf8'));
  } catch (err) {
    console.error(`jambonz_tool: stdin is not JSON: ${err.message}`);
    process.exit(2);
  }
  try {
    if (mode === 'verbs' || mode === undefined) verbs(input);
    else if (mode === 'schema-verbs') schemaVerbs(input);
    else if (mode === 'payload' && kind) payload(kind, input);
    else throw Object.assign(new Error(`usage: jambonz_tool.js verbs|schema-verbs|payload KIND`), {tool: true});
  } catch (err) {
    const tool = err.tool || err.code === 'MODULE_NOT_FOUND';
    console.error(`${tool ? 'jambonz_tool: ' : ''}${err.message}`);
    process.exit(tool ? 2 : 1);
  }
}

main();
