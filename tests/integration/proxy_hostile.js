#!/usr/bin/env node
// Hostile clients of a task proxy (issue #11): each is answered or
// dropped within the task proxy's configured limits, and after each one
// a well-formed request on a fresh connection still gets its 200 from
// upstream.
//
// Real, sandboxed task proxies (build/tests/helpers/taskproxy, which
// passes $TASKPROXY_LIMITS on as --limits) in front of a raw TCP
// upstream here that answers every complete request 200 with its target
// as the body, keeps every request it completed and every one a
// connection ended in the middle of, and counts its connections:
//
//  - "plain": the default limits (head-bytes 32768, headers 100);
//  - "short": head-timeout=2, body-timeout=2, idle-timeout=2,
//    head-bytes=8192, headers=20 (slowloris, a short body, an idle
//    kept-alive connection, the limits as configured);
//  - "crowd": connections=256 (10,000 idle connections).
//
// Prints TAP; exits 1 if any test failed.
//   node proxy_hostile.js --build BUILD --tmp DIR [--idle N]
//
// In a task (see proxy_hostile.sh), the same file attacks the task's own
// proxy and reports through files in the current directory:
//   node proxy_hostile.js --attack URL
// writes hostile.ready, waits for hostile.go, attacks (2000 connections
// of garbage, oversized heads, idle connections, slowloris connections),
// writes what came back to hostile.done, waits for hostile.finish; says
// what a well-formed request got before and after ("before the attack:
// 200").
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const tls = require('node:tls');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');

const argv = process.argv.slice(2);
const opts = {};
for (let i = 0; i < argv.length; i += 2) {
  opts[argv[i].replace(/^--/, '')] = argv[i + 1];
}
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
// Bytes shown in a diagnostic: printable ASCII as is, the rest escaped,
// long runs cut.
const show = (buf, max = 400) => {
  const s = (typeof buf === 'string' ? buf : Buffer.from(buf).toString('latin1'));
  const cut = s.length > max ? s.slice(0, max) + `... (${s.length} bytes)` : s;
  return JSON.stringify(cut);
};
// Deterministic "random" bytes (a fixed-seed xorshift), so that a failure
// can be replayed.
const noise = (n, seed) => {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
};

// --- HTTP/1.1 framing, for both sides ---

// A chunked body starting at buf[start]: {body, used} (used counted from
// start), or null while incomplete.
const dechunk = (buf, start) => {
  const parts = [];
  let p = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', p);
    if (eol === -1) {
      return null;
    }
    const size = parseInt(buf.subarray(p, eol).toString('latin1').split(';')[0], 16);
    if (!Number.isFinite(size)) {
      throw new Error(`a bad chunk size line ${show(buf.subarray(p, eol))}`);
    }
    p = eol + 2;
    if (size === 0) {
      for (;;) {
        const e = buf.indexOf('\r\n', p);
        if (e === -1) {
          return null;
        }
        if (e === p) {
          return { body: Buffer.concat(parts), used: e + 2 - start };
        }
        p = e + 2;
      }
    }
    if (buf.length < p + size + 2) {
      return null;
    }
    parts.push(buf.subarray(p, p + size));
    p += size + 2;
  }
};

// One response at the start of buf: {res, used}, or null while
// incomplete (closed: the connection has ended, so a body without framing
// ends there).
const parseResponse = (buf, closed) => {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) {
    return null;
  }
  const head = buf.subarray(0, end).toString('latin1');
  const lines = head.split('\r\n');
  const m = lines[0].match(/^HTTP\/1\.[01] (\d{3})/);
  const status = m ? Number(m[1]) : NaN;
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) {
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
  }
  const res = { status, head, headers, body: Buffer.alloc(0) };
  const start = end + 4;
  if ((status >= 100 && status < 200) || status === 204 || status === 304) {
    return { res, used: start };
  }
  if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    const d = dechunk(buf, start);
    return d ? { res: { ...res, body: d.body }, used: start + d.used } : null;
  }
  if ('content-length' in headers) {
    const n = Number(headers['content-length']);
    return buf.length >= start + n ? { res: { ...res, body: buf.subarray(start, start + n) }, used: start + n } : null;
  }
  return closed ? { res: { ...res, body: buf.subarray(start) }, used: buf.length } : null;
};

