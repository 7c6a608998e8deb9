/**
 * The container metric families, as a table of descriptors (cAdvisor's `{name, help, valueType,
 * getValues}` idea): names, types, units and meanings are cAdvisor's so existing dashboards and
 * alert rules keep working. Every value comes from the collector's latest snapshot; nothing here
 * reads a file.
 *
 * Every series carries the base labels `id` (cgroup path), `name` and `image`, and only those plus
 * the family's own labels: no union of label keys across containers, no runtime labels or env.
 *
 * Absent in the snapshot means unknown, and an unknown value produces no series (never a 0).
 * A family whose `availability` excludes the host's cgroup version is not emitted at all.
 */
import { containerLabelPairs, type ContainerLabelPolicy } from './labels';
import type { ContainerSnapshot } from '../model';
import { escapeLabelValue } from './exposition';
import type { CounterTotals, OwnedContainerFacts } from './retention';

export type ContainerMetricType = 'counter' | 'gauge';

/** One sample of a family for one container; `labels` are the values of the family's `labelNames`, in order. */
export interface MetricValue {
  value: number;
  labels?: readonly string[];
}

/** Host-wide filesystem usage, for the root cgroup's container_fs_* series (cAdvisor reports the host's mounts there). */
export interface FilesystemUsage {
  /** Device node, e.g. "/dev/sda1" (the `device` label). */
  device: string;
  mountpoint: string;
  /** Units: bytes. */
  usedBytes: number;
  /** Units: bytes. */
  sizeBytes: number;
}

/** What a descriptor may consult besides the container itself; built once per render. */
export interface CollectContext {
  /** Which cgroup version the stats were read from. */
  cgroupVersion: 1 | 2;
  /** Emit per-CPU usage series (v1 only) instead of cpu="total". */
  perCpu: boolean;
  /** Online CPUs; per-CPU arrays are cut to this length (the kernel pads them with possible CPUs). Units: CPUs. */
  onlineCpus: number;
  /** When the snapshot's tick started. Units: milliseconds since the Unix epoch. */
  snapshotTimestampMs: number;
  /** Block device number → `device` label. */
  deviceName(major: number, minor: number): string;
  /** OOM kill counts keyed by container name that outlive re-created cgroups; wins over the cgroup's own counter. */
  oomCounts?: ReadonlyMap<string, number>;
  /** When each container name's last OOM kill happened. Units: milliseconds since the Unix epoch. */
  lastOomTimesMs?: ReadonlyMap<string, number>;
  /** Host filesystems for the root cgroup's container_fs_usage_bytes / container_fs_limit_bytes. */
  filesystems?: ReadonlyArray<FilesystemUsage>;
  /** Which container labels become container_label_* (default: none). */
  labelPolicy?: ContainerLabelPolicy;
  /** Counter values carried from a container's earlier cgroups (retention.ts), by container id. */
  carried?: ReadonlyMap<string, CounterTotals>;
  /** What the owners (capstan, Docker, Podman) say of their containers, by container id. */
  owned?: ReadonlyMap<string, OwnedContainerFacts>;
}

export interface ContainerMetricDescriptor {
  name: string;
  help: string;
  type: ContainerMetricType;
  /** Unit of the value, for documentation (the README table). */
  unit: string;
  /** Labels beyond the base ones (`id`, `name`, `image`), in the order of MetricValue.labels. */
  labelNames: readonly string[];
  /** Whether the family exists when stats come from cgroup v1 / v2. */
  availability: { v1: boolean; v2: boolean };
  /**
   * A counter whose value comes from the container's cgroup starts again from 0 in a new cgroup
   * (a restart); the old cgroup's last value is then carried and added. False for a counter whose
   * source already outlives the cgroup.
   */
  carriedAcrossCgroups?: boolean;
  /** The container's samples of this family; undefined or empty when unknown. */
  collect(container: ContainerSnapshot, ctx: CollectContext): readonly MetricValue[] | undefined;
  /**
   * For a family with no labels of its own: the one value, undefined when unknown. The renderer
   * uses it to skip collect()'s array and object per sample; collect() gives the same value.
   */
  value?(container: ContainerSnapshot, ctx: CollectContext): number | undefined;
}

