/**
 * capstan where scripts expect docker: the same list of commands, typed as docker users type them,
 * goes through Debian's docker CLI (/usr/bin/docker, Engine 20.10, against a dockerd this test
 * starts: test/helpers/engines.ts) and through `capstan` (against an agent this test starts), in
 * the same order, on the same busybox image imported into both. Each row's stdout, the first line
 * of its stderr and its exit code must be the same after normalise() below.
 *
 * What normalise() hides, and why it cannot match:
 * - container and image IDs (64 and 12 hex digits): each engine makes its own;
 * - times (RFC 3339) and durations ("Up 3 seconds"): each command runs at its own moment;
 * - the word "docker" in docker's own text (its usage lines say `See 'docker run --help'.`);
 * - the chain of runtime layers an OCI error passes through in docker (containerd's shim and runc:
 *   "failed to create shim task: OCI runtime create failed: runc create failed: unable to start
 *   container process: ") and the source location runc puts in it: capstan starts the process
 *   itself, so its message starts at the reason ("exec: \"x\": executable file not found in $PATH").
 *
 * Commands that are not in the table, with the reason, are listed in the README ("Differences
 * from docker that remain").
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { startAgentProcess, type AgentProcess } from '../helpers/agent';
import { writeBusyboxImages } from '../helpers/busybox-image';
import { DOCKER_CLI, dockerAvailable, runCleanups, startDockerd, type TestEngine } from '../helpers/engines';
import { capstanCommandLine, dockerCommandLine, runCommandLine, type CommandAnswer } from '../helpers/cli-run';
import { REPO_ROOT, requireCapability } from '../helpers/repo';

const IMAGE = 'compat-busybox';
const SHIM = path.join(REPO_ROOT, 'native', 'build', 'Release', 'capstan-shim');
const capable = requireCapability(dockerAvailable() && fs.existsSync(SHIM), 'root, Debian docker.io, busybox-static and the built capstan-shim');
const serial = capable ? test.serial : test.skip;

/** One command line; `$IMAGE` is the test image, `$SINCE`/`$UNTIL` Unix seconds around the run. */
type Row = readonly string[];

/**
 * The table, run top to bottom in both. Rows build on earlier ones (a container made by one row
 * is started, paused, updated and removed by the next), so the order is part of each row's meaning.
 */
