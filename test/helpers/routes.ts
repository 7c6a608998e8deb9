/**
 * The agent's HTTP routes as express registered them, and an in-process app with every router
 * mounted (fake collector, runtime and cgroups; a real image store), so a test can walk all
 * routes: a route added to the agent shows up here without anyone listing it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type express from 'express';
import { createApp, type ApiOptions } from '../../server/api/app';
import { TokenStore } from '../../server/api/auth';
import type { CgroupManager } from '../../server/cgroup/manage';
import type { Collector } from '../../server/collector/collector';
import { EventBus } from '../../server/events';
import { LimitService } from '../../server/limits/service';
import { freshV1Files, MemoryControlFiles } from '../../server/limits/testing';
import type { CollectorSnapshot, ContainerSnapshot } from '../../server/model';
import { ImageStore } from '../../server/runtime/images/store';
import { packTar } from '../../server/runtime/images/tar';
import type { RuntimeManager } from '../../server/runtime/manager';

export interface RegisteredRoute {
  /** Upper case: GET, POST, ... */
  method: string;
  /** Express's path pattern, mount points joined: /api/v1/containers/:reference/limits. */
  path: string;
}

interface RouterLayer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: RouterLayer[] };
  rawPath?: unknown;
}

/** Every route of `app`, nested routers included, in registration order. */
export function registeredRoutes(app: express.Express): RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  const walk = (stack: RouterLayer[], prefix: string): void => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) {
          if (method === '_all') continue;
          routes.push({ method: method.toUpperCase(), path: (prefix + layer.route.path).replace(/(.)\/$/, '$1') });
        }
      } else if (Array.isArray(layer.handle?.stack)) {
        if (typeof layer.rawPath !== 'string') throw new Error(`a router mounted on a non-string path (${String(layer.rawPath)}): the walk cannot name its routes`);
        walk(layer.handle.stack, prefix + (layer.rawPath === '/' ? '' : layer.rawPath));
      }
    }
  };
  walk((app as unknown as { router: { stack: RouterLayer[] } }).router.stack, '');
  return routes;
}

export const WALK_VIEWER = 'walk-viewer-token-0123456789';
export const WALK_OPERATOR = 'walk-operator-token-0123456789';
export const WALK_METRICS = 'walk-metrics-token-0123456789';
/** The container every fake knows (collector, limits, runtime) and the image the store holds. */
export const WALK_CONTAINER = 'web';
export const WALK_IMAGE = 'walk:1';
export const WALK_VOLUME = 'walkdata';

const web: ContainerSnapshot = {
  info: { id: 'ab'.repeat(32), name: WALK_CONTAINER, cgroupPath: '/capstan-walk/web', image: '', source: 'capstan', isContainer: true, labels: {} },
  sample: { cpu: {}, memory: {}, pids: {} },
  stats: { timestampMs: 0 },
};

/** capstan's runtime reduced to answers: every call succeeds on the one container. */
function fakeRuntime(scratch: string): Partial<RuntimeManager> {
  const upperDirectory = path.join(scratch, 'upper');
  fs.mkdirSync(upperDirectory);
  const summary = { id: web.info.id, name: WALK_CONTAINER, image: '', imageId: '', status: 'running', pid: 0, labels: {}, cgroupPath: web.info.cgroupPath, createdAtMs: 0 };
  const done = async (): Promise<void> => {};
  return {
    list: () => [summary] as ReturnType<RuntimeManager['list']>,
    psEntries: () => [],
    resolveId: () => web.info.id,
    inspect: () => ({ Id: web.info.id, Name: `/${WALK_CONTAINER}` }) as unknown as ReturnType<RuntimeManager['inspect']>,
    top: async () => ({ Titles: [], Processes: [] }),
    // An empty writable layer over the walk image (diff reads it).
    layerOf: () => ({ upperDirectory, imageId: WALK_IMAGE }),
    followLogs: done as unknown as RuntimeManager['followLogs'],
    startContainer: done as unknown as RuntimeManager['startContainer'],
    stop: done as unknown as RuntimeManager['stop'],
    restart: done as unknown as RuntimeManager['restart'],
    kill: done as unknown as RuntimeManager['kill'],
    pause: done as unknown as RuntimeManager['pause'],
    unpause: done as unknown as RuntimeManager['unpause'],
    remove: done as unknown as RuntimeManager['remove'],
    wait: (async () => ({ StatusCode: 0 })) as unknown as RuntimeManager['wait'],
    create: (async () => ({ id: web.info.id, warnings: [] })) as unknown as RuntimeManager['create'],
    volumes: fakeVolumes(),
  };
}

/** The volume service reduced to answers about WALK_VOLUME. */
function fakeVolumes(): RuntimeManager['volumes'] {
  const volume = { CreatedAt: '2024-01-01T00:00:00Z', Driver: 'local' as const, Labels: {}, Mountpoint: '/nonexistent/_data', Name: WALK_VOLUME, Options: {}, Scope: 'local' as const };
  return {
    create: () => volume,
    list: () => [volume],
    inspect: () => volume,
    remove: async () => {},
    prune: async () => ({ VolumesDeleted: [], SpaceReclaimed: 0 }),
  } as unknown as RuntimeManager['volumes'];
}

/** A one-file root filesystem archive, the body of an image import. */
export function walkArchive(): Buffer {
  return packTar([{ name: 'hello', type: 'file', content: 'hi\n' }]);
}

export interface WalkApp {
  app: express.Express;
  store: ImageStore;
  remove(): void;
}

/** createApp with every optional router present; `remove` deletes its scratch directory. */
export async function walkApp(): Promise<WalkApp> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-walk-'));
  const io = new MemoryControlFiles(1);
  io.addCgroup(web.info.cgroupPath, freshV1Files());
  const layout = { mode: 'hybrid' as const, controllersOn: 1 as const, v1Mounts: {}, v2Controllers: [] };
  const snapshot = { sequence: 1, timestampMs: 0, tickDurationSeconds: 0, layout, host: { systemCpuNanoseconds: 0, onlineCpus: 2 }, containers: [web] } as CollectorSnapshot;
  const bus = new EventBus();
  const store = new ImageStore({ stateDir: path.join(scratch, 'state'), markers: async () => {} });
  const archive = path.join(scratch, 'walk.tar');
  fs.writeFileSync(archive, walkArchive());
  await store.importImage(archive, { name: WALK_IMAGE });
  const options = {
    collector: { latest: () => snapshot, layout, history: () => ({ timestampsMs: [], series: {} }) } as unknown as Collector,
    cgroups: { processes: () => [] } as unknown as CgroupManager,
    bus,
    stateDir: scratch,
    exporter: {
      scrape: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', chunks: [Buffer.from('# walk\n')], length: '# walk\n'.length }),
    } as unknown as ApiOptions['exporter'],
    machine: { cpuCores: 2, cpuModel: 'walk', memoryBytes: 1e9, os: 'linux', kernel: '6', hostname: 'walk' },
    tokens: new TokenStore([
      { name: 'viewer', role: 'viewer', token: WALK_VIEWER },
      { name: 'operator', role: 'operator', token: WALK_OPERATOR },
    ]),
    metricsToken: WALK_METRICS,
    webRoot: path.join(scratch, 'web'),
    version: 'walk',
    limits: new LimitService({ layout, io, hostCpus: 2, bus }),
    runtime: fakeRuntime(scratch) as RuntimeManager,
    images: store,
  } satisfies ApiOptions;
  return { app: createApp(options), store, remove: () => fs.rmSync(scratch, { recursive: true, force: true }) };
}
