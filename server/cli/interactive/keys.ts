/**
 * What each key does in `capstan stats -i`, as a pure step: (state, key) → (state, effects). The
 * effects (open a container, send an action, quit) are carried out by index.ts; this file decides
 * nothing that needs the network.
 *
 * Key names are terminal-kit's: printable characters as themselves, and UP, DOWN, PAGE_UP,
 * PAGE_DOWN, HOME, END, LEFT, RIGHT, TAB, SHIFT_TAB, ENTER, ESCAPE, BACKSPACE, CTRL_C.
 *
 * Lifecycle and limit keys are capitals (S R P D M C), so a stray lower-case key never stops a
 * container; each asks y/n first, and a limit shows old → new before it is sent.
 */
import { bytesSize } from '../format/units';
import { actionRefusal } from './render';
import {
  DETAIL_TABS,
  SORT_KEYS,
  inspectTree,
  rowById,
  selectedIndex,
  visibleRows,
  type LifecycleAction,
  type LimitSetting,
  type ViewState,
} from './state';

export type Effect =
  | { kind: 'quit' }
  | { kind: 'open'; id: string }
  | { kind: 'close' }
  | { kind: 'refresh'; id: string }
  | { kind: 'lifecycle'; id: string; name: string; action: LifecycleAction }
  | { kind: 'limit'; id: string; name: string; setting: LimitSetting; value: string; old: string };

export interface Step {
  state: ViewState;
  effects: Effect[];
}

const ACTION_KEYS: Record<string, LifecycleAction | LimitSetting> = { S: 'stop', R: 'restart', P: 'pause', D: 'remove', M: 'memory', C: 'cpus' };
/** How many rows PAGE_UP / PAGE_DOWN move. */
const PAGE_ROWS = 10;

function same(state: ViewState): Step {
  return { state, effects: [] };
}

/** The limit as it stands now, in the words `capstan update` takes. */
function currentLimit(state: ViewState, id: string, setting: LimitSetting): string {
  const stats = state.detail?.id === id ? state.detail.stats : rowById(state, id)?.stats;
  if (setting === 'memory') {
    if (stats?.memoryLimitIsSet === false) return 'unlimited';
    return stats?.memoryLimitBytes === undefined ? '-' : bytesSize(stats.memoryLimitBytes);
  }
  if (stats?.cpuLimitCpus === null) return 'unlimited';
  return stats?.cpuLimitCpus === undefined ? '-' : String(stats.cpuLimitCpus);
}

/** The container the keys act on: the open one, else the selected row. */
function target(state: ViewState): { id: string; name: string; paused: boolean } | undefined {
  if (state.detail) {
    const row = rowById(state, state.detail.id);
    return { id: state.detail.id, name: row?.info.name ?? state.detail.id.slice(0, 12), paused: row?.state === 'paused' };
  }
  const rows = visibleRows(state);
  const row = rows[selectedIndex(state, rows)];
  return row ? { id: row.info.id, name: row.info.name, paused: row.state === 'paused' } : undefined;
}

function promptKey(state: ViewState, key: string): Step {
  const prompt = state.prompt!;
  if (prompt.kind === 'confirm' || prompt.kind === 'confirm-limit') {
    if (key === 'y' || key === 'Y') {
      const effect: Effect =
        prompt.kind === 'confirm'
          ? { kind: 'lifecycle', id: prompt.id, name: prompt.name, action: prompt.action }
          : { kind: 'limit', id: prompt.id, name: prompt.name, setting: prompt.setting, value: prompt.value, old: currentLimit(state, prompt.id, prompt.setting) };
      return { state: { ...state, prompt: undefined, status: { kind: 'info', text: `${prompt.question} sending…` } }, effects: [effect] };
    }
    if (key === 'n' || key === 'N' || key === 'ESCAPE' || key === 'CTRL_C') return same({ ...state, prompt: undefined, status: { kind: 'info', text: 'cancelled' } });
    return same(state);
  }
  // A line being typed: the filter (live as it is typed) or a new limit.
  if (key === 'ESCAPE' || key === 'CTRL_C') {
    return same(prompt.kind === 'filter' ? { ...state, prompt: undefined, filter: '' } : { ...state, prompt: undefined, status: { kind: 'info', text: 'cancelled' } });
  }
  if (key === 'ENTER') {
    if (prompt.kind === 'filter') return same({ ...state, prompt: undefined });
    const value = prompt.input.trim();
    if (value === '') return same({ ...state, prompt: undefined, status: { kind: 'info', text: 'cancelled: no value typed' } });
    return same({
      ...state,
      prompt: { kind: 'confirm-limit', id: prompt.id, name: prompt.name, setting: prompt.setting, value, question: `${prompt.setting} of ${prompt.name}: ${prompt.old} → ${value}?` },
    });
  }
  let input = prompt.input;
  if (key === 'BACKSPACE') input = [...input].slice(0, -1).join('');
  else if ([...key].length === 1 && key >= ' ') input += key;
  else return same(state);
  if (prompt.kind === 'filter') return same({ ...state, prompt: { ...prompt, input }, filter: input });
  return same({ ...state, prompt: { ...prompt, input } });
}

