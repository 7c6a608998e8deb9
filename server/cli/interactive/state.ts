/**
 * The state of `capstan stats -i` and how the agent's stream changes it. Pure: the socket, the
 * terminal and the clock are outside (feed.ts, terminal.ts, index.ts), so every transition here is
 * a plain function a unit test can drive with the messages the agent sends.
 *
 * Rows come from the dashboard's overview room (server/api/live.ts): a baseline with 60-point
 * sparklines, then one delta per collector tick. A delta that does not follow the last sequence
 * applied asks for a resync (the caller subscribes again), as the dashboard does.
 */
import type { ContainerBaseline, ContainerDelta, LiveRow, LiveSession, OverviewBaseline, OverviewDelta, RowState } from '../../api/live';
import type { CapstanEvent } from '../../events/types';
import type { ContainerInfo, ContainerStats } from '../../model';
import type { CgroupSample } from '../../model/cgroup';

/** Points a row's sparklines keep (the baseline sends at most this many). Units: ticks. */
export const SPARK_POINTS = 60;
/** How long an OOM-killed row flashes. Units: milliseconds. */
export const FLASH_MS = 8_000;

export interface ViewRow {
  key: number;
  info: ContainerInfo;
  state: RowState;
  /** An absent key is unknown. */
  stats: Partial<ContainerStats>;
  /** Oldest first; null = unknown at that tick. Units: percent (100 = one CPU). */
  cpuSpark: Array<number | null>;
  /** Oldest first. Units: bytes (working set). */
  memSpark: Array<number | null>;
  /** Until when the row flashes (an OOM kill). Units: milliseconds since the Unix epoch. */
  flashUntilMs?: number;
}

