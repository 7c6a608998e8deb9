/**
 * sweep: one full collector tick (walk the hierarchies, one native batch read of every stat file,
 * network namespaces, parse and derive) at 10, 100 and 1000 test cgroups, against the C floor
 * reading the very same files with bare open/read/close.
 *
 * Each round measures five things back to back, in rotating order so they share the noise:
 *   floor  capstan-readfloor, one pass over collector.currentBatch()      (baseline)
 *   kept   capstan-readfloor --kept: the same files opened once, re-read with pread at offset 0
 *          (the second pass of a process is timed: the collector is in steady state too)
 *   batch  readFiles(currentBatch) through the addon, from JS              (where the time goes)
 *   walk   enumerateCgroups() over the hierarchy roots, as a tick does     (where the time goes)
 *   sweep  await collector.tick()                                          (what is judged)
 *
 * Each size is measured twice: as the bench makes its cgroups (idle: sleeping processes at most,
 * so the collector reads most of their counters only every 10th tick, idle-cgroups.ts), and with
 * idleFullReadEveryTicks 1, every file every tick, as a host whose every cgroup is busy. The
 * floors read every file, so the ratio targets are judged on the latter, like for like.
 *
 * At 1000 cgroups it also splits the floor by file name (memory.stat, cpu.shares, …), each
 * against a small page-cached regular file read the same way, to show what the kernel charges per
 * cgroup file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { detectLayout } from '../../server/cgroup/layout';
import { enumerateCgroups } from '../../server/cgroup/enumerate';
import { statRoots } from '../../server/cgroup/hierarchy';
import { Collector } from '../../server/collector/collector';
import { raiseOpenFileLimitTo, readFiles } from '../../server/native';
import { largestBudgetFor, openFileLimitForBudget } from '../../server/collector/kept-files';
import type { CgroupLayout } from '../../server/model';
import { RawSource } from '../../server/sources/raw';
import { BenchCgroupTree } from './cgroups';
import { FloorList } from './floor';
import { formatMs, formatRatio, interleave, percentile, summarize, type Benchmark, type BenchResult, type Summary, type TargetCheck } from './harness';

/** Test cgroup counts, with the rounds measured at each: small sizes are cheap and noisier, so they get more. */
const SIZES: ReadonlyArray<{ size: number; rounds: number }> = [
  { size: 10, rounds: 60 },
  { size: 100, rounds: 30 },
  { size: 1000, rounds: 15 },
  { size: 10000, rounds: 5 },
];
/**
 * Ticks before the measured rounds: past a new cgroup's young period (network-probe.ts: its
 * cgroup.procs is read every tick for its first 10 ticks, ~1000 opens a tick here), so the rounds
 * time the steady state a long-running agent is in. With 2, most of the 15 rounds at 1000 cgroups
 * were young ticks (an in-process tick: 60-90 ms young, 45-50 ms after).
 */
const WARMUP_TICKS = 12;
/** The collector's per-file cap (collector.ts MAX_FILE_BYTES), so the addon does the same work. */
const COLLECTOR_MAX_FILE_BYTES = 256 * 1024;
/** Sleepers: the first two in namespaces of their own, the next two in the host's. */
const SLEEPERS = [{ ownNetworkNamespace: true }, { ownNetworkNamespace: true }, { ownNetworkNamespace: false }, { ownNetworkNamespace: false }];
const TARGET_RATIO = 2;
/** Issue 15: a sweep of 1000 cgroups at most this many times the kept-fd floor. */
const TARGET_KEPT_RATIO = 1.2;
/** Issue 15: 10,000 cgroups swept in under this. Units: milliseconds. */
const TARGET_10K_MS = 1000;
/**
 * From this size on the bench asks for an fd budget that holds every file of the batch (raising
 * RLIMIT_NOFILE, as `--sweep-fd-budget` does): 10,000 cgroups read ~110,000 files a tick, far past
 * a default budget. Where the limit cannot be raised (no CAP_SYS_RESOURCE), the default stands
 * and the target line says why.
 */
const WHOLE_BATCH_BUDGET_FROM = 10000;
/** Per-file split: alternations of (reference run, file run), and passes per run (the first dropped as warm-up). */
const PER_FILE_ALTERNATIONS = 3;
const PER_FILE_PASSES = 4;

/** How the collector reads: the default (idle cgroups read less), or every file every tick. */
type SweepMode = 'idle as made' | 'every file';

