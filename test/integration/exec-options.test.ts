/**
 * run / create / exec options against Docker Engine 20.10: `-u`, `--group-add`, `-e`, `--env-file`
 * and `-w` go through Debian's docker CLI (a dockerd this test starts) and through `capstan` (an
 * agent this test starts), on one busybox image with an /etc/passwd and /etc/group of this test's
 * own, and must print the same (`id`, the kernel's Groups line, the environment, the directory)
 * with the same exit code. Then, capstan alone, in a real terminal (tmux on a socket of the
 * test's own): `run -it` follows a window resize (`stty size` inside), and ctrl-p ctrl-q (and an
 * exec's own --detach-keys) detach, leaving the container running and the CLI exiting 0.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { startAgentProcess, type AgentProcess } from '../helpers/agent';
import { busyboxRootfsForEngines, DOCKER_CLI, dockerAvailable, runCleanups, startDockerd, type TestEngine } from '../helpers/engines';
import { capstanCommandLine, COMPARISON_ENV, dockerCommandLine, runCommandLine, type CommandAnswer } from '../helpers/cli-run';
import { CLI, REPO_ROOT, requireCapability } from '../helpers/repo';
import { eventually } from '../helpers/wait';

const execFileAsync = promisify(execFile);
const IMAGE = 'execopts-busybox';
const SHIM = path.join(REPO_ROOT, 'native', 'build', 'Release', 'capstan-shim');
const TMUX = '/usr/bin/tmux';
const capable = requireCapability(
  dockerAvailable() && fs.existsSync(SHIM) && fs.existsSync(TMUX),
  'root, Debian docker.io, busybox-static, /usr/bin/tmux and the built capstan-shim',
);
const serial = capable ? test.serial : test.skip;

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'alice:x:1000:1000:Alice:/home/alice:/bin/sh',
  'bob:x:1001:1001::/home/bob:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');
// alice is in four groups by membership, one of them (self) with her primary gid again.
const GROUP = ['root:x:0:', 'alice:x:1000:', 'bob:x:1001:alice', 'staff:x:50:alice,bob', 'wheel:x:10:alice', 'self:x:1000:alice', 'nogroup:x:65534:', ''].join('\n');
const ENV_FILE = '# a comment\n\nA=1\n  B=two words  \nC\nUNSET_X\nE="quoted"\n';
const BAD_ENV_FILE = 'A B=1\n';
const SHOW_ENV = 'pwd; env | grep -E "^(A|B|C|D|E|HOME)=" | sort';

/** One command line; $IMAGE, $ENV_FILE and $BAD_ENV_FILE are replaced. */
const ROWS: ReadonlyArray<readonly string[]> = [
  ['run', '--rm', '$IMAGE', 'sh', '-c', 'id; grep Groups /proc/self/status; echo HOME=$HOME'],
  ['run', '--rm', '-u', 'alice', '$IMAGE', 'sh', '-c', 'id; grep Groups /proc/self/status; echo HOME=$HOME'],
  ['run', '--rm', '-u', 'alice:staff', '$IMAGE', 'sh', '-c', 'id; grep Groups /proc/self/status'],
  ['run', '--rm', '-u', '1000:1001', '$IMAGE', 'sh', '-c', 'id; grep Groups /proc/self/status'],
  ['run', '--rm', '-u', '1001', '$IMAGE', 'sh', '-c', 'id; grep Groups /proc/self/status; echo HOME=$HOME'],
  ['run', '--rm', '-u', '4242', '$IMAGE', 'sh', '-c', 'id; grep Groups /proc/self/status; echo HOME=$HOME'],
  ['run', '--rm', '-u', 'alice:999', '$IMAGE', 'sh', '-c', 'id; grep Groups /proc/self/status'],
  ['run', '--rm', '-u', 'alice', '--group-add', 'nogroup', '--group-add', '77', '--group-add', 'staff', '$IMAGE', 'sh', '-c', 'id; grep Groups /proc/self/status'],
  ['run', '--rm', '-u', '4242:50', '--group-add', '10', '$IMAGE', 'sh', '-c', 'id; grep Groups /proc/self/status'],
  ['run', '--rm', '-u', 'nosuch', '$IMAGE', 'id'],
  ['run', '--rm', '-u', 'alice:nosuch', '$IMAGE', 'id'],
  ['run', '--rm', '--group-add', 'nosuch', '$IMAGE', 'id'],
  ['run', '--rm', '-u', 'bob', '-w', '/tmp', '--env-file', '$ENV_FILE', '-e', 'C=from-e', '-e', 'D', '$IMAGE', 'sh', '-c', SHOW_ENV],
  ['run', '--rm', '--env-file', '$BAD_ENV_FILE', '$IMAGE', 'true'],
  // Not here: `--env-file` naming a missing file. Node 20 itself reads every `--env-file X` in its
  // argv, the script's arguments too (nodejs/node#54232), and exits 9 before capstan runs (README).
  ['create', '--env-file', '$BAD_ENV_FILE', '$IMAGE', 'true'],
  ['run', '-d', '--name', 'target', '-u', 'bob', '--group-add', '77', '$IMAGE', 'sleep', '1000'],
  ['inspect', '-f', '{{.Config.User}} {{.HostConfig.GroupAdd}}', 'target'],
  ['exec', 'target', 'sh', '-c', 'id; grep Groups /proc/self/status; echo HOME=$HOME'],
  ['exec', '-u', 'alice', 'target', 'sh', '-c', 'id; grep Groups /proc/self/status; echo HOME=$HOME'],
  ['exec', '-u', '4242:50', 'target', 'sh', '-c', 'id; grep Groups /proc/self/status; echo HOME=$HOME'],
  ['exec', '-u', 'root', 'target', 'sh', '-c', 'id; grep Groups /proc/self/status'],
  ['exec', '-u', 'nosuch', 'target', 'id'],
  ['exec', '-u', 'bob:nosuch', 'target', 'id'],
  ['exec', '-w', '/tmp', '--env-file', '$ENV_FILE', '-e', 'E=from-e', 'target', 'sh', '-c', SHOW_ENV],
  ['exec', '--env-file', '$BAD_ENV_FILE', 'target', 'true'],
  ['exec', '-w', '/no/such/dir', 'target', 'true'],
  ['exec', '-e', 'HOME=/set-by-exec', '-u', 'alice', 'target', 'sh', '-c', 'echo HOME=$HOME'],
  ['rm', '-f', 'target'],
  // A HOME the container sets wins over the exec user's passwd entry.
  ['run', '-d', '--name', 'target', '-e', 'HOME=/set-by-run', '$IMAGE', 'sleep', '1000'],
  ['exec', '-u', 'alice', 'target', 'sh', '-c', 'echo HOME=$HOME'],
  ['rm', '-f', 'target'],
];

