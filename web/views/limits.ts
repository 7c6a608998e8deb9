/**
 * The limits panel of a container page. Everyone sees the limits in force (read back from the
 * cgroup); an operator also gets the editor: each input shows the current value and what it will
 * become, the change is confirmed as old → new before anything is written, and the API's messages
 * are shown word for word. On cgroup v2 a memory limit below the usage is refused by the API
 * unless forced; the panel then shows that message and offers the force explicitly.
 */
import type { CurrentLimits } from '../../server/limits/current';
import type { LimitUpdateResult } from '../../server/limits/service';
import { parseGoInt, parseNanoCpus, parseRamInBytes } from '../../server/limits/units';
import type { ContainerInfo } from '../../server/model';
import { api, ApiError, messageOf, ref } from '../lib/api';
import { confirmDialog } from '../lib/dialog';
import { h, replaceChildren, setText } from '../lib/dom';
import { byteLimit, bytes, count, cpus, UNKNOWN } from '../lib/format';
import { toast } from '../lib/toast';
import type { AppContext } from './view';

/** GET /api/v1/containers/:ref/limits. */
interface LimitsAnswer {
  id: string;
  name: string;
  cgroupPath: string;
  limits: CurrentLimits;
}

/** PATCH answer: LimitUpdateResult plus who. */
type UpdateAnswer = LimitUpdateResult & { id: string; name: string };

type BodyField = 'cpus' | 'cpuShares' | 'memory' | 'memoryReservation' | 'pidsLimit' | 'blkioWeight';

interface FieldSpec {
  field: BodyField;
  label: string;
  hint: string;
  current(limits: CurrentLimits): string;
  /** What the typed text will become, for the preview only: the API has the last word. */
  preview(text: string): string;
}

const attempt = (parse: () => string): string => {
  try {
    return parse();
  } catch {
    return '?';
  }
};

const FIELDS: FieldSpec[] = [
  {
    field: 'cpus',
    label: 'CPUs',
    hint: 'e.g. 0.5, 2',
    current: (l) => cpus(l.cpus),
    preview: (t) => attempt(() => cpus(parseNanoCpus(t) / 1e9)),
  },
  {
    field: 'cpuShares',
    label: 'CPU shares',
    hint: 'e.g. 512',
    current: (l) => (l.cpuShares !== undefined ? count(l.cpuShares) : l.cpuWeight !== undefined ? `weight ${l.cpuWeight}` : UNKNOWN),
    preview: (t) => attempt(() => count(parseGoInt(t))),
  },
  {
    field: 'memory',
    label: 'Memory',
    hint: 'e.g. 64m, 1g',
    current: (l) => byteLimit(l.memoryBytes),
    preview: (t) => attempt(() => bytes(parseRamInBytes(t))),
  },
  {
    field: 'memoryReservation',
    label: 'Memory reservation',
    hint: 'e.g. 32m',
    current: (l) => (l.memoryReservationBytes === null ? 'none' : bytes(l.memoryReservationBytes)),
    preview: (t) => attempt(() => bytes(parseRamInBytes(t))),
  },
  {
    field: 'pidsLimit',
    label: 'PIDs limit',
    hint: 'e.g. 100; -1 = unlimited',
    current: (l) => count(l.pidsLimit),
    preview: (t) =>
      attempt(() => {
        const n = parseGoInt(t);
        return n <= 0 ? 'unlimited' : String(n);
      }),
  },
  {
    field: 'blkioWeight',
    label: 'Block I/O weight',
    hint: '10–1000',
    current: (l) => count(l.blkioWeight),
    preview: (t) => attempt(() => count(parseGoInt(t))),
  },
];

export interface LimitsPanel {
  element: HTMLElement;
  /** Reads the limits again. */
  refresh(): Promise<void>;
  dispose(): void;
}

