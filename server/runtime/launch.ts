/**
 * Starting one run of a container: root filesystem, cgroup with its limits, published ports, the
 * shim's config.json, then the shim's go. The same steps serve `start`, `restart`, the restart
 * policy and attach's start, so they live here once. Every step that succeeded is undone when a
 * later one fails, so a failed start leaves no cgroup, port or watcher behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeCgroup } from './container-cgroup';
import { noSuchContainer, RuntimeError } from './errors';
import type { ExitMonitor } from './exits';
import { hostRootfs, type ImageRef, type PreparedRootfs, type RootfsProvider } from './filesystems';
import { applyContainerLimits } from './limits';
import { publishPorts, type PublishedPorts } from './ports';
import { nowRfc3339, type ManagedContainer, type RuntimeState } from './runtime-state';
import { launchShim, type PendingShim } from './shim';
import { hostMaskedPaths, securityOfContainer } from './security/host';
import { shimSeccomp } from './security/program-cache';
import { CONTAINER_FILES, DEFAULT_READONLY_PATHS, type ShimConfig } from './shim-protocol';
import type { SpecWriter } from './spec-writer';
import { writeFileReplace } from './store';
import type { ContainerRecord } from './types';
import { ZERO_TIME } from './types';
import { readFromLayers, resolveUser, type ResolvedUser } from './user';
import { shimMounts } from './volumes/resolve';

/** container.log rotation. Units: bytes, files. */
const LOG_MAX_BYTES = 10 * 1024 * 1024;
const LOG_MAX_FILES = 3;

export class Launcher {
  constructor(
    private readonly state: RuntimeState,
    private readonly specs: SpecWriter,
    private readonly exits: ExitMonitor,
  ) {}

  /** Starts a new run of `container`; callers hold the container's queue. */
  async launch(container: ManagedContainer, consoleSize?: { rows: number; cols: number }): Promise<void> {
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
      const prepared = prepareRootfs(this.state.options.rootfs, record, container.directory);
      container.prepared = prepared;
      const user = userIn(prepared, record.config.user, record.hostConfig.groupAdd);
      const security = securityOfContainer(record.hostConfig);

      // The cgroup, with its limits, exists before the process: the shim puts the child in it before exec.
      try {
        cgroups.create(container.cgroupPath);
      } catch (error) {
        throw new RuntimeError(500, 'cgroup_create_failed', `cannot create cgroup ${container.cgroupPath}: ${(error as Error).message}`);
      }
      undo.push(() => removeCgroup(cgroups, container.cgroupPath));
      applyContainerLimits(cgroups, container.cgroupPath, record.hostConfig.limits);
      // Armed before the shim is told to go: a kill in the process's first millisecond is counted
      // from 0 in this fresh cgroup, and caught.
      const oomWatch = this.state.options.oomWatch;
      oomWatch?.watch(this.state.infoOf(container), { killsReported: 0 });
      record.state.oomKillsReported = 0;
      if (oomWatch) undo.push(() => void oomWatch.settle(container.cgroupPath));

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
        capabilities: security.capabilities,
        maskedPaths: hostMaskedPaths(),
        readonlyPaths: [...DEFAULT_READONLY_PATHS],
        mounts: shimMounts(record.hostConfig.mounts ?? []),
        seccomp: await shimSeccomp(security.seccomp, this.state.seccompPrograms),
        log: { path: path.join(container.directory, CONTAINER_FILES.log), maxBytes: LOG_MAX_BYTES, maxFiles: LOG_MAX_FILES },
        initRecordPath: path.join(container.directory, CONTAINER_FILES.init),
        exitRecordPath: path.join(container.directory, CONTAINER_FILES.exit),
        shimPidPath: path.join(container.directory, CONTAINER_FILES.shimPid),
      };
      // Read once by the shim right away and rewritten at every start: atomic, but not worth an fsync.
      writeFileReplace(path.join(container.directory, CONTAINER_FILES.config), JSON.stringify(config) + '\n');

      // Watch before the shim runs: `true` can be gone before the status line is read.
      this.exits.watch(container);
      undo.push(() => this.exits.unwatch(container));
      // Cleared before the go, not after the status: a kill in the first millisecond may already be
      // reported (and mark the run) by the time the shim says the process started.
      container.oomThisRun = false;
      record.state.oomKilled = false;
      shim = await launching;
      const status = await shim.go();
      if (status.type === 'error') {
        const exitCode = status.exitCode ?? 128;
        record.state.exitCode = exitCode;
        record.state.error = status.message;
        const userError = status.stage === 'exec' || status.stage === 'cwd' || status.stage === 'user';
        throw new RuntimeError(userError ? 400 : 500, 'start_failed', status.message, {
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
        error: '',
      });
      container.startedAtMs = Date.now();
      // docker copies an image's content into a new volume once: later starts find it as left.
      for (const mount of record.hostConfig.mounts ?? []) mount.copyUp = false;
      this.state.event(container, 'start');
      // The exit may already be on disk; the watcher only reports changes after it was set up.
      if (!this.exits.checkExit(container)) void this.specs.persist(container);
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

  /** Listens on the container's published ports; connections go to its current main process. */
  bindPorts(container: ManagedContainer): Promise<PublishedPorts> {
    return publishPorts({
      bindings: container.record.hostConfig.portBindings,
      targetPid: () => (container.status === 'running' ? container.record.state.pid : undefined),
      counters: container.counters,
      connect: this.state.connect,
      onConnectError: (binding, error) =>
        this.state.log(`capstan: container ${container.record.name}: cannot forward a connection to port ${binding.containerPort}: ${error.message}`),
    });
  }
}

/** The container's view of its files: the host's (no image) or its image's layers under its own upper layer. */
export function prepareRootfs(rootfs: RootfsProvider, record: ContainerRecord, directory: string): PreparedRootfs {
  return record.config.imageId === '' ? hostRootfs(directory) : rootfs.prepare(directory, imageOf(rootfs, record));
}

function imageOf(rootfs: RootfsProvider, record: ContainerRecord): ImageRef {
  const image = rootfs.resolveImage(record.config.imageId);
  if (!image) throw new RuntimeError(404, 'no_such_image', `No such image: ${record.config.image} (${record.config.imageId})`);
  return image;
}

/** `-u` and `--group-add` resolved against the container's own /etc/passwd and /etc/group. */
export function userIn(prepared: PreparedRootfs, spec: string, groupAdd: readonly string[] = []): ResolvedUser {
  return resolveUser(spec, readFromLayers(prepared.layersTopFirst, 'etc/passwd'), readFromLayers(prepared.layersTopFirst, 'etc/group'), groupAdd);
}
