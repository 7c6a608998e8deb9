/**
 * sweep: one full collector tick (walk the hierarchies, one native batch read of every stat file,
 * network namespaces, parse and derive) at 10, 100 and 1000 test cgroups, against the C floor
 * reading the very same files with bare open/read/close.
 *
 * Each round measures four things back to back, in rotating order so they share the noise:
 *   floor  capstan-readfloor, one pass over collector.currentBatch()      (baseline)
 *   batch  readFiles(currentBatch) through the addon, from JS              (where the time goes)
 *   walk   enumerateCgroups() over the hierarchy roots, as a tick does     (where the time goes)
 *   sweep  await collector.tick()                                          (what is judged)
 */
import { performance } from 'node:perf_hooks';
import { detectLayout } from '../../server/cgroup/layout';
import { enumerateCgroups } from '../../server/cgroup/enumerate';
import { statRoots } from '../../server/cgroup/hierarchy';
import { Collector } from '../../server/collector/collector';
import { readFiles } from '../../server/native';
import { RawSource } from '../../server/sources/raw';
import { BenchCgroupTree } from './cgroups';
import { FloorList } from './floor';
import { formatMs, formatRatio, interleave, summarize, type Benchmark, type BenchResult, type Summary, type TargetCheck } from './harness';

const SIZES = [10, 100, 1000];
const WARMUP_TICKS = 2;
const ROUNDS = 15;
/** The collector's per-file cap (collector.ts MAX_FILE_BYTES), so the addon does the same work. */
const COLLECTOR_MAX_FILE_BYTES = 256 * 1024;
/** Sleepers: the first two in namespaces of their own, the next two in the host's. */
const SLEEPERS = [{ ownNetworkNamespace: true }, { ownNetworkNamespace: true }, { ownNetworkNamespace: false }, { ownNetworkNamespace: false }];
const TARGET_RATIO = 2;

interface SizeResult {
  testCgroups: number;
  /** Every cgroup the collector tracked (the host's own included), min and max over the rounds. */
  totalCgroups: { min: number; max: number };
  files: number;
  floorFailures: number;
  sweep: Summary;
  batch: Summary;
  walk: Summary;
  floor: Summary;
  /** median(sweep) / median(floor). */
  ratio: number;
  /** median(batch) / median(floor): the addon's own overhead. */
  batchRatio: number;
  /** The collector's own tickDurationSeconds, as it reports it. Units: milliseconds. */
  reportedTick: Summary;
  samplesMs: { sweep: number[]; batch: number[]; walk: number[]; floor: number[] };
}

export const benchmark: Benchmark = {
  name: 'sweep',
  description: 'collector.tick() vs the C floor reading the same files (capstan-readfloor)',
  async run(context): Promise<BenchResult> {
    const layout = detectLayout();
    const tree = context.own(new BenchCgroupTree(layout));
    const floor = context.own(new FloorList());
    const results: SizeResult[] = [];

    for (const size of SIZES) {
      const created = performance.now();
      tree.growTo(size);
      context.log(`sweep: ${size} test cgroups under ${tree.root} (created in ${formatMs(performance.now() - created)} ms)`);
      if (size === SIZES[0]) {
        for (const [index, options] of SLEEPERS.entries()) await tree.addSleeper(index, options);
      }
      results.push(await measureSize(size, layout, floor, (message) => context.log(message)));
    }

    const rows = results.map((r) => [
      String(r.testCgroups),
      r.totalCgroups.min === r.totalCgroups.max ? String(r.totalCgroups.min) : `${r.totalCgroups.min}-${r.totalCgroups.max}`,
      String(r.files),
      formatMs(r.sweep.medianMs),
      formatMs(r.sweep.p90Ms),
      formatMs(r.walk.medianMs),
      formatMs(r.batch.medianMs),
      formatMs(r.floor.medianMs),
      formatMs(r.floor.minMs),
      formatRatio(r.batchRatio),
      formatRatio(r.ratio),
    ]);
    const targets: TargetCheck[] = results.map((r) => ({
      what: `sweep / floor at ${r.testCgroups} test cgroups (${r.totalCgroups.max} total)`,
      target: `≤ ${TARGET_RATIO}×`,
      measured: formatRatio(r.ratio),
      met: r.ratio <= TARGET_RATIO,
    }));
    const notes = [
      `${ROUNDS} rounds per size after ${WARMUP_TICKS} warm-up ticks; each round runs floor, batch, walk and sweep once, in rotating order.`,
      'floor = capstan-readfloor (open/read/close in C, one process per round); batch = readFiles() of the same list through the addon; walk = the hierarchy walk alone; sweep = collector.tick() (walk + batch + netns + parse/derive).',
      "total cgroups include the host's own (and any other tests' running at the same time); files = paths in the main batch (3 host files, then each cgroup's stat files and its cgroup.procs).",
    ];
    const failures = results.filter((r) => r.floorFailures > 0);
    if (failures.length > 0) {
      notes.push(
        `files the floor could not open (${failures.map((r) => `${r.floorFailures} at ${r.testCgroups}`).join(', ')}): ENOENT for controllers a cgroup is not in ` +
          '(e.g. cgroups that exist in one v1 hierarchy only, pids.current at the root) or cgroups removed by other tests; the collector reads the same list.',
      );
    }
    return {
      name: 'sweep',
      description: this.description,
      tables: [
        {
          title: 'Collector sweep vs C floor (times in ms; ratio = median sweep / median floor)',
          columns: ['test cgroups', 'total cgroups', 'files', 'sweep med', 'sweep p90', 'walk med', 'batch med', 'floor med', 'floor min', 'batch/floor', 'sweep/floor'],
          rows,
        },
      ],
      targets,
      notes,
      data: { layoutMode: layout.mode, controllersOn: layout.controllersOn, cgroupParent: tree.root, rounds: ROUNDS, warmupTicks: WARMUP_TICKS, sizes: results },
    };
  },
};

