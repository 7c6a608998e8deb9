import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import type { CgroupLayout, CgroupSample } from '../../server/model';
import { assembleV1, assembleV2 } from '../../server/cgroup/assemble';
import { V2_STAT_FILES, v1StatFiles, type StatFile } from '../../server/cgroup/files';
import { detectLayout, layoutFromRoot } from '../../server/cgroup/layout';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/cgroup');
const V1_LAYOUT = layoutFromRoot(path.join(FIXTURES, 'v1'));
const V2_LAYOUT = layoutFromRoot(path.join(FIXTURES, 'v2'));
const V1_FILES = v1StatFiles({ blkioThrottleOnly: true, perCpu: true });

/** Reads `files` for one cgroup the way the native batch does: text, or the (positive) errno. */
function readBatch(layout: CgroupLayout, files: readonly StatFile[], cgroupPath: string): Array<string | number> {
  return files.map((file) => {
    const mount = file.controller === 'unified' ? layout.v2Mount : layout.v1Mounts[file.controller];
    const filePath = path.join(mount!, cgroupPath, file.name);
    try {
      return fs.readFileSync(filePath, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code!;
      return (osConstants.errno as Record<string, number>)[code]!;
    }
  });
}

interface Warning {
  index: number;
  message: string;
}

function collectWarnings(): { warnings: Warning[]; warn: (index: number, message: string) => void } {
  const warnings: Warning[] = [];
  return { warnings, warn: (index, message) => warnings.push({ index, message }) };
}

const indexOf = (files: readonly StatFile[], name: string): number => {
  const index = files.findIndex((f) => f.name === name);
  if (index === -1) throw new Error(`${name} is not in the plan`);
  return index;
};

const V1_DEMO: CgroupSample = {
  cpu: {
    usageNanoseconds: 613035199,
    userNanoseconds: 380000000,
    systemNanoseconds: 220000000,
    perCpuNanoseconds: [257847349, 355187850],
    periods: 34,
    throttledPeriods: 27,
    throttledNanoseconds: 1752946472,
    quotaMicroseconds: 20000,
    periodMicroseconds: 100000,
    shares: 1024,
  },
  memory: {
    usageBytes: 14180352,
    limitBytes: 67108864,
    reservationBytes: 33554432,
    swapLimitBytes: 134217728,
    maxUsageBytes: 67108864,
    rssBytes: 2088960,
    cacheBytes: 12091392,
    swapBytes: 0,
    mappedFileBytes: 8192,
    inactiveFileBytes: 10473472,
    activeFileBytes: 1617920,
    pgfault: 17826,
    pgmajfault: 14,
    failcnt: 12,
    oomKills: 1,
  },
  io: { devices: [{ major: 254, minor: 0, readBytes: 20971520, writeBytes: 20971520, readOps: 20, writeOps: 20 }] },
  pids: { current: 3, limit: 100 },
};

const V2_DEMO: CgroupSample = {
  cpu: {
    usageNanoseconds: 613035000,
    userNanoseconds: 380000000,
    systemNanoseconds: 220000000,
    periods: 34,
    throttledPeriods: 27,
    throttledNanoseconds: 1752946000,
    quotaMicroseconds: 20000,
    periodMicroseconds: 100000,
    weight: 100,
    shares: 2597,
  },
  memory: {
    usageBytes: 14180352,
    limitBytes: 67108864,
    reservationBytes: 33554432,
    swapLimitBytes: 134217728,
    swapBytes: 0,
    maxUsageBytes: 67108864,
    rssBytes: 2088960,
    cacheBytes: 12091392,
    mappedFileBytes: 8192,
    inactiveFileBytes: 10473472,
    activeFileBytes: 1617920,
    pgfault: 17826,
    pgmajfault: 14,
    failcnt: 12,
    maxEvents: 12,
    highEvents: 0,
    oomEvents: 1,
    oomKills: 1,
  },
  io: { devices: [{ major: 254, minor: 0, readBytes: 20971520, writeBytes: 20971520, readOps: 20, writeOps: 20 }] },
  pids: { current: 3, limit: 100 },
};

// ------------------------------------------------------------------------------------------------
// cgroup v1 fixture tree
// ------------------------------------------------------------------------------------------------

test('v1 /capstan/demo: every value from the fixture tree', (t) => {
  const { warnings, warn } = collectWarnings();
  t.deepEqual(assembleV1(V1_FILES, readBatch(V1_LAYOUT, V1_FILES, '/capstan/demo'), 0, warn), V1_DEMO);
  t.deepEqual(warnings, []);
});

test('v1 /system.slice/ssh.service: unlimited limits are null, network left to the collector', (t) => {
  const { warnings, warn } = collectWarnings();
  const sample = assembleV1(V1_FILES, readBatch(V1_LAYOUT, V1_FILES, '/system.slice/ssh.service'), 0, warn);
  t.deepEqual(warnings, []);
  t.is(sample.cpu.quotaMicroseconds, null);
  t.is(sample.memory.limitBytes, null);
  t.is(sample.memory.reservationBytes, null);
  t.is(sample.memory.swapLimitBytes, null);
  t.is(sample.memory.usageBytes, 8916992);
  t.deepEqual(sample.pids, { current: 1, limit: 3495 });
  t.deepEqual(sample.io, { devices: [{ major: 254, minor: 0, readBytes: 3743744, writeBytes: 0, readOps: 119, writeOps: 0 }] });
  t.false('network' in sample);
});

test('v1 root: no pids files there, silently; two block devices', (t) => {
  const { warnings, warn } = collectWarnings();
  const sample = assembleV1(V1_FILES, readBatch(V1_LAYOUT, V1_FILES, '/'), 0, warn);
  t.deepEqual(warnings, []);
  t.deepEqual(sample.pids, {});
  t.is(sample.cpu.usageNanoseconds, 56146242030);
  t.is(sample.memory.usageBytes, 336134144);
  t.is(sample.io?.devices.length, 2);
  t.deepEqual(sample.io?.devices[1], { major: 7, minor: 0, readBytes: 1105920, writeBytes: 0, readOps: 52, writeOps: 0 });
});

test('v1 /broken: two parse failures warn once each; the missing pids.current does not', (t) => {
  const { warnings, warn } = collectWarnings();
  const sample = assembleV1(V1_FILES, readBatch(V1_LAYOUT, V1_FILES, '/broken'), 0, warn);
  t.deepEqual(
    warnings.map((w) => w.index),
    [indexOf(V1_FILES, 'cpuacct.usage'), indexOf(V1_FILES, 'memory.stat')],
  );
  t.is(warnings[0]!.message, 'cpuacct.usage: expected an unsigned integer, got "12ab"');
  t.regex(warnings[1]!.message, /^memory\.stat: truncated line "total_unevi"/);
  t.is(sample.cpu.usageNanoseconds, undefined);
  t.is(sample.cpu.userNanoseconds, 0);
  // A memory.stat that fails halfway leaves none of its values behind.
  t.is(sample.memory.rssBytes, undefined);
  t.is(sample.memory.cacheBytes, undefined);
  t.is(sample.memory.usageBytes, 4096);
  t.deepEqual(sample.pids, { limit: null });
  t.deepEqual(sample.io, { devices: [] });
});

test('v1: ENOENT and ENODEV leave the value absent without a warning', (t) => {
  const results = readBatch(V1_LAYOUT, V1_FILES, '/capstan/demo');
  results[indexOf(V1_FILES, 'memory.memsw.limit_in_bytes')] = 2; // no swap accounting
  results[indexOf(V1_FILES, 'memory.oom_control')] = 19; // cgroup being removed
  const { warnings, warn } = collectWarnings();
  const sample = assembleV1(V1_FILES, results, 0, warn);
  t.deepEqual(warnings, []);
  t.false('swapLimitBytes' in sample.memory);
  t.false('oomKills' in sample.memory);
  t.is(sample.memory.limitBytes, 67108864);
});

test('v1: one unparsable file → that value absent and exactly one warn with its index', (t) => {
  const results = readBatch(V1_LAYOUT, V1_FILES, '/capstan/demo');
  const index = indexOf(V1_FILES, 'memory.limit_in_bytes');
  results[index] = 'sixty-four megabytes\n';
  const { warnings, warn } = collectWarnings();
  const sample = assembleV1(V1_FILES, results, 0, warn);
  t.deepEqual(warnings, [{ index, message: 'memory.limit_in_bytes: expected an unsigned integer, got "sixty-four megabytes"' }]);
  t.false('limitBytes' in sample.memory);
  t.deepEqual({ ...sample, memory: { ...sample.memory, limitBytes: 67108864 } }, V1_DEMO);
});

test('v1: other errnos warn with the errno name', (t) => {
  const results = readBatch(V1_LAYOUT, V1_FILES, '/capstan/demo');
  const index = indexOf(V1_FILES, 'pids.current');
  results[index] = 13;
  const { warnings, warn } = collectWarnings();
  const sample = assembleV1(V1_FILES, results, 0, warn);
  t.deepEqual(warnings, [{ index, message: 'read failed: EACCES (errno 13)' }]);
  t.deepEqual(sample.pids, { limit: 100 });
});

test('v1: offset selects one cgroup in a batch of many; warn gets the index in the file list', (t) => {
  const batch = [
    ...readBatch(V1_LAYOUT, V1_FILES, '/system.slice/ssh.service'),
    ...readBatch(V1_LAYOUT, V1_FILES, '/broken'),
    ...readBatch(V1_LAYOUT, V1_FILES, '/capstan/demo'),
  ];
  const { warnings, warn } = collectWarnings();
  t.deepEqual(assembleV1(V1_FILES, batch, 2 * V1_FILES.length, warn), V1_DEMO);
  t.deepEqual(warnings, []);
  assembleV1(V1_FILES, batch, V1_FILES.length, warn);
  t.deepEqual(warnings.map((w) => w.index), [indexOf(V1_FILES, 'cpuacct.usage'), indexOf(V1_FILES, 'memory.stat')]);
});

test('v1: no blkio files at all → io absent; blkio accounting with no I/O → empty device list', (t) => {
  const results = readBatch(V1_LAYOUT, V1_FILES, '/capstan/demo');
  results[indexOf(V1_FILES, 'blkio.throttle.io_service_bytes_recursive')] = 2;
  results[indexOf(V1_FILES, 'blkio.throttle.io_serviced_recursive')] = 2;
  t.false('io' in assembleV1(V1_FILES, results, 0, () => t.fail()));
  results[indexOf(V1_FILES, 'blkio.throttle.io_serviced_recursive')] = 'Total 0\n';
  t.deepEqual(assembleV1(V1_FILES, results, 0, () => t.fail()).io, { devices: [] });
});

test('v1: the scheduler (CFQ) blkio plan reads the same format', (t) => {
  const files = v1StatFiles({ blkioThrottleOnly: false, perCpu: false });
  const results: Array<string | number> = files.map(() => 2);
  results[indexOf(files, 'blkio.io_service_bytes_recursive')] = '8:0 Read 512\n8:0 Write 1024\n8:0 Sync 1536\n8:0 Async 0\n8:0 Total 1536\nTotal 1536\n';
  results[indexOf(files, 'blkio.io_serviced_recursive')] = '8:0 Read 1\n8:0 Write 2\n8:0 Total 3\n8:16 Read 7\nTotal 10\n';
  const sample = assembleV1(files, results, 0, () => t.fail());
  t.deepEqual(sample, {
    cpu: {},
    memory: {},
    pids: {},
    io: {
      devices: [
        { major: 8, minor: 0, readBytes: 512, writeBytes: 1024, readOps: 1, writeOps: 2 },
        { major: 8, minor: 16, readOps: 7 },
      ],
    },
  });
});

test('v1: garbage everywhere never throws; one warning per file', (t) => {
  const results = V1_FILES.map(() => 'garbage');
  const { warnings, warn } = collectWarnings();
  const sample = assembleV1(V1_FILES, results, 0, warn);
  t.deepEqual(sample, { cpu: {}, memory: {}, pids: {} });
  t.deepEqual(warnings.map((w) => w.index), V1_FILES.map((_, i) => i));
});

test('a results array that is too short warns instead of throwing', (t) => {
  const { warnings, warn } = collectWarnings();
  t.deepEqual(assembleV1(V1_FILES, [], 0, warn), { cpu: {}, memory: {}, pids: {} });
  t.is(warnings.length, V1_FILES.length);
  t.regex(warnings[0]!.message, /no read result/);
});

test('files the assembler does not know are ignored', (t) => {
  const files: StatFile[] = [{ controller: 'cpuset', name: 'cpuset.cpus' }, { controller: 'pids', name: 'pids.max' }];
  t.deepEqual(assembleV1(files, ['0-1\n', '7\n'], 0, () => t.fail()), { cpu: {}, memory: {}, pids: { limit: 7 } });
});

// ------------------------------------------------------------------------------------------------
// cgroup v2 fixture tree
// ------------------------------------------------------------------------------------------------

test('v2 /capstan/demo: every value from the fixture tree', (t) => {
  const { warnings, warn } = collectWarnings();
  t.deepEqual(assembleV2(V2_STAT_FILES, readBatch(V2_LAYOUT, V2_STAT_FILES, '/capstan/demo'), 0, warn), V2_DEMO);
  t.deepEqual(warnings, []);
});

test('v2 root: no limit or usage files there, silently; usage is anon + file of its memory.stat, as runc reports it', (t) => {
  const { warnings, warn } = collectWarnings();
  const sample = assembleV2(V2_STAT_FILES, readBatch(V2_LAYOUT, V2_STAT_FILES, '/'), 0, warn);
  t.deepEqual(warnings, []);
  t.deepEqual(sample.pids, {});
  t.deepEqual(sample.cpu, { usageNanoseconds: 56146242000, userNanoseconds: 36040000000, systemNanoseconds: 20060000000, periods: 0, throttledPeriods: 0, throttledNanoseconds: 0 });
  t.is(sample.memory.usageBytes, 78204928 + 258228224);
  t.is(sample.memory.limitBytes, undefined);
  t.is(sample.memory.swapLimitBytes, undefined);
  t.is(sample.memory.rssBytes, 78204928);
  t.is(sample.memory.cacheBytes, 258228224);
  t.is(sample.io?.devices.length, 2);
});

test('v2: memory.current there but unreadable → usage unknown, not anon + file', (t) => {
  const results = readBatch(V2_LAYOUT, V2_STAT_FILES, '/capstan/demo');
  results[indexOf(V2_STAT_FILES, 'memory.current')] = 13; // EACCES
  const { warnings, warn } = collectWarnings();
  const sample = assembleV2(V2_STAT_FILES, results, 0, warn);
  t.is(sample.memory.usageBytes, undefined);
  t.is(warnings.length, 1);
});

test('v2 /system.slice/ssh.service: "max" limits are null, memory.low 0 is no reservation', (t) => {
  const { warnings, warn } = collectWarnings();
  const sample = assembleV2(V2_STAT_FILES, readBatch(V2_LAYOUT, V2_STAT_FILES, '/system.slice/ssh.service'), 0, warn);
  t.deepEqual(warnings, []);
  t.is(sample.cpu.quotaMicroseconds, null);
  t.is(sample.memory.limitBytes, null);
  t.is(sample.memory.reservationBytes, null);
  t.is(sample.memory.swapLimitBytes, null);
  t.deepEqual(sample.pids, { current: 1, limit: 3495 });
});

test('v2 /broken: two parse failures warn once each; the missing pids.current does not', (t) => {
  const { warnings, warn } = collectWarnings();
  const sample = assembleV2(V2_STAT_FILES, readBatch(V2_LAYOUT, V2_STAT_FILES, '/broken'), 0, warn);
  t.deepEqual(
    warnings.map((w) => w.index),
    [indexOf(V2_STAT_FILES, 'cpu.stat'), indexOf(V2_STAT_FILES, 'memory.stat')],
  );
  t.is(warnings[0]!.message, 'cpu.stat: expected an unsigned integer for "usage_usec", got "12ab"');
  t.deepEqual(sample.cpu, { quotaMicroseconds: null, periodMicroseconds: 100000, weight: 100, shares: 2597 });
  t.is(sample.memory.rssBytes, undefined);
  t.is(sample.memory.usageBytes, 4096);
  t.deepEqual(sample.pids, { limit: null });
});

test('v2: memory.peak missing (kernel < 5.19) → maxUsageBytes absent, no warning', (t) => {
  const results = readBatch(V2_LAYOUT, V2_STAT_FILES, '/capstan/demo');
  results[indexOf(V2_STAT_FILES, 'memory.peak')] = 2;
  const { warnings, warn } = collectWarnings();
  const sample = assembleV2(V2_STAT_FILES, results, 0, warn);
  t.deepEqual(warnings, []);
  t.false('maxUsageBytes' in sample.memory);
  const { maxUsageBytes: _ignored, ...rest } = V2_DEMO.memory;
  t.deepEqual(sample.memory, rest);
});

test('v2: ownOomKills counts this cgroup\'s own kills (memory.events.local); oomKills stays memory.events\' (descendants too)', (t) => {
  // /capstan's memory.events says 1 kill: its child /capstan/demo's, as the kernel counts it upwards.
  const results = readBatch(V2_LAYOUT, V2_STAT_FILES, '/capstan');
  t.is(results[indexOf(V2_STAT_FILES, 'memory.events.local')], 2, 'the fixture has no memory.events.local (a kernel before 5.2)');
  const before52 = assembleV2(V2_STAT_FILES, results, 0, () => {}).memory;
  t.is(before52.oomKills, 1);
  t.false('ownOomKills' in before52);
  results[indexOf(V2_STAT_FILES, 'memory.events.local')] = 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n';
  const { warnings, warn } = collectWarnings();
  const sample = assembleV2(V2_STAT_FILES, results, 0, warn);
  t.deepEqual(warnings, []);
  t.is(sample.memory.ownOomKills, 0);
  t.is(sample.memory.oomKills, 1, 'what the OOM monitor diffs and attributes');
  t.is(sample.memory.maxEvents, 12, 'the other counters stay memory.events\' (what cAdvisor reads)');
});

test('v2: one unparsable file → exactly one warn with its index', (t) => {
  const results = readBatch(V2_LAYOUT, V2_STAT_FILES, '/capstan/demo');
  const index = indexOf(V2_STAT_FILES, 'cpu.max');
  results[index] = '20000\n';
  const { warnings, warn } = collectWarnings();
  const sample = assembleV2(V2_STAT_FILES, results, 0, warn);
  t.deepEqual(warnings, [{ index, message: 'cpu.max: expected "$QUOTA $PERIOD", got "20000"' }]);
  t.false('quotaMicroseconds' in sample.cpu);
  t.false('periodMicroseconds' in sample.cpu);
});

test('v2 swap limit = memory.max + memory.swap.max, null if either is "max", unknown if either is unread', (t) => {
  const maxIndex = indexOf(V2_STAT_FILES, 'memory.max');
  const swapIndex = indexOf(V2_STAT_FILES, 'memory.swap.max');
  const swapLimit = (memoryMax: string | number, swapMax: string | number): number | null | undefined => {
    const results = readBatch(V2_LAYOUT, V2_STAT_FILES, '/capstan/demo');
    results[maxIndex] = memoryMax;
    results[swapIndex] = swapMax;
    return assembleV2(V2_STAT_FILES, results, 0, () => {}).memory.swapLimitBytes;
  };
  t.is(swapLimit('100\n', '50\n'), 150);
  t.is(swapLimit('100\n', '0\n'), 100); // memswap == memory: no swap allowed
  t.is(swapLimit('max\n', '50\n'), null);
  t.is(swapLimit('100\n', 'max\n'), null);
  t.is(swapLimit('100\n', 2), undefined); // no swap accounting (swapaccount=0)
  t.is(swapLimit('bad\n', '50\n'), undefined);
});

test('v2: memory.low is the reservation; 0 means none', (t) => {
  const index = indexOf(V2_STAT_FILES, 'memory.low');
  const results = readBatch(V2_LAYOUT, V2_STAT_FILES, '/capstan/demo');
  results[index] = '0\n';
  t.is(assembleV2(V2_STAT_FILES, results, 0, () => t.fail()).memory.reservationBytes, null);
  results[index] = '1048576\n';
  t.is(assembleV2(V2_STAT_FILES, results, 0, () => t.fail()).memory.reservationBytes, 1048576);
});

test('v2: garbage everywhere never throws; one warning per file', (t) => {
  const { warnings, warn } = collectWarnings();
  const sample = assembleV2(V2_STAT_FILES, V2_STAT_FILES.map(() => 'garbage'), 0, warn);
  t.deepEqual(sample, { cpu: {}, memory: {}, pids: {} });
  t.is(warnings.length, V2_STAT_FILES.length);
});

// ------------------------------------------------------------------------------------------------
// This host's real root cgroup: the parsers accept what the running kernel writes.
// ------------------------------------------------------------------------------------------------

test('this host: the root cgroup assembles without warnings', (t) => {
  const layout = detectLayout();
  const { warnings, warn } = collectWarnings();
  let sample: CgroupSample;
  let files: readonly StatFile[];
  if (layout.controllersOn === 1) {
    files = v1StatFiles({ blkioThrottleOnly: !fs.existsSync(path.join(layout.v1Mounts.blkio ?? '/nonexistent', 'blkio.io_service_bytes_recursive')), perCpu: true });
    sample = assembleV1(files, readBatch(layout, files, '/'), 0, warn);
    t.true(sample.cpu.usageNanoseconds! > 0);
    t.true(sample.memory.usageBytes! > 0);
    t.true(sample.cpu.perCpuNanoseconds!.length >= 1);
  } else {
    files = V2_STAT_FILES;
    sample = assembleV2(files, readBatch(layout, files, '/'), 0, warn);
    t.true(sample.cpu.usageNanoseconds! > 0);
  }
  t.deepEqual(warnings.map((w) => `${files[w.index]!.name}: ${w.message}`), []);
});
