// The dashboard's live channel (server/api/live.ts): the pure pieces (stat diffs, /proc/net
// parsing, subscription checks) and the rooms over a real socket.io server fed by a fake
// collector: a page receives only what it subscribed to, baselines first, then per-tick deltas
// carrying only the fields that changed.
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import type { OwnedContainer } from '../../server/containers/types';
import { io as connectSocket, type Socket } from 'socket.io-client';

import { TokenStore } from '../../server/api/auth';
import {
  attachLive,
  decodeProcNetAddress,
  diffStats,
  parseProcNetSockets,
  parseSubscription,
  projectStats,
  type ContainerDelta,
  type LiveSession,
  type OverviewDelta,
  type SubscribeResult,
} from '../../server/api/live';
import { attachSocketServer, type ClientToServerEvents, type ServerToClientEvents } from '../../server/api/socket';
import type { Collector } from '../../server/collector/collector';
import { EventBus } from '../../server/events';
import type { CollectorSnapshot, ContainerSnapshot, ContainerStats } from '../../server/model';

const VIEWER = 'viewer-token-0123456789abcdef';
const OPERATOR = 'operator-token-0123456789abcdef';

test('diffStats sends changed fields and names the ones that became unknown', (t) => {
  t.deepEqual(diffStats({ cpuPercent: 1, pids: 3, cpuLimitCpus: null }, { cpuPercent: 2, pids: 3, cpuLimitCpus: null }), { set: { cpuPercent: 2 } });
  t.deepEqual(diffStats({ cpuPercent: 1, pids: 3 }, { pids: 3 }), { unset: ['cpuPercent'] });
  t.deepEqual(diffStats({ cpuLimitCpus: 0.5 }, { cpuLimitCpus: null }), { set: { cpuLimitCpus: null } }, 'null (unlimited) is a value, not unknown');
  t.deepEqual(diffStats({ pids: 3 }, { pids: 3 }), {});
});

test('projectStats keeps the asked keys and drops unknown values', (t) => {
  const stats = { timestampMs: 1, cpuPercent: Number.NaN, pids: 0, memoryLimitBytes: 5, cpuLimitCpus: null } as ContainerStats;
  t.deepEqual(projectStats(stats, ['cpuPercent', 'pids', 'cpuLimitCpus', 'networkRxBytes']), { pids: 0, cpuLimitCpus: null });
});

test('/proc/net addresses decode like inet_ntop', (t) => {
  t.is(decodeProcNetAddress('0100007F'), '127.0.0.1');
  t.is(decodeProcNetAddress('00000000'), '0.0.0.0');
  t.is(decodeProcNetAddress('00000000000000000000000000000000'), '::');
  t.is(decodeProcNetAddress('00000000000000000000000001000000'), '::1');
  t.is(decodeProcNetAddress('0000000000000000FFFF00000100007F'), '127.0.0.1');
  t.is(decodeProcNetAddress('B80D0120000000000000000001000000'), '2001:db8::1');
  t.throws(() => decodeProcNetAddress('123'));
});

test('parseProcNetSockets keeps listening TCP and bound UDP sockets', (t) => {
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1',
  ].join('\n');
  t.deepEqual(parseProcNetSockets(tcp, 'tcp'), [{ protocol: 'tcp', address: '127.0.0.1', port: 8080, inode: 4242 }]);
  const udp = [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  100: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0000000000000000 0',
  ].join('\n');
  t.deepEqual(parseProcNetSockets(udp, 'udp'), [{ protocol: 'udp', address: '0.0.0.0', port: 53, inode: 777 }]);
  t.deepEqual(parseProcNetSockets('', 'tcp6'), []);
});

test('parseSubscription refuses what a page would never send', (t) => {
  t.deepEqual(parseSubscription({ overview: 'all', host: true }), { overview: 'all', host: true, containers: [] });
  t.deepEqual(parseSubscription({ containers: ['a', 'a', 'b'] }), { host: false, containers: ['a', 'b'] });
  t.is(typeof parseSubscription({ overview: 'everything' }), 'string');
  t.is(typeof parseSubscription({ containers: 'a' }), 'string');
  t.is(typeof parseSubscription({ containers: Array.from({ length: 40 }, (_, i) => `c${i}`) }), 'string');
  t.is(typeof parseSubscription(null), 'string');
});

