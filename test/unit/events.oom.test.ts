// OOM policy in TypeScript, without the kernel: which cgroups are watched, how a notification
// becomes zero or more `oom` events (v1 follow-up readings, v2 hierarchical attribution), the
// near-limit hysteresis, and the per-name counter rebuilt from the event log.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { EventBus, EventLog, type CapstanEvent } from '../../server/events';
import type { CgroupLayout, CollectorSnapshot, ContainerInfo, ContainerSnapshot } from '../../server/model';
import type { NativeOomWatcher, TextOrErrno } from '../../server/native';
import { NearLimitTracker, OomCounter, OomMonitor, attributeKills, onOomKill, type NearLimitTransition } from '../../server/oom';

const V1_LAYOUT: CgroupLayout = { mode: 'v1', controllersOn: 1, v1Mounts: { memory: '/fake/memory' }, v2Controllers: [] };
const V2_LAYOUT: CgroupLayout = { mode: 'v2', controllersOn: 2, v1Mounts: {}, v2Mount: '/fake/unified', v2Controllers: ['memory'] };
const MiB = 1024 * 1024;

function info(cgroupPath: string, source: ContainerInfo['source'] = 'raw'): ContainerInfo {
  return { id: cgroupPath.replace(/\W/g, '').padEnd(64, '0').slice(0, 64), name: cgroupPath, cgroupPath, image: '', source, isContainer: source !== 'raw', labels: {} };
}

interface Row {
  path: string;
  source?: ContainerInfo['source'];
  limitBytes?: number;
  workingSetBytes?: number;
  oomKills?: number;
}

function snapshot(rows: Row[], timestampMs = Date.now()): CollectorSnapshot {
  const containers: ContainerSnapshot[] = rows.map((row) => ({
    info: info(row.path, row.source),
    sample: { cpu: {}, memory: { ...(row.oomKills !== undefined && { oomKills: row.oomKills }) }, pids: {} },
    stats: {
      timestampMs,
      memoryLimitIsSet: row.limitBytes !== undefined,
      memoryLimitBytes: row.limitBytes ?? 64 * 1024 * MiB,
      ...(row.workingSetBytes !== undefined && { memoryWorkingSetBytes: row.workingSetBytes }),
    },
  }));
  return { sequence: 1, timestampMs, tickDurationSeconds: 0, layout: V1_LAYOUT, host: { systemCpuNanoseconds: 0, onlineCpus: 2 }, containers };
}

/** A fake kernel: the watcher records watches, files are a map, fire() delivers a notification. */
class FakeKernel {
  readonly files = new Map<string, string>();
  readonly watches = new Map<number, string>();
  private notify: ((watchId: number, timeMs: number) => void) | undefined;
  private nextId = 1;
  closed = false;

  readonly createWatcher = (onNotify: (watchId: number, timeMs: number) => void): NativeOomWatcher => {
    this.notify = onNotify;
    const watch = (directory: string): number => {
      const id = this.nextId++;
      this.watches.set(id, directory);
      return id;
    };
    return {
      watchV1: watch,
      watchV2: watch,
      unwatch: (id) => this.watches.delete(id),
      close: () => {
        this.closed = true;
      },
    };
  };

  readonly readFiles = async (paths: readonly string[]): Promise<TextOrErrno[]> => this.readFilesSync(paths);
  readonly readFilesSync = (paths: readonly string[]): TextOrErrno[] => paths.map((p) => this.files.get(p) ?? 2);

  /** A notification, as the watcher thread would deliver it, woken at `timeMs`. */
  fire(directory: string, timeMs = Date.now()): void {
    for (const [id, watched] of this.watches) if (watched === directory) this.notify!(id, timeMs);
  }

  setV1(directory: string, oomKill: number, limitBytes = 32 * MiB): void {
    this.files.set(`${directory}/memory.oom_control`, `oom_kill_disable 0\nunder_oom 0\noom_kill ${oomKill}\n`);
    this.files.set(`${directory}/memory.max_usage_in_bytes`, `${limitBytes}\n`);
    this.files.set(`${directory}/memory.usage_in_bytes`, `${1 * MiB}\n`);
    this.files.set(`${directory}/memory.limit_in_bytes`, `${limitBytes}\n`);
  }

  setV2(directory: string, oomKill: number, limitBytes: number | 'max' = 32 * MiB): void {
    this.files.set(`${directory}/memory.events`, `low 0\nhigh 0\nmax 12\noom ${oomKill}\noom_kill ${oomKill}\noom_group_kill 0\n`);
    this.files.set(`${directory}/memory.peak`, `${limitBytes === 'max' ? 5 * MiB : limitBytes}\n`);
    this.files.set(`${directory}/memory.current`, `${1 * MiB}\n`);
    this.files.set(`${directory}/memory.max`, `${limitBytes}\n`);
  }

