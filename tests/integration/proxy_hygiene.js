#!/usr/bin/env node
// Header hygiene of the task proxy, byte for byte (issue #8, class 4).
//
// One real, sandboxed task proxy (build/tests/helpers/taskproxy) whose
// rootUrl is a raw TCP server here that answers every request 200 and
// keeps every byte it receives (also written to --tmp/upstream.bytes).
// A raw-socket client sends each request exactly as written below:
//
//  - a request whose head is not well-formed HTTP/1.1 (whitespace in or
//    before a header name, a bare CR or LF, obs-fold, control characters,
//    a method that is not a token, a bad version or request line, framing
//    that two parsers could read two ways) must be answered 400 with a
//    text body naming what was wrong, and upstream must receive nothing,
//    not even later (a smuggled second request);
//  - a well-formed request carrying anything an upstream could read as
//    Authorization must arrive upstream with exactly one Authorization,
//    the proxy's Hawk one, and one Host, one Content-Length, no
//    Transfer-Encoding, whatever the task sent of those.
//
// Prints TAP; exits 1 if any test failed.
//   node proxy_hygiene.js --build BUILD --tmp DIR
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');

const argv = process.argv.slice(2);
const opts = {};
for (let i = 0; i < argv.length; i += 2) {
  opts[argv[i].replace(/^--/, '')] = argv[i + 1];
}
if (!opts.build || !opts.tmp) {
  process.stderr.write('usage: node proxy_hygiene.js --build DIR --tmp DIR\n');
  process.exit(2);
}
const BUILD = path.resolve(opts.build);
const TMP = opts.tmp;
const HARNESS = path.join(BUILD, 'tests', 'helpers', 'taskproxy');
const TASK_UID = '64504';
// How long a refused request may take to be answered, and how long
// upstream is watched afterwards for anything the proxy sent late.
const ANSWER_MS = 3000;
const QUIET_MS = 300;

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
    const lines = String(err && err.message || err).split('\n').slice(0, 40);
    for (const l of lines) {
      console.log('# ' + l);
    }
    for (const l of proxyLogTail(8)) {
      console.log('# proxy: ' + l);
    }
  }
};
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
// Bytes shown in a diagnostic: printable ASCII as is, the rest escaped.
const show = buf => (typeof buf === 'string' ? buf : Buffer.from(buf).toString('latin1')).replace(/[^\x20-\x7e]/g,
  c => c === '\n' ? '\\n\n  ' : '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));

// --- the upstream: every byte kept ---

const upstream = { bytes: [], total: 0, heads: [] };
const UPSTREAM_LOG = path.join(TMP, 'upstream.bytes');
fs.writeFileSync(UPSTREAM_LOG, '');

// Requests out of one connection's bytes: the head up to CRLFCRLF, then
// Content-Length bytes of body (curl frames every request it sends so).
const serveConnection = sock => {
  let buf = Buffer.alloc(0);
  sock.on('data', d => {
    upstream.bytes.push(d);
    upstream.total += d.length;
    fs.appendFileSync(UPSTREAM_LOG, d);
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        return;
      }
      const head = buf.subarray(0, end + 4).toString('latin1');
      const m = head.match(/\r\ncontent-length:\s*(\d+)/i);
      const len = m ? Number(m[1]) : 0;
      if (buf.length < end + 4 + len) {
        return;
      }
      upstream.heads.push({ head, body: buf.subarray(end + 4, end + 4 + len) });
      buf = buf.subarray(end + 4 + len);
      sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok');
    }
  });
  sock.on('error', () => {});
};

// --- the task proxy ---

let harness = null, harnessExit = null, proxyPort = null;
const harnessLog = path.join(TMP, 'taskproxy.log');
const proxyLogTail = k => {
  try {
    return fs.readFileSync(harnessLog, 'utf-8').split('\n').filter(Boolean).slice(-k);
  } catch (err) {
    return [];
  }
};

