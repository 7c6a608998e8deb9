/**
 * The TypeScript face of capstan's Node-API addon (native/src, surface in ./contract.ts).
 *
 * The addon makes syscalls and reports errno; this module checks inputs (TypeError/RangeError
 * before anything reaches native code), owns the errno → code table, and defines the error class
 * the addon throws. It loads the addon lazily, on the first call, so modules that import it can be
 * unit-tested with fixtures on a machine where the addon was never built.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';

import type { KeptFilesRead, NativeBinding, NativeOomWatcher, TextOrErrno } from './contract';

export type { KeptFilesRead, NativeOomWatcher, TextOrErrno } from './contract';

/** Default per-file cap for readFiles. Units: bytes. Every cgroup file is far below it. */
export const DEFAULT_MAX_FILE_BYTES = 64 * 1024;
/** Largest per-file cap readFiles accepts. Units: bytes. */
export const MAX_FILE_BYTES_LIMIT = 16 * 1024 * 1024;

const errnoNames: ReadonlyMap<number, string> = invertErrnoConstants();

function invertErrnoConstants(): Map<number, string> {
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(os.constants.errno)) {
    // Aliases share a number (EAGAIN/EWOULDBLOCK, ENOTSUP/EOPNOTSUPP). Node lists the name libuv
    // and Node's own fs errors use first, so the first one wins.
    if (!names.has(value)) names.set(value, name);
  }
  return names;
}

/**
 * The symbolic name of a positive errno, as Node's fs errors spell it: 2 → 'ENOENT'.
 * Numbers Node has no name for come back as `E${errno}`.
 */
export function errnoCode(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

function describeErrno(errno: number): string {
  // libuv's wording; only used when the addon did not pass the C library's strerror text.
  return util.getSystemErrorMap().get(-errno)?.[1] ?? `unknown error ${errno}`;
}

/**
 * A failed syscall in native code, shaped like Node's fs errors:
 * `EBUSY: Device or resource busy, write '/sys/fs/cgroup/memory/x/memory.limit_in_bytes'`.
 *
 * Unlike Node's fs errors (errno -16), `errno` is positive (16): the same number readFiles
 * returns in place of a text and os.constants.errno lists, so one comparison fits all three.
 */
export class NativeError extends Error {
  override name = 'NativeError';
  /** Symbolic errno name: 'ENOENT', 'EBUSY', 'EINVAL', ... */
  code: string;
  /** Positive errno. */
  errno: number;
  /** The syscall that failed: 'open', 'write', 'close', ... */
  syscall: string;
  /** Set when the syscall was about a path. */
  declare path?: string;

  /**
   * The addon calls this constructor (it receives the class through initialize), so its
   * parameter list is part of the native contract.
   * @param description the C library's strerror text; libuv's wording when absent.
   */
  constructor(errno: number, syscall: string, path?: string, description?: string) {
    const code = errnoCode(errno);
    const text = description ?? describeErrno(errno);
    super(path === undefined ? `${code}: ${text}, ${syscall}` : `${code}: ${text}, ${syscall} '${path}'`);
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
  }
}

/** Walks up from `start` to the directory whose package.json is capstan's. */
function findRepositoryRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (manifest.name === 'capstan') return dir;
    } catch {
      // No (readable) package.json here: keep walking.
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`capstan native addon: no package.json named "capstan" above ${start}`);
    }
  }
}

/** Where the addon is built, relative to the repository root (by node-gyp, see native/binding.gyp). */
export const ADDON_RELATIVE_PATH = 'native/build/Release/capstan.node';

/**
 * Loads the addon at addonPath and hands it NativeError. Exported for tests and tools; capstan
 * itself goes through the lazily loaded copy below.
 */
export function loadBinding(addonPath: string): NativeBinding {
  if (!fs.existsSync(addonPath)) {
    throw new Error(`capstan native addon not built (${ADDON_RELATIVE_PATH} missing): run npm install`);
  }
  const addon = require(addonPath) as NativeBinding;
  addon.initialize(NativeError);
  return addon;
}

