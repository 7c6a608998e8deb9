/**
 * save, load and tag against the real dockerd (Engine 20.10, started by this test): docker's save
 * archive loads into capstan and runs; capstan's save archive loads into docker, runs there, and
 * docker sees the same image ID (so the same config) and the same diff IDs (so every layer tar was
 * rebuilt byte for byte). Bad input: an unknown image, and a truncated archive that must leave the
 * store as it was. One dockerd, one agent.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { capstanCli, startAgentProcess } from '../helpers/agent';
import { capstanCommandLine } from '../helpers/cli-run';
import { dockerAvailable, startDockerd } from '../helpers/engines';
import { REPO_ROOT, requireCapability } from '../helpers/repo';
import { packTar } from '../../server/runtime/images/tar';

const SHIM = path.join(REPO_ROOT, 'native', 'build', 'Release', 'capstan-shim');
const capable = requireCapability(dockerAvailable() && fs.existsSync(SHIM), 'root, Debian docker.io, busybox-static and the built capstan-shim');
const serial = capable ? test.serial : test.skip;

/** `capstan ARGS < stdinFile > stdoutFile` (as `docker load < file`, `docker save IMAGE > file`). */
function capstanRedirected(stateDir: string, args: string[], files: { stdin?: string; stdout?: string }): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...rest] = capstanCommandLine(stateDir, args);
  return new Promise((resolve, reject) => {
    const stdin = files.stdin !== undefined ? fs.openSync(files.stdin, 'r') : 'ignore';
    const stdout = files.stdout !== undefined ? fs.openSync(files.stdout, 'w') : 'pipe';
    const child = spawn(command!, rest, { stdio: [stdin, stdout, 'pipe'] });
    for (const fd of [stdin, stdout]) if (typeof fd === 'number') fs.closeSync(fd);
    let out = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout: out, stderr }));
  });
}

function member(archive: string, name: string): string {
  return execFileSync('tar', ['-xOf', archive, name], { encoding: 'utf8' });
}

