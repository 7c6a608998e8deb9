/**
 * Plain types describing the host's cgroup hierarchies and the raw counters read from them.
 * No I/O here: everything below server/model is data only.
 */

/** How the host mounts cgroups: only v1 hierarchies, only the unified v2 one, or both side by side. */
export type CgroupMode = 'v1' | 'v2' | 'hybrid';

/** The v1 controllers capstan reads or writes. */
export type V1Controller = 'cpu' | 'cpuacct' | 'cpuset' | 'memory' | 'blkio' | 'pids' | 'freezer';

export const V1_CONTROLLERS: readonly V1Controller[] = ['cpu', 'cpuacct', 'cpuset', 'memory', 'blkio', 'pids', 'freezer'];

/**
 * Where the host's cgroup hierarchies are mounted and which one carries the controllers.
 * On a hybrid host the controllers live on v1 and the v2 mount is (usually) empty, so
 * `controllersOn` is 1 there.
 */
export interface CgroupLayout {
  mode: CgroupMode;
  /** The hierarchy version that capstan reads stats from and writes limits to. */
  controllersOn: 1 | 2;
  /** v1: controller → absolute mount directory (a co-mounted "cpu,cpuacct" appears under both names). */
  v1Mounts: Partial<Record<V1Controller, string>>;
  /** v2: absolute mount directory of the unified hierarchy, when mounted. */
  v2Mount?: string;
  /** v2: controllers listed in the root's cgroup.controllers. */
  v2Controllers: string[];
}

/**
 * A cgroup is named by its path relative to the hierarchy root, always starting with "/":
 * "/" is the root, "/system.slice/ssh.service" a systemd unit. This is cAdvisor's `id` label.
 */
export type CgroupPath = string;

/** CPU counters of one cgroup at one instant. Absent fields are unknown, never zero. */
export interface CpuSample {
  /** Total CPU time consumed. Units: nanoseconds. */
  usageNanoseconds?: number;
  /** CPU time in user mode. Units: nanoseconds. */
  userNanoseconds?: number;
  /** CPU time in kernel mode. Units: nanoseconds. */
  systemNanoseconds?: number;
  /** Per-CPU usage (v1 only: cpuacct.usage_percpu). Units: nanoseconds, index = CPU number. */
  perCpuNanoseconds?: number[];
  /** Enforcement periods elapsed while the cgroup had runnable tasks. Units: periods (count). */
  periods?: number;
  /** Periods in which the cgroup was throttled. Units: periods (count). */
  throttledPeriods?: number;
  /** Total time spent throttled. Units: nanoseconds. */
  throttledNanoseconds?: number;
  /** CFS quota per period; null means unlimited ("max" / -1). Units: microseconds. */
  quotaMicroseconds?: number | null;
  /** CFS period. Units: microseconds. */
  periodMicroseconds?: number;
  /** Relative weight as v1 cpu.shares (v2 cpu.weight is converted back, as cAdvisor does). Units: shares. */
  shares?: number;
  /** v2 only: the raw cpu.weight. Units: weight (1–10000). */
  weight?: number;
}