  removeDirectory(directory: string): void {
    for (const key of [...this.files.keys()]) if (key.startsWith(directory + '/')) this.files.delete(key);
  }
}

function setup(t: ExecutionContext, layout: CgroupLayout, followUpDelaysMs: number[] = []): { kernel: FakeKernel; monitor: OomMonitor; events: CapstanEvent[]; warnings: string[] } {
  const kernel = new FakeKernel();
  const bus = new EventBus();
  const events: CapstanEvent[] = [];
  bus.subscribe((event) => events.push(event));
  const warnings: string[] = [];
  const monitor = new OomMonitor({
    layout,
    bus,
    createWatcher: kernel.createWatcher,
    readFiles: kernel.readFiles,
    readFilesSync: kernel.readFilesSync,
    isCgroupFilesystem: () => true,
    followUpDelaysMs,
    onWarning: (message) => warnings.push(message),
  });
  t.teardown(() => monitor.close());
  return { kernel, monitor, events, warnings };
}

const ooms = (events: CapstanEvent[]): CapstanEvent[] => events.filter((e) => e.action === 'oom');

test('watches cgroups with a limit of their own and capstan/docker containers; stops when they go', async (t) => {
  const { kernel, monitor } = setup(t, V1_LAYOUT);
  monitor.handleTick(
    snapshot([
      { path: '/' },
      { path: '/system.slice' },
      { path: '/limited', limitBytes: 32 * MiB },
      { path: '/capstan/web', source: 'capstan' },
      { path: '/docker/abc', source: 'docker' },
    ]),
  );
  t.deepEqual(monitor.watchedPaths(), ['/capstan/web', '/docker/abc', '/limited']);
  t.deepEqual([...kernel.watches.values()].sort(), ['/fake/memory/capstan/web', '/fake/memory/docker/abc', '/fake/memory/limited']);
  // The limit is lifted, the docker container is gone from the tick, capstan's is removed.
  monitor.handleTick(snapshot([{ path: '/' }, { path: '/limited' }, { path: '/capstan/web', source: 'capstan' }]));
  monitor.handleRemoved(info('/capstan/web', 'capstan'));
  t.deepEqual(monitor.watchedPaths(), []);
  t.is(kernel.watches.size, 0);
  monitor.close();
  t.true(kernel.closed);
});

test('v1: a notification with no kill yet publishes nothing; the follow-up reading finds the kill', async (t) => {
  const { kernel, monitor, events } = setup(t, V1_LAYOUT, [10, 30]);
  const dir = '/fake/memory/limited';
  kernel.setV1(dir, 0);
  monitor.handleTick(snapshot([{ path: '/limited', limitBytes: 32 * MiB, oomKills: 0 }]));
  await monitor.idle();
  kernel.fire(dir); // the OOM condition: the kernel has not counted the kill yet
  await monitor.idle();
  t.deepEqual(ooms(events), []);
  kernel.setV1(dir, 1);
  await new Promise((resolve) => setTimeout(resolve, 60));
  await monitor.idle();
  const [oom] = ooms(events);
  t.is(ooms(events).length, 1);
  t.is(oom!.actor.cgroupPath, '/limited');
  t.is(oom!.memoryLimitBytes, 32 * MiB);
  t.is(oom!.memoryUsageBytes, 32 * MiB, 'max usage, the usage at the kill');
  t.deepEqual(oom!.attributes, { name: '/limited', memoryLimitBytes: String(32 * MiB), memoryUsageBytes: String(32 * MiB) });
  // Further readings of the same count publish nothing more.
  kernel.fire(dir);
  await new Promise((resolve) => setTimeout(resolve, 60));
  await monitor.idle();
  t.is(ooms(events).length, 1);
});

test('v1: two kills counted in one reading are two events; the tick catches a missed notification', async (t) => {
  const { kernel, monitor, events } = setup(t, V1_LAYOUT);
  const dir = '/fake/memory/limited';
  kernel.setV1(dir, 3);
  monitor.handleTick(snapshot([{ path: '/limited', limitBytes: 32 * MiB, oomKills: 3 }]));
  await monitor.idle();
  t.deepEqual(ooms(events), [], 'kills before the watch started are history');
  kernel.setV1(dir, 5);
  kernel.fire(dir);
  await monitor.idle();
  t.is(ooms(events).length, 2);
  // No notification at all, but the collector's own reading moved: read now.
  kernel.setV1(dir, 6);
  monitor.handleTick(snapshot([{ path: '/limited', limitBytes: 32 * MiB, oomKills: 6 }]));
  await monitor.idle();
  t.is(ooms(events).length, 3);
});

