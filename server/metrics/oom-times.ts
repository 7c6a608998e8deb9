/**
 * The OOM counter by container name, plus when each name's last kill happened, for
 * `container_last_oom_timestamp_seconds`. A count alone cannot tell Prometheus that a kill is
 * recent when the container died before its first scrape: its series starts at 1 and increase()
 * never sees the 0 before it. The time of the kill can (the shipped ContainerOOMKilled alert).
 *
 * Fed like the counter: live events from the bus and, at start, the event log's replay, so the
 * time survives agent restarts as far back as the log reaches.
 */
import type { CapstanEvent } from '../events/types';
import { OomCounter } from '../oom/counter';

export class OomCounterWithTimes extends OomCounter {
  private readonly lastKill = new Map<string, number>();

  override record(event: CapstanEvent): void {
    super.record(event);
    if (event.action !== 'oom') return;
    const name = event.actor.name;
    // The replay and a live event may come in any order: keep the latest.
    this.lastKill.set(name, Math.max(this.lastKill.get(name) ?? -Infinity, event.timeMs));
  }

  /** When each name's last kill was reported by the kernel. Units: milliseconds since the Unix epoch. */
  lastKillByName(): ReadonlyMap<string, number> {
    return this.lastKill;
  }
}
