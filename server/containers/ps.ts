/**
 * `ps` across every owner, with docker's meaning (moby daemon/list.go, container/state.go):
 * - each row is docker's container Summary (GET /containers/json), plus the capstan-only `Owner`;
 * - rows come newest first (by creation time, finer than the API's whole seconds);
 * - without `all`, only running (and paused) containers; `-n N` and a `status` filter include
 *   stopped ones, as docker's do;
 * - filters: docker's keys and words. Values of one key OR; keys AND; `label` values AND (docker's
 *   MatchKVList); `before`/`since` name a container of any owner and cut the merged list there.
 * Engines apply their filters themselves (the agent passes them on); capstan's own containers and
 * Kubernetes' are filtered here with the same rules. Pure: no I/O.
 */
import { humanDuration } from '../model/human-duration';
import { ContainerError } from './errors';
import type { OwnedStatus } from './types';

/** One published or exposed port, as docker's Summary.Ports lists it. */
export interface PsPort {
  IP?: string;
  /** Units: port number. */
  PrivatePort: number;
  /** Units: port number. */
  PublicPort?: number;
  Type: string;
}

export interface PsMount {
  Type?: string;
  Name?: string;
  Source?: string;
  Destination?: string;
  Driver?: string;
}

/** docker's container Summary (moby api/types/container), as `docker ps` reads it, plus `Owner`. */
export interface PsSummary {
  Id: string;
  /** With docker's leading "/". */
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  /** Units: seconds since the Unix epoch. */
  Created: number;
  Ports: PsPort[];
  /** Only with size=1. Units: bytes. */
  SizeRw?: number;
  /** Only with size=1. Units: bytes. */
  SizeRootFs?: number;
  Labels: Record<string, string>;
  State: OwnedStatus;
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, unknown> };
  Mounts: PsMount[];
  /** capstan's: who runs it (capstan, docker, podman, kubernetes). */
  Owner: string;
}

/** A row before selection: the summary and what filtering needs beyond it. */
export interface PsEntry {
  summary: PsSummary;
  /** Units: milliseconds since the Unix epoch. */
  createdMs: number;
  /** The last run's exit code, when the container has run (docker's State.ExitCode). */
  exitCode?: number;
  /** Whether it ever started (docker's exited filter needs a StartedAt). */
  started: boolean;
  /** Already filtered by its owner (an engine applied the filters): only before/since/limit apply here. */
  filteredByOwner?: boolean;
}

/**
 * How long the agent waits for an engine's `ps` listing. A person (or script) asked, and leaving a
 * slow but running engine's containers out is worse than waiting for it; an engine that is not
 * there fails at connect time, at once. With sizes the engine walks each container's layer, which
 * takes longer. Units: milliseconds.
 */
export const PS_ENGINE_WAIT_MS = { listing: 8_000, withSizes: 60_000 } as const;

/**
 * How long the CLI waits for the agent's `ps` answer: the agent's wait for its engines, plus room
 * for undici's coarse timer (up to a second late) and for the agent's own work on a busy host.
 * Longer than the agent's wait, so the CLI gets the agent's answer, with its warning about an
 * engine that was left out, rather than a time-out of its own. Units: milliseconds.
 */
export function psAnswerWaitMs(withSizes: boolean): number {
  return (withSizes ? PS_ENGINE_WAIT_MS.withSizes : PS_ENGINE_WAIT_MS.listing) + 20_000;
}

/** docker's filter keys for ps (moby acceptedPsFilterTags). */
export const PS_FILTER_KEYS: readonly string[] = [
  'ancestor', 'before', 'exited', 'health', 'id', 'isolation', 'label', 'name', 'status', 'since', 'volume', 'network', 'is-task', 'publish', 'expose',
];

export const PS_STATUSES: readonly OwnedStatus[] = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'];

/** Filter values by key, as the API's `filters` parameter carries them. */
export type PsFilters = ReadonlyMap<string, readonly string[]>;

const invalid = (message: string): ContainerError => new ContainerError(400, 'invalid_filter', message);

/**
 * The API's `filters` parameter: `{"status":{"running":true}}` (docker's map form) or the older
 * `{"status":["running"]}`. Checks keys and values with docker 20.10's words.
 */
export function parsePsFilters(text: string | undefined): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  if (text === undefined || text === '') return filters;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid('filters must be a JSON object such as {"status":{"running":true}}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid('filters must be a JSON object such as {"status":{"running":true}}');
  for (const [key, raw] of Object.entries(parsed as Record<string, unknown>)) {
    let values: string[];
    if (Array.isArray(raw) && raw.every((v) => typeof v === 'string')) values = raw as string[];
    else if (typeof raw === 'object' && raw !== null && Object.values(raw).every((v) => v === true)) values = Object.keys(raw);
    else throw invalid(`filter ${JSON.stringify(key)} must map values to true`);
    if (values.length > 0) filters.set(key, values);
  }
  validatePsFilters(filters);
  return filters;
}

