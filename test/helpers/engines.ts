/**
 * Real container engines for tests, private to the test that starts them: a dockerd, or a Podman
 * API service, each with every file it writes in its own temp directory (data, state, socket, log)
 * and every container cgroup under a parent the test owns (`/capstan-test-docker-<random>`,
 * `/capstan-test-podman-<random>`). Nothing is shared with an engine the machine may already run.
 *
 * stop() removes the containers, stops the daemon (SIGTERM, then SIGKILL), and then removes what a
 * daemon killed mid-way leaves behind: processes of THIS engine (found by its temp directory in
 * their command line, or by their cgroup under its parent: containerd, shims, conmon, runc,
 * container processes), mounts under its directory (deepest first, lazily if need be), the
 * directory, and the cgroup parent in every hierarchy. A process 'exit' handler does the same
 * synchronously for a test that never got to stop(). leftovers() says what is still there.
 * stopDaemon() / startDaemon() take the daemon away and back with its containers still running.
 *
 * Binaries are Debian's, named by path: /usr/sbin/dockerd and /usr/bin/docker (this machine also
 * has an unrelated Docker 28 client in /usr/local/bin, earlier in PATH), /usr/bin/podman.
 *
 * Facts measured here (Debian 12, hybrid cgroups, no CAP_SYS_RESOURCE in the sandbox):
 * - runc cannot raise rlimits without CAP_SYS_RESOURCE, so Podman's default ulimits fail
 *   ("error setting rlimit type 7"); containers.conf below sets nofile and nproc to what runc can.
 * - `docker import` applies a hardlink entry's mode to the inode it links to: the busybox test
 *   image's hardlink carries no mode (0644), which made /bin/busybox non-executable in Docker (not
 *   in capstan's own image store); the tarball written here gives hardlinks their target's mode.
 * - conmon 2.1.6 (cgroup v1) writes its OOM marker file "oom" into its working directory, which is
 *   the working directory of whoever started the container, and Podman 4.3 never reads it there: no
 *   "oom" event, State.OOMKilled stays false. The service and the CLI run in the temp directory so
 *   the marker lands there and not in the repository.
 * - Podman 4.3's containers.conf has no cgroup parent setting: a container created through the API
 *   without HostConfig.CgroupParent lands in /libpod_parent, outside the test's parent. Pass
 *   cgroupParent (runFlags does for the CLI). conmon then lives in <parent>/conmon (v1
 *   controllers; it stays in the service's cgroup in name=systemd and the unified hierarchy).
 * - Podman's image copy records blobs in the host-wide /var/lib/containers/cache whatever --root
 *   says, so importBusybox runs `podman import` in a mount namespace with a /var/lib of its own.
 * - Podman's runc keeps its state in the host's /run/runc/<id> (removed with the container; the
 *   clean-up removes this engine's IDs if a container was killed instead). Docker's shims put their
 *   sockets in /run/containerd/s, removed when they exit.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecutionContext } from 'ava';
import { packTar } from '../../server/runtime/images/tar';
import { baseLayerEntries, busyboxAvailable, type TarFile } from './busybox-image';
import { sleep } from './wait';

export const DOCKERD = '/usr/sbin/dockerd';
export const DOCKER_CLI = '/usr/bin/docker';
export const PODMAN = '/usr/bin/podman';

/** Debian's binaries first, and nothing from /usr/local (see above). */
const ENGINE_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;
const CLI_TIMEOUT_MS = 120_000;

/** Where clean-ups go: a test's t.teardown, or a list an after.always hook runs. */
export type EngineScope = Pick<ExecutionContext, 'teardown'> | Array<() => unknown>;

/** Runs a clean-up list (an after.always hook's), last first; one that fails does not stop the rest. */
export async function runCleanups(cleanups: Array<() => unknown>): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch {
      // Keep cleaning up the rest.
    }
  }
}

export interface CliResult {
  stdout: string;
  stderr: string;
  /** The exit status; null when killed by a signal (or the timeout). */
  status: number | null;
}

