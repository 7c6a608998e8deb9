/**
 * A container's limits, through the live-limits module (server/limits) rather than a second copy
 * of it: docker's validation and messages at create, runc's write order, read-back and
 * all-or-nothing rollback at each start, into the fresh cgroup before the process exists. This
 * file translates between the runtime's ContainerLimits and a LimitRequest, merges applied updates
 * into ContainerLimits as docker's UpdateContainer merges them into its HostConfig, and turns
 * LimitError into RuntimeError.
 */
import type { CgroupManager } from '../cgroup/manage';
import {
  cgroupManagerIo,
  executePlan,
  FLAG_OF,
  LimitError,
  resolveThrottle,
  THROTTLE_SETTINGS,
  planLimitWrites,
  readFileSnapshot,
  validateLimitRequest,
  type CurrentLimits,
  type AppliedSettings,
  type LimitRequest,
  type ResolvedLimitRequest,
} from '../limits';
import type { CgroupPath } from '../model';
import { RuntimeError } from './errors';
import type { ContainerLimits } from './types';

/** The settings a container's cgroup gets at each start: everything but the restart policy. */
export type ContainerLimitRequest = Omit<LimitRequest, 'restartPolicy'>;

/** The settings of `limits` that are set (0 = not set), as `docker update` would send them. */
export function limitRequestOf(limits: ContainerLimits): ContainerLimitRequest {
  const request: ContainerLimitRequest = { force: false };
  if (limits.nanoCpus !== 0) request.nanoCpus = limits.nanoCpus;
  // -1 (no cap) is what a new cgroup has already.
  if (limits.cpuQuota !== undefined && limits.cpuQuota > 0) request.cpuQuota = limits.cpuQuota;
  if (limits.cpuPeriod) request.cpuPeriod = limits.cpuPeriod;
  if (limits.cpuShares) request.cpuShares = limits.cpuShares;
  if (limits.cpusetCpus) request.cpusetCpus = limits.cpusetCpus;
  if (limits.memoryBytes !== 0) request.memory = limits.memoryBytes;
  if (limits.memoryReservationBytes) request.memoryReservation = limits.memoryReservationBytes;
  if (limits.memorySwapBytes !== 0) request.memorySwap = limits.memorySwapBytes;
  // 0 is "unlimited" (an update to -1), which a new cgroup is already.
  if (limits.pidsLimit !== null && limits.pidsLimit > 0) request.pidsLimit = limits.pidsLimit;
  if (limits.blkioWeight) request.blkioWeight = limits.blkioWeight;
  for (const setting of THROTTLE_SETTINGS) {
    const rates = limits[setting];
    if (rates && rates.length > 0) request[setting] = rates.map((rate) => ({ ...rate }));
  }
  return request;
}

/** What a cgroup that does not exist yet has: no limit at all. */
const UNLIMITED: CurrentLimits = {
  cgroupVersion: 2,
  cpus: null,
  cpuQuotaMicroseconds: null,
  memoryBytes: null,
  memoryReservationBytes: null,
  memorySwapBytes: null,
  pidsLimit: null,
  deviceThrottles: [],
};

function toRuntimeError(error: unknown): never {
  if (error instanceof LimitError) {
    throw new RuntimeError(error.status, error.code, error.message, {
      ...(error.details.errno !== undefined ? { errno: error.details.errno } : {}),
      ...(error.details.file !== undefined ? { path: error.details.file } : {}),
    });
  }
  throw error;
}

/** docker's create-time rules (moby verifyPlatformContainerResources), with its messages; 400 on the first broken one. */
export function validateContainerLimits(limits: ContainerLimits, hostCpus: number): void {
  try {
    validateLimitRequest(limitRequestOf(limits), { hostCpus, current: UNLIMITED, stored: {} });
  } catch (error) {
    toRuntimeError(error);
  }
}

/**
 * Writes `limits` into the new cgroup (runc's order, each file read back, undone if one fails).
 * Returns docker's warnings for settings the host cannot apply (swap without memsw accounting).
 */
export function applyContainerLimits(cgroups: CgroupManager, cgroupPath: CgroupPath, limits: ContainerLimits): string[] {
  const request = limitRequestOf(limits);
  if (Object.keys(request).length === 1) return [];
  const io = cgroupManagerIo(cgroups);
  const version = cgroups.layout.controllersOn;
  try {
    const files = readFileSnapshot(io, version, cgroupPath);
    if (!files) throw new RuntimeError(500, 'cgroup_missing', `the cgroup ${cgroupPath} vanished before its limits were written`);
    // Devices are stored by path, as docker stores them, and resolved again at each start.
    const resolved: ResolvedLimitRequest = { ...request } as ResolvedLimitRequest;
    for (const setting of THROTTLE_SETTINGS) {
      const throttles = request[setting];
      if (throttles) resolved[setting] = throttles.map((throttle) => resolveThrottle(FLAG_OF[setting], throttle));
    }
    const plan = planLimitWrites(version, resolved, files, cgroupPath);
    executePlan(io, cgroupPath, plan);
    return plan.warnings;
  } catch (error) {
    return toRuntimeError(error);
  }
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

/**
 * Merges an applied `update` into the stored limits, as moby's UpdateContainer merges into
 * HostConfig: each given setting replaces the stored one; --pids-limit ≤ 0 is stored as 0 (docker's
 * "unlimited" after an update); --cpu-quota -1 is stored as -1 and also lifts a --cpus cap
 * (capstan lets it, docker refuses). Device throttles replace the
 * entry for the same path, and a rate of 0 removes it (docker's update does not store throttles).
 */
export function mergeLimitUpdate(limits: ContainerLimits, settings: AppliedSettings): void {
  if (settings.nanoCpus !== undefined) limits.nanoCpus = settings.nanoCpus;
  if (settings.cpuQuota !== undefined) {
    limits.cpuQuota = settings.cpuQuota;
    if (settings.cpuQuota < 0) limits.nanoCpus = 0;
  }
  if (settings.cpuPeriod !== undefined) limits.cpuPeriod = settings.cpuPeriod;
  if (settings.cpuShares !== undefined) limits.cpuShares = settings.cpuShares;
  if (settings.cpusetCpus !== undefined) limits.cpusetCpus = settings.cpusetCpus;
  if (settings.memory !== undefined) limits.memoryBytes = settings.memory;
  if (settings.memoryReservation !== undefined) limits.memoryReservationBytes = settings.memoryReservation;
  if (settings.memorySwap !== undefined) limits.memorySwapBytes = settings.memorySwap;
  if (settings.pidsLimit !== undefined) limits.pidsLimit = settings.pidsLimit > 0 ? settings.pidsLimit : 0;
  if (settings.blkioWeight !== undefined) limits.blkioWeight = settings.blkioWeight;
  for (const setting of THROTTLE_SETTINGS) {
    const updates = settings[setting];
    if (updates === undefined) continue;
    const rates = [...(limits[setting] ?? [])];
    for (const { path, rate } of updates) {
      const at = rates.findIndex((entry) => entry.path === path);
      if (rate === 0) {
        if (at >= 0) rates.splice(at, 1);
      } else if (at >= 0) rates[at] = { path, rate };
      else rates.push({ path, rate });
    }
    if (rates.length > 0) limits[setting] = rates;
    else delete limits[setting];
  }
}