/** A table row: a family gives either its single value or its samples. */
type TableEntry = Omit<ContainerMetricDescriptor, 'collect' | 'value'> &
  (
    | { value(container: ContainerSnapshot, ctx: CollectContext): number | undefined; collect?: never }
    | { collect(container: ContainerSnapshot, ctx: CollectContext): readonly MetricValue[] | undefined; value?: never }
  );

/** Labels on every container series, in this order. */
export const BASE_LABEL_NAMES = ['id', 'name', 'image'] as const;

const NS_PER_SECOND = 1e9;
/**
 * cAdvisor reports a limit above 2^62 as 0 ("unlimited"): the kernel's "no limit" is a huge
 * page-aligned number on v1. The collector already maps it to null; this guards raw values.
 */
const UNLIMITED_THRESHOLD_BYTES = 2 ** 62;

/** cAdvisor skips these interfaces: loopback, and the host side of container links and bridges. */
const IGNORED_INTERFACE_PREFIXES = ['lo', 'veth', 'docker', 'nerdctl'];

const BOTH = { v1: true, v2: true } as const;
const V2_ONLY = { v1: false, v2: true } as const;

function one(value: number | undefined): readonly MetricValue[] | undefined {
  return value === undefined ? undefined : [{ value }];
}

function seconds(nanoseconds: number | undefined): number | undefined {
  return nanoseconds === undefined ? undefined : nanoseconds / NS_PER_SECOND;
}

/** null (unlimited) → 0, as cAdvisor reports unlimited limits; undefined stays unknown. */
function limit(value: number | null | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value === null || value >= UNLIMITED_THRESHOLD_BYTES) return 0;
  return value;
}

function hasQuota(c: ContainerSnapshot): boolean {
  const quota = c.sample.cpu.quotaMicroseconds;
  return typeof quota === 'number' && quota > 0;
}

function workingSet(c: ContainerSnapshot): number | undefined {
  if (c.stats.memoryWorkingSetBytes !== undefined) return c.stats.memoryWorkingSetBytes;
  const { usageBytes, inactiveFileBytes } = c.sample.memory;
  if (usageBytes === undefined) return undefined;
  // cAdvisor: usage − inactive_file clamped at 0, or usage alone when inactive_file is unknown.
  return Math.max(0, usageBytes - (inactiveFileBytes ?? 0));
}

function isIgnoredInterface(name: string): boolean {
  for (const prefix of IGNORED_INTERFACE_PREFIXES) if (name.startsWith(prefix)) return true;
  return false;
}

type InterfaceCounter = 'rxBytes' | 'rxPackets' | 'rxErrors' | 'rxDropped' | 'txBytes' | 'txPackets' | 'txErrors' | 'txDropped';

function perInterface(field: InterfaceCounter) {
  return (c: ContainerSnapshot): readonly MetricValue[] | undefined => {
    const interfaces = c.sample.network;
    if (interfaces === undefined) return undefined;
    const values: MetricValue[] = [];
    for (const iface of interfaces) {
      if (isIgnoredInterface(iface.name)) continue;
      values.push({ value: iface[field], labels: [iface.name] });
    }
    return values;
  };
}

type DeviceCounter = 'readBytes' | 'writeBytes' | 'readOps' | 'writeOps';

function perDevice(field: DeviceCounter) {
  return (c: ContainerSnapshot, ctx: CollectContext): readonly MetricValue[] | undefined => {
    const devices = c.sample.io?.devices;
    if (devices === undefined) return undefined;
    const values: MetricValue[] = [];
    for (const device of devices) {
      const value = device[field];
      if (value === undefined) continue;
      values.push({ value, labels: [ctx.deviceName(device.major, device.minor)] });
    }
    return values;
  };
}

