/**
 * The per-tick file plan: which files the collector reads for every tracked cgroup. The collector
 * turns (controller, name) into a path for each cgroup, reads all of them in one native batch,
 * and hands the results to assembleV1/assembleV2 (./assemble.ts) with the same list. Only files
 * the assembler turns into a CgroupSample belong here: at 1000 cgroups every entry is 1000 reads
 * per tick.
 */
import type { TextOrErrno } from '../native/contract';
import type { V1Controller } from '../model';
import { parseBlkioStat } from './parse/io';

export interface StatFile {
  /** v1: the controller whose hierarchy holds the file; 'unified' for the v2 hierarchy. */
  controller: V1Controller | 'unified';
  /** The file name inside the cgroup directory, e.g. "memory.stat". */
  name: string;
  /**
   * A limit or weight: it changes only when someone writes it, so the sweep reads it every Nth
   * tick and at once after capstan's own writes or an engine's update event, not every tick.
   */
  rarelyChanges?: true;
  /**
   * Moves whenever anything happens in the cgroup (CPU time, memory usage): read every tick, and
   * when all of a cgroup's read as the tick before, its other every-tick files are not read this
   * tick (server/collector/idle-cgroups.ts).
   */
  showsActivity?: true;
}

export interface V1StatFileOptions {
  /**
   * Read blkio.throttle.io_service_bytes_recursive / io_serviced_recursive instead of the
   * scheduler's blkio.io_service_bytes_recursive / io_serviced_recursive.
   *
   * The plain files are CFQ's, and CFQ left the kernel in 5.0: on current kernels they do not
   * exist at all (this development machine, kernel 6.18, has only the throttle.* and bfq.* sets,
   * and the bfq.* ones count only disks scheduled by BFQ: "Total 0" here with mq-deadline). The
   * throttle files count every bio that passes blk-throttle, whatever the scheduler. Docker makes
   * the same choice per read (scheduler files when they have entries, else throttle); capstan
   * decides once: the collector reads `<blkio root>/blkio.io_service_bytes_recursive` at start
   * and passes the result to blkioThrottleOnlyFromProbe, so each tick reads two files, not four.
   *
   * Caveat seen on kernel 6.18: blk-throttle is initialised per disk lazily, so the throttle
   * counters stay at "Total 0" for a disk until some cgroup has set a throttle rule on it.
   */
  blkioThrottleOnly: boolean;
  /** Also read cpuacct.usage_percpu (one value per CPU: cardinality, so off by default). */
  perCpu: boolean;
}

function freeze(files: StatFile[]): readonly StatFile[] {
  for (const file of files) Object.freeze(file);
  return Object.freeze(files);
}

function buildV1StatFiles({ blkioThrottleOnly, perCpu }: V1StatFileOptions): readonly StatFile[] {
  const blkioPrefix = blkioThrottleOnly ? 'blkio.throttle.' : 'blkio.';
  const files: StatFile[] = [
    { controller: 'cpuacct', name: 'cpuacct.usage', showsActivity: true },
    { controller: 'cpuacct', name: 'cpuacct.stat' },
    ...(perCpu ? [{ controller: 'cpuacct', name: 'cpuacct.usage_percpu' } as const] : []),
    { controller: 'cpu', name: 'cpu.stat' },
    { controller: 'cpu', name: 'cpu.cfs_quota_us', rarelyChanges: true },
    { controller: 'cpu', name: 'cpu.cfs_period_us', rarelyChanges: true },
    { controller: 'cpu', name: 'cpu.shares', rarelyChanges: true },
    { controller: 'memory', name: 'memory.usage_in_bytes', showsActivity: true },
    { controller: 'memory', name: 'memory.limit_in_bytes', rarelyChanges: true },
    { controller: 'memory', name: 'memory.soft_limit_in_bytes', rarelyChanges: true },
    { controller: 'memory', name: 'memory.memsw.limit_in_bytes', rarelyChanges: true },
    { controller: 'memory', name: 'memory.max_usage_in_bytes' },
    { controller: 'memory', name: 'memory.stat' },
    { controller: 'memory', name: 'memory.failcnt' },
    { controller: 'memory', name: 'memory.oom_control' },
    { controller: 'blkio', name: blkioPrefix + 'io_service_bytes_recursive' },
    { controller: 'blkio', name: blkioPrefix + 'io_serviced_recursive' },
    { controller: 'pids', name: 'pids.current' },
    { controller: 'pids', name: 'pids.max', rarelyChanges: true },
  ];
  return freeze(files);
}

/** The four possible v1 plans, built once: the same options always give the same (frozen) array. */
const V1_PLANS = new Map<string, readonly StatFile[]>();

/** The v1 files read for every cgroup each tick. Returns the same frozen array for the same options. */
export function v1StatFiles(opts: V1StatFileOptions): readonly StatFile[] {
  const key = `${opts.blkioThrottleOnly ? 1 : 0}${opts.perCpu ? 1 : 0}`;
  let files = V1_PLANS.get(key);
  if (!files) {
    files = buildV1StatFiles(opts);
    V1_PLANS.set(key, files);
  }
  return files;
}

/**
 * The v2 files read for every cgroup each tick. A file of a controller that is not enabled in the
 * parent's cgroup.subtree_control does not exist (ENOENT → that value is absent), and the root
 * cgroup has none of the limit files (cpu.max, memory.max, memory.current, pids.*).
 */
export const V2_STAT_FILES: readonly StatFile[] = freeze([
  { controller: 'unified', name: 'cpu.stat', showsActivity: true },
  { controller: 'unified', name: 'cpu.max', rarelyChanges: true },
  { controller: 'unified', name: 'cpu.weight', rarelyChanges: true },
  { controller: 'unified', name: 'memory.current', showsActivity: true },
  { controller: 'unified', name: 'memory.max', rarelyChanges: true },
  { controller: 'unified', name: 'memory.low', rarelyChanges: true },
  { controller: 'unified', name: 'memory.swap.max', rarelyChanges: true },
  { controller: 'unified', name: 'memory.swap.current' },
  { controller: 'unified', name: 'memory.peak' },
  { controller: 'unified', name: 'memory.stat' },
  { controller: 'unified', name: 'memory.events' },
  // oom_kill of this cgroup's own processes (memory.events counts its descendants' too); kernel ≥ 5.2.
  { controller: 'unified', name: 'memory.events.local' },
  { controller: 'unified', name: 'io.stat' },
  { controller: 'unified', name: 'pids.current' },
  { controller: 'unified', name: 'pids.max', rarelyChanges: true },
]);

/**
 * Decides V1StatFileOptions.blkioThrottleOnly from one read of the blkio root's
 * blkio.io_service_bytes_recursive (text or errno): use the throttle files unless the scheduler
 * file exists and lists at least one device (a CFQ kernel whose disks actually use CFQ).
 */
export function blkioThrottleOnlyFromProbe(probe: TextOrErrno): boolean {
  if (typeof probe === 'number') return true;
  try {
    return parseBlkioStat(probe).length === 0;
  } catch {
    return true;
  }
}
