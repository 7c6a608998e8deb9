/**
 * diff, commit and export against Docker Engine 20.10: one busybox image imported into a dockerd
 * this test starts and into an agent this test starts; the same changes made in a container of
 * each (a file created, one changed, one deleted from the image, a directory replaced); then
 *   - `diff` prints the same lines;
 *   - `commit --change ... -m -a` makes an image whose `run` prints the file and has the env,
 *     keeps the deleted file deleted, and whose inspect has docker's Comment/Author/Config;
 *   - `export` holds the changes and not the deleted files;
 *   - bad input (an unknown container, a bad --change, a bad name) gets docker's words and exit
 *     code from both, and leaves no image or layer behind.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { startAgentProcess, type AgentProcess } from '../helpers/agent';
import { busyboxRootfsForEngines, dockerAvailable, runCleanups, startDockerd, type TestEngine } from '../helpers/engines';
import { capstanCommandLine, dockerCommandLine, runCommandLine, type CommandAnswer } from '../helpers/cli-run';
import { REPO_ROOT, requireCapability } from '../helpers/repo';
import { eventually } from '../helpers/wait';
import { readTarEntries } from '../../server/runtime/images/tar';

const IMAGE = 'commit-busybox';
const SHIM = path.join(REPO_ROOT, 'native', 'build', 'Release', 'capstan-shim');
const capable = requireCapability(dockerAvailable() && fs.existsSync(SHIM), 'root, Debian docker.io, busybox-static and the built capstan-shim');
const serial = capable ? test.serial : test.skip;

/** The changes, made by the container's own command (then it exits: diff and commit of a stopped container). */
const CHANGES = [
  'echo content > /x',
  'echo more >> /etc/issue',
  'rm /bin/wc',
  'rm -rf /var/www',
  'mkdir /var/www',
  'echo hi > /var/www/index.html',
].join(' && ');

let docker: TestEngine | undefined;
let agent: AgentProcess | undefined;
let directory = '';
const cleanups: Array<() => unknown> = [];
const untilAfterAll = { teardown: (fn: () => unknown) => cleanups.push(fn) } as unknown as ExecutionContext;

const run = (command: readonly string[]): Promise<CommandAnswer> => runCommandLine(command);
const capstan = (args: readonly string[]): Promise<CommandAnswer> => run(capstanCommandLine(agent!.stateDir, args));
const dockerCli = (args: readonly string[]): Promise<CommandAnswer> => run(dockerCommandLine(docker!, args));
const both = async (args: readonly string[]): Promise<{ docker: CommandAnswer; capstan: CommandAnswer }> => ({ docker: await dockerCli(args), capstan: await capstan(args) });

test.before(async () => {
  if (!capable) return;
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-commit-'));
  cleanups.push(() => fs.rmSync(directory, { recursive: true, force: true }));
  const rootfs = path.join(directory, 'rootfs.tar');
  fs.writeFileSync(rootfs, busyboxRootfsForEngines());
  docker = await startDockerd(cleanups);
  const imported = await docker.cli(['import', rootfs, IMAGE]);
  if (imported.status !== 0) throw new Error(`docker import: ${imported.stderr}`);
  agent = await startAgentProcess(untilAfterAll, ['--interval', '1s']);
  cleanups.push(() => capstan(['rm', '-f', 'fs']));
  const ours = await capstan(['image', 'import', '--name', IMAGE, rootfs]);
  if (ours.code !== 0) throw new Error(`capstan image import: ${ours.stderrFirstLine}`);
  for (const [who, answer] of Object.entries(await both(['run', '--name', 'fs', IMAGE, 'sh', '-c', CHANGES]))) {
    if (answer.code !== 0) throw new Error(`${who} run: exit ${answer.code} ${answer.stderrFirstLine}`);
  }
});

test.after.always(() => runCleanups(cleanups));

serial('diff of the same changes prints the same lines as docker diff', async (t) => {
  const answers = await both(['diff', 'fs']);
  t.is(answers.capstan.code, 0, answers.capstan.stderrFirstLine);
  // docker's order follows Go's map iteration (it varies from run to run); the lines do not.
  const sorted = (text: string): string[] => text.split('\n').filter(Boolean).sort();
  t.deepEqual(sorted(answers.capstan.stdout), sorted(answers.docker.stdout));
  t.not(answers.capstan.stdout, '');
  t.regex(answers.capstan.stdout, /^A \/x$/m);
  t.regex(answers.capstan.stdout, /^D \/bin\/wc$/m);
});

