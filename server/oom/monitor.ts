/**
 * Turns the kernel's OOM kills into `oom` events, and memory pressure into `memory-near-limit`
 * events, on the event bus.
 *
 * Which cgroups: every tracked cgroup with a memory limit of its own, and every capstan or Docker
 * container (which may be limited by a parent). The collector says what exists: a subscription
 * starts when a tick shows such a cgroup and ends when the collector drops it. The runtime can
 * also call watch() at container creation, before the first tick sees the cgroup.
 *
 * How a kill is found: the native watcher (one thread for all watches) reports "watch N fired";
 * this module then reads the kernel's own kill counter and publishes one event per kill counted
 * since the last reading. A notification is never a kill by itself:
 * - v1: the eventfd fires on the OOM *condition*, which comes just before the kill is counted
 *   (and may come with no kill at all), so the counter is read again a few times shortly after;
 * - v2: memory.events changes for other counters too (max, high), and hierarchically, so a kill
 *   in a child is attributed to the deepest watched cgroup (attribution.ts).
 * As a safety net, each collector tick's own reading of the counter catches anything missed.
 * Readings are serialised (one at a time), so two notifications never count the same kill.
 *
 * A container that the runtime starts is watched before its first process runs (watch() with
 * the count its fresh cgroup starts from, 0), and settled when it exits, before its cgroup is
 * removed (settle(): one last reading, then the watch ends). Without those two, a container killed
 * in its first milliseconds was lost twice over: its first reading took the kill as the baseline,
 * or its cgroup was gone before a reading came (an OOM storm queues many).
 *
 * An event carries the time of the notification that led to it (taken on the watcher thread as
 * it woke), not the time the JS thread got round to reading: under a storm those differ.
 */
import * as fs from 'node:fs';
import type { EventBus } from '../events/bus';
import type { CapstanEvent, EventAction } from '../events/types';
import type { CgroupLayout, CgroupPath, CollectorSnapshot, ContainerInfo, ContainerSnapshot } from '../model';
import { cgroupDirectory } from '../cgroup/hierarchy';
import { parseMemoryEvents, parseMemoryLimitInBytes, parseMemoryMax, parseMemoryCurrent, parseMemoryMaxUsageInBytes, parseMemoryPeak, parseMemoryUsageInBytes, parseOomControl } from '../cgroup/parse';
import { createOomWatcher, errnoCode, readFiles, readFilesSync, type NativeOomWatcher, type TextOrErrno } from '../native';
import { attributeKills } from './attribution';
import { NearLimitTracker } from './nearLimit';

const ENOENT = 2;
const ENODEV = 19;
/** statfs f_type of cgroup v1 and v2 mounts (linux/magic.h). */
const CGROUP_SUPER_MAGIC = 0x27e0eb;
const CGROUP2_SUPER_MAGIC = 0x63677270;
/**
 * v1: re-reads after a notification, since the kill is counted only after the OOM condition fires
 * (the kernel first picks a victim and prints its report, which takes from under a millisecond to
 * tens of them). Dense at first, where kills land; a reading is a few small files.
 * Units: ms after the notification.
 */
export const DEFAULT_V1_FOLLOW_UP_DELAYS_MS: readonly number[] = [1, 2, 4, 7, 10, 15, 20, 30, 45, 60, 100, 150, 250, 400, 700, 1000];
/**
 * How long after an engine's `oom` report the counters have to show the kill, before the engine's
 * word is published instead: longer than the v1 follow-up readings. Units: milliseconds.
 */
export const ENGINE_OOM_CONFIRM_MS = 1_200;
/** A kill published for the container this close to the engine's report is the same kill. Units: milliseconds. */
const ENGINE_OOM_WINDOW_MS = 5_000;
/** At most this many events for one reading (an OOM storm must not flood the log). Units: events. */
const MAX_EVENTS_PER_READING = 1000;
/**
 * A notification this recent still dates the kills a reading finds (v1's follow-up readings come
 * up to a second after the OOM condition); an older one is not about them. Units: milliseconds.
 */
const NOTIFICATION_DATES_KILLS_MS = 2_000;

/** The files read per cgroup at a notification, in this order. */
const V1_FILES = ['memory.oom_control', 'memory.max_usage_in_bytes', 'memory.usage_in_bytes', 'memory.limit_in_bytes'] as const;
const V2_FILES = ['memory.events', 'memory.peak', 'memory.current', 'memory.max'] as const;