const ROWS: readonly Row[] = [
  // Mistakes on the command line: the CLI's own errors.
  ['--foo'],
  ['no-such-command'],
  ['run'],
  ['run', '--foo', '$IMAGE', 'true'],
  ['run', '--rm', '-m', 'x', '$IMAGE', 'true'],
  ['run', '--rm', '--memory-swap=x', '$IMAGE', 'true'],
  ['run', '--rm', '--cpus', 'x', '$IMAGE', 'true'],
  ['run', '--rm', '--pids-limit', 'x', '$IMAGE', 'true'],
  ['run', '--rm', '-p', 'x', '$IMAGE', 'true'],
  ['run', '--rm', '--restart', 'always', '$IMAGE', 'true'],
  ['run', '--rm', '--name', 'bad name!', '$IMAGE', 'true'],
  ['run', '--rm', '-m', '1k', '$IMAGE', 'true'],
  ['create'],
  ['create', '--name', 'bad name!', '$IMAGE', 'true'],
  ['create', '-m', '1k', '$IMAGE', 'true'],
  ['create', '-p', 'x', '$IMAGE', 'true'],
  ['create', '--cpus', 'x', '$IMAGE', 'true'],
  ['start'],
  ['stop'],
  ['kill'],
  ['restart'],
  ['pause'],
  ['unpause'],
  ['rm'],
  ['wait'],
  ['logs'],
  ['inspect'],
  ['top'],
  ['port'],
  ['exec'],
  ['exec', 'web'],
  ['update'],
  ['stop', '-t', 'x', 'web'],
  ['logs', '--foo', 'web'],
  // run in the foreground: the container's own exit code, or docker's 126 / 127.
  ['run', '--rm', '$IMAGE', 'echo', 'hello'],
  ['run', '--rm', '$IMAGE', 'sh', '-c', 'exit 3'],
  ['run', '--rm', '$IMAGE', 'false'],
  ['run', '--rm', '$IMAGE', 'no-such-command'],
  ['run', '--rm', '$IMAGE', '/etc/passwd'],
  ['run', '--rm', '$IMAGE', '/no/such/file'],
  ['run', '--rm', '-e', 'FOO=bar', '$IMAGE', 'sh', '-c', 'echo $FOO'],
  ['run', '--rm', '-w', '/tmp', '$IMAGE', 'pwd'],
  ['run', '--rm', '-u', 'nobody', '$IMAGE', 'id', '-u'],
  ['run', '--rm', '--hostname', 'box', '$IMAGE', 'hostname'],
  ['run', '--rm', '--entrypoint', 'echo', '$IMAGE', 'hi'],
  ['run', '--rm', '-m', '64m', '--cpus', '0.5', '--pids-limit', '50', '$IMAGE', 'true'],
  ['run', '--rm', '$IMAGE', 'sh', '-c', 'echo to-stderr >&2; exit 4'],
  // A running container, and what is asked of it.
  ['run', '-d', '--name', 'web', '$IMAGE', 'sleep', '1000'],
  ['run', '-d', '--name', 'web', '$IMAGE', 'sleep', '1000'],
  // ps: docker's fields, filters and words (CREATED and the table's widths move with the clock).
  ['ps', '-f', 'name=^web$', '--format', '{{.Names}} {{.Image}} {{.Command}} {{.State}} {{.Status}} {{.Ports}} {{.Networks}} {{.Mounts}}'],
  ['ps', '-f', 'name=^web$', '--format', 'table {{.Names}}\t{{.Image}}\t{{.Command}}\t{{.State}}'],
  ['ps', '-a', '-q', '-f', 'name=^web$'],
  ['ps', '-f', 'name=^web$', '-f', 'status=exited'],
  ['ps', '-f', 'label=nope', '-n', '1'],
  ['ps', '-f', 'bogus=1'],
  ['ps', '-f', 'status=x'],
  ['ps', '-f', 'exited=x'],
  ['ps', '-f', 'before=no-such-container'],
  ['ps', '-f', 'x'],
  ['ps', '-n', 'x'],
  ['ps', 'extra'],
  ['ps', '--foo'],
  ['inspect', '-f', '{{.Name}}', 'web'],
  ['inspect', '--format', '{{.State.Status}} {{.State.Running}}', 'web'],
  ['inspect', '-f', '{{.Config.Image}}', 'web'],
  ['inspect', '-f', '{{json .Config.Cmd}}', 'web'],
  ['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}', 'web'],
  ['inspect', '-f', '{{.Name}}', 'web', 'no-such-container'],
  ['inspect', 'no-such-container'],
  ['inspect', '-f', '{{.NoSuch}}', 'web'],
  ['inspect', '-f', '{{.Config.Labels.nope}}', 'web'],
  ['inspect', '-f', '{{.Name', 'web'],
  ['inspect', '-f', '{{.Config.WorkingDir}}|{{.Config.User}}|{{.Config.Entrypoint}}|{{.Config.Labels}}|{{.Config.ExposedPorts}}', 'web'],
  ['inspect', '-f', '{{.HostConfig.NetworkMode}} {{.HostConfig.IpcMode}} {{.HostConfig.ShmSize}} {{.HostConfig.Privileged}} {{.HostConfig.Dns}} {{.HostConfig.LogConfig.Config}}', 'web'],
  ['inspect', '-f', '{{len .Mounts}} {{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}} {{.NetworkSettings.IPAddress}}|{{.State.Health}}|{{.ExecIDs}}', 'web'],
  ['inspect', '-f', '{{.SizeRw}}', 'web'],
  ['inspect', '-s', '-f', '{{.SizeRw}}', 'web'],
  ['inspect', '--type', 'container', '-f', '{{.Name}}', 'web'],
  ['inspect', '--type', 'image', 'web'],
  ['inspect', '--type', 'volume', 'web'],
  ['inspect', '--type', 'container', '$IMAGE'],
  ['inspect', '--type', 'bogus', 'web'],
  ['inspect', '-f', '{{.RepoTags}} {{.Os}} {{.RootFS.Type}} {{len .RootFS.Layers}} {{.Parent}}|{{.RepoDigests}}', '$IMAGE'],
  ['inspect', '--type', 'image', '-f', '{{.Architecture}} {{.Config.Entrypoint}} {{.ContainerConfig.Cmd}}', '$IMAGE'],
  ['image', 'inspect', '-f', '{{index .RepoTags 0}}', '$IMAGE'],
  ['image', 'inspect', 'no-such-image'],
  ['image', 'inspect'],
  ['info', '--format', '{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}'],
  ['kill', '-s', 'NOPE', 'web'],
  ['exec', 'web', 'echo', 'hi'],
  ['exec', 'web', 'sh', '-c', 'exit 5'],
  ['exec', '-e', 'FOO=bar', 'web', 'sh', '-c', 'echo $FOO'],
  ['exec', '-w', '/tmp', 'web', 'pwd'],
  ['exec', '-u', 'nobody', 'web', 'id', '-u'],
  ['exec', 'no-such-container', 'true'],
  ['exec', '--foo', 'web', 'true'],
  ['top', 'web', '-o', 'comm'],
  ['port', 'web'],
  ['port', 'web', '80'],
  ['update', '-m', '64m', '--memory-swap', '128m', 'web'],
  ['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}', 'web'],
  ['update', '--cpus', '0.5', '--pids-limit', '100', 'web'],
  ['inspect', '-f', '{{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}', 'web'],
  ['update', '-m', 'x', 'web'],
  ['update', '-m', '1k', 'web'],
  ['update', 'web'],
  ['update', '-m', '64m', 'no-such-container'],
  ['stats', '--no-stream', '--format', '{{.Name}}', 'web'],
  ['stats', '--no-stream', '--format', '{{.Container}}', 'web'],
  ['stats', '--no-stream', 'no-such-container'],
  ['rm', 'web'],
  ['stop', '-t', '1', 'web', 'no-such-container'],
  ['rm', 'web', 'no-such-container'],
  // Images, and what the engine says of itself.
  ['images', '--format', '{{.Repository}} {{.Tag}} {{.Size}} {{.Digest}} {{.Containers}}'],
  ['images', '--format', 'table {{.Repository}}\t{{.Tag}}\t{{.Size}}'],
  ['images', '--digests', '--format', '{{.Repository}} {{.Digest}}'],
  ['images', '-a', '-f', 'reference=compat-*', '--format', '{{.Repository}}:{{.Tag}}'],
  ['images', '$IMAGE', '--format', '{{.Repository}}'],
  ['images', 'no-such-image'],
  ['images', '-q', '-f', 'dangling=true'],
  ['images', '-f', 'label=nope', '--format', '{{.Repository}}'],
  ['images', '-f', 'since=$IMAGE', '-q'],
  ['images', '-f', 'bogus=1'],
  ['images', '-f', 'dangling=x'],
  ['images', '-f', 'before=no-such-image'],
  ['images', '--format', '{{.Nope}}'],
  ['images', 'a', 'b'],
  // tag and history: a second name, then the one step an imported rootfs has.
  ['tag', '$IMAGE', 'compat-tagged:v1'],
  ['images', 'compat-tagged', '--format', '{{.Repository}}:{{.Tag}}'],
  ['image', 'tag', '$IMAGE', 'compat-tagged'],
  ['images', '-f', 'reference=compat-tagged', '--format', '{{.Repository}}:{{.Tag}}'],
  ['tag', 'no-such-image', 'compat-x'],
  ['tag', '$IMAGE', 'Compat-Upper'],
  ['tag', '$IMAGE', 'compat-x:bad tag'],
  ['tag', '$IMAGE'],
  ['history', '--format', '{{.ID}}|{{.CreatedBy}}|{{.Comment}}', '$IMAGE'],
  ['history', '-q', 'compat-tagged:v1'],
  ['image', 'history', '--no-trunc', '--format', '{{.ID}} {{.Comment}}', 'compat-tagged'],
  ['history', '-H=false', '--format', '{{.CreatedSince}}', '$IMAGE'],
  ['history', 'no-such-image'],
  ['history'],
  ['history', '--format', '{{.Nope}}', '$IMAGE'],
  ['image', 'rm', 'compat-tagged:v1', 'compat-tagged'],
  ['image', 'ls', '--format', '{{.Repository}}'],
  ['version', '--format', '{{.Client.Os}}/{{.Client.Arch}} {{.Server.Os}}/{{.Server.Arch}} {{.Server.KernelVersion}}'],
  ['version', '--format', '{{.Nope}}'],
  ['info', '--format', '{{.NCPU}} {{.MemTotal}} {{.OSType}} {{.Architecture}} {{.CgroupDriver}} {{.CgroupVersion}} {{.KernelVersion}}'],
  ['info', '--format', '{{.OperatingSystem}}|{{.Name}}|{{json .Labels}}|{{.ExperimentalBuild}}|{{.LiveRestoreEnabled}}'],
  ['info', '--format', '{{.Nope}}'],
  // A container's life: create, start, pause, stop, restart, kill, rm.
  ['create', '--name', 'made', '$IMAGE', 'sleep', '1000'],
  ['inspect', '-f', '{{.State.Status}}', 'made'],
  ['ps', '-a', '-f', 'name=^made$', '--format', '{{.Names}} {{.State}} {{.Status}}'],
  ['ps', '-f', 'name=^made$', '--format', '{{.Names}}'],
  ['start', 'made'],
  ['inspect', '-f', '{{.State.Status}}', 'made'],
  ['pause', 'made'],
  ['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'made'],
  ['ps', '-f', 'name=^made$', '--format', '{{.Names}} {{.State}}'],
  ['pause', 'made'],
  ['exec', 'made', 'true'],
  ['unpause', 'made'],
  ['unpause', 'made'],
  ['stop', '-t', '1', 'made'],
  ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'made'],
  ['ps', '-a', '-f', 'name=^made$', '-f', 'exited=137', '--format', '{{.Names}} {{.State}}'],
  ['exec', 'made', 'true'],
  ['top', 'made'],
  ['kill', 'made'],
  ['restart', '-t', '1', 'made'],
  ['inspect', '-f', '{{.State.Status}}', 'made'],
  ['kill', '-s', 'KILL', 'made'],
  ['wait', 'made'],
  ['rm', 'made'],
  ['rm', 'made'],
  // start -a and wait pass the container's exit code on; logs keep the output.
  ['create', '--name', 'three', '$IMAGE', 'sh', '-c', 'echo out; exit 3'],
  ['start', '-a', 'three'],
  ['wait', 'three'],
  ['logs', 'three'],
  ['logs', '--tail', '1', 'three'],
  ['inspect', '-f', '{{.State.ExitCode}}', 'three'],
  ['events', '--since', '$SINCE', '--until', '$UNTIL', '--filter', 'container=three', '--filter', 'event=die', '--format', '{{.Action}} {{.Actor.Attributes.exitCode}}'],
  ['rm', '-f', 'three'],
  // Unknown containers.
  ['start', 'no-such-container'],
  ['stop', 'no-such-container'],
  ['kill', 'no-such-container'],
  ['restart', 'no-such-container'],
  ['pause', 'no-such-container'],
  ['unpause', 'no-such-container'],
  ['rm', 'no-such-container'],
  ['rm', '-f', 'no-such-container'],
  ['wait', 'no-such-container'],
  ['logs', 'no-such-container'],
  ['top', 'no-such-container'],
  ['port', 'no-such-container'],
];