// ------------------------------------------------------------------ rooms over socket.io

class FakeCollector extends EventEmitter {
  snapshot: CollectorSnapshot | undefined;
  latest(): CollectorSnapshot | undefined {
    return this.snapshot;
  }
  history(): { timestampsMs: number[]; series: Record<string, Array<number | null>> } {
    return { timestampsMs: [1, 2], series: { cpuPercent: [1, 2], memoryWorkingSetBytes: [10, 20] } };
  }
  tick(sequence: number, containers: ContainerSnapshot[]): void {
    this.snapshot = {
      sequence,
      timestampMs: sequence * 1000,
      tickDurationSeconds: 0.001,
      layout: { mode: 'v2', controllersOn: 2, v1Mounts: {}, v2Controllers: [] },
      host: { systemCpuNanoseconds: sequence * 1e9, onlineCpus: 2, memoryTotalBytes: 1000, memoryAvailableBytes: 400 },
      containers,
    };
    this.emit('tick', this.snapshot);
  }
}

function container(path: string, id: string, isContainer: boolean, stats: Partial<ContainerStats>): ContainerSnapshot {
  return {
    info: { id, name: path, cgroupPath: path, image: '', source: 'raw', isContainer, labels: {} },
    sample: { cpu: {}, memory: {}, pids: {} },
    stats: { timestampMs: 0, ...stats },
  };
}

