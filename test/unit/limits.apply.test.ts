import test from 'ava';
import { executePlan, clampedReadBack } from '../../server/limits/apply';
import { LimitError } from '../../server/limits/errors';
import { readFileSnapshot } from '../../server/limits/files';
import { planLimitWrites, type ResolvedLimitRequest } from '../../server/limits/plan';
import { errnoError, freshV1Files, freshV2Files, MemoryControlFiles, V1_UNLIMITED_TEXT } from '../../server/limits/testing';

const MiB = 1024 * 1024;
const CG = '/capstan-test/c';

function setup(version: 1 | 2, files: Record<string, string> = {}): MemoryControlFiles {
  const io = new MemoryControlFiles(version);
  io.addCgroup(CG, { ...(version === 1 ? freshV1Files() : freshV2Files()), ...files });
  return io;
}

function run(io: MemoryControlFiles, fields: Partial<ResolvedLimitRequest>) {
  const snapshot = readFileSnapshot(io, io.version, CG)!;
  return executePlan(io, CG, planLimitWrites(io.version, { force: false, ...fields }, snapshot, CG));
}

const log = (io: MemoryControlFiles): string[] => io.writes.map((w) => `${w.file}=${w.value}`);

test('when the second write fails, the first is restored and the error says so (all or nothing)', (t) => {
  const io = setup(1);
  io.fault = (_write, index) => (index === 1 ? errnoError('EINVAL', 'pids.max') : undefined);
  const error = t.throws(() => run(io, { memory: 64 * MiB, pidsLimit: 100 }), { instanceOf: LimitError });
  t.is(error?.status, 400);
  t.is(error?.code, 'kernel_refused');
  t.is(
    error?.message,
    'the kernel refused "100" for pids.max (--pids-limit): EINVAL; rolled back: memory.limit_in_bytes restored to "-1"',
  );
  t.deepEqual(error?.details.rolledBack, [{ setting: 'memory', file: 'memory.limit_in_bytes', restored: '-1' }]);
  t.deepEqual(log(io), [`memory.limit_in_bytes=${64 * MiB}`, 'pids.max=100', 'memory.limit_in_bytes=-1']);
  t.is(io.get(CG, 'memory.limit_in_bytes'), V1_UNLIMITED_TEXT);
  t.is(io.get(CG, 'pids.max'), 'max');
});

test('a later failure restores every earlier write, last first, on v2 too', (t) => {
  const io = setup(2, { 'memory.max': String(128 * MiB), 'pids.max': '50' });
  io.fault = (write) => (write.file === 'cpu.max' ? errnoError('EINVAL', 'cpu.max') : undefined);
  const error = t.throws(() => run(io, { pidsLimit: 100, memory: 64 * MiB, nanoCpus: 5e8 }), { instanceOf: LimitError });
  t.is(error?.code, 'kernel_refused');
  t.deepEqual(log(io), [
    'pids.max=100',
    `memory.max=${64 * MiB}`,
    'cpu.max=50000 100000',
    `memory.max=${128 * MiB}`,
    'pids.max=50',
  ]);
  t.deepEqual(
    error?.details.rolledBack?.map((e) => e.file),
    ['memory.max', 'pids.max'],
  );
  t.is(io.get(CG, 'memory.max'), String(128 * MiB));
  t.is(io.get(CG, 'pids.max'), '50');
});

test('a failure on the first write changes nothing and says so', (t) => {
  const io = setup(1);
  io.fault = () => errnoError('EACCES', 'x');
  const error = t.throws(() => run(io, { pidsLimit: 100 }), { instanceOf: LimitError });
  t.is(error?.status, 500);
  t.is(error?.code, 'write_failed');
  t.regex(error!.message, /^cannot write \/sys\/fs\/cgroup\/pids\/capstan-test\/c\/pids\.max \(--pids-limit\): EACCES.*; nothing was changed$/);
});

test('a restore that fails too is a 500 that names the file left changed', (t) => {
  const io = setup(1);
  io.fault = (write, index) => (index === 1 ? errnoError('EINVAL', write.file) : index === 2 ? errnoError('EIO', write.file) : undefined);
  const error = t.throws(() => run(io, { memory: 64 * MiB, pidsLimit: 100 }), { instanceOf: LimitError });
  t.is(error?.status, 500);
  t.is(error?.code, 'rollback_failed');
  t.regex(error!.message, /ROLLBACK FAILED for memory\.limit_in_bytes \(EIO: simulated failure.*\): the cgroup is left partly updated$/);
});

