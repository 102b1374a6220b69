#!/usr/bin/env node
// tc-fake's self-test: the real taskcluster-client and hawk packages, and
// plain HTTP, against a running tc-fake.  Prints TAP: "ok N - name" or
// "not ok N - name" (with "# " lines of detail), then "1..N"; exits 1 if
// any test failed.
//
//   node selftest.js --print-clients > clients.json
//   node server.js --port 0 --clients clients.json --log requests.log
//   node selftest.js --root-url http://127.0.0.1:PORT --log requests.log
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
const CLIENTS = {
  [NARROW.clientId]: {
    accessToken: NARROW.accessToken,
    scopes: ['secrets:get:selftest/narrow/*', 'queue:get-artifact:SampleArtifacts/*'],
  },
  [ISSUER.clientId]: {
    accessToken: ISSUER.accessToken,
    scopes: ['secrets:get:selftest/temp/*', 'auth:create-client:selftest/named/*'],
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
let rootUrl = null, logFile = null;
for (let i = 0; i < args.length; i += 2) {
  if (args[i] === '--root-url') {
    rootUrl = args[i + 1];
  } else if (args[i] === '--log') {
    logFile = args[i + 1];
  } else {
    process.stderr.write('usage: node selftest.js --print-clients | --root-url URL [--log FILE]\n');
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
const request = (method, target, { headers = [], body } = {}) => new Promise((resolve, reject) => {
  const req = http.request({ host: '127.0.0.1', port, method, path: target, agent: false });
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
