#!/usr/bin/env node
// Reclaims against tc-fake with a short claim timeout (reclaim.sh): a
// task longer than two claim timeouts, an upload slower than a reclaim
// interval, a task cancelled mid-run and one resolved elsewhere, each
// followed by a task that must still run.
//
//   node reclaim.js create --root-url URL --state FILE --queue P/T
//       --node-libs DIR --claim-timeout S
//   node reclaim.js watch --root-url URL --state FILE --out FILE
//       (while the worker runs: cancels one task, resolves another)
//   node reclaim.js check --root-url URL --state FILE --watched FILE
//       --claim-timeout S
//
// `check` prints TAP and exits 1 if a test failed.  (CommonJS.)
'use strict';

const fs = require('node:fs');
const assert = require('node:assert/strict');
const { sh, queueOf, test, done, artifact, listAll, main } =
  require('./pool_lib.js');

const SLOW_MS = 9000;

function tasks(a) {
  const node = a['node-libs'];
  const timeout = Number(a['claim-timeout']);
  return {
    // Longer than two claim timeouts; a request through the proxy once
    // the claim's own credentials have expired.
    long: {
      payload: {
        command: sh(`sleep ${timeout + 3}; NODE_PATH=${node} node -e '
          (async () => {
            const res = await fetch(process.env.TASKCLUSTER_PROXY_URL +
              "/api/fake/v1/echo/after-expiry");
            const body = await res.json();
            require("fs").writeFileSync("proxy.json", JSON.stringify({
              time: Date.now(), status: res.status,
              clientId: body.clientId }));
          })().catch(e => { console.error(e); process.exit(1); });' &&
          sleep ${timeout - 1}`),
        artifacts: [{ type: 'file', path: 'proxy.json',
          name: 'public/proxy.json' }],
        features: { taskclusterProxy: true },
        maxRunTime: 120,
      },
    },
    // Its artifact's upload is held longer than a reclaim interval.
    slow: {
      payload: {
        command: sh('head -c 2097152 /dev/urandom > big.bin'),
        artifacts: [{ type: 'file', path: 'big.bin', name: 'public/big.bin' }],
        maxRunTime: 60,
      },
    },
    cancelled: {	// TestReclaimCancelledTask
      payload: { command: sh('echo started; sleep 120'), maxRunTime: 180,
        artifacts: [{ type: 'file', path: 'never.txt',
          name: 'public/never.txt', optional: true }] },
    },
    afterCancel: {
      payload: { command: sh('echo still working'), maxRunTime: 60 },
    },
    resolved: {	// TestResolveResolvedTask
      payload: { command: sh('echo started; sleep 120'), maxRunTime: 180 },
    },
    last: {
      payload: { command: sh('echo the last one'), maxRunTime: 60 },
    },
    // reclaim.sh kills its task proxy once it has reclaimed twice (the
    // claim's own credentials have expired by then).
    proxyDies: {
      payload: { command: sh('echo started; sleep 60'), maxRunTime: 120,
        features: { taskclusterProxy: true } },
    },
    afterDeath: {
      payload: { command: sh('echo after the proxy died'), maxRunTime: 60 },
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const state = (a) => JSON.parse(fs.readFileSync(a.state));

async function fakeGet(a, path) {
  const res = await fetch(`${a['root-url']}/_fake/${path}`);
  return res.json();
}

// The slow task's upload: held, so that a reclaim falls inside it.
async function setFaults(a) {
  const id = state(a).tasks.slow;
  const res = await fetch(`${a['root-url']}/_fake/faults`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ path: `^/s3/.*${id}/0/public/big\\.bin$`,
      method: 'PUT', delayMs: SLOW_MS }) });
  assert.equal(res.status, 200);
}

async function waitRunning(queue, taskId) {
  for (;;) {
    const s = (await queue.status(taskId)).status;
    if (s.runs.length > 0 && s.runs[0].state === 'running')
      return;
    await sleep(200);
  }
}

