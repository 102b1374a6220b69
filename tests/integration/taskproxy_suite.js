#!/usr/bin/env node
// taskcluster-proxy's own test suite (tools/taskcluster-proxy/*_test.go in
// taskcluster/taskcluster, reference §6.3), ported to sepworker's task
// proxy, plus what sepworker's proxy adds (reference §2.4, the DESIGN).
//
// Each proxy is a real, sandboxed task proxy started by the
// build/tests/helpers/taskproxy harness, one per credentials/scopes
// configuration; upstream is a running tc-fake (tests/tc-fake), which
// checks Hawk with the real `hawk` package and scopes with
// taskcluster-lib-scopes.  Requests are made with Node's fetch, with
// node:http where the exact bytes of a request matter (hop-by-hop headers,
// raw targets), and with the real taskcluster-client, pointed at the proxy
// with no credentials, where a task would use it.
//
// Prints TAP: "ok N - name" or "not ok N - name" (with "# " lines of
// detail), then "1..N"; exits 1 if any test failed.
//
//   node taskproxy_suite.js --print-clients > clients.json
//   node tests/tc-fake/server.js --port 0 --clients clients.json --log requests.log
//   node taskproxy_suite.js --build BUILD --root-url URL --log requests.log --tmp DIR
//
// (CommonJS: tests/integration has no package.json saying otherwise.)
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const net = require('node:net');
const crypto = require('node:crypto');
const assert = require('node:assert/strict');
const { spawn, execFile } = require('node:child_process');
const { createRequire } = require('node:module');
const { pathToFileURL } = require('node:url');

const REPO = path.resolve(__dirname, '..', '..');
const FAKE = path.join(REPO, 'tests', 'tc-fake');
const hawk = createRequire(path.join(FAKE, 'package.json'))('hawk');

// --- configuration ---

// The clients tc-fake is started with (--clients), besides its root.  The
// auth service's test endpoints know only tester / no-secret, as in a
// real deployment; everything else authenticates against these.
const TESTER = { clientId: 'tester', accessToken: 'no-secret' };
const PERM_A = { clientId: 'proxy-test/perm-a', accessToken: 'perm-a-token' };
const PERM_B = { clientId: 'proxy-test/perm-b', accessToken: 'perm-b-token' };
const CLIENTS = {
  [PERM_A.clientId]: {
    accessToken: PERM_A.accessToken,
    scopes: [
      'secrets:get:proxy-test/*',
      'queue:get-artifact:SampleArtifacts/*',
      'auth:create-client:proxy-test/temp-*',
    ],
  },
  [PERM_B.clientId]: {
    accessToken: PERM_B.accessToken,
    scopes: ['secrets:get:proxy-test/*'],
  },
};
// The seeded task of tc-fake and its private artifact.
const SEED_TASK = 'KTBKfEgxR5GdfIIREQIvFQ';
const TASK_UID = '64504';
// The one the Go suite uses for temporary credentials.
const TEMP_NAME = 'test:temp-cred-issuer';

const argv = process.argv.slice(2);
if (argv[0] === '--print-clients') {
  process.stdout.write(JSON.stringify(CLIENTS, null, 2) + '\n');
  process.exit(0);
}
const opts = {};
for (let i = 0; i < argv.length; i += 2) {
  const k = argv[i].replace(/^--/, '');
  if (!['build', 'root-url', 'log', 'tmp'].includes(k) || argv[i + 1] === undefined) {
    process.stderr.write('usage: node taskproxy_suite.js --print-clients | ' +
      '--build DIR --root-url URL --log FILE --tmp DIR\n');
    process.exit(2);
  }
  opts[k] = argv[i + 1];
}
for (const k of ['build', 'root-url', 'log', 'tmp']) {
  if (!opts[k]) {
    process.stderr.write(`taskproxy_suite: --${k} is required\n`);
    process.exit(2);
  }
}
const BUILD = path.resolve(opts.build);
const ROOT = opts['root-url'].replace(/\/+$/, '');
const FAKE_LOG = opts.log;
const TMP = opts.tmp;
const HARNESS = path.join(BUILD, 'tests', 'helpers', 'taskproxy');
const MKCREDS = path.join(FAKE, 'mkcreds.js');

// What every response must name (X-Taskcluster-Proxy-Version/-Revision):
// the version in common/version.h, and a revision compiled into proxyd.
const VERSION = (() => {
  const m = fs.readFileSync(path.join(REPO, 'common', 'version.h'), 'utf-8')
    .match(/#define\s+SEPWORKER_VERSION\s+"([^"]+)"/);
  return m ? m[1] : null;
})();
// (read again when a revision is not in it: a rebuild during the run
// puts a new proxyd under the harnesses started after it)
let proxydBytes = fs.readFileSync(path.join(BUILD, 'proxyd'));
const inProxyd = rev => proxydBytes.includes(Buffer.from(rev)) ||
  (proxydBytes = fs.readFileSync(path.join(BUILD, 'proxyd'))).includes(Buffer.from(rev));

// --- TAP ---

let n = 0, failures = 0;
let using = new Set(); // the harnesses the running test talked to
const t = async (name, fn) => {
  n++;
  using = new Set();
  try {
    await fn();
    console.log(`ok ${n} - ${name}`);
  } catch (err) {
    failures++;
    console.log(`not ok ${n} - ${name}`);
    const text = String(err && err.stack || err).split('\n');
    if (err && err.cause) {
      text.splice(1, 0, `cause: ${err.cause.message || err.cause}`);
    }
    const lines = text.filter(l => !/^\s+at /.test(l)).slice(0, 40);
    const at = text.find(l => /taskproxy_suite\.js:\d+/.test(l));
    if (at) {
      lines.push(at.trim());
    }
    for (const h of using) {
      lines.push(`proxy log of ${h.label} (last lines):`);
      for (const l of h.logTail(15)) {
        lines.push('  ' + l);
      }
    }
    for (const line of lines) {
      console.log('# ' + line);
    }
  }
};

// --- helpers ---

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
const sha256 = buf => crypto.createHash('sha256').update(buf).digest('hex');
const tryJson = buf => {
  try {
    return JSON.parse(buf.toString('utf-8'));
  } catch (err) {
    return undefined;
  }
};

// A response, shown in a failure's diagnostics.
const show = res => {
  const hdrs = res.rawHeaders ? pairs(res.rawHeaders).map(([k, v]) => `${k}: ${v}`) :
    [...res.headers].map(([k, v]) => `${k}: ${v}`);
  return `${res.status}\n  ${hdrs.join('\n  ')}\n  body: ${res.body.toString('utf-8').slice(0, 600)}`;
};
const pairs = raw => {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    out.push([raw[i], raw[i + 1]]);
  }
  return out;
};
// Header lookups that work on both kinds of response: fetch's Headers and
// node:http's lowercased object.
const hdr = (res, name) => {
  if (typeof res.headers.get === 'function') {
    return res.headers.get(name);
  }
  const v = res.headers[name.toLowerCase()];
  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
};

const expectStatus = (res, status) =>
  assert.equal(res.status, status, `expected ${status}, got ${show(res)}`);
// The Go suite's checkStatusCode: at least 14 bytes of body, even on a 303.
const expectBody14 = res =>
  assert.ok(res.body.length >= 14, `a body of at least 14 bytes expected, got ${show(res)}`);

// tc-fake's request log: one JSON object a line, written when a request ends.
const fakeLog = () => fs.readFileSync(FAKE_LOG, 'utf-8').split('\n').filter(Boolean).map(l => JSON.parse(l));
const waitFor = async (fn, ms, what) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) {
      return v;
    }
    if (Date.now() > end) {
      throw new assert.AssertionError({ message: `timed out after ${ms} ms waiting for ${what}` });
    }
    await sleep(20);
  }
};
const uniq = prefix => `${prefix}-${crypto.randomBytes(6).toString('hex')}`;
// A slugid: a v4 UUID in url-safe base64, as slugid.v4() makes them.
const slugid = () => Buffer.from(crypto.randomUUID().replace(/-/g, ''), 'hex')
  .toString('base64url');

