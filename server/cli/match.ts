/**
 * Finding the container a user named, the way docker's daemon does (GetContainer): an exact
 * full ID first, then an exact name, then (capstan's addition) an exact cgroup path, then a
 * unique ID prefix. Failures use docker's wording, because scripts and people match on it:
 * "Error response from daemon: No such container: NAME". Pure.
 */
import type { ContainerInfo } from '../model';

export type MatchResult<T> = { ok: true; item: T } | { ok: false; error: string };

const DAEMON = 'Error response from daemon: ';

export function noSuchContainer(query: string): string {
  return `${DAEMON}No such container: ${query}`;
}

/** Finds the one entry `query` names among `items`. */
export function findContainer<T extends { info: ContainerInfo }>(items: readonly T[], query: string): MatchResult<T> {
  if (query === '') return { ok: false, error: `${DAEMON}invalid container name or ID: value is empty` };

  const byId = items.find((e) => e.info.id === query);
  if (byId) return { ok: true, item: byId };

  // docker names carry a leading "/" internally, so "docker stats /web" works; keep that.
  const names = (query.startsWith('/') ? [query, query.slice(1)] : [query]).filter((n) => n !== '');
  for (const name of names) {
    const byName = items.filter((e) => e.info.name === name);
    if (byName.length === 1) return { ok: true, item: byName[0]! };
    if (byName.length > 1) return { ok: false, error: `${DAEMON}multiple containers found with name: ${name}` };
  }

  const cgroupPath = query.startsWith('/') ? query : '/' + query;
  const byPath = items.filter((e) => e.info.cgroupPath === cgroupPath);
  if (byPath.length === 1) return { ok: true, item: byPath[0]! };

  const byPrefix = items.filter((e) => e.info.id.startsWith(query));
  if (byPrefix.length === 1) return { ok: true, item: byPrefix[0]! };
  if (byPrefix.length > 1) return { ok: false, error: `${DAEMON}multiple IDs found with provided prefix: ${query}` };

  return { ok: false, error: noSuchContainer(query) };
}

/** Resolves every query; `errors` keeps docker's one-line-per-container messages in order. */
export function findContainers<T extends { info: ContainerInfo }>(
  items: readonly T[],
  queries: readonly string[],
): { matches: { query: string; item: T }[]; errors: string[] } {
  const matches: { query: string; item: T }[] = [];
  const errors: string[] = [];
  for (const query of queries) {
    const result = findContainer(items, query);
    if (result.ok) matches.push({ query, item: result.item });
    else errors.push(result.error);
  }
  return { matches, errors };
}
