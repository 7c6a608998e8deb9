import test from 'ava';
import { cpuQuotaMicroseconds, limitWrites } from '../../server/runtime/limits';

const limits = { nanoCpus: 1_500_000_000, memoryBytes: 64 << 20, memorySwapBytes: 128 << 20, pidsLimit: 100 };

test('v1: memory before memsw (a new cgroup is unlimited), then cpu period and quota, then pids', (t) => {
  t.deepEqual(limitWrites(limits, 1, true), [
    { controller: 'memory', file: 'memory.limit_in_bytes', value: String(64 << 20) },
    { controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(128 << 20) },
    { controller: 'cpu', file: 'cpu.cfs_period_us', value: '100000' },
    { controller: 'cpu', file: 'cpu.cfs_quota_us', value: '150000' },
    { controller: 'pids', file: 'pids.max', value: '100' },
  ]);
  t.deepEqual(limitWrites({ ...limits, memorySwapBytes: -1 }, 1, true)[1], { controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: '-1' });
  t.false(limitWrites(limits, 1, false).some((w) => w.file.includes('memsw')), 'dropped without swap accounting, as docker does');
});

test("v2: runc's order and files, swap as the difference", (t) => {
  t.deepEqual(limitWrites(limits, 2, true), [
    { controller: 'unified', file: 'pids.max', value: '100' },
    { controller: 'unified', file: 'memory.swap.max', value: String(64 << 20) },
    { controller: 'unified', file: 'memory.max', value: String(64 << 20) },
    { controller: 'unified', file: 'cpu.max', value: '150000 100000' },
  ]);
  t.is(limitWrites({ ...limits, memorySwapBytes: -1 }, 2, true)[1]!.value, 'max');
});

test('nothing set, nothing written; quotas round to microseconds', (t) => {
  t.deepEqual(limitWrites({ nanoCpus: 0, memoryBytes: 0, memorySwapBytes: 0, pidsLimit: null }, 1, true), []);
  t.is(cpuQuotaMicroseconds(10_000_000), 1000);
  t.is(cpuQuotaMicroseconds(333_333_333), 33333);
});
