/**
 * GET /api/v1/containers/json?all=1&limit=N&size=1&filters=JSON: docker's container listing
 * (the Engine API's own path and parameters), across every owner, answered from the owners' state
 * at the time of the request (capstan's runtime in memory, each engine asked now), never from the
 * collector's last tick: a container `run -d` has just returned is listed, one `rm` removed is not.
 *
 * The answer is docker's JSON array of container Summaries, each with capstan's `Owner`. An engine
 * that cannot be reached leaves its containers out and says so in the Capstan-Warnings header (a
 * JSON array of sentences), so a listing never stalls on it. Kubernetes' containers come from the
 * cgroup tree (running ones only: a kubelet's stopped containers have no cgroup).
 *
 * Registered before GET /containers/:reference, as docker's path is: a container named "json" is
 * still reached by its id there.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import express, { type Request, type Response } from 'express';
import type { Collector } from '../collector/collector';
import { ContainerError } from '../containers/errors';
import { formatPsFilters, includesStopped, parsePsFilters, selectPs, statusText, type LocalFilterContext, type PsEntry, type PsMark } from '../containers/ps';
import type { Containers } from '../containers/registry';
import type { ImageStore } from '../runtime/images';
import type { RuntimeManager } from '../runtime/manager';
import { UPPER_DIRECTORY } from '../runtime/rootfs';
import { sendRuntimeError } from './containers-runtime';

export interface PsRouterOptions {
  collector: Collector;
  runtime?: RuntimeManager;
  images?: ImageStore;
  containers?: Containers;
  now?: () => number;
}

/** How many files a size walk reads before it gives up on a container's layer. Units: entries. */
const MAX_SIZE_WALK_ENTRIES = 200_000;

function flag(value: unknown): boolean {
  return value === '1' || value === 'true';
}

/** docker's directory.Size: the bytes of every regular file below `directory`, a hard link once. Units: bytes. */
export async function directorySize(directory: string): Promise<number> {
  let total = 0;
  let seen = 0;
  const inodes = new Set<string>();
  const pending = [directory];
  while (pending.length > 0 && seen < MAX_SIZE_WALK_ENTRIES) {
    const current = pending.pop()!;
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(current, { withFileTypes: true });
    } catch {
      continue; // Gone (removed meanwhile) or never made (a container that never started).
    }
    for (const entry of entries) {
      seen++;
      const file = path.join(current, entry.name);
      if (entry.isDirectory()) {
        pending.push(file);
        continue;
      }
      try {
        const stat = await fs.lstat(file);
        const inode = `${stat.dev}:${stat.ino}`;
        if (stat.nlink > 1) {
          if (inodes.has(inode)) continue;
          inodes.add(inode);
        }
        total += stat.size;
      } catch {
        // Removed meanwhile.
      }
    }
  }
  return total;
}