let docker: TestEngine | undefined;
let agent: AgentProcess | undefined;
let directory = '';
const cleanups: Array<() => unknown> = [];
const untilAfterAll = { teardown: (fn: () => unknown) => cleanups.push(fn) } as unknown as ExecutionContext;

test.before(async () => {
  if (!capable) return;
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-execopts-'));
  cleanups.push(() => fs.rmSync(directory, { recursive: true, force: true }));
  fs.writeFileSync(path.join(directory, 'env'), ENV_FILE);
  fs.writeFileSync(path.join(directory, 'bad-env'), BAD_ENV_FILE);
  const rootfs = path.join(directory, 'rootfs.tar');
  fs.writeFileSync(rootfs, busyboxRootfsForEngines([], { 'etc/passwd': PASSWD, 'etc/group': GROUP }));
  docker = await startDockerd(cleanups);
  const imported = await docker.cli(['import', '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', rootfs, IMAGE]);
  if (imported.status !== 0) throw new Error(`docker import: ${imported.stderr}`);
  agent = await startAgentProcess(untilAfterAll, ['--interval', '1s']);
  cleanups.push(async () => {
    for (const name of ['target', 'tty1']) await run(capstanCommand(['rm', '-f', name]));
  });
  const ours = await run(capstanCommand(['image', 'import', '--name', IMAGE, rootfs]));
  if (ours.code !== 0) throw new Error(`capstan image import: ${ours.stderrFirstLine}`);
});

