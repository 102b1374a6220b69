#!/usr/bin/env node
// tc-fake's self-test: the real taskcluster-client and hawk packages, and
// plain HTTP, against a running tc-fake.  Prints TAP: "ok N - name" or
// "not ok N - name" (with "# " lines of detail), then "1..N"; exits 1 if
// any test failed.
//
//   node selftest.js --print-clients > clients.json
//   node server.js --port 0 --clients clients.json --log requests.log \
//       --claim-wait-ms 3000
//   node selftest.js --root-url http://127.0.0.1:PORT --log requests.log \
//       --clients clients.json
//
// The server under test should have a short --claim-wait-ms (a few
// seconds).  For the timing tests (claim expiry, deadlines, an empty long
// poll, --terminate-after-calls) the self-test starts a second tc-fake
// itself, with --clients FILE, and stops it at the end.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import hawk from 'hawk';
import taskcluster from 'taskcluster-client';

const here = path.dirname(fileURLToPath(import.meta.url));

// Clients the server is started with (--clients), besides its built-in
// static/taskcluster/root.
const ROOT = { clientId: 'static/taskcluster/root', accessToken: 'tc-fake-root-access-token' };
const NARROW = { clientId: 'selftest/narrow', accessToken: 'narrow-token' };
const ISSUER = { clientId: 'selftest/issuer', accessToken: 'issuer-token' };
const TESTER = { clientId: 'tester', accessToken: 'no-secret' };
// A worker's static client (a worker pool's), one without the claim scope,
// and a task creator with just the scopes createTask needs at priority lowest.
const PROV = 'selftest-prov';
const WORKER = { clientId: 'selftest/worker', accessToken: 'worker-token' };
const NOCLAIM = { clientId: 'selftest/noclaim', accessToken: 'noclaim-token' };
const CREATOR = { clientId: 'selftest/creator', accessToken: 'creator-token' };
const CLIENTS = {
  [NARROW.clientId]: {
    accessToken: NARROW.accessToken,
    scopes: ['secrets:get:selftest/narrow/*', 'queue:get-artifact:SampleArtifacts/*'],
  },
  [ISSUER.clientId]: {
    accessToken: ISSUER.accessToken,
    scopes: ['secrets:get:selftest/temp/*', 'auth:create-client:selftest/named/*'],
  },
  [WORKER.clientId]: {
    accessToken: WORKER.accessToken,
    scopes: [`queue:claim-work:${PROV}/*`, 'queue:worker-id:selftest-group/*',
      `worker-manager:should-worker-terminate:${PROV}/*`],
  },
  [NOCLAIM.clientId]: {
    accessToken: NOCLAIM.accessToken,
    scopes: ['queue:worker-id:selftest-group/*'],
  },
  [CREATOR.clientId]: {
    accessToken: CREATOR.accessToken,
    scopes: [`queue:create-task:lowest:${PROV}/*`, 'queue:scheduler-id:-', 'queue:create-task:project:none',
      'secrets:get:selftest/creator/*'],
  },
};
const ANON_ROLE = ['auth:current-scopes', 'queue:get-artifact:public/*',
  'queue:get-task:*', 'queue:list-artifacts:*', 'queue:status:*'];
const TASK = 'KTBKfEgxR5GdfIIREQIvFQ';

const args = process.argv.slice(2);
if (args[0] === '--print-clients') {
  process.stdout.write(JSON.stringify(CLIENTS, null, 2) + '\n');
  process.exit(0);
}
let rootUrl = null, logFile = null, clientsFile = null;
for (let i = 0; i < args.length; i += 2) {
  if (args[i] === '--root-url') {
    rootUrl = args[i + 1];
  } else if (args[i] === '--log') {
    logFile = args[i + 1];
  } else if (args[i] === '--clients') {
    clientsFile = args[i + 1];
  } else {
    process.stderr.write('usage: node selftest.js --print-clients | --root-url URL [--log FILE] [--clients FILE]\n');
    process.exit(2);
  }
}
if (!rootUrl) {
  process.stderr.write('selftest: --root-url is required\n');
  process.exit(2);
}
const { port } = new URL(rootUrl);

// --- TAP ---

let n = 0, failures = 0;
const t = async (name, fn) => {
  n++;
  try {
    await fn();
    console.log(`ok ${n} - ${name}`);
  } catch (err) {
    failures++;
    console.log(`not ok ${n} - ${name}`);
    const text = String(err && err.stack || err).split('\n').slice(0, 12);
    for (const line of text) {
      console.log('# ' + line);
    }
  }
};

// --- helpers ---

// One HTTP request with full control of the target and headers (given as
// [name, value] pairs, duplicates kept); no redirect following.
const request = (method, target, { headers = [], body, port: toPort, chunks } = {}) => new Promise((resolve, reject) => {
  const req = http.request({ host: '127.0.0.1', port: toPort || port, method, path: target, agent: false });
  const grouped = new Map();
  for (const [k, v] of headers) {
    grouped.set(k, [...(grouped.get(k) || []), v]);
  }
  for (const [k, v] of grouped) {
    req.setHeader(k, v.length === 1 ? v[0] : v);
  }
  req.on('response', res => {
    const chunks = [];
    res.on('data', c => chunks.push(c));
    res.on('end', () => {
      const buf = Buffer.concat(chunks);
      let json;
      try {
        json = JSON.parse(buf.toString('utf-8'));
      } catch (err) {
        json = undefined;
      }
      resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: buf, json });
    });
    res.on('error', reject);
  });
  req.on('error', reject);
  // chunks: written one by one, so the body goes chunked (no Content-Length)
  for (const c of chunks || []) {
    req.write(c);
  }
  req.end(body);
});

const extOf = ({ certificate, authorizedScopes } = {}) => {
  const ext = {};
  if (certificate) {
    ext.certificate = typeof certificate === 'string' ? JSON.parse(certificate) : certificate;
  }
  if (authorizedScopes) {
    ext.authorizedScopes = authorizedScopes;
  }
  return Object.keys(ext).length ? Buffer.from(JSON.stringify(ext)).toString('base64') : undefined;
};

// A request signed with hawk.client.header (the library the clients use).
const signed = (method, target, creds, { authorizedScopes, headers = [], body, contentType,
  payload, hash, localtimeOffsetMsec, port: signPort } = {}) => {
  const header = hawk.client.header(`http://127.0.0.1:${signPort || port}${target}`, method, {
    credentials: { id: creds.clientId, key: creds.accessToken, algorithm: 'sha256' },
    ext: extOf({ certificate: creds.certificate, authorizedScopes }),
    ...(payload !== undefined ? { payload, contentType } : {}),
    ...(hash ? { hash } : {}),
    ...(localtimeOffsetMsec ? { localtimeOffsetMsec } : {}),
  });
  const all = [['Authorization', header.header], ...headers];
  if (contentType) {
    all.push(['Content-Type', contentType]);
  }
  return request(method, target, { headers: all, body });
};

const client = (Cls, credentials, extra = {}) =>
  new Cls({ rootUrl, credentials: credentials || {}, retries: 0, ...extra });

// A taskcluster-client class for tc-fake's own helpers, so the real client
// signs requests to them too.
const Fake = taskcluster.createClient({
  serviceName: 'fake',
  apiVersion: 'v1',
  entries: [
    { type: 'function', method: 'get', route: '/echo/<what>', name: 'echo', args: ['what'], query: [] },
    { type: 'function', method: 'get', route: '/flaky/<key>/<n>', name: 'flaky', args: ['key', 'n'], query: [] },
  ],
}, 'Fake');

// Resolve to the error a client call rejects with (or fail).
const rejection = async promise => {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('the call succeeded; expected an error');
};

const expectError = async (promise, statusCode, code) => {
  const err = await rejection(promise);
  assert.equal(err.statusCode, statusCode, `status ${err.statusCode} (${err.code}): ${err.message}`);
  if (code) {
    assert.equal(err.code, code);
  }
  return err;
};

const mkcreds = argv => JSON.parse(execFileSync(process.execPath, [path.join(here, 'mkcreds.js'), ...argv], { encoding: 'utf-8' }));

const echoOf = async creds => (await client(Fake, creds).echo('who')).clientId;

const sorted = a => [...a].sort();

// --- the tests ---

const auth = creds => client(taskcluster.Auth, creds);
const secretsAs = (creds, extra) => client(taskcluster.Secrets, creds, extra);
const inAYear = () => taskcluster.fromNow('1 year').toJSON();

await t('anonymous scopes/current: assume:anonymous and the anonymous role', async () => {
  const res = await auth(null).currentScopes();
  assert.deepEqual(sorted(res.scopes), sorted(['assume:anonymous', ...ANON_ROLE]));
});

await t('permanent credentials (static root): scopes/current 200, scopes ["*"]', async () => {
  assert.deepEqual(await auth(ROOT).currentScopes(), { scopes: ['*'] });
});

await t('permanent credentials: echo reports the clientId', async () => {
  assert.equal(await echoOf(ROOT), ROOT.clientId);
  assert.equal(await echoOf(NARROW), NARROW.clientId);
});

await t('--clients client: scopes/current has its scopes plus the anonymous role', async () => {
  const res = await auth(NARROW).currentScopes();
  assert.deepEqual(sorted(res.scopes), sorted(['assume:anonymous', ...ANON_ROLE, ...CLIENTS[NARROW.clientId].scopes]));
});

await t('wrong accessToken: 401 AuthenticationFailed, WWW-Authenticate: hawk', async () => {
  await expectError(auth({ clientId: ROOT.clientId, accessToken: 'wrong' }).currentScopes(), 401, 'AuthenticationFailed');
  const res = await signed('GET', '/api/auth/v1/scopes/current', { clientId: ROOT.clientId, accessToken: 'wrong' });
  assert.equal(res.status, 401);
  assert.equal(res.headers['www-authenticate'], 'hawk');
  assert.match(res.json.message, /^Unauthorized: Bad mac/);
  assert.equal(res.json.requestInfo.method, 'currentScopes');
});

await t('unknown clientId: 401', async () => {
  const err = await expectError(auth({ clientId: 'nobody', accessToken: 'x' }).currentScopes(), 401, 'AuthenticationFailed');
  assert.match(err.message, /Client with clientId 'nobody' not found/);
});

