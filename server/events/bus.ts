/**
 * The event bus: producers (OOM watcher, runtime, limit writer, collector) publish; consumers
 * (event log, socket.io, metrics, `capstan events`) subscribe. Delivery is synchronous and a
 * throwing subscriber never stops the others or the producer.
 */
import type { CapstanEvent } from './types';

export type EventListener = (event: CapstanEvent) => void;

export class EventBus {
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly onListenerError: (error: unknown) => void = (error) => console.error('capstan: event listener failed:', error)) {}

  publish(event: CapstanEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  /** Returns the function that unsubscribes. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
