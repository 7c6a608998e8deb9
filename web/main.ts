/**
 * The dashboard's entry point: sign-in, the live connection, the event feed (badge and OOM
 * toasts on every page) and a hash router over the views:
 *
 *   #/                    overview (host, containers table)
 *   #/containers/<id>     one container
 *   #/events              events
 *   #/run                 run form (operators)
 *
 * The agent prints a URL with #token=...; that fragment is never sent to the server, and it is
 * moved into sessionStorage and out of the address bar before anything else happens.
 */
import type { CapstanEvent } from '../server/events/types';
import { api, setUnauthorizedHandler } from './lib/api';
import { clearToken, getToken, takeTokenFromUrl } from './lib/auth';
import { byId, h, replaceChildren, setText } from './lib/dom';
import { EventStore } from './lib/events';
import { LiveClient, type ConnectionState } from './lib/live';
import { oomToast } from './lib/toast';
import { containerView } from './views/container';
import { eventsView } from './views/events';
import { overviewView } from './views/overview';
import { runView } from './views/run';
import { signInView } from './views/signin';
import type { AppContext, MachineAnswer, View } from './views/view';

const main = byId('main');
const nav = byId('nav');
const banner = byId('banner');
const connection = byId('connection');
const who = byId('who');
const signOut = byId<HTMLButtonElement>('sign-out');
const unseenBadge = byId('unseen-badge');
const navRun = byId('nav-run');

interface Running {
  ctx: AppContext;
  view: View | undefined;
}

let running: Running | undefined;
/** Stops the current connection (set as soon as one exists, before the session arrives). */
let stopCurrent: (() => void) | undefined;

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'connecting…',
  online: 'live',
  offline: 'offline',
  unauthorized: 'signed out',
};

/** socket.io's reasons, in words. */
const DISCONNECT_REASON: Record<string, string> = {
  'io server disconnect': 'the agent closed the connection',
  'transport close': 'the connection closed',
  'transport error': 'the connection failed',
  'ping timeout': 'no answer in time',
  'xhr poll error': 'connection refused',
  'websocket error': 'connection refused',
  timeout: 'no answer in time',
};

function showConnection(state: ConnectionState, live: LiveClient): void {
  setText(connection, CONNECTION_TEXT[state]);
  connection.className = `connection connection-${state}`;
  if (state === 'offline') {
    const why = live.lastError ? ` (${DISCONNECT_REASON[live.lastError] ?? live.lastError})` : '';
    replaceChildren(banner, h('strong', null, 'Cannot reach the agent'), ` at ${location.host}${why}. Retrying by itself; the numbers on this page are stale until it answers.`);
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

function stopApp(): void {
  running?.view?.dispose();
  running = undefined;
  stopCurrent?.();
  stopCurrent = undefined;
}

function showSignIn(reason: string): void {
  stopApp();
  nav.hidden = true;
  signOut.hidden = true;
  banner.hidden = true;
  setText(who, '');
  setText(connection, '');
  document.title = 'Capstan: sign in';
  replaceChildren(main, signInView(reason, () => {
    if (location.hash !== '' && location.hash !== '#/') location.hash = '#/';
    void startApp();
  }));
}

function updateUnseen(events: EventStore): void {
  const unseen = events.unseen();
  unseenBadge.hidden = unseen === 0;
  setText(unseenBadge, unseen > 99 ? '99+' : String(unseen));
  unseenBadge.setAttribute('aria-label', `${unseen} unseen`);
}

async function startApp(): Promise<void> {
  stopApp();
  replaceChildren(main, h('p', { class: 'muted' }, 'Connecting to the agent…'));
  const live = new LiveClient();
  const events = new EventStore();
  const loading = new AbortController();
  const cleanups: Array<() => void> = [];
  const stop = (): void => {
    loading.abort();
    for (const cleanup of cleanups) cleanup();
    live.close();
  };
  stopCurrent = stop;
  const signedOut = (reason: string): void => {
    clearToken();
    showSignIn(reason);
  };
  setUnauthorizedHandler(() => signedOut('The agent refused the token (it may have been replaced). Sign in again.'));

  cleanups.push(
    live.onState((state) => {
      showConnection(state, live);
      if (state === 'unauthorized') signedOut('The agent refused the token (it may have been replaced). Sign in again.');
    }),
  );
  showConnection(live.state, live);

  // Pages need the role before they draw (viewers get no edit controls): wait for the session.
  const session = await new Promise<NonNullable<LiveClient['session']>>((resolve) => {
    const off = live.onSession((s) => {
      off();
      resolve(s);
    });
    cleanups.push(off);
  });
  if (loading.signal.aborted) return;
  let machine: MachineAnswer | undefined;
  try {
    machine = await api<MachineAnswer>('/api/v1/machine', { signal: loading.signal });
  } catch {
    machine = undefined;
  }
  if (loading.signal.aborted) return;

  const ctx: AppContext = { live, events, role: session.role, machine };
  running = { ctx, view: undefined };
  nav.hidden = false;
  navRun.hidden = session.role !== 'operator';
  signOut.hidden = false;
  setText(who, `${session.name} (${session.role})`);

  let wasOffline = false;
  cleanups.push(
    live.onEvent((event: CapstanEvent) => {
      events.add(event);
      if (event.action === 'oom') oomToast(event);
    }),
    events.onChange(() => updateUnseen(events)),
    // Events that happened while the agent was unreachable come from its log once it is back.
    live.onState((state) => {
      if (state === 'offline') wasOffline = true;
      if (state === 'online' && wasOffline) {
        wasOffline = false;
        events.loadPast(loading.signal).catch(() => undefined);
      }
    }),
  );
  events.loadPast(loading.signal).catch(() => undefined);
  updateUnseen(events);
  route();
}

function viewFor(ctx: AppContext, path: string): View {
  const container = /^\/containers\/(.+)$/.exec(path);
  if (container) return containerView(ctx, decodeURIComponent(container[1]!));
  if (path === '/events') return eventsView(ctx);
  if (path === '/run') return runView(ctx);
  if (path === '/' || path === '') return overviewView(ctx);
  return {
    element: h('div', { class: 'view' }, h('section', { class: 'panel' }, h('h1', null, 'Not found'), h('p', null, 'Nothing here. ', h('a', { href: '#/' }, 'Go to the overview.')))),
    title: 'Capstan: not found',
    dispose() {},
  };
}

function route(): void {
  if (takeTokenFromUrl()) {
    void startApp();
    return;
  }
  if (!running) return;
  const hash = location.hash;
  // Only "#/..." are routes.
  if (hash !== '' && !hash.startsWith('#/')) return;
  const path = hash.slice(1) || '/';
  running.view?.dispose();
  const view = viewFor(running.ctx, path);
  running.view = view;
  replaceChildren(main, view.element);
  document.title = view.title;
  for (const link of nav.querySelectorAll('a')) {
    const target = link.getAttribute('href')!.slice(1);
    if (target === path || (target === '/' && path.startsWith('/containers/'))) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

window.addEventListener('hashchange', () => {
  const previous = running?.view;
  route();
  // Keyboard and screen-reader users land at the top of the new page.
  if (running?.view && running.view !== previous) main.focus({ preventScroll: false });
});
byId('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});
signOut.addEventListener('click', () => {
  clearToken();
  history.replaceState(null, '', location.pathname);
  showSignIn('');
});

takeTokenFromUrl();
if (getToken()) void startApp();
else showSignIn('');
