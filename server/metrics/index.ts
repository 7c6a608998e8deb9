/**
 * Capstan's Prometheus exporter: cAdvisor's metric names, served from the collector's latest
 * snapshot. No cgroup file is read during a scrape.
 *
 * Two sources share one exposition:
 * - the container series (~25 per cgroup) are written by render.ts from the descriptor table in
 *   containers.ts, at most once per snapshot `sequence` and format (lazily, on the first scrape
 *   after a tick), and gzipped at most once too when a scraper asks for gzip;
 * - the machine_* and capstan_* families keep their state in prom-client (an injected Registry)
 *   and are written on every scrape, in the asked format, by exposition.ts.
 * Every family lives in exactly one of the two, so each HELP/TYPE appears once.
 *
 * A gzipped body is one gzip member whose deflate stream is pieces compressed apart (as pigz
 * does): the container part's pieces end in a sync flush, are compressed in parallel on libuv's
 * thread pool once per snapshot and format, and are shared by every scraper; the small fresh part
 * is the final piece. Gzip readers that stop after the first member (curl) read it whole.
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { Registry, type Metric } from 'prom-client';
import type { CollectorSnapshot, MachineInfo } from '../model';
import { BASE_LABEL_NAMES, CONTAINER_METRICS, counterTotals, type CollectContext, type FilesystemUsage } from './containers';
import { createDeviceNameResolver, deviceNumberLabel, type DeviceNameResolver } from './devices';
import { CONTENT_TYPES, ExpositionWriter, OPENMETRICS_EOF, writeFamilies, type ExpositionFormat, type FamilySamples } from './exposition';
import * as machineMetrics from './machine';
import type { ContainerLabelPolicy } from './labels';
import { ContainerRetention, DEFAULT_MAX_EXITED_CONTAINERS, type OwnedContainerFacts } from './retention';
import { ContainerSeriesRenderer } from './render';
import * as selfMetrics from './self';

export { CONTAINER_METRICS } from './containers';
export { ContainerLabelCache, ContainerSeriesRenderer, renderContainerMetrics } from './render';
export { acceptsGzip, negotiateFormat } from './negotiate';
export type { CollectContext, ContainerMetricDescriptor, FilesystemUsage, MetricValue } from './containers';
export { createDeviceNameResolver, parseUeventDevName } from './devices';
export type { DeviceNameResolver, DeviceNameResolverOptions } from './devices';
export { CONTENT_TYPES, ExpositionWriter, escapeLabelValue, escapeHelp, formatValue } from './exposition';
export type { ExpositionFormat } from './exposition';
export { ContainerRetention, DEFAULT_MAX_EXITED_CONTAINERS } from './retention';
export type { OwnedContainerFacts, RetainedView } from './retention';

export interface MetricsExporterOptions {
  /** The collector's latest complete snapshot; undefined before the first tick. */
  getSnapshot(): CollectorSnapshot | undefined;
  machine: MachineInfo;
  /** Capstan's version, for capstan_info. */
  version: string;
  /** Per-CPU usage series (cpu="cpu00"…) instead of cpu="total", on cgroup v1 only. Default false. */
  perCpu?: boolean;
  /** Block device number → `device` label. Default: /dev/<DEVNAME> from sysfs, cached. */
  deviceName?: (major: number, minor: number) => string;
  /** Host filesystems, reported on the root cgroup "/" as container_fs_usage_bytes / container_fs_limit_bytes. */
  filesystems?: () => ReadonlyArray<FilesystemUsage>;
  /** OOM kill counts keyed by container name (surviving re-creation); wins over the cgroup's own counter. */
  oomCounts?: () => ReadonlyMap<string, number>;
  /** When each container name's last OOM kill happened (container_last_oom_timestamp_seconds). Units: milliseconds since the Unix epoch. */
  lastOomTimes?: () => ReadonlyMap<string, number>;
  /** The collector's configured interval, exported as capstan_collector_interval_seconds. Units: seconds. */
  intervalSeconds?: number;
  /** prom-client registry for the machine_* and capstan_* families. Default: a fresh one (never the global). */
  registry?: Registry;
  /** Which container labels become container_label_* series labels. Default: none. */
  labelPolicy?: ContainerLabelPolicy;
  /** The container sources that talk to an engine, for capstan_source_up. */
  sourceStates?: () => ReadonlyArray<{ source: string; up: boolean }>;
  /**
   * Every container of capstan's runtime and the engines, running or not (in memory, asked once
   * per tick). With it, exited containers keep their series until removed, with container_state.
   */
  owned?: () => readonly OwnedContainerFacts[];
  /** Exited containers whose series are kept, oldest dropped first. Default 500. Units: containers. */
  maxExitedContainers?: number;
}

