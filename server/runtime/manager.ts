/**
 * The container manager: capstan's own runtime, from `create` to `rm`. It decides everything (ids,
 * names, cgroups, limits, rootfs, ports, restart policies) and hands one container at a time to
 * capstan-shim, which does the syscalls and outlives the agent. State lives in one folder per
 * container (store.ts); on start the manager re-adopts what is there: live processes (PID and start
 * time both match) keep running, exits that happened meanwhile are reported with their codes, and
 * restart policies resume.
 *
 * Every change to one container runs through that container's queue, so `stop` and `rm -f` racing
 * each other see a consistent state. Exits are not queued: they arrive from the shim (exit.json,
 * noticed through inotify) whenever they happen and only ever move a container out of "running".
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { CapstanEvent } from '../events';
import type { CgroupPath, NetworkInterfaceSample } from '../model';
import { isFrozen, oomKillCount, removeCgroup, setFrozen, thaw } from './container-cgroup';
import { buildRecord, mergeEnv } from './create-record';
import { conflict, noSuchContainer, RuntimeError } from './errors';
import { hostRootfs, type ImageRef, type PreparedRootfs } from './filesystems';
import { applyContainerLimits, hasSwapAccounting, validateContainerLimits } from './limits';
import { readLogs, type LogQuery } from './logs';
import { publishPorts, type PublishedPorts } from './ports';
import { isSameProcess, parseSignal, processExists } from './process';
import { Queries } from './queries';
import { parseCreateRequest } from './request';
import { nowRfc3339, RuntimeState, withTimeout, type ManagedContainer, type RuntimeManagerOptions } from './runtime-state';
import { parseExecRequest, type SessionControl, type SessionSink } from './sessions';
import { launchShim, readStatus, SHIM_LOG_FILE, type PendingShim } from './shim';
import {
  CONTAINER_FILES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  DOCKER_DEFAULT_CAPABILITIES,
  type ExecConfig,
  type ExitRecord,
  type LogLine,
  type ShimConfig,
} from './shim-protocol';
import { SpecWriter } from './spec-writer';
import { readMountinfo, writeFileAtomic, writeFileReplace } from './store';
import type { TopResult } from './top';
import type { ContainerRecord, ContainerStatus, ContainerSummary } from './types';
import { ZERO_TIME } from './types';
import { connectWhenListening, sendControl } from './unix';
import { readFromLayers, resolveUser, type ResolvedUser } from './user';

export type { RuntimeManagerOptions } from './runtime-state';
export { mergeEnv } from './create-record';

/** container.log rotation. Units: bytes, files. */
const LOG_MAX_BYTES = 10 * 1024 * 1024;
const LOG_MAX_FILES = 3;
/** docker's stop timeout. Units: seconds. */
export const DEFAULT_STOP_TIMEOUT_SECONDS = 10;
/** How often running containers are checked besides inotify (a shim killed by hand writes no exit.json). Units: milliseconds. */
const SAFETY_POLL_MS = 1000;
/** A container that ran this long resets the restart back-off, as in docker. Units: milliseconds. */
const RESTART_RESET_MS = 10_000;
const MAX_RESTART_DELAY_MS = 60_000;
/** How long removal waits for attached clients and log followers to drain. Units: milliseconds. */
const DRAIN_TIMEOUT_MS = 5_000;

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export class RuntimeManager {
  private readonly state: RuntimeState;
  private readonly specs: SpecWriter;
  private readonly queries: Queries;
  private safetyTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private swapAccounting: boolean | undefined;

  constructor(options: RuntimeManagerOptions) {
    this.state = new RuntimeState(options);
    this.specs = new SpecWriter(this.state);
    this.queries = new Queries(this.state);
  }

  get cgroupParent(): CgroupPath {
    return this.state.options.cgroupParent;
  }

  // ---------------------------------------------------------------- start-up and shut-down

  /** Loads every container folder and re-adopts running containers. */
  async start(): Promise<void> {
    this.state.store.ensureRoot();
    await this.state.store.removeAbandoned();
    this.unsubscribe = this.state.options.bus.subscribe((event) => this.onBusEvent(event));
    for (const id of this.state.store.list()) {
      try {
        await this.adopt(id);
      } catch (error) {
        this.state.log(`capstan: warning: cannot re-adopt container ${id}: ${(error as Error).message}`);
      }
    }
    this.safetyTimer = setInterval(() => this.safetyPoll(), SAFETY_POLL_MS);
    this.safetyTimer.unref();
  }

  /**
   * Stops watching. Containers keep running (their shims own them); published ports close with the
   * agent, as they live in it, and come back when the next agent re-adopts.
   */
  async close(): Promise<void> {
    if (this.state.closed) return;
    this.state.closed = true;
    if (this.safetyTimer) clearInterval(this.safetyTimer);
    this.unsubscribe?.();
    for (const container of this.state.all()) {
      container.watcher?.close();
      container.watcher = undefined;
      if (container.restartTimer) clearTimeout(container.restartTimer);
      await container.ports?.close();
      container.ports = undefined;
    }
    // A change made just before shutdown (an exit, an update) must still reach spec.json.
    await this.saved();
  }

  private async adopt(id: string): Promise<void> {
    const record = this.state.store.readRecord(id);
    const directory = this.state.store.directory(id);
    if (!record) {
      const cgroupPath = this.state.cgroupPathOf(id);
      // A folder without spec.json is a create that crashed half-way: finish undoing it.
      this.state.log(`capstan: removing half-created container folder ${directory}`);
      await removeCgroup(this.state.options.cgroups, cgroupPath);
      await this.releaseRootfs(directory);
      await this.state.store.removeDirectory(id);
      return;
    }
    const container = this.state.register(record);
    const state = record.state;
    // init.json names the latest run the shim started. spec.json may not know it yet (the agent
    // died between the start and the save), so the process decides, not the recorded status.
    const init = this.state.store.readInit(id);
    const unrecordedRun = init !== undefined && init.startTimeTicks !== state.startTimeTicks;
    const alive = init !== undefined && isSameProcess(init.pid, init.startTimeTicks);
    if (init && (alive || unrecordedRun)) {
      Object.assign(state, { status: 'running', pid: init.pid, startTimeTicks: init.startTimeTicks, shimPid: init.shimPid, startedAt: init.startedAt });
    }
    if (!alive && state.status !== 'running' && state.status !== 'paused') {
      if (state.status === 'restarting') this.scheduleRestart(container);
      // Nothing runs: make sure nothing is left of the last run either.
      else if (state.status !== 'created') container.cleanup = removeCgroup(this.state.options.cgroups, container.cgroupPath);
      return;
    }
    if (alive) {
      container.startedAtMs = Date.parse(state.startedAt) || Date.now();
      state.status = isFrozen(this.state.options.cgroups, container.cgroupPath) ? 'paused' : 'running';
      // The spec is the truth for the limits it records (create, and every `capstan update` since):
      // whatever changed the cgroup while no agent watched, the container gets its limits back.
      try {
        applyContainerLimits(this.state.options.cgroups, container.cgroupPath, record.hostConfig.limits);
      } catch (error) {
        this.state.log(`capstan: warning: container ${record.name}: cannot re-apply its limits: ${(error as Error).message}`);
      }
      this.watch(container);
      try {
        container.ports = await this.bindPorts(container);
        state.boundPorts = container.ports.bound;
      } catch (error) {
        this.state.log(`capstan: warning: container ${record.name}: cannot publish its ports again: ${(error as Error).message}`);
        state.boundPorts = [];
      }
      void this.specs.persist(container);
      // It may have exited between the check and the watch.
      this.checkExit(container);
      return;
    }
    const exit = this.state.store.readExit(id);
    this.handleExit(container, exit ?? { exitCode: 255, finishedAt: nowRfc3339() }, exit ? '' : 'the shim ended without recording an exit status');
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
    const container = this.state.get(containerId);
    if (!container || container.removed) return;
    const limits = container.record.hostConfig.limits;
    if (settings.nanoCpus !== undefined) limits.nanoCpus = settings.nanoCpus;
    else if (settings.cpuQuota !== undefined) limits.nanoCpus = 0;
    if (settings.memory !== undefined) limits.memoryBytes = settings.memory;
    if (settings.memorySwap !== undefined) limits.memorySwapBytes = settings.memorySwap;
    if (settings.pidsLimit !== undefined) limits.pidsLimit = settings.pidsLimit > 0 ? settings.pidsLimit : null;
    void this.specs.persist(container);
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

  // ---------------------------------------------------------------- create

  /**
   * Creates a container (and with `start`, starts it: then a failed start removes it again, so
   * `run` with a bad command leaves nothing behind). Resolves with the new id.
   */
  async create(body: unknown, options: { start?: boolean } = {}): Promise<{ id: string; warnings: string[] }> {
    const { container, warnings, saved } = this.createContainer(body);
    try {
      if (options.start) await container.serialize(() => this.startLocked(container));
      await saved;
    } catch (error) {
      throw await this.undoCreate(container, error);
    }
    return { id: container.id, warnings };
  }

  /**
   * `run` in the foreground in one request: create, then attach with the start, as attach()
   * describes. All or nothing: a failed start or spec.json write removes the container again.
   */
  async runAttached(
    body: unknown,
    options: { consoleSize?: { rows: number; cols: number } },
    sink: SessionSink,
  ): Promise<{ id: string; warnings: string[]; control: SessionControl }> {
    const { container, warnings, saved } = this.createContainer(body);
    let control: SessionControl | undefined;
    try {
      control = await this.attach(container.id, { start: true, ...(options.consoleSize ? { consoleSize: options.consoleSize } : {}) }, sink);
      await saved;
    } catch (error) {
      control?.close();
      throw await this.undoCreate(container, error);
    }
    return { id: container.id, warnings, control };
  }

  /**
   * The synchronous part of a create: checks, the record, the name, the folder; spec.json is then
   * written (and fsynced) on libuv's pool while the caller goes on starting it. `saved` settles
   * when it is on disk: answers wait for it, so a container the API reports is on disk.
   */
  private createContainer(body: unknown): { container: ManagedContainer; warnings: string[]; saved: Promise<void> } {
    this.state.assertOpen();
    const request = parseCreateRequest(body);
    validateContainerLimits(request.limits, this.state.hostCpus);
    const image = this.resolveImage(request.image);
    const warnings: string[] = [];
    const record = buildRecord(request, image, warnings, {
      isNameTaken: (name) => this.state.nameOwner(name) !== undefined,
      canLimitSwap: () => this.canLimitSwap(),
      cgroupPathOf: (id) => this.state.cgroupPathOf(id),
    });
    // The name is reserved before the first await, so two creates cannot both take it.
    const taken = this.state.nameOwner(record.name);
    if (taken !== undefined) {
      throw conflict(
        'name_in_use',
        `Conflict. The container name "/${record.name}" is already in use by container "${taken}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    try {
      this.state.store.createDirectory(record.id);
    } catch (error) {
      throw new RuntimeError(500, 'state_write_failed', `cannot create the container's state folder: ${(error as Error).message}`, {}, { cause: error });
    }
    const container = this.state.register(record);
    this.state.event(container, 'create');
    const saved = this.specs.persist(container, true);
    saved.catch(() => undefined);
    return { container, warnings, saved };
  }

  /** Takes a half-made container away again (killed if it started); returns the error to throw. */
  private async undoCreate(container: ManagedContainer, error: unknown): Promise<RuntimeError> {
    if (container.isRunning) {
      container.record.state.manuallyStopped = true;
      const exited = this.nextExit(container);
      this.signal(container, 9);
      await withTimeout(exited, 10_000);
    }
    await container
      .serialize(() => this.destroy(container))
      .catch((destroyError: unknown) =>
        this.state.log(`capstan: warning: cannot remove container ${container.record.name} after a failed create: ${(destroyError as Error).message}`),
      );
    return error instanceof RuntimeError
      ? error
      : new RuntimeError(500, 'state_write_failed', `cannot save the container's state: ${(error as Error).message}`, {}, { cause: error });
  }

  private resolveImage(reference: string): ImageRef | undefined {
    if (reference === '') return undefined;
    const image = this.state.options.rootfs.resolveImage(reference);
    if (!image) throw new RuntimeError(404, 'no_such_image', `No such image: ${reference}`);
    return image;
  }

  private canLimitSwap(): boolean {
    if (this.swapAccounting === undefined) this.swapAccounting = hasSwapAccounting(this.state.options.cgroups, '/');
    return this.swapAccounting;
  }

  // ---------------------------------------------------------------- start

  /** docker start: a running container is left alone. */
  async startContainer(reference: string): Promise<void> {
    this.state.assertOpen();
    const container = this.state.find(reference);
    await container.serialize(async () => {
      if (container.isRunning) return;
      container.record.state.manuallyStopped = false;
      await this.startLocked(container);
    });
  }

  private async startLocked(container: ManagedContainer, consoleSize?: { rows: number; cols: number }): Promise<void> {
    if (container.removed) throw noSuchContainer(container.id);
    if (container.restartTimer) {
      clearTimeout(container.restartTimer);
      container.restartTimer = undefined;
    }
    await container.cleanup;
    const { record } = container;
    const { cgroups } = this.state.options;
    const undo: Array<() => Promise<void> | void> = [];
    // The shim starts first and waits to be told: its exec and daemonizing overlap the work below.
    const launching = launchShim(this.state.shimBinary, container.directory);
    launching.catch(() => undefined);
    // The previous run's records go before the go (the shim writes new ones only after it).
    for (const name of [CONTAINER_FILES.init, CONTAINER_FILES.exit, CONTAINER_FILES.shimPid]) {
      fs.rmSync(path.join(container.directory, name), { force: true });
    }
    let shim: PendingShim | undefined;
    undo.push(() => {
      if (shim) shim.cancel();
      else launching.then((pending) => pending.cancel(), () => undefined);
    });
    try {
      const prepared = record.config.imageId === '' ? hostRootfs(container.directory) : this.state.options.rootfs.prepare(container.directory, this.imageOf(record));
      container.prepared = prepared;
      const user = userIn(prepared, record.config.user);

      // The cgroup, with its limits, exists before the process: the shim puts the child in it before exec.
      try {
        cgroups.create(container.cgroupPath);
      } catch (error) {
        throw new RuntimeError(500, 'cgroup_create_failed', `cannot create cgroup ${container.cgroupPath}: ${(error as Error).message}`);
      }
      undo.push(() => removeCgroup(this.state.options.cgroups, container.cgroupPath));
      applyContainerLimits(cgroups, container.cgroupPath, record.hostConfig.limits);

      container.ports = await this.bindPorts(container);
      const ports = container.ports;
      undo.push(() => ports.close());
      record.state.boundPorts = ports.bound;

      const env = [...record.config.env];
      if (!env.some((entry) => entry.startsWith('HOME='))) env.push(`HOME=${user.home}`);
      if (!env.some((entry) => entry.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${record.config.hostname}`);
      const config: ShimConfig = {
        id: record.id,
        args: record.config.args,
        env,
        cwd: record.config.workingDir || '/',
        user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
        hostname: record.config.hostname,
        tty: record.config.tty,
        openStdin: record.config.openStdin,
        attachSocket: path.join(container.directory, CONTAINER_FILES.attach),
        controlSocket: path.join(container.directory, CONTAINER_FILES.control),
        ...(consoleSize ? { consoleSize } : {}),
        rootfs: prepared.rootfs,
        cgroupProcsFiles: cgroups.directories(container.cgroupPath).map(({ directory }) => path.join(directory, 'cgroup.procs')),
        capabilities: [...DOCKER_DEFAULT_CAPABILITIES],
        maskedPaths: [...DEFAULT_MASKED_PATHS],
        readonlyPaths: [...DEFAULT_READONLY_PATHS],
        log: { path: path.join(container.directory, CONTAINER_FILES.log), maxBytes: LOG_MAX_BYTES, maxFiles: LOG_MAX_FILES },
        initRecordPath: path.join(container.directory, CONTAINER_FILES.init),
        exitRecordPath: path.join(container.directory, CONTAINER_FILES.exit),
        shimPidPath: path.join(container.directory, CONTAINER_FILES.shimPid),
      };
      // Read once by the shim right away and rewritten at every start: atomic, but not worth an fsync.
      writeFileReplace(path.join(container.directory, CONTAINER_FILES.config), JSON.stringify(config) + '\n');

      // Watch before the shim runs: `true` can be gone before the status line is read.
      this.watch(container);
      undo.push(() => this.unwatch(container));
      container.oomThisRun = false;
      shim = await launching;
      const status = await shim.go();
      if (status.type === 'error') {
        const exitCode = status.exitCode ?? 128;
        record.state.exitCode = exitCode;
        record.state.error = status.message;
        const userError = status.stage === 'exec' || status.stage === 'cwd' || status.stage === 'user';
        throw new RuntimeError(userError ? 400 : 500, 'start_failed', `failed to start container ${record.name}: ${status.message}`, {
          exitCode,
          ...(status.code ? { errno: status.code } : {}),
        });
      }
      Object.assign(record.state, {
        status: 'running',
        pid: status.pid,
        startTimeTicks: status.startTimeTicks,
        shimPid: status.shimPid ?? 0,
        startedAt: nowRfc3339(),
        finishedAt: ZERO_TIME,
        exitCode: 0,
        oomKilled: false,
        error: '',
      });
      container.startedAtMs = Date.now();
      this.state.event(container, 'start');
      // The exit may already be on disk; the watcher only reports changes after it was set up.
      if (!this.checkExit(container)) void this.specs.persist(container);
    } catch (error) {
      for (const step of undo.reverse()) {
        try {
          await step();
        } catch (undoError) {
          this.state.log(`capstan: warning: container ${record.name}: cleaning up a failed start: ${(undoError as Error).message}`);
        }
      }
      container.ports = undefined;
      record.state.boundPorts = [];
      if (record.state.error === '') record.state.error = (error as Error).message;
      void this.specs.persist(container);
      throw error;
    }
  }

  private imageOf(record: ContainerRecord): ImageRef {
    const image = this.state.options.rootfs.resolveImage(record.config.imageId);
    if (!image) throw new RuntimeError(404, 'no_such_image', `No such image: ${record.config.image} (${record.config.imageId})`);
    return image;
  }

  /** Listens on the container's published ports; connections go to its current main process. */
  private bindPorts(container: ManagedContainer): Promise<PublishedPorts> {
    return publishPorts({
      bindings: container.record.hostConfig.portBindings,
      targetPid: () => (container.status === 'running' ? container.record.state.pid : undefined),
      counters: container.counters,
      connect: this.state.connect,
      onConnectError: (binding, error) =>
        this.state.log(`capstan: container ${container.record.name}: cannot forward a connection to port ${binding.containerPort}: ${error.message}`),
    });
  }

  // ---------------------------------------------------------------- exits

  private watch(container: ManagedContainer): void {
    if (container.watcher) return;
    try {
      container.watcher = fs.watch(container.directory, { persistent: false }, (_event, file) => {
        const name = file === null ? null : String(file);
        if (name === CONTAINER_FILES.exit || name === null) this.checkExit(container);
        container.emit('directory', name);
      });
      container.watcher.on('error', () => this.unwatch(container));
    } catch (error) {
      // The safety poll still notices the exit, a second later.
      this.state.log(`capstan: warning: cannot watch ${container.directory}: ${(error as Error).message}`);
    }
  }

  private unwatch(container: ManagedContainer): void {
    container.watcher?.close();
    container.watcher = undefined;
  }

  /** Handles exit.json if it is there; true when the container has exited. */
  private checkExit(container: ManagedContainer): boolean {
    if (!container.isRunning) return false;
    const exit = this.state.store.readExit(container.id);
    if (!exit) return false;
    this.handleExit(container, exit, '');
    return true;
  }

  private safetyPoll(): void {
    for (const container of this.state.all()) {
      if (!container.isRunning || container.removed) continue;
      if (this.checkExit(container)) continue;
      const { pid, startTimeTicks, shimPid } = container.record.state;
      if (isSameProcess(pid, startTimeTicks)) continue;
      // The process is gone and no exit was recorded: wait for the shim while it still lives.
      const shim = shimPid || this.state.store.readInit(container.id)?.shimPid || 0;
      if (shim > 0 && processExists(shim)) continue;
      this.handleExit(container, { exitCode: 255, finishedAt: nowRfc3339() }, 'the shim ended without recording an exit status');
    }
  }

  /** The main process has ended: record it, tell everyone, then clean up and apply the restart policy. */
  private handleExit(container: ManagedContainer, exit: ExitRecord, error: string): void {
    const { record } = container;
    const state = record.state;
    this.unwatch(container);
    Object.assign(state, {
      status: 'exited' as ContainerStatus,
      // startTimeTicks stays: it names the run that ended (re-adoption compares init.json with it).
      pid: 0,
      exitCode: exit.exitCode,
      finishedAt: exit.finishedAt || nowRfc3339(),
      error,
      // The OOM watcher's event usually comes first; the kernel's own counter in the cgroup (fresh
      // at every start) settles it when the event is late or the watcher never saw the cgroup.
      oomKilled: state.oomKilled || container.oomThisRun || oomKillCount(this.state.options.cgroups, container.cgroupPath) > 0,
    });
    const startedAtMs = container.startedAtMs || Date.parse(state.startedAt) || Date.now();
    const runMs = (Date.parse(state.finishedAt) || Date.now()) - startedAtMs;
    this.state.event(container, 'die', { exitCode: String(exit.exitCode), execDuration: String(Math.max(0, Math.round(runMs / 1000))) }, { exitCode: exit.exitCode });
    container.emit('exit', record);

    const ports = container.ports;
    container.ports = undefined;
    state.boundPorts = [];
    container.cleanup = (async () => {
      await ports?.close();
      await removeCgroup(this.state.options.cgroups, container.cgroupPath);
    })().catch((cleanupError: unknown) => this.state.log(`capstan: warning: container ${record.name}: ${(cleanupError as Error).message}`));

    if (this.shouldRestart(container)) {
      state.status = 'restarting';
      void this.specs.persist(container);
      this.scheduleRestart(container);
      return;
    }
    void this.specs.persist(container);
    if (record.hostConfig.autoRemove && !container.removed) {
      void container.serialize(() => this.destroy(container)).catch((removeError: unknown) =>
        this.state.log(`capstan: warning: cannot remove container ${record.name} (--rm): ${(removeError as Error).message}`),
      );
    }
  }

  private shouldRestart(container: ManagedContainer): boolean {
    const { state, hostConfig } = container.record;
    if (state.manuallyStopped || container.removed || this.state.closed) return false;
    const policy = hostConfig.restartPolicy;
    switch (policy.name) {
      case 'always':
      case 'unless-stopped':
        return true;
      case 'on-failure':
        return state.exitCode !== 0 && (policy.maximumRetryCount === 0 || state.restartCount < policy.maximumRetryCount);
      default:
        return false;
    }
  }

  private scheduleRestart(container: ManagedContainer): void {
    if (this.state.closed) return;
    const runMs = Date.now() - container.startedAtMs;
    const attempt = runMs >= RESTART_RESET_MS ? 0 : Math.min(container.record.state.restartCount, 16);
    const delay = Math.min(this.state.restartDelayMs * 2 ** attempt, MAX_RESTART_DELAY_MS);
    container.restartTimer = setTimeout(() => {
      container.restartTimer = undefined;
      void container
        .serialize(async () => {
          if (container.status !== 'restarting' || container.removed) return;
          container.record.state.restartCount++;
          try {
            await this.startLocked(container);
            this.state.event(container, 'restart');
          } catch (error) {
            this.state.log(`capstan: warning: restarting container ${container.record.name} failed: ${(error as Error).message}`);
            container.record.state.status = 'exited';
            void this.specs.persist(container);
          }
        })
        .catch(() => undefined);
    }, delay);
    container.restartTimer.unref();
  }

  /** Resolves once every spec.json write requested so far is on disk (or has failed and been logged). */
  saved(): Promise<void> {
    return this.specs.saved();
  }

  private onBusEvent(event: CapstanEvent): void {
    if (event.action !== 'oom') return;
    const container = this.state.atCgroup(event.actor.cgroupPath) ?? this.state.get(event.actor.id);
    if (!container || container.removed) return;
    // docker sets OOMKilled at the event (the main process is usually the victim and dies with 137)
    // and clears it at the next start.
    container.oomThisRun = true;
    container.record.state.oomKilled = true;
    void this.specs.persist(container);
  }

  // ---------------------------------------------------------------- stop, kill, restart

  async stop(reference: string, timeoutSeconds = DEFAULT_STOP_TIMEOUT_SECONDS): Promise<void> {
    this.state.assertOpen();
    const container = this.state.find(reference);
    await container.serialize(async () => {
      if (container.status === 'restarting') {
        this.cancelRestart(container);
        this.state.event(container, 'stop');
        return;
      }
      if (!container.isRunning) return;
      container.record.state.manuallyStopped = true;
      await this.stopLocked(container, timeoutSeconds);
      this.state.event(container, 'stop');
    });
  }

  private cancelRestart(container: ManagedContainer): void {
    if (container.restartTimer) clearTimeout(container.restartTimer);
    container.restartTimer = undefined;
    container.record.state.manuallyStopped = true;
    container.record.state.status = 'exited';
    void this.specs.persist(container);
  }

  /** SIGTERM, then SIGKILL after `timeoutSeconds` (negative: wait for ever), as docker stop does. */
  private async stopLocked(container: ManagedContainer, timeoutSeconds: number): Promise<void> {
    const exited = this.nextExit(container);
    this.signal(container, 15);
    if (timeoutSeconds !== 0 && (await withTimeout(exited, timeoutSeconds < 0 ? undefined : timeoutSeconds * 1000))) return;
    if (!container.isRunning) return;
    this.signal(container, 9);
    if (!(await withTimeout(exited, 30_000))) {
      throw new RuntimeError(500, 'stop_failed', `container ${container.record.name} did not exit within 30 s of SIGKILL`);
    }
  }

  async kill(reference: string, signalText = 'SIGKILL'): Promise<void> {
    this.state.assertOpen();
    const signal = parseSignal(signalText);
    if (signal === undefined) throw new RuntimeError(400, 'invalid_signal', `Invalid signal: ${JSON.stringify(signalText).slice(1, -1).slice(0, 20)}`);
    const container = this.state.find(reference);
    await container.serialize(async () => {
      if (!container.isRunning) throw conflict('not_running', `Cannot kill container: ${container.id}: Container ${container.id} is not running`);
      if (signal === 9 || signal === 15 || signal === 2) container.record.state.manuallyStopped = true;
      this.signal(container, signal);
    });
  }

  /** Sends `signal` to the main process (checked to still be the same process); publishes `kill`. */
  private signal(container: ManagedContainer, signal: number): void {
    const { pid, startTimeTicks } = container.record.state;
    this.state.event(container, 'kill', { signal: String(signal) });
    if (!isSameProcess(pid, startTimeTicks)) return;
    try {
      process.kill(pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
    // A frozen process only acts on a signal once thawed: a kill must not wait for unpause.
    if (container.status === 'paused' && (signal === 9 || signal === 15)) {
      thaw(this.state.options.cgroups, container.cgroupPath);
      container.record.state.status = 'running';
      this.state.event(container, 'unpause');
    }
  }

  private nextExit(container: ManagedContainer): Promise<ContainerRecord> {
    return new Promise((resolve) => container.once('exit', resolve));
  }

  async restart(reference: string, timeoutSeconds = DEFAULT_STOP_TIMEOUT_SECONDS): Promise<void> {
    this.state.assertOpen();
    const container = this.state.find(reference);
    await container.serialize(async () => {
      if (container.status === 'restarting') this.cancelRestart(container);
      if (container.isRunning) {
        container.record.state.manuallyStopped = true;
        await this.stopLocked(container, timeoutSeconds);
        this.state.event(container, 'stop');
      }
      container.record.state.manuallyStopped = false;
      await this.startLocked(container);
      this.state.event(container, 'restart');
    });
  }

  // ---------------------------------------------------------------- pause

  async pause(reference: string): Promise<void> {
    this.state.assertOpen();
    const container = this.state.find(reference);
    await container.serialize(async () => {
      if (container.status === 'paused') throw conflict('already_paused', `Container ${container.id} is already paused`);
      if (container.status !== 'running') throw conflict('not_running', `Container ${container.id} is not running`);
      await setFrozen(this.state.options.cgroups, container.cgroupPath, true);
      container.record.state.status = 'paused';
      void this.specs.persist(container);
      this.state.event(container, 'pause');
    });
  }

  async unpause(reference: string): Promise<void> {
    this.state.assertOpen();
    const container = this.state.find(reference);
    await container.serialize(async () => {
      if (container.status !== 'paused') throw conflict('not_paused', `Container ${container.id} is not paused`);
      await setFrozen(this.state.options.cgroups, container.cgroupPath, false);
      container.record.state.status = 'running';
      void this.specs.persist(container);
      this.state.event(container, 'unpause');
    });
  }

  // ---------------------------------------------------------------- rm

  async remove(reference: string, force = false): Promise<void> {
    this.state.assertOpen();
    const container = this.state.find(reference);
    await container.serialize(async () => {
      if (container.removed) return;
      if (container.isRunning) {
        if (!force) {
          throw conflict(
            'container_running',
            `You cannot remove a running container ${container.id}. Stop the container before attempting removal or force remove`,
          );
        }
        container.record.state.manuallyStopped = true;
        const exited = this.nextExit(container);
        this.signal(container, 9);
        if (!(await withTimeout(exited, 30_000))) {
          throw new RuntimeError(500, 'kill_failed', `container ${container.record.name} did not exit within 30 s of SIGKILL`);
        }
      }
      if (container.status === 'restarting') this.cancelRestart(container);
      await this.destroy(container);
    });
  }

  /** Removes a stopped container: cgroup, rootfs, folder, name; publishes `destroy`. */
  private async destroy(container: ManagedContainer): Promise<void> {
    if (container.removed || container.removing) return;
    container.record.state.status = 'removing';
    container.removing = true;
    if (container.restartTimer) clearTimeout(container.restartTimer);
    try {
      await container.cleanup;
      await withTimeout(Promise.allSettled([...container.holds]), DRAIN_TIMEOUT_MS);
      await container.ports?.close();
      await removeCgroup(this.state.options.cgroups, container.cgroupPath);
      await container.saving;
      await this.releaseRootfs(container.directory);
      await this.state.store.removeDirectory(container.id, readMountinfo());
    } catch (error) {
      // Still there: keep it listed (as "dead", docker's word for a container that failed removal).
      container.removing = false;
      container.record.state.status = 'dead';
      void this.specs.persist(container);
      throw error;
    }
    container.removed = true;
    this.state.forget(container);
    this.state.event(container, 'destroy');
    container.emit('removed');
  }

  private async releaseRootfs(directory: string): Promise<void> {
    try {
      await this.state.options.rootfs.release(directory);
    } catch (error) {
      this.state.log(`capstan: warning: releasing the root filesystem in ${directory}: ${(error as Error).message}`);
    }
  }

  // ---------------------------------------------------------------- wait, logs

  /** docker wait: resolves with the exit code once the condition holds. */
  async wait(reference: string, condition: WaitCondition = 'not-running', signal?: AbortSignal): Promise<{ StatusCode: number; Error?: { Message: string } }> {
    const container = this.state.find(reference);
    const result = (): { StatusCode: number; Error?: { Message: string } } => {
      const { exitCode, error } = container.record.state;
      return error ? { StatusCode: exitCode, Error: { Message: error } } : { StatusCode: exitCode };
    };
    if (condition === 'not-running' && !container.isRunning && container.status !== 'restarting') return result();
    if (condition === 'removed' && container.removed) return result();
    await new Promise<void>((resolve, reject) => {
      const event = condition === 'removed' ? 'removed' : 'exit';
      const done = (): void => {
        signal?.removeEventListener('abort', aborted);
        resolve();
      };
      const aborted = (): void => {
        container.off(event, done);
        reject(new RuntimeError(499, 'aborted', 'the client went away'));
      };
      container.once(event, done);
      signal?.addEventListener('abort', aborted, { once: true });
    });
    return result();
  }

  /** Lines logged so far (with `follow`, then new ones until the container stops or `signal` aborts). */
  followLogs(reference: string, query: LogQuery, follow: boolean, onLine: (line: LogLine) => void, signal?: AbortSignal): Promise<void> {
    return this.queries.followLogs(reference, query, follow, onLine, signal);
  }

  // ---------------------------------------------------------------- attach and exec

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
      if (options.start) {
        await container.serialize(async () => {
          if (container.isRunning) return;
          container.record.state.manuallyStopped = false;
          await this.startLocked(container, options.consoleSize);
        });
      }
    } catch (error) {
      clientGone = true;
      finish();
      if (options.run && container.record.state.startedAt === ZERO_TIME && !container.removed) {
        await container.serialize(() => this.destroy(container)).catch(() => undefined);
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
    const prepared = container.prepared ?? (record.config.imageId === '' ? hostRootfs(container.directory) : this.state.options.rootfs.prepare(container.directory, this.imageOf(record)));
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

/** `-u` resolved against the container's own /etc/passwd and /etc/group. */
function userIn(prepared: PreparedRootfs, spec: string): ResolvedUser {
  return resolveUser(spec, readFromLayers(prepared.layersTopFirst, 'etc/passwd'), readFromLayers(prepared.layersTopFirst, 'etc/group'));
}
