/**
 * The `capstan` command end to end (runCli), against a fake agent on a loopback port that speaks
 * the agent's API contract: help, version, flag errors, stats (one-shot, json, streaming on a
 * terminal and into a pipe), naming containers, and cgroups.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentClient, resolveEndpoint } from '../../server/cli/client';
import { CLEAR_SCREEN, ttyFrame } from '../../server/cli/format/screen';
import { runCli, type CliDeps } from '../../server/cli/main';
import type { ContainerInfo, ContainerStats } from '../../server/model';

interface Entry {
  info: ContainerInfo;
  stats: ContainerStats | null;
}

function entry(name: string, idDigit: string, partial: Partial<ContainerInfo> = {}, stats: Partial<ContainerStats> | null = {}): Entry {
  return {
    info: { id: idDigit.repeat(64), name, cgroupPath: `/capstan/${name}`, image: 'busybox', source: 'capstan', isContainer: true, labels: {}, ...partial },
    stats: stats === null ? null : { timestampMs: 1000, cpuPercent: 1.5, memoryWorkingSetBytes: 1048576, memoryLimitBytes: 1073741824, memoryPercent: 0.1, pids: 3, ...stats },
  };
}

/** A fake agent: serves `entries` (which tests may change), counts requests, checks the token. */
async function fakeAgent(t: ExecutionContext, initial: Entry[]) {
  const state = { entries: initial, requests: 0, tick: 1000, down: false };
  const server = http.createServer((req, res) => {
    state.requests++;
    if (state.down) {
      req.socket.destroy();
      return;
    }
    if (req.headers.authorization !== 'Bearer secret') {
      res.statusCode = 401;
      res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'the bearer token is not valid' } }));
      return;
    }
    const all = req.url!.endsWith('?all=1');
    state.tick += 1000; // every poll sees a new agent sample
    const containers = state.entries
      .filter((e) => all || e.info.isContainer)
      .map((e) => ({ info: e.info, stats: e.stats && { ...e.stats, timestampMs: state.tick } }));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ timestampMs: state.tick, containers }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  writes: string[];
}

/** Runs the CLI; `interruptAfter` simulates Ctrl-C once stdout holds that many writes. */
async function cli(argv: string[], options: { tty?: boolean; interruptAfter?: number; env?: Record<string, string> } = {}): Promise<Run> {
  const writes: string[] = [];
  let stderr = '';
  let interrupt: (() => void) | undefined;
  const deps: CliDeps = {
    stdout: {
      isTTY: options.tty === true,
      write: (text: string) => {
        writes.push(text);
        if (options.interruptAfter !== undefined && writes.length >= options.interruptAfter) interrupt?.();
        return true;
      },
    },
    stderr: { write: (text: string) => (stderr += text) },
    env: options.env ?? {},
    now: () => Date.UTC(2024, 0, 1),
    connect: (flags, env) => new AgentClient(resolveEndpoint(flags, { env, readFile: (f) => fs.readFileSync(f, 'utf8') }), { timeoutMs: 2000 }),
    onInterrupt: (handler) => {
      interrupt = handler;
      return () => (interrupt = undefined);
    },
    timing: { pollMs: 20, redrawMs: 10 },
  };
  const result = await runCli(argv, deps);
  return { code: result.code, stdout: writes.join(''), stderr, writes };
}

const ENTRIES = (): Entry[] => [
  entry('web', 'b'),
  entry('db', 'a', {}, { cpuPercent: undefined, networkRxBytes: 2480, networkTxBytes: 0 }),
  entry('system.slice', 'c', { isContainer: false, image: '', source: 'raw', cgroupPath: '/system.slice' }, null),
];

test('--version prints the package version; --help lists the commands', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../package.json'), 'utf8')) as { version: string };
  t.like(await cli(['--version']), { code: 0, stdout: `capstan version ${pkg.version}\n` });
  const help = await cli(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^Usage: {2}capstan \[OPTIONS\] COMMAND/);
  t.regex(help.stdout, /\n {2}stats +Display a live stream/);
  t.regex(help.stdout, /\n {2}ps +List containers/);
  t.regex(help.stdout, /\n {2}agent +Run the capstan agent/);
  t.is((await cli([])).stdout, help.stdout);
});

