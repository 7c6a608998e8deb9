/**
 * Exited containers keep their series until they are removed, as kube-state-metrics keeps
 * terminated containers: a Prometheus that scrapes every 15 s must still see a container that was
 * OOM-killed and exited between two scrapes (DESIGN: "Dead containers keep their series").
 *
 * Fed once per collector tick (observe), from what is already in memory: the tick's snapshot and
 * the owners' listings (capstan's runtime state, the engines' caches). Nothing here reads a file
 * or asks an engine, so a scrape stays as cheap as before.
 *
 * - A container of an owner (capstan, Docker, Podman) whose cgroup is gone keeps its last sample;
 *   one that never lived through a tick (dead within its first second) gets an empty one, so
 *   its identity, state and OOM series exist all the same.
 * - A container's counters never go backwards: when it gets a new cgroup (a restart, by hand or by
 *   restart policy), the old cgroup's last counter values are carried and added to the new one's.
 * - A container its owner no longer lists (removed) loses its series at the next tick.
 * - At most `maxExited` exited containers are kept; the ones that exited first are dropped first.
 */
import { infoOfOwned } from '../containers/info';
import type { OwnedContainer, OwnedStatus } from '../containers/types';
import type { CollectorSnapshot, ContainerInfo, ContainerSnapshot, SourceKind } from '../model';

/** Default of --max-exited-containers. Units: containers. */
export const DEFAULT_MAX_EXITED_CONTAINERS = 500;

/** What the retention needs of one owned container: its owner's listing entry. */
export type OwnedContainerFacts = OwnedContainer;

/** Counter values of one container by series key (family name and label values), see seriesKey. */
export type CounterTotals = ReadonlyMap<string, number>;

export interface RetentionOptions {
  /** Units: containers. */
  maxExited: number;
  /** Every owner's containers, running or not. In memory; called once per tick. */
  owned(): readonly OwnedContainerFacts[];
  /** The counter values a snapshot would render, `carried` included (containers.ts counterTotals). */
  counterTotals(container: ContainerSnapshot, carried: CounterTotals | undefined): CounterTotals;
  /** owned() failed: the previous listing is used for this tick. */
  onError?(error: unknown): void;
}

/** What the exporter renders for one tick. */
export interface RetainedView {
  /** Live and exited containers, ordered by cgroup path (then id). */
  containers: ContainerSnapshot[];
  /** Counter values carried from a container's earlier cgroups, by container id. */
  carried: ReadonlyMap<string, CounterTotals>;
  /** The owners' facts, by container id. */
  owned: ReadonlyMap<string, OwnedContainerFacts>;
}

interface Kept {
  /** The last sample of its current (or last) cgroup; an empty one when it never lived through a tick. */
  last: ContainerSnapshot;
  /** Its cgroup was in the latest tick. */
  live: boolean;
  /** When it was first seen without a cgroup. Units: milliseconds since the Unix epoch. */
  exitedAtMs: number;
  carried?: CounterTotals;
}

const OWNER_SOURCES: ReadonlySet<SourceKind> = new Set(['capstan', 'docker', 'podman']);
/** Statuses in which a container has no cgroup of its own yet or any more but its series stay. */
const KEPT_WITHOUT_CGROUP: ReadonlySet<OwnedStatus> = new Set(['exited', 'dead', 'restarting']);

export class ContainerRetention {
  private readonly kept = new Map<string, Kept>();
  private observedSequence: number | undefined;
  private view: RetainedView = { containers: [], carried: new Map(), owned: new Map() };
  private lastOwned = new Map<string, OwnedContainerFacts>();
  /** Exited containers dropped by the bound: not taken in again until they run again or are removed. */
  private readonly dropped = new Set<string>();

  constructor(private readonly options: RetentionOptions) {
    if (!Number.isInteger(options.maxExited) || options.maxExited < 0) {
      throw new RangeError(`maxExited must be a whole number of containers, got ${options.maxExited}`);
    }
  }

