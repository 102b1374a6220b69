// queue_faults.sh's tasks and checks.  (CommonJS.)
//   create --case C [--retries N] [--fail 1] [--malformed 1]  a task
//       writing the case's artifacts (public/C/a.txt .. f.bin), then
//       failing if asked; or one with a malformed payload; prints its taskId
//   check --case C --task ID [--run R] [--state S]  prints one line per
//       problem found, nothing when the run is right (S, completed by
//       default, with every artifact)
'use strict';

const http = require('node:http');
const { tc, sh, queueOf, artifact } = require('./pool_lib.js');

function args() {
  const a = {};
  for (let i = 3; i < process.argv.length; i += 2)
    a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  a.phase = process.argv[2];
  return a;
}

// name -> content, small ones inline for the object service, d.bin
// large enough to be PUT.
const files = {
  'a.txt': 'artifact a\n', 'b.txt': 'artifact b\n', 'c.bin': 'artifact c\n',
  'd.bin': 'd'.repeat(20000), 'e.bin': 'artifact e\n', 'f.bin': 'artifact f\n',
};

async function create(a) {
  const [provisionerId, workerType] = a.queue.split('/');
  const taskId = tc.slugid();
  const now = Date.now();
  const script = Object.entries(files).map(([f, body]) =>
    `printf '${body.replace(/\n/g, '\\n')}' > ${f}`).join('; ') +
    (a.fail === '1' ? '; exit 1' : '');
  await queueOf(a).createTask(taskId, {
    provisionerId, workerType, schedulerId: 'tests', taskGroupId: taskId,
    dependencies: [], routes: [], priority: 'lowest',
    retries: Number(a.retries || 0),
    created: new Date(now), deadline: new Date(now + 3600e3),
    expires: new Date(now + 86400e3), scopes: [],
    payload: a.malformed === '1' ? { command: 'not a list', maxRunTime: 60 } :
      { command: sh(script), maxRunTime: 60,
        artifacts: Object.keys(files).map(f => ({ type: 'file', path: f,
          name: `public/${a.case}/${f}` })) },
    tags: {}, extra: {},
    metadata: { name: a.case, description: 'queue_faults.sh', owner:
      'tests@example.com', source: 'https://example.com/tests' },
  });
  console.log(taskId);
}

const getJson = url => new Promise((resolve, reject) => {
  http.get(url, (res) => {
    const chunks = [];
    res.on('data', c => chunks.push(c));
    res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks))));
  }).on('error', reject);
});

async function check(a) {
  const root = a['root-url'];
  const queue = queueOf(a);
  const runId = Number(a.run || 0);
  const problems = [];
  const { status } = await queue.status(a.task);
  const run = status.runs[runId];
  if (!run || run.state !== (a.state || 'completed'))
    problems.push(`run ${runId} is ${run && run.state}/${run && run.reasonResolved}`);
  // Every artifact there once, present, with the task's bytes.
  const stored = (await getJson(`${root}/_fake/artifacts/${a.task}`)).runs
    .find(r => r.runId === runId);
  const arts = stored ? stored.artifacts : [];
  for (const [f, body] of Object.entries(files)) {
    const name = `public/${a.case}/${f}`;
    const n = arts.filter(x => x.name === name).length;
    if (n !== 1 || !arts.find(x => x.name === name).present) {
      problems.push(`${name}: ${n} artifacts, present: ${n && arts.find(x => x.name === name).present}`);
      continue;
    }
    const got = await artifact(queue, a.task, runId, name);
    if (got.status !== 200 || got.body.toString() !== body)
      problems.push(`${name}: ${got.status}, ${got.body.length} bytes, not the task's`);
  }
  // Nothing created after the resolution took effect (an answered call,
  // or one whose answer was dropped).
  const calls = (await getJson(`${root}/_fake/calls`)).calls
    .filter(c => c.target.includes(`/task/${a.task}/runs/${runId}/`));
  const applied = c => (c.status >= 200 && c.status < 300) || c.dropped === 'after';
  const resolved = calls.find(c => /\/(completed|failed|exception)$/.test(c.target) && applied(c));
  if (!resolved)
    problems.push('no resolution took effect');
  else {
    const late = calls.filter(c => c.seq > resolved.seq && c.api === 'queue.createArtifact');
    if (late.length)
      problems.push(`createArtifact after the resolution: ${late.map(c => c.target).join(' ')}`);
    const refused = calls.filter(c => c.seq > resolved.seq && c.status >= 400 && !c.injected);
    if (refused.length)
      problems.push(`refused after the resolution: ${refused.map(c => `${c.target} ${c.status}`).join(' ')}`);
  }
  for (const p of problems)
    console.log(p);
}

const phases = { create, check };
const a = args();
phases[a.phase](a).catch((e) => {
  console.error(e.stack || e);
  process.exit(2);
});