test('a command\'s --help shows its usage and options, not the hidden connection flags', async (t) => {
  const help = await cli(['stats', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^Usage: {2}capstan stats \[OPTIONS\] \[CONTAINER\.\.\.\]\n/);
  t.regex(help.stdout, /-a, --all/);
  t.regex(help.stdout, /--no-stream/);
  t.notRegex(help.stdout, /--token/);
  t.is((await cli(['help', 'ps'])).stdout, (await cli(['ps', '-h'])).stdout);
});

test('an unknown flag: pflag\'s words, "See \'capstan X --help\'." and exit 125; an unknown command exits 1 (docker 20.10)', async (t) => {
  const run = await cli(['stats', '--x']);
  t.is(run.code, 125);
  t.is(run.stderr, "unknown flag: --x\nSee 'capstan stats --help'.\n");
  const global = await cli(['--bogus', 'stats']);
  t.is(global.code, 125);
  t.is(global.stderr, "unknown flag: --bogus\nSee 'capstan --help'.\n");
  const unknown = await cli(['nope']);
  t.is(unknown.code, 1);
  t.is(unknown.stderr, "capstan: 'nope' is not a capstan command.\nSee 'capstan --help'\n");
});

test('a bad flag value is refused while parsing, in pflag\'s words with both names of the flag, exit 125', async (t) => {
  const memory = await cli(['run', '-m', 'x', 'busybox', 'true']);
  t.is(memory.code, 125);
  t.is(memory.stderr, `invalid argument "x" for "-m, --memory" flag: invalid size: 'x'\nSee 'capstan run --help'.\n`);
  const cpus = await cli(['create', '--cpus=lots', 'busybox']);
  t.is(cpus.code, 125);
  t.is(cpus.stderr, `invalid argument "lots" for "--cpus" flag: failed to parse lots as a rational number\nSee 'capstan create --help'.\n`);
});

test('the wrong number of arguments: docker\'s sentence, the usage line, exit 1', async (t) => {
  const run = await cli(['run']);
  t.is(run.code, 1);
  t.is(run.stderr, `"capstan run" requires at least 1 argument.\nSee 'capstan run --help'.\n`);
  const exec = await cli(['exec', 'web']);
  t.is(exec.code, 1);
  t.regex(exec.stderr, /^"capstan exec" requires at least 2 arguments\.\nSee 'capstan exec --help'\.\n/);
});

test('run and create check -p and --rm with --restart before any request, in docker run\'s words (exit 125)', async (t) => {
  const port = await cli(['run', '--rm', '-p', 'x', 'busybox', 'true']);
  t.is(port.code, 125);
  t.is(port.stderr, 'capstan: Invalid containerPort: x.\n');
  const conflicting = await cli(['create', '--rm', '--restart', 'always', 'busybox']);
  t.is(conflicting.code, 125);
  t.is(conflicting.stderr, 'capstan: Conflicting options: --restart and --rm.\n');
  t.is((await cli(['run', '--rm', '--restart=no', '--host', 'http://127.0.0.1:1', '--token', 't', 'busybox', 'true'])).stderr.includes('Conflicting'), false);
});

test('--env-file and --detach-keys are checked before any request: run/create in docker run\'s words (125), exec plainly (1)', async (t) => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-envfile-'));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  const bad = path.join(directory, 'bad.env');
  fs.writeFileSync(bad, 'OK=1\nA B=1\n');
  const run = await cli(['run', '--rm', '--env-file', bad, 'busybox', 'true']);
  t.is(run.code, 125);
  t.is(run.stderr, "capstan: poorly formatted environment: variable 'A B' contains whitespaces.\nSee 'capstan run --help'.\n");
  const create = await cli(['create', '--env-file', bad, 'busybox']);
  t.is(create.stderr, "capstan: poorly formatted environment: variable 'A B' contains whitespaces.\nSee 'capstan create --help'.\n");
  const exec = await cli(['exec', '--env-file', bad, 'web', 'true']);
  t.is(exec.code, 1);
  t.is(exec.stderr, "poorly formatted environment: variable 'A B' contains whitespaces\n");
  const keys = await cli(['run', '-it', '--detach-keys', 'ctrl-foo', 'busybox', 'sh']);
  t.is(keys.code, 125);
  t.is(keys.stderr, 'capstan: Invalid detach keys (ctrl-foo) provided.\n');
});

test('--host and --token do not apply to the agent command', async (t) => {
  const run = await cli(['--host', 'http://127.0.0.1:1', 'agent']);
  t.is(run.code, 125);
  t.regex(run.stderr, /do not apply to 'capstan agent'/);
});

test('stats --no-stream prints one docker-style frame of containers, sorted by name', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const run = await cli(['--host', agent.url, '--token', 'secret', 'stats', '--no-stream']);
  t.is(run.code, 0);
  t.is(
    run.stdout,
    'CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O       BLOCK I/O   PIDS\n' +
      'aaaaaaaaaaaa   db        --        1MiB / 1GiB         0.10%     2.48kB / 0B   --          3\n' +
      'bbbbbbbbbbbb   web       1.50%     1MiB / 1GiB         0.10%     --            --          3\n',
  );
  t.is(agent.state.requests, 1);
});

