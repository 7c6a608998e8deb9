/**
 * The limits in force on one cgroup, derived from a FileSnapshot with the shared parsers. Pure.
 * This is what the API answers with after an update (`limits`), in Docker's terms on both
 * hierarchies: memorySwap is memory + swap on v2 too, cpus is quota ÷ period.
 */
import {
  parseCfsPeriod,
  parseCfsQuota,
  parseCpuMax,
  parseCpuShares,
  parseCpuWeight,
  parseMemoryCurrent,
  parseMemoryLimitInBytes,
  parseMemoryLow,
  parseMemoryMax,
  parseMemoryMaxUsageInBytes,
  parseMemoryPeak,
  parseMemorySoftLimitInBytes,
  parseMemorySwapMax,
  parseMemoryUsageInBytes,
  parseMemswLimitInBytes,
  parsePidsMax,
} from '../cgroup/parse';
import { V1_THROTTLE_FILES, V2_THROTTLE_KEYS, type CgroupVersion, type FileSnapshot } from './files';
import type { ThrottleSetting } from './request';

/** Throttles on one device; an absent rate means "no throttle". */
export interface DeviceThrottle {
  major: number;
  minor: number;
  /** Units: bytes per second. */
  readBps?: number;
  /** Units: bytes per second. */
  writeBps?: number;
  /** Units: operations per second. */
  readIops?: number;
  /** Units: operations per second. */
  writeIops?: number;
}

/** Limits read back from the kernel. Absent = the file is not offered here; null = unlimited. */
export interface CurrentLimits {
  cgroupVersion: CgroupVersion;
  /** quota ÷ period; null = no cap. Units: CPUs. */
  cpus?: number | null;
  /** null = no cap. Units: microseconds. */
  cpuQuotaMicroseconds?: number | null;
  /** Units: microseconds. */
  cpuPeriodMicroseconds?: number;
  /** v1 cpu.shares. Units: shares. */
  cpuShares?: number;
  /** v2 cpu.weight. Units: weight (1–10000). */
  cpuWeight?: number;
  /** cpuset.cpus as the kernel prints it ("" = inherit, v2). */
  cpusetCpus?: string;
  /** null = unlimited. Units: bytes. */
  memoryBytes?: number | null;
  /** Soft limit (v1) / memory.low (v2); null = none. Units: bytes. */
  memoryReservationBytes?: number | null;
  /** Memory + swap, as `docker update --memory-swap` means it; null = unlimited. Units: bytes. */
  memorySwapBytes?: number | null;
  /** v2 memory.swap.max, swap alone; null = unlimited. Units: bytes. */
  swapBytes?: number | null;
  /** null = unlimited. Units: tasks. */
  pidsLimit?: number | null;
  /** blkio.weight / blkio.bfq.weight / io.bfq.weight (the 10–1000 scale). Units: weight. */
  blkioWeight?: number;
  /** v2 io.weight default (1–10000 scale), used when BFQ is not there. Units: weight. */
  ioWeight?: number;
  /** The weight file in use: where --blkio-weight goes. */
  blkioWeightFile?: string;
  /** Devices with at least one throttle. */
  deviceThrottles: DeviceThrottle[];
  /** memory.usage_in_bytes / memory.current. Units: bytes. */
  memoryUsageBytes?: number;
  /** memory.max_usage_in_bytes / memory.peak (kernel ≥ 5.19). Units: bytes. */
  memoryPeakUsageBytes?: number;
}

/** The DeviceThrottle field each throttle setting fills. */
export const THROTTLE_FIELD: Readonly<Record<ThrottleSetting, 'readBps' | 'writeBps' | 'readIops' | 'writeIops'>> = {
  deviceReadBps: 'readBps',
  deviceWriteBps: 'writeBps',
  deviceReadIops: 'readIops',
  deviceWriteIops: 'writeIops',
};

/** "default 100\n8:0 200" (io.weight, io.bfq.weight) → 100; also accepts a bare number (v1 files). */
export function parseDefaultWeight(file: string, text: string): number {
  const first = text.trim().split('\n')[0] ?? '';
  const match = /^(?:default\s+)?(\d+)$/.exec(first.trim());
  if (!match) throw new Error(`${file}: expected "default N" or "N", got ${JSON.stringify(first)}`);
  return Number(match[1]);
}

/** v1 blkio.throttle.* lines "8:0 1048576" → (major, minor, rate). */
export function parseV1Throttle(text: string): Array<{ major: number; minor: number; rate: number }> {
  const entries: Array<{ major: number; minor: number; rate: number }> = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+):(\d+)\s+(\d+)$/.exec(line.trim());
    if (match) entries.push({ major: Number(match[1]), minor: Number(match[2]), rate: Number(match[3]) });
  }
  return entries;
}

/** v2 io.max lines "8:0 rbps=1048576 wbps=max riops=max wiops=max"; "max" keys are left out. */
export function parseIoMax(text: string): Array<{ major: number; minor: number; values: Map<string, number> }> {
  const entries: Array<{ major: number; minor: number; values: Map<string, number> }> = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const device = /^(\d+):(\d+)$/.exec(fields[0] ?? '');
    if (!device) continue;
    const values = new Map<string, number>();
    for (const field of fields.slice(1)) {
      const [key, value] = field.split('=');
      if (key && value && /^\d+$/.test(value)) values.set(key, Number(value));
    }
    entries.push({ major: Number(device[1]), minor: Number(device[2]), values });
  }
  return entries;
}

