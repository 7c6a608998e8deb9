/**
 * Turns raw counters into the numbers people know from `docker stats`. Pure: the previous and the
 * current sample go in, ContainerStats come out. Unknown stays undefined; it is never guessed as 0.
 */
import type { CgroupSample, ContainerStats, HostSample, NetworkInterfaceSample } from '../model';

/** One cgroup's reading at one tick, kept until the next tick for rates. */
export interface TimedSample {
  /** Units: milliseconds since the Unix epoch. */
  timestampMs: number;
  sample: CgroupSample;
  host: HostSample;
}

/** docker's CPU %: (Δcgroup CPU / Δhost CPU) × online CPUs × 100, when both deltas are positive. */
export function cpuPercent(previous: TimedSample, current: TimedSample): number | undefined {
  const before = previous.sample.cpu.usageNanoseconds;
  const after = current.sample.cpu.usageNanoseconds;
  if (before === undefined || after === undefined) return undefined;
  const cgroupDelta = after - before;
  const systemDelta = current.host.systemCpuNanoseconds - previous.host.systemCpuNanoseconds;
  if (systemDelta <= 0 || cgroupDelta < 0) return undefined;
  return (cgroupDelta / systemDelta) * current.host.onlineCpus * 100;
}

/** Sum of rx/tx bytes over the interfaces docker counts: every one but loopback. */
export function networkTotals(interfaces: readonly NetworkInterfaceSample[] | undefined): { rxBytes: number; txBytes: number } | undefined {
  if (!interfaces) return undefined;
  let rxBytes = 0;
  let txBytes = 0;
  for (const iface of interfaces) {
    if (iface.name === 'lo') continue;
    rxBytes += iface.rxBytes;
    txBytes += iface.txBytes;
  }
  return { rxBytes, txBytes };
}

/** Bytes read and written over all devices; undefined when there is no I/O accounting. */
export function blockTotals(sample: CgroupSample): { readBytes: number; writeBytes: number } | undefined {
  if (!sample.io) return undefined;
  let readBytes = 0;
  let writeBytes = 0;
  for (const device of sample.io.devices) {
    readBytes += device.readBytes ?? 0;
    writeBytes += device.writeBytes ?? 0;
  }
  return { readBytes, writeBytes };
}

function ratePerSecond(before: number | undefined, after: number | undefined, seconds: number): number | undefined {
  if (before === undefined || after === undefined || seconds <= 0 || after < before) return undefined;
  return (after - before) / seconds;
}

