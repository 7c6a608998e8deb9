/**
 * The container manager: capstan's own runtime, from `create` to `rm`. It decides everything (ids,
 * names, cgroups, limits, rootfs, ports, restart policies) and hands one container at a time to
 * capstan-shim, which does the syscalls and outlives the agent. State lives in one folder per
 * container (store.ts); on start the manager re-adopts what is there: live processes (PID and start
 * time both match) keep running, exits that happened meanwhile are reported with their codes, and
 * restart policies resume.
 *
 * RuntimeManager is the one face the API, the agent and the capstan source see; each concern lives
 * in a module of its own, all sharing one RuntimeState (runtime-state.ts), wired together here:
 *
 *   lifecycle.ts   create, start, stop, kill, restart, pause, unpause, rm, wait (per-container queue)
 *   attach.ts      attach and `run` in the foreground      exec.ts     exec sessions
 *   adoption.ts    re-adoption at start-up                  queries.ts  list, inspect, top, logs
 *   launch.ts      one run: rootfs, cgroup, ports, shim     exits.ts    exits and restart policy
 *   removal.ts     cgroup, rootfs, folder and name away     spec-writer.ts  spec.json writes
 *   create-record.ts  what a create request becomes       container-cgroup.ts  freeze, OOM count, rmdir
 */
import type { AppliedSettings, RestartPolicyState, StoredCpuLimits } from '../limits';
import type { CgroupPath, NetworkInterfaceSample } from '../model';
import { Adoption } from './adoption';
import { AttachSessions } from './attach';
import { ExecSessions } from './exec';
import { ExitMonitor } from './exits';
import { Launcher } from './launch';
import { DEFAULT_STOP_TIMEOUT_SECONDS, Lifecycle, type WaitCondition } from './lifecycle';
import type { LogQuery } from './logs';
import { Queries } from './queries';
import { Removal } from './removal';
import { RuntimeState, type RuntimeManagerOptions } from './runtime-state';
import type { SessionControl, SessionSink } from './sessions';
import type { LogLine } from './shim-protocol';
import { SpecWriter } from './spec-writer';
import type { TopResult } from './top';
import type { ContainerSummary } from './types';
import { VolumeService } from './volumes/service';

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
  private readonly attachSessions: AttachSessions;
  private readonly execSessions: ExecSessions;
  private unsubscribe: (() => void) | undefined;
  /** volume create|ls|inspect|rm|prune. */
  readonly volumes: VolumeService;

  constructor(options: RuntimeManagerOptions) {
    this.state = new RuntimeState(options);
    this.specs = new SpecWriter(this.state);
    const removal = new Removal(this.state, this.specs);
    // A restart is a new run, which the launcher makes; the launcher in turn watches for exits.
    // The exit monitor gets it as a function, read only when a restart fires, to close that loop.
    this.exits = new ExitMonitor(this.state, this.specs, removal, (container) => launcher.launch(container));
    const launcher = new Launcher(this.state, this.specs, this.exits);
    this.lifecycle = new Lifecycle(this.state, this.specs, this.exits, launcher, removal);
    this.adoption = new Adoption(this.state, this.specs, this.exits, launcher, removal);
    this.queries = new Queries(this.state);
    this.attachSessions = new AttachSessions(this.state, this.lifecycle, removal, this.queries);
    this.execSessions = new ExecSessions(this.state);
    this.volumes = new VolumeService(this.state);
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

  /** Every container as a `ps` row (docker's Summary), from the records held now. */
  psEntries(nowMs: number): ReturnType<Queries['psEntries']> {
    return this.queries.psEntries(nowMs);
  }

  /**
   * `capstan update` changed the cgroup (or the restart policy) of one of our containers: keep the
   * new values in its spec, merged as docker merges them (inspect shows them, every later start
   * applies them, the next exit follows the new policy). Units as in docker.
   */
  recordLimitUpdate(containerId: string, settings: AppliedSettings): void {
    this.lifecycle.recordLimitUpdate(containerId, settings);
  }

  /** How the CPU cap was stored for `containerId`, for docker's "Conflicting options" rules on update. */
  storedCpuLimits(containerId: string): StoredCpuLimits | undefined {
    return this.queries.storedCpuLimits(containerId);
  }

  /** The restart policy of `containerId` and whether it has --rm, for `update --restart`. */
  restartPolicyOf(containerId: string): RestartPolicyState | undefined {
    return this.queries.restartPolicyOf(containerId);
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

  /** The cgroup path of the container `reference` names, running or not (it exists only while it runs). */
  cgroupOf(reference: string): CgroupPath | undefined {
    return this.queries.cgroupOf(reference);
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

  layerOf(reference: string): { upperDirectory: string; imageId: string } {
    return this.queries.layerOf(reference);
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

  remove(reference: string, force = false, removeVolumes = false): Promise<void> {
    return this.lifecycle.remove(reference, force, removeVolumes);
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
  runAttached(
    body: unknown,
    options: { consoleSize?: { rows: number; cols: number } },
    sink: SessionSink,
  ): Promise<{ id: string; warnings: string[]; control: SessionControl }> {
    return this.attachSessions.runAttached(body, options, sink);
  }

  /**
   * Connects a client to a container: with a tty, to its pty through the shim's attach socket;
   * without, to its log (from now on) and, with -i, to its stdin. With `start`, the container is
   * started once the output is being followed; with `run` too, a failed start removes it again.
   * Resolves when the session is live; the sink hears the output and, at the end, the exit code.
   */
  attach(
    reference: string,
    options: { start?: boolean; run?: boolean; consoleSize?: { rows: number; cols: number } },
    sink: SessionSink,
  ): Promise<SessionControl> {
    return this.attachSessions.attach(reference, options, sink);
  }

  /** Runs a command in a running container (`capstan exec`), through `capstan-shim exec`. */
  exec(reference: string, body: unknown, sink: SessionSink): Promise<SessionControl> {
    return this.execSessions.exec(reference, body, sink);
  }
}
