/**
 * Writes the container series of one snapshot into a reused buffer, in either exposition format.
 *
 * Per sample it copies bytes that already exist: the family's `name{`, the container's label
 * string (built once per container and kept while its identity does not change, see
 * ContainerLabelCache), the family's own label pairs (cached by value), and the value written digit
 * by digit. No string per sample, no escaping per sample. Pure apart from the context's callbacks.
 */
import { performance } from 'node:perf_hooks';
import type { ContainerInfo, ContainerSnapshot } from '../model';
import { baseLabels, carries, CONTAINER_METRICS, seriesKey, type CollectContext, type ContainerMetricDescriptor } from './containers';
import { escapeLabelValue, ExpositionWriter, familyHeader, type ExpositionFormat } from './exposition';
import type { ContainerLabelPolicy } from './labels';

const LINE_FEED = 0x0a;
const CLOSE_BRACE_SPACE = Buffer.from('} ');
/** A family's cache of its own label pairs is dropped past this many distinct value sets (interfaces, devices, CPUs). */
const MAX_CACHED_OWN_LABEL_SETS = 4096;

interface CachedLabels {
  /** What the string was built from; any of them changing (a rename, an update, a new description) rebuilds it. */
  info: ContainerInfo;
  name: string;
  image: string;
  cgroupPath: string;
  labels: Record<string, string>;
  env: Record<string, string> | undefined;
  policy: ContainerLabelPolicy | undefined;
  /** `id="…",name="…",image="…"` plus container_label_* / container_env_* pairs, escaped, UTF-8. */
  bytes: Buffer;
  /** The render that last used it (entries unused by a render are dropped after it). */
  render: number;
}

/**
 * Each container's label string, by container id. An entry is reused while the container's
 * description is the same object with the same name, image, path, labels and env (the collector
 * replaces the description when a source learns something new: a rename, an engine's update).
 */
export class ContainerLabelCache {
  private readonly entries = new Map<string, CachedLabels>();
  private render = 0;
  /** How many label strings were built (not reused) so far. Units: strings. */
  built = 0;

  /** Starts a render: entries no render uses from now until end() are dropped then. */
  begin(): void {
    this.render++;
  }

  /** The label bytes of one container. */
  get(container: ContainerSnapshot, policy: ContainerLabelPolicy | undefined): Buffer {
    const info = container.info;
    const cached = this.entries.get(info.id);
    if (
      cached !== undefined &&
      cached.info === info &&
      cached.name === info.name &&
      cached.image === info.image &&
      cached.cgroupPath === info.cgroupPath &&
      cached.labels === info.labels &&
      cached.env === info.env &&
      cached.policy === policy
    ) {
      cached.render = this.render;
      return cached.bytes;
    }
    const bytes = Buffer.from(baseLabels(container, policy));
    this.built++;
    this.entries.set(info.id, {
      info,
      name: info.name,
      image: info.image,
      cgroupPath: info.cgroupPath,
      labels: info.labels,
      env: info.env,
      policy,
      bytes,
      render: this.render,
    });
    return bytes;
  }

