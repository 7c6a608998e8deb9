/**
 * capstan-shim on its own, as root, on real namespaces and cgroups: each test writes a ShimConfig by
 * hand, runs `capstan-shim start` with a status pipe on fd 3, and reads what the shim records
 * (init.json, exit.json, container.log). Cgroups live under a `capstan-test-<random>` parent and,
 * like every process and directory, are removed even when a test fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  DOCKER_DEFAULT_CAPABILITIES,
  type ExecConfig,
  type ExitRecord,
  type InitRecord,
  type LogLine,
  type ShimConfig,
  type StatusMessage,
} from '../../server/runtime/shim-protocol';
import { ImageStore } from '../../server/runtime/images/store';
import type { ImageRecord } from '../../server/runtime/images/types';
import { busyboxAvailable, writeBusyboxImages } from '../helpers/busybox-image';
import { TestCgroupTree } from '../helpers/cgroups';
import { REPO_ROOT, requireCapability } from '../helpers/repo';
import { sleep } from '../helpers/wait';

const SHIM_BINARY = path.join(REPO_ROOT, 'native', 'build', 'Release', 'capstan-shim');

/** The host's busybox (Debian's busybox-static), usable inside host-rootfs containers. */
const HOST_BUSYBOX = '/usr/bin/busybox';

interface ShimContainer {
  directory: string;
  config: ShimConfig;
  status: StatusMessage;
  cgroupPath: string;
}

/** A fresh directory for one container, removed when the test ends. */
function containerDirectory(t: ExecutionContext): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-shim-'));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  return directory;
}

/** A ShimConfig for `directory`, with Docker's defaults and the host's filesystem as root. */
function baseConfig(directory: string, tree: TestCgroupTree, cgroupPath: string, args: string[]): ShimConfig {
  return {
    id: 'c0ffee'.padEnd(64, '0'),
    args,
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    hostname: 'shimtest',
    tty: false,
    openStdin: false,
    attachSocket: path.join(directory, 'attach.sock'),
    rootfs: { kind: 'host', mountpoint: path.join(directory, 'rootfs') },
    cgroupProcsFiles: tree.manager.directories(cgroupPath).map(({ directory: d }) => path.join(d, 'cgroup.procs')),
    capabilities: [...DOCKER_DEFAULT_CAPABILITIES],
    maskedPaths: [...DEFAULT_MASKED_PATHS],
    readonlyPaths: [...DEFAULT_READONLY_PATHS],
    log: { path: path.join(directory, 'container.log'), maxBytes: 10 * 1024 * 1024, maxFiles: 2 },
    initRecordPath: path.join(directory, 'init.json'),
    exitRecordPath: path.join(directory, 'exit.json'),
    shimPidPath: path.join(directory, 'shim.pid'),
  };
}

/** Reads the status pipe (fd 3 of `child`) to EOF and returns its one message. */
function readStatusPipe(stream: NodeJS.ReadableStream): Promise<StatusMessage> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('error', reject);
    stream.on('end', () => {
      const line = text.split('\n').find((l) => l.trim() !== '');
      if (!line) {
        reject(new Error('the shim closed its status pipe without a message'));
        return;
      }
      try {
        resolve(JSON.parse(line) as StatusMessage);
      } catch (error) {
        reject(new Error(`status line is not JSON: ${line}: ${(error as Error).message}`));
      }
    });
  });
}

