'use strict';
// Reads ava's TAP output (`ava --tap`) line by line: counts what ran and turns each line into the
// short form people read in a log. Pure: text in, counts and text out.
//
// Why TAP and not ava's default reporter: the default reporter prints "N tests passed" only when
// nothing failed, so a red run could not say how many tests passed. TAP names every result:
//   ok 3 - file › title                 passed (also a test.failing that failed as expected)
//   ok 1 - file › title # SKIP          skipped
//   not ok 2 - file › title # TODO      a test.todo
//   not ok 4 - file › title             failed, followed by a YAML block (  --- ... ...)
//   not ok 7 - Error: boom              an uncaught exception, a failed hook, a crashed file
//   # tests 6 / # pass 3 / # fail 5     ava's own totals at the end

const RESULT = /^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*?)(?:\s+#\s*(SKIP|TODO)\b\s*(.*))?$/i;

/** One TAP line → {kind, title} for a result line, or undefined for anything else. */
function parseResultLine(line) {
  const match = RESULT.exec(line);
  if (!match) return undefined;
  const ok = match[1].toLowerCase() === 'ok';
  const directive = match[4]?.toUpperCase();
  let kind;
  if (directive === 'SKIP') kind = 'skipped';
  else if (directive === 'TODO') kind = 'todo';
  else kind = ok ? 'passed' : 'failed';
  return { kind, title: match[3] };
}

function emptyCounts() {
  return { passed: 0, failed: 0, skipped: 0, todo: 0 };
}

/** Counts every result line of a whole TAP text. */
function countTap(text) {
  const counts = emptyCounts();
  for (const line of text.split('\n')) {
    const result = parseResultLine(line);
    if (result) counts[result.kind] += 1;
  }
  return counts;
}

function addCounts(into, more) {
  for (const kind of Object.keys(into)) into[kind] += more[kind] ?? 0;
  return into;
}

/** The closing line: "N passed, N failed", plus skipped and todo when there are any. */
function closingLine(counts) {
  const parts = [`${counts.passed} passed`, `${counts.failed} failed`];
  if (counts.skipped > 0) parts.push(`${counts.skipped} skipped`);
  if (counts.todo > 0) parts.push(`${counts.todo} todo`);
  return parts.join(', ');
}

/**
 * A TAP line as it should read in a log: results get a mark, the YAML of a failure stays (indented
 * as TAP has it: the diff and the place), ava's plan and totals are dropped (the closing line says it).
 */
function renderTapLine(line) {
  const result = parseResultLine(line);
  if (result) {
    const mark = { passed: '✔', failed: '✘', skipped: '-', todo: '-' }[result.kind];
    const suffix = result.kind === 'skipped' ? ' (skipped)' : result.kind === 'todo' ? ' (todo)' : '';
    return `  ${mark} ${result.title}${suffix}`;
  }
  if (line.trim() === '' || /^TAP version \d+$/.test(line) || /^1\.\.\d+$/.test(line) || /^# (tests|pass|fail|skip|todo) \d+$/.test(line)) return undefined;
  return line;
}

/**
 * Each failed result with the first `maxLines` lines of its YAML block (message, values, where),
 * to be printed again at the end of a run: a CI log is often read from its tail only, and a
 * failure's reason would otherwise be far above it.
 */
function failureReports(text, maxLines = 24) {
  const reports = [];
  let current;
  let inBlock = false;
  for (const line of text.split('\n')) {
    const result = parseResultLine(line);
    if (result) {
      current = result.kind === 'failed' ? { title: result.title, lines: [], truncated: false } : undefined;
      if (current) reports.push(current);
      inBlock = false;
      continue;
    }
    if (!current) continue;
    if (!inBlock) {
      if (line.trim() === '---') inBlock = true;
      continue;
    }
    if (line.trim() === '...') {
      current = undefined;
      inBlock = false;
      continue;
    }
    if (current.lines.length < maxLines) current.lines.push(line);
    else current.truncated = true;
  }
  return reports;
}

/** failureReports as log text: a title, then its lines indented under it. */
function renderFailureReports(reports) {
  return reports
    .map(({ title, lines, truncated }) => [`  ✘ ${title}`, ...lines.map((line) => `    ${line.trimEnd()}`), ...(truncated ? ['    (more above, where the test ran)'] : [])].join('\n'))
    .join('\n');
}

module.exports = { parseResultLine, countTap, addCounts, closingLine, renderTapLine, emptyCounts, failureReports, renderFailureReports };