test('a kill between the collector reading and the watch being in place is reported', async (t) => {
  const { kernel, monitor, events } = setup(t, V1_LAYOUT);
  kernel.setV1('/fake/memory/limited', 1);
  monitor.handleTick(snapshot([{ path: '/limited', limitBytes: 32 * MiB, oomKills: 0 }]));
  await monitor.idle();
  t.is(ooms(events).length, 1);
});

test('a cgroup that vanished is unwatched at the next reading', async (t) => {
  const { kernel, monitor, events, warnings } = setup(t, V1_LAYOUT);
  const dir = '/fake/memory/limited';
  kernel.setV1(dir, 0);
  monitor.handleTick(snapshot([{ path: '/limited', limitBytes: 32 * MiB, oomKills: 0 }]));
  await monitor.idle();
  kernel.removeDirectory(dir);
  kernel.fire(dir); // v1 signals the eventfd when the cgroup is removed
  await monitor.idle();
  t.deepEqual(monitor.watchedPaths(), []);
  t.deepEqual(events, []);
  t.deepEqual(warnings, []);
});

test('v2: a kill counted hierarchically is the deepest watched cgroup’s, once', async (t) => {
  const { kernel, monitor, events } = setup(t, V2_LAYOUT);
  for (const dir of ['/fake/unified/app', '/fake/unified/app/web', '/fake/unified/app/db']) kernel.setV2(dir, 0);
  monitor.handleTick(
    snapshot([
      { path: '/app', limitBytes: 512 * MiB, oomKills: 0 },
      { path: '/app/web', limitBytes: 32 * MiB, oomKills: 0 },
      { path: '/app/db', source: 'capstan', oomKills: 0 },
    ]),
  );
  await monitor.idle();
  // A kill in /app/web raises oom_kill in /app/web and /app; inotify fires for both.
  kernel.setV2('/fake/unified/app/web', 1);
  kernel.setV2('/fake/unified/app', 1, 512 * MiB);
  kernel.fire('/fake/unified/app');
  kernel.fire('/fake/unified/app/web');
  await monitor.idle();
  t.deepEqual(ooms(events).map((e) => e.actor.cgroupPath), ['/app/web']);
  // A kill in an unwatched child of /app (charged to /app's limit) is /app's.
  kernel.setV2('/fake/unified/app', 2, 512 * MiB);
  kernel.fire('/fake/unified/app');
  await monitor.idle();
  t.deepEqual(ooms(events).map((e) => e.actor.cgroupPath), ['/app/web', '/app']);
  t.is(ooms(events)[1]!.memoryLimitBytes, 512 * MiB);
});

test('attributeKills: v1 counts are local; v2 subtracts the nearest watched descendants', (t) => {
  const readings = [
    { cgroupPath: '/a', baseline: 0, count: 3 },
    { cgroupPath: '/a/b', baseline: 0, count: 2 },
    { cgroupPath: '/a/b/c', baseline: 1, count: 2 },
    { cgroupPath: '/ab', baseline: 0, count: 1 },
  ];
  t.deepEqual(Object.fromEntries(attributeKills(readings, false)), { '/a': 3, '/a/b': 2, '/a/b/c': 1, '/ab': 1 });
  t.deepEqual(Object.fromEntries(attributeKills(readings, true)), { '/a': 1, '/a/b': 1, '/a/b/c': 1, '/ab': 1 });
  t.deepEqual(Object.fromEntries(attributeKills([{ cgroupPath: '/x', baseline: 5, count: 1 }], true)), { '/x': 0 }, 'a re-created cgroup counts from its new value');
});

test('near-limit: above 90 % enters, only below 80 % clears (no flapping in between)', (t) => {
  const tracker = new NearLimitTracker();
  const steps: Array<[number | undefined, NearLimitTransition | undefined]> = [
    [50, undefined],
    [91, 'entered'],
    [95, undefined],
    [85, undefined],
    [91, undefined],
    [81, undefined],
    [79, 'cleared'],
    [89, undefined],
    [90, undefined],
    [90.5, 'entered'],
    [undefined, undefined],
    [95, 'entered'],
  ];
  for (const [percent, expected] of steps) t.is(tracker.update('x', percent), expected, `at ${percent} %`);
  t.throws(() => new NearLimitTracker(80, 90), { instanceOf: RangeError });
});