/** cAdvisor's container_blkio_device_usage_total: one series per device and operation. */
function blkioDeviceUsage(c: ContainerSnapshot, ctx: CollectContext): readonly MetricValue[] | undefined {
  const devices = c.sample.io?.devices;
  if (devices === undefined) return undefined;
  const values: MetricValue[] = [];
  for (const device of devices) {
    const name = ctx.deviceName(device.major, device.minor);
    const major = String(device.major);
    const minor = String(device.minor);
    if (device.readBytes !== undefined) values.push({ value: device.readBytes, labels: [name, major, minor, 'Read'] });
    if (device.writeBytes !== undefined) values.push({ value: device.writeBytes, labels: [name, major, minor, 'Write'] });
  }
  return values;
}

/** Root cgroup only: one series per filesystem device (the first mount of a device wins, so bind mounts do not duplicate series). */
function perFilesystem(field: 'usedBytes' | 'sizeBytes') {
  return (c: ContainerSnapshot, ctx: CollectContext): readonly MetricValue[] | undefined => {
    if (c.info.cgroupPath !== '/' || ctx.filesystems === undefined) return undefined;
    const seen = new Set<string>();
    const values: MetricValue[] = [];
    for (const fs of ctx.filesystems) {
      if (seen.has(fs.device)) continue;
      seen.add(fs.device);
      values.push({ value: fs[field], labels: [fs.device] });
    }
    return values;
  };
}

function cpuUsage(c: ContainerSnapshot, ctx: CollectContext): readonly MetricValue[] | undefined {
  const perCpu = c.sample.cpu.perCpuNanoseconds;
  if (ctx.perCpu && ctx.cgroupVersion === 1 && perCpu !== undefined && perCpu.length > 0) {
    // As cAdvisor: per-CPU series *replace* cpu="total", so sum by (container) stays the total.
    // The kernel pads cpuacct.usage_percpu with possible-but-absent CPUs; cut to the online count.
    const count = ctx.onlineCpus > 0 ? Math.min(perCpu.length, ctx.onlineCpus) : perCpu.length;
    const values: MetricValue[] = new Array(count);
    for (let i = 0; i < count; i++) {
      values[i] = { value: perCpu[i]! / NS_PER_SECOND, labels: [`cpu${String(i).padStart(2, '0')}`] };
    }
    return values;
  }
  const total = seconds(c.sample.cpu.usageNanoseconds);
  return total === undefined ? undefined : [{ value: total, labels: ['total'] }];
}

function pageFaults(c: ContainerSnapshot): readonly MetricValue[] | undefined {
  const { pgfault, pgmajfault } = c.sample.memory;
  const values: MetricValue[] = [];
  // The model keeps one count per fault type. cAdvisor reports it under both scopes with the same
  // value (v2's memory.stat is hierarchical anyway), so queries filtering on either scope work.
  for (const scope of ['container', 'hierarchy']) {
    if (pgfault !== undefined) values.push({ value: pgfault, labels: ['pgfault', scope] });
    if (pgmajfault !== undefined) values.push({ value: pgmajfault, labels: ['pgmajfault', scope] });
  }
  return values;
}

/** container_state's values; docker's created and removing have no series (nothing ran yet, or it is going). */
export const CONTAINER_STATES = ['running', 'paused', 'exited', 'dead'] as const;
export type ContainerStateName = (typeof CONTAINER_STATES)[number];

/** An owner's status → container_state's state; `restarting` is between two runs, so exited. */
export function containerState(facts: OwnedContainerFacts | undefined): ContainerStateName | undefined {
  switch (facts?.status) {
    case 'running':
    case 'paused':
    case 'exited':
    case 'dead':
      return facts.status;
    case 'restarting':
      return 'exited';
    default:
      return undefined;
  }
}

