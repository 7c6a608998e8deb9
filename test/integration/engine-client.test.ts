/**
 * The engine client against the real engines: a private dockerd (Debian's docker.io 20.10) and a
 * private Podman API service (Debian's podman 4.3), both started by this file
 * (test/helpers/engines.ts), with busybox imported into each. Containers run with --network none
 * under the engines' test-owned cgroup parents. Then the ways an engine fails: no socket, a socket
 * that answers garbage, one that never answers.
 *
 * The after.always hook stops both engines and fails the run if any process, mount, cgroup or
 * directory of theirs is left on the machine.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { cgroupDirectory } from '../../server/cgroup/hierarchy';
import { detectLayout } from '../../server/cgroup/layout';
import { EngineClient } from '../../server/sources/engine/client';
import { EngineError } from '../../server/sources/engine/errors';
import { parseEngineHost } from '../../server/sources/engine/host';
import type { EngineEvent, EngineLogLine } from '../../server/sources/engine/types';
import { dockerAvailable, engineLeftovers, podmanAvailable, startDockerd, startPodman, type TestEngine } from '../helpers/engines';
import { requireCapability } from '../helpers/repo';

const IMAGE = 'capstan-test/busybox:engine';
const MIB = 1024 * 1024;
const FLAVOURS = ['docker', 'podman'] as const;
type Flavour = (typeof FLAVOURS)[number];

interface Subject {
  engine: TestEngine;
  client: EngineClient;
  imageId: string;
}

const subjects = new Map<Flavour, Subject>();
const cleanups: Array<() => unknown> = [];
const capable = {
  docker: requireCapability(dockerAvailable(), 'root, /usr/sbin/dockerd and /usr/bin/docker (apt-get install docker.io busybox-static)'),
  podman: requireCapability(podmanAvailable(), 'root and /usr/bin/podman (apt-get install podman busybox-static)'),
};

test.before(async (t) => {
  const start = async (flavour: Flavour): Promise<void> => {
    if (!capable[flavour]) return t.log(`${flavour}: skipped, not installed`);
    const engine = await (flavour === 'docker' ? startDockerd(cleanups) : startPodman(cleanups));
    const client = new EngineClient({ address: parseEngineHost(engine.address, 'the test engine') });
    cleanups.push(() => client.close());
    const imported = Date.now();
    const imageId = await engine.importBusybox(IMAGE);
    t.log(`${flavour}: daemon answered /_ping after ${engine.startMs} ms, busybox imported in ${Date.now() - imported} ms`);
    subjects.set(flavour, { engine, client, imageId });
  };
  await Promise.all(FLAVOURS.map(start));
});

test.after.always(async (t) => {
  for (const [flavour, { engine }] of subjects) {
    // stop() is idempotent: the clean-up below gets the same answer.
    t.log(`${flavour}: stopped, containers removed and everything of it cleaned up in ${await engine.stop()} ms`);
  }
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (error) {
      t.log(`clean-up failed: ${String(error)}`);
    }
  }
  t.deepEqual(engineLeftovers(), [], 'nothing of the test engines is left: processes, mounts, cgroups, directories');
});

/** The tests of an engine that is not installed are skipped (and the file fails in CI: requireCapability). */
function serialFor(flavour: Flavour): typeof test.serial.skip {
  return capable[flavour] ? test.serial : test.skip;
}

/** The engine test.before started: there whenever the engine is installed, or the hook failed. */
function subject(flavour: Flavour): Subject {
  const found = subjects.get(flavour);
  if (!found) throw new Error(`${flavour} was not started by test.before`);
  return found;
}