test('v1 EBUSY on the memory limit reports usage and peak like runc, and keeps the old limit (409)', (t) => {
  const io = setup(1, { 'memory.limit_in_bytes': String(256 * MiB), 'memory.usage_in_bytes': String(100 * MiB), 'memory.max_usage_in_bytes': String(120 * MiB) });
  io.fault = (write) => (write.file === 'memory.limit_in_bytes' ? errnoError('EBUSY', write.file) : undefined);
  const error = t.throws(() => run(io, { cpusetCpus: '0', memory: 64 * MiB }), { instanceOf: LimitError });
  t.is(error?.status, 409);
  t.is(error?.code, 'memory_below_usage');
  t.is(
    error?.message,
    `unable to set memory limit to ${64 * MiB} (current usage: ${100 * MiB}, peak usage: ${120 * MiB}); rolled back: cpuset.cpus restored to "0-1"`,
  );
  t.is(io.get(CG, 'memory.limit_in_bytes'), String(256 * MiB));
  t.is(io.get(CG, 'cpuset.cpus'), '0-1');
});

test('values the kernel stores differently are reported as clamped, not hidden', (t) => {
  const io = setup(1);
  const result = run(io, { cpuShares: 1, memory: 100_000_000 });
  t.deepEqual(result.clamped, [
    { setting: 'memory', file: 'memory.limit_in_bytes', requested: '100000000', applied: '99999744' },
    { setting: 'cpuShares', file: 'cpu.shares', requested: '1', applied: '2' },
  ]);
  t.is(result.written.length, 2);
  const exact = run(setup(1), { cpuShares: 512, memory: 64 * MiB });
  t.deepEqual(exact.clamped, []);
});

test('read-back comparisons understand each file\'s format', (t) => {
  t.is(clampedReadBack({ kind: 'bytes', version: 1 }, '-1', V1_UNLIMITED_TEXT), undefined);
  t.is(clampedReadBack({ kind: 'bytes', version: 2 }, 'max', 'max'), undefined);
  t.is(clampedReadBack({ kind: 'cpuList' }, '0,1', '0-1'), undefined);
  t.is(clampedReadBack({ kind: 'cpuList' }, '0-3', '0-1'), '0-1');
  t.is(clampedReadBack({ kind: 'weight' }, '500', 'default 500\n8:0 100'), undefined);
  t.is(clampedReadBack({ kind: 'cpuMax' }, '50000 100000', '50000 100000'), undefined);
  t.is(clampedReadBack({ kind: 'v1Throttle', major: 254, minor: 0, rate: 0 }, '254:0 0', ''), undefined);
  t.is(clampedReadBack({ kind: 'ioMax', major: 254, minor: 0, keys: { riops: 5_000_000_000 } }, '', '254:0 rbps=max wbps=max riops=4294967295 wiops=max'), '254:0 riops=4294967295');
});

test('v1 period refused with EINVAL is retried after the quota, as runc does', (t) => {
  const io = setup(1, { 'cpu.cfs_period_us': '100000', 'cpu.cfs_quota_us': '100000' });
  let refusedOnce = false;
  io.fault = (write) => {
    if (write.file === 'cpu.cfs_period_us' && !refusedOnce) {
      refusedOnce = true;
      return errnoError('EINVAL', write.file);
    }
    return undefined;
  };
  const result = run(io, { cpuPeriod: 10000, cpuQuota: 5000 });
  t.deepEqual(log(io), ['cpu.cfs_period_us=10000', 'cpu.cfs_quota_us=5000', 'cpu.cfs_period_us=10000']);
  t.deepEqual(result.written.map((w) => w.step.file), ['cpu.cfs_quota_us', 'cpu.cfs_period_us']);
  t.is(io.get(CG, 'cpu.cfs_period_us'), '10000');
});

test('a cgroup that vanishes mid-update is a 410 saying so', (t) => {
  const io = setup(2);
  io.fault = (write, index) => {
    if (index !== 1) return undefined;
    io.removeCgroup(CG);
    return errnoError('ENOENT', write.file);
  };
  const error = t.throws(() => run(io, { pidsLimit: 10, memory: 64 * MiB }), { instanceOf: LimitError });
  t.is(error?.status, 410);
  t.is(error?.code, 'cgroup_gone');
  t.is(error?.message, 'the cgroup /capstan-test/c was removed during the update (write memory.max: ENOENT); 1 earlier write(s) could not be restored because the cgroup is gone');
});