export function deriveStats(previous: TimedSample | undefined, current: TimedSample): ContainerStats {
  const { sample, host } = current;
  // Every field in one literal, so all cgroups share one object shape allocated at once: added one
  // by one, the 20-odd properties cost ~900 bytes a cgroup a tick in property-store copies (the
  // largest allocation of an agent tick at 1000 cgroups), in one literal ~300. Unknown stays
  // undefined as before (JSON and the live API leave it out).
  const stats: ContainerStats = {
    timestampMs: current.timestampMs,
    cpuPercent: undefined,
    cpuUsageSeconds: undefined,
    cpuLimitCpus: undefined,
    cpuThrottledPeriodsDelta: undefined,
    cpuThrottledPercent: undefined,
    cpuThrottledPeriods: undefined,
    cpuThrottledSeconds: undefined,
    memoryUsageBytes: undefined,
    memoryWorkingSetBytes: undefined,
    memoryLimitBytes: undefined,
    memoryLimitIsSet: undefined,
    memoryPercent: undefined,
    networkRxBytes: undefined,
    networkTxBytes: undefined,
    networkRxBytesPerSecond: undefined,
    networkTxBytesPerSecond: undefined,
    blockReadBytes: undefined,
    blockWriteBytes: undefined,
    blockReadBytesPerSecond: undefined,
    blockWriteBytesPerSecond: undefined,
    pids: undefined,
    pidsLimit: undefined,
    oomKills: undefined,
  };

  // CPU
  const { cpu } = sample;
  if (cpu.usageNanoseconds !== undefined) stats.cpuUsageSeconds = cpu.usageNanoseconds / 1e9;
  if (cpu.quotaMicroseconds !== undefined) {
    stats.cpuLimitCpus =
      cpu.quotaMicroseconds === null || !cpu.periodMicroseconds ? null : cpu.quotaMicroseconds / cpu.periodMicroseconds;
  }
  if (cpu.throttledPeriods !== undefined) stats.cpuThrottledPeriods = cpu.throttledPeriods;
  if (cpu.throttledNanoseconds !== undefined) stats.cpuThrottledSeconds = cpu.throttledNanoseconds / 1e9;

  // Memory: docker stats' MEM USAGE is usage minus inactive file cache (cAdvisor's working set).
  const { memory } = sample;
  if (memory.usageBytes !== undefined) {
    stats.memoryUsageBytes = memory.usageBytes;
    const inactive = memory.inactiveFileBytes;
    stats.memoryWorkingSetBytes =
      inactive !== undefined && inactive < memory.usageBytes ? memory.usageBytes - inactive : memory.usageBytes;
  }
  if (memory.limitBytes !== undefined) {
    // docker clamps an unset or larger-than-host limit to the host's memory.
    const hostBytes = host.memoryTotalBytes;
    const own = memory.limitBytes;
    const isSet = own !== null && (hostBytes === undefined || own < hostBytes);
    const effective = isSet ? own : hostBytes;
    if (effective !== undefined && effective !== null) {
      stats.memoryLimitBytes = effective;
      stats.memoryLimitIsSet = isSet;
      if (stats.memoryWorkingSetBytes !== undefined && effective > 0) {
        stats.memoryPercent = (stats.memoryWorkingSetBytes / effective) * 100;
      }
    }
  } else if (sample.memory.usageBytes !== undefined && host.memoryTotalBytes !== undefined) {
    // The root cgroup has no limit file on v2: its limit is the host's memory.
    stats.memoryLimitBytes = host.memoryTotalBytes;
    stats.memoryLimitIsSet = false;
    if (stats.memoryWorkingSetBytes !== undefined) stats.memoryPercent = (stats.memoryWorkingSetBytes / host.memoryTotalBytes) * 100;
  }
  // The cgroup's own kills: on v2 memory.events would also count every descendant's.
  const oomKills = memory.ownOomKills ?? memory.oomKills;
  if (oomKills !== undefined) stats.oomKills = oomKills;

  // Network and block I/O totals
  const network = networkTotals(sample.network);
  if (network) {
    stats.networkRxBytes = network.rxBytes;
    stats.networkTxBytes = network.txBytes;
  }
  const block = blockTotals(sample);
  if (block) {
    stats.blockReadBytes = block.readBytes;
    stats.blockWriteBytes = block.writeBytes;
  }

  // PIDs
  if (sample.pids.current !== undefined) stats.pids = sample.pids.current;
  if (sample.pids.limit !== undefined) stats.pidsLimit = sample.pids.limit;

  if (!previous) return stats;

  // Everything below needs the previous sample.
  const percent = cpuPercent(previous, current);
  if (percent !== undefined) stats.cpuPercent = percent;

  const before = previous.sample.cpu;
  if (cpu.periods !== undefined && before.periods !== undefined && cpu.throttledPeriods !== undefined && before.throttledPeriods !== undefined) {
    const periods = cpu.periods - before.periods;
    const throttled = cpu.throttledPeriods - before.throttledPeriods;
    if (periods >= 0 && throttled >= 0) {
      stats.cpuThrottledPeriodsDelta = throttled;
      stats.cpuThrottledPercent = periods > 0 ? (throttled / periods) * 100 : 0;
    }
  }

  const seconds = (current.timestampMs - previous.timestampMs) / 1000;
  const previousNetwork = networkTotals(previous.sample.network);
  const rx = ratePerSecond(previousNetwork?.rxBytes, network?.rxBytes, seconds);
  const tx = ratePerSecond(previousNetwork?.txBytes, network?.txBytes, seconds);
  if (rx !== undefined) stats.networkRxBytesPerSecond = rx;
  if (tx !== undefined) stats.networkTxBytesPerSecond = tx;
  const previousBlock = blockTotals(previous.sample);
  const read = ratePerSecond(previousBlock?.readBytes, block?.readBytes, seconds);
  const write = ratePerSecond(previousBlock?.writeBytes, block?.writeBytes, seconds);
  if (read !== undefined) stats.blockReadBytesPerSecond = read;
  if (write !== undefined) stats.blockWriteBytesPerSecond = write;

  return stats;
}