function processStartTicks(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return undefined;
  }
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** SIGKILLs the container's main process and the shim (when they are still the ones we started). */
function killContainer(directory: string): void {
  const init = readJson<InitRecord>(path.join(directory, 'init.json'));
  if (init && processStartTicks(init.pid) === init.startTimeTicks) {
    try {
      process.kill(init.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Starts a container with `config` written to its directory; cleans up its processes at teardown. */
async function startShim(t: ExecutionContext, config: ShimConfig, cgroupPath: string): Promise<ShimContainer> {
  const directory = path.dirname(config.initRecordPath);
  fs.writeFileSync(path.join(directory, 'config.json'), JSON.stringify(config) + '\n');
  t.teardown(async () => {
    killContainer(directory);
    // The shim records the exit and leaves by itself once its child is gone.
    const deadline = Date.now() + 5000;
    const shimPid = Number(readFileOr(path.join(directory, 'shim.pid'), '0'));
    while (shimPid > 0 && isAlive(shimPid) && Date.now() < deadline) await sleep(50);
  });
  const child = spawn(SHIM_BINARY, ['start', directory], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const status = await readStatusPipe(child.stdio[3] as NodeJS.ReadableStream);
  await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
  if (child.exitCode !== 0 && status.type === 'started') throw new Error(`shim exited with ${child.exitCode}: ${stderr}`);
  return { directory, config, status, cgroupPath };
}

function readFileOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for exit.json. Units: timeoutMs in milliseconds. */
async function waitForExit(directory: string, timeoutMs = 20_000): Promise<ExitRecord> {
  const file = path.join(directory, 'exit.json');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const record = readJson<ExitRecord>(file);
    if (record) return record;
    if (Date.now() > deadline) throw new Error(`no exit.json in ${directory} after ${timeoutMs} ms: ${readFileOr(path.join(directory, 'shim.log'), '')}`);
    await sleep(25);
  }
}

/** Every record of container.log (and of its rotated files, oldest first, when `withRotated`). */
function readLog(directory: string, withRotated = false): LogLine[] {
  const files = [path.join(directory, 'container.log')];
  if (withRotated) {
    for (let i = 1; i <= 20; i++) {
      const rotated = path.join(directory, `container.log.${i}`);
      if (fs.existsSync(rotated)) files.unshift(rotated);
    }
  }
  return files.flatMap((file) =>
    readFileOr(file, '')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as LogLine),
  );
}

/** The container's stdout as one string. */
function stdoutOf(directory: string): string {
  return readLog(directory)
    .filter((line) => line.stream === 'stdout')
    .map((line) => line.log)
    .join('');
}

const isRoot = process.getuid?.() === 0;

/** Skips (never in CI) unless we are root and the shim is built. */
function canRun(t: ExecutionContext): boolean {
  if (!requireCapability(isRoot, 'root (namespaces, mounts, cgroups)')) {
    t.log('skipped: needs root');
    return false;
  }
  if (!requireCapability(fs.existsSync(SHIM_BINARY), `${SHIM_BINARY} (npm run build)`)) {
    t.log('skipped: the shim is not built');
    return false;
  }
  return true;
}

interface Setup {
  tree: TestCgroupTree;
  cgroupPath: string;
  directory: string;
  config: ShimConfig;
}

/** A cgroup, a directory and a host-rootfs config running `args`. */
function setUp(t: ExecutionContext, args: string[], tweak: (config: ShimConfig) => void = () => {}): Setup {
  const tree = TestCgroupTree.forTest(t);
  const cgroupPath = tree.child('c');
  const directory = containerDirectory(t);
  const config = baseConfig(directory, tree, cgroupPath, args);
  tweak(config);
  return { tree, cgroupPath, directory, config };
}

/** Runs a busybox shell script to completion; returns its stdout and exit record. */
async function runScript(t: ExecutionContext, script: string, tweak?: (config: ShimConfig) => void) {
  const setup = setUp(t, [HOST_BUSYBOX, 'sh', '-c', script], tweak);
  const container = await startShim(t, setup.config, setup.cgroupPath);
  if (container.status.type !== 'started') throw new Error(`start failed: ${JSON.stringify(container.status)}`);
  const exit = await waitForExit(setup.directory);
  return { ...setup, container, exit, stdout: stdoutOf(setup.directory) };
}

const PRIVATE_TMP_FILE = `capstan-shim-private-${process.pid}-${Date.now()}`;

/** Docker's default capability set as the kernel prints it in /proc/<pid>/status. */
const DOCKER_CAP_MASK = '00000000a80425fb';

test('the command is PID 1 and sees only its own processes, hostname and loopback', async (t) => {
  if (!canRun(t)) return;
  const { stdout, exit, container, directory } = await runScript(
    t,
    'echo "pid=$$"; busybox ps -o pid,comm; echo "host=$(hostname)"; echo "<dev>"; cat /proc/net/dev; echo "</dev>"; busybox ip link show lo',
    (config) => {
      config.hostname = 'box-one';
    },
  );
  t.is(exit.exitCode, 0);
  t.is(container.status.type, 'started');
  t.regex(stdout, /^pid=1$/m);
  const processes = stdout
    .split('\n')
    .filter((line) => /^\s*\d+\s+\S+\s*$/.test(line))
    .map((line) => line.trim().split(/\s+/));
  t.is(processes.length, 2, `ps shows the shell and ps itself only:\n${stdout}`);
  t.deepEqual(processes[0], ['1', 'busybox'], 'PID 1 is the command (busybox sh)');
  t.regex(stdout, /^host=box-one$/m);
  const interfaces = stdout
    .slice(stdout.indexOf('<dev>'), stdout.indexOf('</dev>'))
    .split('\n')
    .filter((line) => /^\s*[\w.-]+:/.test(line))
    .map((line) => line.trim().split(':')[0]);
  t.deepEqual(interfaces, ['lo']);
  t.regex(stdout, /<LOOPBACK,UP,LOWER_UP>/, 'loopback is up');
  const init = JSON.parse(fs.readFileSync(path.join(directory, 'init.json'), 'utf8')) as InitRecord;
  t.is(init.pid, (container.status as { pid: number }).pid);
  t.true(init.startTimeTicks > 0);
  t.regex(init.startedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
});

test("the command's first instruction already runs in the container's cgroups", async (t) => {
  if (!canRun(t)) return;
  // cat is PID 1 itself: the file is read by the exec'd program's first syscalls.
  const setup = setUp(t, [HOST_BUSYBOX, 'cat', '/proc/self/cgroup']);
  const container = await startShim(t, setup.config, setup.cgroupPath);
  t.is(container.status.type, 'started');
  t.is((await waitForExit(setup.directory)).exitCode, 0);
  const lines = stdoutOf(setup.directory).trim().split('\n');
  const controllers = setup.tree.layout.controllersOn === 2 ? [''] : ['memory', 'pids', 'cpu'];
  for (const controller of controllers) {
    const line = lines.find((l) => l.split(':')[1]?.split(',').includes(controller) ?? (controller === '' && l.startsWith('0::')));
    t.truthy(line, `a line for ${controller || 'v2'} in:\n${lines.join('\n')}`);
    t.is(line!.split(':').slice(2).join(':'), setup.cgroupPath);
  }
});

test("capabilities are Docker's default set, no_new_privs is on, and mounts and sysrq are refused", async (t) => {
  if (!canRun(t)) return;
  const script = [
    'grep -E "^(CapEff|CapPrm|CapBnd|CapInh|CapAmb|NoNewPrivs):" /proc/self/status',
    'mount -t tmpfs x /mnt 2>/dev/null; echo "mount=$?"',
    '(echo h > /proc/sysrq-trigger) 2>/dev/null; echo "sysrq=$?"',
    'echo "kcore=$(wc -c < /proc/kcore 2>/dev/null || echo absent)"',
    'echo "timer_list=$(wc -c < /proc/timer_list)"',
    'echo "keys=$(wc -c < /proc/keys)"',
    '(echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null; echo "procsys=$?"',
    'touch /etc/capstan-should-fail 2>/dev/null; echo "rootwrite=$?"',
    `touch /tmp/${PRIVATE_TMP_FILE} && echo "tmpwrite=$?"`,
    '(echo x > /sys/kernel/uevent_helper) 2>/dev/null; echo "sys=$?"',
  ].join('; ');
  const { stdout, exit } = await runScript(t, script);
  t.is(exit.exitCode, 0, stdout);
  t.regex(stdout, new RegExp(`^CapEff:\\s+${DOCKER_CAP_MASK}$`, 'm'));
  t.regex(stdout, new RegExp(`^CapPrm:\\s+${DOCKER_CAP_MASK}$`, 'm'));
  t.regex(stdout, new RegExp(`^CapBnd:\\s+${DOCKER_CAP_MASK}$`, 'm'));
  t.regex(stdout, /^CapInh:\s+0{16}$/m);
  t.regex(stdout, /^CapAmb:\s+0{16}$/m);
  t.regex(stdout, /^NoNewPrivs:\s+1$/m);
  t.regex(stdout, /^mount=[1-9]\d*$/m, 'mount fails without CAP_SYS_ADMIN');
  t.regex(stdout, /^sysrq=[1-9]\d*$/m, 'writing /proc/sysrq-trigger fails');
  // Kernels without CONFIG_PROC_KCORE have no /proc/kcore at all: nothing to mask then.
  t.regex(stdout, fs.existsSync('/proc/kcore') ? /^kcore=0$/m : /^kcore=(0|absent)$/m, '/proc/kcore is masked');
  t.regex(stdout, /^timer_list=0$/m, '/proc/timer_list is masked');
  t.regex(stdout, /^keys=0$/m, '/proc/keys is masked');
  t.regex(stdout, /^procsys=[1-9]\d*$/m, '/proc/sys is read-only');
  t.regex(stdout, /^rootwrite=[1-9]\d*$/m, "the host's / is read-only");
  t.regex(stdout, /^tmpwrite=0$/m, '/tmp is writable');
  t.regex(stdout, /^sys=[1-9]\d*$/m, '/sys is read-only');
  t.false(fs.existsSync(path.join('/tmp', PRIVATE_TMP_FILE)), "the container's /tmp is its own");
});

test('a non-root user gets its ids and no effective capabilities', async (t) => {
  if (!canRun(t)) return;
  const { stdout, exit } = await runScript(t, 'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"; grep -E "^Cap(Eff|Bnd):" /proc/self/status', (config) => {
    config.user = { uid: 65534, gid: 65534, additionalGids: [65533] };
  });
  t.is(exit.exitCode, 0, stdout);
  t.regex(stdout, /^uid=65534 gid=65534 groups=65534 65533$/m);
  t.regex(stdout, /^CapEff:\s+0{16}$/m);
  t.regex(stdout, new RegExp(`^CapBnd:\\s+${DOCKER_CAP_MASK}$`, 'm'));
});

test('env and working directory are applied; stdout and stderr are logged as JSON lines', async (t) => {
  if (!canRun(t)) return;
  const { exit, directory } = await runScript(t, 'echo "$GREETING from $(pwd)"; echo oops >&2; printf partial', (config) => {
    config.env.push('GREETING=hello');
    config.cwd = '/usr';
  });
  t.is(exit.exitCode, 0);
  const lines = readLog(directory);
  t.deepEqual(
    lines.map(({ stream, log }) => ({ stream, log })).sort((a, b) => a.stream.localeCompare(b.stream) || a.log.localeCompare(b.log)),
    [
      { stream: 'stderr', log: 'oops\n' },
      { stream: 'stdout', log: 'hello from /usr\n' },
      { stream: 'stdout', log: 'partial' },
    ],
  );
  for (const line of lines) {
    t.regex(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    t.false(Number.isNaN(Date.parse(line.time)));
  }
});

test('the exit code is recorded, and a signal is recorded as 128 + signal', async (t) => {
  if (!canRun(t)) return;
  const { exit } = await runScript(t, 'exit 7');
  t.is(exit.exitCode, 7);
  t.is(exit.signal, undefined);
  t.false(Number.isNaN(Date.parse(exit.finishedAt)));

  // A PID namespace's init ignores signals it has no handler for, SIGKILL included, when they come
  // from inside its namespace: the kill comes from outside, as `capstan kill` sends it.
  const setup = setUp(t, [HOST_BUSYBOX, 'sleep', '1000']);
  const container = await startShim(t, setup.config, setup.cgroupPath);
  process.kill((container.status as { pid: number }).pid, 'SIGKILL');
  const killed = await waitForExit(setup.directory);
  t.is(killed.exitCode, 137);
  t.is(killed.signal, 'SIGKILL');
});

test('a missing command is reported on the status pipe with exit code 127, a non-executable one with 126', async (t) => {
  if (!canRun(t)) return;
  const missing = setUp(t, ['no-such-command-anywhere']);
  const result = await startShim(t, missing.config, missing.cgroupPath);
  t.like(result.status, { type: 'error', stage: 'exec', code: 'ENOENT', errno: 2, exitCode: 127 });
  t.regex((result.status as { message: string }).message, /executable file not found in \$PATH/);
  t.false(fs.existsSync(path.join(missing.directory, 'init.json')));
  await sleep(100);
  t.deepEqual(missing.tree.manager.processes(missing.cgroupPath), [], 'nothing left running in the cgroup');

  const notExecutable = setUp(t, ['/etc/passwd']);
  const second = await startShim(t, notExecutable.config, notExecutable.cgroupPath);
  t.like(second.status, { type: 'error', stage: 'exec', code: 'EACCES', exitCode: 126, path: '/etc/passwd' });
});

test('a cgroup that cannot be joined fails the start before anything runs', async (t) => {
  if (!canRun(t)) return;
  const setup = setUp(t, [HOST_BUSYBOX, 'touch', '/tmp/should-not-run'], (config) => {
    config.cgroupProcsFiles.push('/sys/fs/cgroup/no-such-controller/capstan-test-none/cgroup.procs');
  });
  const result = await startShim(t, setup.config, setup.cgroupPath);
  t.like(result.status, { type: 'error', stage: 'cgroup', code: 'ENOENT', path: '/sys/fs/cgroup/no-such-controller/capstan-test-none/cgroup.procs' });
  t.false(fs.existsSync(path.join(setup.directory, 'init.json')));
  t.false(fs.existsSync(path.join(setup.directory, 'exit.json')));
  // The child joined the good cgroups itself before it failed on the last one: it must be gone.
  for (const file of setup.config.cgroupProcsFiles.slice(0, -1)) {
    t.is(fs.readFileSync(file, 'utf8').trim(), '', `nothing left in ${file}`);
  }
});

test('the log is rotated at maxBytes and keeps maxFiles old files', async (t) => {
  if (!canRun(t)) return;
  const { exit, directory } = await runScript(t, 'i=0; while [ $i -lt 300 ]; do echo "line-$i"; i=$((i+1)); done', (config) => {
    config.log.maxBytes = 2000;
    config.log.maxFiles = 2;
  });
  t.is(exit.exitCode, 0);
  const files = fs.readdirSync(directory).filter((name) => name.startsWith('container.log')).sort();
  t.deepEqual(files, ['container.log', 'container.log.1', 'container.log.2']);
  for (const file of files) t.true(fs.statSync(path.join(directory, file)).size <= 2000, `${file} is within maxBytes`);
  const kept = readLog(directory, true).map((line) => line.log.trim());
  t.is(kept.at(-1), 'line-299');
  const first = Number(kept[0]!.slice('line-'.length));
  t.deepEqual(kept, Array.from({ length: 300 - first }, (_, i) => `line-${first + i}`), 'the newest lines, in order, none lost between files');
});

test('the container outlives the process that started the shim', async (t) => {
  if (!canRun(t)) return;
  const setup = setUp(t, [HOST_BUSYBOX, 'sleep', '1000']);
  fs.writeFileSync(path.join(setup.directory, 'config.json'), JSON.stringify(setup.config));
  t.teardown(() => killContainer(setup.directory));
  // A helper process starts the shim, reports its status line, and is then SIGKILLed.
  const script = `
    const { spawn } = require('node:child_process');
    const child = spawn(${JSON.stringify(SHIM_BINARY)}, ['start', ${JSON.stringify(setup.directory)}], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    child.stdio[3].on('data', (chunk) => process.stdout.write(chunk));
    setInterval(() => {}, 1000);`;
  const helper = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (helper.exitCode === null && helper.signalCode === null) helper.kill('SIGKILL');
  });
  const line = await new Promise<string>((resolve) => {
    let text = '';
    helper.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text.split('\n')[0]!);
    });
  });
  const status = JSON.parse(line) as StatusMessage;
  t.is(status.type, 'started');
  helper.kill('SIGKILL');
  await new Promise((resolve) => helper.once('exit', resolve));

  await sleep(300);
  const pid = (status as { pid: number }).pid;
  const shimPid = Number(fs.readFileSync(path.join(setup.directory, 'shim.pid'), 'utf8'));
  t.true(isAlive(pid), 'the container is still running');
  t.true(isAlive(shimPid), 'the shim is still running');
  t.false(fs.existsSync(path.join(setup.directory, 'exit.json')));
  t.is(status.type === 'started' ? status.shimPid : undefined, shimPid, 'the status line names the shim');
  // The shim holds the container's mount namespace, so its teardown waits until the exit is recorded.
  const containerMountNamespace = fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  t.not(containerMountNamespace, fs.readlinkSync('/proc/self/ns/mnt'));
  const shimHolds = fs.readdirSync(`/proc/${shimPid}/fd`).some((fd) => {
    try {
      return fs.readlinkSync(`/proc/${shimPid}/fd/${fd}`) === containerMountNamespace;
    } catch {
      return false;
    }
  });
  t.true(shimHolds, 'the shim holds a reference to the container\'s mount namespace');

  process.kill(pid, 'SIGKILL');
  const exit = await waitForExit(setup.directory);
  t.is(exit.exitCode, 137);
  for (let i = 0; i < 100 && isAlive(shimPid); i++) await sleep(20);
  t.false(isAlive(shimPid) && !fs.readFileSync(`/proc/${shimPid}/stat`, 'utf8').includes(') Z'), 'the shim left after recording the exit');
});

