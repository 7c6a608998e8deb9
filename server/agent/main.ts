/**
 * `capstan agent`: wires the collector, the sources, the exporter and the HTTP API together, and
 * owns the process's lifetime (signals, agent.json, the first-start dashboard URL).
 */
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { createApp } from '../api/app';
import { runtimeUpgradeHandler } from '../api/containers-runtime';
import { answerClientError } from '../api/body';
import { attachLive } from '../api/live';
import { attachSocketServer } from '../api/socket';
import { TokenStore } from '../api/auth';
import { BlkioAccounting } from '../cgroup/blkio-accounting';
import { detectLayout, layoutFromRoot } from '../cgroup/layout';
import { CgroupManager } from '../cgroup/manage';
import { EventBus, EventLog } from '../events';
import { LimitService } from '../limits';
import { Collector, SweepBudgetError } from '../collector/collector';
import { MetricsExporter } from '../metrics';
import { createDeviceNameResolver } from '../metrics/devices';
import { OomMonitor } from '../oom';
import { OomCounterWithTimes } from '../metrics/oom-times';
import { ImageStore } from '../runtime/images';
import { RuntimeManager } from '../runtime/manager';
import { ImageRootfs } from '../runtime/rootfs';
import { CapstanOwner } from '../containers/capstan-owner';
import { OwnedLimits } from '../containers/limits';
import { Containers } from '../containers/registry';
import { STORE_ALL_LABELS } from '../metrics/labels';
import { CapstanSource } from '../sources/capstan';
import { connectEngine } from '../sources/engine/connect';
import type { EngineSource } from '../sources/engine/source';
import { KubepodsSource } from '../sources/kubepods';
import { RawSource } from '../sources/raw';
import { readFilesystems, readMachineInfo, type FilesystemUsage } from './machine';
import { AGENT_USAGE, parseAgentOptions, UsageError, type AgentOptions } from './options';
import { pickToken } from '../cli/client';
import { listenCliSocket } from './cli-socket';
import { ensureStateDir, loadOrCreateTokens, removeAgentFile, writeAgentFile } from './state';

/** Found by walking up from the compiled file to the package root. */
function packageRoot(): string {
  let directory = __dirname;
  while (!fs.existsSync(path.join(directory, 'package.json'))) {
    const parent = path.dirname(directory);
    if (parent === directory) throw new Error('cannot find capstan package.json');
    directory = parent;
  }
  return directory;
}

export function capstanVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** How often new disks are looked for, to set up their block I/O accounting. Units: milliseconds. */
const BLKIO_REFRESH_MS = 5_000;

/** A fatal start-up problem: printed as one line, exit code 1. */
class StartupError extends Error {
  override name = 'StartupError';
}

export interface RunningAgent {
  url: string;
  collector: Collector;
  close(): Promise<void>;
}