/** kube-state-metrics' terminated reasons: the kernel's OOM kill, else by exit code. */
export function terminatedReason(facts: OwnedContainerFacts): 'OOMKilled' | 'Completed' | 'Error' | undefined {
  if (facts.oomKilled === true) return 'OOMKilled';
  if (facts.exitCode === undefined) return undefined;
  return facts.exitCode === 0 ? 'Completed' : 'Error';
}

function stateSeries(c: ContainerSnapshot, ctx: CollectContext): readonly MetricValue[] | undefined {
  const state = containerState(ctx.owned?.get(c.info.id));
  if (state === undefined) return undefined;
  return CONTAINER_STATES.map((name) => ({ value: name === state ? 1 : 0, labels: [name] }));
}

/** The owner's facts when the container is not running (exited or dead), else undefined. */
function terminated(c: ContainerSnapshot, ctx: CollectContext): OwnedContainerFacts | undefined {
  const facts = ctx.owned?.get(c.info.id);
  const state = containerState(facts);
  return state === 'exited' || state === 'dead' ? facts : undefined;
}

function oomEvents(c: ContainerSnapshot, ctx: CollectContext): number | undefined {
  // Kills in this cgroup, not in its descendants (v2 memory.events counts those too), as cAdvisor counts them.
  return ctx.oomCounts?.get(c.info.name) ?? c.sample.memory.ownOomKills ?? c.sample.memory.oomKills;
}

/**
 * The table. Order here is by concern for reading; rendering sorts families by name, as
 * Prometheus' Go client (and therefore cAdvisor) does.
 */