export interface TestEngine {
  readonly flavour: 'docker' | 'podman';
  /** unix://<directory>/<engine>.sock */
  readonly address: string;
  readonly socketPath: string;
  /** The engine's private temp directory. */
  readonly directory: string;
  /** Every container's cgroup is under this (in every hierarchy). */
  readonly cgroupParent: string;
  /** The daemon's PID. */
  readonly pid: number;
  /** Flags every `run` / `create` in a test carries: no network, the test's cgroup parent. */
  readonly runFlags: readonly string[];
  /** How long the daemon took to answer /_ping. Units: milliseconds. */
  readonly startMs: number;
  /** Runs the engine's CLI against this engine (never throws on a non-zero status). */
  cli(args: string[], options?: { input?: string | Buffer; timeoutMs?: number }): Promise<CliResult>;
  /** Imports the busybox rootfs (test/helpers/busybox-image.ts) as `name`; resolves with its image ID. */
  importBusybox(name: string): Promise<string>;
  /** The daemon's log so far. */
  log(): string;
  /**
   * Stops the daemon only, as an engine going away would: its containers keep running (dockerd
   * runs with --live-restore; Podman's containers live under conmon) and its state stays.
   */
  stopDaemon(): Promise<void>;
  /** Starts the daemon again on the same directory and socket, after stopDaemon(). */
  startDaemon(): Promise<void>;
  /** Stops the engine and removes everything it left; idempotent. Resolves with how long it took (ms). */
  stop(): Promise<number>;
  /**
   * The same without the event loop (a signal handler, an exit hook): SIGKILL to the daemon and
   * its helpers, then mounts, the directory and the cgroup parent. Its containers are killed, not removed.
   */
  stopSync(): void;
  /** What of this engine is still on the host: processes, mounts, cgroups, its directory. */
  leftovers(): string[];
}

export function dockerAvailable(): boolean {
  return process.getuid?.() === 0 && fs.existsSync(DOCKERD) && fs.existsSync(DOCKER_CLI) && busyboxAvailable();
}

export function podmanAvailable(): boolean {
  return process.getuid?.() === 0 && fs.existsSync(PODMAN) && busyboxAvailable();
}

const liveEngines = new Set<EngineInstance>();
const everyEngine: EngineInstance[] = [];
let exitHookInstalled = false;

/** What any engine this process started left behind (stopped ones included). */
export function engineLeftovers(): string[] {
  return everyEngine.flatMap((engine) => engine.leftovers());
}

function register(scope: EngineScope, cleanup: () => unknown): void {
  if (Array.isArray(scope)) scope.push(cleanup);
  else scope.teardown(cleanup);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const engine of liveEngines) engine.stopSync();
  });
}

// --- /proc, mountinfo and cgroupfs, read synchronously (the exit handler has no event loop) ---

interface ProcessInfo {
  pid: number;
  command: string;
  argv: string[];
}

/**
 * The socket a containerd shim serves, which containerd 1.6 puts in the host-wide
 * /run/containerd/s whatever its own state directory: sha256 of "<containerd address>/<namespace>/<id>".
 * A shim killed rather than asked to exit leaves it behind.
 */
function shimSocketOf(argv: string[]): string | undefined {
  if (!path.basename(argv[0] ?? '').startsWith('containerd-shim')) return undefined;
  const arg = (name: string): string | undefined => {
    const index = argv.indexOf(name);
    return index === -1 ? undefined : argv[index + 1];
  };
  const address = arg('-address');
  const namespace = arg('-namespace');
  const id = arg('-id');
  if (!address || !namespace || !id) return undefined;
  return path.join('/run/containerd/s', createHash('sha256').update(path.join(address, namespace, id)).digest('hex'));
}

/** Live (non-zombie) processes whose command line contains `token` or whose cgroup is under `cgroupParent`. */
function processesOf(token: string, cgroupParent: string): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid || pid === 1) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Field 3, after the parenthesised command (which may hold spaces).
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const command = argv.join(' ');
      const cgroups = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      const inParent = cgroups.split('\n').some((line) => {
        const cgroupPath = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
        return cgroupPath === cgroupParent || cgroupPath.startsWith(`${cgroupParent}/`);
      });
      if (command.includes(token) || inParent) found.push({ pid, argv, command: command || `[${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}]` });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

function unescapeMountPath(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function mountinfo(): Array<{ mountPoint: string; fsType: string }> {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      const separator = fields.indexOf('-');
      return { mountPoint: unescapeMountPath(fields[4]!), fsType: fields[separator + 1] ?? '' };
    });
}

function mountsUnder(directory: string): string[] {
  return mountinfo()
    .map((m) => m.mountPoint)
    .filter((mountPoint) => mountPoint === directory || mountPoint.startsWith(`${directory}/`));
}

