/**
 * The container page's tabs: Processes (live top), Ports (published mappings and the sockets its
 * processes listen on), Inspect (foldable JSON), Logs (live tail with follow and search) and
 * Events. Only the open tab polls or streams; the others cost nothing.
 */
import type { ListeningAnswer } from '../../server/api/live';
import type { CapstanEvent } from '../../server/events/types';
import type { LogLine } from '../../server/runtime/shim-protocol';
import type { TopResult } from '../../server/runtime/top';
import type { ContainerInfo } from '../../server/model';
import { api, apiStream, messageOf, ref } from '../lib/api';
import { h, replaceChildren, setText, uniqueId } from '../lib/dom';
import { dateTime } from '../lib/format';
import { jsonTree } from '../lib/jsontree';
import { eventRow, eventTable } from './events';
import type { AppContext } from './view';

/** The sources that own containers capstan can ask for inspect, logs and lifecycle. */
export const OWNED_SOURCES: readonly string[] = ['capstan', 'docker', 'podman'];

const PROCESSES_EVERY_MS = 2000;
const PORTS_EVERY_MS = 5000;
const MAX_LOG_LINES = 5000;

interface Tab {
  id: string;
  label: string;
  /** Called when the tab opens; returns what stops it. */
  open(panel: HTMLElement): () => void;
}

export interface Tabs {
  element: HTMLElement;
  /** A collector tick happened (nothing to do for tabs that poll on their own). */
  tick(): void;
  dispose(): void;
}

type PortMap = Record<string, Array<{ HostIp: string; HostPort: string }> | null>;

/** Repeats `load` every `everyMs` while open, without overlapping calls. */
function poll(load: (signal: AbortSignal) => Promise<void>, everyMs: number): () => void {
  const controller = new AbortController();
  let timer = 0;
  const run = async (): Promise<void> => {
    try {
      await load(controller.signal);
    } finally {
      if (!controller.signal.aborted) timer = window.setTimeout(() => void run(), everyMs);
    }
  };
  void run();
  return () => {
    controller.abort();
    window.clearTimeout(timer);
  };
}

function errorText(problem: unknown): string | undefined {
  return (problem as Error).name === 'AbortError' ? undefined : messageOf(problem);
}