export interface OomMonitorOptions {
  layout: CgroupLayout;
  bus: EventBus;
  /** The native watcher (injectable for tests). `timeMs`: when it woke. Units: milliseconds since the Unix epoch. */
  createWatcher?: (onNotify: (watchId: number, timeMs: number) => void) => NativeOomWatcher;
  /** Batch file reader returning text or errno per path (injectable for tests). */
  readFiles?: (paths: readonly string[]) => Promise<TextOrErrno[]>;
  /** The same on the calling thread, for settle() (injectable for tests). */
  readFilesSync?: (paths: readonly string[]) => TextOrErrno[];
  /** Units: milliseconds since the Unix epoch. */
  now?: () => number;
  /** Units: percent of the limit. */
  nearLimitEnterPercent?: number;
  /** Units: percent of the limit. */
  nearLimitExitPercent?: number;
  /** v1 re-read schedule. Units: milliseconds after a notification. */
  followUpDelaysMs?: readonly number[];
  /**
   * Whether the hierarchy is a real cgroup filesystem. Default: statfs of the mount. On a fixture
   * tree (--cgroup-root) watching is off: writing "<fd> <fd>" into a plain cgroup.event_control
   * file would only corrupt the fixture.
   */
  isCgroupFilesystem?: (mountDirectory: string) => boolean;
  onWarning?: (message: string) => void;
}

/** What the collector offers the monitor (the Collector class fits). */
export interface CollectorFeed {
  on(event: 'tick', listener: (snapshot: CollectorSnapshot) => void): unknown;
  on(event: 'removed', listener: (info: ContainerInfo) => void): unknown;
  off(event: 'tick', listener: (snapshot: CollectorSnapshot) => void): unknown;
  off(event: 'removed', listener: (info: ContainerInfo) => void): unknown;
  latest(): CollectorSnapshot | undefined;
}

interface Subscription {
  info: ContainerInfo;
  version: 1 | 2;
  /** v1: the cgroup's memory-hierarchy directory; v2: its unified directory. */
  directory: string;
  watchId: number;
  /** Kills already accounted for; undefined until the first reading. Units: count. */
  baseline: number | undefined;
  /** The collector's count when the subscription started, used as the first baseline. Units: count. */
  baselineHint: number | undefined;
  /** Started by watch() (the runtime): kept until the collector reports the cgroup removed. */
  pinned: boolean;
  seenByCollector: boolean;
  checkQueued: boolean;
  followUps: NodeJS.Timeout[];
  /**
   * The first notification not yet used to date a kill (a later one within the window is the same
   * episode: v1's eventfd fires again while the OOM condition lasts). Units: milliseconds since the Unix epoch.
   */
  notifiedAtMs: number | undefined;
}

/** What the runtime asks of the monitor for each run of a container (the runtime's ContainerOomWatch). */
export interface WatchOptions {
  /**
   * Kills already reported for this cgroup: 0 for a cgroup just created, the count reported so far
   * for one re-adopted. Without it, kills counted before the first reading are taken as old.
   * Units: kills (count).
   */
  killsReported?: number | undefined;
}

/** Details read with the counter, for the event. */
interface Reading {
  count: number | undefined;
  /** Units: bytes. */
  limitBytes: number | undefined;
  /** Peak usage if the kernel keeps one, else the current usage. Units: bytes. */
  usageBytes: number | undefined;
  vanished: boolean;
}

/** Whether the monitor watches this container for OOM kills. */
export function wantsOomWatch(container: ContainerSnapshot): boolean {
  return container.stats.memoryLimitIsSet === true || (container.info.isContainer && ['capstan', 'docker', 'podman', 'kubernetes'].includes(container.info.source));
}

/** docker's event attributes for a container: its labels, then image and name. */
export function containerAttributes(info: ContainerInfo): Record<string, string> {
  const attributes: Record<string, string> = { ...info.labels };
  if (info.image !== '') attributes['image'] = info.image;
  attributes['name'] = info.name;
  return attributes;
}