/* ---- containers on an image (overlayfs) ---- */

let scratchForImages: string | undefined;
let images: Promise<{ store: ImageStore; image: ImageRecord }> | undefined;

/**
 * The busybox test image (docker save format: two layers, a whiteout, an opaque directory),
 * imported once for the whole file (tests run concurrently: they share the one promise).
 */
function busyboxImage(): Promise<{ store: ImageStore; image: ImageRecord }> {
  images ??= (async () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-shim-images-'));
    scratchForImages = scratch;
    const archives = path.join(scratch, 'archives');
    fs.mkdirSync(archives);
    const files = writeBusyboxImages(archives);
    const store = new ImageStore({ stateDir: path.join(scratch, 'state') });
    const [image] = await store.importImage(files.dockerSave);
    return { store, image: image! };
  })();
  return images;
}

test.after.always(() => {
  if (scratchForImages) fs.rmSync(scratchForImages, { recursive: true, force: true });
});

function canRunImages(t: ExecutionContext): boolean {
  if (!canRun(t)) return false;
  if (!requireCapability(busyboxAvailable(), '/usr/bin/busybox (apt-get install busybox-static)')) {
    t.log('skipped: needs busybox-static');
    return false;
  }
  return true;
}

async function imageSetUp(t: ExecutionContext, script: string): Promise<Setup & { store: ImageStore; image: ImageRecord }> {
  const { store, image } = await busyboxImage();
  const setup = setUp(t, ['sh', '-c', script]);
  setup.config.rootfs = store.prepareOverlay(setup.directory, image);
  setup.config.env = ['PATH=/bin', 'HOME=/root'];
  return { ...setup, store, image };
}

