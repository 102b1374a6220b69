#!/usr/bin/env node
// tc-fake: a small test Taskcluster for sepworker's tests.
//
//   node tests/tc-fake/server.js --port 0 [--clients FILE] [--log FILE]
//       [--cert-skew-ms MS]
//
// --cert-skew-ms: the tolerance on a temporary credentials certificate's
// start and expiry (default 300000, the auth service's 5 minutes): 0
// lets a test see a certificate refused as soon as it has expired.
//
// Listens on 127.0.0.1 only and prints exactly one line on stdout once it
// does: "tc-fake listening on http://127.0.0.1:<port>" (the rootUrl).
// SIGTERM (or SIGINT) exits 0.
//
// Real libraries do the checking: Hawk headers and bewits are verified
// with the `hawk` package (the version Taskcluster's services pin), scopes
// with `taskcluster-lib-scopes`, and the authentication logic around them
// is a port of Taskcluster's own (see auth.js for the files it follows).
// Nothing here is tuned to sepworker.
//
// CLIENTS
//
// General endpoints (everything except the auth service's two test
// endpoints) authenticate against this table, as a deployment's auth
// service does against its clients:
//
//   static/taskcluster/root   accessToken "tc-fake-root-access-token",
//                             scopes ["*"]
//
// Every deployment has the static root client with scope "*" (its
// accessToken is set per deployment; this one is tc-fake's).  There is no
// general `tester` client, because a real deployment has none: `tester` /
// `no-secret` is accepted only by auth's test endpoints, exactly as in
// services/auth/src/api.js (below).  Tests that need other clients,
// narrow ones in particular, pass `--clients FILE`, a JSON object
//   {"<clientId>": {"accessToken": "...", "scopes": ["..."]}, ...}
// merged over the table above.
//
// ROLES
//
// Since RFC 165 every request, with or without credentials, also gets
// `assume:anonymous`, which expands to the `anonymous` role.  tc-fake's
// anonymous role is the part of the documented "public deployment" role
// (ui/docs/manual/deploying/anonymous-role.mdx) that covers the endpoints
// it serves:
//   auth:current-scopes, queue:get-artifact:public/*
// So scopes/current and public/ artifacts need no credentials, as on a
// public deployment, while the endpoints themselves require exactly the
// scopes the real ones declare.
//
// TASKCLUSTER ENDPOINTS (rootUrl = http://127.0.0.1:<port>)
//
// Errors use the API's JSON shape {"code", "message", "requestInfo":
// {"method", "params", "payload", "time"}}: InvalidRequestArguments,
// InputValidationError, MalformedPayload, InputError 400;
// AuthenticationFailed 401 (with WWW-Authenticate: hawk);
// InsufficientScopes 403; ResourceNotFound 404; ResourceExpired 410;
// InputTooLarge 413; InternalServerError 500.  Responses carry the API's
// Cache-Control and CORS headers.  A query parameter other than `bewit`
// is an InvalidRequestArguments error, as on the real services.
//
//   GET  /api/auth/v1/scopes/current          (currentScopes)
//        scope auth:current-scopes (anonymous role) -> 200 {"scopes": [...]}
//        the caller's expanded effective scopes.  The real response has no
//        clientId (scopeset schema, additionalProperties false); use
//        test-authenticate or fake echo to see the clientId.
//   POST /api/auth/v1/test-authenticate        (testAuthenticate)
//        body {"clientScopes": [...], "requiredScopes": [...]} (both
//        required); only client `tester` / accessToken `no-secret`, whose
//        scopes are clientScopes; 200 {"clientId", "scopes"} when
//        requiredScopes are satisfied, else 403; a body that is not
//        Content-Type application/json -> 400 MalformedPayload.
//   GET  /api/auth/v1/test-authenticate-get/   (testAuthenticateGet)
//        only `tester` / `no-secret` with scopes ["test:*",
//        "auth:create-client:test:*"]; requires test:authenticate-get;
//        200 {"clientId", "scopes"}.  Works with bewits.
//   GET  /api/secrets/v1/secret/<name>         (get; scope secrets:get:<name>)
//        200 {"secret": {...}, "expires": "<date>"}; 404 ResourceNotFound;
//        410 ResourceExpired once expired.
//   PUT  /api/secrets/v1/secret/<name>         (set; scope secrets:set:<name>)
//        body {"secret": {...}, "expires": "<date-time>"} -> 200 {}.
//        Secrets live in memory.
//   GET  /api/queue/v1/task/<taskId>/artifacts/<name>            (getLatestArtifact)
//   GET  /api/queue/v1/task/<taskId>/runs/<runId>/artifacts/<name> (getArtifact)
//        <name> is the URL-decoded rest of the path (%2F allowed); scope
//        queue:get-artifact:<name> (public/* comes with the anonymous
//        role).  303, Location: <rootUrl>/fake-storage/<taskId>/<name>,
//        X-Taskcluster-Artifact-Storage-Type: s3, body {"storageType": "s3",
//        "url": <the same URL>}; 404 ResourceNotFound ("Task not found" /
//        "Artifact not found") with its JSON body.  Seeded: task
//        KTBKfEgxR5GdfIIREQIvFQ (one run, 0) has SampleArtifacts/_/X.txt
//        ("test artifact\n") and public/hello.txt ("hello world\n").
//   GET  /fake-storage/<taskId>/<name>  the artifact's bytes, 200, no auth
//        (stands in for the S3 URL).
//
// TEST HELPERS: tc-fake's own, NOT Taskcluster's, under /api/fake/v1/.
// Each authenticates like a Taskcluster endpoint (a bad signature, a bad
// certificate or unsatisfiable authorizedScopes -> 401) but requires no
// scope, so anonymous calls work too.
//
//   ANY  echo/<anything>  200 {"method", "url" (the request target exactly
//        as received), "headers": [[name, value], ...] (every header as
//        received, in order, duplicates kept), "body" (base64), "clientId"
//        ("auth-failed:no-auth" when anonymous, as the API reports it),
//        "scopes" (effective), "ext" (the parsed Hawk/bewit ext or null),
//        "authorizedScopes" (ext.authorizedScopes or null)}
//   ANY  flaky/<key>/<n>  the first n requests for <key> answer 500 with
//        an InternalServerError body; later ones 200 {"attempts": k}, k
//        counting every request for <key> so far.
//   ANY  status/<code>    answers <code> (200-599) with {"status", "message"}
//        (no body for 204 and 304); 3xx ones carry
//        Location: <rootUrl>/api/fake/v1/echo/redirected-from-<code>.
//   GET  headers          200; response headers X-Fake-Multi: one and
//        X-Fake-Multi: two, Set-Cookie: a=1; Path=/ and Set-Cookie: b=2; Path=/.
//   GET  many-headers/<n> 200 with <n> (at most 5000) headers
//        X-Fake-Header-<i>: value-<i>.
//   ANY  slow/<ms>        waits <ms> (at most 120000), then 200 {"sleptMs"}.
//   GET  big/<bytes>      <bytes> (at most 2^32) of a deterministic pattern
//        (a 1 MiB block, 32 bytes at a time sha256("tc-fake big <j>"),
//        repeated), streamed with Content-Length; X-Fake-Sha256 is the
//        body's sha256 in hex.
//
// REQUEST LOG (--log FILE): one JSON line per request, written when it
// ends: {"time", "method", "target", "authorization": {"id", "ext"} or
// null, "bewit": {"id", "ext"} or null, "clientId" (authenticated, or
// null), "status"}.  The MAC is never logged.
import http from 'node:http';
import fs from 'node:fs';
import crypto from 'node:crypto';
import hawk from 'hawk';
import scopeUtils from 'taskcluster-lib-scopes';
import {
  createSignatureValidator, Authorizer, ErrorReply, makeScopeExpander,
} from './auth.js';