test('stats -a adds plain cgroups; connection flags work after the command too', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const run = await cli(['stats', '-a', '--no-stream', '--format', '{{.Name}}: {{.CPUPerc}} {{.MemUsage}}', '--host', agent.url, '--token=secret']);
  t.is(run.stdout, 'db: -- 1MiB / 1GiB\nsystem.slice: -- -- / --\nweb: 1.50% 1MiB / 1GiB\n');
});

test('stats reads the agent from the state directory given in the environment', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'agent.json'), JSON.stringify({ url: agent.url, pid: process.pid, startedAt: 'now' }));
  fs.writeFileSync(path.join(dir, 'tokens.json'), JSON.stringify({ tokens: [{ name: 'operator', role: 'operator', token: 'secret' }] }), { mode: 0o600 });
  const run = await cli(['stats', '--no-stream', '--format', '{{.Name}}'], { env: { CAPSTAN_STATE_DIR: dir } });
  t.like(run, { code: 0, stdout: 'db\nweb\n' });
});

test('stats without an agent says how to start one', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const run = await cli(['--state-dir', dir, 'stats', '--no-stream']);
  t.is(run.code, 1);
  t.is(run.stderr, `capstan: cannot find a running agent: ${dir}/agent.json does not exist (start one with: capstan agent)\n`);
  t.is(run.stdout, '');
});

test('a bad token shows the agent\'s message', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const run = await cli(['--host', agent.url, '--token', 'wrong', 'stats', '--no-stream']);
  t.like(run, { code: 1, stderr: 'Error response from daemon: the bearer token is not valid\n' });
});

test('named containers: by name, ID prefix or cgroup path, in the order given; .Container is what was typed', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const run = await cli(['--host', agent.url, '--token', 'secret', 'stats', '--no-stream', '--format', '{{.Container}} {{.Name}}', 'web', 'aaa', '/system.slice', 'web']);
  t.is(run.stdout, 'web web\naaa db\n/system.slice system.slice\n');
});

test('an unknown container fails with docker\'s message, one line each, exit 1', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const run = await cli(['--host', agent.url, '--token', 'secret', 'stats', '--no-stream', 'web', 'nope', 'gone']);
  t.is(run.code, 1);
  t.is(run.stderr, 'Error response from daemon: No such container: nope\nError response from daemon: No such container: gone\n');
  t.is(run.stdout, '');
});

test('--no-stream with nothing to show prints nothing, as docker does', async (t) => {
  const agent = await fakeAgent(t, []);
  t.like(await cli(['--host', agent.url, '--token', 'secret', 'stats', '--no-stream']), { code: 0, stdout: '' });
});

test('json format: one object per line', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const run = await cli(['--host', agent.url, '--token', 'secret', 'stats', '--no-stream', '--format', 'json', 'db']);
  const objects = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, string>);
  t.is(objects.length, 1);
  t.like(objects[0], { Container: 'db', Name: 'db', ID: 'aaaaaaaaaaaa', CPUPerc: '--', NetIO: '2.48kB / 0B', CPUThrottled: '--' });
});

test('a bad template fails before the agent is asked', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const parse = await cli(['--host', agent.url, '--token', 'secret', 'stats', '--no-stream', '--format', '{{.Name']);
  t.like(parse, { code: 1, stderr: 'template parsing error: template: :1: unclosed action\n' });
  t.is(agent.state.requests, 0);
  const exec = await cli(['--host', agent.url, '--token', 'secret', 'stats', '--no-stream', '--format', '{{.Nope}}']);
  t.is(exec.code, 1);
  t.regex(exec.stderr, /can't evaluate field Nope/);
});

test('streaming into a pipe: plain frames, one per agent sample, until Ctrl-C', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const run = await cli(['--host', agent.url, '--token', 'secret', 'stats', '--format', '{{.Name}} {{.PIDs}}'], { interruptAfter: 3 });
  t.is(run.code, 0);
  t.deepEqual(run.writes, ['db 3\nweb 3\n', 'db 3\nweb 3\n', 'db 3\nweb 3\n']);
  t.false(run.stdout.includes('\x1b'));
});

