/**
 * capstan runs containers: the real agent binary, the real CLI, the real shim, real namespaces,
 * cgroups and overlayfs, on busybox images built in the set-up from Debian's busybox-static.
 *
 * Every agent here uses its own `--cgroup-parent /capstan-test-<random>` and state directory;
 * both are removed at the end, containers, cgroups and processes included, even when a test fails.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { detectLayout } from '../../server/cgroup/layout';
import { CgroupManager } from '../../server/cgroup/manage';
import { DOCKER_DEFAULT_CAPABILITIES } from '../../server/runtime/shim-protocol';
import { busyboxAvailable, writeBusyboxImages, type BusyboxImageFiles } from '../helpers/busybox-image';
import { CLI, REPO_ROOT, requireCapability } from '../helpers/repo';
import { eventually, freePort, sleep } from '../helpers/wait';
import { apiRequest, type ApiAnswer } from '../helpers/agent';

const SHIM = path.join(REPO_ROOT, 'native/build/Release/capstan-shim');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const capable = requireCapability(isRoot && busyboxAvailable() && fs.existsSync(SHIM), 'root, /usr/bin/busybox (busybox-static) and the built capstan-shim');
const maybe = capable ? test : test.skip;
const maybeSerial = capable ? test.serial : test.skip;

// ---------------------------------------------------------------------------- helpers

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A capstan agent process on its own state directory and cgroup parent. */
class TestAgent {
  process: ChildProcess | undefined;
  output = '';
  url = '';

  constructor(
    readonly stateDir: string,
    readonly cgroupParent: string,
  ) {}

  async start(): Promise<void> {
    const agentFile = path.join(this.stateDir, 'agent.json');
    fs.rmSync(agentFile, { force: true });
    const child = spawn(process.execPath, [CLI, 'agent', '--listen', '127.0.0.1:0', '--state-dir', this.stateDir, '--cgroup-parent', this.cgroupParent, '--docker-host', 'none', '--podman-host', 'none'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process = child;
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (fs.existsSync(agentFile)) {
        const agent = JSON.parse(fs.readFileSync(agentFile, 'utf8')) as { url: string; pid: number };
        if (agent.pid === child.pid) {
          this.url = agent.url;
          return;
        }
      }
      if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`agent did not start within 60 s:\n${this.output}`);
      await sleep(100);
    }
  }

  /** SIGKILL: nothing is cleaned up, as after a crash. */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  cli(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [CLI, '--state-dir', this.stateDir, ...args],
        { timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      if (options.input !== undefined) child.stdin!.end(options.input);
      else child.stdin!.end();
    });
  }

  /** The CLI, failing the test with its output when it does not exit 0. */
  async ok(t: ExecutionContext, args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<string> {
    const result = await this.cli(args, options);
    if (result.code !== 0) t.fail(`capstan ${args.join(' ')} exited ${result.code}:\n${result.stdout}\n${result.stderr}\nagent:\n${this.output.slice(-2000)}`);
    return result.stdout;
  }

  api(method: string, pathname: string, body?: unknown): Promise<ApiAnswer> {
    const tokens = JSON.parse(fs.readFileSync(path.join(this.stateDir, 'tokens.json'), 'utf8')) as { tokens: Array<{ role: string; token: string }> };
    return apiRequest(this.url, tokens.tokens.find((entry) => entry.role === 'operator')!.token, method, pathname, body);
  }

  /** docker inspect's object, through the API (the CLI's output is tested on its own). */
  async inspect(t: ExecutionContext, name: string): Promise<Inspect> {
    const response = await this.api('GET', `/api/v1/containers/${encodeURIComponent(name)}/json`);
    if (response.status !== 200) t.fail(`inspect ${name}: ${response.status} ${response.text}`);
    return response.json as Inspect;
  }
}

interface Inspect {
  Id: string;
  Name: string;
  RestartCount: number;
  State: { Status: string; Running: boolean; Paused: boolean; OOMKilled: boolean; Pid: number; ExitCode: number; StartedAt: string; FinishedAt: string };
  Config: { Hostname: string; Env: string[]; Cmd: string[]; Image: string; WorkingDir: string; User: string; Tty: boolean };
  HostConfig: Record<string, unknown> & { PortBindings: Record<string, unknown>; RestartPolicy: { Name: string; MaximumRetryCount: number } };
  NetworkSettings: { Ports: Record<string, Array<{ HostIp: string; HostPort: string }>> };
  Mounts: unknown[];
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return fetch(url, { signal: AbortSignal.timeout(10_000) }).then(async (response) => ({ status: response.status, body: await response.text() }));
}