// tc-fake's `big` body: a 1 MiB block of sha256("tc-fake big <j>") for
// j = 0.., repeated, cut at the size (computed here, independently).
const bigBody = size => {
  const block = Buffer.alloc(1 << 20);
  for (let j = 0; j < block.length / 32; j++) {
    crypto.createHash('sha256').update(`tc-fake big ${j}`).digest().copy(block, j * 32);
  }
  const out = Buffer.alloc(size);
  for (let off = 0; off < size; off += block.length) {
    block.copy(out, off, 0, Math.min(block.length, size - off));
  }
  return out;
};

// Temporary credentials, made by tests/tc-fake/mkcreds.js (the client's own
// createTemporaryCredentials).
// Short-lived children (mkcreds, the uid 65534 client), ended on a signal.
const children = new Set();
const track = child => {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
};
let stopping = false;

const mkcreds = (issuer, scopes, name) => new Promise((resolve, reject) => {
  const a = [MKCREDS, '--client-id', issuer.clientId, '--access-token', issuer.accessToken,
    '--scopes', scopes.join(',')];
  if (name) {
    a.push('--name', name);
  }
  track(execFile(process.execPath, a, { timeout: 10000 }, (err, stdout, stderr) => {
    if (err) {
      return reject(new Error(`mkcreds ${a.slice(1).join(' ')}: ${err.message} ${stderr}`));
    }
    resolve(JSON.parse(stdout));
  }));
});

// --- harnesses: one real task proxy each ---

const harnesses = [];
let harnessSeq = 0;

class Harness {
  // creds: {clientId, accessToken[, certificate]} or raw text;
  // ident: what the proxy must say it is ({perm} or {temp, tempScopes});
  // scopes: the authorized scopes; allowed: ALLOWED_UID; retry: seconds.
  // (retry null: no RETRY_SECONDS argument, the proxy's default of 0.)
  // hosts: ALLOWED_HOSTS (null: none given, the root URL's host alone;
  // it needs a retry).
  constructor(label, { creds, ident, scopes, allowed = '0', retry = null, hosts = null }) {
    this.label = label;
    this.scopes = scopes;
    this.ident = ident;
    this.allowed = allowed;
    this.retry = retry;
    this.hosts = hosts;
    this.creds = creds;
    this.base = path.join(TMP, `h${++harnessSeq}`);
    this.logFile = `${this.base}.log`;
    this.lines = [];
    this.waiters = [];
    this.exit = null;
    this.tpPid = null;
  }

  async start() {
    if (stopping) {
      throw new Error('the suite is stopping');
    }
    this.credsFile = `${this.base}.creds.json`;
    fs.writeFileSync(this.credsFile, typeof this.creds === 'string' ? this.creds : JSON.stringify(this.creds));
    const logFd = fs.openSync(this.logFile, 'w');
    // The harness's argv holds 16 entries: an ALLOWED_UID other than
    // "none" and a RETRY_SECONDS together overflow it (its --ppid comes
    // out garbled), so no configuration here asks for both.
    if (this.allowed !== 'none' && this.retry !== null) {
      throw new Error(`harness ${this.label}: ALLOWED_UID ${this.allowed} with RETRY_SECONDS breaks the harness`);
    }
    const hargs = [BUILD, TASK_UID, ROOT, this.scopes.join(',') || '-', this.credsFile, this.allowed];
    if (this.retry !== null) {
      hargs.push(String(this.retry));
    }
    if (this.hosts !== null) {
      hargs.push(this.hosts);
    }
    // (its own process group: a signal to the suite's group reaches the
    // suite, which quits each harness, and a harness reaps its proxy)
    this.proc = spawn(HARNESS, hargs, { stdio: ['pipe', 'pipe', logFd], detached: true });
    fs.closeSync(logFd);
    harnesses.push(this);
    this.exited = new Promise(resolve => this.proc.on('exit', (code, signal) => {
      this.exit = { code, signal };
      resolve(this.exit);
      this.wake();
    }));
    this.proc.stdin.on('error', () => {});
    let partial = '';
    this.proc.stdout.on('data', d => {
      partial += d.toString('utf-8');
      let i;
      while ((i = partial.indexOf('\n')) !== -1) {
        this.lines.push(partial.slice(0, i));
        partial = partial.slice(i + 1);
      }
      this.wake();
    });
    for (;;) {
      const l = await this.line(10000);
      const m = l.match(/^port (\d+)$/);
      if (m) {
        this.port = Number(m[1]);
        break;
      }
      if (l !== 'accepted') {
        throw new Error(`harness ${this.label}: unexpected line before the port: ${l}`);
      }
    }
    this.proc.stdin.write('pid\n');
    const p = (await this.line(5000)).match(/^pid (\d+)$/);
    if (!p) {
      throw new Error(`harness ${this.label}: no pid`);
    }
    this.tpPid = Number(p[1]);
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    w.forEach(f => f());
  }

  // The next line of the harness's stdout.
  async line(ms) {
    const end = Date.now() + ms;
    while (this.lines.length === 0) {
      if (this.exit) {
        throw new Error(`harness ${this.label} exited (${JSON.stringify(this.exit)}); its log:\n` +
          this.logTail(20).join('\n'));
      }
      const left = end - Date.now();
      if (left <= 0) {
        throw new Error(`harness ${this.label}: no line within ${ms} ms; its log:\n` + this.logTail(20).join('\n'));
      }
      await new Promise(resolve => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.lines.shift();
  }

  // The worker's own credentials update: "creds FILE" on the harness.
  async sendCreds(creds) {
    using.add(this);
    const file = `${this.base}.creds.${crypto.randomBytes(4).toString('hex')}.json`;
    fs.writeFileSync(file, typeof creds === 'string' ? creds : JSON.stringify(creds));
    this.proc.stdin.write(`creds ${file}\n`);
    return this.line(10000);
  }

  log() {
    try {
      return fs.readFileSync(this.logFile, 'utf-8');
    } catch (err) {
      return '';
    }
  }

  logTail(k) {
    return this.log().split('\n').filter(Boolean).slice(-k);
  }

  async stop() {
    if (!this.exit) {
      this.proc.stdin.write('quit\n');
      this.proc.stdin.end();
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exit;
  }
}

// Harnesses by configuration, started on first use.
const pool = new Map();
const proxy = async (label, cfg) => {
  if (!pool.has(label)) {
    pool.set(label, new Harness(label, cfg).start());
  }
  const h = await pool.get(label);
  using.add(h);
  return h;
};

// --- requests ---

// fetch, no redirect following; the whole body read.
const hfetch = async (h, method, target, { headers = {}, body, signal } = {}) => {
  using.add(h);
  const res = await fetch(h.url + target, { method, headers, body, redirect: 'manual', signal });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body: buf, text: buf.toString('utf-8'), json: tryJson(buf) };
};

// node:http, for exact bytes: the target as given, headers as [name,
// value] pairs (duplicates kept), nothing added but Host and framing.
const raw = (h, method, target, { headers = [], body } = {}) => new Promise((resolve, reject) => {
  using.add(h);
  const req = http.request({ host: '127.0.0.1', port: h.port, method, path: target, agent: false });
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
      resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: buf,
        text: buf.toString('utf-8'), json: tryJson(buf) });
    });
    res.on('error', reject);
  });
  req.on('error', reject);
  req.end(body);
});

