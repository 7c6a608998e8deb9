/**
 * Published ports without bridges or iptables: the agent listens on the host address and, for
 * each connection, opens a socket inside the container's network namespace to its loopback
 * (native connectInNetns: setns on a throw-away thread) and pipes bytes both ways. The bytes that
 * pass are the container's network I/O (see PortCounters).
 */
import * as net from 'node:net';
import { RuntimeError } from './errors';
import type { PortBinding } from './types';

/**
 * Bytes through a container's published ports, seen from the container (like its own
 * /proc/net/dev): rx = from clients into the container, tx = from the container to clients.
 * Cumulative for the container's life in this agent. Units: bytes.
 */
export interface PortCounters {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

export function newPortCounters(): PortCounters {
  return { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
}

export type ConnectInNamespace = (pid: number, port: number) => Promise<number>;

export interface PublishedPorts {
  /** What is bound, host ports resolved. */
  bound: PortBinding[];
  /** Stops listening and cuts every open connection. */
  close(): Promise<void>;
}

export interface PublishOptions {
  bindings: readonly PortBinding[];
  /** The PID whose network namespace receives connections; undefined refuses them (container stopping). */
  targetPid: () => number | undefined;
  counters: PortCounters;
  connect: ConnectInNamespace;
  /** Called for a connection that could not be forwarded (logged by the caller, once per cause). */
  onConnectError?: (binding: PortBinding, error: Error) => void;
}

/**
 * Binds every binding or none: on the first failure the ones already bound are closed and a
 * RuntimeError says which address is taken.
 */
export async function publishPorts(options: PublishOptions): Promise<PublishedPorts> {
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  const bound: PortBinding[] = [];
  const closeAll = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    servers.length = 0;
  };
  try {
    for (const binding of options.bindings) {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => forward(client, binding, options, sockets));
      await listen(server, binding);
      servers.push(server);
      const address = server.address() as net.AddressInfo;
      bound.push({ ...binding, hostPort: address.port });
    }
  } catch (error) {
    await closeAll();
    throw error;
  }
  return { bound, close: closeAll };
}

function listen(server: net.Server, binding: PortBinding): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const address = binding.hostIp.includes(':') ? `[${binding.hostIp}]:${binding.hostPort}` : `${binding.hostIp}:${binding.hostPort}`;
      if (error.code === 'EADDRINUSE') {
        reject(new RuntimeError(409, 'port_in_use', `Bind for ${address} failed: port is already allocated`, { errno: error.code }));
      } else if (error.code === 'EADDRNOTAVAIL') {
        reject(new RuntimeError(400, 'address_not_available', `Bind for ${address} failed: ${binding.hostIp} is not an address of this host`, { errno: error.code }));
      } else {
        reject(new RuntimeError(500, 'bind_failed', `Bind for ${address} failed: ${error.message}`, { errno: error.code ?? 'EIO' }));
      }
    };
    server.once('error', onError);
    // exclusive: each container gets its own listening socket, never a cluster-shared one.
    server.listen({ host: binding.hostIp, port: binding.hostPort, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function forward(client: net.Socket, binding: PortBinding, options: PublishOptions, sockets: Set<net.Socket>): void {
  sockets.add(client);
  client.once('close', () => sockets.delete(client));
  client.on('error', () => client.destroy());
  const pid = options.targetPid();
  if (pid === undefined) {
    client.destroy();
    return;
  }
  options.connect(pid, binding.containerPort).then(
    (fd) => {
      if (client.destroyed) {
        new net.Socket({ fd }).destroy();
        return;
      }
      const upstream = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
      sockets.add(upstream);
      upstream.once('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      client.once('close', () => upstream.destroy());
      upstream.on('error', () => upstream.destroy());
      client.on('data', (chunk: Buffer) => {
        options.counters.rxBytes += chunk.length;
        options.counters.rxPackets++;
      });
      upstream.on('data', (chunk: Buffer) => {
        options.counters.txBytes += chunk.length;
        options.counters.txPackets++;
      });
      // pipe() passes a half-close on (end of one direction), which HTTP/1.0 clients rely on.
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    },
    (error: Error) => {
      options.onConnectError?.(binding, error);
      client.destroy();
    },
  );
}
