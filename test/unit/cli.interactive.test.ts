/**
 * `capstan stats -i` as pure pieces: the stream's messages applied to the state (state.ts), keys
 * (keys.ts) and the screen they give (render.ts), at 80×24 and wider. The terminal and the socket
 * are not involved (the tmux integration test drives those against a real agent).
 */
import test from 'ava';
import type { LiveRow, OverviewBaseline, OverviewDelta } from '../../server/api/live';
import { handleKey, type Effect } from '../../server/cli/interactive/keys';
import { compactBytes, layoutColumns, renderScreen, screenText, sparkline } from '../../server/cli/interactive/render';
import { applyBaseline, applyDelta, applyEvent, applyLimits, applySession, initialState, openDetail, perCpuPercent, type ViewState } from '../../server/cli/interactive/state';
import { colorWanted } from '../../server/cli/interactive/terminal';
import { AgentClient, resolveEndpoint } from '../../server/cli/client';
import { bytesSize } from '../../server/cli/format/units';
import { runCli } from '../../server/cli/main';
import type { CapstanEvent } from '../../server/events/types';
import type { ContainerInfo } from '../../server/model';

const MiB = 1024 * 1024;
const NOW = Date.UTC(2026, 11, 7, 1, 2, 3);

function info(name: string, source: ContainerInfo['source'] = 'capstan'): ContainerInfo {
  const id = (name + '0'.repeat(64)).slice(0, 64).replace(/[^0-9a-f]/g, 'a');
  return { id, name, cgroupPath: `/capstan/${id}`, image: 'busybox', source, isContainer: true, labels: {} };
}

function row(key: number, name: string, stats: LiveRow['stats'], source: ContainerInfo['source'] = 'capstan'): LiveRow {
  return { key, info: info(name, source), state: 'running', stats, spark: { cpuPercent: [0, 50, 100], memoryWorkingSetBytes: [MiB, 2 * MiB, null] } };
}

function baseline(rows: LiveRow[], sequence = 10): OverviewBaseline {
  return { scope: 'containers', sequence, timestampMs: NOW, rows };
}

function viewState(width = 80, height = 24): ViewState {
  let state = initialState({ width, height, nowMs: NOW });
  state = applySession({ ...state, connection: 'online' }, { name: 'operator', role: 'operator', intervalMs: 1000 });
  return applyBaseline(
    state,
    baseline([
      row(1, 'idle', { cpuPercent: 0.1, memoryWorkingSetBytes: 2 * MiB, memoryLimitBytes: 64 * MiB, memoryLimitIsSet: true, memoryPercent: 3.1, pids: 1 }),
      row(2, 'burner', { cpuPercent: 99.5, memoryWorkingSetBytes: MiB, memoryLimitBytes: 16 * MiB, memoryLimitIsSet: true, memoryPercent: 6.3, pids: 2, cpuLimitCpus: null }),
      // A docker container the agent knows nothing measured about yet.
      row(3, 'web', {}, 'docker'),
    ]),
  );
}

function keys(state: ViewState, ...pressed: string[]): { state: ViewState; effects: Effect[] } {
  const effects: Effect[] = [];
  for (const key of pressed) {
    const step = handleKey(state, key);
    state = step.state;
    effects.push(...step.effects);
  }
  return { state, effects };
}

/** Names of the table's rows, top to bottom. */
function rowNames(state: ViewState): string[] {
  return screenText(state)
    .slice(2, -3)
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter((n) => n !== '');
}

