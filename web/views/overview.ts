/**
 * The overview: host facts and charts, and the containers table with docker stats' columns (the
 * CLI's own column registry formats every cell, so the page and `capstan stats` agree to the
 * digit). Updated from per-tick deltas; only changed cells are touched, and only rows on screen
 * redraw their sparklines, so 200 rows stay smooth.
 */
import type { LiveRow, OverviewBaseline, OverviewDelta, OverviewScope, RowState } from '../../server/api/live';
import { STATS_COLUMN_REGISTRY, type StatsRow } from '../../server/cli/columns/stats';
import type { ContainerInfo, ContainerStats } from '../../server/model';
import { TimeChart } from '../lib/charts';
import { h, setAttributes, setText } from '../lib/dom';
import { bytes, duration, percent, UNKNOWN } from '../lib/format';
import { Sparkline } from '../lib/sparkline';
import type { AppContext, View } from './view';

const SCOPE_KEY = 'capstan-overview-scope';
const SORT_KEY = 'capstan-overview-sort';
const SPARK_POINTS = 60;
const CHART_WINDOW_MS = 10 * 60_000;

type SortValue = number | string | undefined;

interface TableColumn {
  /** STATS_COLUMN_REGISTRY field, or "State". */
  field: string;
  header: string;
  sortValue(row: Row): SortValue;
  numeric: boolean;
  spark?: 'cpu' | 'memory';
}

interface Row {
  key: number;
  info: ContainerInfo;
  state: RowState;
  stats: Partial<ContainerStats>;
  tr: HTMLTableRowElement;
  cells: Map<string, HTMLElement>;
  badge: HTMLElement;
  link: HTMLAnchorElement;
  /** The image, next to the name (as `docker ps` shows it); hidden for cgroups without one. */
  image: HTMLElement;
  cpu: Sparkline;
  memory: Sparkline;
  dirty: boolean;
  onScreen: boolean;
}

const sum = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0));
const statColumn = (field: string) => {
  const column = STATS_COLUMN_REGISTRY.get(field);
  if (!column) throw new Error(`no stats column ${field}`);
  return column;
};

const COLUMNS: TableColumn[] = [
  { field: 'State', header: 'STATE', numeric: false, sortValue: (row) => row.state },
  { field: 'Name', header: statColumn('Name').header, numeric: false, sortValue: (row) => row.info.name.toLowerCase() },
  { field: 'ID', header: statColumn('ID').header, numeric: false, sortValue: (row) => row.info.id },
  { field: 'CPUPerc', header: statColumn('CPUPerc').header, numeric: true, spark: 'cpu', sortValue: (row) => row.stats.cpuPercent },
  { field: 'MemUsage', header: statColumn('MemUsage').header, numeric: true, spark: 'memory', sortValue: (row) => row.stats.memoryWorkingSetBytes },
  { field: 'MemPerc', header: statColumn('MemPerc').header, numeric: true, sortValue: (row) => row.stats.memoryPercent },
  { field: 'NetIO', header: statColumn('NetIO').header, numeric: true, sortValue: (row) => sum(row.stats.networkRxBytes, row.stats.networkTxBytes) },
  { field: 'BlockIO', header: statColumn('BlockIO').header, numeric: true, sortValue: (row) => sum(row.stats.blockReadBytes, row.stats.blockWriteBytes) },
  { field: 'PIDs', header: statColumn('PIDs').header, numeric: true, sortValue: (row) => row.stats.pids },
];

export const STATE_LABEL: Record<RowState, string> = {
  created: 'created',
  running: 'running',
  paused: 'paused',
  restarting: 'restarting',
  removing: 'removing',
  exited: 'exited',
  dead: 'dead',
  empty: 'empty',
  unknown: UNKNOWN,
};

export function stateBadge(state: RowState): HTMLElement {
  return h('span', { class: `badge state state-${state}` }, STATE_LABEL[state]);
}

export function updateBadge(badge: HTMLElement, state: RowState): void {
  setText(badge, STATE_LABEL[state]);
  badge.className = `badge state state-${state}`;
}

