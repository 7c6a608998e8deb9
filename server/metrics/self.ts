/**
 * capstan_* self-metrics: how the collector and the exporter themselves behave. Kept by
 * prom-client in an injected registry and written by exposition.ts (writeFamilies) in either format.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CgroupMode, CollectorSnapshot } from '../model';

export interface SelfMetricDescription {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  unit: string;
  labels: readonly string[];
}

export const TICK_DURATION = 'capstan_collector_tick_duration_seconds';
export const CGROUPS_TRACKED = 'capstan_cgroups_tracked';
export const SCRAPE_DURATION = 'capstan_scrape_duration_seconds';
export const COLLECTOR_WARNINGS = 'capstan_collector_warnings_total';
export const INFO = 'capstan_info';
export const COLLECTOR_INTERVAL = 'capstan_collector_interval_seconds';
export const SOURCE_UP = 'capstan_source_up';

const INFO_LABELS = ['version', 'cgroup_mode', 'kernel'] as const;
type InfoLabel = (typeof INFO_LABELS)[number];

export const SELF_METRICS: readonly SelfMetricDescription[] = [
  { name: TICK_DURATION, type: 'histogram', unit: 'seconds', labels: [], help: 'Duration of collector ticks (reads and derivation).' },
  { name: CGROUPS_TRACKED, type: 'gauge', unit: 'cgroups', labels: [], help: 'Number of cgroups in the latest collector snapshot.' },
  {
    name: SCRAPE_DURATION,
    type: 'histogram',
    unit: 'seconds',
    labels: [],
    help: 'Time spent rendering the container series of one snapshot (renders served from the per-tick cache are not observed).',
  },
  { name: COLLECTOR_WARNINGS, type: 'counter', unit: 'warnings', labels: [], help: 'Warnings raised by the collector (unreadable files, parse failures).' },
  { name: INFO, type: 'gauge', unit: 'info', labels: INFO_LABELS, help: 'Capstan agent information; the value is always 1.' },
  {
    name: COLLECTOR_INTERVAL,
    type: 'gauge',
    unit: 'seconds',
    labels: [],
    help: 'The configured collection interval (--interval); a tick slower than this falls behind.',
  },
  {
    name: SOURCE_UP,
    type: 'gauge',
    unit: 'boolean',
    labels: ['source'],
    help: 'Whether a container engine capstan names containers from (docker, podman) answers: 1 up, 0 unreachable (its containers are then named by cgroup path).',
  },
];

export const metricNames: readonly string[] = SELF_METRICS.map((m) => m.name);

function helpOf(name: string): string {
  return SELF_METRICS.find((m) => m.name === name)!.help;
}

export interface SelfMetricsOptions {
  version: string;
  kernel: string;
  getSnapshot(): CollectorSnapshot | undefined;
  /** The collection interval, when known. Units: seconds. */
  intervalSeconds?: number;
  /** The engine sources' states, for capstan_source_up. */
  sourceStates?: () => ReadonlyArray<{ source: string; up: boolean }>;
}

/** Handles on the self-metrics that the exporter and the agent update. */
export interface SelfMetrics {
  observeTick(seconds: number): void;
  observeRender(seconds: number): void;
  recordWarning(): void;
}

/** Registers the capstan_* metrics in `registry` and returns the handles that update them. */
export function register(registry: Registry, options: SelfMetricsOptions): SelfMetrics {
  const tick = new Histogram({
    name: TICK_DURATION,
    help: helpOf(TICK_DURATION),
    // A tick at 1000 cgroups should take tens of milliseconds; seconds means trouble.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const render = new Histogram({
    name: SCRAPE_DURATION,
    help: helpOf(SCRAPE_DURATION),
    // The budget is 50 ms at 1000 cgroups; the low buckets show how far under it we are.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const warnings = new Counter({ name: COLLECTOR_WARNINGS, help: helpOf(COLLECTOR_WARNINGS), registers: [registry] });
  const tracked = new Gauge({
    name: CGROUPS_TRACKED,
    help: helpOf(CGROUPS_TRACKED),
    registers: [registry],
    collect() {
      tracked.set(options.getSnapshot()?.containers.length ?? 0);
    },
  });
  const info = new Gauge<InfoLabel>({
    name: INFO,
    help: helpOf(INFO),
    labelNames: INFO_LABELS,
    registers: [registry],
    collect() {
      // The mode is only known once the collector has run; reset so a stale mode never lingers.
      const mode: CgroupMode | 'unknown' = options.getSnapshot()?.layout.mode ?? 'unknown';
      info.reset();
      info.set({ version: options.version, cgroup_mode: mode, kernel: options.kernel }, 1);
    },
  });
  if (options.intervalSeconds !== undefined) {
    const interval = new Gauge({ name: COLLECTOR_INTERVAL, help: helpOf(COLLECTOR_INTERVAL), registers: [registry] });
    interval.set(options.intervalSeconds);
  }
  if (options.sourceStates !== undefined) {
    const sourceStates = options.sourceStates;
    const sourceUp = new Gauge<'source'>({
      name: SOURCE_UP,
      help: helpOf(SOURCE_UP),
      labelNames: ['source'],
      registers: [registry],
      collect() {
        sourceUp.reset();
        for (const { source, up } of sourceStates()) sourceUp.set({ source }, up ? 1 : 0);
      },
    });
  }
  return {
    observeTick: (seconds) => tick.observe(seconds),
    observeRender: (seconds) => render.observe(seconds),
    recordWarning: () => warnings.inc(),
  };
}
