/**
 * An engine's containers (Docker, or Podman through the same Engine API): named, described and
 * acted on through the engine, never behind its back.
 *
 * Names come from a cache, never from a call on the collector's tick. The cache is filled by one
 * listing (and one inspect per container) when the engine answers, then kept fresh by the /events
 * stream alone: at steady state the only traffic is that stream. When the engine goes away (absent,
 * slow, garbage, restarted), one warning says so, `up` turns false (capstan_source_up), the stream
 * is re-opened with a growing delay, and the next connection lists again and replays the events
 * it missed (`since`). Containers already known keep their names meanwhile (their cgroups are
 * still the engine's); ones never seen are named by cgroup path, and still claimed by shape, so
 * capstan refuses to write their files. Names return as soon as the engine answers.
 *
 * The cgroup of a container comes from its first process (/proc/<pid>/cgroup) when it starts, so
 * a custom --cgroup-parent works, and from the path's shape otherwise (cgroups.ts).
 */
import * as fs from 'node:fs';
import type { EventBus } from '../../events/bus';
import type { CapstanEvent, EventAction } from '../../events/types';
import type { CgroupLayout, CgroupPath, ContainerInfo } from '../../model';
import { containerAttributes } from '../../oom/monitor';
import type { LogQuery } from '../../runtime/logs';
import type { LogLine } from '../../runtime/shim-protocol';
import type { TopResult } from '../../runtime/top';
import { ContainerError, noSuchContainer } from '../../containers/errors';
import { PS_ENGINE_WAIT_MS, type PsEntry, type PsSummary } from '../../containers/ps';
import type { ContainerOwner, OwnedContainer, OwnedStatus, WaitCondition } from '../../containers/types';
import type { CgroupFacts, ContainerSource } from '../source';
import { rawCgroupId } from '../raw';
import { matchEngineCgroup } from './cgroups';
import type { EngineApi, EngineEvent, EngineInspect, EngineVersion } from './types';

/** Reconnection back-off. Units: milliseconds. */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;
/** Inspects in flight during a listing. Units: requests. */
const INSPECT_CONCURRENCY = 4;
/** An engine `update` event this soon after capstan's own update of the container is its echo. Units: milliseconds. */
const OWN_UPDATE_ECHO_MS = 10_000;

/** What the cache keeps of one container: only what naming, listing and events need. */
export interface EngineContainer {
  id: string;
  name: string;
  image: string;
  imageId: string;
  labels: Record<string, string>;
  /** Only the allow-listed names. */
  env: Record<string, string>;
  status: OwnedStatus;
  /** Units: milliseconds since the Unix epoch. */
  createdAtMs?: number;
  /** Host PID of its first process while it runs; 0 otherwise. */
  pid: number;
  /** Its cgroup, once known (from /proc/<pid>/cgroup or from the collector's walk). */
  cgroupPath?: CgroupPath;
  /** The last run's exit code and whether the kernel OOM-killed it (State.ExitCode, State.OOMKilled). */
  exitCode?: number;
  oomKilled?: boolean;
}

export interface EngineSourceOptions {
  kind: 'docker' | 'podman';
  client: EngineApi;
  layout: CgroupLayout;
  bus: EventBus;
  /** Environment variable names whose values are kept (cAdvisor's --env_metadata_whitelist). */
  envAllowList?: readonly string[];
  log?: (message: string) => void;
  /** A cgroup's description changed (a name arrived, a rename): the collector re-describes it. */
  onDescriptionChanged?: (cgroupPath: CgroupPath) => void;
  /** A container started and its cgroup is known: the OOM monitor watches it from now on. */
  onContainerStarted?: (info: ContainerInfo) => void;
  /** The engine reported an OOM kill (the monitor decides whether the kernel already counted it). */
  onEngineOom?: (info: ContainerInfo, timeMs: number) => void;
  /** Where /proc is. */
  procRoot?: string;
  now?: () => number;
  /** Reconnection delays (tests shorten them). Units: milliseconds. */
  retryMs?: { first: number; max: number };
}

