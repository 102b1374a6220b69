#!/usr/bin/env node
// Ports of generic-worker's intermittent_task_test.go, artifacts_test.go
// and artifacts_multiuser_test.go (TestPrivileged*) to worker mode: every
// task below is named after the generic-worker test it ports, worked by
// one `sepworker run` against tc-fake, and checked as generic-worker's
// test checks it -- through the Queue: resolution, the artifacts listed,
// each one's storage type, content type, encoding, expiry and bytes.
//
//   node gw_ports.js create --root-url URL --state FILE --queue P/T
//       --secret FILE
//   (run the worker)
//   node gw_ports.js check --root-url URL --state FILE --secret FILE
//
// `check` prints TAP and exits 1 if a test failed.  (CommonJS.)
'use strict';

const fs = require('node:fs');
const assert = require('node:assert/strict');
const { sh, queueOf, test, done, artifact, listAll, main } =
  require('./pool_lib.js');

// generic-worker's testdata/SampleArtifacts, made by the task.
const SAMPLE = 'mkdir -p SampleArtifacts/_ SampleArtifacts/b/c ' +
  "'SampleArtifacts/%%%/v' && echo test artifact > SampleArtifacts/_/X.txt && " +
  "printf 'JFIF' > SampleArtifacts/b/c/d.jpg && " +
  "printf 'binary' > 'SampleArtifacts/%%%/v/X'";
const task = (cmd, more) => ({ payload: Object.assign(
  { command: sh(cmd), maxRunTime: 30 }, more) });
const file = (path, name, more) => Object.assign(
  { type: 'file', path, name }, more);
const dir = (path, name, more) => Object.assign(
  { type: 'directory', path, name }, more);
// As generic-worker's returnExitCode: a shell exiting with it (mod 256).
const exitWith = (code, retry) => task(`exit ${code}`,
  { onExitStatus: { retry } });

