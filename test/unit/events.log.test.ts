// The event log on disk: append and read back, rotation by size, the bound on files and on age,
// reopening after a restart, positions, and lines cut short by a crash.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { EventBus, EventLog, parseEventLine, type CapstanEvent } from '../../server/events';

const HOUR_MS = 3_600_000;

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-events-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function event(timeMs: number, action: CapstanEvent['action'] = 'oom', name = 'web'): CapstanEvent {
  return {
    type: 'container',
    action,
    actor: { id: 'a'.repeat(64), name, cgroupPath: `/capstan/${name}`, image: 'busybox' },
    timeMs,
    attributes: { name, image: 'busybox' },
    memoryLimitBytes: 33554432,
    memoryUsageBytes: 33554432,
  };
}

async function readAll(log: EventLog, query: Parameters<EventLog['read']>[0] = {}): Promise<CapstanEvent[]> {
  const events: CapstanEvent[] = [];
  for await (const e of log.read(query)) events.push(e);
  return events;
}

function files(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

test('appended events are JSON lines, read back in order with since and until inclusive', async (t) => {
  const dir = tempDir(t);
  const now = Date.now();
  const log = new EventLog({ directory: dir, now: () => now });
  t.teardown(() => log.close());
  for (let i = 0; i < 5; i++) log.append(event(now - 5000 + i * 1000, i % 2 === 0 ? 'oom' : 'die'));
  const lines = fs.readFileSync(path.join(dir, 'events-00000001.jsonl'), 'utf8').trim().split('\n');
  t.is(lines.length, 5);
  t.deepEqual(JSON.parse(lines[0]!), event(now - 5000, 'oom'));
  t.is((await readAll(log)).length, 5);
  const middle = await readAll(log, { sinceMs: now - 4000, untilMs: now - 2000 });
  t.deepEqual(middle.map((e) => e.timeMs), [now - 4000, now - 3000, now - 2000]);
  const ooms = await readAll(log, { filter: (e) => e.action === 'oom' });
  t.deepEqual(ooms.map((e) => e.action), ['oom', 'oom', 'oom']);
  t.is(fs.statSync(path.join(dir, 'events-00000001.jsonl')).mode & 0o777, 0o600);
});

test('rotation by size keeps at most maxFiles files, oldest dropped first', async (t) => {
  const dir = tempDir(t);
  const now = Date.now();
  const log = new EventLog({ directory: dir, maxFileBytes: 2048, maxFiles: 3, now: () => now });
  t.teardown(() => log.close());
  const lineBytes = Buffer.byteLength(JSON.stringify(event(now)) + '\n');
  const perFile = Math.floor(2048 / lineBytes);
  const total = perFile * 5 + 1;
  for (let i = 0; i < total; i++) log.append(event(now - total + i));
  const names = files(dir);
  t.deepEqual(names, ['events-00000004.jsonl', 'events-00000005.jsonl', 'events-00000006.jsonl']);
  for (const name of names) t.true(fs.statSync(path.join(dir, name)).size <= 2048, `${name} stays under maxFileBytes`);
  const kept = await readAll(log);
  // Exactly the newest events survive, in order, without gaps.
  t.is(kept.length, perFile * 2 + 1);
  t.deepEqual(kept.map((e) => e.timeMs), Array.from({ length: kept.length }, (_, i) => now - kept.length + i));
});

test('the age bound drops old files and hides old events, and a stale current file is rotated', async (t) => {
  const dir = tempDir(t);
  // The clock starts a day and a half ago; the file's mtime is set to match it.
  let now = Date.now() - 36 * HOUR_MS;
  const log = new EventLog({ directory: dir, maxFileBytes: 1024, maxAgeMs: 24 * HOUR_MS, now: () => now });
  t.teardown(() => log.close());
  log.append(event(now));
  log.append(event(now + 1));
  fs.utimesSync(path.join(dir, 'events-00000001.jsonl'), new Date(now + 1), new Date(now + 1));
  // Now: the first file's newest event is past the bound.
  now += 36 * HOUR_MS;
  t.deepEqual(await readAll(log), [], 'events older than maxAge are not returned');
  log.append(event(now));
  t.deepEqual(files(dir), ['events-00000002.jsonl'], 'the stale file rotated out and was deleted');
  t.deepEqual((await readAll(log)).map((e) => e.timeMs), [now]);
});

test('after a restart the log is read back and appends continue in the same file', async (t) => {
  const dir = tempDir(t);
  const now = Date.now();
  const first = new EventLog({ directory: dir, now: () => now });
  first.append(event(now - 2000));
  first.append(event(now - 1000, 'die'));
  first.close();
  first.append(event(now)); // ignored after close
  const second = new EventLog({ directory: dir, now: () => now });
  t.teardown(() => second.close());
  t.deepEqual((await readAll(second)).map((e) => e.action), ['oom', 'die']);
  second.append(event(now, 'start'));
  t.deepEqual(files(dir), ['events-00000001.jsonl']);
  t.deepEqual((await readAll(second)).map((e) => e.action), ['oom', 'die', 'start']);
});

test('a line cut short by a crash is skipped, and the next start begins a fresh file', async (t) => {
  const dir = tempDir(t);
  const now = Date.now();
  const whole = JSON.stringify(event(now - 1000)) + '\n';
  fs.writeFileSync(path.join(dir, 'events-00000001.jsonl'), whole + whole.slice(0, 40));
  const log = new EventLog({ directory: dir, now: () => now });
  t.teardown(() => log.close());
  log.append(event(now, 'start'));
  t.deepEqual(files(dir), ['events-00000001.jsonl', 'events-00000002.jsonl']);
  t.deepEqual((await readAll(log)).map((e) => e.action), ['oom', 'start']);
});

test('position(): a read up to a position leaves later appends out', async (t) => {
  const dir = tempDir(t);
  const now = Date.now();
  const log = new EventLog({ directory: dir, maxFileBytes: 1024, now: () => now });
  t.teardown(() => log.close());
  log.append(event(now - 3, 'create'));
  const upTo = log.position();
  for (let i = 0; i < 5; i++) log.append(event(now - 2, 'start')); // rotates into later files
  t.true(log.position().file > upTo.file);
  t.deepEqual((await readAll(log, { upTo })).map((e) => e.action), ['create']);
});

test('attach(): every bus event is appended as it is published', async (t) => {
  const dir = tempDir(t);
  const log = new EventLog({ directory: dir });
  t.teardown(() => log.close());
  const bus = new EventBus();
  const detach = log.attach(bus);
  bus.publish(event(Date.now()));
  // Synchronous: on disk before publish() returns.
  t.is(fs.readFileSync(path.join(dir, 'events-00000001.jsonl'), 'utf8').split('\n').length, 2);
  detach();
  bus.publish(event(Date.now()));
  t.is((await readAll(log)).length, 1);
});

test('parseEventLine accepts events only', (t) => {
  t.truthy(parseEventLine(JSON.stringify(event(1))));
  t.is(parseEventLine(''), undefined);
  t.is(parseEventLine('{"action":"oom"'), undefined);
  t.is(parseEventLine('{"hello":1}'), undefined);
  t.is(parseEventLine('[1,2]'), undefined);
  t.deepEqual(parseEventLine('{"action":"oom","timeMs":1,"actor":{"id":"x","name":"n","cgroupPath":"/","image":""},"type":"container"}')?.attributes, {});
});

test('bad sizes are refused', (t) => {
  t.throws(() => new EventLog({ directory: tempDir(t), maxFileBytes: 10 }), { instanceOf: RangeError });
});