interface SizeResult {
  testCgroups: number;
  mode: SweepMode;
  /** Cgroups the last tick found idle. */
  idleCgroups: number;
  rounds: number;
  /** Every cgroup the collector tracked (the host's own included), min and max over the rounds. */
  totalCgroups: { min: number; max: number };
  files: number;
  floorFailures: number;
  sweep: Summary;
  batch: Summary;
  walk: Summary;
  floor: Summary;
  keptFloor: Summary;
  /** Files the kept-fd floor held open (the rest it opened per read). */
  keptFloorFds: number;
  /** The collector's own read counts in its last tick (kept / opened / not due). */
  sweepReads: { kept: number; opened: number; notDue: number; budget: number };
  /** Why the whole-batch budget could not be had (the failed setrlimit), or undefined. */
  budgetRefused: string | undefined;
  /** median(sweep) / median(keptFloor). */
  keptRatio: number;
  /** median(floor) / median(keptFloor). */
  floorsRatio: number;
  /** median(sweep) / median(floor). */
  ratio: number;
  /** median(batch) / median(floor): the addon's own overhead. */
  batchRatio: number;
  /** The collector's own tickDurationSeconds, as it reports it. Units: milliseconds. */
  reportedTick: Summary;
  samplesMs: { sweep: number[]; batch: number[]; walk: number[]; floor: number[]; keptFloor: number[] };
}

interface PerFileCost {
  name: string;
  files: number;
  /** Size of the first one. Units: bytes. */
  bytes: number;
  /** Median over passes of one open/read/close. Units: microseconds. */
  perFileUs: number;
  /** The same for the reference file, in the adjacent run. Units: microseconds. */
  referenceUs: number;
}

