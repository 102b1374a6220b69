#!/usr/bin/env node
// A fake worker-runner for workerrunner.sh: starts the worker with its
// stdin and stdout on pipes, as worker-runner does, and speaks the
// protocol (tools/workerproto: "~" + a JSON object per line).
//
//   node fake_runner.js --record FILE --pid FILE [--caps a,b,...]
//       [--no-welcome] -- COMMAND [ARG...]
//
// It sends ~{"type":"welcome","capabilities":[caps]} first (default: all
// five), then copies its own stdin to the worker's, line for line, so a
// test writes what the runner says (closing it closes the worker's
// stdin).  Every line the worker writes on stdout goes to the record as
// one JSON line {"line": "<as written>", "valid": bool, "msg"?: object}:
// valid when it is a protocol message (starts "~{", ends "}", parses, has
// a string "type").  The worker's stderr is ours.  Exits with the
// worker's status (128 + signal if killed).
const fs = require('fs');
const { spawn } = require('child_process');
const readline = require('readline');

const argv = process.argv.slice(2);
const opts = { caps: 'error-report,graceful-termination,log,new-credentials,shutdown', welcome: true };
while (argv.length > 0 && argv[0] !== '--') {
  const a = argv.shift();
  if (a === '--record') opts.record = argv.shift();
  else if (a === '--pid') opts.pid = argv.shift();
  else if (a === '--caps') opts.caps = argv.shift();
  else if (a === '--no-welcome') opts.welcome = false;
  else {
    process.stderr.write(`fake_runner: unknown option ${a}\n`);
    process.exit(2);
  }
}
argv.shift();
if (!opts.record || !opts.pid || argv.length === 0) {
  process.stderr.write('usage: fake_runner.js --record FILE --pid FILE [--caps LIST] -- COMMAND...\n');
  process.exit(2);
}

const record = fs.openSync(opts.record, 'a');
const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
fs.writeFileSync(opts.pid, `${child.pid}\n`);
child.stdin.on('error', () => {});

if (opts.welcome) {
  const caps = opts.caps === '' ? [] : opts.caps.split(',');
  child.stdin.write(`~${JSON.stringify({ type: 'welcome', capabilities: caps })}\n`);
}
process.stdin.on('data', d => child.stdin.write(d));
process.stdin.on('end', () => child.stdin.end());

let pending = '';
child.stdout.on('data', d => {
  pending += d.toString('latin1');
  let i;
  while ((i = pending.indexOf('\n')) !== -1) {
    const raw = pending.slice(0, i);
    pending = pending.slice(i + 1);
    const line = Buffer.from(raw, 'latin1').toString('utf8');
    const rec = { line, valid: false };
    const t = raw.trim();
    if (t.length >= 3 && t.startsWith('~{') && t.endsWith('}')) {
      try {
        const msg = JSON.parse(Buffer.from(t.slice(1), 'latin1').toString('utf8'));
        if (typeof msg.type === 'string') {
          rec.valid = true;
          rec.msg = msg;
        }
      } catch (e) {
        // not valid
      }
    }
    fs.writeSync(record, `${JSON.stringify(rec)}\n`);
  }
});

child.on('close', (code, signal) => {
  if (pending !== '') {
    fs.writeSync(record, `${JSON.stringify({ line: pending, valid: false, unterminated: true })}\n`);
  }
  process.exit(code !== null ? code : 128 + require('os').constants.signals[signal]);
});
