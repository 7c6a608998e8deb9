#!/usr/bin/env node
'use strict';
// `npm test`: make sure of what the tests need (Debian packages, a fresh build), then run the unit
// tests (concurrently) and the integration tests (one file at a time: they measure CPU shares and
// start agents, and two busy loops from two files would skew each other on a 2-core machine).
// ava reports in TAP (scripts/lib/tap.js says why), shown as it comes in a short readable form.
// Ends with one plain "N passed, N failed" line that counts every result of both phases, green or
// red; the exit code is non-zero when anything failed.
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { addCounts, closingLine, countTap, emptyCounts, failureReports, renderFailureReports, renderTapLine } = require('./lib/tap');

const repo = path.resolve(__dirname, '..');
const ava = path.join(repo, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');

/** Runs ava with --tap, printing each line as it arrives; resolves with its exit code and counts. */
function runAva(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ava, '--tap', ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = readline.createInterface({ input: child.stdout });
    let text = '';
    lines.on('line', (line) => {
      text += `${line}\n`;
      const shown = renderTapLine(line);
      if (shown !== undefined) process.stdout.write(`${shown}\n`);
    });
    child.on('close', (code, signal) => resolve({ status: code ?? (signal ? 1 : 0), counts: countTap(text), failures: failureReports(text) }));
  });
}

async function main() {
  const prepare = spawnSync(process.execPath, [path.join(__dirname, 'prepare-test.js')], { cwd: repo, stdio: 'inherit' });
  if (prepare.status !== 0) return prepare.status ?? 1;

  const extra = process.argv.slice(2);
  const phases = [
    ['unit', extra.length ? extra : ['build/test/unit/**/*.test.js']],
    ...(extra.length ? [] : [['integration', ['--concurrency=1', 'build/test/integration/**/*.test.js']]]),
  ];
  const total = emptyCounts();
  const failures = [];
  let status = 0;
  for (const [name, args] of phases) {
    console.log(`\n== ${name} tests`);
    const result = await runAva(args);
    console.log(`\n   ${name}: ${closingLine(result.counts)}`);
    addCounts(total, result.counts);
    failures.push(...result.failures);
    if (result.status !== 0) {
      status = result.status;
      // ava failed without naming a failure (it crashed before reporting): still a failure.
      if (result.counts.failed === 0) total.failed += 1;
    }
  }
  if (total.failed > 0 && status === 0) status = 1;
  if (total.passed === 0 && status === 0) {
    console.log('no test ran');
    status = 1;
  }
  // Said again last, above the closing line, where a log read from its tail shows it.
  if (failures.length > 0) console.log(`\nwhat failed:\n${renderFailureReports(failures)}`);
  console.log(`\n${closingLine(total)}`);
  return status;
}

main().then((status) => process.exit(status));
