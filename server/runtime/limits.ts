/**
 * A new container's limits, through the live-limits module (server/limits) rather than a second
 * copy of it: docker's validation and messages at create, runc's write order, read-back and
 * all-or-nothing rollback at start, into the fresh cgroup before the process exists. This file
 * only translates between the runtime's ContainerLimits and a LimitRequest, and LimitError into
 * RuntimeError.
 */
import type { CgroupManager } from '../cgroup/manage';
import {
  cgroupManagerIo,
  executePlan,
  LimitError,
  planLimitWrites,
  readFileSnapshot,
  validateLimitRequest,
  type CurrentLimits,
  type LimitRequest,
} from '../limits';
import type { CgroupPath } from '../model';
import { RuntimeError } from './errors';
import type { ContainerLimits } from './types';

/** The four settings a container is created with; assignable to both a LimitRequest and a resolved one. */
export type ContainerLimitRequest = Pick<LimitRequest, 'nanoCpus' | 'memory' | 'memorySwap' | 'pidsLimit' | 'force'>;

/** The settings of `limits` that are set (0 = not set), as `docker update` would send them. */
export function limitRequestOf(limits: ContainerLimits): ContainerLimitRequest {
  const request: ContainerLimitRequest = { force: false };
  if (limits.nanoCpus !== 0) request.nanoCpus = limits.nanoCpus;
  if (limits.memoryBytes !== 0) request.memory = limits.memoryBytes;
  if (limits.memorySwapBytes !== 0) request.memorySwap = limits.memorySwapBytes;
  if (limits.pidsLimit !== null) request.pidsLimit = limits.pidsLimit;
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
    const plan = planLimitWrites(version, request, files, cgroupPath);
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