test('streaming on a terminal: clear once, then redraw in place with erase codes', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const run = await cli(['--host', agent.url, '--token', 'secret', 'stats', '--format', 'table {{.Name}}\\t{{.PIDs}}'], { tty: true, interruptAfter: 4 });
  t.is(run.code, 0);
  t.is(run.writes[0], CLEAR_SCREEN);
  const frame = '\x1b[HNAME      PIDS\x1b[K\ndb        3\x1b[K\nweb       3\x1b[K\n\x1b[J';
  t.deepEqual(run.writes.slice(1), [frame, frame, frame]);
});

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('streaming named containers ends by itself when none is left', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const running = cli(['--host', agent.url, '--token', 'secret', 'stats', '--format', '{{.Name}}', 'web', 'db']);
  await until(() => agent.state.requests >= 3);
  agent.state.entries = agent.state.entries.filter((e) => e.info.name !== 'db');
  const later = agent.state.requests + 3;
  await until(() => agent.state.requests >= later);
  agent.state.entries = agent.state.entries.filter((e) => e.info.name !== 'web');
  const run = await running;
  t.is(run.code, 0);
  t.is(run.writes[0], 'web\ndb\n');
  t.is(run.writes[run.writes.length - 1], 'web\n');
  // Once db has gone it never comes back into a frame.
  const firstWithoutDb = run.writes.indexOf('web\n');
  t.true(run.writes.slice(firstWithoutDb).every((w) => w === 'web\n'));
});

test('an agent that goes away while streaming into a pipe is reported once and retried', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const running = cli(['--host', agent.url, '--token', 'secret', 'stats', '--format', '{{.Name}}', 'web'], { interruptAfter: 2 });
  await until(() => agent.state.requests >= 1); // the first frame is on its way
  agent.state.down = true;
  const failedPolls = agent.state.requests + 4;
  await until(() => agent.state.requests >= failedPolls);
  agent.state.down = false;
  const run = await running;
  t.is(run.code, 0);
  t.is(run.stderr.split('\n').filter(Boolean).length, 1);
  t.regex(run.stderr, new RegExp(`^capstan: cannot reach the agent at ${agent.url}: `));
  t.deepEqual(run.writes, ['web\n', 'web\n']);
});

test('cgroups: every tracked cgroup sorted by name, with its owner; -q prints IDs', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const flags = ['--host', agent.url, '--token', 'secret'];
  const table = await cli([...flags, 'cgroups']);
  t.is(
    table.stdout,
    'CONTAINER ID   NAME           IMAGE     RUNTIME   CGROUP          CREATED\n' +
      'aaaaaaaaaaaa   db             busybox   capstan   /capstan/db     --\n' +
      'cccccccccccc   system.slice             raw       /system.slice   --\n' +
      'bbbbbbbbbbbb   web            busybox   capstan   /capstan/web    --\n',
  );
  // Sorted by name: db, system.slice, web.
  t.is((await cli([...flags, 'cgroups', '-q'])).stdout, 'aaaaaaaaaaaa\ncccccccccccc\nbbbbbbbbbbbb\n');
  t.is((await cli([...flags, 'cgroups', '-q', '--no-trunc'])).stdout, ['a', 'c', 'b'].map((d) => d.repeat(64) + '\n').join(''));
  const both = await cli([...flags, 'cgroups', '-q', '--format', '{{.Name}}']);
  t.is(both.stderr, 'WARNING: Ignoring custom format, because both --format and --quiet are set.\n');
  t.is((await cli([...flags, 'cgroups', '--format', '{{.Name}} {{.Runtime}}'])).stdout, 'db capstan\nsystem.slice raw\nweb capstan\n');
  t.is((await cli([...flags, 'cgroups', 'extra'])).code, 1);
});

test('ttyFrame: home, each line then erase-line, then erase-below', (t) => {
  t.is(ttyFrame('a\nbb\n'), '\x1b[Ha\x1b[K\nbb\x1b[K\n\x1b[J');
  t.is(ttyFrame(''), '\x1b[H\x1b[J');
});

test('export refuses a terminal stdout in docker words, before it asks the agent; commit checks the name as docker does', async (t) => {
  const agent = await fakeAgent(t, ENTRIES());
  const flags = ['--host', agent.url, '--token', 'secret'];
  t.like(await cli([...flags, 'export', 'web'], { tty: true }), { code: 1, stdout: '', stderr: 'cowardly refusing to save to a terminal. Use the -o flag or redirect\n' });
  t.like(await cli([...flags, 'commit', 'web', 'Bad:Name']), { code: 1, stderr: 'invalid reference format: repository name must be lowercase\n' });
  t.like(await cli([...flags, 'commit', 'web', 'bad name']), { code: 1, stderr: 'invalid reference format\n' });
  t.is((await cli([...flags, 'diff'])).code, 1);
});
