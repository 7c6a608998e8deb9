/**
 * The operations a user asks for: create, start, stop, kill, restart, pause, unpause, rm, wait, and
 * the record of an `update`. Every change to one container runs through that container's queue
 * (ManagedContainer.serialize), so `stop` and `rm -f` racing each other see a consistent state;
 * exits are the one change that does not wait in it (exits.ts).
 */
import * as fs from 'node:fs';
import type { CgroupPath } from '../model';
import { conflict, RuntimeError } from './errors';
import { setFrozen, thaw } from './container-cgroup';
import { buildRecord } from './create-record';
import type { ExitMonitor } from './exits';
import type { ImageRef } from './filesystems';
import type { Launcher } from './launch';
import type { AppliedSettings } from '../limits';
import { hasSwapAccounting, mergeLimitUpdate, validateContainerLimits } from './limits';
import { isSameProcess, parseSignal } from './process';
import type { Removal } from './removal';
import { parseCreateRequest } from './request';
import { securityOfContainer } from './security/host';
import { withTimeout, type ManagedContainer, type RuntimeState } from './runtime-state';
import type { SpecWriter } from './spec-writer';
import type { ContainerRecord } from './types';
import { resolveMounts } from './volumes/resolve';
import { discardNewVolume } from './volumes/store';