test('the screen is exactly 80×24, with every owner, ctop columns and "-" for unknown', (t) => {
  const state = viewState();
  const lines = screenText(state);
  t.is(lines.length, 24);
  for (const l of lines) t.is([...l].length, 80, l);
  t.regex(lines[0]!, /3 containers/);
  t.regex(lines[1]!, /NAME▲ +OWNER +CPU % +CPU +MEM USE\/LIM +MEM % +MEM +PIDS +STATE/);
  const web = lines.find((l) => l.startsWith('web'))!;
  t.regex(web, /^web +docker +- +.* - +- +.* - running/);
  const burner = lines.find((l) => l.startsWith('burner'))!;
  t.regex(burner, /99\.5% .*1\.0M\/16\.0M +6\.3%/);
  // Wider terminals get network and block I/O too.
  t.false(layoutColumns(80).some((c) => c.id === 'block'));
  t.true(layoutColumns(120).some((c) => c.id === 'block' || c.id === 'net'));
  t.regex(screenText(viewState(140, 30))[1]!, /NET RX\/TX +BLOCK R\/W/);
  // A tiny terminal still gets a screen of its size (names cut), never an exception.
  const tiny = screenText(viewState(10, 6));
  t.is(tiny.length, 6);
  for (const l of tiny) t.is([...l].length, 10);
});

test('digits sort by a column, r reverses it, unknown values stay last', (t) => {
  let { state } = keys(viewState(), '3');
  t.deepEqual(rowNames(state), ['burner', 'idle', 'web']);
  t.regex(screenText(state)[1]!, /CPU %▼/);
  state = keys(state, 'r').state;
  t.deepEqual(rowNames(state), ['idle', 'burner', 'web']);
  state = keys(state, '1').state;
  t.deepEqual(rowNames(state), ['burner', 'idle', 'web']);
  state = keys(state, 'r').state;
  t.deepEqual(rowNames(state), ['web', 'idle', 'burner']);
});

test('/ filters by name as it is typed; Esc clears it', (t) => {
  let { state } = keys(viewState(), '/', 'b', 'u');
  t.deepEqual(rowNames(state), ['burner']);
  t.regex(screenText(state)[21]!, /filter by name: bu/);
  state = keys(state, 'ENTER').state;
  t.regex(screenText(state)[0]!, /1\/3 containers .*filter "bu"/);
  state = keys(state, '/', 'ESCAPE').state;
  t.deepEqual(rowNames(state), ['burner', 'idle', 'web']);
});

test('a delta moves the rows and their sparklines on; a gap asks for a resync', (t) => {
  const state = viewState();
  const delta: OverviewDelta = {
    scope: 'containers',
    sequence: 11,
    previousSequence: 10,
    timestampMs: NOW + 1000,
    added: [row(4, 'new', { cpuPercent: 5 })],
    changed: [{ key: 1, set: { cpuPercent: 250 } }, { key: 2, unset: ['cpuPercent'] }],
    removed: [3],
  };
  const { state: next, resync } = applyDelta(state, delta);
  t.false(resync);
  t.deepEqual([...next.rows.values()].map((r) => r.info.name).sort(), ['burner', 'idle', 'new']);
  const idle = [...next.rows.values()].find((r) => r.info.name === 'idle')!;
  t.deepEqual(idle.cpuSpark, [0, 50, 100, 250]);
  const burner = [...next.rows.values()].find((r) => r.info.name === 'burner')!;
  t.is(burner.stats.cpuPercent, undefined);
  t.deepEqual(burner.cpuSpark.slice(-1), [null]);
  t.true(applyDelta(next, { ...delta, sequence: 13, previousSequence: 12 }).resync);
  t.is(sparkline([0, 50, 100, null], 6, 100), '  ▁▅█ ');
  t.is(compactBytes(1536), '1.5K');
  t.is(compactBytes(undefined), '-');
});

test('an OOM kill flashes its row and names container, limit and time on the status line', (t) => {
  const state = viewState();
  const burner = [...state.rows.values()].find((r) => r.info.name === 'burner')!;
  const event: CapstanEvent = {
    type: 'container',
    action: 'oom',
    actor: { id: burner.info.id, name: 'burner', cgroupPath: burner.info.cgroupPath, image: 'busybox' },
    timeMs: NOW,
    attributes: {},
    memoryLimitBytes: 16 * MiB,
    memoryUsageBytes: 16 * MiB,
  };
  const next = applyEvent(state, event, bytesSize);
  const lines = screenText(next);
  t.truthy(lines.find((l) => l.startsWith('!burner')));
  t.regex(lines[21]!, /OOM kill: burner hit its 16MiB memory limit at 01:02:03 UTC/);
  // The row's tone alternates while it flashes, and stops after.
  const tones = [0, 500].map((offset) => renderScreen({ ...next, nowMs: NOW + offset }).find((l) => l[0]!.text.startsWith('!burner'))![0]!.tone);
  t.true(tones.includes('flash'));
  t.false(tones.every((tone) => tone === 'flash'));
  t.falsy(screenText({ ...next, nowMs: NOW + 60_000 }).find((l) => l.startsWith('!burner')));
});