const startProxy = rootUrl => new Promise((resolve, reject) => {
  const creds = path.join(TMP, 'creds.json');
  fs.writeFileSync(creds, JSON.stringify({ clientId: 'hygiene/client', accessToken: 'hygiene-token' }));
  const logFd = fs.openSync(harnessLog, 'w');
  harness = spawn(HARNESS, [BUILD, TASK_UID, rootUrl, 'hygiene:*', creds, 'none'],
    { stdio: ['pipe', 'pipe', logFd], detached: true });
  fs.closeSync(logFd);
  harness.stdin.on('error', () => {});
  harness.on('exit', (code, signal) => {
    harnessExit = { code, signal };
    reject(new Error(`the harness exited (${JSON.stringify(harnessExit)}): ${proxyLogTail(20).join('\n')}`));
  });
  let out = '';
  harness.stdout.on('data', d => {
    out += d;
    const m = out.match(/^port (\d+)$/m);
    if (m) {
      resolve(Number(m[1]));
    }
  });
  setTimeout(() => reject(new Error(`the harness said no port: ${proxyLogTail(20).join('\n')}`)), 15000);
});

// --- the raw client ---

// Send bytes on a new connection; the first response as
// {status, head, body}, or {status: null, why} if none came in time.
// The connection stays open until an answer or ANSWER_MS, so that a
// proxy waiting for more of a body is not told the request ended.
// bytes: a string (latin1) sent at once, or an array of them sent gapMs
// apart.
const rawRequest = (bytes, { gapMs = 0 } = {}) => new Promise(resolve => {
  const sock = net.connect(proxyPort, '127.0.0.1');
  let buf = Buffer.alloc(0), done = false;
  const finish = r => {
    if (!done) {
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    }
  };
  const parse = closed => {
    const end = buf.indexOf('\r\n\r\n');
    if (end === -1) {
      return closed ? finish({ status: null, why: `closed after ${JSON.stringify(buf.toString('latin1'))}` }) : null;
    }
    const head = buf.subarray(0, end).toString('latin1');
    const m = head.match(/^HTTP\/1\.[01] (\d{3})/);
    const cl = head.match(/\r\ncontent-length:\s*(\d+)/i);
    const body = buf.subarray(end + 4);
    if (cl && body.length >= Number(cl[1])) {
      return finish({ status: m ? Number(m[1]) : null, head, body: body.subarray(0, Number(cl[1])).toString('latin1') });
    }
    if (closed) {
      return finish({ status: m ? Number(m[1]) : null, head, body: body.toString('latin1') });
    }
    return null;
  };
  const timer = setTimeout(() => finish({ status: null, why: `no answer within ${ANSWER_MS} ms` +
    (buf.length ? `; got ${JSON.stringify(buf.toString('latin1'))}` : '') }), ANSWER_MS);
  sock.on('connect', async () => {
    const pieces = Array.isArray(bytes) ? bytes : [bytes];
    for (let i = 0; i < pieces.length && !done; i++) {
      if (i > 0) {
        await sleep(gapMs);
      }
      sock.write(Buffer.from(pieces[i], 'latin1'));
    }
  });
  sock.on('data', d => {
    buf = Buffer.concat([buf, d]);
    parse(false);
  });
  sock.on('end', () => parse(true));
  sock.on('close', () => parse(true));
  sock.on('error', err => finish({ status: null, why: `connection error ${err.code}` }));
});

// Send bytes on a new connection and keep everything that comes back
// until the proxy closes it (end: 'closed') or ANSWER_MS pass ('open').
const rawExchange = bytes => new Promise(resolve => {
  const sock = net.connect(proxyPort, '127.0.0.1');
  let buf = Buffer.alloc(0), done = false;
  const finish = end => {
    if (!done) {
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ bytes: buf.toString('latin1'), end });
    }
  };
  const timer = setTimeout(() => finish('open'), ANSWER_MS);
  sock.on('connect', () => sock.write(Buffer.from(bytes, 'latin1')));
  sock.on('data', d => { buf = Buffer.concat([buf, d]); });
  sock.on('end', () => finish('closed'));
  sock.on('close', () => finish('closed'));
  sock.on('error', err => finish(`error ${err.code}`));
});

// --- the cases ---

let seq = 0;
// A target upstream can be told by: /api/hygiene/v1/<label>-<seq>.
const target = label => `/api/hygiene/v1/${label}-${++seq}`;