await t('temporary credentials (createTemporaryCredentials): 200 and the temporary scopes', async () => {
  const temp = taskcluster.createTemporaryCredentials({
    start: new Date(), expiry: taskcluster.fromNow('1 hour'),
    scopes: ['secrets:get:selftest/temp/x'], credentials: ROOT,
  });
  const res = await auth(temp).currentScopes();
  assert.deepEqual(sorted(res.scopes), sorted(['assume:anonymous', ...ANON_ROLE, 'secrets:get:selftest/temp/x']));
  assert.equal(await echoOf(temp), ROOT.clientId);
});

await t('temporary credentials from mkcreds.js, unnamed and named', async () => {
  const temp = mkcreds(['--client-id', ISSUER.clientId, '--access-token', ISSUER.accessToken,
    '--scopes', 'secrets:get:selftest/temp/a,secrets:get:selftest/temp/b']);
  assert.equal(temp.clientId, ISSUER.clientId);
  const res = await auth(temp).currentScopes();
  assert.ok(res.scopes.includes('secrets:get:selftest/temp/a') && res.scopes.includes('secrets:get:selftest/temp/b'));
  assert.ok(!res.scopes.includes('secrets:get:selftest/temp/*'));
  const named = mkcreds(['--client-id', ISSUER.clientId, '--access-token', ISSUER.accessToken,
    '--scopes', 'secrets:get:selftest/temp/a', '--name', 'selftest/named/one']);
  assert.equal(named.clientId, 'selftest/named/one');
  assert.equal(JSON.parse(named.certificate).issuer, ISSUER.clientId);
  assert.equal(await echoOf(named), 'selftest/named/one');
});

await t('named credentials whose issuer lacks auth:create-client:<name>: 401', async () => {
  const named = mkcreds(['--client-id', NARROW.clientId, '--access-token', NARROW.accessToken,
    '--scopes', 'secrets:get:selftest/narrow/a', '--name', 'selftest/named/two']);
  const err = await expectError(auth(named).currentScopes(), 401);
  assert.match(err.message, /doesn't have `auth:create-client:selftest\/named\/two`/);
});

await t('expired certificate (mkcreds.js --start-minutes -120 --expiry-minutes -60): 401', async () => {
  const old = mkcreds(['--client-id', ROOT.clientId, '--access-token', ROOT.accessToken,
    '--scopes', 'secrets:get:x', '--start-minutes', '-120', '--expiry-minutes', '-60']);
  const err = await expectError(auth(old).currentScopes(), 401, 'AuthenticationFailed');
  assert.match(err.message, /ext\.certificate\.expiry < now/);
});

await t('certificate starting more than 5 minutes ahead: 401; 4 minutes ahead: 200', async () => {
  const later = mkcreds(['--client-id', ROOT.clientId, '--access-token', ROOT.accessToken,
    '--scopes', 'secrets:get:x', '--start-minutes', '10', '--expiry-minutes', '60']);
  const err = await expectError(auth(later).currentScopes(), 401);
  assert.match(err.message, /ext\.certificate\.start > now/);
  const soon = mkcreds(['--client-id', ROOT.clientId, '--access-token', ROOT.accessToken,
    '--scopes', 'secrets:get:x', '--start-minutes', '4', '--expiry-minutes', '60']);
  await auth(soon).currentScopes();
});

await t('certificate with scopes its issuer lacks: 401', async () => {
  const temp = taskcluster.createTemporaryCredentials({
    start: new Date(), expiry: taskcluster.fromNow('1 hour'),
    scopes: ['secrets:get:elsewhere'], credentials: NARROW,
  });
  const err = await expectError(auth(temp).currentScopes(), 401);
  assert.match(err.message, /doesn't satisfy all certificate scopes/);
});

await t('tampered certificate (scopes changed after signing): 401', async () => {
  const temp = taskcluster.createTemporaryCredentials({
    start: new Date(), expiry: taskcluster.fromNow('1 hour'), scopes: ['secrets:get:a'], credentials: ROOT,
  });
  const cert = JSON.parse(temp.certificate);
  cert.scopes = ['secrets:get:b'];
  const err = await expectError(auth({ ...temp, certificate: JSON.stringify(cert) }).currentScopes(), 401);
  assert.match(err.message, /ext\.certificate\.signature is not valid/);
});

await t('certificate spanning more than 31 days (signed correctly): 401', async () => {
  const start = Date.now(), expiry = start + 32 * 24 * 3600 * 1000;
  const seed = crypto.randomBytes(33).toString('base64url');
  const text = ['version:1', `seed:${seed}`, `start:${start}`, `expiry:${expiry}`, 'scopes:', 'a'].join('\n');
  const cert = { version: 1, scopes: ['a'], start, expiry, seed,
    signature: crypto.createHmac('sha256', ROOT.accessToken).update(text).digest('base64') };
  const accessToken = crypto.createHmac('sha256', ROOT.accessToken).update(seed).digest('base64url');
  const err = await expectError(auth({ clientId: ROOT.clientId, accessToken, certificate: JSON.stringify(cert) }).currentScopes(), 401);
  assert.match(err.message, /cannot last longer than 31 days/);
});

await t('authorizedScopes not satisfied by the credentials: 401', async () => {
  const err = await expectError(client(taskcluster.Auth, NARROW, { authorizedScopes: ['secrets:get:elsewhere'] }).currentScopes(),
    401, 'AuthenticationFailed');
  assert.match(err.message, /Supplied credentials do not satisfy authorizedScopes/);
});

await t('authorizedScopes satisfied, endpoint needs a scope outside them: 403 InsufficientScopes', async () => {
  await secretsAs(ROOT).set('selftest/b', { secret: { v: 'b' }, expires: inAYear() });
  const err = await expectError(secretsAs(ROOT, { authorizedScopes: ['secrets:get:selftest/a'] }).get('selftest/b'),
    403, 'InsufficientScopes');
  assert.match(err.message, /secrets:get:selftest\/b/);
});

await t('authorizedScopes satisfied and sufficient: 200', async () => {
  const res = await secretsAs(ROOT, { authorizedScopes: ['secrets:get:selftest/b'] }).get('selftest/b');
  assert.deepEqual(res.secret, { v: 'b' });
});

await t('authorizedScopes []: the anonymous role remains (scopes/current 200)', async () => {
  const res = await client(taskcluster.Auth, ROOT, { authorizedScopes: [] }).currentScopes();
  assert.deepEqual(sorted(res.scopes), sorted(['assume:anonymous', ...ANON_ROLE]));
});

await t('temporary credentials with authorizedScopes: echo shows both', async () => {
  const temp = taskcluster.createTemporaryCredentials({
    start: new Date(), expiry: taskcluster.fromNow('1 hour'), scopes: ['a:*'], credentials: ROOT,
  });
  const res = await client(Fake, temp, { authorizedScopes: ['a:b'] }).echo('x');
  assert.deepEqual(res.authorizedScopes, ['a:b']);
  assert.deepEqual(res.ext.certificate.scopes, ['a:*']);
  assert.deepEqual(sorted(res.scopes), sorted(['a:b', 'assume:anonymous', ...ANON_ROLE]));
});

await t('secrets: set then get round trip', async () => {
  const expires = inAYear();
  assert.deepEqual(await secretsAs(ROOT).set('selftest/narrow/s1', { secret: { hello: 'world' }, expires }), {});
  const got = await secretsAs(ROOT).get('selftest/narrow/s1');
  assert.deepEqual(got, { secret: { hello: 'world' }, expires: new Date(expires).toJSON() });
  assert.deepEqual((await secretsAs(NARROW).get('selftest/narrow/s1')).secret, { hello: 'world' });
});

await t('secrets: 403 without the scope (get and set)', async () => {
  await expectError(secretsAs(NARROW).get('selftest/b'), 403, 'InsufficientScopes');
  await expectError(secretsAs(NARROW).set('selftest/narrow/s2', { secret: {}, expires: inAYear() }), 403, 'InsufficientScopes');
  await expectError(secretsAs(null).get('selftest/b'), 403, 'InsufficientScopes');
});

await t('secrets: missing secret 404 ResourceNotFound; expired 410', async () => {
  await expectError(secretsAs(ROOT).get('selftest/none'), 404, 'ResourceNotFound');
  await secretsAs(ROOT).set('selftest/old', { secret: {}, expires: new Date(Date.now() - 60000).toJSON() });
  await expectError(secretsAs(ROOT).get('selftest/old'), 410, 'ResourceExpired');
});

await t('secrets: a body that breaks the schema is 400 InputValidationError', async () => {
  await expectError(secretsAs(ROOT).set('selftest/bad', { secret: 'not an object', expires: inAYear() }), 400, 'InputValidationError');
  const res = await signed('PUT', '/api/secrets/v1/secret/selftest/bad', ROOT, { body: '{"secret":' , contentType: 'application/json' });
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 'MalformedPayload');
});

await t('artifact: 303 with Location, and the Location is fetchable', async () => {
  const res = await client(taskcluster.Queue, NARROW).getLatestArtifact(TASK, 'SampleArtifacts/_/X.txt');
  assert.equal(res.storageType, 's3');
  const raw = await signed('GET', `/api/queue/v1/task/${TASK}/artifacts/SampleArtifacts%2F_%2FX.txt`, NARROW);
  assert.equal(raw.status, 303);
  assert.equal(raw.headers.location, res.url);
  assert.equal(raw.headers['x-taskcluster-artifact-storage-type'], 's3');
  const loc = new URL(raw.headers.location);
  assert.equal(loc.origin, rootUrl);
  const content = await request('GET', loc.pathname);
  assert.equal(content.status, 200);
  assert.equal(content.body.toString(), 'test artifact\n');
});

await t('artifact: %2F and / in the name are the same artifact; runs/0 too', async () => {
  const a = await signed('GET', `/api/queue/v1/task/${TASK}/artifacts/SampleArtifacts/_/X.txt`, NARROW);
  const b = await signed('GET', `/api/queue/v1/task/${TASK}/runs/0/artifacts/SampleArtifacts%2F_%2FX.txt`, NARROW);
  assert.equal(a.status, 303);
  assert.equal(b.status, 303);
  assert.equal(a.headers.location, b.headers.location);
});

await t('artifact: private one without the scope 403, public/ one anonymously 303', async () => {
  const priv = await request('GET', `/api/queue/v1/task/${TASK}/artifacts/SampleArtifacts%2F_%2FX.txt`);
  assert.equal(priv.status, 403);
  assert.equal(priv.json.code, 'InsufficientScopes');
  const pub = await request('GET', `/api/queue/v1/task/${TASK}/artifacts/public/hello.txt`);
  assert.equal(pub.status, 303);
  assert.equal((await request('GET', new URL(pub.headers.location).pathname)).body.toString(), 'hello world\n');
});

await t('artifact: unknown artifact or task 404 ResourceNotFound with a JSON body', async () => {
  const res = await request('GET', `/api/queue/v1/task/${TASK}/artifacts/public/nope.txt`);
  assert.equal(res.status, 404);
  assert.equal(res.json.code, 'ResourceNotFound');
  assert.match(res.json.message, /^Artifact not found/);
  const task = await request('GET', '/api/queue/v1/task/aaaaaaaaSaaaaaaaaaaaaA/artifacts/public/x');
  assert.equal(task.status, 404);
  assert.match(task.json.message, /^Task not found/);
});

await t('bad URL parameter or unknown query parameter: 400 InvalidRequestArguments', async () => {
  const bad = await request('GET', '/api/queue/v1/task/not-a-slugid/artifacts/public/x');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, 'InvalidRequestArguments');
  const q = await request('GET', '/api/auth/v1/scopes/current?foo=bar');
  assert.equal(q.status, 400);
  assert.equal(q.json.code, 'InvalidRequestArguments');
});