export class OomMonitor {
  private readonly layout: CgroupLayout;
  private readonly bus: EventBus;
  private readonly createWatcher: (onNotify: (watchId: number, timeMs: number) => void) => NativeOomWatcher;
  private readonly read: (paths: readonly string[]) => Promise<TextOrErrno[]>;
  private readonly readSync: (paths: readonly string[]) => TextOrErrno[];
  private readonly now: () => number;
  private readonly followUpDelaysMs: readonly number[];
  private readonly warn: (message: string) => void;
  private readonly nearLimit: NearLimitTracker<CgroupPath>;
  private readonly isCgroupFilesystem: (mountDirectory: string) => boolean;
  /** Decided at the first subscription. */
  private watchingPossible: boolean | undefined;
  private watcher: NativeOomWatcher | undefined;
  private readonly byPath = new Map<CgroupPath, Subscription>();
  private readonly byWatchId = new Map<number, Subscription>();
  private readonly warned = new Set<string>();
  /** Cgroups the kernel refused to watch (not ENOENT): not retried every tick, only once re-created. */
  private readonly unwatchable = new Set<CgroupPath>();
  /**
   * Cgroups settled at their container's exit and about to be removed: the collector's next tick
   * may still show one, and a new watch from that tick's (older) count would report its kills again.
   */
  private readonly settled = new Set<CgroupPath>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  /** When an oom was last published for each container id and cgroup path. Units: milliseconds since the Unix epoch. */
  private readonly lastOomMs = new Map<string, number>();

  constructor(options: OomMonitorOptions) {
    this.layout = options.layout;
    this.bus = options.bus;
    this.createWatcher = options.createWatcher ?? createOomWatcher;
    this.read = options.readFiles ?? ((paths) => readFiles(paths));
    this.readSync = options.readFilesSync ?? ((paths) => readFilesSync(paths));
    this.now = options.now ?? Date.now;
    this.followUpDelaysMs = options.followUpDelaysMs ?? DEFAULT_V1_FOLLOW_UP_DELAYS_MS;
    this.warn = options.onWarning ?? ((message) => console.error(`capstan: warning: ${message}`));
    this.nearLimit = new NearLimitTracker<CgroupPath>(options.nearLimitEnterPercent, options.nearLimitExitPercent);
    this.isCgroupFilesystem = options.isCgroupFilesystem ?? isCgroupMount;
  }

  /** Follows the collector: its latest snapshot now, then every tick and removal. Returns the detach function. */
  attach(collector: CollectorFeed): () => void {
    const onTick = (snapshot: CollectorSnapshot): void => this.handleTick(snapshot);
    const onRemoved = (info: ContainerInfo): void => this.handleRemoved(info);
    collector.on('tick', onTick);
    collector.on('removed', onRemoved);
    const latest = collector.latest();
    if (latest) this.handleTick(latest);
    return () => {
      collector.off('tick', onTick);
      collector.off('removed', onRemoved);
    };
  }

  /** One collector tick: start and stop subscriptions, check counters, track near-limit. */
  handleTick(snapshot: CollectorSnapshot): void {
    if (this.closed) return;
    const present = new Set<CgroupPath>();
    for (const container of snapshot.containers) {
      const path = container.info.cgroupPath;
      present.add(path);
      let subscription = this.byPath.get(path);
      if (wantsOomWatch(container)) {
        if (!subscription && !this.unwatchable.has(path) && !this.settled.has(path)) subscription = this.subscribe(container.info, container.sample.memory.oomKills, false);
      } else if (subscription && !subscription.pinned) {
        this.unsubscribe(subscription);
        subscription = undefined;
      }
      if (subscription) {
        subscription.info = container.info;
        subscription.seenByCollector = true;
        // Safety net: the collector read the counter too; if it moved past what we accounted for,
        // a notification was missed (or is still on its way): read now.
        const kills = container.sample.memory.oomKills;
        if (kills !== undefined && subscription.baseline !== undefined && kills > subscription.baseline) this.requestCheck(subscription);
      }
      this.trackNearLimit(container);
    }
    for (const subscription of [...this.byPath.values()]) {
      const path = subscription.info.cgroupPath;
      if (!present.has(path) && (subscription.seenByCollector || !subscription.pinned)) this.unsubscribe(subscription);
    }
    for (const path of this.unwatchable) if (!present.has(path)) this.unwatchable.delete(path);
    for (const path of this.settled) if (!present.has(path)) this.settled.delete(path);
  }

