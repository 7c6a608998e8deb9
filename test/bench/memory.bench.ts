/**
 * memory: the agent's resident memory (VmRSS) at 1000 test cgroups with its default 15 minutes of
 * 1 s history, against the same agent with no test cgroups (the baseline, in the same run); then
 * the same agent under churn, 50 cgroups created and 50 removed every second, to see whether
 * anything grows with cgroups that come and go.
 *
 * RSS of a V8 process is a sawtooth: garbage piles up in the old generation until a mark-compact
 * takes it back. So each phase reports the median and the maximum of its samples, and growth under
 * churn is judged on the troughs (the lowest sample of each minute), which are what survives a
 * collection: the lowest of the last two minutes against the lowest of minutes 2 and 3.
 */
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { detectLayout } from '../../server/cgroup/layout';
import { BenchAgent } from './agent';
import { BenchCgroupTree } from './cgroups';
import { formatMs, percentile, sleep, type Benchmark, type BenchResult, type TargetCheck } from './harness';
import { rssBytes } from './process-usage';

const TEST_CGROUPS = 1000;
const INTERVAL_MS = 1000;
const HISTORY = process.env['CAPSTAN_BENCH_HISTORY'] ?? '15m';
/** After the agent starts, before sampling: its first ticks and JIT. Units: milliseconds. */
const WARMUP_MS = 15_000;
/** Each quiet phase samples for this long. Units: milliseconds. */
const QUIET_PHASE_MS = Number(process.env["CAPSTAN_BENCH_QUIET_S"] ?? 60) * 1000;
/** RSS is sampled this often. Units: milliseconds. */
const SAMPLE_EVERY_MS = 1000;
/** Churn: cgroups created (and as many removed) each second, for this long (CAPSTAN_BENCH_CHURN_S shortens it for a look). */
const CHURN_PER_SECOND = 50;
const CHURN_MS = Number(process.env['CAPSTAN_BENCH_CHURN_S'] ?? 600) * 1000;
/** Issue 15's targets. Units: MiB. */
const RSS_TARGET_MIB = 100;
const GROWTH_TARGET_MIB = 5;
const MIB = 1024 * 1024;

interface RssSeries {
  /** Since the phase started. Units: milliseconds. */
  atMs: number[];
  /** Units: MiB. */
  rssMib: number[];
}

export const benchmark: Benchmark = {
  name: 'memory',
  description: `agent RSS at ${TEST_CGROUPS} test cgroups with ${HISTORY} of ${INTERVAL_MS} ms history vs the same agent with none; RSS troughs under ${CHURN_PER_SECOND} cgroups created and removed a second`,
  order: 25,
  async run(context): Promise<BenchResult> {
    const layout = detectLayout();
    const agentArgs = ['--interval', `${INTERVAL_MS}ms`, '--history', HISTORY, '--docker-host', 'none'];

    context.log(`memory: baseline agent without test cgroups, ${formatMs(WARMUP_MS / 1000)} s warm-up then ${QUIET_PHASE_MS / 1000} s of samples`);
    const idle = await BenchAgent.start(agentArgs, (a) => context.own(a));
    await sleep(WARMUP_MS);
    const idleSeries = await sampleRss(idle.pid, QUIET_PHASE_MS);
    const idleTracked = await trackedCgroups(idle);
    await idle.dispose();

    const tree = context.own(new BenchCgroupTree(layout));
    tree.growTo(TEST_CGROUPS);
    context.log(`memory: ${TEST_CGROUPS} test cgroups under ${tree.root}; a new agent, ${WARMUP_MS / 1000} s warm-up then ${QUIET_PHASE_MS / 1000} s of samples`);
    const agent = await BenchAgent.start(agentArgs, (a) => context.own(a));
    await sleep(WARMUP_MS);
    const loadedSeries = await sampleRss(agent.pid, QUIET_PHASE_MS);
    const loadedTracked = await trackedCgroups(agent);

    context.log(`memory: churn, ${CHURN_PER_SECOND} cgroups created and ${CHURN_PER_SECOND} removed each second for ${CHURN_MS / 1000} s`);
    const churn = await churnAndSample(tree, agent.pid, CHURN_MS);
    const afterChurnTracked = await trackedCgroups(agent);

    const idleMedian = median(idleSeries.rssMib);
    const loadedMedian = median(loadedSeries.rssMib);
    const loadedMax = Math.max(...loadedSeries.rssMib);
    const troughs = minuteTroughs(churn.series);
    // Minute 1 still holds the switch from the quiet phase; a short look (CAPSTAN_BENCH_CHURN_S) has fewer minutes.
    const long = troughs.length > 3;
    const early = long ? Math.min(...troughs.slice(1, 3)) : troughs[0]!;
    const late = long ? Math.min(...troughs.slice(-2)) : troughs.at(-1)!;
    const growthMib = late - early;
    const slopePer10Min = leastSquaresSlope(churn.series) * 600_000;
    const row = (label: string, series: RssSeries, tracked: number): string[] => [
      label,
      String(tracked),
      median(series.rssMib).toFixed(1),
      Math.min(...series.rssMib).toFixed(1),
      Math.max(...series.rssMib).toFixed(1),
      `${(median(series.rssMib) / idleMedian).toFixed(2)}×`,
    ];
    const targets: TargetCheck[] = [
      {
        what: `agent RSS at ${loadedTracked} cgroups, ${HISTORY} of 1 s history (median / max of ${loadedSeries.rssMib.length} samples)`,
        target: `≤ ${RSS_TARGET_MIB} MiB`,
        measured: `${loadedMedian.toFixed(1)} / ${loadedMax.toFixed(1)} MiB (${(loadedMedian / idleMedian).toFixed(2)}× the idle agent's ${idleMedian.toFixed(1)})`,
        met: loadedMax <= RSS_TARGET_MIB,
      },
      {
        what: `RSS growth over ${Math.round(CHURN_MS / 1000)} s of churn (lowest of the last 2 min − lowest of minutes 2-3)`,
        target: `none (≤ ${GROWTH_TARGET_MIB} MiB)`,
        measured: `${growthMib >= 0 ? '+' : ''}${growthMib.toFixed(1)} MiB (least-squares slope of all samples: ${slopePer10Min.toFixed(1)} MiB per 10 min)`,
        met: growthMib <= GROWTH_TARGET_MIB,
      },
    ];
    return {
      name: 'memory',
      description: this.description,
      tables: [
        {
          title: `Agent VmRSS, --interval ${INTERVAL_MS}ms --history ${HISTORY}, sampled every ${SAMPLE_EVERY_MS / 1000} s (MiB)`,
          columns: ['phase', 'cgroups tracked', 'median', 'min', 'max', '× idle'],
          rows: [
            row(`no test cgroups (baseline), ${QUIET_PHASE_MS / 1000} s`, idleSeries, idleTracked),
            row(`${TEST_CGROUPS} test cgroups, ${QUIET_PHASE_MS / 1000} s`, loadedSeries, loadedTracked),
            row(`the same under churn, ${CHURN_MS / 1000} s`, churn.series, afterChurnTracked),
          ],
        },
        {
          title: 'Under churn: the lowest RSS of each minute (MiB)',
          columns: ['minute', ...troughs.map((_, index) => String(index + 1))],
          rows: [['lowest RSS', ...troughs.map((value) => value.toFixed(1))]],
        },
      ],
      targets,
      notes: [
        `churn: ${churn.created} cgroups created and ${churn.removed} removed under ${tree.root}, ${CHURN_PER_SECOND} a second, each living about a second (so a tick or two); the ${TEST_CGROUPS} test cgroups stay.`,
        `${churn.lateSeconds} of ${Math.round(CHURN_MS / 1000)} churn seconds started late (mkdir and rmdir of ${CHURN_PER_SECOND} cgroups in every hierarchy took longer than the second).`,
        'RSS is VmRSS from /proc/<pid>/status; the history rings are allocated and filled when a cgroup is first seen, so the 15 minutes of history are resident from the first tick on.',
      ],
      data: { idleSeries, loadedSeries, churn, troughs, growthMib, slopePer10Min, idleTracked, loadedTracked, afterChurnTracked },
    };
  },
};

