/**
 * `capstan stats -i` in a real terminal (tmux) against a real agent, real containers (the busybox
 * test image), real cgroups and a real OOM kill. The test sends keys with `tmux send-keys` and
 * reads the screen with `tmux capture-pane -p`, polling until what it waits for is on it:
 *   sort by CPU puts the busy loop first; `/` filters; Enter drills down (memory breakdown,
 *   processes, the inspect tree); M edits a memory limit, which is then read back from the cgroup
 *   file; a refused limit shows the API's message; P pauses and unpauses; a resize to 80×24
 *   redraws with fewer columns; an OOM kill flashes its row and names container, limit and time;
 *   a viewer token greys the actions with the reason; q quits.
 * tmux runs on a socket of the test's own (`tmux -S`), whose server alone is killed at the end.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { detectLayout } from '../../server/cgroup/layout';
import { CgroupManager } from '../../server/cgroup/manage';
import { apiRequest, startAgentProcess, type AgentProcess } from '../helpers/agent';
import { busyboxAvailable, writeBusyboxImages } from '../helpers/busybox-image';
import { CLI, REPO_ROOT, requireCapability } from '../helpers/repo';
import { eventually } from '../helpers/wait';

const execFileAsync = promisify(execFile);
const SHIM = path.join(REPO_ROOT, 'native/build/Release/capstan-shim');
const TMUX = '/usr/bin/tmux';
const isRoot = process.getuid?.() === 0;
const capable = requireCapability(
  isRoot && busyboxAvailable() && fs.existsSync(SHIM) && fs.existsSync(TMUX),
  'root, /usr/bin/busybox (busybox-static), the built capstan-shim and /usr/bin/tmux',
);
const maybe = capable ? test.serial : test.skip;
const IMAGE = 'capstan-test/tui:base';
const MiB = 1024 * 1024;
/** Screens are polled this long at most: a loaded 2-core machine may take a while. Units: milliseconds. */
const SCREEN_TIMEOUT_MS = 60_000;

/** A tmux server of the test's own (its socket in a folder of the test's), running commands in detached 100×30 sessions. */
class Tmux {
  private readonly directory = fs.mkdtempSync(path.join(os.tmpdir(), `capstan-tui-tmux-${randomBytes(2).toString('hex')}-`));
  readonly socket = path.join(this.directory, 'socket');

  async start(session: string, command: string): Promise<void> {
    await execFileAsync(TMUX, ['-S', this.socket, 'new-session', '-d', '-s', session, '-x', '100', '-y', '30', command]);
  }

  async keys(session: string, ...keys: string[]): Promise<void> {
    // One key per call, so tmux never reads a key name ("Enter", "Escape") out of typed text.
    for (const key of keys) await execFileAsync(TMUX, ['-S', this.socket, 'send-keys', '-t', session, key]);
  }

  async screen(session: string): Promise<string[]> {
    const { stdout } = await execFileAsync(TMUX, ['-S', this.socket, 'capture-pane', '-p', '-t', session]);
    return stdout.split('\n');
  }