const layout = capable ? detectLayout() : undefined;
const cgroups = layout ? new CgroupManager(layout) : undefined;

/** Child cgroup names under `parent` in every managed hierarchy (should be none when idle). */
function cgroupChildren(parent: string): string[] {
  const found: string[] = [];
  for (const { directory } of cgroups!.directories(parent)) {
    try {
      for (const entry of fs.readdirSync(directory, { withFileTypes: true })) if (entry.isDirectory()) found.push(`${directory}/${entry.name}`);
    } catch {
      // The parent does not exist (yet) in this hierarchy.
    }
  }
  return found;
}

function mountsUnder(directory: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(directory));
}

/** The container folders that a running `capstan-shim start` below `stateDir` serves (from /proc/<pid>/cmdline). */
function shimFoldersUnder(stateDir: string): string[] {
  const folders: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue; // gone meanwhile
    }
    const folder = argv[argv.length - 1] ?? '';
    if (argv[0]?.endsWith('capstan-shim') && argv[1] === 'start' && folder.startsWith(stateDir + '/')) folders.push(folder);
  }
  return folders;
}

/** Kills whatever is left in the parent's cgroups (the containers' processes), then removes them. */
async function removeCgroupTree(parent: string): Promise<void> {
  for (let round = 0; round < 3; round++) {
    for (const child of cgroupChildren(parent)) {
      try {
        fs.writeFileSync(`${child}/freezer.state`, 'THAWED');
      } catch {
        // Not a freezer directory.
      }
      for (const pid of fs.readFileSync(`${child}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    await sleep(200);
  }
  await cgroups!.remove(parent);
}

/** Starts an agent for the test (or the file) with its own state dir and cgroup parent, torn down afterwards. */
async function newAgent(register: (teardown: () => Promise<void>) => void): Promise<TestAgent> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-runtime-'));
  const agent = new TestAgent(stateDir, `/capstan-test-${randomBytes(4).toString('hex')}`);
  register(async () => {
    // Remove every container through the agent first (shims, logs and folders go with them).
    if (agent.process && agent.process.exitCode === null && agent.process.signalCode === null) {
      const list = await agent.api('GET', '/api/v1/runtime/containers').catch(() => undefined);
      for (const container of ((list?.json as { containers?: Array<{ id: string }> } | undefined)?.containers ?? [])) {
        await agent.api('DELETE', `/api/v1/containers/${container.id}?force=1`).catch(() => undefined);
      }
    }
    await agent.stop();
    await removeCgroupTree(agent.cgroupParent);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });
  await agent.start();
  return agent;
}

// ---------------------------------------------------------------------------- shared agent and images

let shared: TestAgent;
let images: BusyboxImageFiles;
const sharedTeardowns: Array<() => Promise<void>> = [];
const IMAGE = 'capstan-test/runtime:base';
/** Two layers: /etc/motd added, /etc/issue deleted, /var/www/index.html. */
const OCI_IMAGE = 'capstan-test/busybox-oci:1.0';

test.before(async (t) => {
  if (!capable) return;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-runtime-images-'));
  sharedTeardowns.push(async () => fs.rmSync(directory, { recursive: true, force: true }));
  images = writeBusyboxImages(directory);
  shared = await newAgent((teardown) => sharedTeardowns.push(teardown));
  await shared.ok(t, ['image', 'import', '--name', IMAGE, images.rootfsTar]);
  await shared.ok(t, ['image', 'import', images.ociTar]);
});

test.after.always(async () => {
  for (const teardown of sharedTeardowns.reverse()) await teardown();
});

function uniqueName(stem: string): string {
  return `${stem}-${randomBytes(3).toString('hex')}`;
}

// ---------------------------------------------------------------------------- isolation

maybe('the command is PID 1 and sees only its own processes, its hostname and lo', async (t) => {
  const out = await shared.ok(t, ['run', '--rm', '--hostname', 'box1', IMAGE, 'sh', '-c', 'echo pid=$$; ps -o pid,comm; hostname; cat /proc/net/dev']);
  t.regex(out, /^pid=1$/m);
  const pids = out
    .split('\n')
    .filter((line) => /^\s*\d+\s+\S+$/.test(line))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
  t.deepEqual(pids, [1, pids[1]!], `only sh (1) and ps: ${out}`);
  t.regex(out, /^box1$/m);
  const interfaces = out
    .split('\n')
    .filter((line) => /^\s*[\w.-]+:\s+\d/.test(line))
    .map((line) => line.trim().split(':')[0]);
  t.deepEqual(interfaces, ['lo']);
});

maybe("the container's cgroup is joined before exec, and its limits are in force from the start", async (t) => {
  const name = uniqueName('cg');
  const out = await shared.ok(t, ['run', '--name', name, '--memory', '64m', '--cpus', '0.5', '--pids-limit', '50', IMAGE, 'cat', '/proc/self/cgroup']);
  const { Id } = await shared.inspect(t, name);
  const expected = `${shared.cgroupParent}/${Id}`;
  // v1: a line per hierarchy (memory, pids, cpu...); v2: the one line of the unified hierarchy.
  const lines = out.split('\n').filter((line) => (layout!.controllersOn === 2 ? /^0::/ : /^\d+:(memory|pids|cpu[^:]*):/).test(line));
  t.true(layout!.controllersOn === 2 ? lines.length === 1 : lines.length >= 3, out);
  for (const line of lines) t.is(line.slice(line.lastIndexOf(':') + 1), expected, line);

  // Limits as docker inspect reports them.
  const inspect = await shared.inspect(t, name);
  t.is(inspect.HostConfig['Memory'], 64 * 1024 * 1024);
  t.is(inspect.HostConfig['MemorySwap'], layout!.controllersOn === 1 && fs.existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes') ? 128 * 1024 * 1024 : inspect.HostConfig['MemorySwap']);
  t.is(inspect.HostConfig['NanoCpus'], 500_000_000);
  t.is(inspect.HostConfig['PidsLimit'], 50);
  await shared.ok(t, ['rm', name]);

  // While running, the cgroup files hold them.
  const running = uniqueName('limits');
  await shared.ok(t, ['run', '-d', '--name', running, '--memory', '64m', '--cpus', '0.5', '--pids-limit', '50', IMAGE, 'sleep', '60']);
  const id = (await shared.inspect(t, running)).Id;
  const cgroupPath = `${shared.cgroupParent}/${id}`;
  if (layout!.controllersOn === 1) {
    t.is(cgroups!.readControl('memory', cgroupPath, 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
    t.is(cgroups!.readControl('cpu', cgroupPath, 'cpu.cfs_quota_us'), '50000');
    t.is(cgroups!.readControl('cpu', cgroupPath, 'cpu.cfs_period_us'), '100000');
    t.is(cgroups!.readControl('pids', cgroupPath, 'pids.max'), '50');
  } else {
    t.is(cgroups!.readControl('unified', cgroupPath, 'memory.max'), String(64 * 1024 * 1024));
    t.is(cgroups!.readControl('unified', cgroupPath, 'cpu.max'), '50000 100000');
    t.is(cgroups!.readControl('unified', cgroupPath, 'pids.max'), '50');
  }
  await shared.ok(t, ['rm', '-f', running]);
  t.deepEqual(cgroupChildren(shared.cgroupParent).filter((child) => child.endsWith(id)), []);
});

maybe('writes stay in the container: the image is unchanged and two containers do not see each other', async (t) => {
  const a = uniqueName('wa');
  const b = uniqueName('wb');
  await shared.ok(t, ['run', '-d', '--name', a, IMAGE, 'sleep', '60']);
  await shared.ok(t, ['run', '-d', '--name', b, IMAGE, 'sleep', '60']);
  await shared.ok(t, ['exec', a, 'sh', '-c', 'echo mine > /etc/written-by-a && rm /etc/hostname']);
  t.is(await shared.ok(t, ['exec', a, 'cat', '/etc/written-by-a']), 'mine\n');
  const inB = await shared.cli(['exec', b, 'cat', '/etc/written-by-a']);
  t.is(inB.code, 1, 'b does not see what a wrote');
  t.is(await shared.ok(t, ['exec', b, 'cat', '/etc/hostname']), 'busybox\n', 'b still has the file a deleted');
  const fresh = await shared.cli(['run', '--rm', IMAGE, 'cat', '/etc/written-by-a']);
  t.not(fresh.code, 0, 'a new container from the image does not see it');
  await shared.ok(t, ['rm', '-f', a, b]);
});

maybe("capabilities are Docker's default set; mount and writing /proc/sysrq-trigger fail", async (t) => {
  const out = await shared.ok(t, [
    'run',
    '--rm',
    IMAGE,
    'sh',
    '-c',
    'grep CapEff /proc/self/status; mount -t tmpfs none /tmp && echo mounted; echo h > /proc/sysrq-trigger && echo wrote; echo done',
  ]);
  const capEff = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(out)![1]}`);
  const numbers: Record<string, number> = {
    CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_FOWNER: 3, CAP_FSETID: 4, CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7, CAP_SETPCAP: 8,
    CAP_NET_BIND_SERVICE: 10, CAP_NET_RAW: 13, CAP_SYS_CHROOT: 18, CAP_MKNOD: 27, CAP_AUDIT_WRITE: 29, CAP_SETFCAP: 31,
  };
  const expected = DOCKER_DEFAULT_CAPABILITIES.reduce((mask, name) => mask | (1n << BigInt(numbers[name]!)), 0n);
  t.is(capEff.toString(16), expected.toString(16));
  t.notRegex(out, /^mounted$/m);
  t.notRegex(out, /^wrote$/m);
  t.regex(out, /^done$/m);
});

// ---------------------------------------------------------------------------- ports, top, inspect, logs

maybe('busybox httpd with -p answers on 127.0.0.1 only, capstan port shows it, and the bytes count as network I/O', async (t) => {
  const name = uniqueName('web');
  const port = await freePort();
  await shared.ok(t, ['run', '-d', '--name', name, '-p', `${port}:80`, OCI_IMAGE, 'httpd', '-f', '-p', '80', '-h', '/var/www']);
  const page = await eventually(
    () => httpGet(`http://127.0.0.1:${port}/index.html`).then((r) => (r.status === 200 ? r : undefined), () => undefined),
    15_000,
    'httpd to answer',
  );
  t.is(page.body, '<h1>capstan</h1>\n');
  // Bound to 127.0.0.1, not to every address: another loopback address is refused.
  await t.throwsAsync(
    new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.2', port }, () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', reject);
    }),
    { code: 'ECONNREFUSED' },
  );
  t.is(await shared.ok(t, ['port', name]), `80/tcp -> 127.0.0.1:${port}\n`);
  t.is(await shared.ok(t, ['port', name, '80']), `127.0.0.1:${port}\n`);
  const missing = await shared.cli(['port', name, '81']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /No public port '81\/tcp' published/);

  const stats = await eventually(
    async () => {
      const response = await shared.api('GET', `/api/v1/containers/${name}`);
      const s = (response.json as { stats?: { networkRxBytes?: number; networkTxBytes?: number } } | undefined)?.stats;
      return s && (s.networkRxBytes ?? 0) > 0 && (s.networkTxBytes ?? 0) > 0 ? s : undefined;
    },
    10_000,
    'network I/O from the published port',
  );
  t.true(stats.networkTxBytes! >= page.body.length);
  await shared.ok(t, ['rm', '-f', name]);
});