/** One metric family as documented in the README table. */
export interface MetricDescription {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  unit: string;
  help: string;
  /** Every label name, base labels included. */
  labels: string[];
  /** Emitted when stats come from cgroup v1. */
  v1: boolean;
  /** Emitted when stats come from cgroup v2. */
  v2: boolean;
}

/** Every family the exporter can emit: container, machine, then capstan self-metrics. */
export function describeMetrics(): MetricDescription[] {
  return [
    ...CONTAINER_METRICS.map((d) => ({
      name: d.name,
      type: d.type,
      unit: d.unit,
      help: d.help,
      labels: [...BASE_LABEL_NAMES, ...d.labelNames],
      v1: d.availability.v1,
      v2: d.availability.v2,
    })),
    ...machineMetrics.MACHINE_METRICS.map((m) => ({
      name: m.name,
      type: 'gauge' as const,
      unit: m.unit,
      help: m.help,
      labels: [...machineMetrics.MACHINE_LABEL_NAMES],
      v1: true,
      v2: true,
    })),
    ...selfMetrics.SELF_METRICS.map((m) => ({ name: m.name, type: m.type, unit: m.unit, help: m.help, labels: [...m.labels], v1: true, v2: true })),
  ];
}

const CONTAINER_FAMILY_NAMES: ReadonlySet<string> = new Set(CONTAINER_METRICS.map((d) => d.name));

/**
 * zlib level of gzipped bodies. Exposition text is highly repetitive: level 1 already shrinks it
 * about as much as the default level 6 does, at half the CPU time (see BENCHMARKS.md).
 */
const GZIP_LEVEL = 1;
/**
 * A render gives the event loop a turn after about this long (between two families), so a
 * collector tick due meanwhile starts at most about this late. Units: milliseconds.
 */
const RENDER_SLICE_MS = 4;
/** The container part is deflated in pieces of about this size, in parallel. Units: bytes. */
const DEFLATE_PIECE_BYTES = 512 * 1024;
/** RFC 1952 member header: deflate, no flags, no mtime, OS unknown. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff]);
const deflateRaw = promisify(zlib.deflateRaw);

/** Raw deflate data of some text, not final (it ends in a sync flush), and the text's CRC-32 and length. */
interface DeflatedPieces {
  chunks: Buffer[];
  crc32: number;
  /** Units: bytes (uncompressed). */
  length: number;
}

/** `text` deflated in pieces cut after a line feed near every DEFLATE_PIECE_BYTES, each ending in a sync flush. */
async function deflateInPieces(text: Buffer): Promise<DeflatedPieces> {
  const pieces: Array<Promise<Buffer>> = [];
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf(0x0a, Math.min(start + DEFLATE_PIECE_BYTES, text.length - 1));
    const end = newline === -1 ? text.length : newline + 1;
    // A sync flush ends the piece on a byte boundary without a final block, so the next piece's
    // deflate data may follow it directly; pieces never refer back to each other.
    pieces.push(deflateRaw(text.subarray(start, end), { level: GZIP_LEVEL, finishFlush: zlib.constants.Z_SYNC_FLUSH }));
    start = end;
  }
  return { chunks: await Promise.all(pieces), crc32: zlib.crc32(text), length: text.length };
}

/** One gzip member: header, the pieces, `rest` as the final piece, CRC-32 and size of all of it. */
async function gzipMember(pieces: DeflatedPieces, rest: Buffer): Promise<Buffer[]> {
  const final = await deflateRaw(rest, { level: GZIP_LEVEL });
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlib.crc32(rest, pieces.crc32) >>> 0, 0);
  trailer.writeUInt32LE((pieces.length + rest.length) % 2 ** 32, 4);
  return [GZIP_HEADER, ...pieces.chunks, final, trailer];
}

const NO_PIECES: DeflatedPieces = { chunks: [], crc32: 0, length: 0 };

export interface ScrapeRequest {
  /** Default: the text format. */
  format?: ExpositionFormat;
  /** Gzip the body (the scraper sent `Accept-Encoding: gzip`). Default false. */
  gzip?: boolean;
}

/** One /metrics answer: the body as chunks to send in order (the first is shared, never modify it). */
export interface ScrapeBody {
  contentType: string;
  contentEncoding?: 'gzip';
  chunks: Buffer[];
  /** Units: bytes. */
  length: number;
}

