'use strict';
// Judges the lane's ava run from its TAP output (`ava --tap`, counted by scripts/lib/tap.js like
// `npm test` counts its own), so the lane refuses a run that "passed" without running everything.
// Pure: text in, verdict out.
//
// Besides the result lines (scripts/lib/tap.js), ava's TAP says:
//   # 9 tests remaining in build/test/integration/x.test.js   tests a failed hook kept from running
//   1..N                                                        the plan, written once the run ended
// and with --timeout, a test still running when ava gave up should be a "not ok" result; but
// ava 7's TAP reporter throws on that event (writeTimeout hands dumpError a plain Error), so what
// a timeout leaves is a TypeError from reporters/tap.js on stderr and a report without its plan.

const path = require('node:path');
const { countTap, parseResultLine } = require(path.join(__dirname, '..', '..', 'scripts', 'lib', 'tap.js'));

const REMAINING = /^# (\d+) tests? remaining in (.+)$/;
/** ava 7's TAP reporter failing on a --timeout (see above). */
const TAP_REPORTER_TIMEOUT_CRASH = /at TapReporter\.writeTimeout/;
const PLAN = /^1\.\.\d+$/;

/** Counts, titles by kind, tests that never ran (by file), and whether ava finished its report. */
function parseTapRun(tap) {
  const counts = countTap(tap);
  const titles = { passed: [], failed: [], skipped: [], todo: [] };
  const remaining = [];
  let finished = false;
  for (const line of tap.split('\n')) {
    const result = parseResultLine(line);
    if (result) {
      titles[result.kind].push(result.title);
      continue;
    }
    const left = REMAINING.exec(line);
    if (left) remaining.push({ count: Number(left[1]), file: left[2] });
    else if (PLAN.test(line)) finished = true;
  }
  return { counts, titles, remaining, finished };
}

/**
 * Decides whether the lane passed. `exitCode` is ava's; `tap` its stdout, `stderr` its stderr.
 * Skips and todos fail the lane: the VM exists so that the tests have every capability they need,
 * and with CI=true a missing capability must fail, never skip. A test the lane cannot run on v2
 * is excluded by the lane itself, with its reason, before ava starts.
 * Returns { ok, counts, titles, remaining, reasons[] }.
 */
function judgeTapRun(exitCode, tap, stderr = '') {
  const run = parseTapRun(tap);
  const { counts } = run;
  const reasons = [];
  if (exitCode !== 0) reasons.push(`ava exited with code ${exitCode}`);
  if (TAP_REPORTER_TIMEOUT_CRASH.test(stderr)) {
    const last = [...run.titles.passed, ...run.titles.failed].length > 0 ? tap.split('\n').filter((line) => parseResultLine(line)).pop() : undefined;
    reasons.push(`ava's --timeout fired (no test finished for that long), and its TAP reporter crashed on it instead of naming the test that was running; the last result before it: ${last ?? 'none'}`);
  } else if (!run.finished) {
    reasons.push('ava did not finish its report (no TAP plan line)');
  }
  if (counts.failed > 0) reasons.push(`${counts.failed} failed`);
  if (counts.skipped > 0) reasons.push(`${counts.skipped} skipped (the VM lane must not skip)`);
  if (counts.todo > 0) reasons.push(`${counts.todo} todo (the VM lane must not have any)`);
  for (const { count, file } of run.remaining) reasons.push(`${count} test(s) of ${file} did not run`);
  if (counts.passed === 0) reasons.push('no test ran');
  return { ok: reasons.length === 0, reasons, ...run };
}

module.exports = { parseTapRun, judgeTapRun };