const TABLE: TableEntry[] = [
  // --- spec and identity -------------------------------------------------------------------
  {
    name: 'container_state',
    help: 'State of a container of capstan, Docker or Podman: 1 for its current state, 0 for the others (kept after it exits, until it is removed).',
    type: 'gauge',
    unit: 'boolean',
    labelNames: ['state'],
    availability: BOTH,
    collect: stateSeries,
  },
  {
    name: 'container_exit_code',
    help: 'Exit code of the last run of an exited or dead container (128 + signal for a signal death).',
    type: 'gauge',
    unit: 'exit code',
    labelNames: [],
    availability: BOTH,
    value: (c, ctx) => terminated(c, ctx)?.exitCode,
  },
  {
    name: 'container_terminated_reason',
    help: 'Why an exited or dead container\'s last run ended (OOMKilled, Error, Completed), as kube-state-metrics reports it: 1 for the reason.',
    type: 'gauge',
    unit: 'boolean',
    labelNames: ['reason'],
    availability: BOTH,
    collect: (c, ctx) => {
      const facts = terminated(c, ctx);
      const reason = facts && terminatedReason(facts);
      return reason === undefined ? undefined : [{ value: 1, labels: [reason] }];
    },
  },
  {
    name: 'container_last_seen',
    help: 'Last time capstan saw the container (time of the collector tick that sampled it).',
    type: 'gauge',
    unit: 'seconds since the Unix epoch',
    labelNames: [],
    availability: BOTH,
    // cAdvisor uses whole seconds here; the tick time (not the scrape time) keeps renders cacheable.
    value: (c, ctx) => Math.floor((c.stats.timestampMs ?? ctx.snapshotTimestampMs) / 1000),
  },
  {
    name: 'container_start_time_seconds',
    help: 'Time the container (its cgroup) was created, in seconds since the Unix epoch.',
    type: 'gauge',
    unit: 'seconds since the Unix epoch',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.info.createdAtMs === undefined ? undefined : c.info.createdAtMs / 1000,
  },
  {
    name: 'container_spec_cpu_period',
    help: 'CPU CFS period of the container, in microseconds as cAdvisor reports it.',
    type: 'gauge',
    // Kept in microseconds (not seconds) because dashboards divide quota by period and some divide
    // by the literal 100000; both stay correct only with cAdvisor's unit.
    unit: 'microseconds',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.sample.cpu.periodMicroseconds,
  },
  {
    name: 'container_spec_cpu_quota',
    help: 'CPU CFS quota of the container per period, in microseconds; present only when a quota is set.',
    type: 'gauge',
    unit: 'microseconds',
    labelNames: [],
    availability: BOTH,
    value: (c) => (hasQuota(c) ? c.sample.cpu.quotaMicroseconds as number : undefined),
  },
  {
    name: 'container_spec_cpu_shares',
    help: 'CPU share of the container (v2 cpu.weight converted back to v1 shares).',
    type: 'gauge',
    unit: 'shares',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.sample.cpu.shares,
  },
  {
    name: 'container_spec_memory_limit_bytes',
    help: 'Memory limit of the container; 0 when unlimited.',
    type: 'gauge',
    unit: 'bytes',
    labelNames: [],
    availability: BOTH,
    value: (c) => limit(c.sample.memory.limitBytes),
  },
  {
    name: 'container_spec_memory_swap_limit_bytes',
    help: 'Memory plus swap limit of the container; 0 when unlimited.',
    type: 'gauge',
    unit: 'bytes',
    labelNames: [],
    availability: BOTH,
    value: (c) => limit(c.sample.memory.swapLimitBytes),
  },
  {
    name: 'container_spec_memory_reservation_limit_bytes',
    help: 'Memory reservation (v1 soft limit, v2 memory.low) of the container; 0 when none.',
    type: 'gauge',
    unit: 'bytes',
    labelNames: [],
    availability: BOTH,
    value: (c) => limit(c.sample.memory.reservationBytes),
  },

  // --- CPU -----------------------------------------------------------------------------------
  {
    name: 'container_cpu_usage_seconds_total',
    help: 'Cumulative CPU time consumed (cpu="total", or one series per CPU with per-CPU output on cgroup v1).',
    type: 'counter',
    unit: 'seconds',
    labelNames: ['cpu'],
    availability: BOTH,
    collect: cpuUsage,
  },
  {
    name: 'container_cpu_user_seconds_total',
    help: 'Cumulative CPU time spent in user mode.',
    type: 'counter',
    unit: 'seconds',
    labelNames: [],
    availability: BOTH,
    value: (c) => seconds(c.sample.cpu.userNanoseconds),
  },
  {
    name: 'container_cpu_system_seconds_total',
    help: 'Cumulative CPU time spent in kernel mode.',
    type: 'counter',
    unit: 'seconds',
    labelNames: [],
    availability: BOTH,
    value: (c) => seconds(c.sample.cpu.systemNanoseconds),
  },
  {
    name: 'container_cpu_cfs_periods_total',
    help: 'Number of elapsed CFS enforcement periods; present only when a quota is set.',
    type: 'counter',
    unit: 'periods',
    labelNames: [],
    availability: BOTH,
    value: (c) => (hasQuota(c) ? c.sample.cpu.periods : undefined),
  },
  {
    name: 'container_cpu_cfs_throttled_periods_total',
    help: 'Number of CFS periods in which the container was throttled; present only when a quota is set.',
    type: 'counter',
    unit: 'periods',
    labelNames: [],
    availability: BOTH,
    value: (c) => (hasQuota(c) ? c.sample.cpu.throttledPeriods : undefined),
  },
  {
    name: 'container_cpu_cfs_throttled_seconds_total',
    help: 'Total time the container was throttled by CFS; present only when a quota is set.',
    type: 'counter',
    unit: 'seconds',
    labelNames: [],
    availability: BOTH,
    value: (c) => (hasQuota(c) ? seconds(c.sample.cpu.throttledNanoseconds) : undefined),
  },

  // --- memory --------------------------------------------------------------------------------
  {
    name: 'container_memory_usage_bytes',
    help: 'Current memory usage, page cache included (v1 memory.usage_in_bytes, v2 memory.current).',
    type: 'gauge',
    unit: 'bytes',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.sample.memory.usageBytes,
  },
  {
    name: 'container_memory_working_set_bytes',
    help: 'Current working set: usage minus inactive file-backed memory, clamped at 0.',
    type: 'gauge',
    unit: 'bytes',
    labelNames: [],
    availability: BOTH,
    value: (c) => workingSet(c),
  },
  {
    name: 'container_memory_rss',
    help: 'Anonymous memory (v1 total_rss, v2 anon).',
    type: 'gauge',
    unit: 'bytes',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.sample.memory.rssBytes,
  },
  {
    name: 'container_memory_cache',
    help: 'Page cache memory (v1 total_cache, v2 file).',
    type: 'gauge',
    unit: 'bytes',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.sample.memory.cacheBytes,
  },
  {
    name: 'container_memory_swap',
    help: 'Swap in use by the container.',
    type: 'gauge',
    unit: 'bytes',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.sample.memory.swapBytes,
  },
  {
    name: 'container_memory_mapped_file',
    help: 'Size of memory-mapped files (v1 total_mapped_file, v2 file_mapped).',
    type: 'gauge',
    unit: 'bytes',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.sample.memory.mappedFileBytes,
  },
  {
    name: 'container_memory_max_usage_bytes',
    help: 'Maximum memory usage recorded (v1 memory.max_usage_in_bytes, v2 memory.peak; absent on kernels without memory.peak).',
    type: 'gauge',
    unit: 'bytes',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.sample.memory.maxUsageBytes,
  },
  {
    name: 'container_memory_failcnt',
    // v2 has no failcnt file; memory.events "max" counts the same thing (usage about to exceed
    // memory.max), so it is reported instead of cAdvisor's constant 0.
    help: 'Number of times memory usage hit the limit (v1 memory.failcnt; v2 memory.events max).',
    // cAdvisor types this family as a counter, but its name has no _total suffix, which Prometheus'
    // linter (promtool check metrics) rejects for counters. The name is what dashboards depend on,
    // so it stays, and the family is typed gauge (PromQL's rate() does not look at the type).
    type: 'gauge',
    unit: 'events',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.sample.memory.failcnt,
  },
  {
    name: 'container_memory_failures_total',
    help: 'Cumulative count of memory allocation failures (page faults by type; both scopes carry the cgroup\'s count).',
    type: 'counter',
    unit: 'faults',
    labelNames: ['failure_type', 'scope'],
    availability: BOTH,
    collect: pageFaults,
  },
  {
    name: 'container_memory_total_active_file_bytes',
    help: 'File-backed memory on the active LRU list.',
    type: 'gauge',
    unit: 'bytes',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.sample.memory.activeFileBytes,
  },
  {
    name: 'container_memory_total_inactive_file_bytes',
    help: 'File-backed memory on the inactive LRU list.',
    type: 'gauge',
    unit: 'bytes',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.sample.memory.inactiveFileBytes,
  },
  {
    name: 'container_memory_events_high_total',
    help: 'Number of times usage went over memory.high and reclaim was forced (v2 memory.events high).',
    type: 'counter',
    unit: 'events',
    labelNames: [],
    availability: V2_ONLY,
    value: (c) => c.sample.memory.highEvents,
  },
  {
    name: 'container_memory_events_max_total',
    help: 'Number of times usage was about to go over memory.max (v2 memory.events max).',
    type: 'counter',
    unit: 'events',
    labelNames: [],
    availability: V2_ONLY,
    value: (c) => c.sample.memory.maxEvents,
  },
  {
    name: 'container_last_oom_timestamp_seconds',
    help: 'Time of the last OOM kill in the container (kept per container name, as container_oom_events_total), in seconds since the Unix epoch.',
    type: 'gauge',
    unit: 'seconds since the Unix epoch',
    labelNames: [],
    availability: BOTH,
    value: (c, ctx) => {
      const timeMs = ctx.lastOomTimesMs?.get(c.info.name);
      return timeMs === undefined ? undefined : timeMs / 1000;
    },
  },
  {
    name: 'container_oom_events_total',
    help: 'Count of processes killed by the OOM killer in the container (kept per container name across re-creation when available).',
    type: 'counter',
    unit: 'events',
    labelNames: [],
    availability: BOTH,
    // Counted per container name from the event log, which already outlives the cgroup.
    carriedAcrossCgroups: false,
    value: oomEvents,
  },

  // --- tasks ---------------------------------------------------------------------------------
  // pids.current counts tasks (threads), which is what cAdvisor's container_threads reports;
  // container_processes is deliberately not derived from it.
  {
    name: 'container_threads',
    help: 'Number of tasks (threads) in the container (pids.current).',
    type: 'gauge',
    unit: 'tasks',
    labelNames: [],
    availability: BOTH,
    value: (c) => c.sample.pids.current,
  },
  {
    name: 'container_threads_max',
    help: 'Maximum number of tasks allowed in the container (pids.max); 0 when unlimited.',
    type: 'gauge',
    unit: 'tasks',
    labelNames: [],
    availability: BOTH,
    value: (c) => limit(c.sample.pids.limit),
  },

  // --- block I/O -----------------------------------------------------------------------------
  {
    name: 'container_fs_reads_bytes_total',
    help: 'Cumulative bytes read from the block device.',
    type: 'counter',
    unit: 'bytes',
    labelNames: ['device'],
    availability: BOTH,
    collect: perDevice('readBytes'),
  },
  {
    name: 'container_fs_writes_bytes_total',
    help: 'Cumulative bytes written to the block device.',
    type: 'counter',
    unit: 'bytes',
    labelNames: ['device'],
    availability: BOTH,
    collect: perDevice('writeBytes'),
  },
  {
    name: 'container_fs_reads_total',
    help: 'Cumulative count of read operations completed on the block device.',
    type: 'counter',
    unit: 'operations',
    labelNames: ['device'],
    availability: BOTH,
    collect: perDevice('readOps'),
  },
  {
    name: 'container_fs_writes_total',
    help: 'Cumulative count of write operations completed on the block device.',
    type: 'counter',
    unit: 'operations',
    labelNames: ['device'],
    availability: BOTH,
    collect: perDevice('writeOps'),
  },
  {
    name: 'container_blkio_device_usage_total',
    help: 'Bytes transferred to and from the block device, by operation (Read, Write), as cAdvisor reports blkio.',
    type: 'counter',
    unit: 'bytes',
    labelNames: ['device', 'major', 'minor', 'operation'],
    availability: BOTH,
    collect: blkioDeviceUsage,
  },
  {
    name: 'container_fs_usage_bytes',
    help: 'Bytes used on the filesystem (root cgroup only: the host\'s filesystems).',
    type: 'gauge',
    unit: 'bytes',
    labelNames: ['device'],
    availability: BOTH,
    collect: perFilesystem('usedBytes'),
  },
  {
    name: 'container_fs_limit_bytes',
    help: 'Size of the filesystem (root cgroup only: the host\'s filesystems).',
    type: 'gauge',
    unit: 'bytes',
    labelNames: ['device'],
    availability: BOTH,
    collect: perFilesystem('sizeBytes'),
  },

  // --- network -------------------------------------------------------------------------------
  {
    name: 'container_network_receive_bytes_total',
    help: 'Cumulative bytes received on the interface.',
    type: 'counter',
    unit: 'bytes',
    labelNames: ['interface'],
    availability: BOTH,
    collect: perInterface('rxBytes'),
  },
  {
    name: 'container_network_transmit_bytes_total',
    help: 'Cumulative bytes transmitted on the interface.',
    type: 'counter',
    unit: 'bytes',
    labelNames: ['interface'],
    availability: BOTH,
    collect: perInterface('txBytes'),
  },
  {
    name: 'container_network_receive_packets_total',
    help: 'Cumulative packets received on the interface.',
    type: 'counter',
    unit: 'packets',
    labelNames: ['interface'],
    availability: BOTH,
    collect: perInterface('rxPackets'),
  },
  {
    name: 'container_network_transmit_packets_total',
    help: 'Cumulative packets transmitted on the interface.',
    type: 'counter',
    unit: 'packets',
    labelNames: ['interface'],
    availability: BOTH,
    collect: perInterface('txPackets'),
  },
  {
    name: 'container_network_receive_packets_dropped_total',
    help: 'Cumulative received packets dropped on the interface.',
    type: 'counter',
    unit: 'packets',
    labelNames: ['interface'],
    availability: BOTH,
    collect: perInterface('rxDropped'),
  },
  {
    name: 'container_network_transmit_packets_dropped_total',
    help: 'Cumulative transmitted packets dropped on the interface.',
    type: 'counter',
    unit: 'packets',
    labelNames: ['interface'],
    availability: BOTH,
    collect: perInterface('txDropped'),
  },
  {
    name: 'container_network_receive_errors_total',
    help: 'Cumulative receive errors on the interface.',
    type: 'counter',
    unit: 'errors',
    labelNames: ['interface'],
    availability: BOTH,
    collect: perInterface('rxErrors'),
  },
  {
    name: 'container_network_transmit_errors_total',
    help: 'Cumulative transmit errors on the interface.',
    type: 'counter',
    unit: 'errors',
    labelNames: ['interface'],
    availability: BOTH,
    collect: perInterface('txErrors'),
  },
];

