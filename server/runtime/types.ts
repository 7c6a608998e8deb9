/**
 * The runtime's plain types: what a container is configured as and what state it is in. One
 * ContainerRecord per container is persisted as `<stateDir>/containers/<id>/spec.json`.
 */

/** docker's State.Status values (capstan never reports "removing" or "dead" for long). */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** One published port: `-p [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp]`. */
export interface PortBinding {
  /** Address the agent listens on ("127.0.0.1" unless given). */
  hostIp: string;
  /** 0 asks for any free port (`-p 80`). Units: TCP port number. */
  hostPort: number;
  /** Units: TCP port number. */
  containerPort: number;
  protocol: 'tcp';
}

export type RestartPolicyName = 'no' | 'on-failure' | 'always' | 'unless-stopped';

export interface RestartPolicy {
  name: RestartPolicyName;
  /** on-failure only; 0 = retry for ever. Units: restarts (count). */
  maximumRetryCount: number;
}

/** A throttle on one block device, as docker stores it (BlkioDeviceReadBps: [{Path, Rate}]). */
export interface DeviceRate {
  /** The path as given (resolved to MAJ:MIN at each start). */
  path: string;
  /** Units: bytes per second (…Bps) or operations per second (…Iops). */
  rate: number;
}

/**
 * Limits applied to the container's cgroup before its process runs: what `run` set, with every
 * later `update` merged in as docker's UpdateContainer merges it. 0 / null / absent = not set (the
 * optional fields came with `update`; a spec.json written before them has none).
 */
export interface ContainerLimits {
  /** Units: nano-CPUs (1e9 = one CPU). */
  nanoCpus: number;
  /** CFS quota (--cpu-quota); -1 = no cap. Units: microseconds. */
  cpuQuota?: number;
  /** CFS period (--cpu-period). Units: microseconds. */
  cpuPeriod?: number;
  /** Units: shares (v1 cpu.shares; converted to cpu.weight on v2). */
  cpuShares?: number;
  /** CPU list, e.g. "0-1,3". */
  cpusetCpus?: string;
  /** Units: bytes. */
  memoryBytes: number;
  /** Soft limit (--memory-reservation). Units: bytes. */
  memoryReservationBytes?: number;
  /** Memory + swap; -1 = unlimited, 0 = not set. Units: bytes. */
  memorySwapBytes: number;
  /** null = never set; 0 = set to unlimited by an update (docker stores 0 for -1). Units: tasks (count). */
  pidsLimit: number | null;
  /** Units: weight, 10–1000. */
  blkioWeight?: number;
  deviceReadBps?: DeviceRate[];
  deviceWriteBps?: DeviceRate[];
  deviceReadIops?: DeviceRate[];
  deviceWriteIops?: DeviceRate[];
}

export interface ContainerConfig {
  /** The image reference as the user gave it; "" runs on the host's filesystem (read-only). */
  image: string;
  /** The resolved image id ("" for the host filesystem). */
  imageId: string;
  /** The process to run: entrypoint + cmd, after the image's defaults were applied. */
  args: string[];
  entrypoint: string[];
  cmd: string[];
  /** "KEY=value". */
  env: string[];
  workingDir: string;
  /** As given: "", "name", "uid", "name:group", "uid:gid". Resolved at each start. */
  user: string;
  hostname: string;
  tty: boolean;
  openStdin: boolean;
  labels: Record<string, string>;
}

/** One mount of a container, resolved at create (docker's MountPoint). */
export interface ContainerMount {
  type: 'bind' | 'volume' | 'tmpfs';
  /** The volume's name; "" for binds and tmpfs. */
  name: string;
  /** Host path: the bind's source or the volume's _data folder; "" for tmpfs. */
  source: string;
  /** Absolute path inside the container. */
  destination: string;
  readOnly: boolean;
  /** docker's Mode: the -v mode text ("ro", "z") or "". */
  mode: string;
  /** A volume this container made for `-v /path` (rm -v and --rm remove it). */
  anonymous: boolean;
  /** A volume not yet started with: copy the image's content into it if it is empty. */
  copyUp: boolean;
  /** tmpfs: mount(8) options as given (size=64m, mode=1777, exec, ...). */
  tmpfsOptions: string[];
}

export interface HostConfig {
  limits: ContainerLimits;
  portBindings: PortBinding[];
  restartPolicy: RestartPolicy;
  autoRemove: boolean;
  /** --security-opt as given (a seccomp profile file as its JSON content); absent in older spec.json = []. */
  securityOpt?: string[];
  /** --cap-add / --cap-drop, normalized (CAP_NET_ADMIN, ALL); absent = []. */
  capAdd?: string[];
  capDrop?: string[];
  /** --group-add as given (names or gids), resolved at each start and exec; absent = []. */
  groupAdd?: string[];
  /** -v, --mount, --tmpfs, --volumes-from, resolved; absent in older spec.json = []. */
  mounts?: ContainerMount[];
}

export interface ContainerState {
  status: ContainerStatus;
  /** Host PID of the main process; 0 when not running. */
  pid: number;
  /** /proc/<pid>/stat start time of `pid`, to tell PID reuse apart. Units: clock ticks since boot. */
  startTimeTicks: number;
  shimPid: number;
  /** RFC 3339 with nanoseconds, UTC; "0001-01-01T00:00:00Z" when never. */
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  oomKilled: boolean;
  /**
   * OOM kills of the current run already reported as `oom` events (absent in older spec.json: 0),
   * so an agent that re-adopts the container reports only the kills it missed. Units: kills (count).
   */
  oomKillsReported?: number;
  /** Why the last start failed ("" when it did not). */
  error: string;
  /** Units: restarts (count). */
  restartCount: number;
  /** Stopped by a user (stop, kill, rm -f): restart policies leave it alone. */
  manuallyStopped: boolean;
  /** Host addresses actually bound while running (hostPort resolved when 0 was asked). */
  boundPorts: PortBinding[];
}

export interface ContainerRecord {
  /** Format version of spec.json. */
  version: 1;
  id: string;
  name: string;
  /** RFC 3339 with nanoseconds, UTC. */
  created: string;
  /** The container's cgroup, fixed at create (a later agent with another --cgroup-parent still finds it). */
  cgroupPath?: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  state: ContainerState;
}

/** docker's zero time, for StartedAt/FinishedAt that never happened. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** What the rest of capstan may ask the runtime about one container (the source, the API list). */
export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  imageId: string;
  status: ContainerStatus;
  pid: number;
  labels: Record<string, string>;
  cgroupPath: string;
  /** Units: milliseconds since the Unix epoch. */
  createdAtMs: number;
  /** The last run's exit code (0 before any run). */
  exitCode: number;
  /** Whether the kernel OOM-killed the last run. */
  oomKilled: boolean;
}