/** The absolute path of the addon in this checkout. */
export function defaultAddonPath(): string {
  return path.join(findRepositoryRoot(__dirname), ADDON_RELATIVE_PATH);
}

let loaded: NativeBinding | undefined;

function binding(): NativeBinding {
  loaded ??= loadBinding(defaultAddonPath());
  return loaded;
}

function checkPaths(paths: unknown, functionName: string, what: string): asserts paths is readonly string[] {
  if (!Array.isArray(paths)) {
    throw new TypeError(`${functionName}: ${what} must be an array of strings`);
  }
  for (const p of paths) {
    if (typeof p !== 'string') throw new TypeError(`${functionName}: ${what} must be an array of strings`);
    // Node's fs refuses such paths too: the syscall would silently stop at the NUL.
    if (p.includes('\0')) throw new TypeError(`${functionName}: ${what} must not contain NUL bytes`);
  }
}

function checkMaxBytes(maxBytes: unknown, functionName: string): asserts maxBytes is number {
  if (typeof maxBytes !== 'number') {
    throw new TypeError(`${functionName}: maxBytes must be a number`);
  }
  if (!Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > MAX_FILE_BYTES_LIMIT) {
    throw new RangeError(`${functionName}: maxBytes must be an integer from 1 to ${MAX_FILE_BYTES_LIMIT}, got ${maxBytes}`);
  }
}

/**
 * Reads every file in one call on a libuv worker thread: the collector's per-tick hot path.
 * Result i is file i's text (read until EOF, at most maxBytes bytes, decoded as UTF-8) or the
 * positive errno of the failed open/read (ENOENT = 2: "not there").
 * Invalid arguments reject with TypeError/RangeError.
 */
export async function readFiles(paths: readonly string[], maxBytes: number = DEFAULT_MAX_FILE_BYTES): Promise<TextOrErrno[]> {
  checkPaths(paths, 'readFiles', 'paths');
  checkMaxBytes(maxBytes, 'readFiles');
  return binding().readFiles(paths, maxBytes);
}

/**
 * readFiles on the calling thread, for tests, one-shot tools and the OOM monitor's last reading at a
 * container's exit (a few small cgroup files that must be read before the cgroup goes). Throws on
 * invalid arguments.
 */
export function readFilesSync(paths: readonly string[], maxBytes: number = DEFAULT_MAX_FILE_BYTES): TextOrErrno[] {
  checkPaths(paths, 'readFilesSync', 'paths');
  checkMaxBytes(maxBytes, 'readFilesSync');
  return binding().readFilesSync(paths, maxBytes);
}

/** readlink(2) for every path: the link's target (e.g. "net:[4026531840]") or the errno (EINVAL: not a link). */
export async function readLinks(paths: readonly string[]): Promise<TextOrErrno[]> {
  checkPaths(paths, 'readLinks', 'paths');
  return binding().readLinks(paths);
}

/**
 * For each root, the relative paths of all its subdirectories ("a", "a/b"), depth first, or the
 * errno if the root cannot be opened. Symlinks below a root are never followed; a subdirectory
 * removed during the walk is left out silently (cgroups come and go).
 */
export async function listDirectories(roots: readonly string[]): Promise<Array<string[] | number>> {
  checkPaths(roots, 'listDirectories', 'roots');
  return binding().listDirectories(roots);
}

/**
 * Writes a kernel control file: open(O_WRONLY|O_TRUNC) without O_CREAT, one write(2), close.
 * Throws NativeError (code, errno, syscall 'open' | 'write' | 'close', path); a short write is EIO.
 */
export function writeFile(filePath: string, data: string): void {
  if (typeof filePath !== 'string') throw new TypeError('writeFile: path must be a string');
  if (filePath.includes('\0')) throw new TypeError('writeFile: path must not contain NUL bytes');
  if (typeof data !== 'string') throw new TypeError('writeFile: data must be a string');
  binding().writeFile(filePath, data);
}

/**
 * A TCP connection to 127.0.0.1:`port` inside the network namespace of process `pid` (a published
 * port's far end). Resolves with the connected socket's fd; the caller owns it (wrap it with
 * `new net.Socket({ fd })`). Rejects with NativeError: ECONNREFUSED when nothing listens, ENOENT
 * (syscall 'open') when the process is gone.
 */
