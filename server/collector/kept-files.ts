/**
 * Policy of the sweep's kept-open files (issue 15): how many fds the sweep may hold, which files
 * get them, and which files a tick reads at all. The native side (server/native KeptFiles) only
 * holds fds and makes the syscalls. Pure functions: unit-tested without cgroups.
 */

/** Fds the default budget always leaves to the rest of the agent (sockets, logs, attach sockets). Units: fds. */
export const FDS_LEFT_TO_THE_AGENT = 4096;

/**
 * Fds the sweep may keep open by default: half the soft RLIMIT_NOFILE, the other half the agent's
 * (sockets, logs); or, when more files are read every tick than that half holds, enough for all
 * of them as long as FDS_LEFT_TO_THE_AGENT stay free. A file read every tick saves an open and a
 * close each tick for its fd; a limit read every 10th saves a tenth of that, for the same ~4 KiB of
 * kernel memory, so only the former are worth going past half for. Units: fds.
 */
export function keptFileBudgetFromLimit(softLimit: number, everyTickFiles = 0): number {
  if (!Number.isFinite(softLimit) || softLimit <= 0) return 0;
  const half = Math.floor(softLimit / 2);
  const everyTickRoom = Math.min(Math.floor(everyTickFiles), Math.floor(softLimit) - FDS_LEFT_TO_THE_AGENT);
  return Math.max(half, everyTickRoom);
}

/**
 * Fds an explicit budget must leave to the rest of the agent: FDS_LEFT_TO_THE_AGENT, or half of a
 * smaller limit (an operator who sets a 1024 limit and a budget of 500 means it). Units: fds.
 */
export function fdsLeftToTheAgent(softLimit: number): number {
  return Math.min(FDS_LEFT_TO_THE_AGENT, Math.ceil(softLimit / 2));
}

/** The largest explicit budget a soft RLIMIT_NOFILE allows. Units: fds. */
export function largestBudgetFor(softLimit: number): number {
  return Math.max(0, Math.floor(softLimit) - fdsLeftToTheAgent(softLimit));
}

/**
 * The RLIMIT_NOFILE to ask for when an explicit budget does not fit the limit in force: the budget
 * plus FDS_LEFT_TO_THE_AGENT. Past the limit, every further open of the sweep (and of the agent's
 * sockets) would fail with EMFILE, so such a budget is raised for or refused, never half-applied.
 */
export function openFileLimitForBudget(budget: number): number {
  return budget + FDS_LEFT_TO_THE_AGENT;
}

/** Why an explicit budget cannot be had, in the operator's terms. */
export function budgetRefusal(budget: number, limits: { soft: number; hard: number }, raiseFailure: string | undefined): string {
  return (
    `a sweep fd budget of ${budget} needs an open-file limit (RLIMIT_NOFILE) of at least ${openFileLimitForBudget(budget)}, ` +
    `${FDS_LEFT_TO_THE_AGENT} more for the agent's own sockets and logs; the limit is ${limits.soft} (hard ${limits.hard})` +
    (raiseFailure ? ` and raising it failed (${raiseFailure}; a hard limit is raised only with CAP_SYS_RESOURCE, up to fs.nr_open)` : '') +
    `. Give a budget of at most ${largestBudgetFor(limits.soft)}, or start the agent with a higher limit (ulimit -n, systemd LimitNOFILE=)`
  );
}

/**
 * Parses a budget given by hand (agent flag --sweep-fd-budget, env CAPSTAN_SWEEP_FD_BUDGET):
 * a whole number of fds, 0 meaning "keep nothing open". Throws with what is wrong.
 */
export function parseKeptFileBudget(text: string, what: string): number {
  if (!/^\d+$/.test(text.trim())) throw new Error(`${what} must be a whole number of file descriptors (0 keeps none open), got ${JSON.stringify(text)}`);
  const budget = Number(text.trim());
  if (!Number.isSafeInteger(budget)) throw new Error(`${what} is too large: ${text}`);
  return budget;
}

/**
 * Which files hold an fd: the `budget` most recently read among the keepable ones (least recently
 * used fall back to open/read/close). `lastReadTick[i]` is the tick file i was last read (-1:
 * never). Ties go to the lower index: files of cgroups tracked longer come first in the batch, so
 * a burst of new cgroups does not take fds from settled ones.
 */
export function chooseKeptFiles(lastReadTick: ArrayLike<number>, keepable: ArrayLike<number>, budget: number): Uint8Array {
  const count = lastReadTick.length;
  const keep = new Uint8Array(count);
  let candidates = 0;
  for (let i = 0; i < count; i++) if (keepable[i]) candidates++;
  if (candidates <= budget) {
    for (let i = 0; i < count; i++) if (keepable[i]) keep[i] = 1;
    return keep;
  }
  if (budget <= 0) return keep;
  const order: number[] = [];
  for (let i = 0; i < count; i++) if (keepable[i]) order.push(i);
  order.sort((a, b) => lastReadTick[b]! - lastReadTick[a]! || a - b);
  for (let k = 0; k < budget; k++) keep[order[k]!] = 1;
  return keep;
}

/**
 * Which files a tick reads. Every file that changes all the time is read every tick; a rarely
 * changing one (limits, weights: `rarely[i] = 1`) only every `everyTicks`th tick, when it has no
 * value yet, or when `refresh(i)` says its cgroup was just written (capstan's own limit change,
 * an engine's update event).
 */
export function dueFiles(
  tick: number,
  everyTicks: number,
  rarely: ArrayLike<number>,
  hasValue: (index: number) => boolean,
  refresh: (index: number) => boolean,
): Uint8Array {
  const count = rarely.length;
  const due = new Uint8Array(count);
  const fullRead = everyTicks <= 1 || tick % everyTicks === 0;
  for (let i = 0; i < count; i++) {
    due[i] = !rarely[i] || fullRead || !hasValue(i) || refresh(i) ? 1 : 0;
  }
  return due;
}