// --- configuration ---

const BUILTIN_CLIENTS = {
  'static/taskcluster/root': {
    accessToken: 'tc-fake-root-access-token',
    scopes: ['*'],
  },
};

const ROLES = {
  anonymous: ['auth:current-scopes', 'queue:get-artifact:public/*'],
};

const SEED_TASK = 'KTBKfEgxR5GdfIIREQIvFQ';
const ARTIFACTS = new Map([
  [SEED_TASK, new Map([
    ['SampleArtifacts/_/X.txt', { contentType: 'text/plain; charset=utf-8', content: Buffer.from('test artifact\n') }],
    ['public/hello.txt', { contentType: 'text/plain; charset=utf-8', content: Buffer.from('hello world\n') }],
  ])],
]);

const ERROR_CODES = {
  MalformedPayload: 400,
  InvalidRequestArguments: 400,
  InputValidationError: 400,
  InputError: 400,
  AuthenticationFailed: 401,
  InsufficientScopes: 403,
  ResourceNotFound: 404,
  RequestConflict: 409,
  ResourceExpired: 410,
  InputTooLarge: 413,
  InternalServerError: 500,
};

const API_INPUT_LIMIT = 10 * 1024 * 1024;
const FAKE_INPUT_LIMIT = 64 * 1024 * 1024;

