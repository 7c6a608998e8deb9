import test from 'ava';
import { EventBus, type CapstanEvent } from '../../server/events';
import { LimitError } from '../../server/limits/errors';
import { parseLimitRequest } from '../../server/limits/request';
import { LimitService, settingsToBody, type AppliedLimits, type LimitServiceOptions, type RestartPolicyState } from '../../server/limits/service';
import { errnoError, freshV1Files, freshV2Files, limitRefusal, MemoryControlFiles } from '../../server/limits/testing';
import type { CgroupLayout, ContainerInfo } from '../../server/model';

const MiB = 1024 * 1024;

const layout = (version: 1 | 2): CgroupLayout => ({
  mode: version === 1 ? 'hybrid' : 'v2',
  controllersOn: version,
  v1Mounts: {},
  v2Controllers: [],
});

const container: ContainerInfo = {
  id: 'a'.repeat(64),
  name: 'web',
  cgroupPath: '/capstan/web',
  image: 'busybox',
  source: 'capstan',
  isContainer: true,
  labels: {},
};

/** A block device at /dev/vda (254:0) and a character device at /dev/null. */
const statDevice = (path: string) => {
  if (path === '/dev/vda') return { isBlockDevice: () => true, rdev: 65024 };
  if (path === '/dev/null') return { isBlockDevice: () => false, rdev: 259 };
  throw errnoError('ENOENT', path);
};

function setup(version: 1 | 2, files: Record<string, string> = {}, options: { omit?: string[]; service?: Partial<LimitServiceOptions> } = {}) {
  const io = new MemoryControlFiles(version);
  const all: Record<string, string> = { ...(version === 1 ? freshV1Files() : freshV2Files()), ...files };
  for (const file of options.omit ?? []) delete all[file];
  io.addCgroup(container.cgroupPath, all);
  // The parent, for the cpuset availability check.
  io.addCgroup('/capstan', version === 1 ? { 'cpuset.effective_cpus': '0-1' } : { 'cpuset.cpus.effective': '0-1' });
  const bus = new EventBus((error) => {
    throw error;
  });
  const events: CapstanEvent[] = [];
  bus.subscribe((event) => events.push(event));
  const persisted: AppliedLimits[] = [];
  const service = new LimitService({
    layout: layout(version),
    io,
    hostCpus: 2,
    bus,
    now: () => 1_700_000_000_000,
    statDevice,
    persist: (applied) => persisted.push(applied),
    ...options.service,
  });
  return { io, service, events, persisted };
}

test('an update writes, reads back, answers with old → new per setting, and publishes one update event', (t) => {
  const { io, service, events, persisted } = setup(1, { 'cpu.cfs_quota_us': '20000' });
  const result = service.update(container, { cpus: '0.5', memory: '64m', pidsLimit: 100 }, { principal: 'ops-token' });
  t.deepEqual(result.applied, [
    { setting: 'cpus', old: '0.2', new: '0.5', file: 'cpu.cfs_period_us, cpu.cfs_quota_us' },
    { setting: 'memory', old: 'max', new: '64MiB', file: 'memory.limit_in_bytes' },
    { setting: 'pidsLimit', old: 'max', new: '100', file: 'pids.max' },
  ]);
  t.deepEqual(result.clamped, []);
  t.deepEqual(result.warnings, []);
  t.is(result.limits!.cpus, 0.5);
  t.is(result.limits!.cpuQuotaMicroseconds, 50000);
  t.is(result.limits!.memoryBytes, 64 * MiB);
  t.is(result.limits!.pidsLimit, 100);
  t.is(io.get(container.cgroupPath, 'cpu.cfs_quota_us'), '50000');

  t.is(events.length, 1);
  t.like(events[0], {
    type: 'container',
    action: 'update',
    actor: { id: container.id, name: 'web', cgroupPath: '/capstan/web', image: 'busybox' },
    timeMs: 1_700_000_000_000,
    attributes: { name: 'web', image: 'busybox' },
    principal: 'ops-token',
  });
  t.deepEqual(events[0]!.changes, result.applied);

  // The persistence hook gets the settings in Docker's units, ready to re-apply.
  t.is(persisted.length, 1);
  t.deepEqual(persisted[0]!.settings, { nanoCpus: 5e8, memory: 64 * MiB, pidsLimit: 100 });
  const body = settingsToBody(persisted[0]!.settings);
  t.deepEqual(body, { cpus: '500000000/1000000000', memory: 64 * MiB, pidsLimit: 100 });
  t.is(parseLimitRequest(body).nanoCpus, 5e8);
});

