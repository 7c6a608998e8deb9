/**
 * `capstan ps` as docker's, against a real agent with capstan's own containers and a real dockerd
 * (test/helpers/engines.ts) whose containers the agent lists through the Engine API:
 *
 * - a container `run -d` has just returned is in the very next `ps`, one `rm` removed is gone at
 *   once, for capstan's and for Docker's, with the collector ticking only every 30 s (so nothing
 *   here can come from a tick);
 * - `ps -a` lists both owners' containers in every state, newest first, and no raw cgroup;
 *   `capstan cgroups` lists the raw cgroups;
 * - docker's filters (status, exited, label, name, id, ancestor, before/since across owners, bad
 *   keys and values in docker 20.10's words), -n, -l, -s;
 * - for Docker's containers, capstan prints what `docker ps` of the same dockerd prints.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { capstanCli, startAgentProcess, type AgentProcess } from '../helpers/agent';
import { busyboxRootfsForEngines, dockerAvailable, runCleanups, startDockerd, type TestEngine } from '../helpers/engines';
import { requireCapability } from '../helpers/repo';

const IMAGE = 'capstan-test-busybox';
const LABEL = 'capstan.ps-test';

const capable = requireCapability(dockerAvailable(), 'root, Debian docker.io and busybox-static');
const serial = capable ? test.serial : test.skip;

interface Environment {
  docker: TestEngine;
  agent: AgentProcess;
}

let environment: Environment | undefined;
const cleanups: Array<() => unknown> = [];
const untilAfterAll = { teardown: (fn: () => unknown) => cleanups.push(fn) } as unknown as ExecutionContext;

test.before(async () => {
  if (!capable) return;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-ps-test-'));
  cleanups.push(() => fs.rmSync(directory, { recursive: true, force: true }));
  const docker = await startDockerd(cleanups);
  await docker.importBusybox(IMAGE);
  // A tick every 30 s: whatever ps shows within a test comes from the owners, not the collector.
  const agent = await startAgentProcess(untilAfterAll, ['--interval', '30s', '--docker-host', docker.address]);
  environment = { docker, agent };
  // Containers outlive their agent: remove capstan's before it stops (clean-ups run last first).
  cleanups.push(async () => {
    const ids = (await capstan(['ps', '-a', '-q', '--no-trunc', '-f', 'label=' + LABEL])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await capstan(['rm', '-f', ...ids]);
  });
  const tarball = path.join(directory, 'image.tar');
  fs.writeFileSync(tarball, busyboxRootfsForEngines());
  const imported = await capstan(['image', 'import', '--name', IMAGE, tarball]);
  if (imported.code !== 0) throw new Error(`capstan image import: ${imported.stderr}`);
});

test.after.always(() => runCleanups(cleanups));

function env(): Environment {
  if (!environment) throw new Error('the engine or the agent could not be started (see the before hook)');
  return environment;
}

function capstan(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return capstanCli(env().agent.stateDir, args);
}

async function ok(t: ExecutionContext, args: string[]): Promise<string> {
  const result = await capstan(args);
  if (result.code !== 0) t.fail(`capstan ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

async function dockerOk(t: ExecutionContext, args: string[]): Promise<string> {
  const result = await env().docker.cli(args);
  if (result.status !== 0) t.fail(`docker ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout.trim();
}

const lines = (text: string): string[] => text.split('\n').filter(Boolean);

serial('a container run -d has returned is in the very next ps; one rm removed is gone at once, for capstan and Docker', async (t) => {
  const { docker } = env();
  const id = (await ok(t, ['run', '-d', '--name', 'ps-fresh', '--label', LABEL, '--', 'sleep', '600'])).trim();
  t.regex(id, /^[0-9a-f]{64}$/);
  t.true(lines(await ok(t, ['ps', '-q', '--no-trunc'])).includes(id), 'listed by the very next ps');
  t.is(await ok(t, ['ps', '-f', `id=${id.slice(0, 10)}`, '--format', '{{.Names}} {{.Runtime}} {{.State}}']), 'ps-fresh capstan running\n');
  await ok(t, ['rm', '-f', 'ps-fresh']);
  t.false(lines(await ok(t, ['ps', '-a', '-q', '--no-trunc'])).includes(id), 'gone from the very next ps -a');

  const dockerId = await dockerOk(t, ['run', '-d', ...docker.runFlags, '--name', 'ps-fresh-docker', IMAGE, 'sleep', '600']);
  t.true(lines(await ok(t, ['ps', '-q', '--no-trunc'])).includes(dockerId), 'a Docker container docker run -d returned is listed at once');
  await dockerOk(t, ['rm', '-f', 'ps-fresh-docker']);
  t.false(lines(await ok(t, ['ps', '-a', '-q', '--no-trunc'])).includes(dockerId));
});

/** The containers of the next tests, oldest first: [name, owner, state]. */
const WORLD: Array<[string, string, string]> = [
  ['d-exited', 'docker', 'exited'],
  ['c-running', 'capstan', 'running'],
  ['d-running', 'docker', 'running'],
  ['c-exited', 'capstan', 'exited'],
  ['c-created', 'capstan', 'created'],
];

