/**
 * Re-adoption, without root: container folders written by hand (as a previous agent and its
 * shims left them), a fake cgroup tree (plain directories), and a live `sleep` standing in for a
 * container's main process. What the manager concludes from spec.json, init.json and exit.json.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { layoutFromRoot } from '../../server/cgroup/layout';
import { CgroupManager } from '../../server/cgroup/manage';
import { EventBus, type CapstanEvent } from '../../server/events';
import { HostOnlyRootfs } from '../../server/runtime/filesystems';
import { RuntimeManager } from '../../server/runtime/manager';
import { readStartTimeTicks } from '../../server/runtime/process';
import type { ContainerRecord } from '../../server/runtime/types';

function fixture(t: ExecutionContext): { stateDir: string; manager: RuntimeManager; events: CapstanEvent[] } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-manager-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const cgroupRoot = path.join(root, 'cgroup');
  for (const controller of ['memory', 'pids', 'freezer']) fs.mkdirSync(path.join(cgroupRoot, controller), { recursive: true });
  const stateDir = path.join(root, 'state');
  fs.mkdirSync(path.join(stateDir, 'containers'), { recursive: true });
  const bus = new EventBus();
  const events: CapstanEvent[] = [];
  bus.subscribe((event) => events.push(event));
  const manager = new RuntimeManager({
    stateDir,
    cgroups: new CgroupManager(layoutFromRoot(cgroupRoot)),
    cgroupParent: '/capstan',
    bus,
    rootfs: new HostOnlyRootfs(),
    shimBinary: '/nonexistent/capstan-shim',
    // Restart policies must not fire here (there is no shim to start).
    restartDelayMs: 1e9,
    log: () => undefined,
  });
  t.teardown(() => manager.close());
  return { stateDir, manager, events };
}

function record(id: string, name: string, state: Partial<ContainerRecord['state']>, restart: ContainerRecord['hostConfig']['restartPolicy'] = { name: 'no', maximumRetryCount: 0 }): ContainerRecord {
  return {
    version: 1,
    id,
    name,
    created: '2024-05-01T12:00:00.000000000Z',
    config: { image: '', imageId: '', args: ['sleep', '60'], entrypoint: [], cmd: ['sleep', '60'], env: [], workingDir: '', user: '', hostname: id.slice(0, 12), tty: false, openStdin: false, labels: {} },
    hostConfig: { limits: { nanoCpus: 0, memoryBytes: 0, memorySwapBytes: 0, pidsLimit: null }, portBindings: [], restartPolicy: restart, autoRemove: false },
    state: {
      status: 'created', pid: 0, startTimeTicks: 0, shimPid: 0, startedAt: '0001-01-01T00:00:00Z', finishedAt: '0001-01-01T00:00:00Z',
      exitCode: 0, oomKilled: false, error: '', restartCount: 0, manuallyStopped: false, boundPorts: [], ...state,
    },
  };
}

function writeContainer(stateDir: string, value: ContainerRecord, files: Record<string, unknown> = {}): void {
  const directory = path.join(stateDir, 'containers', value.id);
  fs.mkdirSync(directory, { recursive: true });
  fs.writeFileSync(path.join(directory, 'spec.json'), JSON.stringify(value));
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(directory, name), JSON.stringify(content));
}

async function liveProcess(t: ExecutionContext): Promise<{ pid: number; ticks: number }> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  await new Promise((resolve) => child.once('spawn', resolve));
  return { pid: child.pid!, ticks: readStartTimeTicks(child.pid!)! };
}

test('a live process named by init.json is running again, even when spec.json had not recorded the start', async (t) => {
  const { stateDir, manager } = fixture(t);
  const { pid, ticks } = await liveProcess(t);
  const id = 'a'.repeat(64);
  writeContainer(stateDir, record(id, 'web', { status: 'exited', exitCode: 1, startTimeTicks: 1 }), {
    'init.json': { pid, startTimeTicks: ticks, shimPid: process.pid, startedAt: '2024-05-01T12:00:01.000000000Z' },
  });
  await manager.start();
  t.like(manager.list()[0], { id, name: 'web', status: 'running', pid });
  t.like((manager.inspect('web') as { State: object }).State, { Status: 'running', Pid: pid });
});

test('an exit while no agent ran is reported with its code; a missing exit record is 255 with a reason', async (t) => {
  const { stateDir, manager, events } = fixture(t);
  const dead = 'b'.repeat(64);
  writeContainer(stateDir, record(dead, 'gone', { status: 'running', pid: 0x7ffffff0, startTimeTicks: 42 }), {
    'init.json': { pid: 0x7ffffff0, startTimeTicks: 42, shimPid: 0x7ffffff1, startedAt: '2024-05-01T12:00:01.000000000Z' },
    'exit.json': { exitCode: 3, finishedAt: '2024-05-01T12:00:05.000000000Z' },
  });
  const lost = 'c'.repeat(64);
  writeContainer(stateDir, record(lost, 'lost', { status: 'running', pid: 0x7ffffff2, startTimeTicks: 43 }), {
    'init.json': { pid: 0x7ffffff2, startTimeTicks: 43, shimPid: 0x7ffffff3, startedAt: '2024-05-01T12:00:01.000000000Z' },
  });
  await manager.start();
  t.like((manager.inspect('gone') as { State: object }).State, { Status: 'exited', ExitCode: 3, FinishedAt: '2024-05-01T12:00:05.000000000Z', Pid: 0 });
  t.like((manager.inspect('lost') as { State: object }).State, { Status: 'exited', ExitCode: 255, Error: 'the shim ended without recording an exit status' });
  const dies = events.filter((event) => event.action === 'die');
  t.deepEqual(dies.map((event) => [event.actor.name, event.exitCode]).sort(), [['gone', 3], ['lost', 255]]);
  // The new state is saved.
  await manager.saved();
  const saved = JSON.parse(fs.readFileSync(path.join(stateDir, 'containers', dead, 'spec.json'), 'utf8')) as ContainerRecord;
  t.is(saved.state.status, 'exited');
  t.is(saved.state.exitCode, 3);
});

test('restart policies resume; an exited container stays exited; a folder without spec.json is removed', async (t) => {
  const { stateDir, manager, events } = fixture(t);
  const flaky = 'd'.repeat(64);
  writeContainer(
    stateDir,
    record(flaky, 'flaky', { status: 'running', pid: 0x7ffffff4, startTimeTicks: 44, restartCount: 1 }, { name: 'on-failure', maximumRetryCount: 5 }),
    { 'init.json': { pid: 0x7ffffff4, startTimeTicks: 44, shimPid: 0, startedAt: '2024-05-01T12:00:01.000000000Z' }, 'exit.json': { exitCode: 1, finishedAt: '2024-05-01T12:00:02.000000000Z' } },
  );
  const done = 'e'.repeat(64);
  writeContainer(stateDir, record(done, 'done', { status: 'exited', exitCode: 0, startTimeTicks: 45 }), {
    'init.json': { pid: 0x7ffffff5, startTimeTicks: 45, shimPid: 0, startedAt: '2024-05-01T12:00:01.000000000Z' },
    'exit.json': { exitCode: 0, finishedAt: '2024-05-01T12:00:02.000000000Z' },
  });
  const half = 'f'.repeat(64);
  fs.mkdirSync(path.join(stateDir, 'containers', half));
  await manager.start();
  t.is((manager.inspect('flaky') as { State: { Status: string } }).State.Status, 'restarting');
  t.is((manager.inspect('done') as { State: { Status: string } }).State.Status, 'exited');
  t.deepEqual(events.filter((event) => event.action === 'die').map((event) => event.actor.name), ['flaky'], 'the known exit is not reported again');
  t.false(fs.existsSync(path.join(stateDir, 'containers', half)));
  t.deepEqual(manager.list().map((c) => c.name).sort(), ['done', 'flaky']);
});

test('stopping or removing a container that waits for its restart ends `wait` and log followers', async (t) => {
  const { stateDir, manager } = fixture(t);
  const waiting = (id: string, name: string): ContainerRecord =>
    record(id, name, { status: 'restarting', exitCode: 1, startTimeTicks: 46, restartCount: 1 }, { name: 'always', maximumRetryCount: 0 });
  const stopped = '7'.repeat(64);
  const removed = '8'.repeat(64);
  writeContainer(stateDir, waiting(stopped, 'stopped'));
  writeContainer(stateDir, waiting(removed, 'removed'));
  await manager.start();
  const pending = <T>(promise: Promise<T>): Promise<T | 'pending'> => Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 2000))]);
  const waitStopped = pending(manager.wait('stopped'));
  const followStopped = pending(manager.followLogs('stopped', {}, true, () => undefined).then(() => 'ended'));
  const waitRemoved = pending(manager.wait('removed'));
  await manager.stop('stopped');
  await manager.remove('removed');
  t.deepEqual(await waitStopped, { StatusCode: 1 });
  t.is(await followStopped, 'ended');
  t.deepEqual(await waitRemoved, { StatusCode: 1 });
});

test('names stay unique across re-adoption, and lookups accept id, prefix, name and /name', async (t) => {
  const { stateDir, manager } = fixture(t);
  writeContainer(stateDir, record('1'.repeat(63) + 'a', 'one', {}));
  await manager.start();
  t.is(manager.resolveId('one'), '1'.repeat(63) + 'a');
  t.is(manager.resolveId('/one'), '1'.repeat(63) + 'a');
  t.is(manager.resolveId('111'), '1'.repeat(63) + 'a');
  t.throws(() => manager.resolveId('two'), { message: 'No such container: two' });
  await t.throwsAsync(manager.create({ name: 'one', cmd: ['true'] }), { message: /The container name "\/one" is already in use/ });
  await t.throwsAsync(manager.create({ cmd: [] }), { message: 'No command specified' });
  await t.throwsAsync(manager.create({ image: 'busybox', cmd: ['true'] }), { message: 'No such image: busybox' });
  t.is(fs.readdirSync(path.join(stateDir, 'containers')).length, 1, 'refused creates leave no folder');
});
