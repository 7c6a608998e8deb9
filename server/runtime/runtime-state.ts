/**
 * What every part of capstan's runtime shares: the containers it holds (one ManagedContainer per
 * folder in the store), how a reference finds one, the services the agent handed in, and whether
 * the agent is shutting down. Each concern module (lifecycle, exits, adoption, sessions, queries,
 * the spec writer) receives the one RuntimeState the facade made, so they all see the same
 * containers and none keeps a second map of its own that could drift.
 */
import { EventEmitter } from 'node:events';
import type * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CgroupManager } from '../cgroup/manage';
import type { CapstanEvent, EventAction, EventBus } from '../events';
import type { CgroupPath, ContainerInfo } from '../model';
import { connectInNetns } from '../native';
import { noSuchContainer, RuntimeError } from './errors';
import type { PreparedRootfs, RootfsProvider } from './filesystems';
import { newPortCounters, type ConnectInNamespace, type PortCounters, type PublishedPorts } from './ports';
import { SeccompProgramCache } from './security/program-cache';
import { defaultShimPath } from './shim';
import { ContainerStore } from './store';
import { VolumeStore } from './volumes/store';
import type { ContainerRecord, ContainerStatus } from './types';

export interface RuntimeManagerOptions {
  stateDir: string;
  cgroups: CgroupManager;
  /** Parent of every container cgroup (`/capstan`, or `--cgroup-parent`). */
  cgroupParent: CgroupPath;
  bus: EventBus;
  rootfs: RootfsProvider;
  /** Defaults to native/build/Release/capstan-shim in this checkout. */
  shimBinary?: string;
  /** CPUs --cpus may ask for; defaults to the CPUs the agent may run on. Units: CPUs. */
  hostCpus?: number;
  /** Opens the container end of a published port (tests inject a fake). */
  connect?: ConnectInNamespace;
  log?: (message: string) => void;
  /** First restart-policy delay; doubles per restart up to a minute, as docker does. Units: milliseconds. */
  restartDelayMs?: number;
  /** The OOM watch of every run (the agent's OOM monitor); without it OOMKilled comes from the counter at exit only. */
  oomWatch?: ContainerOomWatch;
}

/**
 * What the runtime needs of an OOM watcher (server/oom's OomMonitor fits): a run's watch is armed
 * once its cgroup exists and before its first process is let go, so no kill comes before it; and
 * settled when the run has ended and before the cgroup is removed, so no kill is lost with it.
 */
export interface ContainerOomWatch {
  /**
   * `killsReported`: the kills of this cgroup already reported (0 for a new one; undefined when not
   * known, and then the kills counted at the first reading are taken as old). Units: kills (count).
   */
  watch(info: ContainerInfo, options: { killsReported: number | undefined }): void;
  /**
   * Reports the kills not reported yet (dated by the watch's latest notification, else `timeMs`)
   * and ends the watch; returns the cgroup's kill count, undefined when unknown.
   */
  settle(cgroupPath: CgroupPath, timeMs?: number): number | undefined;
}

interface ContainerEvents {
  exit: [ContainerRecord];
  removed: [];
  directory: [string | null];
  /** A restart it waited for will not come (a user stopped it, or the start failed): it stays exited without another exit. */
  restartDropped: [];
}

/** One container as the manager holds it. */
export class ManagedContainer extends EventEmitter<ContainerEvents> {
  readonly counters: PortCounters = newPortCounters();
  ports: PublishedPorts | undefined;
  watcher: fs.FSWatcher | undefined;
  prepared: PreparedRootfs | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  /** Work to finish before the next start (cgroup removal, closing ports) after an exit. */
  cleanup: Promise<void> = Promise.resolve();
  /** Attached clients and log followers that must drain before an automatic removal. */
  readonly holds = new Set<Promise<unknown>>();
  /** An OOM kill was reported during the current run. */
  oomThisRun = false;
  /** Units: milliseconds since the Unix epoch. */
  startedAtMs = 0;
  removed = false;
  /** destroy() is under way: no more spec.json writes. */
  removing = false;
  /** The spec.json writer while it runs (see SpecWriter.persist); settled when idle. */
  saving: Promise<void> = Promise.resolve();
  /** A change happened since the write in progress began. */
  saveRequested = false;
  writerRunning = false;
  /** Callers waiting for a write that includes their change. */
  saveWaiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    public record: ContainerRecord,
    readonly directory: string,
    readonly cgroupPath: CgroupPath,
  ) {
    super();
    this.setMaxListeners(0);
  }

  get id(): string {
    return this.record.id;
  }

  get status(): ContainerStatus {
    return this.record.state.status;
  }

  get isRunning(): boolean {
    return this.status === 'running' || this.status === 'paused';
  }

  /** Runs `work` after every earlier operation on this container has finished. */
  serialize<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work, work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Keeps an automatic removal waiting until `work` is done (bounded by removal's drain timeout). */
  hold(work: Promise<unknown>): void {
    this.holds.add(work);
    void work.finally(() => this.holds.delete(work)).catch(() => undefined);
  }
}

