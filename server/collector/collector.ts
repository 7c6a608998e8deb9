/**
 * The housekeeping loop. Every tick it:
 *   1. walks the hierarchy roots (one native call) to notice new and vanished cgroups;
 *   2. reads the stat files of every tracked cgroup, plus /proc/stat and /proc/meminfo, in one
 *      native batch (the hot path), then, in a second, the every-tick counters of the cgroups whose
 *      CPU time or memory usage moved (idle ones keep theirs: idle-cgroups.ts);
 *   3. for cgroups whose first process lives in a network namespace of its own, reads that
 *      namespace's /proc/<pid>/net/dev (two more small batches); cgroup.procs, which names that
 *      process, is read only when the cgroup's namespace may have changed (network-probe.ts);
 *   4. derives docker-stats numbers against the previous sample, records history, and publishes a
 *      complete snapshot that readers (/metrics, REST) use until the next tick.
 * A file that is missing means "feature absent"; a file that cannot be read or parsed costs that
 * value and one warning naming the path, never the tick.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type {
  CgroupLayout,
  CgroupPath,
  CgroupSample,
  CollectorSnapshot,
  ContainerInfo,
  ContainerSnapshot,
  HostSample,
  NetworkInterfaceSample,
} from '../model';
import { errnoCode, KeptFiles, raiseOpenFileLimit, raiseOpenFileLimitTo, readFiles, readFilesSync, readLinks, type TextOrErrno } from '../native';
import { assembleV1, assembleV2 } from '../cgroup/assemble';
import { CgroupDiscovery } from '../cgroup/enumerate';
import { blkioThrottleOnlyFromProbe, V2_STAT_FILES, v1StatFiles, type StatFile } from '../cgroup/files';
import { cgroupDirectory, statRoots, type HierarchyRoot } from '../cgroup/hierarchy';
import { parseFirstPid, parseMeminfo, parseNetDev, parseProcStat } from '../procfs';
import { describeCgroup, type ContainerSource } from '../sources/source';
import { deriveStats, type TimedSample } from './derive';
import { CgroupHistory, HistoryClock, type HistorySeries } from './history';
import { budgetRefusal, chooseKeptFiles, dueFiles, keptFileBudgetFromLimit, largestBudgetFor, openFileLimitForBudget } from './kept-files';
import { newNamespaceProbe, procsDue, processToLookUp, recordNamespace, type NamespaceProbe } from './network-probe';
import { Activity, activityAfter, DEFAULT_IDLE_FULL_READ_EVERY_TICKS, FileRole, holdBackFollowers, idleFullReadDue } from './idle-cgroups';

const ENOENT = 2;
const ENODEV = 19;
/** Large enough for memory.stat and a busy root's cgroup.procs; a cap keeps one odd file from costing much. */
const MAX_FILE_BYTES = 256 * 1024;
/** Default for CollectorOptions.rarelyChangingEveryTicks. Units: ticks. */
export const DEFAULT_RARELY_CHANGING_EVERY_TICKS = 10;
/** Default for CollectorOptions.walkEveryTicks. Units: ticks. */
export const DEFAULT_WALK_EVERY_TICKS = 30;

export interface CollectorOptions {
  layout: CgroupLayout;
  /** Where /proc is (fixture trees in tests). */
  procRoot?: string;
  /** Units: milliseconds. */
  intervalMs: number;
  /** Samples kept per cgroup. Units: ticks. */
  historyCapacity: number;
  /** Asked in order; the raw source must be last. */
  sources: ContainerSource[];
  /** Read cpuacct.usage_percpu too (v1). */
  perCpu?: boolean;
  /** Clock, injectable for tests. Units: milliseconds since the Unix epoch. */
  now?: () => number;
  /**
   * Whether the kernel counts block I/O per cgroup right now (cgroup/blkio-accounting.ts): when
   * false, block I/O is left unknown rather than reported as the zeros the files show.
   */
  blockIoCounted?: () => boolean;
  /**
   * How many cgroup files the sweep may keep open between ticks (the least recently read beyond it
   * fall back to open/read/close). Default: keptFileBudgetFromLimit of the soft RLIMIT_NOFILE
   * after raising it to the hard limit, for the files then in the batch. 0 keeps none open.
   * Units: file descriptors.
   */
  keptFileBudget?: number;
  /** Limits and weights (StatFile.rarelyChanges) are read every this many ticks. Units: ticks. */
  rarelyChangingEveryTicks?: number;
  /** A full hierarchy walk at least every this many ticks, whatever inotify says (a safety net). Units: ticks. */
  walkEveryTicks?: number;
  /**
   * An idle cgroup (CPU time and memory usage as the tick before) reads its other
   * every-tick counters only every this many ticks (idle-cgroups.ts); 1 reads every file of every
   * cgroup every tick. Default DEFAULT_IDLE_FULL_READ_EVERY_TICKS. Units: ticks.
   */
  idleFullReadEveryTicks?: number;
}

