#!/usr/bin/env node
// Temporary Taskcluster credentials, made with taskcluster-client's own
// createTemporaryCredentials, printed as one line of JSON:
//   {"clientId": ..., "accessToken": ..., "certificate": "<JSON text>"}
//
//   node tests/tc-fake/mkcreds.js --client-id ISSUER --access-token TOKEN \
//       --scopes 'a,b' [--start-minutes M] [--expiry-minutes M] [--name ID]
//
// --scopes: comma-separated ('' for none).  --start-minutes (default 0)
// and --expiry-minutes (default 60) are minutes from now, negative for
// the past: `--start-minutes -120 --expiry-minutes -60` gives a
// certificate that expired an hour ago.  --name makes named credentials
// (clientId NAME, certificate.issuer ISSUER).
import taskcluster from 'taskcluster-client';

const usage = msg => {
  process.stderr.write(`mkcreds: ${msg}\n` +
    'usage: node mkcreds.js --client-id ID --access-token TOKEN --scopes a,b ' +
    '[--start-minutes M] [--expiry-minutes M] [--name ID]\n');
  process.exit(2);
};

const opts = { startMinutes: 0, expiryMinutes: 60, scopes: null, clientId: null, accessToken: null, name: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (i + 1 >= argv.length) {
    usage(`${a} needs a value`);
  }
  const v = argv[++i];
  const minutes = () => {
    if (!/^-?[0-9]+(\.[0-9]+)?$/.test(v)) {
      usage(`${a}: not a number of minutes: ${v}`);
    }
    return Number(v);
  };
  switch (a) {
    case '--client-id': opts.clientId = v; break;
    case '--access-token': opts.accessToken = v; break;
    case '--scopes': opts.scopes = v === '' ? [] : v.split(','); break;
    case '--start-minutes': opts.startMinutes = minutes(); break;
    case '--expiry-minutes': opts.expiryMinutes = minutes(); break;
    case '--name': opts.name = v; break;
    default: usage(`unknown argument: ${a}`);
  }
}
if (!opts.clientId || !opts.accessToken || opts.scopes === null) {
  usage('--client-id, --access-token and --scopes are required');
}

const now = Date.now();
try {
  const creds = taskcluster.createTemporaryCredentials({
    ...(opts.name ? { clientId: opts.name } : {}),
    start: new Date(now + opts.startMinutes * 60 * 1000),
    expiry: new Date(now + opts.expiryMinutes * 60 * 1000),
    scopes: opts.scopes,
    credentials: { clientId: opts.clientId, accessToken: opts.accessToken },
  });
  process.stdout.write(JSON.stringify({
    clientId: creds.clientId,
    accessToken: creds.accessToken,
    certificate: creds.certificate,
  }) + '\n');
} catch (err) {
  usage(err.message);
}
