/**
 * engines: what naming Docker's containers costs the collector (issue 12, part 9), on a real
 * picture: 1,000 test cgroups, 100 of them the cgroups of real Docker containers (`sleep` in the
 * busybox image, run with --network none by a private dockerd, test/helpers/engines.ts), the other
 * 900 plain cgroups under a parent of the benchmark's own (cgroups.ts).
 *
 * 1. The cost of naming. Two collectors over the same host, ticked in interleaved rounds:
 *      on   the agent's source list with --docker-host: capstan's own runtime (a lookup that
 *           knows no container here), the EngineSource connected to the dockerd, kubepods, raw
 *      off  the raw source alone (the agent without --docker-host names engine cgroups by path)
 *    A source names a cgroup only when the collector first sees it (or an engine event makes it
 *    re-describe one), so a steady tick does no naming at all; the first sweep names every
 *    cgroup. Both are measured: warm ticks (several per round), and cold first ticks of new
 *    collectors. The naming alone (describeCgroup over every cgroup) is timed too. Ticks are
 *    timed in wall time and in this process's CPU time (which leaves out waiting for a CPU).
 * 2. Engine API requests at steady state besides the events stream: the EngineSource talks to the
 *    engine through a counting EngineApi proxy (and every HTTP request undici sends is counted
 *    from its diagnostics channel as a cross-check) while the collector ticks every second for a
 *    minute after the initial listing, whose own cost is reported apart.
 *
 * Targets: a sweep with the engine source on costs under 5 % more than with it off; 0 requests a
 * minute at steady state.
 */
import * as diagnosticsChannel from 'node:diagnostics_channel';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { detectLayout } from '../../server/cgroup/layout';
import { Collector } from '../../server/collector/collector';
import { EventBus } from '../../server/events';
import type { CgroupLayout, CgroupPath, CollectorSnapshot } from '../../server/model';
import { CapstanSource } from '../../server/sources/capstan';
import { EngineClient } from '../../server/sources/engine/client';
import { parseEngineHost } from '../../server/sources/engine/host';
import { EngineSource } from '../../server/sources/engine/source';
import type { EngineApi, EngineContainerAction, EngineEvent, EngineLogLine } from '../../server/sources/engine/types';
import { KubepodsSource } from '../../server/sources/kubepods';
import { RawSource } from '../../server/sources/raw';
import { describeCgroup, type ContainerSource } from '../../server/sources/source';
import type { TestEngine } from '../helpers/engines';
import { BenchCgroupTree } from './cgroups';
import { dockerCli, dockerUnavailable, startBenchDockerd } from './dockerd';
import { formatMs, formatRatio, interleave, percentile, sleep, summarize, type Benchmark, type BenchContext, type BenchResult, type Summary, type TargetCheck } from './harness';

const CONTAINERS = 100;
const PLAIN_CGROUPS = 900;
const IMAGE = 'capstan-bench/busybox:engines';
/** `docker run -d` in flight at once while the containers are set up. */
const RUN_CONCURRENCY = 4;
const WARMUP_TICKS = 2;
/** Warm rounds, each running TICKS_PER_ROUND ticks of one collector, then of the other (rotating). */
const WARM_ROUNDS = 20;
const TICKS_PER_ROUND = 3;
/** Cold rounds: a new collector of each kind, its first tick timed. */
const COLD_ROUNDS = 20;
/** Rounds of describeCgroup over every cgroup, per source list. */
const NAMING_ROUNDS = 40;
/** The steady window: the collector ticking every second. Units: milliseconds. */
const STEADY_MS = 60_000;
const TICK_INTERVAL_MS = 1000;
/** "Under 5 % more". */
const TARGET_RATIO = 1.05;

/** Calls of each EngineApi method; every one is (at least) one request to the engine. */
type CallCounts = Record<string, number>;

/**
 * The EngineApi the EngineSource is given: the real EngineClient, every call counted by method.
 * Explicit rather than a JS Proxy, so a method added to EngineApi fails to compile here until counted.
 */
