#!/usr/bin/env node
// A pool of one: tasks created with taskcluster-client in tc-fake, worked
// by a real `sepworker run`, then checked through the Queue's own API as a
// downstream user (or scriptworker) would check them: resolutions, every
// artifact's bytes, content type and encoding as stored, and the chain of
// trust -- its signature verified with Node's Ed25519, its hashes against
// the bytes tc-fake stored.
//
//   node worker_pool.js create --root-url URL --state FILE --queue P/T
//   (run the worker)
//   node worker_pool.js check --root-url URL --state FILE --public-key B64
//       --worker-group G --worker-id I
//
// `check` prints TAP and exits 1 if a test failed.  (CommonJS.)
'use strict';

const fs = require('node:fs');
const crypto = require('node:crypto');
const assert = require('node:assert/strict');
const { sh, queueOf, test, done, artifact, listAll, main } =
  require('./pool_lib.js');

const MiB = 1024 * 1024;

// name -> [payload, features, scopes, expectation]
function tasks(a) {
  const node = a['node-libs'];
  return {
    succeeds: {
      payload: {
        command: sh('mkdir -p out/dir/sub && echo hello > out/hello.txt && ' +
          "printf 'x' > out/dir/a.bin && echo '{}' > out/dir/sub/b.json && " +
          'printf data > out/data.tar.gz && ' +
          // TestChainOfTrustAdditionalData, schedulerId our addition.
          "echo '{\"foo\": \"bar1\", \"task\": {\"foo\": \"bar2\", " +
          "\"schedulerId\": \"fake\"}}' > " +
          'chain-of-trust-additional-data.json && echo done'),
        artifacts: [
          { type: 'file', path: 'out/hello.txt', name: 'public/hello.txt' },
          { type: 'directory', path: 'out/dir', name: 'public/dir' },
          { type: 'file', path: 'out/data.tar.gz', name: 'public/data.tar.gz' },
        ],
        features: { chainOfTrust: true },
        maxRunTime: 60,
      },
      want: ['completed', undefined],
    },
    fails: {	// TestFailureResolvesAsFailure
      payload: { command: sh('echo about to fail; exit 3'), maxRunTime: 60 },
      want: ['failed', 'failed'],
    },
    malformed: {
      payload: { maxRunTime: 'soon' },
      want: ['exception', 'malformed-payload'],
    },
    maxruntime: {
      payload: { command: sh('sleep 60'), maxRunTime: 2 },
      want: ['failed', 'failed'],
    },
    intermittent: {
      payload: { command: sh('exit 42'), maxRunTime: 60,
        onExitStatus: { retry: [42] } },
      want: ['exception', 'intermittent-task'],
    },
    missing: {
      payload: {
        command: sh('true'), maxRunTime: 60,
        artifacts: [
          { type: 'file', path: 'nothere.txt', name: 'public/required.txt' },
          { type: 'file', path: 'nothere2.txt', name: 'public/optional.txt',
            optional: true },
        ],
      },
      want: ['failed', 'failed'],
    },
    big: {
      payload: {
        command: sh(`head -c ${100 * MiB} /dev/urandom > big.tar.gz`),
        artifacts: [{ type: 'file', path: 'big.tar.gz',
          name: 'public/big.tar.gz' }],
        maxRunTime: 120,
      },
      want: ['completed', undefined],
    },
    proxy: {
      payload: {
        command: sh(`NODE_PATH=${node} node -e '
          const tc = require("taskcluster-client").default;
          const q = new tc.Queue({rootUrl: process.env.TASKCLUSTER_PROXY_URL});
          const id = process.env.TASK_ID, run = Number(process.env.RUN_ID);
          const out = {};
          (async () => {
            out.task = (await q.task(id)).metadata.name;
            try { await q.reportCompleted(id, run); out.report = "allowed"; }
            catch (e) { out.report = e.statusCode; }
            try {
              await q.createArtifact(id, run, "public/mine.txt",
                { storageType: "error", reason: "file-missing-on-worker",
                  message: "made by the task", expires: new Date(Date.now() + 86400e3) });
              out.create = "ok";
            } catch (e) { out.create = e.statusCode; }
            try {
              await q.createArtifact(id, run, "public/chain-of-trust.json",
                { storageType: "s3", contentType: "text/plain",
                  expires: new Date(Date.now() + 86400e3) });
              out.cot = "allowed";
            } catch (e) { out.cot = e.statusCode; }
            const raw = await fetch(process.env.TASKCLUSTER_PROXY_URL +
              "/api/queue/v1/task/" + id + "/runs/" + run +
              "/artifacts/public/logs/certified.log", { method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ storageType: "error",
                reason: "file-missing-on-worker", message: "x",
                expires: new Date(Date.now() + 86400e3) }) });
            out.certified = raw.status;
            require("fs").writeFileSync("proxy.json", JSON.stringify(out));
          })().catch(e => { console.error(e); process.exit(1); });'`),
        artifacts: [{ type: 'file', path: 'proxy.json',
          name: 'public/proxy.json' }],
        features: { taskclusterProxy: true },
        maxRunTime: 60,
      },
      scopes: ['queue:get-task:*'],
      want: ['completed', undefined],
    },
    many: {	// more artifacts than the agent's queue holds
      payload: {
        command: sh('mkdir many && for i in $(seq 1 300); do ' +
          'echo "file $i" > many/f$i.txt; done'),
        artifacts: [{ type: 'directory', path: 'many', name: 'public/many' }],
        maxRunTime: 60,
      },
      want: ['completed', undefined],
    },
    customlogs: {	// TestCustomLogPaths
      payload: {
        command: sh(`echo hello world!; NODE_PATH=${node} node -e '
          const u = process.env.TASKCLUSTER_PROXY_URL + "/api/queue/v1/task/" +
            process.env.TASK_ID + "/runs/" + process.env.RUN_ID + "/artifacts/";
          const body = JSON.stringify({ storageType: "error",
            reason: "file-missing-on-worker", message: "x",
            expires: new Date(Date.now() + 86400e3) });
          (async () => {
            const out = {};
            for (const n of ["public/banana.log", "public/banana_backing.log"])
              out[n] = (await fetch(u + encodeURIComponent(n), { method: "POST",
                headers: { "content-type": "application/json" }, body })).status;
            require("fs").writeFileSync("proxy.json", JSON.stringify(out));
          })().catch(e => { console.error(e); process.exit(1); });'; ` +
          'echo goodbye world!'),
        logs: { live: 'public/banana.log', backing: 'public/banana_backing.log' },
        artifacts: [{ type: 'file', path: 'proxy.json',
          name: 'public/proxy.json' }],
        features: { taskclusterProxy: true },
        maxRunTime: 60,
      },
      logs: ['public/banana.log', 'public/banana_backing.log'],
      want: ['completed', undefined],
    },
    nolivelog: {	// TestDisableLiveLogFeature
      payload: { command: sh('echo hello world!; echo goodbye world!'),
        features: { liveLog: false }, maxRunTime: 60 },
      logs: [null, 'public/logs/live_backing.log'],
      want: ['completed', undefined],
    },
    nobackinglog: {
      payload: { command: sh('echo hello'), features: { backingLog: false },
        maxRunTime: 60 },
      logs: [null, null],
      want: ['completed', undefined],
    },
    badlogname: {
      payload: { command: sh('echo hello'), maxRunTime: 60,
        logs: { backing: 'public/chain-of-trust.json' } },
      want: ['exception', 'malformed-payload'],
    },
  };
}

