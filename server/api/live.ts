/**
 * Live stats for the dashboard over socket.io, built so one agent can feed many pages watching
 * hundreds of containers:
 *
 * - A page says what it shows (`subscribe`): the containers table (containers only or every
 *   cgroup), the host series, and the containers whose pages are open. Each is a socket.io room;
 *   nothing is computed or sent for a room nobody is in.
 * - The answer to `subscribe` carries a baseline per room. After that every collector tick sends
 *   each room one delta: for each row only the fields whose value changed, rows by a small
 *   per-room key instead of their 64-hex id, vanished rows by key. Deltas carry the tick's
 *   sequence and the one before, so a page that missed one (a reconnect) asks again.
 * - Baselines and deltas are computed once per room and tick, then broadcast: the cost grows
 *   with rooms, not with pages.
 *
 * Also here: the two read-only REST routes only the dashboard needs, the processes of any cgroup
 * (`docker top` works for capstan's containers only) and the sockets its processes listen on.
 *
 * The message types below are part of the socket contract (server/api/socket.ts extends its
 * ServerToClientEvents/ClientToServerEvents with them) and are imported by web/.
 */
import * as fs from 'node:fs';
import express from 'express';
import type { CgroupManager } from '../cgroup/manage';
import type { Collector } from '../collector/collector';
import type { CollectorSnapshot, ContainerInfo, ContainerSnapshot, ContainerStats } from '../model';
import { parsePsOutput, runPs } from '../runtime/top';
import type { OwnedContainer, OwnedStatus } from '../containers/types';
import { infoOfOwned } from '../containers/info';
import type { TopResult } from '../runtime/top';
import type { Role } from './auth';
import { HttpError } from './errors';
import { resolveContainer } from './resolve';
import type { CapstanSocket, CapstanSocketServer } from './socket';

// ---------------------------------------------------------------------------- contract

/** Which rows the containers table shows: containers (capstan, docker, systemd services) or every cgroup. */
export type OverviewScope = 'containers' | 'all';

/** What a page shows. Each `subscribe` replaces the socket's previous subscription. */
export interface LiveSubscription {
  /** The containers table; absent or null = no table on this page. */
  overview?: OverviewScope | null;
  /** The host CPU and memory series. */
  host?: boolean;
  /** Containers whose pages are open: ids (names and cgroup paths are resolved too). */
  containers?: string[];
}

/** A row's state badge: capstan's runtime status, else whether the cgroup has tasks. */
export type RowState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead' | 'empty' | 'unknown';

export type StatKey = keyof ContainerStats;

/** The stats the containers table needs (docker stats' columns, the sparklines, the badges). */
export const OVERVIEW_STAT_KEYS = [
  'cpuPercent',
  'cpuLimitCpus',
  'cpuThrottledPercent',
  'memoryUsageBytes',
  'memoryWorkingSetBytes',
  'memoryLimitBytes',
  'memoryLimitIsSet',
  'memoryPercent',
  'networkRxBytes',
  'networkTxBytes',
  'blockReadBytes',
  'blockWriteBytes',
  'pids',
  'pidsLimit',
  'oomKills',
] as const satisfies readonly StatKey[];

/** Samples of each sparkline in a baseline. Units: ticks. */
export const SPARKLINE_POINTS = 60;

/** One row of the containers table, as a baseline gives it. */
export interface LiveRow {
  /** Names this row in later deltas of the same room (stable while the row exists). */
  key: number;
  info: ContainerInfo;
  state: RowState;
  /** Only OVERVIEW_STAT_KEYS; an absent key is unknown. */
  stats: Partial<ContainerStats>;
  /** Recent samples, oldest first, for the sparklines; null = unknown at that tick. */
  spark: { cpuPercent: Array<number | null>; memoryWorkingSetBytes: Array<number | null> };
}

/** What changed in one row since the previous tick. */
export interface RowPatch {
  key: number;
  /** Present when the description changed (a source learned the name, for one). */
  info?: ContainerInfo;
  state?: RowState;
  /** Fields whose value changed (null is a value here: "unlimited"). */
  set?: Partial<ContainerStats>;
  /** Fields that became unknown. */
  unset?: StatKey[];
}

