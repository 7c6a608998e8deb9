/**
 * The surface of capstan's Node-API addon (native/src). Native code makes syscalls and reports
 * errno; everything else (paths, validation, v1/v2 choice, retries) is decided in TypeScript.
 *
 * A per-file result is either the file's text or the errno of the failure (ENOENT = 2 means
 * "not there", which callers treat as "feature absent", not as an error).
 */
export type TextOrErrno = string | number;

/**
 * One background thread (epoll on a wake eventfd plus every watch's fd) for all OOM watches,
 * delivering "watch N fired" to the JS thread through a thread-safe function. It only says that
 * something happened: callers read and diff the oom_kill counters to tell a kill from an OOM
 * condition (v1) or another memory.events change (v2). It does not keep the process alive.
 */
export interface NativeOomWatcher {
  /**
   * cgroup v1: eventfd registered through <dir>/cgroup.event_control on <dir>/memory.oom_control;
   * `memoryCgroupDir` is the cgroup's directory in the memory hierarchy. Returns the watch id.
   * Throws NativeError (syscall 'eventfd' | 'open' | 'write' | 'epoll_ctl', with the path).
   */
  watchV1(memoryCgroupDir: string): number;
  /** cgroup v2: inotify IN_MODIFY on <dir>/memory.events. Throws NativeError (syscall 'inotify_add_watch', ...). */
  watchV2(cgroupDir: string): number;
  /** Closes the watch's fds; false when the id is unknown (already unwatched). */
  unwatch(watchId: number): boolean;
  /** Wakes and joins the thread and closes every fd. Idempotent. */
  close(): void;
}

/** What one read of a kept-file set did (all counts are files; Units: files). */
export interface KeptFilesRead {
  /**
   * Per file read (every file, or those due), in batch order: its text, or the errno of the
   * failure. Files not due have no entry: the k-th entry is the k-th due file.
   */
  results: TextOrErrno[];
  /** Read through a kept fd with pread at offset 0. */
  kept: number;
  /** Read with open/read/close (not kept, opened for the first time, or reopened). */
  opened: number;
  /** Kept fds closed because the file answered ENODEV/ENOENT (its cgroup went away). */
  closedVanished: number;
  /** Batch indexes of those files (their cgroup may have been re-created under the same name). */
  vanishedIndexes: number[];
}

export interface NativeBinding {
  /** Hands the addon the JS error class it throws (NativeError), as better-sqlite3 does. */
  initialize(errorClass: Function): void;
  /** Reads every path on a libuv worker thread; one call per collector tick. At most maxBytes per file. */
  readFiles(paths: readonly string[], maxBytes: number): Promise<TextOrErrno[]>;
  /** Same, on the calling thread (tests, one-shot tools). */
  readFilesSync(paths: readonly string[], maxBytes: number): TextOrErrno[];
  /** readlink(2) for every path (used for /proc/<pid>/ns/net). */
  readLinks(paths: readonly string[]): Promise<TextOrErrno[]>;
  /**
   * Walks each root recursively and returns the relative paths ("a", "a/b") of every
   * subdirectory, or the errno if the root itself cannot be opened. Symlinks are not followed.
   */
  listDirectories(roots: readonly string[]): Promise<Array<string[] | number>>;
  /** open(O_WRONLY|O_TRUNC) + one write(2) + close; throws NativeError with syscall and path. */
  writeFile(path: string, data: string): void;
  /**
   * Starts an OOM watcher thread; `callback(watchId, timeMs)` runs on the JS thread, `timeMs` being
   * when the watcher thread woke up for it (CLOCK_REALTIME). Units: milliseconds since the Unix
   * epoch, fractional.
   */
  createOomWatcher(callback: (watchId: number, timeMs: number) => void): NativeOomWatcher;
  /**
   * Connects a TCP socket to 127.0.0.1:port inside the network namespace of `pid`
   * (/proc/<pid>/ns/net), on a dedicated short-lived thread (setns never runs on the JS thread or a
   * libuv pool thread). Resolves with the connected fd (close-on-exec) for `new net.Socket({fd})`;
   * rejects with NativeError (syscall 'open' | 'setns' | 'socket' | 'connect').
   */
  connectInNetns(pid: number, port: number): Promise<number>;
  /**
   * Starts `file` with `argv` (argv[0] included) through posix_spawn (no copy of the agent's page
   * tables): new session, stdin /dev/null, stdout and stderr appended to `logPath`, fd 3 one end
   * of a new unix socket pair. Resolves as soon as the process runs, with its pid and the other end
   * (close-on-exec, owned by the caller; readable and writable); the native side then reaps that
   * first process (a daemon forks and exits at once).
   */
  spawnDaemon(file: string, argv: readonly string[], logPath: string): Promise<{ pid: number; statusFd: number }>;
  /** A new, empty kept-file set (the collector's sweep); returns its handle. */
  keptFilesCreate(): number;
  /**
   * Replaces the set's file list. keep[i] = 1: file i may hold an fd between reads (an fd already
   * open for the same path is carried over); every other fd is closed. Throws while a read is in flight.
   */
  keptFilesAssign(handle: number, paths: readonly string[], keep: Uint8Array, singleRecord?: Uint8Array): void;
  /**
   * Reads the files (those with due[i] = 1 when due is given) on a libuv worker thread: kept ones
   * with pread(fd, buf, n, 0), opened on first use; the others with open/read/close. A kept fd
   * answering ENODEV/ENOENT is closed and its path opened once more, so a cgroup removed and
   * re-created under the same name reads fresh.
   */
  keptFilesRead(handle: number, maxBytes: number, due?: Uint8Array): Promise<KeptFilesRead>;
  /** Closes every fd of the set (after a read in flight); idempotent. */
  keptFilesClose(handle: number): void;
  /** A new inotify instance for discovery; throws NativeError (syscall 'inotify_init1'). */
  directoryWatchCreate(): number;
  /**
   * listDirectories, adding an inotify watch (directory created, removed, renamed) on every
   * directory before reading it. watchErrno: the first inotify_add_watch failure (ENOSPC), or 0.
   */
  directoryWatchWalk(handle: number, roots: readonly string[]): Promise<{ listings: Array<string[] | number>; watchErrno: number }>;
  /** Drains the events: true when a directory came or went, or events were lost, since the last call. */
  directoryWatchChanged(handle: number): boolean;
  /** Closes the inotify fd (after a walk in flight); idempotent. */
  directoryWatchClose(handle: number): void;
  /** Raises the soft RLIMIT_NOFILE to the hard one; throws NativeError (syscall 'getrlimit' | 'setrlimit'). */
  raiseOpenFileLimit(): { soft: number; hard: number };
  /** Sets both RLIMIT_NOFILE limits to atLeast where lower; errno 0 or why not (never throws for that). */
  raiseOpenFileLimitTo(atLeast: number): { soft: number; hard: number; errno: number; syscall: string };
}
