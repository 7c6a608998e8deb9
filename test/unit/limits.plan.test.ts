import test from 'ava';
import { LimitError } from '../../server/limits/errors';
import { planLimitWrites, WARNING_NO_BLKIO_WEIGHT, WARNING_NO_SWAP, type ResolvedLimitRequest, type WritePlan } from '../../server/limits/plan';
import { freshV1Files, freshV2Files } from '../../server/limits/testing';

const MiB = 1024 * 1024;
const vda = { path: '/dev/vda', major: 254, minor: 0 };

function request(fields: Partial<ResolvedLimitRequest>): ResolvedLimitRequest {
  return { force: false, ...fields };
}

function plan(version: 1 | 2, fields: Partial<ResolvedLimitRequest>, files: Record<string, string> = {}): WritePlan {
  const base = version === 1 ? freshV1Files() : freshV2Files();
  const snapshot = new Map(Object.entries({ ...base, ...files }).filter(([, text]) => text !== 'ABSENT'));
  return planLimitWrites(version, request(fields), snapshot, '/capstan-test/c');
}

const writes = (p: WritePlan): string[] => p.steps.map((s) => `${s.file}=${s.value}`);

test('v1: every setting, in runc\'s controller order (cpuset, memory, cpu, pids, blkio)', (t) => {
  const p = plan(1, {
    cpusetCpus: '1',
    memory: 64 * MiB,
    memoryReservation: 32 * MiB,
    nanoCpus: 5e8,
    cpuShares: 512,
    pidsLimit: 100,
    blkioWeight: 300,
    deviceReadBps: [{ ...vda, rate: 10 * MiB }],
    deviceWriteIops: [{ ...vda, rate: 1000 }],
  });
  t.deepEqual(writes(p), [
    'cpuset.cpus=1',
    `memory.limit_in_bytes=${64 * MiB}`,
    `memory.soft_limit_in_bytes=${32 * MiB}`,
    'cpu.shares=512',
    'cpu.cfs_period_us=100000',
    'cpu.cfs_quota_us=50000',
    'pids.max=100',
    'blkio.bfq.weight=300',
    `blkio.throttle.read_bps_device=254:0 ${10 * MiB}`,
    'blkio.throttle.write_iops_device=254:0 1000',
  ]);
  t.deepEqual(p.warnings, []);
  // The controller of each file is its v1 hierarchy.
  t.deepEqual([...new Set(p.steps.map((s) => s.controller))], ['cpuset', 'memory', 'cpu', 'pids', 'blkio']);
  // Only the period carries runc's EINVAL retry, and only because a quota follows.
  t.deepEqual(p.steps.filter((s) => s.retryAfterQuotaOnEinval).map((s) => s.file), ['cpu.cfs_period_us']);
  t.is(plan(1, { cpuPeriod: 50000 }).steps[0]!.retryAfterQuotaOnEinval, undefined);
});

test('v1 restore values: what each file held, with unlimited byte limits written back as -1', (t) => {
  const p = plan(1, { memory: 64 * MiB, cpuQuota: 20000, deviceReadBps: [{ ...vda, rate: 5 }] }, { 'blkio.throttle.read_bps_device': '254:0 777\n8:0 5' });
  t.deepEqual(
    p.steps.map((s) => `${s.file}=${s.restore}`),
    ['memory.limit_in_bytes=-1', 'cpu.cfs_quota_us=-1', 'blkio.throttle.read_bps_device=254:0 777'],
  );
  t.is(plan(1, { pidsLimit: -1 }, { 'pids.max': '50' }).steps[0]!.value, 'max');
});

test('v1 memory and swap: memsw first when raising or unlimiting, the limit first when lowering (runc)', (t) => {
  const small = { 'memory.limit_in_bytes': String(64 * MiB), 'memory.memsw.limit_in_bytes': String(128 * MiB) };
  const big = { 'memory.limit_in_bytes': String(256 * MiB), 'memory.memsw.limit_in_bytes': String(512 * MiB) };
  t.deepEqual(writes(plan(1, { memory: 256 * MiB, memorySwap: 512 * MiB }, small)), [
    `memory.memsw.limit_in_bytes=${512 * MiB}`,
    `memory.limit_in_bytes=${256 * MiB}`,
  ]);
  t.deepEqual(writes(plan(1, { memory: 64 * MiB, memorySwap: 128 * MiB }, big)), [
    `memory.limit_in_bytes=${64 * MiB}`,
    `memory.memsw.limit_in_bytes=${128 * MiB}`,
  ]);
  t.deepEqual(writes(plan(1, { memory: 64 * MiB, memorySwap: -1 }, big)), ['memory.memsw.limit_in_bytes=-1', `memory.limit_in_bytes=${64 * MiB}`]);
  // Without swap accounting the swap setting is dropped with Docker's warning.
  const noSwap = plan(1, { memory: 64 * MiB, memorySwap: 128 * MiB }, { 'memory.memsw.limit_in_bytes': 'ABSENT' });
  t.deepEqual(writes(noSwap), [`memory.limit_in_bytes=${64 * MiB}`]);
  t.deepEqual(noSwap.warnings, [WARNING_NO_SWAP]);
});