function descriptorOf(entry: TableEntry): ContainerMetricDescriptor {
  if (entry.value === undefined) return entry as ContainerMetricDescriptor;
  const value = entry.value;
  return { ...entry, value, collect: (c, ctx) => one(value(c, ctx)) };
}

/** Every container family, sorted by name (render order). */
export const CONTAINER_METRICS: readonly ContainerMetricDescriptor[] = TABLE.map(descriptorOf).sort((a, b) =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
);

/**
 * The `id`, `name`, `image` label pairs of one container, escaped, without braces; then its
 * container_label_* and container_env_* pairs when a policy is given.
 */
export function baseLabels(c: ContainerSnapshot, policy?: ContainerLabelPolicy): string {
  const base = `id="${escapeLabelValue(c.info.cgroupPath)}",name="${escapeLabelValue(c.info.name)}",image="${escapeLabelValue(c.info.image)}"`;
  return policy ? base + containerLabelPairs(c.info, policy) : base;
}

/** A series of one family among one container's series: the family name and its own label values. */
export function seriesKey(family: string, labels: readonly string[] | undefined): string {
  return labels === undefined || labels.length === 0 ? family : `${family}\u0000${labels.join('\u0000')}`;
}

/** Whether a family's values are carried from a container's earlier cgroups (retention.ts). */
export function carries(d: ContainerMetricDescriptor): boolean {
  return d.type === 'counter' && d.carriedAcrossCgroups !== false;
}

/**
 * The values of every carried counter of `container` as rendered now, `carried` added: what a
 * new cgroup of the same container must start from so that its counters never go backwards.
 */
export function counterTotals(
  container: ContainerSnapshot,
  ctx: CollectContext,
  carried: CounterTotals | undefined,
  descriptors: readonly ContainerMetricDescriptor[] = CONTAINER_METRICS,
): CounterTotals {
  const totals = new Map<string, number>(carried ?? []);
  const version = ctx.cgroupVersion === 1 ? 'v1' : 'v2';
  for (const d of descriptors) {
    if (!carries(d) || !d.availability[version]) continue;
    for (const v of d.collect(container, ctx) ?? []) {
      if (!Number.isFinite(v.value)) continue;
      const key = seriesKey(d.name, v.labels);
      totals.set(key, (carried?.get(key) ?? 0) + v.value);
    }
  }
  return totals;
}

