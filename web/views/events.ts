/**
 * The events page: the last day and everything since, newest first, filterable by container and
 * by kind, OOM kills highlighted. While it is open every event counts as seen (the badge clears).
 */
import type { CapstanEvent, EventAction } from '../../server/events/types';
import { h, replaceChildren, setText, uniqueId } from '../lib/dom';
import { bytes, dateTime } from '../lib/format';
import type { AppContext, View } from './view';

const SHOWN = 1000;

const KINDS: Array<{ value: string; label: string; actions?: EventAction[] }> = [
  { value: '', label: 'All events' },
  { value: 'oom', label: 'OOM kills', actions: ['oom'] },
  { value: 'lifecycle', label: 'Lifecycle', actions: ['create', 'start', 'die', 'stop', 'kill', 'pause', 'unpause', 'restart', 'destroy'] },
  { value: 'update', label: 'Limit changes', actions: ['update'] },
  { value: 'memory', label: 'Memory pressure', actions: ['memory-near-limit', 'memory-near-limit-cleared'] },
];

/** What an event says beyond its action, in words. */
export function eventDetails(event: CapstanEvent): string {
  switch (event.action) {
    case 'oom':
      return `limit ${bytes(event.memoryLimitBytes)}, usage ${bytes(event.memoryUsageBytes)}`;
    case 'memory-near-limit':
    case 'memory-near-limit-cleared':
      return `usage ${bytes(event.memoryUsageBytes)}`;
    case 'die':
      return event.exitCode === undefined ? '' : `exit code ${event.exitCode}`;
    case 'update':
      return [
        ...(event.changes ?? []).map((c) => `${c.setting}: ${c.old} → ${c.new}`),
        event.principal ? `by ${event.principal}` : '',
      ]
        .filter(Boolean)
        .join(', ');
    default: {
      const attributes = Object.entries(event.attributes ?? {}).filter(([key]) => key !== 'name' && key !== 'image');
      return attributes.map(([key, value]) => `${key}=${value}`).join(', ');
    }
  }
}

export function eventTable(withContainer: boolean): { table: HTMLTableElement; body: HTMLTableSectionElement } {
  const body = h('tbody');
  const headers = ['Time', 'Event', ...(withContainer ? ['Container'] : []), 'Details'];
  const table = h('table', { class: 'grid events' }, h('thead', null, h('tr', null, ...headers.map((title) => h('th', { scope: 'col' }, title)))), body);
  return { table, body };
}

export function eventRow(event: CapstanEvent, withContainer: boolean): HTMLTableRowElement {
  const name = event.actor.name || event.actor.cgroupPath;
  return h(
    'tr',
    { class: event.action === 'oom' ? 'oom-row' : '', 'data-action': event.action },
    h('td', { class: 'mono nowrap' }, dateTime(event.timeMs)),
    h('td', null, h('span', { class: `badge event-${event.action}` }, event.action)),
    withContainer && h('td', null, h('a', { href: `#/containers/${encodeURIComponent(event.actor.id)}` }, name)),
    h('td', null, eventDetails(event)),
  );
}

export function eventsView(ctx: AppContext): View {
  const searchId = uniqueId('event-search');
  const kindId = uniqueId('event-kind');
  const search = h('input', { id: searchId, type: 'search', placeholder: 'container name', autocomplete: 'off' });
  const kind = h('select', { id: kindId }, ...KINDS.map((k) => h('option', { value: k.value }, k.label)));
  const counter = h('span', { class: 'muted', 'aria-live': 'polite' });
  const { table, body } = eventTable(true);
  const empty = h('p', { class: 'muted' }, 'No events match.');
  const element = h(
    'div',
    { class: 'view events-view' },
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'events-heading' },
      h('div', { class: 'table-tools' }, h('h1', { id: 'events-heading' }, 'Events'), counter, h('span', { class: 'spacer' }), h('label', { for: searchId }, 'Container '), search, h('label', { for: kindId }, 'Show '), kind),
      h('div', { class: 'table-wrap' }, table),
      empty,
    ),
  );

  const render = (): void => {
    const needle = search.value.trim().toLowerCase();
    const actions = KINDS.find((k) => k.value === kind.value)?.actions;
    const list = ctx.events
      .list()
      .filter((event) => (!actions || actions.includes(event.action)) && (needle === '' || `${event.actor.name} ${event.actor.cgroupPath}`.toLowerCase().includes(needle)));
    replaceChildren(body, ...list.slice(0, SHOWN).map((event) => eventRow(event, true)));
    empty.hidden = list.length > 0;
    setText(counter, list.length > SHOWN ? `newest ${SHOWN} of ${list.length}` : String(list.length));
  };
  search.addEventListener('input', render);
  kind.addEventListener('change', render);
  const stop = ctx.events.onChange(() => {
    render();
    if (ctx.events.unseen() > 0) ctx.events.markAllSeen();
  });
  ctx.events.markAllSeen();
  render();
  return {
    element,
    title: 'Capstan: events',
    dispose() {
      stop();
    },
  };
}
