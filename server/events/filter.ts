/**
 * `docker events --filter` semantics (moby daemon/events/filter.go), on capstan's events. Pure.
 *
 * - Values of one key are ORed, different keys are ANDed.
 * - `event=oom` matches the action exactly; `type=container` the event type.
 * - `type=<anything but a docker object type>` is taken as `event=<it>`, so `--filter type=oom`
 *   (as people write it) works too.
 * - `container=X` matches the container's id or name, exactly or as a prefix (docker's FuzzyMatch).
 * - `image=X` matches the image attribute; `label=k` / `label=k=v` the attributes (labels are
 *   merged into them, as docker does); `scope=local` always matches (capstan is one host).
 * - Filters on other docker object kinds (network, volume, ...) are accepted and match no
 *   container event, as in docker.
 */
import type { CapstanEvent } from './types';

export type EventFilters = ReadonlyMap<string, readonly string[]>;

/** docker's object types: `type=` with one of these is a type filter, anything else an action. */
const DOCKER_OBJECT_TYPES = new Set(['container', 'image', 'volume', 'network', 'daemon', 'plugin', 'node', 'service', 'secret', 'config']);
/** Keys docker accepts for `docker events --filter`. */
const ACCEPTED_KEYS = new Set(['container', 'event', 'type', 'label', 'image', 'scope', 'daemon', 'network', 'volume', 'plugin', 'node', 'service', 'secret', 'config']);

export class EventFilterError extends Error {
  override name = 'EventFilterError';
}

/** Parses `key=value` arguments (repeatable). Throws EventFilterError with docker's wording. */
export function parseEventFilters(args: readonly string[]): EventFilters {
  const filters = new Map<string, string[]>();
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new EventFilterError(`bad format of filter (expected name=value): ${arg}`);
    const key = arg.slice(0, eq).trim().toLowerCase();
    const value = arg.slice(eq + 1).trim();
    addFilter(filters, key, value);
  }
  return filters;
}

/**
 * The docker Engine API's `filters` query parameter: JSON `{"event":["oom"]}`, or the older
 * `{"event":{"oom":true}}`.
 */
export function parseDockerFiltersJson(json: string): EventFilters {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new EventFilterError(`invalid filters JSON: ${json}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new EventFilterError('filters must be a JSON object');
  const filters = new Map<string, string[]>();
  for (const [key, values] of Object.entries(parsed as Record<string, unknown>)) {
    const list = Array.isArray(values)
      ? values
      : typeof values === 'object' && values !== null
        ? Object.entries(values as Record<string, unknown>).filter(([, on]) => on === true).map(([value]) => value)
        : undefined;
    if (!list || !list.every((v) => typeof v === 'string')) throw new EventFilterError(`filter "${key}" must list strings`);
    for (const value of list as string[]) addFilter(filters, key.toLowerCase(), value);
  }
  return filters;
}

function addFilter(filters: Map<string, string[]>, key: string, value: string): void {
  if (!ACCEPTED_KEYS.has(key)) throw new EventFilterError(`invalid filter '${key}'`);
  const list = filters.get(key);
  if (list) {
    if (!list.includes(value)) list.push(value);
  } else {
    filters.set(key, [value]);
  }
}

/** Merges two filter sets (e.g. `filter=` arguments and a `filters=` JSON). */
export function mergeEventFilters(a: EventFilters, b: EventFilters): EventFilters {
  const merged = new Map<string, string[]>();
  for (const source of [a, b]) {
    for (const [key, values] of source) for (const value of values) addFilter(merged, key, value);
  }
  return merged;
}

/** `key=value` strings again, e.g. for a query string. */
export function formatEventFilters(filters: EventFilters): string[] {
  const out: string[] = [];
  for (const [key, values] of filters) for (const value of values) out.push(`${key}=${value}`);
  return out;
}

/** Exact match, or `value` is a prefix of `source` (docker's FuzzyMatch). */
function fuzzy(values: readonly string[], source: string | undefined): boolean {
  if (source === undefined || source === '') return false;
  return values.some((value) => source === value || source.startsWith(value));
}

function matchesLabels(values: readonly string[], attributes: Readonly<Record<string, string>>): boolean {
  return values.some((value) => {
    const eq = value.indexOf('=');
    if (eq < 0) return Object.prototype.hasOwnProperty.call(attributes, value);
    const key = value.slice(0, eq);
    return Object.prototype.hasOwnProperty.call(attributes, key) && attributes[key] === value.slice(eq + 1);
  });
}

/** Whether `event` passes every filter. An empty filter set passes everything. */
export function matchesEventFilters(event: CapstanEvent, filters: EventFilters): boolean {
  if (filters.size === 0) return true;
  const typeValues = filters.get('type') ?? [];
  const objectTypes = typeValues.filter((value) => DOCKER_OBJECT_TYPES.has(value));
  const actionAliases = typeValues.filter((value) => !DOCKER_OBJECT_TYPES.has(value));
  const actions = [...(filters.get('event') ?? []), ...actionAliases];
  if (actions.length > 0 && !actions.includes(event.action)) return false;
  if (objectTypes.length > 0 && !objectTypes.includes(event.type)) return false;

  const containers = filters.get('container');
  if (containers && !fuzzy(containers, event.actor.id) && !fuzzy(containers, event.actor.name)) return false;

  const images = filters.get('image');
  if (images && !fuzzy(images, event.attributes['image'] ?? event.actor.image)) return false;

  const labels = filters.get('label');
  if (labels && !matchesLabels(labels, event.attributes)) return false;

  const scopes = filters.get('scope');
  if (scopes && !scopes.includes('local')) return false;

  // Other object kinds: a container event is never about a network, volume, ... (docker agrees).
  for (const key of ['daemon', 'network', 'volume', 'plugin', 'node', 'service', 'secret', 'config']) {
    if (filters.has(key)) return false;
  }
  return true;
}
