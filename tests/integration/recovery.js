// recovery.sh's view of the Queue: create one task (--proxy 1: with
// the taskcluster proxy), wait for a run's
// resolution, list a run's artifacts, check its chain of trust.  (CommonJS.)
'use strict';

const crypto = require('node:crypto');
const { tc, sh, queueOf, artifact, listAll } = require('./pool_lib.js');

function args() {
  const a = { phase: process.argv[2] };
  for (let i = 3; i < process.argv.length; i += 2)
    a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  return a;
}

async function create(a) {
  const [provisionerId, workerType] = a.queue.split('/');
  const taskId = tc.slugid();
  const now = Date.now();
  await queueOf(a).createTask(taskId, {
    provisionerId, workerType, schedulerId: 'tests', taskGroupId: taskId,
    dependencies: [], routes: [], priority: 'lowest', retries: 0,
    created: new Date(now), deadline: new Date(now + 3600e3),
    expires: new Date(now + 86400e3), scopes: [],
    payload: { command: sh(a.script), maxRunTime: 120,
      features: { chainOfTrust: true, taskclusterProxy: a.proxy === '1' } },
    tags: {}, extra: {},
    metadata: { name: a.name, description: 'recovery.sh', owner:
      'tests@example.com', source: 'https://example.com/tests' },
  });
  console.log(taskId);
}

// "state/reasonResolved" of run a.run (default 0) once it is resolved, or
// "pending"/"running" after a.timeout seconds.
async function wait(a) {
  const queue = queueOf(a);
  const until = Date.now() + Number(a.timeout || 60) * 1000;
  const runId = Number(a.run || 0);
  for (;;) {
    const { status } = await queue.status(a.task);
    const r = status.runs[runId];
    if (r && r.state !== 'pending' && r.state !== 'running') {
      console.log(`${r.state}/${r.reasonResolved}`);
      return;
    }
    if (Date.now() > until) {
      console.log(r ? r.state : 'unscheduled');
      return;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function names(a) {
  const arts = await listAll(queueOf(a), a.task, Number(a.run || 0));
  console.log(Object.keys(arts).sort().join(' '));
}

// The backing log, as stored.
async function log(a) {
  const got = await artifact(queueOf(a), a.task, Number(a.run || 0),
    'public/logs/live_backing.log');
  process.stdout.write(got.body);
}

// Exit 0 if the run's chain of trust verifies with a['public-key'] and
// names the task.
async function cot(a) {
  const queue = queueOf(a);
  const doc = await artifact(queue, a.task, 0, 'public/chain-of-trust.json');
  const sig = await artifact(queue, a.task, 0,
    'public/chain-of-trust.json.sig');
  const key = crypto.createPublicKey({ key: Buffer.concat([
    Buffer.from('302a300506032b6570032100', 'hex'),
    Buffer.from(a['public-key'], 'base64')]), format: 'der', type: 'spki' });
  if (doc.status !== 200 || sig.body.length !== 64 ||
      !crypto.verify(null, doc.body, key, sig.body) ||
      JSON.parse(doc.body).taskId !== a.task) {
    console.log(`chain of trust does not verify (${doc.status})`);
    process.exit(1);
  }
}

const phases = { create, wait, names, log, cot };
phases[args().phase](args()).catch((e) => {
  console.error(e.stack || e);
  process.exit(2);
});