// Cancel one task once it runs, resolve another under the worker's feet.
async function watch(a) {
  const queue = queueOf(a);
  const ids = state(a).tasks;
  const out = {};
  await waitRunning(queue, ids.cancelled);
  await sleep(1000);
  out.cancelledAt = Date.now();
  await queue.cancelTask(ids.cancelled);
  await waitRunning(queue, ids.resolved);
  await sleep(1000);
  out.resolvedAt = Date.now();
  await queue.reportCompleted(ids.resolved, 0);
  fs.writeFileSync(a.out, JSON.stringify(out));
}

// The worker's calls for taskId, in order.
const workerCalls = (calls, taskId) => calls.filter((c) =>
  c.target.includes(`/task/${taskId}/`) && c.clientId &&
  c.clientId.startsWith('task-client/'));

// The claim and each reclaim of the task, with when they were made.
function claims(calls, taskId) {
  const first = calls.find((c) => c.target.includes(`/task/${taskId}/`));
  const claim = first && calls.filter((c) => c.api === 'queue.claimWork' &&
    c.status === 200 && c.seq < first.seq).pop();
  const reclaims = calls.filter((c) => c.api === 'queue.reclaimTask' &&
    c.target.includes(`/task/${taskId}/`));
  return { claim, reclaims };
}

// Each reclaim made before the claim it renews ran out.
function assertOnTime(calls, taskId, timeoutMs) {
  const { claim, reclaims } = claims(calls, taskId);
  assert.ok(claim, 'its claimWork');
  let last = Date.parse(claim.time);
  for (const r of reclaims.filter((x) => x.status === 200)) {
    const t = Date.parse(r.time);
    assert.ok(t < last + timeoutMs, `reclaim at ${r.time} after takenUntil ` +
      `${new Date(last + timeoutMs).toJSON()}`);
    last = t;
  }
  return reclaims;
}

