import test from 'ava';
import { cpuPercent, deriveStats, networkTotals, type TimedSample } from '../../server/collector/derive';
import type { CgroupSample, HostSample } from '../../server/model';

const host = (systemCpuNanoseconds: number, memoryTotalBytes = 8 * 2 ** 30): HostSample => ({ systemCpuNanoseconds, onlineCpus: 2, memoryTotalBytes });
const sample = (partial: Partial<CgroupSample> = {}): CgroupSample => ({ cpu: {}, memory: {}, pids: {}, ...partial });
const timed = (timestampMs: number, s: CgroupSample, h: HostSample): TimedSample => ({ timestampMs, sample: s, host: h });

test('CPU % is Δcgroup / Δhost × online CPUs × 100, as docker stats computes it', (t) => {
  const before = timed(0, sample({ cpu: { usageNanoseconds: 1e9 } }), host(100e9));
  // The host spent 2 CPU-seconds (2 CPUs × 1 s); the cgroup 0.2 s of it → 20% of one CPU.
  const after = timed(1000, sample({ cpu: { usageNanoseconds: 1.2e9 } }), host(102e9));
  t.is(Math.round(cpuPercent(before, after)! * 1000) / 1000, 20);
});

test('CPU % is unknown without a host delta or with a missing counter, never 0', (t) => {
  const a = timed(0, sample({ cpu: { usageNanoseconds: 1e9 } }), host(100e9));
  t.is(cpuPercent(a, timed(1000, sample({ cpu: { usageNanoseconds: 2e9 } }), host(100e9))), undefined);
  t.is(cpuPercent(a, timed(1000, sample(), host(101e9))), undefined);
  const stats = deriveStats(undefined, a);
  t.is(stats.cpuPercent, undefined, 'unknown, not 0');
});

test('working set is usage − inactive_file; memory % uses the limit; unlimited clamps to host memory', (t) => {
  const limited = deriveStats(undefined, timed(0, sample({ memory: { usageBytes: 100, inactiveFileBytes: 30, limitBytes: 200 } }), host(1)));
  t.is(limited.memoryWorkingSetBytes, 70);
  t.is(limited.memoryLimitBytes, 200);
  t.true(limited.memoryLimitIsSet);
  t.is(limited.memoryPercent, 35);
  const unlimited = deriveStats(undefined, timed(0, sample({ memory: { usageBytes: 100, limitBytes: null } }), host(1, 1000)));
  t.is(unlimited.memoryLimitBytes, 1000);
  t.false(unlimited.memoryLimitIsSet);
  t.is(unlimited.memoryWorkingSetBytes, 100, 'no inactive_file known: usage itself');
  const inactiveAboveUsage = deriveStats(undefined, timed(0, sample({ memory: { usageBytes: 10, inactiveFileBytes: 50 } }), host(1)));
  t.is(inactiveAboveUsage.memoryWorkingSetBytes, 10);
});

test('throttling and rates need the previous sample', (t) => {
  const a = timed(0, sample({ cpu: { periods: 100, throttledPeriods: 10 }, io: { devices: [{ major: 8, minor: 0, readBytes: 0, writeBytes: 0 }] } }), host(0));
  const b = timed(2000, sample({ cpu: { periods: 110, throttledPeriods: 15 }, io: { devices: [{ major: 8, minor: 0, readBytes: 4000, writeBytes: 2000 }] } }), host(4e9));
  const stats = deriveStats(a, b);
  t.is(stats.cpuThrottledPeriodsDelta, 5);
  t.is(stats.cpuThrottledPercent, 50);
  t.is(stats.blockReadBytesPerSecond, 2000);
  t.is(stats.blockWriteBytesPerSecond, 1000);
  t.is(stats.blockReadBytes, 4000);
});

test('network totals skip loopback; no namespace means unknown', (t) => {
  const iface = (name: string, rxBytes: number, txBytes: number) => ({ name, rxBytes, txBytes, rxPackets: 0, rxErrors: 0, rxDropped: 0, txPackets: 0, txErrors: 0, txDropped: 0 });
  t.deepEqual(networkTotals([iface('lo', 100, 100), iface('eth0', 5, 7)]), { rxBytes: 5, txBytes: 7 });
  t.is(networkTotals(undefined), undefined);
  t.is(deriveStats(undefined, timed(0, sample(), host(0))).networkRxBytes, undefined, 'unknown, not 0');
});

test('CPU limit in CPUs from quota and period; null when unlimited', (t) => {
  t.is(deriveStats(undefined, timed(0, sample({ cpu: { quotaMicroseconds: 50_000, periodMicroseconds: 100_000 } }), host(0))).cpuLimitCpus, 0.5);
  t.is(deriveStats(undefined, timed(0, sample({ cpu: { quotaMicroseconds: null, periodMicroseconds: 100_000 } }), host(0))).cpuLimitCpus, null);
});