/** Pure: an inspect document → what the cache keeps. */
export function containerFromInspect(doc: EngineInspect, envAllowList: readonly string[]): EngineContainer {
  const env: Record<string, string> = {};
  if (envAllowList.length > 0) {
    for (const entry of doc.Config?.Env ?? []) {
      const equals = entry.indexOf('=');
      const name = equals < 0 ? entry : entry.slice(0, equals);
      if (envAllowList.includes(name)) env[name] = equals < 0 ? '' : entry.slice(equals + 1);
    }
  }
  const created = Date.parse(doc.Created);
  const state = doc.State ?? {};
  return {
    id: doc.Id,
    name: String(doc.Name ?? '').replace(/^\//, ''),
    image: String(doc.Config?.Image ?? ''),
    imageId: String(doc.Image ?? ''),
    labels: { ...(doc.Config?.Labels ?? {}) },
    env,
    status: toStatus(state.Status),
    ...(Number.isFinite(created) ? { createdAtMs: created } : {}),
    pid: typeof state.Pid === 'number' ? state.Pid : 0,
    ...(typeof state.ExitCode === 'number' ? { exitCode: state.ExitCode } : {}),
    ...(typeof state.OOMKilled === 'boolean' ? { oomKilled: state.OOMKilled } : {}),
  };
}

const STATUSES: readonly OwnedStatus[] = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'];
function toStatus(value: unknown): OwnedStatus {
  // Podman says "configured" and "stopped" where docker says "created" and "exited".
  if (value === 'configured' || value === 'initialized') return 'created';
  if (value === 'stopped' || value === 'stopping') return 'exited';
  return STATUSES.includes(value as OwnedStatus) ? (value as OwnedStatus) : 'dead';
}

/**
 * Pure: the cgroup path of `/proc/<pid>/cgroup` text on this layout: the memory controller's line
 * on v1 (the OOM watch and the limits live there), the "0::" line on v2.
 */
export function cgroupFromProcText(text: string, layout: CgroupLayout): CgroupPath | undefined {
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (layout.controllersOn === 2 ? line.startsWith('0::') : controllers.split(',').includes('memory')) return path || '/';
  }
  return undefined;
}

export class EngineSource implements ContainerSource, ContainerOwner {
  readonly kind: 'docker' | 'podman';
  private readonly containers = new Map<string, EngineContainer>();
  /** Cgroup paths seen for ids the engine does not list (yet): re-described when it does. */
  private readonly claimedPaths = new Map<string, CgroupPath>();
  private readonly ownUpdates = new Map<string, number>();
  private readonly envAllowList: readonly string[];
  private readonly log: (message: string) => void;
  private readonly now: () => number;
  private readonly procRoot: string;
  private engineVersion: EngineVersion | undefined;
  private connected = false;
  private warnedDown = false;
  private closed = false;
  private streamAbort: AbortController | undefined;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Time of the last event handled, to replay from after a reconnection. Units: milliseconds since the Unix epoch. */
  private lastEventMs: number | undefined;

  constructor(private readonly options: EngineSourceOptions) {
    this.kind = options.kind;
    this.envAllowList = options.envAllowList ?? [];
    this.log = options.log ?? ((message) => console.error(message));
    this.now = options.now ?? Date.now;
    this.procRoot = options.procRoot ?? '/proc';
  }

  /** Whether the engine answers right now (capstan_source_up). */
  get up(): boolean {
    return this.connected;
  }

  get address(): string {
    return this.options.client.address.text;
  }

  get version(): EngineVersion | undefined {
    return this.engineVersion;
  }

  /** Starts connecting in the background; never waits for the engine. */
  connect(): void {
    this.running ??= this.run();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.streamAbort?.abort();
    this.wake?.();
    await this.running?.catch(() => undefined);
    await this.options.client.close();
  }

  // ------------------------------------------------------------------ naming (the collector's side)