  /** Ends a render: containers it did not see (gone, removed) lose their entries. */
  end(): void {
    for (const [id, entry] of this.entries) if (entry.render !== this.render) this.entries.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** One render's inputs, shared by its families. */
interface RenderState {
  containers: readonly ContainerSnapshot[];
  ctx: CollectContext;
  /** Each container's label bytes, by index. */
  bases: Buffer[];
  version: 'v1' | 'v2';
  carried: CollectContext['carried'];
}

/** What a family needs on every render, built once. */
interface FamilyParts {
  /** `name{` */
  linePrefix: Buffer;
  headers: Record<ExpositionFormat, Buffer>;
  /** `,label="value"…` by the family's own label values joined with NUL. */
  ownLabels: Map<string, Buffer>;
}

/** Renders container series; keep one per exporter so that its caches carry over from tick to tick. */
export class ContainerSeriesRenderer {
  readonly labels = new ContainerLabelCache();
  private readonly families = new Map<ContainerMetricDescriptor, FamilyParts>();

  constructor(private readonly descriptors: readonly ContainerMetricDescriptor[] = CONTAINER_METRICS) {}

  /** Appends every container family with at least one series to `writer`. */
  write(containers: readonly ContainerSnapshot[], ctx: CollectContext, format: ExpositionFormat, writer: ExpositionWriter): void {
    const render = this.begin(containers, ctx);
    for (const d of this.descriptors) this.writeFamily(d, render, format, writer);
  }

  /**
   * The same bytes as write(), but it gives the event loop a turn whenever `sliceMs` have passed
   * (between two families), so a render of thousands of containers never holds up a collector
   * tick or another request for longer than about one slice. `writer` must not be used by
   * anything else until the promise settles. Resolves with the time spent writing, the turns
   * given away not counted. Units: milliseconds.
   */
  async writeInSlices(
    containers: readonly ContainerSnapshot[],
    ctx: CollectContext,
    format: ExpositionFormat,
    writer: ExpositionWriter,
    sliceMs: number,
  ): Promise<number> {
    let sliceStart = performance.now();
    const render = this.begin(containers, ctx);
    let busyMs = 0;
    for (const d of this.descriptors) {
      this.writeFamily(d, render, format, writer);
      const now = performance.now();
      if (now - sliceStart >= sliceMs) {
        busyMs += now - sliceStart;
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
    return busyMs + (performance.now() - sliceStart);
  }

  private begin(containers: readonly ContainerSnapshot[], ctx: CollectContext): RenderState {
    this.labels.begin();
    const bases = new Array<Buffer>(containers.length);
    for (let i = 0; i < containers.length; i++) bases[i] = this.labels.get(containers[i]!, ctx.labelPolicy);
    this.labels.end();
    return {
      containers,
      ctx,
      bases,
      version: ctx.cgroupVersion === 1 ? 'v1' : 'v2',
      carried: ctx.carried !== undefined && ctx.carried.size > 0 ? ctx.carried : undefined,
    };
  }

  private writeFamily(d: ContainerMetricDescriptor, render: RenderState, format: ExpositionFormat, writer: ExpositionWriter): void {
    const { containers, ctx, bases } = render;
    if (!d.availability[render.version]) return;
    const parts = this.partsOf(d);
    const familyStart = writer.length;
    writer.bytes(parts.headers[format]);
    const headerEnd = writer.length;
    const carriedFamily = render.carried !== undefined && carries(d) ? render.carried : undefined;
    const single = d.value;
    for (let i = 0; i < containers.length; i++) {
      const container = containers[i]!;
      const carriedHere = carriedFamily?.get(container.info.id);
      if (single !== undefined) {
        const value = single(container, ctx);
        // A non-finite value can only come from a bad sample; unknown is better than a fake value.
        if (value === undefined || !Number.isFinite(value)) continue;
        writer.bytes(parts.linePrefix);
        writer.bytes(bases[i]!);
        writer.bytes(CLOSE_BRACE_SPACE);
        writer.number(carriedHere === undefined ? value : value + (carriedHere.get(d.name) ?? 0));
        writer.byte(LINE_FEED);
        continue;
      }
      const values = d.collect(container, ctx);
      if (values === undefined) continue;
      for (const v of values) {
        if (!Number.isFinite(v.value)) continue;
        writer.bytes(parts.linePrefix);
        writer.bytes(bases[i]!);
        if (d.labelNames.length > 0) writer.bytes(this.ownLabelsOf(d, parts, v.labels));
        writer.bytes(CLOSE_BRACE_SPACE);
        writer.number(carriedHere === undefined ? v.value : v.value + (carriedHere.get(seriesKey(d.name, v.labels)) ?? 0));
        writer.byte(LINE_FEED);
      }
    }
    if (writer.length === headerEnd) writer.truncate(familyStart); // no series: no family
  }

  private partsOf(d: ContainerMetricDescriptor): FamilyParts {
    let parts = this.families.get(d);
    if (parts === undefined) {
      parts = {
        linePrefix: Buffer.from(`${d.name}{`),
        headers: {
          text: Buffer.from(familyHeader(d.name, d.help, d.type, 'text')),
          openmetrics: Buffer.from(familyHeader(d.name, d.help, d.type, 'openmetrics')),
        },
        ownLabels: new Map(),
      };
      this.families.set(d, parts);
    }
    return parts;
  }

  private ownLabelsOf(d: ContainerMetricDescriptor, parts: FamilyParts, values: readonly string[] | undefined): Buffer {
    const key = values === undefined ? '' : values.length === 1 ? values[0]! : values.join('\u0000');
    let bytes = parts.ownLabels.get(key);
    if (bytes === undefined) {
      let pairs = '';
      for (let k = 0; k < d.labelNames.length; k++) pairs += `,${d.labelNames[k]}="${escapeLabelValue(values?.[k] ?? '')}"`;
      bytes = Buffer.from(pairs);
      if (parts.ownLabels.size >= MAX_CACHED_OWN_LABEL_SETS) parts.ownLabels.clear();
      parts.ownLabels.set(key, bytes);
    }
    return bytes;
  }
}

/**
 * Renders every container family of a snapshot as exposition text (a one-off: the exporter keeps
 * a ContainerSeriesRenderer so its caches outlive one render).
 */
export function renderContainerMetrics(
  containers: readonly ContainerSnapshot[],
  ctx: CollectContext,
  descriptors: readonly ContainerMetricDescriptor[] = CONTAINER_METRICS,
  writer: ExpositionWriter = new ExpositionWriter(),
  format: ExpositionFormat = 'text',
): string {
  writer.reset();
  new ContainerSeriesRenderer(descriptors).write(containers, ctx, format, writer);
  return writer.toString();
}