maybe('top lists the processes of the container (host PIDs) and refuses a stopped one', async (t) => {
  const name = uniqueName('top');
  await shared.ok(t, ['run', '-d', '--name', name, IMAGE, 'sh', '-c', 'sleep 300 & sleep 301']);
  const { State } = await shared.inspect(t, name);
  const out = await eventually(async () => {
    const text = await shared.ok(t, ['top', name]);
    return text.includes('sleep 300') && text.includes('sleep 301') ? text : undefined;
  }, 10_000, 'both sleeps in top');
  const [header, ...rows] = out.trimEnd().split('\n');
  t.deepEqual(header!.trim().split(/\s+/).slice(0, 3), ['UID', 'PID', 'PPID']);
  t.true(rows.some((row) => row.trim().split(/\s+/)[1] === String(State.Pid)), 'the main process with its host PID');
  const custom = await shared.ok(t, ['top', name, '-o', 'pid,comm']);
  t.regex(custom, /^\s*PID\s+COMMAND/);
  const refused = await shared.cli(['top', name, '-o', 'user=PID']);
  t.is(refused.code, 1);
  await shared.ok(t, ['stop', '-t', '1', name]);
  const stopped = await shared.cli(['top', name]);
  t.is(stopped.code, 1);
  t.regex(stopped.stderr, /is not running/);
  await shared.ok(t, ['rm', name]);
});