/** What the last tick's batch read did (the benchmark and tests print it). Units: files. */
export interface SweepReadStats {
  /** Files in the batch. */
  files: number;
  /** Files read this tick (the rest were rarely changing ones not due, and idle cgroups' counters). */
  read: number;
  /** Cgroups found idle this tick, whose activity-following counters were not read. Units: cgroups. */
  idleCgroups: number;
  /** Read through a kept fd with pread at offset 0. */
  kept: number;
  /** Read with open/read/close. */
  opened: number;
  /** Kept fds closed because their cgroup went away. */
  closedVanished: number;
  /** Files allowed an fd under the budget. */
  keptAllowed: number;
  /** The budget. Units: file descriptors. */
  budget: number;
  /** Whether this tick walked the hierarchies (inotify said something changed, or the safety interval). */
  walked: boolean;
}

interface TrackedCgroup {
  path: CgroupPath;
  info: ContainerInfo;
  /** The source that described it (and may add network counters). */
  source: ContainerSource;
  /** Index in the batch of this cgroup's first stat file. */
  batchOffset: number;
  /** Root (from statRoots) whose cgroup.procs lists this cgroup's processes. */
  procsRootIndex: number;
  previous?: TimedSample;
  history: CgroupHistory;
  /** Seen in the latest enumeration. */
  seen: boolean;
  /** Its network namespace as last found, and so when its cgroup.procs is read (network-probe.ts). */
  network: NamespaceProbe;
  /** The tick offset of its full reads while idle, so those of many idle cgroups spread over the ticks. Units: ticks. */
  idlePhase: number;
  /** What its activity files said this tick, so far (idle-cgroups.ts). */
  activity: Activity;
}

export interface CollectorEvents {
  tick: [CollectorSnapshot];
  added: [ContainerInfo];
  removed: [ContainerInfo];
  warning: [string];
}

export class Collector extends EventEmitter<CollectorEvents> {
  readonly layout: CgroupLayout;
  private readonly procRoot: string;
  private readonly roots: HierarchyRoot[];
  private readonly files: readonly StatFile[];
  private readonly assemble: typeof assembleV1;
  /** v1: the blkio.throttle.* files are the only per-cgroup block I/O counters (no scheduler stats). */
  readonly blkioThrottleFilesOnly: boolean;
  private readonly clock: HistoryClock;
  private readonly now: () => number;
  private readonly tracked = new Map<CgroupPath, TrackedCgroup>();
  /** Paths of the current batch; rebuilt only when cgroups come or go. */
  private batch: string[] = [];
  private batchDirty = true;
  /** The sweep's fds (see kept-files.ts for the policy). */
  private readonly keptFiles: KeptFiles;
  /** New and removed cgroups: inotify on the hierarchies, a full walk only when something changed. */
  private readonly discovery: CgroupDiscovery;
  /** The budget in force: options.keptFileBudget, or the default for the batch as it is now. */
  private keptFileBudget: number;
  /** Without options.keptFileBudget: the soft RLIMIT_NOFILE the default budget follows. Units: fds. */
  private readonly openFileSoftLimit: number | undefined;
  private readonly rarelyChangingEveryTicks: number;
  private readonly idleFullReadEveryTicks: number;
  /** Per batch entry: its FileRole in the idle decision. */
  private batchRole = new Uint8Array(0);
  /** Cgroups tracked so far (their idle phases). Units: cgroups. */
  private trackedSerial = 0;
  /** Whether block I/O was counted on the previous tick: an idle cgroup's sample is reused only while it stays the same. */
  private lastBlockIoCounted: boolean | undefined;
  /** Per batch entry: the latest text or errno (rarely changing files keep theirs between reads). */
  private batchValues: Array<TextOrErrno | undefined> = [];
  /** Per batch entry: the tick it was last read (-1: never), for the LRU choice. */
  private batchLastRead = new Int32Array(0);
  /** Per batch entry: 1 for a rarely changing file (StatFile.rarelyChanges). */
  private batchRarely = new Uint8Array(0);
  /** Per batch entry: the tracked cgroup it belongs to (undefined for the host files). */
  private batchOwner: Array<TrackedCgroup | undefined> = [];
  /** Cgroups whose rarely changing files the next tick reads anyway; '*' = all. */
  private readonly refreshPending = new Set<CgroupPath>();
  private readStats: SweepReadStats | undefined;
  private tickCount = 0;
  /** File paths already warned about, so a broken file warns once, not every tick. */
  private readonly warnedPaths = new Set<string>();
  private hostNetns: string | undefined;
  private latestSnapshot: CollectorSnapshot | undefined;
  private previousHost: HostSample | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private sequence = 0;

