/**
 * The escape probe (test/probe/escape-probe.c, built static here with gcc) run as root and as uid
 * 65534 inside capstan containers, in image mode and in host-filesystem mode, and inside a real
 * Docker Engine's containers under Docker's built-in default profile (a dockerd of the test's own,
 * test/helpers/engines.ts, with the same busybox image and the same probe binary). Every probe
 * Docker refuses, capstan must refuse; where the refusal is seccomp's, with the same errno.
 *
 * Also, on capstan alone: the filter is really what refuses (seccomp=unconfined lets keyctl
 * through), it follows the capabilities (--cap-add SYS_ADMIN unlocks mount and unshare, as in
 * Docker), a profile file of the user's own is applied, and inspect shows SecurityOpt, CapAdd and
 * CapDrop.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { startAgentProcess, type AgentProcess } from '../helpers/agent';
import { busyboxAvailable } from '../helpers/busybox-image';
import { busyboxRootfsForEngines, dockerAvailable, runCleanups, startDockerd, type TestEngine } from '../helpers/engines';
import { CLI, REPO_ROOT, requireCapability } from '../helpers/repo';

const GCC = '/usr/bin/gcc';
const PROBE_SOURCE = path.join(REPO_ROOT, 'test', 'probe', 'escape-probe.c');
const IMAGE = 'capstan-test/escape-probe:1';
const DOCKER_IMAGE = 'capstan-test-escape-probe';
const NOBODY = '65534';

const capable = requireCapability(
  process.getuid?.() === 0 && busyboxAvailable() && fs.existsSync(GCC) && dockerAvailable(),
  'root, gcc with a static libc, busybox-static and Debian docker.io',
);
const serial = capable ? test.serial : test.skip;

interface ProbeResult {
  probe: string;
  allowed: boolean;
  errno: string;
}

/** Probes whose refusal comes from the seccomp profile itself: the errno must be Docker's. */
const SECCOMP_DECIDED = [
  'keyctl', 'add_key', 'request_key', 'bpf_map_create', 'perf_event_open', 'userfaultfd', 'io_uring_setup', 'socket_af_vsock',
  'unshare_user', 'unshare_user_then_mount', 'clone_newuser', 'clone3', 'personality_no_aslr', 'setns', 'syslog', 'fsopen', 'open_tree',
];

interface Environment {
  agent: AgentProcess;
  docker: TestEngine;
  /** The probe binary outside /tmp (a host-mode container has a /tmp of its own). */
  probe: string;
  /** The probe's arguments: a host PID (this process) and the host's disk. */
  probeArgs: string[];
}

let environment: Environment | undefined;
const cleanups: Array<() => unknown> = [];
const untilAfterAll = { teardown: (fn: () => unknown) => cleanups.push(fn) } as unknown as ExecutionContext;

/** The host's disk as MAJOR:MINOR: the device of /, else the first block device that is no loop. */
function hostDisk(): [string, string] {
  const dev = fs.statSync('/').dev;
  const major = Math.floor(dev / 256) & 0xfff;
  if (major !== 0) return [String(major), String((dev & 0xff) | ((dev >> 12) & 0xfff00))];
  const entry = fs.readdirSync('/sys/dev/block').find((name) => !name.startsWith('7:')) ?? '8:0';
  return entry.split(':') as [string, string];
}

/**
 * Where the probe is built: /var/tmp. A host-filesystem container has a /tmp of its own (a clone of
 * the repo may be there), and the repo itself may be read-only (the cgroup v2 lane sees the host's
 * files through a read-only export, with only /var and /tmp writable).
 */
const PROBE_PARENT = '/var/tmp';

