/**
 * The screen of `capstan stats -i` as a pure function of its state: exactly `height` lines of
 * exactly `width` columns, each a list of segments with a tone. The terminal layer (terminal.ts)
 * turns tones into attributes (colours unless NO_COLOR); tests read the text.
 *
 * Layout (80×24 and up): a title line, the column header, the rows, then a status line (the
 * prompt, an OOM kill, an action's outcome) and two key lines. Columns are added in order of
 * importance while they fit, so a narrow terminal loses block I/O and network first, never the
 * name, CPU or memory.
 */
import type { ContainerStats } from '../../model';
import { bytesSize } from '../format/units';
import {
  DETAIL_TABS,
  SORT_KEYS,
  clockTime,
  inspectTree,
  perCpuPercent,
  rowById,
  selectedIndex,
  visibleRows,
  type DetailState,
  type Fetched,
  type SortKey,
  type ViewRow,
  type ViewState,
} from './state';

export type Tone = 'normal' | 'dim' | 'title' | 'header' | 'selected' | 'flash' | 'oom' | 'error' | 'info' | 'key' | 'disabled' | 'prompt';
export interface Segment {
  text: string;
  tone: Tone;
}
export type ScreenLine = Segment[];

/** Lines below the rows: status, sort keys, action keys. */
const FOOTER_LINES = 3;
/** Title and column header. */
const HEADER_LINES = 2;
/** How often a flashing row changes phase. Units: milliseconds. */
const FLASH_PHASE_MS = 500;
const SPARK_BLOCKS = '▁▂▃▄▅▆▇█';
/** What the owner column says for each source. */
const OWNER_LABEL: Record<string, string> = { capstan: 'capstan', docker: 'docker', podman: 'podman', kubernetes: 'k8s', systemd: 'systemd', raw: 'raw' };
/** Shown for an unknown value. */
export const UNKNOWN = '-';

/** Cuts or pads `text` to `width` columns (one column per code point: names are ASCII). */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const chars = [...text];
  if (chars.length > width) return width <= 1 ? chars.slice(0, width).join('') : chars.slice(0, width - 1).join('') + '…';
  const pad = ' '.repeat(width - chars.length);
  return align === 'left' ? text + pad : pad + text;
}