export function limitsPanel(ctx: AppContext, info: ContainerInfo, onApplied: (limits: CurrentLimits) => void): LimitsPanel {
  const operator = ctx.role === 'operator';
  let limits: CurrentLimits | undefined;
  const disposed = new AbortController();

  const currentCells = new Map<BodyField, HTMLElement>();
  const inputs = new Map<BodyField, HTMLInputElement>();
  const previews = new Map<BodyField, HTMLElement>();
  const error = h('div', { class: 'form-error', id: 'limits-error', role: 'alert', hidden: true });
  const result = h('div', { class: 'form-result', id: 'limits-result', role: 'status' });
  const note = h('p', { class: 'muted small', id: 'limits-note' });

  const rows = FIELDS.map((spec) => {
    const current = h('td', { class: 'current', 'data-field': spec.field }, UNKNOWN);
    currentCells.set(spec.field, current);
    const cells: HTMLElement[] = [h('th', { scope: 'row' }, spec.label), current];
    if (operator) {
      const id = `limit-${spec.field}`;
      const input = h('input', { id, name: spec.field, type: 'text', inputmode: 'decimal', autocomplete: 'off', spellcheck: 'false', placeholder: spec.hint, 'aria-label': `New ${spec.label}` });
      const preview = h('td', { class: 'preview', 'data-field': spec.field, 'aria-live': 'polite' });
      input.addEventListener('input', () => updatePreview(spec));
      inputs.set(spec.field, input);
      previews.set(spec.field, preview);
      cells.push(h('td', null, input), preview);
    }
    return h('tr', null, ...cells);
  });

  const head = h('tr', null, h('th', { scope: 'col' }, 'Setting'), h('th', { scope: 'col' }, 'Current'), operator && h('th', { scope: 'col' }, 'New value'), operator && h('th', { scope: 'col' }, 'Becomes'));
  const table = h('table', { class: 'limits' }, h('thead', null, head), h('tbody', null, ...rows));
  const review = h('button', { type: 'submit', class: 'primary', id: 'limits-review' }, 'Review change…');
  const reset = h('button', { type: 'reset' }, 'Clear');
  const body: HTMLElement = operator
    ? h('form', { id: 'limits-form', novalidate: true, 'aria-describedby': note.id }, table, h('div', { class: 'form-actions' }, reset, review))
    : h('div', null, table);
  const element = h('section', { class: 'panel limits-panel', 'aria-labelledby': 'limits-heading' }, h('h2', { id: 'limits-heading' }, 'Limits'), note, body, error, result);

  function updatePreview(spec: FieldSpec): void {
    const input = inputs.get(spec.field)!;
    const preview = previews.get(spec.field)!;
    const text = input.value.trim();
    if (text === '') {
      setText(preview, '');
      return;
    }
    setText(preview, `${spec.current(limits ?? ({} as CurrentLimits))} → ${spec.preview(text)}`);
  }

  function show(current: CurrentLimits): void {
    limits = current;
    for (const spec of FIELDS) setText(currentCells.get(spec.field)!, spec.current(current));
    for (const spec of FIELDS) if (inputs.has(spec.field)) updatePreview(spec);
    setText(note, `cgroup v${current.cgroupVersion}. Values as \`docker update\` takes them; the agent validates with Docker's rules.`);
  }

  async function refresh(): Promise<void> {
    try {
      const answer = await api<LimitsAnswer>(`/api/v1/containers/${ref(info.id)}/limits`, { signal: disposed.signal });
      show(answer.limits);
    } catch (problem) {
      if ((problem as Error).name === 'AbortError') return;
      setText(note, `Cannot read the limits: ${messageOf(problem)}`);
    }
  }

  function showError(message: string, force?: () => void): void {
    replaceChildren(error, h('p', { class: 'api-message' }, message));
    if (force) {
      const button = h('button', { type: 'button', class: 'danger', id: 'limits-force' }, 'Apply anyway (force)');
      button.addEventListener('click', force);
      error.appendChild(button);
    }
    error.hidden = false;
  }

  async function apply(body: Record<string, string | boolean>): Promise<void> {
    error.hidden = true;
    setText(result, 'Applying…');
    review.disabled = true;
    try {
      const answer = await api<UpdateAnswer>(`/api/v1/containers/${ref(info.id)}/limits`, { method: 'PATCH', body });
      const lines = answer.applied.map((change) => h('li', null, `${change.setting}: ${change.old} → ${change.new}`));
      const warnings = answer.warnings.map((warning) => h('li', { class: 'warning' }, warning));
      const clamped = answer.clamped.map((c) => h('li', { class: 'warning' }, `${JSON.stringify(c)}`));
      replaceChildren(result, h('p', null, 'Applied.'), h('ul', null, ...lines, ...warnings, ...clamped));
      for (const input of inputs.values()) input.value = '';
      // The editor always changes limits, so the answer has them (only a restart-policy update may not).
      if (answer.limits) {
        show(answer.limits);
        onApplied(answer.limits);
      }
      toast('success', `Limits of ${info.name} updated`, answer.applied.map((c) => `${c.setting}: ${c.old} → ${c.new}. `));
    } catch (problem) {
      setText(result, '');
      if (problem instanceof ApiError && problem.code === 'memory_below_usage' && body['force'] !== true) {
        showError(problem.message, () => {
          void confirmDialog({
            title: 'Force the memory limit?',
            body: h('p', null, 'The kernel will reclaim memory and then OOM-kill processes in the container until it fits. Apply anyway?'),
            confirm: 'Force it',
            danger: true,
            id: 'force-dialog',
          }).then((confirmed) => {
            if (confirmed) void apply({ ...body, force: true });
          });
        });
      } else {
        showError(messageOf(problem));
      }
    } finally {
      review.disabled = false;
    }
  }

  if (operator) {
    body.addEventListener('reset', () => {
      window.setTimeout(() => {
        for (const spec of FIELDS) updatePreview(spec);
        error.hidden = true;
      });
    });
    body.addEventListener('submit', (event) => {
      event.preventDefault();
      const changes: Array<{ spec: FieldSpec; text: string }> = [];
      for (const spec of FIELDS) {
        const text = inputs.get(spec.field)!.value.trim();
        if (text !== '') changes.push({ spec, text });
      }
      if (changes.length === 0) {
        showError('Type a new value in at least one field.');
        return;
      }
      error.hidden = true;
      void confirmDialog({
        title: `Change the limits of ${info.name}?`,
        id: 'limits-confirm',
        body: h(
          'ul',
          { class: 'change-list' },
          ...changes.map(({ spec, text }) =>
            h('li', null, h('span', { class: 'change-label' }, `${spec.label}: `), h('span', { class: 'old' }, spec.current(limits ?? ({} as CurrentLimits))), ' → ', h('span', { class: 'new' }, `${spec.preview(text)} (${text})`)),
          ),
        ),
        confirm: 'Apply',
      }).then((confirmed) => {
        if (!confirmed) return;
        // Sent as typed, like the CLI sends `docker update` flags: the API parses and validates.
        void apply(Object.fromEntries(changes.map(({ spec, text }) => [spec.field, text])));
      });
    });
  }

  void refresh();
  return {
    element,
    refresh,
    dispose() {
      disposed.abort();
    },
  };
}
