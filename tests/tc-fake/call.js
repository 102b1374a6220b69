#!/usr/bin/env node
// One Taskcluster API call with taskcluster-client, for shell tests: the
// result as one line of JSON on stdout, exit 0; an API error as one line
// {"statusCode", "code", "message"} on stdout, exit 1; bad usage exit 2.
//
//   node tests/tc-fake/call.js --root-url URL [--client-id ID --access-token T
//       [--certificate CERT]] SERVICE METHOD [ARG...]
//
// Without --client-id the call is made as tc-fake's static root client.
// SERVICE is a taskcluster-client class (Queue, Object, Auth, Secrets,
// ...), METHOD one of its methods; an ARG that starts with "{" is a JSON
// payload, any other a string.  In a payload, "{{now}}" and
// "{{now+<seconds>}}" become those times in the API's date-time format, so
// that a shell test can write a task definition:
//   node call.js --root-url "$FAKE_URL" Queue createTask "$taskId" \
//     '{"taskQueueId": "prov/type", "created": "{{now}}", "deadline":
//       "{{now+3600}}", "payload": {}, "metadata": {...}}'
import taskcluster from 'taskcluster-client';

const usage = msg => {
  process.stderr.write(`call.js: ${msg}\n` +
    'usage: node call.js --root-url URL [--client-id ID --access-token T [--certificate CERT]] ' +
    'SERVICE METHOD [ARG...]\n');
  process.exit(2);
};

const argv = process.argv.slice(2);
const opts = {
  rootUrl: null, clientId: 'static/taskcluster/root', accessToken: 'tc-fake-root-access-token', certificate: null,
};
const flags = { '--root-url': 'rootUrl', '--client-id': 'clientId', '--access-token': 'accessToken',
  '--certificate': 'certificate' };
while (argv.length > 0 && flags[argv[0]]) {
  if (argv.length < 2) {
    usage(`${argv[0]} needs a value`);
  }
  opts[flags[argv.shift()]] = argv.shift();
}
const [service, method, ...rest] = argv;
if (!opts.rootUrl || !service || !method) {
  usage('--root-url, SERVICE and METHOD are required');
}
const Cls = taskcluster[service];
if (typeof Cls !== 'function' || typeof Cls.prototype[method] !== 'function') {
  usage(`no method ${method} in taskcluster-client's ${service}`);
}

const now = Date.now();
const times = text => text.replace(/\{\{now(?:\+([0-9]+))?\}\}/g,
  (m, s) => new Date(now + Number(s || 0) * 1000).toJSON());
const args = rest.map(a => {
  if (!a.startsWith('{')) {
    return a;
  }
  try {
    return JSON.parse(times(a));
  } catch (err) {
    return usage(`not JSON: ${a}: ${err.message}`);
  }
});

const credentials = { clientId: opts.clientId, accessToken: opts.accessToken };
if (opts.certificate) {
  credentials.certificate = opts.certificate;
}
const api = new Cls({ rootUrl: opts.rootUrl, credentials, retries: 0 });
try {
  const result = await api[method](...args);
  process.stdout.write(JSON.stringify(result === undefined ? null : result) + '\n');
} catch (err) {
  if (err.statusCode === undefined) {
    process.stderr.write(`call.js: ${err.stack || err}\n`);
    process.exit(2);
  }
  process.stdout.write(JSON.stringify({ statusCode: err.statusCode, code: err.code, message: err.message }) + '\n');
  process.exit(1);
}
