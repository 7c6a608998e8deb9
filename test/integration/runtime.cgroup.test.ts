/**
 * capstan's runtime against whichever cgroup hierarchy the kernel has: on this machine the hybrid
 * v1 one, in the cgroup v2 VM lane (`npm run test:cgroup2`) pure v2. Containers run on the host's
 * filesystem (no image: the lane's kernel need not have overlayfs), so only busybox-static from the
 * host is needed. Limits land in the right files, pause uses the right freezer, and a container's
 * cgroup lives exactly as long as its process.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { detectLayout } from '../../server/cgroup/layout';
import { CgroupManager } from '../../server/cgroup/manage';
import { CLI, REPO_ROOT, requireCapability } from '../helpers/repo';

const BUSYBOX = '/usr/bin/busybox';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const capable = requireCapability(
  isRoot && fs.existsSync(BUSYBOX) && fs.existsSync(path.join(REPO_ROOT, 'native/build/Release/capstan-shim')),
  'root, /usr/bin/busybox (busybox-static) and the built capstan-shim',
);
const maybe = capable ? test.serial : test.skip;

const layout = capable ? detectLayout() : undefined;
const cgroups = layout ? new CgroupManager(layout) : undefined;
if (process.env['CAPSTAN_EXPECT_CGROUP2'] === '1' && layout && layout.controllersOn !== 2) {
  throw new Error('the cgroup v2 lane expected controllers on cgroup v2');
}

let agent: ChildProcess | undefined;
let stateDir = '';
const cgroupParent = `/capstan-test-${randomBytes(4).toString('hex')}`;

function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--state-dir', stateDir, ...args], { timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

async function ok(args: readonly string[]): Promise<string> {
  const result = await cli(args);
  if (result.code !== 0) throw new Error(`capstan ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

test.before(async () => {
  if (!capable) return;
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-runtime-cgroup-'));
  agent = spawn(process.execPath, [CLI, 'agent', '--listen', '127.0.0.1:0', '--state-dir', stateDir, '--cgroup-parent', cgroupParent, '--docker-host', 'none', '--podman-host', 'none'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  agent.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 120_000;
  while (!fs.existsSync(path.join(stateDir, 'agent.json'))) {
    if (agent.exitCode !== null) throw new Error(`agent exited: ${output}`);
    if (Date.now() > deadline) throw new Error(`agent did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

test.after.always(async () => {
  if (!capable) return;
  if (agent && agent.exitCode === null) {
    const containers = await cli(['ps', '-a', '-q', '--no-trunc']).catch(() => undefined);
    for (const id of containers?.stdout.split('\n').filter(Boolean) ?? []) await cli(['rm', '-f', id]);
    const exited = new Promise((resolve) => agent!.once('exit', resolve));
    agent.kill('SIGTERM');
    await exited;
  }
  // Whatever is left (a failed test's container) is killed with its cgroups.
  for (const { directory } of cgroups!.directories(cgroupParent)) {
    for (const entry of fs.existsSync(directory) ? fs.readdirSync(directory, { withFileTypes: true }) : []) {
      if (!entry.isDirectory()) continue;
      for (const pid of fs.readFileSync(path.join(directory, entry.name, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Gone.
        }
      }
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  await cgroups!.remove(cgroupParent);
  fs.rmSync(stateDir, { recursive: true, force: true });
});

maybe('limits are in the hierarchy\'s own files before the process runs, and the cgroup goes with the process', async (t) => {
  const name = `lim-${randomBytes(3).toString('hex')}`;
  await ok(['run', '-d', '--name', name, '--memory', '48m', '--cpus', '0.25', '--pids-limit', '30', '--', BUSYBOX, 'sleep', '300']);
  const inspect = JSON.parse(await ok(['inspect', name])) as Array<{ Id: string; State: { Pid: number } }>;
  const cgroupPath = `${cgroupParent}/${inspect[0]!.Id}`;
  if (layout!.controllersOn === 2) {
    t.is(cgroups!.readControl('unified', cgroupPath, 'memory.max'), String(48 * 1024 * 1024));
    t.is(cgroups!.readControl('unified', cgroupPath, 'cpu.max'), '25000 100000');
    t.is(cgroups!.readControl('unified', cgroupPath, 'pids.max'), '30');
  } else {
    t.is(cgroups!.readControl('memory', cgroupPath, 'memory.limit_in_bytes'), String(48 * 1024 * 1024));
    t.is(cgroups!.readControl('cpu', cgroupPath, 'cpu.cfs_quota_us'), '25000');
    t.is(cgroups!.readControl('pids', cgroupPath, 'pids.max'), '30');
  }
  t.deepEqual(cgroups!.processes(cgroupPath), [inspect[0]!.State.Pid]);
  // The first read of /proc/self/cgroup already shows the container's cgroup.
  const own = await ok(['exec', name, 'cat', '/proc/self/cgroup']);
  t.true(own.split('\n').some((line) => line.endsWith(cgroupPath)), own);

  await ok(['pause', name]);
  if (layout!.controllersOn === 2) t.regex(cgroups!.readControl('unified', cgroupPath, 'cgroup.events'), /^frozen 1$/m);
  else t.is(cgroups!.readControl('freezer', cgroupPath, 'freezer.state'), 'FROZEN');
  await ok(['unpause', name]);
  await ok(['rm', '-f', name]);
  t.false(cgroups!.directories(cgroupPath).some(({ directory }) => fs.existsSync(directory)), 'the cgroup is removed with the container');
});

maybe('a container on the host filesystem sees it read-only, with its own /tmp, and exits with its code', async (t) => {
  const result = await cli(['run', '--rm', '--', BUSYBOX, 'sh', '-c', `touch /tmp/mine && echo tmp-ok; touch /etc/capstan-test 2>/dev/null || echo ro-ok; exit 5`]);
  t.is(result.code, 5);
  t.is(result.stdout, 'tmp-ok\nro-ok\n');
  t.false(fs.existsSync('/tmp/mine') && fs.statSync('/tmp/mine').mtimeMs > Date.now() - 60_000, 'the host /tmp is untouched');
});
