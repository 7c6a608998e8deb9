/**
 * OOM kills surfaced at once, end to end on real cgroups and the real agent binary: a process
 * allocating past a 32 MiB limit is killed by the kernel, and the `oom` event reaches the API
 * stream, a socket.io client, the event log on disk, `capstan events` (the real CLI) and
 * container_oom_events_total under the container's name; after an agent restart on the same
 * state directory the event and the count are still there. Named *.cgroup.test.ts: it also runs
 * in the cgroup v2 VM lane (inotify on memory.events there, the v1 eventfd here).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { io as connectSocket, type Socket } from 'socket.io-client';
import type { ServerToClientEvents } from '../../server/api/socket';
import type { CapstanEvent } from '../../server/events';
import { eventually, isolatedAgentArgs } from '../helpers/agent';
import { TestCgroupTree } from '../helpers/cgroups';
import { streamEvents } from '../helpers/events';
import { CLI, requireCapability } from '../helpers/repo';

const execFileAsync = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const LIMIT_BYTES = 32 * 1024 * 1024;
/** The bound from the kill to the event being served. Units: milliseconds. */
const WITHIN_MS = 1000;

interface Agent {
  url: string;
  viewerToken: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** The real agent on a state directory the test owns (so a second agent can reuse it). */
async function startAgent(t: ExecutionContext, stateDir: string): Promise<Agent> {
  const isolated = isolatedAgentArgs(['--interval', '1s']);
  const child = spawn(process.execPath, [CLI, 'agent', '--listen', '127.0.0.1:0', '--state-dir', stateDir, ...isolated.args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  t.teardown(async () => {
    await stop();
    await isolated.removeParent();
  });
  const agentFile = path.join(stateDir, 'agent.json');
  const agent = await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}:\n${output}`);
    try {
      const parsed = JSON.parse(fs.readFileSync(agentFile, 'utf8')) as { url: string; pid: number };
      return parsed.pid === child.pid ? parsed : undefined;
    } catch {
      return undefined;
    }
  }, 60_000, 'the agent to start');
  const { tokens } = JSON.parse(fs.readFileSync(path.join(stateDir, 'tokens.json'), 'utf8')) as { tokens: Array<{ role: string; token: string }> };
  return { url: agent.url, viewerToken: tokens.find((token) => token.role === 'viewer')!.token, child, output: () => output, stop };
}

async function getJson(agent: Agent, pathname: string): Promise<unknown> {
  const response = await fetch(agent.url + pathname, { headers: { authorization: `Bearer ${agent.viewerToken}` } });
  if (!response.ok) throw new Error(`${pathname}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Past events, from GET /api/v1/events with since and until (the response ends). */
async function pastEvents(agent: Agent, sinceSeconds: number, filter: string): Promise<CapstanEvent[]> {
  const until = (Date.now() / 1000 + 1).toFixed(3);
  const response = await fetch(`${agent.url}/api/v1/events?since=${sinceSeconds}&until=${until}&filter=${encodeURIComponent(filter)}`, {
    headers: { authorization: `Bearer ${agent.viewerToken}` },
  });
  if (!response.ok) throw new Error(`events: ${response.status} ${await response.text()}`);
  return (await response.text()).split('\n').filter(Boolean).map((line) => JSON.parse(line) as CapstanEvent);
}

function oomCountFor(metrics: string, name: string): number | undefined {
  const line = metrics.split('\n').find((l) => l.startsWith('container_oom_events_total{') && l.includes(`name="${name}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('an OOM kill is in the API stream, socket.io, the log, capstan events and /metrics at once, and survives a restart', async (t) => {
  if (!requireCapability(isRoot, 'root (real cgroups)')) return t.log('skipped: needs root');
  const tree = TestCgroupTree.forTest(t);
  const cgroup = tree.child('oom');
  tree.setMemoryLimit(cgroup, LIMIT_BYTES);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-oom-'));
  t.teardown(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const sinceSeconds = Math.floor(Date.now() / 1000) - 1;

  const agent = await startAgent(t, stateDir);
  // The agent watches the cgroup from the first tick that shows its limit.
  await eventually(async () => {
    const body = (await getJson(agent, `/api/v1/containers/${encodeURIComponent(cgroup)}`)) as { stats: { memoryLimitIsSet?: boolean } };
    return body.stats.memoryLimitIsSet ? true : undefined;
  }, 20_000, 'the agent to see the limited cgroup');

  // Listeners: the API stream and two socket.io clients (one with a token, one without).
  const streamed: Array<{ event: CapstanEvent; atMs: number }> = [];
  await streamEvents(t, agent.url, agent.viewerToken, 'type=oom', (event) => streamed.push({ event, atMs: Date.now() }));
  const socket: Socket<ServerToClientEvents> = connectSocket(agent.url, { auth: { token: agent.viewerToken }, transports: ['websocket'], reconnection: false });
  t.teardown(() => socket.close());
  const pushed: CapstanEvent[] = [];
  socket.on('event', (event) => pushed.push(event));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const stranger = connectSocket(agent.url, { transports: ['websocket'], reconnection: false });
  t.teardown(() => stranger.close());
  const refusal = await new Promise<Error>((resolve) => {
    stranger.once('connect', () => resolve(new Error('connected without a token')));
    stranger.once('connect_error', resolve);
  });
  t.is(refusal.message, 'unauthorized', 'a client without a token is refused');
  t.false(stranger.connected);

  // The kill: allocation starts once the process is inside the cgroup (TestCgroupTree.run).
  const hog = await tree.run(cgroup, `${process.execPath} -e "const chunks = []; for (;;) chunks.push(Buffer.alloc(1024 * 1024, 1));"`);
  const exit = await new Promise<{ signal: NodeJS.Signals | null; atMs: number }>((resolve) =>
    hog.once('exit', (_code, signal) => resolve({ signal, atMs: Date.now() })),
  );
  t.is(exit.signal, 'SIGKILL', 'the kernel killed the allocator');

  const arrival = await eventually(async () => streamed.find((s) => s.event.actor.cgroupPath === cgroup), 5000, 'the oom event on the API stream');
  const latencyMs = arrival.atMs - exit.atMs;
  t.log(`oom event on the API stream ${latencyMs} ms after the process exit was seen`);
  t.true(latencyMs <= WITHIN_MS, `within ${WITHIN_MS} ms of the kill (took ${latencyMs} ms)`);
  const oom = arrival.event;
  t.is(oom.type, 'container');
  t.is(oom.action, 'oom');
  t.is(oom.actor.name, cgroup);
  t.is(oom.memoryLimitBytes, LIMIT_BYTES);
  t.true(oom.memoryUsageBytes! > 0 && oom.memoryUsageBytes! <= LIMIT_BYTES + 1024 * 1024, `usage at the kill ${oom.memoryUsageBytes}`);
  t.true(Math.abs(oom.timeMs - exit.atMs) < 5000);

  // Everything the bus feeds has it by now: the delivery is synchronous with the publish.
  await eventually(async () => (pushed.some((e) => e.action === 'oom' && e.actor.cgroupPath === cgroup) ? true : undefined), 2000, 'the socket.io push');
  const logText = fs.readdirSync(path.join(stateDir, 'events')).map((name) => fs.readFileSync(path.join(stateDir, 'events', name), 'utf8')).join('');
  const logged = logText.split('\n').filter(Boolean).map((line) => JSON.parse(line) as CapstanEvent);
  t.true(logged.some((e) => e.action === 'oom' && e.actor.cgroupPath === cgroup && e.timeMs === oom.timeMs), 'in the event log on disk');
  t.is(oomCountFor(await (await fetch(agent.url + '/metrics')).text(), cgroup), 1, 'container_oom_events_total for the name');
  const past = await pastEvents(agent, sinceSeconds, 'event=oom');
  t.deepEqual(past.filter((e) => e.actor.cgroupPath === cgroup), [oom], 'GET /api/v1/events?since=&until= lists it once');

  // The real CLI, docker's JSON shape.
  const cli = await execFileAsync(process.execPath, [
    CLI, 'events', '--state-dir', stateDir, '--since', String(sinceSeconds), '--until', (Date.now() / 1000 + 1).toFixed(3), '--filter', 'type=oom', '--format', 'json',
  ]);
  const messages = cli.stdout.trim().split('\n').map((line) => JSON.parse(line) as { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> }; time: number });
  const message = messages.find((m) => m.Actor.Attributes['name'] === cgroup);
  t.truthy(message, cli.stdout);
  t.is(message!.Type, 'container');
  t.is(message!.Action, 'oom');
  t.is(message!.Actor.ID, oom.actor.id);
  t.is(message!.Actor.Attributes['memoryLimitBytes'], String(LIMIT_BYTES));
  t.is(message!.time, Math.floor(oom.timeMs / 1000));
  // And the default line.
  const line = await execFileAsync(process.execPath, [CLI, 'events', '--state-dir', stateDir, '--since', String(sinceSeconds), '--until', '0s', '--filter', `container=${cgroup}`], {
    env: { ...process.env, TZ: 'UTC' },
  });
  t.regex(line.stdout, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z container oom ${oom.actor.id} \\(.*name=${cgroup}\\)$`, 'm'));

  // Restart on the same state directory: the event and the count are still there.
  await agent.stop();
  const second = await startAgent(t, stateDir);
  const after = await pastEvents(second, sinceSeconds, 'type=oom');
  t.deepEqual(after.filter((e) => e.actor.cgroupPath === cgroup), [oom], 'the log is read back after the restart');
  const metrics = await eventually(async () => {
    const text = await (await fetch(second.url + '/metrics')).text();
    return oomCountFor(text, cgroup) !== undefined ? text : undefined;
  }, 10_000, 'the cgroup in /metrics after the restart');
  t.is(oomCountFor(metrics, cgroup), 1, 'the count is rebuilt from the log, not restarted at 0');
});
