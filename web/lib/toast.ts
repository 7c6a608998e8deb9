/**
 * Toasts: short notices in a corner. OOM kills stay until dismissed (someone must see them);
 * other notices fade after a few seconds. The region is an ARIA live region, so screen readers
 * announce them too.
 */
import type { CapstanEvent } from '../../server/events/types';
import { byId, h } from './dom';
import { bytes } from './format';

export type ToastKind = 'info' | 'success' | 'error' | 'oom';

const AUTO_DISMISS_MS = 6000;

export function toast(kind: ToastKind, title: string, body: Array<Node | string> = [], options: { sticky?: boolean } = {}): HTMLElement {
  const region = byId('toasts');
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss' }, '×');
  const element = h(
    'div',
    { class: `toast toast-${kind}`, role: kind === 'oom' || kind === 'error' ? 'alert' : 'status' },
    h('div', { class: 'toast-head' }, h('strong', null, title), close),
    h('div', { class: 'toast-body' }, ...body),
  );
  const remove = (): void => element.remove();
  close.addEventListener('click', remove);
  region.prepend(element);
  // Never more than a screenful.
  while (region.children.length > 5) region.lastElementChild?.remove();
  if (!options.sticky) window.setTimeout(remove, AUTO_DISMISS_MS);
  return element;
}

/** The OOM toast: which container, the limit and the usage at the kill, a link to the container. */
export function oomToast(event: CapstanEvent): HTMLElement {
  const name = event.actor.name || event.actor.cgroupPath;
  const link = h('a', { href: `#/containers/${encodeURIComponent(event.actor.id)}`, class: 'toast-link' }, 'Open container');
  const element = toast(
    'oom',
    `OOM kill in ${name}`,
    [
      h(
        'p',
        null,
        'The kernel killed a process of ',
        h('strong', null, name),
        ` at ${new Date(event.timeMs).toLocaleTimeString([], { hour12: false })}: limit `,
        h('strong', { class: 'oom-limit' }, bytes(event.memoryLimitBytes)),
        ', usage ',
        h('strong', { class: 'oom-usage' }, bytes(event.memoryUsageBytes)),
        '.',
      ),
      link,
    ],
    { sticky: true },
  );
  element.dataset['container'] = event.actor.id;
  link.addEventListener('click', () => element.remove());
  return element;
}