await t('bewit from buildSignedUrl: 200/303; tampered 401; expired 401', async () => {
  const queue = client(taskcluster.Queue, NARROW);
  const url = queue.buildSignedUrl(queue.getLatestArtifact, TASK, 'SampleArtifacts/_/X.txt');
  const u = new URL(url);
  const ok = await request('GET', u.pathname + u.search);
  assert.equal(ok.status, 303, JSON.stringify(ok.json));
  const bewit = u.searchParams.get('bewit');
  const flipped = bewit.slice(0, 10) + (bewit[10] === 'A' ? 'B' : 'A') + bewit.slice(11);
  const bad = await request('GET', u.pathname + '?bewit=' + flipped);
  assert.equal(bad.status, 401);
  const old = queue.buildSignedUrl(queue.getLatestArtifact, TASK, 'SampleArtifacts/_/X.txt', { expiration: -10 });
  const expired = await request('GET', new URL(old).pathname + new URL(old).search);
  assert.equal(expired.status, 401);
  assert.match(expired.json.message, /Access expired/);
});

await t('bewit on test-authenticate-get (tester/no-secret): 200 clientId tester', async () => {
  const a = auth(TESTER);
  const u = new URL(a.buildSignedUrl(a.testAuthenticateGet));
  const res = await request('GET', u.pathname + u.search);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal(res.json.clientId, 'tester');
});

await t('bewit and an Authorization header together: 401', async () => {
  const a = auth(TESTER);
  const u = new URL(a.buildSignedUrl(a.testAuthenticateGet));
  const res = await signed('GET', u.pathname + u.search, TESTER);
  assert.equal(res.status, 401);
  assert.match(res.json.message, /Cannot use two authentication schemes/);
});

await t('test-authenticate (tester): 200; unmet requiredScopes 403; other clients 401', async () => {
  const res = await auth(TESTER).testAuthenticate({ clientScopes: ['test:a*'], requiredScopes: ['test:ab'] });
  assert.equal(res.clientId, 'tester');
  assert.deepEqual(sorted(res.scopes), ['assume:anonymous', 'test:a*']);
  await expectError(auth(TESTER).testAuthenticate({ clientScopes: ['test:a'], requiredScopes: ['test:b'] }), 403, 'InsufficientScopes');
  await expectError(auth(ROOT).testAuthenticate({ clientScopes: [], requiredScopes: [] }), 401, 'AuthenticationFailed');
});

await t('test-authenticate: authorizedScopes beyond clientScopes 401; within them 200', async () => {
  await expectError(client(taskcluster.Auth, TESTER, { authorizedScopes: ['test:b'] })
    .testAuthenticate({ clientScopes: ['test:a'], requiredScopes: [] }), 401);
  const res = await client(taskcluster.Auth, TESTER, { authorizedScopes: ['test:a'] })
    .testAuthenticate({ clientScopes: ['test:*'], requiredScopes: ['test:a'] });
  assert.ok(res.scopes.includes('test:a') && !res.scopes.includes('test:*'));
});

await t('test-authenticate without Content-Type: application/json: 400', async () => {
  const res = await signed('POST', '/api/auth/v1/test-authenticate', TESTER,
    { body: '{"clientScopes":[],"requiredScopes":[]}' });
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 'MalformedPayload');
});

await t('test-authenticate-get with temporary and named credentials from tester', async () => {
  const temp = taskcluster.createTemporaryCredentials({
    start: new Date(), expiry: taskcluster.fromNow('1 hour'), scopes: ['test:authenticate-get'], credentials: TESTER,
  });
  assert.equal((await auth(temp).testAuthenticateGet()).clientId, 'tester');
  const named = taskcluster.createTemporaryCredentials({
    clientId: 'test:temp-cred-issuer', start: new Date(), expiry: taskcluster.fromNow('1 hour'),
    scopes: ['test:authenticate-get'], credentials: TESTER,
  });
  assert.equal((await auth(named).testAuthenticateGet()).clientId, 'test:temp-cred-issuer');
  const narrow = taskcluster.createTemporaryCredentials({
    start: new Date(), expiry: taskcluster.fromNow('1 hour'), scopes: ['test:other'], credentials: TESTER,
  });
  await expectError(auth(narrow).testAuthenticateGet(), 403, 'InsufficientScopes');
});

await t('payload hash: checked when the header carries one (right 200, wrong 401)', async () => {
  const body = '{"clientScopes":["test:x"],"requiredScopes":["test:x"]}';
  const good = await signed('POST', '/api/auth/v1/test-authenticate', TESTER,
    { body, payload: body, contentType: 'application/json' });
  assert.equal(good.status, 200, JSON.stringify(good.json));
  const wrong = await signed('POST', '/api/auth/v1/test-authenticate', TESTER,
    { body, payload: body.replace('x', 'y'), contentType: 'application/json' });
  assert.equal(wrong.status, 401);
  assert.match(wrong.json.message, /Invalid payload hash/);
});

await t('timestamp skew: 10 minutes off accepted, 20 minutes off 401', async () => {
  const ten = await signed('GET', '/api/auth/v1/scopes/current', ROOT, { localtimeOffsetMsec: -10 * 60 * 1000 });
  assert.equal(ten.status, 200);
  const twenty = await signed('GET', '/api/auth/v1/scopes/current', ROOT, { localtimeOffsetMsec: -20 * 60 * 1000 });
  assert.equal(twenty.status, 401);
  assert.match(twenty.json.message, /Stale timestamp/);
});

await t('X-Forwarded-Port: a request signed for the forwarded port passes', async () => {
  const res = await signed('GET', '/api/auth/v1/scopes/current', ROOT, { port: 443, headers: [['X-Forwarded-Port', '443']] });
  assert.equal(res.status, 200);
  const wrong = await signed('GET', '/api/auth/v1/scopes/current', ROOT, { port: 443 });
  assert.equal(wrong.status, 401);
});

await t('flaky: n failures with a JSON 500 body, then 200 {attempts}', async () => {
  const key = crypto.randomBytes(6).toString('hex');
  for (let i = 1; i <= 2; i++) {
    const res = await request('GET', `/api/fake/v1/flaky/${key}/2`);
    assert.equal(res.status, 500);
    assert.equal(res.json.code, 'InternalServerError');
  }
  const res = await request('GET', `/api/fake/v1/flaky/${key}/2`);
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { attempts: 3 });
});

await t('flaky: taskcluster-client retries through it', async () => {
  const key = crypto.randomBytes(6).toString('hex');
  const res = await client(Fake, ROOT, { retries: 3, delayFactor: 10, maxDelay: 100 }).flaky(key, '2');
  assert.deepEqual(res, { attempts: 3 });
});

await t('status: 404 and 500 with JSON bodies, 303 with Location, 204 empty', async () => {
  for (const code of [404, 500, 418]) {
    const res = await request('GET', `/api/fake/v1/status/${code}`);
    assert.equal(res.status, code);
    assert.equal(res.json.status, code);
  }
  const redirect = await request('POST', '/api/fake/v1/status/303', { body: 'x' });
  assert.equal(redirect.status, 303);
  assert.equal(redirect.headers.location, `${rootUrl}/api/fake/v1/echo/redirected-from-303`);
  const empty = await request('GET', '/api/fake/v1/status/204');
  assert.equal(empty.status, 204);
  assert.equal(empty.body.length, 0);
});

await t('echo: raw target, every header with duplicates, body bytes', async () => {
  const target = '/api/fake/v1/echo/a%2Fb//c%252F?z=1&a=2&z=3';
  const body = crypto.randomBytes(3000);
  const res = await signed('PUT', target, NARROW, {
    headers: [['X-Dup', 'one'], ['X-Dup', 'two'], ['Content-Type', 'application/octet-stream']], body,
  });
  assert.equal(res.status, 200);
  assert.equal(res.json.method, 'PUT');
  assert.equal(res.json.url, target);
  assert.deepEqual(res.json.headers.filter(([k]) => k === 'X-Dup').map(([, v]) => v), ['one', 'two']);
  assert.ok(res.json.headers.some(([k, v]) => k === 'Authorization' && v.startsWith('Hawk ')));
  assert.equal(Buffer.from(res.json.body, 'base64').compare(body), 0);
  assert.equal(res.json.clientId, NARROW.clientId);
  assert.equal(res.json.authorizedScopes, null);
});