export function overviewView(ctx: AppContext): View {
  let scope: OverviewScope = sessionStorage.getItem(SCOPE_KEY) === 'all' ? 'all' : 'containers';
  const storedSort = (sessionStorage.getItem(SORT_KEY) ?? 'Name:asc').split(':');
  let sortField = COLUMNS.some((c) => c.field === storedSort[0]) ? storedSort[0]! : 'Name';
  let sortDescending = storedSort[1] === 'desc';
  let filter = '';
  let sequence = -1;
  const rows = new Map<number, Row>();
  let order: Row[] = [];

  // ------------------------------------------------------------ host
  const machine = ctx.machine;
  const loadedAt = Date.now();
  const uptime = h('dd', { id: 'host-uptime' }, machine ? duration(machine.uptimeSeconds) : UNKNOWN);
  const fact = (label: string, value: string | HTMLElement, id?: string): HTMLElement[] => [
    h('dt', null, label),
    typeof value === 'string' ? h('dd', id ? { id } : null, value) : value,
  ];
  const facts = h(
    'dl',
    { class: 'facts' },
    ...fact('Host', machine?.hostname || UNKNOWN),
    ...fact('CPU', machine ? `${machine.cpuModel || UNKNOWN}` : UNKNOWN),
    ...fact('Cores', machine ? `${machine.cpuCores} logical${machine.cpuPhysicalCores ? `, ${machine.cpuPhysicalCores} physical` : ''}` : UNKNOWN),
    ...fact('Memory', machine ? bytes(machine.memoryBytes) : UNKNOWN),
    ...fact('OS', machine?.os || UNKNOWN),
    ...fact('Kernel', machine?.kernel || UNKNOWN),
    ...fact('cgroup', machine ? `${machine.cgroupMode} (controllers on v${machine.cgroupControllersOn})` : UNKNOWN, 'host-cgroup'),
    ...fact('Uptime', uptime),
    ...fact('Agent', machine ? `capstan ${machine.agentVersion}` : UNKNOWN),
  );
  const hostCpu = new TimeChart({
    id: 'chart-host-cpu',
    title: 'Host CPU (100% = all CPUs)',
    series: [{ label: 'CPU', color: '--series-1', fill: true }],
    format: (v) => percent(v),
    min: 0,
    max: 100,
    windowMs: CHART_WINDOW_MS,
  });
  const hostMemory = new TimeChart({
    id: 'chart-host-memory',
    title: 'Host memory',
    series: [
      { label: 'used', color: '--series-2', fill: true },
      { label: 'total', color: '--series-limit', limit: true },
    ],
    format: (v) => bytes(v),
    min: 0,
    binary: true,
    windowMs: CHART_WINDOW_MS,
  });

  // ------------------------------------------------------------ table
  const filterId = 'filter';
  const filterInput = h('input', { id: filterId, type: 'search', placeholder: 'name or cgroup path', autocomplete: 'off', spellcheck: 'false' });
  const scopeInput = h('input', { type: 'checkbox', id: 'scope-all', checked: scope === 'all' });
  const counter = h('span', { class: 'muted', id: 'row-count', 'aria-live': 'polite' });
  const status = h('p', { class: 'muted table-status' }, 'Loading…');
  const headRow = h('tr');
  const headers = new Map<string, HTMLTableCellElement>();
  for (const column of COLUMNS) {
    const button = h('button', { type: 'button', class: 'sort', 'data-field': column.field }, column.header, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }));
    button.addEventListener('click', () => {
      if (sortField === column.field) sortDescending = !sortDescending;
      else {
        sortField = column.field;
        // Numbers read best biggest first; names A→Z.
        sortDescending = column.numeric;
      }
      sessionStorage.setItem(SORT_KEY, `${sortField}:${sortDescending ? 'desc' : 'asc'}`);
      renderHeaders();
      render(true);
    });
    const th = h('th', { scope: 'col', class: column.numeric ? 'num' : '' }, button);
    headers.set(column.field, th);
    headRow.appendChild(th);
  }
  const tbody = h('tbody');
  const table = h('table', { class: 'stats', id: 'containers-table' }, h('caption', { class: 'visually-hidden' }, 'Containers, live; column headers sort'), h('thead', null, headRow), tbody);

  const element = h(
    'div',
    { class: 'view overview' },
    h(
      'section',
      { class: 'panel host', 'aria-labelledby': 'host-heading' },
      h('h2', { id: 'host-heading' }, 'Host'),
      h('div', { class: 'host-grid' }, facts, h('div', { class: 'chart-grid two' }, hostCpu.figure, hostMemory.figure)),
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'containers-heading' },
      h(
        'div',
        { class: 'table-tools' },
        h('h2', { id: 'containers-heading' }, 'Containers'),
        counter,
        h('span', { class: 'spacer' }),
        h('label', { for: filterId }, 'Filter '),
        filterInput,
        h('label', { class: 'check' }, scopeInput, ' All cgroups'),
      ),
      h('div', { class: 'table-wrap' }, table),
      status,
    ),
  );

  const visibility = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const row = rowByTr.get(entry.target as HTMLTableRowElement);
      if (!row) continue;
      row.onScreen = entry.isIntersecting;
      if (row.onScreen) {
        // Rows off screen are not re-rendered per tick; catch up now.
        if (row.dirty) renderRow(row, Date.now());
        row.cpu.draw();
        row.memory.draw();
      }
    }
  });
  const rowByTr = new WeakMap<HTMLTableRowElement, Row>();

  function renderHeaders(): void {
    for (const [field, th] of headers) {
      const active = field === sortField;
      if (active) th.setAttribute('aria-sort', sortDescending ? 'descending' : 'ascending');
      else th.removeAttribute('aria-sort');
      const mark = th.querySelector('.sort-mark');
      if (mark) setText(mark, active ? (sortDescending ? '▼' : '▲') : '');
    }
  }

  function createRow(live: LiveRow): Row {
    const cells = new Map<string, HTMLElement>();
    const tr = h('tr', { 'data-id': live.info.id, 'data-key': live.key });
    const badge = stateBadge(live.state);
    const href = `#/containers/${encodeURIComponent(live.info.id)}`;
    const link = h('a', { href, class: 'row-link' }, live.info.name || live.info.cgroupPath);
    const image = h('span', { class: 'image', hidden: !live.info.image }, live.info.image);
    const cpu = new Sparkline(SPARK_POINTS, '--series-1', 100);
    const memory = new Sparkline(SPARK_POINTS, '--series-2');
    cpu.set(live.spark.cpuPercent);
    memory.set(live.spark.memoryWorkingSetBytes);
    for (const column of COLUMNS) {
      const value = h('span', { class: 'value' });
      let td: HTMLTableCellElement;
      if (column.field === 'State') td = h('td', null, badge);
      else if (column.field === 'Name') td = h('td', { class: 'name' }, link, image, live.info.name !== live.info.cgroupPath && h('span', { class: 'sub' }, live.info.cgroupPath));
      else if (column.spark) td = h('td', { class: 'num' }, h('div', { class: 'with-spark' }, column.spark === 'cpu' ? cpu.element : memory.element, value));
      else td = h('td', { class: column.numeric ? 'num' : 'mono' }, value);
      td.dataset['field'] = column.field;
      tr.appendChild(td);
      cells.set(column.field, value);
    }
    tr.addEventListener('click', (event) => {
      if ((event.target as HTMLElement).closest('a')) return;
      location.hash = href;
    });
    const row: Row = { key: live.key, info: live.info, state: live.state, stats: live.stats, tr, cells, badge, link, image, cpu, memory, dirty: true, onScreen: false };
    rowByTr.set(tr, row);
    visibility.observe(tr);
    return row;
  }

  function renderRow(row: Row, nowMs: number): void {
    const statsRow: StatsRow = { info: row.info, stats: row.stats as ContainerStats };
    for (const column of COLUMNS) {
      const cell = row.cells.get(column.field)!;
      if (column.field === 'State' || column.field === 'Name') continue;
      setText(cell, statColumn(column.field).format(statsRow, { trunc: true, nowMs }));
    }
    updateBadge(row.badge, row.state);
    setText(row.link, row.info.name || row.info.cgroupPath);
    // An engine names its containers a moment after their cgroup appears: the image comes with the name.
    setText(row.image, row.info.image);
    if (row.image.hidden === Boolean(row.info.image)) row.image.hidden = !row.info.image;
    row.dirty = false;
  }

  function matches(row: Row): boolean {
    if (filter === '') return true;
    return row.info.name.toLowerCase().includes(filter) || row.info.cgroupPath.toLowerCase().includes(filter);
  }

  const byName = (a: Row, b: Row): number => (a.info.name < b.info.name ? -1 : a.info.name > b.info.name ? 1 : 0);

  /** Sorts by the chosen column; unknown last whichever the direction ("--" is not a small number). */
  function sortRows(list: Row[]): Row[] {
    const column = COLUMNS.find((c) => c.field === sortField) ?? COLUMNS[1]!;
    // The keys once per row, not once per comparison.
    const keys = new Map<Row, SortValue>();
    for (const row of list) keys.set(row, column.sortValue(row));
    const sign = sortDescending ? -1 : 1;
    return list.sort((a, b) => {
      const x = keys.get(a);
      const y = keys.get(b);
      if (x === undefined || y === undefined) return x === y ? byName(a, b) : x === undefined ? 1 : -1;
      const result = typeof x === 'number' && typeof y === 'number' ? x - y : x < y ? -1 : x > y ? 1 : 0;
      return result !== 0 ? sign * result : byName(a, b);
    });
  }

  function render(reorder: boolean): void {
    const nowMs = Date.now();
    for (const row of rows.values()) if (row.dirty && row.onScreen) renderRow(row, nowMs);
    const sorted = sortRows([...rows.values()]);
    if (reorder || sorted.length !== order.length || sorted.some((row, i) => order[i] !== row)) {
      order = sorted;
      // Move only the rows that are out of place: a re-sort usually swaps a few neighbours.
      let cursor: ChildNode | null = tbody.firstChild;
      for (const row of sorted) {
        if (cursor === row.tr) cursor = cursor.nextSibling;
        else tbody.insertBefore(row.tr, cursor);
      }
    }
    let shown = 0;
    for (const row of sorted) {
      const visible = matches(row);
      if (row.tr.hidden === visible) row.tr.hidden = !visible;
      if (visible) shown++;
      if (visible && row.onScreen) {
        row.cpu.draw();
        row.memory.draw();
      }
    }
    setText(counter, filter ? `${shown} of ${rows.size}` : `${rows.size}`);
    status.hidden = rows.size > 0 && shown > 0;
    if (!status.hidden) setText(status, rows.size === 0 ? (scope === 'containers' ? 'No containers. Tick "All cgroups" to see every cgroup on the host.' : 'No cgroups.') : 'Nothing matches the filter.');
  }

  function baseline(overview: OverviewBaseline): void {
    for (const row of rows.values()) visibility.unobserve(row.tr);
    rows.clear();
    tbody.replaceChildren();
    order = [];
    sequence = overview.sequence;
    for (const live of overview.rows) rows.set(live.key, createRow(live));
    render(true);
  }

  function applyDelta(delta: OverviewDelta): void {
    if (delta.scope !== scope) return;
    if (delta.previousSequence !== sequence) {
      ctx.live.resync();
      return;
    }
    sequence = delta.sequence;
    for (const key of delta.removed) {
      const row = rows.get(key);
      if (!row) continue;
      visibility.unobserve(row.tr);
      row.tr.remove();
      rows.delete(key);
    }
    for (const live of delta.added) rows.set(live.key, createRow(live));
    for (const patch of delta.changed) {
      const row = rows.get(patch.key);
      if (!row) continue;
      if (patch.info) row.info = patch.info;
      if (patch.state) row.state = patch.state;
      if (patch.set) Object.assign(row.stats, patch.set);
      if (patch.unset) for (const key of patch.unset) delete row.stats[key];
      row.dirty = true;
    }
    // One sparkline point per row per tick, changed or not.
    for (const row of rows.values()) {
      row.cpu.push(row.stats.cpuPercent);
      row.memory.push(row.stats.memoryWorkingSetBytes);
    }
    render(false);
  }

  const subscribe = (): (() => void) =>
    ctx.live.watch(
      { overview: scope, host: true },
      {
        baseline: (result) => {
          if (result.error) {
            setText(status, result.error);
            status.hidden = false;
            return;
          }
          if (result.overview) baseline(result.overview);
          if (result.host) {
            const points = result.host.points;
            hostCpu.setData(points.map((p) => p.timestampMs), [points.map((p) => p.cpuPercent)]);
            hostMemory.setData(points.map((p) => p.timestampMs), [points.map((p) => p.memoryUsedBytes), points.map((p) => p.memoryTotalBytes)]);
          }
        },
        overview: applyDelta,
        host: (point) => {
          hostCpu.push(point.timestampMs, [point.cpuPercent]);
          hostMemory.push(point.timestampMs, [point.memoryUsedBytes, point.memoryTotalBytes]);
          if (machine) setText(uptime, duration(machine.uptimeSeconds + (Date.now() - loadedAt) / 1000));
        },
      },
    );
  let unsubscribe = subscribe();

  filterInput.addEventListener('input', () => {
    filter = filterInput.value.trim().toLowerCase();
    render(false);
  });
  scopeInput.addEventListener('change', () => {
    scope = scopeInput.checked ? 'all' : 'containers';
    sessionStorage.setItem(SCOPE_KEY, scope);
    setText(status, 'Loading…');
    status.hidden = false;
    unsubscribe();
    unsubscribe = subscribe();
  });
  setAttributes(scopeInput, { 'aria-describedby': counter.id });
  renderHeaders();

  return {
    element,
    title: 'Capstan: overview',
    dispose() {
      unsubscribe();
      visibility.disconnect();
      hostCpu.destroy();
      hostMemory.destroy();
    },
  };
}
