/**
 * Idle cgroups read less (issue 15, "read less"). Most cgroups on a host are idle in any given
 * second: slices, parents of pods, services waiting on a socket, containers between requests.
 * Their counters do not move, yet reading them costs as much as reading a busy one's (memory.stat
 * alone is the most expensive file of the sweep). cAdvisor answers this with dynamic housekeeping:
 * a container whose stats did not change is looked at less and less often, up to a minute apart,
 * so it also finds out late that the container woke up.
 *
 * Capstan reads two cheap files of every cgroup every tick, the ones that move whenever anything
 * in the cgroup happens (StatFile.showsActivity):
 *   - CPU time (v1 cpuacct.usage, v2 cpu.stat): every page fault, allocation, fork, exit, block
 *     I/O submission and OOM kill runs on a CPU in the cgroup and is charged to it;
 *   - memory usage (v1 memory.usage_in_bytes, v2 memory.current): moves without the cgroup's own
 *     CPU when the kernel reclaims its pages, or hands back a per-CPU charge batch.
 * When both read exactly as the tick before, the cgroup is idle and the files that only move with
 * activity (FileRole.FollowsActivity: cpuacct.stat, cpu.stat on v1, memory.stat, failcnt,
 * oom_control, block I/O, pids.current) keep their last values; an idle cgroup still reads them
 * every `everyTicks`th tick, each cgroup on its own phase, so whatever the two cannot see (LRU
 * aging in memory.stat, v2 writeback I/O issued later by the flusher on the cgroup's behalf, a
 * sleeping task moved in by another process) is at most that many ticks old. A cgroup that moved
 * reads everything in the same tick. (pids.current was a third sentinel at first; at 1000 idle
 * cgroups it was a third of the sweep's reads, for the one case of a sleeping task moved in.)
 *
 * OOM kills do not depend on this: the OOM monitor has its own kernel notification.
 *
 * Pure: the collector does the reads and hands over the texts.
 */
import type { TextOrErrno } from '../native/contract';

/** Default for CollectorOptions.idleFullReadEveryTicks. Units: ticks. */
export const DEFAULT_IDLE_FULL_READ_EVERY_TICKS = 10;

/** What part a batch entry plays in the idle decision. */
export enum FileRole {
  /** Read as dueFiles/procsDue say: host files, limits, cgroup.procs. */
  Scheduled = 0,
  /** Read every tick; all of a cgroup's unchanged means it is idle. */
  ShowsActivity = 1,
  /** Read when the cgroup was not idle, or on its full-read tick. */
  FollowsActivity = 2,
}

/** What a cgroup's activity files said this tick, file by file (activityAfter). */
export enum Activity {
  /** None read yet. */
  Unknown = 0,
  /** Those read so far answer the same errno as before, and none is a text. */
  SameErrno = 1,
  /** Those read so far read as before, at least one a text: the cgroup is idle if it ends so. */
  Same = 2,
  /** One of them moved, or had nothing to compare with. */
  Moved = 3,
}

/**
 * Folds one activity file into what the cgroup's others said: `before` is the text or errno kept
 * from the last read (undefined: never read), `now` this tick's. A cgroup is idle when all its
 * activity files leave it at Same. A repeated errno does not hide activity in the files that
 * exist (a v2 cgroup whose parent does not enable memory has no memory.current), but errnos alone
 * never make a cgroup idle (a controller not mounted, a cgroup gone).
 */
export function activityAfter(soFar: Activity, before: TextOrErrno | undefined, now: TextOrErrno): Activity {
  if (soFar === Activity.Moved || before === undefined || before !== now) return Activity.Moved;
  return typeof now === 'string' ? Activity.Same : Math.max(soFar, Activity.SameErrno);
}

/**
 * Whether an idle cgroup reads its activity-following files this tick anyway: once every
 * `everyTicks`, at the cgroup's own `phase` so the full reads of a thousand idle cgroups are
 * spread over the ticks rather than landing on one. `everyTicks` ≤ 1 reads them every tick.
 * Units: `tick` and `everyTicks` in ticks; `phase` any whole number (taken modulo everyTicks).
 */
export function idleFullReadDue(tick: number, phase: number, everyTicks: number): boolean {
  if (everyTicks <= 1) return true;
  return (tick + phase) % everyTicks === 0;
}

/**
 * Splits a tick's due mask in two: the first read takes every due file but the activity
 * followers; the followers that were due come back as a second mask, for the collector to keep
 * those of cgroups that turn out not idle. `due` is modified in place.
 */
export function holdBackFollowers(due: Uint8Array, roles: ArrayLike<number>): Uint8Array {
  const followers = new Uint8Array(due.length);
  for (let i = 0; i < due.length; i++) {
    if (due[i] && roles[i] === FileRole.FollowsActivity) {
      followers[i] = 1;
      due[i] = 0;
    }
  }
  return followers;
}

/**
 * Parses the idle full-read interval given by hand (agent flag --idle-full-read-every, env
 * CAPSTAN_IDLE_FULL_READ_EVERY): a whole number of ticks, at least 1 (1 reads every file of every
 * cgroup every tick). Throws with what is wrong.
 */
export function parseIdleFullReadEvery(text: string, what: string): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed) || Number(trimmed) < 1) {
    throw new Error(`${what} must be a whole number of ticks, at least 1 (1 reads every file of every cgroup every tick), got ${JSON.stringify(text)}`);
  }
  const ticks = Number(trimmed);
  if (!Number.isSafeInteger(ticks)) throw new Error(`${what} is too large: ${text}`);
  return ticks;
}
