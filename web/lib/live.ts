/**
 * The page's one socket.io connection: authenticated with the stored token, reconnecting by itself
 * when the agent goes away, and carrying the current view's subscription. The view gets a baseline
 * on every (re)subscription and deltas after it; a delta that does not follow the last sequence
 * the view has makes it ask again (resync), so a missed message never leaves the page wrong.
 */
import { io, type Socket } from 'socket.io-client';
import type {
  ContainerDelta,
  HostPoint,
  LiveSession,
  LiveSubscription,
  OverviewDelta,
  SubscribeResult,
} from '../../server/api/live';
import type { ClientToServerEvents, ServerToClientEvents } from '../../server/api/socket';
import type { CapstanEvent } from '../../server/events/types';
import { getToken } from './auth';

export type ConnectionState = 'connecting' | 'online' | 'offline' | 'unauthorized';

export interface LiveHandlers {
  baseline(result: SubscribeResult): void;
  overview?(delta: OverviewDelta): void;
  host?(point: HostPoint): void;
  container?(delta: ContainerDelta): void;
}

type Listener<T> = (value: T) => void;

export class LiveClient {
  private readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  private subscription: LiveSubscription = {};
  private handlers: LiveHandlers | undefined;
  /** Bumped per subscription, so a late ack of an older one is ignored. */
  private generation = 0;
  private stateValue: ConnectionState = 'connecting';
  private sessionValue: LiveSession | undefined;
  private readonly stateListeners = new Set<Listener<ConnectionState>>();
  private readonly sessionListeners = new Set<Listener<LiveSession>>();
  private readonly eventListeners = new Set<Listener<CapstanEvent>>();
  /** Why the last connection attempt failed. */
  lastError = '';

  constructor() {
    this.socket = io({
      // A function, so a reconnect uses the token stored now (after a new sign-in, say).
      auth: (callback) => callback({ token: getToken() ?? '' }),
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
    });
    this.socket.on('connect', () => {
      this.setState('online');
      this.send();
    });
    this.socket.on('disconnect', (reason) => {
      this.lastError = reason;
      // "io server disconnect": the agent closed us (shutting down); socket.io waits for us to retry.
      if (reason === 'io server disconnect') window.setTimeout(() => this.socket.connect(), 1000);
      this.setState('offline');
    });
    this.socket.on('connect_error', (error) => {
      this.lastError = error.message;
      if (error.message === 'unauthorized') {
        this.setState('unauthorized');
        return;
      }
      this.setState('offline');
    });
    this.socket.on('session', (session) => {
      this.sessionValue = session;
      for (const listener of this.sessionListeners) listener(session);
    });
    this.socket.on('event', (event) => {
      for (const listener of this.eventListeners) listener(event);
    });
    this.socket.on('overview', (delta) => this.handlers?.overview?.(delta));
    this.socket.on('host', (point) => this.handlers?.host?.(point));
    this.socket.on('container', (delta) => this.handlers?.container?.(delta));
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get session(): LiveSession | undefined {
    return this.sessionValue;
  }

  onState(listener: Listener<ConnectionState>): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  onSession(listener: Listener<LiveSession>): () => void {
    this.sessionListeners.add(listener);
    return () => this.sessionListeners.delete(listener);
  }

  onEvent(listener: Listener<CapstanEvent>): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Makes `subscription` the page's; `handlers` get its baseline now (if online) and on every reconnect. */
  watch(subscription: LiveSubscription, handlers: LiveHandlers): () => void {
    this.subscription = subscription;
    this.handlers = handlers;
    this.send();
    return () => {
      if (this.handlers !== handlers) return;
      this.handlers = undefined;
      this.subscription = {};
      this.send();
    };
  }

  /** Asks for fresh baselines (after a gap in the deltas). */
  resync(): void {
    this.send();
  }

  /** Tries again now (after a new token was stored, or from a "retry" button). */
  reconnect(): void {
    this.socket.disconnect();
    this.setState('connecting');
    this.socket.connect();
  }

  close(): void {
    this.socket.close();
  }

  private send(): void {
    if (!this.socket.connected) return;
    const generation = ++this.generation;
    const handlers = this.handlers;
    this.socket.emit('subscribe', this.subscription, (result) => {
      if (generation !== this.generation || !handlers || handlers !== this.handlers) return;
      handlers.baseline(result);
    });
  }

  private setState(state: ConnectionState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    for (const listener of this.stateListeners) listener(state);
  }
}