  constructor(private readonly options: CollectorOptions) {
    super();
    this.layout = options.layout;
    this.procRoot = options.procRoot ?? '/proc';
    this.roots = statRoots(options.layout);
    if (options.layout.controllersOn === 2) {
      this.files = V2_STAT_FILES;
      this.assemble = assembleV2;
      this.blkioThrottleFilesOnly = false;
    } else {
      this.blkioThrottleFilesOnly = probeBlkioThrottleOnly(options.layout);
      this.files = v1StatFiles({ blkioThrottleOnly: this.blkioThrottleFilesOnly, perCpu: options.perCpu ?? false });
      this.assemble = assembleV1;
    }
    this.clock = new HistoryClock(options.historyCapacity);
    this.now = options.now ?? Date.now;
    const limits = raiseOpenFileLimit();
    if (options.keptFileBudget !== undefined) ensureRoomForBudget(options.keptFileBudget, limits);
    this.openFileSoftLimit = options.keptFileBudget === undefined ? limits.soft : undefined;
    this.keptFileBudget = options.keptFileBudget ?? keptFileBudgetFromLimit(this.openFileSoftLimit!);
    this.rarelyChangingEveryTicks = Math.max(1, options.rarelyChangingEveryTicks ?? DEFAULT_RARELY_CHANGING_EVERY_TICKS);
    this.idleFullReadEveryTicks = Math.max(1, options.idleFullReadEveryTicks ?? DEFAULT_IDLE_FULL_READ_EVERY_TICKS);
    this.keptFiles = new KeptFiles();
    this.discovery = new CgroupDiscovery(this.roots, options.walkEveryTicks ?? DEFAULT_WALK_EVERY_TICKS);
  }

  /**
   * The next tick reads the limits and weights of `cgroupPath` (all cgroups when omitted) even if
   * they are not due: someone just wrote them (capstan's limit service, an engine's update).
   */
  refreshRarelyChanging(cgroupPath?: CgroupPath): void {
    this.refreshPending.add(cgroupPath ?? '*');
  }

  /** What the last tick's batch read did, or undefined before the first tick. */
  lastReadStats(): SweepReadStats | undefined {
    return this.readStats;
  }

  /** The latest complete snapshot, or undefined before the first tick. */
  latest(): CollectorSnapshot | undefined {
    return this.latestSnapshot;
  }

  /** History of one cgroup since `sinceMs`, or undefined if it is not tracked. */
  history(cgroupPath: CgroupPath, sinceMs?: number): HistorySeries | undefined {
    const tracked = this.tracked.get(cgroupPath);
    return tracked ? this.clock.read(tracked.history, sinceMs) : undefined;
  }

