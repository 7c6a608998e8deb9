'use strict';
// Reads the end-of-run summary that ava 7's default reporter prints, so the lane can refuse a run
// that "passed" without running anything. Pure: text in, verdict out.
//
// The lines it looks for (ava 7, non-TTY output):
//   "  3 tests passed"   "  1 test failed"   "  2 tests skipped"   "  1 known failure"
//   "  ✘ Couldn’t find any files to test"   "  ✘ Timed out while running tests"

const COUNT_PATTERNS = {
  passed: /^\s*(\d+) tests? passed\b/m,
  failed: /^\s*(\d+) tests? failed\b/m,
  skipped: /^\s*(\d+) tests? skipped\b/m,
  todo: /^\s*(\d+) tests? todo\b/m,
  knownFailures: /^\s*(\d+) known failures?\b/m,
  uncaughtExceptions: /^\s*(\d+) uncaught exceptions?\b/m,
  unhandledRejections: /^\s*(\d+) unhandled rejections?\b/m,
};

const FATAL_PATTERNS = [
  // ava prints a typographic apostrophe; accept a plain one too.
  { pattern: /Couldn.t find any files to test/, reason: 'ava found no test files' },
  { pattern: /Timed out while running tests/, reason: 'ava timed out while running tests' },
];

/** Every count ava printed; a kind ava did not print is 0 (ava omits zero lines). */
function parseAvaSummary(output) {
  const counts = {};
  for (const [kind, pattern] of Object.entries(COUNT_PATTERNS)) {
    const match = pattern.exec(output);
    counts[kind] = match ? Number(match[1]) : 0;
  }
  return counts;
}

/**
 * Decides whether the lane passed. `exitCode` is ava's; `output` its combined stdout/stderr.
 * Skips fail the lane: the VM exists so that cgroup-facing tests have every capability they need,
 * and with CI=true a missing capability must fail, never skip.
 * Returns { ok, counts, reasons[] }.
 */
function judgeAvaRun(exitCode, output) {
  const counts = parseAvaSummary(output);
  const reasons = [];
  for (const { pattern, reason } of FATAL_PATTERNS) {
    if (pattern.test(output)) reasons.push(reason);
  }
  if (exitCode !== 0) reasons.push(`ava exited with code ${exitCode}`);
  if (counts.failed > 0) reasons.push(`${counts.failed} test(s) failed`);
  if (counts.uncaughtExceptions > 0) reasons.push(`${counts.uncaughtExceptions} uncaught exception(s)`);
  if (counts.unhandledRejections > 0) reasons.push(`${counts.unhandledRejections} unhandled rejection(s)`);
  if (counts.skipped > 0) reasons.push(`${counts.skipped} test(s) skipped (the VM lane must not skip)`);
  // ava prints no "passed" line when anything failed, so only a clean-looking run is checked here.
  if (reasons.length === 0 && counts.passed === 0) reasons.push('no test ran (ava printed no "N tests passed" line)');
  return { ok: reasons.length === 0, counts, reasons };
}

module.exports = { parseAvaSummary, judgeAvaRun };