export interface OverviewBaseline {
  scope: OverviewScope;
  sequence: number;
  /** Units: milliseconds since the Unix epoch. */
  timestampMs: number;
  rows: LiveRow[];
}

/** One tick of the containers table. */
export interface OverviewDelta {
  scope: OverviewScope;
  sequence: number;
  /** The sequence this delta applies to; anything else means the page missed one and resubscribes. */
  previousSequence: number;
  /** Units: milliseconds since the Unix epoch. */
  timestampMs: number;
  /** New rows (sparklines empty). */
  added: LiveRow[];
  changed: RowPatch[];
  /** Keys of rows that are gone. */
  removed: number[];
}

/** The host at one tick. */
export interface HostPoint {
  /** Units: milliseconds since the Unix epoch. */
  timestampMs: number;
  /** All CPUs busy = 100 (the root cgroup's docker-style percentage ÷ online CPUs). Units: percent. */
  cpuPercent?: number;
  /** MemTotal − MemAvailable. Units: bytes. */
  memoryUsedBytes?: number;
  /** Units: bytes. */
  memoryTotalBytes?: number;
}

export interface HostBaseline {
  /** Units: CPUs (count). */
  onlineCpus?: number;
  /** Oldest first. */
  points: HostPoint[];
}

export interface ContainerBaseline {
  id: string;
  sequence: number;
  /** Units: milliseconds since the Unix epoch. */
  timestampMs: number;
  info: ContainerInfo;
  state: RowState;
  /** Every stat (an absent key is unknown); an empty object for a capstan container that is not running. */
  stats: Partial<ContainerStats>;
}

/** One tick of one container page. */
export interface ContainerDelta {
  id: string;
  sequence: number;
  previousSequence: number;
  /** Units: milliseconds since the Unix epoch. */
  timestampMs: number;
  info?: ContainerInfo;
  state?: RowState;
  set?: Partial<ContainerStats>;
  unset?: StatKey[];
  /** The container (its cgroup) is no longer tracked; no more deltas follow. */
  gone?: true;
}

export interface SubscribeResult {
  overview?: OverviewBaseline;
  host?: HostBaseline;
  containers: ContainerBaseline[];
  /** References in `containers` that match nothing. */
  unknown: string[];
  /** Why nothing was subscribed (a malformed request). */
  error?: string;
}

/** Sent once per connection, after authentication. */
export interface LiveSession {
  /** The token's name. */
  name: string;
  role: Role;
  /** Units: milliseconds. */
  intervalMs: number;
}

export interface LiveServerToClientEvents {
  session: (session: LiveSession) => void;
  overview: (delta: OverviewDelta) => void;
  host: (point: HostPoint) => void;
  container: (delta: ContainerDelta) => void;
}

export interface LiveClientToServerEvents {
  subscribe: (subscription: LiveSubscription, ack: (result: SubscribeResult) => void) => void;
}

// ---------------------------------------------------------------------------- pure pieces

/** A copy of `stats` restricted to `keys`, dropping unknown values (absent, NaN, infinite). */
export function projectStats(stats: ContainerStats | Partial<ContainerStats>, keys: readonly StatKey[]): Partial<ContainerStats> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const value = stats[key];
    if (value === undefined) continue;
    if (typeof value === 'number' && !Number.isFinite(value)) continue;
    out[key] = value;
  }
  return out as Partial<ContainerStats>;
}

/** Fields of `next` that differ from `previous`, and the fields `next` no longer knows. */
export function diffStats(
  previous: Partial<ContainerStats>,
  next: Partial<ContainerStats>,
): { set?: Partial<ContainerStats>; unset?: StatKey[] } {
  let set: Record<string, unknown> | undefined;
  let unset: StatKey[] | undefined;
  for (const key of Object.keys(next) as StatKey[]) {
    if (previous[key] !== next[key]) (set ??= {})[key] = next[key];
  }
  for (const key of Object.keys(previous) as StatKey[]) {
    if (!(key in next)) (unset ??= []).push(key);
  }
  return { ...(set && { set: set as Partial<ContainerStats> }), ...(unset && { unset }) };
}