const usage = msg => {
  process.stderr.write(`tc-fake: ${msg}\n` +
    'usage: node server.js --port N [--clients FILE] [--log FILE] [--cert-skew-ms MS]\n');
  process.exit(2);
};

const parseArgs = argv => {
  const opts = { port: 0, clients: null, log: null, certSkewMs: 5 * 60 * 1000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) {
        usage(`${a} needs a value`);
      }
      return argv[++i];
    };
    if (a === '--port') {
      const v = value();
      if (!/^[0-9]+$/.test(v) || Number(v) > 65535) {
        usage(`bad port: ${v}`);
      }
      opts.port = Number(v);
    } else if (a === '--clients') {
      opts.clients = value();
    } else if (a === '--log') {
      opts.log = value();
    } else if (a === '--cert-skew-ms') {
      const v = value();
      if (!/^[0-9]+$/.test(v)) {
        usage(`bad --cert-skew-ms: ${v}`);
      }
      opts.certSkewMs = Number(v);
    } else {
      usage(`unknown argument: ${a}`);
    }
  }
  return opts;
};

const loadClients = file => {
  const clients = { ...BUILTIN_CLIENTS };
  if (!file) {
    return clients;
  }
  let extra;
  try {
    extra = JSON.parse(fs.readFileSync(file, 'utf-8'));
  } catch (err) {
    usage(`cannot read clients file ${file}: ${err.message}`);
  }
  if (!extra || typeof extra !== 'object' || Array.isArray(extra)) {
    usage(`${file}: expected a JSON object of clients`);
  }
  for (const [clientId, c] of Object.entries(extra)) {
    if (!c || typeof c.accessToken !== 'string' || !Array.isArray(c.scopes) ||
        !c.scopes.every(s => typeof s === 'string' && scopeUtils.validScope(s))) {
      usage(`${file}: client ${clientId} needs an accessToken string and a scopes array of valid scopes`);
    }
    clients[clientId] = { accessToken: c.accessToken, scopes: [...c.scopes] };
  }
  return clients;
};

const opts = parseArgs(process.argv.slice(2));
const clients = loadClients(opts.clients);
const expandScopes = makeScopeExpander(ROLES);
let rootUrl = null; // set once listening

// The deployment's validator: clients above, roles expanded.
const mainValidator = createSignatureValidator({
  expandScopes,
  certSkewMs: opts.certSkewMs,
  clientLoader: async clientId => {
    const c = Object.prototype.hasOwnProperty.call(clients, clientId) ? clients[clientId] : null;
    if (!c) {
      throw new Error('Client with clientId \'' + clientId + '\' not found');
    }
    return {
      clientId,
      accessToken: c.accessToken,
      scopes: expandScopes(c.scopes),
      expires: new Date('3000-01-01T00:00:00.000Z'),
    };
  },
});

// The auth service's test endpoints build their own validator around a
// fixed `tester` client, without role expansion (services/auth/src/api.js).
const testerValidator = scopes => createSignatureValidator({
  certSkewMs: opts.certSkewMs,
  clientLoader: async clientId => {
    if (clientId !== 'tester') {
      throw new Error('Client with clientId \'' + clientId + '\' not found');
    }
    return { clientId: 'tester', accessToken: 'no-secret', scopes };
  },
});

// --- replies ---

const API_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-max-age': '900',
  'access-control-allow-methods': 'OPTIONS,GET,HEAD,POST,PUT,DELETE,TRACE,CONNECT',
  'access-control-request-method': '*',
  'access-control-allow-headers': 'X-Requested-With,Content-Type,Authorization,Accept,Origin,Cache-Control',
  'cache-control': 'no-store no-cache must-revalidate',
};

const sendJson = (res, status, obj, headers = {}) => {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': body.length,
  });
  res.end(body);
};

// res.reportError of the API library (libraries/api/src/middleware/
// express-error.js): the message's {{key}}s filled from details, then the
// method/errorCode/statusCode/time trailer.
const reportError = (ctx, code, message, details = {}, headers = {}) => {
  let status = ERROR_CODES[code];
  if (status === undefined || typeof message !== 'string') {
    message = 'Internal error, unknown error code: ' + code + '\n' + (message || 'Missing message!');
    code = 'InternalServerError';
    status = 500;
  }
  let payload = ctx.body;
  if (ctx.entry && ctx.entry.cleanPayload) {
    payload = ctx.entry.cleanPayload(payload);
  }
  const requestInfo = {
    method: ctx.entry ? ctx.entry.name : undefined,
    params: ctx.params || {},
    payload,
    time: new Date().toJSON(),
  };
  message = message.replace(/{{([a-zA-Z0-9_-]+)}}/g, (text, key) => {
    let value = details && key in details ? details[key] : text;
    if (typeof value !== 'string') {
      value = JSON.stringify(value, null, 2);
    }
    return value;
  }) + [
    '\n\n---\n',
    `* method:     ${requestInfo.method}`,
    `* errorCode:  ${code}`,
    `* statusCode: ${status}`,
    `* time:       ${requestInfo.time}`,
  ].join('\n');
  sendJson(ctx.res, status, { code, message, requestInfo }, { ...ctx.headers, ...headers });
};