await t('echo: a bad signature is 401 even though no scope is required', async () => {
  const res = await signed('GET', '/api/fake/v1/echo/x', { clientId: NARROW.clientId, accessToken: 'wrong' });
  assert.equal(res.status, 401);
  const anon = await request('GET', '/api/fake/v1/echo/x');
  assert.equal(anon.status, 200);
  assert.equal(anon.json.clientId, 'auth-failed:no-auth');
});

await t('headers: a response header twice, Set-Cookie twice', async () => {
  const res = await request('GET', '/api/fake/v1/headers');
  const pairs = [];
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    pairs.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
  }
  assert.deepEqual(pairs.filter(([k]) => k === 'x-fake-multi').map(([, v]) => v), ['one', 'two']);
  assert.deepEqual(pairs.filter(([k]) => k === 'set-cookie').map(([, v]) => v), ['a=1; Path=/', 'b=2; Path=/']);
});

await t('slow: waits the given time', async () => {
  const start = Date.now();
  const res = await request('GET', '/api/fake/v1/slow/300');
  assert.equal(res.status, 200);
  assert.ok(Date.now() - start >= 290, `took ${Date.now() - start} ms`);
});

await t('big: the body has the size asked and the sha256 of X-Fake-Sha256', async () => {
  for (const size of [0, 1, 3 * 1024 * 1024 + 17]) {
    const res = await request('GET', `/api/fake/v1/big/${size}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.length, size);
    assert.equal(res.headers['x-fake-sha256'], crypto.createHash('sha256').update(res.body).digest('hex'));
  }
});

// --- the Queue's worker side, the object service, worker-manager, the
// S3 store and the admin endpoints ---

const queueAs = (creds, extra) => client(taskcluster.Queue, creds, extra);
const objectAs = (creds, extra) => client(taskcluster.Object, creds, extra);
const WorkerManager = taskcluster.createClient({
  serviceName: 'worker-manager',
  apiVersion: 'v1',
  entries: [{
    type: 'function', method: 'get', name: 'shouldWorkerTerminate', query: [],
    route: '/workers/<workerPoolId>/<workerGroup>/<workerId>/should-terminate',
    args: ['workerPoolId', 'workerGroup', 'workerId'],
  }],
}, 'WorkerManager');

const uniq = prefix => `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
const inADay = () => taskcluster.fromNowJSON('1 day');
const taskDef = (workerType, extra = {}) => ({
  provisionerId: PROV,
  workerType,
  created: new Date().toJSON(),
  deadline: taskcluster.fromNowJSON('1 hour'),
  payload: { command: ['true'] },
  metadata: { name: 'selftest', description: 'tc-fake selftest', owner: 'selftest@example.com', source: 'https://example.com/selftest' },
  ...extra,
});
const sha = (algo, data) => crypto.createHash(algo).update(data).digest('hex');
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
const admin = async (method, what, body, toPort) => {
  const res = await request(method, `/_fake/${what}`, {
    port: toPort, body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? [] : [['Content-Type', 'application/json']],
  });
  assert.ok(res.status < 300, `${method} /_fake/${what}: ${res.status} ${res.body}`);
  return res.json;
};
const certOf = creds => JSON.parse(creds.certificate);

// A new task on a queue of its own, claimed by WORKER: {taskId, workerType, claim, tq (a Queue
// client with the claim's credentials)}.
const claimedTask = async (extra = {}, { queue = queueAs(ROOT), worker = queueAs(WORKER) } = {}) => {
  const workerType = uniq('wt');
  const taskId = taskcluster.slugid();
  await queue.createTask(taskId, taskDef(workerType, extra));
  const { tasks } = await worker.claimWork(`${PROV}/${workerType}`, { tasks: 1, workerGroup: 'selftest-group', workerId: 'w1' });
  assert.equal(tasks.length, 1);
  return { taskId, workerType, claim: tasks[0], tq: queueAs(tasks[0].credentials) };
};

// The second tc-fake, for the timing tests.
let short = null;
const startShort = async () => {
  assert.ok(clientsFile, 'selftest needs --clients FILE to start a second tc-fake');
  const proc = spawn(process.execPath, [path.join(here, 'server.js'), '--port', '0', '--clients', clientsFile,
    '--claim-wait-ms', '400', '--claim-timeout-s', '1', '--terminate-after-calls', '2', '--cert-skew-ms', '0'],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', d => {
      out += d;
      if (out.includes('\n')) {
        resolve(out.trim());
      }
    });
    proc.on('exit', code => reject(new Error(`second tc-fake exited ${code}`)));
  });
  const url = line.replace(/^tc-fake listening on /, '');
  return { proc, rootUrl: url, port: new URL(url).port, as: (Cls, creds) => client(Cls, creds, { rootUrl: url }) };
};

await t('createTask: 200 pending with the Queue\'s defaults; task() and anonymous status()', async () => {
  const taskId = taskcluster.slugid(), workerType = uniq('wt');
  const { status } = await queueAs(ROOT).createTask(taskId, taskDef(workerType));
  assert.equal(status.state, 'pending');
  assert.equal(status.taskQueueId, `${PROV}/${workerType}`);
  assert.equal(status.retriesLeft, 5);
  assert.deepEqual(status.runs.map(r => [r.runId, r.state, r.reasonCreated]), [[0, 'pending', 'scheduled']]);
  const def = await queueAs(null).task(taskId);
  assert.equal(def.schedulerId, '-');
  assert.equal(def.projectId, 'none');
  assert.equal(def.taskGroupId, taskId);
  assert.equal(def.priority, 'lowest');
  assert.deepEqual([def.dependencies, def.routes, def.scopes, def.tags], [[], [], [], {}]);
  const expires = new Date(def.deadline);
  expires.setFullYear(expires.getFullYear() + 1);
  assert.equal(def.expires, expires.toJSON());
  assert.deepEqual((await queueAs(null).status(taskId)).status, status);
  await expectError(queueAs(null).status(taskcluster.slugid()), 404, 'ResourceNotFound');
});

await t('createTask: the same definition again 200, a different one 409', async () => {
  const taskId = taskcluster.slugid(), def = taskDef(uniq('wt'));
  await queueAs(ROOT).createTask(taskId, def);
  assert.equal((await queueAs(ROOT).createTask(taskId, def)).status.runs.length, 1);
  await expectError(queueAs(ROOT).createTask(taskId, { ...def, payload: { other: 1 } }), 409, 'RequestConflict');
});

await t('createTask scopes: priority lowest ok; higher priority or a task scope it lacks 403', async () => {
  const wt = uniq('wt');
  await queueAs(CREATOR).createTask(taskcluster.slugid(), taskDef(wt, { scopes: ['secrets:get:selftest/creator/x'] }));
  const high = await expectError(queueAs(CREATOR).createTask(taskcluster.slugid(), taskDef(wt, { priority: 'high' })),
    403, 'InsufficientScopes');
  assert.match(high.message, new RegExp(`queue:create-task:high:${PROV}/${wt}`));
  await expectError(queueAs(CREATOR).createTask(taskcluster.slugid(), taskDef(wt, { scopes: ['secrets:get:other'] })),
    403, 'InsufficientScopes');
  await expectError(queueAs(NARROW).createTask(taskcluster.slugid(), taskDef(wt)), 403, 'InsufficientScopes');
});

await t('createTask: deadline in the past 400 InputError; no metadata 400 InputValidationError', async () => {
  const past = taskDef(uniq('wt'), { deadline: new Date(Date.now() - 60000).toJSON(), created: new Date(Date.now() - 120000).toJSON() });
  const err = await expectError(queueAs(ROOT).createTask(taskcluster.slugid(), past), 400, 'InputError');
  assert.match(err.message, /`deadline` cannot be in the past/);
  const def = taskDef(uniq('wt'));
  delete def.metadata;
  await expectError(queueAs(ROOT).createTask(taskcluster.slugid(), def), 400, 'InputValidationError');
});

await t('claimWork: the claim, and task credentials exactly as task-creds.js issues them', async () => {
  const scopes = ['secrets:get:selftest/task/*'];
  const { taskId, claim } = await claimedTask({ scopes });
  assert.deepEqual(Object.keys(claim).sort(), ['credentials', 'runId', 'status', 'takenUntil', 'task', 'workerGroup', 'workerId']);
  assert.equal(claim.runId, 0);
  assert.equal(claim.workerGroup, 'selftest-group');
  assert.equal(claim.workerId, 'w1');
  assert.equal(claim.status.state, 'running');
  assert.equal(claim.task.payload.command[0], 'true');
  const takenUntil = new Date(claim.takenUntil).getTime();
  assert.ok(Math.abs(takenUntil - Date.now() - 1200 * 1000) < 10000, `takenUntil ${claim.takenUntil}`);
  assert.equal(claim.credentials.clientId, `task-client/${taskId}/0/on/selftest-group/w1/until/${takenUntil / 1000}`);
  const cert = certOf(claim.credentials);
  assert.equal(cert.issuer, ROOT.clientId);
  assert.equal(cert.expiry, takenUntil);
  assert.deepEqual(cert.scopes, [`queue:reclaim-task:${taskId}/0`, `queue:resolve-task:${taskId}/0`,
    `queue:create-artifact:${taskId}/0`, ...scopes]);
  // they verify here, with the task's scopes
  const res = await auth(claim.credentials).currentScopes();
  assert.ok(res.scopes.includes(`queue:resolve-task:${taskId}/0`) && res.scopes.includes(scopes[0]));
  assert.equal(await echoOf(claim.credentials), claim.credentials.clientId);
});

await t('claimWork scopes: no claim-work scope 403; another workerGroup 403; task credentials 403', async () => {
  const { workerType, claim } = await claimedTask();
  const tq = `${PROV}/${workerType}`;
  await expectError(queueAs(NOCLAIM).claimWork(tq, { tasks: 1, workerGroup: 'selftest-group', workerId: 'w1' }),
    403, 'InsufficientScopes');
  await expectError(queueAs(WORKER).claimWork(tq, { tasks: 1, workerGroup: 'other-group', workerId: 'w1' }),
    403, 'InsufficientScopes');
  await expectError(queueAs(claim.credentials).claimWork(tq, { tasks: 1, workerGroup: 'selftest-group', workerId: 'w1' }),
    403, 'InsufficientScopes');
  await expectError(queueAs(WORKER).claimWork(`other-prov/${workerType}`, { tasks: 1, workerGroup: 'selftest-group', workerId: 'w1' }),
    403, 'InsufficientScopes');
});

await t('claimWork: tasks 33 or a bad workerId 400 InputValidationError; the path carries %2F', async () => {
  const wt = uniq('wt');
  await expectError(queueAs(WORKER).claimWork(`${PROV}/${wt}`, { tasks: 33, workerGroup: 'selftest-group', workerId: 'w1' }),
    400, 'InputValidationError');
  await expectError(queueAs(WORKER).claimWork(`${PROV}/${wt}`, { tasks: 1, workerGroup: 'selftest-group', workerId: 'w/1' }),
    400, 'InputValidationError');
  const { calls } = await admin('GET', 'calls');
  assert.ok(calls.some(c => c.target === `/api/queue/v1/claim-work/${PROV}%2F${wt}` && c.status === 400));
});

await t('claimWork: highest priority first, at most `tasks` claims', async () => {
  const wt = uniq('wt'), ids = [taskcluster.slugid(), taskcluster.slugid(), taskcluster.slugid()];
  await queueAs(ROOT).createTask(ids[0], taskDef(wt));
  await queueAs(ROOT).createTask(ids[1], taskDef(wt, { priority: 'high' }));
  await queueAs(ROOT).createTask(ids[2], taskDef(wt));
  const { tasks } = await queueAs(WORKER).claimWork(`${PROV}/${wt}`, { tasks: 2, workerGroup: 'selftest-group', workerId: 'w1' });
  assert.deepEqual(tasks.map(c => c.status.taskId), [ids[1], ids[0]]);
  const rest = await queueAs(WORKER).claimWork(`${PROV}/${wt}`, { tasks: 32, workerGroup: 'selftest-group', workerId: 'w2' });
  assert.deepEqual(rest.tasks.map(c => [c.status.taskId, c.workerId]), [[ids[2], 'w2']]);
});

await t('claimWork long poll: a task created mid-poll is claimed at once', async () => {
  const wt = uniq('wt'), taskId = taskcluster.slugid();
  const start = Date.now();
  const polling = queueAs(WORKER).claimWork(`${PROV}/${wt}`, { tasks: 1, workerGroup: 'selftest-group', workerId: 'w1' });
  await sleep(300);
  await queueAs(ROOT).createTask(taskId, taskDef(wt));
  const { tasks } = await polling;
  const took = Date.now() - start;
  assert.deepEqual(tasks.map(c => c.status.taskId), [taskId]);
  assert.ok(took >= 290 && took < 1500, `took ${took} ms`);
});

await t('claimWork long poll: a caller that hangs up claims nothing', async () => {
  const wt = uniq('wt'), taskId = taskcluster.slugid();
  const body = JSON.stringify({ tasks: 1, workerGroup: 'selftest-group', workerId: 'gone' });
  const target = `/api/queue/v1/claim-work/${PROV}%2F${wt}`;
  const header = hawk.client.header(`http://127.0.0.1:${port}${target}`, 'POST',
    { credentials: { id: WORKER.clientId, key: WORKER.accessToken, algorithm: 'sha256' } });
  const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: target, agent: false,
    headers: { Authorization: header.header, 'Content-Type': 'application/json' } });
  req.on('error', () => {});
  req.end(body);
  await sleep(200);
  req.destroy();
  await sleep(100);
  await queueAs(ROOT).createTask(taskId, taskDef(wt));
  await sleep(100);
  assert.equal((await queueAs(null).status(taskId)).status.state, 'pending');
  const { tasks } = await queueAs(WORKER).claimWork(`${PROV}/${wt}`, { tasks: 1, workerGroup: 'selftest-group', workerId: 'w1' });
  assert.deepEqual(tasks.map(c => [c.status.taskId, c.workerId]), [[taskId, 'w1']]);
});