/** The state badge of a tracked cgroup: its owner's status, else whether the cgroup has tasks. */
export function rowState(container: ContainerSnapshot, runtimeStatus: OwnedStatus | undefined): RowState {
  if (runtimeStatus !== undefined) return runtimeStatus;
  const pids = container.stats.pids;
  if (pids === undefined) return 'unknown';
  return pids > 0 ? 'running' : 'empty';
}

/** A listening socket of a container's processes. */
export interface ListeningSocket {
  protocol: 'tcp' | 'tcp6' | 'udp' | 'udp6';
  /** Local address as printed ("0.0.0.0", "127.0.0.1", "::"). */
  address: string;
  /** Units: port number. */
  port: number;
  /** The socket's inode (what /proc/<pid>/fd links name). */
  inode: number;
}

/** Decodes /proc/net's hex address: IPv4 as one little-endian 32-bit word, IPv6 as four. */
export function decodeProcNetAddress(hex: string): string {
  if (hex.length === 8) {
    const word = Number.parseInt(hex, 16);
    return [word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, (word >>> 24) & 0xff].join('.');
  }
  if (hex.length === 32) {
    const bytes: number[] = [];
    for (let w = 0; w < 4; w++) {
      const word = hex.slice(w * 8, w * 8 + 8);
      for (let b = 3; b >= 0; b--) bytes.push(Number.parseInt(word.slice(b * 2, b * 2 + 2), 16));
    }
    // ::ffff:a.b.c.d reads better as the IPv4 address it is.
    if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12).join('.');
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
    // Shorten the longest run of zero groups, as inet_ntop does.
    let bestStart = -1;
    let bestLength = 0;
    for (let i = 0; i < 8; ) {
      if (groups[i] !== '0') {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && groups[j] === '0') j++;
      if (j - i > bestLength && j - i > 1) {
        bestStart = i;
        bestLength = j - i;
      }
      i = j;
    }
    if (bestStart < 0) return groups.join(':');
    return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
  }
  throw new Error(`not a /proc/net address: ${hex}`);
}

/** TCP_LISTEN in /proc/net/tcp's st column; 07 (TCP_CLOSE) is an unconnected (bound) UDP socket. */
const LISTEN_STATE: Record<ListeningSocket['protocol'], string> = { tcp: '0A', tcp6: '0A', udp: '07', udp6: '07' };

/** The listening (TCP) or bound (UDP) sockets in a /proc/<pid>/net/{tcp,tcp6,udp,udp6} text. */
export function parseProcNetSockets(text: string, protocol: ListeningSocket['protocol']): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const [local, , state] = [fields[1]!, fields[2]!, fields[3]!];
    if (state !== LISTEN_STATE[protocol]) continue;
    const colon = local.lastIndexOf(':');
    if (colon < 0) continue;
    const port = Number.parseInt(local.slice(colon + 1), 16);
    const inode = Number(fields[9]);
    if (!Number.isFinite(port) || !Number.isInteger(inode) || inode === 0) continue;
    sockets.push({ protocol, address: decodeProcNetAddress(local.slice(0, colon)), port, inode });
  }
  return sockets;
}

// ---------------------------------------------------------------------------- rooms

const OVERVIEW_ROOM: Record<OverviewScope, string> = { containers: 'live:overview:containers', all: 'live:overview:all' };
const HOST_ROOM = 'live:host';
const CONTAINER_ROOM_PREFIX = 'live:container:';
/** A page watches a handful of containers; more is a mistake or abuse. */
const MAX_CONTAINERS_PER_SUBSCRIPTION = 32;

interface OverviewRowState {
  key: number;
  info: ContainerInfo;
  state: RowState;
  stats: Partial<ContainerStats>;
}

interface OverviewRoomState {
  sequence: number;
  timestampMs: number;
  nextKey: number;
  rows: Map<string, OverviewRowState>;
}

interface ContainerRoomState {
  sequence: number;
  timestampMs: number;
  info: ContainerInfo;
  state: RowState;
  stats: Partial<ContainerStats>;
}

/** What the live module reads of the owners: every owned container with its status (the containers interface). */
export interface LiveOwners {
  list(): OwnedContainer[];
}

export interface LiveOptions {
  collector: Collector;
  /** Every owner's containers: states for the badges, and rows for containers that are not running. */
  owners?: LiveOwners;
  /** Units: milliseconds. */
  intervalMs: number;
  /** Host points kept for a page that opens later. Units: ticks. Default 900. */
  hostHistoryPoints?: number;
}

