/**
 * The container manager: capstan's own runtime, from `create` to `rm`. It decides everything (ids,
 * names, cgroups, limits, rootfs, ports, restart policies) and hands one container at a time to
 * capstan-shim, which does the syscalls and outlives the agent. State lives in one folder per
 * container (store.ts); on start the manager re-adopts what is there: live processes (PID and start
 * time both match) keep running, exits that happened meanwhile are reported with their codes, and
 * restart policies resume.
 *
 * RuntimeManager is the one face the API, the agent and the capstan source see; each concern lives
 * in a module of its own, all sharing one RuntimeState (runtime-state.ts), wired together here
 * (attach and exec sessions are still below):
 *
 *   lifecycle.ts   create, start, stop, kill, restart, pause, unpause, rm, wait (per-container queue)
 *   adoption.ts    re-adoption at start-up                  queries.ts  list, inspect, top, logs
 *   launch.ts      one run: rootfs, cgroup, ports, shim     exits.ts    exits and restart policy
 *   removal.ts     cgroup, rootfs, folder and name away     spec-writer.ts  spec.json writes
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { CgroupPath, NetworkInterfaceSample } from '../model';
import { Adoption } from './adoption';
import { mergeEnv } from './create-record';
import { conflict, RuntimeError } from './errors';
import { ExitMonitor } from './exits';
import { Launcher, prepareRootfs, userIn } from './launch';
import { DEFAULT_STOP_TIMEOUT_SECONDS, Lifecycle, type WaitCondition } from './lifecycle';
import { readLogs, type LogQuery } from './logs';
import { parseSignal } from './process';
import { Queries } from './queries';
import { Removal } from './removal';
import { RuntimeState, type ManagedContainer, type RuntimeManagerOptions } from './runtime-state';
import { parseExecRequest, type SessionControl, type SessionSink } from './sessions';
import { readStatus, SHIM_LOG_FILE } from './shim';
import { CONTAINER_FILES, DOCKER_DEFAULT_CAPABILITIES, type ExecConfig, type LogLine } from './shim-protocol';
import { SpecWriter } from './spec-writer';
import { writeFileAtomic } from './store';
import type { TopResult } from './top';
import type { ContainerSummary } from './types';
import { ZERO_TIME } from './types';
import { connectWhenListening, sendControl } from './unix';

export { mergeEnv } from './create-record';
export { DEFAULT_STOP_TIMEOUT_SECONDS, type WaitCondition } from './lifecycle';
export type { RuntimeManagerOptions } from './runtime-state';

export class RuntimeManager {
  private readonly state: RuntimeState;
  private readonly specs: SpecWriter;
  private readonly exits: ExitMonitor;
  private readonly lifecycle: Lifecycle;
  private readonly adoption: Adoption;
  private readonly queries: Queries;
  private readonly removal: Removal;
  private unsubscribe: (() => void) | undefined;

  constructor(options: RuntimeManagerOptions) {
    this.state = new RuntimeState(options);
    this.specs = new SpecWriter(this.state);
    const removal = new Removal(this.state, this.specs);
    this.removal = removal;
    // A restart is a new run, which the launcher makes; the launcher in turn watches for exits.
    // The exit monitor gets it as a function, read only when a restart fires, to close that loop.
    this.exits = new ExitMonitor(this.state, this.specs, removal, (container) => launcher.launch(container));
    const launcher = new Launcher(this.state, this.specs, this.exits);
    this.lifecycle = new Lifecycle(this.state, this.specs, this.exits, launcher, removal);
    this.adoption = new Adoption(this.state, this.specs, this.exits, launcher, removal);
    this.queries = new Queries(this.state);
  }

  get cgroupParent(): CgroupPath {
    return this.state.options.cgroupParent;
  }

  // ---------------------------------------------------------------- start-up and shut-down

  /** Loads every container folder and re-adopts running containers. */
  async start(): Promise<void> {
    const { store } = this.state;
    store.ensureRoot();
    await store.removeAbandoned();
    this.unsubscribe = this.state.options.bus.subscribe((event) => this.exits.onBusEvent(event));
    for (const id of store.list()) {
      try {
        await this.adoption.adopt(id);
      } catch (error) {
        this.state.log(`capstan: warning: cannot re-adopt container ${id}: ${(error as Error).message}`);
      }
    }
    this.exits.startSafetyPoll();
  }

  /**
   * Stops watching. Containers keep running (their shims own them); published ports close with the
   * agent, as they live in it, and come back when the next agent re-adopts.
   */
  async close(): Promise<void> {
    if (this.state.closed) return;
    this.state.closed = true;
    this.exits.stopSafetyPoll();
    this.unsubscribe?.();
    for (const container of this.state.all()) {
      this.exits.stopWatching(container);
      await container.ports?.close();
      container.ports = undefined;
    }
    // A change made just before shutdown (an exit, an update) must still reach spec.json.
    await this.saved();
  }

  /** Resolves once every spec.json write requested so far is on disk (or has failed and been logged). */
  saved(): Promise<void> {
    return this.specs.saved();
  }

  // ---------------------------------------------------------------- queries

  /** Every container, as the source and the API list them. */
  list(): ContainerSummary[] {
    return this.queries.list();
  }

  /**
   * `capstan update` changed the cgroup of one of our containers: keep the new values in its spec
   * (inspect shows them, the next start applies them again). Settings this runtime does not model
   * (shares, reservation, block I/O) live in the cgroup only, until the container stops.
   * Units as in docker: nano-CPUs, bytes, tasks (-1 = unlimited).
   */
  recordLimitUpdate(containerId: string, settings: { nanoCpus?: number; cpuQuota?: number; memory?: number; memorySwap?: number; pidsLimit?: number }): void {
    this.lifecycle.recordLimitUpdate(containerId, settings);
  }

  /** How --cpus was stored for `containerId`, for docker's "Conflicting options" rules on update. */
  storedCpuLimits(containerId: string): { nanoCpus?: number } | undefined {
    return this.queries.storedCpuLimits(containerId);
  }

  /** Whether any container (running or not) was created from image `imageId`: `image rm` refuses then. */
  isImageInUse(imageId: string): boolean {
    return this.queries.isImageInUse(imageId);
  }

  /** The container whose cgroup is `cgroupPath` (for the collector's source). */
  byCgroupPath(cgroupPath: CgroupPath): ContainerSummary | undefined {
    return this.queries.byCgroupPath(cgroupPath);
  }

  /**
   * The cgroup of the running container `reference` names (id, name or id prefix). The API asks
   * this for a container started after the collector's latest tick, so `update` right after `run`
   * works as it does with docker.
   */
  cgroupOfRunning(reference: string): CgroupPath | undefined {
    return this.queries.cgroupOfRunning(reference);
  }

  /** Bytes through the published ports of the container at `cgroupPath`, as one pseudo-interface. */
  networkCounters(cgroupPath: CgroupPath): NetworkInterfaceSample | undefined {
    return this.queries.networkCounters(cgroupPath);
  }

  /** The full id for a reference (404 when unknown). */
  resolveId(reference: string): string {
    return this.state.find(reference).id;
  }

  inspect(reference: string): Record<string, unknown> {
    return this.queries.inspect(reference);
  }

  top(reference: string, psArgs = '-ef'): Promise<TopResult> {
    return this.queries.top(reference, psArgs);
  }

  /** Lines logged so far (with `follow`, then new ones until the container stops or `signal` aborts). */
  followLogs(reference: string, query: LogQuery, follow: boolean, onLine: (line: LogLine) => void, signal?: AbortSignal): Promise<void> {
    return this.queries.followLogs(reference, query, follow, onLine, signal);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Creates a container (and with `start`, starts it: then a failed start removes it again, so
   * `run` with a bad command leaves nothing behind). Resolves with the new id.
   */
  create(body: unknown, options: { start?: boolean } = {}): Promise<{ id: string; warnings: string[] }> {
    return this.lifecycle.create(body, options);
  }

  /** docker start: a running container is left alone. */
  startContainer(reference: string): Promise<void> {
    return this.lifecycle.start(reference);
  }

  stop(reference: string, timeoutSeconds = DEFAULT_STOP_TIMEOUT_SECONDS): Promise<void> {
    return this.lifecycle.stop(reference, timeoutSeconds);
  }

  kill(reference: string, signalText = 'SIGKILL'): Promise<void> {
    return this.lifecycle.kill(reference, signalText);
  }

  restart(reference: string, timeoutSeconds = DEFAULT_STOP_TIMEOUT_SECONDS): Promise<void> {
    return this.lifecycle.restart(reference, timeoutSeconds);
  }

  pause(reference: string): Promise<void> {
    return this.lifecycle.pause(reference);
  }

  unpause(reference: string): Promise<void> {
    return this.lifecycle.unpause(reference);
  }

  remove(reference: string, force = false): Promise<void> {
    return this.lifecycle.remove(reference, force);
  }

  /** docker wait: resolves with the exit code once the condition holds. */
  wait(reference: string, condition: WaitCondition = 'not-running', signal?: AbortSignal): Promise<{ StatusCode: number; Error?: { Message: string } }> {
    return this.lifecycle.wait(reference, condition, signal);
  }

  // ---------------------------------------------------------------- attach and exec

  /**
   * `run` in the foreground in one request: create, then attach with the start, as attach()
   * describes. All or nothing: a failed start or spec.json write removes the container again.
   */
  async runAttached(
    body: unknown,
    options: { consoleSize?: { rows: number; cols: number } },
    sink: SessionSink,
  ): Promise<{ id: string; warnings: string[]; control: SessionControl }> {
    const { container, warnings, saved } = this.lifecycle.createContainer(body);
    let control: SessionControl | undefined;
    try {
      control = await this.attach(container.id, { start: true, ...(options.consoleSize ? { consoleSize: options.consoleSize } : {}) }, sink);
      await saved;
    } catch (error) {
      control?.close();
      throw await this.lifecycle.undoCreate(container, error);
    }
    return { id: container.id, warnings, control };
  }

  /**
   * Connects a client to a container: with a tty, to its pty through the shim's attach socket;
   * without, to its log (from now on) and, with -i, to its stdin. With `start`, the container is
   * started once the output is being followed, so nothing is missed; with `run` too, a failed start
   * removes the container (`run` leaves nothing behind). Resolves when the session is live; the
   * sink hears the output and, once the run is over and drained, its exit code.
   */
  async attach(
    reference: string,
    options: { start?: boolean; run?: boolean; consoleSize?: { rows: number; cols: number } },
    sink: SessionSink,
  ): Promise<SessionControl> {
    this.state.assertOpen();
    const container = this.state.find(reference);
    const { tty, openStdin } = container.record.config;
    if (!options.start && !container.isRunning) throw conflict('not_running', 'You cannot attach to a stopped container, start it first');

    let clientGone = false;
    let finished = false;
    let socket: net.Socket | undefined;
    const stopFollowing = new AbortController();
    let markDone!: () => void;
    const done = new Promise<void>((resolve) => (markDone = resolve));
    // Held from the start: a `run --rm` whose process ends while we still connect must not have
    // its folder (and log, which the output may have to be replayed from) removed meanwhile.
    container.hold(done);
    const finish = (): void => {
      if (finished) return;
      finished = true;
      stopFollowing.abort();
      socket?.destroy();
      const { exitCode, error } = container.record.state;
      if (!clientGone) sink.end(exitCode, error || undefined);
      markDone();
    };
    // Registered before the start: `true` can exit before the start call returns.
    let exited = false;
    /** The output comes from the log instead (the shim never took our connection). */
    let replaying = false;
    /** Set by the socket's 'close' handler, which decides about a replay: `destroyed` is set a
     * tick earlier, and an exit seen in between must not finish the session without the output. */
    let socketClosed = false;
    // The attach socket lives only while the shim relays: once the exit is recorded it is gone for
    // good, so a connect still retrying then would only wait out its timeout (and, under --rm,
    // outlive the folder the log is replayed from). Stop it; the output is in the log.
    const connectAbort = new AbortController();
    stopFollowing.signal.addEventListener('abort', () => connectAbort.abort(), { once: true });
    container.once('exit', () => {
      exited = true;
      if (!socket) connectAbort.abort();
      if (tty && socketClosed && !replaying) finish();
    });

    let following: Promise<void> | undefined;
    if (!tty) {
      following = this.queries.follow(container, { tail: 0 }, (line) => sink.output(line.stream === 'stderr' ? 2 : 1, Buffer.from(line.log, 'utf8')), stopFollowing.signal);
      void following.then(finish);
    }

    // Connect while the shim starts, so the first output (replayed to the first client) is ours.
    const connecting = tty || openStdin ? connectWhenListening(container.directory, CONTAINER_FILES.attach, connectAbort.signal) : undefined;
    connecting?.catch(() => undefined);
    const startedAtMs = Date.now();
    try {
      if (options.start) await this.lifecycle.startQueued(container, options.consoleSize);
    } catch (error) {
      clientGone = true;
      finish();
      if (options.run && container.record.state.startedAt === ZERO_TIME && !container.removed) {
        await container.serialize(() => this.removal.destroy(container)).catch(() => undefined);
      }
      throw error;
    }
    if (connecting) {
      try {
        socket = await connecting;
      } catch (error) {
        // Without a tty the socket only carries stdin, which a process that has ended no longer reads.
        if (!tty && !exited) throw error;
        // The process ended before the shim took a client: its output is in the log.
        if (tty && !finished) {
          replaying = true;
          this.replayLogAfterExit(container, startedAtMs - 1000, sink, finish);
        }
      }
    }
    if (socket) {
      socket.on('error', () => socket?.destroy());
      if (tty) {
        let received = 0;
        socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
          sink.output(1, chunk);
        });
        // The shim closes the connection once the pty's output is drained; the exit follows. A
        // connection closed before any byte came was never accepted (the process ended first):
        // the output is in the log then.
        socket.once('close', () => {
          socketClosed = true;
          if (received === 0) {
            replaying = true;
            this.replayLogAfterExit(container, startedAtMs - 1000, sink, finish);
          }
          else if (exited || !container.isRunning) finish();
        });
        if (options.consoleSize) sendControl(container.directory, CONTAINER_FILES.control, { type: 'resize', ...options.consoleSize });
      } else {
        socket.resume();
      }
    }
    if (tty && socketClosed && exited && !replaying) finish();
    return {
      write: (data) => {
        if (openStdin && socket && !socket.destroyed) socket.write(data);
      },
      endInput: () => {
        if (!tty) socket?.end();
      },
      resize: (rows, cols) => {
        if (tty && !finished) sendControl(container.directory, CONTAINER_FILES.control, { type: 'resize', rows, cols });
      },
      close: () => {
        clientGone = true;
        finish();
      },
    };
  }

  /** Sends the log lines written since `sinceMs` once the run is over, then ends the session. */
  private replayLogAfterExit(container: ManagedContainer, sinceMs: number, sink: SessionSink, finish: () => void): void {
    const replay = (): void => {
      for (const line of readLogs(container.directory, { sinceMs })) sink.output(line.stream === 'stderr' ? 2 : 1, Buffer.from(line.log, 'utf8'));
      finish();
    };
    if (container.isRunning) container.once('exit', replay);
    else replay();
  }

  /** Runs a command in a running container (`capstan exec`), through `capstan-shim exec`. */
  async exec(reference: string, body: unknown, sink: SessionSink): Promise<SessionControl> {
    this.state.assertOpen();
    const request = parseExecRequest(body);
    const container = this.state.find(reference);
    const { record } = container;
    if (container.status === 'paused') throw conflict('container_paused', `Container ${record.id} is paused, unpause the container before exec`);
    if (container.status !== 'running') throw conflict('not_running', `Container ${record.id} is not running`);
    const prepared = container.prepared ?? prepareRootfs(this.state.options.rootfs, record, container.directory);
    container.prepared = prepared;
    const user = userIn(prepared, request.user ?? record.config.user);

    const execId = randomBytes(8).toString('hex');
    const names = { config: `exec-${execId}.json`, attach: `exec-${execId}.sock`, control: `exec-${execId}.ctl`, exit: `exec-${execId}.exit.json` };
    const file = (name: string): string => path.join(container.directory, name);
    const removeFiles = (): void => {
      for (const name of Object.values(names)) fs.rmSync(file(name), { force: true });
    };
    const env = mergeEnv([...record.config.env, `HOSTNAME=${record.config.hostname}`, `HOME=${user.home}`], request.env);
    if (request.tty && !env.some((entry) => entry.startsWith('TERM='))) env.push('TERM=xterm');
    const config: ExecConfig = {
      args: request.cmd,
      env,
      cwd: request.workingDir ?? (record.config.workingDir || '/'),
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      tty: request.tty,
      openStdin: request.openStdin,
      ...(request.tty ? { attachSocket: file(names.attach), controlSocket: file(names.control) } : {}),
      ...(request.consoleSize ? { consoleSize: request.consoleSize } : {}),
      pid: record.state.pid,
      startTimeTicks: record.state.startTimeTicks,
      cgroupProcsFiles: this.state.options.cgroups.directories(container.cgroupPath).map(({ directory }) => path.join(directory, 'cgroup.procs')),
      capabilities: [...DOCKER_DEFAULT_CAPABILITIES],
      exitRecordPath: file(names.exit),
    };
    writeFileAtomic(file(names.config), JSON.stringify(config) + '\n');

    const logFd = fs.openSync(file(SHIM_LOG_FILE), 'a', 0o600);
    let child;
    try {
      child = spawn(this.state.shimBinary, ['exec', container.directory, file(names.config)], {
        stdio: [request.openStdin && !request.tty ? 'pipe' : 'ignore', request.tty ? logFd : 'pipe', request.tty ? logFd : 'pipe', 'pipe'],
      });
    } finally {
      fs.closeSync(logFd);
    }
    const exitStatus = new Promise<number>((resolve) => {
      child.once('error', () => resolve(126));
      child.once('close', (code, signal) => resolve(code ?? 128 + (signal ? (parseSignal(signal) ?? 0) : 0)));
    });
    // With a tty, be the shim's first client as early as possible (it replays output to that one).
    const connectAbort = new AbortController();
    const connecting = request.tty ? connectWhenListening(container.directory, names.attach, connectAbort.signal) : undefined;
    connecting?.catch(() => undefined);
    const status = await readStatus(child.stdio[3] as Readable, child, () => '').catch((error: unknown) => {
      connectAbort.abort();
      removeFiles();
      throw error;
    });
    if (status.type === 'error') {
      connectAbort.abort();
      removeFiles();
      const exitCode = status.exitCode ?? 126;
      throw new RuntimeError(exitCode === 126 || exitCode === 127 ? 400 : 500, 'exec_failed', status.message, { exitCode, ...(status.code ? { errno: status.code } : {}) });
    }

    let clientGone = false;
    let socket: net.Socket | undefined;
    if (request.tty) {
      try {
        socket = await Promise.race([
          connecting!,
          exitStatus.then(() => {
            throw new Error('the command ended before its terminal could be attached');
          }),
        ]);
        socket.on('error', () => socket?.destroy());
        socket.on('data', (chunk: Buffer) => sink.output(1, chunk));
      } catch (error) {
        this.state.log(`capstan: warning: exec in ${record.name}: cannot attach to its terminal: ${(error as Error).message}`);
      }
    } else {
      child.stdout!.on('data', (chunk: Buffer) => sink.output(1, chunk));
      child.stderr!.on('data', (chunk: Buffer) => sink.output(2, chunk));
      child.stdin?.on('error', () => undefined);
    }
    const done = exitStatus.then((exitCode) => {
      connectAbort.abort();
      socket?.destroy();
      removeFiles();
      if (!clientGone) sink.end(exitCode);
    });
    container.hold(done);
    return {
      write: (data) => {
        if (!request.openStdin) return;
        if (request.tty) socket?.write(data);
        else child.stdin?.write(data);
      },
      endInput: () => {
        if (!request.tty) child.stdin?.end();
      },
      resize: (rows, cols) => {
        if (request.tty) sendControl(container.directory, names.control, { type: 'resize', rows, cols });
      },
      close: () => {
        clientGone = true;
        socket?.destroy();
      },
    };
  }
}
