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
