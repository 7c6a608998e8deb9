import type { AddressInfo } from 'node:net';
import test from 'ava';
import { createApp, type ApiOptions } from '../../server/api/app';
import { TokenStore } from '../../server/api/auth';
import type { CgroupManager } from '../../server/cgroup/manage';
import type { Collector } from '../../server/collector/collector';
import { EventBus, type CapstanEvent } from '../../server/events';
import { LimitService } from '../../server/limits/service';
import { errnoError, freshV1Files, MemoryControlFiles } from '../../server/limits/testing';
import type { CollectorSnapshot, ContainerSnapshot } from '../../server/model';
import type { RuntimeManager } from '../../server/runtime/manager';

const MiB = 1024 * 1024;
const VIEWER = 'v'.repeat(32);
const OPERATOR = 'o'.repeat(32);

const web: ContainerSnapshot = {
  info: { id: 'ab'.repeat(32), name: 'web', cgroupPath: '/capstan-test/web', image: '', source: 'raw', isContainer: true, labels: {} },
  sample: { cpu: {}, memory: {}, pids: {} },
  stats: { timestampMs: 0 },
};

/** One of capstan's own containers: its updates also go into its spec.json. */
const own: ContainerSnapshot = {
  ...web,
  info: { ...web.info, id: 'cd'.repeat(32), name: 'own', cgroupPath: '/capstan-test/own', source: 'capstan' },
};

/**
 * The real express app, with a fake collector and the limit service on in-memory control files;
 * `runtime` stands in for capstan's runtime where a test needs one.
 */
async function withApi(t: import('ava').ExecutionContext, runtime?: Partial<RuntimeManager>) {
  const io = new MemoryControlFiles(1);
  io.addCgroup(web.info.cgroupPath, freshV1Files());
  io.addCgroup(own.info.cgroupPath, freshV1Files());
  const layout = { mode: 'hybrid' as const, controllersOn: 1 as const, v1Mounts: {}, v2Controllers: [] };
  const snapshot = { sequence: 1, timestampMs: 0, tickDurationSeconds: 0, layout, host: { systemCpuNanoseconds: 0, onlineCpus: 2 }, containers: [web, own] } as CollectorSnapshot;
  const bus = new EventBus();
  const events: CapstanEvent[] = [];
  bus.subscribe((event) => events.push(event));
  const options = {
    collector: { latest: () => snapshot, layout } as unknown as Collector,
    cgroups: {} as CgroupManager,
    bus,
    stateDir: '/nonexistent',
    exporter: {} as ApiOptions['exporter'],
    machine: { cpuCores: 2, cpuModel: 'test', memoryBytes: 1e9, os: 'linux', kernel: '6', hostname: 'h' },
    tokens: new TokenStore([
      { name: 'dashboard-viewer', role: 'viewer', token: VIEWER },
      { name: 'alice', role: 'operator', token: OPERATOR },
    ]),
    webRoot: '/nonexistent',
    version: 'test',
    limits: new LimitService({ layout, io, hostCpus: 2, bus }),
    ...(runtime ? { runtime: runtime as RuntimeManager } : {}),
  } satisfies ApiOptions;
  const server = createApp(options).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const patch = async (reference: string, body: unknown, token = OPERATOR) => {
    const response = await fetch(`${url}/api/v1/containers/${encodeURIComponent(reference)}/limits`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const get = async (reference: string, token = VIEWER) => {
    const response = await fetch(`${url}/api/v1/containers/${encodeURIComponent(reference)}/limits`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  return { io, events, patch, get };
}

test('PATCH applies, answers {applied, clamped, limits}, and records the token name in the event', async (t) => {
  const { io, events, patch } = await withApi(t);
  const { status, body } = await patch('web', { cpus: 0.5, memory: '64m', cpuShares: 1 });
  t.is(status, 200);
  t.deepEqual(body['applied'], [
    { setting: 'cpus', old: 'max', new: '0.5', file: 'cpu.cfs_period_us, cpu.cfs_quota_us' },
    { setting: 'cpuShares', old: '1024', new: '2', file: 'cpu.shares' },
    { setting: 'memory', old: 'max', new: '64MiB', file: 'memory.limit_in_bytes' },
  ]);
  t.deepEqual(body['clamped'], [{ setting: 'cpuShares', file: 'cpu.shares', requested: '1', applied: '2' }]);
  t.like(body['limits'], { cgroupVersion: 1, cpus: 0.5, memoryBytes: 64 * MiB, cpuShares: 2 });
  t.is(io.get(web.info.cgroupPath, 'cpu.cfs_quota_us'), '50000');
  t.is(events.length, 1);
  t.is(events[0]!.principal, 'alice');
});

test('GET shows the limits to a viewer; PATCH with a viewer token is 403 and changes nothing', async (t) => {
  const { io, patch, get } = await withApi(t);
  const read = await get('web');
  t.is(read.status, 200);
  t.like(read.body['limits'], { cpus: null, memoryBytes: null, pidsLimit: null });
  const forbidden = await patch('web', { pidsLimit: 5 }, VIEWER);
  t.is(forbidden.status, 403);
  t.is(forbidden.body['error'].code, 'forbidden');
  t.is(io.writes.length, 0);
});

test('unknown container 404; malformed and invalid values 400 with flag and docker\'s message; nothing applied', async (t) => {
  const { io, patch } = await withApi(t);
  const unknown = await patch('nope', { pidsLimit: 5 });
  t.is(unknown.status, 404);
  t.is(unknown.body['error'].message, 'No such container: nope');
  const malformed = await patch('web', { memory: '12zb' });
  t.is(malformed.status, 400);
  t.deepEqual(malformed.body['error'], {
    code: 'invalid_argument',
    message: `invalid argument "12zb" for "--memory" flag: invalid suffix: 'zb'`,
    flag: '--memory',
  });
  const invalid = await patch(web.info.cgroupPath, { cpus: 4 });
  t.is(invalid.status, 400);
  t.is(invalid.body['error'].message, 'range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
  const empty = await patch('web', {});
  t.is(empty.status, 400);
  t.is(io.writes.length, 0);
});

test('a failed multi-setting update answers with what was rolled back', async (t) => {
  const { io, patch } = await withApi(t);
  io.fault = (write) => (write.file === 'pids.max' ? errnoError('EINVAL', write.file) : undefined);
  const { status, body } = await patch('web', { memory: '64m', pidsLimit: 5 });
  t.is(status, 400);
  t.is(body['error'].code, 'kernel_refused');
  t.deepEqual(body['error'].rolledBack, [{ setting: 'memory', file: 'memory.limit_in_bytes', restored: '-1' }]);
  t.regex(body['error'].message, /rolled back: memory\.limit_in_bytes restored to "-1"$/);
});

test('an update of a capstan container is answered only once its spec.json is on disk', async (t) => {
  let markSaved!: () => void;
  const saved = new Promise<void>((resolve) => (markSaved = resolve));
  let savedCalls = 0;
  const { patch } = await withApi(t, {
    saved: () => {
      savedCalls++;
      return saved;
    },
    cgroupOfRunning: () => undefined,
  });
  // Another source's container does not wait for capstan's spec files.
  t.is((await patch('web', { memory: '64m' })).status, 200);
  t.is(savedCalls, 0);
  let answered = false;
  const answer = patch('own', { memory: '96m' }).then((result) => {
    answered = true;
    return result;
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.false(answered, 'answered before spec.json was written');
  t.is(savedCalls, 1);
  markSaved();
  const { status, body } = await answer;
  t.is(status, 200);
  t.like(body['limits'], { memoryBytes: 96 * MiB });
});