  /** Takes in one tick; a second call for the same sequence does nothing. */
  observe(snapshot: CollectorSnapshot): RetainedView {
    if (snapshot.sequence === this.observedSequence) return this.view;
    this.observedSequence = snapshot.sequence;
    const owned = this.ownedNow();

    const liveIds = new Set<string>();
    for (const container of snapshot.containers) {
      if (!isOwnedContainer(container.info)) continue;
      liveIds.add(container.info.id);
      this.dropped.delete(container.info.id);
      const entry = this.kept.get(container.info.id);
      if (entry === undefined) {
        this.kept.set(container.info.id, { last: container, live: true, exitedAtMs: 0 });
        continue;
      }
      if (isNewCgroup(entry, container)) entry.carried = this.options.counterTotals(entry.last, entry.carried);
      entry.last = container;
      entry.live = true;
    }

    for (const [id, entry] of this.kept) {
      if (liveIds.has(id)) continue;
      if (!owned.has(id)) {
        this.kept.delete(id); // removed (or never an owner's): its series go
        continue;
      }
      if (entry.live) {
        entry.live = false;
        entry.exitedAtMs = snapshot.timestampMs;
      }
    }
    for (const id of this.dropped) if (!owned.has(id)) this.dropped.delete(id);
    // Dead before any tick saw its cgroup: kept all the same, with what its owner knows.
    for (const container of owned.values()) {
      if (this.kept.has(container.id) || this.dropped.has(container.id) || !KEPT_WITHOUT_CGROUP.has(container.status)) continue;
      this.kept.set(container.id, { last: emptySnapshot(container, snapshot.timestampMs), live: false, exitedAtMs: snapshot.timestampMs });
    }
    this.dropOldest();

    const containers: ContainerSnapshot[] = [];
    const carried = new Map<string, CounterTotals>();
    for (const container of snapshot.containers) {
      if (!isOwnedContainer(container.info)) containers.push(container);
    }
    for (const [id, entry] of this.kept) {
      containers.push(entry.last);
      if (entry.carried !== undefined) carried.set(id, entry.carried);
    }
    containers.sort(byPathThenId);
    this.view = { containers, carried, owned };
    return this.view;
  }

  /** The owners' listing; when it fails, the last one (dropping every exited container for one error would lose them). */
  private ownedNow(): Map<string, OwnedContainerFacts> {
    try {
      const owned = new Map<string, OwnedContainerFacts>();
      for (const container of this.options.owned()) owned.set(container.id, container);
      this.lastOwned = owned;
      return owned;
    } catch (error) {
      this.options.onError?.(error);
      return this.lastOwned;
    }
  }

  /** How many exited containers are kept now. Units: containers. */
  get exitedCount(): number {
    let count = 0;
    for (const entry of this.kept.values()) if (!entry.live) count++;
    return count;
  }

  private dropOldest(): void {
    const exited = [...this.kept].filter(([, entry]) => !entry.live);
    const excess = exited.length - this.options.maxExited;
    if (excess <= 0) return;
    exited.sort(([, a], [, b]) => a.exitedAtMs - b.exitedAtMs);
    for (const [id] of exited.slice(0, excess)) {
      this.kept.delete(id);
      this.dropped.add(id);
    }
  }
}

function isOwnedContainer(info: ContainerInfo): boolean {
  return info.isContainer && OWNER_SOURCES.has(info.source);
}

/**
 * The container's cgroup is another one than the kept sample's: it had none in between (a
 * restart that spanned a tick), its path changed, or it was re-created between two ticks, which
 * shows as CPU time going down (a cgroup's CPU time only grows).
 */
function isNewCgroup(entry: Kept, current: ContainerSnapshot): boolean {
  if (!entry.live) return true;
  if (entry.last.info.cgroupPath !== current.info.cgroupPath) return true;
  const before = entry.last.sample.cpu.usageNanoseconds;
  const now = current.sample.cpu.usageNanoseconds;
  return before !== undefined && now !== undefined && now < before;
}

function emptySnapshot(container: OwnedContainerFacts, timestampMs: number): ContainerSnapshot {
  return { info: infoOfOwned(container), sample: { cpu: {}, memory: {}, pids: {} }, stats: { timestampMs } };
}

function byPathThenId(a: ContainerSnapshot, b: ContainerSnapshot): number {
  if (a.info.cgroupPath !== b.info.cgroupPath) return a.info.cgroupPath < b.info.cgroupPath ? -1 : 1;
  return a.info.id < b.info.id ? -1 : a.info.id > b.info.id ? 1 : 0;
}