class CountingEngineApi implements EngineApi {
  private readonly counts: CallCounts = {};
  /** Events read from the stream(s). */
  eventsReceived = 0;

  constructor(private readonly inner: EngineApi) {}

  get address(): EngineApi['address'] {
    return this.inner.address;
  }

  /** A copy of the counts so far. */
  snapshot(): { calls: CallCounts; eventsReceived: number } {
    return { calls: { ...this.counts }, eventsReceived: this.eventsReceived };
  }

  private count(method: string): void {
    this.counts[method] = (this.counts[method] ?? 0) + 1;
  }

  version(): ReturnType<EngineApi['version']> {
    this.count('version');
    return this.inner.version();
  }

  listContainers(): ReturnType<EngineApi['listContainers']> {
    this.count('listContainers');
    return this.inner.listContainers();
  }

  inspectContainer(id: string): ReturnType<EngineApi['inspectContainer']> {
    this.count('inspectContainer');
    return this.inner.inspectContainer(id);
  }

  updateContainer(id: string, body: Record<string, unknown>): ReturnType<EngineApi['updateContainer']> {
    this.count('updateContainer');
    return this.inner.updateContainer(id, body);
  }

  libpodUpdate(id: string, resources: Record<string, unknown>): Promise<void> {
    this.count('libpodUpdate');
    return this.inner.libpodUpdate(id, resources);
  }

  top(id: string, psArgs: string): ReturnType<EngineApi['top']> {
    this.count('top');
    return this.inner.top(id, psArgs);
  }

  containerAction(id: string, action: EngineContainerAction, query?: Record<string, string>): Promise<void> {
    this.count('containerAction');
    return this.inner.containerAction(id, action, query);
  }

  removeContainer(id: string, force: boolean): Promise<void> {
    this.count('removeContainer');
    return this.inner.removeContainer(id, force);
  }

  waitContainer(id: string, condition: string, signal?: AbortSignal): Promise<{ StatusCode: number }> {
    this.count('waitContainer');
    return this.inner.waitContainer(id, condition, signal);
  }

  logs(id: string, options: Parameters<EngineApi['logs']>[1], onLine: (line: EngineLogLine) => void, signal?: AbortSignal): Promise<void> {
    this.count('logs');
    return this.inner.logs(id, options, onLine, signal);
  }

  events(options: Parameters<EngineApi['events']>[0], signal?: AbortSignal): AsyncIterable<EngineEvent> {
    this.count('events');
    const stream = this.inner.events(options, signal);
    const received = (): void => {
      this.eventsReceived++;
    };
    return {
      async *[Symbol.asyncIterator]() {
        for await (const event of stream) {
          received();
          yield event;
        }
      },
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Every HTTP request undici creates in this process (its diagnostics channel), by "METHOD path-without-query". */
class HttpRequestCounter {
  readonly requests: string[] = [];
  private readonly listener = (message: unknown): void => {
    const request = (message as { request?: { method?: string; path?: string } }).request;
    this.requests.push(`${request?.method ?? '?'} ${(request?.path ?? '?').split('?')[0]}`);
  };

  constructor() {
    diagnosticsChannel.subscribe('undici:request:create', this.listener);
  }

  close(): void {
    diagnosticsChannel.unsubscribe('undici:request:create', this.listener);
  }
}

/** The calls made between two snapshots of the counting proxy. */
function callsBetween(before: CallCounts, after: CallCounts): CallCounts {
  const difference: CallCounts = {};
  for (const [method, count] of Object.entries(after)) {
    const made = count - (before[method] ?? 0);
    if (made > 0) difference[method] = made;
  }
  return difference;
}

function besidesEvents(calls: CallCounts): number {
  return Object.entries(calls).reduce((sum, [method, count]) => (method === 'events' ? sum : sum + count), 0);
}

function describeCalls(calls: CallCounts): string {
  const entries = Object.entries(calls);
  return entries.length === 0 ? 'none' : entries.map(([method, count]) => `${method} ${count}`).join(', ');
}

function isEventsPath(request: string): boolean {
  return /^GET (\/v[\d.]+)?\/events$/.test(request);
}

interface Phase {
  name: string;
  seconds: number;
  ticks: number;
  calls: CallCounts;
  eventsReceived: number;
  /** HTTP requests undici created in the phase, besides the events stream. */
  httpBesidesEvents: string[];
  httpEventsStreams: number;
}

async function runContainers(engine: TestEngine, log: (message: string) => void): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < CONTAINERS) {
      const index = next++;
      const name = `capstan-bench-${String(index).padStart(3, '0')}`;
      const stdout = await dockerCli(engine, ['run', '-d', ...engine.runFlags, '--name', name, '--label', 'com.example.bench=engines', '--label', `com.example.index=${index}`, IMAGE, 'sleep', '3600']);
      ids.push(stdout.trim());
      if (ids.length % 25 === 0) log(`engines: ${ids.length} of ${CONTAINERS} containers running`);
    }
  };
  await Promise.all(Array.from({ length: RUN_CONCURRENCY }, worker));
  return ids;
}