// The headers taskcluster-proxy puts on every response (setHeaders):
// version and revision, who the proxy is (Perm-ClientId, or Temp-ClientId
// and Temp-Scopes), and the authorized scopes.
const expectIdentity = (res, h) => {
  assert.equal(hdr(res, 'X-Taskcluster-Proxy-Version'), VERSION, `X-Taskcluster-Proxy-Version, in ${show(res)}`);
  const rev = hdr(res, 'X-Taskcluster-Proxy-Revision');
  assert.ok(rev && /^([0-9a-f]{12}|unknown)$/.test(rev) && inProxyd(rev),
    `X-Taskcluster-Proxy-Revision is a revision compiled into ${BUILD}/proxyd, in ${show(res)}`);
  const id = h.ident;
  if (id.perm) {
    assert.equal(hdr(res, 'X-Taskcluster-Proxy-Perm-ClientId'), id.perm, `Perm-ClientId, in ${show(res)}`);
    assert.equal(hdr(res, 'X-Taskcluster-Proxy-Temp-ClientId'), null, `no Temp-ClientId, in ${show(res)}`);
    assert.equal(hdr(res, 'X-Taskcluster-Proxy-Temp-Scopes'), null, `no Temp-Scopes, in ${show(res)}`);
  } else {
    assert.equal(hdr(res, 'X-Taskcluster-Proxy-Temp-ClientId'), id.temp, `Temp-ClientId, in ${show(res)}`);
    const ts = hdr(res, 'X-Taskcluster-Proxy-Temp-Scopes');
    if (id.tempScopes) {
      assert.equal(ts, JSON.stringify(id.tempScopes), `Temp-Scopes, in ${show(res)}`);
    } else {
      assert.ok(ts !== null && Array.isArray(tryJson(Buffer.from(ts))), `Temp-Scopes is a JSON array, in ${show(res)}`);
    }
    assert.equal(hdr(res, 'X-Taskcluster-Proxy-Perm-ClientId'), null, `no Perm-ClientId, in ${show(res)}`);
  }
  assert.equal(hdr(res, 'X-Taskcluster-Authorized-Scopes'), JSON.stringify(h.scopes),
    `X-Taskcluster-Authorized-Scopes, in ${show(res)}`);
};

// The upstream error body of the Taskcluster API.
const expectApiError = (res, status, code, messageStart) => {
  expectStatus(res, status);
  assert.ok(res.json, `a JSON body expected, got ${show(res)}`);
  assert.equal(res.json.code, code, `error code, in ${show(res)}`);
  if (messageStart) {
    assert.ok(res.json.message.startsWith(messageStart), `message starting ${JSON.stringify(messageStart)}, in ${show(res)}`);
  }
};

const echoHeaders = res => res.json.headers.map(([k, v]) => [k.toLowerCase(), v]);

