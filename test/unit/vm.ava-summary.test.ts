/**
 * test/vm/ava-summary.js: the cgroup v2 lane judges ava's TAP. A run passes only when ava exited 0,
 * finished its report, and every result it reported passed: a failure, a skip, a todo, tests a
 * failed hook kept from running or "no test ran" fail it.
 */
import * as path from 'node:path';
import test from 'ava';
import { REPO_ROOT } from '../helpers/repo';

interface Verdict {
  ok: boolean;
  reasons: string[];
  counts: { passed: number; failed: number; skipped: number; todo: number };
  titles: { passed: string[]; failed: string[]; skipped: string[]; todo: string[] };
  remaining: Array<{ count: number; file: string }>;
  finished: boolean;
}

const summary = require(path.join(REPO_ROOT, 'test', 'vm', 'ava-summary.js')) as { judgeTapRun(exitCode: number, tap: string, stderr?: string): Verdict };

const GREEN = `TAP version 13
ok 1 - block-io.cgroup › O_DIRECT I/O is counted
#   a log line of the test
ok 2 - runtime › the command is PID 1

1..2
# tests 2
# pass 2
# fail 0
`;

test('a green run passes, with its counts and titles', (t) => {
  const verdict = summary.judgeTapRun(0, GREEN);
  t.true(verdict.ok, verdict.reasons.join('; '));
  t.deepEqual(verdict.counts, { passed: 2, failed: 0, skipped: 0, todo: 0 });
  t.deepEqual(verdict.titles.passed, ['block-io.cgroup › O_DIRECT I/O is counted', 'runtime › the command is PID 1']);
});

test('a failure, a skip and a todo each fail the run, and are counted', (t) => {
  const tap = `TAP version 13
ok 1 - a › passes
not ok 2 - a › fails
  ---
    name: AssertionError
  ...
ok 3 - a › skipped # SKIP
not ok 4 - a › later # TODO

1..4
# tests 3
# pass 1
# skip 1
# fail 2
`;
  const verdict = summary.judgeTapRun(1, tap);
  t.false(verdict.ok);
  t.deepEqual(verdict.counts, { passed: 1, failed: 1, skipped: 1, todo: 1 });
  t.deepEqual(verdict.titles.failed, ['a › fails']);
  t.deepEqual(verdict.reasons, ['ava exited with code 1', '1 failed', '1 skipped (the VM lane must not skip)', '1 todo (the VM lane must not have any)']);
});

test('tests a failed hook kept from running are named', (t) => {
  const tap = `TAP version 13
not ok 1 - prometheus › before hook
# 9 tests remaining in build/test/integration/prometheus.test.js

1..1
# tests 1
# pass 0
# fail 10
`;
  const verdict = summary.judgeTapRun(1, tap);
  t.false(verdict.ok);
  t.deepEqual(verdict.remaining, [{ count: 9, file: 'build/test/integration/prometheus.test.js' }]);
  t.true(verdict.reasons.includes('9 test(s) of build/test/integration/prometheus.test.js did not run'));
});

test('exit code 0 with nothing run, or a report cut off before its plan, fails', (t) => {
  t.deepEqual(summary.judgeTapRun(0, 'TAP version 13\n\n1..0\n# tests 0\n').reasons, ['no test ran']);
  const cut = summary.judgeTapRun(0, 'TAP version 13\nok 1 - a › passes\n');
  t.false(cut.ok);
  t.deepEqual(cut.reasons, ['ava did not finish its report (no TAP plan line)']);
  t.false(summary.judgeTapRun(0, '').ok);
});

test('a --timeout, on which ava 7\'s TAP reporter crashes, is named with the last result before it', (t) => {
  const stderr = `file:///repo/node_modules/ava/lib/reporters/tap.js:27
	originalError.name = name; // Restore the original name.
TypeError: Cannot set properties of undefined (setting 'name')
    at dumpError (file:///repo/node_modules/ava/lib/reporters/tap.js:27:21)
    at TapReporter.writeTest (file:///repo/node_modules/ava/lib/reporters/tap.js:101:21)
    at TapReporter.writeTimeout (file:///repo/node_modules/ava/lib/reporters/tap.js:147:10)
`;
  const verdict = summary.judgeTapRun(1, 'TAP version 13\nok 1 - a › passes\n', stderr);
  t.false(verdict.ok);
  t.deepEqual(verdict.reasons, [
    'ava exited with code 1',
    "ava's --timeout fired (no test finished for that long), and its TAP reporter crashed on it instead of naming the test that was running; the last result before it: ok 1 - a › passes",
  ]);
});
