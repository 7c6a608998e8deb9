/**
 * Which watched cgroup an OOM kill belongs to. Pure.
 *
 * cgroup v1 counts a kill (memory.oom_control `oom_kill`) only in the victim's own cgroup, so each
 * watched cgroup's increase is its own. cgroup v2's memory.events is hierarchical: a kill in
 * /a/b raises `oom_kill` in /a/b *and* /a. When both are watched, the kill is /a/b's, and /a keeps
 * only what its watched descendants do not explain (a kill in an unwatched child, charged to /a's
 * limit). Without this, one kill would be counted once per watched ancestor.
 */
import type { CgroupPath } from '../model';

export interface CounterReading {
  cgroupPath: CgroupPath;
  /** The count already accounted for. Units: kills (count). */
  baseline: number;
  /** The count just read. Units: kills (count). */
  count: number;
}

function isBelow(descendant: CgroupPath, ancestor: CgroupPath): boolean {
  if (descendant === ancestor) return false;
  return ancestor === '/' ? descendant.startsWith('/') : descendant.startsWith(ancestor + '/');
}

/**
 * Kills per cgroup since the baselines. `hierarchical` is true for cgroup v2. A count below its
 * baseline (a cgroup re-created under the same path) contributes nothing.
 */
export function attributeKills(readings: readonly CounterReading[], hierarchical: boolean): Map<CgroupPath, number> {
  const delta = new Map<CgroupPath, number>();
  for (const reading of readings) delta.set(reading.cgroupPath, Math.max(0, reading.count - reading.baseline));
  if (!hierarchical) return delta;

  const own = new Map<CgroupPath, number>();
  for (const reading of readings) {
    const path = reading.cgroupPath;
    // Nearest watched descendants: below `path` with no other watched cgroup in between.
    const below = readings.filter((r) => isBelow(r.cgroupPath, path));
    const nearest = below.filter((r) => !below.some((other) => isBelow(r.cgroupPath, other.cgroupPath)));
    const explained = nearest.reduce((sum, r) => sum + delta.get(r.cgroupPath)!, 0);
    own.set(path, Math.max(0, delta.get(path)! - explained));
  }
  return own;
}