  /** The collector dropped a cgroup: its subscription and near-limit state go too. */
  handleRemoved(info: ContainerInfo): void {
    const subscription = this.byPath.get(info.cgroupPath);
    if (subscription) this.unsubscribe(subscription);
    this.nearLimit.forget(info.cgroupPath);
    this.unwatchable.delete(info.cgroupPath);
    this.settled.delete(info.cgroupPath);
  }

  /**
   * Watches a container from now on, before the collector has seen its cgroup: the runtime calls
   * this once the cgroup exists and before the first process is let go, so a kill in the first
   * millisecond is caught; an engine's source when the engine says a container started. Kills the
   * counter holds beyond `killsReported` are reported by the first reading; without it, kills
   * already counted then are taken as old.
   */
  watch(info: ContainerInfo, options: WatchOptions = {}): void {
    if (this.closed) return;
    this.settled.delete(info.cgroupPath);
    const existing = this.byPath.get(info.cgroupPath);
    if (existing) {
      existing.pinned = true;
      existing.info = info;
      if (existing.baseline === undefined && options.killsReported !== undefined) existing.baselineHint = options.killsReported;
      return;
    }
    this.subscribe(info, options.killsReported, true);
  }

  /**
   * The container in `cgroupPath` has exited and its cgroup is about to go: reads the kill counter
   * once more, on this thread, reports every kill not reported yet (dated by the latest
   * notification, else `timeMs`, else now), and ends the watch. Returns the count read (undefined
   * when unknown), which the runtime keeps with the container. Synchronous on purpose: the runtime
   * publishes `die` right after, and an `oom` must come first, as docker's does.
   */
  settle(cgroupPath: CgroupPath, timeMs?: number): number | undefined {
    const subscription = this.byPath.get(cgroupPath);
    if (!subscription || this.closed) return undefined;
    const files = subscription.version === 2 ? V2_FILES : V1_FILES;
    let reading: Reading;
    try {
      reading = this.parseReading(subscription, this.readSync(files.map((file) => `${subscription.directory}/${file}`)));
    } catch (error) {
      this.warnOnce(`check:${subscription.directory}`, `cannot read the OOM counters of ${subscription.directory}: ${(error as Error).message}`);
      this.unsubscribe(subscription);
      return undefined;
    }
    this.unsubscribe(subscription);
    this.settled.add(cgroupPath);
    if (reading.count === undefined) return undefined;
    const baseline = subscription.baseline ?? subscription.baselineHint;
    // Without a baseline nothing tells a new kill from an old one: report none (as a first reading would).
    const kills = baseline === undefined ? 0 : Math.min(Math.max(0, reading.count - baseline), MAX_EVENTS_PER_READING);
    if (kills > 0 && subscription.version === 2) {
      // v2 counts are hierarchical: watched ancestors counted these kills too, and now they are accounted for.
      for (const other of this.byPath.values()) {
        if (other.baseline !== undefined && isBelowOrSame(cgroupPath, other.info.cgroupPath)) other.baseline += kills;
      }
    }
    const exitMs = timeMs ?? this.now();
    const at = this.killTime(subscription, exitMs, exitMs);
    for (let i = 0; i < kills; i++) this.publishOom(subscription.info, reading, at);
    return reading.count;
  }

  /**
   * An engine reported an OOM kill in one of its containers (Docker's and Podman's `oom` event).
   * The kernel's counter stays the truth, so each kill is one event whoever saw it first: the
   * cgroup is read now (on v1 again over the next second, as after a notification). Only when no
   * kill of this container has been published from the counters near the engine's report — the
   * cgroup was gone before a reading saw the kill, or was watched only after it — is the engine's
   * word published, once, at the engine's time, and the watch moved past it so a late reading
   * does not count it again.
   */
  engineReportedOom(info: ContainerInfo, timeMs: number): void {
    if (this.closed) return;
    let subscription = info.cgroupPath !== '' ? this.byPath.get(info.cgroupPath) : undefined;
    if (!subscription && info.cgroupPath !== '') subscription = this.subscribe(info, undefined, true);
    if (subscription) this.onNotify(subscription.watchId, timeMs);
    const timer = setTimeout(() => {
      void this.idle().then(() => {
        if (this.closed) return;
        const seenAt = Math.max(this.lastOomMs.get(info.id) ?? -Infinity, info.cgroupPath !== '' ? (this.lastOomMs.get(info.cgroupPath) ?? -Infinity) : -Infinity);
        if (seenAt >= timeMs - ENGINE_OOM_WINDOW_MS) return;
        const current = subscription && this.byPath.get(info.cgroupPath) === subscription ? subscription : undefined;
        if (current?.baseline !== undefined) current.baseline += 1;
        this.publishOom(info, { count: undefined, limitBytes: undefined, usageBytes: undefined, vanished: current === undefined }, timeMs);
      });
    }, ENGINE_OOM_CONFIRM_MS);
    timer.unref();
  }

