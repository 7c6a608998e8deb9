/**
 * scripts/lib/tap.js: the closing line of `npm test` counts every result ava reported, in a red run
 * as in a green one (ava's default reporter hides the passed count when anything failed).
 */
import * as path from 'node:path';
import test from 'ava';
import { REPO_ROOT } from '../helpers/repo';

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
  todo: number;
}
interface TapScript {
  parseResultLine(line: string): { kind: keyof Counts; title: string } | undefined;
  countTap(text: string): Counts;
  closingLine(counts: Counts): string;
  renderTapLine(line: string): string | undefined;
  failureReports(text: string, maxLines?: number): Array<{ title: string; lines: string[]; truncated: boolean }>;
  renderFailureReports(reports: Array<{ title: string; lines: string[]; truncated: boolean }>): string;
}

const tap = require(path.join(REPO_ROOT, 'scripts', 'lib', 'tap.js')) as TapScript;

/** What ava 7 printed with --tap for a file with every kind of result, a failing hook and a crash. */
const RED_RUN = `TAP version 13
ok 1 - a › skipped # SKIP
not ok 2 - a › later # TODO
ok 3 - a › passes
not ok 4 - a › fails
  ---
    name: AssertionError
    assertion: t.is()
    message: ''
  ...
ok 5 - b › ok in b
ok 6 - a › known
not ok 7 - Error: boom
  ---
    name: Error
    message: boom
  ...
not ok 8 - a › cleanup hook
not ok 9 - build/tmptap/b.test.mjs exited with a non-zero exit code: 1

1..7
# tests 6
# pass 3
# skip 1
# fail 5
`;

test('a red run counts its passes, its failures (hooks, uncaught errors and crashed files too), skips and todos', (t) => {
  t.deepEqual(tap.countTap(RED_RUN), { passed: 3, failed: 4, skipped: 1, todo: 1 });
  t.is(tap.closingLine(tap.countTap(RED_RUN)), '3 passed, 4 failed, 1 skipped, 1 todo');
});

test('a green run says "N passed, 0 failed"', (t) => {
  const green = 'TAP version 13\nok 1 - a › one\nok 2 - b › two\n\n1..2\n# tests 2\n# pass 2\n# fail 0\n';
  t.is(tap.closingLine(tap.countTap(green)), '2 passed, 0 failed');
});

test('result lines are shown with a mark; plan and totals are left to the closing line; YAML stays', (t) => {
  t.is(tap.renderTapLine('ok 3 - a › passes'), '  ✔ a › passes');
  t.is(tap.renderTapLine('not ok 4 - a › fails'), '  ✘ a › fails');
  t.is(tap.renderTapLine('ok 1 - a › skipped # SKIP'), '  - a › skipped (skipped)');
  t.is(tap.renderTapLine('# pass 3'), undefined);
  t.is(tap.renderTapLine('1..7'), undefined);
  t.is(tap.renderTapLine('    message: boom'), '    message: boom');
  t.is(tap.parseResultLine('    not ok inside YAML'), undefined, 'only lines that start with ok / not ok are results');
});

test('failures are said again with their YAML, for the end of the log; passes, skips and todos are not', (t) => {
  const reports = tap.failureReports(RED_RUN);
  t.deepEqual(
    reports.map((report) => report.title),
    ['a › fails', 'Error: boom', 'a › cleanup hook', 'build/tmptap/b.test.mjs exited with a non-zero exit code: 1'],
  );
  t.deepEqual(reports[0]!.lines, ['    name: AssertionError', '    assertion: t.is()', "    message: ''"]);
  t.deepEqual(reports[2]!.lines, [], 'a result without a YAML block has no lines');
  t.is(
    tap.renderFailureReports(reports.slice(0, 2)),
    "  ✘ a › fails\n        name: AssertionError\n        assertion: t.is()\n        message: ''\n  ✘ Error: boom\n        name: Error\n        message: boom",
  );
  const long = tap.failureReports(RED_RUN, 2);
  t.true(long[0]!.truncated);
  t.is(long[0]!.lines.length, 2);
  t.regex(tap.renderFailureReports(long.slice(0, 1)), /more above/);
});