  describe(cgroupPath: CgroupPath, facts: CgroupFacts): ContainerInfo | undefined {
    const match = matchEngineCgroup(cgroupPath);
    if (!match || (match.flavour !== undefined && match.flavour !== this.kind)) return undefined;
    const known = this.containers.get(match.id);
    if (!known && !match.claims) return undefined;
    if (known && !match.monitor) known.cgroupPath = cgroupPath;
    if (!known) this.claimedPaths.set(match.id, cgroupPath);
    if (match.monitor) {
      // Podman's conmon for the container: the engine's, but not the container.
      return { id: rawCgroupId(cgroupPath), name: `${known?.name ?? match.id.slice(0, 12)}/conmon`, cgroupPath, image: '', source: this.kind, isContainer: false, labels: {} };
    }
    if (!known) {
      const info: ContainerInfo = { id: match.id, name: cgroupPath, cgroupPath, image: '', source: this.kind, isContainer: true, labels: {} };
      if (facts.createdAtMs !== undefined) info.createdAtMs = facts.createdAtMs;
      return info;
    }
    return this.infoOf(known, cgroupPath);
  }

  private infoOf(container: EngineContainer, cgroupPath: CgroupPath): ContainerInfo {
    const info: ContainerInfo = {
      id: container.id,
      name: container.name,
      cgroupPath,
      image: container.image,
      source: this.kind,
      isContainer: true,
      labels: { ...container.labels },
    };
    if (container.imageId !== '') info.imageId = container.imageId;
    if (Object.keys(container.env).length > 0) info.env = { ...container.env };
    if (container.createdAtMs !== undefined) info.createdAtMs = container.createdAtMs;
    return info;
  }

  /** The description of a container by id, for events and the API (cgroup path "" until known). */
  describeContainer(id: string): ContainerInfo | undefined {
    const known = this.containers.get(id);
    return known ? this.infoOf(known, known.cgroupPath ?? '') : undefined;
  }

  // ------------------------------------------------------------------ the containers interface

  list(): OwnedContainer[] {
    return [...this.containers.values()].map((c) => ({
      id: c.id,
      name: c.name,
      owner: this.kind,
      image: c.image,
      status: c.status,
      ...(c.cgroupPath !== undefined ? { cgroupPath: c.cgroupPath } : {}),
      ...(c.createdAtMs !== undefined ? { createdAtMs: c.createdAtMs } : {}),
      labels: c.labels,
      ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
      ...(c.oomKilled !== undefined ? { oomKilled: c.oomKilled } : {}),
    }));
  }

  /**
   * `ps` rows asked of the engine now (not the cache, which an event may not have reached yet),
   * filtered by the engine with its own rules; `filters` is the API's JSON text without
   * before/since (those span every owner). The cache orders rows finer than the API's seconds.
   */
  async psEntries(options: { all: boolean; size: boolean; filters: string | undefined }): Promise<PsEntry[]> {
    const listed = await this.ask('', () =>
      this.options.client.listContainers({ all: options.all, size: options.size, headersTimeoutMs: options.size ? PS_ENGINE_WAIT_MS.withSizes : PS_ENGINE_WAIT_MS.listing, ...(options.filters !== undefined ? { filters: options.filters } : {}) }),
    );
    return listed.map((summary) => {
      const known = this.containers.get(summary.Id);
      const ps: PsSummary = {
        Id: summary.Id,
        Names: summary.Names ?? [],
        Image: summary.Image ?? '',
        ImageID: summary.ImageID ?? '',
        Command: summary.Command ?? '',
        Created: summary.Created,
        Ports: summary.Ports ?? [],
        ...(summary.SizeRw !== undefined ? { SizeRw: summary.SizeRw } : {}),
        ...(summary.SizeRootFs !== undefined ? { SizeRootFs: summary.SizeRootFs } : {}),
        Labels: summary.Labels ?? {},
        State: toStatus(summary.State),
        Status: summary.Status ?? '',
        HostConfig: { NetworkMode: summary.HostConfig?.NetworkMode ?? '' },
        NetworkSettings: { Networks: summary.NetworkSettings?.Networks ?? {} },
        Mounts: summary.Mounts ?? [],
        Owner: this.kind,
      };
      // The cache's time has milliseconds when it is the same second; the API's otherwise.
      const cachedMs = known?.createdAtMs;
      const createdMs = cachedMs !== undefined && Math.floor(cachedMs / 1000) === summary.Created ? cachedMs : summary.Created * 1000;
      return { summary: ps, createdMs, started: true, filteredByOwner: true };
    });
  }

