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
 * What the agent actually runs is `capstan-shim start --when-told <container-dir>`, with fd 3 one
 * end of a unix socket pair: the shim execs and daemonizes while the agent prepares the container
 * (root filesystem, cgroups, limits, config.json), then waits for one byte on fd 3 ("go") before it
 * reads config.json; end of file instead calls the start off (the shim exits 0 having done nothing).
 * Status lines then come back on the same socket. This takes the shim's own start-up off the path
 * of every container start.
 *
 * Once the main process has its namespaces, the shim holds a reference to its mount namespace
 * until exit.json is written: the kernel's unmount of the container's mounts (an RCU grace period
 * paid inside the last process's exit, before its parent hears of it) then happens after the exit
 * is recorded, not before.
 *
 * Exec: `capstan-shim exec <container-dir> <exec-config.json>` joins the main process's namespaces
 * and cgroups and runs a command; same status pipe protocol; with tty it serves a pty on the
 * exec config's socket path.
 *
 * Additions by the runtime manager (compatible; see ExecConfig, controlSocket, consoleSize):
 * - An exec shim does NOT daemonize: it stays the agent's child, its exit status is the command's
 *   (128 + signal when killed), and it also writes ExecConfig.exitRecordPath. Without tty the
 *   command's stdin/stdout/stderr are the exec shim's own fds 0/1/2 as the agent passed them.
 * - Window size: with tty, the shim also listens on `controlSocket` (unix, SOCK_STREAM) and reads
 *   ControlMessage JSON lines; "resize" sets the pty's size (TIOCSWINSZ on the master).
 * - With tty, pty output also goes to the log as stream "stdout" (so `capstan logs` shows it).
 * - The new network namespace has `lo` up (published ports connect to 127.0.0.1 inside it).
 * - Socket paths can be longer than sun_path (108 bytes) when the state dir is deep (tests use
 *   /tmp/capstan-agent-XXXXXX/containers/<64 hex>/attach.sock = 112): bind them relative to the
 *   container directory (fchdir, or /proc/self/fd/<dirfd>/NAME); the agent connects the same way.
 * - Done (shim): both requests below. exec -t lingers 5 s for its first client (relay_t.linger_ms);
 *   `start` does not (its pty output is in the log, and a detached -t container's exit must not
 *   wait 5 s). The start and exec children join their cgroups themselves ("0" to <dir>/tasks, or
 *   cgroup.procs on v2) before anything else; a failure is stage "cgroup". shim.pid is written
 *   while the child sets itself up (after the fork). shim.pid and init.json are
 *   renamed without fsync; exit.json is renamed first, then synced; the log after exit.json.
 * - Requested (runtime manager): with tty, when no client has connected yet and the process has
 *   already exited, keep the attach socket listening for up to 5 s before the shim exits, so the
 *   first client still receives the replayed output. `exec -t ... sh -c 'tty'` finishes before the
 *   agent has read the "started" line and connected, and an exec has no log to fall back on.
 * - Requested (runtime manager, start latency): on cgroup v1, let the CHILD join its cgroups by
 *   writing "0" to <dir>/tasks (dir = dirname of each cgroupProcsFiles entry) before it execs,
 *   instead of the shim writing its pid to cgroup.procs. A write naming the writer's own single
 *   thread skips the global cgroup_threadgroup_rwsem (percpu_down_write → synchronize_rcu); measured
 *   here: 0.2 ms for 7 hierarchies against 6-16 ms through cgroup.procs, about a third of the
 *   shim's whole start. The child is single-threaded, so moving its thread moves the process.
 *   (v2: clone3 with CLONE_INTO_CGROUP has the same effect.)
 *   Also measured on the start → exit.json path of `true` (shim traces, this machine): init.json's
 *   fsync 1-10 ms, the log's fsync 0.3-5 ms, exit.json's fsyncs 1.5-8 ms. A PID and its start time
 *   mean nothing after a reboot, so shim.pid and init.json need the rename only (no fsync); the
 *   log can be synced after exit.json is in place; exit.json could be renamed first and synced
 *   after (the agent acts on the rename). The start bench's target is a third of `runc run`.
 *
 * How the shim (native/src/shim) behaves, for the agent's side (compatible additions):
 * - Attach socket: raw bytes, no header, one client at a time (a newer connection replaces the
 *   attached one; a client that does not read for 5 s is dropped).
 *   tty: client bytes → the pty; pty output → the client (and the log). Output produced before the
 *   first client ever connected (up to 64 KiB) is sent to that first client, so `run -it` sees the
 *   first prompt. EOF from the client ends that attach; the container keeps running.
 *   no tty + openStdin: client bytes → the container's stdin; nothing is sent back (read output
 *   from container.log). EOF from the client closes the container's stdin, like docker's StdinOnce.
 * - Control socket: any number of ControlMessage lines per connection, up to 4 connections.
 * - Files: `shim.log` in the container directory receives the shim's diagnostics (stderr, append).
 *   On a start failure there is no init.json and no exit.json: the status line is the only record.
 *   exit.json is written after the log is flushed and the sockets are removed.
 * - Error status lines also carry `syscall` and `path` when there are some (see StatusMessage).
 * - ExecConfig: pid/startTimeTicks, cgroupProcsFiles, capabilities and seccomp may be left out;
 *   the shim then reads init.json and config.json of the container directory. A stale pid (start time
 *   differs) is refused with stage "setns", code ESRCH.
 * - `capstan-shim overlay-markers <layer-root>` (used by the image store, not the manager) writes
 *   overlayfs whiteouts and opaque-directory xattrs that Node cannot create.
 * - `capstan-shim seccomp-export <filter.json> <out.bpf>`: builds {"seccomp": <ShimConfig.seccomp>}
 *   with libseccomp and writes the BPF program (write, fsync, rename); exit 0, or 1 with the reason
 *   on stderr. The agent's SeccompProgramCache keeps these for ShimConfig.seccomp.program.
 */