test.after.always(() => runCleanups(cleanups));

/** The environment both CLIs run with: C is what a bare `C` takes; UNSET_X and D are not set. */
const CLI_ENV = { ...COMPARISON_ENV, C: 'from-the-shell' };
const run = (command: readonly string[]): Promise<CommandAnswer> => runCommandLine(command, CLI_ENV);
const capstanCommand = (args: readonly string[]): string[] => capstanCommandLine(agent!.stateDir, args);
const dockerCommand = (args: readonly string[]): string[] => dockerCommandLine(docker!, args);

/** IDs, the word "docker", and the runtime layers docker's OCI errors pass through (docker-compat.test.ts says why). */
function normalise(text: string): string {
  return text
    .replace(/\b[0-9a-f]{64}\b/g, '<id>')
    .replace(/OCI runtime exec failed: exec failed: unable to start container process: /g, '')
    .replace(/: unknown(\.?)$/gm, '$1')
    .replace(/\bdocker\b/g, 'capstan');
}

serial('-u, --group-add, -e, --env-file and -w: the same output and exit code as docker 20.10 on the same image', async (t) => {
  t.timeout(10 * 60_000);
  const version = await run([DOCKER_CLI, '-H', docker!.address, 'version', '--format', '{{.Server.Version}}']);
  t.regex(version.stdout, /^20\.10\./);
  const differences: string[] = [];
  for (const row of ROWS) {
    const args = row.map((arg) => arg.replace('$IMAGE', IMAGE).replace('$BAD_ENV_FILE', path.join(directory, 'bad-env')).replace('$ENV_FILE', path.join(directory, 'env')));
    const fromDocker = await run(dockerCommand(args));
    const fromCapstan = await run(capstanCommand(args));
    // docker exec prints a user it cannot find on stdout (runc writes into the exec's stream), CRLF-ended; capstan on stderr.
    const dockerText = normalise(fromDocker.stdout + fromDocker.stderrFirstLine).replace(/\r\n$/, '').trim();
    const capstanText = normalise(fromCapstan.stdout + fromCapstan.stderrFirstLine).trim();
    if (dockerText !== capstanText || fromDocker.code !== fromCapstan.code) {
      differences.push(`${args.join(' ')}\n  docker:  exit ${fromDocker.code} ${JSON.stringify(dockerText)}\n  capstan: exit ${fromCapstan.code} ${JSON.stringify(capstanText)}`);
    }
  }
  t.deepEqual(differences, [], differences.join('\n\n'));
});

/** A tmux server of the test's own, with sessions of 100 columns by 30 rows. */
class Tmux {
  private readonly directory = fs.mkdtempSync(path.join(os.tmpdir(), `capstan-execopts-tmux-${randomBytes(2).toString('hex')}-`));
  readonly socket = path.join(this.directory, 'socket');
  private readonly tmux = (...args: string[]): Promise<{ stdout: string }> => execFileAsync(TMUX, ['-S', this.socket, ...args]);

  start(session: string, command: string): Promise<unknown> {
    return this.tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', command);
  }

  /** Literal text (-l), then Enter. */
  async type(session: string, text: string): Promise<void> {
    await this.tmux('send-keys', '-t', session, '-l', text);
    await this.tmux('send-keys', '-t', session, 'Enter');
  }

  keys(session: string, ...keys: string[]): Promise<unknown> {
    return this.tmux('send-keys', '-t', session, ...keys);
  }