test.before(async () => {
  if (!capable) return;
  const directory = fs.mkdtempSync(path.join(PROBE_PARENT, 'capstan-test-escape-probe-'));
  cleanups.push(() => fs.rmSync(directory, { recursive: true, force: true }));
  const probe = path.join(directory, 'escape-probe');
  execFileSync(GCC, ['-static', '-O1', '-Wall', '-o', probe, PROBE_SOURCE]);

  // The busybox image plus the probe, for capstan's image store.
  const tarball = path.join(directory, 'image.tar');
  fs.writeFileSync(tarball, busyboxRootfsForEngines([{ name: 'escape-probe', type: 'file', content: fs.readFileSync(probe), mode: 0o755, mtime: 1_700_000_000 }]));

  const [docker, agent] = await Promise.all([startDockerd(cleanups), startAgentProcess(untilAfterAll)]);
  // Containers outlive their agent: remove every one before the agent stops (cleanups run last first).
  cleanups.push(async () => {
    const ids = (await capstan(agent, ['ps', '-a', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await capstan(agent, ['rm', '-f', ...ids]);
  });
  await docker.importBusybox(DOCKER_IMAGE);
  const imported = await capstan(agent, ['image', 'import', '--name', IMAGE, tarball]);
  if (imported.code !== 0) throw new Error(`capstan image import: ${imported.stderr}`);
  environment = { agent, docker, probe, probeArgs: [String(process.pid), ...hostDisk()] };
});

test.after.always(() => runCleanups(cleanups));

function env(): Environment {
  if (!environment) throw new Error('the agent or dockerd could not be started (see the before hook)');
  return environment;
}

function capstan(agent: AgentProcess, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--state-dir', agent.stateDir, ...args], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function parseProbe(t: ExecutionContext, output: string, what: string): Map<string, ProbeResult> {
  const results = new Map<string, ProbeResult>();
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const result = JSON.parse(line) as ProbeResult;
    results.set(result.probe, result);
  }
  if (results.size < 40) t.fail(`${what}: the probe reported ${results.size} results:\n${output}`);
  return results;
}

/** The probe in a capstan container: `image` mode or the host's filesystem. */
async function probeInCapstan(t: ExecutionContext, mode: 'image' | 'host', user: string | undefined, flags: string[] = []): Promise<Map<string, ProbeResult>> {
  const { agent, probe, probeArgs } = env();
  const target = mode === 'image' ? [IMAGE, '/escape-probe'] : ['--', probe];
  const args = ['run', '--rm', ...(user ? ['-u', user] : []), ...flags, ...target, ...probeArgs];
  const run = await capstan(agent, args);
  if (run.code !== 0) t.fail(`capstan ${args.join(' ')} exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
  return parseProbe(t, run.stdout, `capstan ${mode} ${user ?? 'root'}`);
}

const dockerResults = new Map<string, Promise<Map<string, ProbeResult>>>();

/** The probe in a Docker container with Docker's defaults (its built-in seccomp profile). Once per user. */
function probeInDocker(t: ExecutionContext, user: string | undefined): Promise<Map<string, ProbeResult>> {
  const key = user ?? 'root';
  let results = dockerResults.get(key);
  if (!results) {
    results = (async () => {
      const { docker, probe, probeArgs } = env();
      const created = await docker.cli(['create', ...docker.runFlags, ...(user ? ['--user', user] : []), DOCKER_IMAGE, '/escape-probe', ...probeArgs]);
      if (created.status !== 0) throw new Error(`docker create: ${created.stderr}`);
      const id = created.stdout.trim();
      const copied = await docker.cli(['cp', probe, `${id}:/escape-probe`]);
      if (copied.status !== 0) throw new Error(`docker cp: ${copied.stderr}`);
      const run = await docker.cli(['start', '--attach', id]);
      if (run.status !== 0) throw new Error(`docker start -a exited ${run.status}:\n${run.stdout}\n${run.stderr}`);
      return parseProbe(t, run.stdout, `docker ${key}`);
    })();
    dockerResults.set(key, results);
  }
  return results;
}

/** Fails for every probe that capstan allows and Docker refuses, and for seccomp errnos that differ. */
function compare(t: ExecutionContext, ours: Map<string, ProbeResult>, docker: Map<string, ProbeResult>): void {
  const more: string[] = [];
  // Only a refusal Docker's filter made is compared: an errno such as EAFNOSUPPORT is the kernel's
  // own answer to a call the filter let through (Docker 20.10's profile predates the AF_VSOCK rule).
  const SECCOMP_ERRNOS = new Set(['EPERM', 'ENOSYS']);
  const errnos: string[] = [];
  for (const [probe, theirs] of docker) {
    const mine = ours.get(probe);
    if (!mine) {
      more.push(`${probe}: no result`);
      continue;
    }
    if (mine.allowed && !theirs.allowed) more.push(`${probe}: allowed (Docker: ${theirs.errno})`);
    if (!mine.allowed && !theirs.allowed && SECCOMP_DECIDED.includes(probe) && SECCOMP_ERRNOS.has(theirs.errno) && mine.errno !== theirs.errno) errnos.push(`${probe}: ${mine.errno} (Docker: ${theirs.errno})`);
  }
  const refused = (results: Map<string, ProbeResult>): string[] => [...results.values()].filter((result) => !result.allowed).map((result) => `${result.probe}:${result.errno}`);
  t.log(`${docker.size} probes; Docker refuses ${refused(docker).length}, capstan ${refused(ours).length}`);
  t.log(`capstan: ${refused(ours).join(' ')}`);
  t.log(`docker:  ${refused(docker).join(' ')}`);
  t.deepEqual(more, [], 'capstan allows what Docker refuses');
  t.deepEqual(errnos, [], "seccomp's errno differs from Docker's");
  // The probes that matter most are refused whatever Docker does.
  for (const probe of ['keyctl', 'add_key', 'bpf_map_create', 'perf_event_open', 'unshare_user_then_mount', 'mount_tmpfs', 'sys_firmware_visible', 'proc_keys_visible', 'block_device_open', 'proc_sys_write', 'sysrq_trigger_write']) {
    t.false(ours.get(probe)?.allowed ?? true, `${probe} is refused`);
  }
}

for (const mode of ['image', 'host'] as const) {
  for (const user of [undefined, NOBODY]) {
    serial(`a ${mode}-mode container as ${user ? `uid ${user}` : 'root'} can do no more than Docker's default profile allows`, async (t) => {
      const [ours, docker] = await Promise.all([probeInCapstan(t, mode, user), probeInDocker(t, user)]);
      compare(t, ours, docker);
    });
  }
}