type Answer = CommandAnswer;

let docker: TestEngine | undefined;
let agent: AgentProcess | undefined;
const cleanups: Array<() => unknown> = [];
const untilAfterAll = { teardown: (fn: () => unknown) => cleanups.push(fn) } as unknown as ExecutionContext;

test.before(async () => {
  if (!capable) return;
  docker = await startDockerd(cleanups);
  await docker.importBusybox(IMAGE);
  agent = await startAgentProcess(untilAfterAll, ['--interval', '500ms']);
  const images = writeBusyboxImages(fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-compat-images-')));
  cleanups.push(() => fs.rmSync(path.dirname(images.rootfsTar), { recursive: true, force: true }));
  // Registered after the agent's teardown, so it runs first (clean-ups run last first).
  cleanups.push(async () => {
    for (const name of ['web', 'made', 'three', 'exec-target']) await run(capstanCommand(['rm', '-f', name]));
  });
  const imported = await run(capstanCommand(['image', 'import', '--name', IMAGE, images.rootfsTar]));
  if (imported.code !== 0) throw new Error(`capstan image import: ${imported.stderrFirstLine}`);
});

test.after.always(() => runCleanups(cleanups));

const run = (command: readonly string[]): Promise<Answer> => runCommandLine(command);
const capstanCommand = (args: readonly string[]): string[] => capstanCommandLine(agent!.stateDir, args);
const dockerCommand = (args: readonly string[]): string[] => dockerCommandLine(docker!, args);

/** Replaces what cannot match between two engines (see the top of the file). */
function normalise(text: string): string {
  return text
    .replace(/\b[0-9a-f]{64}\b/g, '<id>')
    .replace(/\b[0-9a-f]{12}\b/g, '<id12>')
    .replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/g, '<time>')
    .replace(/\b(Up|Exited \(\d+\)) (Less than a second|(About )?(an?|\d+) \w+)( ago)?/g, '$1 <duration>')
    .replace(/failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: /g, '')
    .replace(/OCI runtime exec failed: exec failed: unable to start container process: /g, '')
    // containerd's error class, which its gRPC errors carry at the end.
    .replace(/: unknown(\.?)$/gm, '$1')
    .replace(/\bdocker\b/g, 'capstan')
    .replace(/[ \t]+$/gm, '');
}