  /** Starts ticking every interval (the first tick runs at once). */
  start(): Promise<CollectorSnapshot> {
    this.running = true;
    const first = this.tick();
    const schedule = (): void => {
      if (!this.running) return;
      // Align ticks to the interval so they do not drift by the tick's own duration.
      const delay = this.options.intervalMs - (this.now() % this.options.intervalMs);
      this.timer = setTimeout(() => {
        this.tick().then(schedule, (error: unknown) => {
          this.emit('warning', `collector tick failed: ${(error as Error).message}`);
          schedule();
        });
      }, delay);
    };
    return first.then((snapshot) => {
      schedule();
      return snapshot;
    });
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Stops and closes the sweep's kept fds. The collector cannot tick afterwards. */
  close(): void {
    this.stop();
    this.keptFiles.close();
    this.discovery.close();
  }

  /** One full sweep. Public for tests and the benchmark. */
  async tick(): Promise<CollectorSnapshot> {
    const startedAt = performance.now();
    const timestampMs = this.now();
    const tick = this.clock.beginTick(timestampMs);

    const enumeration = await this.discovery.next();
    if (this.discovery.degraded) this.warnOnce('cgroup discovery', this.discovery.degraded);
    if (enumeration) {
      for (const failed of enumeration.failedRoots) {
        this.warnOnce(failed.root.directory, `cannot walk cgroup hierarchy ${failed.root.directory}: ${errnoCode(failed.errno)}`);
      }
      this.reconcile(enumeration.cgroups);
    }
    if (this.batchDirty) this.rebuildBatch();

    const tickNumber = this.tickCount++;
    const { due, refreshed } = this.dueMask(tickNumber);
    // Activity followers wait for the first read to say which cgroups are idle (idle-cgroups.ts).
    const followers = this.idleFullReadEveryTicks > 1 ? holdBackFollowers(due, this.batchRole) : undefined;
    for (const tracked of this.tracked.values()) tracked.activity = Activity.Unknown;
    const read = await this.keptFiles.read(MAX_FILE_BYTES, due);
    const counts = { kept: read.kept, opened: read.opened, closedVanished: read.closedVanished };
    const vanishedIndexes = [...read.vanishedIndexes];
    let readCount = this.mergeRead(due, read.results, tickNumber);
    const idle = new Set<TrackedCgroup>();
    if (followers) {
      for (const tracked of this.tracked.values()) {
        if (tracked.activity !== Activity.Same || refreshed(tracked) || idleFullReadDue(tickNumber, tracked.idlePhase, this.idleFullReadEveryTicks)) continue;
        idle.add(tracked);
        followers.fill(0, tracked.batchOffset, tracked.batchOffset + this.files.length);
      }
      if (followers.includes(1)) readCount += await this.readMore(followers, tickNumber, counts, vanishedIndexes);
    }
    if (vanishedIndexes.length > 0) {
      // A kept fd answered ENODEV/ENOENT and its path opened again: the cgroup was removed and
      // perhaps re-created under the same name, so the limits kept from the old one are stale.
      const recreated = new Set(vanishedIndexes.map((index) => this.batchOwner[index]).filter((owner) => owner !== undefined));
      // Its processes, and so its network namespace, are new too: cgroup.procs is read again below.
      for (const owner of recreated) {
        owner.network.finding = { kind: 'unknown' };
        idle.delete(owner);
      }
      const again = new Uint8Array(this.batch.length);
      for (let i = 0; i < again.length; i++) {
        const owner = this.batchOwner[i];
        if (this.batchLastRead[i] !== tickNumber && owner !== undefined && recreated.has(owner)) again[i] = 1;
      }
      readCount += await this.readMore(again, tickNumber, counts, []);
    }
    this.idleLastTick = idle;
    this.readStats = {
      files: this.batch.length,
      read: readCount,
      idleCgroups: idle.size,
      kept: counts.kept,
      opened: counts.opened,
      closedVanished: counts.closedVanished,
      keptAllowed: this.keptAllowed,
      budget: this.keptFileBudget,
      walked: enumeration !== undefined,
    };
    const results = this.batchValues;
    const host = this.parseHost(results as ReadonlyArray<TextOrErrno>);

    const samples = new Map<TrackedCgroup, CgroupSample>();
    const firstPids = new Map<TrackedCgroup, number>();
    const blockIoCounted = this.options.blockIoCounted?.() ?? true;
    const procsOffset = this.files.length;
    const procsReadThisTick = new Set<TrackedCgroup>();
    for (const tracked of this.tracked.values()) {
      const offset = tracked.batchOffset;
      if (this.vanished(offset, tickNumber)) {
        // Gone between the walk and the read: drop it now rather than publish an empty row.
        this.untrack(tracked);
        continue;
      }
      const sample =
        idle.has(tracked) && tracked.previous && blockIoCounted === this.lastBlockIoCounted && !this.scheduledFileRead(offset, tickNumber)
          ? idleSample(tracked.previous.sample)
          : this.assemble(this.files, results as ReadonlyArray<TextOrErrno>, offset, (index, message) =>
              this.warnOnce(this.batch[offset + index]!, `cannot use ${this.batch[offset + index]}: ${message}`),
            );
      if (!blockIoCounted) delete sample.io;
      samples.set(tracked, sample);
      const procsRead = this.batchLastRead[offset + procsOffset] === tickNumber;
      const procs = procsRead ? results[offset + procsOffset] : undefined;
      if (procsRead) procsReadThisTick.add(tracked);
      const pid = processToLookUp(tracked.network, typeof procs === 'string' ? this.safeFirstPid(procs, offset + procsOffset) : undefined, procsRead);
      if (pid !== undefined) firstPids.set(tracked, pid);
      else if (procsRead) recordNamespace(tracked.network, undefined, undefined, '', true);
    }

    this.lastBlockIoCounted = blockIoCounted;
    await this.collectNetwork(samples, firstPids, procsReadThisTick, results as ReadonlyArray<TextOrErrno>);
    for (const [tracked, sample] of samples) {
      const extra = tracked.source.networkCounters?.(tracked.path);
      if (extra) sample.network = [...(sample.network ?? []), extra];
    }

    const containers: ContainerSnapshot[] = [];
    for (const [tracked, sample] of samples) {
      const current: TimedSample = { timestampMs, sample, host };
      const stats = deriveStats(tracked.previous, current);
      tracked.previous = current;
      this.clock.record(tracked.history, tick, stats);
      containers.push({ info: tracked.info, sample, stats });
    }
    containers.sort((a, b) => (a.info.cgroupPath < b.info.cgroupPath ? -1 : a.info.cgroupPath > b.info.cgroupPath ? 1 : 0));

    this.previousHost = host;
    const snapshot: CollectorSnapshot = {
      sequence: ++this.sequence,
      timestampMs,
      tickDurationSeconds: (performance.now() - startedAt) / 1000,
      layout: this.layout,
      host,
      containers,
    };
    this.latestSnapshot = snapshot;
    this.emit('tick', snapshot);
    return snapshot;
  }

  /** Replaces the description of a tracked cgroup (a source learned more about it). */
  redescribe(cgroupPath: CgroupPath): void {
    const tracked = this.tracked.get(cgroupPath);
    if (!tracked) return;
    const createdAtMs = tracked.info.createdAtMs;
    ({ info: tracked.info, source: tracked.source } = describeCgroup(this.options.sources, cgroupPath, createdAtMs === undefined ? {} : { createdAtMs }));
    tracked.network.isContainer = tracked.info.isContainer;
  }

  private reconcile(found: ReadonlyMap<CgroupPath, { firstRootIndex: number }>): void {
    for (const tracked of this.tracked.values()) tracked.seen = false;
    for (const [path, { firstRootIndex }] of found) {
      const existing = this.tracked.get(path);
      if (existing) {
        existing.seen = true;
        continue;
      }
      const createdAtMs = this.creationTime(path, firstRootIndex);
      const { info, source } = describeCgroup(this.options.sources, path, createdAtMs === undefined ? {} : { createdAtMs });
      this.tracked.set(path, {
        path,
        info,
        source,
        batchOffset: -1,
        procsRootIndex: firstRootIndex,
        history: this.clock.createHistory(),
        seen: true,
        network: newNamespaceProbe(this.tickCount, info.isContainer, path === '/'),
        idlePhase: this.trackedSerial++,
        activity: Activity.Unknown,
      });
      this.batchDirty = true;
      this.emit('added', info);
    }
    for (const tracked of [...this.tracked.values()]) {
      if (!tracked.seen) this.untrack(tracked);
    }
  }

  private untrack(tracked: TrackedCgroup): void {
    if (!this.tracked.delete(tracked.path)) return;
    this.batchDirty = true;
    for (const file of this.files) {
      const directory = cgroupDirectory(this.layout, file.controller, tracked.path);
      if (directory) this.warnedPaths.delete(`${directory}/${file.name}`);
    }
    this.emit('removed', tracked.info);
  }

  /** A cgroup directory's mtime is when it was created (cAdvisor reads the same). */
  private creationTime(path: CgroupPath, rootIndex: number): number | undefined {
    const root = this.roots[rootIndex];
    if (!root) return undefined;
    try {
      return fs.statSync(path === '/' ? root.directory : root.directory + path).mtimeMs;
    } catch {
      return undefined;
    }
  }

  /**
   * Host files first, then per cgroup its stat files followed by its cgroup.procs. Values, last-read
   * ticks and fds of files still in the batch carry over; the kept-fd choice is made again.
   */
  private rebuildBatch(): void {
    const host = [`${this.procRoot}/stat`, `${this.procRoot}/meminfo`, `${this.procRoot}/net/dev`];
    const batch = [...host];
    const owner: Array<TrackedCgroup | undefined> = host.map(() => undefined);
    const rarely: number[] = host.map(() => 0);
    const roles: number[] = host.map(() => FileRole.Scheduled);
    // Single-record seq_files (their whole text in one read: KeptFiles.assign): /proc/stat,
    // /proc/meminfo and every cgroup stat file; not /proc/net/dev or cgroup.procs.
    const singleRecord: number[] = [1, 1, 0];
    // cgroup.procs is never kept: on v1 an open cgroup.procs serves a pid list cached for up to a
    // second after the previous read (cgroup-v1's pidlist), which a pread at offset 0 does not renew.
    const keepable: number[] = host.map(() => 1);
    /** Keepable files read every tick: what the default fd budget grows for. */
    let everyTickKeepable = host.length;
    for (const tracked of this.tracked.values()) {
      tracked.batchOffset = batch.length;
      for (const file of this.files) {
        const directory = cgroupDirectory(this.layout, file.controller, tracked.path);
        // An unmounted controller yields ENOENT from the kernel at once, keeping the batch aligned.
        batch.push(directory ? `${directory}/${file.name}` : '/nonexistent-capstan-controller');
        owner.push(tracked);
        rarely.push(file.rarelyChanges ? 1 : 0);
        roles.push(file.showsActivity ? FileRole.ShowsActivity : file.rarelyChanges ? FileRole.Scheduled : FileRole.FollowsActivity);
        keepable.push(directory ? 1 : 0);
        singleRecord.push(1);
        if (directory && !file.rarelyChanges) everyTickKeepable++;
      }
      const root = this.roots[tracked.procsRootIndex]!;
      batch.push(`${tracked.path === '/' ? root.directory : root.directory + tracked.path}/cgroup.procs`);
      owner.push(tracked);
      rarely.push(0);
      roles.push(FileRole.Scheduled);
      keepable.push(0);
      singleRecord.push(0);
    }
    const previousIndex = new Map<string, number>();
    this.batch.forEach((filePath, index) => previousIndex.set(filePath, index));
    const values: Array<TextOrErrno | undefined> = new Array(batch.length);
    const lastRead = new Int32Array(batch.length).fill(-1);
    batch.forEach((filePath, index) => {
      const before = previousIndex.get(filePath);
      if (before === undefined) return;
      values[index] = this.batchValues[before];
      lastRead[index] = this.batchLastRead[before]!;
    });
    // A file read once every N ticks counts as used N ticks earlier than it was, so files read
    // every tick get the fds first, whatever tick the batch is rebuilt on: every cgroup's activity
    // files, then the counters that follow them (every tick while busy, every Nth while idle),
    // then limits and weights.
    const idleEvery = this.idleFullReadEveryTicks > 1 ? this.idleFullReadEveryTicks : 0;
    const ticksBetweenReads = roles.map((role, index) =>
      rarely[index] ? this.rarelyChangingEveryTicks + idleEvery : role === FileRole.FollowsActivity ? idleEvery : 0,
    );
    const recency = Float64Array.from(lastRead, (tick, index) => tick - ticksBetweenReads[index]!);
    if (this.openFileSoftLimit !== undefined) this.keptFileBudget = keptFileBudgetFromLimit(this.openFileSoftLimit, everyTickKeepable);
    const keep = chooseKeptFiles(recency, keepable, this.keptFileBudget);
    this.keptFiles.assign(batch, keep, Uint8Array.from(singleRecord));
    this.keptAllowed = keep.reduce((sum, flag) => sum + flag, 0);
    this.keepMask = keep;
    this.batch = batch;
    this.batchValues = values;
    this.batchLastRead = lastRead;
    this.batchRarely = Uint8Array.from(rarely);
    this.batchRole = Uint8Array.from(roles);
    this.batchOwner = owner;
    this.batchDirty = false;
  }

  private keptAllowed = 0;
  private keepMask: Uint8Array = new Uint8Array(0);
  /** Cgroups found idle on the last tick. */
  private idleLastTick = new Set<TrackedCgroup>();

  /** Whether the last tick found `cgroupPath` idle and left its activity-following counters unread (tests). */
  wasIdleLastTick(cgroupPath: CgroupPath): boolean {
    const tracked = this.tracked.get(cgroupPath);
    return tracked !== undefined && this.idleLastTick.has(tracked);
  }

  /** How many of a tracked cgroup's files may hold an fd under the budget (tests). Units: files. */
  keptFileCount(cgroupPath: CgroupPath): number {
    if (this.batchDirty) this.rebuildBatch();
    const tracked = this.tracked.get(cgroupPath);
    if (!tracked) return 0;
    let count = 0;
    for (let i = 0; i <= this.files.length; i++) count += this.keepMask[tracked.batchOffset + i] ?? 0;
    return count;
  }

  /** Files read per tracked cgroup: its stat files and its cgroup.procs. Units: files. */
  get filesPerCgroup(): number {
    return this.files.length + 1;
  }

  /**
   * Stores what a read of the files flagged in `due` returned (one result per due file, in batch
   * order), notes for each cgroup whether its activity files moved (idle-cgroups.ts), and returns
   * how many were read. Files not due keep their previous values.
   */
  private mergeRead(due: Uint8Array, results: readonly TextOrErrno[], tickNumber: number): number {
    let next = 0;
    for (let i = 0; i < due.length; i++) {
      if (!due[i]) continue;
      const value = results[next++];
      if (value === undefined) throw new Error(`the sweep's read returned ${results.length} results for more due files`);
      if (this.batchRole[i] === FileRole.ShowsActivity) {
        const owner = this.batchOwner[i];
        if (owner) owner.activity = activityAfter(owner.activity, this.batchValues[i], value);
      }
      this.batchValues[i] = value;
      this.batchLastRead[i] = tickNumber;
    }
    if (next !== results.length) throw new Error(`the sweep's read returned ${results.length} results for ${next} due files`);
    return next;
  }

  private dueMask(tickNumber: number): { due: Uint8Array; refreshed: (tracked: TrackedCgroup) => boolean } {
    const refreshAll = this.refreshPending.has('*');
    const pending = this.refreshPending;
    const refreshedPaths = refreshAll ? undefined : new Set(pending);
    const due = dueFiles(
      tickNumber,
      this.rarelyChangingEveryTicks,
      this.batchRarely,
      (index) => this.batchValues[index] !== undefined,
      (index) => refreshAll || (pending.size > 0 && pending.has(this.batchOwner[index]?.path ?? '')),
    );
    const procsOffset = this.files.length;
    for (const tracked of this.tracked.values()) {
      const refreshed = refreshAll || (pending.size > 0 && pending.has(tracked.path));
      due[tracked.batchOffset + procsOffset] = procsDue(tracked.network, tickNumber, this.rarelyChangingEveryTicks, refreshed) ? 1 : 0;
    }
    pending.clear();
    return { due, refreshed: (tracked) => refreshAll || refreshedPaths!.has(tracked.path) };
  }

  /** A further read in the same tick (the idle split, a re-created cgroup): merges it and adds up its counts. */
  private async readMore(due: Uint8Array, tickNumber: number, counts: { kept: number; opened: number; closedVanished: number }, vanishedIndexes: number[]): Promise<number> {
    const read = await this.keptFiles.read(MAX_FILE_BYTES, due);
    counts.kept += read.kept;
    counts.opened += read.opened;
    counts.closedVanished += read.closedVanished;
    vanishedIndexes.push(...read.vanishedIndexes);
    return this.mergeRead(due, read.results, tickNumber);
  }

  /** Whether a limit or weight of the cgroup at `offset` was read this tick (its sample must be assembled anew). */
  private scheduledFileRead(offset: number, tickNumber: number): boolean {
    for (let i = 0; i < this.files.length; i++) {
      if (this.batchRole[offset + i] === FileRole.Scheduled && this.batchLastRead[offset + i] === tickNumber) return true;
    }
    return false;
  }

  /** The first pid of a cgroup.procs text; a malformed one costs the network counters and one warning. */
  private safeFirstPid(text: string, batchIndex: number): number | undefined {
    try {
      return parseFirstPid(text);
    } catch (error) {
      this.warnOnce(this.batch[batchIndex]!, `cannot use ${this.batch[batchIndex]}: ${(error as Error).message}`);
      return undefined;
    }
  }

  /** Every file of the cgroup read this tick answered ENOENT/ENODEV (files not due are left out). */
  private vanished(offset: number, tickNumber: number): boolean {
    let readAny = false;
    for (let i = offset; i <= offset + this.files.length; i++) {
      if (this.batchLastRead[i] !== tickNumber) continue;
      const result = this.batchValues[i];
      if (result !== ENOENT && result !== ENODEV) return false;
      readAny = true;
    }
    return readAny;
  }

  private parseHost(results: ReadonlyArray<string | number>): HostSample {
    const [statText, meminfoText] = results;
    if (typeof statText !== 'string') {
      throw new Error(`cannot read ${this.procRoot}/stat: ${typeof statText === 'number' ? errnoCode(statText) : 'no result'}`);
    }
    const host: HostSample = { ...parseProcStat(statText) };
    if (typeof meminfoText === 'string') Object.assign(host, parseMeminfo(meminfoText));
    else this.warnOnce(`${this.procRoot}/meminfo`, `cannot read ${this.procRoot}/meminfo: ${errnoCode(Number(meminfoText))}`);
    return host;
  }

  /**
   * Network counters exist per namespace, not per cgroup: a cgroup gets them when its first process
   * lives in a namespace other than the agent's (a container). The root cgroup gets the host's.
   */
  private async collectNetwork(
    samples: Map<TrackedCgroup, CgroupSample>,
    firstPids: Map<TrackedCgroup, number>,
    procsReadThisTick: ReadonlySet<TrackedCgroup>,
    results: ReadonlyArray<string | number>,
  ): Promise<void> {
    for (const [tracked, sample] of samples) {
      if (tracked.path === '/' && typeof results[2] === 'string') sample.network = this.safeNetDev(results[2], `${this.procRoot}/net/dev`);
    }
    if (firstPids.size === 0) return;
    if (this.hostNetns === undefined) {
      // The agent's own namespace is "the host's"; a fixture /proc has no "self", so PID 1 stands in.
      const [own, init] = await readLinks([`${this.procRoot}/self/ns/net`, `${this.procRoot}/1/ns/net`]);
      this.hostNetns = typeof own === 'string' ? own : typeof init === 'string' ? init : '';
    }
    const entries = [...firstPids];
    const links = await readLinks(entries.map(([, pid]) => `${this.procRoot}/${pid}/ns/net`));
    // Several cgroups (a container and its children) often share one namespace: read it once.
    const byNamespace = new Map<string, { pid: number; cgroups: TrackedCgroup[] }>();
    const hostNetns = this.hostNetns;
    entries.forEach(([tracked, pid], index) => {
      const link = links[index];
      const namespace = typeof link === 'string' ? link : undefined;
      if (!recordNamespace(tracked.network, pid, namespace, hostNetns, procsReadThisTick.has(tracked)) || namespace === undefined) return;
      const group = byNamespace.get(namespace);
      if (group) group.cgroups.push(tracked);
      else byNamespace.set(namespace, { pid, cgroups: [tracked] });
    });
    if (byNamespace.size === 0) return;
    const groups = [...byNamespace.values()];
    const netDevPaths = groups.map(({ pid }) => `${this.procRoot}/${pid}/net/dev`);
    const texts = await readFiles(netDevPaths, MAX_FILE_BYTES);
    groups.forEach((group, index) => {
      const text = texts[index];
      // The process may have exited since cgroup.procs was read: then this tick has no network data.
      if (typeof text !== 'string') return;
      const interfaces = this.safeNetDev(text, netDevPaths[index]!);
      if (!interfaces) return;
      for (const tracked of group.cgroups) {
        const sample = samples.get(tracked);
        if (sample) sample.network = interfaces;
      }
    });
  }

  private safeNetDev(text: string, path: string): NetworkInterfaceSample[] | undefined {
    try {
      return parseNetDev(text);
    } catch (error) {
      this.warnOnce(path, `cannot parse ${path}: ${(error as Error).message}`);
      return undefined;
    }
  }

  private warnOnce(path: string, message: string): void {
    if (this.warnedPaths.has(path)) return;
    this.warnedPaths.add(path);
    this.emit('warning', message);
  }

  /** The file paths the next tick reads in its main batch (the benchmark feeds them to the C floor). */
  currentBatch(): readonly string[] {
    if (this.batchDirty) this.rebuildBatch();
    return this.batch;
  }

  /** The previous tick's host sample (for tests). */
  get lastHost(): HostSample | undefined {
    return this.previousHost;
  }
}

/**
 * An idle cgroup's sample: the one assembled from the very same texts last tick. A copy, since
 * the tick adds network counters to it afresh (they move without the cgroup's CPU: packets arrive).
 */
function idleSample(previous: CgroupSample): CgroupSample {
  const sample = { ...previous };
  delete sample.network;
  return sample;
}

/** Reads the blkio root once so the tick reads one blkio variant, not both (see files.ts). */
function probeBlkioThrottleOnly(layout: CgroupLayout): boolean {
  const blkio = layout.v1Mounts.blkio;
  if (!blkio) return true;
  const [probe] = readFilesSync([`${blkio}/blkio.io_service_bytes_recursive`], MAX_FILE_BYTES);
  return blkioThrottleOnlyFromProbe(probe!);
}

/**
 * An explicit budget must fit the open-file limit: past it every further open of the sweep, and
 * of the agent's sockets, fails with EMFILE, which would lose samples tick after tick. So the
 * limit is raised for it (root with CAP_SYS_RESOURCE may), or the budget is refused at start
 * with what to do instead.
 */
function ensureRoomForBudget(budget: number, limits: { soft: number; hard: number }): void {
  if (budget <= largestBudgetFor(limits.soft)) return;
  const raised = raiseOpenFileLimitTo(openFileLimitForBudget(budget));
  if (budget <= largestBudgetFor(raised.soft)) return;
  throw new SweepBudgetError(budgetRefusal(budget, raised, raised.error ? `${raised.error.syscall}: ${raised.error.code}` : undefined), raised.error);
}

/** An explicit sweep fd budget the open-file limit cannot hold; code and syscall are the failed raise's. */
export class SweepBudgetError extends Error {
  override name = 'SweepBudgetError';
  readonly code: string | undefined;
  readonly syscall: string | undefined;

  constructor(message: string, cause: { code: string; syscall: string } | undefined) {
    super(message);
    this.code = cause?.code;
    this.syscall = cause?.syscall;
  }
}