/** docker's checks: a known key, a valid status, a numeric exit code, a boolean is-task. */
export function validatePsFilters(filters: PsFilters): void {
  for (const key of filters.keys()) if (!PS_FILTER_KEYS.includes(key)) throw invalid(`Invalid filter '${key}'`);
  for (const value of filters.get('status') ?? []) if (!PS_STATUSES.includes(value as OwnedStatus)) throw invalid(`Invalid filter 'status=${value}'`);
  for (const value of filters.get('exited') ?? []) if (!/^[+-]?\d+$/.test(value)) throw invalid(`strconv.Atoi: parsing ${JSON.stringify(value)}: invalid syntax`);
  for (const value of filters.get('is-task') ?? []) {
    if (!['true', 'false', '1', '0'].includes(value.toLowerCase())) throw invalid(`Invalid filter 'is-task=${value}'`);
  }
}

/** The API's `filters` text for `filters` (the map form docker's clients send). */
export function formatPsFilters(filters: PsFilters): string {
  const object: Record<string, Record<string, boolean>> = {};
  for (const [key, values] of filters) object[key] = Object.fromEntries(values.map((v) => [v, true]));
  return JSON.stringify(object);
}

/**
 * docker's filters.Match: no values matches; otherwise a value equal to `source`, or one that, as a
 * regular expression, matches somewhere in it (an invalid expression matches nothing).
 */
export function filterMatch(values: readonly string[] | undefined, source: string): boolean {
  if (!values || values.length === 0) return true;
  for (const value of values) {
    if (value === source) return true;
    try {
      if (new RegExp(value).test(source)) return true;
    } catch {
      // Go's regexp.MatchString error: this value matches nothing.
    }
  }
  return false;
}

/** docker's MatchKVList: every `key` or `key=value` must be among the labels. */
export function labelsMatch(values: readonly string[] | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!values || values.length === 0) return true;
  for (const value of values) {
    const equals = value.indexOf('=');
    const key = equals < 0 ? value : value.slice(0, equals);
    if (!Object.prototype.hasOwnProperty.call(labels, key)) return false;
    if (equals >= 0 && labels[key] !== value.slice(equals + 1)) return false;
  }
  return true;
}

/** The container `id` names by docker's rules among `ids`: itself, or a unique prefix. */
function idMatches(values: readonly string[] | undefined, id: string, ids: readonly string[]): boolean {
  if (!values || values.length === 0) return true;
  return values.some((value) => {
    if (value === '' || !id.startsWith(value)) return false;
    return value === id || ids.filter((other) => other.startsWith(value)).length === 1;
  });
}

export interface LocalFilterContext {
  /** Ids of the same owner's containers, for the id filter's unique prefix. */
  ownerIds: readonly string[];
  /** The image ids the ancestor filter's values name (resolved by the owner's image store). */
  ancestorImageIds: ReadonlySet<string>;
}