// A raw client connection: what it received, whether it has ended.
class Conn {
  constructor(port) {
    this.buf = Buffer.alloc(0);
    this.ended = false;
    this.err = null;
    this.endedAt = null;
    this.waiters = [];
    this.sock = net.connect(port, '127.0.0.1');
    this.connected = new Promise(resolve => {
      this.sock.once('connect', () => resolve(true));
      this.sock.once('error', () => resolve(false));
    });
    this.sock.on('data', d => {
      this.buf = Buffer.concat([this.buf, d]);
      this.poke();
    });
    const end = () => {
      if (!this.ended) {
        this.ended = true;
        this.endedAt = Date.now();
      }
      this.poke();
    };
    this.sock.on('end', end);
    this.sock.on('close', end);
    this.sock.on('error', e => {
      this.err = this.err || e.code;
      end();
    });
  }
  poke() {
    const w = this.waiters;
    this.waiters = [];
    w.forEach(f => f());
  }
  wait(ms) {
    return new Promise(resolve => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  write(bytes) {
    if (!this.sock.destroyed && !this.ended) {
      this.sock.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    }
  }
  // The next final response within ms: {status, head, headers, body},
  // or {status: null, why}.
  async response(ms = 5000) {
    const deadline = Date.now() + ms;
    for (;;) {
      let r;
      try {
        r = parseResponse(this.buf, this.ended);
      } catch (err) {
        return { status: null, why: `${err.message} in ${show(this.buf)}` };
      }
      if (r) {
        this.buf = this.buf.subarray(r.used);
        if (r.res.status >= 100 && r.res.status < 200) {
          continue;
        }
        return r.res;
      }
      if (this.ended) {
        return { status: null, why: `the connection ended (${this.err || 'closed'}) ` +
          (this.buf.length ? `after ${show(this.buf)}` : 'with no answer') };
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        return { status: null, why: `no answer within ${ms} ms` + (this.buf.length ? `; got ${show(this.buf)}` : '') };
      }
      await this.wait(left);
    }
  }
  // True once the connection has ended, false if not within ms.
  async closedWithin(ms) {
    const deadline = Date.now() + ms;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) {
        return false;
      }
      await this.wait(left);
    }
    return true;
  }
  destroy() {
    this.sock.destroy();
  }
}
const said = r => r.status === null ? r.why : `${r.status}, head ${show(r.head)}, body ${show(r.body)}`;

// --- in a task: attack the task's own proxy ---

const attack = async url => {
  const u = new URL(url);
  const port = Number(u.port);
  const mark = (name, text = '') => fs.writeFileSync(`hostile.${name}`, text);
  const until = async name => {
    while (!fs.existsSync(`hostile.${name}`)) {
      await sleep(20);
    }
  };
  const tally = {};
  const count = k => {
    tally[k] = (tally[k] || 0) + 1;
  };
  // A new connection, or null if it could not be made within 3 s.
  const open = async () => {
    const c = new Conn(port);
    if (await Promise.race([c.connected, sleep(3000).then(() => false)])) {
      return c;
    }
    count(c.ended ? 'connect failed' : 'connect timed out');
    c.destroy();
    return null;
  };
  // One connection: send, then wait for an answer or the close (at most
  // ms), and count what came.
  const one = async (bytes, ms = 3000) => {
    const c = await open();
    if (!c) {
      return;
    }
    c.write(bytes);
    const r = await c.response(ms);
    count(r.status === null ? (c.ended ? 'closed' : 'no answer') : String(r.status));
    c.destroy();
  };
  // n calls of fn, width at a time, none started after the deadline.
  let deadline;
  const pool = async (n, width, fn) => {
    let next = 0;
    await Promise.all(Array.from({ length: width }, async () => {
      while (next < n && Date.now() < deadline) {
        await fn(next++);
      }
    }));
    if (next < n) {
      count(`not started in time: ${n - next}`);
    }
  };
  // A well-formed request through the proxy, its answer in the task log.
  const wellFormed = async when => {
    const c = await open();
    c && c.write('GET /api/auth/v1/scopes/current HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const r = c ? await c.response(10000) : { status: null, why: 'no connection' };
    console.log(`${when} the attack: ${r.status || r.why}`);
    c && c.destroy();
  };
  await wellFormed('before');
  mark('ready');
  await until('go');
  deadline = Date.now() + 6000;
  const idle = [];
  for (let i = 0; i < 200; i++) {
    idle.push(new Conn(port));
  }
  const head = 'GET /api/queue/v1/ping HTTP/1.1\r\nHost: x\r\n';
  await Promise.all([
    pool(20, 20, async () => {
      const c = await open();
      if (!c) {
        return;
      }
      const text = `${head}X-Pad: ${'s'.repeat(40)}\r\n\r\n`;
      for (let i = 0; i < 15 && !c.ended; i++) {
        c.write(text[i]);
        await sleep(200);
      }
      count(c.ended ? 'slowloris closed' : 'slowloris open');
      c.destroy();
    }),
    pool(2000, 100, i => one(noise(512, i + 1))),
    pool(200, 50, () => one(head + `X-Big: ${'b'.repeat(1000)}\r\n`.repeat(40) + '\r\n')),
    pool(200, 50, () => one(head + 'X-N: n\r\n'.repeat(150) + '\r\n')),
  ]);
  idle.forEach(c => c.destroy());
  mark('done', JSON.stringify(tally) + '\n');
  await until('finish');
  await wellFormed('after');
};

if (opts.attack) {
  attack(opts.attack).then(() => process.exit(0), err => {
    console.error(err);
    process.exit(1);
  });
  return;
}

if (!opts.build || !opts.tmp) {
  process.stderr.write('usage: node proxy_hostile.js --build DIR --tmp DIR [--idle N]\n');
  process.exit(2);
}
const BUILD = path.resolve(opts.build);
const TMP = opts.tmp;
const HARNESS = path.join(BUILD, 'tests', 'helpers', 'taskproxy');
const IDLE = Number(opts.idle || 10000);

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
    for (const l of String(err && err.message || err).split('\n').slice(0, 30)) {
      console.log('# ' + l);
    }
  }
};

// --- the upstream: every request kept ---