/** Starts the agent and returns once it is serving. Used by `capstan agent` and by tests. */
export async function startAgent(options: AgentOptions, log: (line: string) => void = (line) => console.error(line)): Promise<RunningAgent> {
  if (!options.cgroupRoot && typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new StartupError('must run as root: it reads every cgroup on the host and writes limits (use sudo)');
  }
  let layout;
  try {
    layout = options.cgroupRoot ? layoutFromRoot(options.cgroupRoot) : detectLayout(options.procRoot);
  } catch (error) {
    throw new StartupError((error as Error).message);
  }
  try {
    ensureStateDir(options.stateDir);
  } catch (error) {
    throw new StartupError(`cannot create the state directory ${options.stateDir}: ${(error as Error).message}`);
  }
  const { tokens, created } = loadOrCreateTokens(options.stateDir);
  const version = capstanVersion();
  const machine = await readMachineInfo();

  // One manager for every cgroup write: the runtime's containers, live limits, the API.
  const cgroupManager = new CgroupManager(layout);
  // capstan's own containers; created once the event bus exists, asked first by the collector.
  let runtime: RuntimeManager | undefined;
  let blkioAccounting: BlkioAccounting | undefined;
  // The event bus exists before the sources: engines publish their containers' events on it.
  const bus = new EventBus((error) => log(`capstan: warning: an event listener failed: ${(error as Error).message}`));
  // Docker's and Podman's containers, named from their Engine APIs. They are asked after capstan's
  // own runtime and before the kubepods paths (a kubelet on Docker: Docker knows better names).
  let collector: Collector | undefined;
  let oomMonitor: OomMonitor | undefined;
  const engines = new Map<string, EngineSource>();
  for (const [kind, host] of [['docker', options.dockerHost], ['podman', options.podmanHost]] as const) {
    if (host === undefined) continue;
    try {
      engines.set(
        kind,
        connectEngine(kind, host, {
          layout,
          bus,
          envAllowList: options.envMetadataWhitelist,
          log,
          onDescriptionChanged: (cgroupPath) => collector?.redescribe(cgroupPath),
          onContainerStarted: (info) => oomMonitor?.watch(info),
          onEngineOom: (info, timeMs) => oomMonitor?.engineReportedOom(info, timeMs),
        }),
      );
    } catch (error) {
      throw new StartupError(`--${kind}-host: ${(error as Error).message}`);
    }
  }
  try {
    collector = new Collector({
      layout,
      procRoot: options.procRoot,
      intervalMs: options.intervalMs,
      historyCapacity: Math.max(2, Math.round(options.historyMs / options.intervalMs)),
      sources: [
        new CapstanSource({
          byCgroupPath: (cgroupPath) => runtime?.byCgroupPath(cgroupPath),
          networkCounters: (cgroupPath) => runtime?.networkCounters(cgroupPath),
        }),
        ...engines.values(),
        new KubepodsSource(),
        new RawSource(),
      ],
      perCpu: options.perCpu,
      blockIoCounted: () => blkioAccounting?.complete ?? true,
      ...(options.sweepFdBudget !== undefined ? { keptFileBudget: options.sweepFdBudget } : {}),
      ...(options.idleFullReadEveryTicks !== undefined ? { idleFullReadEveryTicks: options.idleFullReadEveryTicks } : {}),
    });
  } catch (error) {
    if (error instanceof SweepBudgetError) throw new StartupError(`--sweep-fd-budget: ${error.message}`);
    throw error;
  }
  // Limits and weights are read every Nth tick; a write (capstan's limit service, an engine's
  // update event, both published as `update`) makes the next tick read them at once.
  bus.subscribe((event) => {
    if (event.action === 'update') collector?.refreshRarelyChanging(event.actor.cgroupPath);
  });
  // v1 disks without scheduler stats count per cgroup only once blk-throttle is set up for them:
  // do that now, and for disks that appear later (a loop device attached, a disk hot-plugged).
  blkioAccounting = new BlkioAccounting({
    layout,
    cgroupPath: options.cgroupParent,
    throttleFilesOnly: collector.blkioThrottleFilesOnly,
    onWarning: (message) => log(`capstan: warning: ${message}`),
  });
  if (!options.cgroupRoot) blkioAccounting.refresh();
  const blkioTimer = options.cgroupRoot ? undefined : setInterval(() => blkioAccounting?.refresh(), BLKIO_REFRESH_MS);
  blkioTimer?.unref();

  let filesystems: FilesystemUsage[] = [];
  const refreshFilesystems = (): void => {
    readFilesystems().then(
      (result) => { filesystems = result; },
      (error: unknown) => log(`capstan: warning: cannot read filesystem usage: ${(error as Error).message}`),
    );
  };
  refreshFilesystems();
  // Filesystem usage changes slowly and statfs on every mount is not free: once a minute is enough.
  const filesystemTimer = setInterval(refreshFilesystems, 60_000);
  filesystemTimer.unref();

  // Events: the bus, the log on disk (replayed into the OOM counter, so container_oom_events_total
  // survives restarts), and the OOM monitor following the collector from its first tick.
  let eventLog: EventLog;
  try {
    eventLog = new EventLog({
      directory: path.join(options.stateDir, 'events'),
      ...options.eventLog,
      onError: (error) => log(`capstan: warning: ${error.message}`),
    });
  } catch (error) {
    throw new StartupError(`cannot open the event log in ${path.join(options.stateDir, 'events')}: ${(error as Error).message}`);
  }
  eventLog.attach(bus);
  const oomCounter = new OomCounterWithTimes();
  await oomCounter.attach(bus, eventLog);
  oomMonitor = new OomMonitor({ layout, bus, onWarning: (message) => log(`capstan: warning: ${message}`) });
  oomMonitor.attach(collector);
  for (const engine of engines.values()) engine.connect();

  // Re-adopt the containers left running (or exited) while no agent ran, before the first tick
  // names their cgroups.
  const images = new ImageStore({ stateDir: options.stateDir, limits: options.imageLimits });
  const runtimeManager = new RuntimeManager({
    stateDir: options.stateDir,
    cgroups: cgroupManager,
    cgroupParent: options.cgroupParent,
    bus,
    rootfs: new ImageRootfs(images),
    log,
    oomWatch: oomMonitor,
  });
  images.setInUsePredicate((imageId) => runtimeManager.isImageInUse(imageId));
  runtime = runtimeManager;
  await runtimeManager.start();

  const containers = new Containers([new CapstanOwner(runtimeManager), ...engines.values()]);
  const exporter = new MetricsExporter({
    getSnapshot: () => collector.latest(),
    machine,
    version,
    perCpu: options.perCpu,
    intervalSeconds: options.intervalMs / 1000,
    deviceName: createDeviceNameResolver({ onError: (error) => console.error(`capstan: warning: cannot resolve a block device name: ${error.message}`) }),
    filesystems: () => filesystems,
    oomCounts: () => oomCounter.byName(),
    lastOomTimes: () => oomCounter.lastKillByName(),
    labelPolicy: options.storeContainerLabels ? STORE_ALL_LABELS : { storeAll: false, allowList: options.whitelistedContainerLabels },
    sourceStates: () => [...engines.values()].map((engine) => ({ source: engine.kind, up: engine.up })),
    // Exited containers keep their series until removed: the owners' in-memory listings, once per tick.
    owned: () => containers.list(),
    maxExitedContainers: options.maxExitedContainers,
  });
  collector.on('tick', (snapshot) => exporter.recordTick(snapshot));
  collector.on('warning', (message) => {
    exporter.recordWarning();
    log(`capstan: warning: ${message}`);
  });

  const first = await collector.start();

  const tokenStore = new TokenStore(tokens);
  // `capstan update` on capstan's own containers also lands in their spec (inspect, next start).
  const limits = LimitService.forCgroups(cgroupManager, {
    bus,
    storedCpuLimits: (container) => (container.source === 'capstan' ? runtimeManager.storedCpuLimits(container.id) : undefined),
    restartPolicyOf: (container) => (container.source === 'capstan' ? runtimeManager.restartPolicyOf(container.id) : undefined),
    persist: (applied) => {
      if (applied.container.source === 'capstan') runtimeManager.recordLimitUpdate(applied.container.id, applied.settings);
    },
  });
  const ownedLimits = new OwnedLimits({ service: limits, engines });
  const app = createApp({
    collector,
    containers,
    ownedLimits,
    describeOwned: (owner, id) => engines.get(owner)?.describeContainer(id),
    cgroups: cgroupManager,
    limits,
    bus,
    eventLog,
    stateDir: options.stateDir,
    exporter,
    machine,
    tokens: tokenStore,
    runtime: runtimeManager,
    images,
    registry: options.registry,
    ...(options.metricsToken !== undefined && { metricsToken: options.metricsToken }),
    webRoot: path.join(packageRoot(), 'build', 'web'),
    version,
  });
  const server = await new Promise<import('node:http').Server>((resolve, reject) => {
    const listening = app.listen(options.listenPort, options.listenHost);
    listening.once('listening', () => resolve(listening));
    listening.once('error', (error: NodeJS.ErrnoException) => {
      collector?.close();
      oomMonitor?.close();
      void runtime?.close();
      for (const engine of engines.values()) void engine.close();
      eventLog.close();
      reject(new StartupError(`cannot listen on ${options.listenHost}:${options.listenPort}: ${error.code ?? error.message}`));
    });
  });
  // A request node's parser refuses gets its 431/400 read by the client, not a reset.
  server.on('clientError', answerClientError);
  const sockets = attachSocketServer(server, { tokens: tokenStore, bus });
  // The dashboard's live stats: per-page rooms, per-tick deltas.
  const live = attachLive(sockets.io, { collector, owners: containers, intervalMs: options.intervalMs, hostHistoryPoints: Math.max(2, Math.round(options.historyMs / options.intervalMs)) });
  // run -it, exec: raw sessions after an HTTP Upgrade (other upgrade paths belong to socket.io).
  server.on('upgrade', runtimeUpgradeHandler({ runtime: runtimeManager, tokens: tokenStore }));
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  // The native client's way in (bin/capstan): short commands run here, without a Node start, with
  // the token the Node CLI would pick from tokens.json.
  const cliToken = pickToken({ tokens });
  const cliSocket = await listenCliSocket({ stateDir: options.stateDir, endpoint: { url, token: cliToken, stateDir: options.stateDir }, log });
  writeAgentFile(options.stateDir, { url, pid: process.pid, startedAt: new Date().toISOString(), version });

  log(`capstan agent ${version} listening on ${url} (cgroup ${layout.mode}, ${first.containers.length} cgroups, every ${options.intervalMs} ms)`);
  if (created) {
    const operator = tokens.find((t) => t.role === 'operator')!;
    log(`Dashboard (shown once; the operator token is in ${path.join(options.stateDir, 'tokens.json')}):`);
    log(`  ${url}/#token=${operator.token}`);
  }

  let closed = false;
  return {
    url,
    collector,
    async close() {
      if (closed) return;
      closed = true;
      await cliSocket?.close();
      collector?.close();
      oomMonitor?.close();
      await Promise.all([...engines.values()].map((engine) => engine.close()));
      clearInterval(filesystemTimer);
      if (blkioTimer) clearInterval(blkioTimer);
      live.close();
      sockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Containers keep running under their shims; the next agent re-adopts them.
      await runtime?.close();
      eventLog.close();
      removeAgentFile(options.stateDir, process.pid);
    },
  };
}

/** Entry point of `capstan agent`: resolves once the agent serves (0) or failed to start (1, 2). */
export async function runAgent(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseAgentOptions(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`capstan agent: ${error.message}\n\n${AGENT_USAGE}`);
      return 2;
    }
    throw error;
  }
  if (options === 'help') {
    console.log(AGENT_USAGE);
    return 0;
  }
  let agent: RunningAgent;
  try {
    agent = await startAgent(options);
  } catch (error) {
    if (error instanceof StartupError) {
      console.error(`capstan agent: ${error.message}`);
      return 1;
    }
    throw error;
  }
  const shutdown = (signal: string): void => {
    console.error(`capstan agent: ${signal} received, stopping`);
    agent.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  return 0;
}