function tasks(a) {
  const secret = a.secret;
  return {
    TestIntermittentCodeCommandIntermittent: exitWith(123, [123]),
    TestIntermittentCodeCommandFailure: exitWith(456, [123]),
    TestIntermittentCodeCommandSuccess: exitWith(0, [780]),
    TestIntermittentListCommandIntermittent: exitWith(10, [780, 10, 2]),
    TestIntermittentEmptyListCommandSuccess: exitWith(0, []),
    TestIntermittentEmptyListCommandFailure: exitWith(1, []),
    TestIntermittentNegativeExitCode: exitWith(1, [-1]),

    TestNonExistentCommandFailsTask: { payload: {
      command: [['no-such-command-sepworker']], maxRunTime: 30 } },

    TestInvalidContentEncoding: task(SAMPLE, { artifacts: [
      file('SampleArtifacts/_/X.txt', 'public/_/X.txt',
        { contentType: 'text/plain; charset=utf-8', contentEncoding: 'jpg' })] }),
    TestInvalidContentEncodingBlacklisted: task(SAMPLE, { artifacts: [
      file('SampleArtifacts/b/c/d.jpg', 'public/b/c/d.jpg',
        { contentType: 'image/jpeg', contentEncoding: 'jpg' })] }),
    TestEmptyContentEncoding: task(SAMPLE, { artifacts: [
      file('SampleArtifacts/b/c/d.jpg', 'public/b/c/d.jpg',
        { contentType: 'image/jpeg', contentEncoding: '' })] }),
    TestConflictingFileArtifactsInPayload: task(SAMPLE, { artifacts: [
      file('SampleArtifacts/_/X.txt', 'public/build/X.txt'),
      file('SampleArtifacts/b/c/d.jpg', 'public/build/X.txt')] }),
    TestFileArtifactTwiceInPayload: task(SAMPLE, { artifacts: [
      file('SampleArtifacts/_/X.txt', 'public/build/X.txt'),
      file('SampleArtifacts/_/X.txt', 'public/build/X.txt')] }),
    TestArtifactIncludedAsFileAndDirectoryInPayload: task(SAMPLE, { artifacts: [
      file('SampleArtifacts/_/X.txt', 'public/build/X.txt'),
      dir('SampleArtifacts/_', 'public/build')] }),
    TestPublicDirectoryArtifact: task(
      'mkdir -p public/build && echo test artifact > public/build/X.txt',
      { artifacts: [{ type: 'directory', path: 'public' }] }),
    // Names, types, encodings and expiry as stored, in one task
    // (generic-worker checks what it would upload; here, what the Queue
    // holds): TestFileArtifactWith*, TestDirectoryArtifact*,
    // Test*ArtifactHasNoExpiry.
    TestDirectoryArtifacts: task(SAMPLE, { artifacts: [
      file('SampleArtifacts/_/X.txt', 'public/X.txt'),
      file('SampleArtifacts/b/c/d.jpg', 'public/d.jpg'),
      file('SampleArtifacts/_/X.txt', 'public/X-identity.txt',
        { contentEncoding: 'identity' }),
      file('SampleArtifacts/b/c/d.jpg', 'public/d-gzip.jpg',
        { contentEncoding: 'gzip' }),
      file('SampleArtifacts/_/X.txt', 'public/firefox.exe',
        { contentType: 'application/octet-stream' }),
      dir('SampleArtifacts', 'public/b/c'),
      dir('SampleArtifacts', 'public/typed', { contentType: 'text/plain; charset=utf-8' }),
      dir('SampleArtifacts', 'public/identity',
        { contentType: 'text/plain; charset=utf-8', contentEncoding: 'identity' }),
      dir('SampleArtifacts', 'public/gzip',
        { contentType: 'text/plain; charset=utf-8', contentEncoding: 'gzip' }),
      file('SampleArtifacts/_/X.txt', 'public/build/firefox.exe'),
      dir('SampleArtifacts/_', 'public/dir')] }),
    // TestMissingDirectoryArtifact, TestFileArtifactIsDirectory,
    // TestDirectoryArtifactIsFile, in one task.
    TestFileArtifactIsDirectory: task(SAMPLE, { artifacts: [
      dir('no_such_dir', 'public/no_such_dir'),
      file('SampleArtifacts/b/c', 'public/c'),
      dir('SampleArtifacts/b/c/d.jpg', 'public/d.jpg')] }),

    // generic-worker reads ../../../<a root-only file>; here a relative
    // path up to it, and a symlink to it made by the task.
    TestPrivilegedFileUpload: task(`ln -s ${secret} link`, { artifacts: [
      file(`../../../../../../../../..${secret}`, 'public/build/up.txt'),
      file('link', 'public/build/link.txt')] }),
    TestPrivilegedOptionalFileUploadFailsTask: task(`ln -s ${secret} link`,
      { artifacts: [file('link', 'public/build/link.txt', { optional: true })] }),
    TestPrivilegedFileInOptionalDirectoryArtifactFailsTask: task(
      'mkdir d && printf banana > d/readable.txt && ' +
      // (its bytes split, so that the command in the log does not hold them)
      "printf '%s%s' bag uette > d/unreadable.txt && chmod 000 d/unreadable.txt",
      { artifacts: [dir('d', 'public/build/d', { optional: true })] }),
  };
}

const want = {
  TestIntermittentCodeCommandIntermittent: 'exception/intermittent-task',
  TestIntermittentCodeCommandFailure: 'failed/failed',
  TestIntermittentCodeCommandSuccess: 'completed/completed',
  TestIntermittentListCommandIntermittent: 'exception/intermittent-task',
  TestIntermittentEmptyListCommandSuccess: 'completed/completed',
  TestIntermittentEmptyListCommandFailure: 'failed/failed',
  TestIntermittentNegativeExitCode: 'exception/malformed-payload',
  TestNonExistentCommandFailsTask: 'failed/failed',
  TestInvalidContentEncoding: 'exception/malformed-payload',
  TestInvalidContentEncodingBlacklisted: 'exception/malformed-payload',
  TestEmptyContentEncoding: 'exception/malformed-payload',
  // Deviation (README): generic-worker resolves the first two
  // exception/malformed-payload (the Queue's 409 for the second create)
  // and completes the third (same bytes twice); sepworker refuses a second
  // artifact of a name already written, whatever its bytes, and fails the
  // task: what it uploads is the first, as generic-worker's.
  TestConflictingFileArtifactsInPayload: 'failed/failed',
  TestFileArtifactTwiceInPayload: 'failed/failed',
  TestArtifactIncludedAsFileAndDirectoryInPayload: 'failed/failed',
  TestPublicDirectoryArtifact: 'completed/completed',
  TestDirectoryArtifacts: 'completed/completed',
  TestFileArtifactIsDirectory: 'failed/failed',
  TestPrivilegedFileUpload: 'failed/failed',
  TestPrivilegedOptionalFileUploadFailsTask: 'failed/failed',
  TestPrivilegedFileInOptionalDirectoryArtifactFailsTask: 'failed/failed',
};