export class RuntimeState {
  readonly store: ContainerStore;
  /** Volumes of the local driver (<stateDir>/volumes). */
  readonly volumes: VolumeStore;
  readonly shimBinary: string;
  readonly hostCpus: number;
  readonly connect: ConnectInNamespace;
  readonly log: (message: string) => void;
  readonly restartDelayMs: number;
  /** Seccomp filters compiled once and loaded as they are by later starts. */
  readonly seccompPrograms: SeccompProgramCache;
  /** close() has begun: no new operations, no more restarts. */
  closed = false;
  private readonly containers = new Map<string, ManagedContainer>();
  private readonly names = new Map<string, string>();
  private readonly byCgroup = new Map<CgroupPath, ManagedContainer>();

  constructor(readonly options: RuntimeManagerOptions) {
    this.store = new ContainerStore(options.stateDir);
    this.volumes = new VolumeStore(options.stateDir);
    this.shimBinary = options.shimBinary ?? defaultShimPath();
    this.hostCpus = options.hostCpus ?? os.availableParallelism();
    this.connect = options.connect ?? connectInNetns;
    this.log = options.log ?? ((message) => console.error(message));
    this.restartDelayMs = options.restartDelayMs ?? 100;
    this.seccompPrograms = new SeccompProgramCache(path.join(options.stateDir, 'seccomp'), this.shimBinary, this.log);
  }

  /** Every container held, removed ones included until destroy() forgets them. */
  all(): IterableIterator<ManagedContainer> {
    return this.containers.values();
  }

  get(id: string): ManagedContainer | undefined {
    return this.containers.get(id);
  }

  atCgroup(cgroupPath: CgroupPath): ManagedContainer | undefined {
    return this.byCgroup.get(cgroupPath);
  }

  /** The id of the container that holds `name`, if one does. */
  nameOwner(name: string): string | undefined {
    return this.names.get(name);
  }

  register(record: ContainerRecord): ManagedContainer {
    const cgroupPath = record.cgroupPath !== undefined && isSafeCgroupPath(record.cgroupPath, record.id) ? record.cgroupPath : this.cgroupPathOf(record.id);
    const container = new ManagedContainer(record, this.store.directory(record.id), cgroupPath);
    this.containers.set(record.id, container);
    this.names.set(record.name, record.id);
    this.byCgroup.set(container.cgroupPath, container);
    return container;
  }

  /** Drops a destroyed container; its name and cgroup stay with whoever took them over since. */
  forget(container: ManagedContainer): void {
    this.containers.delete(container.id);
    if (this.names.get(container.record.name) === container.id) this.names.delete(container.record.name);
    if (this.byCgroup.get(container.cgroupPath) === container) this.byCgroup.delete(container.cgroupPath);
  }

  cgroupPathOf(id: string): CgroupPath {
    const parent = this.options.cgroupParent === '/' ? '' : this.options.cgroupParent;
    return `${parent}/${id}`;
  }

  /** docker's lookup: full id, name ("x" or "/x"), then a unique id prefix. */
  find(reference: string): ManagedContainer {
    if (typeof reference !== 'string' || reference === '' || reference.length > 256) throw noSuchContainer(String(reference).slice(0, 80));
    const byId = this.containers.get(reference);
    if (byId && !byId.removed) return byId;
    const name = reference.startsWith('/') ? reference.slice(1) : reference;
    const idForName = this.names.get(name);
    if (idForName !== undefined) return this.containers.get(idForName)!;
    if (/^[0-9a-f]{1,63}$/.test(reference)) {
      const matches = [...this.containers.values()].filter((c) => !c.removed && c.id.startsWith(reference));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new RuntimeError(400, 'ambiguous_reference', `multiple IDs found with provided prefix: ${reference}`);
    }
    throw noSuchContainer(JSON.stringify(reference).slice(1, -1).slice(0, 80));
  }

  /** The container as the rest of capstan describes one (the capstan source describes its cgroup the same way). */
  infoOf(container: ManagedContainer): ContainerInfo {
    const { record } = container;
    const createdAtMs = Date.parse(record.created);
    return {
      id: record.id,
      name: record.name,
      cgroupPath: container.cgroupPath,
      image: record.config.image,
      source: 'capstan',
      isContainer: true,
      labels: { ...record.config.labels },
      ...(Number.isFinite(createdAtMs) ? { createdAtMs } : {}),
    };
  }

  /** Publishes a lifecycle event with docker's attributes (labels, image, name, then the action's own). */
  event(container: ManagedContainer, action: EventAction, attributes: Record<string, string> = {}, extra: Partial<CapstanEvent> = {}): void {
    const { record } = container;
    this.options.bus.publish({
      type: 'container',
      action,
      actor: { id: record.id, name: record.name, cgroupPath: container.cgroupPath, image: record.config.image },
      timeMs: Date.now(),
      attributes: { ...record.config.labels, image: record.config.image, name: record.name, ...attributes },
      ...extra,
    });
  }

  assertOpen(): void {
    if (this.closed) throw new RuntimeError(503, 'shutting_down', 'the agent is shutting down');
  }
}

export function nowRfc3339(): string {
  return new Date().toISOString().replace('Z', '000000Z');
}

/** Resolves true when `promise` settles within `ms` (undefined: no limit), false on timeout. */
export async function withTimeout(promise: Promise<unknown>, ms: number | undefined): Promise<boolean> {
  if (ms === undefined) {
    await promise;
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A cgroup path read back from spec.json: absolute, plain names only, ending in the container's id. */
function isSafeCgroupPath(cgroupPath: string, id: string): boolean {
  return /^(\/[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}){1,9}$/.test(cgroupPath) && cgroupPath.endsWith(`/${id}`);
}
