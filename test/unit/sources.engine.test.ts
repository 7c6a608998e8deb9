/**
 * The engine source against a scripted engine (the real ones are in
 * test/integration/engines.test.ts): names from one listing and the event stream only, the
 * cgroup shapes it claims when the engine cannot be asked, its events on capstan's bus, the echo
 * of its own updates dropped, and the way it rides out an engine that goes away and comes back.
 */
import test from 'ava';
import { EventBus, type CapstanEvent } from '../../server/events';
import type { CgroupLayout, CgroupPath } from '../../server/model';
import { cgroupFromProcText, containerFromInspect, EngineSource } from '../../server/sources/engine/source';
import type { EngineAddress, EngineApi, EngineContainerSummary, EngineEvent, EngineInspect } from '../../server/sources/engine/types';

const V1: CgroupLayout = { mode: 'hybrid', controllersOn: 1, v1Mounts: { memory: '/sys/fs/cgroup/memory' } } as unknown as CgroupLayout;
const WEB = 'a'.repeat(64);
const DB = 'b'.repeat(64);

function inspectOf(id: string, name: string, extra: Partial<EngineInspect> = {}): EngineInspect {
  return {
    Id: id,
    Name: `/${name}`,
    Created: '2026-12-06T10:00:00.5Z',
    Image: 'sha256:1234',
    State: { Status: 'running', Pid: 0 },
    Config: { Image: 'busybox:latest', Labels: { 'com.example.tier': 'front' }, Env: ['PATH=/bin', 'SECRET=hunter2', 'REGION=eu'] },
    HostConfig: {},
    ...extra,
  };
}

/** An engine whose containers and event stream the test controls. */
class ScriptedEngine implements EngineApi {
  readonly address: EngineAddress = { kind: 'unix', socketPath: '/run/fake.sock', text: 'unix:///run/fake.sock' };
  containers = new Map<string, EngineInspect>();
  requests: string[] = [];
  /** When set, every call fails with it (the engine is away). */
  failure: Error | undefined;
  private pending: EngineEvent[] = [];
  private wake: (() => void) | undefined;
  private endStream: ((error?: Error) => void) | undefined;

  private call(name: string): void {
    this.requests.push(name);
    if (this.failure) throw this.failure;
  }

  async version() {
    this.call('version');
    return { flavour: 'docker' as const, version: '20.10.24', apiVersion: '1.41' };
  }
  async listContainers(): Promise<EngineContainerSummary[]> {
    this.call('list');
    return [...this.containers.values()].map((c) => ({ Id: c.Id, Names: [c.Name], Image: String(c.Config.Image), ImageID: c.Image, Created: 0, State: String(c.State.Status), Labels: c.Config.Labels ?? null }));
  }
  async inspectContainer(id: string) {
    this.call(`inspect ${id.slice(0, 4)}`);
    const found = this.containers.get(id);
    if (!found) throw Object.assign(new Error(`No such container: ${id}`), { code: 'engine', status: 404 });
    return found;
  }
  async updateContainer(id: string) {
    this.call(`update ${id.slice(0, 4)}`);
    return { Warnings: [] };
  }
  async libpodUpdate() {}
  async top() {
    return { Titles: [], Processes: [] };
  }
  async containerAction() {}
  async removeContainer() {}
  async waitContainer() {
    return { StatusCode: 0 };
  }
  async logs() {}
  async close() {}

  /** Queues an event on the open stream. */
  emit(event: Partial<EngineEvent> & { Action: string; id: string; attributes?: Record<string, string> }): void {
    this.pending.push({ Type: 'container', Action: event.Action, Actor: { ID: event.id, Attributes: event.attributes ?? {} }, time: 1_796_000_000, timeNano: 1_796_000_000_123_000_000 });
    this.wake?.();
  }

  /** Ends the open stream as an engine restart would. */
  drop(): void {
    this.endStream?.(new Error('socket hang up'));
  }

