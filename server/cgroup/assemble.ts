/**
 * Turns one cgroup's batch of file reads into a CgroupSample. The collector reads
 * `files` (from ./files.ts) for many cgroups in one native call; `results[offset + i]` is the
 * text of `files[i]` for this cgroup, or the errno of its failed read.
 *
 * Missing is normal: ENOENT (feature or controller absent: memory.peak before 5.19, memsw without
 * swap accounting, the root's limit files) and ENODEV (the cgroup is being removed) leave the
 * value absent without a word. Anything else (EACCES, EIO, a file we cannot parse) also leaves
 * the value absent but calls `warn(fileIndex, message)`; the collector maps the index to a path
 * and logs once per path. Absent stays absent: nothing here defaults to 0. These functions never
 * throw.
 *
 * Hot path: called once per cgroup per tick. The file list is compiled once into a table of
 * slots (cached per array), so a tick does no name lookups and no per-file allocations beyond
 * the parsed values themselves.
 */
import { constants as osConstants } from 'node:os';
import type { BlockDeviceSample, CgroupSample, CpuSample, MemorySample, PidsSample } from '../model';
import type { StatFile } from './files';
import { CgroupParseError } from './parse/errors';
import {
  cpuWeightToShares,
  parseCfsPeriod,
  parseCfsQuota,
  parseCpuacctStat,
  parseCpuacctUsage,
  parseCpuacctUsagePercpu,
  parseCpuMax,
  parseCpuShares,
  parseCpuWeight,
  parseV1CpuStat,
  parseV2CpuStat,
} from './parse/cpu';
import { parseBlkioStat, parseIoStat, type BlkioDeviceCounters } from './parse/io';
import {
  parseMemoryCurrent,
  parseMemoryEvents,
  parseMemoryFailcnt,
  parseMemoryLimitInBytes,
  parseMemoryLow,
  parseMemoryMax,
  parseMemoryMaxUsageInBytes,
  parseMemoryPeak,
  parseMemorySoftLimitInBytes,
  parseMemorySwapCurrent,
  parseMemorySwapMax,
  parseMemswLimitInBytes,
  parseMemoryUsageInBytes,
  parseOomControl,
  parseV1MemoryStat,
  parseV2MemoryStat,
} from './parse/memory';
import type { MemoryStat } from './parse/memory';
import { parsePidsCurrent, parsePidsMax } from './parse/pids';

/** Receives the index of the file in `files` (not in `results`) and what went wrong. */
export type AssembleWarn = (fileIndex: number, message: string) => void;

const ENOENT = 2;
const ENODEV = 19;

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([name, errno]) => [errno, name]));

/** What the assembler does with one file; compiled from StatFile.name once per file list. */
enum Slot {
  Ignored,
  // v1
  CpuacctUsage,
  CpuacctStat,
  CpuacctUsagePercpu,
  V1CpuStat,
  CfsQuota,
  CfsPeriod,
  CpuShares,
  MemoryUsageInBytes,
  MemoryLimitInBytes,
  MemorySoftLimitInBytes,
  MemswLimitInBytes,
  MemoryMaxUsageInBytes,
  V1MemoryStat,
  MemoryFailcnt,
  OomControl,
  BlkioBytes,
  BlkioOps,
  // v2
  V2CpuStat,
  CpuMax,
  CpuWeight,
  MemoryCurrent,
  MemoryMax,
  MemoryLow,
  MemorySwapMax,
  MemorySwapCurrent,
  MemoryPeak,
  V2MemoryStat,
  MemoryEvents,
  MemoryEventsLocal,
  IoStat,
  // both
  PidsCurrent,
  PidsMax,
}

