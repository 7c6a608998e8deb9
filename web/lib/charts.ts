/**
 * Time-series charts on chart.js, registering only what a line chart on a linear time axis needs
 * (the rest of chart.js is tree-shaken away). Each chart lives in a <figure> whose caption states
 * the latest values in words (for screen readers, and for tests: data-points and data-limit).
 * Colours come from CSS custom properties, so light and dark follow prefers-color-scheme.
 */
import {
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartDataset,
} from 'chart.js';
import { cssVar, h } from './dom';
import { UNKNOWN } from './format';

Chart.register(LineController, LineElement, PointElement, LinearScale, Filler, Tooltip, Legend);

/** The shortest time axis drawn. Units: milliseconds. */
const MIN_SPAN_MS = 60_000;

export type Value = number | null | undefined;

export interface SeriesSpec {
  label: string;
  /** A CSS custom property holding the colour, e.g. "--series-1". */
  color: string;
  /** A limit: dashed and stepped, not filled; its latest value goes into data-limit. */
  limit?: boolean;
  fill?: boolean;
}

export interface TimeChartOptions {
  id: string;
  title: string;
  series: SeriesSpec[];
  /** Formats a value for the axis, the tooltip and the caption. */
  format: (value: number) => string;
  /** Fixed lower bound (0 for everything here). */
  min?: number;
  /** Suggested upper bound (the axis grows past it). */
  suggestedMax?: number;
  /** Fixed upper bound (100 for percentages of the whole host). */
  max?: number;
  /** Whole-number axis (counts). */
  integer?: boolean;
  /** Byte axis: ticks on powers of two (0, 16MiB, 32MiB, ...) instead of decimal steps. */
  binary?: boolean;
  /** Time shown. Units: milliseconds. */
  windowMs: number;
}

interface Point {
  x: number;
  y: number | null;
}

const charts = new Set<TimeChart>();
// Follow the colour scheme live: rebuild colours when it flips.
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  for (const chart of charts) chart.applyColors();
});

export class TimeChart {
  readonly figure: HTMLElement;
  private readonly caption: HTMLElement;
  private readonly chart: Chart<'line', Point[]>;
  private readonly data: Point[][];
  /** The frame a redraw waits for, if one is scheduled. */
  private pendingFrame: number | undefined;
  private destroyed = false;