const internalError = (ctx, err) => {
  const incidentId = crypto.randomUUID();
  process.stderr.write(`tc-fake: internal error ${incidentId}: ${err && err.stack || err}\n`);
  reportError(ctx, 'InternalServerError',
    'Internal Server Error, incidentId {{incidentId}}. Error (not shown in production):\n```\n{{error}}\n```',
    { incidentId, error: String(err && err.stack || err) });
};

// --- request pieces ---

const readBody = (req, limit) => new Promise((resolve, reject) => {
  const chunks = [];
  let size = 0;
  let over = false;
  req.on('data', chunk => {
    size += chunk.length;
    if (size > limit) {
      over = true;
      chunks.length = 0;
    } else if (!over) {
      chunks.push(chunk);
    }
  });
  req.on('end', () => resolve(over ? null : Buffer.concat(chunks)));
  req.on('error', reject);
});

const mimeType = contentType =>
  (contentType || '').split(';')[0].trim().toLowerCase();

const parseQuery = rawQuery => {
  const query = {};
  for (const [k, v] of new URLSearchParams(rawQuery || '')) {
    query[k] = v;
  }
  return query;
};

// The Authorization header's id and ext, for the log and echo (never the mac).
const parseExtText = ext => {
  if (!ext) {
    return null;
  }
  try {
    return JSON.parse(Buffer.from(ext, 'base64').toString('utf-8'));
  } catch (err) {
    return { unparsable: ext };
  }
};

const authInfo = req => {
  const header = req.headers.authorization;
  let authorization = null;
  if (header) {
    const attrs = (() => {
      try {
        return hawk.utils.parseAuthorizationHeader(header);
      } catch (err) {
        return null;
      }
    })();
    authorization = attrs ? { id: attrs.id || null, ext: parseExtText(attrs.ext) } : { unparsable: true };
  }
  let bewit = null;
  const m = req.url.match(/[?&]bewit=([^&]*)/);
  if (m) {
    const parts = Buffer.from(m[1], 'base64').toString('binary').split('\\');
    bewit = { id: parts[0] || null, ext: parts.length === 4 ? parseExtText(parts[3]) : null };
  }
  return { authorization, bewit };
};

// A route such as '/secret/:name(*)' as a regular expression, the way
// Express matches it: case-insensitive, an optional trailing slash.
const compileRoute = route => {
  const names = [];
  const source = route.replace(/\/$/, '').split('/').map(seg => {
    let m = seg.match(/^:([A-Za-z]+)\(\*\)$/);
    if (m) {
      names.push(m[1]);
      return '(.*)';
    }
    m = seg.match(/^:([A-Za-z]+)$/);
    if (m) {
      names.push(m[1]);
      return '([^/]+?)';
    }
    return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }).join('/');
  return { regex: new RegExp('^' + source + '/?$', 'i'), names };
};

const SLUGID_PATTERN = /^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]$/;
const RUN_ID_PATTERN = /^[1-9]*[0-9]+$/;
const SCOPE_PATTERN = /^[\x20-\x7e]*$/;

// --- Taskcluster endpoints ---

const secrets = new Map();

const validScopeList = (value, field, errors) => {
  if (!Array.isArray(value)) {
    errors.push(`data/${field} must be array`);
    return;
  }
  value.forEach((s, i) => {
    if (typeof s !== 'string') {
      errors.push(`data/${field}/${i} must be string`);
    } else if (!SCOPE_PATTERN.test(s)) {
      errors.push(`data/${field}/${i} must match pattern "^[\\x20-\\x7e]*$"`);
    }
  });
  if (new Set(value).size !== value.length) {
    errors.push(`data/${field} must NOT have duplicate items`);
  }
};

const checkKeys = (body, allowed, required, errors) => {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    errors.push('data must be object');
    return false;
  }
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) {
      errors.push(`data must NOT have additional properties (${k})`);
    }
  }
  for (const k of required) {
    if (!(k in body)) {
      errors.push(`data must have required property '${k}'`);
    }
  }
  return true;
};

