/**
 * "Memory near its limit" with hysteresis: a cgroup enters the state when its working set goes
 * above `enterPercent` of its limit and leaves it only once below `exitPercent`, so a workload
 * hovering at the threshold does not produce an event every tick. Pure: fed one reading per tick.
 */

export const DEFAULT_NEAR_LIMIT_ENTER_PERCENT = 90;
export const DEFAULT_NEAR_LIMIT_EXIT_PERCENT = 80;

export type NearLimitTransition = 'entered' | 'cleared';

export class NearLimitTracker<Key = string> {
  private readonly near = new Set<Key>();

  constructor(
    /** Units: percent of the limit. */
    readonly enterPercent = DEFAULT_NEAR_LIMIT_ENTER_PERCENT,
    /** Units: percent of the limit. */
    readonly exitPercent = DEFAULT_NEAR_LIMIT_EXIT_PERCENT,
  ) {
    if (!(exitPercent < enterPercent)) throw new RangeError(`near-limit: exit (${exitPercent} %) must be below enter (${enterPercent} %)`);
  }

  /**
   * One reading. `percent` undefined (no limit of its own, or unknown) clears the state silently:
   * with no limit there is nothing to be near. Returns the transition, if any.
   */
  update(key: Key, percent: number | undefined): NearLimitTransition | undefined {
    const wasNear = this.near.has(key);
    if (percent === undefined || !Number.isFinite(percent)) {
      this.near.delete(key);
      return undefined;
    }
    if (!wasNear && percent > this.enterPercent) {
      this.near.add(key);
      return 'entered';
    }
    if (wasNear && percent < this.exitPercent) {
      this.near.delete(key);
      return 'cleared';
    }
    return undefined;
  }

  isNear(key: Key): boolean {
    return this.near.has(key);
  }

  /** Drops a key (its cgroup is gone). */
  forget(key: Key): void {
    this.near.delete(key);
  }
}