function newCollector(layout: CgroupLayout, sources: ContainerSource[]): Collector {
  return new Collector({ layout, intervalMs: TICK_INTERVAL_MS, historyCapacity: 60, sources });
}

/** Wall-clock and CPU times of ticks. Units: milliseconds. */
interface TickTimes {
  wall: number[];
  /**
   * This process's user + system CPU time across the tick (main thread and the libuv workers doing
   * the batch reads; nothing else in the process is busy meanwhile). It leaves out the time spent
   * waiting for a CPU, which on a shared 2-core machine is most of the noise in wall time.
   */
  cpu: number[];
}

function tickTimes(): TickTimes {
  return { wall: [], cpu: [] };
}

async function timedTick(collector: Collector, into: TickTimes): Promise<CollectorSnapshot> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const snapshot = await collector.tick();
  into.wall.push(performance.now() - started);
  const cpu = process.cpuUsage(cpuBefore);
  into.cpu.push((cpu.user + cpu.system) / 1000);
  return snapshot;
}

/** How many of the engine's containers a snapshot names by their Docker name. */
function namedByDocker(snapshot: CollectorSnapshot, names: ReadonlySet<string>): number {
  return snapshot.containers.filter((c) => c.info.source === 'docker' && names.has(c.info.name)).length;
}

function loadText(): string {
  return os
    .loadavg()
    .map((load) => load.toFixed(1))
    .join(' / ');
}

