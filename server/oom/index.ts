/**
 * OOM kills, surfaced at once: the monitor (native watcher → counters → `oom` events), the
 * per-name counter behind container_oom_events_total, and near-limit hysteresis.
 *
 * For the runtime (`State.OOMKilled` in `capstan inspect`): subscribe with onOomKill() for each
 * container it runs, and mark it OOM-killed when an event arrives while its main process lives
 * (docker sets OOMKilled on the containerd TaskOOM event the same way; exit code 137 alone is
 * ambiguous, any SIGKILL gives it). Call monitor.watch(info, {killsReported}) once the container's
 * cgroup exists and before its first process runs (0 for a fresh cgroup, the count reported so far
 * for a re-adopted one), so a kill in its first millisecond is caught, and monitor.settle(path,
 * exitTime) when it exits, before the cgroup is removed, so a kill not read yet is not lost with it.
 */
import type { EventBus } from '../events/bus';
import type { CapstanEvent } from '../events/types';
import type { CgroupPath } from '../model';

export { OomMonitor, wantsOomWatch, containerAttributes, DEFAULT_V1_FOLLOW_UP_DELAYS_MS } from './monitor';
export type { OomMonitorOptions, CollectorFeed, WatchOptions } from './monitor';
export { OomCounter } from './counter';
export { NearLimitTracker, DEFAULT_NEAR_LIMIT_ENTER_PERCENT, DEFAULT_NEAR_LIMIT_EXIT_PERCENT } from './nearLimit';
export type { NearLimitTransition } from './nearLimit';
export { attributeKills } from './attribution';
export type { CounterReading } from './attribution';

/**
 * Calls `listener` for every `oom` event of the container in `cgroupPath` (or of every container
 * when it is undefined). Returns the unsubscribe function.
 */
export function onOomKill(bus: EventBus, cgroupPath: CgroupPath | undefined, listener: (event: CapstanEvent) => void): () => void {
  return bus.subscribe((event) => {
    if (event.action === 'oom' && (cgroupPath === undefined || event.actor.cgroupPath === cgroupPath)) listener(event);
  });
}