/** "512B", "12.3K", "4.5M", "1.2G": binary units in at most 5 columns. Units: bytes in. */
export function compactBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return UNKNOWN;
  const units = ['B', 'K', 'M', 'G', 'T', 'P'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  if (i === 0) return `${Math.round(value)}B`;
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)}${units[i]}`;
}

function percent(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? UNKNOWN : `${value.toFixed(1)}%`;
}

function pair(a: number | undefined, b: number | undefined): string {
  if (a === undefined && b === undefined) return UNKNOWN;
  return `${compactBytes(a)}/${compactBytes(b)}`;
}

/** A sparkline of the last `width` points scaled to `max` (or the points' own maximum). */
export function sparkline(points: ReadonlyArray<number | null>, width: number, max?: number): string {
  const shown = points.slice(-width);
  const top = max ?? Math.max(0, ...shown.map((p) => p ?? 0));
  const chars = shown.map((p) => {
    if (p === null) return ' ';
    if (top <= 0) return SPARK_BLOCKS[0]!;
    const level = Math.round((Math.min(p, top) / top) * (SPARK_BLOCKS.length - 1));
    return SPARK_BLOCKS[Math.max(0, level)]!;
  });
  return ' '.repeat(Math.max(0, width - chars.length)) + chars.join('');
}

interface TableColumn {
  id: string;
  title: string;
  width: number;
  align: 'left' | 'right';
  /** Sorted by this key when the column's sort key is pressed. */
  sort?: SortKey;
  cell(row: ViewRow, state: ViewState): string;
}

function memoryCell(stats: Partial<ContainerStats>): string {
  if (stats.memoryWorkingSetBytes === undefined) return UNKNOWN;
  const limit = stats.memoryLimitBytes === undefined ? UNKNOWN : compactBytes(stats.memoryLimitBytes);
  return `${compactBytes(stats.memoryWorkingSetBytes)}/${limit}`;
}

function tableColumns(sparkWidth: number): TableColumn[] {
  return [
    { id: 'name', title: 'NAME', width: 12, align: 'left', sort: 'name', cell: (r) => r.info.name },
    { id: 'owner', title: 'OWNER', width: 7, align: 'left', sort: 'owner', cell: (r) => OWNER_LABEL[r.info.source] ?? r.info.source },
    { id: 'cpu', title: 'CPU %', width: 6, align: 'right', sort: 'cpu', cell: (r) => percent(r.stats.cpuPercent) },
    // CPU sparklines share one scale (100% = one CPU) so rows compare; memory scales to each row's limit.
    { id: 'cpuSpark', title: 'CPU', width: sparkWidth, align: 'left', cell: (r) => sparkline(r.cpuSpark, sparkWidth, Math.max(100, ...r.cpuSpark.map((p) => p ?? 0))) },
    { id: 'mem', title: 'MEM USE/LIM', width: 13, align: 'right', sort: 'mem', cell: (r) => memoryCell(r.stats) },
    { id: 'memPercent', title: 'MEM %', width: 6, align: 'right', sort: 'memPercent', cell: (r) => percent(r.stats.memoryPercent) },
    { id: 'memSpark', title: 'MEM', width: sparkWidth, align: 'left', cell: (r) => sparkline(r.memSpark, sparkWidth, r.stats.memoryLimitBytes) },
    { id: 'net', title: 'NET RX/TX', width: 13, align: 'right', sort: 'net', cell: (r) => pair(r.stats.networkRxBytes, r.stats.networkTxBytes) },
    { id: 'block', title: 'BLOCK R/W', width: 13, align: 'right', sort: 'block', cell: (r) => pair(r.stats.blockReadBytes, r.stats.blockWriteBytes) },
    { id: 'pids', title: 'PIDS', width: 5, align: 'right', sort: 'pids', cell: (r) => (r.stats.pids === undefined ? UNKNOWN : String(r.stats.pids)) },
    { id: 'state', title: 'STATE', width: 10, align: 'left', sort: 'state', cell: (r) => r.state },
  ];
}

/** Which columns go in first when space is short (the display order is tableColumns'). */
const COLUMN_PRIORITY = ['name', 'cpu', 'mem', 'memPercent', 'state', 'pids', 'owner', 'cpuSpark', 'memSpark', 'net', 'block'];

/** The columns that fit `width`, in display order, with the name column taking what is left. */
export function layoutColumns(width: number): TableColumn[] {
  const sparkWidth = width >= 140 ? 12 : 6;
  const all = tableColumns(sparkWidth);
  const chosen = new Set<string>();
  let used = 0;
  for (const id of COLUMN_PRIORITY) {
    const column = all.find((c) => c.id === id)!;
    const cost = column.width + (chosen.size > 0 ? 1 : 0);
    // The name always goes in, cut to the terminal if it must.
    if (used + cost > width && id !== 'name') continue;
    chosen.add(id);
    used += cost;
  }
  const columns = all.filter((c) => chosen.has(c.id)).map((c) => ({ ...c }));
  columns[0]!.width = Math.max(1, columns[0]!.width + width - used);
  return columns;
}

function blank(width: number): ScreenLine {
  return [{ text: ' '.repeat(width), tone: 'normal' }];
}

/** Joins segments and cuts or pads the whole line to `width`. */
function line(segments: Segment[], width: number, fill: Tone = 'normal'): ScreenLine {
  const out: Segment[] = [];
  let left = width;
  for (const segment of segments) {
    if (left <= 0) break;
    const chars = [...segment.text];
    const text = chars.length > left ? chars.slice(0, left).join('') : segment.text;
    out.push({ text, tone: segment.tone });
    left -= Math.min(chars.length, left);
  }
  if (left > 0) out.push({ text: ' '.repeat(left), tone: fill });
  return out;
}

export function lineText(screenLine: ScreenLine): string {
  return screenLine.map((s) => s.text).join('');
}

/** The whole screen as text, one string per line (what a test or `capture-pane` reads). */
export function screenText(state: ViewState): string[] {
  return renderScreen(state).map(lineText);
}

function canAct(state: ViewState): { ok: boolean; reason: string } {
  if (state.session?.role === 'operator') return { ok: true, reason: '' };
  if (!state.session) return { ok: false, reason: 'not connected' };
  return { ok: false, reason: `read-only: token "${state.session.name}" is a viewer (actions need an operator token)` };
}

/** Why an action key does nothing now, or undefined when it may act. */
export function actionRefusal(state: ViewState): string | undefined {
  const { ok, reason } = canAct(state);
  return ok ? undefined : reason;
}

function titleLine(state: ViewState): ScreenLine {
  const shown = visibleRows(state).length;
  const total = state.rows.size;
  const count = state.filter ? `${shown}/${total} containers` : `${total} containers`;
  const connection =
    state.connection === 'online'
      ? `online${state.session ? ` (${state.session.name === state.session.role ? state.session.role : `${state.session.name}, ${state.session.role}`})` : ''}`
      : state.connection === 'connecting'
        ? 'connecting…'
        : `${state.connection}${state.connectionError ? `: ${state.connectionError}` : ''}`;
  const sort = `sort ${state.sort.key} ${state.sort.descending ? '▼' : '▲'}`;
  const filter = state.filter ? `  filter "${state.filter}"` : '';
  const clock = state.timestampMs > 0 ? clockTime(state.timestampMs) : '';
  const left = ` capstan  ${count}  ${sort}${filter}  ${connection}`;
  const pad = Math.max(1, state.width - [...left].length - clock.length - 1);
  return line([{ text: left + ' '.repeat(pad) + clock + ' ', tone: state.connection === 'online' ? 'title' : 'error' }], state.width, 'title');
}

function isFlashing(row: ViewRow, state: ViewState): boolean {
  return row.flashUntilMs !== undefined && row.flashUntilMs > state.nowMs;
}

function tableLines(state: ViewState, height: number): ScreenLine[] {
  const columns = layoutColumns(state.width);
  const header = columns.map((c) => {
    const mark = c.sort === state.sort.key ? (state.sort.descending ? '▼' : '▲') : '';
    return fit(c.title + mark, c.width, c.align);
  });
  const lines: ScreenLine[] = [line([{ text: header.join(' '), tone: 'header' }], state.width, 'header')];
  const rows = visibleRows(state);
  const available = height - 1;
  if (rows.length === 0) {
    const why = state.sequence < 0 ? 'waiting for the agent…' : state.filter ? `no container matches "${state.filter}"` : 'no containers';
    lines.push(line([{ text: ` ${why}`, tone: 'dim' }], state.width));
  }
  const selected = selectedIndex(state, rows);
  // Pages of rows: the page that holds the selection.
  const start = available > 0 ? Math.floor(selected / available) * available : 0;
  for (const [i, row] of rows.slice(start, start + available).entries()) {
    const flashing = isFlashing(row, state);
    // The flash alternates with the clock; the "!" stays, so it shows without colour or attributes too.
    const phase = Math.floor(state.nowMs / FLASH_PHASE_MS) % 2 === 0;
    const tone: Tone = flashing && phase ? 'flash' : start + i === selected ? 'selected' : 'normal';
    const cells = columns.map((c, index) => {
      let text = c.cell(row, state);
      if (index === 0 && flashing) text = `!${text}`;
      return fit(text, c.width, c.align);
    });
    lines.push(line([{ text: cells.join(' '), tone }], state.width, tone));
  }
  return lines;
}

function keySegments(keys: Array<[string, string, boolean]>): Segment[] {
  const out: Segment[] = [];
  for (const [key, label, enabled] of keys) {
    out.push({ text: ` ${key}`, tone: enabled ? 'key' : 'disabled' });
    out.push({ text: ` ${label}`, tone: enabled ? 'normal' : 'disabled' });
  }
  return out;
}

function promptLine(state: ViewState): ScreenLine {
  const prompt = state.prompt;
  const width = state.width;
  if (prompt) {
    switch (prompt.kind) {
      case 'filter':
        return line([{ text: ` filter by name: ${prompt.input}█  (Enter keep, Esc clear)`, tone: 'prompt' }], width, 'prompt');
      case 'edit':
        return line([{ text: ` ${prompt.setting} of ${prompt.name}: ${prompt.old} → ${prompt.input}█  (Enter, Esc cancel)`, tone: 'prompt' }], width, 'prompt');
      case 'confirm':
      case 'confirm-limit':
        return line([{ text: ` ${prompt.question} (y/n)`, tone: 'prompt' }], width, 'prompt');
    }
  }
  if (state.status) {
    const tone: Tone = state.status.kind === 'oom' ? 'oom' : state.status.kind === 'error' ? 'error' : 'info';
    return line([{ text: ` ${state.status.text}`, tone }], width, tone);
  }
  // Why the action keys are greyed, when nothing else is to be said.
  const refusal = actionRefusal(state);
  if (refusal !== undefined && state.connection === 'online') return line([{ text: ` actions off: ${refusal}`, tone: 'disabled' }], width);
  return blank(width);
}

function actionKeys(state: ViewState, row: ViewRow | undefined): Segment[] {
  const refusal = actionRefusal(state);
  const may = refusal === undefined && row !== undefined;
  const paused = row?.state === 'paused';
  const keys = keySegments([
    ['S', 'stop', may],
    ['R', 'restart', may],
    ['P', paused ? 'unpause' : 'pause', may],
    ['D', 'remove', may],
    ['M', 'memory', may],
    ['C', 'cpus', may],
  ]);
  return keys;
}

function tableFooter(state: ViewState): ScreenLine[] {
  const rows = visibleRows(state);
  const row = rows[selectedIndex(state, rows)];
  const sortKeys: Segment[] = [{ text: ' sort', tone: 'dim' }];
  const labels: Record<SortKey, string> = { name: 'name', owner: 'owner', cpu: 'cpu', mem: 'mem', memPercent: 'mem%', net: 'net', block: 'io', pids: 'pids', state: 'state' };
  SORT_KEYS.forEach((key, i) => sortKeys.push({ text: ` ${i + 1}`, tone: 'key' }, { text: ` ${labels[key]}`, tone: state.sort.key === key ? 'header' : 'normal' }));
  sortKeys.push(...keySegments([['r', 'reverse', true]]));
  const keys = [...keySegments([['⏎', 'detail', row !== undefined], ['/', 'filter', true], ['q', 'quit', true]]), { text: ' │', tone: 'dim' as Tone }, ...actionKeys(state, row)];
  return [promptLine(state), line(sortKeys, state.width), line(keys, state.width)];
}

// ---------------------------------------------------------------------------- drill-down

function fetchedLines<T>(fetched: Fetched<T>, toLines: (value: T) => string[]): string[] {
  if (fetched.status === 'loading') return ['loading…'];
  if (fetched.status === 'error') return [`cannot show this: ${fetched.message}`];
  return toLines(fetched.value);
}

function bar(fraction: number, width: number): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

function size(bytes: number | undefined | null): string {
  return bytes === undefined || bytes === null || !Number.isFinite(bytes) ? UNKNOWN : bytesSize(bytes);
}

function statsTab(detail: DetailState, row: ViewRow | undefined, width: number): string[] {
  const s = detail.stats;
  const lines: string[] = [];
  const cpuLimit = s.cpuLimitCpus === undefined ? UNKNOWN : s.cpuLimitCpus === null ? 'unlimited' : `${s.cpuLimitCpus} CPUs`;
  lines.push(`CPU     ${percent(s.cpuPercent)}  limit ${cpuLimit}  throttled ${percent(s.cpuThrottledPercent)}`);
  if (row) lines.push(`        ${sparkline(row.cpuSpark, Math.min(60, width - 10), Math.max(100, ...row.cpuSpark.map((p) => p ?? 0)))}`);
  const perCpu = perCpuPercent(detail);
  if (perCpu) {
    // Four CPUs a line: "cpu0 ████░░░░  45.0%".
    const cell = (i: number): string => `cpu${String(i).padEnd(2)} ${bar(perCpu[i]! / 100, 8)} ${percent(perCpu[i]).padStart(6)}`;
    for (let i = 0; i < perCpu.length; i += 3) lines.push('  ' + [i, i + 1, i + 2].filter((j) => j < perCpu.length).map(cell).join('  '));
  } else if (detail.sample && detail.sample.sample.cpu.perCpuNanoseconds === undefined) {
    lines.push(`  per-CPU: ${UNKNOWN} (the agent reads it with --percpu, on cgroup v1)`);
  } else {
    lines.push(`  per-CPU: ${detail.sample ? 'waiting for a second sample…' : UNKNOWN}`);
  }
  const limit = s.memoryLimitIsSet === false ? `${size(s.memoryLimitBytes)} (host)` : size(s.memoryLimitBytes);
  lines.push(`MEMORY  ${size(s.memoryWorkingSetBytes)} of ${limit} (${percent(s.memoryPercent)})  usage ${size(s.memoryUsageBytes)}`);
  if (row) lines.push(`        ${sparkline(row.memSpark, Math.min(60, width - 10), s.memoryLimitBytes)}`);
  const memory = detail.sample?.sample.memory;
  if (memory) {
    // What usage holds besides anonymous memory and the page cache: the kernel's own (slab, stacks, ...).
    const kernel = memory.usageBytes !== undefined && memory.rssBytes !== undefined && memory.cacheBytes !== undefined ? Math.max(0, memory.usageBytes - memory.rssBytes - memory.cacheBytes) : undefined;
    lines.push(`  rss ${size(memory.rssBytes)}  cache ${size(memory.cacheBytes)}  swap ${size(memory.swapBytes)}  kernel ${size(kernel)}`);
  } else {
    lines.push(`  rss ${UNKNOWN}  cache ${UNKNOWN}  swap ${UNKNOWN}  kernel ${UNKNOWN}`);
  }
  const rate = (v: number | undefined): string => (v === undefined ? UNKNOWN : `${compactBytes(v)}/s`);
  lines.push(`NET     rx ${size(s.networkRxBytes)} (${rate(s.networkRxBytesPerSecond)})  tx ${size(s.networkTxBytes)} (${rate(s.networkTxBytesPerSecond)})`);
  lines.push(`BLOCK   read ${size(s.blockReadBytes)} (${rate(s.blockReadBytesPerSecond)})  write ${size(s.blockWriteBytes)} (${rate(s.blockWriteBytesPerSecond)})`);
  const pidsLimit = s.pidsLimit === undefined ? UNKNOWN : s.pidsLimit === null ? 'unlimited' : String(s.pidsLimit);
  lines.push(`PIDS    ${s.pids ?? UNKNOWN} of ${pidsLimit}   OOM kills ${s.oomKills ?? UNKNOWN}`);
  return lines;
}

function tabLines(detail: DetailState, row: ViewRow | undefined, width: number): string[] {
  switch (detail.tab) {
    case 'stats':
      return statsTab(detail, row, width);
    case 'processes':
      return fetchedLines(detail.processes, (table) => {
        if (table.processes.length === 0) return ['no processes'];
        // Widths from the content; the last column (the command) takes the rest.
        const widths = table.titles.map((title, i) => Math.max(title.length, ...table.processes.map((p) => (p[i] ?? '').length)));
        const format = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join(' ');
        return [format(table.titles), ...table.processes.map(format)];
      });
    case 'ports':
      return fetchedLines(detail.ports, (ports) =>
        ports.length === 0 ? ['no listening sockets'] : ['PROTO  ADDRESS                PORT   PID     COMMAND', ...ports.map((p) => `${p.protocol.padEnd(6)} ${p.address.padEnd(22)} ${String(p.port).padEnd(6)} ${String(p.pid).padEnd(7)} ${p.command}`)],
      );
    case 'logs':
      return fetchedLines(detail.logs, (logs) => (logs.length === 0 ? ['no log lines'] : logs.map((l) => `${l.time.slice(11, 19)} ${l.stream === 'stderr' ? 'E' : ' '} ${l.text.replace(/\n$/, '')}`)));
    case 'inspect':
      return fetchedLines(detail.inspect, (document) =>
        inspectTree(document, detail.unfolded).map((l) => `${'  '.repeat(l.depth)}${l.foldable ? (l.unfolded ? '▾' : '▸') : ' '} ${l.key}: ${l.unfolded ? '' : l.text}`.trimEnd()),
      );
    case 'events':
      return fetchedLines(detail.events, (events) =>
        events.length === 0
          ? ['no recent events']
          : events
              .slice()
              .reverse()
              .map((e) => {
                const attributes = Object.entries(e.attributes)
                  .filter(([k]) => k !== 'name' && k !== 'image')
                  .map(([k, v]) => `${k}=${v}`)
                  .join(' ');
                const changes = (e.changes ?? []).map((c) => `${c.setting} ${c.old}→${c.new}`).join(' ');
                const limit = e.action === 'oom' && e.memoryLimitBytes !== undefined ? ` limit ${bytesSize(e.memoryLimitBytes)}` : '';
                return `${clockTime(e.timeMs)} ${e.action.padEnd(10)}${limit} ${changes} ${attributes}`.trimEnd();
              }),
      );
  }
}

function detailLines(state: ViewState, detail: DetailState, height: number): ScreenLine[] {
  const width = state.width;
  const row = rowById(state, detail.id);
  const name = row?.info.name ?? detail.id.slice(0, 12);
  const flashing = row !== undefined && isFlashing(row, state);
  const lines: ScreenLine[] = [];
  const owner = row ? OWNER_LABEL[row.info.source] ?? row.info.source : UNKNOWN;
  lines.push(line([{ text: ` ${flashing ? '!' : ''}${name}  ${owner}  ${detail.id.slice(0, 12)}  ${row?.state ?? 'gone'}  ${row?.info.image ?? ''}`, tone: flashing ? 'flash' : 'title' }], width, flashing ? 'flash' : 'title'));
  const tabs: Segment[] = [];
  for (const tab of DETAIL_TABS) tabs.push({ text: ` ${tab} `, tone: tab === detail.tab ? 'selected' : 'normal' });
  lines.push(line(tabs, width));
  const body = tabLines(detail, row, width);
  const available = height - 2;
  // The inspect tab scrolls with its cursor; the others by line.
  const withCursor = detail.tab === 'inspect' && detail.inspect.status === 'ok';
  const scroll = withCursor ? Math.max(0, detail.cursor - available + 1) : Math.max(0, Math.min(detail.scroll, body.length - available));
  for (const [i, text] of body.slice(scroll, scroll + available).entries()) {
    const tone: Tone = withCursor && scroll + i === detail.cursor ? 'selected' : 'normal';
    lines.push(line([{ text: ` ${text}`, tone }], width, tone));
  }
  return lines;
}

function detailFooter(state: ViewState): ScreenLine[] {
  const row = state.detail ? rowById(state, state.detail.id) : undefined;
  const keys = [...keySegments([['Esc', 'back', true], ['r', 'refresh', true], ['q', 'quit', true]]), { text: ' │', tone: 'dim' as Tone }, ...actionKeys(state, row)];
  const inspecting = state.detail?.tab === 'inspect';
  const moves = keySegments([['Tab', 'next tab', true], ['↑↓', inspecting ? 'move' : 'scroll', true], ...(inspecting ? ([['⏎', 'fold/unfold', true]] as Array<[string, string, boolean]>) : [])]);
  return [promptLine(state), line(moves, state.width), line(keys, state.width)];
}

// ---------------------------------------------------------------------------- the screen

export function renderScreen(state: ViewState): ScreenLine[] {
  const { width, height } = state;
  const bodyHeight = Math.max(0, height - HEADER_LINES - FOOTER_LINES);
  let lines: ScreenLine[];
  if (state.detail) {
    lines = [...detailLines(state, state.detail, bodyHeight + 1)];
    while (lines.length < height - FOOTER_LINES) lines.push(blank(width));
    lines.push(...detailFooter(state));
  } else {
    lines = [titleLine(state), ...tableLines(state, bodyHeight + 1)];
    while (lines.length < height - FOOTER_LINES) lines.push(blank(width));
    lines.push(...tableFooter(state));
  }
  return lines.slice(0, height);
}
