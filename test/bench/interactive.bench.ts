/**
 * interactive: what `capstan stats -i` costs while it shows 200 containers, against plain
 * `capstan stats` (docker's table, polling the REST API every second) showing the same, both in a
 * real terminal (tmux, 160×50, a socket of the bench's own) on the same agent (`--interval 1s`):
 *
 *   stats -i   the live view: the socket.io stream, sparklines, sort, a redraw per tick (judged)
 *   stats      the docker-compatible streaming table                               (baseline)
 *
 * 200 of capstan's own containers (`sleep` on the host filesystem, under a cgroup parent of the
 * bench's own), plus whatever systemd services the host has. The two run one after another in
 * windows of WINDOW_MS, ROUNDS times, each after a warm-up; CPU time is utime + stime from
 * /proc/<pid>/stat over the window, RSS is VmRSS at the window's end. Targets (issue 16): under 2%
 * of one core and under 80 MiB.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { CLI } from '../helpers/repo';
import { BenchAgent } from './agent';
import { processCpuMs, rssBytes } from './process-usage';
import { CgroupParent } from './resources';
import { formatRatio, sleep, type Benchmark, type BenchContext, type BenchResult, type Disposable } from './harness';

const execFileAsync = promisify(execFile);
const TMUX = '/usr/bin/tmux';
const CONTAINERS = 200;
const ROUNDS = 3;
/** Units: milliseconds. */
const WINDOW_MS = 20_000;
const WARMUP_MS = 8_000;
const TARGET_CPU_PERCENT = 2;
const TARGET_RSS_MIB = 80;
const MiB = 1024 * 1024;

/** A tmux server on a socket in a directory of the bench's own; disposing kills that server only. */
class BenchTmux implements Disposable {
  readonly label: string;
  private readonly directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-bench-tmux-'));
  readonly socket = path.join(this.directory, 'socket');

  constructor() {
    this.label = `tmux server ${this.socket}`;
  }

  /** Starts `command` (exec'd, so the pane's process is the command itself); returns its PID. */
  async start(session: string, command: string): Promise<number> {
    await execFileAsync(TMUX, ['-S', this.socket, 'new-session', '-d', '-s', session, '-x', '160', '-y', '50', `exec ${command}`]);
    const { stdout } = await execFileAsync(TMUX, ['-S', this.socket, 'display-message', '-p', '-t', session, '#{pane_pid}']);
    return Number(stdout.trim());
  }

  async screen(session: string): Promise<string> {
    return (await execFileAsync(TMUX, ['-S', this.socket, 'capture-pane', '-p', '-t', session])).stdout;
  }

  async dispose(): Promise<void> {
    await execFileAsync(TMUX, ['-S', this.socket, 'kill-server']).catch(() => undefined);
    fs.rmSync(this.directory, { recursive: true, force: true });
  }

  disposeSync(): void {
    try {
      execFileSync(TMUX, ['-S', this.socket, 'kill-server'], { stdio: 'ignore' });
    } catch {
      // Not running.
    }
    fs.rmSync(this.directory, { recursive: true, force: true });
  }
}

/** utime + stime of a process. Units: seconds. */
function cpuSeconds(pid: number): number {
  const { userMs, systemMs } = processCpuMs(pid);
  return (userMs + systemMs) / 1000;
}

interface Window {
  /** Units: percent of one core. */
  cpuPercent: number;
  /** Units: bytes. */
  rssBytes: number;
}

