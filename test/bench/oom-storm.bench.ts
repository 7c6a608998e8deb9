/**
 * oom-storm: OOM event latency over a storm, from the kernel's report to a client of the agent.
 *
 * Each storm starts 100 capstan containers (`-m 16m`, PID 1 filling a 64 MiB buffer from its first
 * instruction) 10 at a time, so they are OOM-killed within a few seconds, many at once. The
 * kernel's report is the OOM watcher's wake-up: the native thread reads CLOCK_REALTIME as
 * epoll_wait returns for the eventfd (v1) or inotify (v2) fd, and the `oom` event carries that
 * time. Measured for every kill, on the same clock (CLOCK_REALTIME, fractional ms):
 *   api       arrival on the agent's GET /api/v1/events stream − the event's time   (judged)
 *   socket    arrival at a socket.io client − the event's time                      (judged)
 *   bare      in the same run, during the same storms: a bare native watcher
 *             (createOomWatcher, alone in a worker thread of this process) on raw 16 MiB cgroups
 *             of our own, each OOM-killed once between two batches: from its thread's wake-up to
 *             its callback, and to the kill counted (re-reading the counter every ms until it
 *             moves; baseline: the floor for any client of a notification)
 * The ratio of each client to the baseline is printed. Every kill must arrive exactly once at each
 * client; a missing or repeated one fails the run.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { io as connectSocket, type Socket } from 'socket.io-client';
import type { ServerToClientEvents } from '../../server/api/socket';
import { cgroupDirectory } from '../../server/cgroup/hierarchy';
import { detectLayout } from '../../server/cgroup/layout';
import type { CapstanEvent } from '../../server/events';
import { writeBusyboxImages } from '../helpers/busybox-image';
import { CLI, REPO_ROOT } from '../helpers/repo';
import { BenchAgent } from './agent';
import { BenchCgroupTree } from './cgroups';
import { formatMs, formatRatio, percentile, sleep, summarize, type Benchmark, type BenchResult } from './harness';
import { CgroupParent, runInCgroup, TempDirectory, unmountBelow } from './resources';

const STORMS = 3;
const CONTAINERS_PER_STORM = 100;
const BATCH = 10;
/** Raw cgroups killed for the baseline per storm: two after each batch. */
const RAW_PER_BATCH = 2;
const LIMIT_BYTES = 16 * 1024 * 1024;
const IMAGE = 'capstan-bench/busybox:oom';
/** How long one storm may take to reach every client. Units: milliseconds. */
const STORM_TIMEOUT_MS = 90_000;

type Client = 'api' | 'socket';

/** Now on CLOCK_REALTIME with sub-millisecond resolution. Units: milliseconds since the Unix epoch. */
const nowMs = (): number => performance.timeOrigin + performance.now();

/**
 * A bare native watcher alone in a worker thread. For the first notification of each watch it
 * reports two latencies from the watcher thread's wake-up: to its JavaScript callback, and to the
 * kill counted (the callback re-reads the counter every millisecond until it moves, as v1's
 * eventfd fires on the OOM condition, a moment before the kill is counted). Units: milliseconds.
 */