  resize(session: string, columns: number, rows: number): Promise<unknown> {
    return this.tmux('resize-window', '-t', session, '-x', String(columns), '-y', String(rows));
  }

  async waitFor(session: string, what: string, pattern: RegExp): Promise<void> {
    let screen = '';
    try {
      await eventually(
        async () => {
          screen = (await this.tmux('capture-pane', '-p', '-t', session)).stdout;
          return pattern.test(screen) || undefined;
        },
        60_000,
        what,
        200,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\nlast screen:\n${screen}`);
    }
  }

  /**
   * Waits for ash's prompt on the last line. Keys typed before it can overtake the cursor-position
   * query ash's line editor sends with each prompt (ESC [6n, asked only when no input is waiting):
   * the terminal's answer then reaches the pty while the typed command runs, and the line
   * discipline echoes it (^[[7;5R) in front of the command's output.
   */
  async atPrompt(session: string, what: string): Promise<void> {
    await this.waitFor(session, `the prompt ${what}`, /^\/ #[ \t]*\n?(?![\s\S]*\S)/m);
  }

  async kill(): Promise<void> {
    await this.tmux('kill-server').catch(() => undefined);
    fs.rmSync(this.directory, { recursive: true, force: true });
  }
}

serial('run -it follows window resizes; ctrl-p ctrl-q and an exec --detach-keys detach, the container keeps running, the CLI exits 0', async (t) => {
  t.timeout(5 * 60_000);
  const tmux = new Tmux();
  t.teardown(() => tmux.kill());
  const cli = `${process.execPath} ${CLI} --state-dir ${agent!.stateDir}`;
  // The shell around the CLI stays, so the screen shows how the CLI ended.
  await tmux.start('run', `sh -c '${cli} run -it --name tty1 ${IMAGE} sh; echo "CLI-EXIT=$?"; sleep 600'`);
  await tmux.atPrompt('run', 'of the run shell');
  await tmux.type('run', 'stty size; echo END-1');
  await tmux.waitFor('run', 'the first size', /^30 100\s*$/m);
  await tmux.atPrompt('run', 'after END-1');
  await tmux.resize('run', 120, 40);
  await tmux.type('run', 'stty size; echo END-2');
  await tmux.waitFor('run', 'the size after the resize', /^40 120\s*$/m);
  await tmux.atPrompt('run', 'after END-2');
  // A ctrl-p that is not followed by ctrl-q goes through with the next key: ash gets ctrl-p
  // (recall the last line) and ctrl-u (erase it).
  await tmux.keys('run', 'C-p', 'C-u');
  await tmux.type('run', 'echo still-attached');
  await tmux.waitFor('run', 'the shell after a lone ctrl-p', /^still-attached\s*$/m);
  await tmux.atPrompt('run', 'after still-attached');
  await tmux.keys('run', 'C-p', 'C-q');
  await tmux.waitFor('run', 'the CLI to exit 0 after ctrl-p ctrl-q', /CLI-EXIT=0/);
  t.is((await run(capstanCommand(['inspect', '-f', '{{.State.Status}}', 'tty1']))).stdout, 'running\n');

  await tmux.start('exec', `sh -c '${cli} exec -it --detach-keys ctrl-a,x tty1 sh; echo "CLI-EXIT=$?"; sleep 600'`);
  await tmux.atPrompt('exec', 'of the exec shell');
  await tmux.type('exec', 'stty size; echo END-3');
  await tmux.waitFor('exec', 'the exec terminal size', /^30 100\s*$/m);
  await tmux.atPrompt('exec', 'after END-3');
  await tmux.keys('exec', 'C-a', 'x');
  await tmux.waitFor('exec', 'the exec CLI to exit 0 after ctrl-a x', /CLI-EXIT=0/);
  t.is((await run(capstanCommand(['inspect', '-f', '{{.State.Status}}', 'tty1']))).stdout, 'running\n');
});