export interface AttachedLive {
  /** Stops following the collector and answering subscriptions. */
  close(): void;
}

export function attachLive(io: CapstanSocketServer, options: LiveOptions): AttachedLive {
  const { collector, owners } = options;
  const overviewRooms = new Map<OverviewScope, OverviewRoomState>();
  const containerRooms = new Map<string, ContainerRoomState>();
  const hostCapacity = options.hostHistoryPoints ?? 900;
  const hostPoints: HostPoint[] = [];
  let onlineCpus: number | undefined;

  const members = (room: string): number => io.sockets.adapter.rooms.get(room)?.size ?? 0;

  // The owners' statuses, listed once per snapshot (a tick asks for every row's).
  let statusOf: { sequence: number; byId: Map<string, OwnedStatus>; list: OwnedContainer[] } | undefined;
  const ownedNow = (snapshot: CollectorSnapshot): { byId: Map<string, OwnedStatus>; list: OwnedContainer[] } => {
    if (statusOf?.sequence !== snapshot.sequence) {
      const list = owners?.list() ?? [];
      statusOf = { sequence: snapshot.sequence, list, byId: new Map(list.map((c) => [c.id, c.status])) };
    }
    return statusOf;
  };
  const runtimeStatus = (snapshot: CollectorSnapshot, info: ContainerInfo): OwnedStatus | undefined => ownedNow(snapshot).byId.get(info.id);

  /** Rows of a scope from a snapshot: tracked cgroups plus capstan containers without one. */
  const overviewRows = (snapshot: CollectorSnapshot, scope: OverviewScope): Array<Omit<OverviewRowState, 'key'>> => {
    const rows: Array<Omit<OverviewRowState, 'key'>> = [];
    const seen = new Set<string>();
    for (const container of snapshot.containers) {
      if (scope === 'containers' && !container.info.isContainer) continue;
      seen.add(container.info.id);
      rows.push({ info: container.info, state: rowState(container, runtimeStatus(snapshot, container.info)), stats: projectStats(container.stats, OVERVIEW_STAT_KEYS) });
    }
    for (const summary of ownedNow(snapshot).list) {
      if (seen.has(summary.id)) continue;
      rows.push({ info: infoOfOwned(summary), state: summary.status, stats: {} });
    }
    return rows;
  };

  const hostPoint = (snapshot: CollectorSnapshot): HostPoint => {
    const point: HostPoint = { timestampMs: snapshot.timestampMs };
    const { host } = snapshot;
    // Sorted by cgroup path, so the root is first when it is tracked.
    const root = snapshot.containers[0]?.info.cgroupPath === '/' ? snapshot.containers[0] : undefined;
    const cpu = root?.stats.cpuPercent;
    if (cpu !== undefined && Number.isFinite(cpu) && host.onlineCpus > 0) point.cpuPercent = cpu / host.onlineCpus;
    if (host.memoryTotalBytes !== undefined) {
      point.memoryTotalBytes = host.memoryTotalBytes;
      if (host.memoryAvailableBytes !== undefined) point.memoryUsedBytes = host.memoryTotalBytes - host.memoryAvailableBytes;
    }
    return point;
  };

  const spark = (info: ContainerInfo, sinceMs: number): LiveRow['spark'] => {
    const history = collector.history(info.cgroupPath, sinceMs);
    if (!history) return { cpuPercent: [], memoryWorkingSetBytes: [] };
    return {
      cpuPercent: history.series.cpuPercent.slice(-SPARKLINE_POINTS),
      memoryWorkingSetBytes: history.series.memoryWorkingSetBytes.slice(-SPARKLINE_POINTS),
    };
  };

  const buildOverviewRoom = (snapshot: CollectorSnapshot, scope: OverviewScope): OverviewRoomState => {
    const room: OverviewRoomState = { sequence: snapshot.sequence, timestampMs: snapshot.timestampMs, nextKey: 1, rows: new Map() };
    for (const row of overviewRows(snapshot, scope)) room.rows.set(row.info.id, { key: room.nextKey++, ...row });
    overviewRooms.set(scope, room);
    return room;
  };

  const overviewBaseline = (scope: OverviewScope, room: OverviewRoomState): OverviewBaseline => {
    const sinceMs = room.timestampMs - SPARKLINE_POINTS * options.intervalMs * 1.5;
    return {
      scope,
      sequence: room.sequence,
      timestampMs: room.timestampMs,
      rows: [...room.rows.values()].map((row) => ({ ...row, spark: spark(row.info, sinceMs) })),
    };
  };

  const tickOverview = (snapshot: CollectorSnapshot, scope: OverviewScope): void => {
    const roomName = OVERVIEW_ROOM[scope];
    const room = overviewRooms.get(scope);
    if (!room) return;
    if (members(roomName) === 0) {
      overviewRooms.delete(scope);
      return;
    }
    const delta: OverviewDelta = {
      scope,
      sequence: snapshot.sequence,
      previousSequence: room.sequence,
      timestampMs: snapshot.timestampMs,
      added: [],
      changed: [],
      removed: [],
    };
    const present = new Set<string>();
    for (const row of overviewRows(snapshot, scope)) {
      present.add(row.info.id);
      const previous = room.rows.get(row.info.id);
      if (!previous) {
        const added: OverviewRowState = { key: room.nextKey++, ...row };
        room.rows.set(row.info.id, added);
        delta.added.push({ ...added, spark: { cpuPercent: [], memoryWorkingSetBytes: [] } });
        continue;
      }
      const patch: RowPatch = { key: previous.key, ...diffStats(previous.stats, row.stats) };
      if (row.info !== previous.info && JSON.stringify(row.info) !== JSON.stringify(previous.info)) patch.info = row.info;
      if (row.state !== previous.state) patch.state = row.state;
      previous.info = row.info;
      previous.state = row.state;
      previous.stats = row.stats;
      if (patch.set || patch.unset || patch.info || patch.state) delta.changed.push(patch);
    }
    for (const [id, row] of room.rows) {
      if (present.has(id)) continue;
      room.rows.delete(id);
      delta.removed.push(row.key);
    }
    room.sequence = snapshot.sequence;
    room.timestampMs = snapshot.timestampMs;
    io.to(roomName).emit('overview', delta);
  };

  const containerState = (snapshot: CollectorSnapshot, id: string, byId: Map<string, ContainerSnapshot>): ContainerRoomState | undefined => {
    const container = byId.get(id);
    if (container) {
      return {
        sequence: snapshot.sequence,
        timestampMs: snapshot.timestampMs,
        info: container.info,
        state: rowState(container, runtimeStatus(snapshot, container.info)),
        stats: projectStats(container.stats, Object.keys(container.stats) as StatKey[]),
      };
    }
    const summary = ownedNow(snapshot).list.find((s) => s.id === id);
    if (!summary) return undefined;
    return { sequence: snapshot.sequence, timestampMs: snapshot.timestampMs, info: infoOfOwned(summary), state: summary.status, stats: {} };
  };

  const tickContainers = (snapshot: CollectorSnapshot): void => {
    if (containerRooms.size === 0) return;
    const byId = new Map(snapshot.containers.map((c) => [c.info.id, c]));
    for (const [id, previous] of containerRooms) {
      const roomName = CONTAINER_ROOM_PREFIX + id;
      if (members(roomName) === 0) {
        containerRooms.delete(id);
        continue;
      }
      const next = containerState(snapshot, id, byId);
      const base = { id, sequence: snapshot.sequence, previousSequence: previous.sequence, timestampMs: snapshot.timestampMs };
      if (!next) {
        containerRooms.delete(id);
        io.to(roomName).emit('container', { ...base, gone: true });
        continue;
      }
      const delta: ContainerDelta = { ...base, ...diffStats(previous.stats, next.stats) };
      if (next.info !== previous.info && JSON.stringify(next.info) !== JSON.stringify(previous.info)) delta.info = next.info;
      if (next.state !== previous.state) delta.state = next.state;
      containerRooms.set(id, next);
      io.to(roomName).emit('container', delta);
    }
  };

  const onTick = (snapshot: CollectorSnapshot): void => {
    onlineCpus = snapshot.host.onlineCpus;
    const point = hostPoint(snapshot);
    hostPoints.push(point);
    if (hostPoints.length > hostCapacity) hostPoints.splice(0, hostPoints.length - hostCapacity);
    if (members(HOST_ROOM) > 0) io.to(HOST_ROOM).emit('host', point);
    tickOverview(snapshot, 'containers');
    tickOverview(snapshot, 'all');
    tickContainers(snapshot);
  };

  /** The container a page names, by id, name or cgroup path. */
  const resolve = (snapshot: CollectorSnapshot, reference: string): string | undefined => {
    try {
      return resolveContainer(snapshot.containers, reference).info.id;
    } catch {
      const summary = (owners?.list() ?? []).find((s) => s.id === reference || s.name === reference || (reference.length >= 3 && s.id.startsWith(reference)));
      return summary?.id;
    }
  };

  const subscribe = (socket: CapstanSocket, subscription: unknown): SubscribeResult => {
    const request = parseSubscription(subscription);
    if (typeof request === 'string') return { containers: [], unknown: [], error: request };
    for (const room of socket.rooms) if (room.startsWith('live:')) void socket.leave(room);
    const snapshot = collector.latest();
    if (!snapshot) return { containers: [], unknown: [], error: 'the collector has not finished its first tick yet' };
    // A page that opens between ticks may name a container created since the last one: ask the owners afresh.
    statusOf = undefined;
    const result: SubscribeResult = { containers: [], unknown: [] };

    if (request.overview) {
      const scope = request.overview;
      // A room with members is current (it is updated every tick); otherwise build it now.
      const room = overviewRooms.get(scope) && members(OVERVIEW_ROOM[scope]) > 0 ? overviewRooms.get(scope)! : buildOverviewRoom(snapshot, scope);
      void socket.join(OVERVIEW_ROOM[scope]);
      result.overview = overviewBaseline(scope, room);
    }
    if (request.host) {
      void socket.join(HOST_ROOM);
      result.host = { ...(onlineCpus !== undefined && { onlineCpus }), points: hostPoints.slice() };
    }
    if (request.containers.length > 0) {
      const byId = new Map(snapshot.containers.map((c) => [c.info.id, c]));
      for (const reference of request.containers) {
        const id = resolve(snapshot, reference);
        let state = id === undefined ? undefined : containerRooms.get(id);
        if (id !== undefined && (!state || members(CONTAINER_ROOM_PREFIX + id) === 0)) {
          state = containerState(snapshot, id, byId);
          if (state) containerRooms.set(id, state);
        }
        if (id === undefined || !state) {
          result.unknown.push(reference);
          continue;
        }
        void socket.join(CONTAINER_ROOM_PREFIX + id);
        result.containers.push({ id, sequence: state.sequence, timestampMs: state.timestampMs, info: state.info, state: state.state, stats: state.stats });
      }
    }
    return result;
  };

  const onConnection = (socket: CapstanSocket): void => {
    const principal = socket.data.principal;
    socket.emit('session', { name: principal.name, role: principal.role, intervalMs: options.intervalMs });
    socket.on('subscribe', (subscription, ack) => {
      if (typeof ack !== 'function') return;
      let result: SubscribeResult;
      try {
        result = subscribe(socket, subscription);
      } catch (error) {
        result = { containers: [], unknown: [], error: (error as Error).message };
      }
      ack(result);
    });
  };

  collector.on('tick', onTick);
  io.on('connection', onConnection);
  // Pages connected before the live module was attached (none in the agent) get a session too.
  for (const socket of io.sockets.sockets.values()) onConnection(socket);
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      collector.off('tick', onTick);
      io.off('connection', onConnection);
      overviewRooms.clear();
      containerRooms.clear();
    },
  };
}

