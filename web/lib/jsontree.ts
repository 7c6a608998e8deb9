/**
 * Foldable JSON: objects and arrays are <details> elements (keyboard and screen-reader friendly
 * for free), scalars are coloured by type. The top two levels start open.
 */
import { h } from './dom';

const OPEN_DEPTH = 2;

export function jsonTree(value: unknown): HTMLElement {
  return h('div', { class: 'json' }, node(undefined, value, 0));
}

function node(key: string | undefined, value: unknown, depth: number): HTMLElement {
  const label = key === undefined ? null : h('span', { class: 'json-key' }, `${key}: `);
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value as Record<string, unknown>);
    const summary = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
    if (entries.length === 0) return h('div', { class: 'json-row' }, label, h('span', { class: 'json-empty' }, Array.isArray(value) ? '[]' : '{}'));
    return h(
      'details',
      { class: 'json-node', open: depth < OPEN_DEPTH },
      h('summary', null, label, h('span', { class: 'json-count' }, summary)),
      h('div', { class: 'json-children' }, ...entries.map(([k, v]) => node(k, v, depth + 1))),
    );
  }
  const kind = value === null ? 'null' : typeof value;
  return h('div', { class: 'json-row' }, label, h('span', { class: `json-${kind}` }, JSON.stringify(value) ?? 'undefined'));
}