serial('seccomp=unconfined lifts the filter: keyctl and perf_event_open go through', async (t) => {
  const [confined, unconfined] = [await probeInCapstan(t, 'image', undefined), await probeInCapstan(t, 'image', undefined, ['--security-opt', 'seccomp=unconfined'])];
  t.false(confined.get('keyctl')!.allowed);
  t.true(unconfined.get('keyctl')!.allowed, 'the kernel itself allows keyctl: the filter is what refused it');
  t.true(unconfined.get('perf_event_open')!.allowed || unconfined.get('perf_event_open')!.errno !== 'EPERM');
});

serial('--cap-add SYS_ADMIN unlocks mount and unshare (the profile follows the capabilities); --cap-drop ALL removes them', async (t) => {
  const admin = await probeInCapstan(t, 'image', undefined, ['--cap-add', 'sys_admin']);
  t.true(admin.get('mount_tmpfs')!.allowed, 'mount with CAP_SYS_ADMIN');
  t.true(admin.get('unshare_user')!.allowed, 'unshare with CAP_SYS_ADMIN');
  t.true(admin.get('clone3')!.allowed || admin.get('clone3')!.errno !== 'ENOSYS', 'clone3 is no longer ENOSYS');
  // Masked and read-only paths hold even then (the shim mounted over them).
  t.false(admin.get('sys_firmware_visible')!.allowed);

  const { agent } = env();
  const status = await capstan(agent, ['run', '--rm', '--cap-drop', 'ALL', IMAGE, 'grep', '^CapEff', '/proc/self/status']);
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, /^CapEff:\s+0{16}$/m);
});