/** Checks a subscription from the network; a string says what is wrong. */
export function parseSubscription(value: unknown): { overview?: OverviewScope; host: boolean; containers: string[] } | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the subscription must be an object';
  const { overview, host, containers } = value as Record<string, unknown>;
  if (overview !== undefined && overview !== null && overview !== 'containers' && overview !== 'all') return 'overview must be "containers", "all" or null';
  if (host !== undefined && typeof host !== 'boolean') return 'host must be true or false';
  if (containers !== undefined && (!Array.isArray(containers) || !containers.every((c) => typeof c === 'string' && c.length > 0 && c.length <= 4096))) {
    return 'containers must be an array of container references';
  }
  const list = [...new Set((containers as string[] | undefined) ?? [])];
  if (list.length > MAX_CONTAINERS_PER_SUBSCRIPTION) return `at most ${MAX_CONTAINERS_PER_SUBSCRIPTION} containers per subscription`;
  return { ...(overview ? { overview: overview as OverviewScope } : {}), host: host === true, containers: list };
}

// ---------------------------------------------------------------------------- REST

/** The ps columns of the Processes tab (args last: it may contain spaces). */
const PROCESS_PS_ARGS = ['-eo', 'pid,ppid,user,pcpu,pmem,rss,stat,etime,args'];