function treeSnapshot(root: string): string[] {
  const out: string[] = [];
  const visit = (relative: string): void => {
    const stat = fs.lstatSync(path.join(root, relative));
    const content = stat.isFile() ? fs.readFileSync(path.join(root, relative)).subarray(0, 64).toString('hex') : stat.isSymbolicLink() ? fs.readlinkSync(path.join(root, relative)) : '';
    out.push(`${relative} ${stat.mode.toString(8)} ${stat.size} ${content}`);
    if (stat.isDirectory()) for (const name of fs.readdirSync(path.join(root, relative)).sort()) visit(relative ? `${relative}/${name}` : name);
  };
  visit('');
  return out;
}

test('a container on an image sees its layers stacked (whiteouts, opaque directories) and writes only to its own upper layer', async (t) => {
  if (!canRunImages(t)) return;
  const script = [
    'echo "pid=$$"',
    'echo "motd=$(cat /etc/motd)"',
    'test -e /etc/issue && echo issue=present || echo issue=gone',
    'echo "www=$(ls /var/www | tr "\\n" " ")"',
    'echo changed > /etc/motd',
    'echo new > /data.txt',
    'rm /bin/ls',
    'echo "user=$(id -un)"',
  ].join('; ');
  const setup = await imageSetUp(t, script);
  const layersBefore = setup.store.layerDirs(setup.image).map(treeSnapshot);
  const container = await startShim(t, setup.config, setup.cgroupPath);
  t.is(container.status.type, 'started', JSON.stringify(container.status));
  t.is((await waitForExit(setup.directory)).exitCode, 0, readFileOr(path.join(setup.directory, 'container.log'), ''));
  const stdout = stdoutOf(setup.directory);
  t.regex(stdout, /^pid=1$/m);
  t.regex(stdout, /^motd=hello from layer 2$/m);
  t.regex(stdout, /^issue=gone$/m, 'the whiteout hides the base layer file');
  t.regex(stdout, /^www=index.html $/m, 'the opaque directory hides the base layer content');
  t.regex(stdout, /^user=root$/m);

  const upper = (setup.config.rootfs as { upperDir: string }).upperDir;
  t.is(fs.readFileSync(path.join(upper, 'etc/motd'), 'utf8'), 'changed\n');
  t.is(fs.readFileSync(path.join(upper, 'data.txt'), 'utf8'), 'new\n');
  t.true(fs.lstatSync(path.join(upper, 'bin/ls')).isCharacterDevice(), 'the deletion is a whiteout in the upper layer');
  t.deepEqual(setup.store.layerDirs(setup.image).map(treeSnapshot), layersBefore, 'the image layers are unchanged');
});