/** Memory counters of one cgroup at one instant. */
export interface MemorySample {
  /** v1 memory.usage_in_bytes / v2 memory.current (page cache included). Units: bytes. */
  usageBytes?: number;
  /** Hard limit; null means unlimited. Units: bytes. */
  limitBytes?: number | null;
  /** Soft limit (v1 memory.soft_limit_in_bytes, v2 memory.low); null means none. Units: bytes. */
  reservationBytes?: number | null;
  /** Memory+swap limit (v1 memsw) or swap-only limit on v2 converted to memory+swap; null = unlimited. Units: bytes. */
  swapLimitBytes?: number | null;
  /** v1 memory.max_usage_in_bytes / v2 memory.peak (absent before kernel 5.19). Units: bytes. */
  maxUsageBytes?: number;
  /** Anonymous memory (v1 total_rss, v2 anon). Units: bytes. */
  rssBytes?: number;
  /** Page cache (v1 total_cache, v2 file). Units: bytes. */
  cacheBytes?: number;
  /** Swap in use (v1 total_swap, v2 memory.swap.current). Units: bytes. */
  swapBytes?: number;
  /** Mapped file memory (v1 total_mapped_file, v2 file_mapped). Units: bytes. */
  mappedFileBytes?: number;
  /** Inactive file-backed memory (v1 total_inactive_file, v2 inactive_file). Units: bytes. */
  inactiveFileBytes?: number;
  /** Active file-backed memory. Units: bytes. */
  activeFileBytes?: number;
  /** Times the usage hit the limit (v1 memory.failcnt; v2 memory.events max). Units: count. */
  failcnt?: number;
  /** Page faults. Units: count. */
  pgfault?: number;
  /** Major page faults. Units: count. */
  pgmajfault?: number;
  /** Processes killed by the OOM killer in this cgroup (v1 memory.oom_control oom_kill, v2 memory.events oom_kill, which counts every descendant's kills too). Units: count. */
  oomKills?: number;
  /** v2 only: kills of this cgroup's own processes, not its descendants' (memory.events.local oom_kill, kernel ≥ 5.2). On v1 oomKills is already that. Units: count. */
  ownOomKills?: number;
  /** Times the cgroup hit its limit and the OOM path ran (v1 oom_control under_oom transitions are not counted; v2 memory.events oom). Units: count. */
  oomEvents?: number;
  /** v2 memory.events high. Units: count. */
  highEvents?: number;
  /** v2 memory.events max. Units: count. */
  maxEvents?: number;
}

/** Block I/O counters for one device. */
export interface BlockDeviceSample {
  major: number;
  minor: number;
  /** Units: bytes. */
  readBytes?: number;
  /** Units: bytes. */
  writeBytes?: number;
  /** Units: operations (count). */
  readOps?: number;
  /** Units: operations (count). */
  writeOps?: number;
}

/** Block I/O counters of one cgroup. */
export interface IoSample {
  devices: BlockDeviceSample[];
}

/** PID counters of one cgroup. */
export interface PidsSample {
  /** Tasks (processes and threads) in the cgroup. Units: count. */
  current?: number;
  /** pids.max; null means unlimited. Units: count. */
  limit?: number | null;
}

/** Counters of one network interface, from /proc/<pid>/net/dev. */
export interface NetworkInterfaceSample {
  name: string;
  /** Units: bytes. */
  rxBytes: number;
  /** Units: packets. */
  rxPackets: number;
  /** Units: errors (count). */
  rxErrors: number;
  /** Units: packets. */
  rxDropped: number;
  /** Units: bytes. */
  txBytes: number;
  /** Units: packets. */
  txPackets: number;
  /** Units: errors (count). */
  txErrors: number;
  /** Units: packets. */
  txDropped: number;
}

/** Everything read for one cgroup in one tick. A missing section means the controller is absent. */
export interface CgroupSample {
  cpu: CpuSample;
  memory: MemorySample;
  /** Absent when no blkio/io accounting is available for this cgroup. */
  io?: IoSample;
  pids: PidsSample;
  /** Present only when the cgroup's processes have their own network namespace (or for the root cgroup). */
  network?: NetworkInterfaceSample[];
}

/** Host-wide counters read in the same tick, for docker stats' CPU formula. */
export interface HostSample {
  /** Sum of the first seven fields of /proc/stat's "cpu" line, converted from USER_HZ. Units: nanoseconds. */
  systemCpuNanoseconds: number;
  /** Number of "cpuN" lines in /proc/stat. Units: CPUs (count). */
  onlineCpus: number;
  /** MemTotal from /proc/meminfo. Units: bytes. */
  memoryTotalBytes?: number;
  /** MemAvailable from /proc/meminfo. Units: bytes. */
  memoryAvailableBytes?: number;
}
