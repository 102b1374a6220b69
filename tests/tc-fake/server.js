#!/usr/bin/env node
// tc-fake: a small test Taskcluster for sepworker's tests.
//
//   node tests/tc-fake/server.js --port 0 [--clients FILE] [--log FILE]
//       [--cert-skew-ms MS] [--claim-wait-ms MS] [--claim-timeout-s S]
//       [--terminate-after-calls N]
//
// --cert-skew-ms: the tolerance on a temporary credentials certificate's
// start and expiry (default 300000, the auth service's 5 minutes): 0
// lets a test see a certificate refused as soon as it has expired.
// --claim-wait-ms: how long claimWork waits for a pending task before it
// answers {"tasks": []} (default 20000, the Queue's CLAIM_WORK_TIMEOUT_MS).
// --claim-timeout-s: a claim's (and reclaim's) takenUntil is now + S
// seconds (default 1200, the Queue's claimTimeout); the task credentials
// expire then too.
// --terminate-after-calls: shouldWorkerTerminate answers terminate: true
// from the Nth call on (default 0: never); see PUT /_fake/worker-manager.
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
//   auth:current-scopes, queue:get-artifact:public/*, queue:get-task:*,
//   queue:list-artifacts:*, queue:status:*
// So scopes/current, public/ artifacts, task definitions, statuses and
// artifact lists need no credentials, as on a
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
//        role), and for a link artifact the scope of every name the links
//        lead through.  For a task created here (below), as the Queue:
//        s3 -> 303 to its S3 store URL <rootUrl>/s3/artifacts/<taskId>/
//        <runId>/<name>; object -> 303 to <rootUrl>/s3/objects/t/<taskId>/
//        <runId>/<name>; reference -> 303 to its url; link -> the target
//        artifact's answer (a cycle is 400 InputError "Artifact leads to a
//        link cycle"); error -> 424 {"reason", "message"}.  303s have the
//        body {"storageType", "url"}; every answer has
//        X-Taskcluster-Artifact-Storage-Type.  Not yet finished (object)
//        -> 404 "Artifact not found"; expired -> 410; task without runs
//        -> 404 "Task doesn't have any runs".
//        For any other taskId: 303, Location: <rootUrl>/fake-storage/
//        <taskId>/<name>, storage type s3, or 404 ResourceNotFound ("Task
//        not found" / "Artifact not found").  Seeded: task
//        KTBKfEgxR5GdfIIREQIvFQ (one run, 0) has SampleArtifacts/_/X.txt
//        ("test artifact\n") and public/hello.txt ("hello world\n").
//   GET  /fake-storage/<taskId>/<name>  the seeded artifact's bytes, 200,
//        no auth (stands in for the S3 URL).
//
// THE QUEUE'S TASKS AND ITS WORKER SIDE (services/queue/src/api.js,
// artifacts.js).  Routes, scopes, bodies, answers and error codes/
// messages are the Queue's; tasks, runs and artifacts live in memory.
// What the Queue's background resolvers do runs before every request and
// every 100 ms: a run still `running` at its takenUntil resolves
// exception/claim-expired (then a new pending run, reasonCreated retry,
// while retriesLeft > 0); an unresolved task past its deadline resolves
// exception/deadline-exceeded (no retry); an unscheduled task whose
// dependencies are met (requires all-completed / all-resolved) gets its
// first pending run.  Task states and runs are the task status structure
// {taskId, provisionerId, workerType, taskQueueId, schedulerId,
// projectId, taskGroupId, deadline, expires, retriesLeft, state, runs:
// [{runId, state, reasonCreated, reasonResolved?, workerGroup?,
// workerId?, takenUntil?, scheduled, started?, resolved?}]}.
//
//   PUT  /api/queue/v1/task/<taskId>                             (createTask)
//        body: create-task-request (provisionerId+workerType and/or
//        taskQueueId, created, deadline, payload, metadata {name,
//        description, owner, source} required; schedulerId "-", projectId
//        "none", taskGroupId <taskId>, dependencies [], requires
//        all-completed, routes [], priority lowest, retries 5, scopes [],
//        tags {}, extra {}, expires deadline + 1 year by default).  Scopes
//        as the Queue: every task scope, queue:route:<route> for each
//        route, queue:create-task:project:<projectId>,
//        queue:scheduler-id:<schedulerId>, and
//        queue:create-task:<priority>:<provisionerId>/<workerType> for the
//        priority or one above it.  400 InputError for created/deadline/
//        expires out of range (15 min drift, deadline <= 5 days) or unknown
//        dependencies.  200 {"status"}; the task is pending at once unless
//        it has dependencies.  The same definition again is 200 (idempotent),
//        a different one 409 RequestConflict.
//   GET  /api/queue/v1/task/<taskId>                             (task)
//        scope queue:get-task:<taskId> (anonymous role): the definition with
//        its defaults; 404.
//   GET  /api/queue/v1/task/<taskId>/status                      (status)
//        scope queue:status:<taskId> (anonymous role): {"status"}; 404.
//   POST /api/queue/v1/task/<taskId>/cancel                      (cancelTask)
//        scopes AnyOf queue:cancel-task:<schedulerId>/<taskGroupId>/<taskId>,
//        queue:cancel-task-in-project:<projectId>, {AllOf queue:cancel-task,
//        assume:scheduler-id:<schedulerId>/<taskGroupId>}.  The pending or
//        running run (or a new one, if unscheduled) resolves
//        exception/canceled; resolved tasks are left as they are; past the
//        deadline 409.  200 {"status"}.
//   POST /api/queue/v1/claim-work/<provisionerId>%2F<workerType>  (claimWork)
//        body {"tasks": 1..32, "workerGroup", "workerId"} (identifiers
//        [a-zA-Z0-9-_]{1,38}); scopes queue:claim-work:<taskQueueId> and
//        queue:worker-id:<workerGroup>/<workerId>.  Long poll: pending runs
//        (highest priority, then oldest first) are claimed at once; with
//        none it waits up to --claim-wait-ms for one (a createTask or a
//        retry wakes it), then 200 {"tasks": []}; a caller that hangs up
//        claims nothing.  Each claim: {"status", "runId", "workerGroup",
//        "workerId", "takenUntil", "task" (the definition), "credentials":
//        {"clientId", "accessToken", "certificate"}}: temporary credentials
//        issued by static/taskcluster/root as services/queue/src/
//        task-creds.js does: clientId task-client/<taskId>/<runId>/on/
//        <workerGroup>/<workerId>/until/<takenUntil ms / 1000>, scopes
//        queue:reclaim-task:<taskId>/<runId>, queue:resolve-task:<taskId>/
//        <runId>, queue:create-artifact:<taskId>/<runId> + task.scopes,
//        expiry takenUntil (= now + --claim-timeout-s).
//   POST /api/queue/v1/task/<taskId>/runs/<runId>/reclaim        (reclaimTask)
//        no body; scope queue:reclaim-task:<taskId>/<runId>.  200
//        {"status", "runId", "workerGroup", "workerId", "takenUntil",
//        "credentials"} (new takenUntil, new credentials); 409
//        RequestConflict when the run is not the latest or not running
//        (resolved, canceled, claim expired) or the deadline has passed;
//        404 for an unknown task or run.
//   POST /api/queue/v1/task/<taskId>/runs/<runId>/completed      (reportCompleted)
//   POST /api/queue/v1/task/<taskId>/runs/<runId>/failed         (reportFailed)
//        no body; scope queue:resolve-task:<taskId>/<runId>.  200
//        {"status"}; again with the same outcome 200 (idempotent); 409 when
//        the run is neither running nor already in that state.
//   POST /api/queue/v1/task/<taskId>/runs/<runId>/exception      (reportException)
//        body {"reason": worker-shutdown | malformed-payload |
//        resource-unavailable | internal-error | superseded |
//        intermittent-task}; scope queue:resolve-task:<taskId>/<runId>.
//        worker-shutdown (reasonCreated retry) and intermittent-task
//        (task-retry) add a new pending run while retriesLeft > 0.  The
//        same reason again is 200, anything else on a resolved run 409.
//   POST /api/queue/v1/task/<taskId>/runs/<runId>/artifacts/<name>  (createArtifact)
//        <name> escaped (%2F); scope queue:create-artifact:<taskId>/<runId>
//        (the Queue's current expression).  Body (post-artifact-request,
//        additionalProperties false) and answer by storageType:
//          s3: {storageType, expires, contentType, contentLength?} ->
//              {"storageType": "s3", "contentType", "expires" (now + 45
//              min), "putUrl"}: a presigned URL on this server's S3 store
//              (below) for artifacts/<taskId>/<runId>/<name>
//          object: {storageType, expires, contentType, contentLength?} ->
//              {"storageType": "object", "name": "t/<taskId>/<runId>/<name>",
//              "projectId" (the task's), "uploadId", "expires", "credentials"}
//              (clientId artifact-upload/<taskId>/<runId>/on/<workerGroup>/
//              <workerId>, scope object:upload:<projectId>:<object name>,
//              expiry the artifact's or 24 h if sooner).  The artifact is
//              listed and served only after finishArtifact.
//          reference: {storageType, expires, contentType, url} -> {"storageType"}
//          link: {storageType, expires, contentType?, artifact} -> {"storageType"}
//          error: {storageType, expires, reason (file-missing-on-worker |
//              invalid-resource-on-worker | too-large-file-on-worker |
//              file-not-readable-on-worker), message} -> {"storageType"}
//        contentType defaults to application/binary.  400 InputError: expires
//        more than 15 min past or after task.expires, unknown task or run,
//        run never claimed.  409 RequestConflict: the run is not running
//        (allowed for 25 min after it resolved exception); or the artifact
//        exists and the call is not compatible (createArtifactCallsCompatible:
//        same contentType unless link, expires not earlier, same details
//        unless reference; reference may become link; an object artifact
//        can never be created twice).  A compatible call is 200 again
//        (s3: a new putUrl).
//   PUT  /api/queue/v1/task/<taskId>/runs/<runId>/artifacts/<name>  (finishArtifact)
//        body {"uploadId"}; scope queue:create-artifact:<taskId>/<runId>.
//        204 once the object is finished on the object service (then the
//        artifact is present), 204 again if already present; 400
//        InputError: not an object artifact (the Queue's code means this but,
//        through a typo, answers 500), wrong uploadId ("given
//        uploadId does not match that for the artifact"), object upload not
//        finished ("Object storing artifact data does not exist"); 404.
//   GET  /api/queue/v1/task/<taskId>/runs/<runId>/artifacts      (listArtifacts)
//   GET  /api/queue/v1/task/<taskId>/artifacts                   (listLatestArtifacts)
//        scope queue:list-artifacts:<taskId>:<runId> / <taskId> (anonymous
//        role); query limit, continuationToken.  200 {"artifacts": [{
//        "storageType", "name", "expires", "contentType"}],
//        "continuationToken"?} (present artifacts, by name); 404.
//
// THE OBJECT SERVICE (services/object/src/api.js), backed by the S3 store.
//
//   PUT  /api/object/v1/upload/<name escaped>                    (createUpload)
//        body {"projectId", "uploadId", "expires", "hashes"?: {sha256?,
//        sha512?}, "proposedUploadMethods": {"dataInline"?: {contentType,
//        objectData (base64)}, "putUrl"?: {contentType, contentLength}}};
//        scope object:upload:<projectId>:<name>.  200 {"projectId",
//        "uploadId", "expires", "uploadMethod"}: {"dataInline": true} (data
//        stored) if proposed, else {"putUrl": {"url" (presigned S3 store
//        URL for objects/<name>), "expires", "headers": {"Content-Type",
//        "Content-Length"}}} (PUT the data there with exactly those
//        headers), else {}.  Again with the same uploadId, projectId and
//        expires: 200 (renewal); otherwise, or once finished, 409
//        "Object already exists".
//   POST /api/object/v1/finish-upload/<name escaped>             (finishUpload)
//        body {"projectId", "uploadId", "hashes"?}; same scope.  200 {};
//        404 unknown object; 400 wrong projectId; 409 wrong uploadId or a
//        hash that differs from one given before.  tc-fake is stricter than
//        the real service: 409 when no data was uploaded, or when a hash
//        (given now or at createUpload) does not match the stored bytes.
//        Once finished, the same call is 200 (idempotent).
//   GET  /api/object/v1/download/<name>                          (download)
//        scope object:download:<name>: 303 to the S3 store URL; 404 until
//        finished.
//
// WORKER-MANAGER
//
//   GET  /api/worker-manager/v1/workers/<workerPoolId escaped>/<workerGroup>/<workerId>/should-terminate
//        (shouldWorkerTerminate) scope worker-manager:should-worker-terminate:
//        <workerPoolId>/<workerGroup>/<workerId>.  200 {"terminate", "reason"}:
//        terminate is true from call N on (--terminate-after-calls N or PUT
//        /_fake/worker-manager; mocktc's ShouldTerminateAfterNCalls), calls
//        counted over all workers.  tc-fake knows no worker pools: any
//        worker gets an answer.
//
// THE S3 STORE (stands in for the artifact buckets and the object
// service's backend; tc-fake's own, S3's behaviour)
//
//   PUT  /s3/<key>?X-Amz-Date=..&X-Amz-Expires=..&X-Amz-SignedHeaders=..&X-Amz-Signature=..
//        only with a presigned URL from createArtifact or createUpload: the
//        signature covers the key, the Content-Type and the expiry.  Keeps
//        the body's exact bytes, its Content-Type (binary/octet-stream if
//        none) and Content-Encoding.  200 with ETag (quoted md5).  Errors
//        are S3's XML <Error><Code>..</Code><Message>..</Message>..:
//        403 AccessDenied (no signature, or expired), 403
//        SignatureDoesNotMatch (e.g. a Content-Type other than the one
//        createArtifact was given), 411 MissingContentLength (no
//        Content-Length, e.g. chunked), 400 EntityTooLarge (> 512 MiB).
//   GET|HEAD /s3/<key>  no auth: 200 with the stored bytes, Content-Type,
//        Content-Encoding (when one was stored), Content-Length, ETag,
//        Last-Modified; 404 NoSuchKey.
//
// WORKER CLIENTS
//
// A worker's own (static) client, as a deployment's worker pool gives it,
// is a --clients entry, for example:
//   "worker/prov/type": {"accessToken": "worker-token", "scopes": [
//     "queue:claim-work:prov/type", "queue:worker-id:group/*",
//     "worker-manager:should-worker-terminate:prov/type/*"]}
// Task credentials come from claimWork and reclaimTask (above), object
// upload credentials from createArtifact; all three are temporary
// credentials that verify here like any others.  Shell tests make API
// calls (createTask as root, say) with call.js next to this file.
//
// ADMIN ENDPOINTS: tc-fake's own, for tests, under /_fake/, unauthenticated,
// not recorded, JSON bodies.
//
//   GET    /_fake/calls[?since=SEQ]  {"calls": [...]}: every request (but
//          /_fake/ ones) in order, each {"seq", "time", "method", "target"
//          (as received, with the query), "api" ("queue.claimWork",
//          "object.createUpload", "worker-manager.shouldWorkerTerminate",
//          "s3.put", "s3.get", "fake.echo", ... or null), "clientId" (the
//          authenticated one or null), "status", "body" (an API call's
//          JSON body as received, without the schema's defaults, or null;
//          secrets omitted), "headers" (the request's
//          content-type, content-encoding, content-length,
//          transfer-encoding, when present), "injected"? (true when a fault
//          answered), "dropped"? ("before" or "after": a fault dropped the
//          connection; "after" records the status the answer would have
//          had)}; since=SEQ gives only later ones.
//   DELETE /_fake/calls           forgets them.
//   POST   /_fake/faults          {"path": "<regexp on the path>", "method"?,
//          "status"? (400..599, default 500), "count"? (default 1)} -> {"id"}:
//          the next <count> matching requests are answered <status> at once
//          (S3's XML InternalError under /s3/, else a JSON InternalServerError
//          body), before anything else happens.  With "drop": "before" (no
//          status then) the connection is destroyed instead, before the
//          request is processed; with "drop": "after" the request is
//          processed (its side effects happen) and the connection is
//          destroyed in place of the answer: the client never sees it.
//          With "delayMs" (1..600000; no status or drop then), the next
//          <count> matching requests are held that long, their bodies
//          unread, then served as usual (a slow upload).
//          GET lists them, DELETE clears them.
//   GET|PUT /_fake/worker-manager  {"terminateAfterCalls", "calls"}; PUT
//          {"terminateAfterCalls": N} sets it and restarts the count.
//   GET    /_fake/artifacts/<taskId>  {"taskId", "runs": [{"runId",
//          "artifacts": [{"name", "storageType", "contentType",
//          "contentLength" (createArtifact's, or null), "expires",
//          "present", "details", "stored": null or {"size", "sha256",
//          "contentType", "contentEncoding"}}]}]}.
//   GET    /_fake/artifact/<taskId>/<runId>/<name>  the stored bytes of an
//          s3 or object artifact with the stored Content-Type and
//          Content-Encoding (X-Fake-Storage-Type: s3|object); 404 JSON when
//          there are none.
//   GET    /_fake/task-credentials/<taskId>/<runId>  {"credentials": [...]}:
//          every set of task credentials issued for that run (its claim's,
//          its reclaims'), so a test can look for them in a worker's memory.
//   GET    /_fake/s3              {"objects": [{"key", "size", "sha256",
//          "contentType", "contentEncoding"}]}.
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
import taskcluster from 'taskcluster-client';
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
  anonymous: ['auth:current-scopes', 'queue:get-artifact:public/*',
    'queue:get-task:*', 'queue:list-artifacts:*', 'queue:status:*'],
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
    'usage: node server.js --port N [--clients FILE] [--log FILE] [--cert-skew-ms MS]\n' +
    '       [--claim-wait-ms MS] [--claim-timeout-s S] [--terminate-after-calls N]\n');
  process.exit(2);
};

