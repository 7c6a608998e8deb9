/**
 * oom: how long an OOM kill takes to reach a client of the real agent, over ≥ 20 real kills in a
 * 32 MiB cgroup.
 *
 * The kill's time is the kernel's own: the timestamp of its "Killed process N (tail)" record in
 * /dev/kmsg (printk's clock, which on this machine agrees with CLOCK_MONOTONIC; checked every run
 * against the poller below, which is the fallback reference when /dev/kmsg is unreadable or the
 * clocks disagree). The bench reads the kernel log only as a measuring instrument; capstan itself
 * never parses it.
 *
 * Every kill is seen by four observers at once, all in this process on one clock
 * (CLOCK_MONOTONIC, process.hrtime):
 *   kernel    a worker thread re-reading the cgroup's oom_kill counter every 0.5 ms
 *   bare      a bare native watcher (createOomWatcher) on the same cgroup, re-reading the counter
 *             itself until it moves: the raw kernel notification without capstan's pipeline
 *             (baseline)
 *   api       the agent's GET /api/v1/events stream (NDJSON over loopback)   (what is judged)
 *   socket    a socket.io client of the agent                                 (what is judged)
 * Latency = observer's time − the kill's. Because all four watch the same kill, load on the
 * shared machine hits them alike. Target (issue 5): p99 < 100 ms for the API and socket clients.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { io as connectSocket, type Socket } from 'socket.io-client';
import type { ServerToClientEvents } from '../../server/api/socket';
import { detectLayout } from '../../server/cgroup/layout';
import { cgroupDirectory } from '../../server/cgroup/hierarchy';
import type { CapstanEvent } from '../../server/events';
import { createOomWatcher } from '../../server/native';
import { BenchAgent } from './agent';
import { BenchCgroupTree } from './cgroups';
import { runInCgroup } from './resources';
import { formatMs, formatRatio, percentile, sleep, summarize, type Benchmark, type BenchResult, type TargetCheck } from './harness';

const KILLS = 25;
const WARMUP_KILLS = 2;
const LIMIT_BYTES = 32 * 1024 * 1024;
const TARGET_P99_MS = 100;
/** How long one kill may take to reach every observer before it counts as missed. Units: ms. */
const OBSERVE_TIMEOUT_MS = 5000;

type Observer = 'kernel' | 'bare' | 'api' | 'socket';
const OBSERVERS: readonly Observer[] = ['kernel', 'bare', 'api', 'socket'];

const nowNs = (): bigint => process.hrtime.bigint();