/** The container part of one snapshot in one format. */
interface ContainerPart {
  plain: Buffer;
  /** Started by the first scraper that asks for gzip; later ones share it. */
  deflated?: Promise<DeflatedPieces>;
}

export class MetricsExporter {
  /** Content-Type of render()'s output (Prometheus text format 0.0.4). */
  readonly contentType: string = CONTENT_TYPES.text;

  private readonly options: MetricsExporterOptions;
  private readonly registry: Registry;
  private readonly self: selfMetrics.SelfMetrics;
  private readonly deviceName: DeviceNameResolver;
  /** Reused by every render: after the first tick it is already as large as the text needs. */
  private readonly writer = new ExpositionWriter();
  private readonly selfWriter = new ExpositionWriter(16 * 1024);
  private readonly series = new ContainerSeriesRenderer();
  private cache: { snapshot: CollectorSnapshot; sequence: number; parts: Map<ExpositionFormat, Promise<ContainerPart>> } | undefined;
  /** The render under way (renders share `writer`, so they run one after the other). */
  private rendering: Promise<unknown> = Promise.resolve();
  private renders = 0;
  private lastTickSequence: number | undefined;
  private readonly retention: ContainerRetention | undefined;
  /** The snapshot being taken in by the retention (for the context of carried counters). */
  private observing: CollectorSnapshot | undefined;

  constructor(options: MetricsExporterOptions) {
    this.options = options;
    this.registry = options.registry ?? new Registry();
    // The format is chosen per scrape, here; prom-client's OpenMetrics mode renames counters in
    // place (drops their _total), which would break the families this exporter writes from them.
    if (this.registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) {
      throw new TypeError(`MetricsExporter needs a registry with content type "${Registry.PROMETHEUS_CONTENT_TYPE}", got "${this.registry.contentType}"`);
    }
    this.deviceName = options.deviceName ?? createDeviceNameResolver({ onError: () => this.self.recordWarning() });
    if (options.owned !== undefined) {
      const owned = options.owned;
      this.retention = new ContainerRetention({
        maxExited: options.maxExitedContainers ?? DEFAULT_MAX_EXITED_CONTAINERS,
        owned,
        counterTotals: (container, carried) => counterTotals(container, this.contextFor(this.observing!), carried),
        onError: () => this.self.recordWarning(),
      });
    }
    machineMetrics.register(this.registry, options.machine);
    this.self = selfMetrics.register(this.registry, {
      version: options.version,
      kernel: options.machine.kernel,
      getSnapshot: () => options.getSnapshot(),
      ...(options.intervalSeconds !== undefined && { intervalSeconds: options.intervalSeconds }),
      ...(options.sourceStates !== undefined && { sourceStates: options.sourceStates }),
    });
  }

  /** How many times the container series were actually rendered (not served from the cache). */
  get containerRenderCount(): number {
    return this.renders;
  }

  /** The full exposition as text: container series of the latest snapshot, then machine and self metrics. */
  async render(format: ExpositionFormat = 'text'): Promise<string> {
    const { chunks } = await this.scrape({ format });
    return Buffer.concat(chunks).toString('utf8');
  }

  /** One scrape's body in the asked format, gzipped or not. */
  async scrape(request: ScrapeRequest = {}): Promise<ScrapeBody> {
    const format = request.format ?? 'text';
    const part = await this.containerPart(format);
    this.assertNoSharedFamilies();
    const rest = await this.selfPart(format);
    const contentType = CONTENT_TYPES[format];
    if (request.gzip !== true) {
      const chunks = part === undefined ? [rest] : [part.plain, rest];
      return { contentType, chunks, length: (part?.plain.length ?? 0) + rest.length };
    }
    const pieces = part === undefined ? NO_PIECES : await (part.deflated ??= deflateInPieces(part.plain));
    const chunks = await gzipMember(pieces, rest);
    return { contentType, contentEncoding: 'gzip', chunks, length: chunks.reduce((sum, chunk) => sum + chunk.length, 0) };
  }

  /** Called by the agent after each tick: feeds capstan_collector_tick_duration_seconds (once per sequence). */
  recordTick(snapshot: CollectorSnapshot): void {
    if (snapshot.sequence === this.lastTickSequence) return;
    this.lastTickSequence = snapshot.sequence;
    this.self.observeTick(snapshot.tickDurationSeconds);
    // Every tick, not only scraped ones: a container that lived between two scrapes is kept.
    this.observe(snapshot);
  }