test('with a viewer token the action keys are greyed and refuse with the reason', (t) => {
  const state = applySession(viewState(), { name: 'viewer', role: 'viewer', intervalMs: 1000 });
  const screen = renderScreen(state);
  const stop = screen[23]!.find((s) => s.text === ' S')!;
  t.is(stop.tone, 'disabled');
  t.regex(screenText(state)[21]!, /actions off: read-only: token "viewer" is a viewer/);
  const { state: after, effects } = keys(state, 'S');
  t.deepEqual(effects, []);
  t.regex(after.status!.text, /cannot stop: read-only/);
  t.is(keys(state, 'M').state.prompt, undefined);
});

test('an operator edits a memory limit with an old → new confirmation; lifecycle keys ask y/n', (t) => {
  let { state } = keys(viewState(), '3', 'M', '3', '2', 'm');
  t.regex(screenText(state)[21]!, /memory of burner: 16MiB → 32m/);
  state = keys(state, 'ENTER').state;
  t.regex(screenText(state)[21]!, /memory of burner: 16MiB → 32m\? \(y\/n\)/);
  const sent = keys(state, 'y');
  t.deepEqual(sent.effects, [{ kind: 'limit', id: info('burner').id, name: 'burner', setting: 'memory', value: '32m', old: '16MiB' }]);
  // The update's answer shows at once: the next edit starts from the new limit.
  const updated = applyLimits(sent.state, info('burner').id, { memoryBytes: 32 * MiB });
  t.regex(screenText(keys(updated, 'M').state)[21]!, /memory of burner: 32MiB → /);
  t.truthy(screenText(updated).find((l) => l.startsWith('burner') && l.includes('/32.0M')));
  const cpus = keys(viewState(), '3', 'C', '0', '.', '5', 'ENTER');
  t.regex(screenText(cpus.state)[21]!, /cpus of burner: unlimited → 0\.5\?/);
  t.deepEqual(keys(cpus.state, 'n').effects, []);
  const stop = keys(viewState(), '3', 'S');
  t.regex(screenText(stop.state)[21]!, /stop burner\? \(y\/n\)/);
  t.deepEqual(keys(stop.state, 'y').effects, [{ kind: 'lifecycle', id: info('burner').id, name: 'burner', action: 'stop' }]);
  t.deepEqual(keys(viewState(), 'q').effects, [{ kind: 'quit' }]);
});