function substitute(row: Row, since: number): string[] {
  return row.map((arg) =>
    arg.replace('$IMAGE', IMAGE).replace('$SINCE', String(since)).replace('$UNTIL', String(Math.ceil(Date.now() / 1000))),
  );
}

function show(answer: Answer): string {
  return `exit ${answer.code}\n    stdout: ${JSON.stringify(answer.stdout)}\n    stderr: ${JSON.stringify(answer.stderrFirstLine)}`;
}

/**
 * exec of a command that cannot start: docker 20.10 exits 126 whether it is missing or not
 * executable, and prints the runtime's reason on stdout, CRLF-terminated (runc writes it into the
 * exec's output stream); capstan prints the same words on stderr, where errors go. Exit code and
 * words are compared here; the stream is the one difference (README).
 */
serial('exec of a missing or non-executable command: the exit code and words of docker 20.10', async (t) => {
  t.timeout(5 * 60_000);
  for (const args of [['run', '-d', '--name', 'exec-target', IMAGE, 'sleep', '1000']]) {
    for (const command of [dockerCommand(args), capstanCommand(args)]) t.is((await run(command)).code, 0, command.join(' '));
  }
  for (const args of [['exec', 'exec-target', 'no-such-command'], ['exec', 'exec-target', '/etc/passwd']]) {
    const [fromDocker, fromCapstan] = [await run(dockerCommand(args)), await run(capstanCommand(args))];
    t.is(fromCapstan.code, fromDocker.code, args.join(' '));
    t.is(fromDocker.code, 126);
    t.is(normalise(fromCapstan.stderrFirstLine), normalise(fromDocker.stdout.split('\r\n')[0]!), args.join(' '));
    t.is(fromCapstan.stdout, '');
  }
  for (const command of [dockerCommand(['rm', '-f', 'exec-target']), capstanCommand(['rm', '-f', 'exec-target'])]) await run(command);
});