/** docker's stop timeout. Units: seconds. */
export const DEFAULT_STOP_TIMEOUT_SECONDS = 10;

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export class Lifecycle {
  private swapAccounting: boolean | undefined;

  constructor(
    private readonly state: RuntimeState,
    private readonly specs: SpecWriter,
    private readonly exits: ExitMonitor,
    private readonly launcher: Launcher,
    private readonly removal: Removal,
  ) {}

  // ---------------------------------------------------------------- create

  /**
   * Creates a container (and with `start`, starts it: then a failed start removes it again, so
   * `run` with a bad command leaves nothing behind). Resolves with the new id.
   */
  async create(body: unknown, options: { start?: boolean } = {}): Promise<{ id: string; warnings: string[] }> {
    const { container, warnings, saved } = this.createContainer(body);
    try {
      if (options.start) await container.serialize(() => this.launcher.launch(container));
      await saved;
    } catch (error) {
      throw await this.undoCreate(container, error);
    }
    return { id: container.id, warnings };
  }

  /**
   * The synchronous part of a create: checks, the record, the name, the folder; spec.json is then
   * written (and fsynced) on libuv's pool while the caller goes on starting it. `saved` settles
   * when it is on disk: answers wait for it, so a container the API reports is on disk.
   */
  createContainer(body: unknown): { container: ManagedContainer; warnings: string[]; saved: Promise<void> } {
    this.state.assertOpen();
    const request = parseCreateRequest(body);
    validateContainerLimits(request.limits, this.state.hostCpus);
    // Capabilities this kernel lacks and profiles that do not resolve are refused now, not at a start.
    securityOfContainer(request);
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
    // Volumes and bind sources are made last, once nothing else can refuse the create.
    const { mounts, createdVolumes } = resolveMounts(request.mounts, request.volumesFrom, {
      volumes: this.state.volumes,
      mountsOf: (reference) => this.state.find(reference).record.hostConfig.mounts ?? [],
    }, image?.defaults.volumes);
    record.hostConfig.mounts = mounts;
    try {
      this.state.store.createDirectory(record.id);
    } catch (error) {
      for (const name of createdVolumes) discardNewVolume(this.state.volumes, name);
      throw new RuntimeError(500, 'state_write_failed', `cannot create the container's state folder: ${(error as Error).message}`, {}, { cause: error });
    }
    const container = this.state.register(record);
    this.state.event(container, 'create');
    const saved = this.specs.persist(container, true);
    saved.catch(() => undefined);
    return { container, warnings, saved };
  }

  /** Takes a half-made container away again (killed if it started); returns the error to throw. */
  async undoCreate(container: ManagedContainer, error: unknown): Promise<RuntimeError> {
    if (container.isRunning) {
      container.record.state.manuallyStopped = true;
      const exited = this.nextExit(container);
      this.signal(container, 9);
      await withTimeout(exited, 10_000);
    }
    await container
      .serialize(() => this.removal.destroy(container, { removeVolumes: true }))
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
    if (this.swapAccounting === undefined) {
      const { cgroups, cgroupParent } = this.state.options;
      // v2 has no memory.swap.* at the root: ask a cgroup below it (the agent's own, or the
      // containers' parent once it exists). A "no" is asked again next time, as the parent may come.
      const probes = cgroups.layout.controllersOn === 2 ? [ownUnifiedCgroup(), cgroupParent].filter((p): p is CgroupPath => p !== undefined && p !== '/') : ['/'];
      if (probes.some((probe) => hasSwapAccounting(cgroups, probe))) this.swapAccounting = true;
      else return false;
    }
    return this.swapAccounting;
  }

  /**
   * The cgroup has the new values already (the limits service wrote them): the spec follows, and a
   * new restart policy holds from the next exit on (exits.ts reads it there).
   */
  recordLimitUpdate(containerId: string, settings: AppliedSettings): void {
    const container = this.state.get(containerId);
    if (!container || container.removed) return;
    const { hostConfig } = container.record;
    mergeLimitUpdate(hostConfig.limits, settings);
    if (settings.restartPolicy !== undefined) hostConfig.restartPolicy = { ...settings.restartPolicy };
    void this.specs.persist(container);
  }

  // ---------------------------------------------------------------- start

  /** docker start: a running container is left alone. */
  async start(reference: string): Promise<void> {
    this.state.assertOpen();
    const container = this.state.find(reference);
    await this.startQueued(container);
  }

  /** Queues a start unless the container runs already; a user start lifts a manual stop. */
  startQueued(container: ManagedContainer, consoleSize?: { rows: number; cols: number }): Promise<void> {
    return container.serialize(async () => {
      if (container.isRunning) return;
      container.record.state.manuallyStopped = false;
      await this.launcher.launch(container, consoleSize);
    });
  }

  // ---------------------------------------------------------------- stop, kill, restart

  async stop(reference: string, timeoutSeconds = DEFAULT_STOP_TIMEOUT_SECONDS): Promise<void> {
    this.state.assertOpen();
    const container = this.state.find(reference);
    await container.serialize(async () => {
      if (container.status === 'restarting') {
        this.exits.cancelRestart(container);
        this.state.event(container, 'stop');
        return;
      }
      if (!container.isRunning) return;
      container.record.state.manuallyStopped = true;
      await this.stopLocked(container, timeoutSeconds);
      this.state.event(container, 'stop');
    });
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
      if (!container.isRunning) throw conflict('not_running', `Container ${container.id} is not running`);
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
      if (container.status === 'restarting') this.exits.cancelRestart(container);
      if (container.isRunning) {
        container.record.state.manuallyStopped = true;
        await this.stopLocked(container, timeoutSeconds);
        this.state.event(container, 'stop');
      }
      container.record.state.manuallyStopped = false;
      await this.launcher.launch(container);
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

  // ---------------------------------------------------------------- rm, wait

  async remove(reference: string, force = false, removeVolumes = false): Promise<void> {
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
      if (container.status === 'restarting') this.exits.cancelRestart(container);
      await this.removal.destroy(container, { removeVolumes });
    });
  }

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
      // A restarting container whose restart is dropped is not running any more, yet no exit comes.
      const dropped = condition === 'not-running';
      const stopListening = (): void => {
        container.off(event, done);
        if (dropped) container.off('restartDropped', done);
      };
      const done = (): void => {
        stopListening();
        signal?.removeEventListener('abort', aborted);
        resolve();
      };
      const aborted = (): void => {
        stopListening();
        reject(new RuntimeError(499, 'aborted', 'the client went away'));
      };
      container.once(event, done);
      if (dropped) container.once('restartDropped', done);
      signal?.addEventListener('abort', aborted, { once: true });
    });
    return result();
  }
}

/** The agent's own cgroup on the unified hierarchy ("0::/path" in /proc/self/cgroup), if any. */
function ownUnifiedCgroup(): CgroupPath | undefined {
  try {
    const line = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((entry) => entry.startsWith('0::'));
    return line === undefined ? undefined : line.slice(3);
  } catch {
    return undefined;
  }
}