const artifactReply = async (ctx, taskId, runId, name) => {
  // getLatestArtifact authorizes before looking the task up, so that a
  // caller without the scope learns nothing about the task
  await ctx.authorizer.authorize({ AllOf: [`queue:get-artifact:${name}`] });
  const artifacts = ARTIFACTS.get(taskId);
  if (runId === undefined) {
    if (!artifacts) {
      return reportError(ctx, 'ResourceNotFound', 'Task not found', {});
    }
  } else if (!artifacts || runId !== '0') {
    return reportError(ctx, 'ResourceNotFound', 'Artifact not found', {});
  }
  if (!artifacts.has(name)) {
    return reportError(ctx, 'ResourceNotFound', 'Artifact not found', {});
  }
  const url = `${rootUrl}/fake-storage/${taskId}/${name.split('/').map(encodeURIComponent).join('/')}`;
  sendJson(ctx.res, 303, { storageType: 's3', url }, {
    ...ctx.headers,
    location: url,
    'x-taskcluster-artifact-storage-type': 's3',
  });
};

const API_ENTRIES = [
  {
    service: 'auth', method: 'get', route: '/scopes/current', name: 'currentScopes',
    scopes: () => 'auth:current-scopes',
    handler: async ctx => sendJson(ctx.res, 200, { scopes: await ctx.authorizer.scopes() }, ctx.headers),
  },
  {
    service: 'auth', method: 'post', route: '/test-authenticate', name: 'testAuthenticate',
    scopes: null, // the handler authenticates against its own `tester`
    input: body => {
      const errors = [];
      if (checkKeys(body, ['clientScopes', 'requiredScopes'], ['clientScopes', 'requiredScopes'], errors)) {
        if ('clientScopes' in body) {
          validScopeList(body.clientScopes, 'clientScopes', errors);
        }
        if ('requiredScopes' in body) {
          validScopeList(body.requiredScopes, 'requiredScopes', errors);
        }
      }
      return errors;
    },
    handler: async ctx => {
      ctx.authorizer = new Authorizer(ctx.req, testerValidator(ctx.body.clientScopes));
      await ctx.authorizer.authorize({
        AllOf: (ctx.body.requiredScopes || []).map(s => s),
      });
      const [clientId, scopes] = await Promise.all([ctx.authorizer.clientId(), ctx.authorizer.scopes()]);
      sendJson(ctx.res, 200, { clientId, scopes }, ctx.headers);
    },
  },
  {
    service: 'auth', method: 'get', route: '/test-authenticate-get/', name: 'testAuthenticateGet',
    scopes: null,
    handler: async ctx => {
      ctx.authorizer = new Authorizer(ctx.req, testerValidator(['test:*', 'auth:create-client:test:*']));
      await ctx.authorizer.authorize({ AllOf: ['test:authenticate-get'] });
      const [clientId, scopes] = await Promise.all([ctx.authorizer.clientId(), ctx.authorizer.scopes()]);
      sendJson(ctx.res, 200, { clientId, scopes }, ctx.headers);
    },
  },
  {
    service: 'secrets', method: 'put', route: '/secret/:name(*)', name: 'set',
    scopes: p => `secrets:set:${p.name}`,
    cleanPayload: payload => ({ ...payload, secret: '(OMITTED)' }),
    input: body => {
      const errors = [];
      if (checkKeys(body, ['secret', 'expires'], ['secret', 'expires'], errors)) {
        if ('secret' in body && (!body.secret || typeof body.secret !== 'object' || Array.isArray(body.secret))) {
          errors.push('data/secret must be object');
        }
        if ('expires' in body && (typeof body.expires !== 'string' ||
            !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(body.expires) ||
            isNaN(new Date(body.expires).getTime()))) {
          errors.push('data/expires must match format "date-time"');
        }
      }
      return errors;
    },
    handler: async ctx => {
      secrets.set(ctx.params.name, { secret: ctx.body.secret, expires: new Date(ctx.body.expires) });
      sendJson(ctx.res, 200, {}, ctx.headers);
    },
  },
  {
    service: 'secrets', method: 'get', route: '/secret/:name(*)', name: 'get',
    scopes: p => `secrets:get:${p.name}`,
    handler: async ctx => {
      const item = secrets.get(ctx.params.name);
      if (!item) {
        return reportError(ctx, 'ResourceNotFound', 'Secret not found', {});
      }
      if (item.expires.getTime() < Date.now()) {
        return reportError(ctx, 'ResourceExpired', 'The requested resource has expired.', {});
      }
      sendJson(ctx.res, 200, { secret: item.secret, expires: item.expires.toJSON() }, ctx.headers);
    },
  },
  {
    service: 'queue', method: 'get', route: '/task/:taskId/runs/:runId/artifacts/:name(*)', name: 'getArtifact',
    deferred: true, // scopes depend on the artifact name: the handler authorizes
    params: { taskId: SLUGID_PATTERN, runId: RUN_ID_PATTERN },
    handler: ctx => artifactReply(ctx, ctx.params.taskId, ctx.params.runId, ctx.params.name),
  },
  {
    service: 'queue', method: 'get', route: '/task/:taskId/artifacts/:name(*)', name: 'getLatestArtifact',
    deferred: true,
    params: { taskId: SLUGID_PATTERN },
    handler: ctx => artifactReply(ctx, ctx.params.taskId, undefined, ctx.params.name),
  },
].map(e => ({ version: 'v1', ...e, ...compileRoute(e.route) }));