test('near-limit events come from the ticks, with usage and limit', (t) => {
  const { monitor, events } = setup(t, V1_LAYOUT);
  const tick = (workingSetBytes: number): void => monitor.handleTick(snapshot([{ path: '/limited', limitBytes: 100 * MiB, workingSetBytes }, { path: '/free', workingSetBytes: 99 * MiB }]));
  for (const mib of [50, 92, 95, 85, 93, 70, 70]) tick(mib * MiB);
  t.deepEqual(events.map((e) => e.action), ['memory-near-limit', 'memory-near-limit-cleared']);
  const near = events[0]!;
  t.is(near.memoryUsageBytes, 92 * MiB);
  t.is(near.memoryLimitBytes, 100 * MiB);
  t.is(near.attributes['memoryPercent'], '92.0');
  t.is(near.actor.cgroupPath, '/limited');
});

test('watch(): the runtime can watch a cgroup before the collector sees it', async (t) => {
  const { kernel, monitor, events } = setup(t, V1_LAYOUT);
  kernel.setV1('/fake/memory/capstan/new', 0);
  monitor.watch(info('/capstan/new', 'capstan'));
  monitor.handleTick(snapshot([{ path: '/' }])); // not in this tick yet: kept
  t.deepEqual(monitor.watchedPaths(), ['/capstan/new']);
  await monitor.idle();
  kernel.setV1('/fake/memory/capstan/new', 1);
  kernel.fire('/fake/memory/capstan/new');
  await monitor.idle();
  t.is(ooms(events).length, 1);
  monitor.unwatch('/capstan/new');
  t.deepEqual(monitor.watchedPaths(), []);
});

test('watch() of a fresh cgroup: a kill counted before the first reading is reported, dated by its notification', async (t) => {
  const { kernel, monitor, events } = setup(t, V1_LAYOUT);
  const dir = '/fake/memory/capstan/quick';
  kernel.setV1(dir, 0);
  monitor.watch(info('/capstan/quick', 'capstan'), { killsReported: 0 });
  // The kill lands before the first reading runs (the JS thread is busy, an OOM storm).
  kernel.setV1(dir, 1);
  const woke = Date.now() - 300;
  kernel.fire(dir, woke);
  await monitor.idle();
  t.is(ooms(events).length, 1, 'not taken as an old kill');
  t.is(ooms(events)[0]!.timeMs, woke, 'the time the watcher woke, not the time of the reading');
});

test('a kill is dated by the first notification of its episode; one older than the window does not date it', async (t) => {
  const { kernel, monitor, events } = setup(t, V1_LAYOUT);
  const dir = '/fake/memory/capstan/episode';
  kernel.setV1(dir, 0);
  monitor.watch(info('/capstan/episode', 'capstan'), { killsReported: 0 });
  await monitor.idle();
  // v1: the eventfd fires again while the OOM condition lasts; the kill is counted after both.
  const first = Date.now() - 100;
  kernel.fire(dir, first);
  kernel.fire(dir, first + 40);
  kernel.setV1(dir, 1);
  kernel.fire(dir, first + 60);
  await monitor.idle();
  t.deepEqual(ooms(events).map((e) => e.timeMs), [first]);
  // A notification that led to no kill, long ago, then a new episode: dated by the new one.
  kernel.fire(dir, Date.now() - 10_000);
  await monitor.idle();
  const second = Date.now() - 20;
  kernel.fire(dir, second);
  kernel.setV1(dir, 2);
  kernel.fire(dir, second + 5);
  await monitor.idle();
  t.deepEqual(ooms(events).map((e) => e.timeMs), [first, second]);
});