async function withLive(t: ExecutionContext, owners?: { list(): OwnedContainer[] }): Promise<{ url: string; collector: FakeCollector }> {
  const server = http.createServer((_request, response) => response.end());
  const collector = new FakeCollector();
  const tokens = new TokenStore([
    { name: 'viewer', role: 'viewer', token: VIEWER },
    { name: 'admin', role: 'operator', token: OPERATOR },
  ]);
  const sockets = attachSocketServer(server, { tokens, bus: new EventBus() });
  const live = attachLive(sockets.io, { collector: collector as unknown as Collector, intervalMs: 1000, ...(owners && { owners }) });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(async () => {
    live.close();
    sockets.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, collector };
}

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

async function connect(t: ExecutionContext, url: string, token: string): Promise<{ socket: Client; session: LiveSession }> {
  const socket: Client = connectSocket(url, { auth: { token }, transports: ['websocket'], reconnection: false });
  t.teardown(() => socket.close());
  const session = await new Promise<LiveSession>((resolve, reject) => {
    socket.once('session', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, session };
}

function subscribe(socket: Client, subscription: Parameters<ClientToServerEvents['subscribe']>[0]): Promise<SubscribeResult> {
  return new Promise((resolve) => socket.emit('subscribe', subscription, resolve));
}

const nextMessage = <T>(socket: Client, event: 'overview' | 'container'): Promise<T> =>
  new Promise((resolve) => socket.once(event, resolve as (value: unknown) => void));

test('a page gets only its rooms: baselines on subscribe, then deltas with only what changed', async (t) => {
  const { url, collector } = await withLive(t);
  const a = container('/a', 'a'.repeat(64), true, { cpuPercent: 10, pids: 2, memoryLimitBytes: 100 });
  const b = container('/b', 'b'.repeat(64), false, { cpuPercent: 20, pids: 1 });
  collector.tick(1, [a, b]);

  const table = await connect(t, url, VIEWER);
  const page = await connect(t, url, OPERATOR);
  t.deepEqual(table.session, { name: 'viewer', role: 'viewer', intervalMs: 1000 });
  t.is(page.session.role, 'operator');

  const overview = await subscribe(table.socket, { overview: 'containers', host: true });
  t.is(overview.overview?.sequence, 1);
  t.deepEqual(overview.overview?.rows.map((row) => row.info.id), [a.info.id], 'containers only: the plain cgroup is left out');
  t.deepEqual(overview.overview?.rows[0]?.stats, { cpuPercent: 10, pids: 2, memoryLimitBytes: 100 });
  t.deepEqual(overview.overview?.rows[0]?.spark, { cpuPercent: [1, 2], memoryWorkingSetBytes: [10, 20] });
  t.deepEqual(overview.host?.points, [{ timestampMs: 1000, memoryTotalBytes: 1000, memoryUsedBytes: 600 }]);
  t.deepEqual(overview.containers, []);

  const detail = await subscribe(page.socket, { containers: [b.info.cgroupPath, '/nope'] });
  t.is(detail.containers[0]?.id, b.info.id, 'a cgroup path resolves to the id');
  t.deepEqual(detail.unknown, ['/nope']);
  t.is(detail.overview, undefined);

  const seenByPage: string[] = [];
  page.socket.onAny((event: string) => seenByPage.push(event));
  const overviewDelta = nextMessage<OverviewDelta>(table.socket, 'overview');
  const containerDelta = nextMessage<ContainerDelta>(page.socket, 'container');
  const c = container('/c', 'c'.repeat(64), true, { pids: 1 });
  collector.tick(2, [{ ...a, stats: { timestampMs: 0, cpuPercent: 11, pids: 2 } }, { ...b, stats: { timestampMs: 0, cpuPercent: 20, pids: 3 } }, c]);

  const delta = await overviewDelta;
  t.is(delta.sequence, 2);
  t.is(delta.previousSequence, 1);
  t.deepEqual(delta.changed, [{ key: overview.overview!.rows[0]!.key, set: { cpuPercent: 11 }, unset: ['memoryLimitBytes'] }]);
  t.deepEqual(delta.added.map((row) => row.info.id), [c.info.id]);
  t.deepEqual(delta.removed, []);
  const forPage = await containerDelta;
  t.deepEqual(forPage, { id: b.info.id, sequence: 2, previousSequence: 1, timestampMs: 2000, set: { pids: 3 } });

  const gone = nextMessage<OverviewDelta>(table.socket, 'overview');
  const goneForPage = nextMessage<ContainerDelta>(page.socket, 'container');
  collector.tick(3, [c]);
  t.deepEqual((await gone).removed, [overview.overview!.rows[0]!.key]);
  t.true((await goneForPage).gone);
  // Let any stray broadcast arrive before looking.
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual([...new Set(seenByPage)], ['container'], 'the container page never receives table or host messages');
});

test('a new subscription replaces the old one and a room nobody is in costs nothing', async (t) => {
  const { url, collector } = await withLive(t);
  const a = container('/a', 'a'.repeat(64), true, { cpuPercent: 10 });
  collector.tick(1, [a]);
  const { socket } = await connect(t, url, VIEWER);
  await subscribe(socket, { overview: 'all' });
  const received: string[] = [];
  socket.onAny((event: string) => received.push(event));
  await subscribe(socket, {});
  collector.tick(2, [a]);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.deepEqual(received, []);
  const refused = await subscribe(socket, { overview: 'everything' } as never);
  t.regex(refused.error ?? '', /overview must be/);
});

test('a page that opens between ticks finds a container its owner created since the last one', async (t) => {
  const owned: OwnedContainer[] = [];
  const { url, collector } = await withLive(t, { list: () => [...owned] });
  collector.tick(1, []);
  const { socket } = await connect(t, url, OPERATOR);
  t.deepEqual((await subscribe(socket, { overview: 'containers' })).overview?.rows, []);
  // Created by Docker (or capstan's runtime) after tick 1: no cgroup in any snapshot yet.
  owned.push({ id: 'd'.repeat(64), name: 'web', owner: 'docker', image: 'busybox', status: 'created', labels: {} });
  const page = await subscribe(socket, { containers: ['web'] });
  t.deepEqual(page.unknown, []);
  t.like(page.containers[0], { id: 'd'.repeat(64), state: 'created', info: { name: 'web', source: 'docker' } });
});