test('a refused update publishes nothing and leaves the files as they were', (t) => {
  const { io, service, events, persisted } = setup(1);
  io.fault = (write) => (write.file === 'pids.max' ? errnoError('EINVAL', write.file) : undefined);
  const before = io.get(container.cgroupPath, 'memory.limit_in_bytes');
  t.throws(() => service.update(container, { memory: '64m', pidsLimit: 5 }, { principal: 'p' }), { instanceOf: LimitError, code: 'kernel_refused' });
  t.is(io.get(container.cgroupPath, 'memory.limit_in_bytes'), before);
  t.deepEqual(events, []);
  t.deepEqual(persisted, []);
  // Validation failures never reach the files.
  io.fault = undefined;
  const writes = io.writes.length;
  const error = t.throws(() => service.update(container, { memory: '1m' }, { principal: 'p' }), { instanceOf: LimitError });
  t.is(error?.message, 'Minimum memory limit allowed is 6MB');
  t.is(io.writes.length, writes);
});

test('v2: a memory limit below current usage is refused with the usage, unless forced', (t) => {
  const { io, service } = setup(2, { 'memory.current': String(80 * MiB), 'memory.peak': String(90 * MiB) });
  const error = t.throws(() => service.update(container, { memory: '64m' }, { principal: 'p' }), { instanceOf: LimitError });
  t.is(error?.status, 409);
  t.is(error?.code, 'memory_below_usage');
  t.is(
    error?.message,
    `unable to set memory limit to ${64 * MiB} (current usage: ${80 * MiB}, peak usage: ${90 * MiB}): on cgroup v2 the kernel would reclaim memory and then OOM-kill processes in the container to get below it; pass force (capstan update --force) to apply it anyway`,
  );
  t.is(io.get(container.cgroupPath, 'memory.max'), 'max');
  const forced = service.update(container, { memory: '64m', force: true }, { principal: 'p' });
  t.is(forced.limits!.memoryBytes, 64 * MiB);
  // Above the usage needs no force.
  t.notThrows(() => service.update(container, { memory: '128m' }, { principal: 'p' }));
});

test('v2 cpu shares become cpu.weight with the current runc formula; the change log shows the weights', (t) => {
  const { service } = setup(2);
  const result = service.update(container, { cpuShares: 2048 }, { principal: 'p' });
  t.deepEqual(result.applied, [{ setting: 'cpuShares', old: '100', new: '174', file: 'cpu.weight' }]);
  t.is(result.limits!.cpuWeight, 174);
});