async function check(a) {
  const queue = queueOf(a);
  const ids = state(a).tasks;
  const watched = JSON.parse(fs.readFileSync(a.watched));
  const timeoutMs = Number(a['claim-timeout']) * 1000;
  const { calls } = await fakeGet(a, 'calls');
  const resolution = async (name) => (await queue.status(ids[name])).status.runs[0];
  const logOf = async (name) => (await artifact(queue, ids[name], 0,
    'public/logs/live_backing.log')).body.toString();

  await test('a task longer than two claim timeouts completes', async () => {
    const run = await resolution('long');
    assert.equal(run.state, 'completed');
  });
  await test('it was reclaimed at least twice, each time before takenUntil',
    async () => {
      const rs = assertOnTime(calls, ids.long, timeoutMs);
      assert.ok(rs.length >= 2, `${rs.length} reclaims`);
      assert.ok(rs.every((r) => r.status === 200));
    });
  await test('reclaims are signed with the task credentials of the moment',
    async () => {
      const rs = claims(calls, ids.long).reclaims;
      for (let i = 1; i < rs.length; i++)
        assert.notEqual(rs[i].clientId, rs[i - 1].clientId);
    });
  await test('its proxy works after the claim\'s credentials expired, with ' +
    'a reclaim\'s', async () => {
    const p = JSON.parse((await artifact(queue, ids.long, 0,
      'public/proxy.json')).body);
    const { claim, reclaims } = claims(calls, ids.long);
    assert.equal(p.status, 200);
    assert.ok(p.time > Date.parse(claim.time) + timeoutMs,
      'the request came after the claim\'s credentials expired');
    assert.ok(reclaims.length > 0);
    assert.match(p.clientId, /^task-client\//);
    const until = Number(p.clientId.split('/until/')[1]) * 1000;
    assert.ok(until > Date.parse(claim.time) + timeoutMs + 500,
      `${p.clientId} is not the claim's`);
  });
  await test('the task log says each refresh, as generic-worker', async () => {
    const log = await logOf('long');
    const n = (log.match(/\[taskcluster-proxy\] Successfully refreshed taskcluster-proxy credentials: task-client\//g) || []).length;
    assert.ok(n >= 2, `${n} lines\n${log}`);
  });

  await test('a reclaim falls during a slow upload, on time', async () => {
    const put = calls.find((c) => c.api === 's3.put' &&
      c.target.includes(`${ids.slow}/0/public/big.bin`));
    assert.ok(put, 'the upload');
    const start = Date.parse(put.time);
    const rs = assertOnTime(calls, ids.slow, timeoutMs);
    assert.ok(rs.some((r) => r.status === 200 &&
      Date.parse(r.time) > start && Date.parse(r.time) < start + SLOW_MS),
      'a reclaim while the upload was held');
  });
  await test('the slow task completes with its artifact', async () => {
    assert.equal((await resolution('slow')).state, 'completed');
    const art = await artifact(queue, ids.slow, 0, 'public/big.bin');
    assert.equal(art.status, 200);
    assert.equal(art.body.length, 2097152);
  });

  await test('a cancelled task stays exception/canceled: nothing reported',
    async () => {
      const run = await resolution('cancelled');
      assert.equal(run.state, 'exception');
      assert.equal(run.reasonResolved, 'canceled');
      const mine = workerCalls(calls, ids.cancelled);
      assert.ok(!mine.some((c) => /^queue\.report/.test(c.api)),
        mine.map((c) => c.api).join(' '));
      const refused = mine.filter((c) => c.api === 'queue.reclaimTask' &&
        c.status === 409);
      assert.equal(refused.length, 1);
    });
  await test('it is killed and its logs uploaded within a claim timeout of ' +
    'the cancel', async () => {
      const put = calls.find((c) => c.api === 's3.put' &&
        c.target.includes(`${ids.cancelled}/0/public/logs/live_backing.log`));
      assert.ok(put, 'the backing log upload');
      assert.ok(Date.parse(put.time) < watched.cancelledAt + 2 * timeoutMs);
      const log = await logOf('cancelled');
      assert.match(log, /Task aborted: the task could not be reclaimed \(the run is exception\/canceled\)/);
    });
  await test('only its logs are created: no other artifact', async () => {
    const arts = Object.keys(await listAll(queue, ids.cancelled, 0)).sort();
    assert.deepEqual(arts, ['public/logs/live.log',
      'public/logs/live_backing.log']);
    const created = workerCalls(calls, ids.cancelled)
      .filter((c) => c.api === 'queue.createArtifact').map((c) => c.target);
    assert.equal(created.length, 2, created.join(' '));
  });
  await test('the next task completes', async () => {
    assert.equal((await resolution('afterCancel')).state, 'completed');
  });

  await test('a task resolved elsewhere: refused reclaim, nothing reported',
    async () => {
      const mine = workerCalls(calls, ids.resolved);
      assert.ok(mine.some((c) => c.api === 'queue.reclaimTask' &&
        c.status === 409));
      assert.ok(!mine.some((c) => /^queue\.report/.test(c.api)));
      assert.equal((await resolution('resolved')).state, 'completed');
    });
  await test('the worker survives it: the last task completes', async () => {
    assert.equal((await resolution('last')).state, 'completed');
  });

  await test('a task whose proxy is killed is exception/internal-error',
    async () => {
      const run = await resolution('proxyDies');
      assert.equal(run.state, 'exception');
      assert.equal(run.reasonResolved, 'internal-error');
      assert.match(await logOf('proxyDies'),
        /Task aborted: the task's taskcluster proxy died: was killed by signal 9/);
    });
  await test('its replacement agent reports it with a reclaim\'s credentials',
    async () => {
      const { claim } = claims(calls, ids.proxyDies);
      const report = workerCalls(calls, ids.proxyDies)
        .find((c) => c.api === 'queue.reportException');
      assert.ok(report, 'reportException');
      assert.equal(report.status, 200);
      assert.ok(Date.parse(report.time) > Date.parse(claim.time) + timeoutMs,
        'after the claim\'s own credentials expired');
      assert.ok(Number(report.clientId.split('/until/')[1]) * 1000 >
        Date.parse(claim.time) + timeoutMs + 500, report.clientId);
    });
  await test('the task after it completes', async () => {
    assert.equal((await resolution('afterDeath')).state, 'completed');
  });
  done();
}

const a0 = process.argv[2];
if (a0 === 'watch' || a0 === 'faults') {
  const a = {};
  for (let i = 3; i < process.argv.length; i += 2)
    a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  (a0 === 'watch' ? watch(a) : setFaults(a)).catch((e) => {
    console.error(e.stack || e);
    process.exit(2);
  });
} else
  main(tasks, check);
