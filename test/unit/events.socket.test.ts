// socket.io on an HTTP server, in-process: token auth at the handshake, every bus event pushed to
// every client, close() disconnecting everyone; and the typed contract (type-only checks).
import test, { type ExecutionContext } from 'ava';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { io as connectSocket, type Socket } from 'socket.io-client';

import { TokenStore } from '../../server/api/auth';
import { attachSocketServer, SOCKET_UNAUTHORIZED, type AttachedSocketServer, type ServerToClientEvents } from '../../server/api/socket';
import { EventBus, type CapstanEvent } from '../../server/events';

const VIEWER = 'viewer-token-0123456789abcdef';

async function withSocketServer(t: ExecutionContext): Promise<{ url: string; bus: EventBus; sockets: AttachedSocketServer }> {
  const server = http.createServer((_request, response) => response.end('not socket.io'));
  const bus = new EventBus();
  const sockets = attachSocketServer(server, { tokens: new TokenStore([{ name: 'viewer', role: 'viewer', token: VIEWER }]), bus });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(async () => {
    sockets.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bus, sockets };
}

function connect(t: ExecutionContext, url: string, options: Parameters<typeof connectSocket>[1] = {}): Socket<ServerToClientEvents> {
  const socket: Socket<ServerToClientEvents> = connectSocket(url, { transports: ['websocket'], reconnection: false, ...options });
  t.teardown(() => socket.close());
  return socket;
}

function outcome(socket: Socket): Promise<'connected' | Error> {
  return new Promise((resolve) => {
    socket.once('connect', () => resolve('connected'));
    socket.once('connect_error', resolve);
  });
}

const oom: CapstanEvent = {
  type: 'container',
  action: 'oom',
  actor: { id: 'a'.repeat(64), name: 'web', cgroupPath: '/capstan/web', image: '' },
  timeMs: 1,
  attributes: { name: 'web' },
  memoryLimitBytes: 33554432,
};

test('a client with the token receives every bus event; the token may also come as a bearer header', async (t) => {
  const { url, bus } = await withSocketServer(t);
  const viaAuth = connect(t, url, { auth: { token: VIEWER } });
  const viaHeader = connect(t, url, { extraHeaders: { authorization: `Bearer ${VIEWER}` } });
  t.is(await outcome(viaAuth), 'connected');
  t.is(await outcome(viaHeader), 'connected');
  const received = Promise.all([viaAuth, viaHeader].map((socket) => new Promise<CapstanEvent>((resolve) => socket.once('event', resolve))));
  bus.publish(oom);
  t.deepEqual(await received, [oom, oom]);
});

test('without a token, or with a wrong one, the handshake is refused', async (t) => {
  const { url } = await withSocketServer(t);
  for (const options of [{}, { auth: { token: 'not-the-token-at-all' } }, { auth: { token: 42 } }]) {
    const result = await outcome(connect(t, url, options));
    t.true(result instanceof Error);
    t.is((result as Error).message, SOCKET_UNAUTHORIZED);
  }
});

test('close() disconnects the clients and stops relaying', async (t) => {
  const { url, bus, sockets } = await withSocketServer(t);
  const socket = connect(t, url, { auth: { token: VIEWER } });
  t.is(await outcome(socket), 'connected');
  const disconnected = new Promise((resolve) => socket.once('disconnect', resolve));
  sockets.close();
  await disconnected;
  t.false(socket.connected);
  t.notThrows(() => bus.publish(oom));
});

test('the contract is typed: emit only what ServerToClientEvents declares', (t) => {
  // Type-level checks: compiled by tsc with the rest of the suite, never run.
  const typeChecks = (sockets: AttachedSocketServer): void => {
    sockets.io.emit('event', oom);
    // @ts-expect-error: not an event of the contract
    sockets.io.emit('stats', {});
    // @ts-expect-error: `event` carries a CapstanEvent
    sockets.io.emit('event', { action: 'oom' });
  };
  t.is(typeof typeChecks, 'function');
});