test('switching between --cpus and --cpu-quota is refused like docker, once one style is stored', (t) => {
  const { service } = setup(1);
  service.update(container, { cpus: 0.5 }, { principal: 'p' });
  const error = t.throws(() => service.update(container, { cpuQuota: 20000 }, { principal: 'p' }), { instanceOf: LimitError });
  t.is(error?.status, 409);
  t.is(error?.message, 'Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
  service.update(container, { cpus: 1 }, { principal: 'p' });
  // Lifting the cap clears the stored style.
  service.update(container, { cpuQuota: -1 }, { principal: 'p' });
  t.notThrows(() => service.update(container, { cpuQuota: 20000 }, { principal: 'p' }));
});

test('device throttles resolve MAJ:MIN from the device and refuse what is not a block device', (t) => {
  const { io, service } = setup(1);
  const result = service.update(container, { deviceReadBps: ['/dev/vda:10mb'], deviceWriteIops: ['/dev/vda:500'] }, { principal: 'p' });
  t.is(io.get(container.cgroupPath, 'blkio.throttle.read_bps_device'), `254:0 ${10 * MiB}`);
  t.deepEqual(result.applied, [
    { setting: 'deviceReadBps', old: '/dev/vda:max', new: '/dev/vda:10MiB', file: 'blkio.throttle.read_bps_device' },
    { setting: 'deviceWriteIops', old: '/dev/vda:max', new: '/dev/vda:500', file: 'blkio.throttle.write_iops_device' },
  ]);
  t.deepEqual(result.limits!.deviceThrottles, [{ major: 254, minor: 0, readBps: 10 * MiB, writeIops: 500 }]);
  const notBlock = t.throws(() => service.update(container, { deviceReadBps: ['/dev/null:1mb'] }, { principal: 'p' }), { instanceOf: LimitError });
  t.is(notBlock?.status, 400);
  t.is(notBlock?.message, 'invalid argument "/dev/null:1048576" for "--device-read-bps" flag: /dev/null is not a block device (throttles apply to block devices only)');
  const missing = t.throws(() => service.update(container, { deviceReadBps: ['/dev/nope:1mb'] }, { principal: 'p' }), { instanceOf: LimitError });
  t.regex(missing!.message, /no such device: \/dev\/nope$/);
  const escape = t.throws(() => service.update(container, { deviceReadBps: ['/dev/../etc/passwd:1mb'] }, { principal: 'p' }), { instanceOf: LimitError });
  t.regex(escape!.message, /bad format for device path: \/dev\/\.\.\/etc\/passwd$/);

  const v2 = setup(2);
  const removed = v2.service.update(container, { deviceReadBps: ['/dev/vda:10mb'] }, { principal: 'p' });
  t.is(v2.io.get(container.cgroupPath, 'io.max'), `254:0 rbps=${10 * MiB} wbps=max riops=max wiops=max`);
  t.deepEqual(removed.limits!.deviceThrottles, [{ major: 254, minor: 0, readBps: 10 * MiB }]);
  v2.service.update(container, { deviceReadBps: ['/dev/vda:0'] }, { principal: 'p' });
  t.is(v2.io.get(container.cgroupPath, 'io.max'), '');
});

test('cpuset requests are checked against the parent\'s CPUs', (t) => {
  const { service } = setup(1);
  const error = t.throws(() => service.update(container, { cpusetCpus: '0-5' }, { principal: 'p' }), { instanceOf: LimitError });
  t.is(error?.message, 'Requested CPUs are not available - requested 0-5, available: 0-1');
  t.is(service.update(container, { cpusetCpus: '1' }, { principal: 'p' }).limits!.cpusetCpus, '1');
});

test('a gone cgroup is a 404, the root cgroup a 400, and a failing listener only a warning', (t) => {
  const { io, service } = setup(1);
  service.onApplied(() => {
    throw new Error('disk full');
  });
  const result = service.update(container, { pidsLimit: 7 }, { principal: 'p' });
  t.deepEqual(result.warnings, ['the new limits are applied but a listener failed (they may not persist): disk full']);
  const root = t.throws(() => service.update({ ...container, cgroupPath: '/' }, { pidsLimit: 7 }, { principal: 'p' }), { instanceOf: LimitError });
  t.is(root?.status, 400);
  io.removeCgroup(container.cgroupPath);
  const gone = t.throws(() => service.update(container, { pidsLimit: 7 }, { principal: 'p' }), { instanceOf: LimitError });
  t.is(gone?.status, 404);
  t.is(gone?.message, 'No such container: web (its cgroup /capstan/web no longer exists)');
});

// ---------------------------------------------------------------- update --restart

const rawCgroup: ContainerInfo = { id: '/system.slice/foo.service', name: '/system.slice/foo.service', cgroupPath: '/system.slice/foo.service', image: '', source: 'systemd', isContainer: false, labels: {} };

function withPolicy(state: RestartPolicyState = { policy: { name: 'no', maximumRetryCount: 0 }, autoRemove: false }, omit: string[] = []) {
  const made = setup(1, {}, { omit, service: { restartPolicyOf: (c) => (c.source === 'capstan' ? state : undefined) } });
  made.io.addCgroup(rawCgroup.cgroupPath, freshV1Files());
  return made;
}


test('update --restart: old → new in the answer and the event, handed to the runtime; no cgroup file written', (t) => {
  const { io, service, events, persisted } = withPolicy();
  const result = service.update(container, { restart: 'on-failure:3' }, { principal: 'ops' });
  t.deepEqual(result.applied, [{ setting: 'restart', old: 'no', new: 'on-failure:3', file: 'restart policy' }]);
  t.deepEqual(io.writes, []);
  t.deepEqual(persisted.map((p) => p.settings), [{ restartPolicy: { name: 'on-failure', maximumRetryCount: 3 } }]);
  t.deepEqual(events.map((e) => e.changes), [result.applied]);
});

test('update --restart of a container with no cgroup (not running) still applies; limits are then absent', (t) => {
  const { io, service, persisted } = withPolicy();
  io.removeCgroup(container.cgroupPath);
  const result = service.update(container, { restart: 'always' }, { principal: 'ops' });
  t.is(result.limits, undefined);
  t.deepEqual(persisted[0]!.settings, { restartPolicy: { name: 'always', maximumRetryCount: 0 } });
  // A limit needs the cgroup.
  t.regex(limitRefusal(() => service.update(container, { restart: 'always', memory: '64m' }, { principal: 'ops' })), /^404 no_such_container/);
});

test("update --restart is refused for a cgroup with no runtime, and (docker's words) for a --rm container", (t) => {
  const { io, service, persisted } = withPolicy({ policy: { name: 'no', maximumRetryCount: 0 }, autoRemove: true });
  t.is(
    limitRefusal(() => service.update(rawCgroup, { restart: 'always', pidsLimit: 5 }, { principal: 'ops' })),
    '400 no_restart_policy --restart: /system.slice/foo.service is not a container capstan runs (source: systemd): only containers have a restart policy',
  );
  t.is(
    limitRefusal(() => service.update(container, { restart: 'always', pidsLimit: 5 }, { principal: 'ops' })),
    '409 conflicting_limit --restart: Restart policy cannot be updated because AutoRemove is enabled for the container',
  );
  t.deepEqual(io.writes, [], 'nothing half-applied: the pids limit was not written either');
  t.notThrows(() => service.update(container, { restart: 'no' }, { principal: 'ops' }));
  t.is(persisted.length, 1);
});

test('a setting the host drops with a warning is not handed on to be stored (docker keeps BlkioWeight 0 then)', (t) => {
  const { service, persisted } = withPolicy(undefined, ['blkio.bfq.weight']);
  const result = service.update(container, { blkioWeight: 300, pidsLimit: 100 }, { principal: 'ops' });
  t.true(result.warnings.some((w) => w.includes('Block I/O weight')));
  t.deepEqual(persisted[0]!.settings, { pidsLimit: 100 });
});