/** An image's inspect with IDs, times and sizes replaced, for comparing docker's and capstan's. */
function normalisedInspect(text: string): Record<string, unknown> {
  const [document] = JSON.parse(text) as Array<Record<string, unknown>>;
  const config = document!['Config'] as Record<string, unknown>;
  return {
    keys: Object.keys(document!).filter((key) => key !== 'DockerVersion').sort(),
    Comment: document!['Comment'],
    Author: document!['Author'],
    hasParent: String(document!['Parent']).startsWith('sha256:'),
    Cmd: config['Cmd'],
    Entrypoint: config['Entrypoint'],
    envA: (config['Env'] as string[] | null)?.filter((entry) => entry.startsWith('A=')),
    configKeys: Object.keys(config).sort(),
    layers: (document!['RootFS'] as { Layers: string[] }).Layers.length,
  };
}

serial('commit with --change, -m and -a: run prints the file with the env, the deleted file stays deleted, inspect matches docker', async (t) => {
  const commitArgs = ['commit', '--change', 'CMD ["cat","/x"]', '--change', 'ENV A=1', '-m', 'msg', '-a', 'me', 'fs', 'committed:1'];
  const committed = await both(commitArgs);
  t.is(committed.capstan.code, 0, committed.capstan.stderrFirstLine);
  t.regex(committed.capstan.stdout, /^sha256:[0-9a-f]{64}\n$/);
  const ran = await both(['run', '--rm', 'committed:1']);
  t.is(ran.capstan.stdout, 'content\n');
  t.is(ran.capstan.stdout, ran.docker.stdout);
  const looked = await both(['run', '--rm', 'committed:1', 'sh', '-c', 'echo A=$A; test -e /bin/wc || echo wc-gone; cat /var/www/index.html; ls /var/www']);
  t.is(looked.capstan.stdout, 'A=1\nwc-gone\nhi\nindex.html\n');
  t.is(looked.capstan.stdout, looked.docker.stdout);
  const inspected = await both(['image', 'inspect', 'committed:1']);
  t.is(inspected.capstan.code, 0, inspected.capstan.stderrFirstLine);
  t.deepEqual(normalisedInspect(inspected.capstan.stdout), normalisedInspect(inspected.docker.stdout));
  t.like(normalisedInspect(inspected.capstan.stdout), { Comment: 'msg', Author: 'me', Cmd: ['cat', '/x'], envA: ['A=1'], layers: 2 });
  // The history goes on from the parent's, with the commit's step on top.
  const history = await both(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Comment}}', 'committed:1']);
  t.is(history.capstan.code, 0, history.capstan.stderrFirstLine);
  t.is(history.capstan.stdout, history.docker.stdout);
  t.is(history.capstan.stdout.split('\n')[0], `sh -c ${CHANGES}|msg`);
  // The committed layer is a layer like an imported one: `save` hands it to docker, which loads and runs it.
  const saved = path.join(directory, 'committed.tar');
  t.is((await capstan(['save', '-o', saved, 'committed:1'])).code, 0);
  const loaded = await dockerCli(['load', '-i', saved]);
  t.is(loaded.code, 0, loaded.stderrFirstLine);
  t.is((await dockerCli(['image', 'inspect', '-f', '{{.Id}}', 'committed:1'])).stdout, committed.capstan.stdout);
  t.is((await dockerCli(['run', '--rm', 'committed:1'])).stdout, 'content\n');
});

