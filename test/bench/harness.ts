/**
 * What every benchmark shares: the plug-in shape (one `<name>.bench.ts` file exporting a
 * Benchmark), summary statistics, the ratio-to-baseline rule, table printing, and the registry of
 * resources (cgroups, processes, temp dirs) that must be released even on failure or Ctrl-C.
 *
 * The machine is small and shared, so absolute times drift from run to run; each benchmark
 * therefore measures its own baseline in the same run, interleaved with the thing measured, and
 * reports the ratio. Targets are stated next to the number they judge, never asserted.
 */
import * as os from 'node:os';
import { seededRandom } from '../helpers/random';

/** One benchmark: `test/bench/<name>.bench.ts` exports it as `benchmark`. */
export interface Benchmark {
  /** Short name used on the command line: `npm run bench -- <name>`. */
  name: string;
  /** One line: what is measured against which baseline. */
  description: string;
  /** Position in a full run, lowest first (default 100; ties by name): cheap, basic ones first. */
  order?: number;
  run(context: BenchContext): Promise<BenchResult>;
}

export interface BenchContext {
  /** Registers something to release at the end, or at once on SIGINT/SIGTERM/exit. */
  own<T extends Disposable>(resource: T): T;
  /** Progress line on stderr (the tables go to stdout). */
  log(message: string): void;
}

/**
 * A resource the runner must release. `dispose` is the normal, graceful path; `disposeSync` is
 * what a signal or process exit can still do (no event loop): kill by PID, rmdir, rm -r.
 */
export interface Disposable {
  readonly label: string;
  dispose(): Promise<void>;
  disposeSync(): void;
}

/** Summary of one series of timings. Units: milliseconds. */
export interface Summary {
  count: number;
  medianMs: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
}

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
}

export interface TargetCheck {
  /** What is judged, e.g. "sweep / floor at 1000 test cgroups". */
  what: string;
  /** The target as stated in the brief, e.g. "≤ 2×". */
  target: string;
  measured: string;
  met: boolean;
}

export interface BenchResult {
  name: string;
  description: string;
  tables: Table[];
  targets: TargetCheck[];
  notes: string[];
  /** Machine-readable detail (summaries, raw samples, counts) for build/bench-results.json. */
  data: Record<string, unknown>;
}

/** Linear-interpolated percentile of `values` (0 ≤ p ≤ 1). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * p;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

export function summarize(samplesMs: readonly number[]): Summary {
  return {
    count: samplesMs.length,
    medianMs: percentile(samplesMs, 0.5),
    p90Ms: percentile(samplesMs, 0.9),
    minMs: samplesMs.length ? Math.min(...samplesMs) : NaN,
    maxMs: samplesMs.length ? Math.max(...samplesMs) : NaN,
  };
}

/** "12.3" / "0.412" / "1234": three significant digits, enough for noisy timings. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '--';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '--';
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** Aligned plain-text table, first column left-aligned, the rest right-aligned (numbers). */
export function renderTable(table: Table): string {
  const widths = table.columns.map((column, index) => Math.max(column.length, ...table.rows.map((row) => (row[index] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((cell, index) => (index === 0 ? cell.padEnd(widths[index]!) : cell.padStart(widths[index]!))).join('  ').trimEnd();
  return [table.title, line(table.columns), widths.map((width) => '-'.repeat(width)).join('  '), ...table.rows.map(line)].join('\n');
}

export function renderResult(result: BenchResult): string {
  const parts = [`== ${result.name}: ${result.description}`];
  for (const table of result.tables) parts.push(renderTable(table));
  if (result.targets.length > 0) {
    parts.push(
      renderTable({
        title: 'Targets',
        columns: ['what', 'target', 'measured', 'met'],
        rows: result.targets.map((t) => [t.what, t.target, t.measured, t.met ? 'yes' : 'NO']),
      }),
    );
  }
  for (const note of result.notes) parts.push(`note: ${note}`);
  return parts.join('\n\n');
}

/** What the machine was doing, recorded next to every result (the numbers mean little without it). */
export function machineDescription(): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryBytes: os.totalmem(),
    kernel: os.release(),
    node: process.version,
    // 1, 5 and 15 minute load averages.
    loadAverage: os.loadavg(),
  };
}

/** Promise-based pause. Units: milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Blocks the thread (no event loop): for disposeSync paths that must wait for the kernel. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export interface InterleaveOptions {
  /**
   * Each round in a new random order (seeded, so runs repeat) instead of a rotation. A rotation
   * moves every step through every position but always puts it after the same neighbour (B after
   * A in A B C, B C A, C A B), so work one tool leaves running in the background (a daemon's
   * clean-up after `docker run --rm`) always lands on the same other tool.
   */
  shuffle?: boolean;
}


/**
 * Runs the steps once per round. By default the order rotates each round (A B C, B C A, C A B,
 * …), so a systematic effect of going first or last (cache state, a tick timer) is shared by all
 * of them; see InterleaveOptions for shuffled orders.
 */
export async function interleave(rounds: number, steps: ReadonlyArray<() => Promise<void>>, options: InterleaveOptions = {}): Promise<void> {
  const random = seededRandom(0x5eed + steps.length);
  for (let round = 0; round < rounds; round++) {
    const order = steps.map((_, i) => (round + i) % steps.length);
    if (options.shuffle) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    for (const index of order) await steps[index]!();
  }
}
