// The native OOM watcher: arguments and errors, delivery through the thread-safe function, no fd
// leaks (watch/unwatch cycles, close, a worker torn down with watches open, a process exiting
// with watches open), and a real OOM kill in a cgroup of the test's own.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import { parseMemoryEvents, parseOomControl } from '../../server/cgroup/parse';
import { cgroupDirectory } from '../../server/cgroup/hierarchy';
import { NativeError, createOomWatcher, type NativeOomWatcher } from '../../server/native';
import { TestCgroupTree } from '../helpers/cgroups';
import { requireCapability } from '../helpers/repo';

const isRoot = process.getuid?.() === 0;

function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** A temp directory with a plain memory.events file: inotify (the v2 path) works on any file. */
function fakeV2Cgroup(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-oom-'));
  fs.writeFileSync(path.join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function watcherFor(t: ExecutionContext, onNotify: (watchId: number, timeMs: number) => void = () => {}): NativeOomWatcher {
  const watcher = createOomWatcher(onNotify);
  t.teardown(() => watcher.close());
  return watcher;
}

/** Resolves with the first watch id delivered (and the watcher's wake-up time), or rejects after timeoutMs. */
function nextNotification(timeoutMs: number): { onNotify: (watchId: number, timeMs: number) => void; received: Promise<number>; wokeAtMs: () => number | undefined } {
  let resolve!: (watchId: number) => void;
  let woke: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  // The timer is ref'd on purpose: the watcher does not hold the event loop open, so something
  // must until the notification arrives.
  const received = new Promise<number>((ok, fail) => {
    resolve = ok;
    timer = setTimeout(() => fail(new Error(`no notification within ${timeoutMs} ms`)), timeoutMs);
  });
  return {
    onNotify: (watchId, timeMs) => {
      clearTimeout(timer);
      woke ??= timeMs;
      resolve(watchId);
    },
    received,
    wokeAtMs: () => woke,
  };
}

test.serial('200 watch/unwatch cycles leave no fd behind, and close() releases the rest', (t) => {
  const dir = fakeV2Cgroup(t);
  const before = openFdCount();
  const watcher = createOomWatcher(() => {});
  const withWatcher = openFdCount();
  t.true(withWatcher > before, 'the watcher holds its epoll and wake fds');
  for (let i = 0; i < 200; i++) {
    const id = watcher.watchV2(dir);
    t.true(watcher.unwatch(id));
  }
  t.is(openFdCount(), withWatcher);
  const kept = [watcher.watchV2(dir), watcher.watchV2(dir), watcher.watchV2(dir)];
  t.is(new Set(kept).size, 3, 'every watch has its own id');
  t.true(openFdCount() > withWatcher);
  watcher.close();
  t.is(openFdCount(), before);
  watcher.close(); // idempotent
  t.is(openFdCount(), before);
});

test.serial('v1: 200 watch/unwatch cycles on a real memory cgroup leave no fd behind', async (t) => {
  if (!requireCapability(isRoot, 'root (real cgroups)')) return t.log('skipped: needs root');
  const tree = TestCgroupTree.forTest(t);
  if (tree.layout.controllersOn !== 1) return t.log('skipped: the memory controller is on cgroup v2 here (covered by the v2 cycles)');
  const cgroup = tree.child('fds');
  const directory = cgroupDirectory(tree.layout, 'memory', cgroup)!;
  const before = openFdCount();
  const watcher = createOomWatcher(() => {});
  const withWatcher = openFdCount();
  for (let i = 0; i < 200; i++) t.true(watcher.unwatch(watcher.watchV1(directory)));
  t.is(openFdCount(), withWatcher);
  watcher.watchV1(directory);
  watcher.watchV1(directory);
  watcher.close();
  t.is(openFdCount(), before);
});

test('a change to the watched file reaches the callback, on the JS thread, with the watch id and the wake-up time', async (t) => {
  const dir = fakeV2Cgroup(t);
  const { onNotify, received, wokeAtMs } = nextNotification(5000);
  const watcher = watcherFor(t, onNotify);
  const other = watcher.watchV2(fakeV2Cgroup(t));
  const id = watcher.watchV2(dir);
  t.not(id, other);
  const changedAtMs = Date.now();
  fs.appendFileSync(path.join(dir, 'memory.events'), 'oom_kill 1\n');
  t.is(await received, id);
  const deliveredAtMs = Date.now();
  // The watcher thread's CLOCK_REALTIME, the clock Date.now() reads: between the change and the delivery.
  const woke = wokeAtMs()!;
  t.true(woke >= changedAtMs - 1 && woke <= deliveredAtMs + 1, `woke at ${woke}, changed at ${changedAtMs}, delivered at ${deliveredAtMs}`);
});

test('after unwatch the callback hears nothing more from that watch', async (t) => {
  const dir = fakeV2Cgroup(t);
  const seen: number[] = [];
  const watcher = watcherFor(t, (id) => seen.push(id));
  const id = watcher.watchV2(dir);
  t.true(watcher.unwatch(id));
  t.false(watcher.unwatch(id), 'a second unwatch reports the id as unknown');
  fs.appendFileSync(path.join(dir, 'memory.events'), 'oom_kill 1\n');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.deepEqual(seen, []);
});

test('syscall failures are NativeErrors with code, errno, syscall and path', (t) => {
  const watcher = watcherFor(t);
  const missing = path.join(os.tmpdir(), 'capstan-no-such-cgroup');
  const v1 = t.throws(() => watcher.watchV1(missing), { instanceOf: NativeError });
  t.is(v1?.code, 'ENOENT');
  t.is(v1?.errno, os.constants.errno.ENOENT);
  t.is(v1?.syscall, 'open');
  t.is(v1?.path, `${missing}/memory.oom_control`);
  const v2 = t.throws(() => watcher.watchV2(missing), { instanceOf: NativeError });
  t.is(v2?.code, 'ENOENT');
  t.is(v2?.syscall, 'inotify_add_watch');
  t.is(v2?.path, `${missing}/memory.events`);
});

test('a plain directory is refused at cgroup.event_control: it is not a cgroup', (t) => {
  const dir = fakeV2Cgroup(t);
  fs.writeFileSync(path.join(dir, 'memory.oom_control'), 'oom_kill_disable 0\n');
  const watcher = watcherFor(t);
  const error = t.throws(() => watcher.watchV1(dir), { instanceOf: NativeError });
  t.is(error?.code, 'ENOENT');
  t.is(error?.path, `${dir}/cgroup.event_control`);
});

test('arguments are checked before they reach native code', (t) => {
  t.throws(() => createOomWatcher(undefined as unknown as () => void), { instanceOf: TypeError, message: 'createOomWatcher: onNotify must be a function' });
  const watcher = watcherFor(t);
  t.throws(() => watcher.watchV1('relative/dir'), { instanceOf: TypeError, message: 'watchV1: directory must be absolute, got "relative/dir"' });
  t.throws(() => watcher.watchV2('/a\0b'), { instanceOf: TypeError, message: 'watchV2: directory must not contain NUL bytes' });
  t.throws(() => watcher.watchV2(42 as unknown as string), { instanceOf: TypeError });
  t.false(watcher.unwatch(0));
  t.false(watcher.unwatch(-1));
  t.false(watcher.unwatch(1.5));
  t.false(watcher.unwatch(123456));
  watcher.close();
  t.throws(() => watcher.watchV2('/tmp'), { message: 'watchV2: the OOM watcher is closed' });
  t.false(watcher.unwatch(1));
});

test.serial('a worker thread torn down with watches open leaks no fd (the cleanup hook closes them)', async (t) => {
  const dir = fakeV2Cgroup(t);
  const before = openFdCount();
  const source = `
    const native = require(${JSON.stringify(require.resolve('../../server/native'))});
    const { parentPort, workerData } = require('node:worker_threads');
    const watcher = native.createOomWatcher(() => {});
    for (let i = 0; i < 10; i++) watcher.watchV2(workerData.dir);
    parentPort.postMessage(require('node:fs').readdirSync('/proc/self/fd').length);`;
  for (const ending of ['terminate', 'exit'] as const) {
    const worker = new Worker(ending === 'exit' ? `${source}\nprocess.exit(0);` : `${source}\nsetInterval(() => {}, 1000);`, { eval: true, workerData: { dir } });
    const during = (await new Promise((resolve) => worker.once('message', resolve))) as number;
    t.true(during >= before + 10, `${ending}: the worker's watches are open (${during} fds, ${before} before)`);
    if (ending === 'terminate') await worker.terminate();
    else await new Promise((resolve) => worker.once('exit', resolve));
    // Fds the worker's own environment opened (its libuv loop) close as it ends; give them a moment.
    for (let i = 0; i < 50 && openFdCount() !== before; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    t.is(openFdCount(), before, `${ending}: every fd is closed again`);
  }
});

test('a process that exits with watches open ends cleanly and at once', (t) => {
  const dir = fakeV2Cgroup(t);
  const script = `
    const native = require(${JSON.stringify(require.resolve('../../server/native'))});
    const watcher = native.createOomWatcher(() => {});
    for (let i = 0; i < 10; i++) watcher.watchV2(${JSON.stringify(dir)});
    console.log('watching');`;
  // The watcher does not keep the event loop alive, so the script simply ends.
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  t.is(result.error, undefined);
  t.is(result.signal, null);
  t.is(result.status, 0, result.stderr);
  t.is(result.stdout.trim(), 'watching');
});

test('a real OOM kill in a 32 MiB cgroup is delivered, and the kernel counted the kill', async (t) => {
  if (!requireCapability(isRoot, 'root (real cgroups)')) return t.log('skipped: needs root');
  const tree = TestCgroupTree.forTest(t);
  const cgroup = tree.child('oom');
  tree.setMemoryLimit(cgroup, 32 * 1024 * 1024);
  const v2 = tree.layout.controllersOn === 2;
  const directory = cgroupDirectory(tree.layout, v2 ? 'unified' : 'memory', cgroup)!;
  const counterFile = path.join(directory, v2 ? 'memory.events' : 'memory.oom_control');
  const readKills = (): number | undefined => {
    const text = fs.readFileSync(counterFile, 'utf8');
    return v2 ? parseMemoryEvents(text).oomKill : parseOomControl(text).oomKill;
  };
  t.is(readKills(), 0);

  const seen: number[] = [];
  let notified!: () => void;
  const firstNotification = new Promise<void>((resolve) => (notified = resolve));
  const watcher = watcherFor(t, (id) => {
    seen.push(id);
    notified();
  });
  const id = v2 ? watcher.watchV2(directory) : watcher.watchV1(directory);

  // Allocates after the shell has been moved into the cgroup (TestCgroupTree.run).
  const hog = await tree.run(cgroup, `${process.execPath} -e "const chunks = []; for (;;) chunks.push(Buffer.alloc(1024 * 1024, 1));"`);
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    hog.once('exit', (code, signal) => resolve({ code, signal })),
  );
  t.is(exit.signal, 'SIGKILL', 'the OOM killer ends the process with SIGKILL');
  // The watcher does not hold the event loop open (it must not keep an agent alive), and with the
  // hog gone nothing else does: a ref'd timer keeps this test's loop running until the
  // notification, possibly a moment behind the exit, arrives — or fails it clearly.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    firstNotification,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no OOM notification within 10 s of the kill')), 10_000);
    }),
  ]).finally(() => clearTimeout(timer));
  t.true(seen.every((watchId) => watchId === id));
  // v1's eventfd fires on the OOM condition, just before the kill is counted: the counter says.
  let kills = readKills();
  for (let i = 0; i < 50 && !(kills! >= 1); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    kills = readKills();
  }
  t.true(kills! >= 1, `oom_kill = ${kills}`);
});