/** The table's sortable columns, in the order of their sort keys 1–9. */
export const SORT_KEYS = ['name', 'owner', 'cpu', 'mem', 'memPercent', 'net', 'block', 'pids', 'state'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export type ConnectionState = 'connecting' | 'online' | 'offline' | 'unauthorized';

export type LifecycleAction = 'stop' | 'restart' | 'pause' | 'unpause' | 'remove';
export type LimitSetting = 'memory' | 'cpus';

/** A question at the bottom of the screen: typing a value, or y/n on an action. */
export type Prompt =
  | { kind: 'filter'; input: string }
  | { kind: 'edit'; setting: LimitSetting; id: string; name: string; old: string; input: string }
  | { kind: 'confirm'; id: string; name: string; question: string; action: LifecycleAction }
  | { kind: 'confirm-limit'; id: string; name: string; question: string; setting: LimitSetting; value: string };

export type StatusKind = 'oom' | 'info' | 'error';
export interface StatusLine {
  kind: StatusKind;
  text: string;
}

export const DETAIL_TABS = ['stats', 'processes', 'ports', 'logs', 'events', 'inspect'] as const;
export type DetailTab = (typeof DETAIL_TABS)[number];

/** A piece of the drill-down fetched on request: not yet, arrived, or refused. */
export type Fetched<T> = { status: 'loading' } | { status: 'ok'; value: T } | { status: 'error'; message: string };

export interface ProcessTable {
  titles: string[];
  processes: string[][];
}
export interface PortEntry {
  protocol: string;
  address: string;
  /** Units: port number. */
  port: number;
  pid: number;
  command: string;
}
export interface LogEntry {
  /** RFC 3339. */
  time: string;
  stream: string;
  text: string;
}

/** One raw sample of the open container, with when it was taken (for per-CPU rates). */
export interface TimedSample {
  sample: CgroupSample;
  /** Units: milliseconds since the Unix epoch. */
  timestampMs: number;
}

export interface DetailState {
  id: string;
  tab: DetailTab;
  /** Full stats from the container room (every stat, not only the table's). */
  stats: Partial<ContainerStats>;
  sequence: number;
  /** The two latest raw samples: the newest, and the one before it (per-CPU usage is their difference). */
  sample?: TimedSample;
  previousSample?: TimedSample;
  processes: Fetched<ProcessTable>;
  ports: Fetched<PortEntry[]>;
  logs: Fetched<LogEntry[]>;
  /** Newest last. */
  events: Fetched<CapstanEvent[]>;
  /** The owner's inspect document. */
  inspect: Fetched<unknown>;
  /** Paths of the inspect tree's unfolded nodes ("" is the root, always open). */
  unfolded: ReadonlySet<string>;
  /** The inspect tab's cursor: a line of inspectTree(). */
  cursor: number;
  /** First line shown of the tab's list. */
  scroll: number;
}

/** A new drill-down of `id`: everything still to be fetched. */
export function openDetail(id: string): DetailState {
  const loading = { status: 'loading' } as const;
  return { id, tab: 'stats', stats: {}, sequence: -1, processes: loading, ports: loading, logs: loading, events: loading, inspect: loading, unfolded: new Set(), cursor: 0, scroll: 0 };
}

/** One line of the inspect tree: a key and its value, or its folded/unfolded children's count. */
export interface TreeLine {
  path: string;
  depth: number;
  key: string;
  /** The value's text (a scalar), or "{…N}" / "[…N]" for an object or list. */
  text: string;
  foldable: boolean;
  unfolded: boolean;
}

/** The inspect document as lines: objects and lists folded unless their path is in `unfolded`. */
export function inspectTree(value: unknown, unfolded: ReadonlySet<string>): TreeLine[] {
  const lines: TreeLine[] = [];
  const visit = (node: unknown, path: string, depth: number): void => {
    const entries: Array<[string, unknown]> = Array.isArray(node) ? node.map((v, i) => [String(i), v]) : Object.entries(node as Record<string, unknown>);
    for (const [key, child] of entries) {
      const childPath = `${path}/${key}`;
      if (child !== null && typeof child === 'object') {
        const size = Array.isArray(child) ? child.length : Object.keys(child).length;
        const open = unfolded.has(childPath);
        lines.push({ path: childPath, depth, key, text: Array.isArray(child) ? `[…${size}]` : `{…${size}}`, foldable: size > 0, unfolded: open && size > 0 });
        if (open) visit(child, childPath, depth + 1);
      } else {
        lines.push({ path: childPath, depth, key, text: JSON.stringify(child) ?? 'null', foldable: false, unfolded: false });
      }
    }
  };
  if (value !== null && typeof value === 'object') visit(value, '', 0);
  else lines.push({ path: '', depth: 0, key: '', text: JSON.stringify(value) ?? 'null', foldable: false, unfolded: false });
  return lines;
}

export interface ViewState {
  connection: ConnectionState;
  connectionError: string;
  session?: LiveSession;
  rows: Map<number, ViewRow>;
  /** Sequence of the last overview tick applied; -1 before the baseline. */
  sequence: number;
  /** Units: milliseconds since the Unix epoch. */
  timestampMs: number;
  sort: { key: SortKey; descending: boolean };
  filter: string;
  /** The selected row, by container id (it survives re-sorting and key changes). */
  selectedId?: string;
  detail?: DetailState;
  prompt?: Prompt;
  status?: StatusLine;
  /** Terminal size. Units: columns, lines. */
  width: number;
  height: number;
  /** Units: milliseconds since the Unix epoch. */
  nowMs: number;
}

export function initialState(options: { width: number; height: number; nowMs: number }): ViewState {
  return {
    connection: 'connecting',
    connectionError: '',
    rows: new Map(),
    sequence: -1,
    timestampMs: 0,
    sort: { key: 'name', descending: false },
    filter: '',
    ...options,
  };
}

function keep<T>(list: T[], value: T): T[] {
  list.push(value);
  if (list.length > SPARK_POINTS) list.splice(0, list.length - SPARK_POINTS);
  return list;
}

function rowOf(live: LiveRow): ViewRow {
  return {
    key: live.key,
    info: live.info,
    state: live.state,
    stats: { ...live.stats },
    cpuSpark: live.spark.cpuPercent.slice(-SPARK_POINTS),
    memSpark: live.spark.memoryWorkingSetBytes.slice(-SPARK_POINTS),
  };
}

export function applyBaseline(state: ViewState, baseline: OverviewBaseline): ViewState {
  const rows = new Map<number, ViewRow>();
  // A resync keeps the flashes of rows that are still there.
  const flashes = new Map([...state.rows.values()].filter((r) => r.flashUntilMs !== undefined).map((r) => [r.info.id, r.flashUntilMs!]));
  for (const live of baseline.rows) {
    const row = rowOf(live);
    const flash = flashes.get(row.info.id);
    if (flash !== undefined) row.flashUntilMs = flash;
    rows.set(row.key, row);
  }
  return { ...state, rows, sequence: baseline.sequence, timestampMs: baseline.timestampMs };
}

/** Applies one tick; `resync` is true when the delta does not follow the last one (ask for a baseline). */
export function applyDelta(state: ViewState, delta: OverviewDelta): { state: ViewState; resync: boolean } {
  if (state.sequence < 0 || delta.previousSequence !== state.sequence) return { state, resync: true };
  const rows = new Map(state.rows);
  for (const key of delta.removed) rows.delete(key);
  for (const live of delta.added) rows.set(live.key, rowOf(live));
  for (const patch of delta.changed) {
    const previous = rows.get(patch.key);
    if (!previous) return { state, resync: true };
    const stats = { ...previous.stats, ...patch.set };
    for (const key of patch.unset ?? []) delete stats[key];
    rows.set(patch.key, { ...previous, ...(patch.info && { info: patch.info }), ...(patch.state && { state: patch.state }), stats });
  }
  // Every row's sparklines advance one point per tick, changed or not (an unchanged value repeats).
  const added = new Set(delta.added.map((a) => a.key));
  for (const [key, row] of rows) {
    const next = { ...row, cpuSpark: keep(row.cpuSpark.slice(), row.stats.cpuPercent ?? null), memSpark: keep(row.memSpark.slice(), row.stats.memoryWorkingSetBytes ?? null) };
    if (added.has(key) && row.cpuSpark.length > 0) continue;
    rows.set(key, next);
  }
  return { state: { ...state, rows, sequence: delta.sequence, timestampMs: delta.timestampMs }, resync: false };
}

export function applyContainerBaseline(state: ViewState, baseline: ContainerBaseline): ViewState {
  if (!state.detail || state.detail.id !== baseline.id) return state;
  return { ...state, detail: { ...state.detail, stats: { ...baseline.stats }, sequence: baseline.sequence } };
}

export function applyContainerDelta(state: ViewState, delta: ContainerDelta): { state: ViewState; resync: boolean } {
  const detail = state.detail;
  if (!detail || detail.id !== delta.id) return { state, resync: false };
  if (delta.previousSequence !== detail.sequence) return { state, resync: true };
  const stats = { ...detail.stats, ...delta.set };
  for (const key of delta.unset ?? []) delete stats[key];
  return { state: { ...state, detail: { ...detail, stats, sequence: delta.sequence } }, resync: false };
}

/** "01:02:03" in UTC: the screen's clock (the agent's event times are UTC too). */
export function clockTime(timeMs: number): string {
  return new Date(timeMs).toISOString().slice(11, 19);
}

/** An event from the stream: an OOM kill flashes its row and names itself on the status line. */
export function applyEvent(state: ViewState, event: CapstanEvent, formatBytes: (bytes: number) => string): ViewState {
  let next = state;
  if (state.detail?.id === event.actor.id && state.detail.events.status === 'ok') {
    const events = [...state.detail.events.value, event].slice(-200);
    next = { ...next, detail: { ...state.detail, events: { status: 'ok', value: events } } };
  }
  if (event.action !== 'oom') return next;
  const rows = new Map(next.rows);
  for (const [key, row] of rows) if (row.info.id === event.actor.id) rows.set(key, { ...row, flashUntilMs: state.nowMs + FLASH_MS });
  const limit = event.memoryLimitBytes !== undefined ? formatBytes(event.memoryLimitBytes) : 'an unknown';
  const usage = event.memoryUsageBytes !== undefined ? ` (usage ${formatBytes(event.memoryUsageBytes)})` : '';
  const text = `OOM kill: ${event.actor.name} hit its ${limit} memory limit at ${clockTime(event.timeMs)} UTC${usage}`;
  return { ...next, rows, status: { kind: 'oom', text } };
}

/**
 * The limits an update answered with, shown at once instead of at the next tick (so a second edit
 * right after the first starts from the new value). Units: memoryBytes in bytes, cpus in CPUs.
 */
export function applyLimits(state: ViewState, id: string, limits: { memoryBytes?: number | null; cpus?: number | null }): ViewState {
  const patch = (stats: Partial<ContainerStats>): Partial<ContainerStats> => {
    const next = { ...stats };
    // "Unlimited" shows the host's memory as the limit, which the next tick brings.
    if (typeof limits.memoryBytes === 'number') Object.assign(next, { memoryLimitBytes: limits.memoryBytes, memoryLimitIsSet: true });
    if (limits.cpus !== undefined) next.cpuLimitCpus = limits.cpus;
    return next;
  };
  const rows = new Map(state.rows);
  for (const [key, row] of rows) if (row.info.id === id) rows.set(key, { ...row, stats: patch(row.stats) });
  const detail = state.detail?.id === id ? { ...state.detail, stats: patch(state.detail.stats) } : state.detail;
  return { ...state, rows, detail };
}

export function applySession(state: ViewState, session: LiveSession): ViewState {
  return { ...state, session };
}

/** Whether any row is flashing at `nowMs` (the screen then redraws on a timer). */
export function anyFlashing(state: ViewState): boolean {
  for (const row of state.rows.values()) if (row.flashUntilMs !== undefined && row.flashUntilMs > state.nowMs) return true;
  return false;
}

/** The rows the table shows: filtered by name (case-insensitive substring), sorted. */
export function visibleRows(state: ViewState): ViewRow[] {
  const needle = state.filter.toLowerCase();
  const rows = [...state.rows.values()].filter((r) => needle === '' || r.info.name.toLowerCase().includes(needle));
  const { key, descending } = state.sort;
  const value = SORT_VALUE[key];
  rows.sort((a, b) => {
    const va = value(a);
    const vb = value(b);
    // Unknown values sort last whichever way the column goes.
    if (va === undefined || vb === undefined) {
      if (va === vb) return byName(a, b);
      return va === undefined ? 1 : -1;
    }
    const order = typeof va === 'string' ? va.localeCompare(vb as string) : (va as number) - (vb as number);
    return (descending ? -order : order) || byName(a, b);
  });
  return rows;
}

function byName(a: ViewRow, b: ViewRow): number {
  return a.info.name.localeCompare(b.info.name) || a.info.id.localeCompare(b.info.id);
}

function sum(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0);
}

