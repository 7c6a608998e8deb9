#!/usr/bin/env node
'use strict';
// `npm test`: make sure of what the tests need (Debian packages, a fresh build), then run the unit
// tests (concurrently) and the integration tests (one file at a time: they measure CPU shares and
// start agents, and two busy loops from two files would skew each other on a 2-core machine).
// Ends with one plain "N passed, N failed" line for whoever reads the log.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const repo = path.resolve(__dirname, '..');
const ava = path.join(repo, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');

function run(args) {
  const result = spawnSync(process.execPath, args, { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  process.stdout.write(result.stdout ?? '');
  return result;
}

function counts(output) {
  const passed = /(\d+) tests? passed/.exec(output);
  const failed = /(\d+) tests? failed/.exec(output);
  const known = /(\d+) known failures?/.exec(output);
  return { passed: passed ? Number(passed[1]) : 0, failed: (failed ? Number(failed[1]) : 0) + (known ? Number(known[1]) : 0) };
}

const prepare = spawnSync(process.execPath, [path.join(__dirname, 'prepare-test.js')], { cwd: repo, stdio: 'inherit' });
if (prepare.status !== 0) process.exit(prepare.status ?? 1);

const extra = process.argv.slice(2);
const phases = [
  ['unit', [ava, ...(extra.length ? extra : ['build/test/unit/**/*.test.js'])]],
  ...(extra.length ? [] : [['integration', [ava, '--concurrency=1', 'build/test/integration/**/*.test.js']]]),
];
let passed = 0;
let failed = 0;
let status = 0;
for (const [name, args] of phases) {
  console.log(`\n== ${name} tests`);
  const result = run(args);
  const c = counts(result.stdout ?? '');
  passed += c.passed;
  failed += c.failed;
  if (result.status !== 0) {
    status = result.status ?? 1;
    if (c.failed === 0) failed += 1; // ava failed without a count (a crash, an uncaught error)
  }
}
if (passed === 0 && status === 0) {
  console.log('no test ran');
  status = 1;
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(status);
