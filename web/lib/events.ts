/**
 * The page's events: the last day from the event log (GET /api/v1/events with since and until, so
 * the response ends), then every event pushed over socket.io. Counts the ones not yet seen on the
 * events page, for the badge; "seen" survives reloads of the tab (sessionStorage).
 */
import type { CapstanEvent } from '../../server/events/types';
import { apiStream } from './api';

const SEEN_KEY = 'capstan-events-seen-ms';
/** Events kept in the page. */
const MAX_EVENTS = 2000;
/** How far back the page loads on open. Units: seconds. */
const PAST_SECONDS = 24 * 3600;

type Listener = () => void;

export class EventStore {
  /** Newest first. */
  private items: CapstanEvent[] = [];
  private readonly listeners = new Set<Listener>();
  private seenMs: number;

  constructor() {
    const stored = Number(sessionStorage.getItem(SEEN_KEY));
    // A fresh tab counts only what happens from now on.
    this.seenMs = Number.isFinite(stored) && stored > 0 ? stored : Date.now();
    if (!(stored > 0)) sessionStorage.setItem(SEEN_KEY, String(this.seenMs));
  }

  /** Loads the past day; live events that arrive meanwhile are kept and not duplicated. */
  async loadPast(signal: AbortSignal): Promise<void> {
    const nowSeconds = Date.now() / 1000;
    const past: CapstanEvent[] = [];
    const query = `since=${Math.floor(nowSeconds - PAST_SECONDS)}&until=${(nowSeconds + 1).toFixed(3)}`;
    await apiStream<CapstanEvent>(`/api/v1/events?${query}`, (event) => past.push(event), signal);
    const key = (e: CapstanEvent): string => `${e.timeMs}|${e.action}|${e.actor.id}`;
    const known = new Set(this.items.map(key));
    const merged = [...this.items, ...past.filter((e) => !known.has(key(e)))];
    merged.sort((a, b) => b.timeMs - a.timeMs);
    this.items = merged.slice(0, MAX_EVENTS);
    this.changed();
  }

  add(event: CapstanEvent): void {
    this.items.unshift(event);
    if (this.items.length > MAX_EVENTS) this.items.length = MAX_EVENTS;
    this.changed();
  }

  /** Newest first. */
  list(): readonly CapstanEvent[] {
    return this.items;
  }

  unseen(): number {
    let count = 0;
    for (const event of this.items) {
      if (event.timeMs <= this.seenMs) break;
      count++;
    }
    return count;
  }

  markAllSeen(): void {
    const newest = this.items[0]?.timeMs ?? 0;
    this.seenMs = Math.max(Date.now(), newest);
    sessionStorage.setItem(SEEN_KEY, String(this.seenMs));
    this.changed();
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
