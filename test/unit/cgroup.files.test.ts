import test from 'ava';
import { blkioThrottleOnlyFromProbe, V2_STAT_FILES, v1StatFiles } from '../../server/cgroup/files';

test('v1 plan: throttle or scheduler blkio files, per-CPU only when asked', (t) => {
  const lean = v1StatFiles({ blkioThrottleOnly: true, perCpu: false });
  const names = lean.map((f) => f.name);
  t.true(names.includes('blkio.throttle.io_service_bytes_recursive'));
  t.true(names.includes('blkio.throttle.io_serviced_recursive'));
  t.false(names.includes('blkio.io_service_bytes_recursive'));
  t.false(names.includes('cpuacct.usage_percpu'));

  const cfq = v1StatFiles({ blkioThrottleOnly: false, perCpu: true }).map((f) => f.name);
  t.true(cfq.includes('blkio.io_service_bytes_recursive'));
  t.true(cfq.includes('blkio.io_serviced_recursive'));
  t.false(cfq.some((name) => name.startsWith('blkio.throttle.')));
  t.true(cfq.includes('cpuacct.usage_percpu'));
});

test('v1 plan: every file names its controller, no duplicates', (t) => {
  const files = v1StatFiles({ blkioThrottleOnly: true, perCpu: true });
  for (const file of files) t.true(file.name.startsWith(file.controller + '.'), `${file.controller} / ${file.name}`);
  t.is(new Set(files.map((f) => f.name)).size, files.length);
});

test('v1 plan: the same options give the same frozen array (the assembler caches per array)', (t) => {
  const a = v1StatFiles({ blkioThrottleOnly: true, perCpu: false });
  t.is(v1StatFiles({ blkioThrottleOnly: true, perCpu: false }), a);
  t.not(v1StatFiles({ blkioThrottleOnly: false, perCpu: false }), a);
  t.true(Object.isFrozen(a));
  t.true(Object.isFrozen(a[0]));
});

test('v2 plan: unified files only, no duplicates, frozen', (t) => {
  t.true(V2_STAT_FILES.every((f) => f.controller === 'unified'));
  t.is(new Set(V2_STAT_FILES.map((f) => f.name)).size, V2_STAT_FILES.length);
  t.true(Object.isFrozen(V2_STAT_FILES));
  for (const name of ['cpu.stat', 'cpu.max', 'cpu.weight', 'memory.current', 'memory.max', 'memory.peak', 'memory.events', 'io.stat', 'pids.current', 'pids.max']) {
    t.true(V2_STAT_FILES.some((f) => f.name === name), name);
  }
});

test('blkioThrottleOnlyFromProbe: scheduler files only when present and listing devices', (t) => {
  t.true(blkioThrottleOnlyFromProbe(2)); // ENOENT: no CFQ (kernel ≥ 5.0), as on this machine
  t.true(blkioThrottleOnlyFromProbe(13));
  t.true(blkioThrottleOnlyFromProbe('Total 0\n')); // CFQ compiled in but no disk uses it
  t.true(blkioThrottleOnlyFromProbe('garbage\n'));
  t.false(blkioThrottleOnlyFromProbe('8:0 Read 4096\n8:0 Write 0\nTotal 4096\n'));
});