serial('commit of a running container freezes it for the copy and leaves it running; -p=false does not freeze it', async (t) => {
  cleanups.push(() => capstan(['rm', '-f', 'live']));
  const started = await capstan(['run', '-d', '--name', 'live', IMAGE, 'sh', '-c', 'echo alive > /live && exec sleep 1000']);
  t.is(started.code, 0, started.stderrFirstLine);
  const since = new Date().toISOString();
  // The file is written by the container's first command: wait for it through diff.
  await eventually(async () => (await capstan(['diff', 'live'])).stdout.includes('A /live') || undefined, 60_000, 'the container to write /live', 100);
  const committed = await capstan(['commit', 'live', 'live-image:1']);
  t.is(committed.code, 0, committed.stderrFirstLine);
  t.is((await capstan(['inspect', '-f', '{{.State.Status}}', 'live'])).stdout, 'running\n');
  const events = await capstan(['events', '--since', since, '--until', new Date().toISOString(), '--format', '{{.Action}}', '-f', 'container=live']);
  t.deepEqual(events.stdout.split('\n').filter((action) => action === 'pause' || action === 'unpause'), ['pause', 'unpause']);
  t.is((await capstan(['commit', '-p=false', 'live', 'live-image:2'])).code, 0);
  t.is((await capstan(['run', '--rm', 'live-image:2', 'cat', '/live'])).stdout, 'alive\n');
});

serial('export holds the changes and not the deleted files, like docker export', async (t) => {
  const names = async (file: string): Promise<Set<string>> => {
    const seen = new Set<string>();
    for await (const { header, body } of readTarEntries(fs.createReadStream(file))) {
      for await (const _chunk of body()) void _chunk;
      seen.add(header.name.replace(/^\.?\//, '').replace(/\/$/, ''));
    }
    return seen;
  };
  const ours = path.join(directory, 'capstan-export.tar');
  const theirs = path.join(directory, 'docker-export.tar');
  const exported = { capstan: await capstan(['export', '-o', ours, 'fs']), docker: await dockerCli(['export', '-o', theirs, 'fs']) };
  t.is(exported.capstan.code, 0, exported.capstan.stderrFirstLine);
  t.is(exported.docker.code, 0, exported.docker.stderrFirstLine);
  const [capstanNames, dockerNames] = [await names(ours), await names(theirs)];
  for (const expected of ['x', 'etc/issue', 'var/www/index.html', 'bin/busybox', 'bin/sh']) t.true(capstanNames.has(expected), expected);
  for (const gone of ['bin/wc', 'var/www/old.html']) {
    t.false(capstanNames.has(gone), gone);
    t.false(dockerNames.has(gone), gone);
  }
  // Everything docker's export has of the image is in capstan's (docker adds its init layer: .dockerenv, /dev/console, ...).
  // And back: `image import` of the export with --change and -m, as docker import takes them.
  const reimported = await capstan(['image', 'import', '--name', 'flat:1', '-c', 'CMD ["cat","/x"]', '-m', 'flattened', ours]);
  t.is(reimported.code, 0, reimported.stderrFirstLine);
  t.is((await capstan(['run', '--rm', 'flat:1'])).stdout, 'content\n');
  t.is((await capstan(['image', 'inspect', '-f', '{{.Comment}}', 'flat:1'])).stdout, 'flattened\n');
  const missing = [...dockerNames].filter((name) => !capstanNames.has(name) && !/^(\.dockerenv|dev\/.+|etc\/(hosts|hostname|resolv\.conf|mtab))$/.test(name));
  t.deepEqual(missing, []);
});

serial('bad input: docker words and exit codes, and no image or layer left behind', async (t) => {
  const storeRoot = path.join(agent!.stateDir, 'images');
  const storeListing = (): string[] => ['records', 'layers', 'tmp'].flatMap((folder) => fs.readdirSync(path.join(storeRoot, folder)).map((name) => `${folder}/${name}`)).sort();
  const before = storeListing();
  for (const args of [
    ['commit', 'nosuch'],
    ['diff', 'nosuch'],
    ['export', '-o', path.join(directory, 'never.tar'), 'nosuch'],
    ['commit', '--change', 'RUN echo hi', 'fs', 'bad:1'],
    ['commit', '--change', 'ENV', 'fs', 'bad:2'],
    ['commit', 'fs', 'Bad:Name'],
  ]) {
    const answers = await both(args);
    t.is(answers.capstan.code, answers.docker.code, `${args.join(' ')}: ${answers.capstan.stderrFirstLine}`);
    t.not(answers.capstan.code, 0, args.join(' '));
    if (args[0] !== 'export' && !args.includes('ENV')) t.is(answers.capstan.stderrFirstLine, answers.docker.stderrFirstLine, args.join(' '));
  }
  t.false(fs.existsSync(path.join(directory, 'never.tar')));
  t.deepEqual(storeListing(), before);
});
