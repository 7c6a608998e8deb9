/**
 * metrics: GET /metrics on the real agent with 1000 test cgroups present, against GET /healthz on
 * the same server (same express stack, same keep-alive socket) as the baseline.
 *
 * The exporter renders the container series at most once per collector snapshot, lazily on the
 * first scrape after a tick, so there are two cases worth timing:
 *   cold    the first scrape after a new tick (renders ~25 series per cgroup)
 *   cached  further scrapes within the same tick (served from the per-tick text)
 * Which case a scrape was is not guessed from timing: the body's own
 * capstan_scrape_duration_seconds_count (incremented once per render) says so.
 *
 * A second reference, bare node:http in another process sending a body of the same size, shows
 * how much of a scrape is simply moving megabytes over loopback.
 */
import { performance } from 'node:perf_hooks';
import { detectLayout } from '../../server/cgroup/layout';
import { BenchAgent, PlainServer, type TimedResponse } from './agent';
import { BenchCgroupTree } from './cgroups';
import { formatBytes, formatMs, formatRatio, sleep, summarize, type Benchmark, type BenchResult, type Summary } from './harness';

const TEST_CGROUPS = 1000;
const INTERVAL_MS = 1000;
/** Cold scrapes after start whose time is reported apart: the render path is not compiled yet. */
const WARMUP_TICKS = 3;
/** One cold scrape per tick: 30 ticks ≈ 30 s. */
const COLD_SCRAPES = 30;
/** Per tick, after the cold scrape: this many cached scrapes, /healthz and plain requests, rotating. */
const PER_TICK = 5;
const TARGET_MS = 50;
const SLEEPERS = [{ ownNetworkNamespace: true }, { ownNetworkNamespace: true }, { ownNetworkNamespace: false }, { ownNetworkNamespace: false }];
/** The self-metrics come last in the body; this much of its tail holds them. Units: bytes. */
const SELF_METRICS_TAIL_BYTES = 64 * 1024;

interface HealthBody {
  status: string;
  /** Start of the latest tick. Units: milliseconds since the Unix epoch. */
  lastTickMs: number | null;
}