export function connectInNetns(pid: number, port: number): Promise<number> {
  if (!Number.isInteger(pid) || pid < 1 || pid > 0x7fffffff) throw new RangeError(`connectInNetns: pid must be a positive integer, got ${pid}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`connectInNetns: port must be an integer from 1 to 65535, got ${port}`);
  return binding().connectInNetns(pid, port);
}

function checkDirectory(directory: unknown, functionName: string): asserts directory is string {
  if (typeof directory !== 'string') throw new TypeError(`${functionName}: directory must be a string`);
  if (!directory.startsWith('/')) throw new TypeError(`${functionName}: directory must be absolute, got ${JSON.stringify(directory)}`);
  if (directory.includes('\0')) throw new TypeError(`${functionName}: directory must not contain NUL bytes`);
}

/**
 * Starts the native OOM watcher (one thread for all watches). `onNotify(watchId, timeMs)` runs on
 * the JS thread each time a watch's fd fires; it means "re-read the counters", not "a process was
 * killed". `timeMs` is when the watcher thread woke up (CLOCK_REALTIME), so the time of a kill does
 * not depend on how busy the JS thread was. Units: milliseconds since the Unix epoch. Directories are checked here (absolute, no NUL) before they reach native code. The
 * watcher does not keep the process alive; close() it when done (a cleanup hook closes it at exit).
 */
export function createOomWatcher(onNotify: (watchId: number, timeMs: number) => void): NativeOomWatcher {
  if (typeof onNotify !== 'function') throw new TypeError('createOomWatcher: onNotify must be a function');
  const native = binding().createOomWatcher(onNotify);
  return {
    watchV1(memoryCgroupDir: string): number {
      checkDirectory(memoryCgroupDir, 'watchV1');
      return native.watchV1(memoryCgroupDir);
    },
    watchV2(cgroupDir: string): number {
      checkDirectory(cgroupDir, 'watchV2');
      return native.watchV2(cgroupDir);
    },
    unwatch: (watchId: number): boolean => native.unwatch(watchId),
    close: (): void => native.close(),
  };
}

/**
 * Starts a program that daemonizes (capstan-shim) without forking the agent: posix_spawn, a new
 * session, stdin /dev/null, stdout/stderr appended to `logPath`, fd 3 = one end of a new unix
 * socket pair whose other end comes back as `statusFd` (wrap it with `new net.Socket({ fd })`; it
 * reads the shim's status and can write to it). Resolves as soon as the process runs; the
 * native side reaps that first process once it has daemonized. Rejects with NativeError (syscall
 * 'posix_spawn', ...).
 */
export function spawnDaemon(file: string, argv: readonly string[], logPath: string): Promise<{ pid: number; statusFd: number }> {
  if (typeof file !== 'string' || file.includes('\0')) throw new TypeError('spawnDaemon: file must be a string without NUL bytes');
  checkPaths(argv, 'spawnDaemon', 'argv');
  if (argv.length === 0) throw new TypeError('spawnDaemon: argv must hold at least argv[0]');
  if (typeof logPath !== 'string' || logPath.includes('\0')) throw new TypeError('spawnDaemon: logPath must be a string without NUL bytes');
  return binding().spawnDaemon(file, argv, logPath);
}

/**
 * Cgroup files kept open between reads (the collector's sweep, issue 15): one native call reads
 * them all, kept files with pread at offset 0 and the rest with open/read/close. Which files are
 * kept and which are due is the caller's policy (server/collector/kept-files.ts). close() releases
 * every fd; a set that is not closed holds its fds until the process exits.
 */
export class KeptFiles {
  private handle: number | undefined = binding().keptFilesCreate();
  private count = 0;

  /**
   * Replaces the list; keep[i] = 1 lets file i hold an fd. singleRecord[i] = 1 says file i is a
   * seq_file whose text is one record (every cgroup stat file, /proc/stat, /proc/meminfo): a read
   * shorter than asked for is all of it, and the EOF read is skipped. Never for a multi-record
   * file (/proc/net/dev, cgroup.procs), whose short reads may have more to come. Throws
   * TypeError/RangeError on bad input.
   */
  assign(paths: readonly string[], keep: Uint8Array, singleRecord?: Uint8Array): void {
    checkPaths(paths, 'KeptFiles.assign', 'paths');
    if (!(keep instanceof Uint8Array) || keep.length !== paths.length) {
      throw new TypeError(`KeptFiles.assign: keep must be a Uint8Array of ${paths.length} flags`);
    }
    if (singleRecord !== undefined && (!(singleRecord instanceof Uint8Array) || singleRecord.length !== paths.length)) {
      throw new TypeError(`KeptFiles.assign: singleRecord must be a Uint8Array of ${paths.length} flags`);
    }
    binding().keptFilesAssign(this.open(), paths, keep, singleRecord);
    this.count = paths.length;
  }

  /** Reads every file, or those with due[i] = 1; results has one entry per file read, in batch order (not one per file). */
  read(maxBytes: number = DEFAULT_MAX_FILE_BYTES, due?: Uint8Array): Promise<KeptFilesRead> {
    checkMaxBytes(maxBytes, 'KeptFiles.read');
    if (due !== undefined && (!(due instanceof Uint8Array) || due.length !== this.count)) {
      throw new TypeError(`KeptFiles.read: due must be a Uint8Array of ${this.count} flags`);
    }
    return binding().keptFilesRead(this.open(), maxBytes, due);
  }

  /** Closes every fd (once a read in flight is done). Idempotent. */
  close(): void {
    if (this.handle === undefined) return;
    binding().keptFilesClose(this.handle);
    this.handle = undefined;
  }

  private open(): number {
    if (this.handle === undefined) throw new Error('KeptFiles: already closed');
    return this.handle;
  }
}

/**
 * Raises the soft RLIMIT_NOFILE to the hard limit (the agent does this at start so the sweep can
 * keep files open) and returns both. Units: file descriptors. Throws NativeError.
 */
export function raiseOpenFileLimit(): { soft: number; hard: number } {
  return binding().raiseOpenFileLimit();
}

/**
 * Sets the soft and hard RLIMIT_NOFILE to `atLeast` where they are lower. Raising the hard limit
 * needs CAP_SYS_RESOURCE and the kernel caps it at fs.nr_open, so a refusal is part of the answer:
 * `error` is the NativeError of the setrlimit that failed, and soft/hard the limits still in force.
 * Units: file descriptors.
 */
export function raiseOpenFileLimitTo(atLeast: number): { soft: number; hard: number; error?: NativeError } {
  if (!Number.isSafeInteger(atLeast) || atLeast < 0) throw new RangeError(`raiseOpenFileLimitTo: atLeast must be a whole number of fds, got ${atLeast}`);
  const answer = binding().raiseOpenFileLimitTo(atLeast);
  return answer.errno === 0 ? { soft: answer.soft, hard: answer.hard } : { soft: answer.soft, hard: answer.hard, error: new NativeError(answer.errno, answer.syscall) };
}

/**
 * Cgroup discovery without a full walk every tick: an inotify instance with a watch on every
 * directory a walk visited (added before the directory is read, so nothing created afterwards is
 * missed). changed() says whether a directory came or went since the last call; only then (or
 * when the caller's safety interval says so) does the caller walk again.
 */
export class DirectoryWatch {
  private handle: number | undefined = binding().directoryWatchCreate();

  /** Walks the roots as listDirectories does, watching every directory. */
  walk(roots: readonly string[]): Promise<{ listings: Array<string[] | number>; watchErrno: number }> {
    checkPaths(roots, 'DirectoryWatch.walk', 'roots');
    return binding().directoryWatchWalk(this.open(), roots);
  }

  /** True when a directory was created, removed or renamed (or events were lost) since the last call. */
  changed(): boolean {
    return binding().directoryWatchChanged(this.open());
  }

  close(): void {
    if (this.handle === undefined) return;
    binding().directoryWatchClose(this.handle);
    this.handle = undefined;
  }

  private open(): number {
    if (this.handle === undefined) throw new Error('DirectoryWatch: already closed');
    return this.handle;
  }
}
