/**
 * Docker's validation of `docker update`, with its messages word for word (moby daemon_unix.go
 * verifyPlatformContainerResources and container_unix.go UpdateContainer; docker/cli opts).
 * Pure: the request, the limits read back from the kernel and what capstan stored decide.
 *
 * Checks on the request alone answer 400. Checks against the cgroup's state answer 409, as Docker's
 * "conflicting update options" do. Two deliberate differences from Docker:
 * - "Memory limit should be smaller than already set memoryswap limit" fires only when the stored
 *   memory+swap is a real limit. Docker also fires it when the stored value is unlimited or unset
 *   (moby#39541), which makes raising --memory alone impossible on a swap-accounting host.
 * - Values given alone are checked against the limits in force too (a --memory-swap below the
 *   current memory limit, a --memory below the current reservation), with the same messages,
 *   because the kernel would refuse or the result would be meaningless.
 */
import type { CurrentLimits } from './current';
import { conflictingLimit, invalidLimit } from './errors';
import { FLAG_OF, type LimitRequest } from './request';
import { NANO_CPUS_PER_CPU, parseCpuList } from './units';

/** Docker's linuxMinMemory: the smallest memory limit or reservation. Units: bytes (6 MiB). */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
/** Units: microseconds. */
export const MIN_CPU_PERIOD_US = 1000;
/** Units: microseconds. */
export const MAX_CPU_PERIOD_US = 1_000_000;
/** Units: microseconds. */
export const MIN_CPU_QUOTA_US = 1000;
/** The finest --cpus Docker documents (0.01). Units: nano-CPUs. */
export const MIN_NANO_CPUS = NANO_CPUS_PER_CPU / 100;

/**
 * How the CPU cap was last set through capstan: Docker keeps NanoCpus and CpuQuota/CpuPeriod
 * apart in the stored HostConfig and refuses to switch from one style to the other.
 */
export interface StoredCpuLimits {
  /** Units: nano-CPUs. */
  nanoCpus?: number;
  /** Units: microseconds. */
  cpuQuota?: number;
  /** Units: microseconds. */
  cpuPeriod?: number;
}

export interface ValidationContext {
  /** CPUs visible to the agent (Docker's NumCPU). Units: CPUs. */
  hostCpus: number;
  /** CPUs the cgroup may be given: the parent's effective cpuset ("0-1"); undefined = not known. */
  availableCpus?: string;
  current: CurrentLimits;
  stored: StoredCpuLimits;
}