/** Answer of GET /containers/:ref/listening. */
export interface ListeningAnswer {
  id: string;
  /** Sockets the cgroup's processes hold, with the process holding each. */
  sockets: Array<ListeningSocket & { pid: number; command: string }>;
}

export interface LiveRouterOptions {
  collector: Collector;
  cgroups: Pick<CgroupManager, 'processes'>;
  /** Where /proc is. */
  procRoot?: string;
}

/**
 *   GET /api/v1/containers/:ref/processes   {"Titles", "Processes"} (docker top's shape) for any cgroup
 *   GET /api/v1/containers/:ref/listening   ListeningAnswer
 * Both read-only (viewer), both computed on request: only an open tab polls them.
 */
export function liveRouter(options: LiveRouterOptions): express.Router {
  const router = express.Router();
  const procRoot = options.procRoot ?? '/proc';
  const containerOf = (reference: string): ContainerSnapshot => {
    const snapshot = options.collector.latest();
    if (!snapshot) throw new HttpError(503, 'starting', 'the collector has not finished its first tick yet');
    return resolveContainer(snapshot.containers, reference);
  };

  router.get('/containers/:reference/processes', (request, response, next) => {
    const container = containerOf(String(request.params['reference']));
    const pids = new Set(options.cgroups.processes(container.info.cgroupPath));
    if (pids.size === 0) {
      response.json({ Titles: [], Processes: [] } satisfies TopResult);
      return;
    }
    runPs(PROCESS_PS_ARGS).then((output) => response.json(parsePsOutput(output, pids)), next);
  });

  router.get('/containers/:reference/listening', (request, response) => {
    const container = containerOf(String(request.params['reference']));
    const pids = options.cgroups.processes(container.info.cgroupPath);
    response.json({ id: container.info.id, sockets: listeningSockets(procRoot, pids) } satisfies ListeningAnswer);
  });

  return router;
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Sockets held by `pids` that listen (TCP) or are bound (UDP), from their namespaces' /proc/net tables. */
function listeningSockets(procRoot: string, pids: readonly number[]): ListeningAnswer['sockets'] {
  // Which process holds which socket inode: /proc/<pid>/fd/* → "socket:[inode]".
  const holders = new Map<number, number>();
  const namespaces = new Map<string, number>();
  for (const pid of pids.slice(0, 4096)) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // exited, or a kernel thread
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = fs.readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const match = /^socket:\[(\d+)\]$/.exec(link);
      if (match && !holders.has(Number(match[1]))) holders.set(Number(match[1]), pid);
    }
    try {
      const namespace = fs.readlinkSync(`${procRoot}/${pid}/ns/net`);
      if (!namespaces.has(namespace)) namespaces.set(namespace, pid);
    } catch {
      // No namespace link: the tables are read through the first pid that has one.
    }
  }
  if (holders.size === 0) return [];
  const result: ListeningAnswer['sockets'] = [];
  const seen = new Set<number>();
  const readers = namespaces.size > 0 ? [...namespaces.values()] : pids.slice(0, 1);
  for (const pid of readers) {
    for (const protocol of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
      for (const socket of parseProcNetSockets(readOrEmpty(`${procRoot}/${pid}/net/${protocol}`), protocol)) {
        const holder = holders.get(socket.inode);
        if (holder === undefined || seen.has(socket.inode)) continue;
        seen.add(socket.inode);
        const command = readOrEmpty(`${procRoot}/${holder}/comm`).trim();
        result.push({ ...socket, pid: holder, command });
      }
    }
  }
  return result.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}