  /** Stops watching a cgroup (the runtime, when it removes a container). */
  unwatch(cgroupPath: CgroupPath): void {
    const subscription = this.byPath.get(cgroupPath);
    if (subscription) this.unsubscribe(subscription);
  }

  /** Cgroup paths watched right now (for tests and diagnostics). */
  watchedPaths(): CgroupPath[] {
    return [...this.byPath.keys()].sort();
  }

  /** Resolves once every reading queued so far is done (tests, the benchmark). */
  async idle(): Promise<void> {
    let current: Promise<void>;
    do {
      current = this.queue;
      await current;
    } while (current !== this.queue);
  }

  /** Unwatches everything and stops the native thread. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const subscription of [...this.byPath.values()]) this.unsubscribe(subscription);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private ensureWatcher(): NativeOomWatcher {
    this.watcher ??= this.createWatcher((watchId, timeMs) => this.onNotify(watchId, timeMs));
    return this.watcher;
  }

  /**
   * When the kills a reading found happened: the subscription's first pending notification if it
   * is recent enough to be about them (it is then used up), else `fallbackMs`.
   * Units: milliseconds since the Unix epoch.
   */
  private killTime(subscription: Subscription, fallbackMs: number, readingMs: number): number {
    const notified = subscription.notifiedAtMs;
    subscription.notifiedAtMs = undefined;
    return notified !== undefined && readingMs - notified <= NOTIFICATION_DATES_KILLS_MS ? notified : fallbackMs;
  }

  private subscribe(info: ContainerInfo, baselineHint: number | undefined, pinned: boolean): Subscription | undefined {
    const version = this.layout.controllersOn;
    const directory = cgroupDirectory(this.layout, version === 2 ? 'unified' : 'memory', info.cgroupPath);
    const mount = version === 2 ? this.layout.v2Mount : this.layout.v1Mounts.memory;
    if (!directory || !mount) {
      this.warnOnce('no-memory-controller', 'OOM events are off: the memory controller is not mounted');
      return undefined;
    }
    this.watchingPossible ??= this.isCgroupFilesystem(mount);
    if (!this.watchingPossible) {
      this.warnOnce('not-cgroupfs', `OOM events are off: ${mount} is not a cgroup filesystem`);
      return undefined;
    }
    let watchId: number;
    try {
      const watcher = this.ensureWatcher();
      watchId = version === 2 ? watcher.watchV2(directory) : watcher.watchV1(directory);
    } catch (error) {
      const code = (error as { code?: string }).code;
      // Gone between the collector's walk and now: nothing to watch, and nothing to say.
      if (code !== 'ENOENT' && code !== 'ENODEV') {
        this.unwatchable.add(info.cgroupPath);
        this.warnOnce(directory, `cannot watch ${directory} for OOM kills: ${(error as Error).message}`);
      }
      return undefined;
    }
    const subscription: Subscription = {
      info,
      version,
      directory,
      watchId,
      baseline: undefined,
      baselineHint,
      pinned,
      seenByCollector: false,
      checkQueued: false,
      followUps: [],
      notifiedAtMs: undefined,
    };
    this.byPath.set(info.cgroupPath, subscription);
    this.byWatchId.set(watchId, subscription);
    // The first reading sets the baseline; a kill between the collector's reading (the hint) and
    // the watch being in place is reported by it.
    this.requestCheck(subscription);
    return subscription;
  }

  private unsubscribe(subscription: Subscription): void {
    for (const timer of subscription.followUps) clearTimeout(timer);
    subscription.followUps = [];
    this.byPath.delete(subscription.info.cgroupPath);
    this.byWatchId.delete(subscription.watchId);
    this.watcher?.unwatch(subscription.watchId);
  }