// A connection as another user: a node child run as uid/gid 65534 sends
// one request to the port and says what came back.
const asNobody = port => new Promise((resolve, reject) => {
  const code = `
    const net = require('net');
    const out = { uid: process.getuid(), bytes: 0, data: '', end: null, localPort: null };
    const s = net.connect(${port}, '127.0.0.1', () => {
      out.localPort = s.localPort;
      s.write('GET /fake/v1/echo/as-nobody HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n');
    });
    const done = why => { if (out.end === null) { out.end = why; console.log(JSON.stringify(out)); process.exit(0); } };
    s.on('data', d => { out.bytes += d.length; out.data += d.toString('latin1').slice(0, 200); });
    s.on('end', () => done('end'));
    s.on('close', () => done('close'));
    s.on('error', e => done('error ' + e.code));
    setTimeout(() => done('timeout'), 5000);
  `;
  const child = track(spawn(process.execPath, ['-e', code],
    { uid: 65534, gid: 65534, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '', err = '';
  child.stdout.on('data', d => { out += d; });
  child.stderr.on('data', d => { err += d; });
  child.on('error', reject);
  child.on('exit', c => {
    const r = tryJson(Buffer.from(out));
    if (!r) {
      return reject(new Error(`the uid 65534 client exited ${c}: ${out} ${err}`));
    }
    resolve(r);
  });
});

// --- the suite ---

const main = async () => {
  const tcUrl = pathToFileURL(path.join(FAKE, 'node_modules', 'taskcluster-client', 'src', 'index.js')).href;
  const taskcluster = (await import(tcUrl)).default;
  // As a task does: the proxy is the rootUrl, no credentials.
  const asTask = (Cls, h, extra = {}) => {
    using.add(h);
    return new Cls({ rootUrl: h.url, credentials: {}, ...extra });
  };

  // Temporary credentials, as the Go suite makes them: named
  // test:temp-cred-issuer, issued by tester (for the auth test endpoints);
  // and issued by proxy-test/perm-a for the general endpoints.
  const [tempGet, tempOther, tempPost, tempA, tempA2] = await Promise.all([
    mkcreds(TESTER, ['test:authenticate-get'], TEMP_NAME),
    mkcreds(TESTER, ['test:some-other-scope'], TEMP_NAME),
    mkcreds(TESTER, ['test:authenticate-post'], TEMP_NAME),
    mkcreds(PERM_A, ['secrets:get:proxy-test/*'], 'proxy-test/temp-a'),
    mkcreds(PERM_A, ['secrets:get:proxy-test/*'], 'proxy-test/temp-a2'),
  ]);
  const permIdent = c => ({ perm: c.clientId });
  const tempIdent = (c, scopes) => ({ temp: c.clientId, tempScopes: scopes });

  const cfg = {
    // tester: scopes test:* and auth:create-client:test:* on the test endpoints
    permGet: { creds: TESTER, ident: permIdent(TESTER), scopes: ['test:authenticate-get'] },
    permElse: { creds: TESTER, ident: permIdent(TESTER), scopes: ['test:something-else'] },
    permOver: { creds: TESTER, ident: permIdent(TESTER), scopes: ['secrets:get:garbage/pmoore/foo'] },
    permPost: { creds: TESTER, ident: permIdent(TESTER), scopes: ['test:authenticate-post'] },
    tempGet: { creds: tempGet, ident: tempIdent(tempGet, ['test:authenticate-get']), scopes: ['test:authenticate-get'] },
    tempElse: { creds: tempOther, ident: tempIdent(tempOther, ['test:some-other-scope']), scopes: ['test:some-other-scope'] },
    tempOver: { creds: tempOther, ident: tempIdent(tempOther, ['test:some-other-scope']), scopes: ['test:authenticate-get'] },
    tempPost: { creds: tempPost, ident: tempIdent(tempPost, ['test:authenticate-post']), scopes: ['test:authenticate-post'] },
    // the general endpoints
    permA: {
      creds: PERM_A, ident: permIdent(PERM_A),
      scopes: ['secrets:get:proxy-test/*', 'queue:get-artifact:SampleArtifacts/_/X.txt'],
    },
    tempA: { creds: tempA, ident: tempIdent(tempA, ['secrets:get:proxy-test/*']), scopes: ['secrets:get:proxy-test/*'] },
    tempAOver: {
      creds: tempA, ident: tempIdent(tempA, ['secrets:get:proxy-test/*']),
      scopes: ['secrets:get:garbage/pmoore/foo'],
    },
    badCert: {
      creds: { clientId: 'abc', accessToken: 'def', certificate: 'ghi' },
      ident: { temp: 'abc', tempScopes: null }, scopes: ['secrets:get:garbage/pmoore/foo'],
    },
    badCertBewit: {
      creds: { clientId: 'abc', accessToken: 'def', certificate: 'ghi' },
      ident: { temp: 'abc', tempScopes: null }, scopes: ['secrets:get:garbage/pmoore/foo'],
    },
    update: { creds: PERM_A, ident: permIdent(PERM_A), scopes: ['secrets:get:proxy-test/*'] },
    retry60: { creds: PERM_A, ident: permIdent(PERM_A), scopes: ['secrets:get:proxy-test/*'], allowed: 'none', retry: 60 },
    noRetry: { creds: PERM_A, ident: permIdent(PERM_A), scopes: ['secrets:get:proxy-test/*'], allowed: 'none', retry: 0 },
    retry1: {
      creds: PERM_A, ident: permIdent(PERM_A), scopes: ['secrets:get:proxy-test/*'], allowed: 'none', retry: 1,
      hosts: 'nonexistent.invalid,*.wild.invalid',
    },
    anyUid: { creds: PERM_A, ident: permIdent(PERM_A), scopes: ['secrets:get:proxy-test/*'], allowed: 'none' },
    noHosts: { creds: PERM_A, ident: permIdent(PERM_A), scopes: ['secrets:get:proxy-test/*'], allowed: 'none', retry: 0, hosts: '' },
  };
  const P = label => proxy(label, cfg[label]);

  const testAuthGet = `${ROOT}/api/auth/v1/test-authenticate-get/`;

  // --- TestBewit (authorization_test.go) ---

  const bewitCases = [
    ['perm creds, authorized scopes allow', 'permGet', 200, 'tester'],
    ['perm creds, authorized scopes insufficient for the endpoint', 'permElse', 403],
    ['perm creds, authorized scopes overstep the credentials', 'permOver', 401],
    ['temp creds with good scope, authorized scopes allow', 'tempGet', 200, TEMP_NAME],
    ['temp creds with bad scope (insufficient)', 'tempElse', 403],
    ['temp creds with bad scope, authorized scopes overstep them', 'tempOver', 401],
  ];
  for (const [what, label, expected, clientId] of bewitCases) {
    await t(`TestBewit: ${what}: 303, Location is the body; the signed URL answers ${expected}`, async () => {
      const h = await P(label);
      const res = await hfetch(h, 'POST', '/bewit', { body: testAuthGet });
      expectStatus(res, 303);
      expectBody14(res);
      expectIdentity(res, h);
      assert.equal(res.headers.get('location'), res.text, `Location equals the body, in ${show(res)}`);
      const u = new URL(res.text);
      assert.equal(u.origin + u.pathname, testAuthGet, 'the signed URL is the one asked for');
      assert.deepEqual([...u.searchParams.keys()], ['bewit'], 'one query parameter, bewit');
      const got = await fetch(res.text, { redirect: 'manual' });
      const body = Buffer.from(await got.arrayBuffer());
      const r2 = { status: got.status, headers: got.headers, body, json: tryJson(body) };
      if (expected === 200) {
        expectStatus(r2, 200);
        assert.deepEqual(r2.json, { clientId, scopes: ['assume:anonymous', 'test:authenticate-get'] },
          `the endpoint's answer, in ${show(r2)}`);
      } else if (expected === 403) {
        expectApiError(r2, 403, 'InsufficientScopes');
      } else {
        expectApiError(r2, 401, 'AuthenticationFailed');
        assert.match(r2.json.message, /Supplied credentials do not satisfy authorizedScopes/,
          `401 for the authorized scopes, not something else, in ${show(r2)}`);
      }
    });
  }

  // --- TestBewitArbitraryURL ---

  await t('TestBewitArbitraryURL: host, path and somekey=someval kept, a valid bewit added', async () => {
    const h = await P('permGet');
    const res = await hfetch(h, 'POST', '/bewit', { body: 'https://tc.example.com/some/path?somekey=someval' });
    expectStatus(res, 303);
    expectBody14(res);
    expectIdentity(res, h);
    assert.equal(res.headers.get('location'), res.text, `Location equals the body, in ${show(res)}`);
    const u = new URL(res.text);
    assert.equal(u.protocol, 'https:');
    assert.equal(u.host, 'tc.example.com');
    assert.equal(u.pathname, '/some/path');
    assert.deepEqual([...u.searchParams.keys()].sort(), ['bewit', 'somekey'], `query of ${res.text}`);
    assert.equal(u.searchParams.get('somekey'), 'someval');
    // The bewit itself, checked with the hawk package as a service would.
    const { credentials, attributes } = await hawk.uri.authenticate({
      method: 'GET', url: res.text.slice('https://tc.example.com'.length), host: 'tc.example.com', port: 443,
    }, async id => (id === 'tester' ? { key: 'no-secret', algorithm: 'sha256', id } : null), {});
    assert.equal(credentials.id, 'tester');
    const ext = JSON.parse(Buffer.from(attributes.ext, 'base64').toString('utf-8'));
    assert.deepEqual(ext, { authorizedScopes: ['test:authenticate-get'] }, 'the bewit\'s ext');
    const exp = Number(Buffer.from(u.searchParams.get('bewit'), 'base64url').toString('binary').split('\\')[1]);
    const want = Math.floor(Date.now() / 1000) + 3600;
    assert.ok(Math.abs(exp - want) <= 10, `valid for an hour: exp ${exp}, now + 3600 = ${want}`);
  });

  await t('TestBewitArbitraryURL: the body is whitespace-trimmed', async () => {
    const h = await P('permGet');
    const res = await hfetch(h, 'POST', '/bewit', { body: ` \n${testAuthGet}\r\n ` });
    expectStatus(res, 303);
    assert.ok(res.text.startsWith(testAuthGet + '?bewit='), `signed URL of the trimmed body, in ${show(res)}`);
    const got = await fetch(res.text);
    assert.equal(got.status, 200, 'the signed URL works');
  });

  // --- TestAPICallGET ---

  const apiGetCases = [
    ['perm creds with authorizedScopes', 'permGet', 200, 'tester'],
    ['perm creds with wrong authorizedScopes', 'permElse', 403],
    ['temp creds with authorizedScopes', 'tempGet', 200, TEMP_NAME],
  ];
  for (const [what, label, expected, clientId] of apiGetCases) {
    await t(`TestAPICallGET: ${what}: /api/auth/v1/test-authenticate-get/ answers ${expected}`, async () => {
      const h = await P(label);
      const res = await hfetch(h, 'GET', '/api/auth/v1/test-authenticate-get/');
      expectBody14(res);
      expectIdentity(res, h);
      assert.equal(res.headers.get('x-taskcluster-endpoint'), testAuthGet, `X-Taskcluster-Endpoint, in ${show(res)}`);
      const auth = asTask(taskcluster.Auth, h);
      if (expected === 200) {
        expectStatus(res, 200);
        assert.deepEqual(res.json, { clientId, scopes: ['assume:anonymous', 'test:authenticate-get'] }, show(res));
        assert.deepEqual(await auth.testAuthenticateGet(), res.json, 'taskcluster-client through the proxy');
      } else {
        expectApiError(res, 403, 'InsufficientScopes');
        await assert.rejects(auth.testAuthenticateGet(), err => err.statusCode === 403 && err.code === 'InsufficientScopes',
          'taskcluster-client through the proxy: InsufficientScopes');
      }
    });
  }

  // --- TestAPICallPOST ---

  const postBody = JSON.stringify({
    clientScopes: ['test:*', 'auth:create-client:test:*'], requiredScopes: ['test:authenticate-post'],
  });
  const postCases = [
    ['perm creds with authorizedScopes', 'permPost', true, 200, 'tester'],
    // taskcluster-proxy adds Content-Type: application/json to a body sent
    // without one (routes.go, "for compatibility ... See #3521"), and the
    // Go test expects 200 here.
    ['perm creds without Content-Type header', 'permPost', false, 200, 'tester'],
    ['perm creds with wrong authorizedScopes', 'permElse', true, 403],
    ['temp creds with authorizedScopes', 'tempPost', true, 200, TEMP_NAME],
  ];
  for (const [what, label, withType, expected, clientId] of postCases) {
    await t(`TestAPICallPOST: ${what}: /auth/v1/test-authenticate answers ${expected}`, async () => {
      const h = await P(label);
      const headers = withType ? [['Content-Type', 'application/json']] : [];
      const res = await raw(h, 'POST', '/auth/v1/test-authenticate', { headers, body: postBody });
      expectBody14(res);
      expectIdentity(res, h);
      assert.equal(hdr(res, 'X-Taskcluster-Endpoint'), `${ROOT}/api/auth/v1/test-authenticate`, show(res));
      if (expected === 200) {
        expectStatus(res, 200);
        assert.deepEqual(res.json, { clientId, scopes: ['assume:anonymous', 'test:authenticate-post'] }, show(res));
      } else {
        expectApiError(res, 403, 'InsufficientScopes');
      }
      if (withType) {
        const auth = asTask(taskcluster.Auth, h);
        const call = auth.testAuthenticate(JSON.parse(postBody));
        if (expected === 200) {
          assert.deepEqual(await call, res.json, 'taskcluster-client through the proxy');
        } else {
          await assert.rejects(call, err => err.statusCode === 403 && err.code === 'InsufficientScopes',
            'taskcluster-client through the proxy: InsufficientScopes');
        }
      }
    });
  }

  // --- TestNon200HasErrorBody ---

  for (const [what, label] of [['perm creds', 'permA'], ['temp creds', 'tempA']]) {
    await t(`TestNon200HasErrorBody: ${what}: the Queue's 404 comes back with its error body`, async () => {
      const h = await P(label);
      const taskId = slugid();
      const res = await hfetch(h, 'GET', `/queue/v1/task/${taskId}/artifacts/public/nothing.txt`);
      expectBody14(res);
      expectIdentity(res, h);
      expectApiError(res, 404, 'ResourceNotFound', 'Task not found');
      assert.equal(res.json.requestInfo.method, 'getLatestArtifact', show(res));
      assert.equal(res.headers.get('x-taskcluster-endpoint'),
        `${ROOT}/api/queue/v1/task/${taskId}/artifacts/public/nothing.txt`, show(res));
      const queue = asTask(taskcluster.Queue, h);
      await assert.rejects(queue.getLatestArtifact(taskId, 'public/nothing.txt'),
        err => err.statusCode === 404 && err.code === 'ResourceNotFound', 'taskcluster-client: ResourceNotFound');
    });
  }

  // --- TestOversteppedScopes ---

  await t('TestOversteppedScopes: 401; X-Taskcluster-Endpoint is upstream; Authorized-Scopes exactly the JSON array', async () => {
    const h = await P('tempAOver');
    const res = await hfetch(h, 'GET', '/secrets/v1/secret/garbage/pmoore/foo');
    expectBody14(res);
    expectIdentity(res, h);
    expectApiError(res, 401, 'AuthenticationFailed');
    assert.match(res.json.message, /Supplied credentials do not satisfy authorizedScopes/, show(res));
    assert.equal(res.headers.get('x-taskcluster-endpoint'), `${ROOT}/api/secrets/v1/secret/garbage/pmoore/foo`);
    assert.equal(res.headers.get('x-taskcluster-authorized-scopes'), '["secrets:get:garbage/pmoore/foo"]');
  });

  // --- TestBadCredsReturns500 ---

  await t('TestBadCredsReturns500: a certificate that is not JSON: 500, and nothing is sent upstream', async () => {
    const h = await P('badCert');
    const target = `/secrets/v1/secret/garbage/pmoore/${uniq('badcreds')}`;
    const res = await hfetch(h, 'GET', target);
    expectStatus(res, 500);
    expectBody14(res);
    expectIdentity(res, h);
    await sleep(100);
    const sent = fakeLog().filter(l => l.target === `/api${target}`);
    assert.deepEqual(sent, [], 'no request reached tc-fake');
  });

  await t('TestBadCredsReturns500: /bewit with such a certificate: 500 too', async () => {
    const h = await P('badCertBewit');
    const res = await hfetch(h, 'POST', '/bewit', { body: testAuthGet });
    expectStatus(res, 500);
    expectBody14(res);
    expectIdentity(res, h);
    assert.equal(res.headers.get('location'), null, show(res));
  });

  // --- TestInvalidEndpoint ---

  for (const [what, label] of [['temp creds', 'tempA'], ['perm creds', 'permA']]) {
    await t(`TestInvalidEndpoint: ${what}: /x@/ is 404 with no X-Taskcluster-Endpoint`, async () => {
      const h = await P(label);
      const res = await hfetch(h, 'GET', '/x@/');
      expectStatus(res, 404);
      expectBody14(res);
      expectIdentity(res, h);
      assert.equal(res.headers.get('x-taskcluster-endpoint'), null, show(res));
      assert.ok(res.text.startsWith('Unkown taskcluster service: '), show(res));
    });
  }

  await t('TestInvalidEndpoint: one segment (/queue) is 404, not a dropped connection; /api/queue is "invalid /api path"', async () => {
    const h = await P('permA');
    const res = await hfetch(h, 'GET', '/queue');
    expectStatus(res, 404);
    expectIdentity(res, h);
    assert.equal(res.headers.get('x-taskcluster-endpoint'), null, show(res));
    const api = await hfetch(h, 'GET', '/api/queue');
    expectStatus(api, 404);
    expectIdentity(api, h);
    assert.equal(api.text, 'invalid /api path', show(api));
    assert.equal(api.headers.get('x-taskcluster-endpoint'), null, show(api));
  });

  // --- TestGetResponseBody ---

  for (const [what, label, clientId] of [['perm creds', 'permGet', 'tester'], ['temp creds', 'tempGet', TEMP_NAME]]) {
    await t(`TestGetResponseBody: ${what}: /auth/v1/test-authenticate-get/ echoes clientId ${clientId}`, async () => {
      const h = await P(label);
      const res = await hfetch(h, 'GET', '/auth/v1/test-authenticate-get/');
      expectStatus(res, 200);
      expectBody14(res);
      expectIdentity(res, h);
      assert.equal(res.json.clientId, clientId, show(res));
    });
  }

  // --- TestHttpRedirects (routes_test.go) ---

  await t('TestHttpRedirects: a 303 comes back with its body and Location, not followed', async () => {
    const h = await P('permA');
    const res = await hfetch(h, 'GET', '/fake/v1/status/303');
    expectStatus(res, 303);
    expectIdentity(res, h);
    const location = `${ROOT}/api/fake/v1/echo/redirected-from-303`;
    assert.equal(res.headers.get('location'), location, show(res));
    assert.equal(res.text, JSON.stringify({ status: 303, message: 'tc-fake status 303', location }), show(res));
    await sleep(100);
    assert.deepEqual(fakeLog().filter(l => l.target.includes('redirected-from-303')), [], 'the redirect was not followed');
  });

  await t('TestHttpRedirects: the Queue\'s artifact 303 comes back; its Location serves the artifact (TestTaskclusterProxy)', async () => {
    const h = await P('permA');
    const res = await hfetch(h, 'GET', `/queue/v1/task/${SEED_TASK}/artifacts/SampleArtifacts%2F_%2FX.txt`);
    expectStatus(res, 303);
    expectIdentity(res, h);
    const location = `${ROOT}/fake-storage/${SEED_TASK}/SampleArtifacts/_/X.txt`;
    assert.equal(res.headers.get('location'), location, show(res));
    assert.deepEqual(res.json, { storageType: 's3', url: location }, show(res));
    assert.equal(res.headers.get('x-taskcluster-artifact-storage-type'), 's3', show(res));
    assert.equal(await (await fetch(location)).text(), 'test artifact\n');
  });

  // --- TestNonCanonicalUrls ---

  const odd = 'double//slash/encode1%2F/encode2%252F/encode3%25252F';
  for (const prefix of ['', '/api']) {
    await t(`TestNonCanonicalUrls: ${prefix}/fake/v1/echo/${odd} and a raw query reach upstream byte for byte`, async () => {
      const h = await P('permA');
      const target = `${prefix}/fake/v1/echo/${odd}?b=1&a=%2F&c=%252F&d&e=%zz&f=a+b`;
      const res = await raw(h, 'GET', target);
      expectStatus(res, 200);
      expectIdentity(res, h);
      const want = `/api/fake/v1/echo/${odd}?b=1&a=%2F&c=%252F&d&e=%zz&f=a+b`;
      assert.equal(res.json.url, want, show(res));
      assert.equal(hdr(res, 'X-Taskcluster-Endpoint'), ROOT + want, show(res));
      assert.equal(res.json.clientId, PERM_A.clientId, 'and it was signed for that very target');
    });
  }

  // --- taskcluster/services_test.go: the shortcut form ---

  await t('services_test.go: /<svc>/v1/y/z and /<svc>/v1/y%2fz map to <rootUrl>/api/<svc>/v1/...', async () => {
    const h = await P('permA');
    for (const [target, want] of [
      ['/fake/v1/echo/y/z', '/api/fake/v1/echo/y/z'],
      ['/fake/v1/echo/y%2fz', '/api/fake/v1/echo/y%2fz'],
    ]) {
      const res = await hfetch(h, 'GET', target);
      expectStatus(res, 200);
      assert.equal(res.json.url, want, show(res));
      assert.equal(res.headers.get('x-taskcluster-endpoint'), ROOT + want, show(res));
    }
    const res = await hfetch(h, 'GET', '/aws-provisioner/v1/y/z');
    expectStatus(res, 404);
    expectIdentity(res, h);
    assert.equal(res.headers.get('x-taskcluster-endpoint'), `${ROOT}/api/aws-provisioner/v1/y/z`, show(res));
    assert.equal(res.json.message, 'tc-fake: no API method at /api/aws-provisioner/v1/y/z', show(res));
  });

  await t('the target is not decoded: /api/fake/v1/echo/a%2Fb and /fake/v1/echo/a%2Fb reach the same upstream path', async () => {
    const h = await P('permA');
    const a = await hfetch(h, 'GET', '/api/fake/v1/echo/a%2Fb');
    const b = await hfetch(h, 'GET', '/fake/v1/echo/a%2Fb');
    expectStatus(a, 200);
    expectStatus(b, 200);
    assert.equal(a.json.url, '/api/fake/v1/echo/a%2Fb', show(a));
    assert.equal(b.json.url, '/api/fake/v1/echo/a%2Fb', show(b));
    assert.equal(a.headers.get('x-taskcluster-endpoint'), b.headers.get('x-taskcluster-endpoint'));
  });

  await t('TestTcProxy (tcproxy_test.go): /auth/v1/scopes/current satisfies the authorized scopes', async () => {
    const h = await P('permA');
    const { scopes } = await asTask(taskcluster.Auth, h).currentScopes();
    assert.deepEqual(scopes, ['assume:anonymous', 'auth:current-scopes', 'queue:get-artifact:SampleArtifacts/_/X.txt',
      'queue:get-artifact:public/*', 'queue:get-task:*', 'queue:list-artifacts:*', 'queue:status:*',
      'secrets:get:proxy-test/*'], 'the authorized scopes, with the anonymous role');
  });

  // --- TestCredentialsUpdate (credentials_update_test.go), adapted ---

  const echoAs = async (h, clientId) => {
    const res = await hfetch(h, 'GET', `/fake/v1/echo/${uniq('who')}`);
    expectStatus(res, 200);
    expectIdentity(res, h);
    assert.equal(res.json.clientId, clientId, `requests go out as ${clientId}, in ${show(res)}`);
    const auth = echoHeaders(res).filter(([k]) => k === 'authorization');
    assert.equal(auth.length, 1, show(res));
    assert.ok(auth[0][1].startsWith(`Hawk id="${clientId}"`), show(res));
    return res;
  };

  await t('TestCredentialsUpdate: PUT /credentials from the task is 403, saying the worker updates them', async () => {
    const h = await P('update');
    const res = await hfetch(h, 'PUT', '/credentials', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: PERM_B.clientId, accessToken: PERM_B.accessToken, certificate: '' }),
    });
    expectStatus(res, 403);
    expectIdentity(res, h);
    assert.match(res.text, /does not take credentials from the task/, show(res));
    assert.match(res.text, /the worker passes the task's new credentials/, show(res));
    await echoAs(h, PERM_A.clientId);
  });

  await t('TestCredentialsUpdate: POST, GET, DELETE, an empty or bad PUT, and /credentials/x are 403 too', async () => {
    const h = await P('update');
    for (const [method, target, body] of [
      ['POST', '/credentials', '{}'], ['GET', '/credentials'], ['DELETE', '/credentials'],
      ['PUT', '/credentials', ''], ['PUT', '/credentials', '{"badJS0n!'], ['PUT', '/credentials/x', '{}'],
    ]) {
      const res = await hfetch(h, method, target, { body });
      assert.equal(res.status, 403, `${method} ${target}: ${show(res)}`);
      expectIdentity(res, h);
      assert.ok(res.text.includes(`${method} /credentials is refused`), `${method} ${target}: ${show(res)}`);
    }
    await echoAs(h, PERM_A.clientId);
  });

  await t('TestCredentialsUpdate: the worker\'s update (creds FILE) is accepted; requests go out as the new client', async () => {
    const h = await P('update');
    assert.equal(await h.sendCreds(PERM_B), 'accepted');
    h.ident = permIdent(PERM_B);
    await echoAs(h, PERM_B.clientId);
  });

  await t('TestCredentialsUpdate: permanent to temporary credentials: Temp-ClientId and Temp-Scopes follow', async () => {
    const h = await P('update');
    assert.equal(await h.sendCreds(tempA), 'accepted');
    h.ident = tempIdent(tempA, ['secrets:get:proxy-test/*']);
    const res = await echoAs(h, tempA.clientId);
    assert.deepEqual(res.json.ext.certificate, JSON.parse(tempA.certificate), 'the certificate goes in ext');
    assert.deepEqual(res.json.authorizedScopes, ['secrets:get:proxy-test/*'], 'the authorized scopes are unchanged');
  });

  await t('TestCredentialsUpdate: malformed credentials documents are rejected; the ones in use stay', async () => {
    const h = await P('update');
    // (the channel carries 2 bytes at least: the worker sends no less)
    for (const doc of [
      '{}',
      '{"badJS0n!',
      '[]',
      JSON.stringify({ clientId: PERM_B.clientId }),
      JSON.stringify({ accessToken: PERM_B.accessToken }),
      JSON.stringify({ clientId: PERM_B.clientId, accessToken: 7 }),
      JSON.stringify({ clientId: PERM_B.clientId, accessToken: PERM_B.accessToken, certificate: 5 }),
    ]) {
      const reply = await h.sendCreds(doc);
      assert.match(reply, /^rejected: ./, `credentials ${JSON.stringify(doc)}: ${reply}`);
      await echoAs(h, tempA.clientId);
    }
  });

  // (hung_upstream_test.go)
  await t('TestCredentialsUpdateNotBlockedByPendingRequest: an update is taken while a request waits on upstream', async () => {
    const h = await P('update');
    const pending = hfetch(h, 'GET', '/fake/v1/slow/1500');
    pending.catch(() => {}); // (awaited below, unless the update fails first)
    await sleep(300);
    const t0 = Date.now();
    const reply = await h.sendCreds(tempA2);
    const took = Date.now() - t0;
    assert.equal(reply, 'accepted');
    assert.ok(took < 1000, `the update took ${took} ms while a request was pending`);
    h.ident = tempIdent(tempA2, ['secrets:get:proxy-test/*']);
    const res = await pending;
    expectStatus(res, 200);
    assert.deepEqual(res.json, { sleptMs: 1500 });
    await echoAs(h, tempA2.clientId);
  });

  await t('TestUpstreamRequestCancelledWhenClientDisconnects: the upstream request ends when the task hangs up', async () => {
    const h = await P('permA');
    const key = uniq('hangup');
    const target = `/api/fake/v1/slow/3000?${key}`;
    const ac = new AbortController();
    const req = hfetch(h, 'GET', `/fake/v1/slow/3000?${key}`, { signal: ac.signal }).catch(err => err);
    await sleep(300);
    ac.abort();
    await req;
    const t0 = Date.now();
    // tc-fake logs a request when it ends: at once, with no status, if the
    // proxy hung up on it; after the 3 s, with 200, if it did not.
    const line = await waitFor(() => fakeLog().find(l => l.target === target), 4000, `tc-fake's log of ${target}`);
    const after = Date.now() - t0;
    assert.ok(line.status === null && after < 1500,
      `upstream request ended ${after} ms after the client hung up, with status ${line.status}`);
  });

  // --- what sepworker's proxy adds (reference §2.4) ---

  await t('request headers: X-Custom reaches upstream; hop-by-hop ones (Connection: X-Hop, X-Hop, Keep-Alive, TE, Proxy-Authorization) do not', async () => {
    const h = await P('permA');
    const res = await raw(h, 'GET', '/fake/v1/echo/headers', {
      headers: [['X-Custom', 'v'], ['Connection', 'X-Hop'], ['X-Hop', '1'], ['Keep-Alive', 'timeout=5'],
        ['TE', 'trailers'], ['Proxy-Authorization', 'Basic Zm9vOmJhcg==']],
    });
    expectStatus(res, 200);
    expectIdentity(res, h);
    const got = echoHeaders(res);
    assert.deepEqual(got.filter(([k]) => k === 'x-custom'), [['x-custom', 'v']], `X-Custom: v upstream, in ${show(res)}`);
    for (const name of ['x-hop', 'keep-alive', 'te', 'proxy-authorization']) {
      assert.deepEqual(got.filter(([k]) => k === name), [], `no ${name} upstream, in ${show(res)}`);
    }
    assert.ok(!got.some(([k, v]) => k === 'connection' && /x-hop/i.test(v)), `Connection: X-Hop not passed on, in ${show(res)}`);
  });

  await t('request headers: the task\'s Authorization is replaced by the proxy\'s Hawk one', async () => {
    const h = await P('permA');
    for (const a of ['Hawk id="evil", ts="1", nonce="x", mac="AAAA"', 'Bearer not-a-hawk-header']) {
      const res = await raw(h, 'GET', '/fake/v1/echo/authz', { headers: [['Authorization', a]] });
      expectStatus(res, 200);
      assert.equal(res.json.clientId, PERM_A.clientId, show(res));
      const auth = echoHeaders(res).filter(([k]) => k === 'authorization');
      assert.equal(auth.length, 1, `one Authorization upstream, in ${show(res)}`);
      assert.ok(auth[0][1].startsWith(`Hawk id="${PERM_A.clientId}"`), show(res));
      assert.deepEqual(res.json.authorizedScopes, cfg.permA.scopes, show(res));
    }
  });

  await t('response headers: multi-valued ones (X-Fake-Multi, Set-Cookie) are all relayed', async () => {
    const h = await P('permA');
    const res = await raw(h, 'GET', '/fake/v1/headers');
    expectStatus(res, 200);
    expectIdentity(res, h);
    const multi = pairs(res.rawHeaders).filter(([k]) => k.toLowerCase() === 'x-fake-multi').map(([, v]) => v);
    assert.deepEqual(multi.join(', ').split(', '), ['one', 'two'], `X-Fake-Multi: one, two, in ${show(res)}`);
    assert.deepEqual(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/'], `both Set-Cookie lines, in ${show(res)}`);
  });

  await t('a POST body with every byte value 0-255 arrives byte for byte', async () => {
    const h = await P('permA');
    const body = Buffer.concat([0, 1, 2, 3].map(k => Buffer.from([...Array(256).keys()].map(i => (i + k * 85) & 255))));
    const res = await hfetch(h, 'POST', '/fake/v1/echo/bytes', {
      headers: { 'content-type': 'application/octet-stream' }, body,
    });
    expectStatus(res, 200);
    expectIdentity(res, h);
    assert.equal(res.json.method, 'POST');
    assert.equal(Buffer.from(res.json.body, 'base64').compare(body), 0, 'the body upstream equals the one sent');
    const got = echoHeaders(res);
    assert.deepEqual(got.filter(([k]) => k === 'content-type'), [['content-type', 'application/octet-stream']], show(res));
    assert.deepEqual(got.filter(([k]) => k === 'content-length'), [['content-length', '1024']], show(res));
  });

  await t('HEAD works: HEAD reaches upstream as HEAD; headers, no body', async () => {
    const h = await P('permA');
    const key = uniq('head');
    const res = await hfetch(h, 'HEAD', `/fake/v1/big/1000?${key}`);
    expectStatus(res, 200);
    expectIdentity(res, h);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers.get('x-fake-sha256'), sha256(bigBody(1000)), show(res));
    assert.equal(res.headers.get('content-length'), '1000', show(res));
    await sleep(100);
    const sent = fakeLog().filter(l => l.target === `/api/fake/v1/big/1000?${key}`);
    assert.deepEqual(sent.map(l => [l.method, l.status]), [['HEAD', 200]], 'one HEAD upstream');
  });

  let bigMs = null;
  await t('a 10 MB body streams through with the right sha256 (X-Fake-Sha256)', async () => {
    const h = await P('permA');
    const size = 10 * 1024 * 1024;
    const t0 = Date.now();
    const res = await hfetch(h, 'GET', `/fake/v1/big/${size}`);
    bigMs = Date.now() - t0;
    expectStatus(res, 200);
    expectIdentity(res, h);
    assert.equal(res.body.length, size);
    const want = sha256(bigBody(size));
    assert.equal(res.headers.get('x-fake-sha256'), want);
    assert.equal(sha256(res.body), want, 'the body\'s sha256');
  });

  await t('the 10 MB body takes under 3 s through the proxy (from tc-fake directly: some ms)', async () => {
    const h = await P('permA');
    assert.ok(bigMs !== null, 'the 10 MB request was made');
    const t0 = Date.now();
    // (on a connection of its own: fetch's pooled one to tc-fake, idle
    // since an earlier test, can meet tc-fake's 5 s keep-alive timeout
    // as it is reused, after the event loop was busy hashing 10 MB)
    const direct = await new Promise((resolve, reject) =>
      http.get(`${ROOT}/api/fake/v1/big/${10 * 1024 * 1024}`, { agent: false }, res => {
        const chunks = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      }).on('error', reject));
    const directMs = Date.now() - t0;
    assert.equal(direct.length, 10 * 1024 * 1024);
    assert.ok(bigMs < 3000, `through the proxy: ${bigMs} ms; directly: ${directMs} ms`);
    using.add(h);
  });

  await t('retries: flaky/<key>/2 answers 200 {"attempts":3} through the proxy', async () => {
    const h = await P('retry60');
    const key = uniq('flaky');
    const res = await hfetch(h, 'GET', `/fake/v1/flaky/${key}/2`);
    expectStatus(res, 200);
    expectIdentity(res, h);
    assert.equal(res.text, '{"attempts":3}');
    await sleep(100);
    const sent = fakeLog().filter(l => l.target === `/api/fake/v1/flaky/${key}/2`);
    assert.deepEqual(sent.map(l => [l.status, l.clientId]), [[500, PERM_A.clientId], [500, PERM_A.clientId],
      [200, PERM_A.clientId]], 'three signed attempts upstream');
    assert.match(h.log(), new RegExp(`GET ${ROOT}/api/fake/v1/flaky/${key}/2 -> 200 \\(after retries\\)`),
      'the proxy\'s log says it retried');
  });

  await t('retries: with RETRY_SECONDS 0 a flaky first attempt\'s 500 is passed back as is', async () => {
    const h = await P('noRetry');
    const key = uniq('once');
    const res = await hfetch(h, 'GET', `/fake/v1/flaky/${key}/1`);
    expectIdentity(res, h);
    expectApiError(res, 500, 'InternalServerError', `tc-fake flaky: attempt 1 of the 1 that fail for key ${key}`);
    assert.equal(res.headers.get('x-taskcluster-endpoint'), `${ROOT}/api/fake/v1/flaky/${key}/1`, show(res));
    const again = await hfetch(h, 'GET', `/fake/v1/flaky/${key}/1`);
    expectStatus(again, 200);
    assert.equal(again.text, '{"attempts":2}', 'one request upstream each time');
  });

  await t('an upstream header block is bounded: 100 headers relayed, 600 answer 500 "Failed during proxy request"', async () => {
    const h = await P('noRetry');
    const fine = await hfetch(h, 'GET', '/fake/v1/many-headers/100');
    expectStatus(fine, 200);
    assert.equal(fine.headers.get('x-fake-header-99'), 'value-99', show(fine));
    const many = await hfetch(h, 'GET', '/fake/v1/many-headers/600');
    expectStatus(many, 500);
    expectIdentity(many, h);
    assert.equal(many.text, 'Failed during proxy request: upstream sent more than 500 headers or 262144 bytes of them', show(many));
  });

  await t('an unresolvable host (/nonexistent.invalid/x): 500 "Failed during proxy request: ..." within a few seconds (RETRY_SECONDS 1)', async () => {
    const h = await P('retry1');
    const t0 = Date.now();
    const res = await hfetch(h, 'GET', '/nonexistent.invalid/x');
    const took = Date.now() - t0;
    expectStatus(res, 500);
    expectIdentity(res, h);
    assert.ok(res.text.startsWith('Failed during proxy request: ') && res.text.length > 30, show(res));
    assert.ok(took < 5000, `answered after ${took} ms`);
    // taskcluster-proxy sets it before the request is tried (commonHandler).
    assert.equal(res.headers.get('x-taskcluster-endpoint'), 'https://nonexistent.invalid/x', show(res));
  });

  await t('the /<host>/ route reaches only allowed hosts: others answer 403 naming sepworker.proxyAllowedHosts, untried', async () => {
    const h = await P('retry1');
    const before = h.log();
    for (const host of ['example.com', 'wild.invalid', '127.0.0.1', 'nonexistent.invalid.evil.com']) {
      const res = await hfetch(h, 'GET', `/${host}/x?y=1`);
      expectStatus(res, 403);
      expectIdentity(res, h);
      assert.equal(res.text, `sepworker's taskcluster proxy does not forward to ${host}: the worker's ` +
        'sepworker.proxyAllowedHosts does not list it (by default only the rootURL\'s host is allowed)', show(res));
      assert.equal(res.headers.get('x-taskcluster-endpoint'), null, show(res));
    }
    // allowed: tried (no such host, so 500), the wildcard and case-blind
    for (const host of ['nonexistent.invalid', 'NonExistent.Invalid', 'a.b.wild.invalid']) {
      const res = await hfetch(h, 'GET', `/${host}/x`);
      expectStatus(res, 500);
      assert.ok(res.text.startsWith('Failed during proxy request: '), show(res));
    }
    const log = h.log().slice(before.length);
    assert.ok(!/GET https:\/\/(example\.com|wild\.invalid|127\.0\.0\.1)\//.test(log.replace(/refused GET \S+/g, '')),
      `no attempt on a refused host, in the log:\n${log}`);
    assert.match(log, /refused GET https:\/\/example\.com\/x\?y=1: example\.com is not an allowed host/);
  });

  await t('without an allow-list the /<host>/ route reaches the root URL\'s host alone; with an empty one, no host', async () => {
    const h = await P('permA');
    const other = await hfetch(h, 'GET', '/example.com/x');
    expectStatus(other, 403);
    // 127.0.0.1 is the root URL's host: tried (https on 443, which tc-fake
    // does not serve), so not refused
    const root = await hfetch(h, 'GET', '/127.0.0.1/x');
    assert.notEqual(root.status, 403, show(root));
    assert.ok(!root.text.includes('proxyAllowedHosts'), show(root));
    // an empty list ([]): not even the root URL's host, and the root
    // URL's own routes still work
    const none = await P('noHosts');
    expectStatus(await hfetch(none, 'GET', '/127.0.0.1/x'), 403);
    expectStatus(await hfetch(none, 'GET', '/api/fake/v1/echo/x'), 200);
  });

  await t('/bewit with a body that is not a URL: 500 with a message', async () => {
    const h = await P('permA');
    for (const body of ['not a url', '', '/relative/path']) {
      const res = await hfetch(h, 'POST', '/bewit', { body });
      assert.equal(res.status, 500, `body ${JSON.stringify(body)}: ${show(res)}`);
      expectBody14(res);
      expectIdentity(res, h);
      assert.equal(res.headers.get('location'), null, show(res));
    }
  });

  // --- admission ---

  await t('admission: with ALLOWED_UID 0, a uid 65534 connection gets no HTTP response, and the log says why', async () => {
    const h = await P('permA');
    const r = await asNobody(h.port);
    assert.equal(r.uid, 65534, 'the client ran as 65534');
    assert.equal(r.bytes, 0, `no bytes back, got ${JSON.stringify(r.data)}`);
    assert.ok(r.end !== 'timeout', `the connection is closed (it ended: ${r.end})`);
    const want = `refused a connection from 127.0.0.1:${r.localPort}: uid 65534 is not the task's (0)`;
    await waitFor(() => h.log().includes(want), 2000, `"${want}" in the proxy's log`);
    const res = await hfetch(h, 'GET', '/fake/v1/echo/as-root');
    expectStatus(res, 200);
  });

  await t('admission: with ALLOWED_UID none, uid 65534 is served', async () => {
    const h = await P('anyUid');
    const r = await asNobody(h.port);
    assert.equal(r.uid, 65534);
    assert.match(r.data, /^HTTP\/1\.1 200 /, JSON.stringify(r));
  });

  // --- every harness stops cleanly ---

  for (const h of [...harnesses]) {
    await t(`harness ${h.label}: "quit" exits 0 and the task proxy is gone`, async () => {
      using.add(h);
      const exit = await h.stop();
      const why = exit.code > 128 ? ` (128 + ${exit.code - 128}: the task proxy was killed by signal ${exit.code - 128}` +
        `${exit.code - 128 === 31 ? ', SIGSYS, from its seccomp filter' : ''})` : '';
      assert.deepEqual(exit, { code: 0, signal: null }, `the harness's exit status${why}`);
      assert.ok(!fs.existsSync(`/proc/${h.tpPid}`), `taskproxy ${h.tpPid} still exists`);
      assert.ok(!/killed by signal|fatal|protocol violation/i.test(h.log()), 'no fatal error in the log');
    });
  }
};

// Stopping every harness on the way out, however the suite ends: their
// stdin closes (EOF is "quit"), then SIGKILL for any still there.
const reap = () => {
  if (stopping) {
    return;
  }
  stopping = true;
  for (const c of children) {
    c.kill('SIGKILL');
  }
  for (const h of harnesses) {
    if (h.proc && !h.exit) {
      try {
        h.proc.stdin.end();
      } catch (err) {
        // already closed
      }
    }
  }
  // (waiting for each one's exit event: reaped, so no zombie is left)
  const end = Date.now() + 2500;
  const left = () => [...harnesses.filter(h => h.proc && !h.exit).map(h => h.proc), ...children];
  const wait = () => {
    if (left().length === 0) {
      process.exit(143);
    }
    if (Date.now() > end) {
      left().forEach(c => c.kill('SIGKILL'));
      setTimeout(() => process.exit(143), 200);
      return;
    }
    setTimeout(wait, 20);
  };
  wait();
};
process.on('SIGTERM', reap);
// A promise a failed test left behind: said, not fatal.
process.on('unhandledRejection', err => {
  console.log(`# (a request left behind by a failed test failed too: ${err && err.message})`);
});
process.on('SIGINT', reap);

main().then(() => {
  console.log(`1..${n}`);
  process.exit(failures ? 1 : 0);
}, err => {
  n++;
  console.log(`not ok ${n} - the suite ran to its end`);
  for (const line of String(err && err.stack || err).split('\n').slice(0, 20)) {
    console.log('# ' + line);
  }
  for (const h of harnesses) {
    h.proc && !h.exit && h.proc.stdin.end();
  }
  console.log(`1..${n}`);
  setTimeout(() => process.exit(1), 500);
});