test('v1 block I/O weight goes to blkio.bfq.weight when present, else blkio.weight, else a warning', (t) => {
  t.deepEqual(writes(plan(1, { blkioWeight: 500 })), ['blkio.bfq.weight=500']);
  t.deepEqual(writes(plan(1, { blkioWeight: 500 }, { 'blkio.bfq.weight': 'ABSENT', 'blkio.weight': '500' })), ['blkio.weight=500']);
  const none = plan(1, { blkioWeight: 500 }, { 'blkio.bfq.weight': 'ABSENT' });
  t.deepEqual(writes(none), []);
  t.deepEqual(none.warnings, [WARNING_NO_BLKIO_WEIGHT]);
});

test('v2: every setting, in runc\'s order (pids, memory: swap before max, io, cpu, cpuset)', (t) => {
  const p = plan(2, {
    cpusetCpus: '0',
    memory: 64 * MiB,
    memorySwap: 96 * MiB,
    memoryReservation: 32 * MiB,
    nanoCpus: 25e7,
    cpuShares: 1024,
    pidsLimit: 100,
    blkioWeight: 500,
    deviceReadBps: [{ ...vda, rate: 10 * MiB }],
    deviceWriteBps: [{ ...vda, rate: 0 }],
    deviceReadIops: [{ ...vda, rate: 1000 }],
  });
  t.deepEqual(writes(p), [
    'pids.max=100',
    `memory.swap.max=${32 * MiB}`,
    `memory.max=${64 * MiB}`,
    `memory.low=${32 * MiB}`,
    'io.weight=4950',
    `io.max=254:0 rbps=${10 * MiB} wbps=max riops=1000`,
    'cpu.weight=100',
    'cpu.max=25000 100000',
    'cpuset.cpus=0',
  ]);
  t.true(p.steps.every((s) => s.controller === 'unified'));
  t.deepEqual(p.steps.find((s) => s.file === 'io.max')!.settings, ['deviceReadBps', 'deviceWriteBps', 'deviceReadIops']);
  t.is(p.steps.find((s) => s.file === 'io.max')!.restore, '254:0 rbps=max wbps=max riops=max');
});

test('v2 swap is memory+swap minus memory; -1 is max; equal values disable swap', (t) => {
  t.deepEqual(writes(plan(2, { memory: 64 * MiB, memorySwap: -1 })), ['memory.swap.max=max', `memory.max=${64 * MiB}`]);
  t.deepEqual(writes(plan(2, { memory: 64 * MiB, memorySwap: 64 * MiB })), ['memory.swap.max=0', `memory.max=${64 * MiB}`]);
  // Swap alone uses the memory limit in force.
  t.deepEqual(writes(plan(2, { memorySwap: 96 * MiB }, { 'memory.max': String(64 * MiB) })), [`memory.swap.max=${32 * MiB}`]);
  const noSwap = plan(2, { memory: 64 * MiB, memorySwap: 96 * MiB }, { 'memory.swap.max': 'ABSENT' });
  t.deepEqual(writes(noSwap), [`memory.max=${64 * MiB}`]);
  t.deepEqual(noSwap.warnings, [WARNING_NO_SWAP]);
});

test('v2 cpu.max: the part not given keeps its value; quota -1 is max', (t) => {
  const files = { 'cpu.max': '20000 50000' };
  t.deepEqual(writes(plan(2, { cpuQuota: 40000 }, files)), ['cpu.max=40000 50000']);
  t.deepEqual(writes(plan(2, { cpuPeriod: 100000 }, files)), ['cpu.max=20000 100000']);
  t.deepEqual(writes(plan(2, { cpuQuota: -1 }, files)), ['cpu.max=max 50000']);
  t.deepEqual(writes(plan(2, { cpuQuota: 30000, cpuPeriod: 60000 }, files)), ['cpu.max=30000 60000']);
  t.deepEqual(writes(plan(2, { nanoCpus: 15e8 }, files)), ['cpu.max=150000 100000']);
  t.is(plan(2, { cpuQuota: 40000 }, files).steps[0]!.restore, '20000 50000');
});

test('v2 block I/O weight: io.bfq.weight takes the 10–1000 value as is', (t) => {
  t.deepEqual(writes(plan(2, { blkioWeight: 500 }, { 'io.bfq.weight': 'default 100' })), ['io.bfq.weight=500']);
  t.is(plan(2, { blkioWeight: 500 }, { 'io.bfq.weight': 'default 100\n8:0 300' }).steps[0]!.restore, 'default 100');
});

test('a setting whose controller is not enabled is a 409 naming the flag and file', (t) => {
  const error = t.throws(() => plan(2, { nanoCpus: 5e8 }, { 'cpu.max': 'ABSENT' }), { instanceOf: LimitError });
  t.is(error?.status, 409);
  t.is(error?.code, 'controller_unavailable');
  t.is(error?.message, 'cannot apply --cpus: /capstan-test/c has no cpu.max (the cpu controller is not enabled for this cgroup)');
  const v1 = t.throws(() => plan(1, { pidsLimit: 5 }, { 'pids.max': 'ABSENT' }), { instanceOf: LimitError });
  t.regex(v1!.message, /^cannot apply --pids-limit: \/capstan-test\/c has no pids\.max \(the pids controller/);
});