async function measureSize(size: number, layout: ReturnType<typeof detectLayout>, floor: FloorList, log: (message: string) => void): Promise<SizeResult> {
  const collector = new Collector({ layout, intervalMs: 1000, historyCapacity: 60, sources: [new RawSource()] });
  const warnings: string[] = [];
  collector.on('warning', (message) => warnings.push(message));
  for (let i = 0; i < WARMUP_TICKS; i++) await collector.tick();
  // The floor warms up too, so both sides start from the same dentry and inode caches.
  floor.run(collector.currentBatch(), 1);

  const sweep: number[] = [];
  const batch: number[] = [];
  const walk: number[] = [];
  const roots = statRoots(layout);
  const floorMs: number[] = [];
  const reported: number[] = [];
  let total = { min: Infinity, max: 0 };
  let files = 0;
  let floorFailures = 0;

  await interleave(ROUNDS, [
    async () => {
      const run = floor.run(collector.currentBatch(), 1);
      floorMs.push(run.passesMs[0]!);
      files = run.files;
      floorFailures = Math.max(floorFailures, run.failures);
    },
    async () => {
      const paths = collector.currentBatch();
      const started = performance.now();
      await readFiles(paths, COLLECTOR_MAX_FILE_BYTES);
      batch.push(performance.now() - started);
    },
    async () => {
      const started = performance.now();
      await enumerateCgroups(roots);
      walk.push(performance.now() - started);
    },
    async () => {
      const started = performance.now();
      const snapshot = await collector.tick();
      sweep.push(performance.now() - started);
      reported.push(snapshot.tickDurationSeconds * 1000);
      const count = snapshot.containers.length;
      total = { min: Math.min(total.min, count), max: Math.max(total.max, count) };
    },
  ]);

  const result: SizeResult = {
    testCgroups: size,
    totalCgroups: total,
    files,
    floorFailures,
    sweep: summarize(sweep),
    batch: summarize(batch),
    walk: summarize(walk),
    floor: summarize(floorMs),
    ratio: 0,
    batchRatio: 0,
    reportedTick: summarize(reported),
    samplesMs: { sweep, batch, walk, floor: floorMs },
  };
  result.ratio = result.sweep.medianMs / result.floor.medianMs;
  result.batchRatio = result.batch.medianMs / result.floor.medianMs;
  log(
    `sweep: ${size} test cgroups (${total.max} total, ${files} files): sweep ${formatMs(result.sweep.medianMs)} ms, ` +
      `walk ${formatMs(result.walk.medianMs)} ms, batch ${formatMs(result.batch.medianMs)} ms, floor ${formatMs(result.floor.medianMs)} ms, ratio ${formatRatio(result.ratio)}` +
      (warnings.length ? ` (${warnings.length} collector warnings, first: ${warnings[0]})` : ''),
  );
  return result;
}
