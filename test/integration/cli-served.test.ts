/**
 * The `capstan` program (bin/capstan, the native client) against a real agent: the commands the
 * agent serves over its CLI socket print exactly what the Node CLI prints, and the rest still work
 * through Node.
 *
 * - Served: PATH is left without node, so a command can only have answered through the agent; its
 *   stdout, stderr and exit status are compared with the Node CLI's (build/server/cli/capstan.js)
 *   for the same command line, errors and usage mistakes included.
 * - Not served (run, rm, stats -i, a --host): the client becomes the Node CLI.
 * - The socket is mode 0600: a user who is not root gets the Node CLI, and its permission error.
 * - A client that goes away mid-command (Ctrl-C of `logs -f`) stops it; garbage, a request cut
 *   short and a non-UTF-8 argument do not disturb the agent.
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

/** No node on this PATH: only the agent can answer a command the client hands over. */
const WITHOUT_NODE = { PATH: '/nonexistent', HOME: os.tmpdir() };
const WITH_NODE = { PATH: `${path.dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: os.tmpdir() };

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

serial('every served command prints what the Node CLI prints, with the same exit status, and needs no node', async (t) => {
  for (const args of SERVED) {
    const served = await throughProgram(args);
    const node = await throughNode(args);
    t.deepEqual(served, node, `capstan ${args.join(' ')}`);
  }
  // Not vacuous: the list holds successes with output, and failures.
  t.true((await throughProgram(['logs', 'served-web'])).stdout === 'out\n');
  t.is((await throughProgram(['inspect', 'no-such-container'])).code, 1);
  t.is((await throughProgram(['ps', '--no-such-flag'])).code, 125);
});

serial('commands the agent does not serve run in the Node CLI: run, rm, stats -i, --host, CAPSTAN_CLI=node', async (t) => {
  // Without node on PATH they cannot start: the client handed them to Node.
  for (const args of [['run', '--rm', 'served-busybox', 'true'], ['rm', 'no-such-container'], ['stats', '-i'], ['ps', '--host', 'http://127.0.0.1:1']]) {
    const answer = await throughProgram(args);
    t.not(answer.code, 0, args.join(' '));
    t.regex(answer.stderr, /node/, args.join(' '));
  }
  t.regex((await throughProgram(['ps'], { ...WITHOUT_NODE, CAPSTAN_CLI: 'node' })).stderr, /node/);
  // With node they work as they always did.
  const ran = await throughProgram(['run', '--rm', 'served-busybox', 'echo', 'through node'], WITH_NODE);
  t.is(ran.code, 0, ran.stderr);
  t.is(ran.stdout, 'through node\n');
  const removed = await throughProgram(['rm', 'no-such-container'], WITH_NODE);
  t.deepEqual(removed, await throughNode(['rm', 'no-such-container']));
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
  // logs -f through the agent, ended as Ctrl-C ends it: the client process dies.
  const follower = spawn(PROGRAM, ['--state-dir', stateDir(), 'logs', '-f', 'served-web'], { env: WITHOUT_NODE, stdio: ['ignore', 'pipe', 'pipe'] });
  let followed = '';
  follower.stdout.on('data', (chunk: Buffer) => (followed += chunk.toString()));
  await eventually(() => (followed === 'out\n' ? true : undefined), 10_000, 'logs -f printed the line');
  follower.kill('SIGINT');
  await new Promise((resolve) => follower.once('close', resolve));

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
  const header = Buffer.from('CAPSTAN-CLI 1\n');
  const u32 = (value: number): Buffer => {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(value);
    return bytes;
  };
  t.regex(notServed(await exchange(Buffer.concat([header, u32(0), u32(1), u32(2), Buffer.from([0xc3, 0x28])]), false)), /not UTF-8/);
  t.regex(notServed(await exchange(Buffer.concat([header, u32(0), u32(1), u32(0xffffffff)]), false)), /argument of/);
  // Cut short: the agent waits for the rest, then drops the connection (5 s).
  t.is((await exchange(Buffer.concat([header, u32(0), u32(2)]), true)).length, 0);

  // The agent still serves, and still follows logs.
  const after = await throughProgram(['logs', 'served-web']);
  t.deepEqual(after, { code: 0, stdout: 'out\n', stderr: 'err\n' });
});