function startBareWatcher(directories: readonly string[], v2: boolean, onWake: (sample: BareSample) => void): Worker {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const fs = require('node:fs');
     const { performance } = require('node:perf_hooks');
     const { createOomWatcher } = require(workerData.native);
     const now = () => performance.timeOrigin + performance.now();
     const counterFile = workerData.v2 ? 'memory.events' : 'memory.oom_control';
     const count = (directory) => {
       try {
         return Number(/^oom_kill (\\d+)$/m.exec(fs.readFileSync(directory + '/' + counterFile, 'latin1'))?.[1] ?? 0);
       } catch {
         return -1;
       }
     };
     const byId = new Map();
     const seen = new Set();
     const watcher = createOomWatcher((watchId, wokeAtMs) => {
       const calledAtMs = now();
       if (seen.has(watchId)) return;
       seen.add(watchId);
       const directory = byId.get(watchId);
       const poll = (tries) => {
         if (count(directory) > 0 || tries >= 2000) parentPort.postMessage({ callbackMs: calledAtMs - wokeAtMs, countedMs: now() - wokeAtMs });
         else setTimeout(() => poll(tries + 1), 1);
       };
       poll(0);
     });
     for (const directory of workerData.directories) byId.set(workerData.v2 ? watcher.watchV2(directory) : watcher.watchV1(directory), directory);
     parentPort.on('message', () => { watcher.close(); parentPort.close(); });
     parentPort.postMessage('ready');`,
    { eval: true, workerData: { native: path.join(REPO_ROOT, 'build/server/native/index.js'), directories, v2 } },
  );
  worker.on('message', (message: BareSample | string) => {
    if (typeof message !== 'string') onWake(message);
  });
  return worker;
}

interface BareSample {
  /** Units: milliseconds after the wake-up. */
  callbackMs: number;
  countedMs: number;
}

function killIfRunning(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export const benchmark: Benchmark = {
  name: 'oom-storm',
  description: `OOM event latency over storms of ${CONTAINERS_PER_STORM} containers killed at once: watcher wake-up → events stream and socket.io client, vs a bare watcher's wake-up → callback`,
  order: 120,
  async run(context): Promise<BenchResult> {
    const layout = detectLayout();
    const v2 = layout.controllersOn === 2;

    // Raw cgroups for the baseline, each with the same limit, watched by the bare watcher from the start.
    const rawCount = STORMS * (CONTAINERS_PER_STORM / BATCH) * RAW_PER_BATCH;
    const tree = context.own(new BenchCgroupTree(layout));
    tree.growTo(rawCount);
    const rawMemoryDirectories: string[] = [];
    const rawProcsDirectories: string[][] = [];
    for (let i = 0; i < rawCount; i++) {
      const cgroup = tree.child(i);
      tree.manager.writeControl(v2 ? 'unified' : 'memory', cgroup, v2 ? 'memory.max' : 'memory.limit_in_bytes', String(LIMIT_BYTES));
      rawMemoryDirectories.push(cgroupDirectory(layout, v2 ? 'unified' : 'memory', cgroup)!);
      rawProcsDirectories.push(tree.manager.directories(cgroup).map((d) => d.directory));
    }
    const bare: BareSample[] = [];
    const allocators: ChildProcess[] = [];
    // Released after the tree is no longer needed but before it goes (own() releases in reverse).
    context.own({
      label: 'raw allocators',
      dispose: async () => allocators.forEach(killIfRunning),
      disposeSync: () => allocators.forEach(killIfRunning),
    });
    const worker = startBareWatcher(rawMemoryDirectories, v2, (sample) => bare.push(sample));
    context.own({
      label: 'bare OOM watcher thread',
      dispose: async () => {
        worker.postMessage('close');
        await worker.terminate();
      },
      disposeSync: () => void worker.terminate(),
    });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });

    // The agent, its image, and its two kinds of clients.
    const work = context.own(new TempDirectory('capstan-bench-oom-storm-'));
    const images = writeBusyboxImages(work.path);
    const parent = context.own(new CgroupParent(`/capstan-test-bench-storm-${randomBytes(4).toString('hex')}`));
    const agent = await BenchAgent.start(['--interval', '1s', '--cgroup-parent', parent.path], (a) => context.own(a));
    execFileSync(process.execPath, [CLI, '--state-dir', agent.stateDir, 'image', 'import', '--name', IMAGE, images.rootfsTar], { stdio: 'ignore' });
    const { tokens } = JSON.parse(fs.readFileSync(path.join(agent.stateDir, 'tokens.json'), 'utf8')) as { tokens: Array<{ role: string; token: string }> };
    const operator = `Bearer ${tokens.find((t) => t.role === 'operator')!.token}`;
    const viewerToken = tokens.find((t) => t.role === 'viewer')!.token;
    const api = async (method: string, pathname: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
      const response = await fetch(agent.url + pathname, {
        method,
        headers: { authorization: operator, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      return { status: response.status, json: text ? (JSON.parse(text) as unknown) : undefined };
    };
    const removeContainers = async (ids: readonly string[]): Promise<void> => {
      for (let i = 0; i < ids.length; i += BATCH) await Promise.all(ids.slice(i, i + BATCH).map((id) => api('DELETE', `/api/v1/containers/${id}?force=1`)));
    };
    let live: string[] = [];
    // Released before the agent: its containers go through it, so no mount is left below its state directory.
    context.own({
      label: 'storm containers',
      dispose: async () => {
        await removeContainers(live);
        unmountBelow(agent.stateDir);
      },
      disposeSync: () => unmountBelow(agent.stateDir),
    });

    /** Per client: the latency of each container's oom events, by container id. Units: milliseconds. */
    const arrivals: Record<Client, Map<string, number[]>> = { api: new Map(), socket: new Map() };
    const record = (client: Client, event: CapstanEvent, atMs: number): void => {
      if (event.action !== 'oom') return;
      const list = arrivals[client].get(event.actor.id) ?? [];
      list.push(atMs - event.timeMs);
      arrivals[client].set(event.actor.id, list);
    };
    const stream = http.get(`${agent.url}/api/v1/events?filter=event%3Doom`, { headers: { authorization: `Bearer ${viewerToken}` } }, (response) => {
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        const atMs = nowMs();
        buffer += chunk;
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          record('api', JSON.parse(buffer.slice(0, newline)) as CapstanEvent, atMs);
          buffer = buffer.slice(newline + 1);
        }
      });
    });
    stream.on('error', () => undefined); // destroyed at the end
    context.own({ label: 'events API stream', dispose: async () => void stream.destroy(), disposeSync: () => void stream.destroy() });
    const socket: Socket<ServerToClientEvents> = connectSocket(agent.url, { auth: { token: viewerToken }, transports: ['websocket'], reconnection: false });
    context.own({ label: 'socket.io client', dispose: async () => void socket.close(), disposeSync: () => void socket.close() });
    socket.on('event', (event) => record('socket', event, nowMs()));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });

    const all: string[] = [];
    const stormMs: number[] = [];
    let raw = 0;
    for (let storm = 1; storm <= STORMS; storm++) {
      const started = performance.now();
      const ids: string[] = [];
      for (let i = 0; i < CONTAINERS_PER_STORM; i += BATCH) {
        const batch = await Promise.all(
          Array.from({ length: BATCH }, async () => {
            const answer = await api('POST', '/api/v1/containers?start=1', { image: IMAGE, cmd: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'], memory: `${LIMIT_BYTES / 1024 / 1024}m` });
            if (answer.status !== 201) throw new Error(`run: ${answer.status} ${JSON.stringify(answer.json)}\n${agent.recentOutput()}`);
            return (answer.json as { Id: string }).Id;
          }),
        );
        ids.push(...batch);
        live.push(...batch);
        // The baseline's kills land among the containers' (`tail` grows a line that never ends).
        for (let k = 0; k < RAW_PER_BATCH; k++) allocators.push(await runInCgroup(rawProcsDirectories[raw++]!, 'head -c 512m /dev/zero | tail'));
      }
      all.push(...ids);
      const deadline = Date.now() + STORM_TIMEOUT_MS;
      while ((['api', 'socket'] as const).some((client) => ids.some((id) => !arrivals[client].has(id))) || bare.length < raw) {
        if (Date.now() > deadline) {
          const missing = (client: Client): number => ids.filter((id) => !arrivals[client].has(id)).length;
          throw new Error(`storm ${storm}: not every kill arrived within ${STORM_TIMEOUT_MS} ms (missing: api ${missing('api')}, socket ${missing('socket')}, bare ${raw - bare.length}):\n${agent.recentOutput()}`);
        }
        await sleep(50);
      }
      stormMs.push(performance.now() - started);
      context.log(`oom-storm: storm ${storm}/${STORMS}: ${ids.length} kills in ${Math.round(performance.now() - started)} ms`);
      // Two collector ticks, so a repeated event would have had its chance to arrive before it is counted.
      await sleep(2500);
      await removeContainers(ids);
      live = live.filter((id) => !ids.includes(id));
    }

    const repeated = (client: Client): number => all.filter((id) => (arrivals[client].get(id)?.length ?? 0) !== 1).length;
    for (const client of ['api', 'socket'] as const) {
      if (repeated(client) > 0) throw new Error(`${repeated(client)} containers did not have exactly one oom event at the ${client} client`);
    }
    const samples: Record<'callback' | 'counted' | Client, number[]> = {
      callback: bare.map((b) => b.callbackMs),
      counted: bare.map((b) => b.countedMs),
      api: all.map((id) => arrivals.api.get(id)![0]!),
      socket: all.map((id) => arrivals.socket.get(id)![0]!),
    };
    const label = {
      callback: 'bare watcher: wake-up → its callback',
      counted: 'bare watcher: wake-up → kill counted (baseline)',
      api: 'GET /api/v1/events stream',
      socket: 'socket.io client',
    } as const;
    const rows = (['callback', 'counted', 'api', 'socket'] as const).map((key) => ({ key, summary: summarize(samples[key]), p99Ms: percentile(samples[key], 0.99) }));
    const baseline = rows[1]!;
    return {
      name: 'oom-storm',
      description: this.description,
      tables: [
        {
          title: `OOM event latency over ${STORMS} storms of ${CONTAINERS_PER_STORM} containers (${BATCH} at a time, cgroup v${v2 ? 2 : 1}, ${LIMIT_BYTES / 1024 / 1024} MiB limit; ms after the watcher woke)`,
          columns: ['observer', 'kills', 'median', 'p90', 'p99', 'max', 'median / baseline', 'p99 / baseline'],
          rows: rows.map((row) => [
            label[row.key],
            String(row.summary.count),
            formatMs(row.summary.medianMs),
            formatMs(row.summary.p90Ms),
            formatMs(row.p99Ms),
            formatMs(row.summary.maxMs),
            formatRatio(row.summary.medianMs / baseline.summary.medianMs),
            formatRatio(row.p99Ms / baseline.p99Ms),
          ]),
        },
      ],
      targets: [],
      notes: [
        `Every container's kill arrived exactly once at both clients (${all.length} each); storms took ${stormMs.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')} from the first start to the last arrival.`,
        'The start point is the time the `oom` event carries: the native watcher thread\'s CLOCK_REALTIME as it woke (v1: the eventfd fires on the OOM condition, a moment before the kill is counted).',
        `The baseline is a bare native watcher with nothing else (one worker thread of the benchmark) on ${rawCount} raw cgroups killed during the storms: from its wake-up to its callback, and to the kill counted (re-reading the counter every ms). No notification-based client can beat the second.`,
      ],
      data: { v2, storms: STORMS, containersPerStorm: CONTAINERS_PER_STORM, stormMs, samplesMs: samples, summaries: Object.fromEntries(rows.map((row) => [row.key, { ...row.summary, p99Ms: row.p99Ms }])) },
    };
  },
};