const DEFAULT_LOGS = ['public/logs/live.log', 'public/logs/live_backing.log'];

// --- check ---

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

async function check(a) {
  const queue = queueOf(a);
  const state = JSON.parse(fs.readFileSync(a.state));
  const ids = state.tasks;
  const status = {};
  for (const [name, id] of Object.entries(ids))
    status[name] = (await queue.status(id)).status;
  const defs = tasks(a);

  for (const [name, t] of Object.entries(defs))
    await test(`${name}: resolved ${t.want.filter(Boolean).join('/')}`, () => {
      const runs = status[name].runs;
      assert.equal(runs.length, 1, `${runs.length} runs`);
      assert.equal(runs[0].state, t.want[0]);
      if (t.want[1] && t.want[0] === 'exception')
        assert.equal(runs[0].reasonResolved, t.want[1]);
      assert.equal(runs[0].workerGroup, a['worker-group']);
      assert.equal(runs[0].workerId, a['worker-id']);
    });

  for (const [name, t] of Object.entries(defs)) {
    const [live, backing] = t.logs || DEFAULT_LOGS;
    await test(`${name}: the task log is ${backing || 'not uploaded'}, ` +
      `${live ? `${live} links to it` : 'no live log'}`, async () => {
      const arts = await listAll(queue, ids[name], 0);
      const logs = Object.keys(arts).filter((x) => /log/.test(x) &&
        x !== 'public/logs/certified.log');
      assert.deepEqual(logs.sort(), [live, backing].filter(Boolean).sort());
      if (!backing)
        return;
      assert.equal(arts[backing].storageType, 's3');
      assert.equal(arts[backing].contentType, 'text/plain; charset=utf-8');
      const got = await artifact(queue, ids[name], 0, backing);
      assert.equal(got.enc, 'gzip');
      assert.match(got.body.toString(), /=== Task Finished ===|malformed/);
      if (!live)
        return;
      assert.equal(arts[live].storageType, 'link');
      const via = await artifact(queue, ids[name], 0, live);
      assert.equal(via.body.toString(), got.body.toString());
    });
  }

  await test('many: 300 artifacts, every one stored with its bytes',
    async () => {
      const arts = await listAll(queue, ids.many, 0);
      const names = Object.keys(arts).filter((x) => x.startsWith('public/many/'));
      assert.equal(names.length, 300);
      for (const i of [1, 64, 65, 150, 300]) {
        const got = await artifact(queue, ids.many, 0, `public/many/f${i}.txt`);
        assert.equal(got.body.toString(), `file ${i}\n`);
      }
    });

  await test('customlogs: the logs are under the task\'s names, the backing ' +
    'log says goodbye, the live log hello (TestCustomLogPaths)', async () => {
    const back = await artifact(queue, ids.customlogs, 0,
      'public/banana_backing.log');
    assert.match(back.body.toString(), /goodbye world!/);
    const live = await artifact(queue, ids.customlogs, 0, 'public/banana.log');
    assert.match(live.body.toString(), /hello world!/);
  });

  await test('customlogs: the task cannot create its own log names through ' +
    'its proxy', async () => {
    const out = JSON.parse((await artifact(queue, ids.customlogs, 0,
      'public/proxy.json')).body);
    assert.deepEqual(out, { 'public/banana.log': 403,
      'public/banana_backing.log': 403 });
  });

  await test('badlogname: a log may not take a chain-of-trust name; the log ' +
    'says why', async () => {
    const got = await artifact(queue, ids.badlogname, 0,
      'public/logs/live_backing.log');
    assert.match(got.body.toString(), /payload\.logs\.backing: "public\/chain-of-trust\.json" is written by the worker's Chain of Trust feature/);
    const arts = await listAll(queue, ids.badlogname, 0);
    assert.equal(arts['public/chain-of-trust.json'], undefined);
  });

  await test('malformed: the log names the schema error (TestInvalidPayload-like)', async () => {
    const got = await artifact(queue, ids.malformed, 0,
      'public/logs/live_backing.log');
    assert.match(got.body.toString(), /maxRunTime/);
    assert.match(got.body.toString(), /command/);
  });

  await test('maxruntime: failed, the log says max run time exceeded (TestAbortAfterMaxRunTime)', async () => {
    const got = await artifact(queue, ids.maxruntime, 0,
      'public/logs/live_backing.log');
    assert.match(got.body.toString(), /max run time exceeded/);
  });

  await test('succeeds: artifacts stored with their bytes, types and ' +
    'encodings (TestUpload, TestFileArtifactWithContentType)', async () => {
    const want = {
      'public/hello.txt': ['hello\n', 'text/plain; charset=utf-8', 'gzip'],
      'public/dir/a.bin': ['x', 'application/octet-stream', 'gzip'],
      'public/dir/sub/b.json': ['{}\n', 'application/json', 'gzip'],
      'public/data.tar.gz': ['data', 'application/gzip', null],
    };
    for (const [name, [body, type, enc]] of Object.entries(want)) {
      const got = await artifact(queue, ids.succeeds, 0, name);
      assert.equal(got.status, 200, name);
      assert.equal(got.body.toString(), body, name);
      assert.equal(got.type, type, name);
      if (enc === 'gzip') assert.equal(got.enc, 'gzip', name);
      else assert.ok(got.enc === null || got.enc === 'identity', name);
    }
  });

  await test('succeeds: the chain of trust verifies with the worker\'s key ' +
    'and lists the bytes stored (TestChainOfTrustUpload), the task\'s ' +
    'additional data merged (TestChainOfTrustAdditionalData)', async () => {
    const doc = await artifact(queue, ids.succeeds, 0,
      'public/chain-of-trust.json');
    const sig = await artifact(queue, ids.succeeds, 0,
      'public/chain-of-trust.json.sig');
    assert.equal(sig.body.length, 64);
    const key = crypto.createPublicKey({ key: Buffer.concat([
      Buffer.from('302a300506032b6570032100', 'hex'),
      Buffer.from(a['public-key'], 'base64')]), format: 'der', type: 'spki' });
    assert.ok(crypto.verify(null, doc.body, key, sig.body), 'bad signature');
    const cot = JSON.parse(doc.body);
    assert.equal(cot.taskId, ids.succeeds);
    assert.equal(cot.runId, 0);
    assert.equal(cot.workerGroup, a['worker-group']);
    assert.equal(cot.workerId, a['worker-id']);
    assert.equal(cot.task.metadata.name, 'succeeds');
    const def = await queue.task(ids.succeeds);
    assert.equal(cot.foo, 'bar1');
    assert.equal(cot.task.foo, 'bar2');
    assert.equal(cot.task.schedulerId, def.schedulerId);
    assert.equal(cot.task.provisionerId, def.provisionerId);
    assert.ok(cot.environment, 'no environment');
    assert.deepEqual(Object.keys(cot.artifacts).sort(), [
      'public/data.tar.gz', 'public/dir/a.bin', 'public/dir/sub/b.json',
      'public/hello.txt', 'public/logs/certified.log']);
    for (const [name, { sha256: h }] of Object.entries(cot.artifacts)) {
      const got = await artifact(queue, ids.succeeds, 0, name);
      assert.equal(sha256(got.body), h, name);
    }
  });

  await test('big: 100 MiB stored byte for byte', async () => {
    const got = await artifact(queue, ids.big, 0, 'public/big.tar.gz');
    assert.equal(got.body.length, 100 * MiB);
    const log = (await artifact(queue, ids.big, 0,
      'public/logs/live_backing.log')).body.toString();
    assert.equal(got.status, 200);
    assert.doesNotMatch(log, /Artifact public\/big/);
  });

  await test('missing: error artifacts for the required and the optional ' +
    'one (TestMissingArtifactFailsTest, ' +
    'TestMissingOptionalFileArtifactDoesNotFailTest)', async () => {
    const arts = await listAll(queue, ids.missing, 0);
    for (const name of ['public/required.txt', 'public/optional.txt']) {
      assert.ok(arts[name], `${name} not created`);
      assert.equal(arts[name].storageType, 'error', name);
    }
  });

  await test('proxy: the task reads its task, cannot resolve itself, can ' +
    'create its own artifact', async () => {
    const got = await artifact(queue, ids.proxy, 0, 'public/proxy.json');
    const out = JSON.parse(got.body);
    assert.equal(out.task, 'proxy');
    assert.equal(out.report, 403);
    assert.equal(out.create, 'ok');
  });

  await test('proxy: the task cannot create an artifact the worker writes ' +
    '(its chain of trust, its logs), escaped or not', async () => {
    const got = await artifact(queue, ids.proxy, 0, 'public/proxy.json');
    const out = JSON.parse(got.body);
    assert.equal(out.cot, 403);
    assert.equal(out.certified, 403);
    const arts = await listAll(queue, ids.proxy, 0);
    assert.equal(arts['public/chain-of-trust.json'], undefined);
    assert.equal(arts['public/logs/certified.log'], undefined);
    assert.equal(arts['public/logs/live_backing.log'].storageType, 's3');
  });

  done();
}

main(tasks, check);
