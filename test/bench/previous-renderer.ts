/**
 * The container-series renderer as it was before the label cache and the single-value fast path
 * (one label string per container per render, collect() arrays per sample, String() per value):
 * the metrics benchmark's baseline, rendered over the same snapshot in the same run.
 */
import { baseLabels, carries, CONTAINER_METRICS, seriesKey, type CollectContext, type ContainerMetricDescriptor } from '../../server/metrics/containers';
import { escapeLabelValue, ExpositionWriter, familyHeader, formatValue } from '../../server/metrics/exposition';
import type { ContainerSnapshot } from '../../server/model';

const LINE_FEED = 0x0a;
const CLOSE_BRACE_SPACE = Buffer.from('} ');

/**
 * Renders every container family of a snapshot as exposition text. Families with no series are
 * left out. Pure apart from the context's callbacks; `writer` lets a caller reuse its buffer.
 */
export function renderContainerMetricsBefore(
  containers: readonly ContainerSnapshot[],
  ctx: CollectContext,
  descriptors: readonly ContainerMetricDescriptor[] = CONTAINER_METRICS,
  writer: ExpositionWriter = new ExpositionWriter(),
): string {
  writer.reset();
  const bases = containers.map((c) => Buffer.from(baseLabels(c, ctx.labelPolicy)));
  const version = ctx.cgroupVersion === 1 ? 'v1' : 'v2';
  for (const d of descriptors) {
    if (!d.availability[version]) continue;
    const extra = d.labelNames;
    const linePrefix = Buffer.from(`${d.name}{`);
    const familyStart = writer.length;
    writer.text(familyHeader(d.name, d.help, d.type));
    const headerEnd = writer.length;
    const carriesValues = carries(d) && ctx.carried !== undefined && ctx.carried.size > 0;
    for (let i = 0; i < containers.length; i++) {
      const values = d.collect(containers[i]!, ctx);
      if (values === undefined) continue;
      const carried = carriesValues ? ctx.carried!.get(containers[i]!.info.id) : undefined;
      for (const v of values) {
        // A non-finite value can only come from a bad sample; unknown is better than a fake value.
        if (!Number.isFinite(v.value)) continue;
        const value = carried === undefined ? v.value : v.value + (carried.get(seriesKey(d.name, v.labels)) ?? 0);
        writer.bytes(linePrefix);
        writer.bytes(bases[i]!);
        for (let k = 0; k < extra.length; k++) writer.text(`,${extra[k]}="${escapeLabelValue(v.labels?.[k] ?? '')}"`);
        writer.bytes(CLOSE_BRACE_SPACE);
        writer.ascii(formatValue(value));
        writer.byte(LINE_FEED);
      }
    }
    if (writer.length === headerEnd) writer.truncate(familyStart); // no series: no family
  }
  return writer.toString();
}