maybe('inspect prints docker-shaped JSON (4-space indent) with state, config and host config', async (t) => {
  const name = uniqueName('insp');
  const port = await freePort();
  await shared.ok(t, ['run', '-d', '--name', name, '-e', 'A=1', '-w', '/tmp', '--hostname', 'hn', '--restart', 'on-failure:3', '-p', `127.0.0.1:${port}:8080`, IMAGE, 'sleep', '60']);
  const text = await shared.ok(t, ['inspect', name]);
  t.true(text.startsWith('[\n    {\n        "Id": '), text.slice(0, 40));
  const [value] = JSON.parse(text) as Inspect[];
  t.is(value!.Name, `/${name}`);
  t.regex(value!.Id, /^[0-9a-f]{64}$/);
  t.like(value!.State, { Status: 'running', Running: true, Paused: false, OOMKilled: false, ExitCode: 0, FinishedAt: '0001-01-01T00:00:00Z' });
  t.true(value!.State.Pid > 1);
  t.regex(value!.State.StartedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  t.like(value!.Config, { Hostname: 'hn', Cmd: ['sleep', '60'], Image: IMAGE, WorkingDir: '/tmp', Tty: false });
  t.true(value!.Config.Env.includes('A=1'));
  t.deepEqual(value!.HostConfig.PortBindings, { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
  t.deepEqual(value!.NetworkSettings.Ports, { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
  t.deepEqual(value!.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  t.deepEqual(value!.Mounts, []);
  t.is(await shared.ok(t, ['inspect', '-f', '{{.State.Status}} {{.Config.Hostname}}', name]), 'running hn\n');
  // Go templates over the real document: range, index, len, pipelines, variables, $, and the
  // struct/map distinction of docker's typed execution.
  const template =
    '{{range $p, $b := .NetworkSettings.Ports}}{{$p}}={{(index $b 0).HostPort}}{{end}} {{len .Config.Cmd}} ' +
    '{{$s := .State}}{{if and $s.Running (gt $s.Pid 1)}}{{$.Config.WorkingDir | upper}}{{end}} {{.Config.Labels.nope}}';
  t.is(await shared.ok(t, ['inspect', '-f', template, name]), `8080/tcp=${port} 2 /TMP <no value>\n`);
  const noSuchKey = await shared.cli(['inspect', '-f', '{{.NoSuch}}', name]);
  t.like(noSuchKey, { code: 1, stdout: '\n', stderr: 'template parsing error: template: :1:2: executing "" at <.NoSuch>: map has no entry for key "NoSuch"\n' });
  const missing = await shared.cli(['inspect', name, 'no-such-container']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /No such object: no-such-container/);
  t.is((JSON.parse(missing.stdout) as unknown[]).length, 1);
  await shared.ok(t, ['rm', '-f', name]);
});

maybe('logs: stdout and stderr kept apart, --tail, -t, and -f follows until the container exits', async (t) => {
  const name = uniqueName('logs');
  await shared.ok(t, ['run', '-d', '--name', name, IMAGE, 'sh', '-c', 'for i in 1 2 3 4 5; do echo out $i; echo err $i >&2; sleep 0.3; done']);
  const follow = await shared.cli(['logs', '-f', name], { timeoutMs: 30_000 });
  t.is(follow.code, 0);
  t.is(follow.stdout, 'out 1\nout 2\nout 3\nout 4\nout 5\n');
  t.is(follow.stderr, 'err 1\nerr 2\nerr 3\nerr 4\nerr 5\n');
  const tail = await shared.cli(['logs', '--tail', '2', name]);
  t.is(tail.stdout + tail.stderr, 'out 5\nerr 5\n');
  const stamped = await shared.ok(t, ['logs', '-t', name]);
  t.regex(stamped, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z out 1$/m);
  t.is(await shared.ok(t, ['wait', name]), '0\n');
  await shared.ok(t, ['rm', name]);
});

// ---------------------------------------------------------------------------- lifecycle

maybe('run in the foreground streams output and exits with the container code; -i passes stdin; --rm removes', async (t) => {
  const result = await shared.cli(['run', '--rm', IMAGE, 'sh', '-c', 'echo to-out; echo to-err >&2; exit 42']);
  t.is(result.code, 42);
  t.is(result.stdout, 'to-out\n');
  t.is(result.stderr, 'to-err\n');
  const piped = await shared.cli(['run', '--rm', '-i', IMAGE, 'sh', '-c', 'cat; echo end'], { input: 'hello from stdin\n' });
  t.is(piped.stdout, 'hello from stdin\nend\n');
  t.is(piped.code, 0);
  // The pause keeps the container alive until the CLI is attached, so this tests the live pty path.
  const tty = await shared.cli(['run', '--rm', '-t', IMAGE, 'sh', '-c', 'tty; echo in-tty; sleep 1']);
  t.regex(tty.stdout, /\/dev\/pts\/\d+\r?\n/, `exit ${tty.code}, stderr: ${tty.stderr}`);
  t.regex(tty.stdout, /in-tty/);
  const list = (await shared.api('GET', '/api/v1/runtime/containers')).json as { containers: Array<{ name: string; image: string }> };
  t.false(list.containers.some((c) => c.image === IMAGE && c.name.startsWith('--')));
});

maybe('run --rm -t of a command that ends at once still prints its output (replayed from the log)', async (t) => {
  // The shim's attach socket can come and go between two connect attempts of the agent: the output
  // must then come from the log, before --rm takes the folder away. Unfixed, about one run in
  // thirty lost its output here (after a 10 s wait), so twenty runs catch it often, not always.
  for (let run = 1; run <= 20; run++) {
    const result = await shared.cli(['run', '--rm', '-t', IMAGE, 'echo', `instant-${run}`]);
    t.is(result.code, 0, result.stderr);
    t.is(result.stdout, `instant-${run}\r\n`, `run ${run}`);
  }
});

maybe('exec of a command that ends at once keeps its output, twenty at a time', async (t) => {
  // Node resumes (and so empties) a child's unread stdio when it exits: the shim's output was read
  // only after its status, so a command quicker than that lost what it printed. Unfixed, about one
  // exec in three came back empty with exit code 0 when twenty ran at once.
  const name = uniqueName('quick-exec');
  await shared.ok(t, ['run', '-d', '--name', name, IMAGE, 'sleep', '600']);
  t.teardown(() => shared.cli(['rm', '-f', name]));
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => shared.cli(['exec', name, 'echo', `quick-${i}`])));
  t.deepEqual(
    results.map((result) => [result.code, result.stdout]),
    results.map((_, i) => [0, `quick-${i}\n`]),
  );
});

maybe('stop, kill -s, restart, pause and unpause, wait, exec, and restart policies', async (t) => {
  const name = uniqueName('life');
  // PID 1 of a namespace only gets the signals it handles, as in docker: hence the traps.
  await shared.ok(t, ['run', '-d', '--name', name, IMAGE, 'sh', '-c', 'trap "exit 12" TERM; trap "exit 13" USR1; while true; do sleep 0.1; done']);
  await shared.ok(t, ['pause', name]);
  t.like((await shared.inspect(t, name)).State, { Status: 'paused', Paused: true, Running: true });
  const paused = await shared.cli(['pause', name]);
  t.regex(paused.stderr, /already paused/);
  await shared.ok(t, ['unpause', name]);
  t.is((await shared.inspect(t, name)).State.Status, 'running');
  // An exec'd process joins the container's PID namespace (so it is not PID 1 there).
  const execPid = Number((await shared.ok(t, ['exec', name, 'sh', '-c', 'echo $$'])).trim());
  t.true(execPid > 1);
  const execCode = await shared.cli(['exec', name, 'sh', '-c', 'exit 9']);
  t.is(execCode.code, 9);
  const waiting = shared.cli(['wait', name]);
  await shared.ok(t, ['stop', name]);
  t.is((await waiting).stdout, '12\n', 'SIGTERM reached the trap');
  t.like((await shared.inspect(t, name)).State, { Status: 'exited', ExitCode: 12, Running: false, Pid: 0 });
  await shared.ok(t, ['restart', name]);
  t.is((await shared.inspect(t, name)).State.Status, 'running');
  await shared.ok(t, ['kill', '-s', 'USR1', name]);
  t.is(await shared.ok(t, ['wait', name]), '13\n', 'SIGUSR1 reached its trap');
  const notRunning = await shared.cli(['kill', name]);
  t.regex(notRunning.stderr, /is not running/);
  const running = await shared.cli(['rm', name]);
  t.is(running.code, 0);

  const flaky = uniqueName('flaky');
  await shared.ok(t, ['run', '-d', '--name', flaky, '--restart', 'on-failure:2', IMAGE, 'sh', '-c', 'exit 3']);
  const settled = await eventually(async () => {
    const state = await shared.inspect(t, flaky);
    return state.RestartCount === 2 && state.State.Status === 'exited' ? state : undefined;
  }, 20_000, 'two restarts, then exited');
  t.is(settled.State.ExitCode, 3);
  await shared.ok(t, ['rm', flaky]);
});

maybe('bad input gets a clear error and leaves no container folder, cgroup or mount behind', async (t) => {
  const taken = uniqueName('taken');
  await shared.ok(t, ['create', '--name', taken, IMAGE, 'true']);
  const port = await freePort();
  const blocker = net.createServer().listen(port, '127.0.0.1');
  await new Promise((resolve) => blocker.once('listening', resolve));
  t.teardown(() => blocker.close());

  const cases: Array<{ args: string[]; code: number; message: RegExp }> = [
    { args: ['run', '--rm', 'no-such-image', 'true'], code: 125, message: /No such image: no-such-image/ },
    { args: ['stop', 'no-such-container'], code: 1, message: /No such container: no-such-container/ },
    { args: ['run', '--name', taken, IMAGE, 'true'], code: 125, message: new RegExp(`The container name "/${taken}" is already in use`) },
    { args: ['run', '--name', '../x', IMAGE, 'true'], code: 125, message: /Invalid container name \(\.\.\/x\), only/ },
    { args: ['run', '--name', 'a'.repeat(300), IMAGE, 'true'], code: 125, message: /Invalid container name .*300 characters/ },
    { args: ['run', '--name', 'bad\u0001name', IMAGE, 'true'], code: 125, message: /Invalid container name \(bad\\u0001name\), only/ },
    { args: ['run', '-p', `${port}:80`, IMAGE, 'true'], code: 125, message: new RegExp(`Bind for 127.0.0.1:${port} failed: port is already allocated`) },
    { args: ['run', IMAGE, 'no-such-command'], code: 127, message: /executable file not found/ },
    { args: ['run', '--cpus', String(os.availableParallelism() + 1), IMAGE, 'true'], code: 125, message: /range of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available/ },
    { args: ['run', '--memory', '4m', IMAGE, 'true'], code: 125, message: /Minimum memory limit allowed is 6MB/ },
  ];
  for (const { args, code, message } of cases) {
    const result = await shared.cli(args);
    t.is(result.code, code, `capstan ${args.join(' ').slice(0, 60)}: ${result.stderr}`);
    t.regex(result.stderr, message);
  }
  // Other tests run containers meanwhile: every folder and cgroup must belong to a listed container.
  const ids = new Set(((await shared.api('GET', '/api/v1/runtime/containers')).json as { containers: Array<{ id: string }> }).containers.map((c) => c.id));
  const containersDir = path.join(shared.stateDir, 'containers');
  for (const folder of fs.readdirSync(containersDir)) {
    if (folder.startsWith('.removing-')) {
      // A removal in progress (another test's --rm container): renamed away, then deleted off the
      // main thread. It must be gone soon, not linger.
      await eventually(() => (fs.existsSync(path.join(containersDir, folder)) ? undefined : true), 10_000, `the removal of ${folder} to finish`);
      continue;
    }
    t.true(ids.has(folder), `stray container folder ${folder}`);
  }
  for (const child of cgroupChildren(shared.cgroupParent)) t.true(ids.has(path.basename(child)), `stray cgroup ${child}`);
  t.deepEqual(mountsUnder(shared.stateDir), []);
  // The shim is launched before the container is prepared; a start that fails in between (the
  // port case) calls it off, and it exits instead of waiting.
  await eventually(
    () => (shimFoldersUnder(shared.stateDir).every((folder) => ids.has(path.basename(folder))) ? true : undefined),
    5000,
    `no shim left for a failed start (running: ${shimFoldersUnder(shared.stateDir).join(', ')})`,
  );
  await shared.ok(t, ['rm', taken]);
});

// ---------------------------------------------------------------------------- re-adoption

maybeSerial('SIGKILL of the agent loses nothing: running containers are re-adopted, logs go on, an exit meanwhile is reported', async (t) => {
  const teardowns: Array<() => Promise<void>> = [];
  t.teardown(async () => {
    for (const teardown of teardowns.reverse()) await teardown();
  });
  const agent = await newAgent((teardown) => teardowns.push(teardown));
  await agent.ok(t, ['image', 'import', '--name', IMAGE, images.rootfsTar]);
  const names = ['one', 'two', 'three'];
  for (const name of names) {
    const limits = name === 'two' ? ['--memory', '64m', '--pids-limit', '50'] : [];
    await agent.ok(t, ['run', '-d', '--name', name, ...limits, IMAGE, 'sh', '-c', `i=0; while true; do echo ${name} $i; i=$((i+1)); sleep 0.2; done`]);
  }
  const pids = new Map<string, number>();
  for (const name of names) pids.set(name, (await agent.inspect(t, name)).State.Pid);
  const sinceMs = Date.now();
  await agent.ok(t, ['run', '-d', '--name', 'brief', IMAGE, 'sh', '-c', 'sleep 2; exit 3']);
  const twoCgroup = `${agent.cgroupParent}/${(await agent.inspect(t, 'two')).Id}`;
  // A live update is persisted in the spec before `update` returns (the agent is killed right
  // after it); a change behind capstan's back while no agent runs is undone at re-adoption.
  await agent.ok(t, ['update', '--memory', '96m', 'two']);
  const pidsController = cgroups!.layout.controllersOn === 2 ? 'unified' : 'pids';
  const memoryController = cgroups!.layout.controllersOn === 2 ? 'unified' : 'memory';
  const memoryFile = cgroups!.layout.controllersOn === 2 ? 'memory.max' : 'memory.limit_in_bytes';

  await agent.kill();
  cgroups!.writeControl(pidsController, twoCgroup, 'pids.max', '1000');
  // "brief" exits while no agent runs.
  await eventually(() => (fs.existsSync(path.join(agent.stateDir, 'containers', fs.readdirSync(path.join(agent.stateDir, 'containers')).find((id) => fs.readFileSync(path.join(agent.stateDir, 'containers', id, 'spec.json'), 'utf8').includes('"name": "brief"'))!, 'exit.json')) ? true : undefined), 15_000, 'brief to exit');
  await agent.start();

  const listed = await eventually(async () => {
    const out = await agent.ok(t, ['ps', '--format', '{{.Names}}']);
    const shown = out.split('\n').filter(Boolean).sort();
    return names.every((name) => shown.includes(name)) ? shown : undefined;
  }, 15_000, 'the three containers listed after the restart');
  t.false(listed.includes('brief'), 'ps lists running containers only, as docker ps does');
  // ps -a lists it, as docker ps -a lists stopped containers: the runtime knows it.
  const listedAll = (await agent.ok(t, ['ps', '-a', '--format', '{{.Names}}\t{{.Runtime}}'])).split('\n');
  t.true(listedAll.includes('brief\tcapstan'), `ps -a shows the exited container:\n${listedAll.join('\n')}`);
  for (const name of names) {
    const state = await agent.inspect(t, name);
    t.like(state.State, { Status: 'running', Pid: pids.get(name)! });
  }
  t.is(cgroups!.readControl(pidsController, twoCgroup, 'pids.max'), '50', 'the persisted pids limit is re-applied');
  t.is(cgroups!.readControl(memoryController, twoCgroup, memoryFile), String(96 * 2 ** 20), 'the updated memory limit survived the restart');
  const brief = await agent.inspect(t, 'brief');
  t.like(brief.State, { Status: 'exited', ExitCode: 3, Running: false });

  // The exit was reported as a die event with its code.
  const events = await agent.api('GET', `/api/v1/events?since=${Math.floor(sinceMs / 1000)}&until=${Math.ceil(Date.now() / 1000) + 1}`);
  const dies = events.text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { action: string; actor: { name: string }; exitCode?: number })
    .filter((event) => event.action === 'die' && event.actor.name === 'brief');
  t.is(dies.length, 1, events.text.slice(0, 500));
  t.is(dies[0]!.exitCode, 3);

  // Logs are whole and continue.
  const before = (await agent.ok(t, ['logs', 'one'])).split('\n').filter(Boolean);
  await sleep(1000);
  const after = (await agent.ok(t, ['logs', 'one'])).split('\n').filter(Boolean);
  t.true(after.length > before.length, 'new lines after the restart');
  after.forEach((line, index) => t.is(line, `one ${index}`));
  // And the re-adopted containers still obey.
  await agent.ok(t, ['stop', '-t', '1', 'one']);
  t.is((await agent.inspect(t, 'one')).State.Status, 'exited');
});

maybe('capstan update reaches the spec (inspect), and an OOM kill sets State.OOMKilled with exit code 137', async (t) => {
  const name = uniqueName('upd');
  await shared.ok(t, ['run', '-d', '--name', name, '--memory', '64m', IMAGE, 'sleep', '300']);
  await shared.ok(t, ['update', '--memory', '100m', '--pids-limit', '20', name]);
  const updated = await shared.inspect(t, name);
  t.is(updated.HostConfig['Memory'], 100 * 1024 * 1024);
  t.is(updated.HostConfig['PidsLimit'], 20);
  await shared.ok(t, ['rm', '-f', name]);

  const oom = uniqueName('oom');
  // The pause lets the collector (and with it the OOM watcher) see the cgroup before the kill.
  await shared.ok(t, ['run', '-d', '--name', oom, '--memory', '8m', IMAGE, 'sh', '-c', 'sleep 3; dd if=/dev/zero of=/dev/null bs=64M count=1']);
  t.is(await shared.ok(t, ['wait', oom], { timeoutMs: 60_000 }), '137\n');
  const state = await eventually(async () => {
    const value = await shared.inspect(t, oom);
    return value.State.OOMKilled ? value.State : undefined;
  }, 10_000, 'OOMKilled to be set');
  t.like(state, { Status: 'exited', ExitCode: 137, OOMKilled: true });
  await shared.ok(t, ['start', oom]);
  t.false((await shared.inspect(t, oom)).State.OOMKilled, 'reset at the next start, as docker does');
  await shared.ok(t, ['rm', '-f', oom]);
});
