/**
 * `capstan stats -i`: the live terminal view. This file wires the pieces: the agent's socket.io
 * stream (the dashboard's: overview room with sparklines, the open container's room, every event),
 * the pure state and key steps (state.ts, keys.ts), the pure screen (render.ts) and the terminal
 * (terminal.ts).
 *
 * Nothing here polls: rows, sparklines, OOM kills and the open container's stats all arrive on the
 * stream. The drill-down's lists (processes, ports, logs, events) are fetched once when it opens
 * and again on `r`; its raw sample (per-CPU, memory breakdown) is fetched when the stream says the
 * open container has a new tick, so it follows the agent's interval and stops with the view.
 */
import { io, type Socket } from 'socket.io-client';
import type { ListeningAnswer } from '../../api/live';
import type { ClientToServerEvents, ServerToClientEvents } from '../../api/socket';
import type { CapstanEvent } from '../../events/types';
import type { CgroupSample } from '../../model/cgroup';
import type { AgentClient } from '../client';
import { CliError } from '../errors';
import { bytesSize } from '../format/units';
import { extraCertificates } from '../http';
import { handleKey, type Effect } from './keys';
import { renderScreen } from './render';
import {
  anyFlashing,
  applyBaseline,
  applyContainerBaseline,
  applyContainerDelta,
  applyDelta,
  applyEvent,
  applyLimits,
  applySession,
  initialState,
  openDetail,
  type DetailState,
  type Fetched,
  type LogEntry,
  type ViewState,
} from './state';
import { colorWanted, openTerminal, type Screen } from './terminal';

/** Signals that end the view like q does (Ctrl-C arrives as a key: the terminal is in raw mode). */
const HANGUPS = ['SIGTERM', 'SIGHUP'] as const;
/** How often a flashing row is redrawn. Units: milliseconds. */
const FLASH_REDRAW_MS = 250;
/** Log lines and the span of past events the drill-down shows. */
const LOG_TAIL_LINES = 200;
/** Units: milliseconds. */
const EVENTS_SPAN_MS = 60 * 60 * 1000;

export interface InteractiveOptions {
  client: AgentClient;
  /** Every tracked cgroup (stats -a), not only containers. */
  all?: boolean;
  env: Readonly<Record<string, string | undefined>>;
  signal: AbortSignal;
  now(): number;
  /** For tests: a screen other than the process's terminal. */
  screen?: Screen;
}

function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/^Error response from daemon: /, '');
}