  async *events(_options: unknown, signal?: AbortSignal): AsyncIterable<EngineEvent> {
    this.call('events');
    let ended: Error | undefined | null = null;
    this.endStream = (error) => {
      ended = error;
      this.wake?.();
    };
    signal?.addEventListener('abort', () => this.endStream?.(new Error('aborted')));
    for (;;) {
      while (this.pending.length > 0) yield this.pending.shift()!;
      if (ended !== null) throw ended ?? new Error('stream ended');
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

function sourceOn(engine: ScriptedEngine, options: { envAllowList?: string[] } = {}) {
  const bus = new EventBus();
  const events: CapstanEvent[] = [];
  bus.subscribe((event) => events.push(event));
  const redescribed: CgroupPath[] = [];
  const logs: string[] = [];
  const ooms: string[] = [];
  const source = new EngineSource({
    kind: 'docker',
    client: engine,
    layout: V1,
    bus,
    envAllowList: options.envAllowList ?? [],
    log: (line) => logs.push(line),
    onDescriptionChanged: (path) => redescribed.push(path),
    onEngineOom: (info) => ooms.push(info.name),
    retryMs: { first: 10, max: 20 },
  });
  return { source, events, redescribed, logs, ooms };
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('containers are named from one listing: name, image, labels and only the allow-listed env', async (t) => {
  const engine = new ScriptedEngine();
  engine.containers.set(WEB, inspectOf(WEB, 'web'));
  const { source } = sourceOn(engine, { envAllowList: ['REGION'] });
  source.connect();
  await until('connected', () => source.up);
  const info = source.describe(`/docker/${WEB}`, {})!;
  t.like(info, { id: WEB, name: 'web', image: 'busybox:latest', imageId: 'sha256:1234', source: 'docker', isContainer: true, createdAtMs: Date.parse('2026-12-06T10:00:00.5Z') });
  t.deepEqual(info.labels, { 'com.example.tier': 'front' });
  t.deepEqual(info.env, { REGION: 'eu' }, 'SECRET is never kept');
  // A custom --cgroup-parent: a bare id is the engine's because the engine lists it.
  t.is(source.describe(`/elsewhere/${WEB}`, {})!.name, 'web');
  t.is(source.describe(`/elsewhere/${DB}`, {}), undefined, 'an id the engine does not list, outside /docker, is not claimed');
  t.is(source.describe(`/machine.slice/libpod-${WEB}.scope`, {}), undefined, "Podman's shapes are the Podman source's");
  await source.close();
});

test('at steady state the only request is the event stream; events keep the cache fresh and reach the bus', async (t) => {
  const engine = new ScriptedEngine();
  engine.containers.set(WEB, inspectOf(WEB, 'web'));
  const { source, events, redescribed, ooms } = sourceOn(engine);
  source.connect();
  await until('connected', () => source.up);
  t.deepEqual(engine.requests, ['version', 'list', `inspect ${WEB.slice(0, 4)}`, 'events']);
  source.describe(`/docker/${WEB}`, {});

  engine.containers.set(WEB, inspectOf(WEB, 'frontend'));
  engine.emit({ Action: 'rename', id: WEB, attributes: { name: 'frontend', oldName: '/web' } });
  await until('renamed', () => source.describe(`/docker/${WEB}`, {})?.name === 'frontend');
  t.deepEqual(redescribed, [`/docker/${WEB}`], 'the collector is told to re-describe the cgroup');

  engine.emit({ Action: 'oom', id: WEB });
  engine.emit({ Action: 'die', id: WEB, attributes: { exitCode: '137' } });
  engine.emit({ Action: 'exec_start: sh -c true', id: WEB });
  await until('die', () => events.some((e) => e.action === 'die'));
  const die = events.find((e) => e.action === 'die')!;
  t.like(die, { exitCode: 137, timeMs: 1_796_000_000_123, actor: { id: WEB, name: 'frontend', cgroupPath: `/docker/${WEB}`, image: 'busybox:latest' } });
  t.is(die.attributes['exitCode'], '137');
  t.deepEqual(ooms, ['frontend'], 'an oom goes to the OOM monitor, which decides whether it is a new kill');
  t.false(events.some((e) => e.action === 'oom'), 'the source itself publishes no oom');
  t.deepEqual(events.map((e) => e.action), ['rename', 'die']);

  engine.emit({ Action: 'destroy', id: WEB });
  await until('destroyed', () => events.some((e) => e.action === 'destroy'));
  t.deepEqual(source.list(), []);
  t.like(source.describe(`/docker/${WEB}`, {})!, { name: `/docker/${WEB}`, source: 'docker' }, 'gone from the engine: named by path, still claimed');
  t.deepEqual(engine.requests.filter((r) => r === 'list'), ['list'], 'no listing besides the first');
  await source.close();
});

test("capstan's own update is one event: the engine's echo of it is dropped, another update is not", async (t) => {
  const engine = new ScriptedEngine();
  engine.containers.set(WEB, inspectOf(WEB, 'web'));
  engine.containers.set(DB, inspectOf(DB, 'db'));
  const { source, events } = sourceOn(engine);
  source.connect();
  await until('connected', () => source.up);
  await source.update(WEB, { Memory: 67108864 }, { memory: { limit: 67108864 } });
  engine.emit({ Action: 'update', id: WEB });
  engine.emit({ Action: 'update', id: DB });
  await until('db update', () => events.some((e) => e.action === 'update'));
  t.deepEqual(events.map((e) => [e.action, e.actor.name]), [['update', 'db']]);
  await source.close();
});

test('an engine that goes away: one warning, known names kept, unknown cgroups named by path; back with a fresh listing', async (t) => {
  const engine = new ScriptedEngine();
  engine.containers.set(WEB, inspectOf(WEB, 'web'));
  const { source, logs } = sourceOn(engine);
  source.connect();
  await until('connected', () => source.up);
  source.describe(`/docker/${WEB}`, {});

  engine.failure = Object.assign(new Error('connect ECONNREFUSED /run/fake.sock'), { code: 'unreachable' });
  engine.drop();
  await until('down', () => !source.up);
  await new Promise((resolve) => setTimeout(resolve, 80)); // several failed retries
  t.is(logs.filter((line) => line.includes('warning')).length, 1, 'one warning per outage');
  t.regex(logs.find((line) => line.includes('warning'))!, /cannot talk to the Docker engine at unix:\/\/\/run\/fake\.sock: socket hang up; its containers keep the names already known/);
  t.is(source.describe(`/docker/${WEB}`, {})!.name, 'web', 'a known container keeps its name');
  t.like(source.describe(`/system.slice/docker-${DB}.scope`, {})!, { name: `/system.slice/docker-${DB}.scope`, source: 'docker', isContainer: true });
  await t.throwsAsync(source.inspect(WEB), { message: /the Docker engine at unix:\/\/\/run\/fake\.sock cannot be reached/ });

  engine.containers.set(DB, inspectOf(DB, 'db'));
  engine.failure = undefined;
  await until('up again', () => source.up);
  t.is(source.describe(`/system.slice/docker-${DB}.scope`, {})!.name, 'db', 'names return without a restart');
  await source.close();
});

test('pure helpers: inspect → cache entry (podman states), /proc/<pid>/cgroup → the memory or unified path', (t) => {
  t.like(containerFromInspect(inspectOf(WEB, 'x', { State: { Status: 'configured' } }), []), { status: 'created', env: {} });
  t.like(containerFromInspect(inspectOf(WEB, 'x', { State: { Status: 'stopped' } }), []), { status: 'exited' });
  const proc = '12:pids:/docker/abc\n11:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n';
  t.is(cgroupFromProcText(proc, V1), '/docker/abc');
  t.is(cgroupFromProcText('0::/system.slice/docker-abc.scope\n', { ...V1, controllersOn: 2 } as CgroupLayout), '/system.slice/docker-abc.scope');
  t.is(cgroupFromProcText('garbage', V1), undefined);
});