/** Throws LimitError for the first rule `request` breaks, in Docker's order. */
export function validateLimitRequest(request: LimitRequest, context: ValidationContext): void {
  const { memory, memorySwap, memoryReservation, nanoCpus, cpuQuota, cpuPeriod } = request;
  const { current, stored } = context;

  // --- the request on its own (moby verifyPlatformContainerResources) ---
  if (memory !== undefined && memory < MIN_MEMORY_BYTES) {
    throw invalidLimit('Minimum memory limit allowed is 6MB', FLAG_OF.memory);
  }
  if (memory !== undefined && memorySwap !== undefined && memorySwap > 0 && memorySwap < memory) {
    throw invalidLimit('Minimum memoryswap limit should be larger than memory limit, see usage', FLAG_OF.memorySwap);
  }
  if (memory !== undefined && memoryReservation !== undefined && memory < memoryReservation) {
    throw invalidLimit('Minimum memory limit can not be less than memory reservation limit, see usage', FLAG_OF.memory);
  }
  if (memoryReservation !== undefined && memoryReservation < MIN_MEMORY_BYTES) {
    throw invalidLimit('Minimum memory reservation allowed is 6MB', FLAG_OF.memoryReservation);
  }
  if (nanoCpus !== undefined && cpuPeriod !== undefined) {
    throw invalidLimit('Conflicting options: Nano CPUs and CPU Period cannot both be set', FLAG_OF.nanoCpus);
  }
  if (nanoCpus !== undefined && cpuQuota !== undefined && cpuQuota > 0) {
    throw invalidLimit('Conflicting options: Nano CPUs and CPU Quota cannot both be set', FLAG_OF.nanoCpus);
  }
  if (nanoCpus !== undefined && (nanoCpus < MIN_NANO_CPUS || nanoCpus > context.hostCpus * NANO_CPUS_PER_CPU)) {
    throw invalidLimit(
      `range of CPUs is from 0.01 to ${context.hostCpus}.00, as there are only ${context.hostCpus} CPUs available`,
      FLAG_OF.nanoCpus,
    );
  }
  if (cpuPeriod !== undefined && (cpuPeriod < MIN_CPU_PERIOD_US || cpuPeriod > MAX_CPU_PERIOD_US)) {
    throw invalidLimit('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)', FLAG_OF.cpuPeriod);
  }
  if (cpuQuota !== undefined && cpuQuota > 0 && cpuQuota < MIN_CPU_QUOTA_US) {
    throw invalidLimit('CPU cfs quota can not be less than 1ms (i.e. 1000)', FLAG_OF.cpuQuota);
  }
  if (request.cpusetCpus !== undefined) {
    const requested = parseCpuList(request.cpusetCpus);
    if (!requested) throw invalidLimit(`Invalid value ${request.cpusetCpus} for cpuset cpus`, FLAG_OF.cpusetCpus);
    const available = context.availableCpus === undefined ? undefined : parseCpuList(context.availableCpus);
    if (available && [...requested].some((cpu) => !available.has(cpu))) {
      throw invalidLimit(
        `Requested CPUs are not available - requested ${request.cpusetCpus}, available: ${context.availableCpus}`,
        FLAG_OF.cpusetCpus,
      );
    }
  }
  if (request.blkioWeight !== undefined && (request.blkioWeight < 10 || request.blkioWeight > 1000)) {
    throw invalidLimit('Range of blkio weight is from 10 to 1000', FLAG_OF.blkioWeight);
  }

  // --- values given alone, against the limits in force (same messages) ---
  const effectiveMemory = memory ?? current.memoryBytes;
  if (memorySwap !== undefined && memorySwap > 0 && memory === undefined) {
    if (effectiveMemory === null || effectiveMemory === undefined) {
      throw invalidLimit('You should always set the Memory limit when using Memoryswap limit, see usage', FLAG_OF.memorySwap);
    }
    if (memorySwap < effectiveMemory) {
      throw invalidLimit('Minimum memoryswap limit should be larger than memory limit, see usage', FLAG_OF.memorySwap);
    }
  }
  const effectiveReservation = memoryReservation ?? current.memoryReservationBytes;
  if ((memory !== undefined || memoryReservation !== undefined) && typeof effectiveMemory === 'number' && typeof effectiveReservation === 'number') {
    if (effectiveMemory < effectiveReservation) {
      throw invalidLimit(
        'Minimum memory limit can not be less than memory reservation limit, see usage',
        memory !== undefined ? FLAG_OF.memory : FLAG_OF.memoryReservation,
      );
    }
  }

  // --- against what is stored (moby container_unix.go UpdateContainer): 409 ---
  if (nanoCpus !== undefined && (stored.cpuPeriod ?? 0) > 0) {
    throw conflictingLimit('Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set', FLAG_OF.nanoCpus);
  }
  if (nanoCpus !== undefined && (stored.cpuQuota ?? 0) > 0) {
    throw conflictingLimit('Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set', FLAG_OF.nanoCpus);
  }
  if (cpuPeriod !== undefined && (stored.nanoCpus ?? 0) > 0) {
    throw conflictingLimit('Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set', FLAG_OF.cpuPeriod);
  }
  if (cpuQuota !== undefined && cpuQuota > 0 && (stored.nanoCpus ?? 0) > 0) {
    throw conflictingLimit('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set', FLAG_OF.cpuQuota);
  }
  if (memory !== undefined && memorySwap === undefined && typeof current.memorySwapBytes === 'number' && memory > current.memorySwapBytes) {
    throw conflictingLimit(
      'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time',
      FLAG_OF.memory,
    );
  }
}
