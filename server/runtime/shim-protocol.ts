/**
 * The contract between the agent (TypeScript, server/runtime) and capstan-shim (C, native/src/shim),
 * the small per-container parent process, like conmon. The agent decides everything and writes it
 * into config.json; the shim only performs syscalls and reports what happened through files in the
 * container's directory and a status pipe. Both sides must keep to this file.
 *
 *   <stateDir>/containers/<id>/
 *     config.json     ShimConfig, written atomically by the agent before the shim starts
 *     shim.pid        the shim's PID, one line (written by the shim once daemonized)
 *     init.json       InitRecord: the container's main process, written by the shim after exec succeeded
 *     exit.json       ExitRecord, written atomically by the shim when the main process ended
 *     container.log   LogLine per line (JSON), rotated to container.log.1 … .N
 *     attach.sock     unix socket for the pty of a `-t` container (shim listens, agent connects)
 *
 * Start-up: the agent runs `capstan-shim start <container-dir>` with fd 3 a pipe (the status pipe).
 * The shim double-forks and calls setsid, so it outlives the agent, then writes StatusMessage JSON
 * lines to fd 3 and closes it: exactly one of {"type":"started",...} or {"type":"error",...}.
 * The main process is placed in every cgroup listed in config.cgroupProcsFiles BEFORE it execs.
 *
 * Exec: `capstan-shim exec <container-dir> <exec-config.json>` joins the main process's namespaces
 * and cgroups and runs a command; same status pipe protocol; with tty it serves a pty on the
 * exec config's socket path.
 */

/** Written by the agent; read once by the shim. Every path is absolute and already validated. */
export interface ShimConfig {
  /** 64-hex container id. */
  id: string;
  /** argv of the main process; argv[0] is looked up in PATH inside the rootfs. */
  args: string[];
  /** "KEY=value" entries, PATH included. */
  env: string[];
  /** Working directory inside the container. */
  cwd: string;
  /** Numeric ids: the agent resolves names from the image's /etc/passwd. */
  user: { uid: number; gid: number; additionalGids: number[] };
  hostname: string;
  /** Allocate a pty and serve it on attachSocket; otherwise stdout/stderr go to the log. */
  tty: boolean;
  /** Keep stdin open (with tty: the pty; without: attachSocket carries stdin). */
  openStdin: boolean;
  attachSocket: string;
  /**
   * The root filesystem. "host": bind the host's / read-only with a private writable /tmp.
   * "overlay": mount overlayfs with these layers (lowest first) and the container's own upper/work.
   */
  rootfs:
    | { kind: 'host'; mountpoint: string }
    | { kind: 'overlay'; lowerDirs: string[]; upperDir: string; workDir: string; mountpoint: string };
  /** cgroup.procs files of the container's cgroups (one per v1 hierarchy, one on v2). */
  cgroupProcsFiles: string[];
  /** Capabilities kept (names as in capability(7), e.g. "CAP_CHOWN"); Docker's default set. */
  capabilities: string[];
  /** Paths masked with /dev/null (files) or an empty read-only tmpfs (directories). */
  maskedPaths: string[];
  /** Paths remounted read-only. */
  readonlyPaths: string[];
  log: { path: string; maxBytes: number; maxFiles: number };
  /** Where the shim writes its records. */
  initRecordPath: string;
  exitRecordPath: string;
  shimPidPath: string;
}

/** One status-pipe line. */
export type StatusMessage =
  | { type: 'started'; pid: number; /** /proc/<pid>/stat field 22, to tell PID reuse apart. Units: clock ticks since boot. */ startTimeTicks: number }
  | { type: 'error'; /** "exec", "cgroup", "mount", "pivot_root", "setns", "capabilities", ... */ stage: string; code: string; errno: number; message: string; /** docker's convention: 127 command not found, 126 not executable. */ exitCode?: number };

/** init.json */
export interface InitRecord {
  pid: number;
  startTimeTicks: number;
  shimPid: number;
  /** Units: RFC 3339 with nanoseconds, UTC. */
  startedAt: string;
}

/** exit.json */
export interface ExitRecord {
  /** 128 + signal when killed by a signal (137 = SIGKILL), as docker reports. */
  exitCode: number;
  /** The signal name when the process was killed by one. */
  signal?: string;
  /** Units: RFC 3339 with nanoseconds, UTC. */
  finishedAt: string;
}

/** One line of container.log. */
export interface LogLine {
  /** Units: RFC 3339 with nanoseconds, UTC. */
  time: string;
  stream: 'stdout' | 'stderr';
  /** The text, newline included when the process wrote one. */
  log: string;
}

export const CONTAINER_FILES = {
  config: 'config.json',
  shimPid: 'shim.pid',
  init: 'init.json',
  exit: 'exit.json',
  log: 'container.log',
  attach: 'attach.sock',
} as const;

/** Docker's default capability set (moby oci/caps/defaults.go). */
export const DOCKER_DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
] as const;

export const DEFAULT_MASKED_PATHS = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug'] as const;
export const DEFAULT_READONLY_PATHS = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus'] as const;