/** `run` with the test flags; throws with the CLI's stderr on a status other than `expectStatus`. */
async function run(engine: TestEngine, args: string[], expectStatus = 0): Promise<string> {
  const result = await engine.cli(['run', ...engine.runFlags, ...args]);
  if (result.status !== expectStatus) throw new Error(`${engine.flavour} run ${args.join(' ')}: status ${result.status}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/** The container's memory limit, read from its cgroup (v1 memory.limit_in_bytes, v2 memory.max). */
function memoryLimitOf(pid: number): string {
  const layout = detectLayout();
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v2 = layout.controllersOn === 2;
  const line = lines.find((l) => (v2 ? l.startsWith('0::') : l.split(':')[1]!.split(',').includes('memory')))!;
  const cgroupPath = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
  const directory = cgroupDirectory(layout, v2 ? 'unified' : 'memory', cgroupPath)!;
  return fs.readFileSync(path.join(directory, v2 ? 'memory.max' : 'memory.limit_in_bytes'), 'utf8').trim();
}

/** Collects the events of one container until `until` holds, or fails after `timeoutMs`. */
async function collectEvents(stream: AsyncIterableIterator<EngineEvent> & { close(): void }, matches: (event: EngineEvent) => boolean, until: (events: EngineEvent[]) => boolean, timeoutMs: number): Promise<EngineEvent[]> {
  const events: EngineEvent[] = [];
  const timer = setTimeout(() => stream.close(), timeoutMs);
  try {
    for await (const event of stream) {
      if (!matches(event)) continue;
      events.push(event);
      if (until(events)) return events;
    }
  } finally {
    clearTimeout(timer);
    stream.close();
  }
  throw new Error(`the events stream ended without the expected events; got ${events.map((e) => e.Action).join(', ') || 'none'}`);
}

for (const flavour of FLAVOURS) {
  serialFor(flavour)(`${flavour}: the flavour and the API version come from GET /version`, async (t) => {
    const s = subject(flavour);
    const version = await s.client.version();
    t.is(version.flavour, flavour);
    t.is(version.apiVersion, '1.41');
    t.regex(version.version, flavour === 'docker' ? /^20\.10\./ : /^4\.3\./);
    if (flavour === 'podman') t.is(version.libpodApiVersion, '4.3.1');
    else t.is(version.libpodApiVersion, undefined);
    const ping = await s.client.ping();
    t.is(ping.apiVersion, '1.41');
    t.is(ping.libpodApiVersion !== undefined, flavour === 'podman');
  });

  serialFor(flavour)(`${flavour}: a running busybox container is listed, inspected and shown by top`, async (t) => {
    const s = subject(flavour);
    const name = `${flavour}-list`;
    const id = await run(s.engine, ['-d', '--name', name, '--label', 'capstan.test=list', IMAGE, 'sleep', '600']);
    const listed = (await s.client.listContainers()).find((container) => container.Id === id);
    t.truthy(listed, 'the new container is in the listing');
    t.deepEqual(listed!.Names, [`/${name}`]);
    t.is(listed!.State, 'running');
    t.is(listed!.Labels?.['capstan.test'], 'list');
    t.is(listed!.ImageID, s.imageId);
    const filtered = await s.client.listContainers({ filters: { label: ['capstan.test=list'] } });
    t.deepEqual(filtered.map((c) => c.Id), [id]);

    const inspected = await s.client.inspectContainer(name);
    t.is(inspected.Id, id);
    t.is(inspected.Name, `/${name}`);
    t.is(inspected.State.Status, 'running');
    t.true((inspected.State.Pid ?? 0) > 0);
    t.is(inspected.HostConfig['CgroupParent'], s.engine.cgroupParent);
    t.is(inspected.HostConfig['NetworkMode'], 'none');

    // Podman's compat top runs ps inside the container unless given its own descriptors (and then
    // answers unsplit busybox output): ask in the form both split into columns.
    const top = await s.client.top(id, flavour === 'podman' ? 'pid,user,args' : undefined);
    t.true(top.Titles.includes('PID'), top.Titles.join(' '));
    t.true(top.Processes.some((row) => row.join(' ').includes('sleep 600')), JSON.stringify(top.Processes));

    const missing = await t.throwsAsync(s.client.inspectContainer('no-such-container'), { instanceOf: EngineError });
    t.is(missing!.code, 'engine');
    t.is(missing!.status, 404);
    t.regex(missing!.message, /no-such-container/);
  });

  serialFor(flavour)(`${flavour}: a memory limit changed through the engine is in the container's cgroup`, async (t) => {
    const s = subject(flavour);
    const id = await run(s.engine, ['-d', '--name', `${flavour}-update`, '-m', '64m', IMAGE, 'sleep', '600']);
    const pid = (await s.client.inspectContainer(id)).State.Pid!;
    t.is(memoryLimitOf(pid), String(64 * MIB));
    if (flavour === 'docker') {
      const result = await s.client.updateContainer(id, { Memory: 128 * MIB, MemorySwap: -1 });
      t.true(Array.isArray(result.Warnings));
    } else {
      // Podman 4.3's compat API has no update route; its libpod API takes OCI resources.
      const compat = await t.throwsAsync(s.client.updateContainer(id, { Memory: 128 * MIB }), { instanceOf: EngineError });
      t.is(compat!.status, 404);
      await s.client.libpodUpdate(id, { memory: { limit: 128 * MIB } });
    }
    t.is(memoryLimitOf(pid), String(128 * MIB));
    const refused = await t.throwsAsync(
      // Docker checks its 6 MB minimum itself; Podman leaves limits to runc and the kernel, and cgroup
      // v2 takes even a 1-byte memory.max (then reclaims and OOM-kills), so ask it for CPUs the host has not.
      flavour === 'docker' ? s.client.updateContainer(id, { Memory: 1 }) : s.client.libpodUpdate(id, { cpu: { cpus: '64-127' } }),
      { instanceOf: EngineError },
    );
    t.is(refused!.code, 'engine');
    t.log(`${flavour} refuses the update with ${refused!.status}: ${refused!.message}`);
    t.is(memoryLimitOf(pid), String(128 * MIB), 'a refused update changes nothing');
  });

  serialFor(flavour)(`${flavour}: the events stream delivers start, die and the OOM kill of a container over its limit`, async (t) => {
    const s = subject(flavour);
    const name = `${flavour}-oom`;
    const stream = s.client.events({ filters: { type: ['container'] } });
    await stream.ready;
    const oomMarker = path.join(s.engine.directory, 'oom');
    fs.rmSync(oomMarker, { force: true });
    const running = run(s.engine, ['--name', name, '-m', '32m', '--memory-swap', '32m', IMAGE, 'tail', '/dev/zero'], 137);
    const events = await collectEvents(
      stream,
      (event) => event.Actor.Attributes['name'] === name,
      (seen) => seen.some((e) => e.Action === 'die') && (flavour === 'podman' || seen.some((e) => e.Action === 'oom')),
      60_000,
    );
    await running;
    const actions = events.map((e) => e.Action);
    const inspected = await s.client.inspectContainer(name);
    const seen = `events ${actions.join(', ')}; OOMKilled ${String(inspected.State.OOMKilled)}, exit code ${String(inspected.State.ExitCode)}`;
    t.log(`${flavour}: ${seen}`);
    t.true(actions.includes('start'), seen);
    t.true(actions.indexOf('start') < actions.indexOf('die'), seen);
    const die = events.find((e) => e.Action === 'die')!;
    t.is(die.Actor.Attributes['exitCode'], '137', seen);
    t.regex(die.Actor.ID, /^[0-9a-f]{64}$/);
    t.true(die.timeNano > 0);
    if (flavour === 'docker') {
      t.true(actions.includes('oom'), seen);
      t.is(inspected.State.OOMKilled, true, seen);
    } else {
      // Podman 4.3 with conmon 2.1.6 on cgroup v1: conmon sees the kill but writes its marker into
      // its working directory, where Podman never looks, so there is no "oom" event and OOMKilled
      // stays false. The marker (in the engine's directory, its working directory) shows the kill.
      const marker = fs.existsSync(oomMarker);
      t.true(actions.includes('oom') || marker, `an oom event, or conmon's marker of the kill: ${seen}`);
      t.log(`podman: oom event ${actions.includes('oom') ? 'seen' : 'missing'}, conmon's marker ${marker ? 'present' : 'absent'}`);
    }
  });

  serialFor(flavour)(`${flavour}: the lifecycle through the engine: pause, stop, start, kill with a wait, remove`, async (t) => {
    const s = subject(flavour);
    const id = await run(s.engine, ['-d', '--name', `${flavour}-lifecycle`, IMAGE, 'sleep', '600']);
    const status = async (): Promise<string | undefined> => (await s.client.inspectContainer(id)).State.Status;
    await s.client.containerAction(id, 'pause');
    t.is(await status(), 'paused');
    await s.client.containerAction(id, 'unpause');
    t.is(await status(), 'running');
    await s.client.containerAction(id, 'stop', { t: '1' });
    t.is(await status(), 'exited');
    await s.client.containerAction(id, 'start');
    t.is(await status(), 'running');
    await s.client.containerAction(id, 'restart', { t: '1' });
    t.is(await status(), 'running');

    const waiting = s.client.waitContainer(id, 'not-running');
    await s.client.containerAction(id, 'kill', { signal: 'SIGKILL' });
    t.deepEqual(await waiting, { StatusCode: 137 });

    await s.client.containerAction(id, 'start');
    const running = await t.throwsAsync(s.client.removeContainer(id, false), { instanceOf: EngineError });
    t.is(running!.code, 'engine');
    // Docker says 409 Conflict; Podman 4.3's compat API says 500.
    t.is(running!.status, flavour === 'docker' ? 409 : 500);
    t.log(`${flavour} refuses to remove a running container with ${running!.status}: ${running!.message}`);
    await s.client.removeContainer(id, true);
    const gone = await t.throwsAsync(s.client.inspectContainer(id), { instanceOf: EngineError });
    t.is(gone!.status, 404);
  });

  serialFor(flavour)(`${flavour}: an engine that goes away ends the events stream and is unreachable; back, it answers again`, async (t) => {
    const s = subject(flavour);
    const id = await run(s.engine, ['-d', '--name', `${flavour}-away`, IMAGE, 'sleep', '600']);
    await s.client.listContainers(); // a pooled keep-alive connection to the daemon about to go
    const stream = s.client.events({ filters: { type: ['container'] } });
    await stream.ready;
    const ended = (async () => {
      try {
        for await (const event of stream) void event;
        return 'the stream ended';
      } catch (error) {
        return `${(error as EngineError).code}: ${(error as Error).message}`;
      }
    })();
    await s.engine.stopDaemon();
    const how = await ended;
    t.log(`${flavour}: when the daemon stopped, ${how}`);
    t.regex(how, /^(the stream ended|unreachable: )/);
    const away = await t.throwsAsync(s.client.listContainers(), { instanceOf: EngineError });
    t.is(away!.code, 'unreachable');
    t.is(away!.errno, 'ENOENT');

    await s.engine.startDaemon();
    const back = await s.client.inspectContainer(id);
    t.is(back.State.Status, 'running', 'the container outlived its daemon');
    t.is((await s.client.version()).flavour, flavour);
  });

  serialFor(flavour)(`${flavour}: logs are demultiplexed into stdout and stderr lines, a tty's are raw`, async (t) => {
    const s = subject(flavour);
    await run(s.engine, ['--name', `${flavour}-logs`, IMAGE, 'sh', '-c', 'echo out1; echo err1 >&2; echo out2; printf "no newline"']);
    const lines: EngineLogLine[] = [];
    await s.client.logs(`${flavour}-logs`, { timestamps: true, sinceMs: Date.now() - 600_000 }, (line) => lines.push(line));
    t.deepEqual(lines.filter((l) => l.stream === 'stdout').map((l) => l.text), ['out1', 'out2', 'no newline']);
    t.deepEqual(lines.filter((l) => l.stream === 'stderr').map((l) => l.text), ['err1']);
    for (const line of lines) t.regex(line.time ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

    const tail: EngineLogLine[] = [];
    await s.client.logs(`${flavour}-logs`, { tail: 1 }, (line) => tail.push(line));
    t.is(tail.length, 1);

    await run(s.engine, ['-t', '--name', `${flavour}-tty`, IMAGE, 'sh', '-c', 'echo tty-out; echo tty-err >&2']);
    const tty: EngineLogLine[] = [];
    await s.client.logs(`${flavour}-tty`, {}, (line) => tty.push(line));
    t.deepEqual(tty, [
      { stream: 'stdout', text: 'tty-out' },
      { stream: 'stdout', text: 'tty-err' },
    ]);

    // Followed: the promise resolves when the container stops.
    const id = await run(s.engine, ['-d', '--name', `${flavour}-follow`, IMAGE, 'sh', '-c', 'echo first; sleep 1; echo second >&2']);
    const followed: string[] = [];
    await s.client.logs(id, { follow: true }, (line) => followed.push(`${line.stream} ${line.text}`));
    t.deepEqual(followed, ['stdout first', 'stderr second']);
  });
}

