/**
 * OOM kills counted by container NAME, for `container_oom_events_total`. cAdvisor keys its count
 * by cgroup path, so a container re-created after an OOM (a new cgroup) starts again from zero and
 * the kill vanishes from the metric (google/cadvisor#3015); a name survives re-creation.
 *
 * The count lives as long as the event log: on start it is rebuilt by replaying the log, so an
 * agent restart keeps it (as far back as the log reaches, 7 days by default).
 */
import type { EventBus } from '../events/bus';
import type { EventLog } from '../events/log';
import type { CapstanEvent } from '../events/types';

export class OomCounter {
  private readonly counts = new Map<string, number>();

  /** Counts `event` if it is an OOM kill. */
  record(event: CapstanEvent): void {
    if (event.action !== 'oom') return;
    const name = event.actor.name;
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  /** Kills per container name. Units: count. */
  byName(): ReadonlyMap<string, number> {
    return this.counts;
  }

  /**
   * Counts every oom event from now on, plus those already in the log. Subscribes first and
   * replays the log only up to the position at that moment, so no event is counted twice or
   * missed. Resolves when the replay is done; returns the unsubscribe function.
   */
  async attach(bus: EventBus, log: EventLog | undefined): Promise<() => void> {
    const unsubscribe = bus.subscribe((event) => this.record(event));
    if (log) {
      const upTo = log.position();
      for await (const event of log.read({ upTo, filter: (e) => e.action === 'oom' })) this.record(event);
    }
    return unsubscribe;
  }
}
