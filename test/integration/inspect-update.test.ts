/**
 * inspect's HostConfig is the applied state, in Docker's own shapes: a real dockerd (started by
 * this test, test/helpers/engines.ts) and a real capstan agent run the same busybox image with the
 * same `run` flags and get the same `update`s; every resource field and RestartPolicy must then
 * read the same in `docker inspect` and `capstan inspect`, as JSON and through `inspect -f`
 * templates. The agent is then restarted on its state directory: inspect must not change.
 *
 * `update --restart` is applied at once: a running container's next exit follows the new policy,
 * a stopped container takes it too, Docker's refusals come with Docker's words, and a Docker
 * container updated through capstan has the policy in `docker inspect`.
 *
 * Block-I/O weight: where the host has no weight file (this machine's v1 blkio, no BFQ) Docker drops
 * --blkio-weight with a warning and keeps 0; capstan must do the same, so the comparison holds on
 * either kind of host. Device throttles: `docker update` accepts them in the API but does not
 * record them (only `docker run --device-read-bps` does), so their shape is compared with a run.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { cpuSharesToWeight } from '../../server/limits/convert';
import { startAgentProcess, type AgentProcess } from '../helpers/agent';
import { blockDeviceDirectory } from '../helpers/block-io';
import { writeBusyboxImages } from '../helpers/busybox-image';
import { dockerAvailable, runCleanups, startDockerd, type TestEngine } from '../helpers/engines';
import { CLI, REPO_ROOT, requireCapability } from '../helpers/repo';
import { eventually } from '../helpers/wait';

const execFileAsync = promisify(execFile);
const IMAGE = 'capstan-test-busybox';
const SHIM = path.join(REPO_ROOT, 'native', 'build', 'Release', 'capstan-shim');

const capable = requireCapability(dockerAvailable() && fs.existsSync(SHIM), 'root, Debian docker.io, busybox-static and the built capstan-shim');
const serial = capable ? test.serial : test.skip;

/** HostConfig fields that `run` and `update` set, in the order docker prints them. */
const FIELDS = [
  'CpuShares', 'Memory', 'NanoCpus', 'BlkioWeight', 'BlkioWeightDevice',
  'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps',
  'CpuPeriod', 'CpuQuota', 'CpusetCpus', 'CpusetMems', 'MemoryReservation', 'MemorySwap', 'PidsLimit', 'RestartPolicy',
] as const;

interface Environment {
  docker: TestEngine;
  agent: AgentProcess;
}

let environment: Environment | undefined;
const cleanups: Array<() => unknown> = [];
const untilAfterAll = { teardown: (fn: () => unknown) => cleanups.push(fn) } as unknown as ExecutionContext;
/** capstan containers made by the tests, removed before the agent goes. */
const capstanContainers = new Set<string>();