await t('second tc-fake (--claim-wait-ms 400 --claim-timeout-s 1 ...) starts', async () => {
  short = await startShort();
  assert.match(short.rootUrl, /^http:\/\/127\.0\.0\.1:[0-9]+$/);
});

await t('claimWork long poll: nothing pending, {"tasks": []} after --claim-wait-ms', async () => {
  const start = Date.now();
  const res = await short.as(taskcluster.Queue, WORKER).claimWork(`${PROV}/${uniq('wt')}`,
    { tasks: 1, workerGroup: 'selftest-group', workerId: 'w1' });
  const took = Date.now() - start;
  assert.deepEqual(res, { tasks: [] });
  assert.ok(took >= 390 && took < 2000, `took ${took} ms`);
});

await t('reclaimTask: later takenUntil, new credentials; with them again; worker creds 403', async () => {
  const { taskId, claim, tq } = await claimedTask();
  await sleep(20);
  const re = await tq.reclaimTask(taskId, '0');
  assert.ok(new Date(re.takenUntil) > new Date(claim.takenUntil));
  assert.equal(re.status.runs[0].takenUntil, re.takenUntil);
  assert.equal(re.credentials.clientId, `task-client/${taskId}/0/on/selftest-group/w1/until/${new Date(re.takenUntil).getTime() / 1000}`);
  assert.equal(certOf(re.credentials).expiry, new Date(re.takenUntil).getTime());
  assert.deepEqual([re.runId, re.workerGroup, re.workerId], [0, 'selftest-group', 'w1']);
  await queueAs(re.credentials).reclaimTask(taskId, '0');
  await expectError(queueAs(WORKER).reclaimTask(taskId, '0'), 403, 'InsufficientScopes');
  await expectError(tq.reclaimTask(taskId, '1'), 403, 'InsufficientScopes');
});

await t('task credentials of one run cannot resolve, reclaim or create artifacts for another', async () => {
  const a = await claimedTask(), b = await claimedTask();
  await expectError(a.tq.reportCompleted(b.taskId, '0'), 403, 'InsufficientScopes');
  await expectError(a.tq.reportException(b.taskId, '0', { reason: 'worker-shutdown' }), 403, 'InsufficientScopes');
  await expectError(a.tq.reclaimTask(b.taskId, '0'), 403, 'InsufficientScopes');
  await expectError(a.tq.createArtifact(b.taskId, '0', 'public/x', { storageType: 'error', expires: inADay(),
    reason: 'file-missing-on-worker', message: 'm' }), 403, 'InsufficientScopes');
  assert.equal((await queueAs(null).status(b.taskId)).status.state, 'running');
});

await t('reportCompleted: 200, again 200; then failed, reclaim, createArtifact 409', async () => {
  const { taskId, tq } = await claimedTask();
  assert.equal((await tq.reportCompleted(taskId, '0')).status.state, 'completed');
  const again = await tq.reportCompleted(taskId, '0');
  assert.deepEqual(again.status.runs.map(r => [r.state, r.reasonResolved]), [['completed', 'completed']]);
  await expectError(tq.reportFailed(taskId, '0'), 409, 'RequestConflict');
  await expectError(tq.reportException(taskId, '0', { reason: 'internal-error' }), 409, 'RequestConflict');
  await expectError(tq.reclaimTask(taskId, '0'), 409, 'RequestConflict');
  await expectError(tq.createArtifact(taskId, '0', 'public/late.txt', { storageType: 's3', contentType: 'text/plain', expires: inADay() }),
    409, 'RequestConflict');
  await expectError(queueAs(ROOT).reportCompleted(taskId, '1'), 404, 'ResourceNotFound');
});

await t('reportFailed: failed/failed; a reportException body outside the enum 400', async () => {
  const { taskId, tq } = await claimedTask();
  await expectError(tq.reportException(taskId, '0', { reason: 'superseded-by-me' }), 400, 'InputValidationError');
  const { status } = await tq.reportFailed(taskId, '0');
  assert.deepEqual([status.state, status.runs[0].reasonResolved], ['failed', 'failed']);
});

await t('reportException worker-shutdown: a new pending run (retry) that the next claim gets', async () => {
  const { taskId, workerType, tq } = await claimedTask();
  const { status } = await tq.reportException(taskId, '0', { reason: 'worker-shutdown' });
  assert.deepEqual(status.runs.map(r => [r.runId, r.state, r.reasonCreated, r.reasonResolved]),
    [[0, 'exception', 'scheduled', 'worker-shutdown'], [1, 'pending', 'retry', undefined]]);
  assert.equal(status.retriesLeft, 4);
  assert.equal(status.state, 'pending');
  await tq.reportException(taskId, '0', { reason: 'worker-shutdown' }); // idempotent
  await expectError(tq.reportException(taskId, '0', { reason: 'internal-error' }), 409, 'RequestConflict');
  const { tasks } = await queueAs(WORKER).claimWork(`${PROV}/${workerType}`, { tasks: 1, workerGroup: 'selftest-group', workerId: 'w9' });
  assert.deepEqual(tasks.map(c => [c.status.taskId, c.runId, c.workerId]), [[taskId, 1, 'w9']]);
  assert.match(tasks[0].credentials.clientId, new RegExp(`^task-client/${taskId}/1/on/selftest-group/w9/until/`));
});

await t('reportException intermittent-task: task-retry; with retries 0 no new run; other reasons none', async () => {
  const a = await claimedTask();
  const ra = await a.tq.reportException(a.taskId, '0', { reason: 'intermittent-task' });
  assert.deepEqual(ra.status.runs.map(r => r.reasonCreated), ['scheduled', 'task-retry']);
  const b = await claimedTask({ retries: 0 });
  const rb = await b.tq.reportException(b.taskId, '0', { reason: 'worker-shutdown' });
  assert.deepEqual([rb.status.state, rb.status.runs.length, rb.status.retriesLeft], ['exception', 1, 0]);
  const c = await claimedTask();
  const rc = await c.tq.reportException(c.taskId, '0', { reason: 'malformed-payload' });
  assert.deepEqual([rc.status.state, rc.status.runs.length], ['exception', 1]);
});