test('settle(): the kills not read yet are reported before the watch ends, once, and a later tick does not count them again', async (t) => {
  const { kernel, monitor, events } = setup(t, V1_LAYOUT);
  const dir = '/fake/memory/capstan/gone';
  kernel.setV1(dir, 0);
  monitor.watch(info('/capstan/gone', 'capstan'), { killsReported: 0 });
  await monitor.idle();
  // Killed and exited; the reading the notification queued has not run when the runtime settles.
  kernel.setV1(dir, 2);
  kernel.fire(dir, 2_000_000);
  t.is(monitor.settle('/capstan/gone', 2_000_400), 2);
  t.deepEqual(ooms(events).map((e) => e.timeMs), [2_000_000, 2_000_000]);
  await monitor.idle();
  t.is(ooms(events).length, 2, 'the queued reading finds the watch ended');
  t.deepEqual(monitor.watchedPaths(), []);
  // The collector still shows the cgroup (with an older count) until it is removed: no new watch from it.
  monitor.handleTick(snapshot([{ path: '/capstan/gone', source: 'capstan', oomKills: 0 }]));
  await monitor.idle();
  t.deepEqual(monitor.watchedPaths(), []);
  t.is(ooms(events).length, 2);
  // Without a notification, the kill is dated by the exit the runtime gives.
  kernel.setV1(dir, 0);
  monitor.watch(info('/capstan/gone', 'capstan'), { killsReported: 0 });
  kernel.setV1(dir, 1);
  monitor.settle('/capstan/gone', 4_000_000);
  t.is(ooms(events).at(-1)!.timeMs, 4_000_000);
  t.is(ooms(events).length, 3);
});

test('settle() on v2: a watched ancestor does not count the settled kill again', async (t) => {
  const { kernel, monitor, events } = setup(t, V2_LAYOUT);
  kernel.setV2('/fake/unified/limited', 0);
  kernel.setV2('/fake/unified/limited/c', 0);
  monitor.handleTick(snapshot([{ path: '/limited', limitBytes: 64 * MiB, oomKills: 0 }]));
  monitor.watch(info('/limited/c', 'capstan'), { killsReported: 0 });
  await monitor.idle();
  kernel.setV2('/fake/unified/limited', 1);
  kernel.setV2('/fake/unified/limited/c', 1);
  monitor.settle('/limited/c');
  kernel.fire('/fake/unified/limited');
  await monitor.idle();
  t.deepEqual(ooms(events).map((e) => e.actor.cgroupPath), ['/limited/c']);
});

test('watch() with the kills already reported (re-adoption): only the ones missed are reported', async (t) => {
  const { kernel, monitor, events } = setup(t, V1_LAYOUT);
  kernel.setV1('/fake/memory/capstan/old', 3);
  monitor.watch(info('/capstan/old', 'capstan'), { killsReported: 2 });
  await monitor.idle();
  t.is(ooms(events).length, 1);
});

test('onOomKill() hands the runtime the oom events of one container', (t) => {
  const bus = new EventBus();
  const seen: string[] = [];
  const off = onOomKill(bus, '/capstan/web', (event) => seen.push(event.actor.cgroupPath));
  const base = { type: 'container' as const, timeMs: 1, attributes: {} };
  bus.publish({ ...base, action: 'oom', actor: { id: 'a', name: 'web', cgroupPath: '/capstan/web', image: '' } });
  bus.publish({ ...base, action: 'die', actor: { id: 'a', name: 'web', cgroupPath: '/capstan/web', image: '' } });
  bus.publish({ ...base, action: 'oom', actor: { id: 'b', name: 'db', cgroupPath: '/capstan/db', image: '' } });
  off();
  bus.publish({ ...base, action: 'oom', actor: { id: 'a', name: 'web', cgroupPath: '/capstan/web', image: '' } });
  t.deepEqual(seen, ['/capstan/web']);
});

test('OomCounter: counts by name, rebuilt from the log after a restart, without double counting', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-oomcount-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const oom = (name: string, cgroupPath: string): CapstanEvent => ({
    type: 'container',
    action: 'oom',
    actor: { id: cgroupPath, name, cgroupPath, image: '' },
    timeMs: Date.now(),
    attributes: { name },
  });
  {
    const bus = new EventBus();
    const log = new EventLog({ directory: dir });
    log.attach(bus);
    const counter = new OomCounter();
    await counter.attach(bus, log);
    bus.publish(oom('web', '/capstan/web-1'));
    // Re-created under a new cgroup, same name: the count carries on.
    bus.publish(oom('web', '/capstan/web-2'));
    bus.publish(oom('db', '/capstan/db'));
    bus.publish({ ...oom('web', '/capstan/web-2'), action: 'die' });
    t.deepEqual(Object.fromEntries(counter.byName()), { web: 2, db: 1 });
    log.close();
  }
  {
    // The agent restarts: the count is rebuilt from the log, and new events add to it.
    const bus = new EventBus();
    const log = new EventLog({ directory: dir });
    t.teardown(() => log.close());
    log.attach(bus);
    const counter = new OomCounter();
    const attached = counter.attach(bus, log);
    bus.publish(oom('web', '/capstan/web-3')); // published while the replay runs: counted once
    await attached;
    t.deepEqual(Object.fromEntries(counter.byName()), { web: 3, db: 1 });
  }
});