// A request whose target holds "/held-" is answered only once release()
// is called.
const upstream = { conns: 0, bytes: 0, done: [], partial: [], held: [], open: new Set() };
upstream.release = () => upstream.held.splice(0).forEach(f => f());
const serveConnection = sock => {
  upstream.conns++;
  // The target of the request this connection is in the middle of, if any.
  const state = { pending: null };
  upstream.open.add(state);
  let buf = Buffer.alloc(0);
  let continued = false;
  sock.on('data', d => {
    upstream.bytes += d.length;
    buf = Buffer.concat([buf, d]);
    pump();
    state.pending = buf.length ? buf.toString('latin1', 0, 300).split(' ')[1] || '?' : null;
  });
  const pump = () => {
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        return;
      }
      const head = buf.subarray(0, end + 4).toString('latin1');
      const target = head.split(' ')[1];
      if (/\r\nexpect:\s*100-continue/i.test(head) && !continued) {
        continued = true;
        sock.write('HTTP/1.1 100 Continue\r\n\r\n');
      }
      let body, used;
      if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        let d2;
        try {
          d2 = dechunk(buf, end + 4);
        } catch (err) {
          upstream.partial.push({ target, head, got: buf.length - end - 4, why: err.message });
          sock.destroy();
          return;
        }
        if (!d2) {
          return;
        }
        body = d2.body;
        used = end + 4 + d2.used;
      } else {
        const m = head.match(/\r\ncontent-length:\s*(\d+)/i);
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) {
          return;
        }
        body = buf.subarray(end + 4, end + 4 + len);
        used = end + 4 + len;
      }
      upstream.done.push({ target, head, body });
      buf = buf.subarray(used);
      continued = false;
      const answer = () => sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n' +
        `Content-Length: ${Buffer.byteLength(target)}\r\n\r\n${target}`);
      if (target.includes('/held-')) {
        upstream.held.push(answer);
      } else {
        answer();
      }
    }
  };
  sock.on('close', () => {
    upstream.open.delete(state);
    if (buf.length) {
      const end = buf.indexOf('\r\n\r\n');
      upstream.partial.push({ target: buf.toString('latin1').split(' ')[1], got: end === -1 ? 0 : buf.length - end - 4 });
    }
  });
  sock.on('error', () => {});
};
const reached = target => upstream.done.filter(r => r.target === target);

// --- the task proxies ---

