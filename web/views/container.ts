/**
 * One container: what it is, live charts (filled from the history API on open, then streaming
 * from its socket.io room), its limits (editable by operators), the lifecycle actions for
 * capstan's own containers, and tabs for processes, ports, inspect, logs and events.
 */
import type { ContainerBaseline, ContainerDelta, RowState } from '../../server/api/live';
import { STATS_COLUMN_REGISTRY } from '../../server/cli/columns/stats';
import type { HistorySeries } from '../../server/collector/history';
import type { CurrentLimits } from '../../server/limits/current';
import type { ContainerInfo, ContainerStats } from '../../server/model';
import { api, messageOf, ref } from '../lib/api';
import { TimeChart, type Value } from '../lib/charts';
import { confirmDialog } from '../lib/dialog';
import { h, replaceChildren, setText } from '../lib/dom';
import { bytes, count, dateTime, percent, rate, UNKNOWN } from '../lib/format';
import { toast } from '../lib/toast';
import { limitsPanel, type LimitsPanel } from './limits';
import { stateBadge, updateBadge } from './overview';
import { containerTabs, OWNED_SOURCES, type Tabs } from './tabs';
import type { AppContext, View } from './view';

const CHART_WINDOW_MS = 10 * 60_000;

type Stats = Partial<ContainerStats>;

interface ChartSpec {
  chart: TimeChart;
  /** The chart's values from one tick's stats. */
  values(stats: Stats): Value[];
  /** The chart's values from the history arrays at index i. */
  history(series: HistorySeries['series'], i: number): Value[];
}

/** A limit of "the host's memory" is no limit: the effective limit docker shows when none is set. */
function memoryLimitLine(stats: Stats): Value {
  return stats.memoryLimitIsSet ? stats.memoryLimitBytes : null;
}