export const benchmark: Benchmark = {
  name: 'engines',
  description: 'naming Docker containers: collector tick with the engine source on vs off (1000 cgroups, 100 containers), Engine API requests at steady state',
  order: 40,
  async run(context: BenchContext): Promise<BenchResult> {
    const unavailable = dockerUnavailable();
    if (unavailable) throw new Error(`engines: ${unavailable}`);
    const loadBefore = loadText();
    const layout = detectLayout();

    const engine = await startBenchDockerd(context);
    context.log(`engines: dockerd ${engine.pid} answered in ${engine.startMs} ms; containers under ${engine.cgroupParent}`);
    await engine.importBusybox(IMAGE);
    const setUpStarted = performance.now();
    const ids = await runContainers(engine, context.log);
    context.log(`engines: ${ids.length} containers running (${((performance.now() - setUpStarted) / 1000).toFixed(1)} s)`);
    const tree = context.own(new BenchCgroupTree(layout));
    tree.growTo(PLAIN_CGROUPS);
    context.log(`engines: ${PLAIN_CGROUPS} plain cgroups under ${tree.root}`);

    // The engine source as the agent builds it (server/agent/main.ts, connectEngine), its client counted.
    const http = new HttpRequestCounter();
    context.own({ label: 'undici request counter', dispose: async () => http.close(), disposeSync: () => http.close() });
    const client = new CountingEngineApi(new EngineClient({ address: parseEngineHost(engine.address, '--docker-host', process.env) }));
    const sourceLog: string[] = [];
    let redescribed = 0;
    let on: Collector | undefined;
    const source = new EngineSource({
      kind: 'docker',
      client,
      layout,
      bus: new EventBus(),
      log: (message) => sourceLog.push(message),
      onDescriptionChanged: (cgroupPath) => {
        redescribed++;
        on?.redescribe(cgroupPath);
      },
    });
    context.own({ label: 'engine source', dispose: () => source.close(), disposeSync: () => undefined });
    const listingStarted = performance.now();
    const httpBeforeListing = http.requests.length;
    source.connect();
    for (;;) {
      const listed = source.list();
      if (source.up && client.snapshot().calls['events'] && listed.length >= CONTAINERS && listed.every((c) => c.cgroupPath !== undefined)) break;
      if (performance.now() - listingStarted > 120_000) throw new Error(`the engine source did not list ${CONTAINERS} containers within 120 s (${listed.length} listed; ${sourceLog.join(' | ')})`);
      await sleep(10);
    }
    const listingMs = performance.now() - listingStarted;
    const listing = client.snapshot();
    const listingHttp = http.requests.slice(httpBeforeListing);
    context.log(`engines: initial listing ${formatMs(listingMs)} ms, ${describeCalls(listing.calls)}`);

    const names = new Set(source.list().map((c) => c.name));
    // The listing described every container once (before any collector existed); count only what follows.
    const redescribedByListing = redescribed;
    // Capstan's own runtime knows no container here: its lookup answers nothing, as the runtime does on a host without capstan containers.
    const capstanLookup = new Map<CgroupPath, never>();
    const onSources = (): ContainerSource[] => [
      new CapstanSource({ byCgroupPath: (cgroupPath) => capstanLookup.get(cgroupPath), networkCounters: () => undefined }),
      source,
      new KubepodsSource(),
      new RawSource(),
    ];
    const offSources = (): ContainerSource[] => [new RawSource()];

    const phases: Phase[] = [];
    const phase = async (name: string, body: () => Promise<number>): Promise<Phase> => {
      const before = client.snapshot();
      const httpBefore = http.requests.length;
      const started = performance.now();
      const ticks = await body();
      const after = client.snapshot();
      const made = http.requests.slice(httpBefore);
      const result: Phase = {
        name,
        seconds: (performance.now() - started) / 1000,
        ticks,
        calls: callsBetween(before.calls, after.calls),
        eventsReceived: after.eventsReceived - before.eventsReceived,
        httpBesidesEvents: made.filter((request) => !isEventsPath(request)),
        httpEventsStreams: made.filter(isEventsPath).length,
      };
      phases.push(result);
      return result;
    };

    // --- 1. warm ticks, then cold first sweeps, then naming alone ---
    on = newCollector(layout, onSources());
    const off = newCollector(layout, offSources());
    const warm = { on: tickTimes(), off: tickTimes() };
    /** Per warm round: median of its on ticks / median of its off ticks (the two ran next to each other). */
    const pairedWarm: number[] = [];
    const cold = { on: tickTimes(), off: tickTimes() };
    const naming = { on: [] as number[], off: [] as number[] };
    let lastOn: CollectorSnapshot | undefined;
    let lastOff: CollectorSnapshot | undefined;
    await phase('sweep rounds (warm, cold, naming)', async () => {
      let ticks = 0;
      for (let i = 0; i < WARMUP_TICKS; i++) {
        lastOn = await on!.tick();
        lastOff = await off.tick();
        ticks += 2;
      }
      context.log(`engines: ${WARM_ROUNDS} warm rounds of ${TICKS_PER_ROUND} ticks per collector (${lastOn!.containers.length} cgroups)`);
      await interleave(WARM_ROUNDS, [
        async () => {
          for (let i = 0; i < TICKS_PER_ROUND; i++) lastOn = await timedTick(on!, warm.on);
          ticks += TICKS_PER_ROUND;
        },
        async () => {
          for (let i = 0; i < TICKS_PER_ROUND; i++) lastOff = await timedTick(off, warm.off);
          ticks += TICKS_PER_ROUND;
        },
      ]);
      for (let round = 0; round < WARM_ROUNDS; round++) {
        const slice = (samples: number[]): Summary => summarize(samples.slice(round * TICKS_PER_ROUND, (round + 1) * TICKS_PER_ROUND));
        pairedWarm.push(slice(warm.on.wall).medianMs / slice(warm.off.wall).medianMs);
      }
      context.log(`engines: warm tick on ${formatMs(summarize(warm.on.wall).medianMs)} ms, off ${formatMs(summarize(warm.off.wall).medianMs)} ms; ${COLD_ROUNDS} cold rounds`);
      await interleave(COLD_ROUNDS, [
        async () => {
          await timedTick(newCollector(layout, onSources()), cold.on);
          ticks++;
        },
        async () => {
          await timedTick(newCollector(layout, offSources()), cold.off);
          ticks++;
        },
      ]);
      // Naming alone: what the first sweep asks the sources, for every cgroup the collector tracks.
      const paths = lastOn!.containers.map((c) => ({ path: c.info.cgroupPath, facts: c.info.createdAtMs === undefined ? {} : { createdAtMs: c.info.createdAtMs } }));
      const onList = onSources();
      const offList = offSources();
      const nameAll = (sources: ContainerSource[], into: number[]) => async (): Promise<void> => {
        const started = performance.now();
        for (const { path, facts } of paths) describeCgroup(sources, path, facts);
        into.push(performance.now() - started);
      };
      await interleave(NAMING_ROUNDS, [nameAll(onList, naming.on), nameAll(offList, naming.off)]);
      return ticks;
    });
    const namedOn = namedByDocker(lastOn!, names);
    const namedOff = namedByDocker(lastOff!, names);
    const totalCgroups = lastOn!.containers.length;

    // --- 2. a steady minute: the collector ticking every second, as the agent does ---
    context.log(`engines: steady state, the collector ticking every ${TICK_INTERVAL_MS} ms for ${STEADY_MS / 1000} s`);
    const steadyTicks: number[] = [];
    const onTick = (snapshot: CollectorSnapshot): void => {
      steadyTicks.push(snapshot.tickDurationSeconds * 1000);
    };
    on.on('tick', onTick);
    const steady = await phase('steady minute', async () => {
      await on!.start();
      await sleep(STEADY_MS);
      on!.stop();
      return steadyTicks.length;
    });
    // A tick still in flight when stop() was called finishes on its own; let it, before the tree goes.
    await sleep(2 * TICK_INTERVAL_MS);
    on.off('tick', onTick);
    const steadyPerMinute = (besidesEvents(steady.calls) * 60) / steady.seconds;
    const steadyHttpPerMinute = (steady.httpBesidesEvents.length * 60) / steady.seconds;
    const loadAfter = loadText();

    // --- report ---
    const s = {
      warmOn: summarize(warm.on.wall),
      warmOff: summarize(warm.off.wall),
      coldOn: summarize(cold.on.wall),
      coldOff: summarize(cold.off.wall),
      warmOnCpu: summarize(warm.on.cpu),
      warmOffCpu: summarize(warm.off.cpu),
      coldOnCpu: summarize(cold.on.cpu),
      coldOffCpu: summarize(cold.off.cpu),
      namingOn: summarize(naming.on),
      namingOff: summarize(naming.off),
    };
    const ratio = (a: Summary, b: Summary): number => a.medianMs / b.medianMs;
    const warmRatio = ratio(s.warmOn, s.warmOff);
    const coldRatio = ratio(s.coldOn, s.coldOff);
    const warmCpuRatio = ratio(s.warmOnCpu, s.warmOffCpu);
    const coldCpuRatio = ratio(s.coldOnCpu, s.coldOffCpu);
    const row = (what: string, onS: Summary, offS: Summary): string[] => [
      what,
      String(onS.count),
      formatMs(offS.medianMs),
      formatMs(offS.p90Ms),
      formatMs(offS.minMs),
      formatMs(onS.medianMs),
      formatMs(onS.p90Ms),
      formatMs(onS.minMs),
      `${onS.medianMs - offS.medianMs >= 0 ? '+' : '−'}${formatMs(Math.abs(onS.medianMs - offS.medianMs))}`,
      formatRatio(ratio(onS, offS)),
      formatRatio(onS.minMs / offS.minMs),
    ];
    const phaseRow = (p: Phase): string[] => [
      p.name,
      p.seconds.toFixed(1),
      String(p.ticks),
      String(besidesEvents(p.calls)),
      describeCalls(Object.fromEntries(Object.entries(p.calls).filter(([method]) => method !== 'events'))),
      String(p.httpBesidesEvents.length),
      String(p.calls['events'] ?? 0),
      String(p.eventsReceived),
    ];
    const listingPhase: Phase = {
      name: 'initial listing (connect → every container named)',
      seconds: listingMs / 1000,
      ticks: 0,
      calls: listing.calls,
      eventsReceived: listing.eventsReceived,
      httpBesidesEvents: listingHttp.filter((request) => !isEventsPath(request)),
      httpEventsStreams: listingHttp.filter(isEventsPath).length,
    };
    const targets: TargetCheck[] = [
      { what: `warm tick, on / off, wall (${totalCgroups} cgroups, ${CONTAINERS} Docker)`, target: `< ${formatRatio(TARGET_RATIO)}`, measured: formatRatio(warmRatio), met: warmRatio < TARGET_RATIO },
      {
        what: 'warm tick, on / off, wall, median of the per-round ratios',
        target: `< ${formatRatio(TARGET_RATIO)}`,
        measured: formatRatio(percentile(pairedWarm, 0.5)),
        met: percentile(pairedWarm, 0.5) < TARGET_RATIO,
      },
      { what: 'warm tick, on / off, CPU time', target: `< ${formatRatio(TARGET_RATIO)}`, measured: formatRatio(warmCpuRatio), met: warmCpuRatio < TARGET_RATIO },
      { what: 'first (cold) sweep, on / off, wall: every cgroup named', target: `< ${formatRatio(TARGET_RATIO)}`, measured: formatRatio(coldRatio), met: coldRatio < TARGET_RATIO },
      { what: 'first (cold) sweep, on / off, CPU time', target: `< ${formatRatio(TARGET_RATIO)}`, measured: formatRatio(coldCpuRatio), met: coldCpuRatio < TARGET_RATIO },
      {
        what: 'Engine API requests per minute at steady state, besides the events stream',
        target: '0',
        measured: `${steadyPerMinute.toFixed(1)} (HTTP ${steadyHttpPerMinute.toFixed(1)})`,
        met: besidesEvents(steady.calls) === 0 && steady.httpBesidesEvents.length === 0,
      },
    ];
    const notes = [
      `on = [CapstanSource (a lookup knowing no container), EngineSource connected to the private dockerd, KubepodsSource, RawSource], as server/agent/main.ts builds it with --docker-host; off = [RawSource].`,
      `Docker containers named by their Docker name in the last warm tick: on ${namedOn} of ${CONTAINERS}, off ${namedOff} (named by cgroup path).`,
      `warm: ${WARMUP_TICKS} warm-up ticks each, then ${WARM_ROUNDS} rounds, each ${TICKS_PER_ROUND} back-to-back ticks of one collector then of the other (order rotating). Per-round ratio = median of the round's on ticks / median of its off ticks, which ran side by side: a burst of load from elsewhere lands in one round's ratio instead of skewing one side's pooled median (range here ${formatRatio(Math.min(...pairedWarm))}–${formatRatio(Math.max(...pairedWarm))}). A warm tick does no naming: sources are asked only when a cgroup first appears or an engine event re-describes it (${redescribed - redescribedByListing} re-descriptions after the initial listing, which made ${redescribedByListing}).`,
      'CPU time = process.cpuUsage() (user + system, every thread of this process: the main thread and the libuv workers doing the reads) across the tick; unlike wall time it leaves out waiting for a CPU, most of the noise on this shared machine.',
      `cold: ${COLD_ROUNDS} rounds, each the first tick of a new collector of each kind, in which every cgroup is named (plus the creation-time stat, history and batch set-up both kinds pay).`,
      `naming alone: describeCgroup over the ${totalCgroups} cgroups of the last tick, ${NAMING_ROUNDS} rounds per source list (the only work a cold sweep does differently): ` +
        `${formatMs(s.namingOn.medianMs - s.namingOff.medianMs)} ms more with the engine source on, ${(((s.namingOn.medianMs - s.namingOff.medianMs) / s.coldOff.medianMs) * 100).toFixed(2)} % of a cold sweep; ` +
        `a cold on/off ratio far from that is the machine's noise on ${COLD_ROUNDS} samples.`,
      `requests: EngineSource's calls through a counting EngineApi proxy around EngineClient; HTTP = requests undici created (its diagnostics channel). The events stream (1 request, open the whole time) is counted apart.`,
      `steady minute: collector.start() at ${TICK_INTERVAL_MS} ms, median tick ${formatMs(summarize(steadyTicks).medianMs)} ms as the collector reports it.`,
      `load average (1 / 5 / 15 min): ${loadBefore} before, ${loadAfter} after the measurements; ${os.cpus().length} CPUs.`,
    ];
    if (sourceLog.length > 0) notes.push(`engine source said: ${sourceLog.join(' | ')}`);
    return {
      name: 'engines',
      description: this.description,
      tables: [
        {
          title: `Collector tick, engine source on vs off: ${totalCgroups} cgroups, ${CONTAINERS} of them Docker containers (ms; judged: median on / median off; the ratio of minimums, which load can only raise, beside it)`,
          columns: ['case', 'samples', 'off med', 'off p90', 'off min', 'on med', 'on p90', 'on min', 'on − off (med)', 'on/off (med)', 'on/off (min)'],
          rows: [
            row('warm tick (steady state: no naming), wall', s.warmOn, s.warmOff),
            row('warm tick, CPU time of the process', s.warmOnCpu, s.warmOffCpu),
            row('cold: first tick of a new collector, wall', s.coldOn, s.coldOff),
            row('cold tick, CPU time of the process', s.coldOnCpu, s.coldOffCpu),
            row('naming alone (describeCgroup × every cgroup)', s.namingOn, s.namingOff),
          ],
        },
        {
          title: 'Engine API requests made by the EngineSource',
          columns: ['phase', 's', 'ticks', 'requests besides events', 'by method', 'HTTP besides events', 'events streams opened', 'events received'],
          rows: [phaseRow(listingPhase), ...phases.map(phaseRow)],
        },
      ],
      targets,
      notes,
      data: {
        containers: CONTAINERS,
        plainCgroups: PLAIN_CGROUPS,
        totalCgroups,
        dockerCgroupParent: engine.cgroupParent,
        benchCgroupParent: tree.root,
        named: { on: namedOn, off: namedOff },
        summaries: s,
        ratios: { warm: warmRatio, cold: coldRatio, warmCpu: warmCpuRatio, coldCpu: coldCpuRatio, warmPerRound: pairedWarm },
        samplesMs: { warm, cold, naming, steadyTicks },
        listing: { ms: listingMs, calls: listing.calls, http: listingHttp },
        phases,
        steadyRequestsPerMinute: steadyPerMinute,
        steadyHttpRequestsPerMinute: steadyHttpPerMinute,
        load: { before: loadBefore, after: loadAfter },
      },
    };
  },
};
