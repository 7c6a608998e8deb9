import test from 'ava';
import { HistoryClock } from '../../server/collector/history';

test('history keeps the newest `capacity` samples, oldest first, null for unknown', (t) => {
  const clock = new HistoryClock(3);
  const history = clock.createHistory();
  for (let i = 0; i < 5; i++) {
    const tick = clock.beginTick(1000 * i);
    clock.record(history, tick, i === 3 ? { timestampMs: 1000 * i } : { timestampMs: 1000 * i, cpuPercent: i * 10 });
  }
  const read = clock.read(history);
  t.deepEqual(read.timestampsMs, [2000, 3000, 4000]);
  t.deepEqual(read.series.cpuPercent, [20, null, 40]);
  t.deepEqual(clock.read(history, 3500).timestampsMs, [4000]);
});

test('a cgroup that appears later has no samples from before it existed', (t) => {
  const clock = new HistoryClock(10);
  clock.beginTick(0);
  clock.beginTick(1000);
  const late = clock.createHistory();
  const tick = clock.beginTick(2000);
  clock.record(late, tick, { timestampMs: 2000, pids: 3 });
  t.deepEqual(clock.read(late).timestampsMs, [1000, 2000]);
  t.deepEqual(clock.read(late).series.pids, [null, 3]);
});

test('capacity must be at least 2', (t) => {
  t.throws(() => new HistoryClock(1), { instanceOf: RangeError });
});

test('limits are kept as the ticks they changed on, and read back for every tick, across the ring wrapping', (t) => {
  const clock = new HistoryClock(4);
  const history = clock.createHistory();
  const limits = [1, 1, 2, 2, 2, 2, 3, undefined, undefined, 4];
  for (const [i, cpuLimitCpus] of limits.entries()) {
    const tick = clock.beginTick(1000 * i);
    clock.record(history, tick, { timestampMs: 1000 * i, ...(cpuLimitCpus === undefined ? {} : { cpuLimitCpus }), memoryLimitBytes: 2 ** 63 - 4096 });
    const expected = limits.slice(Math.max(0, i - 3), i + 1).map((value) => value ?? null);
    t.deepEqual(clock.read(history).series.cpuLimitCpus, expected, `after tick ${i}`);
  }
  t.deepEqual(clock.read(history).series.memoryLimitBytes, [2 ** 63 - 4096, 2 ** 63 - 4096, 2 ** 63 - 4096, 2 ** 63 - 4096], 'v1 unlimited, exact');
  t.deepEqual(clock.read(history, 8000).series.cpuLimitCpus, [null, 4], 'from sinceMs, the step in force then');
});

test('byte gauges that are whole pages come back exact up to 64 GiB', (t) => {
  const clock = new HistoryClock(2);
  const history = clock.createHistory();
  const bytes = 64 * 2 ** 30 - 4096;
  const tick = clock.beginTick(0);
  clock.record(history, tick, { timestampMs: 0, memoryUsageBytes: bytes, memoryWorkingSetBytes: 123 * 4096 });
  t.deepEqual(clock.read(history).series.memoryUsageBytes, [bytes]);
  t.deepEqual(clock.read(history).series.memoryWorkingSetBytes, [123 * 4096]);
});