// --- engines that are not there, or not engines ---

/** A unix socket server of the test's own, in a temp directory removed afterwards. */
async function socketServer(t: ExecutionContext, onConnection: (socket: net.Socket) => void): Promise<string> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-not-an-engine-'));
  const socketPath = path.join(directory, 'engine.sock');
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(directory, { recursive: true, force: true });
  });
  return socketPath;
}

test('no socket at the address: unreachable at once, naming the socket and ENOENT', async (t) => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-no-engine-'));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  const socketPath = path.join(directory, 'docker.sock');
  // Timeouts far longer than the test's: unreachable must come from the connect, not from waiting.
  const client = new EngineClient({ address: parseEngineHost(`unix://${socketPath}`, 'DOCKER_HOST'), timeouts: { connectMs: 60_000, headersMs: 60_000 } });
  t.teardown(() => client.close());
  const started = Date.now();
  const error = await t.throwsAsync(client.listContainers(), { instanceOf: EngineError });
  t.log(`failed after ${Date.now() - started} ms: ${error!.message}`);
  t.is(error!.code, 'unreachable');
  t.is(error!.errno, 'ENOENT');
  t.is(error!.socketPath, socketPath);
  t.true(error!.message.includes(socketPath));

  // A file that is not a socket: ECONNREFUSED.
  fs.writeFileSync(socketPath, '');
  const refused = await t.throwsAsync(client.version(), { instanceOf: EngineError });
  t.is(refused!.code, 'unreachable');
  t.is(refused!.errno, 'ECONNREFUSED');
});