test("two containers from one image do not see each other's writes", async (t) => {
  if (!canRunImages(t)) return;
  const first = await imageSetUp(t, 'echo first > /note; sleep 1; echo "first sees $(cat /note)"; test -e /second && echo "first sees second" || true');
  const second = await imageSetUp(t, 'cat /note 2>/dev/null || echo "second sees no note"; echo second > /note; touch /second; echo "second sees $(cat /note)"');
  const a = await startShim(t, first.config, first.cgroupPath);
  const b = await startShim(t, second.config, second.cgroupPath);
  t.is(a.status.type, 'started');
  t.is(b.status.type, 'started');
  await Promise.all([waitForExit(first.directory), waitForExit(second.directory)]);
  t.is(stdoutOf(first.directory), 'first sees first\n');
  t.is(stdoutOf(second.directory), 'second sees no note\nsecond sees second\n');
});

test('a command missing from the image fails the start with 127', async (t) => {
  if (!canRunImages(t)) return;
  const setup = await imageSetUp(t, 'true');
  setup.config.args = ['python3', '-V'];
  const container = await startShim(t, setup.config, setup.cgroupPath);
  t.like(container.status, { type: 'error', stage: 'exec', code: 'ENOENT', exitCode: 127 });
});

/* ---- tty, attach and exec ---- */