const deviates = ['TestConflictingFileArtifactsInPayload',
  'TestFileArtifactTwiceInPayload',
  'TestArtifactIncludedAsFileAndDirectoryInPayload'];
const LOGS = ['public/logs/live.log', 'public/logs/live_backing.log'];

async function check(a) {
  const queue = queueOf(a);
  const state = JSON.parse(fs.readFileSync(a.state));
  const ids = state.tasks;
  const log = async (name) => (await artifact(queue, ids[name], 0,
    'public/logs/live_backing.log')).body.toString();
  const names = async (name) => Object.keys(await listAll(queue, ids[name], 0))
    .sort();
  // name -> [contentType, encoding, body] as stored
  const stored = async (name, arts) => {
    for (const [art, [type, enc, body]] of Object.entries(arts)) {
      const got = await artifact(queue, ids[name], 0, art);
      assert.equal(got.status, 200, art);
      assert.equal(got.type, type, art);
      assert.equal(got.enc || 'identity', enc, art);
      if (body !== undefined) assert.equal(got.body.toString(), body, art);
    }
  };

  for (const [name, w] of Object.entries(want))
    await test(`${name}: resolved ${w}` + (deviates.includes(name) ?
      ' (deviation: a second artifact of one name fails the task)' : ''),
    async () => {
      const run = (await queue.status(ids[name])).status.runs[0];
      assert.equal(`${run.state}/${run.reasonResolved}`, w);
    });

  await test('TestIntermittentNegativeExitCode: the log names ' +
    'onExitStatus.retry.0 and its bound 1', async () => {
    assert.match(await log('TestIntermittentNegativeExitCode'),
      /payload\.onExitStatus\.retry\[0\]: must be at least 1/);
  });

  await test('TestNonExistentCommandFailsTask: the log says the command ' +
    'was not found', async () => {
    assert.match(await log('TestNonExistentCommandFailsTask'),
      /no-such-command-sepworker: command not found/);
  });

  for (const name of ['TestInvalidContentEncoding',
    'TestInvalidContentEncodingBlacklisted', 'TestEmptyContentEncoding'])
    await test(`${name}: the log says artifacts.0.contentEncoding must be ` +
      'identity or gzip; nothing but the logs uploaded', async () => {
      assert.match(await log(name),
        /payload\.artifacts\[0\]\.contentEncoding: must be one of "identity", "gzip"/);
      assert.deepEqual(await names(name), LOGS);
    });

  await test('TestConflictingFileArtifactsInPayload: public/build/X.txt ' +
    'and the logs are the 3 artifacts', async () => {
    assert.deepEqual(await names('TestConflictingFileArtifactsInPayload'),
      [...LOGS, 'public/build/X.txt'].sort());
  });

  await test('TestArtifactIncludedAsFileAndDirectoryInPayload: ' +
    'public/build/X.txt and the logs are the 3 artifacts', async () => {
    const n = 'TestArtifactIncludedAsFileAndDirectoryInPayload';
    assert.deepEqual(await names(n), [...LOGS, 'public/build/X.txt'].sort());
    await stored(n, { 'public/build/X.txt':
      ['text/plain; charset=utf-8', 'gzip', 'test artifact\n'] });
  });

  await test('TestPublicDirectoryArtifact: a directory artifact without a ' +
    'name is named by its path: public/build/X.txt and the logs', async () => {
    assert.deepEqual(await names('TestPublicDirectoryArtifact'),
      [...LOGS, 'public/build/X.txt'].sort());
  });

  await test('TestFileArtifactWithNames, TestFileArtifactWithContentType, ' +
    'TestFileArtifactWithContentEncoding: types from the path, encodings ' +
    'from the path unless given', () => stored(
    'TestDirectoryArtifacts', {
      'public/X.txt': ['text/plain; charset=utf-8', 'gzip', 'test artifact\n'],
      'public/d.jpg': ['image/jpeg', 'identity', 'JFIF'],
      'public/X-identity.txt': ['text/plain; charset=utf-8', 'identity',
        'test artifact\n'],
      'public/d-gzip.jpg': ['image/jpeg', 'gzip', 'JFIF'],
      'public/firefox.exe': ['application/octet-stream', 'gzip'],
    }));

  await test('TestDirectoryArtifacts, TestDirectoryArtifactWithNames, ' +
    '...WithContentType, ...WithContentEncoding: each file named below the ' +
    'directory\'s name, typed and encoded by its own path unless the ' +
    'directory artifact says', () => stored('TestDirectoryArtifacts', {
    'public/b/c/%%%/v/X': ['application/octet-stream', 'gzip', 'binary'],
    'public/b/c/_/X.txt': ['text/plain; charset=utf-8', 'gzip'],
    'public/b/c/b/c/d.jpg': ['image/jpeg', 'identity', 'JFIF'],
    'public/typed/%%%/v/X': ['text/plain; charset=utf-8', 'gzip'],
    'public/typed/_/X.txt': ['text/plain; charset=utf-8', 'gzip'],
    'public/typed/b/c/d.jpg': ['text/plain; charset=utf-8', 'identity'],
    'public/identity/%%%/v/X': ['text/plain; charset=utf-8', 'identity'],
    'public/identity/_/X.txt': ['text/plain; charset=utf-8', 'identity'],
    'public/identity/b/c/d.jpg': ['text/plain; charset=utf-8', 'identity'],
    'public/gzip/%%%/v/X': ['text/plain; charset=utf-8', 'gzip'],
    'public/gzip/_/X.txt': ['text/plain; charset=utf-8', 'gzip'],
    'public/gzip/b/c/d.jpg': ['text/plain; charset=utf-8', 'gzip', 'JFIF'],
  }));

  await test('TestFileArtifactHasNoExpiry, TestDirectoryArtifactHasNoExpiry: ' +
    'artifacts expire with the task', async () => {
    const n = 'TestDirectoryArtifacts';
    const arts = await listAll(queue, ids[n], 0);
    for (const art of ['public/build/firefox.exe', 'public/dir/X.txt'])
      assert.equal(arts[art] && new Date(arts[art].expires).toISOString(),
        state.expires[n], art);
  });

  // error artifacts: generic-worker test -> [artifact, reason]
  const errors = {
    TestMissingDirectoryArtifact: ['public/no_such_dir', 'file-missing-on-worker'],
    TestFileArtifactIsDirectory: ['public/c', 'invalid-resource-on-worker'],
    TestDirectoryArtifactIsFile: ['public/d.jpg', 'invalid-resource-on-worker'],
  };
  for (const [name, [art, reason]] of Object.entries(errors))
    await test(`${name}: ${art} is an error artifact, ${reason}`, async () => {
      const id = ids.TestFileArtifactIsDirectory;
      const got = (await listAll(queue, id, 0))[art];
      assert.equal(got && got.storageType, 'error', art);
      const res = await artifact(queue, id, 0, art);
      assert.equal(res.status, 424, art);
      assert.equal(JSON.parse(res.body).reason, reason, art);
    });

  const secret = fs.readFileSync(a.secret);
  for (const name of ['TestPrivilegedFileUpload',
    'TestPrivilegedOptionalFileUploadFailsTask',
    'TestPrivilegedFileInOptionalDirectoryArtifactFailsTask'])
    await test(`${name}: no byte of a file the task cannot read is ` +
      'uploaded, in any artifact or the log', async () => {
      for (const [art, x] of Object.entries(await listAll(queue, ids[name], 0))) {
        if (x.storageType === 'link' || x.storageType === 'error') continue;
        const got = await artifact(queue, ids[name], 0, art);
        assert.ok(!got.body.includes(secret), `${art} holds the secret`);
        assert.ok(!got.body.includes('baguette'), `${art} holds unreadable.txt`);
      }
    });

  await test('TestPrivilegedFileUpload, TestPrivilegedOptionalFileUploadFailsTask: ' +
    'error artifacts for the path up to, and the symlink to, a root-only file',
  async () => {
    for (const [name, art] of [['TestPrivilegedFileUpload', 'public/build/up.txt'],
      ['TestPrivilegedFileUpload', 'public/build/link.txt'],
      ['TestPrivilegedOptionalFileUploadFailsTask', 'public/build/link.txt']]) {
      const got = (await listAll(queue, ids[name], 0))[art];
      assert.equal(got && got.storageType, 'error', `${name} ${art}`);
    }
  });

  await test('TestPrivilegedFileInOptionalDirectoryArtifactFailsTask: ' +
    'the readable file is uploaded, the unreadable one is not', async () => {
    const n = 'TestPrivilegedFileInOptionalDirectoryArtifactFailsTask';
    await stored(n, { 'public/build/d/readable.txt':
      ['text/plain; charset=utf-8', 'gzip', 'banana'] });
    const x = (await listAll(queue, ids[n], 0))['public/build/d/unreadable.txt'];
    assert.ok(!x || x.storageType === 'error', 'unreadable.txt uploaded');
  });

  done();
}

main(tasks, check);
