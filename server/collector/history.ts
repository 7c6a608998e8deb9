/**
 * Per-cgroup history in typed-array ring buffers. All cgroups share one tick clock: slot
 * `tick % capacity` of every ring belongs to the same tick, so timestamps are stored once.
 * NaN marks "unknown" (and "no sample"): it never turns into a 0 on a chart.
 */
import type { ContainerStats } from '../model';

/** The stats kept in history. Float32 is ample for percents and rates; byte gauges need Float64. */
export const HISTORY_COLUMNS = [
  { key: 'cpuPercent', precision: 32 },
  { key: 'cpuThrottledPercent', precision: 32 },
  { key: 'cpuLimitCpus', precision: 32 },
  { key: 'memoryUsageBytes', precision: 64 },
  { key: 'memoryWorkingSetBytes', precision: 64 },
  { key: 'memoryLimitBytes', precision: 64 },
  { key: 'networkRxBytesPerSecond', precision: 32 },
  { key: 'networkTxBytesPerSecond', precision: 32 },
  { key: 'blockReadBytesPerSecond', precision: 32 },
  { key: 'blockWriteBytesPerSecond', precision: 32 },
  { key: 'pids', precision: 32 },
] as const satisfies ReadonlyArray<{ key: keyof ContainerStats; precision: 32 | 64 }>;

export type HistoryColumn = (typeof HISTORY_COLUMNS)[number]['key'];

/** History of one cgroup, as returned by the API: parallel arrays, null for unknown. */
export interface HistorySeries {
  /** Units: milliseconds since the Unix epoch. */
  timestampsMs: number[];
  /** Same units as the ContainerStats field of the same name. */
  series: Record<HistoryColumn, Array<number | null>>;
}

export class CgroupHistory {
  readonly columns: Array<Float32Array | Float64Array>;
  constructor(capacity: number, readonly firstTick: number) {
    this.columns = HISTORY_COLUMNS.map(({ precision }) =>
      (precision === 32 ? new Float32Array(capacity) : new Float64Array(capacity)).fill(NaN),
    );
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
      const value = stats[HISTORY_COLUMNS[i]!.key];
      history.columns[i]![slot] = typeof value === 'number' ? value : NaN;
    }
  }

  /** Samples of `history` taken at or after `sinceMs`, oldest first. */
  read(history: CgroupHistory, sinceMs = 0): HistorySeries {
    const newest = this.ticks - 1;
    const oldest = Math.max(history.firstTick, this.ticks - this.capacity, 0);
    const timestampsMs: number[] = [];
    const series = Object.fromEntries(HISTORY_COLUMNS.map(({ key }) => [key, [] as Array<number | null>])) as HistorySeries['series'];
    for (let tick = oldest; tick <= newest; tick++) {
      const slot = tick % this.capacity;
      const timestampMs = this.timestampsMs[slot]!;
      if (!(timestampMs >= sinceMs)) continue;
      timestampsMs.push(timestampMs);
      for (let i = 0; i < HISTORY_COLUMNS.length; i++) {
        const value = history.columns[i]![slot]!;
        series[HISTORY_COLUMNS[i]!.key].push(Number.isNaN(value) ? null : value);
      }
    }
    return { timestampsMs, series };
  }
}