await t('claim expiry (--claim-timeout-s 1): exception/claim-expired, a retry run; the old claim 409', async () => {
  const wt = uniq('wt'), taskId = taskcluster.slugid();
  const sq = short.as(taskcluster.Queue, ROOT);
  await sq.createTask(taskId, taskDef(wt, { retries: 1 }));
  const { tasks } = await short.as(taskcluster.Queue, WORKER).claimWork(`${PROV}/${wt}`,
    { tasks: 1, workerGroup: 'selftest-group', workerId: 'w1' });
  assert.ok(new Date(tasks[0].takenUntil) - Date.now() <= 1000);
  await sleep(1300);
  const { status } = await sq.status(taskId);
  assert.deepEqual(status.runs.map(r => [r.state, r.reasonCreated, r.reasonResolved]),
    [['exception', 'scheduled', 'claim-expired'], ['pending', 'retry', undefined]]);
  assert.equal(status.retriesLeft, 0);
  // the claim's credentials have expired too (--cert-skew-ms 0)
  await expectError(short.as(taskcluster.Queue, tasks[0].credentials).reclaimTask(taskId, '0'), 401, 'AuthenticationFailed');
  await expectError(sq.reclaimTask(taskId, '0'), 409, 'RequestConflict');
});

await t('deadline: exception/deadline-exceeded, never claimed', async () => {
  const wt = uniq('wt'), taskId = taskcluster.slugid();
  const sq = short.as(taskcluster.Queue, ROOT);
  await sq.createTask(taskId, taskDef(wt, { deadline: new Date(Date.now() + 300).toJSON() }));
  await sleep(450);
  const { status } = await sq.status(taskId);
  assert.deepEqual(status.runs.map(r => [r.state, r.reasonResolved]), [['exception', 'deadline-exceeded']]);
  const res = await short.as(taskcluster.Queue, WORKER).claimWork(`${PROV}/${wt}`, { tasks: 1, workerGroup: 'selftest-group', workerId: 'w1' });
  assert.deepEqual(res.tasks, []);
});

await t('dependencies: pending once the dependency completes', async () => {
  const a = await claimedTask();
  const taskId = taskcluster.slugid();
  const { status } = await queueAs(ROOT).createTask(taskId, taskDef(a.workerType, { dependencies: [a.taskId] }));
  assert.deepEqual([status.state, status.runs.length], ['unscheduled', 0]);
  await expectError(queueAs(ROOT).createTask(taskcluster.slugid(), taskDef(a.workerType, { dependencies: [taskcluster.slugid()] })),
    400, 'InputError');
  await a.tq.reportCompleted(a.taskId, '0');
  const { tasks } = await queueAs(WORKER).claimWork(`${PROV}/${a.workerType}`, { tasks: 1, workerGroup: 'selftest-group', workerId: 'w1' });
  assert.deepEqual(tasks.map(c => c.status.taskId), [taskId]);
});

await t('cancelTask: pending and running runs resolve exception/canceled; reclaim then 409; scope 403', async () => {
  const wt = uniq('wt'), pending = taskcluster.slugid();
  await queueAs(ROOT).createTask(pending, taskDef(wt));
  await expectError(queueAs(WORKER).cancelTask(pending), 403, 'InsufficientScopes');
  const c1 = await queueAs(ROOT).cancelTask(pending);
  assert.deepEqual(c1.status.runs.map(r => [r.state, r.reasonResolved]), [['exception', 'canceled']]);
  const { taskId, tq } = await claimedTask();
  const c2 = await queueAs(ROOT).cancelTask(taskId);
  assert.equal(c2.status.runs[0].reasonResolved, 'canceled');
  await expectError(tq.reclaimTask(taskId, '0'), 409, 'RequestConflict');
  await expectError(tq.reportCompleted(taskId, '0'), 409, 'RequestConflict');
  // logs may still be uploaded after an exception
  await tq.createArtifact(taskId, '0', 'public/logs/live.log', { storageType: 'error', expires: inADay(),
    reason: 'file-missing-on-worker', message: 'canceled' });
  assert.deepEqual((await queueAs(ROOT).cancelTask(taskId)).status, (await queueAs(null).status(taskId)).status);
});