function cgroupHierarchies(): string[] {
  return [...new Set(mountinfo().filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2').map((m) => m.mountPoint))];
}

/** The directories of `cgroupParent` (and below it) in every hierarchy, deepest first. */
function cgroupDirectories(cgroupParent: string): string[] {
  const directories: string[] = [];
  const visit = (directory: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(directory, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) if (entry.isDirectory()) visit(path.join(directory, entry.name));
    directories.push(directory);
  };
  for (const hierarchy of cgroupHierarchies()) {
    const directory = path.join(hierarchy, cgroupParent);
    if (fs.existsSync(directory)) visit(directory);
  }
  return directories;
}

function killAll(processes: ProcessInfo[]): void {
  for (const { pid } of processes) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function unmountAll(directory: string): void {
  // Stacked and nested mounts: unmount the deepest first, again until none is left.
  for (let round = 0; round < 10; round++) {
    const mounts = mountsUnder(directory).sort((a, b) => b.split('/').length - a.split('/').length || b.length - a.length);
    if (mounts.length === 0) return;
    for (const mountPoint of mounts) {
      const plain = spawnSync('umount', [mountPoint], { stdio: 'ignore' });
      if (plain.status !== 0) spawnSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
    }
  }
}

function removeCgroups(cgroupParent: string, token: string): void {
  for (let round = 0; round < 20; round++) {
    const directories = cgroupDirectories(cgroupParent);
    if (directories.length === 0) return;
    let busy = false;
    for (const directory of directories) {
      try {
        fs.rmdirSync(directory);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') busy = true;
      }
    }
    if (busy) {
      // Processes still in there are this engine's by construction: the parent is the test's own.
      killAll(processesOf(token, cgroupParent));
      spawnSync('sleep', ['0.05']);
    }
  }
}

// --- the engines ---

interface EngineSpec {
  flavour: 'docker' | 'podman';
  directory: string;
  cgroupParent: string;
  socketPath: string;
  daemonCommand: string;
  daemonArgs: string[];
  cliCommand: string;
  /** Arguments before the CLI's own (Podman's global flags). */
  cliPrefix: string[];
  env: NodeJS.ProcessEnv;
  logPath: string;
  /** Removes every container, through the CLI. */
  removeContainers(cli: TestEngine['cli']): Promise<unknown>;
}

class EngineInstance implements TestEngine {
  readonly flavour: 'docker' | 'podman';
  readonly address: string;
  readonly socketPath: string;
  readonly directory: string;
  readonly cgroupParent: string;
  readonly runFlags: readonly string[];
  startMs = 0;
  private child: ChildProcess | undefined;
  private exited = false;
  private stopping: Promise<number> | undefined;
  /** Sockets of this engine's containerd shims, seen while they ran (see shimSocketOf). */
  private readonly shimSockets = new Set<string>();

  constructor(private readonly spec: EngineSpec) {
    this.flavour = spec.flavour;
    this.directory = spec.directory;
    this.cgroupParent = spec.cgroupParent;
    this.socketPath = spec.socketPath;
    this.address = `unix://${spec.socketPath}`;
    this.runFlags = ['--network', 'none', '--cgroup-parent', spec.cgroupParent];
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  async start(): Promise<void> {
    const started = Date.now();
    const log = fs.openSync(this.spec.logPath, 'a');
    try {
      this.child = spawn(this.spec.daemonCommand, this.spec.daemonArgs, {
        cwd: this.directory,
        env: this.spec.env,
        stdio: ['ignore', log, log],
      });
    } finally {
      fs.closeSync(log);
    }
    const child = this.child;
    this.exited = false;
    child.once('exit', () => {
      // A daemon stopped by stopDaemon() must not mark the one startDaemon() started.
      if (this.child === child) this.exited = true;
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (this.exited) throw new Error(`${this.spec.daemonCommand} exited during start-up (status ${child.exitCode}, signal ${child.signalCode}); its log:\n${this.logTail()}`);
      if (await pingSocket(this.socketPath)) break;
      if (Date.now() > deadline) {
        throw new Error(`${this.spec.daemonCommand} did not answer /_ping on ${this.socketPath} within ${START_TIMEOUT_MS / 1000} s; its log:\n${this.logTail()}`);
      }
      await sleep(50);
    }
    this.startMs = Date.now() - started;
  }

  async stopDaemon(): Promise<void> {
    if (!this.child || this.exited) return;
    await this.signalAndWait('SIGTERM', STOP_TIMEOUT_MS);
    if (!this.exited) await this.signalAndWait('SIGKILL', 5000);
  }

  async startDaemon(): Promise<void> {
    if (this.stopping) throw new Error(`the test ${this.flavour} was stopped for good`);
    if (this.child && !this.exited) throw new Error(`the test ${this.flavour} daemon is running (pid ${this.child.pid})`);
    await this.start();
  }

  log(): string {
    try {
      return fs.readFileSync(this.spec.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  private logTail(): string {
    const text = this.log();
    return text.length > 6000 ? `…${text.slice(-6000)}` : text;
  }

  cli(args: string[], options: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<CliResult> {
    return this.spawnCli(this.spec.cliCommand, [...this.spec.cliPrefix, ...args], options);
  }

  private spawnCli(command: string, args: string[], options: { input?: string | Buffer; timeoutMs?: number }): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, {
        cwd: this.directory,
        env: this.spec.env,
        stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
      if (options.input !== undefined) child.stdin!.end(options.input);
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? CLI_TIMEOUT_MS);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('close', (status) => {
        clearTimeout(timer);
        resolve({ stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), status });
      });
    });
  }

  async importBusybox(name: string): Promise<string> {
    const tarball = path.join(this.directory, 'busybox-rootfs.tar');
    if (!fs.existsSync(tarball)) fs.writeFileSync(tarball, busyboxRootfsForEngines());
    const args = ['import', '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--change', 'CMD ["sh"]', tarball, name];
    // Podman's image copy records blobs in the host-wide /var/lib/containers/cache whatever --root
    // says: give it a /var/lib of its own, in a mount namespace that ends with the command.
    const result =
      this.flavour === 'podman'
        ? await this.spawnCli(
            'unshare',
            ['--mount', '--propagation', 'private', '/bin/sh', '-c', 'mount -t tmpfs capstan-test-private /var/lib && exec "$@"', 'sh', this.spec.cliCommand, ...this.spec.cliPrefix, ...args],
            {},
          )
        : await this.cli(args);
    if (result.status !== 0) throw new Error(`${this.flavour} import ${name} failed (status ${result.status}): ${result.stderr.trim()}`);
    const id = result.stdout.trim().split('\n').pop()!.trim();
    if (!/^(sha256:)?[0-9a-f]{64}$/.test(id)) throw new Error(`${this.flavour} import printed no image ID: ${JSON.stringify(result.stdout)}`);
    return id.startsWith('sha256:') ? id : `sha256:${id}`;
  }

  stop(): Promise<number> {
    this.stopping ??= this.stopAsync();
    return this.stopping;
  }

  private async stopAsync(): Promise<number> {
    const started = Date.now();
    this.ownProcesses();
    try {
      if (!this.exited && this.child) {
        await this.spec.removeContainers((args, options) => this.cli(args, { timeoutMs: 30_000, ...options })).catch(() => undefined);
        await this.signalAndWait('SIGTERM', STOP_TIMEOUT_MS);
        if (!this.exited) await this.signalAndWait('SIGKILL', 5000);
      }
      // What a daemon stopped mid-way leaves: its helpers (containerd, shims, conmon), then mounts.
      for (let round = 0; round < 50; round++) {
        const left = this.ownProcesses();
        if (left.length === 0) break;
        killAll(left);
        await sleep(100);
      }
      this.removeFilesAndCgroups();
    } finally {
      liveEngines.delete(this);
    }
    return Date.now() - started;
  }

  private async signalAndWait(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const child = this.child!;
    const exited = new Promise<void>((resolve) => {
      if (this.exited) resolve();
      else child.once('exit', () => resolve());
    });
    try {
      process.kill(child.pid!, signal);
    } catch {
      // Already gone.
    }
    // A timer of its own, cleared: a pending sleep would hold the test worker for the full timeout.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** The exit handler's version: no event loop, so no CLI and no waiting on events. */
  stopSync(): void {
    if (this.child && !this.exited) {
      try {
        process.kill(this.child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (let round = 0; round < 20; round++) {
      const left = this.ownProcesses();
      if (left.length === 0) break;
      killAll(left);
      spawnSync('sleep', ['0.1']);
    }
    this.removeFilesAndCgroups();
    liveEngines.delete(this);
  }

  /** This engine's processes, noting the sockets of its shims on the way. */
  private ownProcesses(): ProcessInfo[] {
    const processes = processesOf(this.directory, this.cgroupParent);
    for (const { argv } of processes) {
      const socket = shimSocketOf(argv);
      if (socket) this.shimSockets.add(socket);
    }
    return processes;
  }

  private removeFilesAndCgroups(): void {
    const runcStates = this.podmanRuncStates();
    // The shims are gone by now: a socket still there was left by one that was killed.
    for (const socket of this.shimSockets) fs.rmSync(socket, { force: true });
    unmountAll(this.directory);
    // Never delete through a mount that would not go: rmSync would descend into it.
    if (mountsUnder(this.directory).length === 0) fs.rmSync(this.directory, { recursive: true, force: true });
    for (const state of runcStates) fs.rmSync(state, { recursive: true, force: true });
    removeCgroups(this.cgroupParent, this.directory);
  }

  /**
   * Podman runs runc with its default state root, /run/runc, shared with the host: a container of
   * this engine killed rather than removed leaves /run/runc/<its id>. Only this engine's IDs.
   */
  private podmanRuncStates(): string[] {
    if (this.flavour !== 'podman') return [];
    try {
      return fs
        .readdirSync(path.join(this.directory, 'root', 'overlay-containers'))
        .filter((id) => /^[0-9a-f]{64}$/.test(id))
        .map((id) => path.join('/run/runc', id))
        .filter((state) => fs.existsSync(state));
    } catch {
      return [];
    }
  }

  leftovers(): string[] {
    const left: string[] = [];
    const processes = this.ownProcesses();
    for (const { pid, command } of processes) left.push(`${this.flavour} process ${pid}: ${command.slice(0, 160)}`);
    if (this.child && !this.exited) left.push(`${this.flavour} daemon ${this.child.pid} still running`);
    for (const mountPoint of mountsUnder(this.directory)) left.push(`${this.flavour} mount ${mountPoint}`);
    for (const directory of cgroupDirectories(this.cgroupParent)) left.push(`${this.flavour} cgroup ${directory}`);
    if (fs.existsSync(this.directory)) left.push(`${this.flavour} directory ${this.directory}`);
    for (const state of this.podmanRuncStates()) left.push(`${this.flavour} runc state ${state}`);
    const served = new Set(processes.map(({ argv }) => shimSocketOf(argv)));
    for (const socket of this.shimSockets) if (!served.has(socket) && fs.existsSync(socket)) left.push(`${this.flavour} shim socket ${socket}`);
    return left;
  }
}

function pingSocket(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ socketPath, path: '/_ping', timeout: 1000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

/**
 * The busybox base layer (plus `extra` entries, and files of `replace` with other content) as a
 * rootfs tarball engines import unchanged:
 * every hardlink entry carries its target's mode (`docker import` applies a hardlink's mode to the
 * shared inode).
 */
export function busyboxRootfsForEngines(extra: readonly TarFile[] = [], replace: Readonly<Record<string, string>> = {}): Buffer {
  const base = baseLayerEntries().map((entry): TarFile => (entry.name in replace ? { ...entry, content: replace[entry.name]! } : entry));
  const entries = [...base, ...extra];
  const modes = new Map(entries.map((entry) => [entry.name, entry.mode]));
  return packTar(entries.map((entry): TarFile => (entry.type === 'hardlink' ? { ...entry, mode: modes.get(entry.linkname!) ?? 0o755 } : entry)));
}

async function launch(spec: EngineSpec, scope: EngineScope): Promise<TestEngine> {
  const engine = new EngineInstance(spec);
  installExitHook();
  liveEngines.add(engine);
  everyEngine.push(engine);
  register(scope, () => engine.stop());
  try {
    await engine.start();
  } catch (error) {
    await engine.stop();
    throw error;
  }
  return engine;
}

function privateDirectory(flavour: string): { directory: string; cgroupParent: string } {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), `capstan-test-${flavour}-`));
  return { directory, cgroupParent: `/capstan-test-${flavour}-${randomBytes(4).toString('hex')}` };
}

/** A dockerd of the test's own: data, exec root, pidfile, socket and log in a temp directory. */
export function startDockerd(scope: EngineScope): Promise<TestEngine> {
  const { directory, cgroupParent } = privateDirectory('docker');
  const socketPath = path.join(directory, 'docker.sock');
  const configFile = path.join(directory, 'daemon.json');
  // A configuration of its own: the host's /etc/docker/daemon.json, if any, must not apply. The
  // identity key (key.json) goes here too: dockerd 20.10 makes one in /etc/docker at its first
  // start, and fails where /etc is read-only (the v2 lane's root) unless the host made it before.
  fs.writeFileSync(configFile, `${JSON.stringify({ 'deprecated-key-path': path.join(directory, 'key.json') })}\n`);
  const env: NodeJS.ProcessEnv = {
    PATH: ENGINE_PATH,
    HOME: directory,
    DOCKER_HOST: `unix://${socketPath}`,
    DOCKER_CONFIG: path.join(directory, 'cli'),
  };
  return launch(
    {
      flavour: 'docker',
      directory,
      cgroupParent,
      socketPath,
      daemonCommand: DOCKERD,
      daemonArgs: [
        '--config-file', configFile,
        '--data-root', path.join(directory, 'data'),
        '--exec-root', path.join(directory, 'exec'),
        '--pidfile', path.join(directory, 'docker.pid'),
        '-H', `unix://${socketPath}`,
        '--iptables=false',
        '--ip-masq=false',
        '--bridge=none',
        '--cgroup-parent', cgroupParent,
        // Containers outlive a daemon stopped by stopDaemon(), as they do under Podman.
        '--live-restore',
      ],
      cliCommand: DOCKER_CLI,
      cliPrefix: [],
      env,
      logPath: path.join(directory, 'dockerd.log'),
      removeContainers: async (cli) => {
        const ids = (await cli(['ps', '--all', '--quiet', '--no-trunc'])).stdout.split('\n').filter(Boolean);
        if (ids.length > 0) await cli(['rm', '--force', '--volumes', ...ids]);
      },
    },
    scope,
  );
}

/** A Podman API service of the test's own, with storage, state, events, locks and socket in a temp directory. */
export function startPodman(scope: EngineScope): Promise<TestEngine> {
  const { directory, cgroupParent } = privateDirectory('podman');
  const socketPath = path.join(directory, 'podman.sock');
  const dirs = { root: 'root', runroot: 'runroot', tmp: 'tmp', networks: 'networks' } as const;
  const at = (name: keyof typeof dirs): string => path.join(directory, dirs[name]);
  for (const name of Object.keys(dirs) as Array<keyof typeof dirs>) fs.mkdirSync(at(name));
  const containersConf = path.join(directory, 'containers.conf');
  fs.writeFileSync(
    containersConf,
    [
      '[containers]',
      '# runc cannot raise rlimits here (no CAP_SYS_RESOURCE): keep them at what it can set.',
      'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
      '',
      '[network]',
      `network_config_dir = "${at('networks')}"`,
      '',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${path.join(at('tmp'), 'events.log')}"`,
      '# File locks live under tmp_dir; the default shm lock is /dev/shm/libpod_lock, shared by every Podman.',
      'lock_type = "file"',
      `image_copy_tmp_dir = "${at('tmp')}"`,
      'runtime = "runc"',
      '',
    ].join('\n'),
  );
  const storageConf = path.join(directory, 'storage.conf');
  fs.writeFileSync(storageConf, ['[storage]', 'driver = "overlay"', `graphroot = "${at('root')}"`, `runroot = "${at('runroot')}"`, ''].join('\n'));
  const globalFlags = [
    '--root', at('root'),
    '--runroot', at('runroot'),
    '--tmpdir', at('tmp'),
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'file',
    '--network-config-dir', at('networks'),
  ];
  const env: NodeJS.ProcessEnv = {
    PATH: ENGINE_PATH,
    HOME: directory,
    TMPDIR: at('tmp'),
    CONTAINERS_CONF: containersConf,
    CONTAINERS_STORAGE_CONF: storageConf,
  };
  return launch(
    {
      flavour: 'podman',
      directory,
      cgroupParent,
      socketPath,
      daemonCommand: PODMAN,
      daemonArgs: [...globalFlags, 'system', 'service', '--time', '0', `unix://${socketPath}`],
      cliCommand: PODMAN,
      cliPrefix: globalFlags,
      env,
      logPath: path.join(directory, 'podman.log'),
      removeContainers: (cli) => cli(['rm', '--all', '--force', '--time', '0']),
    },
    scope,
  );
}
