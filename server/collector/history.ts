/**
 * Per-cgroup history in typed-array ring buffers. All cgroups share one tick clock: slot
 * `tick % capacity` of every ring belongs to the same tick, so timestamps are stored once.
 * NaN marks "unknown" (and "no sample"): it never turns into a 0 on a chart.
 *
 * Memory is the point here: at 1000 cgroups, 15 minutes of 1 s history is 900 samples of every
 * column for each of them. So values go into Float32 rings (4 bytes a sample), and the limits,
 * which change only when someone writes them, are kept as the ticks where they changed.
 */
import type { ContainerStats } from '../model';

/**
 * The stats kept in history, and how:
 * - `ring`: a Float32 per tick. Exact for percents and rates to 7 digits, and for byte gauges that
 *   are whole pages (the kernel counts memory in pages) below 64 GiB: a multiple of 4096 under
 *   2^36 has at most 24 significant bits. Above that, a value is off by under 1 part in 16 million.
 * - `steps`: the value and the tick it took it, only when it changed, as JavaScript numbers
 *   (exact, the unlimited 2^63 - 4096 of v1 included).
 */
export const HISTORY_COLUMNS = [
  { key: 'cpuPercent', storage: 'ring' },
  { key: 'cpuThrottledPercent', storage: 'ring' },
  { key: 'cpuLimitCpus', storage: 'steps' },
  { key: 'memoryUsageBytes', storage: 'ring' },
  { key: 'memoryWorkingSetBytes', storage: 'ring' },
  { key: 'memoryLimitBytes', storage: 'steps' },
  { key: 'networkRxBytesPerSecond', storage: 'ring' },
  { key: 'networkTxBytesPerSecond', storage: 'ring' },
  { key: 'blockReadBytesPerSecond', storage: 'ring' },
  { key: 'blockWriteBytesPerSecond', storage: 'ring' },
  { key: 'pids', storage: 'ring' },
] as const satisfies ReadonlyArray<{ key: keyof ContainerStats; storage: 'ring' | 'steps' }>;

export type HistoryColumn = (typeof HISTORY_COLUMNS)[number]['key'];

/** History of one cgroup, as returned by the API: parallel arrays, null for unknown. */
export interface HistorySeries {
  /** Units: milliseconds since the Unix epoch. */
  timestampsMs: number[];
  /** Same units as the ContainerStats field of the same name. */
  series: Record<HistoryColumn, Array<number | null>>;
}

/** A column that changes rarely: the ticks where it took a new value, oldest first (NaN: unknown). */
interface StepSeries {
  ticks: number[];
  values: number[];
}

export class CgroupHistory {
  /** One per column; undefined for a `steps` column. */
  readonly rings: Array<Float32Array | undefined>;
  /** One per column; undefined for a `ring` column. */
  readonly steps: Array<StepSeries | undefined>;
  constructor(capacity: number, readonly firstTick: number) {
    this.rings = HISTORY_COLUMNS.map(({ storage }) => (storage === 'ring' ? new Float32Array(capacity).fill(NaN) : undefined));
    this.steps = HISTORY_COLUMNS.map(({ storage }) => (storage === 'steps' ? { ticks: [], values: [] } : undefined));
  }
}

export class HistoryClock {
  private readonly timestampsMs: Float64Array;
  /** Ticks begun so far; the current tick is `ticks - 1`. */
  private ticks = 0;

  /** @param capacity samples kept per cgroup (retention ÷ interval). */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 2) throw new RangeError(`history capacity must be an integer ≥ 2, got ${capacity}`);
    this.timestampsMs = new Float64Array(capacity).fill(NaN);
  }

  /** Starts a tick; returns its number. */
  beginTick(timestampMs: number): number {
    const tick = this.ticks++;
    this.timestampsMs[tick % this.capacity] = timestampMs;
    return tick;
  }

  get currentTick(): number {
    return this.ticks - 1;
  }

  createHistory(): CgroupHistory {
    return new CgroupHistory(this.capacity, Math.max(0, this.ticks - 1));
  }

  record(history: CgroupHistory, tick: number, stats: ContainerStats): void {
    const slot = tick % this.capacity;
    for (let i = 0; i < HISTORY_COLUMNS.length; i++) {
      const given = stats[HISTORY_COLUMNS[i]!.key];
      const value = typeof given === 'number' ? given : NaN;
      const ring = history.rings[i];
      if (ring) {
        ring[slot] = value;
        continue;
      }
      const steps = history.steps[i]!;
      const last = steps.values.length - 1;
      if (last >= 0 && Object.is(steps.values[last], value)) continue;
      steps.ticks.push(tick);
      steps.values.push(value);
      // Steps that ended before the oldest tick still kept are not needed: the one in force then is.
      const oldestKept = tick - this.capacity + 1;
      let drop = 0;
      while (drop + 1 < steps.ticks.length && steps.ticks[drop + 1]! <= oldestKept) drop++;
      if (drop > 0) {
        steps.ticks.splice(0, drop);
        steps.values.splice(0, drop);
      }
    }
  }

  /** Samples of `history` taken at or after `sinceMs`, oldest first. */
  read(history: CgroupHistory, sinceMs = 0): HistorySeries {
    const newest = this.ticks - 1;
    const oldest = Math.max(history.firstTick, this.ticks - this.capacity, 0);
    const timestampsMs: number[] = [];
    const series = Object.fromEntries(HISTORY_COLUMNS.map(({ key }) => [key, [] as Array<number | null>])) as HistorySeries['series'];
    /** Per steps column: the index of the step in force at the tick being read. */
    const stepAt = HISTORY_COLUMNS.map(() => -1);
    for (let tick = oldest; tick <= newest; tick++) {
      const slot = tick % this.capacity;
      const timestampMs = this.timestampsMs[slot]!;
      if (!(timestampMs >= sinceMs)) continue;
      timestampsMs.push(timestampMs);
      for (let i = 0; i < HISTORY_COLUMNS.length; i++) {
        const ring = history.rings[i];
        let value: number;
        if (ring) {
          value = ring[slot]!;
        } else {
          const steps = history.steps[i]!;
          let index = stepAt[i]!;
          while (index + 1 < steps.ticks.length && steps.ticks[index + 1]! <= tick) index++;
          stepAt[i] = index;
          value = index >= 0 ? steps.values[index]! : NaN;
        }
        series[HISTORY_COLUMNS[i]!.key].push(Number.isNaN(value) ? null : value);
      }
    }
    return { timestampsMs, series };
  }
}