// A non-negative integer option value.
const nonNegative = (name, v) => {
  if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    usage(`bad ${name}: ${v}`);
  }
  return Number(v);
};

const parseArgs = argv => {
  const opts = {
    port: 0, clients: null, log: null, certSkewMs: 5 * 60 * 1000,
    claimWaitMs: 20 * 1000, claimTimeoutS: 1200, terminateAfterCalls: 0,
  };
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
      opts.certSkewMs = nonNegative(a, value());
    } else if (a === '--claim-wait-ms') {
      opts.claimWaitMs = nonNegative(a, value());
    } else if (a === '--claim-timeout-s') {
      opts.claimTimeoutS = nonNegative(a, value());
      if (opts.claimTimeoutS < 1) {
        usage('--claim-timeout-s must be at least 1');
      }
    } else if (a === '--terminate-after-calls') {
      opts.terminateAfterCalls = nonNegative(a, value());
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
const TASK_QUEUE_ID_PATTERN = /^[A-Za-z0-9_-]{1,38}\/[A-Za-z0-9_-]{1,38}$/;
const RUN_ID_PATTERN = /^[1-9]*[0-9]+$/;
const ARTIFACT_NAME_PATTERN = /^[\x20-\x7e]+$/; // printable ASCII

// --- Taskcluster endpoints ---

const secrets = new Map();

const artifactReply = async (ctx, taskId, runId, name) => {
  // getLatestArtifact authorizes before looking the task up, so that a
  // caller without the scope learns nothing about the task
  await ctx.authorizer.authorize({ AllOf: [`queue:get-artifact:${name}`] });
  const task = tasks.get(taskId);
  if (task) {
    const latest = runId === undefined ? latestRunId(ctx, task) : parseInt(runId, 10);
    return latest === null ? undefined : artifactDownload(ctx, task, latest, name);
  }
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

// --- request bodies: the subset of JSON schema the services' schemas use ---

// schema: {type, enum, pattern, format ('date-time' or 'uri'), minLength,
// maxLength, minimum, maximum, properties, required, additional (false
// for additionalProperties: false), items, unique, default}.  Defaults are
// filled in as the API library's ajv (useDefaults) does.  Messages are
// ajv's.
const DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

const checkValue = (value, schema, path, errors) => {
  const where = path || 'data';
  const type = schema.type;
  const isObject = v => v !== null && typeof v === 'object' && !Array.isArray(v);
  if ((type === 'string' && typeof value !== 'string') ||
      (type === 'integer' && !Number.isInteger(value)) ||
      (type === 'boolean' && typeof value !== 'boolean') ||
      (type === 'object' && !isObject(value)) ||
      (type === 'array' && !Array.isArray(value))) {
    errors.push(`${where} must be ${type}`);
    return;
  }
  if (schema.enum && !schema.enum.includes(value)) {
    errors.push(`${where} must be equal to one of the allowed values`);
  }
  if (type === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      errors.push(`${where} must NOT have fewer than ${schema.minLength} characters`);
    }
    if (schema.maxLength !== undefined && value.length > schema.maxLength) {
      errors.push(`${where} must NOT have more than ${schema.maxLength} characters`);
    }
    if (schema.pattern && !schema.pattern.test(value)) {
      errors.push(`${where} must match pattern "${schema.pattern.source}"`);
    }
    if (schema.format === 'date-time' && !(DATE_TIME.test(value) && !isNaN(new Date(value).getTime()))) {
      errors.push(`${where} must match format "date-time"`);
    }
    if (schema.format === 'uri' && !/^[a-z][a-z0-9+.-]*:[^\s]*$/i.test(value)) {
      errors.push(`${where} must match format "uri"`);
    }
  }
  if (type === 'integer') {
    if (schema.minimum !== undefined && value < schema.minimum) {
      errors.push(`${where} must be >= ${schema.minimum}`);
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      errors.push(`${where} must be <= ${schema.maximum}`);
    }
  }
  if (type === 'array') {
    value.forEach((v, i) => schema.items && checkValue(v, schema.items, `${where}/${i}`, errors));
    if (schema.unique && new Set(value.map(v => JSON.stringify(v))).size !== value.length) {
      errors.push(`${where} must NOT have duplicate items`);
    }
  }
  if (type === 'object') {
    const props = schema.properties || {};
    for (const k of Object.keys(value)) {
      if (schema.additional === false && !(k in props)) {
        errors.push(`${where} must NOT have additional properties (${k})`);
      } else if (k in props) {
        checkValue(value[k], props[k], `${where}/${k}`, errors);
      } else if (schema.values) {
        checkValue(value[k], schema.values, `${where}/${k}`, errors);
      }
    }
    for (const k of schema.required || []) {
      if (!(k in value)) {
        errors.push(`${where} must have required property '${k}'`);
      }
    }
    for (const [k, p] of Object.entries(props)) {
      if (!(k in value) && p.default !== undefined) {
        value[k] = structuredClone(p.default);
      }
    }
  }
};

const validator = schema => body => {
  const errors = [];
  checkValue(body, schema, '', errors);
  return errors;
};

const str = (extra = {}) => ({ type: 'string', ...extra });
const IDENTIFIER = str({ minLength: 1, maxLength: 38, pattern: /^([a-zA-Z0-9-_]*)$/ });
const DATE = str({ format: 'date-time' });
const SLUGID = str({ pattern: SLUGID_PATTERN });
const SCOPE = str({ pattern: /^[\x20-\x7e]*$/ });
const OBJECT = (properties, required, extra = {}) =>
  ({ type: 'object', properties, required, additional: false, ...extra });
const PROJECT_ID = str({ pattern: /^([a-zA-Z0-9._/-]*)$/ });
const HASHES = OBJECT({ sha256: str({ pattern: /^[a-z0-9]{64}$/ }), sha512: str({ pattern: /^[a-z0-9]{128}$/ }) }, []);
// s3 and object artifact requests
const DATA_ARTIFACT = OBJECT({ storageType: str(), expires: DATE, contentType: str({ maxLength: 255 }),
  contentLength: { type: 'integer', minimum: 0 } }, ['storageType', 'expires', 'contentType']);

const PRIORITY_LEVELS = ['highest', 'very-high', 'high', 'medium', 'low', 'very-low', 'lowest'];
const EXCEPTION_REASONS = ['worker-shutdown', 'malformed-payload', 'resource-unavailable',
  'internal-error', 'superseded', 'intermittent-task'];
const ERROR_ARTIFACT_REASONS = ['file-missing-on-worker', 'invalid-resource-on-worker',
  'too-large-file-on-worker', 'file-not-readable-on-worker'];

const SCHEMAS = {
  secretSet: OBJECT({ secret: { type: 'object' }, expires: DATE }, ['secret', 'expires']),
  testAuthenticate: OBJECT({
    clientScopes: { type: 'array', items: SCOPE, unique: true },
    requiredScopes: { type: 'array', items: SCOPE, unique: true },
  }, ['clientScopes', 'requiredScopes']),
  // services/queue/schemas/v1/create-task-request.yml
  createTask: OBJECT({
    taskQueueId: str({ pattern: TASK_QUEUE_ID_PATTERN }),
    provisionerId: IDENTIFIER,
    workerType: IDENTIFIER,
    schedulerId: { ...IDENTIFIER, default: '-' },
    projectId: IDENTIFIER,
    taskGroupId: SLUGID,
    dependencies: { type: 'array', items: SLUGID, unique: true, default: [] },
    requires: str({ enum: ['all-completed', 'all-resolved'], default: 'all-completed' }),
    routes: { type: 'array', items: str({ maxLength: 249 }), unique: true, default: [] },
    priority: str({ enum: [...PRIORITY_LEVELS, 'normal'], default: 'lowest' }),
    retries: { type: 'integer', minimum: 0, maximum: 49, default: 5 },
    created: DATE,
    deadline: DATE,
    expires: DATE,
    scopes: { type: 'array', items: SCOPE, unique: true, default: [] },
    payload: { type: 'object' },
    metadata: OBJECT({
      name: str({ maxLength: 255 }),
      description: str({ maxLength: 32768 }),
      owner: str({ maxLength: 255 }),
      source: str({ maxLength: 4096 }),
    }, ['name', 'description', 'owner', 'source']),
    tags: { type: 'object', values: str({ maxLength: 4096 }), default: {} },
    extra: { type: 'object', default: {} },
  }, ['created', 'deadline', 'payload', 'metadata']),
  // claim-work-request.yml
  claimWork: OBJECT({
    workerGroup: IDENTIFIER,
    workerId: IDENTIFIER,
    tasks: { type: 'integer', minimum: 1, maximum: 32, default: 1 },
  }, ['workerGroup', 'workerId', 'tasks']),
  // task-exception-request.yml
  reportException: OBJECT({ reason: str({ enum: EXCEPTION_REASONS }) }, ['reason']),
  // finish-artifact-request.yml
  finishArtifact: OBJECT({ uploadId: SLUGID }, ['uploadId']),
  // post-artifact-request.yml: one of these, by storageType
  artifact: {
    s3: DATA_ARTIFACT,
    object: DATA_ARTIFACT,
    reference: OBJECT({ storageType: str(), expires: DATE, contentType: str({ maxLength: 255 }),
      url: str({ format: 'uri' }) }, ['storageType', 'expires', 'url', 'contentType']),
    link: OBJECT({ storageType: str(), expires: DATE, contentType: str({ maxLength: 255 }),
      artifact: str() }, ['storageType', 'expires', 'artifact']),
    error: OBJECT({ storageType: str(), expires: DATE, reason: str({ enum: ERROR_ARTIFACT_REASONS }),
      message: str({ maxLength: 4096 }) }, ['storageType', 'expires', 'reason', 'message']),
  },
  // services/object/schemas/v1/create-upload-request.yml, finish-upload-request.yml
  createUpload: OBJECT({
    projectId: PROJECT_ID,
    uploadId: SLUGID,
    expires: DATE,
    hashes: HASHES,
    proposedUploadMethods: OBJECT({
      dataInline: OBJECT({ contentType: str(), objectData: str() }, ['contentType', 'objectData']),
      putUrl: OBJECT({ contentType: str(), contentLength: { type: 'integer', minimum: 0 } },
        ['contentType', 'contentLength']),
    }, []),
  }, ['projectId', 'uploadId', 'expires', 'proposedUploadMethods']),
  finishUpload: OBJECT({
    projectId: PROJECT_ID,
    uploadId: SLUGID,
    hashes: HASHES,
  }, ['projectId', 'uploadId']),
};

const validateArtifactRequest = body => {
  const known = body && typeof body === 'object' &&
    Object.prototype.hasOwnProperty.call(SCHEMAS.artifact, body.storageType);
  const schema = known ? SCHEMAS.artifact[body.storageType] : null;
  if (!schema) {
    return ['data/storageType must be equal to one of the allowed values (s3, object, reference, link, error)'];
  }
  return validator(schema)(body);
};

// A JSON text with object keys sorted, to compare two definitions.
const canonical = value => JSON.stringify(value, (k, v) =>
  v && typeof v === 'object' && !Array.isArray(v) ?
    Object.fromEntries(Object.keys(v).sort().map(key => [key, v[key]])) : v);

const noContent = ctx => {
  ctx.res.writeHead(204, ctx.headers);
  ctx.res.end();
};

// --- the S3 store (stands in for the artifact buckets and the object
// service's backend) ---

const S3_SECRET = crypto.randomBytes(32);
const s3Objects = new Map(); // key -> {body, contentType, contentEncoding, etag, time}
const S3_LIMIT = 512 * 1024 * 1024;

const s3Path = key => '/s3/' + key.split('/').map(encodeURIComponent).join('/');
const s3GetUrl = key => rootUrl + s3Path(key);
const amzDate = date => date.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
const s3Signature = (method, key, contentType, date, expires) =>
  crypto.createHmac('sha256', S3_SECRET)
    .update([method, key, contentType, date, expires].join('\n')).digest('hex');

// A presigned PUT URL: the signature covers the key, the Content-Type the
// uploader must send, and the expiry, as an S3 presigned URL does.
const s3PutUrl = (key, contentType, expiresS) => {
  const date = amzDate(new Date());
  const q = new URLSearchParams({
    'X-Amz-Date': date,
    'X-Amz-Expires': String(expiresS),
    'X-Amz-SignedHeaders': 'content-type;host',
    'X-Amz-Signature': s3Signature('PUT', key, contentType, date, String(expiresS)),
  });
  return `${rootUrl}${s3Path(key)}?${q}`;
};

const s3Error = (res, status, code, message, key, headers = {}) => {
  const esc = t => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const body = Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${esc(message)}</Message>` +
    `<Resource>${esc('/' + key)}</Resource>` +
    `<RequestId>${crypto.randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>`);
  res.writeHead(status, { ...headers, 'content-type': 'application/xml', 'content-length': body.length });
  res.end(body);
};

const s3Store = (key, body, contentType, contentEncoding) => {
  const obj = {
    body, contentType, contentEncoding, time: new Date(),
    etag: '"' + crypto.createHash('md5').update(body).digest('hex') + '"',
  };
  s3Objects.set(key, obj);
  return obj;
};

const s3Put = async (ctx, key, query) => {
  const { req, res } = ctx;
  const date = query['X-Amz-Date'], expires = query['X-Amz-Expires'], signature = query['X-Amz-Signature'];
  if (!date || !expires || !signature) {
    req.resume();
    return s3Error(res, 403, 'AccessDenied', 'Anonymous users cannot upload: a presigned URL is required', key);
  }
  const m = date.match(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/);
  const signedAt = m ? Date.UTC(m[1], m[2] - 1, m[3], m[4], m[5], m[6]) : NaN;
  if (!/^[0-9]+$/.test(expires) || isNaN(signedAt) || signedAt + Number(expires) * 1000 < Date.now()) {
    req.resume();
    return s3Error(res, 403, 'AccessDenied', 'Request has expired', key);
  }
  const contentType = req.headers['content-type'] || '';
  const expected = s3Signature('PUT', key, contentType, date, expires);
  if (signature.length !== expected.length ||
      !crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expected))) {
    req.resume();
    return s3Error(res, 403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided ' +
      `(signed Content-Type differs from "${contentType}"?)`, key);
  }
  if (req.headers['content-length'] === undefined) {
    req.resume();
    return s3Error(res, 411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.', key);
  }
  const body = await readBody(req, S3_LIMIT);
  if (body === null) {
    return s3Error(res, 400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', key);
  }
  const { etag } = s3Store(key, body, req.headers['content-type'] || 'binary/octet-stream',
    req.headers['content-encoding']);
  res.writeHead(200, { etag, 'content-length': 0 });
  res.end();
};

const s3Headers = obj => ({
  'content-type': obj.contentType,
  ...(obj.contentEncoding !== undefined ? { 'content-encoding': obj.contentEncoding } : {}),
  'content-length': obj.body.length,
  etag: obj.etag,
  'last-modified': obj.time.toUTCString(),
});

const serveS3 = async (ctx, rest) => {
  const { req, res } = ctx;
  let key;
  try {
    key = rest.split('/').map(decodeURIComponent).join('/');
  } catch (err) {
    req.resume();
    return s3Error(res, 400, 'InvalidURI', 'Couldn\'t parse the specified URI.', rest);
  }
  if (req.method === 'PUT') {
    return s3Put(ctx, key, req.query);
  }
  req.resume();
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return s3Error(res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', key,
      { allow: 'GET, HEAD, PUT' });
  }
  const obj = s3Objects.get(key);
  if (!obj) {
    return s3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.', key);
  }
  res.writeHead(200, s3Headers(obj));
  res.end(req.method === 'HEAD' ? undefined : obj.body);
};

// --- the Queue's worker side: tasks, runs, claims, artifacts ---

const tasks = new Map(); // taskId -> {taskId, def, runs, retriesLeft}, in creation order
const artifacts = new Map(); // "<taskId>/<runId>" -> Map name -> artifact
const objects = new Map(); // object name -> {projectId, uploadId, expires, hashes, finished}
const claimWaiters = new Set(); // claimWork long polls: {taskQueueId, wake}

const rootCredentials = () => ({
  clientId: 'static/taskcluster/root',
  accessToken: clients['static/taskcluster/root'].accessToken,
});

const lastRun = task => task.runs[task.runs.length - 1];
const taskState = task => task.runs.length ? lastRun(task).state : 'unscheduled';
const runArtifacts = (taskId, runId) => {
  const k = `${taskId}/${runId}`;
  if (!artifacts.has(k)) {
    artifacts.set(k, new Map());
  }
  return artifacts.get(k);
};
const artifactToObjectName = (taskId, runId, name) => `t/${taskId}/${runId}/${name}`;

const runJson = run => {
  const out = { runId: run.runId, state: run.state, reasonCreated: run.reasonCreated };
  for (const k of ['reasonResolved', 'workerGroup', 'workerId']) {
    if (run[k]) {
      out[k] = run[k];
    }
  }
  for (const k of ['takenUntil', 'scheduled', 'started', 'resolved']) {
    if (run[k]) {
      out[k] = run[k].toJSON();
    }
  }
  return out;
};

const taskStatus = task => ({
  taskId: task.taskId,
  provisionerId: task.def.provisionerId,
  workerType: task.def.workerType,
  taskQueueId: task.def.taskQueueId,
  schedulerId: task.def.schedulerId,
  projectId: task.def.projectId,
  taskGroupId: task.def.taskGroupId,
  deadline: task.def.deadline,
  expires: task.def.expires,
  retriesLeft: task.retriesLeft,
  state: taskState(task),
  runs: task.runs.map(runJson),
});

const addRun = (task, reasonCreated) => {
  task.runs.push({ runId: task.runs.length, state: 'pending', reasonCreated, scheduled: new Date() });
  for (const w of claimWaiters) {
    if (w.taskQueueId === task.def.taskQueueId) {
      w.wake();
    }
  }
};

const resolveRun = (run, state, reason) => {
  Object.assign(run, { state, reasonResolved: reason, resolved: new Date() });
};

// An unresolved task's end (cancel, deadline): its pending or running run,
// or a new one if it has none, resolves exception/<reason>.
const resolveUnfinished = (task, reason) => {
  if (task.runs.length === 0) {
    task.runs.push({ runId: 0, state: 'pending', reasonCreated: 'exception', scheduled: new Date() });
  }
  resolveRun(lastRun(task), 'exception', reason);
};

// A new run after an exception that the Queue retries (worker-shutdown,
// intermittent-task, claim-expired), while retries are left.
const retryTask = (task, reasonCreated) => {
  if (task.retriesLeft > 0 && new Date(task.def.deadline).getTime() > Date.now()) {
    task.retriesLeft--;
    addRun(task, reasonCreated);
  }
};

const dependenciesMet = task => task.def.dependencies.every(id => {
  const dep = tasks.get(id);
  const state = dep ? taskState(dep) : 'unscheduled';
  return task.def.requires === 'all-resolved' ?
    ['completed', 'failed', 'exception'].includes(state) : state === 'completed';
});

// What the Queue's background resolvers do (deadline resolver, claim
// resolver, dependency resolver), run before each request and every
// 100 ms, so that state is current whenever it is observed.
const tick = () => {
  const now = Date.now();
  for (const task of tasks.values()) {
    const state = taskState(task);
    if (!['unscheduled', 'pending', 'running'].includes(state)) {
      continue;
    }
    if (new Date(task.def.deadline).getTime() <= now) {
      resolveUnfinished(task, 'deadline-exceeded');
    } else if (state === 'running' && lastRun(task).takenUntil.getTime() <= now) {
      resolveRun(lastRun(task), 'exception', 'claim-expired');
      retryTask(task, 'retry');
    } else if (state === 'unscheduled' && dependenciesMet(task)) {
      addRun(task, 'scheduled');
    }
  }
};
setInterval(tick, 100).unref();

// Temporary credentials for a claimed run, as services/queue/src/task-creds.js
// issues them from the Queue's own (here: the root) client.
const issuedTaskCredentials = []; // for /_fake/task-credentials
const taskCredentials = (task, run) => {
  const c = issueTaskCredentials(task, run);
  issuedTaskCredentials.push({ taskId: task.taskId, runId: run.runId, ...c });
  return c;
};
const issueTaskCredentials = (task, run) => taskcluster.createTemporaryCredentials({
  clientId: ['task-client', task.taskId, `${run.runId}`, 'on', run.workerGroup, run.workerId,
    'until', `${run.takenUntil.getTime() / 1000}`].join('/'),
  start: new Date(),
  expiry: run.takenUntil,
  scopes: [
    `queue:reclaim-task:${task.taskId}/${run.runId}`,
    `queue:resolve-task:${task.taskId}/${run.runId}`,
    `queue:create-artifact:${task.taskId}/${run.runId}`,
  ].concat(task.def.scopes),
  credentials: rootCredentials(),
});

const claimRun = (task, workerGroup, workerId) => {
  const run = lastRun(task);
  Object.assign(run, {
    state: 'running', workerGroup, workerId, started: new Date(),
    takenUntil: new Date(Date.now() + opts.claimTimeoutS * 1000),
  });
  return {
    status: taskStatus(task),
    runId: run.runId,
    workerGroup,
    workerId,
    takenUntil: run.takenUntil.toJSON(),
    task: task.def,
    credentials: taskCredentials(task, run),
  };
};

// Pending tasks of a task queue, in the order the Queue hands them out:
// by priority, then by the time the run became pending.
const pendingTasks = taskQueueId => [...tasks.values()]
  .filter(t => t.def.taskQueueId === taskQueueId && taskState(t) === 'pending')
  .sort((a, b) => PRIORITY_LEVELS.indexOf(a.def.priority) - PRIORITY_LEVELS.indexOf(b.def.priority) ||
    lastRun(a).scheduled - lastRun(b).scheduled);

const waitForPending = (taskQueueId, ms, res) => new Promise(resolve => {
  const waiter = { taskQueueId };
  const timer = setTimeout(() => waiter.wake(), ms);
  waiter.wake = () => {
    clearTimeout(timer);
    claimWaiters.delete(waiter);
    res.off('close', waiter.wake);
    resolve();
  };
  res.once('close', waiter.wake);
  claimWaiters.add(waiter);
});

const findTask = (ctx, message) => {
  const task = tasks.get(ctx.params.taskId);
  if (!task) {
    reportError(ctx, 'ResourceNotFound', message, { taskId: ctx.params.taskId });
  }
  return task;
};

// The task and run of a worker call (reclaim, report*), or a 404.
const findRun = (ctx, taskMessage) => {
  const task = findTask(ctx, taskMessage);
  if (!task) {
    return {};
  }
  const runId = parseInt(ctx.params.runId, 10);
  const run = task.runs[runId];
  if (!run) {
    reportError(ctx, 'ResourceNotFound', 'Run {{runId}} not found on task `{{taskId}}`.',
      { taskId: task.taskId, runId });
    return {};
  }
  return { task, run, runId };
};

const NOT_RUNNING = 'Run {{runId}} on task `{{taskId}}` is resolved or not running.';

// reportCompleted / reportFailed (the Queue's resolveTask, services/queue/
// src/api.js): idempotent when the run already has the target state, so a
// worker whose report took effect but whose answer was lost gets 200 when
// it retries.
const resolveTask = target => async ctx => {
  const { task, run, runId } = findRun(ctx, 'Task `{{taskId}}` not found. Are you sure it was created?');
  if (!task) {
    return undefined;
  }
  if (run.state !== 'running' && run.state !== target) {
    return reportError(ctx, 'RequestConflict', 'Run {{runId}} of task `{{taskId}}` is not running or {{targetState}}.',
      { taskId: task.taskId, runId, targetState: target });
  }
  if (run.state === 'running') {
    resolveRun(run, target, target);
  }
  if (task.runs.length - 1 !== runId) {
    return reportError(ctx, 'RequestConflict', NOT_RUNNING, { taskId: task.taskId, runId });
  }
  return sendJson(ctx.res, 200, { status: taskStatus(task) }, ctx.headers);
};

// provisionerId/workerType and taskQueueId filled from each other, as
// createTask does; an [message, details] problem or null.
const taskQueueProblem = def => {
  if (def.provisionerId && def.workerType && def.taskQueueId) {
    if (`${def.provisionerId}/${def.workerType}` !== def.taskQueueId) {
      return ['taskQueueId must match "provisionerId/workerType"',
        { provisionerId: def.provisionerId, workerType: def.workerType, taskQueueId: def.taskQueueId }];
    }
  } else if (def.provisionerId && def.workerType) {
    def.taskQueueId = `${def.provisionerId}/${def.workerType}`;
  } else if (def.taskQueueId) {
    [def.provisionerId, def.workerType] = def.taskQueueId.split('/');
  } else {
    return ['at least a provisionerId and a workerType or a taskQueueId must be provided', {}];
  }
  return null;
};

// services/queue/src/api.js patchAndValidateTaskDef: the times checked
// (15 min drift, deadline within 5 days), expires defaulted to deadline +
// 1 year, dates normalized; an [message, details] problem or null.
const taskTimesProblem = def => {
  const now = Date.now(), drift = 15 * 60 * 1000;
  const created = new Date(def.created).getTime(), deadline = new Date(def.deadline).getTime();
  const problem =
    created < now - drift ? ['`created` cannot be in the past (max 15min drift)', { created: def.created }] :
    created > now + drift ? ['`created` cannot be in the future (max 15min drift)', { created: def.created }] :
    created > deadline ? ['`deadline` cannot be later than `created`', { created: def.created, deadline: def.deadline }] :
    deadline < now ? ['`deadline` cannot be in the past', { deadline: def.deadline }] :
    deadline - now > 5 * 24 * 3600 * 1000 + drift ?
      ['`deadline` cannot be more than 5 days into the future', { deadline: def.deadline }] : null;
  if (problem) {
    return problem;
  }
  if (!def.expires) {
    const expires = new Date(def.deadline);
    expires.setFullYear(expires.getFullYear() + 1);
    def.expires = expires.toJSON();
  }
  if (deadline > new Date(def.expires).getTime()) {
    return ['`expires` cannot be before `deadline`', { deadline: def.deadline, expires: def.expires }];
  }
  for (const k of ['created', 'deadline', 'expires']) {
    def[k] = new Date(def[k]).toJSON();
  }
  return null;
};

// The scopes createTask requires of a definition: its scopes, routes,
// project, schedulerId, and its priority or a higher one on its queue.
const createTaskScopes = def => {
  const priority = def.priority === 'normal' ? 'lowest' : def.priority;
  const priorities = PRIORITY_LEVELS.slice(0, PRIORITY_LEVELS.indexOf(priority) + 1);
  return {
    AllOf: [
      ...def.scopes,
      ...def.routes.map(r => `queue:route:${r}`),
      `queue:create-task:project:${def.projectId}`,
      `queue:scheduler-id:${def.schedulerId}`,
      { AnyOf: priorities.map(p => `queue:create-task:${p}:${def.provisionerId}/${def.workerType}`) },
    ],
  };
};

const TASK_DEFINITION_KEYS = ['provisionerId', 'workerType', 'taskQueueId', 'schedulerId', 'projectId',
  'taskGroupId', 'dependencies', 'requires', 'routes', 'priority', 'retries', 'created', 'deadline', 'expires',
  'scopes', 'payload', 'metadata', 'tags', 'extra'];

const createTask = async ctx => {
  const { taskId } = ctx.params;
  const def = ctx.body;
  let problem = taskQueueProblem(def);
  if (problem) {
    return reportError(ctx, 'InputError', ...problem);
  }
  def.projectId = def.projectId || 'none';
  def.taskGroupId = def.taskGroupId || taskId;
  await ctx.authorizer.authorize(createTaskScopes(def));
  problem = taskTimesProblem(def);
  if (problem) {
    return reportError(ctx, 'InputError', ...problem);
  }
  if (def.priority === 'normal') {
    def.priority = 'lowest';
  }
  if (def.scopes.some(scope => scope.endsWith('**'))) {
    return reportError(ctx, 'InputError', 'scopes must not end with `**`', {});
  }
  const missing = def.dependencies.filter(id => id !== taskId && !tasks.has(id));
  if (missing.length > 0) {
    return reportError(ctx, 'InputError', 'task.dependencies references non-existing tasks: {{taskIds}}',
      { taskIds: missing.join(', ') });
  }

  // the definition as the Queue returns it (task.definition())
  const stored = Object.fromEntries(TASK_DEFINITION_KEYS.map(k => [k, def[k]]));
  const existing = tasks.get(taskId);
  if (existing) {
    if (canonical(existing.def) !== canonical(stored)) {
      return reportError(ctx, 'RequestConflict',
        'taskId `{{taskId}}` already used by another task.\nThis could be the result of faulty idempotency!',
        { taskId });
    }
    return sendJson(ctx.res, 200, { status: taskStatus(existing) }, ctx.headers);
  }
  const task = { taskId, def: stored, runs: [], retriesLeft: stored.retries };
  tasks.set(taskId, task);
  if (dependenciesMet(task)) {
    addRun(task, 'scheduled');
  }
  return sendJson(ctx.res, 200, { status: taskStatus(task) }, ctx.headers);
};

const cancelTask = async ctx => {
  const task = findTask(ctx, 'Task `{{taskId}}` not found. Are you sure it was created?');
  if (!task) {
    return undefined;
  }
  const { schedulerId, taskGroupId, projectId } = task.def;
  await ctx.authorizer.authorize({
    AnyOf: [
      `queue:cancel-task:${schedulerId}/${taskGroupId}/${task.taskId}`,
      `queue:cancel-task-in-project:${projectId}`,
      { AllOf: ['queue:cancel-task', `assume:scheduler-id:${schedulerId}/${taskGroupId}`] },
    ],
  });
  if (new Date(task.def.deadline).getTime() < Date.now()) {
    return reportError(ctx, 'RequestConflict', 'Task `{{taskId}}` can\'t be canceled past its deadline of {{deadline}}.',
      { taskId: task.taskId, deadline: task.def.deadline });
  }
  if (['unscheduled', 'pending', 'running'].includes(taskState(task))) {
    resolveUnfinished(task, 'canceled');
  }
  return sendJson(ctx.res, 200, { status: taskStatus(task) }, ctx.headers);
};

const claimWork = async ctx => {
  const { taskQueueId } = ctx.params;
  const { workerGroup, workerId, tasks: count } = ctx.body;
  await ctx.authorizer.authorize({
    AllOf: [`queue:claim-work:${taskQueueId}`, `queue:worker-id:${workerGroup}/${workerId}`],
  });
  const until = Date.now() + opts.claimWaitMs;
  let closed = false;
  ctx.res.once('close', () => {
    closed = true;
  });
  for (;;) {
    tick();
    if (closed) {
      return;
    }
    const claims = pendingTasks(taskQueueId).slice(0, count).map(t => claimRun(t, workerGroup, workerId));
    if (claims.length > 0 || Date.now() >= until) {
      return sendJson(ctx.res, 200, { tasks: claims }, ctx.headers);
    }
    await waitForPending(taskQueueId, until - Date.now(), ctx.res);
  }
};

const reclaimTask = async ctx => {
  const { task, run, runId } = findRun(ctx, 'Task `{{taskId}}` not found. Are you sure it was created?');
  if (!task) {
    return undefined;
  }
  if (new Date(task.def.deadline).getTime() <= Date.now()) {
    return reportError(ctx, 'RequestConflict', 'Task `{{taskId}}` can\'t be reclaimed past its deadline of {{deadline}}.',
      { taskId: task.taskId, deadline: task.def.deadline });
  }
  if (task.runs.length - 1 !== runId || run.state !== 'running') {
    return reportError(ctx, 'RequestConflict', NOT_RUNNING, { taskId: task.taskId, runId });
  }
  run.takenUntil = new Date(Date.now() + opts.claimTimeoutS * 1000);
  return sendJson(ctx.res, 200, {
    status: taskStatus(task),
    runId,
    workerGroup: run.workerGroup,
    workerId: run.workerId,
    takenUntil: run.takenUntil.toJSON(),
    credentials: taskCredentials(task, run),
  }, ctx.headers);
};

const reportException = async ctx => {
  const { task, run, runId } = findRun(ctx, 'Task `{{taskId}}` not found. Are you sure it exists?');
  if (!task) {
    return undefined;
  }
  const { reason } = ctx.body;
  if (run.state === 'running') {
    resolveRun(run, 'exception', reason);
    if (reason === 'worker-shutdown') {
      retryTask(task, 'retry');
    } else if (reason === 'intermittent-task') {
      retryTask(task, 'task-retry');
    }
  }
  if (run.state !== 'exception' || run.reasonResolved !== reason || task.runs.length - 1 > runId + 1) {
    return reportError(ctx, 'RequestConflict', NOT_RUNNING, { taskId: task.taskId, runId });
  }
  return sendJson(ctx.res, 200, { status: taskStatus(task) }, ctx.headers);
};

// services/queue/src/artifacts.js createArtifactCallsCompatible
const artifactCallsCompatible = (original, { storageType, contentType, expires, details }) => {
  if (storageType !== 'link' && original.contentType !== contentType) {
    return false;
  }
  if (original.expires.getTime() > expires.getTime()) {
    return false;
  }
  if (original.storageType === storageType) {
    return storageType === 'reference' || canonical(original.details) === canonical(details);
  }
  return original.storageType === 'reference' && storageType === 'link';
};

// What createArtifact checks before it looks at existing artifacts: an
// [code, message, details] problem or null.
const artifactRunProblem = (task, run, expires) => {
  if (expires.getTime() < Date.now() - 15 * 60 * 1000) {
    return ['InputError', 'Expires must be in the future', {}];
  }
  if (!task) {
    return ['InputError', 'Task not found', {}];
  }
  if (!run) {
    return ['InputError', 'Run not found', {}];
  }
  if (!run.workerGroup || !run.workerId) {
    return ['InputError', 'Run was not claimed by a worker and so no artifacts can exist', {}];
  }
  if (expires.getTime() > new Date(task.def.expires).getTime()) {
    return ['InputError',
      'Artifact expires ({{expires}}) after the task expiration {{taskExpires}} (task.expires < expires) - ' +
      'this is not allowed, artifacts may not expire after the task they belong to expires',
      { taskExpires: task.def.expires, expires: expires.toJSON() }];
  }
  // artifacts may still come up to 25 min after an exception (logs)
  if (run.state !== 'running' &&
      !(run.state === 'exception' && run.resolved.getTime() > Date.now() - 25 * 60 * 1000)) {
    return ['RequestConflict',
      'Artifacts cannot be created for a task after it is resolved, unless it is resolved \'exception\', ' +
      'and even in this case only up to 25 min past resolution.This to ensure that artifacts have been ' +
      'uploaded before a task is \'completed\' and output is consumed by a dependent task\n\nTask status: {{status}}',
      { status: taskStatus(task) }];
  }
  return null;
};

// An artifact's details as the Queue stores them, by storage type.
const artifactDetails = (input, taskId, runId, name) => {
  switch (input.storageType) {
    case 'object':
      return { uploadId: taskcluster.slugid() };
    case 's3':
      return {
        bucket: /^public\//.test(name) ? 'public-artifacts' : 'private-artifacts',
        prefix: `${taskId}/${runId}/${name}`,
      };
    case 'reference':
      return { url: input.url };
    case 'link':
      return { artifact: input.artifact };
    default:
      return { message: input.message, reason: input.reason };
  }
};

// createArtifact's answer for an artifact created or re-created.
const artifactCreated = (task, run, artifact) => {
  const { storageType, contentType, expires, details } = artifact;
  if (storageType === 'object') {
    const objectName = artifactToObjectName(task.taskId, run.runId, artifact.name);
    const oneDay = Date.now() + 24 * 3600 * 1000;
    return {
      storageType: 'object',
      name: objectName,
      projectId: task.def.projectId,
      uploadId: details.uploadId,
      expires: expires.toJSON(),
      credentials: taskcluster.createTemporaryCredentials({
        clientId: `artifact-upload/${task.taskId}/${run.runId}/on/${run.workerGroup}/${run.workerId}`,
        start: new Date(),
        expiry: expires.getTime() < oneDay ? expires : new Date(oneDay),
        scopes: [`object:upload:${task.def.projectId}:${objectName}`],
        credentials: rootCredentials(),
      }),
    };
  }
  if (storageType === 's3') {
    return {
      storageType: 's3',
      contentType,
      expires: new Date(Date.now() + 45 * 60 * 1000).toJSON(),
      putUrl: s3PutUrl(`artifacts/${details.prefix}`, contentType, 45 * 60 + 10),
    };
  }
  return { storageType };
};

const createArtifact = async ctx => {
  const { taskId, name } = ctx.params;
  const runId = parseInt(ctx.params.runId, 10);
  const input = ctx.body;
  const { storageType } = input;
  const contentType = input.contentType || 'application/binary';
  const expires = new Date(input.expires);
  const task = tasks.get(taskId);
  const run = task && task.runs[runId];
  const problem = artifactRunProblem(task, run, expires);
  if (problem) {
    return reportError(ctx, ...problem);
  }
  const details = artifactDetails(input, taskId, runId, name);
  const list = runArtifacts(taskId, runId);
  let artifact = list.get(name);
  if (artifact) {
    if (!artifactCallsCompatible(artifact, { storageType, contentType, expires, details })) {
      return reportError(ctx, 'RequestConflict',
        'Artifact already exists with different properties, and none of the allowed exceptions apply: ' +
        '{{originalArtifact}}', {
          originalArtifact: {
            storageType: artifact.storageType, contentType: artifact.contentType, expires: artifact.expires,
          },
        });
    }
    Object.assign(artifact, { storageType, expires, details });
  } else {
    if (storageType === 'object') {
      // the Queue "locks in" the upload with the object service
      const objectName = artifactToObjectName(taskId, runId, name);
      if (objects.has(objectName)) {
        return reportError(ctx, 'RequestConflict', 'Object already exists', { name: objectName });
      }
      objects.set(objectName, {
        projectId: task.def.projectId, uploadId: details.uploadId, expires, hashes: {}, finished: false,
      });
    }
    artifact = {
      name, storageType, contentType, expires, details,
      present: storageType !== 'object',
      contentLength: input.contentLength === undefined ? null : input.contentLength,
    };
    list.set(name, artifact);
  }
  return sendJson(ctx.res, 200, artifactCreated(task, run, artifact), ctx.headers);
};

const finishArtifact = async ctx => {
  const { taskId, name } = ctx.params;
  const runId = parseInt(ctx.params.runId, 10);
  const task = tasks.get(taskId);
  const artifact = runArtifacts(taskId, runId).get(name);
  if (!artifact || !task || !task.runs[runId]) {
    return reportError(ctx, 'ResourceNotFound',
      'Artifact with taskId `{{taskId}}`, runId {{runId}}, name `{{name}}` not found', { taskId, runId, name });
  }
  if (artifact.storageType !== 'object') {
    return reportError(ctx, 'InputError', 'Only object artifacts can be finished', {});
  }
  if (artifact.present) {
    return noContent(ctx);
  }
  if (ctx.body.uploadId !== artifact.details.uploadId) {
    return reportError(ctx, 'InputError', 'given uploadId does not match that for the artifact', {});
  }
  const object = objects.get(artifactToObjectName(taskId, runId, name));
  if (!object || !object.finished) {
    return reportError(ctx, 'InputError', 'Object storing artifact data does not exist', {});
  }
  artifact.present = true;
  artifact.details = {};
  return noContent(ctx);
};

// getArtifact / getLatestArtifact for a task created here: links
// followed (each name authorized), then the storage type's answer.
const artifactDownload = async (ctx, task, runId, firstName) => {
  const names = [];
  let name = firstName, artifact;
  for (;;) {
    names.push(name);
    await ctx.authorizer.authorize({ AllOf: names.map(n => `queue:get-artifact:${n}`) });
    artifact = runArtifacts(task.taskId, runId).get(name);
    if (!artifact || !artifact.present) {
      return reportError(ctx, 'ResourceNotFound', 'Artifact not found', {});
    }
    if (artifact.expires.getTime() < Date.now()) {
      return reportError(ctx, 'ResourceExpired', 'Artifact expired', {});
    }
    if (artifact.storageType !== 'link') {
      break;
    }
    name = artifact.details.artifact;
    if (names.includes(name)) {
      return reportError(ctx, 'InputError', 'Artifact leads to a link cycle', {});
    }
  }
  const { storageType } = artifact;
  const headers = { ...ctx.headers, 'x-taskcluster-artifact-storage-type': storageType };
  if (storageType === 'error') {
    return sendJson(ctx.res, 424, { reason: artifact.details.reason, message: artifact.details.message }, headers);
  }
  const url = storageType === 'reference' ? artifact.details.url :
    storageType === 's3' ? s3GetUrl(`artifacts/${task.taskId}/${runId}/${artifact.name}`) :
    s3GetUrl(`objects/${artifactToObjectName(task.taskId, runId, artifact.name)}`);
  return sendJson(ctx.res, 303, { storageType, url }, { ...headers, location: url });
};

// The latest runId of a task, or a 404.
const latestRunId = (ctx, task) => {
  if (!task) {
    reportError(ctx, 'ResourceNotFound', 'Task not found', {});
    return null;
  }
  if (task.runs.length === 0) {
    reportError(ctx, 'ResourceNotFound', 'Task doesn\'t have any runs', {});
    return null;
  }
  return task.runs.length - 1;
};

const listArtifacts = async (ctx, task, runId) => {
  const limit = Math.min(1000, parseInt(ctx.req.query.limit || '1000', 10) || 1000);
  const offset = parseInt(ctx.req.query.continuationToken || '0', 10) || 0;
  const all = [...runArtifacts(task.taskId, runId).values()].filter(a => a.present)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const page = all.slice(offset, offset + limit);
  const result = {
    artifacts: page.map(a => ({
      storageType: a.storageType, name: a.name, expires: a.expires.toJSON(), contentType: a.contentType,
    })),
  };
  if (offset + limit < all.length) {
    result.continuationToken = String(offset + limit);
  }
  sendJson(ctx.res, 200, result, ctx.headers);
};

// --- the object service ---

const createUpload = async ctx => {
  const { projectId, uploadId, expires, hashes, proposedUploadMethods } = ctx.body;
  const { name } = ctx.params;
  await ctx.authorizer.authorize(`object:upload:${projectId}:${name}`);
  let object = objects.get(name);
  if (object && (object.finished || object.uploadId !== uploadId || object.projectId !== projectId ||
      object.expires.getTime() !== new Date(expires).getTime())) {
    return reportError(ctx, 'RequestConflict', 'Object already exists', { name, projectId });
  }
  if (!object) {
    object = { projectId, uploadId, expires: new Date(expires), hashes: {}, finished: false };
    objects.set(name, object);
  }
  for (const [algo, hash] of Object.entries(hashes || {})) {
    if (object.hashes[algo] && object.hashes[algo] !== hash) {
      return reportError(ctx, 'RequestConflict', 'Content hash already exists with a different value', { name });
    }
    object.hashes[algo] = hash;
  }
  let uploadMethod = {};
  if (proposedUploadMethods.dataInline) {
    const { contentType, objectData } = proposedUploadMethods.dataInline;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(objectData)) {
      return reportError(ctx, 'InputError', 'Invalid base64 objectData', {});
    }
    s3Store(`objects/${name}`, Buffer.from(objectData, 'base64'), contentType, undefined);
    uploadMethod = { dataInline: true };
  } else if (proposedUploadMethods.putUrl) {
    const { contentType, contentLength } = proposedUploadMethods.putUrl;
    uploadMethod = {
      putUrl: {
        url: s3PutUrl(`objects/${name}`, contentType, 45 * 60 + 10),
        expires: new Date(Date.now() + 45 * 60 * 1000).toJSON(),
        headers: { 'Content-Type': contentType, 'Content-Length': String(contentLength) },
      },
    };
  }
  return sendJson(ctx.res, 200, { projectId, uploadId, expires, uploadMethod }, ctx.headers);
};

const finishUpload = async ctx => {
  const { projectId, uploadId, hashes = {} } = ctx.body;
  const { name } = ctx.params;
  await ctx.authorizer.authorize(`object:upload:${projectId}:${name}`);
  const object = objects.get(name);
  if (!object) {
    return reportError(ctx, 'ResourceNotFound', 'Object "{{name}}" not found', { name });
  }
  if (object.projectId !== projectId) {
    return reportError(ctx, 'InputError', 'Object "{{name}}" does not have projectId {{projectId}}', { name, projectId });
  }
  if (object.finished) {
    for (const [algo, hash] of Object.entries(hashes)) {
      if (object.hashes[algo] !== hash) {
        return reportError(ctx, 'RequestConflict', object.hashes[algo] ?
          'Object "{{name}}" is already finished, but with a different hash for algorithm {{algo}}' :
          'Object "{{name}}" is already finished, but without hash algorithm {{algo}}', { name, algo });
      }
    }
    return sendJson(ctx.res, 200, {}, ctx.headers);
  }
  if (object.uploadId !== uploadId) {
    return reportError(ctx, 'RequestConflict', 'Object "{{name}}" does not have uploadId {{uploadId}}', { name, uploadId });
  }
  const merged = { ...object.hashes };
  for (const [algo, hash] of Object.entries(hashes)) {
    if (merged[algo] && merged[algo] !== hash) {
      return reportError(ctx, 'RequestConflict', 'Content hash already exists with a different value', { name });
    }
    merged[algo] = hash;
  }
  // tc-fake is stricter than the real service here: the data must be there
  // and match every hash given
  const stored = s3Objects.get(`objects/${name}`);
  if (!stored) {
    return reportError(ctx, 'RequestConflict', 'tc-fake: no data was uploaded for object "{{name}}"', { name });
  }
  for (const [algo, hash] of Object.entries(merged)) {
    const actual = crypto.createHash(algo).update(stored.body).digest('hex');
    if (actual !== hash) {
      return reportError(ctx, 'RequestConflict',
        'tc-fake: the {{algo}} hash given for object "{{name}}" is {{hash}}, the uploaded data\'s is {{actual}}',
        { name, algo, hash, actual });
    }
  }
  object.hashes = merged;
  object.finished = true;
  return sendJson(ctx.res, 200, {}, ctx.headers);
};

// --- worker-manager ---

const workerManager = { terminateAfterCalls: opts.terminateAfterCalls, calls: 0 };

const API_ENTRIES = [
  {
    service: 'auth', method: 'get', route: '/scopes/current', name: 'currentScopes',
    scopes: () => 'auth:current-scopes',
    handler: async ctx => sendJson(ctx.res, 200, { scopes: await ctx.authorizer.scopes() }, ctx.headers),
  },
  {
    service: 'auth', method: 'post', route: '/test-authenticate', name: 'testAuthenticate',
    scopes: null, // the handler authenticates against its own `tester`
    input: validator(SCHEMAS.testAuthenticate),
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
    input: validator(SCHEMAS.secretSet),
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
  {
    service: 'queue', method: 'put', route: '/task/:taskId', name: 'createTask',
    deferred: true, // scopes depend on the definition
    params: { taskId: SLUGID_PATTERN },
    input: validator(SCHEMAS.createTask),
    handler: createTask,
  },
  {
    service: 'queue', method: 'get', route: '/task/:taskId', name: 'task',
    scopes: p => `queue:get-task:${p.taskId}`,
    params: { taskId: SLUGID_PATTERN },
    handler: async ctx => {
      const task = findTask(ctx,
        '`{{taskId}}` does not correspond to a task that exists.\nAre you sure this task has already been submitted?');
      if (task) {
        sendJson(ctx.res, 200, task.def, ctx.headers);
      }
    },
  },
  {
    service: 'queue', method: 'get', route: '/task/:taskId/status', name: 'status',
    scopes: p => `queue:status:${p.taskId}`,
    params: { taskId: SLUGID_PATTERN },
    handler: async ctx => {
      const task = findTask(ctx, '`{{taskId}}` does not correspond to a task that exists.\nAre you sure this task exists?');
      if (task) {
        sendJson(ctx.res, 200, { status: taskStatus(task) }, ctx.headers);
      }
    },
  },
  {
    service: 'queue', method: 'post', route: '/task/:taskId/cancel', name: 'cancelTask',
    deferred: true, // scopes depend on the task's schedulerId, taskGroupId, projectId
    params: { taskId: SLUGID_PATTERN },
    handler: cancelTask,
  },
  {
    service: 'queue', method: 'post', route: '/claim-work/:taskQueueId(*)', name: 'claimWork',
    deferred: true, // scopes depend on the body
    params: { taskQueueId: TASK_QUEUE_ID_PATTERN },
    input: validator(SCHEMAS.claimWork),
    handler: claimWork,
  },
  {
    service: 'queue', method: 'post', route: '/task/:taskId/runs/:runId/reclaim', name: 'reclaimTask',
    scopes: p => `queue:reclaim-task:${p.taskId}/${p.runId}`,
    params: { taskId: SLUGID_PATTERN, runId: RUN_ID_PATTERN },
    handler: reclaimTask,
  },
  {
    service: 'queue', method: 'post', route: '/task/:taskId/runs/:runId/completed', name: 'reportCompleted',
    scopes: p => `queue:resolve-task:${p.taskId}/${p.runId}`,
    params: { taskId: SLUGID_PATTERN, runId: RUN_ID_PATTERN },
    handler: resolveTask('completed'),
  },
  {
    service: 'queue', method: 'post', route: '/task/:taskId/runs/:runId/failed', name: 'reportFailed',
    scopes: p => `queue:resolve-task:${p.taskId}/${p.runId}`,
    params: { taskId: SLUGID_PATTERN, runId: RUN_ID_PATTERN },
    handler: resolveTask('failed'),
  },
  {
    service: 'queue', method: 'post', route: '/task/:taskId/runs/:runId/exception', name: 'reportException',
    scopes: p => `queue:resolve-task:${p.taskId}/${p.runId}`,
    params: { taskId: SLUGID_PATTERN, runId: RUN_ID_PATTERN },
    input: validator(SCHEMAS.reportException),
    handler: reportException,
  },
  {
    service: 'queue', method: 'post', route: '/task/:taskId/runs/:runId/artifacts/:name(*)', name: 'createArtifact',
    scopes: p => `queue:create-artifact:${p.taskId}/${p.runId}`,
    params: { taskId: SLUGID_PATTERN, runId: RUN_ID_PATTERN, name: ARTIFACT_NAME_PATTERN },
    input: validateArtifactRequest,
    handler: createArtifact,
  },
  {
    service: 'queue', method: 'put', route: '/task/:taskId/runs/:runId/artifacts/:name(*)', name: 'finishArtifact',
    scopes: p => `queue:create-artifact:${p.taskId}/${p.runId}`,
    params: { taskId: SLUGID_PATTERN, runId: RUN_ID_PATTERN, name: ARTIFACT_NAME_PATTERN },
    input: validator(SCHEMAS.finishArtifact),
    handler: finishArtifact,
  },
  {
    service: 'queue', method: 'get', route: '/task/:taskId/runs/:runId/artifacts', name: 'listArtifacts',
    scopes: p => `queue:list-artifacts:${p.taskId}:${p.runId}`,
    params: { taskId: SLUGID_PATTERN, runId: RUN_ID_PATTERN },
    query: ['continuationToken', 'limit'],
    handler: async ctx => {
      const task = tasks.get(ctx.params.taskId);
      const latest = latestRunId(ctx, task);
      const runId = parseInt(ctx.params.runId, 10);
      if (latest === null) {
        return undefined;
      }
      if (runId > latest) {
        return reportError(ctx, 'ResourceNotFound', 'Task with taskId: `{{taskId}}` has no run with runId: {{runId}}',
          { taskId: task.taskId, runId });
      }
      return listArtifacts(ctx, task, runId);
    },
  },
  {
    service: 'queue', method: 'get', route: '/task/:taskId/artifacts', name: 'listLatestArtifacts',
    scopes: p => `queue:list-artifacts:${p.taskId}`,
    params: { taskId: SLUGID_PATTERN },
    query: ['continuationToken', 'limit'],
    handler: async ctx => {
      const task = tasks.get(ctx.params.taskId);
      const latest = latestRunId(ctx, task);
      return latest === null ? undefined : listArtifacts(ctx, task, latest);
    },
  },
  {
    service: 'object', method: 'put', route: '/upload/:name', name: 'createUpload',
    deferred: true, // the scope names the body's projectId
    params: { name: ARTIFACT_NAME_PATTERN },
    input: validator(SCHEMAS.createUpload),
    handler: createUpload,
  },
  {
    service: 'object', method: 'post', route: '/finish-upload/:name', name: 'finishUpload',
    deferred: true,
    params: { name: ARTIFACT_NAME_PATTERN },
    input: validator(SCHEMAS.finishUpload),
    handler: finishUpload,
  },
  {
    service: 'object', method: 'get', route: '/download/:name(*)', name: 'download',
    scopes: p => `object:download:${p.name}`,
    params: { name: ARTIFACT_NAME_PATTERN },
    handler: async ctx => {
      const object = objects.get(ctx.params.name);
      if (!object || !object.finished) {
        return reportError(ctx, 'ResourceNotFound', 'Object "{{name}}" not found', { name: ctx.params.name });
      }
      const url = s3GetUrl(`objects/${ctx.params.name}`);
      return sendJson(ctx.res, 303, { method: 'simple', url }, { ...ctx.headers, location: url });
    },
  },
  {
    service: 'worker-manager', method: 'get', route: '/workers/:workerPoolId/:workerGroup/:workerId/should-terminate',
    name: 'shouldWorkerTerminate',
    scopes: p => `worker-manager:should-worker-terminate:${p.workerPoolId}/${p.workerGroup}/${p.workerId}`,
    handler: async ctx => {
      workerManager.calls++;
      const n = workerManager.terminateAfterCalls;
      const terminate = n > 0 && workerManager.calls >= n;
      sendJson(ctx.res, 200, {
        terminate,
        reason: terminate ? `tc-fake: terminate from call ${n} on (this is call ${workerManager.calls})` :
          'tc-fake: worker is running',
      }, ctx.headers);
    },
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
    const errors = Object.keys(req.query).filter(k => k !== 'bewit' && !(entry.query || []).includes(k))
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

// --- tc-fake's admin endpoints (/_fake/; unauthenticated, for tests) ---

const calls = []; // every request but /_fake/ ones, in order
let callSeq = 0;
const faults = []; // {id, method, path (RegExp), status, count, drop}
let faultSeq = 0;

const takeFault = (method, path) => {
  const fault = faults.find(f => f.count > 0 && (!f.method || f.method === method) && f.path.test(path));
  if (fault) {
    fault.count--;
  }
  return fault;
};

const storedSummary = key => {
  const obj = s3Objects.get(key);
  return obj ? {
    size: obj.body.length,
    sha256: crypto.createHash('sha256').update(obj.body).digest('hex'),
    contentType: obj.contentType,
    contentEncoding: obj.contentEncoding === undefined ? null : obj.contentEncoding,
  } : null;
};

// The S3 key an artifact's bytes live under (s3 and object artifacts).
const artifactKey = (taskId, runId, a) =>
  a.storageType === 's3' ? `artifacts/${taskId}/${runId}/${a.name}` :
  a.storageType === 'object' ? `objects/${artifactToObjectName(taskId, runId, a.name)}` : null;

const adminBody = raw => {
  try {
    const body = JSON.parse(raw.toString('utf-8') || '{}');
    return body && typeof body === 'object' && !Array.isArray(body) ? body : null;
  } catch (err) {
    return null;
  }
};

const ADMIN = [
  ['GET', /^calls$/, async (ctx) => {
    const since = parseInt(ctx.req.query.since || '0', 10) || 0;
    sendJson(ctx.res, 200, { calls: calls.filter(c => c.seq > since) });
  }],
  ['DELETE', /^calls$/, async ctx => {
    calls.length = 0;
    sendJson(ctx.res, 200, {});
  }],
  ['GET', /^faults$/, async ctx => sendJson(ctx.res, 200, {
    faults: faults.map(f => ({ ...f, path: f.path.source })),
  })],
  ['POST', /^faults$/, async (ctx, m, body) => {
    let path;
    try {
      path = new RegExp(body.path);
    } catch (err) {
      path = null;
    }
    const status = body.status === undefined ? 500 : body.status;
    const n = body.count === undefined ? 1 : body.count;
    const drop = body.drop === undefined ? null : body.drop;
    const delayMs = body.delayMs;
    if (typeof body.path !== 'string' || !path || !Number.isInteger(status) || status < 400 || status > 599 ||
        !Number.isInteger(n) || n < 1 || (body.method !== undefined && typeof body.method !== 'string') ||
        (drop !== null && ((drop !== 'before' && drop !== 'after') || body.status !== undefined)) ||
        (delayMs !== undefined && (!Number.isInteger(delayMs) || delayMs < 1 || delayMs > 600000 ||
          body.status !== undefined || drop !== null))) {
      return sendJson(ctx.res, 400, { code: 'InputError',
        message: 'tc-fake: a fault is {"path": "<regexp>", "method"?: "PUT", ' +
          '"status"?: 400..599 (500), "count"?: n >= 1 (1), "drop"?: "before"|"after" (no status then), ' +
          '"delayMs"?: 1..600000 (no status or drop then)}' });
    }
    const fault = { id: ++faultSeq, method: body.method ? body.method.toUpperCase() : null, path, status, count: n,
      drop, ...(delayMs !== undefined ? { delayMs } : {}) };
    faults.push(fault);
    return sendJson(ctx.res, 200, { id: fault.id });
  }],
  ['DELETE', /^faults$/, async ctx => {
    faults.length = 0;
    sendJson(ctx.res, 200, {});
  }],
  ['GET', /^worker-manager$/, async ctx => sendJson(ctx.res, 200, workerManager)],
  ['PUT', /^worker-manager$/, async (ctx, m, body) => {
    if (!Number.isInteger(body.terminateAfterCalls) || body.terminateAfterCalls < 0) {
      return sendJson(ctx.res, 400, { code: 'InputError', message: 'tc-fake: expected {"terminateAfterCalls": n >= 0}' });
    }
    Object.assign(workerManager, { terminateAfterCalls: body.terminateAfterCalls, calls: 0 });
    return sendJson(ctx.res, 200, workerManager);
  }],
  ['GET', /^task-credentials\/([^/]+)\/([0-9]+)$/, async (ctx, m) => sendJson(ctx.res, 200, {
    credentials: issuedTaskCredentials.filter(c => c.taskId === m[1] && c.runId === Number(m[2]))
      .map(({ clientId, accessToken, certificate }) => ({ clientId, accessToken, certificate })),
  })],
  ['GET', /^s3$/, async ctx => sendJson(ctx.res, 200, {
    objects: [...s3Objects.keys()].sort().map(key => ({ key, ...storedSummary(key) })),
  })],
  ['GET', /^artifacts\/([^/]+)$/, async (ctx, m) => {
    const task = tasks.get(m[1]);
    if (!task) {
      return sendJson(ctx.res, 404, { code: 'ResourceNotFound', message: `tc-fake: no task ${m[1]}` });
    }
    return sendJson(ctx.res, 200, {
      taskId: task.taskId,
      runs: task.runs.map(run => ({
        runId: run.runId,
        artifacts: [...runArtifacts(task.taskId, run.runId).values()].map(a => ({
          name: a.name,
          storageType: a.storageType,
          contentType: a.contentType,
          contentLength: a.contentLength,
          expires: a.expires.toJSON(),
          present: a.present,
          details: a.details,
          stored: artifactKey(task.taskId, run.runId, a) && storedSummary(artifactKey(task.taskId, run.runId, a)),
        })),
      })),
    });
  }],
  ['GET', /^artifact\/([^/]+)\/([0-9]+)\/(.+)$/, async (ctx, m) => {
    const a = runArtifacts(m[1], Number(m[2])).get(m[3]);
    const obj = a && artifactKey(m[1], Number(m[2]), a) && s3Objects.get(artifactKey(m[1], Number(m[2]), a));
    if (!obj) {
      return sendJson(ctx.res, 404, { code: 'ResourceNotFound',
        message: a ? `tc-fake: artifact ${m[3]} (${a.storageType}) has no stored bytes` :
          `tc-fake: no artifact ${m[3]} on ${m[1]} run ${m[2]}` });
    }
    ctx.res.writeHead(200, { ...s3Headers(obj), 'x-fake-storage-type': a.storageType });
    return ctx.res.end(obj.body);
  }],
];

const serveAdmin = async (ctx, rest) => {
  let path;
  try {
    path = rest.split('/').map(decodeURIComponent).join('/');
  } catch (err) {
    path = null;
  }
  const raw = await readBody(ctx.req, API_INPUT_LIMIT);
  const body = raw === null ? null : adminBody(raw);
  for (const [method, pattern, fn] of ADMIN) {
    const m = path !== null && path.match(pattern);
    if (m && method === ctx.req.method) {
      if (body === null) {
        return sendJson(ctx.res, 400, { code: 'MalformedPayload', message: 'tc-fake: the body must be a JSON object' });
      }
      return fn(ctx, m, body);
    }
  }
  return sendJson(ctx.res, 404, {
    code: 'ResourceNotFound', message: `tc-fake: no admin endpoint ${ctx.req.method} /_fake/${rest}`,
  });
};

const recordCall = (ctx, time, injected, dropped) => {
  const { req, res } = ctx;
  const result = ctx.authorizer && ctx.authorizer.result;
  const headers = {};
  for (const h of ['content-type', 'content-encoding', 'content-length', 'transfer-encoding']) {
    if (req.headers[h] !== undefined) {
      headers[h] = req.headers[h];
    }
  }
  // the body as received (ctx.body has the schema's defaults filled in)
  let body = null;
  try {
    body = req.text ? JSON.parse(req.text) : null;
  } catch (err) {
    body = null; // answered MalformedPayload
  }
  if (body !== null && ctx.entry && ctx.entry.cleanPayload) {
    body = ctx.entry.cleanPayload(body);
  }
  calls.push({
    seq: ++callSeq,
    time,
    method: req.method,
    target: req.url,
    api: ctx.api || null,
    clientId: result && result.status === 'auth-success' ? result.clientId : null,
    status: res.headersSent || dropped === 'after' ? res.statusCode : null,
    body,
    headers,
    ...(injected ? { injected: true } : {}),
    ...(dropped ? { dropped } : {}),
  });
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

    if (path.startsWith('/_fake/')) {
      return serveAdmin(ctx, path.slice('/_fake/'.length));
    }
    let injected = false, dropped = null;
    res.on('close', () => recordCall(ctx, time, injected, dropped));
    tick();
    const fault = takeFault(req.method, path);
    if (fault && fault.delayMs) {
      await new Promise(resolve => setTimeout(resolve, fault.delayMs));
    } else if (fault && fault.drop === 'before') {
      injected = true;
      dropped = 'before';
      req.socket.destroy();
      return;
    }
    if (fault && fault.drop === 'after') {
      // Served as usual, but whatever would answer destroys the
      // connection instead.
      injected = true;
      dropped = 'after';
      res.write = res.end = () => {
        req.socket.destroy();
        return res;
      };
    } else if (fault && !fault.delayMs) {
      injected = true;
      req.resume();
      const message = `tc-fake: injected fault ${fault.id} (${fault.count} more to come)`;
      return path.startsWith('/s3/') ? s3Error(res, fault.status, 'InternalError', message, path.slice(4)) :
        sendJson(res, fault.status, { code: 'InternalServerError', message });
    }
    if (path.startsWith('/s3/')) {
      ctx.api = `s3.${req.method.toLowerCase()}`;
      return serveS3(ctx, path.slice('/s3/'.length));
    }
    if (path.startsWith('/fake-storage/')) {
      ctx.api = 'fake-storage';
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
    ctx.api = found.entry.fake ? found.entry.name : `${found.entry.service}.${found.entry.name}`;
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