export function runInteractive(options: InteractiveOptions): Promise<number> {
  const { client } = options;
  if (options.screen === undefined && (!process.stdout.isTTY || !process.stdin.isTTY)) {
    throw new CliError('capstan: stats --interactive needs a terminal (stdin and stdout); use plain `capstan stats` in a pipe');
  }
  const color = colorWanted(options.env);
  const screen = options.screen ?? openTerminal(color);
  let state: ViewState = initialState({ width: screen.width(), height: screen.height(), nowMs: options.now() });

  const ca = client.endpoint.url.startsWith('https:') ? extraCertificates() : undefined;
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(client.endpoint.url, {
    auth: { token: client.endpoint.token ?? '' },
    // As the CLI's requests do (http.ts): NODE_EXTRA_CA_CERTS is added here, not at Node's start-up.
    ...(ca && { ca }),
    // The WebSocket transport only: long-polling would be polling.
    transports: ['websocket'],
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
  });

  return new Promise<number>((resolve) => {
    let finished = false;
    let drawQueued = false;
    let flashTimer: NodeJS.Timeout | undefined;

    const draw = (): void => {
      drawQueued = false;
      if (finished) return;
      state = { ...state, nowMs: options.now(), width: screen.width(), height: screen.height() };
      screen.draw(renderScreen(state));
      // Flashing rows need frames between ticks; nothing else does.
      if (anyFlashing(state) && !flashTimer) flashTimer = setInterval(draw, FLASH_REDRAW_MS);
      if (!anyFlashing(state) && flashTimer) {
        clearInterval(flashTimer);
        flashTimer = undefined;
      }
    };
    const update = (next: ViewState): void => {
      state = next;
      if (!drawQueued) {
        drawQueued = true;
        setImmediate(draw);
      }
    };

    const subscribe = (): void => {
      if (!socket.connected) return;
      const open = state.detail?.id;
      socket.emit('subscribe', { overview: options.all ? 'all' : 'containers', containers: open ? [open] : [] }, (result) => {
        if (finished) return;
        let next = state;
        if (result.error) next = { ...next, status: { kind: 'error', text: `the agent refused the subscription: ${result.error}` } };
        if (result.overview) next = applyBaseline(next, result.overview);
        for (const baseline of result.containers) next = applyContainerBaseline(next, baseline);
        update(next);
      });
    };

    const finish = (code: number): void => {
      if (finished) return;
      finished = true;
      if (flashTimer) clearInterval(flashTimer);
      options.signal.removeEventListener('abort', onAbort);
      for (const name of HANGUPS) process.off(name, onAbort);
      socket.close();
      screen.close();
      resolve(code);
    };
    const onAbort = (): void => finish(0);

    socket.on('connect', () => {
      update({ ...state, connection: 'online', connectionError: '' });
      subscribe();
    });
    socket.on('disconnect', (reason) => {
      // "io server disconnect": the agent closed us (shutting down); socket.io waits for us to retry.
      if (reason === 'io server disconnect') setTimeout(() => !finished && socket.connect(), 1000);
      update({ ...state, connection: 'offline', connectionError: reason });
    });
    socket.on('connect_error', (error) => {
      const unauthorized = error.message === 'unauthorized';
      const why = unauthorized ? 'the token is not valid for this agent' : `cannot reach the agent at ${client.endpoint.url} (${error.message}), retrying`;
      update({ ...state, connection: unauthorized ? 'unauthorized' : 'offline', connectionError: why });
    });
    socket.on('session', (session) => update(applySession(state, session)));
    socket.on('overview', (delta) => {
      const { state: next, resync } = applyDelta(state, delta);
      update(next);
      if (resync) subscribe();
    });
    socket.on('container', (delta) => {
      const { state: next, resync } = applyContainerDelta(state, delta);
      update(next);
      if (resync) subscribe();
      else if (state.detail?.id === delta.id && !delta.gone) void fetchSample(delta.id);
    });
    socket.on('event', (event) => update(applyEvent(state, event, bytesSize)));

    // ---- the drill-down's fetches: each result lands only if the same container is still open

    const setDetail = (id: string, change: (detail: DetailState) => DetailState): void => {
      if (finished || state.detail?.id !== id) return;
      update({ ...state, detail: change(state.detail) });
    };
    const fetched = async <T>(load: () => Promise<T>): Promise<Fetched<T>> => {
      try {
        return { status: 'ok', value: await load() };
      } catch (error) {
        return { status: 'error', message: message(error) };
      }
    };
    const ref = (id: string): string => encodeURIComponent(id);

    const fetchSample = async (id: string): Promise<void> => {
      try {
        const answer = (await client.call('GET', `/api/v1/containers/${ref(id)}`)) as { sample?: CgroupSample; stats?: { timestampMs?: number } };
        if (!answer.sample || typeof answer.stats?.timestampMs !== 'number') return;
        const sample = { sample: answer.sample, timestampMs: answer.stats.timestampMs };
        setDetail(id, (d) => (d.sample?.timestampMs === sample.timestampMs ? d : { ...d, previousSample: d.sample, sample }));
      } catch {
        // A capstan container that is not running has no cgroup sample: the tab says "-".
      }
    };
    const collect = async (path: string): Promise<unknown[]> => {
      const lines: unknown[] = [];
      for await (const line of client.streamLines(path, AbortSignal.timeout(10_000))) lines.push(line);
      return lines;
    };
    const fetchLists = (id: string): void => {
      const loading = { status: 'loading' } as const;
      setDetail(id, (d) => ({ ...d, processes: loading, ports: loading, logs: loading, events: loading, inspect: loading }));
      void fetched(() => client.call('GET', `/api/v1/containers/${ref(id)}/json`)).then((inspect) => setDetail(id, (d) => ({ ...d, inspect })));
      void fetched(async () => {
        const answer = (await client.call('GET', `/api/v1/containers/${ref(id)}/processes`)) as { Titles?: string[]; Processes?: string[][] };
        return { titles: answer.Titles ?? [], processes: answer.Processes ?? [] };
      }).then((processes) => setDetail(id, (d) => ({ ...d, processes })));
      void fetched(async () => ((await client.call('GET', `/api/v1/containers/${ref(id)}/listening`)) as ListeningAnswer).sockets).then((ports) =>
        setDetail(id, (d) => ({ ...d, ports })),
      );
      void fetched(async () =>
        (await collect(`/api/v1/containers/${ref(id)}/logs?tail=${LOG_TAIL_LINES}`)).map((l) => {
          const line = l as { time?: string; stream?: string; log?: string };
          return { time: line.time ?? '', stream: line.stream ?? 'stdout', text: line.log ?? '' } satisfies LogEntry;
        }),
      ).then((logs) => setDetail(id, (d) => ({ ...d, logs })));
      const nowMs = options.now();
      const since = ((nowMs - EVENTS_SPAN_MS) / 1000).toFixed(3);
      const until = (nowMs / 1000 + 1).toFixed(3);
      void fetched(async () => (await collect(`/api/v1/events?since=${since}&until=${until}&filter=${encodeURIComponent(`container=${id}`)}`)) as CapstanEvent[]).then(
        (events) => setDetail(id, (d) => ({ ...d, events })),
      );
    };

    // ---- actions

    const act = async (effect: Extract<Effect, { kind: 'lifecycle' | 'limit' }>): Promise<void> => {
      try {
        if (effect.kind === 'lifecycle') {
          if (effect.action === 'remove') await client.call('DELETE', `/api/v1/containers/${ref(effect.id)}?force=1`, { timeoutMs: 60_000 });
          else await client.call('POST', `/api/v1/containers/${ref(effect.id)}/${effect.action}`, { timeoutMs: 60_000 });
          update({ ...state, status: { kind: 'info', text: `${effect.action}: ${effect.name} done` } });
        } else {
          const answer = (await client.call('PATCH', `/api/v1/containers/${ref(effect.id)}/limits`, { body: { [effect.setting]: effect.value } })) as {
            applied?: Array<{ setting: string; old: string; new: string }>;
            limits?: { memoryBytes?: number | null; cpus?: number | null };
            warnings?: string[];
          };
          if (answer.limits) state = applyLimits(state, effect.id, answer.limits);
          const applied = (answer.applied ?? []).map((c) => `${c.setting} ${c.old} → ${c.new}`).join(', ') || `${effect.setting} ${effect.old} → ${effect.value}`;
          const warnings = (answer.warnings ?? []).length > 0 ? ` (warning: ${answer.warnings!.join('; ')})` : '';
          update({ ...state, status: { kind: 'info', text: `${effect.name}: ${applied}${warnings}` } });
        }
      } catch (error) {
        const what = effect.kind === 'lifecycle' ? effect.action : `${effect.setting} ${effect.old} → ${effect.value}`;
        update({ ...state, status: { kind: 'error', text: `${what} refused for ${effect.name}: ${message(error)}` } });
      }
    };

    const run = (effect: Effect): void => {
      switch (effect.kind) {
        case 'quit':
          finish(0);
          return;
        case 'open':
          update({ ...state, detail: openDetail(effect.id) });
          subscribe();
          void fetchSample(effect.id);
          fetchLists(effect.id);
          return;
        case 'close':
          subscribe();
          return;
        case 'refresh':
          fetchLists(effect.id);
          return;
        case 'lifecycle':
        case 'limit':
          void act(effect);
          return;
      }
    };

    screen.onKey((key) => {
      if (finished) return;
      const step = handleKey(state, key);
      update(step.state);
      for (const effect of step.effects) run(effect);
    });
    screen.onResize(() => update(state));

    if (options.signal.aborted) return finish(0);
    options.signal.addEventListener('abort', onAbort);
    // Killed or hung up (an SSH session closed): give the terminal back before going.
    if (options.screen === undefined) for (const name of HANGUPS) process.once(name, onAbort);
    draw();
  });
}