export const benchmark: Benchmark = {
  name: 'sweep',
  description: 'collector.tick() vs the C floor reading the same files (capstan-readfloor)',
  order: 10,
  async run(context): Promise<BenchResult> {
    const layout = detectLayout();
    const tree = context.own(new BenchCgroupTree(layout));
    const floor = context.own(new FloorList());
    const results: SizeResult[] = [];
    let lastBatch: readonly string[] = [];

    for (const { size, rounds } of SIZES) {
      const created = performance.now();
      tree.growTo(size);
      context.log(`sweep: ${size} test cgroups under ${tree.root} (created in ${formatMs(performance.now() - created)} ms)`);
      if (size === SIZES[0]!.size) {
        for (const [index, options] of SLEEPERS.entries()) await tree.addSleeper(index, options);
      }
      for (const mode of ['idle as made', 'every file'] as const) {
        const measured = await measureSize(size, rounds, layout, floor, mode, (message) => context.log(message));
        results.push(measured.result);
        if (size === 1000) lastBatch = measured.batch;
      }
    }
    const perFile = splitFloorByFile(lastBatch, tree.root, floor);

    const rows = results.map((r) => [
      String(r.testCgroups),
      `${r.mode}${r.mode === 'idle as made' ? ` (${r.idleCgroups} idle)` : ''}`,
      String(r.rounds),
      r.totalCgroups.min === r.totalCgroups.max ? String(r.totalCgroups.min) : `${r.totalCgroups.min}-${r.totalCgroups.max}`,
      String(r.files),
      formatMs(r.sweep.medianMs),
      formatMs(r.sweep.p90Ms),
      formatMs(r.walk.medianMs),
      formatMs(r.batch.medianMs),
      formatMs(r.floor.medianMs),
      formatMs(r.keptFloor.medianMs),
      `${r.sweepReads.kept}/${r.sweepReads.opened}/${r.sweepReads.notDue}`,
      formatRatio(r.floorsRatio),
      formatRatio(r.batchRatio),
      formatRatio(r.ratio),
      formatRatio(r.keptRatio),
    ]);
    const everyFile = results.filter((r) => r.mode === 'every file');
    const targets: TargetCheck[] = everyFile.map((r) => ({
      what: `sweep / floor at ${r.testCgroups} test cgroups (${r.totalCgroups.max} total), every file`,
      target: `≤ ${TARGET_RATIO}×`,
      measured: formatRatio(r.ratio),
      met: r.ratio <= TARGET_RATIO,
    }));
    for (const r of results) {
      if (r.testCgroups === 1000 && r.mode === 'every file') {
        targets.push({ what: `sweep / kept-fd floor at 1000 test cgroups (${r.totalCgroups.max} total), every file`, target: `≤ ${TARGET_KEPT_RATIO}×`, measured: formatRatio(r.keptRatio), met: r.keptRatio <= TARGET_KEPT_RATIO });
      }
      if (r.testCgroups === 10000) {
        const budget = r.budgetRefused ? `default fd budget ${r.sweepReads.budget}: ${r.budgetRefused}` : `fd budget ${r.sweepReads.budget}, every file kept`;
        targets.push({ what: `sweep of 10000 test cgroups (${r.totalCgroups.max} total), ${r.mode}, median (${budget})`, target: `< ${TARGET_10K_MS} ms`, measured: `${formatMs(r.sweep.medianMs)} ms`, met: r.sweep.medianMs < TARGET_10K_MS });
      }
    }
    const notes = [
      `${SIZES.map((s) => `${s.rounds} rounds at ${s.size}`).join(', ')}, each after ${WARMUP_TICKS} warm-up ticks; a round runs floor, batch, walk and sweep once, in rotating order.`,
      'kept floor = capstan-readfloor --kept (the same files opened once, pread at offset 0; second pass timed); sweep reads = the last tick\'s files through a kept fd / opened per read / rarely changing ones not due (budget: half the raised soft RLIMIT_NOFILE).',
      'floor = capstan-readfloor (open/read/close in C, one process per round); batch = readFiles() of the same list through the addon; walk = the hierarchy walk alone; sweep = collector.tick() (walk + batch + netns + parse/derive).',
      "reads: 'idle as made' is the default, where a cgroup whose CPU time, memory usage and task count did not move reads only those (its other counters every 10th tick, on its own phase); 'every file' is --idle-full-read-every 1, every file of every cgroup every tick, what a host whose every cgroup is busy costs. The ratio targets are judged on 'every file': the floors read every file.",
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
          columns: ['test cgroups', 'reads', 'rounds', 'total cgroups', 'files', 'sweep med', 'sweep p90', 'walk med', 'batch med', 'floor med', 'kept floor med', 'sweep reads kept/opened/not due', 'floor/kept floor', 'batch/floor', 'sweep/floor', 'sweep/kept floor'],
          rows,
        },
        {
          title: `C floor per file name at 1000 test cgroups (µs per open/read/close; reference: a ${perFile.referenceBytes}-byte page-cached regular file, read as often, in the adjacent run)`,
          columns: ['file', 'files', 'bytes', 'µs/file', 'reference µs', '× reference'],
          rows: perFile.costs.map((c) => [c.name, String(c.files), String(c.bytes), c.perFileUs.toFixed(1), c.referenceUs.toFixed(1), formatRatio(c.perFileUs / c.referenceUs)]),
        },
      ],
      targets,
      notes,
      data: { layoutMode: layout.mode, controllersOn: layout.controllersOn, cgroupParent: tree.root, warmupTicks: WARMUP_TICKS, sizes: results, perFile: perFile.costs },
    };
  },
};

