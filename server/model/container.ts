/**
 * What a "container" is to capstan: any tracked cgroup, described by the source that knows it best
 * (capstan's runtime, Docker, or the raw source that lists every cgroup on the host).
 */
import type { CgroupPath, CgroupSample } from './cgroup';

/**
 * Which source named this container: its owner. capstan, docker and podman own containers they
 * run; kubernetes cgroups belong to a kubelet; systemd units to systemd; raw cgroups to nobody.
 */
export type SourceKind = 'raw' | 'systemd' | 'capstan' | 'docker' | 'podman' | 'kubernetes';

/** Identity and description of a tracked container. */
export interface ContainerInfo {
  /** Stable 64-hex-digit identifier (a hash of the cgroup path for raw cgroups). */
  id: string;
  /** Human name: a unit name, a container name, or the cgroup path itself. */
  name: string;
  /** Cgroup path relative to the hierarchy root (cAdvisor's `id` label). */
  cgroupPath: CgroupPath;
  /** Image reference; empty when none applies (raw cgroups). */
  image: string;
  source: SourceKind;
  /** True for capstan/docker containers and systemd services; false for plain cgroups (slices, internal nodes). */
  isContainer: boolean;
  /** Free-form labels from the source (an engine's container labels). */
  labels: Record<string, string>;
  /** The image's id ("sha256:…") where the owner knows it. */
  imageId?: string;
  /**
   * Environment values of the container, only for the names on the agent's allow-list
   * (--env-metadata-whitelist, as cAdvisor's): every other variable is never stored.
   */
  env?: Record<string, string>;
  /** When the cgroup (or container) was created. Units: milliseconds since the Unix epoch. */
  createdAtMs?: number;
}

/**
 * Derived stats for one container at one tick, with docker stats' meanings. Absent = unknown,
 * shown as "--", never 0.
 */
export interface ContainerStats {
  /** When the sample was taken. Units: milliseconds since the Unix epoch. */
  timestampMs: number;
  /** docker stats CPU %: Δcgroup CPU / Δhost CPU × online CPUs × 100. Units: percent (100 = one CPU). */
  cpuPercent?: number;
  /** Cumulative CPU time. Units: seconds. */
  cpuUsageSeconds?: number;
  /** CFS quota as a number of CPUs; null = unlimited. Units: CPUs. */
  cpuLimitCpus?: number | null;
  /** Throttled periods since the previous sample. Units: periods (count). */
  cpuThrottledPeriodsDelta?: number;
  /** Throttled periods / elapsed periods since the previous sample. Units: percent. */
  cpuThrottledPercent?: number;
  /** Cumulative throttled periods. Units: periods (count). */
  cpuThrottledPeriods?: number;
  /** Cumulative throttled time. Units: seconds. */
  cpuThrottledSeconds?: number;
  /** Raw usage (page cache included). Units: bytes. */
  memoryUsageBytes?: number;
  /** usage − inactive_file, clamped at 0 (docker stats' MEM USAGE, cAdvisor's working set). Units: bytes. */
  memoryWorkingSetBytes?: number;
  /** Effective limit: the cgroup's, or the host's memory when unlimited (as docker shows). Units: bytes. */
  memoryLimitBytes?: number;
  /** True when the cgroup has a limit of its own (not clamped to the host's memory). */
  memoryLimitIsSet?: boolean;
  /** working set / limit × 100. Units: percent. */
  memoryPercent?: number;
  /** Cumulative bytes received over the container's interfaces (lo excluded). Units: bytes. */
  networkRxBytes?: number;
  /** Cumulative bytes transmitted. Units: bytes. */
  networkTxBytes?: number;
  /** Receive rate since the previous sample. Units: bytes per second. */
  networkRxBytesPerSecond?: number;
  /** Transmit rate since the previous sample. Units: bytes per second. */
  networkTxBytesPerSecond?: number;
  /** Cumulative bytes read from block devices. Units: bytes. */
  blockReadBytes?: number;
  /** Cumulative bytes written to block devices. Units: bytes. */
  blockWriteBytes?: number;
  /** Read rate since the previous sample. Units: bytes per second. */
  blockReadBytesPerSecond?: number;
  /** Write rate since the previous sample. Units: bytes per second. */
  blockWriteBytesPerSecond?: number;
  /** Tasks in the cgroup. Units: count. */
  pids?: number;
  /** pids.max; null = unlimited. Units: count. */
  pidsLimit?: number | null;
  /** OOM kills counted by the kernel in this cgroup. Units: count. */
  oomKills?: number;
}

/** One container as the collector last saw it. */
export interface ContainerSnapshot {
  info: ContainerInfo;
  /** Raw counters from this tick. */
  sample: CgroupSample;
  /** Derived stats (rates need the previous sample; the first tick has none). */
  stats: ContainerStats;
}
