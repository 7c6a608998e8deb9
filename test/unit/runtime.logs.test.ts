import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { LogFollower, parseLogLine, readLogs, selectLines } from '../../server/runtime/logs';
import type { LogLine } from '../../server/runtime/shim-protocol';

const line = (second: number, stream: 'stdout' | 'stderr', log: string): LogLine => ({ time: `2024-05-01T12:00:${String(second).padStart(2, '0')}.123456789Z`, stream, log });
const text = (lines: LogLine[]): string => lines.map((l) => JSON.stringify(l) + '\n').join('');

function folder(t: import('ava').ExecutionContext): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-logs-'));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  return directory;
}

test('log lines: valid ones parse, torn or foreign ones are skipped', (t) => {
  t.deepEqual(parseLogLine(JSON.stringify(line(1, 'stdout', 'hi\n'))), line(1, 'stdout', 'hi\n'));
  t.is(parseLogLine('{"time":"x","stream":"stdout"'), undefined);
  t.is(parseLogLine('{"time":"x","stream":"other","log":""}'), undefined);
  t.is(parseLogLine(''), undefined);
});

test('since, until and tail select like docker logs', (t) => {
  const lines = [line(1, 'stdout', 'a\n'), line(2, 'stderr', 'b\n'), line(3, 'stdout', 'c\n'), line(4, 'stdout', 'd\n')];
  const at = (second: number): number => Date.parse(`2024-05-01T12:00:0${second}Z`);
  t.deepEqual(selectLines(lines, { tail: 2 }).map((l) => l.log), ['c\n', 'd\n']);
  t.deepEqual(selectLines(lines, { tail: 0 }), []);
  t.deepEqual(selectLines(lines, { sinceMs: at(2) }).map((l) => l.log), ['b\n', 'c\n', 'd\n']);
  t.deepEqual(selectLines(lines, { untilMs: at(3) }).map((l) => l.log), ['a\n', 'b\n']);
  t.deepEqual(selectLines(lines, { sinceMs: at(2), tail: 1 }).map((l) => l.log), ['d\n']);
});

test('rotated files are read oldest first', (t) => {
  const directory = folder(t);
  fs.writeFileSync(path.join(directory, 'container.log.2'), text([line(1, 'stdout', 'one\n')]));
  fs.writeFileSync(path.join(directory, 'container.log.1'), text([line(2, 'stdout', 'two\n')]));
  fs.writeFileSync(path.join(directory, 'container.log'), text([line(3, 'stdout', 'three\n')]) + '{"torn');
  t.deepEqual(readLogs(directory).map((l) => l.log), ['one\n', 'two\n', 'three\n']);
  t.deepEqual(readLogs(path.join(directory, 'missing')), []);
});

test('the follower emits the backlog, then appended lines, keeps a partial line for later, and follows a rotation', (t) => {
  const directory = folder(t);
  const live = path.join(directory, 'container.log');
  fs.writeFileSync(live, text([line(1, 'stdout', 'old\n'), line(2, 'stdout', 'older-tail\n')]));
  const seen: string[] = [];
  const follower = new LogFollower(directory, { tail: 1 }, (l) => seen.push(l.log));
  follower.start();
  t.deepEqual(seen, ['older-tail\n']);

  const next = JSON.stringify(line(3, 'stderr', 'new ü\n'));
  fs.appendFileSync(live, next.slice(0, 20));
  follower.poll();
  t.deepEqual(seen, ['older-tail\n'], 'a partial line waits');
  fs.appendFileSync(live, next.slice(20) + '\n');
  follower.poll();
  t.deepEqual(seen, ['older-tail\n', 'new ü\n']);

  // Rotation: the last line written to the old file, then the file moves and a new one starts.
  fs.appendFileSync(live, text([line(4, 'stdout', 'last-in-old\n')]));
  fs.renameSync(live, path.join(directory, 'container.log.1'));
  fs.writeFileSync(live, text([line(5, 'stdout', 'first-in-new\n')]));
  follower.poll();
  t.deepEqual(seen.slice(2), ['last-in-old\n', 'first-in-new\n']);
  follower.close();
  follower.poll();
  t.is(seen.length, 4);
});