test('Enter drills down: memory breakdown, per-CPU usage from two samples, lists; Esc goes back', (t) => {
  const opened = keys(viewState(), '3', 'ENTER');
  t.deepEqual(opened.effects, [{ kind: 'open', id: info('burner').id }]);
  const sample = (perCpu: number[]) => ({
    cpu: { perCpuNanoseconds: perCpu },
    memory: { usageBytes: 10 * MiB, rssBytes: 6 * MiB, cacheBytes: 3 * MiB, swapBytes: 0 },
    pids: {},
  });
  let state: ViewState = {
    ...opened.state,
    detail: {
      ...openDetail(info('burner').id),
      tab: 'stats',
      stats: { cpuPercent: 99.5, memoryWorkingSetBytes: 7 * MiB, memoryLimitBytes: 16 * MiB },
      sequence: 1,
      previousSample: { sample: sample([0, 0, 0]), timestampMs: NOW },
      sample: { sample: sample([1e9, 0.25e9, 0]), timestampMs: NOW + 1000 },
      processes: { status: 'ok', value: { titles: ['PID', 'CMD'], processes: [['42', 'sh -c burn']] } },
      ports: { status: 'error', message: 'no such container' },
      logs: { status: 'loading' },
      events: { status: 'ok', value: [] },
      scroll: 0,
    },
  };
  // The trailing CPU that never counted anything is a possible-but-absent one.
  t.deepEqual(perCpuPercent(state.detail!), [100, 25]);
  let lines = screenText(state);
  t.is(lines.length, 24);
  t.regex(lines[0]!, /burner +capstan/);
  t.truthy(lines.find((l) => /cpu0 +█+ +100\.0% +cpu1 .* 25\.0%/.test(l)));
  t.truthy(lines.find((l) => /rss 6MiB +cache 3MiB +swap 0B +kernel 1MiB/.test(l)));
  state = keys(state, 'TAB').state;
  lines = screenText(state);
  t.truthy(lines.find((l) => /42 +sh -c burn/.test(l)));
  state = keys(state, 'TAB').state;
  t.truthy(screenText(state).find((l) => /cannot show this: no such container/.test(l)));
  const back = keys(state, 'ESCAPE');
  t.deepEqual(back.effects, [{ kind: 'close' }]);
  t.regex(screenText(back.state)[1]!, /^NAME/);
});

test('the inspect tab is a folded tree: Enter unfolds and folds the node under the cursor', (t) => {
  const document = { Id: 'abc', State: { Status: 'running', Pid: 42 }, Mounts: [] };
  let state: ViewState = { ...viewState(), detail: { ...openDetail(info('burner').id), tab: 'inspect', inspect: { status: 'ok', value: document } } };
  const body = (s: ViewState): string[] => screenText(s).slice(2, 21).map((l) => l.trimEnd()).filter((l) => l !== '');
  t.deepEqual(body(state), ['   Id: "abc"', ' ▸ State: {…2}', '   Mounts: […0]']);
  state = keys(state, 'DOWN', 'ENTER').state;
  t.deepEqual(body(state), ['   Id: "abc"', ' ▾ State:', '     Status: "running"', '     Pid: 42', '   Mounts: […0]']);
  t.is(renderScreen(state)[3]![0]!.tone, 'selected');
  state = keys(state, 'ENTER').state;
  t.deepEqual(body(state), ['   Id: "abc"', ' ▸ State: {…2}', '   Mounts: […0]']);
  // An empty list has nothing to unfold.
  t.deepEqual(body(keys(state, 'DOWN', 'ENTER').state), body(state));
});

test('NO_COLOR (present and not empty) turns colours off', (t) => {
  t.true(colorWanted({}));
  t.true(colorWanted({ NO_COLOR: '' }));
  t.false(colorWanted({ NO_COLOR: '1' }));
});

test('stats -i refuses names, --format and --no-stream, and a stdout that is not a terminal', async (t) => {
  const run = async (argv: string[]): Promise<{ code: number; stderr: string }> => {
    let stderr = '';
    const result = await runCli(argv, {
      stdout: { isTTY: false, write: () => true },
      stderr: { write: (text: string) => (stderr += text) },
      env: {},
      now: () => NOW,
      // An address nothing listens on: these refusals come before any request.
      connect: (flags, env) => new AgentClient(resolveEndpoint(flags, { env, readFile: () => '' }), { timeoutMs: 500 }),
      onInterrupt: () => () => undefined,
      timing: { pollMs: 20, redrawMs: 10 },
    });
    return { code: result.code, stderr };
  };
  const connection = ['--host', 'http://127.0.0.1:9', '--token', 'x'];
  for (const extra of [['web'], ['--format', 'json'], ['--no-stream']]) {
    const answer = await run([...connection, 'stats', '-i', ...extra]);
    t.not(answer.code, 0);
    t.regex(answer.stderr, /stats --interactive shows every container: it takes no CONTAINER, --format or --no-stream/);
  }
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    const answer = await run([...connection, 'stats', '--interactive']);
    t.not(answer.code, 0);
    t.regex(answer.stderr, /stats --interactive needs a terminal/);
  }
});