const V1_SLOTS: Readonly<Record<string, Slot>> = {
  'cpuacct.usage': Slot.CpuacctUsage,
  'cpuacct.stat': Slot.CpuacctStat,
  'cpuacct.usage_percpu': Slot.CpuacctUsagePercpu,
  'cpu.stat': Slot.V1CpuStat,
  'cpu.cfs_quota_us': Slot.CfsQuota,
  'cpu.cfs_period_us': Slot.CfsPeriod,
  'cpu.shares': Slot.CpuShares,
  'memory.usage_in_bytes': Slot.MemoryUsageInBytes,
  'memory.limit_in_bytes': Slot.MemoryLimitInBytes,
  'memory.soft_limit_in_bytes': Slot.MemorySoftLimitInBytes,
  'memory.memsw.limit_in_bytes': Slot.MemswLimitInBytes,
  'memory.max_usage_in_bytes': Slot.MemoryMaxUsageInBytes,
  'memory.stat': Slot.V1MemoryStat,
  'memory.failcnt': Slot.MemoryFailcnt,
  'memory.oom_control': Slot.OomControl,
  'blkio.io_service_bytes_recursive': Slot.BlkioBytes,
  'blkio.throttle.io_service_bytes_recursive': Slot.BlkioBytes,
  'blkio.bfq.io_service_bytes_recursive': Slot.BlkioBytes,
  'blkio.io_serviced_recursive': Slot.BlkioOps,
  'blkio.throttle.io_serviced_recursive': Slot.BlkioOps,
  'blkio.bfq.io_serviced_recursive': Slot.BlkioOps,
  'pids.current': Slot.PidsCurrent,
  'pids.max': Slot.PidsMax,
};

const V2_SLOTS: Readonly<Record<string, Slot>> = {
  'cpu.stat': Slot.V2CpuStat,
  'cpu.max': Slot.CpuMax,
  'cpu.weight': Slot.CpuWeight,
  'memory.current': Slot.MemoryCurrent,
  'memory.max': Slot.MemoryMax,
  'memory.low': Slot.MemoryLow,
  'memory.swap.max': Slot.MemorySwapMax,
  'memory.swap.current': Slot.MemorySwapCurrent,
  'memory.peak': Slot.MemoryPeak,
  'memory.stat': Slot.V2MemoryStat,
  'memory.events': Slot.MemoryEvents,
  'memory.events.local': Slot.MemoryEventsLocal,
  'io.stat': Slot.IoStat,
  'pids.current': Slot.PidsCurrent,
  'pids.max': Slot.PidsMax,
};

const v1Plans = new WeakMap<readonly StatFile[], Uint8Array>();
const v2Plans = new WeakMap<readonly StatFile[], Uint8Array>();

/** The slot of every file, compiled once per file-list array (v1StatFiles and V2_STAT_FILES return stable arrays). */
function planFor(files: readonly StatFile[], table: Readonly<Record<string, Slot>>, cache: WeakMap<readonly StatFile[], Uint8Array>): Uint8Array {
  let plan = cache.get(files);
  if (!plan || plan.length !== files.length) {
    plan = new Uint8Array(files.length);
    for (let i = 0; i < files.length; i++) {
      const name = files[i]!.name;
      plan[i] = Object.prototype.hasOwnProperty.call(table, name) ? table[name]! : Slot.Ignored;
    }
    cache.set(files, plan);
  }
  return plan;
}

/** Reports a failed read unless it only means "not there". */
function readFailed(fileIndex: number, result: unknown, warn: AssembleWarn): void {
  if (typeof result === 'number') {
    if (result === ENOENT || result === ENODEV) return;
    warn(fileIndex, `read failed: ${ERRNO_NAMES.get(result) ?? 'errno'} (errno ${result})`);
  } else {
    warn(fileIndex, 'no read result for this file (the results array is shorter than the file list)');
  }
}