  /** Polls the screen until `probe` finds what it wants; fails with the last screen. */
  async waitFor<T>(session: string, what: string, probe: (lines: string[]) => T | undefined): Promise<T> {
    let last: string[] = [];
    try {
      return await eventually(
        async () => {
          last = await this.screen(session);
          return probe(last);
        },
        SCREEN_TIMEOUT_MS,
        what,
        200,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\nlast screen:\n${last.join('\n')}`);
    }
  }

  async alive(session: string): Promise<boolean> {
    try {
      await execFileAsync(TMUX, ['-S', this.socket, 'has-session', '-t', session]);
      return true;
    } catch {
      return false;
    }
  }

  async kill(): Promise<void> {
    await execFileAsync(TMUX, ['-S', this.socket, 'kill-server']).catch(() => undefined);
    fs.rmSync(this.directory, { recursive: true, force: true });
  }
}

/** The rows of the table: lines from below the header down to the status line. */
function tableRows(lines: string[]): string[] {
  const header = lines.findIndex((l) => l.startsWith('NAME'));
  if (header < 0) return [];
  return lines.slice(header + 1).filter((l) => /^!?[a-z]/.test(l) && !l.startsWith(' '));
}

let imageTar = '';
test.before(() => {
  if (!capable) return;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-tui-images-'));
  imageTar = writeBusyboxImages(directory).rootfsTar;
  process.once('exit', () => fs.rmSync(directory, { recursive: true, force: true }));
});

maybe('stats -i in tmux: sort, filter, drill down, edit a limit, see an OOM kill, viewer keys greyed', async (t) => {
  t.timeout(300_000);
  const agent: AgentProcess = await startAgentProcess(t, ['--interval', '1s']);
  const api = (method: string, pathname: string, body?: unknown) => apiRequest(agent.url, agent.operatorToken, method, pathname, body);
  const tmux = new Tmux();
  const ids: string[] = [];
  // Registered after the agent's own teardown, so it runs before it (ava runs teardowns last first).
  t.teardown(async () => {
    await tmux.kill();
    for (const id of ids) await api('DELETE', `/api/v1/containers/${id}?force=1`).catch(() => undefined);
  });
  await execFileAsync(process.execPath, [CLI, '--state-dir', agent.stateDir, 'image', 'import', '--name', IMAGE, imageTar]);
  const run = async (name: string, cmd: string[], memory: string): Promise<string> => {
    const created = await api('POST', '/api/v1/containers?start=1', { name, image: IMAGE, cmd, memory });
    if (created.status !== 201) throw new Error(`run ${name}: ${created.status} ${created.text}`);
    const id = (created.json as { Id: string }).Id;
    ids.push(id);
    return id;
  };
  const burner = await run('burner', ['sh', '-c', 'while :; do :; done'], '64m');
  await run('idle', ['sleep', '100000'], '64m');
  // PID 1 waits for SIGUSR1, then a child fills a 64 MiB buffer in a 16 MiB cgroup.
  const oomer = await run('oomer', ['sh', '-c', "trap 'dd if=/dev/zero of=/dev/null bs=64M count=1' USR1; while :; do sleep 0.2; done"], '16m');

  const cli = `${process.execPath} ${CLI} --state-dir ${agent.stateDir}`;
  await tmux.start('op', `${cli} stats -i`);

  await tmux.waitFor('op', 'the three containers on the screen', (lines) => {
    const names = tableRows(lines).map((l) => l.split(/\s+/)[0]);
    return ['burner', 'idle', 'oomer'].every((n) => names.includes(n)) ? true : undefined;
  });

  // Sort by CPU (3): the busy loop comes first.
  await tmux.keys('op', '3');
  // Every row measured (CPU known, so the order is the CPU's, not the names' that unknowns fall back to).
  const cpuOf = (row: string): number => Number(/^\S+ +\S+ +(\d+\.\d)%/.exec(row)?.[1] ?? NaN);
  const sorted = await tmux.waitFor('op', 'burner first when sorted by CPU, every row measured', (lines) => {
    const rows = tableRows(lines);
    return lines.some((l) => /CPU %▼/.test(l)) && rows.length === 3 && rows.every((r) => !Number.isNaN(cpuOf(r))) && rows[0]!.startsWith('burner') ? rows : undefined;
  });
  t.true(cpuOf(sorted[0]!) > cpuOf(sorted[1]!), sorted.join('\n'));

  // Filter by name.
  await tmux.keys('op', '/', 'i', 'd', 'l', 'Enter');
  await tmux.waitFor('op', 'only idle left after /idl', (lines) => {
    const rows = tableRows(lines);
    return rows.length === 1 && rows[0]!.startsWith('idle') && lines[0]!.includes('1/3 containers') ? true : undefined;
  });
  await tmux.keys('op', 'Escape');
  await tmux.waitFor('op', 'every row back after Esc', (lines) => (tableRows(lines).length === 3 ? true : undefined));

  // Drill down into the selected row (burner, first by CPU): stats, then processes.
  await tmux.keys('op', 'Enter');
  await tmux.waitFor('op', 'the stats tab of burner', (lines) =>
    lines[0]!.includes('burner') && lines.some((l) => /MEMORY .* of 64MiB/.test(l)) && lines.some((l) => /rss \S+ +cache \S+ +swap \S+ +kernel/.test(l)) ? true : undefined,
  );
  await tmux.keys('op', 'Tab');
  await tmux.waitFor('op', 'the busy loop in the processes tab', (lines) => (lines.some((l) => /PID .*COMMAND/.test(l)) && lines.some((l) => /while :; do :; done/.test(l)) ? true : undefined));
  // ports, logs, events, then inspect: the owner's document as a folded tree.
  await tmux.keys('op', 'Tab', 'Tab', 'Tab', 'Tab');
  await tmux.waitFor('op', 'the inspect tree', (lines) =>
    lines.some((l) => l.includes(`Id: "${burner}"`)) && lines.some((l) => /▸ State: \{…\d+\}/.test(l)) ? true : undefined,
  );
  await tmux.keys('op', 'Escape');
  await tmux.waitFor('op', 'the table again', (lines) => (lines.some((l) => l.startsWith('NAME')) ? true : undefined));

  // Edit burner's memory limit: old → new, confirmed, read back from the cgroup.
  await tmux.keys('op', 'M', '4', '8', 'm', 'Enter');
  await tmux.waitFor('op', 'the old → new confirmation', (lines) => (lines.some((l) => l.includes('memory of burner: 64MiB → 48m? (y/n)')) ? true : undefined));
  await tmux.keys('op', 'y');
  await tmux.waitFor('op', 'the applied change on the status line', (lines) => (lines.some((l) => l.includes('burner: memory 64MiB → 48MiB')) ? true : undefined));
  const layout = detectLayout();
  const cgroups = new CgroupManager(layout);
  const cgroupPath = `${agent.cgroupParent}/${burner}`;
  const limitText =
    layout.controllersOn === 2 ? cgroups.readControl('unified', cgroupPath, 'memory.max') : cgroups.readControl('memory', cgroupPath, 'memory.limit_in_bytes');
  t.is(Number(limitText.trim()), 48 * MiB);
  // The table shows the new limit from the next tick on.
  await tmux.waitFor('op', 'the new limit in burner\'s row', (lines) => (tableRows(lines).some((r) => r.startsWith('burner') && r.includes('/48.0M')) ? true : undefined));

  // A value the API refuses: its validation message is on the status line, and nothing changed.
  await tmux.keys('op', 'M', '1', 'k', 'Enter', 'y');
  await tmux.waitFor('op', 'the refusal', (lines) => (lines.some((l) => /memory 48MiB → 1k refused for burner: Minimum memory limit allowed is 6MB/.test(l)) ? true : undefined));

  // Pause and unpause the selected container (burner, followed by id while the order changes).
  await tmux.keys('op', 'P');
  await tmux.waitFor('op', 'the pause question', (lines) => (lines.some((l) => l.includes('pause burner? (y/n)')) ? true : undefined));
  await tmux.keys('op', 'y');
  await tmux.waitFor('op', 'burner paused', (lines) => (tableRows(lines).some((r) => r.startsWith('burner') && / paused *$/.test(r)) ? true : undefined));
  await tmux.keys('op', 'P');
  await tmux.waitFor('op', 'the unpause question', (lines) => (lines.some((l) => l.includes('unpause burner? (y/n)')) ? true : undefined));
  await tmux.keys('op', 'y');
  await tmux.waitFor('op', 'burner running again', (lines) => (tableRows(lines).some((r) => r.startsWith('burner') && / running *$/.test(r)) ? true : undefined));

  // A resize redraws at the new size: at 80 columns the network column goes, the rest stays.
  await execFileAsync(TMUX, ['-S', tmux.socket, 'resize-window', '-t', 'op', '-x', '80', '-y', '24']);
  await tmux.waitFor('op', 'the 80×24 layout', (lines) =>
    lines.some((l) => l.startsWith('NAME') && !l.includes('NET RX/TX') && l.includes('MEM USE/LIM')) && lines.filter((l) => l !== '').length <= 24 ? true : undefined,
  );

  // An OOM kill: the row is marked and the status line names container, limit and time.
  const killed = await api('POST', `/api/v1/containers/${oomer}/kill?signal=USR1`);
  t.is(killed.status, 204, killed.text);
  const status = await tmux.waitFor('op', 'the OOM status line and the marked row', (lines) => {
    const line = lines.find((l) => l.includes('OOM kill: oomer'));
    return line && tableRows(lines).some((r) => r.startsWith('!oomer')) ? line : undefined;
  });
  t.regex(status, /OOM kill: oomer hit its 16MiB memory limit at \d\d:\d\d:\d\d UTC/);

  // q quits and gives the terminal back: the session (its only command) ends.
  await tmux.keys('op', 'q');
  await eventually(async () => ((await tmux.alive('op')) ? undefined : true), SCREEN_TIMEOUT_MS, 'the view to exit on q');

  // A viewer token: the actions are greyed, with the reason, and refuse.
  await tmux.start('viewer', `NO_COLOR=1 ${cli} --token ${agent.viewerToken} stats -i`);
  await tmux.waitFor('viewer', 'the read-only reason', (lines) => (lines.some((l) => /actions off: read-only: token "viewer" is a viewer/.test(l)) ? true : undefined));
  await tmux.keys('viewer', 'S');
  await tmux.waitFor('viewer', 'stop refused', (lines) => (lines.some((l) => /cannot stop: read-only/.test(l)) ? true : undefined));
  const inspect = await api('GET', `/api/v1/containers/${burner}/json`);
  t.is((inspect.json as { State: { Status: string } }).State.Status, 'running');
});