export const benchmark: Benchmark = {
  name: 'metrics',
  description: `GET /metrics (cold after a tick, and cached) at ${TEST_CGROUPS} test cgroups vs GET /healthz on the same agent`,
  order: 20,
  async run(context): Promise<BenchResult> {
    const tree = context.own(new BenchCgroupTree(detectLayout()));
    const created = performance.now();
    tree.growTo(TEST_CGROUPS);
    for (const [index, options] of SLEEPERS.entries()) await tree.addSleeper(index, options);
    context.log(`metrics: ${TEST_CGROUPS} test cgroups under ${tree.root} in ${formatMs(performance.now() - created)} ms; starting the agent`);

    const agent = await BenchAgent.start(['--interval', `${INTERVAL_MS}ms`], (a) => context.own(a));
    context.log(`metrics: agent at ${agent.url}; ${WARMUP_TICKS} warm-up ticks, then ${COLD_SCRAPES} measured ticks`);
    let lastTick = await nextTick(agent, 0);

    const warmup: number[] = [];
    for (let i = 0; i < WARMUP_TICKS; i++) {
      lastTick = await nextTick(agent, lastTick);
      warmup.push(expectOk(await agent.get('/metrics', SELF_METRICS_TAIL_BYTES), '/metrics').elapsedMs);
    }
    const probe = expectOk(await agent.get('/metrics'), '/metrics');
    const bodyText = probe.body.toString('utf8');
    const series = bodyText.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
    const totalCgroups = readSample(bodyText, 'capstan_cgroups_tracked');
    const plain = await PlainServer.start(probe.bytes, (s) => context.own(s));
    expectOk(await plain.get('/', 0), 'plain /');

    const cold: number[] = [];
    const cached: number[] = [];
    const health: number[] = [];
    const plainMs: number[] = [];
    const bodyBytes: number[] = [];
    /** "Cached" scrapes that rendered anew (a tick landed mid-cycle): left out of both series. */
    let misclassified = 0;
    let firstRenders: { count: number; sum: number } | undefined;
    let lastRenders = { count: NaN, sum: NaN };

    for (let cycle = 0; cycle < COLD_SCRAPES; cycle++) {
      lastTick = await nextTick(agent, lastTick);
      const first = expectOk(await agent.get('/metrics', SELF_METRICS_TAIL_BYTES), '/metrics');
      cold.push(first.elapsedMs);
      bodyBytes.push(first.bytes);
      lastRenders = readRenderCounter(first.body);
      firstRenders ??= lastRenders;

      const steps: Array<() => Promise<void>> = [
        async () => {
          const again = expectOk(await agent.get('/metrics', SELF_METRICS_TAIL_BYTES), '/metrics');
          if (readRenderCounter(again.body).count !== lastRenders.count) misclassified++;
          else cached.push(again.elapsedMs);
        },
        async () => {
          health.push(expectOk(await agent.get('/healthz'), '/healthz').elapsedMs);
        },
        async () => {
          plainMs.push(expectOk(await plain.get('/', 0), 'plain /').elapsedMs);
        },
      ];
      // Rotate which goes first each cycle, so none always follows the cold render.
      for (let i = 0; i < PER_TICK * steps.length; i++) await steps[(i + cycle) % steps.length]!();
    }

    const coldSummary = summarize(cold);
    const cachedSummary = summarize(cached);
    const healthSummary = summarize(health);
    const plainSummary = summarize(plainMs);
    const renders = firstRenders ? lastRenders.count - firstRenders.count : 0;
    const serverRenderMeanMs = renders > 0 ? ((lastRenders.sum - firstRenders!.sum) / renders) * 1000 : NaN;
    const medianBytes = summarize(bodyBytes).medianMs;

    const row = (label: string, s: Summary): string[] => [
      label,
      String(s.count),
      formatMs(s.medianMs),
      formatMs(s.p90Ms),
      formatMs(s.minMs),
      formatRatio(s.medianMs / healthSummary.medianMs),
    ];
    const notes = [
      `${COLD_SCRAPES} ticks at --interval ${INTERVAL_MS}ms after ${WARMUP_TICKS} warm-up ticks; per tick: one cold scrape right after the tick, ` +
        `then ${PER_TICK} each of cached /metrics, /healthz and the plain server, rotating.`,
      'times are client-side over one keep-alive loopback connection per server: request sent to last body byte.',
      `server-side render of the container series (capstan_scrape_duration_seconds): mean ${formatMs(serverRenderMeanMs)} ms over ${renders} renders.`,
      `warm-up cold scrapes right after the agent started (JIT not warm yet): ${warmup.map(formatMs).join(', ')} ms.`,
    ];
    if (misclassified > 0) notes.push(`${misclassified} "cached" scrapes rendered anew (a tick landed between them) and were left out.`);
    return {
      name: 'metrics',
      description: this.description,
      tables: [
        {
          title: `GET /metrics with ${TEST_CGROUPS} test cgroups (${totalCgroups} tracked in total); body ${formatBytes(medianBytes)}, ${series} samples (times in ms)`,
          columns: ['request', 'n', 'median', 'p90', 'min', '× healthz'],
          rows: [
            row('/healthz (baseline)', healthSummary),
            row('/metrics cold (first after tick)', coldSummary),
            row('/metrics cached (same tick)', cachedSummary),
            row('plain node:http, same body size', plainSummary),
          ],
        },
      ],
      targets: [
        { what: `cold /metrics median at ${totalCgroups} cgroups`, target: `< ${TARGET_MS} ms`, measured: `${formatMs(coldSummary.medianMs)} ms`, met: coldSummary.medianMs < TARGET_MS },
        { what: `cold /metrics p90 at ${totalCgroups} cgroups`, target: `< ${TARGET_MS} ms`, measured: `${formatMs(coldSummary.p90Ms)} ms`, met: coldSummary.p90Ms < TARGET_MS },
      ],
      notes,
      data: {
        testCgroups: TEST_CGROUPS,
        totalCgroups,
        intervalMs: INTERVAL_MS,
        bodyBytes: { median: medianBytes, min: Math.min(...bodyBytes), max: Math.max(...bodyBytes) },
        samples: series,
        healthz: healthSummary,
        cold: coldSummary,
        cached: cachedSummary,
        plain: plainSummary,
        ratios: {
          coldToHealthz: coldSummary.medianMs / healthSummary.medianMs,
          cachedToHealthz: cachedSummary.medianMs / healthSummary.medianMs,
          cachedToPlain: cachedSummary.medianMs / plainSummary.medianMs,
        },
        serverRenderMeanMs,
        warmupColdMs: warmup,
        misclassified,
        samplesMs: { cold, cached, healthz: health, plain: plainMs },
      },
    };
  },
};

/**
 * Waits until the agent publishes a tick newer than `after`. Ticks start on interval boundaries,
 * so it sleeps until the next one is due and then polls /healthz every 5 ms (cheap, never renders).
 */
async function nextTick(agent: BenchAgent, after: number): Promise<number> {
  if (after > 0) {
    const due = after + INTERVAL_MS - Date.now();
    if (due > 0) await sleep(due);
  }
  const deadline = Date.now() + 10 * INTERVAL_MS;
  for (;;) {
    const health = JSON.parse(expectOk(await agent.get('/healthz'), '/healthz').body.toString('utf8')) as HealthBody;
    if (health.lastTickMs !== null && health.lastTickMs > after) return health.lastTickMs;
    if (Date.now() > deadline) throw new Error(`no collector tick after ${after} within ${10 * INTERVAL_MS} ms:\n${agent.recentOutput()}`);
    await sleep(5);
  }
}

function expectOk(response: TimedResponse, what: string): TimedResponse {
  if (response.status !== 200) throw new Error(`GET ${what} answered ${response.status}: ${response.body.subarray(0, 200).toString('utf8')}`);
  return response;
}

/** capstan_scrape_duration_seconds _count and _sum, read from the tail of an exposition body. */
function readRenderCounter(body: Buffer): { count: number; sum: number } {
  // The tail may start mid-line (or mid-character); only whole lines near the end are read.
  const tail = body.toString('utf8');
  const count = readSample(tail, 'capstan_scrape_duration_seconds_count');
  if (Number.isNaN(count)) throw new Error('capstan_scrape_duration_seconds_count is missing from the end of /metrics');
  return { count, sum: readSample(tail, 'capstan_scrape_duration_seconds_sum') };
}

/** The value of an unlabelled sample `name value` in exposition text (NaN when absent). */
function readSample(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}
