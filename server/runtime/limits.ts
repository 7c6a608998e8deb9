/**
 * Writing a new container's limits into its cgroup before its process exists, in runc's order and
 * with runc's file mapping (DESIGN.md table), each write read back. Validation happened in
 * request.ts; this module only turns numbers into control-file writes (pure: limitWrites) and
 * performs them (applyLimits).
 */
import type { CgroupManager } from '../cgroup/manage';
import type { CgroupPath, V1Controller } from '../model';
import { RuntimeError } from './errors';
import type { ContainerLimits } from './types';

/** docker's --cpus period. Units: microseconds. */
export const CPU_PERIOD_MICROSECONDS = 100_000;

export interface LimitWrite {
  controller: V1Controller | 'unified';
  file: string;
  value: string;
}

/** The CFS quota for `nanoCpus` at docker's period. Units: microseconds. */
export function cpuQuotaMicroseconds(nanoCpus: number): number {
  return Math.round((nanoCpus * CPU_PERIOD_MICROSECONDS) / 1e9);
}

/**
 * The writes for `limits`, in order. `hasSwapAccounting`: v1 memory.memsw.* exists (or v2
 * memory.swap.max); without it a memory+swap limit is dropped, as docker drops it with a warning.
 */
export function limitWrites(limits: ContainerLimits, controllersOn: 1 | 2, hasSwapAccounting: boolean): LimitWrite[] {
  const writes: LimitWrite[] = [];
  const swap = limits.memorySwapBytes;
  if (controllersOn === 2) {
    // runc fs2 order: pids, memory (swap before max), cpu.
    if (limits.pidsLimit !== null) writes.push({ controller: 'unified', file: 'pids.max', value: String(limits.pidsLimit) });
    if (limits.memoryBytes > 0) {
      if (hasSwapAccounting && swap !== 0) {
        writes.push({ controller: 'unified', file: 'memory.swap.max', value: swap === -1 ? 'max' : String(swap - limits.memoryBytes) });
      }
      writes.push({ controller: 'unified', file: 'memory.max', value: String(limits.memoryBytes) });
    }
    if (limits.nanoCpus > 0) {
      writes.push({ controller: 'unified', file: 'cpu.max', value: `${cpuQuotaMicroseconds(limits.nanoCpus)} ${CPU_PERIOD_MICROSECONDS}` });
    }
    return writes;
  }
  // runc fs order: memory, cpu, pids. A fresh cgroup is unlimited, so the memory limit goes
  // first: memsw must never be below limit_in_bytes.
  if (limits.memoryBytes > 0) {
    writes.push({ controller: 'memory', file: 'memory.limit_in_bytes', value: String(limits.memoryBytes) });
    if (hasSwapAccounting && swap !== 0) writes.push({ controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(swap) });
  }
  if (limits.nanoCpus > 0) {
    writes.push({ controller: 'cpu', file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_MICROSECONDS) });
    writes.push({ controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(cpuQuotaMicroseconds(limits.nanoCpus)) });
  }
  if (limits.pidsLimit !== null) writes.push({ controller: 'pids', file: 'pids.max', value: String(limits.pidsLimit) });
  return writes;
}

/** Whether the hierarchy can limit memory+swap (v1 memsw files, v2 memory.swap.max). */
export function hasSwapAccounting(cgroups: CgroupManager, probe: CgroupPath): boolean {
  try {
    if (cgroups.layout.controllersOn === 2) cgroups.readControl('unified', probe, 'memory.swap.max');
    else cgroups.readControl('memory', probe, 'memory.memsw.limit_in_bytes');
    return true;
  } catch {
    return false;
  }
}

/** Page size the kernel rounds memory limits to. Units: bytes. */
const PAGE_BYTES = 4096;

/**
 * Performs the writes and reads each back. A kernel that refuses is an error naming the file and
 * errno; a kernel that stores something else than asked (beyond page rounding) is one too.
 */
export function applyLimits(cgroups: CgroupManager, cgroupPath: CgroupPath, writes: readonly LimitWrite[]): void {
  for (const write of writes) {
    try {
      cgroups.writeControl(write.controller, cgroupPath, write.file, write.value);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
      throw new RuntimeError(500, 'limit_write_failed', `cannot set ${write.file} to ${write.value}: ${(error as Error).message}`, {
        errno: code,
        path: cgroups.controlFile(write.controller, cgroupPath, write.file),
      });
    }
    const readBack = cgroups.readControl(write.controller, cgroupPath, write.file);
    if (!sameValue(write.value, readBack)) {
      throw new RuntimeError(500, 'limit_not_applied', `the kernel stored ${readBack} in ${write.file} instead of ${write.value}`, {
        path: cgroups.controlFile(write.controller, cgroupPath, write.file),
      });
    }
  }
}

function sameValue(wanted: string, got: string): boolean {
  if (wanted === got) return true;
  const a = Number(wanted);
  const b = Number(got);
  // Memory limits are stored rounded down to whole pages.
  return Number.isFinite(a) && Number.isFinite(b) && a >= b && a - b < PAGE_BYTES;
}