const SORT_VALUE: Record<SortKey, (row: ViewRow) => string | number | undefined> = {
  name: (r) => r.info.name,
  owner: (r) => r.info.source,
  cpu: (r) => r.stats.cpuPercent,
  mem: (r) => r.stats.memoryWorkingSetBytes,
  memPercent: (r) => r.stats.memoryPercent,
  net: (r) => sum(r.stats.networkRxBytes, r.stats.networkTxBytes),
  block: (r) => sum(r.stats.blockReadBytes, r.stats.blockWriteBytes),
  pids: (r) => r.stats.pids,
  state: (r) => r.state,
};

/** The selected row among `rows` (the first when the selection has gone). */
export function selectedIndex(state: ViewState, rows: readonly ViewRow[]): number {
  const index = rows.findIndex((r) => r.info.id === state.selectedId);
  return index < 0 ? 0 : index;
}

export function rowById(state: ViewState, id: string): ViewRow | undefined {
  for (const row of state.rows.values()) if (row.info.id === id) return row;
  return undefined;
}

/** Per-CPU usage between the two latest samples. Units: percent of one CPU, per CPU. */
export function perCpuPercent(detail: DetailState): number[] | undefined {
  const now = detail.sample;
  const before = detail.previousSample;
  const a = before?.sample.cpu.perCpuNanoseconds;
  const b = now?.sample.cpu.perCpuNanoseconds;
  if (!a || !b || !now || !before || a.length !== b.length) return undefined;
  const elapsedNs = (now.timestampMs - before.timestampMs) * 1e6;
  if (elapsedNs <= 0) return undefined;
  // The kernel pads cpuacct.usage_percpu with possible-but-absent CPUs, which never count anything.
  let count = b.length;
  while (count > 1 && b[count - 1] === 0) count--;
  return b.slice(0, count).map((value, i) => Math.max(0, ((value - a[i]!) / elapsedNs) * 100));
}