async function measureSize(
  size: number,
  rounds: number,
  layout: CgroupLayout,
  floor: FloorList,
  mode: SweepMode,
  log: (message: string) => void,
): Promise<{ result: SizeResult; batch: readonly string[] }> {
  const base = { layout, intervalMs: 1000, historyCapacity: 60, sources: [new RawSource()], ...(mode === 'every file' ? { idleFullReadEveryTicks: 1 } : {}) };
  let collector = new Collector(base);
  let budgetRefused: string | undefined;
  if (size >= WHOLE_BATCH_BUDGET_FROM) {
    await collector.tick(); // the batch holds the cgroups only once a tick has found them
    const wanted = collector.currentBatch().length;
    const raised = raiseOpenFileLimitTo(openFileLimitForBudget(wanted));
    if (largestBudgetFor(raised.soft) >= wanted) {
      collector.close();
      collector = new Collector({ ...base, keptFileBudget: wanted });
      log(`sweep: ${size} test cgroups: fd budget ${wanted} (RLIMIT_NOFILE raised to ${raised.soft})`);
    } else {
      budgetRefused = `RLIMIT_NOFILE ${raised.soft} (hard ${raised.hard}) cannot be raised to ${openFileLimitForBudget(wanted)} here: ${raised.error?.syscall ?? 'setrlimit'} ${raised.error?.code ?? 'refused'}`;
      log(`sweep: ${size} test cgroups: default fd budget: ${budgetRefused}`);
    }
  }
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
  const keptFloorMs: number[] = [];
  let keptFloorFds = 0;
  const reported: number[] = [];
  let total = { min: Infinity, max: 0 };
  let files = 0;
  let floorFailures = 0;

  await interleave(rounds, [
    async () => {
      const run = floor.run(collector.currentBatch(), 1);
      floorMs.push(run.passesMs[0]!);
      files = run.files;
      floorFailures = Math.max(floorFailures, run.failures);
    },
    async () => {
      const run = floor.run(collector.currentBatch(), 2, 'kept');
      keptFloorMs.push(run.passesMs[1]!);
      keptFloorFds = run.kept;
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
    mode,
    idleCgroups: collector.lastReadStats()?.idleCgroups ?? 0,
    rounds,
    totalCgroups: total,
    files,
    floorFailures,
    sweep: summarize(sweep),
    batch: summarize(batch),
    walk: summarize(walk),
    floor: summarize(floorMs),
    keptFloor: summarize(keptFloorMs),
    keptFloorFds,
    sweepReads: (() => {
      const stats = collector.lastReadStats();
      return { kept: stats?.kept ?? 0, opened: stats?.opened ?? 0, notDue: (stats?.files ?? 0) - (stats?.read ?? 0), budget: stats?.budget ?? 0 };
    })(),
    budgetRefused,
    keptRatio: 0,
    floorsRatio: 0,
    ratio: 0,
    batchRatio: 0,
    reportedTick: summarize(reported),
    samplesMs: { sweep, batch, walk, floor: floorMs, keptFloor: keptFloorMs },
  };
  result.keptRatio = result.sweep.medianMs / result.keptFloor.medianMs;
  result.floorsRatio = result.floor.medianMs / result.keptFloor.medianMs;
  result.ratio = result.sweep.medianMs / result.floor.medianMs;
  result.batchRatio = result.batch.medianMs / result.floor.medianMs;
  log(
    `sweep: ${size} test cgroups, ${mode} (${total.max} total, ${files} files): sweep ${formatMs(result.sweep.medianMs)} ms, ` +
      `walk ${formatMs(result.walk.medianMs)} ms, batch ${formatMs(result.batch.medianMs)} ms, floor ${formatMs(result.floor.medianMs)} ms, ` +
      `kept floor ${formatMs(result.keptFloor.medianMs)} ms, ratio ${formatRatio(result.ratio)}, to kept floor ${formatRatio(result.keptRatio)}` +
      (warnings.length ? ` (${warnings.length} collector warnings, first: ${warnings[0]})` : ''),
  );
  const batchPaths = collector.currentBatch();
  collector.close();
  return { result, batch: batchPaths };
}

/**
 * The floor per stat file name over the test cgroups, each run next to a run over as many reads of
 * one small page-cached regular file, so the ratio says what a cgroup file costs beyond plain VFS.
 */
function splitFloorByFile(batch: readonly string[], treeRoot: string, floor: FloorList): { referenceBytes: number; costs: PerFileCost[] } {
  const byName = new Map<string, string[]>();
  for (const file of batch) {
    if (!file.includes(`${treeRoot}/`)) continue;
    const name = path.basename(file);
    const list = byName.get(name);
    if (list) list.push(file);
    else byName.set(name, [file]);
  }
  const reference = path.join(floor.directory, 'reference.txt');
  // About the size of most cgroup control files ("9223372036854771712\n" is 20 bytes).
  fs.writeFileSync(reference, '123456789012345678\n');
  const referenceBytes = fs.statSync(reference).size;
  const passesUs = (paths: readonly string[]): number[] => floor.run(paths, PER_FILE_PASSES).passesMs.slice(1).map((ms) => (ms * 1000) / paths.length);
  const costs: PerFileCost[] = [];
  for (const [name, paths] of byName) {
    const references = new Array<string>(paths.length).fill(reference);
    const referencePasses: number[] = [];
    const filePasses: number[] = [];
    for (let i = 0; i < PER_FILE_ALTERNATIONS; i++) {
      referencePasses.push(...passesUs(references));
      filePasses.push(...passesUs(paths));
    }
    const referenceUs = percentile(referencePasses, 0.5);
    const perFileUs = percentile(filePasses, 0.5);
    let bytes = 0;
    try {
      bytes = fs.readFileSync(paths[0]!).length;
    } catch {
      // Vanished: leave 0.
    }
    costs.push({ name, files: paths.length, bytes, perFileUs, referenceUs });
  }
  costs.sort((a, b) => b.perFileUs - a.perFileUs);
  return { referenceBytes, costs };
}