export function containerView(ctx: AppContext, id: string): View {
  const disposed = new AbortController();
  let info: ContainerInfo | undefined;
  let state: RowState = 'unknown';
  let stats: Stats = {};
  let sequence = -1;
  let historyLoaded = false;
  const pending: Array<{ timestampMs: number; stats: Stats }> = [];
  let limits: LimitsPanel | undefined;
  let tabs: Tabs | undefined;
  const hostMemory = ctx.machine?.memoryBytes;

  const title = h('h1', { id: 'container-name' }, 'Container');
  const badge = stateBadge('unknown');
  const meta = h('dl', { class: 'facts compact' });
  const actions = h('div', { class: 'actions', id: 'container-actions' });
  const summary = h('dl', { class: 'summary', id: 'container-summary' });
  const message = h('p', { class: 'muted', role: 'status' }, 'Loading…');

  const charts: ChartSpec[] = [
    {
      chart: new TimeChart({
        id: 'chart-cpu',
        title: 'CPU (100% = one CPU)',
        series: [
          { label: 'CPU', color: '--series-1', fill: true },
          { label: 'quota', color: '--series-limit', limit: true },
        ],
        format: (v) => percent(v),
        min: 0,
        windowMs: CHART_WINDOW_MS,
      }),
      values: (s) => [s.cpuPercent, s.cpuLimitCpus == null ? null : s.cpuLimitCpus * 100],
      history: (h, i) => [h.cpuPercent[i], h.cpuLimitCpus[i] == null ? null : h.cpuLimitCpus[i]! * 100],
    },
    {
      chart: new TimeChart({
        id: 'chart-throttle',
        title: 'CPU throttling (throttled periods)',
        series: [{ label: 'throttled', color: '--series-3', fill: true }],
        format: (v) => percent(v),
        min: 0,
        suggestedMax: 10,
        windowMs: CHART_WINDOW_MS,
      }),
      values: (s) => [s.cpuLimitCpus == null ? null : s.cpuThrottledPercent],
      history: (h, i) => [h.cpuLimitCpus[i] == null ? null : h.cpuThrottledPercent[i]],
    },
    {
      chart: new TimeChart({
        id: 'chart-memory',
        title: 'Memory',
        series: [
          { label: 'usage', color: '--series-4' },
          { label: 'working set', color: '--series-2', fill: true },
          { label: 'limit', color: '--series-limit', limit: true },
        ],
        format: (v) => bytes(v),
        min: 0,
        binary: true,
        windowMs: CHART_WINDOW_MS,
      }),
      values: (s) => [s.memoryUsageBytes, s.memoryWorkingSetBytes, memoryLimitLine(s)],
      history: (h, i) => {
        const limit = h.memoryLimitBytes[i];
        return [h.memoryUsageBytes[i], h.memoryWorkingSetBytes[i], limit == null || (hostMemory !== undefined && limit >= hostMemory) ? null : limit];
      },
    },
    {
      chart: new TimeChart({
        id: 'chart-network',
        title: 'Network',
        series: [
          { label: 'rx', color: '--series-1' },
          { label: 'tx', color: '--series-5' },
        ],
        format: (v) => rate(v),
        min: 0,
        integer: true,
        windowMs: CHART_WINDOW_MS,
      }),
      values: (s) => [s.networkRxBytesPerSecond, s.networkTxBytesPerSecond],
      history: (h, i) => [h.networkRxBytesPerSecond[i], h.networkTxBytesPerSecond[i]],
    },
    {
      chart: new TimeChart({
        id: 'chart-block',
        title: 'Block I/O',
        series: [
          { label: 'read', color: '--series-2' },
          { label: 'write', color: '--series-3' },
        ],
        format: (v) => rate(v),
        min: 0,
        integer: true,
        windowMs: CHART_WINDOW_MS,
      }),
      values: (s) => [s.blockReadBytesPerSecond, s.blockWriteBytesPerSecond],
      history: (h, i) => [h.blockReadBytesPerSecond[i], h.blockWriteBytesPerSecond[i]],
    },
    {
      chart: new TimeChart({
        id: 'chart-pids',
        title: 'PIDs',
        series: [
          { label: 'tasks', color: '--series-4', fill: true },
          { label: 'limit', color: '--series-limit', limit: true },
        ],
        format: (v) => String(Math.round(v)),
        min: 0,
        integer: true,
        windowMs: CHART_WINDOW_MS,
      }),
      values: (s) => [s.pids, s.pidsLimit ?? null],
      history: (h, i) => [h.pids[i], null],
    },
  ];

  // Hidden until the agent says which container this is (a wrong id shows no empty charts).
  const chartSection = h('section', { class: 'panel', 'aria-labelledby': 'charts-heading', hidden: true }, h('h2', { id: 'charts-heading' }, 'Live'), summary, h('div', { class: 'chart-grid' }, ...charts.map((c) => c.chart.figure)));
  const limitsSlot = h('div');
  const tabsSlot = h('div');
  const header = h(
    'section',
    { class: 'panel container-head' },
    h('p', null, h('a', { href: '#/' }, '← All containers')),
    h('div', { class: 'title-row' }, title, badge, h('span', { class: 'spacer' }), actions),
    meta,
    message,
  );
  const element = h('div', { class: 'view container' }, header, chartSection, limitsSlot, tabsSlot);

  // ------------------------------------------------------------ rendering

  function renderMeta(): void {
    if (!info) return;
    setText(title, info.name || info.cgroupPath);
    document.title = `Capstan: ${info.name || info.cgroupPath}`;
    updateBadge(badge, state);
    const item = (label: string, value: string): HTMLElement[] => [h('dt', null, label), h('dd', { class: 'mono' }, value)];
    replaceChildren(
      meta,
      ...item('ID', info.id),
      ...item('Image', info.image || (info.source === 'capstan' ? 'host filesystem (read-only)' : UNKNOWN)),
      ...item('cgroup', info.cgroupPath),
      ...item('Runtime', info.source),
      ...item('Created', dateTime(info.createdAtMs)),
    );
  }

  function renderSummary(): void {
    const row = { info: info!, stats: stats as ContainerStats };
    const options = { trunc: true, nowMs: Date.now() };
    const cell = (field: string): string => STATS_COLUMN_REGISTRY.get(field)!.format(row, options);
    const entries: Array<[string, string, string]> = [
      ['CPU %', cell('CPUPerc'), 'CPUPerc'],
      ['MEM USAGE / LIMIT', cell('MemUsage'), 'MemUsage'],
      ['MEM %', cell('MemPerc'), 'MemPerc'],
      ['NET I/O', cell('NetIO'), 'NetIO'],
      ['BLOCK I/O', cell('BlockIO'), 'BlockIO'],
      ['PIDS', cell('PIDs'), 'PIDs'],
      ['CPU THROTTLED', cell('CPUThrottled'), 'CPUThrottled'],
      ['OOM KILLS', count(stats.oomKills), 'OOMKills'],
    ];
    if (summary.childElementCount !== entries.length) {
      replaceChildren(summary, ...entries.map(([label, , field]) => h('div', null, h('dt', null, label), h('dd', { 'data-field': field }, UNKNOWN))));
    }
    entries.forEach(([, value], index) => setText(summary.children[index]!.lastElementChild!, value));
  }

  function renderActions(): void {
    if (!info || ctx.role !== 'operator' || !OWNED_SOURCES.includes(info.source)) {
      actions.replaceChildren();
      return;
    }
    const running = state === 'running';
    const paused = state === 'paused';
    const button = (label: string, action: string, enabled: boolean, danger = false): HTMLButtonElement => {
      const b = h('button', { type: 'button', class: danger ? 'danger' : '', 'data-action': action, disabled: !enabled }, label);
      b.addEventListener('click', () => void act(action, label));
      return b;
    };
    replaceChildren(
      actions,
      button('Start', 'start', !running && !paused),
      button('Stop', 'stop', running || paused),
      button('Restart', 'restart', running),
      button('Pause', 'pause', running),
      button('Unpause', 'unpause', paused),
      button('Remove', 'rm', true, true),
    );
  }

  async function act(action: string, label: string): Promise<void> {
    if (!info) return;
    const name = info.name;
    if (action === 'rm') {
      const confirmed = await confirmDialog({
        title: `Remove ${name}?`,
        body: h('p', null, running() ? 'It is running: it will be killed first. Its logs and state go with it.' : 'Its logs and state go with it.'),
        confirm: 'Remove',
        danger: true,
        id: 'remove-dialog',
      });
      if (!confirmed) return;
    }
    for (const b of actions.querySelectorAll('button')) b.disabled = true;
    try {
      if (action === 'rm') await api(`/api/v1/containers/${ref(info.id)}?force=1`, { method: 'DELETE' });
      else await api(`/api/v1/containers/${ref(info.id)}/${action}`, { method: 'POST' });
      toast('success', `${label}: ${name}`, ['Done.']);
      if (action === 'rm') location.hash = '#/';
    } catch (problem) {
      toast('error', `${label} failed`, [messageOf(problem)]);
    } finally {
      renderActions();
    }
  }

  const running = (): boolean => state === 'running';

  function pushPoint(timestampMs: number, current: Stats): void {
    for (const spec of charts) spec.chart.push(timestampMs, spec.values(current));
  }

  async function loadHistory(): Promise<void> {
    try {
      const history = await api<HistorySeries & { id: string }>(`/api/v1/containers/${ref(id)}/history?since=${Date.now() - CHART_WINDOW_MS}`, { signal: disposed.signal });
      for (const spec of charts) {
        const columns = history.timestampsMs.map((_, i) => spec.history(history.series, i));
        // Transpose rows into per-series columns.
        const perSeries: Value[][] = [];
        columns.forEach((row) => row.forEach((value, s) => (perSeries[s] ??= []).push(value)));
        spec.chart.setData(history.timestampsMs, perSeries);
      }
    } catch (problem) {
      if ((problem as Error).name === 'AbortError') return;
      // A capstan container that is not running has no cgroup and no history: the charts start empty.
    }
    historyLoaded = true;
    for (const point of pending.splice(0)) pushPoint(point.timestampMs, point.stats);
  }

  function onLimitsApplied(current: CurrentLimits): void {
    // Move the limit lines now; the next tick confirms them from the cgroup.
    const cpu = charts[0]!.chart;
    if (current.cpus !== undefined) cpu.setLatest(1, current.cpus === null ? null : current.cpus * 100);
    const memory = charts[2]!.chart;
    if (current.memoryBytes !== undefined) memory.setLatest(2, current.memoryBytes);
    const pids = charts[5]!.chart;
    if (current.pidsLimit !== undefined) pids.setLatest(1, current.pidsLimit);
  }

  function baseline(container: ContainerBaseline): void {
    const first = info === undefined;
    info = container.info;
    state = container.state;
    stats = { ...container.stats };
    sequence = container.sequence;
    message.hidden = true;
    chartSection.hidden = false;
    renderMeta();
    renderSummary();
    renderActions();
    if (first) {
      tabs = containerTabs(ctx, info, () => stats.timestampMs !== undefined);
      tabsSlot.replaceWith(tabs.element);
    }
    whenTracked();
    if (stats.timestampMs !== undefined) {
      if (historyLoaded) pushPoint(stats.timestampMs, stats);
      else pending.push({ timestampMs: stats.timestampMs, stats: { ...stats } });
    }
  }

  /**
   * A cgroup the collector samples has limits and history; a capstan container that is created or
   * exited has neither. The panel and the history wait for the first sample (a container started
   * from the run form is a tick away from its first one).
   */
  function whenTracked(): void {
    if (!info) return;
    if (stats.timestampMs === undefined) {
      if (!limits && !limitsSlot.hasChildNodes()) {
        limitsSlot.className = 'panel';
        limitsSlot.append(h('h2', null, 'Limits'), h('p', { class: 'muted' }, 'Not running: no cgroup to show or change limits on. The limits it was created with apply when it starts.'));
      }
      return;
    }
    if (limits) return;
    limits = limitsPanel(ctx, info, onLimitsApplied);
    limitsSlot.replaceWith(limits.element);
    void loadHistory();
  }

  function applyDelta(delta: ContainerDelta): void {
    if (!info || delta.id !== info.id) return;
    if (delta.previousSequence !== sequence) {
      ctx.live.resync();
      return;
    }
    sequence = delta.sequence;
    if (delta.gone) {
      state = 'unknown';
      message.hidden = false;
      setText(message, 'This cgroup is gone: the container was removed or its cgroup deleted.');
      updateBadge(badge, state);
      return;
    }
    const limitsBefore = `${stats.memoryLimitBytes}|${stats.cpuLimitCpus}|${stats.pidsLimit}`;
    if (delta.info) info = delta.info;
    const stateChanged = delta.state !== undefined && delta.state !== state;
    if (delta.state) state = delta.state;
    if (delta.set) Object.assign(stats, delta.set);
    if (delta.unset) for (const key of delta.unset) delete stats[key];
    if (delta.info || stateChanged) {
      renderMeta();
      renderActions();
    }
    renderSummary();
    whenTracked();
    // A limit changed outside this page (the CLI, another operator): show it.
    if (stats.timestampMs !== undefined && limitsBefore !== `${stats.memoryLimitBytes}|${stats.cpuLimitCpus}|${stats.pidsLimit}`) void limits?.refresh();
    if (stats.timestampMs !== undefined) {
      if (historyLoaded) pushPoint(stats.timestampMs, stats);
      else pending.push({ timestampMs: stats.timestampMs, stats: { ...stats } });
    }
    tabs?.tick();
  }

  const unsubscribe = ctx.live.watch(
    { containers: [id] },
    {
      baseline: (result) => {
        if (result.error) {
          setText(message, result.error);
          return;
        }
        const container = result.containers[0];
        if (!container) {
          setText(title, 'No such container');
          setText(message, `Capstan does not track a container or cgroup "${id}" (any more).`);
          message.hidden = false;
          return;
        }
        baseline(container);
      },
      container: applyDelta,
    },
  );

  return {
    element,
    get title() {
      return `Capstan: ${info?.name ?? 'container'}`;
    },
    dispose() {
      disposed.abort();
      unsubscribe();
      limits?.dispose();
      tabs?.dispose();
      for (const spec of charts) spec.chart.destroy();
    },
  };
}