// --- tc-fake's own helpers (not Taskcluster's) ---

const flakyCounts = new Map();

const BIG_BLOCK = (() => {
  const block = Buffer.alloc(1 << 20);
  for (let j = 0; j < block.length / 32; j++) {
    crypto.createHash('sha256').update(`tc-fake big ${j}`).digest().copy(block, j * 32);
  }
  return block;
})();
const bigShaCache = new Map();
const bigSha256 = size => {
  if (!bigShaCache.has(size)) {
    const h = crypto.createHash('sha256');
    for (let done = 0; done < size;) {
      const n = Math.min(BIG_BLOCK.length, size - done);
      h.update(n === BIG_BLOCK.length ? BIG_BLOCK : BIG_BLOCK.subarray(0, n));
      done += n;
    }
    if (bigShaCache.size > 16) {
      bigShaCache.clear();
    }
    bigShaCache.set(size, h.digest('hex'));
  }
  return bigShaCache.get(size);
};

const intParam = (ctx, value, min, max, what) => {
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
    reportError(ctx, 'InputError', `${what} must be an integer from ${min} to ${max}, not {{value}}`, { value });
    return null;
  }
  return Number(value);
};

const FAKE_ENTRIES = [
  {
    method: '*', route: '/echo/:rest(*)', name: 'fake.echo',
    handler: async ctx => {
      const headers = [];
      for (let i = 0; i < ctx.req.rawHeaders.length; i += 2) {
        headers.push([ctx.req.rawHeaders[i], ctx.req.rawHeaders[i + 1]]);
      }
      const info = authInfo(ctx.req);
      const ext = (info.authorization && info.authorization.ext) || (info.bewit && info.bewit.ext) || null;
      sendJson(ctx.res, 200, {
        method: ctx.req.method,
        url: ctx.req.url,
        httpVersion: ctx.req.httpVersion,
        headers,
        body: ctx.raw.toString('base64'),
        clientId: await ctx.authorizer.clientId(),
        scopes: await ctx.authorizer.scopes(),
        ext,
        authorizedScopes: ext && ext.authorizedScopes !== undefined ? ext.authorizedScopes : null,
      });
    },
  },
  {
    method: '*', route: '/flaky/:key/:n', name: 'fake.flaky',
    handler: async ctx => {
      const n = intParam(ctx, ctx.params.n, 0, 1000, 'n');
      if (n === null) {
        return;
      }
      const k = (flakyCounts.get(ctx.params.key) || 0) + 1;
      flakyCounts.set(ctx.params.key, k);
      if (k <= n) {
        return reportError(ctx, 'InternalServerError',
          'tc-fake flaky: attempt {{k}} of the {{n}} that fail for key {{key}}',
          { k: String(k), n: String(n), key: ctx.params.key });
      }
      sendJson(ctx.res, 200, { attempts: k });
    },
  },
  {
    method: '*', route: '/status/:code', name: 'fake.status',
    handler: async ctx => {
      const code = intParam(ctx, ctx.params.code, 200, 599, 'code');
      if (code === null) {
        return;
      }
      const headers = {};
      if (code >= 300 && code < 400) {
        headers.location = `${rootUrl}/api/fake/v1/echo/redirected-from-${code}`;
      }
      if (code === 204 || code === 304) {
        ctx.res.writeHead(code, headers);
        return ctx.res.end();
      }
      sendJson(ctx.res, code, { status: code, message: `tc-fake status ${code}`, ...headers }, headers);
    },
  },
  {
    method: 'get', route: '/headers', name: 'fake.headers',
    handler: async ctx => {
      const multi = ['one', 'two'];
      const cookies = ['a=1; Path=/', 'b=2; Path=/'];
      ctx.res.setHeader('X-Fake-Multi', multi);
      ctx.res.setHeader('Set-Cookie', cookies);
      sendJson(ctx.res, 200, { 'X-Fake-Multi': multi, 'Set-Cookie': cookies });
    },
  },
  {
    method: 'get', route: '/many-headers/:count', name: 'fake.manyHeaders',
    handler: async ctx => {
      const count = intParam(ctx, ctx.params.count, 0, 5000, 'count');
      if (count === null) {
        return;
      }
      for (let i = 0; i < count; i++) {
        ctx.res.setHeader(`X-Fake-Header-${i}`, `value-${i}`);
      }
      sendJson(ctx.res, 200, { headers: count });
    },
  },
  {
    method: '*', route: '/slow/:ms', name: 'fake.slow',
    handler: ctx => {
      const ms = intParam(ctx, ctx.params.ms, 0, 120000, 'ms');
      if (ms === null) {
        return undefined;
      }
      return new Promise(resolve => {
        const timer = setTimeout(() => {
          sendJson(ctx.res, 200, { sleptMs: ms });
          resolve();
        }, ms);
        ctx.res.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  },
  {
    method: 'get', route: '/big/:bytes', name: 'fake.big',
    handler: ctx => {
      const size = intParam(ctx, ctx.params.bytes, 0, 2 ** 32, 'bytes');
      if (size === null) {
        return undefined;
      }
      const res = ctx.res;
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': size,
        'x-fake-sha256': bigSha256(size),
      });
      if (ctx.req.method === 'HEAD') {
        res.end();
        return undefined;
      }
      return new Promise(resolve => {
        let sent = 0;
        const pump = () => {
          while (sent < size) {
            const n = Math.min(BIG_BLOCK.length, size - sent);
            sent += n;
            if (!res.write(n === BIG_BLOCK.length ? BIG_BLOCK : BIG_BLOCK.subarray(0, n))) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
          resolve();
        };
        res.on('close', resolve);
        pump();
      });
    },
  },
].map(e => ({ service: 'fake', version: 'v1', scopes: () => ({ AllOf: [] }), fake: true, ...e, ...compileRoute(e.route) }));

// --- dispatch ---

// The API library's middleware chain for one entry (libraries/api/src/
// api.js): parse the body, authenticate (and authorize, when the route
// parameters fill the scopes), validate parameters, the query and the
// input, then the handler.
const runEntry = async (ctx, entry, match) => {
  const { req } = ctx;
  ctx.entry = entry;
  if (!entry.fake) {
    ctx.headers = API_HEADERS;
  }

  // parameters, decoded as Express decodes them
  ctx.params = {};
  for (let i = 0; i < entry.names.length; i++) {
    try {
      ctx.params[entry.names[i]] = decodeURIComponent(match[i + 1]);
    } catch (err) {
      return reportError(ctx, 'InvalidRequestArguments', 'Failed to decode param \'{{value}}\'', { value: match[i + 1] });
    }
  }

  // body: the text of an application/json body, parsed; else '' and {}
  const raw = await readBody(req, entry.fake ? FAKE_INPUT_LIMIT : API_INPUT_LIMIT);
  ctx.body = {};
  if (raw === null) {
    return reportError(ctx, 'InputTooLarge', 'Payload too large', {});
  }
  ctx.raw = raw;
  req.text = '';
  if (raw.length > 0 && mimeType(req.headers['content-type']) === 'application/json') {
    req.text = raw.toString('utf-8');
    try {
      const parsed = JSON.parse(req.text);
      if (!(parsed instanceof Object)) {
        throw new Error('Must be an object or array');
      }
      ctx.body = parsed;
    } catch (err) {
      return reportError(ctx, 'MalformedPayload', 'Failed to parse JSON: {{errMsg}}', { errMsg: err.message });
    }
  }

  ctx.authorizer = new Authorizer(req, mainValidator);
  if (entry.scopes) {
    await ctx.authorizer.authorize(entry.scopes(ctx.params));
  }

  if (entry.params) {
    const errors = [];
    for (const [param, pattern] of Object.entries(entry.params)) {
      if (param in ctx.params && !pattern.test(ctx.params[param])) {
        errors.push(`URL parameter '${param}' given as '${ctx.params[param]}' must match ` +
                    `regular expression: '${pattern.toString()}'`);
      }
    }
    if (errors.length > 0) {
      return reportError(ctx, 'InvalidRequestArguments', 'Invalid URL patterns:\n' + errors.join('\n'), { errors });
    }
  }

  if (!entry.fake) {
    const errors = Object.keys(req.query).filter(k => k !== 'bewit')
      .map(k => 'Query-string parameter: ' + k + ' is not supported!');
    if (errors.length > 0) {
      return reportError(ctx, 'InvalidRequestArguments', errors.join('\n'), { errors });
    }
  }

  if (entry.input) {
    if (mimeType(req.headers['content-type']) !== 'application/json') {
      return reportError(ctx, 'MalformedPayload',
        'Payload must be JSON with content-type: application/json got content-type: {{contentType}}',
        { contentType: req.headers['content-type'] || null });
    }
    const errors = entry.input(ctx.body);
    if (errors.length > 0) {
      return reportError(ctx, 'InputValidationError', errors.join('\n'), {
        schema: `${rootUrl}/schemas/${entry.service}/v1/${entry.name}`,
      });
    }
  }

  return entry.handler(ctx);
};

const findEntry = (method, service, version, rest) => {
  const wanted = method === 'head' ? 'get' : method;
  const entries = service === 'fake' ? FAKE_ENTRIES : API_ENTRIES;
  let pathMatched = false;
  for (const entry of entries) {
    if (entry.service !== service || entry.version !== version) {
      continue;
    }
    const match = rest.match(entry.regex);
    if (!match) {
      continue;
    }
    pathMatched = true;
    if (entry.method === '*' || entry.method === wanted) {
      return { entry, match };
    }
  }
  return { pathMatched };
};

const serveStorage = (ctx, rest) => {
  const { req, res } = ctx;
  const m = rest.match(/^([^/]+)\/(.+)$/);
  let taskId, name;
  try {
    taskId = m && decodeURIComponent(m[1]);
    name = m && decodeURIComponent(m[2]);
  } catch (err) {
    taskId = null;
  }
  const artifact = taskId && ARTIFACTS.get(taskId) && ARTIFACTS.get(taskId).get(name);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendJson(res, 405, { code: 'MethodNotAllowed', message: 'fake storage serves GET and HEAD' }, { allow: 'GET, HEAD' });
  }
  if (!artifact) {
    return sendJson(res, 404, { code: 'NoSuchKey', message: 'The specified key does not exist.' });
  }
  res.writeHead(200, {
    'content-type': artifact.contentType,
    'content-length': artifact.content.length,
  });
  res.end(artifact.content);
};

const handle = async (req, res) => {
  const ctx = { req, res, headers: {}, params: {}, body: {}, entry: null, authorizer: null };
  const time = new Date().toJSON();
  if (opts.log) {
    res.on('close', () => {
      let clientId = null;
      const result = ctx.authorizer && ctx.authorizer.result;
      if (result && result.status === 'auth-success') {
        clientId = result.clientId;
      }
      const line = JSON.stringify({
        time,
        method: req.method,
        target: req.url,
        ...authInfo(req),
        clientId,
        status: res.headersSent ? res.statusCode : null,
      }) + '\n';
      try {
        fs.appendFileSync(opts.log, line);
      } catch (err) {
        process.stderr.write(`tc-fake: cannot write log ${opts.log}: ${err.message}\n`);
      }
    });
  }
  try {
    const q = req.url.indexOf('?');
    const path = q === -1 ? req.url : req.url.slice(0, q);
    req.query = parseQuery(q === -1 ? '' : req.url.slice(q + 1));

    if (path.startsWith('/fake-storage/')) {
      req.resume();
      return serveStorage(ctx, path.slice('/fake-storage/'.length));
    }
    const m = path.match(/^\/api\/([^/]+)\/([^/]+)(\/.*)$/);
    const found = m ? findEntry(req.method.toLowerCase(), m[1], m[2], m[3]) : { pathMatched: false };
    if (!found.entry) {
      req.resume();
      return sendJson(res, 404, {
        code: 'ResourceNotFound',
        message: found.pathMatched ? `tc-fake: ${req.method} is not served at ${path}` : `tc-fake: no API method at ${path}`,
      });
    }
    await runEntry(ctx, found.entry, found.match);
  } catch (err) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof ErrorReply) {
      return reportError(ctx, err.code, err.message, err.details, err.headers);
    }
    return internalError(ctx, err);
  }
};

const server = http.createServer((req, res) => {
  handle(req, res).catch(err => {
    process.stderr.write(`tc-fake: ${err && err.stack || err}\n`);
    res.destroy();
  });
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.on('error', err => {
  process.stderr.write(`tc-fake: ${err.message}\n`);
  process.exit(1);
});
server.listen(opts.port, '127.0.0.1', () => {
  rootUrl = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(`tc-fake listening on ${rootUrl}\n`);
});