/** `sampled` tells whether the collector samples the container's cgroup now (it is running). */
export function containerTabs(ctx: AppContext, info: ContainerInfo, sampled: () => boolean): Tabs {
  // Containers an owner runs (capstan, Docker, Podman) have docker's inspect, logs and published ports.
  const capstan = OWNED_SOURCES.includes(info.source);
  const base = `/api/v1/containers/${ref(info.id)}`;

  const processes: Tab = {
    id: 'processes',
    label: 'Processes',
    open(panel) {
      const status = h('p', { class: 'muted' }, 'Loading…');
      const table = h('table', { class: 'grid', id: 'processes-table' });
      replaceChildren(panel, status, h('div', { class: 'table-wrap' }, table));
      return poll(async (signal) => {
        if (!sampled()) {
          table.replaceChildren();
          setText(status, 'Not running: no processes.');
          return;
        }
        try {
          const top = await api<TopResult>(`${base}/processes`, { signal });
          replaceChildren(
            table,
            h('thead', null, h('tr', null, ...top.Titles.map((title) => h('th', { scope: 'col' }, title)))),
            h('tbody', null, ...top.Processes.map((row) => h('tr', null, ...row.map((cell, i) => h('td', { class: i === row.length - 1 ? 'cmd' : 'mono' }, cell))))),
          );
          setText(status, top.Processes.length === 0 ? 'No processes in this cgroup.' : `${top.Processes.length} ${top.Processes.length === 1 ? 'process' : 'processes'} · every ${PROCESSES_EVERY_MS / 1000} s`);
        } catch (problem) {
          const text = errorText(problem);
          if (text) setText(status, text);
        }
      }, PROCESSES_EVERY_MS);
    },
  };

  const ports: Tab = {
    id: 'ports',
    label: 'Ports',
    open(panel) {
      const published = h('div', { id: 'ports-published' }, capstan ? 'Loading…' : 'Only containers that capstan, Docker or Podman run publish ports.');
      const listening = h('div', { id: 'ports-listening' }, 'Loading…');
      replaceChildren(panel, h('h3', null, 'Published'), published, h('h3', null, 'Listening inside'), listening);
      return poll(async (signal) => {
        if (capstan) {
          try {
            const inspect = await api<{ NetworkSettings?: { Ports?: PortMap } }>(`${base}/json`, { signal });
            const map = inspect.NetworkSettings?.Ports ?? {};
            const items = Object.entries(map).flatMap(([containerPort, bindings]) =>
              (bindings ?? []).map((b) => h('li', { class: 'mono' }, `${b.HostIp || '0.0.0.0'}:${b.HostPort || '?'} → ${containerPort}`)),
            );
            replaceChildren(published, items.length ? h('ul', { class: 'plain' }, ...items) : h('p', { class: 'muted' }, 'None.'));
          } catch (problem) {
            const text = errorText(problem);
            if (text) setText(published, text);
          }
        }
        if (!sampled()) {
          setText(listening, 'Not running.');
          return;
        }
        try {
          const answer = await api<ListeningAnswer>(`${base}/listening`, { signal });
          replaceChildren(
            listening,
            answer.sockets.length === 0
              ? h('p', { class: 'muted' }, 'No process of this container listens on a port.')
              : h(
                  'table',
                  { class: 'grid' },
                  h('thead', null, h('tr', null, ...['Protocol', 'Address', 'Port', 'PID', 'Command'].map((t) => h('th', { scope: 'col' }, t)))),
                  h('tbody', null, ...answer.sockets.map((s) => h('tr', null, h('td', null, s.protocol), h('td', { class: 'mono' }, s.address), h('td', { class: 'mono' }, s.port), h('td', { class: 'mono' }, s.pid), h('td', null, s.command)))),
                ),
          );
        } catch (problem) {
          const text = errorText(problem);
          if (text) setText(listening, text);
        }
      }, PORTS_EVERY_MS);
    },
  };

  const inspect: Tab = {
    id: 'inspect',
    label: 'Inspect',
    open(panel) {
      const controller = new AbortController();
      const body = h('div', { id: 'inspect-json' }, 'Loading…');
      const reload = h('button', { type: 'button' }, 'Reload');
      const load = async (): Promise<void> => {
        try {
          const value = capstan
            ? await api<unknown>(`${base}/json`, { signal: controller.signal })
            : {
                ...(await api<Record<string, unknown>>(base, { signal: controller.signal })),
                limits: (await api<{ limits: unknown }>(`${base}/limits`, { signal: controller.signal })).limits,
              };
          replaceChildren(body, jsonTree(value));
        } catch (problem) {
          const text = errorText(problem);
          if (text) setText(body, text);
        }
      };
      reload.addEventListener('click', () => void load());
      replaceChildren(panel, h('div', { class: 'tab-tools' }, h('span', { class: 'muted' }, capstan ? 'docker inspect' : 'The cgroup as the agent sees it'), h('span', { class: 'spacer' }), reload), body);
      void load();
      return () => controller.abort();
    },
  };

  const logs: Tab = {
    id: 'logs',
    label: 'Logs',
    open(panel) {
      if (!capstan) {
        replaceChildren(panel, h('p', { class: 'muted' }, 'Logs are kept by the container’s owner (capstan, Docker, Podman); this cgroup has none.'));
        return () => undefined;
      }
      const controller = new AbortController();
      const searchId = uniqueId('log-search');
      const search = h('input', { id: searchId, type: 'search', placeholder: 'search', autocomplete: 'off' });
      const follow = h('input', { type: 'checkbox', checked: true });
      const status = h('span', { class: 'muted', 'aria-live': 'polite' });
      const output = h('pre', { class: 'logs', id: 'logs-output', tabindex: 0, 'aria-label': 'Log lines' });
      let needle = '';
      const matches = (line: HTMLElement): boolean => needle === '' || (line.textContent ?? '').toLowerCase().includes(needle);
      const refilter = (): void => {
        let shown = 0;
        for (const line of output.children) {
          const visible = matches(line as HTMLElement);
          (line as HTMLElement).hidden = !visible;
          if (visible) shown++;
        }
        setText(status, needle ? `${shown} of ${output.childElementCount} lines match` : `${output.childElementCount} lines`);
      };
      search.addEventListener('input', () => {
        needle = search.value.trim().toLowerCase();
        refilter();
      });
      follow.addEventListener('change', () => {
        if (follow.checked) output.scrollTop = output.scrollHeight;
      });
      let queued: LogLine[] = [];
      let frame = 0;
      const flush = (): void => {
        frame = 0;
        const lines = queued;
        queued = [];
        for (const line of lines) {
          const element = h('span', { class: `log-line log-${line.stream}` }, h('span', { class: 'log-time' }, dateTime(Date.parse(line.time))), ' ', line.log.endsWith('\n') ? line.log : `${line.log}\n`);
          element.hidden = !matches(element);
          output.appendChild(element);
        }
        while (output.childElementCount > MAX_LOG_LINES) output.firstElementChild?.remove();
        if (follow.checked) output.scrollTop = output.scrollHeight;
        setText(status, needle ? status.textContent ?? '' : `${output.childElementCount} lines`);
      };
      replaceChildren(
        panel,
        h('div', { class: 'tab-tools' }, h('label', { for: searchId }, 'Search '), search, h('label', { class: 'check' }, follow, ' Follow'), h('span', { class: 'spacer' }), status),
        output,
      );
      apiStream<LogLine>(
        `${base}/logs?follow=1&tail=500`,
        (line) => {
          queued.push(line);
          if (!frame) frame = window.requestAnimationFrame(flush);
        },
        controller.signal,
      ).then(
        () => {
          if (!controller.signal.aborted) setText(status, `${output.childElementCount} lines · the container is not running, nothing more will come`);
        },
        (problem: unknown) => {
          const text = errorText(problem);
          if (text) setText(status, text);
        },
      );
      return () => {
        controller.abort();
        if (frame) window.cancelAnimationFrame(frame);
      };
    },
  };

  const events: Tab = {
    id: 'events',
    label: 'Events',
    open(panel) {
      const mine = (event: CapstanEvent): boolean => event.actor.id === info.id;
      const { table, body } = eventTable(false);
      const empty = h('p', { class: 'muted' }, 'No events for this container in the last day.');
      const render = (): void => {
        const list = ctx.events.list().filter(mine);
        replaceChildren(body, ...list.slice(0, 500).map((event) => eventRow(event, false)));
        empty.hidden = list.length > 0;
      };
      replaceChildren(panel, empty, h('div', { class: 'table-wrap' }, table));
      render();
      return ctx.events.onChange(render);
    },
  };

  const all = [processes, ports, inspect, logs, events];
  const tablist = h('div', { role: 'tablist', 'aria-label': 'Container details', class: 'tablist' });
  const panels = h('div', { class: 'tabpanels' });
  const buttons = new Map<string, HTMLButtonElement>();
  const panelOf = new Map<string, HTMLElement>();
  let stop: (() => void) | undefined;
  let active = '';

  for (const tab of all) {
    const button = h('button', { type: 'button', role: 'tab', id: `tab-${tab.id}`, 'aria-controls': `panel-${tab.id}`, 'aria-selected': 'false', tabindex: -1 }, tab.label);
    const panel = h('div', { role: 'tabpanel', id: `panel-${tab.id}`, 'aria-labelledby': `tab-${tab.id}`, tabindex: 0, hidden: true, class: 'tabpanel' });
    button.addEventListener('click', () => select(tab.id, false));
    button.addEventListener('keydown', (event) => {
      const index = all.indexOf(tab);
      const next = event.key === 'ArrowRight' ? index + 1 : event.key === 'ArrowLeft' ? index - 1 : event.key === 'Home' ? 0 : event.key === 'End' ? all.length - 1 : undefined;
      if (next === undefined) return;
      event.preventDefault();
      select(all[(next + all.length) % all.length]!.id, true);
    });
    buttons.set(tab.id, button);
    panelOf.set(tab.id, panel);
    tablist.appendChild(button);
    panels.appendChild(panel);
  }

  function select(id: string, focus: boolean): void {
    if (id === active) return;
    stop?.();
    stop = undefined;
    for (const [tabId, button] of buttons) {
      const selected = tabId === id;
      button.setAttribute('aria-selected', String(selected));
      button.tabIndex = selected ? 0 : -1;
      panelOf.get(tabId)!.hidden = !selected;
    }
    active = id;
    if (focus) buttons.get(id)!.focus();
    const tab = all.find((t) => t.id === id)!;
    stop = tab.open(panelOf.get(id)!);
  }

  select('processes', false);
  const element = h('section', { class: 'panel tabs', 'aria-label': 'Details' }, tablist, panels);
  return {
    element,
    tick() {
      // Tabs poll at their own pace; nothing to do per tick.
    },
    dispose() {
      stop?.();
    },
  };
}