/** The oom_kill value in memory.oom_control (v1) or memory.events (v2) text. */
function parseOomKill(text: string): number | undefined {
  const match = /^oom_kill (\d+)$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * The kernel log, drained without blocking: "Killed process" records with printk's timestamp.
 * Opening /dev/kmsg starts at the oldest record kept, so everything already there is skipped first.
 */
class KernelLog {
  private readonly buffer = Buffer.alloc(16 * 1024);

  private constructor(private readonly fd: number) {
    this.drain();
  }

  static open(): KernelLog | undefined {
    try {
      return new KernelLog(fs.openSync('/dev/kmsg', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
    } catch {
      return undefined;
    }
  }

  /** New kill records since the last call: victim pid, command, and when. Units: CLOCK_MONOTONIC ns. */
  drain(): Array<{ pid: number; command: string; atNs: bigint }> {
    const kills: Array<{ pid: number; command: string; atNs: bigint }> = [];
    for (;;) {
      let length: number;
      try {
        length = fs.readSync(this.fd, this.buffer, 0, this.buffer.length, null);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue; // records were overwritten while we were away: go on
        if (code === 'EAGAIN') break;
        throw error;
      }
      // "<prio>,<seq>,<usec>,<flags>;<message>"
      const record = this.buffer.toString('utf8', 0, length);
      const match = /^\d+,\d+,(\d+),[^;]*;.*Killed process (\d+) \(([^)]*)\)/.exec(record);
      if (match) kills.push({ atNs: BigInt(match[1]!) * 1000n, pid: Number(match[2]), command: match[3]! });
    }
    return kills;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Arrival times of the n-th kill at each observer. Units: CLOCK_MONOTONIC nanoseconds. */
class Arrivals {
  private readonly times = new Map<Observer, bigint[]>(OBSERVERS.map((o) => [o, []]));
  private waiter: (() => void) | undefined;

  record(observer: Observer, atNs: bigint): void {
    this.times.get(observer)!.push(atNs);
    this.waiter?.();
  }

  count(observer: Observer): number {
    return this.times.get(observer)!.length;
  }

  at(observer: Observer, index: number): bigint | undefined {
    return this.times.get(observer)![index];
  }

  /** Resolves once every observer has seen `kills` kills, or after timeoutMs. */
  async waitFor(kills: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (OBSERVERS.some((o) => this.count(o) < kills)) {
      if (Date.now() > deadline) return false;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 50);
      });
    }
    return true;
  }
}

export const benchmark: Benchmark = {
  name: 'oom',
  description: 'OOM kill → event at an API stream and a socket.io client of the agent, vs a bare native watcher (≥ 20 real kills)',
  async run(context): Promise<BenchResult> {
    const layout = detectLayout();
    const v2 = layout.controllersOn === 2;
    const tree = context.own(new BenchCgroupTree(layout));
    tree.growTo(1);
    const target = tree.child(0);
    if (v2) tree.manager.writeControl('unified', target, 'memory.max', String(LIMIT_BYTES));
    else tree.manager.writeControl('memory', target, 'memory.limit_in_bytes', String(LIMIT_BYTES));
    const memoryDirectory = cgroupDirectory(layout, v2 ? 'unified' : 'memory', target)!;
    const counterFile = path.join(memoryDirectory, v2 ? 'memory.events' : 'memory.oom_control');
    const procsDirectories = tree.manager.directories(target).map((d) => d.directory);
    const arrivals = new Arrivals();
    const kernelLog = KernelLog.open();
    if (kernelLog) context.own({ label: '/dev/kmsg', dispose: async () => kernelLog.close(), disposeSync: () => kernelLog.close() });
    /** The kernel's time of each kill, by kill index (undefined when its record was not found). */
    const killedAtNs: Array<bigint | undefined> = [];

    // kernel: the counter poller, on its own thread so the event loop's work cannot delay it.
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const poller = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const fs = require('node:fs');
       const fd = fs.openSync(workerData.file, 'r');
       const buffer = Buffer.alloc(4096);
       const pause = new Int32Array(new SharedArrayBuffer(4));
       const stop = new Int32Array(workerData.stop);
       let last;
       while (Atomics.load(stop, 0) === 0) {
         const length = fs.readSync(fd, buffer, 0, buffer.length, 0);
         const match = /^oom_kill (\\d+)$/m.exec(buffer.toString('latin1', 0, length));
         const count = match ? Number(match[1]) : -1;
         if (last !== undefined && count > last) for (let i = last; i < count; i++) parentPort.postMessage(process.hrtime.bigint());
         last = count;
         Atomics.wait(pause, 0, 0, 0.5);
       }
       fs.closeSync(fd);`,
      { eval: true, workerData: { file: counterFile, stop: stop.buffer } },
    );
    poller.on('message', (atNs: bigint) => arrivals.record('kernel', atNs));
    context.own({
      label: 'oom counter poller thread',
      dispose: async () => {
        Atomics.store(stop, 0, 1);
        await poller.terminate();
      },
      disposeSync: () => Atomics.store(stop, 0, 1),
    });

    // bare: the native watcher alone. v1's eventfd fires on the OOM condition, just before the
    // kill is counted, so it re-reads until the counter moves (as the agent's monitor does).
    let bareSeen = parseOomKill(fs.readFileSync(counterFile, 'utf8')) ?? 0;
    const bareCheck = (): boolean => {
      let text: string;
      try {
        text = fs.readFileSync(counterFile, 'utf8');
      } catch {
        // v1 also signals the eventfd when the cgroup is removed at the end: nothing to count then.
        return false;
      }
      const count = parseOomKill(text) ?? bareSeen;
      const atNs = nowNs();
      for (; bareSeen < count; bareSeen++) arrivals.record('bare', atNs);
      return count > 0 && bareSeen === count;
    };
    let bareRetry: NodeJS.Timeout | undefined;
    const watcher = createOomWatcher(() => {
      const before = bareSeen;
      bareCheck();
      if (bareSeen > before || v2) return;
      let tries = 0;
      const again = (): void => {
        const seenBefore = bareSeen;
        bareCheck();
        if (bareSeen === seenBefore && ++tries < 1000) bareRetry = setTimeout(again, 1);
      };
      clearTimeout(bareRetry);
      bareRetry = setTimeout(again, 1);
    });
    context.own({ label: 'bare OOM watcher', dispose: async () => watcher.close(), disposeSync: () => watcher.close() });
    if (v2) watcher.watchV2(memoryDirectory);
    else watcher.watchV1(memoryDirectory);

    // The agent, and its two kinds of clients.
    const agent = await BenchAgent.start(['--interval', '1s'], (a) => context.own(a));
    const { tokens } = JSON.parse(fs.readFileSync(path.join(agent.stateDir, 'tokens.json'), 'utf8')) as { tokens: Array<{ role: string; token: string }> };
    const token = tokens.find((t) => t.role === 'viewer')!.token;
    const authorization = `Bearer ${token}`;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const response = await fetch(`${agent.url}/api/v1/containers/${encodeURIComponent(target)}`, { headers: { authorization } });
      const body = response.ok ? ((await response.json()) as { stats: { memoryLimitIsSet?: boolean } }) : undefined;
      if (body?.stats.memoryLimitIsSet) break;
      if (Date.now() > deadline) throw new Error(`the agent never listed ${target} with its limit:\n${agent.recentOutput()}`);
      await sleep(200);
    }
    // One more tick, so the monitor has taken its first reading (the baseline).
    await sleep(1500);

    const isOurs = (event: CapstanEvent): boolean => event.action === 'oom' && event.actor.cgroupPath === target;
    const stream = http.get(`${agent.url}/api/v1/events?filter=event%3Doom`, { headers: { authorization } }, (response) => {
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        const atNs = nowNs();
        buffer += chunk;
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          if (isOurs(JSON.parse(buffer.slice(0, newline)) as CapstanEvent)) arrivals.record('api', atNs);
          buffer = buffer.slice(newline + 1);
        }
      });
    });
    stream.on('error', () => undefined); // destroyed at the end
    context.own({ label: 'events API stream', dispose: async () => void stream.destroy(), disposeSync: () => void stream.destroy() });
    const socket: Socket<ServerToClientEvents> = connectSocket(agent.url, { auth: { token }, transports: ['websocket'], reconnection: false });
    context.own({ label: 'socket.io client', dispose: async () => void socket.close(), disposeSync: () => void socket.close() });
    socket.on('event', (event) => {
      if (isOurs(event)) arrivals.record('socket', nowNs());
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });

    // The kills: `tail` keeps a line that never ends, so it grows until the kernel kills it.
    const total = WARMUP_KILLS + KILLS;
    let missed = 0;
    for (let kill = 1; kill <= total; kill++) {
      const allocator = await runInCgroup(procsDirectories, 'head -c 512m /dev/zero | tail');
      const exited = new Promise((resolve) => allocator.once('exit', resolve));
      const complete = await arrivals.waitFor(kill, OBSERVE_TIMEOUT_MS);
      await exited;
      // Our victim is the `tail` the shell started just after itself (other tests may OOM too).
      const record = kernelLog?.drain().find((k) => k.command === 'tail' && k.pid > allocator.pid! && k.pid < allocator.pid! + 50);
      killedAtNs.push(record?.atNs);
      if (!complete) {
        missed++;
        throw new Error(
          `kill ${kill} did not reach every observer within ${OBSERVE_TIMEOUT_MS} ms (${OBSERVERS.map((o) => `${o} ${arrivals.count(o)}`).join(', ')}):\n${agent.recentOutput()}`,
        );
      }
      if (kill % 5 === 0) context.log(`oom: ${kill}/${total} kills`);
      await sleep(100);
    }

    // The reference: the kernel log's kill time if every kill has one and the clocks agree (the
    // poller sees the counter after the kill, within a few ms), else the poller's time.
    const measured = Array.from({ length: KILLS }, (_, i) => i + WARMUP_KILLS);
    const pollerMinusLogMs = measured.flatMap((index) => {
      const logged = killedAtNs[index];
      return logged === undefined ? [] : [Number(arrivals.at('kernel', index)! - logged) / 1e6];
    });
    const clockSkewMs = percentile(pollerMinusLogMs, 0.5);
    const useKernelLog = pollerMinusLogMs.length === KILLS && clockSkewMs > -1 && clockSkewMs < 50;
    const reference = useKernelLog ? 'the kernel log\'s "Killed process" timestamp' : 'the oom_kill counter poller (0.5 ms)';
    const samples: Record<Observer, number[]> = { kernel: [], bare: [], api: [], socket: [] };
    for (const index of measured) {
      const killNs = useKernelLog ? killedAtNs[index]! : arrivals.at('kernel', index)!;
      for (const observer of OBSERVERS) samples[observer].push(Number(arrivals.at(observer, index)! - killNs) / 1e6);
    }
    const rows = (['bare', 'api', 'socket'] as const).map((observer) => {
      const values = samples[observer];
      const summary = summarize(values);
      return { observer, summary, p99Ms: percentile(values, 0.99) };
    });
    const bare = rows[0]!;
    const label: Record<string, string> = {
      bare: 'bare native watcher (baseline)',
      api: 'GET /api/v1/events stream',
      socket: 'socket.io client',
    };
    const targets: TargetCheck[] = rows.slice(1).map((row) => ({
      what: `p99 kill → ${label[row.observer]}`,
      target: `< ${TARGET_P99_MS} ms`,
      measured: `${formatMs(row.p99Ms)} ms`,
      met: row.p99Ms < TARGET_P99_MS,
    }));
    return {
      name: 'oom',
      description: this.description,
      tables: [
        {
          title: `OOM kill → observer, over ${KILLS} kills (cgroup v${v2 ? 2 : 1}, ${LIMIT_BYTES / 1024 / 1024} MiB limit; ms after the kill, per ${reference})`,
          columns: ['observer', 'median', 'p90', 'p99', 'min', 'max', 'median / baseline', 'p99 / baseline'],
          rows: rows.map((row) => [
            label[row.observer]!,
            formatMs(row.summary.medianMs),
            formatMs(row.summary.p90Ms),
            formatMs(row.p99Ms),
            formatMs(row.summary.minMs),
            formatMs(row.summary.maxMs),
            formatRatio(row.summary.medianMs / bare.summary.medianMs),
            formatRatio(row.p99Ms / bare.p99Ms),
          ]),
        },
      ],
      targets,
      notes: [
        useKernelLog
          ? `Kill times from /dev/kmsg; the 0.5 ms counter poller saw each kill a median ${formatMs(clockSkewMs)} ms later (p90 ${formatMs(percentile(samples.kernel, 0.9))} ms): the clocks agree.`
          : `Kill times from the 0.5 ms counter poller (/dev/kmsg ${kernelLog ? `records found for ${pollerMinusLogMs.length}/${KILLS} kills, poller − kmsg median ${formatMs(clockSkewMs)} ms` : 'unreadable'}); the poller's thread can itself be late under load, so small negative latencies are possible.`,
        v2
          ? 'cgroup v2: inotify on memory.events fires when oom_kill is incremented.'
          : 'cgroup v1: the eventfd fires on the OOM condition, just before the kill is counted; both the baseline and the agent re-read the counter until it moves.',
        `Missed kills: ${missed}. Warm-up kills not counted: ${WARMUP_KILLS}.`,
      ],
      data: { v2, kills: KILLS, reference, clockSkewMs, samplesMs: samples, summaries: Object.fromEntries(rows.map((row) => [row.observer, { ...row.summary, p99Ms: row.p99Ms }])) },
    };
  },
};