serial('docker save → capstan load → run; capstan tag + save → docker load → run, with the same image ID and diff IDs; bad input refused cleanly', async (t) => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-image-life-'));
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const [docker, agent] = await Promise.all([startDockerd(t), startAgentProcess(t)]);
  const capstan = (args: string[]) => capstanCli(agent.stateDir, args);

  // An image docker made itself (import, then commit a layer with a whiteout): docker's own tars.
  await docker.importBusybox('life-base');
  const made = await docker.cli(['run', '--name', 'life-c', ...docker.runFlags, 'life-base', 'sh', '-c', 'rm /etc/issue; echo layer 2 > /etc/motd']);
  t.is(made.status, 0, made.stderr);
  const committed = await docker.cli(['commit', '-c', 'CMD ["sh"]', '-m', 'a second layer', 'life-c', 'life-busybox:1']);
  t.is(committed.status, 0, committed.stderr);
  t.is((await docker.cli(['rm', 'life-c'])).status, 0);
  const fromDocker = path.join(scratch, 'from-docker.tar');
  const saved = await docker.cli(['save', '-o', fromDocker, 'life-busybox:1']);
  t.is(saved.status, 0, saved.stderr);
  const [dockerId, dockerLayers] = (await docker.cli(['image', 'inspect', '--format', '{{.Id}} {{json .RootFS.Layers}}', 'life-busybox:1'])).stdout.trim().split(' ');

  // A truncated archive, into the empty store: refused, and nothing of it kept.
  const before = (await capstan(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).stdout;
  const layersBefore = fs.readdirSync(path.join(agent.stateDir, 'images', 'layers')).sort();
  const truncated = path.join(scratch, 'truncated.tar');
  const whole = fs.readFileSync(fromDocker);
  fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length * 0.6)));
  const broken = await capstan(['image', 'load', '-i', truncated]);
  t.is(broken.code, 1);
  t.regex(broken.stderr, /^Error response from daemon: .*(truncated|ended|not a tar)/i);
  t.is((await capstan(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).stdout, before);
  t.deepEqual(fs.readdirSync(path.join(agent.stateDir, 'images', 'layers')).sort(), layersBefore);
  t.deepEqual(fs.readdirSync(path.join(agent.stateDir, 'images', 'tmp')), []);

  const load = await capstanRedirected(agent.stateDir, ['load'], { stdin: fromDocker });
  t.is(load.code, 0, load.stderr);
  t.is(load.stdout, 'Loaded image: life-busybox:1\n');
  const run = await capstan(['run', '--rm', 'life-busybox:1', 'sh', '-c', 'echo ran; cat /etc/issue 2>&1 || true']);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /^ran\n.*No such file/s, 'the update layer\'s whiteout of /etc/issue holds');
  const inspected = JSON.parse((await capstan(['image', 'inspect', 'life-busybox:1'])).stdout) as Array<{ Id: string; RootFS: { Layers: string[] } }>;
  t.is(inspected[0]!.Id, dockerId, 'the same config, so the same ID, as docker');

  // tag, then save: the new name goes in RepoTags.
  const tagged = await capstan(['tag', 'life-busybox:1', 'life-copy:2']);
  t.is(tagged.code, 0, tagged.stderr);
  t.is(tagged.stdout, '');
  const fromCapstan = path.join(scratch, 'from-capstan.tar');
  const save = await capstan(['save', '-o', fromCapstan, 'life-copy:2']);
  t.is(save.code, 0, save.stderr);
  const toStdout = path.join(scratch, 'stdout.tar');
  const redirected = await capstanRedirected(agent.stateDir, ['save', 'life-copy:2'], { stdout: toStdout });
  t.is(redirected.code, 0, redirected.stderr);
  t.true(fs.readFileSync(toStdout).equals(fs.readFileSync(fromCapstan)), 'the same archive to stdout as to -o: save is deterministic');
  const manifest = JSON.parse(member(fromCapstan, 'manifest.json')) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
  t.deepEqual(manifest.map((entry) => entry.RepoTags), [['life-copy:2']]);
  t.is(manifest[0]!.Config, `${dockerId!.slice('sha256:'.length)}.json`);

  // Into a docker that has none of it, so every layer is registered (and its digest checked) anew.
  t.is((await docker.cli(['rmi', '-f', dockerId!, 'life-base'])).status, 0);
  const dockerLoad = await docker.cli(['load', '-i', fromCapstan]);
  t.is(dockerLoad.status, 0, dockerLoad.stderr);
  t.is(dockerLoad.stdout.trim(), 'Loaded image: life-copy:2');
  const dockerRun = await docker.cli(['run', '--rm', ...docker.runFlags, 'life-copy:2', 'sh', '-c', 'echo ran in docker']);
  t.is(dockerRun.status, 0, dockerRun.stderr);
  t.is(dockerRun.stdout, 'ran in docker\n');
  const [id, layers] = (await docker.cli(['image', 'inspect', '--format', '{{.Id}} {{json .RootFS.Layers}}', 'life-copy:2'])).stdout.trim().split(' ');
  t.is(id, dockerId);
  t.deepEqual(JSON.parse(layers!), inspected[0]!.RootFS.Layers);
  t.deepEqual(JSON.parse(layers!), JSON.parse(dockerLayers!));
  t.is(JSON.parse(layers!).length, 2);

  // history: docker's rows for the same image (whose lower layers are no images of their own there either).
  const historyFormat = '{{.ID}}|{{.CreatedAt}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}';
  const dockerHistory = await docker.cli(['history', '--no-trunc', '--format', historyFormat, 'life-copy:2']);
  t.is(dockerHistory.status, 0, dockerHistory.stderr);
  const capstanHistory = await capstan(['history', '--no-trunc', '--format', historyFormat, 'life-copy:2']);
  t.is(capstanHistory.code, 0, capstanHistory.stderr);
  t.is(capstanHistory.stdout, dockerHistory.stdout);
  t.is(capstanHistory.stdout.split('\n').filter(Boolean).length, 2);
  // The two tables are made seconds apart, so one may say "59 seconds ago" where the other says
  // "About a minute ago"; the CREATED column's width follows its longest cell, so the padding after
  // it (and after the header's CREATED) is normalised with the phrase.
  const sinceless = (text: string): string =>
    text
      .replace(/(Less than a second|(About )?(an?|\d+) (seconds?|minutes?|hours?|days?|weeks?|months?|years?)) ago +/g, 'SOME TIME ago   ')
      .replace(/^(IMAGE +)CREATED +CREATED BY/m, '$1CREATED   CREATED BY');
  const table = await capstan(['history', 'life-copy:2']);
  t.is(sinceless(table.stdout), sinceless((await docker.cli(['history', 'life-copy:2'])).stdout));
  t.is((await capstan(['history', '-q', 'life-copy:2'])).stdout, (await docker.cli(['history', '-q', 'life-copy:2'])).stdout);

  // image prune: a dangling image goes; -a takes every image no container uses, and only those.
  const rootfs = (content: string): string => {
    const file = path.join(scratch, `rootfs-${content}.tar`);
    fs.writeFileSync(file, packTar([{ name: 'only', type: 'file', content }]));
    return file;
  };
  const first = await capstan(['image', 'import', '--name', 'life-dangle:1', rootfs('a')]);
  t.is(first.code, 0, first.stderr);
  const firstId = /Loaded image: life-dangle:1/.test(first.stdout) ? JSON.parse((await capstan(['image', 'inspect', 'life-dangle:1'])).stdout)[0].Id as string : '';
  t.is((await capstan(['image', 'import', '--name', 'life-dangle:1', rootfs('b')])).code, 0);
  const secondId = JSON.parse((await capstan(['image', 'inspect', 'life-dangle:1'])).stdout)[0].Id as string;
  t.not(firstId, secondId);
  const pruned = await capstan(['image', 'prune', '-f']);
  t.is(pruned.code, 0, pruned.stderr);
  t.is(pruned.stdout, `Deleted Images:\ndeleted: ${firstId}\n\nTotal reclaimed space: 1B\n`);
  const created = await capstan(['create', '--name', 'life-user', 'life-copy:2', 'true']);
  t.is(created.code, 0, created.stderr);
  const prunedAll = await capstan(['image', 'prune', '-a', '-f']);
  t.is(prunedAll.code, 0, prunedAll.stderr);
  t.is(prunedAll.stdout, `Deleted Images:\nuntagged: life-dangle:1\ndeleted: ${secondId}\n\nTotal reclaimed space: 1B\n`);
  t.is((await capstan(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout, 'life-busybox:1\nlife-copy:2\n');
  t.is((await capstan(['image', 'prune', '-f'])).stdout, 'Total reclaimed space: 0B\n');
  t.is((await capstan(['rm', 'life-user'])).code, 0);

  // Bad input: an unknown image (no file left behind), a bad target name, a truncated archive.
  const unknown = await capstan(['save', '-o', path.join(scratch, 'none.tar'), 'no-such-image']);
  t.is(unknown.code, 1);
  t.is(unknown.stderr.trim(), 'Error response from daemon: No such image: no-such-image');
  const dockerUnknown = await docker.cli(['save', '-o', path.join(scratch, 'none.tar'), 'no-such-image']);
  t.deepEqual([unknown.code, unknown.stderr], [dockerUnknown.status, dockerUnknown.stderr], "docker's words and exit code");
  t.false(fs.existsSync(path.join(scratch, 'none.tar')));
  t.deepEqual(fs.readdirSync(scratch).filter((name) => name.includes('capstan-save')), []);
  // A terminal as stdout (script(1) gives the CLI one): refused with docker's words, nothing written.
  const onTerminal = spawnSync('script', ['-qec', capstanCommandLine(agent.stateDir, ['save', 'life-copy:2']).map((word) => `'${word}'`).join(' '), '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
  t.is(onTerminal.status, 1, onTerminal.stdout);
  t.is(onTerminal.stdout.trim(), 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
  const badTag = await capstan(['tag', 'life-busybox:1', 'Upper:1']);
  t.is(badTag.code, 1);
  t.is(badTag.stderr.trim(), 'Error parsing reference: "Upper:1" is not a valid repository/tag: invalid reference format: repository name must be lowercase');
  const dockerBadTag = await docker.cli(['tag', 'life-copy:2', 'Upper:1']);
  t.deepEqual([badTag.code, badTag.stderr], [dockerBadTag.status, dockerBadTag.stderr], "docker's words and exit code");

});