const proxies = {};
const startProxy = (name, uid, rootUrl, limits) => new Promise(resolve => {
  const creds = path.join(TMP, 'creds.json');
  fs.writeFileSync(creds, JSON.stringify({ clientId: 'hostile/client', accessToken: 'hostile-token' }));
  const logPath = path.join(TMP, `taskproxy-${name}.log`);
  const logFd = fs.openSync(logPath, 'w');
  const env = { ...process.env };
  delete env.TASKPROXY_LIMITS;
  if (limits) {
    env.TASKPROXY_LIMITS = limits;
  }
  const p = { name, limits, logPath, exit: null, lines: [], waiters: [] };
  p.logTail = k => {
    try {
      return fs.readFileSync(logPath, 'utf-8').split('\n').filter(Boolean).slice(-k);
    } catch (err) {
      return [];
    }
  };
  p.harness = spawn(HARNESS, [BUILD, String(uid), rootUrl, 'hostile:*', creds, 'none'],
    { env, stdio: ['pipe', 'pipe', logFd], detached: true });
  fs.closeSync(logFd);
  p.harness.stdin.on('error', () => {});
  let out = '';
  const poke = () => {
    const w = p.waiters;
    p.waiters = [];
    w.forEach(f => f());
  };
  p.harness.stdout.on('data', d => {
    out += d;
    const parts = out.split('\n');
    out = parts.pop();
    p.lines.push(...parts);
    poke();
  });
  // The first stdout line matching re, at most ms from now.
  p.expect = async (re, ms = 5000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = p.lines.findIndex(l => re.test(l));
      if (i !== -1) {
        return p.lines.splice(i, 1)[0];
      }
      if (p.exit || Date.now() >= deadline) {
        return null;
      }
      await new Promise(r => {
        const timer = setTimeout(r, Math.max(0, deadline - Date.now()));
        p.waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  };
  p.harness.on('exit', (code, signal) => {
    p.exit = { code, signal };
    poke();
  });
  p.expect(/^port \d+$/, 15000).then(async line => {
    if (!line) {
      p.error = `the task proxy "${name}"${limits ? ` (TASKPROXY_LIMITS=${limits})` : ''} did not start` +
        (p.exit ? ` (harness exit ${JSON.stringify(p.exit)})` : '') + ':\n' + p.logTail(8).join('\n');
      return resolve(p);
    }
    p.port = Number(line.split(' ')[1]);
    p.harness.stdin.write('pid\n');
    const pid = await p.expect(/^pid \d+$/);
    p.pid = pid ? Number(pid.split(' ')[1]) : null;
    resolve(p);
  });
  proxies[name] = p;
});
const need = p => {
  if (p.error) {
    throw new Error(p.error);
  }
  if (p.exit) {
    throw new Error(`the task proxy "${p.name}" has exited (${JSON.stringify(p.exit)}):\n${p.logTail(8).join('\n')}`);
  }
  return p;
};
const fds = pid => {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch (err) {
    return null;
  }
};

// --- what every case ends with ---

let seq = 0;
const target = label => `/api/hostile/v1/${label}-${++seq}`;
const H = 'Host: 127.0.0.1\r\n';
// A well-formed request on a fresh connection gets upstream's 200 (its
// target as the body).  Returns when it came.
const healthy = async (p, after) => {
  const tg = target('healthy');
  const c = new Conn(p.port);
  c.write(`GET ${tg} HTTP/1.1\r\n${H}\r\n`);
  const r = await c.response(5000);
  const at = Date.now();
  c.destroy();
  assert.ok(r.status === 200 && r.body.toString('latin1') === tg && reached(tg).length === 1,
    `${after ? `after ${after}, ` : ''}a well-formed request on a fresh connection to "${p.name}": ` +
    `expected upstream's 200 with body ${tg}; got ${said(r)}; upstream saw it ${reached(tg).length} times` +
    `\n${p.logTail(6).join('\n')}`);
  return at;
};

// Sent on a fresh connection: answered with status (or, if status is
// null, with one of alsoOk or a close), within ms; nothing reaches
// upstream, then or 300 ms later; the connection then ends (within
// closeMs).
const refused = async (p, bytes, { status = null, alsoOk = [], ms = 4000, closeMs = 4000, what }) => {
  need(p);
  const before = upstream.bytes, beforeDone = upstream.done.length;
  const c = new Conn(p.port);
  c.write(bytes);
  const r = await c.response(ms);
  const closed = await c.closedWithin(closeMs);
  c.destroy();
  await sleep(300);
  const desc = `${what}: sent ${show(bytes, 200)}; got ${said(r)}`;
  assert.equal(upstream.bytes - before, 0, `${desc}; but upstream received ${upstream.bytes - before} bytes ` +
    `(${upstream.done.length - beforeDone} complete requests: ${upstream.done.slice(beforeDone).map(x => x.target).join(' ')})`);
  if (status !== null) {
    assert.equal(r.status, status, `${desc}; expected ${status}`);
  } else {
    assert.ok(alsoOk.includes(r.status) || (r.status === null && c.ended),
      `${desc}; expected ${alsoOk.join(' or ')} or the close`);
  }
  assert.ok(closed, `${desc}; the connection was still open ${closeMs} ms after that`);
  await healthy(p, what);
  return r;
};

// --- the cases ---

const main = async () => {
  const server = net.createServer(serveConnection);
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
  const upPort = server.address().port;
  fs.writeFileSync(path.join(TMP, 'upstream.port'), String(upPort));
  const root = `http://127.0.0.1:${upPort}`;
  const [plain, short, crowd, budget] = await Promise.all([
    startProxy('plain', 72401, root, null),
    startProxy('short', 72402, root, 'head-timeout=2,body-timeout=2,idle-timeout=2,head-bytes=8192,headers=20'),
    startProxy('crowd', 72403, root, 'connections=256'),
    startProxy('budget', 72404, root, 'retry-body=8388608,body-timeout=3'),
  ]);

  await t('a well-formed request through the plain task proxy gets upstream\'s 200', async () => {
    await healthy(need(plain));
  });

  // --- heads too large (the default limits, then configured ones) ---
  await t('a request line longer than head-bytes (64 KiB, default 32768): 431 and the close', () =>
    refused(plain, `GET /api/hostile/v1/${'l'.repeat(65536)} HTTP/1.1\r\n${H}\r\n`,
      { status: 431, what: 'a 64 KiB request line' }));
  await t('headers past head-bytes (40 x 1000 bytes, default 32768): 431 and the close', () =>
    refused(plain, `GET ${target('big')} HTTP/1.1\r\n${H}${`X-Big: ${'b'.repeat(990)}\r\n`.repeat(40)}\r\n`,
      { status: 431, what: '40 KB of headers' }));
  await t('a head just under head-bytes (30 KB) is forwarded', async () => {
    need(plain);
    const tg = target('under');
    const c = new Conn(plain.port);
    c.write(`GET ${tg} HTTP/1.1\r\n${H}${`X-Big: ${'b'.repeat(990)}\r\n`.repeat(30)}\r\n`);
    const r = await c.response();
    c.destroy();
    assert.ok(r.status === 200 && reached(tg).length === 1, `expected upstream's 200; got ${said(r)}`);
  });
  await t('more headers than `headers` (150, default 100): 431 and the close', () =>
    refused(plain, `GET ${target('many')} HTTP/1.1\r\n${H}${Array.from({ length: 150 }, (_, i) => `X-N${i}: n\r\n`).join('')}\r\n`,
      { status: 431, what: '150 header lines' }));
  await t('90 headers (under the default 100) are forwarded', async () => {
    need(plain);
    const tg = target('ninety');
    const c = new Conn(plain.port);
    c.write(`GET ${tg} HTTP/1.1\r\n${H}${Array.from({ length: 89 }, (_, i) => `X-N${i}: n\r\n`).join('')}\r\n`);
    const r = await c.response();
    c.destroy();
    assert.ok(r.status === 200 && reached(tg).length === 1, `expected upstream's 200; got ${said(r)}`);
  });
  await t('--limits head-bytes=8192: a 10 KB head gets 431, a 6 KB head is forwarded', async () => {
    need(short);
    await refused(short, `GET ${target('big')} HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(10000)}\r\n\r\n`,
      { status: 431, what: 'a 10 KB head (head-bytes=8192)' });
    const tg = target('six');
    const c = new Conn(short.port);
    c.write(`GET ${tg} HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(6000)}\r\n\r\n`);
    const r = await c.response();
    c.destroy();
    assert.ok(r.status === 200 && reached(tg).length === 1, `a 6 KB head: expected upstream's 200; got ${said(r)}`);
  });
  await t('--limits headers=20: 30 header lines get 431, 10 are forwarded', async () => {
    need(short);
    await refused(short, `GET ${target('many')} HTTP/1.1\r\n${H}${'X-N: n\r\n'.repeat(30)}\r\n`,
      { status: 431, what: '30 header lines (headers=20)' });
    const tg = target('ten');
    const c = new Conn(short.port);
    c.write(`GET ${tg} HTTP/1.1\r\n${H}${'X-N: n\r\n'.repeat(9)}\r\n`);
    const r = await c.response();
    c.destroy();
    assert.ok(r.status === 200 && reached(tg).length === 1, `10 header lines: expected upstream's 200; got ${said(r)}`);
  });

  // --- garbage instead of HTTP ---
  const hello = await new Promise(resolve => {
    const srv = net.createServer(s => s.once('data', d => {
      resolve(d);
      s.destroy();
      srv.close();
    }));
    srv.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: srv.address().port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
      c.on('error', () => {});
    });
  });
  const garbage = [
    ['4 KiB of random bytes', noise(4096, 11), [400]],
    ['a TLS ClientHello', hello, [400]],
    ['the HTTP/2 connection preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', [400, 505]],
    ['1 KiB of NUL bytes', Buffer.alloc(1024), [400]],
    ['a request line, then binary', Buffer.concat([Buffer.from(`GET ${target('bin')} HTTP/1.1\r\n`), noise(512, 7)]), [400]],
  ];
  for (const [what, bytes, statuses] of garbage) {
    await t(`garbage: ${what}: ${statuses.join(' or ')} or the close, never 200, nothing upstream`, () =>
      refused(plain, bytes, { alsoOk: statuses, what }));
  }
  await t('garbage: a lone "\\r\\n\\r\\n" (head-timeout=2): 400, 408 or the close within 4 s, nothing upstream', () =>
    refused(short, '\r\n\r\n', { alsoOk: [400, 408], ms: 4500, closeMs: 1000, what: 'a lone CRLF CRLF' }));

  // --- slowloris ---
  await t('slowloris (a head trickled a byte per 200 ms, head-timeout=2): 408 and the close within 1.5-4.5 s; ' +
    'another request is served meanwhile', async () => {
    need(short);
    const tg = target('slow');
    const text = `GET ${tg} HTTP/1.1\r\n${H}X-Pad: ${'s'.repeat(100)}\r\n\r\n`;
    const c = new Conn(short.port);
    await c.connected;
    const t0 = Date.now();
    let stop = false;
    const trickle = (async () => {
      for (let i = 0; i < text.length && !stop && !c.ended; i++) {
        c.write(text[i]);
        await sleep(200);
      }
    })();
    await sleep(1000);
    const servedAt = await healthy(short, 'a second of slowloris');
    const r = await c.response(6000);
    const answeredAt = Date.now();
    const closed = await c.closedWithin(1500);
    stop = true;
    await trickle;
    c.destroy();
    const el = answeredAt - t0;
    assert.equal(r.status, 408, `expected 408 for the trickled head; got ${said(r)} after ${el} ms`);
    assert.ok(el >= 1500 && el <= 4500, `the 408 came ${el} ms after the first byte; expected 1500-4500 (head-timeout=2)`);
    assert.ok(closed, 'the connection was still open 1.5 s after the 408');
    assert.ok(servedAt < answeredAt, `the other request was answered only after the slowloris's 408`);
    assert.equal(reached(tg).length, 0, 'the trickled request reached upstream');
    await healthy(short, 'the slowloris');
  });
  await t('a connection that sends nothing (head-timeout=2): closed within 1.5-4.5 s, with 408 or nothing', async () => {
    need(short);
    const c = new Conn(short.port);
    await c.connected;
    const t0 = Date.now();
    const closed = await c.closedWithin(6000);
    const el = Date.now() - t0;
    const r = parseResponse(c.buf, true);
    c.destroy();
    assert.ok(closed && el >= 1500 && el <= 4500, `expected the close 1500-4500 ms after accept; ` +
      (closed ? `came after ${el} ms` : 'still open after 6 s'));
    assert.ok(c.buf.length === 0 || (r && r.res.status === 408), `expected 408 or nothing; got ${show(c.buf)}`);
    await healthy(short, 'an idle connection');
  });

  await t('a kept-alive connection left idle after its answer (idle-timeout=2): closed silently within 1.5-4.5 s', async () => {
    need(short);
    const tg = target('idle');
    const c = new Conn(short.port);
    c.write(`GET ${tg} HTTP/1.1\r\n${H}\r\n`);
    const r = await c.response();
    const t0 = Date.now();
    const closed = await c.closedWithin(6000);
    const el = Date.now() - t0;
    c.destroy();
    assert.ok(r.status === 200 && r.body.toString('latin1') === tg, `expected upstream's 200; got ${said(r)}`);
    assert.ok(closed && el >= 1500 && el <= 4500, 'expected the close 1500-4500 ms after the answer; ' +
      (closed ? `came after ${el} ms` : 'still open after 6 s'));
    assert.equal(c.buf.length, 0, `expected nothing after the answer; got ${show(c.buf)}`);
    await healthy(short, 'an idle kept-alive connection');
  });

  // --- bodies that do not match Content-Length ---
  await t('a body longer than Content-Length: upstream gets the declared body; the extra bytes, read as a ' +
    'next head, get 400 and the close', async () => {
    need(plain);
    const tg = target('long-body');
    const before = upstream.done.length;
    const c = new Conn(plain.port);
    c.write(`POST ${tg} HTTP/1.1\r\n${H}Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello\x01\x02 not http\r\n\r\n`);
    const r1 = await c.response();
    const r2 = await c.response();
    const closed = await c.closedWithin(4000);
    c.destroy();
    await sleep(300);
    const got = reached(tg);
    assert.ok(got.length === 1 && got[0].body.toString('latin1') === 'hello',
      `upstream should see one request with body "hello"; saw ${got.map(x => show(x.body)).join(', ') || 'none'}`);
    assert.equal(upstream.done.length - before, 1, `upstream saw ${upstream.done.length - before} requests: ` +
      upstream.done.slice(before).map(x => show(x.head)).join(' '));
    assert.ok(r1.status === 200 && r1.body.toString('latin1') === tg, `first answer: expected upstream's 200; got ${said(r1)}`);
    assert.equal(r2.status, 400, `second answer (to the extra bytes): expected 400; got ${said(r2)}`);
    assert.ok(closed, 'the connection was still open 4 s after the 400');
    await healthy(plain, 'a body longer than Content-Length');
  });
  await t('a body shorter than Content-Length, then silence (body-timeout=2): closed within 1.5-4.5 s; ' +
    'upstream got no complete request, and no connection of its waits for the rest', async () => {
    need(short);
    const tg = target('short-body');
    const c = new Conn(short.port);
    c.write(`POST ${tg} HTTP/1.1\r\n${H}Content-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789`);
    await c.connected;
    const t0 = Date.now();
    const closed = await c.closedWithin(6000);
    const el = Date.now() - t0;
    const r = parseResponse(c.buf, true);
    c.destroy();
    await sleep(300);
    const partial = upstream.partial.filter(x => x.target === tg).map(x => `${x.got} bytes of body, then the close`);
    assert.equal(reached(tg).length, 0, 'upstream received the request complete');
    assert.ok(![...upstream.open].some(x => x.pending === tg), 'upstream\'s connection is still waiting for the ' +
      'rest of the request: the upstream request was not aborted');
    assert.ok(!r || r.res.status !== 200, `the task got ${r ? r.res.status : '?'} for an incomplete body`);
    assert.ok(closed && el >= 1500 && el <= 4500, 'expected the close 1500-4500 ms after the last byte; ' +
      (closed ? `came after ${el} ms` : 'still open after 6 s') + `; upstream got: ${partial.join(', ') || 'nothing'}`);
    await healthy(short, 'a short body');
  });

  await t('24 connections each holding 8 MiB of a body that never ends (retry-body=8 MiB): the task proxy ' +
    'holds at most its 64 MiB body budget (RSS grows < 80 MiB, not 192), and serves normally once they time out', async () => {
    need(budget);
    const rss = () => {
      const m = fs.readFileSync(`/proc/${budget.pid}/status`, 'utf-8').match(/^VmRSS:\s+(\d+) kB/m);
      return m ? Number(m[1]) : NaN;
    };
    await healthy(budget, 'start-up');
    const before = rss();
    const chunk = Buffer.alloc(1 << 20, 'b');
    const conns = [];
    for (let i = 0; i < 24; i++) {
      const c = new Conn(budget.port);
      c.write(`PUT ${target('held-body')} HTTP/1.1\r\n${H}Content-Length: ${8 * (1 << 20) + 1}\r\n\r\n`);
      for (let k = 0; k < 8; k++) {
        c.write(chunk);
      }
      conns.push(c);
    }
    let peak = before;
    for (let i = 0; i < 20; i++) {
      await sleep(100);
      peak = Math.max(peak, rss());
    }
    const grew = peak - before;
    await Promise.all(conns.map(c => c.closedWithin(8000)));
    const open = conns.filter(c => !c.ended).length;
    conns.forEach(c => c.destroy());
    assert.ok(grew < 80 * 1024, `the task proxy's RSS grew by ${grew} kB (from ${before} kB), expected < 81920 kB: ` +
      'the body budget (64 MiB) does not hold');
    assert.equal(open, 0, `${open} of the 24 connections were still open 8 s after their bodies stopped (body-timeout=3)`);
    await healthy(budget, 'the held bodies');
  });

  // --- pipelining and keep-alive ---
  await t('pipelining: two requests in one send get two answers, in order', async () => {
    need(plain);
    const [a, b] = [target('pipe-a'), target('pipe-b')];
    const c = new Conn(plain.port);
    c.write(`GET ${a} HTTP/1.1\r\n${H}\r\nGET ${b} HTTP/1.1\r\n${H}\r\n`);
    const r1 = await c.response();
    const r2 = await c.response();
    c.destroy();
    assert.ok(r1.status === 200 && r1.body.toString('latin1') === a, `first answer: expected 200 with body ${a}; got ${said(r1)}`);
    assert.ok(r2.status === 200 && r2.body.toString('latin1') === b, `second answer: expected 200 with body ${b}; got ${said(r2)}`);
    await healthy(plain, 'pipelining');
  });
  await t('pipelining: a POST with its body and a GET in one send get two answers, in order', async () => {
    need(plain);
    const [a, b] = [target('pipe-post'), target('pipe-get')];
    const c = new Conn(plain.port);
    c.write(`POST ${a} HTTP/1.1\r\n${H}Content-Length: 11\r\n\r\nhello world` +
      `GET ${b} HTTP/1.1\r\n${H}\r\n`);
    const r1 = await c.response();
    const r2 = await c.response();
    c.destroy();
    assert.ok(r1.status === 200 && r1.body.toString('latin1') === a, `first answer: expected 200 with body ${a}; got ${said(r1)}`);
    assert.ok(r2.status === 200 && r2.body.toString('latin1') === b, `second answer: expected 200 with body ${b}; got ${said(r2)}`);
    assert.equal(reached(a).length === 1 && reached(a)[0].body.toString(), 'hello world', 'upstream got the POST\'s body');
    await healthy(plain, 'pipelining');
  });
  await t('pipelining: a well-formed request, then a malformed head: 200, then 400 and the close', async () => {
    need(plain);
    const [a, b] = [target('pipe-ok'), target('pipe-bad')];
    const c = new Conn(plain.port);
    c.write(`GET ${a} HTTP/1.1\r\n${H}\r\nGET ${b} HTTP/1.1\r\n${H}X-Bad : space before the colon\r\n\r\n`);
    const r1 = await c.response();
    const r2 = await c.response();
    const closed = await c.closedWithin(4000);
    c.destroy();
    await sleep(300);
    assert.ok(r1.status === 200 && r1.body.toString('latin1') === a, `first answer: expected 200 with body ${a}; got ${said(r1)}`);
    assert.equal(r2.status, 400, `second answer: expected 400; got ${said(r2)}`);
    assert.ok(closed, 'the connection was still open 4 s after the 400');
    assert.equal(reached(b).length, 0, 'the malformed request reached upstream');
    await healthy(plain, 'a malformed pipelined head');
  });
  await t('keep-alive: five requests one after another on one connection, none answered with Connection: close', async () => {
    need(plain);
    const c = new Conn(plain.port);
    for (let i = 0; i < 5; i++) {
      const tg = target('keep');
      c.write(`GET ${tg} HTTP/1.1\r\n${H}\r\n`);
      const r = await c.response();
      assert.ok(r.status === 200 && r.body.toString('latin1') === tg, `request ${i + 1}: expected 200 with body ${tg}; got ${said(r)}`);
      assert.ok(!/close/i.test(r.headers.connection || ''), `request ${i + 1}: answered with Connection: ${r.headers.connection}`);
    }
    assert.ok(!c.ended, 'the connection ended after the fifth answer');
    c.destroy();
  });
  await t('ten requests, each on a new task connection, reach upstream over at most one new connection', async () => {
    need(plain);
    const before = upstream.conns;
    for (let i = 0; i < 10; i++) {
      const tg = target('reuse');
      const c = new Conn(plain.port);
      c.write(`GET ${tg} HTTP/1.1\r\n${H}\r\n`);
      const r = await c.response();
      c.destroy();
      assert.ok(r.status === 200 && r.body.toString('latin1') === tg, `request ${i + 1}: expected 200 with body ${tg}; got ${said(r)}`);
    }
    assert.ok(upstream.conns - before <= 1, `upstream saw ${upstream.conns - before} new connections for 10 requests`);
  });
  await t('HTTP/1.0, and HTTP/1.1 with Connection: close: one answer, then the close', async () => {
    need(plain);
    for (const [version, extra] of [['HTTP/1.0', ''], ['HTTP/1.1', 'Connection: close\r\n']]) {
      const [a, b] = [target('one'), target('never')];
      const c = new Conn(plain.port);
      c.write(`GET ${a} ${version}\r\n${H}${extra}\r\nGET ${b} HTTP/1.1\r\n${H}\r\n`);
      const r = await c.response();
      const closed = await c.closedWithin(4000);
      c.destroy();
      assert.ok(r.status === 200 && r.body.toString('latin1') === a, `${version} ${extra.trim()}: expected 200 with body ${a}; got ${said(r)}`);
      assert.ok(closed, `${version} ${extra.trim()}: the connection was still open 4 s after the answer`);
      assert.equal(c.buf.length, 0, `${version} ${extra.trim()}: more came after the answer: ${show(c.buf)}`);
      assert.equal(reached(b).length, 0, `${version} ${extra.trim()}: the request after it reached upstream`);
    }
  });

  // --- 10,000 idle connections ---
  await t(`${IDLE} connections opened and left idle (connections=256): all accepted, the task's requests ` +
    'and one in progress served meanwhile, fds bounded, served normally afterwards', async () => {
    need(crowd);
    assert.ok(crowd.pid, 'the harness told no pid');
    const base = fds(crowd.pid);
    let maxFds = base;
    const sampler = setInterval(() => {
      const k = fds(crowd.pid);
      maxFds = Math.max(maxFds, k || 0);
    }, 50);
    const problems = [];
    // A request in progress meanwhile (upstream holds its answer): its
    // connection is not idle, so it must not be closed to make room.
    const heldTg = target('held');
    const held = new Conn(crowd.port);
    held.write(`GET ${heldTg} HTTP/1.1\r\n${H}\r\n`);
    for (let i = 0; i < 100 && !reached(heldTg).length; i++) {
      await sleep(30);
    }
    if (!reached(heldTg).length) {
      problems.push('a request on a connection of its own did not reach upstream within 3 s');
    }
    const socks = [];
    let connected = 0, failed = 0, closedByProxy = 0;
    const deadline = Date.now() + 10000;
    try {
      for (let i = 0; i < IDLE && Date.now() < deadline; i += 500) {
        const batch = [];
        for (let j = i; j < Math.min(IDLE, i + 500); j++) {
          const s = net.connect(crowd.port, '127.0.0.1');
          socks.push(s);
          batch.push(new Promise(resolve => {
            s.once('connect', () => {
              connected++;
              resolve();
            });
            s.on('error', err => {
              if (!s.ours && !s.failed) {
                s.failed = err.code;
                failed++;
              }
              resolve();
            });
            s.on('close', () => {
              if (!s.ours && !s.failed) {
                closedByProxy++;
              }
              resolve();
            });
          }));
        }
        await Promise.race([Promise.all(batch), sleep(Math.max(0, deadline - Date.now()))]);
      }
      const state = () => `opened ${socks.length}: ${connected} connected, ${failed} failed` +
        (failed ? ` (${[...new Set(socks.filter(s => s.failed).map(s => s.failed))].join(' ')})` : '') +
        `, ${socks.length - connected - failed} still connecting; ${closedByProxy} closed by the proxy; ` +
        `its fds: ${base} before, at most ${maxFds}`;
      if (connected !== IDLE) {
        problems.push(`every connection should be accepted within 10 s; ${state()}`);
      }
      // While they are held: the task's requests on new connections.
      for (let i = 0; i < 5; i++) {
        const tg = target('crowded');
        const c = new Conn(crowd.port);
        c.write(`GET ${tg} HTTP/1.1\r\n${H}\r\n`);
        const r = await c.response(3000);
        c.destroy();
        if (r.status !== 200 || r.body.toString('latin1') !== tg) {
          problems.push(`the task's request ${i + 1} while they were held: expected upstream's 200; got ${said(r)}`);
          break;
        }
      }
      if (maxFds > 256 + 64) {
        problems.push(`the proxy's fd count should stay within connections (256) + 64; ${state()}`);
      }
      upstream.release();
      const hr = await held.response(3000);
      if (hr.status !== 200 || hr.body.toString('latin1') !== heldTg) {
        problems.push(`the request in progress meanwhile (upstream answered it after the flood): expected 200; got ${said(hr)}`);
      }
      assert.deepEqual(problems, [], `${problems.join('\n')}\n${state()}`);
    } finally {
      upstream.release();
      held.destroy();
      clearInterval(sampler);
      for (const s of socks) {
        s.ours = true;
        s.destroy();
      }
    }
    await healthy(crowd, 'the idle connections closed');
    let after = null;
    for (let i = 0; i < 50; i++) {
      after = fds(crowd.pid);
      if (after !== null && after <= base + 8) {
        break;
      }
      await sleep(100);
    }
    assert.ok(after !== null && after <= base + 8, `the proxy's fds after: ${after}; before: ${base}`);
  });

  await t('every task proxy is still running and exits 0 when told to quit', async () => {
    const bad = [];
    for (const p of [plain, short, crowd, budget]) {
      if (p.error) {
        bad.push(`${p.name}: never started`);
        continue;
      }
      if (p.exit) {
        bad.push(`${p.name}: exited early ${JSON.stringify(p.exit)}`);
        continue;
      }
      const exited = new Promise(resolve => p.harness.on('exit', (code, signal) => resolve({ code, signal })));
      p.harness.stdin.end('quit\n');
      const exit = p.exit || await Promise.race([exited, sleep(10000).then(() => null)]);
      if (!exit || exit.code !== 0) {
        bad.push(`${p.name}: ended ${JSON.stringify(exit)}\n${p.logTail(10).join('\n')}`);
      }
    }
    assert.deepEqual(bad, [], bad.join('\n'));
  });
  server.close();
};

const stop = () => {
  for (const p of Object.values(proxies)) {
    if (!p.exit) {
      p.harness.stdin.end();
    }
  }
};
process.on('SIGTERM', () => {
  stop();
  setTimeout(() => process.exit(143), 1000);
});

main().then(async () => {
  stop();
  console.log(`1..${n}`);
  await sleep(100);
  process.exit(failures ? 1 : 0);
}, async err => {
  console.log(`not ok ${++n} - the suite ran to its end`);
  console.log('# ' + String(err && err.stack || err).split('\n').join('\n# '));
  console.log(`1..${n}`);
  stop();
  await sleep(100);
  process.exit(1);
});
