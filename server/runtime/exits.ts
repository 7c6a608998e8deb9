/**
 * Exits and the restart policy. An exit is not an operation anyone asked for: the shim writes
 * exit.json whenever the main process ends, noticed through inotify on the container's folder (a
 * safety poll catches a shim killed by hand, which writes nothing). Exits therefore bypass the
 * container's queue and only ever move a container out of "running"; what follows (cleanup, the
 * `die` event, a restart with back-off, `--rm`) is decided here.
 *
 * Starting the next run belongs to the launcher, which itself watches for exits: the launcher is
 * handed in as a function so that this module does not import the one above it.
 */
import * as fs from 'node:fs';
import type { CapstanEvent } from '../events';
import { oomKillCount, removeCgroup } from './container-cgroup';
import { isSameProcess, processExists } from './process';
import type { Removal } from './removal';
import { nowRfc3339, type ManagedContainer, type RuntimeState } from './runtime-state';
import { CONTAINER_FILES, type ExitRecord } from './shim-protocol';
import type { SpecWriter } from './spec-writer';
import type { ContainerStatus } from './types';

/** How often running containers are checked besides inotify (a shim killed by hand writes no exit.json). Units: milliseconds. */
const SAFETY_POLL_MS = 1000;
/** A container that ran this long resets the restart back-off, as in docker. Units: milliseconds. */
const RESTART_RESET_MS = 10_000;
const MAX_RESTART_DELAY_MS = 60_000;

/** Starts the container's next run; called inside the container's queue. */
export type StartRun = (container: ManagedContainer) => Promise<void>;

export class ExitMonitor {
  private safetyTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly state: RuntimeState,
    private readonly specs: SpecWriter,
    private readonly removal: Removal,
    private readonly startRun: StartRun,
  ) {}

  startSafetyPoll(): void {
    this.safetyTimer = setInterval(() => this.safetyPoll(), SAFETY_POLL_MS);
    this.safetyTimer.unref();
  }

  stopSafetyPoll(): void {
    if (this.safetyTimer) clearInterval(this.safetyTimer);
  }

  /** At shutdown: no more exits noticed nor restarts fired for `container` by this agent. */
  stopWatching(container: ManagedContainer): void {
    this.unwatch(container);
    if (container.restartTimer) clearTimeout(container.restartTimer);
  }

  watch(container: ManagedContainer): void {
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

  unwatch(container: ManagedContainer): void {
    container.watcher?.close();
    container.watcher = undefined;
  }

  /** Handles exit.json if it is there; true when the container has exited. */
  checkExit(container: ManagedContainer): boolean {
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
      // The shim may have renamed exit.json into place and ended between the first look and now
      // (under an exit storm this thread can be descheduled right there): look once more.
      if (this.checkExit(container)) continue;
      this.handleExit(container, { exitCode: 255, finishedAt: nowRfc3339() }, 'the shim ended without recording an exit status');
    }
  }

  /** The main process has ended: record it, tell everyone, then clean up and apply the restart policy. */
  handleExit(container: ManagedContainer, exit: ExitRecord, error: string): void {
    const { record } = container;
    const state = record.state;
    const { cgroups, oomWatch } = this.state.options;
    this.unwatch(container);
    const finishedAtMs = Date.parse(exit.finishedAt);
    // Before the cgroup goes, and before `die`: the kills not reported yet become `oom` events
    // (they reach onBusEvent below at once), so none is lost with the cgroup and docker's order holds.
    const killsCounted = oomWatch?.settle(container.cgroupPath, Number.isFinite(finishedAtMs) ? finishedAtMs : undefined);
    Object.assign(state, {
      status: 'exited' as ContainerStatus,
      // startTimeTicks stays: it names the run that ended (re-adoption compares init.json with it).
      pid: 0,
      exitCode: exit.exitCode,
      finishedAt: exit.finishedAt || nowRfc3339(),
      error,
      // The OOM watcher's event usually comes first; the kernel's own counter in the cgroup (fresh
      // at every start) settles it when the event is late or the watcher never saw the cgroup.
      oomKilled: state.oomKilled || container.oomThisRun || (killsCounted ?? oomKillCount(cgroups, container.cgroupPath)) > 0,
    });
    const startedAtMs = container.startedAtMs || Date.parse(state.startedAt) || Date.now();
    const endedAtMs = Date.parse(state.finishedAt) || Date.now();
    const runMs = endedAtMs - startedAtMs;
    // At the time the shim recorded: an exit while no agent ran is reported when it happened.
    this.state.event(container, 'die', { exitCode: String(exit.exitCode), execDuration: String(Math.max(0, Math.round(runMs / 1000))) }, { exitCode: exit.exitCode, timeMs: endedAtMs });
    container.emit('exit', record);

    const ports = container.ports;
    container.ports = undefined;
    state.boundPorts = [];
    container.cleanup = (async () => {
      await ports?.close();
      await removeCgroup(cgroups, container.cgroupPath);
    })().catch((cleanupError: unknown) => this.state.log(`capstan: warning: container ${record.name}: ${(cleanupError as Error).message}`));

    if (this.shouldRestart(container)) {
      state.status = 'restarting';
      void this.specs.persist(container);
      this.scheduleRestart(container);
      return;
    }
    void this.specs.persist(container);
    if (record.hostConfig.autoRemove && !container.removed) {
      void container.serialize(() => this.removal.destroy(container)).catch((removeError: unknown) =>
        this.state.log(`capstan: warning: cannot remove container ${record.name} (--rm): ${(removeError as Error).message}`),
      );
    }
  }

  /** Every bus event comes here; an OOM kill in one of our containers marks its current run. */
  onBusEvent(event: CapstanEvent): void {
    if (event.action !== 'oom') return;
    const container = this.state.atCgroup(event.actor.cgroupPath) ?? this.state.get(event.actor.id);
    if (!container || container.removed) return;
    // docker sets OOMKilled at the event (the main process is usually the victim and dies with 137)
    // and clears it at the next start.
    container.oomThisRun = true;
    container.record.state.oomKilled = true;
    container.record.state.oomKillsReported = (container.record.state.oomKillsReported ?? 0) + 1;
    void this.specs.persist(container);
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

  scheduleRestart(container: ManagedContainer): void {
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
            await this.startRun(container);
            this.state.event(container, 'restart');
          } catch (error) {
            this.state.log(`capstan: warning: restarting container ${container.record.name} failed: ${(error as Error).message}`);
            container.record.state.status = 'exited';
            void this.specs.persist(container);
            container.emit('restartDropped');
          }
        })
        .catch(() => undefined);
    }, delay);
    container.restartTimer.unref();
  }

  /** A user stopped a container that waits for its restart: it stays exited. */
  cancelRestart(container: ManagedContainer): void {
    if (container.restartTimer) clearTimeout(container.restartTimer);
    container.restartTimer = undefined;
    container.record.state.manuallyStopped = true;
    container.record.state.status = 'exited';
    void this.specs.persist(container);
    container.emit('restartDropped');
  }
}
