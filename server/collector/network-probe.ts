/**
 * When a tick reads a cgroup's cgroup.procs. The collector reads it only to find one process
 * whose network namespace gives the cgroup its network counters (/proc/<pid>/net/dev), and it is
 * the one per-cgroup file that cannot stay open between ticks (v1 serves a kept fd a cached pid
 * list), so at 1000 cgroups it costs about 1000 opens a tick. Most cgroups on a host (services,
 * slices, raw cgroups) have no namespace of their own, and a cgroup that does keeps it while its
 * process lives, so the file is read:
 *
 * - every tick while the cgroup is young (its first `everyTicks` ticks: a container's process may
 *   join after the walk found the directory), while it is a container with no namespace of its
 *   own found yet, and after a refresh (capstan or an engine changed it);
 * - never while its process is known to live in a namespace of its own: the tick looks up that
 *   process's namespace link instead, and reads cgroup.procs again on the next tick once the link
 *   is gone or names another namespace;
 * - every `everyTicks`th tick otherwise (no process, or the host's namespace), each cgroup on its
 *   own phase so those reads are spread over the ticks;
 * - never for the root cgroup: it gets the host's counters from /proc/net/dev.
 *
 * Pure: the collector does the reads and tells the probe what they found.
 */

/** What the last look found. */
export type NamespaceFinding =
  /** Not looked yet, or what was known went stale: read cgroup.procs now. */
  | { kind: 'unknown' }
  /** No process, or its first process in the agent's own namespace. */
  | { kind: 'none' }
  /** Its first process `pid` lives in namespace `link` (readlink of /proc/<pid>/ns/net). */
  | { kind: 'own'; pid: number; link: string };

export interface NamespaceProbe {
  /** The tick the cgroup was first tracked on. Units: ticks. */
  readonly firstTick: number;
  /** Whether its source calls it a container (it should get a namespace of its own). */
  isContainer: boolean;
  /** The root cgroup never needs its processes listed. */
  readonly isRoot: boolean;
  finding: NamespaceFinding;
}

export function newNamespaceProbe(firstTick: number, isContainer: boolean, isRoot: boolean): NamespaceProbe {
  return { firstTick, isContainer, isRoot, finding: { kind: 'unknown' } };
}

/** Whether tick `tick` reads the cgroup's cgroup.procs. Units: `tick`, `everyTicks` in ticks. */
export function procsDue(probe: NamespaceProbe, tick: number, everyTicks: number, refreshed: boolean): boolean {
  if (probe.isRoot) return false;
  const { finding } = probe;
  if (finding.kind === 'unknown' || refreshed) return true;
  if (finding.kind === 'own') return false;
  const age = tick - probe.firstTick;
  if (age < everyTicks || probe.isContainer) return true;
  return age % everyTicks === 0;
}

/**
 * The process whose namespace the tick looks up: the first pid of a cgroup.procs read this tick,
 * or, when none was read, the process already known to live in a namespace of its own.
 */
export function processToLookUp(probe: NamespaceProbe, freshFirstPid: number | undefined, procsRead: boolean): number | undefined {
  if (procsRead) return freshFirstPid;
  return probe.finding.kind === 'own' ? probe.finding.pid : undefined;
}

/**
 * Records what the tick found for the process it looked up (`link` undefined: no process, or its
 * link could not be read; `hostLink`: the agent's own namespace). Returns whether the cgroup gets
 * that namespace's counters this tick.
 */
export function recordNamespace(probe: NamespaceProbe, pid: number | undefined, link: string | undefined, hostLink: string, procsRead: boolean): boolean {
  if (pid !== undefined && link !== undefined && link !== hostLink) {
    if (probe.finding.kind === 'own' && !procsRead && probe.finding.link !== link) {
      // The known process is gone and its pid went to a process elsewhere: look again next tick.
      probe.finding = { kind: 'unknown' };
      return false;
    }
    probe.finding = { kind: 'own', pid, link };
    return true;
  }
  if (!procsRead && probe.finding.kind === 'own') {
    // The known process exited (or moved into the host's namespace): find another next tick.
    probe.finding = { kind: 'unknown' };
    return false;
  }
  // A pid listed this tick whose link could not be read exited in between: look again next tick.
  probe.finding = pid !== undefined && link === undefined ? { kind: 'unknown' } : { kind: 'none' };
  return false;
}