// Refused: 400, a body matching says, and nothing upstream, then or
// QUIET_MS later.
const refused = async (req, says, status = 400) => {
  const before = upstream.total;
  const res = await rawRequest(req, { gapMs: 50 });
  await sleep(QUIET_MS);
  const got = upstream.bytes.length ? Buffer.concat(upstream.bytes).subarray(before) : Buffer.alloc(0);
  const what = `request:\n  ${show([].concat(req).join(''))}\nanswer: ${res.status === null ? res.why :
    `${res.status}\n  ${show(res.head)}\n  body: ${res.body}`}`;
  assert.ok(got.length === 0, `upstream received ${got.length} bytes:\n  ${show(got)}\n${what}`);
  assert.equal(res.status, status, `expected ${status}; ${what}`);
  assert.match(res.body, says, `the body should say what was wrong; ${what}`);
};

// Forwarded: 200 from upstream; the head upstream received for this
// target, with its header lines as [name, value] (name as sent).
const forwarded = async (req, tgt, how) => {
  const res = await rawRequest(req, how);
  const what = `request:\n  ${show([].concat(req).join(''))}\nanswer: ${res.status === null ? res.why :
    `${res.status}\n  ${show(res.head)}\n  body: ${res.body}`}`;
  assert.equal(res.status, 200, `expected upstream's 200; ${what}`);
  const h = upstream.heads.find(x => x.head.split('\r\n')[0].split(' ')[1] === tgt);
  assert.ok(h, `upstream saw no request for ${tgt}; ${what}`);
  const lines = h.head.split('\r\n').slice(1, -2);
  return { ...h, res, what: `${what}\nupstream received:\n  ${show(h.head)}`,
    fields: lines.map(l => {
      const i = l.indexOf(':');
      return i === -1 ? [l, null] : [l.slice(0, i), l.slice(i + 1).trim()];
    }) };
};

// Every field upstream received that a lenient parser could take for
// NAME: case-insensitive, whitespace around the name trimmed, '_' read
// as '-' (CGI/WSGI's HTTP_* variables make both the same).
const readAs = (fields, name) => fields.filter(([k]) =>
  k.trim().toLowerCase().replace(/_/g, '-') === name);

// What upstream must see of a forwarded request whatever the task sent:
// one Authorization, the proxy's Hawk one; no Proxy-Authorization; one
// Host, naming upstream; every line a well-formed field.
const cleanUpstream = (u, port) => {
  const auth = readAs(u.fields, 'authorization');
  assert.equal(auth.length, 1, `exactly one Authorization upstream; ${u.what}`);
  assert.equal(auth[0][0], 'Authorization', `spelled as the proxy spells it; ${u.what}`);
  assert.match(auth[0][1], /^Hawk id="hygiene\/client", mac="[^"]+", ts="\d+", nonce="[^"]+"/,
    `the proxy's Hawk header; ${u.what}`);
  assert.equal(readAs(u.fields, 'proxy-authorization').length, 0, `no Proxy-Authorization upstream; ${u.what}`);
  const host = readAs(u.fields, 'host');
  assert.deepEqual(host, [['Host', `127.0.0.1:${port}`]], `one Host, upstream's; ${u.what}`);
  for (const [k, v] of u.fields) {
    assert.ok(v !== null && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(k) && !/[\x00-\x08\x0a-\x1f\x7f]/.test(v),
      `a well-formed field line upstream: ${JSON.stringify(k)}; ${u.what}`);
  }
};