  /** The engine's own inspect document, unchanged. */
  inspect(id: string): Promise<Record<string, unknown>> {
    return this.ask(id, () => this.options.client.inspectContainer(id));
  }

  top(id: string, psArgs: string): Promise<TopResult> {
    return this.ask(id, () => this.options.client.top(id, psArgs));
  }

  logs(id: string, query: LogQuery, follow: boolean, onLine: (line: LogLine) => void, signal?: AbortSignal): Promise<void> {
    return this.ask(id, () =>
      this.options.client.logs(
        id,
        { follow, timestamps: true, ...(query.sinceMs !== undefined ? { sinceMs: query.sinceMs } : {}), ...(query.untilMs !== undefined ? { untilMs: query.untilMs } : {}), ...(query.tail !== undefined ? { tail: query.tail } : {}) },
        // The engine's lines come without their newline; capstan's log lines keep it, as the process wrote it.
        (line) => onLine({ time: line.time ?? new Date(this.now()).toISOString(), stream: line.stream, log: `${line.text}\n` }),
        signal,
      ),
    );
  }

  start(id: string): Promise<void> {
    return this.ask(id, () => this.options.client.containerAction(id, 'start'));
  }

  stop(id: string, timeoutSeconds?: number): Promise<void> {
    return this.ask(id, () => this.options.client.containerAction(id, 'stop', timeoutSeconds === undefined ? {} : { t: String(timeoutSeconds) }));
  }

  restart(id: string, timeoutSeconds?: number): Promise<void> {
    return this.ask(id, () => this.options.client.containerAction(id, 'restart', timeoutSeconds === undefined ? {} : { t: String(timeoutSeconds) }));
  }

  kill(id: string, signal: string): Promise<void> {
    return this.ask(id, () => this.options.client.containerAction(id, 'kill', { signal }));
  }

  pause(id: string): Promise<void> {
    return this.ask(id, () => this.options.client.containerAction(id, 'pause'));
  }

  unpause(id: string): Promise<void> {
    return this.ask(id, () => this.options.client.containerAction(id, 'unpause'));
  }

  remove(id: string, force: boolean): Promise<void> {
    return this.ask(id, () => this.options.client.removeContainer(id, force));
  }

  wait(id: string, condition: WaitCondition, signal?: AbortSignal): Promise<{ StatusCode: number }> {
    return this.ask(id, () => this.options.client.waitContainer(id, condition, signal));
  }

  /** Docker's POST /containers/{id}/update, or Podman's libpod update; remembered so its echo event is not a second `update`. */
  async update(id: string, dockerBody: Record<string, unknown>, podmanResources: Record<string, unknown>): Promise<string[]> {
    this.ownUpdates.set(id, this.now());
    return this.ask(id, async () => {
      if (this.kind === 'podman' || this.engineVersion?.flavour === 'podman') {
        await this.options.client.libpodUpdate(id, podmanResources);
        return [];
      }
      const answer = await this.options.client.updateContainer(id, dockerBody);
      return answer.Warnings ?? [];
    });
  }