async function measure(pid: number): Promise<Window> {
  const startCpu = cpuSeconds(pid);
  const startMs = Date.now();
  await sleep(WINDOW_MS);
  const cpu = cpuSeconds(pid) - startCpu;
  return { cpuPercent: (cpu / ((Date.now() - startMs) / 1000)) * 100, rssBytes: rssBytes(pid) };
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function run(context: BenchContext): Promise<BenchResult> {
  if (!fs.existsSync(TMUX)) throw new Error('tmux is not installed (scripts/prepare-test.js installs it)');
  const parent = `/capstan-test-bench-${randomBytes(4).toString('hex')}`;
  // Released last: kills whatever the agent did not remove (the shims then end) and removes the cgroups.
  context.own(new CgroupParent(parent));
  let agent: BenchAgent | undefined;
  agent = await BenchAgent.start(['--interval', '1s', '--cgroup-parent', parent, '--docker-host', 'none', '--podman-host', 'none'], (a) => context.own((agent = a)));
  const { tokens } = JSON.parse(fs.readFileSync(path.join(agent.stateDir, 'tokens.json'), 'utf8')) as { tokens: Array<{ role: string; token: string }> };
  const token = tokens.find((t) => t.role === 'operator')!.token;
  const api = async (method: string, pathname: string, body?: unknown): Promise<Response> =>
    fetch(agent!.url + pathname, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(60_000),
    });
  const ids: string[] = [];
  context.own({
    label: `${CONTAINERS} bench containers`,
    dispose: async () => {
      for (let i = 0; i < ids.length; i += 10) await Promise.all(ids.slice(i, i + 10).map((id) => api('DELETE', `/api/v1/containers/${id}?force=1`).catch(() => undefined)));
    },
    // Without an event loop the cgroup parent's removal kills them instead.
    disposeSync: () => undefined,
  });
  for (let i = 0; i < CONTAINERS; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, CONTAINERS - i) }, async (_, j) => {
        const response = await api('POST', '/api/v1/containers?start=1', { name: `bench-${String(i + j).padStart(3, '0')}`, image: '', cmd: ['sleep', '100000'] });
        if (response.status !== 201) throw new Error(`creating a bench container: ${response.status} ${await response.text()}`);
        ids.push(((await response.json()) as { Id: string }).Id);
      }),
    );
  }
  context.log(`interactive: ${ids.length} containers running`);
  const tmux = context.own(new BenchTmux());
  const cli = `${process.execPath} ${CLI} --state-dir ${agent.stateDir}`;

  const ways = { interactive: `${cli} stats -i`, plain: `${cli} stats` } as const;
  const windows: Record<keyof typeof ways, Window[]> = { interactive: [], plain: [] };
  let rowsShown = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const way of Object.keys(ways) as Array<keyof typeof ways>) {
      const session = `${way}-${round}`;
      const pid = await tmux.start(session, ways[way]);
      await sleep(WARMUP_MS);
      const screen = await tmux.screen(session);
      if (way === 'interactive') {
        const count = /(\d+) containers/.exec(screen);
        if (!count) throw new Error(`the view did not show its rows:\n${screen}`);
        rowsShown = Number(count[1]);
      }
      const window = await measure(pid);
      windows[way].push(window);
      context.log(`interactive: round ${round + 1} ${way}: ${window.cpuPercent.toFixed(2)}% CPU, ${(window.rssBytes / MiB).toFixed(1)} MiB`);
      await execFileAsync(TMUX, ['-S', tmux.socket, 'kill-session', '-t', session]);
    }
  }

  const summary = (way: keyof typeof ways): { cpuPercent: number; rssMiB: number } => ({
    cpuPercent: median(windows[way].map((w) => w.cpuPercent)),
    rssMiB: median(windows[way].map((w) => w.rssBytes)) / MiB,
  });
  const interactive = summary('interactive');
  const plain = summary('plain');
  return {
    name: 'interactive',
    description: `capstan stats -i vs capstan stats in tmux, ${rowsShown} rows (${CONTAINERS} containers + the host's services), --interval 1s`,
    tables: [
      {
        title: `CPU and memory of the terminal views (median of ${ROUNDS} windows of ${WINDOW_MS / 1000} s)`,
        columns: ['way', 'CPU (% of one core)', 'RSS (MiB)'],
        rows: [
          ['stats -i (live view)', interactive.cpuPercent.toFixed(2), interactive.rssMiB.toFixed(1)],
          ['stats (docker table, baseline)', plain.cpuPercent.toFixed(2), plain.rssMiB.toFixed(1)],
          ['ratio', formatRatio(interactive.cpuPercent / plain.cpuPercent), formatRatio(interactive.rssMiB / plain.rssMiB)],
        ],
      },
    ],
    targets: [
      { what: `stats -i CPU at ${rowsShown} rows`, target: `< ${TARGET_CPU_PERCENT}% of a core`, measured: `${interactive.cpuPercent.toFixed(2)}%`, met: interactive.cpuPercent < TARGET_CPU_PERCENT },
      { what: `stats -i RSS at ${rowsShown} rows`, target: `< ${TARGET_RSS_MIB} MiB`, measured: `${interactive.rssMiB.toFixed(1)} MiB`, met: interactive.rssMiB < TARGET_RSS_MIB },
    ],
    notes: ['The sleeping containers change little between ticks, but every row\'s sparklines advance and the visible page is redrawn each tick, which is the view\'s main work.'],
    data: { windows, rowsShown, containers: CONTAINERS },
  };
}

export const benchmark: Benchmark = {
  name: 'interactive',
  description: 'capstan stats -i: CPU per second and RSS at 200 containers, against plain capstan stats',
  order: 80,
  run,
};