test('a socket that answers garbage: protocol', async (t) => {
  const socketPath = await socketServer(t, (socket) => {
    socket.once('data', () => socket.end('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\r\n'));
  });
  const client = new EngineClient({ address: parseEngineHost(socketPath, '--docker-host') });
  t.teardown(() => client.close());
  const error = await t.throwsAsync(client.version(), { instanceOf: EngineError });
  t.is(error!.code, 'protocol');
  t.regex(error!.message, /not HTTP as the Engine API speaks it \(HTTPParserError: .*\), starting "SSH-2\.0-OpenSSH_9\.2p1/);
  t.is(error!.address, socketPath);
});

test('a socket that answers HTTP but not the Engine API: protocol, naming what came back', async (t) => {
  const socketPath = await socketServer(t, (socket) => {
    socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 19\r\n\r\n<html>hello</html>\n'));
  });
  const client = new EngineClient({ address: parseEngineHost(socketPath, '--docker-host') });
  t.teardown(() => client.close());
  const error = await t.throwsAsync(client.version(), { instanceOf: EngineError });
  t.is(error!.code, 'protocol');
  t.regex(error!.message, /not JSON, starting "<html>hello<\/html>\\n"/);
});

test('a socket that never answers: timeout, naming the request and the limit', async (t) => {
  const socketPath = await socketServer(t, () => undefined);
  const client = new EngineClient({ address: parseEngineHost(socketPath, '--docker-host'), timeouts: { headersMs: 300 } });
  t.teardown(() => client.close());
  const error = await t.throwsAsync(client.inspectContainer('web'), { instanceOf: EngineError });
  t.is(error!.code, 'timeout');
  t.is(error!.message, `the engine at ${socketPath} did not answer GET /version within 300 ms`);
});