/** Whether `entry` passes every filter but before/since (those cut the merged list). */
export function matchesPsFilters(entry: PsEntry, filters: PsFilters, context: LocalFilterContext): boolean {
  const { summary } = entry;
  const name = summary.Names[0] ?? '';
  if (filters.has('name') && !filterMatch(filters.get('name'), name) && !filterMatch(filters.get('name'), name.replace(/^\//, ''))) return false;
  if (!idMatches(filters.get('id'), summary.Id, context.ownerIds)) return false;
  if (!labelsMatch(filters.get('label'), summary.Labels)) return false;
  const exited = filters.get('exited');
  if (exited && !exited.some((code) => summary.State !== 'running' && summary.State !== 'paused' && entry.started && Number(code) === entry.exitCode)) return false;
  if (!filterMatch(filters.get('status'), summary.State)) return false;
  // No healthchecks here: docker's "none".
  if (filters.has('health') && !filters.get('health')!.includes('none')) return false;
  if (!filterMatch(filters.get('isolation'), 'default')) return false;
  const isTask = filters.get('is-task');
  if (isTask && isTask.some((value) => value === 'true' || value === '1')) return false;
  if (filters.has('ancestor') && !context.ancestorImageIds.has(summary.ImageID)) return false;
  // No volumes: a volume filter matches none of these containers.
  if (filters.has('volume')) return false;
  if (filters.has('network') && !Object.keys(summary.NetworkSettings.Networks).some((network) => filterMatch(filters.get('network'), network))) return false;
  if (!portsMatch(filters.get('publish'), summary.Ports, 'PublicPort')) return false;
  if (!portsMatch(filters.get('expose'), summary.Ports, 'PrivatePort')) return false;
  return true;
}

/** publish/expose: "80", "80/tcp" or a range "8000-8080/tcp". */
function portsMatch(values: readonly string[] | undefined, ports: readonly PsPort[], field: 'PublicPort' | 'PrivatePort'): boolean {
  if (!values || values.length === 0) return true;
  return values.some((value) => {
    const [range = '', proto = 'tcp'] = value.split('/');
    const [low, high = low] = range.split('-').map(Number);
    return ports.some((port) => port.Type === proto && port[field] !== undefined && port[field]! >= low! && port[field]! <= high!);
  });
}

export interface PsSelection {
  all: boolean;
  /** docker's -n: at most this many, newest first, stopped ones included; 0 or less: no limit. */
  limit: number;
  filters: PsFilters;
}

/** Whether docker lists stopped containers for this request (-a, -n N, or a status filter). */
export function includesStopped(selection: Omit<PsSelection, 'filters'> & { filters?: PsFilters }): boolean {
  return selection.all || selection.limit > 0 || (selection.filters?.has('status') ?? false);
}

/** A container before/since names: its id and creation time. Units: createdMs in ms since the epoch. */
export interface PsMark {
  id: string;
  createdMs: number;
}

/**
 * The rows `docker ps` would print, from every owner's entries: newest first; with before/since,
 * those created before/after the named container (`resolve` finds it among every owner's, and
 * throws docker's "no such container"); running-only unless stopped ones are asked for; then
 * filters, then -n. (docker cuts its list at the container's position; by creation time is the
 * same cut, and holds when another filter leaves the named container out.)
 */
export function selectPs(entries: readonly PsEntry[], selection: PsSelection, context: (entry: PsEntry) => LocalFilterContext, resolve: (reference: string) => PsMark): PsSummary[] {
  const sorted = [...entries].sort((a, b) => b.createdMs - a.createdMs);
  // docker keeps one value of each (the last its map yields): the last given, here.
  const beforeRef = selection.filters.get('before')?.at(-1);
  const sinceRef = selection.filters.get('since')?.at(-1);
  const before = beforeRef === undefined ? undefined : resolve(beforeRef);
  const since = sinceRef === undefined ? undefined : resolve(sinceRef);
  const stopped = includesStopped(selection);
  const rows: PsSummary[] = [];
  for (const entry of sorted) {
    if (before && (entry.summary.Id === before.id || entry.createdMs >= before.createdMs)) continue;
    if (since && (entry.summary.Id === since.id || entry.createdMs <= since.createdMs)) continue;
    if (!stopped && entry.summary.State !== 'running' && entry.summary.State !== 'paused' && entry.summary.State !== 'restarting') continue;
    if (!entry.filteredByOwner && !matchesPsFilters(entry, selection.filters, context(entry))) continue;
    rows.push(entry.summary);
    if (selection.limit > 0 && rows.length >= selection.limit) break;
  }
  return rows;
}

/** What docker's State.String() needs. Times are RFC 3339; docker's zero time or "" when never. */
export interface StatusFacts {
  status: OwnedStatus;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
}

const NEVER = (time: string): boolean => time === '' || time.startsWith('0001-01-01');

/**
 * docker's STATUS text: "Up 5 minutes", "Up 2 minutes (Paused)", "Restarting (1) 3 seconds ago",
 * "Exited (137) 2 minutes ago", "Created", "Dead", "Removal In Progress". Units: nowMs in ms since the epoch.
 */
export function statusText(facts: StatusFacts, nowMs: number): string {
  const since = (time: string): string => humanDuration(nowMs - Date.parse(time));
  if (facts.status === 'running' || facts.status === 'paused') {
    const up = NEVER(facts.startedAt) ? 'Less than a second' : since(facts.startedAt);
    return facts.status === 'paused' ? `Up ${up} (Paused)` : `Up ${up}`;
  }
  if (facts.status === 'restarting') return `Restarting (${facts.exitCode}) ${NEVER(facts.finishedAt) ? 'Less than a second' : since(facts.finishedAt)} ago`;
  if (facts.status === 'removing') return 'Removal In Progress';
  if (facts.status === 'dead') return 'Dead';
  if (NEVER(facts.startedAt)) return 'Created';
  if (NEVER(facts.finishedAt)) return '';
  return `Exited (${facts.exitCode}) ${since(facts.finishedAt)} ago`;
}

/** docker's COMMAND: the path, then each argument, quoted with '' when it has a space. */
export function commandText(args: readonly string[]): string {
  if (args.length === 0) return '';
  return [args[0]!, ...args.slice(1).map((arg) => (arg.includes(' ') ? `'${arg}'` : arg))].join(' ');
}