function failureMessage(error: unknown): string {
  if (error instanceof CgroupParseError) return error.message;
  return `unexpected error while parsing: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * Copies the memory.stat counters that were present. memory.stat is parsed into its own object
 * first so that a file failing halfway leaves no partial values on the sample.
 */
function copyMemoryStat(target: MemorySample, stat: MemoryStat): void {
  if (stat.rssBytes !== undefined) target.rssBytes = stat.rssBytes;
  if (stat.cacheBytes !== undefined) target.cacheBytes = stat.cacheBytes;
  if (stat.swapBytes !== undefined) target.swapBytes = stat.swapBytes;
  if (stat.mappedFileBytes !== undefined) target.mappedFileBytes = stat.mappedFileBytes;
  if (stat.inactiveFileBytes !== undefined) target.inactiveFileBytes = stat.inactiveFileBytes;
  if (stat.activeFileBytes !== undefined) target.activeFileBytes = stat.activeFileBytes;
  if (stat.pgfault !== undefined) target.pgfault = stat.pgfault;
  if (stat.pgmajfault !== undefined) target.pgmajfault = stat.pgmajfault;
}

/** Merges v1's separate byte and operation tables into one entry per device. */
function mergeBlkio(bytes: readonly BlkioDeviceCounters[] | undefined, ops: readonly BlkioDeviceCounters[] | undefined): BlockDeviceSample[] {
  const devices: BlockDeviceSample[] = [];
  if (bytes) {
    for (const entry of bytes) {
      const device: BlockDeviceSample = { major: entry.major, minor: entry.minor };
      if (entry.read !== undefined) device.readBytes = entry.read;
      if (entry.write !== undefined) device.writeBytes = entry.write;
      devices.push(device);
    }
  }
  if (ops) {
    for (const entry of ops) {
      let device = devices.find((d) => d.major === entry.major && d.minor === entry.minor);
      if (!device) {
        device = { major: entry.major, minor: entry.minor };
        devices.push(device);
      }
      if (entry.read !== undefined) device.readOps = entry.read;
      if (entry.write !== undefined) device.writeOps = entry.write;
    }
  }
  return devices;
}

/** Builds the sample of one cgroup on a cgroup v1 host from the results of `files` (see the module comment). */
export function assembleV1(files: readonly StatFile[], results: readonly (string | number)[], offset: number, warn: AssembleWarn): CgroupSample {
  const plan = planFor(files, V1_SLOTS, v1Plans);
  const cpu: CpuSample = {};
  const memory: MemorySample = {};
  const pids: PidsSample = {};
  let blkioBytes: BlkioDeviceCounters[] | undefined;
  let blkioOps: BlkioDeviceCounters[] | undefined;

  for (let i = 0; i < plan.length; i++) {
    const slot = plan[i]!;
    if (slot === Slot.Ignored) continue;
    const text = results[offset + i];
    if (typeof text !== 'string') {
      readFailed(i, text, warn);
      continue;
    }
    try {
      switch (slot) {
        case Slot.CpuacctUsage:
          cpu.usageNanoseconds = parseCpuacctUsage(text);
          break;
        case Slot.CpuacctStat: {
          const stat = parseCpuacctStat(text);
          if (stat.userNanoseconds !== undefined) cpu.userNanoseconds = stat.userNanoseconds;
          if (stat.systemNanoseconds !== undefined) cpu.systemNanoseconds = stat.systemNanoseconds;
          break;
        }
        case Slot.CpuacctUsagePercpu:
          cpu.perCpuNanoseconds = parseCpuacctUsagePercpu(text);
          break;
        case Slot.V1CpuStat: {
          const stat = parseV1CpuStat(text);
          if (stat.periods !== undefined) cpu.periods = stat.periods;
          if (stat.throttledPeriods !== undefined) cpu.throttledPeriods = stat.throttledPeriods;
          if (stat.throttledNanoseconds !== undefined) cpu.throttledNanoseconds = stat.throttledNanoseconds;
          break;
        }
        case Slot.CfsQuota:
          cpu.quotaMicroseconds = parseCfsQuota(text);
          break;
        case Slot.CfsPeriod:
          cpu.periodMicroseconds = parseCfsPeriod(text);
          break;
        case Slot.CpuShares:
          cpu.shares = parseCpuShares(text);
          break;
        case Slot.MemoryUsageInBytes:
          memory.usageBytes = parseMemoryUsageInBytes(text);
          break;
        case Slot.MemoryLimitInBytes:
          memory.limitBytes = parseMemoryLimitInBytes(text);
          break;
        case Slot.MemorySoftLimitInBytes:
          memory.reservationBytes = parseMemorySoftLimitInBytes(text);
          break;
        case Slot.MemswLimitInBytes:
          memory.swapLimitBytes = parseMemswLimitInBytes(text);
          break;
        case Slot.MemoryMaxUsageInBytes:
          memory.maxUsageBytes = parseMemoryMaxUsageInBytes(text);
          break;
        case Slot.V1MemoryStat:
          copyMemoryStat(memory, parseV1MemoryStat(text));
          break;
        case Slot.MemoryFailcnt:
          memory.failcnt = parseMemoryFailcnt(text);
          break;
        case Slot.OomControl: {
          // oom_kill appeared in kernel 4.13; before that the count is unknown, not zero.
          const oom = parseOomControl(text);
          if (oom.oomKill !== undefined) memory.oomKills = oom.oomKill;
          break;
        }
        case Slot.BlkioBytes:
          blkioBytes = parseBlkioStat(text, files[i]!.name);
          break;
        case Slot.BlkioOps:
          blkioOps = parseBlkioStat(text, files[i]!.name);
          break;
        case Slot.PidsCurrent:
          pids.current = parsePidsCurrent(text);
          break;
        case Slot.PidsMax:
          pids.limit = parsePidsMax(text);
          break;
      }
    } catch (error) {
      warn(i, failureMessage(error));
    }
  }

  const sample: CgroupSample = { cpu, memory, pids };
  if (blkioBytes || blkioOps) sample.io = { devices: mergeBlkio(blkioBytes, blkioOps) };
  return sample;
}

/** Builds the sample of one cgroup on the unified (v2) hierarchy from the results of `files`. */
export function assembleV2(files: readonly StatFile[], results: readonly (string | number)[], offset: number, warn: AssembleWarn): CgroupSample {
  const plan = planFor(files, V2_SLOTS, v2Plans);
  const cpu: CpuSample = {};
  const memory: MemorySample = {};
  const pids: PidsSample = {};
  let devices: BlockDeviceSample[] | undefined;
  // undefined = not read; null = "max".
  let memoryMax: number | null | undefined;
  let swapMax: number | null | undefined;
  let memoryCurrentAbsent = false;
  let localOomKills: number | undefined;

  for (let i = 0; i < plan.length; i++) {
    const slot = plan[i]!;
    if (slot === Slot.Ignored) continue;
    const text = results[offset + i];
    if (typeof text !== 'string') {
      if (slot === Slot.MemoryCurrent && text === ENOENT) memoryCurrentAbsent = true;
      readFailed(i, text, warn);
      continue;
    }
    try {
      switch (slot) {
        case Slot.V2CpuStat: {
          const stat = parseV2CpuStat(text);
          if (stat.usageNanoseconds !== undefined) cpu.usageNanoseconds = stat.usageNanoseconds;
          if (stat.userNanoseconds !== undefined) cpu.userNanoseconds = stat.userNanoseconds;
          if (stat.systemNanoseconds !== undefined) cpu.systemNanoseconds = stat.systemNanoseconds;
          if (stat.periods !== undefined) cpu.periods = stat.periods;
          if (stat.throttledPeriods !== undefined) cpu.throttledPeriods = stat.throttledPeriods;
          if (stat.throttledNanoseconds !== undefined) cpu.throttledNanoseconds = stat.throttledNanoseconds;
          break;
        }
        case Slot.CpuMax: {
          const max = parseCpuMax(text);
          cpu.quotaMicroseconds = max.quotaMicroseconds;
          cpu.periodMicroseconds = max.periodMicroseconds;
          break;
        }
        case Slot.CpuWeight:
          cpu.weight = parseCpuWeight(text);
          cpu.shares = cpuWeightToShares(cpu.weight);
          break;
        case Slot.MemoryCurrent:
          memory.usageBytes = parseMemoryCurrent(text);
          break;
        case Slot.MemoryMax:
          memoryMax = parseMemoryMax(text);
          memory.limitBytes = memoryMax;
          break;
        case Slot.MemoryLow: {
          // Docker writes --memory-reservation to memory.low on v2, and an unset reservation
          // reads 0 there (on v1 it reads "unlimited", which the v1 parser turns into null).
          // Both mean "no reservation", so 0 becomes null here. "max" (protect everything)
          // has no finite value to report and is null as well.
          const low = parseMemoryLow(text);
          memory.reservationBytes = low === 0 ? null : low;
          break;
        }
        case Slot.MemorySwapMax:
          swapMax = parseMemorySwapMax(text);
          break;
        case Slot.MemorySwapCurrent:
          memory.swapBytes = parseMemorySwapCurrent(text);
          break;
        case Slot.MemoryPeak:
          memory.maxUsageBytes = parseMemoryPeak(text);
          break;
        case Slot.V2MemoryStat:
          copyMemoryStat(memory, parseV2MemoryStat(text));
          break;
        case Slot.MemoryEvents: {
          const events = parseMemoryEvents(text);
          // cAdvisor and Docker have no v2 failcnt; the closest kernel counter is how often
          // usage hit memory.max, which is what v1's failcnt counts.
          if (events.max !== undefined) {
            memory.failcnt = events.max;
            memory.maxEvents = events.max;
          }
          if (events.high !== undefined) memory.highEvents = events.high;
          if (events.oom !== undefined) memory.oomEvents = events.oom;
          if (events.oomKill !== undefined) memory.oomKills = events.oomKill;
          break;
        }
        case Slot.MemoryEventsLocal:
          localOomKills = parseMemoryEvents(text, 'memory.events.local').oomKill;
          break;
        case Slot.IoStat:
          devices = parseIoStat(text);
          break;
        case Slot.PidsCurrent:
          pids.current = parsePidsCurrent(text);
          break;
        case Slot.PidsMax:
          pids.limit = parsePidsMax(text);
          break;
      }
    } catch (error) {
      warn(i, failureMessage(error));
    }
  }

  // MemorySample.swapLimitBytes keeps v1's meaning, memory + swap (memory.memsw.limit_in_bytes,
  // Docker's --memory-swap), so dashboards read the same on both hierarchies. v2 limits swap
  // alone in memory.swap.max (runc writes memswap − memory there), so add the two back up.
  // Either one unlimited makes the sum unlimited (null); either one unread leaves it unknown.
  if (memoryMax !== undefined && swapMax !== undefined) {
    memory.swapLimitBytes = memoryMax === null || swapMax === null ? null : memoryMax + swapMax;
  }

  // memory.events counts a kill in every descendant too (oomKills, which the OOM monitor diffs and
  // attributes itself); memory.events.local counts this cgroup's own processes, as v1's oom_control
  // and cAdvisor (the victim's cgroup) do. Kernels before 5.2 have no .local.
  if (localOomKills !== undefined) memory.ownOomKills = localOomKills;

  // The v2 root has memory.stat but no memory.current. runc (and with it cAdvisor and Docker)
  // reports the root's usage as anon + file from that memory.stat, what v1's root
  // memory.usage_in_bytes counts (rss + cache); without it the host's usage and working set
  // (container_memory_working_set_bytes{id="/"}, the dashboard's Host memory panel) do not exist
  // on a v2 host. Only where memory.current is absent: a cgroup that has it means exactly that.
  if (memoryCurrentAbsent && memory.rssBytes !== undefined && memory.cacheBytes !== undefined) {
    memory.usageBytes = memory.rssBytes + memory.cacheBytes;
  }

  const sample: CgroupSample = { cpu, memory, pids };
  if (devices) sample.io = { devices };
  return sample;
}
