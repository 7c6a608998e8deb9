/**
 * How the runtime's own containers appear in the monitor's listing (`capstan ps -a`). The
 * collector only knows cgroups that exist, so a created or exited capstan container (no cgroup
 * yet, or any more) is only in GET /api/v1/runtime/containers; `ps -a` shows it too, as
 * `docker ps -a` does. Pure: no I/O.
 */
import type { ContainerInfo } from '../model';
import type { ContainerSummary } from './types';

/**
 * ContainerInfo for each summary the collector's listing lacks (by id), e.g. created or exited
 * containers. Running ones are normally already there; a missing one is added as well, so a
 * container never vanishes from `ps -a` between a start and the collector's next scan.
 */
export function runtimeOnlyContainers(summaries: ReadonlyArray<ContainerSummary & { owner?: ContainerInfo['source'] }>, listed: readonly ContainerInfo[]): ContainerInfo[] {
  const known = new Set(listed.map((info) => info.id));
  return summaries
    .filter((summary) => !known.has(summary.id))
    .map((summary) => ({
      id: summary.id,
      name: summary.name,
      cgroupPath: summary.cgroupPath,
      image: summary.image,
      source: summary.owner ?? 'capstan',
      isContainer: true,
      labels: { ...summary.labels },
      ...(Number.isFinite(summary.createdAtMs) ? { createdAtMs: summary.createdAtMs } : {}),
    }));
}

/** Reads GET /api/v1/runtime/containers' body; anything malformed is left out. */
export function parseRuntimeContainerList(body: unknown): Array<ContainerSummary & { owner?: ContainerInfo['source'] }> {
  const list = (body as { containers?: unknown } | null | undefined)?.containers;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (entry): entry is ContainerSummary =>
      typeof entry === 'object' &&
      entry !== null &&
      typeof (entry as ContainerSummary).id === 'string' &&
      typeof (entry as ContainerSummary).name === 'string' &&
      typeof (entry as ContainerSummary).cgroupPath === 'string',
  ).map((entry) => {
    const owner = (entry as { owner?: unknown }).owner;
    return {
      ...entry,
      image: typeof entry.image === 'string' ? entry.image : '',
      labels: entry.labels && typeof entry.labels === 'object' ? entry.labels : {},
      ...(owner === 'docker' || owner === 'podman' || owner === 'capstan' ? { owner } : {}),
    };
  });
}