  /**
   * Runs a request to the engine for a container it has. An engine that cannot be reached is a
   * 503 saying so; the engine's own refusal keeps its words and its 4xx status (5xx become 502).
   */
  private async ask<T>(id: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw this.translate(error, id);
    }
  }

  private translate(error: unknown, id: string): ContainerError {
    const engineError = error as { code?: string; status?: number; message?: string };
    const engine = this.kind === 'docker' ? 'Docker' : 'Podman';
    if (engineError.code === 'engine' && typeof engineError.status === 'number') {
      if (engineError.status === 404) return noSuchContainer(id);
      const status = engineError.status >= 400 && engineError.status < 500 ? engineError.status : 502;
      return new ContainerError(status, 'engine_refused', engineError.message ?? `${engine} refused`, {}, { cause: error });
    }
    return new ContainerError(
      503,
      'engine_unreachable',
      `the ${engine} engine at ${this.address} cannot be reached (${engineError.message ?? String(error)}); its containers are changed only through it`,
      {},
      { cause: error },
    );
  }

  // ------------------------------------------------------------------ the engine connection

  private async run(): Promise<void> {
    const retry = this.options.retryMs ?? { first: FIRST_RETRY_MS, max: MAX_RETRY_MS };
    let delayMs = retry.first;
    while (!this.closed) {
      const connectedAtMs = this.now();
      try {
        this.engineVersion = await this.options.client.version();
        await this.resync();
        this.setConnected(true);
        delayMs = retry.first;
        // Replay what happened since the last event handled (or since the listing began).
        const sinceMs = Math.min(this.lastEventMs ?? connectedAtMs, connectedAtMs);
        this.streamAbort = new AbortController();
        for await (const event of this.options.client.events({ sinceMs, filters: { type: ['container'] } }, this.streamAbort.signal)) {
          if (this.closed) return;
          await this.handle(event);
        }
        if (!this.closed) throw new Error('the engine closed its event stream');
      } catch (error) {
        if (this.closed) return;
        this.setConnected(false, error);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        timer.unref();
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      delayMs = Math.min(delayMs * 2, retry.max);
    }
  }

  private setConnected(up: boolean, error?: unknown): void {
    const engine = this.kind === 'docker' ? 'Docker' : 'Podman';
    if (up && !this.connected) {
      this.log(`capstan: ${this.kind}: ${engine} ${this.engineVersion?.version ?? ''} at ${this.address}: ${this.containers.size} containers`.replace(/ {2,}/g, ' '));
      this.warnedDown = false;
    }
    if (!up && !this.warnedDown) {
      this.warnedDown = true;
      this.log(
        `capstan: warning: ${this.kind}: cannot talk to the ${engine} engine at ${this.address}: ${(error as Error)?.message ?? error}; ` +
          `its containers keep the names already known, new ones are named by cgroup path, and their limits cannot be changed until it answers (retrying)`,
      );
    }
    this.connected = up;
  }

  /** Lists every container and inspects those not known or whose state changed. */
  private async resync(): Promise<void> {
    const listed = await this.options.client.listContainers();
    const ids = new Set(listed.map((summary) => summary.Id));
    for (const id of [...this.containers.keys()]) {
      if (!ids.has(id)) this.forget(id);
    }
    const stale = listed.filter((summary) => this.containers.get(summary.Id)?.status !== toStatus(summary.State));
    for (let i = 0; i < stale.length; i += INSPECT_CONCURRENCY) {
      await Promise.all(stale.slice(i, i + INSPECT_CONCURRENCY).map((summary) => this.refresh(summary.Id).catch(() => undefined)));
    }
  }

  /** Inspects one container into the cache; re-describes its cgroup if the description changed. */
  private async refresh(id: string): Promise<EngineContainer | undefined> {
    let doc: EngineInspect;
    try {
      doc = await this.options.client.inspectContainer(id);
    } catch (error) {
      if ((error as { status?: number }).status === 404) {
        this.forget(id);
        return undefined;
      }
      throw error;
    }
    const previous = this.containers.get(id);
    const container = containerFromInspect(doc, this.envAllowList);
    container.cgroupPath = this.cgroupOfProcess(container.pid) ?? previous?.cgroupPath ?? this.claimedPaths.get(id);
    this.claimedPaths.delete(id);
    this.containers.set(id, container);
    const described = (c: EngineContainer | undefined): string => (c ? JSON.stringify([c.name, c.image, c.imageId, c.labels, c.env, c.cgroupPath]) : '');
    if (container.cgroupPath !== undefined && described(previous) !== described(container)) this.options.onDescriptionChanged?.(container.cgroupPath);
    return container;
  }

  private forget(id: string): void {
    const container = this.containers.get(id);
    this.containers.delete(id);
    this.ownUpdates.delete(id);
    if (container?.cgroupPath !== undefined) this.options.onDescriptionChanged?.(container.cgroupPath);
  }

  private cgroupOfProcess(pid: number): CgroupPath | undefined {
    if (pid <= 0) return undefined;
    try {
      return cgroupFromProcText(fs.readFileSync(`${this.procRoot}/${pid}/cgroup`, 'utf8'), this.options.layout);
    } catch {
      return undefined; // Exited already.
    }
  }

  private async handle(event: EngineEvent): Promise<void> {
    if (event.Type !== 'container' || !event.Actor?.ID) return;
    const id = event.Actor.ID;
    const timeMs = typeof event.timeNano === 'number' && event.timeNano > 0 ? Math.floor(event.timeNano / 1e6) : event.time * 1000;
    this.lastEventMs = timeMs;
    // "exec_start: sh -c …", "health_status: healthy": the action is the part before the colon.
    const action = event.Action.split(':')[0]!.trim();
    const attributes = event.Actor.Attributes ?? {};
    switch (action) {
      case 'create':
      case 'start':
      case 'restart':
      case 'pause':
      case 'unpause':
      case 'rename':
      case 'update': {
        const container = await this.refresh(id).catch(() => this.containers.get(id));
        if (!container) return;
        if (action === 'update') {
          const own = this.ownUpdates.get(id);
          // capstan published its own `update` (with who and what): the engine's echo is not another.
          if (own !== undefined && timeMs - own < OWN_UPDATE_ECHO_MS) return;
        }
        if (action === 'start' && container.cgroupPath !== undefined) this.options.onContainerStarted?.(this.infoOf(container, container.cgroupPath));
        this.publish(container, action, timeMs, action === 'rename' && attributes['oldName'] ? { oldName: attributes['oldName'].replace(/^\//, '') } : {});
        return;
      }
      case 'die':
      case 'kill':
      case 'stop': {
        const container = this.containers.get(id);
        if (!container) return;
        const extra: Record<string, string> = {};
        if (action === 'die') {
          container.status = 'exited';
          container.pid = 0;
          if (attributes['exitCode'] !== undefined) extra['exitCode'] = attributes['exitCode'];
          // Kept for the exited container's series (container_state, container_exit_code): from the event, not a call.
          if (/^\d+$/.test(attributes['exitCode'] ?? '')) container.exitCode = Number(attributes['exitCode']);
        }
        if (action === 'kill' && attributes['signal'] !== undefined) extra['signal'] = attributes['signal'];
        this.publish(container, action, timeMs, extra);
        return;
      }
      case 'oom': {
        const container = this.containers.get(id);
        // The engine sets State.OOMKilled for this run; its `die` follows.
        if (container) container.oomKilled = true;
        if (container) this.options.onEngineOom?.(this.infoOf(container, container.cgroupPath ?? ''), timeMs);
        return;
      }
      case 'destroy': {
        const container = this.containers.get(id);
        if (!container) return;
        this.forget(id);
        this.publish(container, 'destroy', timeMs);
        return;
      }
      default:
        return; // exec_*, attach, resize, top, health_status, …: not lifecycle.
    }
  }

  private publish(container: EngineContainer, action: EventAction, timeMs: number, extra: Record<string, string> = {}): void {
    const info = this.infoOf(container, container.cgroupPath ?? '');
    const event: CapstanEvent = {
      type: 'container',
      action,
      actor: { id: info.id, name: info.name, cgroupPath: info.cgroupPath, image: info.image },
      timeMs,
      attributes: { ...containerAttributes(info), ...extra },
    };
    if (extra['exitCode'] !== undefined && /^\d+$/.test(extra['exitCode'])) event.exitCode = Number(extra['exitCode']);
    this.options.bus.publish(event);
  }
}