function throttleEntry(throttles: DeviceThrottle[], major: number, minor: number): DeviceThrottle {
  let entry = throttles.find((t) => t.major === major && t.minor === minor);
  if (!entry) {
    entry = { major, minor };
    throttles.push(entry);
  }
  return entry;
}

export function limitsFromFiles(version: CgroupVersion, files: FileSnapshot): CurrentLimits {
  const limits: CurrentLimits = { cgroupVersion: version, deviceThrottles: [] };
  const text = (file: string): string | undefined => files.get(file);
  const cpuset = text('cpuset.cpus');
  if (cpuset !== undefined) limits.cpusetCpus = cpuset;

  if (version === 1) {
    const quota = text('cpu.cfs_quota_us');
    const period = text('cpu.cfs_period_us');
    if (quota !== undefined) limits.cpuQuotaMicroseconds = parseCfsQuota(quota);
    if (period !== undefined) limits.cpuPeriodMicroseconds = parseCfsPeriod(period);
    const shares = text('cpu.shares');
    if (shares !== undefined) limits.cpuShares = parseCpuShares(shares);
    const limit = text('memory.limit_in_bytes');
    if (limit !== undefined) limits.memoryBytes = parseMemoryLimitInBytes(limit);
    const soft = text('memory.soft_limit_in_bytes');
    if (soft !== undefined) limits.memoryReservationBytes = parseMemorySoftLimitInBytes(soft);
    const memsw = text('memory.memsw.limit_in_bytes');
    if (memsw !== undefined) limits.memorySwapBytes = parseMemswLimitInBytes(memsw);
    const usage = text('memory.usage_in_bytes');
    if (usage !== undefined) limits.memoryUsageBytes = parseMemoryUsageInBytes(usage);
    const peak = text('memory.max_usage_in_bytes');
    if (peak !== undefined) limits.memoryPeakUsageBytes = parseMemoryMaxUsageInBytes(peak);
    const weightFile = text('blkio.bfq.weight') !== undefined ? 'blkio.bfq.weight' : text('blkio.weight') !== undefined ? 'blkio.weight' : undefined;
    if (weightFile !== undefined) {
      limits.blkioWeightFile = weightFile;
      limits.blkioWeight = parseDefaultWeight(weightFile, text(weightFile)!);
    }
    for (const [setting, file] of Object.entries(V1_THROTTLE_FILES) as Array<[ThrottleSetting, string]>) {
      const content = text(file);
      if (content === undefined) continue;
      for (const { major, minor, rate } of parseV1Throttle(content)) {
        // Writing rate 0 removes the line on current kernels; a 0 still listed means "none".
        if (rate > 0) throttleEntry(limits.deviceThrottles, major, minor)[THROTTLE_FIELD[setting]] = rate;
      }
    }
  } else {
    const cpuMax = text('cpu.max');
    if (cpuMax !== undefined) {
      const { quotaMicroseconds, periodMicroseconds } = parseCpuMax(cpuMax);
      limits.cpuQuotaMicroseconds = quotaMicroseconds;
      limits.cpuPeriodMicroseconds = periodMicroseconds;
    }
    const weight = text('cpu.weight');
    if (weight !== undefined) limits.cpuWeight = parseCpuWeight(weight);
    const max = text('memory.max');
    if (max !== undefined) limits.memoryBytes = parseMemoryMax(max);
    const low = text('memory.low');
    if (low !== undefined) {
      const bytes = parseMemoryLow(low);
      // memory.low 0 is "no protection", which is what an unset reservation means.
      limits.memoryReservationBytes = bytes === 0 ? null : bytes;
    }
    const swap = text('memory.swap.max');
    if (swap !== undefined) {
      limits.swapBytes = parseMemorySwapMax(swap);
      if (limits.memoryBytes !== undefined) {
        limits.memorySwapBytes = limits.memoryBytes === null || limits.swapBytes === null ? null : limits.memoryBytes + limits.swapBytes;
      }
    }
    const current = text('memory.current');
    if (current !== undefined) limits.memoryUsageBytes = parseMemoryCurrent(current);
    const peak = text('memory.peak');
    if (peak !== undefined) limits.memoryPeakUsageBytes = parseMemoryPeak(peak);
    if (text('io.bfq.weight') !== undefined) {
      limits.blkioWeightFile = 'io.bfq.weight';
      limits.blkioWeight = parseDefaultWeight('io.bfq.weight', text('io.bfq.weight')!);
    } else if (text('io.weight') !== undefined) {
      limits.blkioWeightFile = 'io.weight';
      limits.ioWeight = parseDefaultWeight('io.weight', text('io.weight')!);
    }
    const ioMax = text('io.max');
    if (ioMax !== undefined) {
      for (const { major, minor, values } of parseIoMax(ioMax)) {
        for (const [setting, key] of Object.entries(V2_THROTTLE_KEYS) as Array<[ThrottleSetting, string]>) {
          const rate = values.get(key);
          if (rate !== undefined) throttleEntry(limits.deviceThrottles, major, minor)[THROTTLE_FIELD[setting]] = rate;
        }
      }
    }
  }
  const pids = text('pids.max');
  if (pids !== undefined) limits.pidsLimit = parsePidsMax(pids);

  if (limits.cpuQuotaMicroseconds !== undefined && limits.cpuPeriodMicroseconds !== undefined) {
    limits.cpus = limits.cpuQuotaMicroseconds === null ? null : limits.cpuQuotaMicroseconds / limits.cpuPeriodMicroseconds;
  }
  return limits;
}