/** Connects to a unix socket, also when its path is longer than sun_path (through a directory fd). */
async function connectUnix(t: ExecutionContext, socketPath: string): Promise<net.Socket> {
  let target = socketPath;
  if (Buffer.byteLength(socketPath) >= 108) {
    const fd = fs.openSync(path.dirname(socketPath), 'r');
    t.teardown(() => fs.closeSync(fd));
    target = `/proc/self/fd/${fd}/${path.basename(socketPath)}`;
  }
  const socket = net.connect(target);
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** Collects what a socket receives; `until` waits for a pattern. */
function collector(socket: net.Socket): { text(): string; until(pattern: RegExp, timeoutMs?: number): Promise<string> } {
  let received = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString();
    for (const wake of waiters.splice(0)) wake();
  });
  return {
    text: () => received,
    async until(pattern, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(received)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in ${JSON.stringify(received)}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
      return received;
    },
  };
}

test('a tty container serves its pty on the attach socket (long path), with a window size and resizes', async (t) => {
  if (!canRun(t)) return;
  const setup = setUp(t, [HOST_BUSYBOX, 'sh'], (config) => {
    config.tty = true;
    config.openStdin = true;
    config.env.push('PS1=capstan# ', 'TERM=xterm');
    config.consoleSize = { rows: 30, cols: 100 };
  });
  // A folder deep enough that the socket path exceeds sun_path (108 bytes).
  const deep = path.join(setup.directory, 'd'.repeat(60), 'e'.repeat(40));
  fs.mkdirSync(deep, { recursive: true });
  setup.config.attachSocket = path.join(deep, 'attach.sock');
  setup.config.controlSocket = path.join(setup.directory, 'control.sock');
  t.true(Buffer.byteLength(setup.config.attachSocket) > 108);
  const container = await startShim(t, setup.config, setup.cgroupPath);
  t.is(container.status.type, 'started', JSON.stringify(container.status));
  t.is(fs.statSync(setup.config.attachSocket).mode & 0o777, 0o600);

  const attach = await connectUnix(t, setup.config.attachSocket);
  const output = collector(attach);
  await output.until(/capstan# /); // the first prompt, printed before anyone attached, is replayed
  attach.write('stty size; tty; echo "answer=$((6*7))"\n');
  await output.until(/answer=42/);
  t.regex(output.text(), /30 100/);
  t.regex(output.text(), /\/dev\/pts\/0/);

  const control = await connectUnix(t, setup.config.controlSocket);
  control.write(JSON.stringify({ type: 'resize', rows: 40, cols: 120 }) + '\n');
  await sleep(200);
  attach.write('stty size\n');
  await output.until(/40 120/);

  attach.write('exit 3\n');
  const exit = await waitForExit(setup.directory);
  t.is(exit.exitCode, 3);
  t.false(fs.existsSync(setup.config.attachSocket), 'the socket is removed at exit');
  const logged = readLog(setup.directory).map((line) => line.log).join('');
  t.regex(logged, /answer=42/, 'pty output is in the log too');
  t.true(readLog(setup.directory).every((line) => line.stream === 'stdout'));
});

test('without a tty, the attach socket carries stdin and its end closes the container stdin', async (t) => {
  if (!canRun(t)) return;
  const setup = setUp(t, [HOST_BUSYBOX, 'sh', '-c', 'while read line; do echo "got $line"; done; echo "stdin closed"'], (config) => {
    config.openStdin = true;
  });
  const container = await startShim(t, setup.config, setup.cgroupPath);
  t.is(container.status.type, 'started');
  const attach = await connectUnix(t, setup.config.attachSocket);
  attach.end('one\ntwo\n');
  const exit = await waitForExit(setup.directory);
  t.is(exit.exitCode, 0);
  t.is(stdoutOf(setup.directory), 'got one\ngot two\nstdin closed\n');
});

interface ExecRun {
  status: StatusMessage;
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `capstan-shim exec` with pipes for stdio and the status pipe; resolves when it exits. */
async function execShim(t: ExecutionContext, directory: string, exec: Partial<ExecConfig> & { args: string[] }, afterStart?: (status: StatusMessage) => Promise<void>): Promise<ExecRun> {
  const file = path.join(directory, `exec-${Math.random().toString(16).slice(2)}.json`);
  const config: Partial<ExecConfig> = { env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] }, tty: false, openStdin: false, ...exec };
  fs.writeFileSync(file, JSON.stringify(config));
  const child = spawn(SHIM_BINARY, ['exec', directory, file], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin!.end();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const status = await readStatusPipe(child.stdio[3] as NodeJS.ReadableStream);
  if (afterStart && status.type === 'started') await afterStart(status);
  const exitCode = await exited;
  return { status, exitCode, stdout, stderr };
}

async function runningContainer(t: ExecutionContext, tweak?: (config: ShimConfig) => void): Promise<Setup & { pid: number }> {
  const setup = setUp(t, [HOST_BUSYBOX, 'sleep', '1000'], (config) => {
    config.hostname = 'exec-target';
    tweak?.(config);
  });
  const container = await startShim(t, setup.config, setup.cgroupPath);
  if (container.status.type !== 'started') throw new Error(JSON.stringify(container.status));
  return { ...setup, pid: container.status.pid };
}

test("exec runs a process in the container's namespaces and cgroups, with its capabilities, and exits with its code", async (t) => {
  if (!canRun(t)) return;
  const target = await runningContainer(t);
  const exitRecordPath = path.join(target.directory, 'exec-exit.json');
  const script = 'echo "pid=$$"; hostname; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; cat /proc/self/cgroup; busybox ps -o pid,args; exit 5';
  const run = await execShim(t, target.directory, { args: [HOST_BUSYBOX, 'sh', '-c', script], exitRecordPath });
  t.is(run.status.type, 'started', JSON.stringify(run.status));
  t.is(run.exitCode, 5, run.stderr);
  t.regex(run.stdout, /^exec-target$/m, "the container's hostname");
  t.regex(run.stdout, new RegExp(`^CapEff:\\s+${DOCKER_CAP_MASK}$`, 'm'));
  t.regex(run.stdout, /^NoNewPrivs:\s+1$/m);
  const memory = run.stdout.split('\n').find((line) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(line) || line.startsWith('0::'));
  t.true(memory?.endsWith(target.cgroupPath), `in the container's cgroup: ${memory}`);
  t.regex(run.stdout, /^\s*1\s+\/usr\/bin\/busybox sleep 1000$/m, "the container's PID 1 is visible: same PID namespace");
  const pid = Number(/^pid=(\d+)$/m.exec(run.stdout)?.[1]);
  t.true(pid > 1 && pid < 100, `a PID from the container's namespace: ${pid}`);
  const record = JSON.parse(fs.readFileSync(exitRecordPath, 'utf8')) as ExitRecord;
  t.is(record.exitCode, 5);
  t.true(isAlive(target.pid), 'the container keeps running');
  t.deepEqual(fs.readdirSync(`/proc/${target.pid}/fd`).sort(), ['0', '1', '2'], "no descriptor of the shim's leaks into the container");
});

test('exec with a tty serves its pty on its own attach socket', async (t) => {
  if (!canRun(t)) return;
  const target = await runningContainer(t);
  const attachSocket = path.join(target.directory, 'exec.sock');
  const run = await execShim(t, target.directory, { args: [HOST_BUSYBOX, 'sh'], tty: true, openStdin: true, attachSocket, consoleSize: { rows: 12, cols: 34 }, env: ['PATH=/bin', 'PS1=exec$ '] }, async () => {
    const socket = await connectUnix(t, attachSocket);
    const output = collector(socket);
    await output.until(/exec\$ /);
    socket.write('stty size; tty; exit 4\n');
    await output.until(/12 34[\s\S]*\/dev\/pts\/\d+/);
  });
  t.is(run.status.type, 'started');
  t.is(run.exitCode, 4);
  t.false(fs.existsSync(attachSocket));
});

test('exec -t of a command that ends at once keeps its output for a client that connects late', async (t) => {
  if (!canRun(t)) return;
  const target = await runningContainer(t);
  const attachSocket = path.join(target.directory, 'late.sock');
  let received = '';
  const run = await execShim(t, target.directory, { args: [HOST_BUSYBOX, 'sh', '-c', 'tty; echo "late-output"'], tty: true, attachSocket, env: ['PATH=/bin'] }, async () => {
    // By now the command has most likely finished: the shim must still be listening.
    await sleep(500);
    const socket = await connectUnix(t, attachSocket);
    const output = collector(socket);
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    received = output.text();
  });
  t.is(run.status.type, 'started');
  t.is(run.exitCode, 0);
  t.regex(received, /\/dev\/pts\/\d+/);
  t.regex(received, /late-output/);
  t.false(fs.existsSync(attachSocket));
});

test('exec into a cgroup that cannot be joined fails with stage "cgroup" and runs nothing', async (t) => {
  if (!canRun(t)) return;
  const target = await runningContainer(t);
  const good = target.config.cgroupProcsFiles;
  const bad = '/sys/fs/cgroup/no-such-controller/capstan-test-none/cgroup.procs';
  const run = await execShim(t, target.directory, { args: [HOST_BUSYBOX, 'sleep', '1000'], cgroupProcsFiles: [...good, bad] });
  t.like(run.status, { type: 'error', stage: 'cgroup', code: 'ENOENT', path: bad });
  for (const file of good) {
    t.deepEqual(fs.readFileSync(file, 'utf8').trim().split('\n'), [String(target.pid)], `only the container's own process in ${file}`);
  }
});

test('exec of a missing command reports 127; exec into a container that is gone reports ESRCH', async (t) => {
  if (!canRun(t)) return;
  const target = await runningContainer(t);
  const missing = await execShim(t, target.directory, { args: ['no-such-command-here'] });
  t.like(missing.status, { type: 'error', stage: 'exec', code: 'ENOENT', exitCode: 127 });
  t.is(missing.exitCode, 127);

  process.kill(target.pid, 'SIGKILL');
  await waitForExit(target.directory);
  const gone = await execShim(t, target.directory, { args: [HOST_BUSYBOX, 'true'] });
  t.like(gone.status, { type: 'error', code: 'ESRCH' });
});

/** A filter in ShimConfig's resolved form: allow everything but mkdir/mkdirat (EACCES) and unshare (ENOSYS). */
const SMALL_FILTER: NonNullable<ShimConfig['seccomp']> = {
  defaultAction: 'SCMP_ACT_ALLOW',
  defaultErrno: 0,
  architectures: ['x86_64', 'x86'],
  rules: [
    { names: ['mkdir', 'mkdirat', 'a_syscall_no_kernel_has'], action: 'SCMP_ACT_ERRNO', errno: 13, args: [] },
    { names: ['unshare'], action: 'SCMP_ACT_ERRNO', errno: 38, args: [{ index: 0, op: 'SCMP_CMP_MASKED_EQ', value: 0x10000000, valueTwo: 0x10000000 }] },
  ],
};

test('the seccomp filter is loaded before exec: its errnos reach the command, unknown names are skipped, and exec inherits it from config.json', async (t) => {
  if (!canRun(t)) return;
  const script = [
    'grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status',
    'mkdir /tmp/x 2>&1; echo "mkdir=$?"',
    // unshare -U (CLONE_NEWUSER, 0x10000000): the masked comparison matches and answers ENOSYS.
    'busybox unshare -U true 2>&1; echo "unshare_user=$?"',
  ].join('; ');
  const { stdout, exit } = await runScript(t, script, (config) => {
    config.seccomp = structuredClone(SMALL_FILTER);
  });
  t.is(exit.exitCode, 0, stdout);
  t.regex(stdout, /^Seccomp:\s+2$/m);
  t.regex(stdout, /^NoNewPrivs:\s+1$/m);
  t.regex(stdout, /Permission denied/);
  t.regex(stdout, /^mkdir=1$/m);
  t.regex(stdout, /Function not implemented|not implemented/i);
  t.regex(stdout, /^unshare_user=1$/m);

  const target = await runningContainer(t, (config) => {
    config.seccomp = structuredClone(SMALL_FILTER);
  });
  const inherited = await execShim(t, target.directory, { args: [HOST_BUSYBOX, 'sh', '-c', 'grep ^Seccomp: /proc/self/status; mkdir /tmp/y 2>&1; echo "mkdir=$?"'] });
  t.regex(inherited.stdout, /^Seccomp:\s+2$/m);
  t.regex(inherited.stdout, /^mkdir=1$/m);
  const unconfined = await execShim(t, target.directory, { args: [HOST_BUSYBOX, 'sh', '-c', 'grep ^Seccomp: /proc/self/status'], seccomp: null });
  t.regex(unconfined.stdout, /^Seccomp:\s+0$/m, 'an explicit null in the exec config means no filter');
});

test('seccomp-export writes the BPF program of a filter, and a start given that program loads it as it is', async (t) => {
  if (!canRun(t)) return;
  const directory = containerDirectory(t);
  const input = path.join(directory, 'filter.json');
  const program = path.join(directory, 'filter.bpf');
  fs.writeFileSync(input, JSON.stringify({ seccomp: SMALL_FILTER }));
  const exported = spawnSync(SHIM_BINARY, ['seccomp-export', input, program], { encoding: 'utf8' });
  t.is(exported.status, 0, exported.stderr);
  const size = fs.statSync(program).size;
  t.true(size > 0 && size % 8 === 0, `a whole number of 8-byte BPF instructions: ${size}`);

  // The rules say ALLOW everything: only the program can make mkdir fail, so the program is what ran.
  const { stdout, exit } = await runScript(t, 'grep ^Seccomp: /proc/self/status; mkdir /tmp/x 2>&1; echo "mkdir=$?"', (config) => {
    config.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', defaultErrno: 0, architectures: [], rules: [], program };
  });
  t.is(exit.exitCode, 0, stdout);
  t.regex(stdout, /^Seccomp:\s+2$/m);
  t.regex(stdout, /^mkdir=1$/m);

  const broken = path.join(directory, 'broken.bpf');
  fs.writeFileSync(broken, 'not a program');
  const setup = setUp(t, [HOST_BUSYBOX, 'true'], (config) => {
    config.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', defaultErrno: 0, architectures: [], rules: [], program: broken };
  });
  const refused = await startShim(t, setup.config, setup.cgroupPath);
  t.like(refused.status, { type: 'error', stage: 'seccomp', code: 'EINVAL' });
});

test('a filter libseccomp cannot build fails the start with stage "seccomp", and nothing runs', async (t) => {
  if (!canRun(t)) return;
  const setup = setUp(t, [HOST_BUSYBOX, 'true'], (config) => {
    config.seccomp = { ...structuredClone(SMALL_FILTER), architectures: ['no-such-arch'] };
  });
  const container = await startShim(t, setup.config, setup.cgroupPath);
  t.is(container.status.type, 'error');
  t.like(container.status, { stage: 'seccomp', code: 'EINVAL' });
  t.regex((container.status as { message: string }).message, /no-such-arch/);
  t.false(fs.existsSync(path.join(setup.directory, 'init.json')), 'the command never ran');
});