function rssMib(pid: number): number {
  const bytes = rssBytes(pid);
  if (Number.isNaN(bytes)) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return bytes / MIB;
}

async function sampleRss(pid: number, durationMs: number, each?: () => void): Promise<RssSeries> {
  const series: RssSeries = { atMs: [], rssMib: [] };
  const started = performance.now();
  for (let next = 0; next < durationMs; next += SAMPLE_EVERY_MS) {
    const wait = started + next - performance.now();
    if (wait > 0) await sleep(wait);
    each?.();
    series.atMs.push(performance.now() - started);
    series.rssMib.push(rssMib(pid));
  }
  return series;
}

/** capstan_cgroups_tracked from the agent's /metrics. */
async function trackedCgroups(agent: BenchAgent): Promise<number> {
  const response = await agent.get('/metrics');
  const match = /^capstan_cgroups_tracked (\S+)$/m.exec(response.body.toString('utf8'));
  return match ? Number(match[1]) : NaN;
}

/** Every second: removes the cgroups made the second before, makes CHURN_PER_SECOND new ones; samples RSS meanwhile. */
async function churnAndSample(tree: BenchCgroupTree, pid: number, durationMs: number): Promise<{ series: RssSeries; created: number; removed: number; lateSeconds: number }> {
  let generation: string[] = [];
  let created = 0;
  let removed = 0;
  let lateSeconds = 0;
  const removeGeneration = (): void => {
    for (const cgroupPath of generation) {
      for (const { directory } of tree.manager.directories(cgroupPath)) fs.rmdirSync(directory);
      removed++;
    }
    generation = [];
  };
  const series = await sampleRss(pid, durationMs, () => {
    const second = performance.now();
    removeGeneration();
    for (let i = 0; i < CHURN_PER_SECOND; i++) {
      const cgroupPath = `${tree.root}/churn-${created++}`;
      tree.manager.create(cgroupPath);
      generation.push(cgroupPath);
    }
    if (performance.now() - second > SAMPLE_EVERY_MS) lateSeconds++;
  });
  removeGeneration();
  return { series, created, removed, lateSeconds };
}

function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}

/** The lowest sample of each whole minute of the series. Units: MiB. */
function minuteTroughs(series: RssSeries): number[] {
  const troughs: number[] = [];
  series.atMs.forEach((atMs, index) => {
    const minute = Math.floor(atMs / 60_000);
    troughs[minute] = Math.min(troughs[minute] ?? Infinity, series.rssMib[index]!);
  });
  return troughs.filter((value) => Number.isFinite(value));
}

/** Slope of RSS over time by least squares. Units: MiB per millisecond. */
function leastSquaresSlope(series: RssSeries): number {
  const n = series.atMs.length;
  const meanX = series.atMs.reduce((sum, x) => sum + x, 0) / n;
  const meanY = series.rssMib.reduce((sum, y) => sum + y, 0) / n;
  let numerator = 0;
  let denominator = 0;
  for (let i = 0; i < n; i++) {
    numerator += (series.atMs[i]! - meanX) * (series.rssMib[i]! - meanY);
    denominator += (series.atMs[i]! - meanX) ** 2;
  }
  return denominator === 0 ? 0 : numerator / denominator;
}