function actionKey(state: ViewState, what: LifecycleAction | LimitSetting): Step {
  const refusal = actionRefusal(state);
  const on = target(state);
  if (refusal !== undefined) return same({ ...state, status: { kind: 'error', text: `cannot ${what === 'memory' || what === 'cpus' ? `change ${what}` : what}: ${refusal}` } });
  if (!on) return same(state);
  if (what === 'memory' || what === 'cpus') {
    return same({ ...state, status: undefined, prompt: { kind: 'edit', setting: what, id: on.id, name: on.name, old: currentLimit(state, on.id, what), input: '' } });
  }
  const action: LifecycleAction = what === 'pause' && on.paused ? 'unpause' : what;
  return same({ ...state, status: undefined, prompt: { kind: 'confirm', id: on.id, name: on.name, action, question: `${action} ${on.name}?` } });
}

function moveSelection(state: ViewState, by: number | 'first' | 'last'): ViewState {
  const rows = visibleRows(state);
  if (rows.length === 0) return state;
  const at = selectedIndex(state, rows);
  const next = by === 'first' ? 0 : by === 'last' ? rows.length - 1 : Math.max(0, Math.min(rows.length - 1, at + by));
  return { ...state, selectedId: rows[next]!.info.id };
}

function detailKey(state: ViewState, key: string): Step {
  const detail = state.detail!;
  const tabAt = DETAIL_TABS.indexOf(detail.tab);
  const switchTab = (by: number): Step =>
    same({ ...state, detail: { ...detail, tab: DETAIL_TABS[(tabAt + by + DETAIL_TABS.length) % DETAIL_TABS.length]!, scroll: 0 } });
  const tree = detail.tab === 'inspect' && detail.inspect.status === 'ok' ? inspectTree(detail.inspect.value, detail.unfolded) : undefined;
  const scroll = (by: number): Step =>
    tree
      ? same({ ...state, detail: { ...detail, cursor: Math.max(0, Math.min(tree.length - 1, detail.cursor + by)) } })
      : same({ ...state, detail: { ...detail, scroll: Math.max(0, detail.scroll + by) } });
  switch (key) {
    case 'ESCAPE':
    case 'BACKSPACE':
      return { state: { ...state, detail: undefined }, effects: [{ kind: 'close' }] };
    case 'TAB':
    case 'RIGHT':
      return switchTab(1);
    case 'SHIFT_TAB':
    case 'LEFT':
      return switchTab(-1);
    case 'UP':
    case 'k':
      return scroll(-1);
    case 'DOWN':
    case 'j':
      return scroll(1);
    case 'PAGE_UP':
      return scroll(-PAGE_ROWS);
    case 'PAGE_DOWN':
      return scroll(PAGE_ROWS);
    case 'r':
      return { state, effects: [{ kind: 'refresh', id: detail.id }] };
    case 'ENTER':
    case ' ': {
      const at = tree?.[detail.cursor];
      if (!at?.foldable) return same(state);
      const unfolded = new Set(detail.unfolded);
      if (unfolded.has(at.path)) unfolded.delete(at.path);
      else unfolded.add(at.path);
      return same({ ...state, detail: { ...detail, unfolded } });
    }
    default:
      return same(state);
  }
}

function tableKey(state: ViewState, key: string): Step {
  const digit = Number(key);
  if (key.length === 1 && Number.isInteger(digit) && digit >= 1 && digit <= SORT_KEYS.length) {
    const sortKey = SORT_KEYS[digit - 1]!;
    // Numbers read best biggest first; names and states A to Z.
    const descending = sortKey === state.sort.key ? state.sort.descending : !['name', 'owner', 'state'].includes(sortKey);
    return same({ ...state, sort: { key: sortKey, descending } });
  }
  switch (key) {
    case 'r':
      return same({ ...state, sort: { ...state.sort, descending: !state.sort.descending } });
    case '/':
      return same({ ...state, prompt: { kind: 'filter', input: state.filter }, status: undefined });
    case 'ESCAPE':
      return same({ ...state, filter: '', status: undefined });
    case 'UP':
    case 'k':
      return same(moveSelection(state, -1));
    case 'DOWN':
    case 'j':
      return same(moveSelection(state, 1));
    case 'PAGE_UP':
      return same(moveSelection(state, -PAGE_ROWS));
    case 'PAGE_DOWN':
      return same(moveSelection(state, PAGE_ROWS));
    case 'HOME':
      return same(moveSelection(state, 'first'));
    case 'END':
      return same(moveSelection(state, 'last'));
    case 'ENTER': {
      const on = target(state);
      return on ? { state: { ...state, selectedId: on.id }, effects: [{ kind: 'open', id: on.id }] } : same(state);
    }
    default:
      return same(state);
  }
}

export function handleKey(state: ViewState, key: string): Step {
  if (state.prompt) return promptKey(state, key);
  if (key === 'q' || key === 'CTRL_C') return { state, effects: [{ kind: 'quit' }] };
  const action = ACTION_KEYS[key];
  if (action !== undefined) return actionKey(state, action);
  return state.detail ? detailKey(state, key) : tableKey(state, key);
}
