/**
 * The `capstan` program (bin/capstan, the native client) against a real agent: the commands the
 * agent serves over its CLI socket print exactly what the Node CLI prints, and the rest still work
 * through Node.
 *
 * - Served: PATH is left without node, so a command can only have answered through the agent; its
 *   stdout, stderr and exit status are compared with the Node CLI's (build/server/cli/capstan.js)
 *   for the same command line, errors and usage mistakes included.
 * - run, exec and the container commands are served with the caller's environment (-e NAME);
 *   SIGINT and SIGTERM reach them as they reach the Node CLI (run passes them to the container).
 * - Not served (run -i, exec -t, stats -i, save, --env-file, --host): the client becomes the Node CLI.
 * - The socket is mode 0600: a user who is not root gets the Node CLI, and its permission error.
 * - A client that goes away mid-command (Ctrl-C of `logs -f`) stops it; garbage, a request cut
 *   short and a non-UTF-8 argument do not disturb the agent.
 * - An agent that stops mid-command ends it with a message, and the client does not run it again.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { startAgentProcess, type AgentProcess } from '../helpers/agent';
import { busyboxAvailable, writeBusyboxImages } from '../helpers/busybox-image';
import { runCleanups } from '../helpers/engines';
import { CLI, PROGRAM, requireCapability } from '../helpers/repo';
import { eventually } from '../helpers/wait';

const CLIENT = path.join(path.dirname(PROGRAM), '..', 'native', 'build', 'Release', 'capstan-client');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const capable = requireCapability(isRoot && busyboxAvailable() && fs.existsSync(CLIENT), 'root, /usr/bin/busybox (busybox-static) and the built capstan-client');
const serial = capable ? test.serial : test.skip;

interface Answer {
  code: number | null;
  stdout: string;
  stderr: string;
}

let agent: AgentProcess | undefined;
let scratch = '';
const cleanups: Array<() => unknown> = [];
const untilAfterAll = { teardown: (fn: () => unknown) => cleanups.push(fn) } as unknown as ExecutionContext;

/** The agent's TZ (it inherits this process's): a caller with another is not served. */
const SAME_TZ = process.env['TZ'] !== undefined ? { TZ: process.env['TZ'] } : {};
/** No node on this PATH: only the agent can answer a command the client hands over. */
const WITHOUT_NODE = { PATH: '/nonexistent', HOME: os.tmpdir(), ...SAME_TZ };
const WITH_NODE = { PATH: `${path.dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: os.tmpdir(), ...SAME_TZ };

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, options: { uid?: number; gid?: number } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024, ...options }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

const stateDir = (): string => {
  if (!agent) throw new Error('the agent could not be started (see the before hook)');
  return agent.stateDir;
};
const throughProgram = (args: readonly string[], env: NodeJS.ProcessEnv = WITHOUT_NODE): Promise<Answer> => run(PROGRAM, ['--state-dir', stateDir(), ...args], env);
const throughNode = (args: readonly string[]): Promise<Answer> => run(process.execPath, [CLI, '--state-dir', stateDir(), ...args], WITH_NODE);

test.before(async () => {
  if (!capable) return;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-served-'));
  scratch = directory;
  cleanups.push(() => fs.rmSync(directory, { recursive: true, force: true }));
  agent = await startAgentProcess(untilAfterAll, [], { stateDirParent: directory });
  cleanups.push(async () => {
    const ids = (await throughNode(['ps', '-a', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await throughNode(['rm', '-f', ...ids]);
  });
  const images = writeBusyboxImages(fs.mkdtempSync(path.join(directory, 'images-')));
  for (const [args, code] of [
    [['image', 'import', '--name', 'served-busybox', images.rootfsTar], 0],
    [['run', '-d', '--name', 'served-web', '-p', '127.0.0.1::80', 'served-busybox', 'sh', '-c', 'echo out; echo err >&2; exec sleep 600'], 0],
    [['run', '--name', 'served-exited', 'served-busybox', 'sh', '-c', 'echo bye; exit 3'], 3],
  ] as const) {
    const answer = await throughNode(args);
    if (answer.code !== code) throw new Error(`capstan ${args.join(' ')}: exit ${answer.code}: ${answer.stderr}`);
  }
  await eventually(async () => ((await throughNode(['logs', 'served-web'])).stdout === 'out\n' ? true : undefined), 20_000, 'served-web logged its line');
});

test.after.always(() => runCleanups(cleanups));

/** Command lines the agent serves, with their mistakes; times and sizes are the same in both runs. */
const SERVED: readonly (readonly string[])[] = [
  ['ps'],
  ['ps', '-a', '--no-trunc', '--format', '{{.Names}} {{.Image}} {{.Command}} {{.State}}'],
  ['ps', '-q', '-f', 'name=^served-web$'],
  ['ps', '-f', 'bogus=1'],
  ['ps', '--no-such-flag'],
  ['ps', '--help'],
  ['inspect', '--format', '{{.Name}} {{.State.Status}} {{.HostConfig.NetworkMode}} {{json .Config.Cmd}}', 'served-web', 'served-exited'],
  ['inspect', 'no-such-container'],
  ['inspect', '-f', '{{.Nope}}', 'served-web'],
  ['top', 'served-web', '-o', 'pid,comm'],
  ['top', 'served-exited'],
  ['port', 'served-web'],
  ['port', 'served-web', '81'],
  ['logs', 'served-web'],
  ['logs', '--tail', '1', 'served-exited'],
  ['logs', 'no-such-container'],
  ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'],
  ['history', '--format', '{{.ID}} {{.CreatedBy}}', 'served-busybox'],
  ['diff', 'served-exited'],
  ['info', '--format', '{{.NCPU}} {{.OSType}} {{.CgroupVersion}}'],
  ['version', '--format', '{{.Client.Version}} {{.Server.Version}}'],
  ['cgroups', '--help'],
  ['events', '--since', '0', '--until', '1', '--format', '{{.Action}}'],
  ['stats', '--no-stream', '--format', '{{.Name}}', 'served-web'],
  ['stats', '--no-stream', 'no-such-container'],
];

/**
 * The two runs of a command are a second or so apart: ps's "2 seconds ago" may be "3 seconds ago"
 * in the other, and the column widths follow. The phrases, and the padding after them and after
 * their headers, are made the same.
 */
function timeless(answer: Answer): Answer {
  const phrase = '(Less than a second|(About )?(an?|\\d+) (seconds?|minutes?|hours?))';
  const stdout = answer.stdout
    .replace(new RegExp(`${phrase} ago +`, 'g'), 'SOME TIME ago   ')
    .replace(new RegExp(`Up ${phrase} +`, 'g'), 'Up SOME TIME   ')
    .replace(/^(.*)CREATED +STATUS +/m, '$1CREATED   STATUS   ');
  return { ...answer, stdout };
}

serial('every served command prints what the Node CLI prints, with the same exit status, and needs no node', async (t) => {
  for (const args of SERVED) {
    const served = await throughProgram(args);
    const node = await throughNode(args);
    t.deepEqual(timeless(served), timeless(node), `capstan ${args.join(' ')}`);
  }
  // Not vacuous: the list holds successes with output, and failures.
  t.true((await throughProgram(['logs', 'served-web'])).stdout === 'out\n');
  t.is((await throughProgram(['inspect', 'no-such-container'])).code, 1);
  t.is((await throughProgram(['ps', '--no-such-flag'])).code, 125);
});

serial('run, exec and the container commands are served too, with the caller\'s environment', async (t) => {
  const env = { ...WITHOUT_NODE, SERVED_VALUE: 'from the caller' };
  const lines: Array<[readonly string[], number]> = [
    [['run', '--rm', 'served-busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3'], 3],
    [['run', '--rm', '-e', 'SERVED_VALUE', '-e', 'OTHER=x', 'served-busybox', 'sh', '-c', 'echo "$SERVED_VALUE $OTHER"'], 0],
    [['run', '--rm', 'served-busybox', 'no-such-command'], 127],
    [['run', '--rm', 'no-such-image:1', 'true'], 125],
    [['exec', 'served-web', 'sh', '-c', 'echo in web; exit 4'], 4],
    [['exec', '-e', 'SERVED_VALUE', 'served-web', 'sh', '-c', 'echo "$SERVED_VALUE"'], 0],
    [['rm', 'no-such-container'], 1],
    [['create', '--name', 'served-made', 'served-busybox', 'true'], 0],
    [['start', 'served-made'], 0],
    [['wait', 'served-made'], 0],
    [['rm', 'served-made'], 0],
  ];
  for (const [args, code] of lines) {
    const served = await run(PROGRAM, ['--state-dir', stateDir(), ...args], env);
    const node = await run(process.execPath, [CLI, '--state-dir', stateDir(), ...args], { ...WITH_NODE, SERVED_VALUE: 'from the caller' });
    t.is(served.code, code, `capstan ${args.join(' ')}: ${served.stderr}`);
    // create prints a new id each time, and the Node run's create then finds the name taken.
    if (args[0] === 'create' || args[0] === 'start' || args[0] === 'wait' || (args[0] === 'rm' && args[1] === 'served-made')) continue;
    t.deepEqual(served, node, `capstan ${args.join(' ')}`);
  }
  t.is((await throughProgram(['run', '--rm', '-e', 'SERVED_VALUE', 'served-busybox', 'sh', '-c', 'echo "$SERVED_VALUE"'], env)).stdout, 'from the caller\n');
  const detached = await throughProgram(['run', '-d', 'served-busybox', 'sleep', '600']);
  t.regex(detached.stdout, /^[0-9a-f]{64}\n$/);
  t.is((await throughProgram(['rm', '-f', detached.stdout.trim()])).stdout, detached.stdout);
});

serial('what needs the caller\'s terminal, stdin or files runs in the Node CLI: run -i, exec -t, stats -i, save, --env-file, --host, CAPSTAN_CLI=node', async (t) => {
  // Without node on PATH these cannot start: the client handed them to Node.
  for (const args of [['run', '-i', '--rm', 'served-busybox', 'true'], ['exec', '-t', 'served-web', 'true'], ['stats', '-i'], ['save', '-o', path.join(scratch, 'x.tar'), 'served-busybox'], ['run', '--env-file', '/dev/null', 'served-busybox', 'true'], ['ps', '--host', 'http://127.0.0.1:1']]) {
    const answer = await throughProgram(args);
    t.is(answer.code, 127, args.join(' '));
    t.regex(answer.stderr, /node/, args.join(' '));
  }
  t.regex((await throughProgram(['ps'], { ...WITHOUT_NODE, CAPSTAN_CLI: 'node' })).stderr, /node/);
  // Times would print in the agent's zone, not the caller's: another TZ goes to Node.
  const otherZone = process.env['TZ'] === 'Asia/Tokyo' ? 'Europe/Paris' : 'Asia/Tokyo';
  t.regex((await throughProgram(['ps'], { ...WITHOUT_NODE, TZ: otherZone })).stderr, /node/);
  // With node they work as they always did.
  const ran = await throughProgram(['run', '-i', '--rm', 'served-busybox', 'echo', 'through node'], WITH_NODE);
  t.is(ran.code, 0, ran.stderr);
  t.is(ran.stdout, 'through node\n');
});

/** Starts `capstan ARGS` through the program; resolves once its stdout holds `ready`. */
async function started(
  args: readonly string[],
  ready: string,
  env: NodeJS.ProcessEnv = WITHOUT_NODE,
): Promise<{ child: import('node:child_process').ChildProcess; output: () => string; exit: Promise<number | null>; signal: Promise<NodeJS.Signals | null> }> {
  const child = spawn(PROGRAM, ['--state-dir', stateDir(), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (code, signal) => resolve([code, signal])));
  const exit = closed.then(([code]) => code);
  const signal = closed.then(([, how]) => how);
  await eventually(() => (output.includes(ready) ? true : undefined), 20_000, `capstan ${args.join(' ')} printed ${ready}`);
  return { child, output: () => output, exit, signal };
}

serial('SIGINT and SIGTERM reach a served command as they reach the Node CLI: run passes them on; logs -f stops; stop ends by it; a third one ends the client', async (t) => {
  const trapping = ['run', '--rm', 'served-busybox', 'sh', '-c', 'trap "echo got INT; exit 9" INT; trap "echo got TERM; exit 8" TERM; echo ready; while true; do sleep 0.1; done'];
  for (const [signal, code, line] of [['SIGINT', 9, 'got INT'], ['SIGTERM', 8, 'got TERM']] as const) {
    const served = await started(trapping, 'ready');
    served.child.kill(signal);
    t.is(await served.exit, code, served.output());
    t.true(served.output().includes(line), served.output());
  }
  // logs -f: Ctrl-C ends it with the Node CLI's status.
  const statusOf = async (env: NodeJS.ProcessEnv): Promise<number | null> => {
    const follower = await started(['logs', '-f', 'served-web'], 'out', env);
    follower.child.kill('SIGINT');
    return follower.exit;
  };
  t.is(await statusOf(WITHOUT_NODE), await statusOf({ ...WITH_NODE, CAPSTAN_CLI: 'node' }));
  // A container that ignores SIGINT: the third Ctrl-C ends the client; the container runs on.
  const stubborn = await started(['run', '--name', 'served-stubborn', 'served-busybox', 'sh', '-c', 'trap "" INT; echo ready; exec sleep 600'], 'ready');
  for (let press = 0; press < 3; press++) {
    stubborn.child.kill('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.is(await stubborn.signal, 'SIGINT', 'the client ends by the signal, as the Node CLI would');
  t.is((await throughProgram(['inspect', '-f', '{{.State.Running}}', 'served-stubborn'])).stdout, 'true\n');
  // A command with no handler for it (stop, waiting out -t on a PID 1 that ignores SIGTERM) ends
  // by SIGINT, through the agent or through Node alike; no command runs twice.
  const endedBy = async (env: NodeJS.ProcessEnv): Promise<NodeJS.Signals | null> => {
    const stopping = await started(['stop', '-t', '8', 'served-stubborn'], '', env);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    stopping.child.kill('SIGINT');
    return stopping.signal;
  };
  t.is(await endedBy(WITHOUT_NODE), 'SIGINT');
  t.is(await endedBy({ ...WITH_NODE, CAPSTAN_CLI: 'node' }), 'SIGINT');
  t.is((await throughProgram(['rm', '-f', 'served-stubborn'])).code, 0);
});

serial('the CLI socket is mode 0600: another user is not served (the client turns to the Node CLI)', async (t) => {
  const socketPath = path.join(stateDir(), 'cli.sock');
  t.true(fs.statSync(socketPath).isSocket());
  t.is(fs.statSync(socketPath).mode & 0o777, 0o600);
  // nobody may reach the socket (the directories opened to it for this test) but not connect. The
  // client is copied beside it (it is static), so the Node CLI it then turns to is not found:
  // which says that the agent did not answer.
  const client = path.join(scratch, 'capstan-client');
  fs.copyFileSync(CLIENT, client);
  fs.chmodSync(client, 0o755);
  fs.chmodSync(scratch, 0o755);
  fs.chmodSync(stateDir(), 0o755);
  try {
    const asNobody = await run(client, ['--state-dir', stateDir(), 'ps'], WITHOUT_NODE, { uid: 65534, gid: 65534 });
    t.is(asNobody.code, 1);
    t.regex(asNobody.stderr, /^capstan: cannot start the Node CLI: execve .*capstan\.js: No such file or directory\n$/);
    t.is(asNobody.stdout, '');
    // The same copy as root is served.
    const asRoot = await run(client, ['--state-dir', stateDir(), 'ps', '-q', '-f', 'name=^served-web$'], WITHOUT_NODE);
    t.is(asRoot.code, 0, asRoot.stderr);
    t.regex(asRoot.stdout, /^[0-9a-f]{12}\n$/);
  } finally {
    fs.chmodSync(stateDir(), 0o700);
    fs.chmodSync(scratch, 0o700);
  }
});

serial('a client that goes away stops its command; garbage, a request cut short and a non-UTF-8 argument leave the agent serving', async (t) => {
  // logs -f through the agent, its client killed outright.
  const follower = await started(['logs', '-f', 'served-web'], 'out');
  follower.child.kill('SIGKILL');
  await follower.exit;

  const exchange = (bytes: Buffer, endAfterWrite: boolean): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const socket = net.connect(path.join(stateDir(), 'cli.sock'));
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(received)));
      socket.write(bytes, () => {
        if (endAfterWrite) socket.end();
      });
    });
  const notServed = (answer: Buffer): string => {
    t.is(String.fromCharCode(answer[0]!), 'n');
    return answer.subarray(5).toString();
  };
  t.regex(notServed(await exchange(Buffer.from('GET / HTTP/1.1\r\n\r\n'), false)), /wrong magic/);
  const header = Buffer.from('CAPSTAN-CLI 2\n');
  const u32 = (value: number): Buffer => {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(value);
    return bytes;
  };
  t.regex(notServed(await exchange(Buffer.concat([header, u32(0), u32(1), u32(2), Buffer.from([0xc3, 0x28])]), false)), /not UTF-8/);
  t.regex(notServed(await exchange(Buffer.concat([header, u32(0), u32(1), u32(0xffffffff)]), false)), /argument of/);
  // Cut short: the agent waits for the rest; a client that then closes is forgotten.
  t.is((await exchange(Buffer.concat([header, u32(0), u32(2)]), true)).length, 0);
  // A served command, then a frame that is no signal: the connection is dropped, the agent serves on.
  const request = Buffer.concat([header, u32(0), u32(3), u32(4), Buffer.from('logs'), u32(2), Buffer.from('-f'), u32(10), Buffer.from('served-web'), u32(0)]);
  const dropped = await exchange(Buffer.concat([request, Buffer.from([0x6f, 0, 0, 0, 0])]), false);
  t.false(dropped.includes(Buffer.from([0x78, 0, 0, 0, 4])));

  // The agent still serves, and still follows logs.
  const after = await throughProgram(['logs', 'served-web']);
  t.deepEqual(after, { code: 0, stdout: 'out\n', stderr: 'err\n' });
});

serial('an agent that stops mid-command ends its served commands with a message; the client does not run them again in Node', async (t) => {
  const follower = await started(['logs', '-f', 'served-web'], 'out');
  await agent!.restart();
  t.is(await follower.exit, 1);
  t.true(follower.output().endsWith('capstan: the agent closed the CLI socket before the command finished\n'), follower.output());
  // The new agent serves on the same socket path.
  t.deepEqual(await throughProgram(['logs', 'served-web']), { code: 0, stdout: 'out\n', stderr: 'err\n' });
});