import type { ResolvedSeccomp } from './security/seccomp';

/** ShimConfig.mounts[i]. tmpfs flags default to false here: the agent sets docker's defaults. */
export interface ShimMount {
  kind: 'bind' | 'tmpfs';
  /** bind: absolute host path. */
  source?: string;
  destination: string;
  readOnly: boolean;
  copyUp?: boolean;
  nosuid?: boolean;
  nodev?: boolean;
  noexec?: boolean;
  /** tmpfs: mount data (size=, mode=, uid=, ...). */
  data?: string;
}

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
  /** With tty: unix socket for ControlMessage lines (window size). Optional for compatibility. */
  controlSocket?: string;
  /** With tty: the pty's size at start, before anyone attached. */
  consoleSize?: { rows: number; cols: number };
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
  /**
   * The container's own mounts, in order, after /proc, /dev and /sys and before pivot_root; each
   * destination is resolved inside the root (symlinks cannot lead out of it), created when
   * missing (a file when a bind's source is not a directory). Binds are recursive, private, nodev,
   * and read-only with readOnly. copyUp: before the bind, copy what the root has at the
   * destination into the source when the source is an empty directory. Absent: none.
   */
  mounts?: ShimMount[];
  /**
   * The seccomp filter, resolved for this container (server/runtime/security/seccomp.ts); absent or
   * null: none. The shim loads it as the last step before exec, after no_new_privs: `program`
   * (absolute path), when given, is this filter's BPF as `capstan-shim seccomp-export` wrote it
   * and is loaded as it is; otherwise the shim builds the filter with libseccomp, skipping
   * syscall names libseccomp does not know. The program is read when the config is.
   */
  seccomp?: (ResolvedSeccomp & { program?: string }) | null;
  /**
   * container.log. Before a record would take the file past maxBytes (0: never), it is rotated:
   * container.log → .1 → … → .maxFiles (the oldest dropped; maxFiles 0 drops the old content) and a
   * new container.log is started, so a follower must reopen when the inode changes.
   * Units: bytes, files.
   */
  log: { path: string; maxBytes: number; maxFiles: number };
  /** Where the shim writes its records. */
  initRecordPath: string;
  exitRecordPath: string;
  shimPidPath: string;
}

/**
 * `capstan-shim exec <container-dir> <exec-config.json>`: a process run inside a running container.
 * The shim joins the namespaces of the container's main process (InitRecord.pid, whose start time
 * it checks against startTimeTicks) and the cgroups listed in cgroupProcsFiles, applies the same
 * capabilities, no_new_privs and user, then execs. Status pipe (fd 3) as for start.
 */
export interface ExecConfig {
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  tty: boolean;
  openStdin: boolean;
  /** With tty: the pty is served here (like ShimConfig.attachSocket). */
  attachSocket?: string;
  /** With tty: window-size control socket (like ShimConfig.controlSocket). */
  controlSocket?: string;
  consoleSize?: { rows: number; cols: number };
  /** The container's main process, whose namespaces are joined. */
  pid: number;
  startTimeTicks: number;
  cgroupProcsFiles: string[];
  capabilities: string[];
  /** As ShimConfig.seccomp (null: none); left out, the container's config.json's applies. */
  seccomp?: (ResolvedSeccomp & { program?: string }) | null;
  /** Where the shim writes the ExitRecord of the exec'd command. */
  exitRecordPath: string;
}

/** One line on the control socket. */
export type ControlMessage = { type: 'resize'; rows: number; cols: number };

/** One status-pipe line. */
export type StatusMessage =
  | {
      type: 'started';
      pid: number;
      /** /proc/<pid>/stat field 22, to tell PID reuse apart. Units: clock ticks since boot. */
      startTimeTicks: number;
      /** The shim's own PID (init.json repeats it; `start` writes init.json just after this line). */
      shimPid?: number;
    }
  | {
      type: 'error';
      /** "config", "daemonize", "namespaces", "cgroup", "mount", "pivot_root", "mask", "readonly", "network", "hostname", "tty", "user", "capabilities", "cwd", "seccomp", "exec", "setns", "attach", "log", "sync". */
      stage: string;
      code: string;
      errno: number;
      message: string;
      /** docker's convention: 127 command not found, 126 not executable. */
      exitCode?: number;
      /** The failing syscall ("mount", "execve", ...), when there is one. */
      syscall?: string;
      /** The path the failing step worked on, when there is one. */
      path?: string;
    };

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
  control: 'control.sock',
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

/**
 * Docker's masked paths (moby daemon/pkg/oci/defaults.go); Docker also masks each
 * /sys/devices/system/cpu/cpuN/thermal_throttle that exists (see maskedPathsOfHost).
 */
export const DEFAULT_MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
] as const;
/** Docker's read-only paths (moby daemon/pkg/oci/defaults.go). */
export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'] as const;
