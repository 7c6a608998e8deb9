import type { CgroupLayout, HostSample } from './cgroup';
import type { ContainerSnapshot } from './container';

/**
 * Everything one collector tick produced. Readers (/metrics, REST, socket.io) only ever see a
 * complete snapshot: the collector swaps in a new object at the end of a tick.
 */
export interface CollectorSnapshot {
  /** Increments by one per completed tick; lets readers cache work per snapshot. Units: ticks. */
  sequence: number;
  /** When the tick started. Units: milliseconds since the Unix epoch. */
  timestampMs: number;
  /** How long the tick took, reads and derivation included. Units: seconds. */
  tickDurationSeconds: number;
  layout: CgroupLayout;
  host: HostSample;
  /** Every tracked cgroup, keyed by nothing in particular: order is by cgroup path. */
  containers: ContainerSnapshot[];
}

/** Host facts that do not change per tick (from systeminformation at start-up). */
export interface MachineInfo {
  /** Logical CPUs. Units: CPUs (count). */
  cpuCores: number;
  /** Physical cores. Units: cores (count). */
  cpuPhysicalCores?: number;
  cpuModel: string;
  /** Units: bytes. */
  memoryBytes: number;
  /** Units: bytes. */
  swapBytes?: number;
  os: string;
  kernel: string;
  hostname: string;
  machineId?: string;
  bootId?: string;
}