  private onNotify(watchId: number, timeMs?: number): void {
    const subscription = this.byWatchId.get(watchId);
    if (!subscription || this.closed) return; // unwatched while the notification was on its way
    const at = timeMs ?? this.now();
    if (subscription.notifiedAtMs === undefined || at - subscription.notifiedAtMs > NOTIFICATION_DATES_KILLS_MS) subscription.notifiedAtMs = at;
    this.requestCheck(subscription);
    if (subscription.version === 1) {
      for (const timer of subscription.followUps) clearTimeout(timer);
      subscription.followUps = this.followUpDelaysMs.map((delay) => {
        const timer = setTimeout(() => {
          if (this.byWatchId.get(watchId) === subscription) this.requestCheck(subscription);
        }, delay);
        timer.unref();
        return timer;
      });
    }
  }

  /** Queues one reading of `subscription` (coalesced with one already waiting). */
  private requestCheck(subscription: Subscription): void {
    if (subscription.checkQueued || this.closed) return;
    subscription.checkQueued = true;
    this.queue = this.queue.then(() => {
      subscription.checkQueued = false;
      if (this.byPath.get(subscription.info.cgroupPath) !== subscription) return undefined;
      return this.check(subscription).catch((error: unknown) => {
        this.warnOnce(`check:${subscription.directory}`, `cannot read the OOM counters of ${subscription.directory}: ${(error as Error).message}`);
      });
    });
  }

  /** The subscriptions whose counters must be read together with `subscription`'s. */
  private family(subscription: Subscription): Subscription[] {
    if (subscription.version === 1) return [subscription];
    // v2 counts are hierarchical: read the whole watched subtree under the topmost watched
    // ancestor, so every watched cgroup a kill raised is settled in the same reading.
    const path = subscription.info.cgroupPath;
    let top = path;
    for (const other of this.byPath.keys()) {
      if (isBelowOrSame(top, other) && other.length < top.length) top = other;
    }
    return [...this.byPath.values()].filter((s) => isBelowOrSame(s.info.cgroupPath, top));
  }

  private async check(subscription: Subscription): Promise<void> {
    const members = this.family(subscription);
    const files = subscription.version === 2 ? V2_FILES : V1_FILES;
    const paths = members.flatMap((member) => files.map((file) => `${member.directory}/${file}`));
    const results = await this.read(paths);
    if (this.closed) return;
    const timeMs = this.now();

    const readings = new Map<Subscription, Reading>();
    members.forEach((member, index) => {
      if (this.byPath.get(member.info.cgroupPath) !== member) return; // unsubscribed meanwhile
      const slice = results.slice(index * files.length, (index + 1) * files.length);
      readings.set(member, this.parseReading(member, slice));
    });

    const counted: Array<{ member: Subscription; reading: Reading }> = [];
    for (const [member, reading] of readings) {
      if (reading.vanished) {
        this.unsubscribe(member);
        continue;
      }
      if (reading.count === undefined) continue;
      counted.push({ member, reading });
    }
    const kills = attributeKills(
      counted.map(({ member, reading }) => ({
        cgroupPath: member.info.cgroupPath,
        baseline: member.baseline ?? Math.min(member.baselineHint ?? reading.count!, reading.count!),
        count: reading.count!,
      })),
      subscription.version === 2,
    );
    for (const { member, reading } of counted) {
      // Never lowered: settle() (a settled child's kills, on v2) and an engine's report move a
      // baseline past the counter, and a reading that was already on its way may be older than that.
      member.baseline = Math.max(member.baseline ?? 0, reading.count!);
      const own = Math.min(kills.get(member.info.cgroupPath) ?? 0, MAX_EVENTS_PER_READING);
      if (own === 0) continue;
      const at = this.killTime(member, timeMs, timeMs);
      for (let i = 0; i < own; i++) this.publishOom(member.info, reading, at);
    }
  }