serial('a profile file of the user own is applied, and inspect shows SecurityOpt, CapAdd and CapDrop as given', async (t) => {
  const { agent } = env();
  const profileFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-escape-profile-')), 'profile.json');
  t.teardown(() => fs.rmSync(path.dirname(profileFile), { recursive: true, force: true }));
  const profile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };
  fs.writeFileSync(profileFile, JSON.stringify(profile, null, 2));
  const run = await capstan(agent, ['run', '--rm', '--security-opt', `seccomp=${profileFile}`, IMAGE, 'sh', '-c', 'mkdir /tmp/x; echo "mkdir=$?"; touch /tmp/y && echo touch=ok']);
  t.regex(run.stdout, /^mkdir=1$/m, run.stdout + run.stderr);
  t.regex(run.stderr + run.stdout, /Permission denied/);
  t.regex(run.stdout, /^touch=ok$/m);

  const created = await capstan(agent, ['create', '--name', 'escape-inspect', '--security-opt', `seccomp=${profileFile}`, '--cap-add', 'net_admin', '--cap-drop', 'CAP_MKNOD', IMAGE, 'true']);
  t.is(created.code, 0, created.stderr);
  const inspect = await capstan(agent, ['inspect', 'escape-inspect']);
  const [document] = JSON.parse(inspect.stdout) as Array<{ HostConfig: { SecurityOpt: string[]; CapAdd: string[]; CapDrop: string[] } }>;
  t.deepEqual(document!.HostConfig.SecurityOpt, [`seccomp=${JSON.stringify(profile)}`]);
  t.deepEqual(document!.HostConfig.CapAdd, ['CAP_NET_ADMIN']);
  t.deepEqual(document!.HostConfig.CapDrop, ['CAP_MKNOD']);

  const missing = await capstan(agent, ['run', '--rm', '--security-opt', 'seccomp=/nonexistent/profile.json', IMAGE, 'true']);
  t.is(missing.code, 125);
  t.regex(missing.stderr, /opening seccomp profile \(\/nonexistent\/profile\.json\) failed: open \/nonexistent\/profile\.json: no such file or directory/);
  const unknown = await capstan(agent, ['run', '--rm', '--cap-add', 'CAP_NOPE', IMAGE, 'true']);
  t.is(unknown.code, 125);
  t.regex(unknown.stderr, /unknown capability: "CAP_NOPE"/);
});

serial("exec sessions get the container's filter (compiled once and kept): Seccomp mode 2, or 0 in an unconfined container", async (t) => {
  const { agent } = env();
  for (const [name, flags, mode] of [
    ['escape-exec-default', [], '2'],
    ['escape-exec-unconfined', ['--security-opt', 'seccomp=unconfined'], '0'],
  ] as const) {
    const started = await capstan(agent, ['run', '-d', '--name', name, ...flags, IMAGE, 'sleep', '600']);
    t.is(started.code, 0, started.stderr);
    t.teardown(() => capstan(agent, ['rm', '-f', name]));
    const main = await capstan(agent, ['exec', name, 'grep', '^Seccomp:', '/proc/1/status']);
    t.regex(main.stdout, new RegExp(`^Seccomp:\\s+${mode}$`, 'm'), `the main process of ${name}`);
    const exec = await capstan(agent, ['exec', name, 'grep', '^Seccomp:', '/proc/self/status']);
    t.regex(exec.stdout, new RegExp(`^Seccomp:\\s+${mode}$`, 'm'), `an exec in ${name}`);
    const keyctl = await capstan(agent, ['exec', name, 'sh', '-c', 'cat /proc/keys | wc -c']);
    t.regex(keyctl.stdout, /^0$/m, '/proc/keys is masked for exec too');
  }
  // The default filter was compiled once (capstan-shim seccomp-export) and is loaded as it is since.
  const programs = fs.readdirSync(path.join(agent.stateDir, 'seccomp')).filter((name) => name.endsWith('.bpf'));
  t.true(programs.length >= 1 && programs.length <= 4, programs.join(' '));
});