  constructor(private readonly options: TimeChartOptions) {
    const canvas = h('canvas', { role: 'img', 'aria-label': options.title });
    this.caption = h('figcaption', { class: 'chart-caption' });
    this.figure = h(
      'figure',
      { class: 'chart', id: options.id, 'data-points': '0', 'data-limit': '' },
      h('div', { class: 'chart-title' }, options.title),
      h('div', { class: 'chart-box' }, canvas),
      this.caption,
    );
    this.data = options.series.map(() => []);
    const datasets: Array<ChartDataset<'line', Point[]>> = options.series.map((series, index) => ({
      label: series.label,
      data: this.data[index]!,
      borderWidth: series.limit ? 1.5 : 1.5,
      pointRadius: 0,
      pointHitRadius: 4,
      stepped: series.limit ? 'before' : false,
      borderDash: series.limit ? [6, 4] : [],
      fill: series.fill ? 'origin' : false,
      spanGaps: false,
      tension: 0,
    }));
    this.chart = new Chart<'line', Point[]>(canvas, {
      type: 'line',
      data: { datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: {
            type: 'linear',
            ticks: { maxTicksLimit: 6, callback: (value) => new Date(Number(value)).toLocaleTimeString([], { hour12: false }) },
          },
          y: {
            ...(options.min !== undefined && { min: options.min }),
            ...(options.suggestedMax !== undefined && { suggestedMax: options.suggestedMax }),
            ...(options.max !== undefined && { max: options.max }),
            ticks: { maxTicksLimit: 5, ...(options.integer && { precision: 0 }), callback: (value) => options.format(Number(value)) },
          },
        },
        plugins: {
          legend: { display: options.series.length > 1, labels: { boxWidth: 12, boxHeight: 2 } },
          tooltip: {
            callbacks: {
              title: (items) => (items[0] ? new Date(items[0].parsed.x ?? 0).toLocaleTimeString([], { hour12: false }) : ''),
              label: (item) => `${item.dataset.label ?? ''}: ${item.parsed.y === null ? UNKNOWN : options.format(item.parsed.y)}`,
            },
          },
        },
      },
    });
    this.applyColors();
    charts.add(this);
  }

  /** Replaces every point: rows of [timestamp, value per series]. */
  setData(timestampsMs: readonly number[], columns: ReadonlyArray<readonly Value[]>): void {
    this.data.forEach((points, series) => {
      points.length = 0;
      const column = columns[series] ?? [];
      timestampsMs.forEach((t, i) => points.push({ x: t, y: toY(column[i]) }));
    });
    this.schedule();
  }

  /** Appends one point per series (ignored when not newer than the last point). */
  push(timestampMs: number, values: readonly Value[]): void {
    const last = this.data[0]?.[this.data[0].length - 1];
    if (last && last.x >= timestampMs) return;
    this.data.forEach((points, series) => points.push({ x: timestampMs, y: toY(values[series]) }));
    this.schedule();
  }

  /** Overrides the newest value of one series (a limit changed between ticks). */
  setLatest(series: number, value: Value): void {
    const points = this.data[series];
    const last = points?.[points.length - 1];
    if (!last) return;
    last.y = toY(value);
    this.schedule();
  }

  applyColors(): void {
    const grid = cssVar('--chart-grid');
    const text = cssVar('--text-muted');
    this.options.series.forEach((series, index) => {
      const dataset = this.chart.data.datasets[index]!;
      const color = cssVar(series.color);
      dataset.borderColor = color;
      dataset.backgroundColor = series.fill ? withAlpha(color, 0.15) : color;
    });
    for (const scale of ['x', 'y'] as const) {
      const options = this.chart.options.scales?.[scale];
      if (!options) continue;
      options.grid = { color: grid };
      options.ticks = { ...options.ticks, color: text };
    }
    if (this.chart.options.plugins?.legend?.labels) this.chart.options.plugins.legend.labels.color = text;
    this.chart.update('none');
  }

  destroy(): void {
    // A redraw already scheduled would update a chart whose canvas is gone (chart.js then throws
    // reading the canvas' ownerDocument): leaving a page with live charts cancels it.
    if (this.pendingFrame !== undefined) cancelAnimationFrame(this.pendingFrame);
    this.pendingFrame = undefined;
    this.destroyed = true;
    charts.delete(this);
    this.chart.destroy();
  }

  /** One redraw per animation frame at most, whatever the number of pushes. */
  private schedule(): void {
    // Data can still arrive for a page being left (a live delta already on its way).
    if (this.pendingFrame !== undefined || this.destroyed) return;
    this.pendingFrame = requestAnimationFrame(() => {
      this.pendingFrame = undefined;
      this.render();
    });
  }

  private render(): void {
    const newest = this.data[0]?.[this.data[0].length - 1]?.x;
    if (newest !== undefined) {
      const cutoff = newest - this.options.windowMs;
      for (const points of this.data) {
        let drop = 0;
        while (drop < points.length && points[drop]!.x < cutoff) drop++;
        if (drop > 0) points.splice(0, drop);
      }
      // A young agent has less history than the window: show what there is (a minute at least)
      // instead of a mostly empty chart.
      const oldest = this.data[0]![0]!.x;
      const x = this.chart.options.scales!['x']!;
      x.min = Math.max(cutoff, Math.min(oldest, newest - MIN_SPAN_MS));
      x.max = newest;
    }
    if (this.options.binary) {
      let max = 0;
      for (const points of this.data) for (const point of points) if (point.y !== null && point.y > max) max = point.y;
      const y = this.chart.options.scales!['y']! as { ticks: { stepSize?: number } };
      y.ticks.stepSize = binaryStep(max);
    }
    // A lone sample has no line to draw: show it as a dot until the next one arrives.
    this.chart.data.datasets.forEach((dataset, index) => {
      dataset.pointRadius = (this.data[index]?.length ?? 0) < 2 ? 2.5 : 0;
    });
    this.chart.update('none');
    this.updateCaption();
  }

  private updateCaption(): void {
    const parts: string[] = [];
    let limit = '';
    this.options.series.forEach((series, index) => {
      const points = this.data[index]!;
      const y = points[points.length - 1]?.y ?? null;
      if (series.limit) {
        if (y !== null) {
          limit = String(y);
          parts.push(`${series.label} ${this.options.format(y)}`);
        } else {
          parts.push(`${series.label}: none`);
        }
      } else {
        parts.push(`${series.label} ${y === null ? UNKNOWN : this.options.format(y)}`);
      }
    });
    this.caption.textContent = parts.join(' · ');
    this.figure.dataset['points'] = String(this.data[0]?.length ?? 0);
    this.figure.dataset['limit'] = limit;
  }
}

/** The power of two that splits 0..max into at most four steps (at least 1). */
export function binaryStep(max: number): number {
  if (!(max > 0)) return 1;
  return 2 ** Math.max(0, Math.ceil(Math.log2(max / 4)));
}

function toY(value: Value): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** "#rrggbb" or "rgb(...)" with an alpha. */
function withAlpha(color: string, alpha: number): string {
  const hex = /^#([0-9a-f]{6})$/i.exec(color);
  if (hex) {
    const n = Number.parseInt(hex[1]!, 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }
  return color;
}