let worldMade = false;
async function makeWorld(t: ExecutionContext): Promise<void> {
  if (worldMade) return;
  const { docker } = env();
  const dockerFlags = [...docker.runFlags, '--label', LABEL, '--label', `${LABEL}.owner=docker`];
  // Creation times one after the other, each at least a second apart so even whole seconds order them.
  const pause = () => new Promise((resolve) => setTimeout(resolve, 1100));
  await docker.cli(['run', ...dockerFlags, '--name', 'd-exited', IMAGE, 'sh', '-c', 'exit 3']);
  await pause();
  await ok(t, ['run', '-d', '--name', 'c-running', '--label', LABEL, '--label', `${LABEL}.tier=front`, '-p', '127.0.0.1:0:80', IMAGE, 'sleep', '600']);
  await pause();
  await dockerOk(t, ['run', '-d', ...dockerFlags, '--label', `${LABEL}.tier=front`, '--name', 'd-running', IMAGE, 'sh', '-c', 'echo a long command line here; sleep 600']);
  await pause();
  const exited = await capstan(['run', '--name', 'c-exited', '--label', LABEL, IMAGE, 'sh', '-c', 'echo hello > /written; exit 7']);
  t.is(exited.code, 7, exited.stderr);
  await pause();
  await ok(t, ['create', '--name', 'c-created', '--label', LABEL, IMAGE, 'true']);
  worldMade = true;
}

serial('ps -a lists every owner\'s containers in every state, newest first, and no raw cgroup; cgroups lists the cgroups', async (t) => {
  await makeWorld(t);
  const all = lines(await ok(t, ['ps', '-a', '-f', `label=${LABEL}`, '--format', '{{.Names}}\t{{.Runtime}}\t{{.State}}']));
  t.deepEqual(all, [...WORLD].reverse().map((row) => row.join('\t')));
  const running = lines(await ok(t, ['ps', '-f', `label=${LABEL}`, '--format', '{{.Names}}']));
  t.deepEqual(running, ['d-running', 'c-running'], 'without -a: running ones only');

  const status = new Map(lines(await ok(t, ['ps', '-a', '-f', `label=${LABEL}`, '--format', '{{.Names}}\t{{.Status}}'])).map((line) => line.split('\t') as [string, string]));
  t.regex(status.get('c-exited')!, /^Exited \(7\) .+ ago$/);
  t.regex(status.get('d-exited')!, /^Exited \(3\) .+ ago$/);
  t.regex(status.get('c-running')!, /^Up /);
  t.is(status.get('c-created'), 'Created');

  const table = lines(await ok(t, ['ps', '-f', 'name=c-running']));
  t.regex(table[0]!, /^CONTAINER ID {3}IMAGE {2,}COMMAND {2,}CREATED {2,}STATUS {2,}PORTS {2,}NAMES$/);
  t.regex(table[1]!, new RegExp(`^[0-9a-f]{12} {3}${IMAGE} {3}"sleep 600" {2,}\\S.* ago {3}Up .+ {3}127\\.0\\.0\\.1:\\d+->80/tcp {3}c-running$`));

  // No raw cgroup in ps -a; capstan cgroups has them, with their owners.
  const cgroups = lines(await ok(t, ['cgroups', '--no-trunc', '--format', '{{.ID}}\t{{.Runtime}}\t{{.Cgroup}}']));
  const raw = cgroups.filter((line) => line.split('\t')[1] === 'raw');
  t.true(raw.some((line) => line.endsWith('\t/')), 'the root cgroup is listed by cgroups');
  const ids = new Set(lines(await ok(t, ['ps', '-a', '-q', '--no-trunc'])));
  t.deepEqual(raw.filter((line) => ids.has(line.split('\t')[0]!)), [], 'ps -a lists no raw cgroup');
  const owners = new Set(lines(await ok(t, ['ps', '-a', '--format', '{{.Runtime}}'])));
  t.deepEqual([...owners].sort(), ['capstan', 'docker']);
});