serial(`capstan and docker 20.10 (${DOCKER_CLI}) give the same stdout, first stderr line and exit code for ${ROWS.length} commands`, async (t) => {
  t.timeout(30 * 60_000);
  t.true(ROWS.length >= 60);
  const version = await run([DOCKER_CLI, '-H', docker!.address, 'version', '--format', '{{.Client.Version}} {{.Server.Version}}']);
  t.regex(version.stdout, /^20\.10\.\S+ 20\.10\./, 'the comparison is with Docker 20.10 (client and engine)');
  t.log(`docker client and engine: ${version.stdout.trim()}`);
  const since = Math.floor(Date.now() / 1000) - 1;
  const differences: string[] = [];
  for (const row of ROWS) {
    const args = substitute(row, since);
    const [fromDocker, fromCapstan] = [await run(dockerCommand(args)), await run(capstanCommand(args))];
    const expected = { stdout: normalise(fromDocker.stdout), stderrFirstLine: normalise(fromDocker.stderrFirstLine), code: fromDocker.code };
    const actual = { stdout: normalise(fromCapstan.stdout), stderrFirstLine: normalise(fromCapstan.stderrFirstLine), code: fromCapstan.code };
    if (expected.stdout !== actual.stdout || expected.stderrFirstLine !== actual.stderrFirstLine || expected.code !== actual.code) {
      differences.push(`${args.join(' ')}\n  docker:  ${show(expected)}\n  capstan: ${show(actual)}`);
    }
  }
  t.deepEqual(differences, [], `${differences.length} of ${ROWS.length} rows differ:\n\n${differences.join('\n\n')}`);
});
