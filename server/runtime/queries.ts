/**
 * What the rest of capstan asks about capstan's containers without changing them: listings and
 * summaries for the source and the API, lookups by cgroup for the collector, inspect, top, the
 * published ports' byte counters, and the logs (read once or followed while a run lasts).
 */
import * as path from 'node:path';
import type { RestartPolicyState, StoredCpuLimits } from '../limits';
import type { CgroupPath, NetworkInterfaceSample } from '../model';
import { conflict } from './errors';
import { inspectContainer } from './inspect';
import { UPPER_DIRECTORY } from './rootfs';
import { LogFollower, type LogQuery } from './logs';
import type { ManagedContainer, RuntimeState } from './runtime-state';
import { CONTAINER_FILES, type LogLine } from './shim-protocol';
import type { PsEntry } from '../containers/ps';
import { capstanPsEntry } from './ps-entry';
import { parsePsOutput, runPs, splitPsArgs, validatePsArgs, type TopResult } from './top';
import type { ContainerSummary } from './types';

export class Queries {
  constructor(private readonly state: RuntimeState) {}

  list(): ContainerSummary[] {
    return [...this.state.all()].filter((c) => !c.removed).map((c) => this.summary(c));
  }

  /** Every container as a `ps` row, with the folder its writable layer is in (for --size). */
  psEntries(nowMs: number): Array<{ entry: PsEntry; directory: string }> {
    return [...this.state.all()].filter((c) => !c.removed).map((c) => ({ entry: capstanPsEntry(c.record, c.isRunning, nowMs), directory: c.directory }));
  }

  storedCpuLimits(containerId: string): StoredCpuLimits | undefined {
    const container = this.state.get(containerId);
    if (!container) return undefined;
    const { nanoCpus, cpuQuota, cpuPeriod } = container.record.hostConfig.limits;
    const stored: StoredCpuLimits = {};
    if (nanoCpus) stored.nanoCpus = nanoCpus;
    if (cpuQuota !== undefined && cpuQuota > 0) stored.cpuQuota = cpuQuota;
    if (cpuPeriod) stored.cpuPeriod = cpuPeriod;
    return Object.keys(stored).length > 0 ? stored : undefined;
  }

  restartPolicyOf(containerId: string): RestartPolicyState | undefined {
    const container = this.state.get(containerId);
    if (!container || container.removed) return undefined;
    const { restartPolicy, autoRemove } = container.record.hostConfig;
    return { policy: { ...restartPolicy }, autoRemove };
  }

  isImageInUse(imageId: string): boolean {
    for (const container of this.state.all()) if (!container.removed && container.record.config.imageId === imageId) return true;
    return false;
  }

  byCgroupPath(cgroupPath: CgroupPath): ContainerSummary | undefined {
    const container = this.state.atCgroup(cgroupPath);
    return container && !container.removed ? this.summary(container) : undefined;
  }

  cgroupOfRunning(reference: string): CgroupPath | undefined {
    try {
      const container = this.state.find(reference);
      return container.isRunning && !container.removed ? container.cgroupPath : undefined;
    } catch {
      return undefined;
    }
  }

  cgroupOf(reference: string): CgroupPath | undefined {
    try {
      const container = this.state.find(reference);
      return container.removed ? undefined : container.cgroupPath;
    } catch {
      return undefined;
    }
  }

  networkCounters(cgroupPath: CgroupPath): NetworkInterfaceSample | undefined {
    const container = this.state.atCgroup(cgroupPath);
    if (!container || container.record.hostConfig.portBindings.length === 0) return undefined;
    const counters = container.counters;
    return {
      name: 'capstan-ports',
      rxBytes: counters.rxBytes,
      rxPackets: counters.rxPackets,
      rxErrors: 0,
      rxDropped: 0,
      txBytes: counters.txBytes,
      txPackets: counters.txPackets,
      txErrors: 0,
      txDropped: 0,
    };
  }

  private summary(container: ManagedContainer): ContainerSummary {
    const { record } = container;
    return {
      id: record.id,
      name: record.name,
      image: record.config.image,
      imageId: record.config.imageId,
      status: record.state.status,
      pid: container.isRunning ? record.state.pid : 0,
      labels: record.config.labels,
      cgroupPath: container.cgroupPath,
      createdAtMs: Date.parse(record.created),
      exitCode: record.state.exitCode,
      oomKilled: record.state.oomKilled,
    };
  }

  inspect(reference: string): Record<string, unknown> {
    const container = this.state.find(reference);
    const prepared = container.prepared?.rootfs;
    return inspectContainer(container.record, {
      directory: container.directory,
      logPath: path.join(container.directory, CONTAINER_FILES.log),
      cgroupPath: container.cgroupPath,
      oomKillDisableSupported: this.state.options.cgroups.layout.controllersOn === 1,
      ...(prepared?.kind === 'overlay'
        ? { overlay: { lowerDirs: prepared.lowerDirs, upperDir: prepared.upperDir, workDir: prepared.workDir, mergedDir: prepared.mountpoint } }
        : {}),
    });
  }

  /** The container's writable layer (its overlay upper directory, also while it is stopped) and its image. */
  layerOf(reference: string): { upperDirectory: string; imageId: string } {
    const container = this.state.find(reference);
    return { upperDirectory: path.join(container.directory, UPPER_DIRECTORY), imageId: container.record.config.imageId };
  }

  async top(reference: string, psArgs = '-ef'): Promise<TopResult> {
    const container = this.state.find(reference);
    if (!container.isRunning) throw conflict('not_running', `Container ${container.id} is not running`);
    validatePsArgs(psArgs);
    const pids = new Set(this.state.options.cgroups.processes(container.cgroupPath));
    const output = await runPs(splitPsArgs(psArgs));
    return parsePsOutput(output, pids);
  }

  followLogs(reference: string, query: LogQuery, follow: boolean, onLine: (line: LogLine) => void, signal?: AbortSignal): Promise<void> {
    const container = this.state.find(reference);
    if (!follow || !(container.isRunning || container.status === 'restarting')) {
      const follower = new LogFollower(container.directory, query, onLine);
      follower.start();
      follower.close();
      return Promise.resolve();
    }
    return this.follow(container, query, onLine, signal);
  }

  /**
   * Emits the backlog (per `query`), then every new line until the container's current (or next)
   * run ends and its last lines are read, or `signal` aborts. Holds off an automatic removal meanwhile.
   */
  follow(container: ManagedContainer, query: LogQuery, onLine: (line: LogLine) => void, signal?: AbortSignal): Promise<void> {
    const follower = new LogFollower(container.directory, query, onLine);
    follower.start();
    const done = new Promise<void>((resolve) => {
      const poll = (): void => follower.poll();
      const timer = setInterval(poll, 250);
      const onDirectory = (name: string | null): void => {
        if (name === null || name.startsWith(CONTAINER_FILES.log)) poll();
      };
      const finish = (): void => {
        clearInterval(timer);
        container.off('directory', onDirectory);
        container.off('exit', finish);
        container.off('restartDropped', finish);
        signal?.removeEventListener('abort', finish);
        // The shim writes exit.json after the last log line: one more read gets everything.
        follower.poll();
        follower.close();
        resolve();
      };
      container.on('directory', onDirectory);
      container.once('exit', finish);
      // Followed while restarting: a dropped restart means no next run whose end would stop us.
      container.once('restartDropped', finish);
      if (signal?.aborted) finish();
      else signal?.addEventListener('abort', finish, { once: true });
    });
    container.hold(done);
    return done;
  }
}