  private observe(snapshot: CollectorSnapshot) {
    if (this.retention === undefined) return undefined;
    this.observing = snapshot;
    try {
      return this.retention.observe(snapshot);
    } finally {
      this.observing = undefined;
    }
  }

  /** Counts one collector warning in capstan_collector_warnings_total. */
  recordWarning(): void {
    this.self.recordWarning();
  }

  /** The machine_* and capstan_* families, fresh (they are few); in OpenMetrics with the closing `# EOF`. */
  private async selfPart(format: ExpositionFormat): Promise<Buffer> {
    const families: FamilySamples[] = [];
    for (const metric of this.registry.getMetricsAsArray() as unknown as Array<Metric<string>>) families.push((await metric.get()) as unknown as FamilySamples);
    const writer = this.selfWriter;
    writer.reset();
    writeFamilies(writer, families, format);
    if (format === 'openmetrics') writer.ascii(OPENMETRICS_EOF);
    return writer.toBuffer();
  }

  /**
   * The container families for the current snapshot, rendered at most once per snapshot and
   * format: scrapers that arrive during a render wait for it. Renders run one at a time (they share
   * the writer) and in slices, so a collector tick never waits for a whole render.
   */
  private containerPart(format: ExpositionFormat): Promise<ContainerPart> | undefined {
    const snapshot = this.options.getSnapshot();
    if (snapshot === undefined) return undefined;
    let cached = this.cache;
    if (cached === undefined || cached.snapshot !== snapshot || cached.sequence !== snapshot.sequence) {
      cached = { snapshot, sequence: snapshot.sequence, parts: new Map() };
      this.cache = cached;
    }
    const existing = cached.parts.get(format);
    if (existing !== undefined) return existing;

    const ctx = this.contextFor(snapshot);
    const view = this.observe(snapshot);
    if (view !== undefined) {
      ctx.carried = view.carried;
      ctx.owned = view.owned;
    }
    const containers = view?.containers ?? snapshot.containers;
    const part = this.rendering.then(async (): Promise<ContainerPart> => {
      this.writer.reset();
      const busyMs = await this.series.writeInSlices(containers, ctx, format, this.writer, RENDER_SLICE_MS);
      const rendered: ContainerPart = { plain: this.writer.toBuffer() };
      this.renders += 1;
      this.self.observeRender(busyMs / 1000);
      return rendered;
    });
    this.rendering = part.catch(() => undefined);
    const parts = cached.parts;
    parts.set(format, part);
    // A failed render is not kept: the next scrape tries again.
    part.catch(() => parts.delete(format));
    return part;
  }

  private contextFor(snapshot: CollectorSnapshot): CollectContext {
    const resolve = this.deviceName;
    const ctx: CollectContext = {
      cgroupVersion: snapshot.layout.controllersOn,
      perCpu: this.options.perCpu === true,
      onlineCpus: snapshot.host.onlineCpus,
      snapshotTimestampMs: snapshot.timestampMs,
      deviceName: (major, minor) => {
        try {
          return resolve(major, minor);
        } catch {
          return deviceNumberLabel(major, minor);
        }
      },
    };
    // The optional sources are read once per render. One failing must not break the scrape
    // (node_exporter's rule): its series are left out and a warning is counted.
    const oomCounts = this.optional(this.options.oomCounts);
    if (oomCounts !== undefined) ctx.oomCounts = oomCounts;
    const lastOomTimes = this.optional(this.options.lastOomTimes);
    if (lastOomTimes !== undefined) ctx.lastOomTimesMs = lastOomTimes;
    const filesystems = this.optional(this.options.filesystems);
    if (filesystems !== undefined) ctx.filesystems = filesystems;
    if (this.options.labelPolicy !== undefined) ctx.labelPolicy = this.options.labelPolicy;
    return ctx;
  }

  private optional<T>(source: (() => T) | undefined): T | undefined {
    if (source === undefined) return undefined;
    try {
      return source();
    } catch {
      this.self.recordWarning();
      return undefined;
    }
  }

  /** A family registered in prom-client under a container name would print a second HELP/TYPE. */
  private assertNoSharedFamilies(): void {
    for (const { name } of this.registry.getMetricsAsArray()) {
      if (CONTAINER_FAMILY_NAMES.has(name)) {
        throw new Error(`metric family ${name} is rendered by MetricsExporter and must not also be registered in its prom-client registry`);
      }
    }
  }
}