serial('filters, -n and -l have docker\'s meaning across owners; bad ones get docker\'s words', async (t) => {
  await makeWorld(t);
  const names = async (...args: string[]) => lines(await ok(t, ['ps', ...args, '--format', '{{.Names}}']));
  const ours = ['-f', `label=${LABEL}`];
  t.deepEqual(await names(...ours, '-f', 'status=exited'), ['c-exited', 'd-exited'], 'a status filter includes stopped ones');
  t.deepEqual(await names(...ours, '-f', 'status=exited', '-f', 'status=created'), ['c-created', 'c-exited', 'd-exited']);
  t.deepEqual(await names('-a', '-f', 'exited=7'), ['c-exited']);
  t.deepEqual(await names('-a', '-f', 'exited=3'), ['d-exited']);
  t.deepEqual(await names('-a', '-f', `label=${LABEL}.tier=front`), ['d-running', 'c-running']);
  t.deepEqual(await names('-a', '-f', `label=${LABEL}.tier=front`, '-f', 'status=running', '-f', 'name=^c-'), ['c-running']);
  t.deepEqual(await names('-a', '-f', 'name=exited'), ['c-exited', 'd-exited']);
  t.deepEqual(await names('-a', ...ours, '-f', `ancestor=${IMAGE}`), ['c-created', 'c-exited', 'd-running', 'c-running', 'd-exited'], 'the image by name in both owners');
  t.deepEqual(await names('-a', '-f', 'ancestor=no-such-image'), []);
  t.deepEqual(await names('-a', ...ours, '-f', 'before=d-running'), ['c-running', 'd-exited']);
  t.deepEqual(await names('-a', ...ours, '-f', 'since=c-running'), ['c-created', 'c-exited', 'd-running']);
  t.deepEqual(await names(...ours, '-f', 'since=d-exited'), ['d-running', 'c-running'], 'running only without -a');
  t.deepEqual(await names('-a', '-f', 'volume=data'), [], 'no container has volumes');
  const dockerRunning = (await env().docker.cli(['inspect', '-f', '{{.Id}}', 'd-running'])).stdout.trim();
  t.deepEqual(await names('-a', '-f', `id=${dockerRunning.slice(0, 8)}`), ['d-running']);

  t.deepEqual(await names('-n', '2'), ['c-created', 'c-exited'], '-n includes stopped ones, newest first');
  t.deepEqual(await names('-l'), ['c-created']);
  t.deepEqual(await names('-l', '-f', 'status=running'), ['d-running']);

  t.like(await capstan(['ps', '-f', 'bogus=1']), { code: 1, stderr: "Error response from daemon: Invalid filter 'bogus'\n" });
  t.like(await capstan(['ps', '-f', 'status=x']), { code: 1, stderr: "Error response from daemon: Invalid filter 'status=x'\n" });
  t.like(await capstan(['ps', '-f', 'exited=abc']), { code: 1, stderr: 'Error response from daemon: strconv.Atoi: parsing "abc": invalid syntax\n' });
  t.like(await capstan(['ps', '-f', 'before=nosuch']), { code: 1, stderr: 'Error response from daemon: no such container nosuch\n' });
  t.is((await capstan(['ps', '-f', 'noequals'])).code, 125);
  t.is((await capstan(['ps', '-n', 'abc'])).code, 125);

  // -s: the writable layer and the image, for capstan's (what the container wrote) and Docker's.
  const sizes = new Map(lines(await ok(t, ['ps', '-a', '-s', ...ours, '--format', '{{.Names}}\t{{.Size}}'])).map((line) => line.split('\t') as [string, string]));
  t.regex(sizes.get('c-exited')!, /^\d+B \(virtual \d+(\.\d+)?[kM]B\)$/);
  t.notRegex(sizes.get('c-exited')!, /^0B/, 'the file the container wrote counts');
  t.regex(sizes.get('d-running')!, /^\d+(\.\d+)?k?B \(virtual \d+(\.\d+)?MB\)$/);
});

serial('for Docker\'s containers capstan ps prints what docker ps prints', async (t) => {
  await makeWorld(t);
  const only = ['-a', '-f', `label=${LABEL}.owner=docker`];
  // Everything that does not move with the clock, byte for byte, table header and widths included
  // (not .Labels: docker 20.10's CLI joins them in Go's random map order, docker 28's sorted, as capstan).
  for (const format of ['table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Names}}\t{{.Ports}}\t{{.State}}\t{{.Networks}}\t{{.CreatedAt}}', '{{.ID}} {{.Label "capstan.ps-test.owner"}} {{.Mounts}} {{.LocalVolumes}}']) {
    for (const extra of [[], ['--no-trunc'], ['-s']]) {
      const theirs = await dockerOk(t, ['ps', ...only, ...extra, '--format', format]);
      t.is((await ok(t, ['ps', ...only, ...extra, '--format', format])).trim(), theirs, `${format} ${extra.join(' ')}`);
    }
  }
  // The default table, cell by cell, with the clock's words set aside.
  const clock = (cell: string) => cell.replace(/(Less than a second|About a minute|About an hour|\d+ (second|minute|hour)s?)/g, 'T');
  const cells = (text: string) => lines(text).map((line) => line.split(/ {3,}/).map(clock));
  const theirs = cells(await dockerOk(t, ['ps', ...only, '-s']));
  const ours = cells(await ok(t, ['ps', ...only, '-s']));
  t.deepEqual(ours, theirs);
  t.is(ours.length, 3);
});