test.before(async () => {
  if (!capable) return;
  const docker = await startDockerd(cleanups);
  await docker.importBusybox(IMAGE);
  const agent = await startAgentProcess(untilAfterAll, ['--interval', '500ms', '--docker-host', docker.address]);
  const images = writeBusyboxImages(fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-inspect-images-')));
  cleanups.push(() => fs.rmSync(path.dirname(images.rootfsTar), { recursive: true, force: true }));
  // After the agent's own teardown is registered, so it runs first (clean-ups run last first).
  cleanups.push(async () => {
    for (const name of capstanContainers) await capstan(['rm', '-f', name]);
  });
  environment = { docker, agent };
  const imported = await capstan(['image', 'import', '--name', IMAGE, images.rootfsTar]);
  if (imported.code !== 0) throw new Error(`capstan image import: ${imported.stderr}`);
});

test.after.always(() => runCleanups(cleanups));

function env(): Environment {
  if (!environment) throw new Error('dockerd or the agent could not be started (see the before hook)');
  return environment;
}

async function capstan(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, '--state-dir', env().agent.stateDir, ...args], { maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

async function capstanOk(t: ExecutionContext, args: string[]): Promise<string> {
  const result = await capstan(args);
  if (result.code !== 0) t.fail(`capstan ${args.join(' ')} exited ${result.code}: ${result.stderr}\nagent:\n${env().agent.output().slice(-2000)}`);
  return result.stdout.trim();
}

async function dockerOk(t: ExecutionContext, args: string[]): Promise<string> {
  const result = await env().docker.cli(args);
  if (result.status !== 0) t.fail(`docker ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout.trim();
}

/**
 * Docker's twin of capstan's container `name`. The agent also sees Docker's containers (it is
 * pointed at this dockerd), so the two must not share a name.
 */
function twin(name: string): string {
  return `docker-${name}`;
}

/** The same container in both: `run -d` with the same flags (docker's carry the test's cgroup parent). */
async function runBoth(t: ExecutionContext, name: string, flags: string[], command: string[] = ['sleep', '1000']): Promise<void> {
  await dockerOk(t, ['run', '-d', ...env().docker.runFlags, '--name', twin(name), ...flags, IMAGE, ...command]);
  capstanContainers.add(name);
  await capstanOk(t, ['run', '-d', '--name', name, ...flags, IMAGE, ...command]);
}

async function updateBoth(t: ExecutionContext, name: string, flags: string[]): Promise<void> {
  await dockerOk(t, ['update', ...flags, twin(name)]);
  await capstanOk(t, ['update', ...flags, name]);
}

type HostConfig = Record<string, unknown>;

async function capstanHostConfig(t: ExecutionContext, name: string): Promise<HostConfig> {
  return (JSON.parse(await capstanOk(t, ['inspect', name])) as Array<{ HostConfig: HostConfig }>)[0]!.HostConfig;
}

async function dockerHostConfig(t: ExecutionContext, name: string): Promise<HostConfig> {
  return (JSON.parse(await dockerOk(t, ['inspect', name])) as Array<{ HostConfig: HostConfig }>)[0]!.HostConfig;
}

function pick(hostConfig: HostConfig, fields: readonly string[] = FIELDS): HostConfig {
  return Object.fromEntries(fields.map((field) => [field, field in hostConfig ? hostConfig[field] : '<absent>']));
}

/** Fields whose Go name is spelled differently: a template naming one runs on docker's raw JSON. */
const RENAMED_IN_GO = new Set(['CpuShares', 'NanoCpus', 'CpuPeriod', 'CpuQuota']);

/**
 * Field by field as JSON, then through `inspect -f` templates: once with only fields docker's
 * typed pass knows (Go's printing of its types: `{no 0}`, `<nil>`, `[]`), once with all of them,
 * which docker runs on the raw JSON instead (`map[…]`, `<no value>` for null).
 */
async function compareWithDocker(t: ExecutionContext, name: string, fields: readonly string[] = FIELDS): Promise<HostConfig> {
  const [mine, docker] = await Promise.all([capstanHostConfig(t, name), dockerHostConfig(t, twin(name))]);
  for (const field of fields) t.deepEqual(mine[field], docker[field], `${name}: HostConfig.${field} (capstan ${JSON.stringify(mine[field])}, docker ${JSON.stringify(docker[field])})`);
  const typed = fields.filter((field) => !RENAMED_IN_GO.has(field));
  for (const set of [typed, fields]) {
    const template = set.map((field) => `${field}={{.HostConfig.${field}}}`).join('|');
    const [mineText, dockerText] = await Promise.all([capstanOk(t, ['inspect', '-f', template, name]), dockerOk(t, ['inspect', '-f', template, twin(name)])]);
    t.deepEqual(mineText.split('|'), dockerText.split('|'), `${name}: inspect -f ${set === typed ? '(typed pass)' : '(raw pass)'}`);
  }
  return pick(mine, fields);
}

serial('the issue\'s update of a container started without limits: inspect shows it as docker does', async (t) => {
  await runBoth(t, 'repro', []);
  await compareWithDocker(t, 'repro');
  await updateBoth(t, 'repro', ['--cpus', '1.5', '--memory-reservation', '64m', '--pids-limit', '100', '--blkio-weight', '300', '--cpuset-cpus', '0']);
  const shown = await compareWithDocker(t, 'repro');
  t.like(shown, { NanoCpus: 1_500_000_000, CpuQuota: 0, CpuPeriod: 0, MemoryReservation: 64 * 1024 * 1024, PidsLimit: 100, CpusetCpus: '0' });
});

serial('run limits, then two updates of every field and the restart policy; an agent restart keeps all of it', async (t) => {
  await runBoth(t, 'every', ['--cpus', '0.5', '-m', '64m', '--pids-limit', '50']);
  await compareWithDocker(t, 'every');
  await updateBoth(t, 'every', [
    '--cpus', '1.5', '-m', '96m', '--memory-swap', '200m', '--memory-reservation', '32m', '--pids-limit', '100',
    '-c', '512', '--blkio-weight', '300', '--cpuset-cpus', '0', '--restart', 'on-failure:3',
  ]);
  const first = await compareWithDocker(t, 'every');
  t.like(first, { NanoCpus: 1_500_000_000, Memory: 96 * 1024 * 1024, MemorySwap: 200 * 1024 * 1024, CpuShares: 512, RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 } });
  // -1 is stored as docker stores it (0); the reservation and the policy change again.
  await updateBoth(t, 'every', ['--pids-limit', '-1', '--memory-reservation', '48m', '--restart', 'always']);
  const second = await compareWithDocker(t, 'every');
  t.like(second, { PidsLimit: 0, MemoryReservation: 48 * 1024 * 1024, RestartPolicy: { Name: 'always', MaximumRetryCount: 0 } });

  const spec = fs.readFileSync(path.join(env().agent.stateDir, 'containers', (await capstanOk(t, ['inspect', '-f', '{{.Id}}', 'every'])), 'spec.json'), 'utf8');
  t.regex(spec, /"memoryReservationBytes": 50331648/, 'spec.json has the update');

  await env().agent.restart();
  await eventually(async () => ((await capstan(['inspect', '-f', '{{.State.Status}}', 'every'])).stdout.trim() === 'running' ? true : undefined), 60_000, 'the container re-adopted');
  t.deepEqual(await compareWithDocker(t, 'every'), second, 'the same after an agent restart');

  // A new run gets a new cgroup: it is written from what inspect shows, not only from the run flags.
  await capstanOk(t, ['restart', '-t', '0', 'every']);
  const response = await env().agent.get('/api/v1/containers/every/limits', env().agent.viewerToken);
  const { limits } = (await response.json()) as { limits: { cpus?: number | null; cpusetCpus?: string; memoryReservationBytes?: number | null; memoryBytes?: number | null; cpuShares?: number; cpuWeight?: number } };
  t.like(limits, { cpus: 1.5, cpusetCpus: '0', memoryReservationBytes: 48 * 1024 * 1024, memoryBytes: 96 * 1024 * 1024 });
  t.true(limits.cpuShares === 512 || limits.cpuWeight === cpuSharesToWeight(512), `shares 512 (v1) or their weight (v2): ${JSON.stringify(limits)}`);
  t.deepEqual(await compareWithDocker(t, 'every'), second, 'and inspect still the same');
});

serial('--cpu-quota and --cpu-period are recorded as given, -1 too; --cpus is refused then, in docker\'s words', async (t) => {
  await runBoth(t, 'quota', []);
  await updateBoth(t, 'quota', ['--cpu-quota', '50000', '--cpu-period', '200000']);
  t.like(await compareWithDocker(t, 'quota'), { NanoCpus: 0, CpuQuota: 50_000, CpuPeriod: 200_000 });
  const refused = await capstan(['update', '--cpus', '1', 'quota']);
  const dockerRefused = await env().docker.cli(['update', '--cpus', '1', twin('quota')]);
  t.is(refused.code, 1);
  t.regex(dockerRefused.stderr, /Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set/);
  t.regex(refused.stderr, /Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set/);
  await updateBoth(t, 'quota', ['--cpu-quota', '-1']);
  t.like(await compareWithDocker(t, 'quota'), { CpuQuota: -1, CpuPeriod: 200_000 });
});

serial('device throttles: capstan update records them in the shape docker run records them', async (t) => {
  const device = `/dev/${blockDeviceDirectory().device.name}`;
  const throttles = ['--device-read-bps', `${device}:1mb`, '--device-write-iops', `${device}:100`];
  await dockerOk(t, ['run', '-d', ...env().docker.runFlags, '--name', twin('throttled'), ...throttles, IMAGE, 'sleep', '1000']);
  capstanContainers.add('throttled');
  await capstanOk(t, ['run', '-d', '--name', 'throttled', IMAGE, 'sleep', '1000']);
  await capstanOk(t, ['update', ...throttles, 'throttled']);
  const shown = await compareWithDocker(t, 'throttled', ['BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps', 'BlkioWeightDevice']);
  t.deepEqual(shown['BlkioDeviceReadBps'], [{ Path: device, Rate: 1024 * 1024 }]);
  // A rate of 0 takes a throttle away again.
  await capstanOk(t, ['update', '--device-read-bps', `${device}:0`, 'throttled']);
  t.is((await capstanHostConfig(t, 'throttled'))['BlkioDeviceReadBps'], null);
});

serial('update --restart: the next exit follows the new policy, a stopped container takes it, refusals are docker\'s', async (t) => {
  // Exits 3 after a moment: updated while it runs, the exit restarts it once (on-failure:1), no more.
  capstanContainers.add('flaky');
  await capstanOk(t, ['run', '-d', '--name', 'flaky', IMAGE, 'sh', '-c', 'sleep 2; exit 3']);
  await capstanOk(t, ['update', '--restart', 'on-failure:1', 'flaky']);
  await eventually(async () => {
    const shown = (await capstan(['inspect', '-f', '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}', 'flaky'])).stdout.trim();
    return shown === '1 exited 3' ? shown : undefined;
  }, 60_000, 'flaky restarted once by the updated policy, then left exited');
  t.is(await capstanOk(t, ['inspect', '-f', '{{.HostConfig.RestartPolicy}}', 'flaky']), '{on-failure 1}');

  // Stopped: no cgroup, the policy changes all the same (as docker's does); limits say why not.
  await capstanOk(t, ['update', '--restart', 'unless-stopped', 'flaky']);
  t.is(await capstanOk(t, ['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}', 'flaky']), 'unless-stopped');
  const limitOfStopped = await capstan(['update', '--memory', '64m', 'flaky']);
  t.is(limitOfStopped.code, 1);
  t.regex(limitOfStopped.stderr, /container flaky is not running/);

  // The API takes Docker's RestartPolicy object as well.
  const response = await fetch(`${env().agent.url}/api/v1/containers/flaky/limits`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${env().agent.operatorToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ restart: { Name: 'no', MaximumRetryCount: 0 } }),
  });
  t.is(response.status, 200);
  t.deepEqual(((await response.json()) as { applied: unknown }).applied, [{ setting: 'restart', old: 'unless-stopped', new: 'no', file: 'restart policy' }]);

  // Refusals: the CLI's own check, then the agent's, each once, nothing changed.
  for (const [policy, message] of [
    ['sometimes', "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"],
    ['always:3', "invalid restart policy: maximum retry count can only be used with 'on-failure'"],
    ['on-failure:-1', 'invalid restart policy: maximum retry count cannot be negative'],
    ['on-failure:x', 'invalid restart policy format: maximum retry count must be an integer'],
  ] as const) {
    const result = await capstan(['update', '--restart', policy, 'flaky']);
    t.is(result.code, 1, policy);
    t.true(result.stderr.includes(message), `${policy}: ${result.stderr}`);
  }
  t.is(await capstanOk(t, ['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}', 'flaky']), 'no');

  // --rm: docker's refusal word for word, from both.
  await dockerOk(t, ['run', '-d', ...env().docker.runFlags, '--rm', '--name', twin('autorm'), IMAGE, 'sleep', '1000']);
  capstanContainers.add('autorm');
  await capstanOk(t, ['run', '-d', '--rm', '--name', 'autorm', IMAGE, 'sleep', '1000']);
  const [mine, docker] = await Promise.all([capstan(['update', '--restart', 'always', 'autorm']), env().docker.cli(['update', '--restart', 'always', twin('autorm')])]);
  t.regex(docker.stderr, /Restart policy cannot be updated because AutoRemove is enabled for the container/);
  t.regex(mine.stderr, /Restart policy cannot be updated because AutoRemove is enabled for the container/);
  t.is(mine.code, 1);
});

serial('a Docker container\'s restart policy changes through Docker: docker inspect shows it', async (t) => {
  await dockerOk(t, ['run', '-d', ...env().docker.runFlags, '--name', 'dockerowned', IMAGE, 'sleep', '1000']);
  // The agent learns it from Docker's event stream.
  await eventually(async () => ((await capstan(['inspect', '-f', '{{.Name}}', 'dockerowned'])).code === 0 ? true : undefined), 30_000, 'the agent to know dockerowned');
  await capstanOk(t, ['update', '--restart', 'on-failure:2', 'dockerowned']);
  t.deepEqual((await dockerHostConfig(t, 'dockerowned'))['RestartPolicy'], { Name: 'on-failure', MaximumRetryCount: 2 });
});

/**
 * The shape of a JSON document: every key path with its value's type ("null", "string", "number",
 * "boolean", "object", "array"); an array's elements under "path[]". Map keys (Labels, Ports,
 * Networks) are part of the path, so the same spec gives the same paths in both.
 */
function shape(value: unknown, at = '', out = new Set<string>()): Set<string> {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  out.add(`${at || '.'}: ${type}`);
  if (Array.isArray(value)) for (const item of value) shape(item, `${at}[]`, out);
  else if (type === 'object') for (const [key, item] of Object.entries(value as Record<string, unknown>)) shape(item, `${at}.${key}`, out);
  return out;
}

function shapeDifference(mine: unknown, docker: unknown): { onlyCapstan: string[]; onlyDocker: string[] } {
  const [a, b] = [shape(mine), shape(docker)];
  return { onlyCapstan: [...a].filter((entry) => !b.has(entry)).sort(), onlyDocker: [...b].filter((entry) => !a.has(entry)).sort() };
}

serial('inspect of a container and of an image: docker\'s key set, recursively, with the same value types', async (t) => {
  await runBoth(t, 'keys', ['-p', '127.0.0.1:0:80', '-l', 'team=web', '-e', 'X=1', '-w', '/tmp', '-u', 'nobody', '--restart', 'on-failure:2']);
  const [mine, docker] = await Promise.all([capstanOk(t, ['inspect', 'keys']), dockerOk(t, ['inspect', twin('keys')])]);
  const container = shapeDifference(JSON.parse(mine)[0], JSON.parse(docker)[0]);
  // docker binds no port on its "none" network (Ports {}); capstan's agent binds it.
  const bound = /^\.NetworkSettings\.Ports\.80\/tcp/;
  t.deepEqual({ onlyCapstan: container.onlyCapstan.filter((entry) => !bound.test(entry)), onlyDocker: container.onlyDocker }, { onlyCapstan: [], onlyDocker: [] }, 'container inspect');
  t.true(shape(JSON.parse(mine)[0]).size >= 150, 'every key of the document is compared');

  // -s: a container that wrote nothing has an empty writable layer; with the image under it, the image's size.
  const sizes = async (from: Promise<string>): Promise<{ SizeRw: number; SizeRootFs: number }> => (JSON.parse(await from) as Array<{ SizeRw: number; SizeRootFs: number }>)[0]!;
  const [mineSized, dockerSized] = await Promise.all([sizes(capstanOk(t, ['inspect', '-s', 'keys'])), sizes(dockerOk(t, ['inspect', '-s', twin('keys')]))]);
  t.is(mineSized.SizeRw, dockerSized.SizeRw, 'inspect -s: SizeRw');
  t.true(Math.abs(mineSized.SizeRootFs - dockerSized.SizeRootFs) < 64 * 1024, `inspect -s: SizeRootFs about the busybox image (${mineSized.SizeRootFs}, docker ${dockerSized.SizeRootFs})`);
  t.is(await capstanOk(t, ['inspect', '-f', '{{.SizeRw}} {{.State.Health}}', 'keys']), await dockerOk(t, ['inspect', '-f', '{{.SizeRw}} {{.State.Health}}', twin('keys')]), 'without -s: nil pointers');

  // The same image in both: docker's own, saved and imported into capstan (a rootfs tarball has no Env or Cmd).
  const saved = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-inspect-saved-')), 'saved.tar');
  t.teardown(() => fs.rmSync(path.dirname(saved), { recursive: true, force: true }));
  await dockerOk(t, ['save', '-o', saved, IMAGE]);
  await capstanOk(t, ['image', 'import', '--name', 'saved-busybox', saved]);
  const [mineImage, dockerImage] = await Promise.all([capstanOk(t, ['image', 'inspect', 'saved-busybox']), dockerOk(t, ['image', 'inspect', IMAGE])]);
  t.deepEqual(shapeDifference(JSON.parse(mineImage)[0], JSON.parse(dockerImage)[0]), { onlyCapstan: [], onlyDocker: [] }, 'image inspect');
  const fields = '{{.RepoTags}} {{.Os}} {{.RootFS.Type}} {{len .RootFS.Layers}} {{.Config.Entrypoint}} {{.Parent}}';
  const [mineFields, dockerFields] = await Promise.all([capstanOk(t, ['inspect', '--type', 'image', '-f', fields, 'saved-busybox']), dockerOk(t, ['inspect', '--type', 'image', '-f', fields, IMAGE])]);
  t.is(mineFields.replace('saved-busybox', IMAGE), dockerFields);
});
