// agent.sh's claims: node agent_claim.js ROOT_URL CREDS_OUT
// Creates a task on tc-fake (as its root client) and claims it as the
// worker agent.sh's clients file names, the way a worker does; writes the
// claim's credentials (the task's, as proxyd hands them to the task
// proxy) to CREDS_OUT and prints "TASK_ID RUN_ID".
'use strict';
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const TC = pathToFileURL(path.join(__dirname, '../tc-fake/node_modules/taskcluster-client/src/index.js')).href;

const [rootUrl, out] = process.argv.slice(2);
const QUEUE = 'agent-prov/agent-type';
const root = { clientId: 'static/taskcluster/root', accessToken: 'tc-fake-root-access-token' };
const worker = { clientId: 'agent-worker', accessToken: 'agent-worker-token' };

const main = async () => {
  const taskcluster = (await import(TC)).default;
  const taskId = taskcluster.slugid();
  const now = Date.now();
  await new taskcluster.Queue({ rootUrl, credentials: root }).createTask(taskId, {
    taskQueueId: QUEUE,
    created: new Date(now).toISOString(),
    deadline: new Date(now + 3600e3).toISOString(),
    expires: new Date(now + 30 * 86400e3).toISOString(),
    payload: {},
    metadata: { name: 'agent', description: 'agent.sh', owner: 'agent@example.com', source: 'https://example.com/agent' },
  });
  const q = new taskcluster.Queue({ rootUrl, credentials: worker });
  for (;;) {
    const r = await q.claimWork(QUEUE, { tasks: 1, workerGroup: 'agent-group', workerId: 'agent-worker' });
    const claim = r.tasks.find(t => t.status.taskId === taskId);
    if (claim === undefined)
      continue;
    fs.writeFileSync(out, JSON.stringify(claim.credentials));
    console.log(`${taskId} ${claim.runId}`);
    return;
  }
};
main().catch(err => {
  console.error(`agent_claim: ${err.message}`);
  process.exit(1);
});