  private parseReading(member: Subscription, texts: TextOrErrno[]): Reading {
    const [counterText, peakText, currentText, limitText] = texts;
    const files = member.version === 2 ? V2_FILES : V1_FILES;
    if (counterText === ENOENT || counterText === ENODEV) return { count: undefined, limitBytes: undefined, usageBytes: undefined, vanished: true };
    const reading: Reading = { count: undefined, limitBytes: undefined, usageBytes: undefined, vanished: false };
    if (typeof counterText !== 'string') {
      this.warnOnce(`${member.directory}/${files[0]}`, `cannot read ${member.directory}/${files[0]}: ${errnoCode(Number(counterText))}`);
      return reading;
    }
    const parse = <T>(file: string, text: TextOrErrno | undefined, parser: (text: string) => T): T | undefined => {
      if (typeof text !== 'string') return undefined; // absent (memory.peak before 5.19) or unreadable: unknown
      try {
        return parser(text);
      } catch (error) {
        this.warnOnce(`${member.directory}/${file}`, `cannot parse ${member.directory}/${file}: ${(error as Error).message}`);
        return undefined;
      }
    };
    if (member.version === 2) {
      reading.count = parse(files[0], counterText, parseMemoryEvents)?.oomKill;
      reading.usageBytes = parse(files[1], peakText, parseMemoryPeak) ?? parse(files[2], currentText, parseMemoryCurrent);
      reading.limitBytes = parse(files[3], limitText, parseMemoryMax) ?? undefined;
    } else {
      reading.count = parse(files[0], counterText, parseOomControl)?.oomKill;
      reading.usageBytes = parse(files[1], peakText, parseMemoryMaxUsageInBytes) ?? parse(files[2], currentText, parseMemoryUsageInBytes);
      reading.limitBytes = parse(files[3], limitText, parseMemoryLimitInBytes) ?? undefined;
    }
    if (reading.count === undefined) {
      this.warnOnce(`nocount:${member.directory}`, `${member.directory}/${files[0]} has no oom_kill counter (kernel before 4.13?): OOM kills there cannot be reported`);
    }
    return reading;
  }

  private publishOom(info: ContainerInfo, reading: Reading, timeMs: number): void {
    const attributes = containerAttributes(info);
    if (reading.limitBytes !== undefined) attributes['memoryLimitBytes'] = String(reading.limitBytes);
    if (reading.usageBytes !== undefined) attributes['memoryUsageBytes'] = String(reading.usageBytes);
    const event: CapstanEvent = { ...eventBase(info, 'oom', timeMs), attributes };
    if (reading.limitBytes !== undefined) event.memoryLimitBytes = reading.limitBytes;
    if (reading.usageBytes !== undefined) event.memoryUsageBytes = reading.usageBytes;
    // Only recent kills matter for engine reports: an OOM storm over many containers must not grow this for ever.
    if (this.lastOomMs.size > 1000) {
      for (const [key, at] of this.lastOomMs) if (at < timeMs - ENGINE_OOM_WINDOW_MS) this.lastOomMs.delete(key);
    }
    this.lastOomMs.set(info.id, timeMs);
    if (info.cgroupPath !== '') this.lastOomMs.set(info.cgroupPath, timeMs);
    this.bus.publish(event);
  }

  private trackNearLimit(container: ContainerSnapshot): void {
    const { stats, info } = container;
    const usage = stats.memoryWorkingSetBytes;
    const limit = stats.memoryLimitBytes;
    const percent = stats.memoryLimitIsSet === true && usage !== undefined && limit !== undefined && limit > 0 ? (usage / limit) * 100 : undefined;
    const transition = this.nearLimit.update(info.cgroupPath, percent);
    if (!transition) return;
    const attributes = containerAttributes(info);
    attributes['memoryLimitBytes'] = String(limit);
    attributes['memoryUsageBytes'] = String(usage);
    attributes['memoryPercent'] = percent!.toFixed(1);
    this.bus.publish({
      ...eventBase(info, transition === 'entered' ? 'memory-near-limit' : 'memory-near-limit-cleared', stats.timestampMs),
      attributes,
      memoryLimitBytes: limit!,
      memoryUsageBytes: usage!,
    });
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warn(message);
  }
}

function eventBase(info: ContainerInfo, action: EventAction, timeMs: number): Omit<CapstanEvent, 'attributes'> {
  return {
    type: 'container',
    action,
    actor: { id: info.id, name: info.name, cgroupPath: info.cgroupPath, image: info.image },
    timeMs,
  };
}

function isCgroupMount(directory: string): boolean {
  try {
    const type = Number(fs.statfsSync(directory).type);
    return type === CGROUP_SUPER_MAGIC || type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

function isBelowOrSame(path: CgroupPath, ancestor: CgroupPath): boolean {
  return path === ancestor || (ancestor === '/' ? true : path.startsWith(ancestor + '/'));
}