const main = async () => {
  const server = net.createServer(serveConnection);
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
  const upPort = server.address().port;
  fs.writeFileSync(path.join(TMP, 'upstream.port'), String(upPort));
  proxyPort = await startProxy(`http://127.0.0.1:${upPort}`);
  const H = 'Host: 127.0.0.1\r\n';
  // A request line and Host, then the given header lines and the end of
  // the head.
  const get = (label, lines, { method = 'GET', version = 'HTTP/1.1' } = {}) =>
    `${method} ${target(label)} ${version}\r\n${H}${lines}\r\n`;

  // Warm-up and control: a plain request passes, and upstream is clean.
  await t('a well-formed request is forwarded, with the proxy\'s Authorization alone', async () => {
    const tg = target('plain');
    const u = await forwarded(`GET ${tg} HTTP/1.1\r\n${H}Accept: */*\r\nX-Tab: a\tb\r\nX-Obs-Text: caf\xe9\r\n\r\n`, tg);
    cleanUpstream(u, upPort);
    assert.deepEqual(readAs(u.fields, 'x-tab'), [['X-Tab', 'a\tb']], `HTAB in a value passes; ${u.what}`);
    assert.deepEqual(readAs(u.fields, 'x-obs-text'), [['X-Obs-Text', 'caf\xe9']], `obs-text in a value passes; ${u.what}`);
  });

  // --- header names ---
  const nameCases = [
    ['a space before the colon', 'X-Foo : bar\r\n'],
    ['a tab before the colon', 'X-Foo\t: bar\r\n'],
    ['Authorization with a space before the colon', 'Authorization : Hawk id="evil"\r\n'],
    ['Authorization with a tab before the colon', 'authorization\t: Hawk id="evil"\r\n'],
    ['a space inside a name', 'X Foo: bar\r\n'],
    ['an empty name', ': bar\r\n'],
    ['a line without a colon', 'NoColonHere\r\n'],
    ['a name with "("', 'X-Fo(o: bar\r\n'],
    ['a name with "/"', 'X/Foo: bar\r\n'],
    ['a name with "@"', 'X@Foo: bar\r\n'],
    ['a name with a double quote', 'X"Foo: bar\r\n'],
    ['a name with "[" and "]"', '[Authorization]: bar\r\n'],
    ['a name with a non-ASCII byte', 'X-Caf\xe9: bar\r\n'],
    ['a name with a dotless i (upper-cases to Authorization)', 'Author\xc4\xb1zation: x\r\n'],
  ];
  for (const [what, line] of nameCases) {
    await t(`refused: ${what}`, () => refused(get('name', line), /header|field|name/i));
  }

  // --- CR and LF ---
  const crlfCases = [
    ['a bare CR inside a value', 'X-Foo: a\rb\r\n'],
    ['a bare CR ending a line (Authorization after it)', 'X-Foo: a\rAuthorization: Hawk id="evil"\r\n'],
    ['a bare CR inside a name', 'X-F\roo: bar\r\n'],
    ['a bare LF ending a header line', 'X-Foo: a\nX-Bar: b\r\n'],
  ];
  for (const [what, line] of crlfCases) {
    await t(`refused: ${what}`, () => refused(get('crlf', line), /CR|LF|line/));
  }
  await t('refused: a request line ending in a bare LF', () =>
    refused(`GET ${target('crlf')} HTTP/1.1\n${H}\r\n`, /CR|LF|line/));
  await t('refused: a head of bare LFs only', () =>
    refused(`GET ${target('crlf')} HTTP/1.1\nHost: 127.0.0.1\n\n`, /CR|LF|line/));
  await t('refused: a bare CR inside the request line', () =>
    refused(`GET ${target('crlf')}\r HTTP/1.1\r\n${H}\r\n`, /CR|LF|line|request/));

  // --- obs-fold ---
  const foldCases = [
    ['a continuation line starting with a space', 'X-Foo: a\r\n b\r\n'],
    ['a continuation line starting with a tab', 'X-Foo: a\r\n\tb\r\n'],
    ['an Authorization folded into a value', 'X-Foo: a\r\n Authorization: Hawk id="evil"\r\n'],
    ['a folded Authorization value', 'X-Foo: a\r\nAuthorization:\r\n Hawk id="evil"\r\n'],
  ];
  for (const [what, line] of foldCases) {
    await t(`refused: obs-fold, ${what}`, () => refused(get('fold', line), /fold|continuation/i));
  }
  await t('refused: obs-fold, the first header line folded onto the request line', () =>
    refused(`GET ${target('fold')} HTTP/1.1\r\n X-Foo: a\r\n${H}\r\n`, /fold|continuation|whitespace/i));

  // --- control characters ---
  const ctlCases = [
    ['NUL in a value', 'X-Foo: a\x00b\r\n'],
    ['NUL in a name', 'X-F\x00oo: bar\r\n'],
    ['NUL ending Authorization\'s name', 'Authorization\x00: Hawk id="evil"\r\n'],
    ['0x01 in a value', 'X-Foo: a\x01b\r\n'],
    ['ESC in a value', 'X-Foo: \x1b[31mred\r\n'],
    ['0x7f in a value', 'X-Foo: a\x7fb\r\n'],
    ['0x1f in a name', 'X-Foo\x1f: bar\r\n'],
    ['0x7f in a name', 'X-Foo\x7f: bar\r\n'],
    ['a vertical tab in a value', 'X-Foo: a\x0bb\r\n'],
    ['a form feed in a value', 'X-Foo: a\x0cb\r\n'],
  ];
  for (const [what, line] of ctlCases) {
    await t(`refused: ${what}`, () => refused(get('ctl', line), /control|NUL|character|header|name/i));
  }

  // --- methods ---
  const methodCases = [
    ['a method with "("', 'GE(T'],
    ['a method with a control character', 'G\x01ET'],
    ['a method with DEL', 'GET\x7f'],
    ['a method with a non-ASCII byte', 'G\xc9T'],
    ['a method with a comma', 'GET,POST'],
    ['a method with "["', '[GET]'],
    ['an empty method', ''],
  ];
  for (const [what, m] of methodCases) {
    await t(`refused: ${what}`, () => refused(`${m} ${target('method')} HTTP/1.1\r\n${H}\r\n`, /method|request line/i));
  }

  // --- versions and request lines ---
  const lineCases = [
    ['the version in lower case', (tg) => `GET ${tg} http/1.1`],
    ['a version with a suffix', (tg) => `GET ${tg} HTTP/1.1x`],
    ['a version of three digits', (tg) => `GET ${tg} HTTP/1.10`],
    ['a version that is not HTTP', (tg) => `GET ${tg} HTTX/1.1`],
    ['no version (HTTP/0.9)', (tg) => `GET ${tg}`],
    ['two spaces after the method', (tg) => `GET  ${tg} HTTP/1.1`],
    ['two spaces before the version', (tg) => `GET ${tg}  HTTP/1.1`],
    ['a space after the version', (tg) => `GET ${tg} HTTP/1.1 `],
    ['tabs between the parts', (tg) => `GET\t${tg}\tHTTP/1.1`],
    ['a space inside the target', (tg) => `GET ${tg}/a b HTTP/1.1`],
    ['a leading space', (tg) => ` GET ${tg} HTTP/1.1`],
  ];
  for (const [what, line] of lineCases) {
    await t(`refused: ${what}`, () => refused(`${line(target('line'))}\r\n${H}\r\n`, /request line|version|target/i));
  }
  await t('refused: HTTP/2.0 over HTTP/1 framing (505)', () =>
    refused(`GET ${target('line')} HTTP/2.0\r\n${H}\r\n`, /version/i, 505));

  // --- framing: what two parsers could read two ways ---
  const smuggled = `GET ${target('smuggled')} HTTP/1.1\r\n${H}\r\n`;
  const post = (label, lines, body) => `POST ${target(label)} HTTP/1.1\r\n${H}${lines}\r\n${body}`;
  const framingCases = [
    ['Content-Length twice, different values', 'Content-Length: 5\r\nContent-Length: 6\r\n', 'hello!'],
    ['Content-Length twice, the same value', 'Content-Length: 5\r\nContent-Length: 5\r\n', 'hello'],
    ['Content-Length as a list', 'Content-Length: 5, 5\r\n', 'hello'],
    ['Content-Length with a sign', 'Content-Length: +5\r\n', 'hello'],
    ['Content-Length in hex', 'Content-Length: 0x5\r\n', 'hello'],
    ['Content-Length with trailing junk', 'Content-Length: 5x\r\n', 'hello'],
    ['Content-Length and Transfer-Encoding', 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n',
      `0\r\n\r\n${smuggled}`],
    ['Transfer-Encoding and Content-Length', 'Transfer-Encoding: chunked\r\nContent-Length: 48\r\n',
      `0\r\n\r\n${smuggled}`],
    ['Transfer-Encoding gzip, chunked', 'Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n'],
    ['Transfer-Encoding identity', 'Transfer-Encoding: identity\r\n', `${smuggled}`],
    ['Transfer-Encoding chunked twice', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'],
    ['Transfer-Encoding "chunked, identity"', 'Transfer-Encoding: chunked, identity\r\n', '0\r\n\r\n'],
    ['Transfer-Encoding xchunked', 'Transfer-Encoding: xchunked\r\n', `0\r\n\r\n${smuggled}`],
    ['Transfer-Encoding_ with an underscore', 'Transfer_Encoding: chunked\r\nContent-Length: 5\r\n', 'hello'],
  ];
  for (const [what, lines, body] of framingCases) {
    await t(`refused: ${what}`, () => refused(post('framing', lines, body),
      /Content-Length|Transfer-Encoding|Transfer_Encoding/));
  }
  await t('refused: Transfer-Encoding in an HTTP/1.0 request', () =>
    refused(`POST ${target('framing')} HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
      /Transfer-Encoding/));
  await t('refused: Host twice', () =>
    refused(get('host', 'Host: evil.example\r\n'), /Host/));
  await t('refused: Host twice in HTTP/1.0', () =>
    refused(`GET ${target('host')} HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n`, /Host/));
  await t('refused: an HTTP/1.1 request without Host', () =>
    refused(`GET ${target('host')} HTTP/1.1\r\nAccept: */*\r\n\r\n`, /Host/));
  await t('refused: a Host that is not a host', () =>
    refused(`GET ${target('host')} HTTP/1.1\r\nHost: a b@c\r\n\r\n`, /Host/));

  // --- Authorization in any spelling: forwarded, but only the proxy's ---
  const authCases = [
    ['lower case', 'authorization: Hawk id="evil"\r\n'],
    ['upper case', 'AUTHORIZATION: Hawk id="evil"\r\n'],
    ['mixed case, twice', 'AuThOrIzAtIoN: a\r\nAuthorization: b\r\n'],
    ['empty', 'Authorization:\r\n'],
    ['with a value of spaces', 'Authorization:   \r\n'],
    ['Proxy-Authorization', 'Proxy-Authorization: Basic ZXZpbDpldmls\r\n'],
    ['named in Connection too', 'Connection: Authorization\r\nAuthorization: Hawk id="evil"\r\n'],
  ];
  for (const [what, lines] of authCases) {
    await t(`Authorization (${what}): upstream sees the proxy's alone`, async () => {
      const tg = target('auth');
      cleanUpstream(await forwarded(`GET ${tg} HTTP/1.1\r\n${H}${lines}\r\n`, tg), upPort);
    });
  }
  await t('refused: Proxy_Authorization (an upstream mapping "_" to "-" reads Proxy-Authorization)', () =>
    refused(get('auth', 'Proxy_Authorization: Basic ZXZpbDpldmls\r\n'), /Proxy_Authorization/));
  await t('refused: Content_Length (read as Content-Length where "_" is "-")', () =>
    refused(post('auth', 'Content_Length: 3\r\nContent-Length: 5\r\n', 'hello'), /Content_Length/));
  await t('refused: Content_Type (read as Content-Type, which the proxy sets when missing)', () =>
    refused(post('auth', 'Content_Type: text/evil\r\nContent-Length: 5\r\n', 'hello'), /Content_Type/));
  await t('a name with "_" that maps onto nothing the proxy sets passes', async () => {
    const tg = target('auth');
    const u = await forwarded(`GET ${tg} HTTP/1.1\r\n${H}X_Custom: 1\r\n\r\n`, tg);
    cleanUpstream(u, upPort);
    assert.deepEqual(readAs(u.fields, 'x-custom'), [['X_Custom', '1']], u.what);
  });
  await t('an Authorization trailer of a chunked body does not reach upstream', async () => {
    const tg = target('trailer');
    const u = await forwarded(`POST ${tg} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n` +
      '5\r\nhello\r\n0\r\nAuthorization: Hawk id="evil"\r\n\r\n', tg);
    cleanUpstream(u, upPort);
    assert.equal(u.body.toString('latin1'), 'hello', u.what);
    assert.deepEqual(readAs(u.fields, 'content-length'), [['Content-Length', '5']], u.what);
    assert.equal(readAs(u.fields, 'transfer-encoding').length, 0, u.what);
  });

  // --- what the proxy sets: the task's copies change nothing upstream ---
  await t('the task\'s Host is replaced by upstream\'s', async () => {
    const tg = target('host');
    cleanUpstream(await forwarded(`GET ${tg} HTTP/1.1\r\nHost: evil.example:1\r\n\r\n`, tg), upPort);
  });
  await t('a body with Content-Length: one Content-Length upstream, the body\'s', async () => {
    const tg = target('length');
    const u = await forwarded(`POST ${tg} HTTP/1.1\r\n${H}Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello`, tg);
    cleanUpstream(u, upPort);
    assert.deepEqual(readAs(u.fields, 'content-length'), [['Content-Length', '5']], u.what);
    assert.equal(u.body.toString('latin1'), 'hello', u.what);
    assert.equal(readAs(u.fields, 'transfer-encoding').length, 0, u.what);
  });
  await t('a chunked body: upstream gets it with one Content-Length and no Transfer-Encoding', async () => {
    const tg = target('chunked');
    const u = await forwarded(`POST ${tg} HTTP/1.1\r\n${H}Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n` +
      '3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n', tg);
    cleanUpstream(u, upPort);
    assert.deepEqual(readAs(u.fields, 'content-length'), [['Content-Length', '5']], u.what);
    assert.equal(u.body.toString('latin1'), 'hello', u.what);
    assert.equal(readAs(u.fields, 'transfer-encoding').length, 0, u.what);
  });
  for (const [what, size] of [['a 0x prefix', '0x5'], ['a sign', '+5'], ['a space before it', ' 5'],
    ['whitespace before its extension', '5 ;x=y'], ['16 digits', '0000000000000005'], ['none', ';x']]) {
    await t(`a chunk size with ${what} (${JSON.stringify(size)}) is refused: 400, nothing upstream`, () =>
      refused(`POST ${target('chunk')} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n` +
        `${size}\r\nhello\r\n0\r\n\r\n`, /chunk size that is not 1 to 15 hexadecimal digits/));
  }
  await t('a chunked body with trailers longer than a line buffer: forwarded, trailers dropped', async () => {
    const tg = target('trailers');
    const u = await forwarded(`POST ${tg} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n` +
      `5;name=${'v'.repeat(60)}\r\nhello\r\n0\r\nX-Trailer: ${'t'.repeat(500)}\r\nX-Other: 1\r\n\r\n`, tg);
    cleanUpstream(u, upPort);
    assert.equal(u.body.toString('latin1'), 'hello', u.what);
    assert.ok(!/x-trailer|x-other/i.test(u.head), `trailers are not passed on; ${u.what}`);
  });
  await t('HTTP/1.0 without Host is forwarded', async () => {
    const tg = target('http10');
    cleanUpstream(await forwarded(`GET ${tg} HTTP/1.0\r\n\r\n`, tg), upPort);
  });

  // --- keep-alive and pipelining: every head is checked, not only the first ---
  await t('a malformed second head on a kept-alive connection: 200 for the first, then 400 and the close; upstream never sees the second', async () => {
    const tg = target('first');
    const second = target('second');
    const all = await rawExchange(`GET ${tg} HTTP/1.1\r\n${H}\r\nGET ${second} HTTP/1.1\r\n${H}X-Foo : bar\r\n\r\n`);
    const what = `the connection carried:\n  ${show(all.bytes)}\n(${all.end})`;
    const answers = [...all.bytes.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map(m => Number(m[1]));
    assert.deepEqual(answers, [200, 400], what);
    assert.match(all.bytes.split('HTTP/1.1 400')[0], /^HTTP\/1\.1 200 /, what);
    assert.doesNotMatch(all.bytes.split('HTTP/1.1 400')[0], /\r\nConnection: close\r\n/i, `the first answer keeps the connection; ${what}`);
    assert.match(all.bytes.split('HTTP/1.1 400')[1], /\r\nConnection: close\r\n/i, `the refusal closes it; ${what}`);
    assert.equal(all.end, 'closed', what);
    await sleep(QUIET_MS);
    assert.ok(!upstream.heads.some(x => x.head.includes(second)), `the second request reached upstream; ${what}`);
  });
  await t('a malformed head after a body on the same connection: the body went upstream whole, the next head is refused', async () => {
    const tg = target('first');
    const second = target('second');
    const all = await rawExchange(`POST ${tg} HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello` +
      `GET ${second} HTTP/1.1\r\n${H}Authorization : Hawk id="evil"\r\n\r\n`);
    const what = `the connection carried:\n  ${show(all.bytes)}\n(${all.end})`;
    const answers = [...all.bytes.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map(m => Number(m[1]));
    assert.deepEqual(answers, [200, 400], what);
    const h = upstream.heads.find(x => x.head.split('\r\n')[0].split(' ')[1] === tg);
    assert.ok(h, `upstream saw no request for ${tg}; ${what}`);
    assert.equal(h.body.toString('latin1'), 'hello', what);
    await sleep(QUIET_MS);
    assert.ok(!upstream.heads.some(x => x.head.includes(second)), `the second request reached upstream; ${what}`);
  });
  await t('two well-formed pipelined requests: both answered, in order, on one connection', async () => {
    const a = target('pipe-a');
    const b = target('pipe-b');
    const all = await rawExchange(`GET ${a} HTTP/1.1\r\n${H}\r\nGET ${b} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    const what = `the connection carried:\n  ${show(all.bytes)}\n(${all.end})`;
    const answers = [...all.bytes.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map(m => Number(m[1]));
    assert.deepEqual(answers, [200, 200], what);
    assert.ok(all.bytes.indexOf(a) < all.bytes.indexOf(b) && all.bytes.indexOf(a) !== -1,
      `the answers name their targets in order (X-Taskcluster-Endpoint); ${what}`);
    assert.equal(all.end, 'closed', `Connection: close on the second ends it; ${what}`);
  });

  // --- how the head arrives ---
  await t('a head sent a byte at a time is read whole', async () => {
    const tg = target('slow');
    const req = `GET ${tg} HTTP/1.1\r\n${H}X-Slow: 1\r\n\r\n`;
    cleanUpstream(await forwarded([...req], tg, { gapMs: 5 }), upPort);
  });
  await t('a head split inside its CRLFs is read whole', async () => {
    const tg = target('split');
    cleanUpstream(await forwarded([`GET ${tg} HTTP/1.1\r`, `\n${H}X-A: 1\r`, '\n\r', '\n'], tg, { gapMs: 50 }), upPort);
  });
  await t('a bare CR is refused when the byte after it comes later', () =>
    refused([`GET ${target('split')} HTTP/1.1\r\n${H}X-A: 1\r`, 'X-B: 2\r\n\r\n'], /CR/));
  await t('empty lines before the request line are skipped (RFC 9112 2.2)', async () => {
    const tg = target('leading');
    cleanUpstream(await forwarded(`\r\n\r\nGET ${tg} HTTP/1.1\r\n${H}\r\n`, tg), upPort);
  });
  await t('a head of 32 KiB less a little is forwarded', async () => {
    const tg = target('big');
    const u = await forwarded(`GET ${tg} HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(32000)}\r\n\r\n`, tg);
    cleanUpstream(u, upPort);
    assert.equal(readAs(u.fields, 'x-big')[0][1].length, 32000, u.what);
  });
  await t('refused: a head longer than 32 KiB (431)', () =>
    refused(`GET ${target('big')} HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(33000)}\r\n\r\n`, /longer than 32768/, 431));
  await t('refused: a head of 32 KiB that has not ended (431)', () =>
    refused(`GET ${target('big')} HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(33000)}`, /longer than 32768/, 431));

  // --- the proxy itself ---
  await t('the task proxy is still running', async () => {
    assert.equal(harnessExit, null, `the harness exited: ${JSON.stringify(harnessExit)}`);
    const tg = target('alive');
    cleanUpstream(await forwarded(`GET ${tg} HTTP/1.1\r\n${H}\r\n`, tg), upPort);
  });
  await t('the task proxy exits 0 when told to quit, with nothing from a sanitizer in its log', async () => {
    const exited = new Promise(resolve => harness.on('exit', (code, signal) => resolve({ code, signal })));
    harness.stdin.end('quit\n');
    const exit = harnessExit || await Promise.race([exited, sleep(10000).then(() => null)]);
    assert.deepEqual(exit, { code: 0, signal: null }, `the harness ended ${JSON.stringify(exit)}:\n` +
      proxyLogTail(20).join('\n'));
    const bad = proxyLogTail(100000).filter(l => /Sanitizer|runtime error/.test(l));
    assert.deepEqual(bad, [], 'sanitizer reports in the proxy log');
  });
  server.close();
};

const stop = () => {
  if (harness && !harnessExit) {
    harness.stdin.end();
  }
};
process.on('SIGTERM', () => {
  stop();
  setTimeout(() => process.exit(143), 1000);
});

main().then(async () => {
  stop();
  console.log(`1..${n}`);
  await sleep(200);
  process.exit(failures ? 1 : 0);
}, async err => {
  n++;
  console.log(`not ok ${n} - the suite ran to its end`);
  for (const line of String(err && err.stack || err).split('\n').slice(0, 20)) {
    console.log('# ' + line);
  }
  stop();
  console.log(`1..${n}`);
  await sleep(500);
  process.exit(1);
});
