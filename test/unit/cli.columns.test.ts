/** Cell formatting of the stats and ps column registries: units, rounding and unknown values. */
import test from 'ava';
import { UNKNOWN, columnRegistry, truncateId } from '../../server/cli/columns/column';
import { CGROUP_COLUMN_REGISTRY } from '../../server/cli/columns/cgroups';
import { goTimeString } from '../../server/cli/columns/column';
import { STATS_COLUMN_REGISTRY, formatPercent, type StatsRow } from '../../server/cli/columns/stats';
import type { ContainerInfo, ContainerStats } from '../../server/model';

const INFO: ContainerInfo = {
  id: 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
  name: 'web',
  cgroupPath: '/capstan/web',
  image: '',
  source: 'capstan',
  isContainer: true,
  labels: {},
};
const OPTIONS = { trunc: true, nowMs: 0 };

function cell(field: string, stats: Partial<ContainerStats> | null, extra: Partial<StatsRow> = {}): string {
  const row: StatsRow = { info: INFO, stats: stats === null ? null : { timestampMs: 1, ...stats }, ...extra };
  return STATS_COLUMN_REGISTRY.get(field)!.format(row, OPTIONS);
}

test('percentages are %.2f%% with Go rounding', (t) => {
  t.is(cell('CPUPerc', { cpuPercent: 0 }), '0.00%');
  t.is(cell('CPUPerc', { cpuPercent: 0.125 }), '0.12%');
  t.is(cell('CPUPerc', { cpuPercent: 199.999 }), '200.00%');
  t.is(cell('MemPerc', { memoryPercent: 45.678 }), '45.68%');
  t.is(formatPercent(undefined), UNKNOWN);
});

test('a missing value is "--", never 0', (t) => {
  t.is(cell('CPUPerc', {}), '--');
  t.is(cell('MemPerc', {}), '--');
  t.is(cell('PIDs', {}), '--');
  t.is(cell('PIDs', { pids: 0 }), '0');
});

test('memory pair: binary units, "-- / --" when both are unknown, each side on its own otherwise', (t) => {
  t.is(cell('MemUsage', { memoryWorkingSetBytes: 5902336, memoryLimitBytes: 2096103424 }), '5.629MiB / 1.952GiB');
  t.is(cell('MemUsage', {}), '-- / --');
  t.is(cell('MemUsage', { memoryWorkingSetBytes: 0 }), '0B / --');
  t.is(cell('MemUsage', { memoryLimitBytes: 1024 }), '-- / 1KiB');
});

test('network and block I/O: decimal units with 3 digits; docker\'s single "--" when unknown', (t) => {
  t.is(cell('NetIO', { networkRxBytes: 2480, networkTxBytes: 0 }), '2.48kB / 0B');
  t.is(cell('NetIO', { networkRxBytes: 999500, networkTxBytes: 1e9 }), '1e+03kB / 1GB');
  t.is(cell('NetIO', {}), '--');
  t.is(cell('BlockIO', { blockReadBytes: 147456 }), '147kB / --');
  t.is(cell('BlockIO', {}), '--');
});

test('a row without stats yet shows docker\'s invalid-row placeholders', (t) => {
  const fields = ['CPUPerc', 'MemUsage', 'MemPerc', 'NetIO', 'BlockIO', 'PIDs', 'CPUThrottled'];
  t.deepEqual(fields.map((f) => cell(f, null)), ['--', '-- / --', '--', '--', '--', '--', '--']);
});

test('CPU throttling is "--" without a quota, a percentage with one', (t) => {
  t.is(cell('CPUThrottled', { cpuLimitCpus: null, cpuThrottledPercent: 0 }), '--');
  t.is(cell('CPUThrottled', { cpuThrottledPercent: 3 }), '--');
  t.is(cell('CPUThrottled', { cpuLimitCpus: 0.5, cpuThrottledPercent: 33.333 }), '33.33%');
  t.is(cell('CPUThrottled', { cpuLimitCpus: 0.5 }), '--');
  t.is(cell('CPUThrottled', { cpuLimitCpus: 2, cpuThrottledPercent: 0 }), '0.00%');
});

test('ID is cut to 12 characters after any "algo:" prefix; Container is what the user typed', (t) => {
  t.is(cell('ID', {}), '0123456789ab');
  t.is(truncateId('abc'), 'abc');
  t.is(cell('Container', {}), 'web');
  t.is(cell('Container', {}, { query: '0123' }), '0123');
  t.is(STATS_COLUMN_REGISTRY.get('Name')!.format({ info: { ...INFO, name: '' }, stats: null }, OPTIONS), '--');
});

test('cgroups times: docker\'s relative CREATED and Go\'s time.String() for CreatedAt', (t) => {
  const nowMs = Date.UTC(2024, 4, 1, 12, 0, 0);
  const row = (createdAtMs?: number) => ({ info: { ...INFO, ...(createdAtMs !== undefined ? { createdAtMs } : {}) } });
  const runningFor = CGROUP_COLUMN_REGISTRY.get('RunningFor')!;
  t.is(runningFor.format(row(nowMs - 3 * 3_600_000), { trunc: true, nowMs }), '3 hours ago');
  t.is(runningFor.format(row(nowMs), { trunc: true, nowMs: nowMs + 400 }), 'Less than a second ago');
  // docker keeps whole seconds of the creation time: 0.4 s into a second counts from its start.
  t.is(runningFor.format(row(nowMs - 400), { trunc: true, nowMs }), '1 second ago');
  t.is(runningFor.format(row(), { trunc: true, nowMs }), '--');
  t.regex(goTimeString(nowMs), /^2024-05-01 \d\d:00:00 [+-]\d{4}/);
  if (new Date(nowMs).getTimezoneOffset() === 0) t.is(goTimeString(nowMs + 999), '2024-05-01 12:00:00 +0000 UTC');
});

test('a registry refuses two columns with one field name', (t) => {
  const column = { field: 'X', header: 'X', description: '', format: () => '' };
  t.throws(() => columnRegistry([column, column]), { message: 'duplicate column field X' });
});
