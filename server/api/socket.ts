/**
 * socket.io on the agent's HTTP server: the push channel of the dashboard. The contract is typed
 * once here (socket.io's generics), and the web bundle imports these same types.
 *
 * Authentication is the API's: the client passes its token in the handshake (`auth: {token}`, or
 * an `Authorization: Bearer` header for non-browser clients); without a valid one the connection
 * is refused with a connect_error whose message is "unauthorized". A header that is there but not
 * valid is refused earlier, at the HTTP request that opens the transport (engine.io's
 * allowRequest), before any engine.io session exists. A browser's token only arrives in the
 * socket.io CONNECT packet, so until then a session can do nothing but send that packet: it is
 * small (maxHttpBufferSize) and must come soon (connectTimeout), or the session is closed. No CORS headers are sent, and a
 * page from elsewhere has no token, so another origin cannot listen in.
 */
import type * as http from 'node:http';
import { Server, type Socket } from 'socket.io';
import type { EventBus } from '../events/bus';
import type { CapstanEvent } from '../events/types';
import { bearerToken, type TokenRecord, type TokenStore } from './auth';
import type { LiveClientToServerEvents, LiveServerToClientEvents } from './live';

/** Server → client messages; the dashboard's live stats (rooms, deltas) are declared in live.ts. */
export interface ServerToClientEvents extends LiveServerToClientEvents {
  /** Every event published on the bus (oom, lifecycle, update, memory-near-limit), as it happens. */
  event: (event: CapstanEvent) => void;
}

/** Client → server messages: the dashboard's `subscribe` (live.ts). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface ClientToServerEvents extends LiveClientToServerEvents {}

// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface InterServerEvents {}

/** Per-connection data, set at the handshake. */
export interface SocketData {
  /** Who connected: the token's name and role. */
  principal: TokenRecord;
}

export type CapstanSocketServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type CapstanSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** The message of the connect_error a client without a valid token receives. */
export const SOCKET_UNAUTHORIZED = 'unauthorized';

/** Largest message a client may send. Units: bytes. */
const MAX_MESSAGE_BYTES = 64 * 1024;
/** How long a new session has to send its token. Units: milliseconds. */
const CONNECT_TIMEOUT_MS = 10_000;

export interface SocketServerOptions {
  tokens: TokenStore;
  bus: EventBus;
}

export interface AttachedSocketServer {
  io: CapstanSocketServer;
  /** Disconnects every client and stops relaying events; the HTTP server itself is left to its owner. */
  close(): void;
}

export function attachSocketServer(httpServer: http.Server, options: SocketServerOptions): AttachedSocketServer {
  const io: CapstanSocketServer = new Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>(httpServer, {
    // The dashboard bundles socket.io-client itself.
    serveClient: false,
    // Clients only send small messages (the token, subscribe): nothing near socket.io's 1 MB default.
    maxHttpBufferSize: MAX_MESSAGE_BYTES,
    connectTimeout: CONNECT_TIMEOUT_MS,
    allowRequest: (request, callback) => {
      const header = request.headers.authorization;
      if (header !== undefined && !options.tokens.authenticate(bearerToken(header))) callback(SOCKET_UNAUTHORIZED, false);
      else callback(null, true);
    },
  });
  io.use((socket, next) => {
    const auth = socket.handshake.auth as { token?: unknown } | undefined;
    const token = typeof auth?.token === 'string' ? auth.token : bearerToken(socket.handshake.headers.authorization);
    const principal = options.tokens.authenticate(token);
    if (!principal) {
      const error = new Error(SOCKET_UNAUTHORIZED) as Error & { data?: unknown };
      error.data = { message: token ? 'the token is not valid' : 'pass the API token as auth.token' };
      next(error);
      return;
    }
    socket.data.principal = principal;
    next();
  });
  const unsubscribe = options.bus.subscribe((event) => {
    io.emit('event', event);
  });
  let closed = false;
  return {
    io,
    close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      io.disconnectSockets(true);
      io.engine.close();
    },
  };
}