await t('s3 artifact: putUrl, the PUT keeps bytes and headers; getArtifact 303 to them; listed', async () => {
  const { taskId, tq } = await claimedTask();
  const name = 'public/logs/live_backing.log';
  const body = zlib.gzipSync(Buffer.from('hello from the task\n'));
  const res = await tq.createArtifact(taskId, '0', name, { storageType: 's3', contentType: 'text/plain; charset=utf-8',
    expires: inADay(), contentLength: 20 });
  assert.deepEqual(Object.keys(res).sort(), ['contentType', 'expires', 'putUrl', 'storageType']);
  assert.equal(res.contentType, 'text/plain; charset=utf-8');
  const put = new URL(res.putUrl);
  assert.equal(put.origin, rootUrl);
  assert.equal(put.pathname, `/s3/artifacts/${taskId}/0/public/logs/live_backing.log`);
  const up = await request('PUT', put.pathname + put.search, { body, headers: [
    ['Content-Type', 'text/plain; charset=utf-8'], ['Content-Encoding', 'gzip'], ['Content-Length', String(body.length)]] });
  assert.equal(up.status, 200, up.body.toString());
  assert.match(up.headers.etag, /^"[0-9a-f]{32}"$/);
  const got = await queueAs(null).getArtifact(taskId, '0', name);
  assert.deepEqual(got, { storageType: 's3', url: `${rootUrl}/s3/artifacts/${taskId}/0/public/logs/live_backing.log` });
  const latest = await request('GET', `/api/queue/v1/task/${taskId}/artifacts/${encodeURIComponent(name)}`);
  assert.equal(latest.status, 303);
  assert.equal(latest.headers.location, got.url);
  assert.equal(latest.headers['x-taskcluster-artifact-storage-type'], 's3');
  const data = await request('GET', new URL(got.url).pathname);
  assert.equal(data.status, 200);
  assert.equal(data.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(data.headers['content-encoding'], 'gzip');
  assert.equal(data.headers['content-length'], String(body.length));
  assert.equal(data.body.compare(body), 0);
  const stored = await request('GET', `/_fake/artifact/${taskId}/0/${name}`);
  assert.equal(stored.body.compare(body), 0);
  assert.equal(stored.headers['content-encoding'], 'gzip');
  const list = await queueAs(null).listArtifacts(taskId, '0');
  assert.deepEqual(list.artifacts.map(a => [a.name, a.storageType, a.contentType]), [[name, 's3', 'text/plain; charset=utf-8']]);
  const summary = await admin('GET', `artifacts/${taskId}`);
  assert.deepEqual(summary.runs[0].artifacts[0].stored, { size: body.length, sha256: sha('sha256', body),
    contentType: 'text/plain; charset=utf-8', contentEncoding: 'gzip' });
  assert.equal(summary.runs[0].artifacts[0].contentLength, 20);
});

await t('S3 store: wrong Content-Type 403, no signature 403, chunked 411, unknown key 404', async () => {
  const { taskId, tq } = await claimedTask();
  const { putUrl } = await tq.createArtifact(taskId, '0', 'public/a.bin', { storageType: 's3',
    contentType: 'application/octet-stream', expires: inADay() });
  const u = new URL(putUrl);
  const wrong = await request('PUT', u.pathname + u.search, { body: 'x', headers: [['Content-Type', 'text/plain']] });
  assert.equal(wrong.status, 403);
  assert.match(wrong.body.toString(), /<Code>SignatureDoesNotMatch<\/Code>/);
  const unsigned = await request('PUT', u.pathname, { body: 'x', headers: [['Content-Type', 'application/octet-stream']] });
  assert.equal(unsigned.status, 403);
  assert.match(unsigned.body.toString(), /<Code>AccessDenied<\/Code>/);
  const chunked = await request('PUT', u.pathname + u.search, { chunks: ['a', 'b'],
    headers: [['Content-Type', 'application/octet-stream']] });
  assert.equal(chunked.status, 411);
  assert.match(chunked.body.toString(), /<Code>MissingContentLength<\/Code>/);
  const none = await request('GET', '/s3/artifacts/none');
  assert.equal(none.status, 404);
  assert.match(none.body.toString(), /<Code>NoSuchKey<\/Code>/);
  const { calls } = await admin('GET', 'calls');
  const c = calls.filter(x => x.api === 's3.put' && x.target.startsWith(u.pathname)).map(x => [x.status, x.headers['transfer-encoding'] || '']);
  assert.deepEqual(c, [[403, ''], [403, ''], [411, 'chunked']]);
});

await t('createArtifact conflicts: same call 200, other contentType/earlier expiry/type 409, reference -> link ok', async () => {
  const { taskId, tq } = await claimedTask();
  const expires = inADay();
  const s3 = { storageType: 's3', contentType: 'text/plain', expires };
  await tq.createArtifact(taskId, '0', 'public/a', s3);
  await tq.createArtifact(taskId, '0', 'public/a', s3);
  await expectError(tq.createArtifact(taskId, '0', 'public/a', { ...s3, contentType: 'text/html' }), 409, 'RequestConflict');
  await tq.createArtifact(taskId, '0', 'public/a', { ...s3, expires: taskcluster.fromNowJSON('2 days') });
  await expectError(tq.createArtifact(taskId, '0', 'public/a', { ...s3, expires: taskcluster.fromNowJSON('1 day') }), 409, 'RequestConflict');
  await expectError(tq.createArtifact(taskId, '0', 'public/a', { storageType: 'error', expires: taskcluster.fromNowJSON('3 days'),
    reason: 'file-missing-on-worker', message: 'x' }), 409, 'RequestConflict');
  const ref = { storageType: 'reference', contentType: 'text/plain', expires, url: 'https://example.com/live' };
  assert.deepEqual(await tq.createArtifact(taskId, '0', 'public/logs/live.log', ref), { storageType: 'reference' });
  await tq.createArtifact(taskId, '0', 'public/logs/live.log', { ...ref, url: 'https://example.com/other' });
  assert.deepEqual(await tq.createArtifact(taskId, '0', 'public/logs/live.log',
    { storageType: 'link', contentType: 'text/plain', expires, artifact: 'public/a' }), { storageType: 'link' });
  await expectError(tq.createArtifact(taskId, '0', 'public/logs/live.log', ref), 409, 'RequestConflict');
});

await t('getArtifact: error 424 {reason, message}; reference 303 to its url; links followed; a cycle 400', async () => {
  const { taskId, tq } = await claimedTask();
  const expires = inADay();
  await tq.createArtifact(taskId, '0', 'public/missing', { storageType: 'error', expires,
    reason: 'file-missing-on-worker', message: 'Could not read file \'/x\'' });
  const err = await request('GET', `/api/queue/v1/task/${taskId}/runs/0/artifacts/public/missing`);
  assert.equal(err.status, 424);
  assert.deepEqual(err.json, { reason: 'file-missing-on-worker', message: 'Could not read file \'/x\'' });
  assert.equal(err.headers['x-taskcluster-artifact-storage-type'], 'error');
  await tq.createArtifact(taskId, '0', 'public/ref', { storageType: 'reference', contentType: 'text/plain', expires, url: 'https://example.com/r' });
  const ref = await request('GET', `/api/queue/v1/task/${taskId}/artifacts/public/ref`);
  assert.deepEqual([ref.status, ref.headers.location], [303, 'https://example.com/r']);
  await tq.createArtifact(taskId, '0', 'public/l1', { storageType: 'link', expires, artifact: 'public/ref' });
  await tq.createArtifact(taskId, '0', 'private/l2', { storageType: 'link', expires, artifact: 'public/l1' });
  const link = await queueAs(ROOT).getArtifact(taskId, '0', 'private/l2');
  assert.deepEqual(link, { storageType: 'reference', url: 'https://example.com/r' });
  // every name on the way needs its scope: private/l2 is not public
  await expectError(queueAs(null).getArtifact(taskId, '0', 'private/l2'), 403, 'InsufficientScopes');
  await tq.createArtifact(taskId, '0', 'public/to-private', { storageType: 'link', expires, artifact: 'private/l2' });
  const via = await expectError(queueAs(null).getArtifact(taskId, '0', 'public/to-private'), 403, 'InsufficientScopes');
  assert.match(via.message, /queue:get-artifact:private\/l2/);
  await tq.createArtifact(taskId, '0', 'public/c1', { storageType: 'link', expires, artifact: 'public/c2' });
  await tq.createArtifact(taskId, '0', 'public/c2', { storageType: 'link', expires, artifact: 'public/c1' });
  const cycle = await request('GET', `/api/queue/v1/task/${taskId}/runs/0/artifacts/public/c1`);
  assert.equal(cycle.status, 400);
  assert.match(cycle.json.message, /link cycle/);
  const listed = await queueAs(null).listLatestArtifacts(taskId);
  assert.deepEqual(listed.artifacts.map(a => a.name),
    ['private/l2', 'public/c1', 'public/c2', 'public/l1', 'public/missing', 'public/ref', 'public/to-private']);
  assert.equal(listed.artifacts[0].contentType, 'application/binary');
});

await t('createArtifact: expires after task.expires 400; unknown storageType 400; unknown run 400', async () => {
  const { taskId, tq } = await claimedTask({ expires: taskcluster.fromNowJSON('2 hours') });
  const e = await expectError(tq.createArtifact(taskId, '0', 'public/x', { storageType: 's3', contentType: 'text/plain',
    expires: taskcluster.fromNowJSON('3 hours') }), 400, 'InputError');
  assert.match(e.message, /after the task expiration/);
  await expectError(tq.createArtifact(taskId, '0', 'public/x', { storageType: 'azure', contentType: 'text/plain', expires: inADay() }),
    400, 'InputValidationError');
  const r1 = await expectError(queueAs(ROOT).createArtifact(taskId, '1', 'public/x', { storageType: 'error', expires: inADay(),
    reason: 'file-missing-on-worker', message: 'x' }), 400, 'InputError');
  assert.match(r1.message, /^Run not found/);
  await expectError(queueAs(ROOT).finishArtifact(taskId, '0', 'public/x', { uploadId: taskcluster.slugid() }), 404, 'ResourceNotFound');
});

await t('object artifact: createArtifact, createUpload (putUrl), PUT, finishUpload, finishArtifact, getArtifact', async () => {
  const { taskId, tq } = await claimedTask();
  const name = 'public/build/target.tar.gz';
  const data = crypto.randomBytes(20000);
  const expires = inADay();
  const res = await tq.createArtifact(taskId, '0', name, { storageType: 'object', contentType: 'application/gzip', expires,
    contentLength: data.length });
  assert.deepEqual(Object.keys(res).sort(), ['credentials', 'expires', 'name', 'projectId', 'storageType', 'uploadId']);
  assert.equal(res.name, `t/${taskId}/0/${name}`);
  assert.equal(res.projectId, 'none');
  assert.equal(res.expires, new Date(expires).toJSON());
  assert.equal(res.credentials.clientId, `artifact-upload/${taskId}/0/on/selftest-group/w1`);
  assert.deepEqual(certOf(res.credentials).scopes, [`object:upload:none:${res.name}`]);
  // not visible before it is finished
  await expectError(queueAs(null).getArtifact(taskId, '0', name), 404, 'ResourceNotFound');
  assert.deepEqual((await queueAs(null).listArtifacts(taskId, '0')).artifacts, []);
  const fin = await expectError(tq.finishArtifact(taskId, '0', name, { uploadId: res.uploadId }), 400, 'InputError');
  assert.match(fin.message, /Object storing artifact data does not exist/);
  // the upload as the real client library does it (putUrl for > 8 KiB)
  const object = objectAs(res.credentials);
  await taskcluster.upload({ projectId: res.projectId, name: res.name, contentType: 'application/gzip', contentLength: data.length,
    expires: new Date(res.expires), object, uploadId: res.uploadId, streamFactory: async () => Readable.from([data]), retries: 0 });
  const wrongId = await expectError(tq.finishArtifact(taskId, '0', name, { uploadId: taskcluster.slugid() }), 400, 'InputError');
  assert.match(wrongId.message, /given uploadId does not match/);
  await tq.finishArtifact(taskId, '0', name, { uploadId: res.uploadId });
  await tq.finishArtifact(taskId, '0', name, { uploadId: res.uploadId });
  const got = await queueAs(null).getArtifact(taskId, '0', name);
  assert.deepEqual(got, { storageType: 'object', url: `${rootUrl}/s3/objects/t/${taskId}/0/public/build/target.tar.gz` });
  const bytes = await request('GET', new URL(got.url).pathname);
  assert.equal(bytes.headers['content-type'], 'application/gzip');
  assert.equal(bytes.body.compare(data), 0);
  // the object service's simple download: the same place, with object:download:<name>
  const dl = await signed('GET', `/api/object/v1/download/${encodeURIComponent(res.name)}`, ROOT);
  assert.deepEqual([dl.status, dl.headers.location], [303, got.url]);
  assert.equal((await request('GET', `/api/object/v1/download/${encodeURIComponent(res.name)}`)).status, 403);
  const { calls } = await admin('GET', 'calls');
  const create = calls.filter(c => c.api === 'object.createUpload' && c.body?.uploadId === res.uploadId);
  assert.deepEqual(Object.keys(create[0].body.proposedUploadMethods), ['putUrl']);
  assert.equal(create[0].clientId, res.credentials.clientId);
  const finish = calls.find(c => c.api === 'object.finishUpload' && c.body?.uploadId === res.uploadId);
  assert.deepEqual(finish.body.hashes, { sha256: sha('sha256', data), sha512: sha('sha512', data) });
  assert.deepEqual(calls.filter(c => c.api === 's3.put' && c.target.startsWith(`/s3/objects/t/${taskId}/`))
    .map(c => [c.status, c.headers['content-type'], c.headers['content-length']]), [[200, 'application/gzip', String(data.length)]]);
  await expectError(tq.createArtifact(taskId, '0', name, { storageType: 'object', contentType: 'application/gzip', expires }),
    409, 'RequestConflict');
});

await t('object service: dataInline; wrong hashes, wrong uploadId, no data 409; other names 403', async () => {
  const { taskId, tq } = await claimedTask();
  const mk = async n => tq.createArtifact(taskId, '0', n, { storageType: 'object', contentType: 'text/plain', expires: inADay() });
  const a = await mk('public/small.txt');
  const oa = objectAs(a.credentials);
  const data = Buffer.from('small object\n');
  const up = await oa.createUpload(a.name, { projectId: 'none', uploadId: a.uploadId, expires: a.expires,
    proposedUploadMethods: { dataInline: { contentType: 'text/plain', objectData: data.toString('base64') } } });
  assert.deepEqual(up, { projectId: 'none', uploadId: a.uploadId, expires: a.expires, uploadMethod: { dataInline: true } });
  const hashes = { sha256: sha('sha256', data), sha512: sha('sha512', data) };
  const bad = await expectError(oa.finishUpload(a.name, { projectId: 'none', uploadId: a.uploadId,
    hashes: { ...hashes, sha256: sha('sha256', 'other') } }), 409, 'RequestConflict');
  assert.match(bad.message, /sha256 hash given .* the uploaded data's is/);
  await expectError(oa.finishUpload(a.name, { projectId: 'none', uploadId: taskcluster.slugid(), hashes }), 409, 'RequestConflict');
  await expectError(oa.finishUpload(a.name, { projectId: 'other', uploadId: a.uploadId, hashes }), 403, 'InsufficientScopes');
  assert.deepEqual(await oa.finishUpload(a.name, { projectId: 'none', uploadId: a.uploadId, hashes }), {});
  assert.deepEqual(await oa.finishUpload(a.name, { projectId: 'none', uploadId: a.uploadId, hashes }), {});
  await tq.finishArtifact(taskId, '0', 'public/small.txt', { uploadId: a.uploadId });
  // upload credentials are for that one object
  const b = await mk('public/b.txt');
  await expectError(oa.createUpload(b.name, { projectId: 'none', uploadId: b.uploadId, expires: b.expires,
    proposedUploadMethods: {} }), 403, 'InsufficientScopes');
  const ob = objectAs(b.credentials);
  await expectError(ob.createUpload(b.name, { projectId: 'none', uploadId: taskcluster.slugid(), expires: b.expires,
    proposedUploadMethods: {} }), 409, 'RequestConflict');
  const nodata = await expectError(ob.finishUpload(b.name, { projectId: 'none', uploadId: b.uploadId }), 409, 'RequestConflict');
  assert.match(nodata.message, /no data was uploaded/);
  const put = await ob.createUpload(b.name, { projectId: 'none', uploadId: b.uploadId, expires: b.expires,
    proposedUploadMethods: { putUrl: { contentType: 'text/plain', contentLength: 3 } } });
  assert.deepEqual(put.uploadMethod.putUrl.headers, { 'Content-Type': 'text/plain', 'Content-Length': '3' });
  const u = new URL(put.uploadMethod.putUrl.url);
  assert.equal((await request('PUT', u.pathname + u.search, { body: 'abc', headers: Object.entries(put.uploadMethod.putUrl.headers) })).status, 200);
  await ob.finishUpload(b.name, { projectId: 'none', uploadId: b.uploadId, hashes: { sha256: sha('sha256', 'abc') } });
  const { url } = await queueAs(null).getArtifact(taskId, '0', 'public/small.txt');
  assert.equal((await request('GET', new URL(url).pathname)).body.toString(), 'small object\n');
});

await t('shouldWorkerTerminate: false; PUT /_fake/worker-manager terminateAfterCalls 2 -> true from call 2; 403', async () => {
  const wm = client(WorkerManager, WORKER);
  const pool = `${PROV}/${uniq('wt')}`;
  assert.equal((await wm.shouldWorkerTerminate(pool, 'selftest-group', 'w1')).terminate, false);
  await admin('PUT', 'worker-manager', { terminateAfterCalls: 2 });
  const answers = [];
  for (let i = 0; i < 3; i++) {
    answers.push((await wm.shouldWorkerTerminate(pool, 'selftest-group', 'w1')).terminate);
  }
  assert.deepEqual(answers, [false, true, true]);
  assert.deepEqual(await admin('PUT', 'worker-manager', { terminateAfterCalls: 0 }), { terminateAfterCalls: 0, calls: 0 });
  await expectError(wm.shouldWorkerTerminate(`other/${uniq('wt')}`, 'selftest-group', 'w1'), 403, 'InsufficientScopes');
  await expectError(client(WorkerManager, NOCLAIM).shouldWorkerTerminate(pool, 'selftest-group', 'w1'), 403, 'InsufficientScopes');
  const { calls } = await admin('GET', 'calls');
  assert.ok(calls.some(c => c.api === 'worker-manager.shouldWorkerTerminate' &&
    c.target === `/api/worker-manager/v1/workers/${encodeURIComponent(pool)}/selftest-group/w1/should-terminate`));
});

await t('--terminate-after-calls 2: the second call says terminate', async () => {
  const wm = short.as(WorkerManager, WORKER);
  const a = await wm.shouldWorkerTerminate(`${PROV}/x`, 'selftest-group', 'w1');
  const b = await wm.shouldWorkerTerminate(`${PROV}/x`, 'selftest-group', 'w1');
  assert.deepEqual([a.terminate, b.terminate], [false, true]);
  assert.equal(typeof b.reason, 'string');
});

await t('faults: the next N matching requests answer the status; then normal again', async () => {
  const { taskId, tq } = await claimedTask();
  const { putUrl } = await tq.createArtifact(taskId, '0', 'public/f.txt', { storageType: 's3', contentType: 'text/plain', expires: inADay() });
  const u = new URL(putUrl);
  await admin('POST', 'faults', { path: `^/s3/artifacts/${taskId}/`, method: 'PUT', count: 2 });
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    const r = await request('PUT', u.pathname + u.search, { body: 'f', headers: [['Content-Type', 'text/plain']] });
    statuses.push(r.status);
    if (r.status === 500) {
      assert.match(r.body.toString(), /<Code>InternalError<\/Code>/);
    }
  }
  assert.deepEqual(statuses, [500, 500, 200]);
  await admin('POST', 'faults', { path: '/completed$', status: 503 });
  await expectError(tq.reportCompleted(taskId, '0'), 503);
  await tq.reportCompleted(taskId, '0');
  const { calls } = await admin('GET', 'calls');
  assert.deepEqual(calls.filter(c => c.target.startsWith(u.pathname)).map(c => !!c.injected), [true, true, false]);
  await admin('DELETE', 'faults');
  assert.deepEqual(await admin('GET', 'faults'), { faults: [] });
});

await t('/_fake/calls: api names, clientIds, bodies; since=SEQ', async () => {
  const before = (await admin('GET', 'calls')).calls.at(-1).seq;
  const { taskId, workerType, claim, tq } = await claimedTask();
  await tq.reportException(taskId, '0', { reason: 'resource-unavailable' });
  const { calls } = await admin('GET', `calls?since=${before}`);
  assert.deepEqual(calls.map(c => c.api), ['queue.createTask', 'queue.claimWork', 'queue.reportException']);
  assert.ok(calls.every(c => c.seq > before));
  assert.deepEqual(calls[1].body, { tasks: 1, workerGroup: 'selftest-group', workerId: 'w1' });
  assert.deepEqual(Object.keys(calls[0].body).sort(), Object.keys(taskDef(workerType)).sort(), 'as sent, no defaults');
  assert.equal(calls[1].target, `/api/queue/v1/claim-work/${PROV}%2F${workerType}`);
  assert.deepEqual(calls.map(c => c.clientId), [ROOT.clientId, WORKER.clientId, claim.credentials.clientId]);
  assert.deepEqual(calls[2].body, { reason: 'resource-unavailable' });
});

await t('/_fake/: s3 listing, artifact bytes 404 without data, a bad fault 400, an unknown endpoint 404', async () => {
  const { taskId, tq } = await claimedTask();
  const { putUrl } = await tq.createArtifact(taskId, '0', 'public/listed.txt', { storageType: 's3', contentType: 'text/plain',
    expires: inADay() });
  await tq.createArtifact(taskId, '0', 'public/err', { storageType: 'error', expires: inADay(),
    reason: 'invalid-resource-on-worker', message: 'a directory' });
  const u = new URL(putUrl);
  await request('PUT', u.pathname + u.search, { body: 'listed', headers: [['Content-Type', 'text/plain']] });
  const { objects } = await admin('GET', 's3');
  assert.deepEqual(objects.find(o => o.key === `artifacts/${taskId}/0/public/listed.txt`),
    { key: `artifacts/${taskId}/0/public/listed.txt`, size: 6, sha256: sha('sha256', 'listed'), contentType: 'text/plain',
      contentEncoding: null });
  const none = await request('GET', `/_fake/artifact/${taskId}/0/public/err`);
  assert.equal(none.status, 404);
  assert.match(none.json.message, /\(error\) has no stored bytes/);
  const bad = await request('POST', '/_fake/faults', { body: '{"path": "(", "status": 200}' });
  assert.equal(bad.status, 400);
  assert.equal((await request('GET', '/_fake/nothing')).status, 404);
  assert.equal((await request('GET', `/_fake/artifacts/${taskcluster.slugid()}`)).status, 404);
});

await t('call.js: a call as root from the shell, {{now+S}} times; an API error exits 1 with its JSON', async () => {
  const call = argv => execFileSync(process.execPath, [path.join(here, 'call.js'), '--root-url', rootUrl, ...argv],
    { encoding: 'utf-8' });
  const taskId = taskcluster.slugid(), wt = uniq('wt');
  const def = { ...taskDef(wt), created: '{{now}}', deadline: '{{now+600}}' };
  const created = JSON.parse(call(['Queue', 'createTask', taskId, JSON.stringify(def)]));
  assert.equal(created.status.state, 'pending');
  const deadline = new Date(created.status.deadline).getTime();
  assert.ok(Math.abs(deadline - Date.now() - 600000) < 10000, created.status.deadline);
  const claimed = JSON.parse(call(['--client-id', WORKER.clientId, '--access-token', WORKER.accessToken,
    'Queue', 'claimWork', `${PROV}/${wt}`, '{"tasks": 1, "workerGroup": "selftest-group", "workerId": "sh"}']));
  assert.deepEqual(claimed.tasks.map(c => c.status.taskId), [taskId]);
  let failed;
  try {
    call(['--client-id', NOCLAIM.clientId, '--access-token', NOCLAIM.accessToken,
      'Queue', 'claimWork', `${PROV}/${wt}`, '{"tasks": 1, "workerGroup": "selftest-group", "workerId": "sh"}']);
  } catch (err) {
    failed = err;
  }
  assert.equal(failed && failed.status, 1);
  const out = JSON.parse(failed.stdout);
  assert.deepEqual([out.statusCode, out.code], [403, 'InsufficientScopes']);
});

await t('second tc-fake: SIGTERM, exit 0', async () => {
  const code = await new Promise(resolve => {
    short.proc.on('exit', resolve);
    short.proc.kill('SIGTERM');
  });
  short = null;
  assert.equal(code, 0);
});
if (short) {
  short.proc.kill('SIGKILL');
}

if (logFile) {
  await t('request log: a JSON line per request, ids and ext, never a mac', async () => {
    // the server writes a line when a response has gone
    await new Promise(resolve => setTimeout(resolve, 200));
    const text = fs.readFileSync(logFile, 'utf-8');
    const lines = text.trim().split('\n').map(l => JSON.parse(l));
    assert.ok(lines.length >= n, `${lines.length} lines`);
    const echo = lines.find(l => l.target === '/api/fake/v1/echo/a%2Fb//c%252F?z=1&a=2&z=3');
    assert.equal(echo.method, 'PUT');
    assert.equal(echo.authorization.id, NARROW.clientId);
    assert.equal(echo.clientId, NARROW.clientId);
    assert.equal(echo.status, 200);
    const scoped = lines.find(l => l.authorization && l.authorization.ext && l.authorization.ext.authorizedScopes);
    assert.ok(scoped, 'a line with ext.authorizedScopes');
    assert.ok(!/mac=|"mac"/.test(text), 'no mac in the log');
  });
}

console.log(`1..${n}`);
process.exit(failures ? 1 : 0);