export function psRouter(options: PsRouterOptions): express.Router {
  const router = express.Router();
  const now = options.now ?? Date.now;

  router.get('/containers/json', async (request: Request, response: Response) => {
    try {
      const answer = await list(request);
      if (answer.warnings.length > 0) response.set('Capstan-Warnings', JSON.stringify(answer.warnings));
      response.json(answer.rows);
    } catch (error) {
      if (error instanceof ContainerError) sendRuntimeError(response, error);
      else throw error;
    }
  });

  async function list(request: Request) {
    const filtersText = request.query['filters'];
    const limitText = request.query['limit'];
    if ((filtersText !== undefined && typeof filtersText !== 'string') || (limitText !== undefined && typeof limitText !== 'string')) {
      throw new ContainerError(400, 'invalid_query', 'filters and limit must be given once');
    }
    if (limitText !== undefined && limitText !== '' && !/^-?\d{1,9}$/.test(limitText)) throw new ContainerError(400, 'invalid_query', 'limit must be an integer');
    const filters = parsePsFilters(filtersText);
    const selection = { all: flag(request.query['all']), limit: limitText ? Number(limitText) : -1, filters };
    const size = flag(request.query['size']);
    const nowMs = now();
    const warnings: string[] = [];
    const entries: PsEntry[] = [];

    for (const { entry, directory } of options.runtime?.psEntries(nowMs) ?? []) {
      if (size) {
        const rw = await directorySize(path.join(directory, UPPER_DIRECTORY));
        const image = entry.summary.ImageID === '' ? undefined : options.images?.resolve(entry.summary.ImageID);
        entry.summary.SizeRw = rw;
        entry.summary.SizeRootFs = image ? image.sizeBytes + rw : 0;
      }
      entries.push(entry);
    }

    // Each engine applies the filters itself, but before/since, which span every owner.
    const engineFilters = new Map([...filters].filter(([key]) => key !== 'before' && key !== 'since'));
    const engines = (options.containers?.owners ?? []).filter((owner) => owner.kind !== 'capstan' && owner.psEntries !== undefined);
    const engineLists = await Promise.all(
      engines.map(async (engine) => {
        try {
          return await engine.psEntries!({ all: includesStopped(selection), size, filters: engineFilters.size > 0 ? formatPsFilters(engineFilters) : undefined });
        } catch (error) {
          if (error instanceof ContainerError && error.status === 503) {
            // "the Docker engine at … cannot be reached (why)"
            warnings.push(`${error.message.split(';')[0]}: its containers are not listed`);
            return [];
          }
          throw error;
        }
      }),
    );
    entries.push(...engineLists.flat());

    // Kubernetes' running containers, from the cgroup tree (unless an engine listed them already).
    const known = new Set(entries.map((entry) => entry.summary.Id));
    for (const container of options.collector.latest()?.containers ?? []) {
      const info = container.info;
      if (info.source !== 'kubernetes' || !info.isContainer || known.has(info.id)) continue;
      const createdMs = info.createdAtMs ?? nowMs;
      const startedAt = new Date(createdMs).toISOString();
      entries.push({
        summary: {
          Id: info.id,
          Names: [`/${info.name}`],
          Image: info.image,
          ImageID: info.imageId ?? '',
          Command: '',
          Created: Math.floor(createdMs / 1000),
          Ports: [],
          Labels: { ...info.labels },
          State: 'running',
          Status: statusText({ status: 'running', startedAt, finishedAt: '', exitCode: 0 }, nowMs),
          HostConfig: { NetworkMode: '' },
          NetworkSettings: { Networks: {} },
          Mounts: [],
          Owner: 'kubernetes',
        },
        createdMs,
        started: true,
      });
    }

    const ancestorIds = new Set<string>();
    for (const reference of filters.get('ancestor') ?? []) {
      const image = options.images?.resolve(reference);
      if (image) ancestorIds.add(image.id);
    }
    const idsByOwner = new Map<string, string[]>();
    for (const entry of entries) idsByOwner.set(entry.summary.Owner, [...(idsByOwner.get(entry.summary.Owner) ?? []), entry.summary.Id]);
    const context = (entry: PsEntry): LocalFilterContext => ({
      ownerIds: idsByOwner.get(entry.summary.Owner) ?? [],
      ancestorImageIds: entry.summary.Owner === 'capstan' ? ancestorIds : new Set(),
    });
    const rows = selectPs(entries, selection, context, (reference) => resolveAmong(entries, options.containers, reference));
    return { rows, warnings };
  }

  return router;
}

/**
 * docker's idOrNameFilter, over every owner: an id, a name, or a unique id prefix, among the rows
 * listed, then among every owner's containers (a stopped one, or one another filter left out).
 */
function resolveAmong(entries: readonly PsEntry[], containers: Containers | undefined, reference: string): PsMark {
  const mark = (entry: PsEntry): PsMark => ({ id: entry.summary.Id, createdMs: entry.createdMs });
  const byId = entries.find((entry) => entry.summary.Id === reference);
  if (byId) return mark(byId);
  const name = reference.replace(/^\//, '');
  const byName = entries.filter((entry) => entry.summary.Names.some((n) => n.replace(/^\//, '') === name));
  if (byName.length === 1) return mark(byName[0]!);
  const byPrefix = reference === '' ? [] : entries.filter((entry) => entry.summary.Id.startsWith(reference));
  if (byName.length === 0 && byPrefix.length === 1) return mark(byPrefix[0]!);
  let owned: ReturnType<Containers['find']>;
  try {
    owned = containers?.find(reference);
  } catch {
    owned = undefined; // Ambiguous: docker's "no such container" too.
  }
  if (owned?.container.createdAtMs !== undefined) return { id: owned.container.id, createdMs: owned.container.createdAtMs };
  // docker 20.10's words.
  throw new ContainerError(404, 'no_such_container', `no such container ${reference}`);
}
