// What worker_pool.js and gw_ports.js share: taskcluster-client from
// tc-fake, argument parsing, creating a batch of tasks for one worker run,
// a TAP harness, and reading artifacts as the Queue stores them.  (CommonJS.)
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const http = require('node:http');
const { createRequire } = require('node:module');

const FAKE = path.resolve(__dirname, '..', 'tc-fake');
const tc = createRequire(path.join(FAKE, 'package.json'))('taskcluster-client').default;
const ROOT = { clientId: 'static/taskcluster/root',
  accessToken: 'tc-fake-root-access-token' };

function args() {
  const a = { phase: process.argv[2] };
  for (let i = 3; i < process.argv.length; i += 2)
    a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  return a;
}

const sh = (script) => [['/bin/sh', '-c', script]];

const queueOf = (a) => new tc.Queue({ rootUrl: a['root-url'], credentials: ROOT });

// Create one task per entry of defs (name -> { payload, scopes }) in the
// queue a.queue; write name -> taskId (and each task's expires) to a.state.
async function create(a, defs) {
  const queue = queueOf(a);
  const [provisionerId, workerType] = a.queue.split('/');
  const state = { tasks: {}, expires: {} };
  const now = Date.now();
  for (const [name, t] of Object.entries(defs)) {
    const taskId = tc.slugid();
    const expires = new Date(now + 2 * 86400e3);
    await queue.createTask(taskId, {
      provisionerId, workerType, schedulerId: 'tests',
      taskGroupId: taskId, dependencies: [], routes: [], priority: 'lowest',
      retries: 0, created: new Date(now), deadline: new Date(now + 3600e3),
      expires, scopes: t.scopes || [],
      payload: t.payload, tags: {}, extra: {},
      metadata: { name, description: `${path.basename(process.argv[1])} ${name}`,
        owner: 'tests@example.com', source: 'https://example.com/tests' },
    });
    state.tasks[name] = taskId;
    state.expires[name] = expires.toISOString();
  }
  fs.writeFileSync(a.state, JSON.stringify(state));
}

// --- TAP ---

let n = 0, failed = 0;
async function test(name, fn) {
  n++;
  try {
    await fn();
    console.log(`ok ${n} - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok ${n} - ${name}`);
    for (const l of String(e && e.stack || e).split('\n').slice(0, 8))
      console.log(`# ${l}`);
  }
}

function done() {
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
}

// An artifact as stored: follow the Queue's redirect by hand, and fetch
// with node:http (fetch would undo a Content-Encoding), so the stored
// bytes, Content-Type and Content-Encoding are seen as sent.
function rawGet(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode,
        headers: res.headers, raw: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

async function artifact(queue, taskId, runId, name) {
  let res = await rawGet(queue.externalBuildSignedUrl(queue.getArtifact,
    taskId, runId, name));
  for (let i = 0; i < 5 && (res.status === 303 || res.status === 302); i++)
    res = await rawGet(res.headers.location);
  const enc = res.headers['content-encoding'] || null;
  return { status: res.status, type: res.headers['content-type'], enc,
    raw: res.raw, body: enc === 'gzip' ? zlib.gunzipSync(res.raw) : res.raw };
}

async function listAll(queue, taskId, runId) {
  const out = {};
  let token;
  do {
    const r = await queue.listArtifacts(taskId, runId,
      token ? { continuationToken: token } : {});
    for (const x of r.artifacts) out[x.name] = x;
    token = r.continuationToken;
  } while (token);
  return out;
}

// create or check, by the first argument; check(a) prints TAP.
function main(defs, check) {
  const a = args();
  (a.phase === 'create' ? create(a, defs(a)) : check(a)).catch((e) => {
    console.error(e.stack || e);
    process.exit(2);
  });
}

module.exports = { tc, sh, queueOf, test, done, artifact, listAll, main };
