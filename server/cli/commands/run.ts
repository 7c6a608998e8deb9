/**
 * `capstan run [OPTIONS] IMAGE [COMMAND] [ARG...]` (and `capstan run [OPTIONS] -- COMMAND` for the
 * host's filesystem, read-only with a private /tmp). docker run's flags and exit codes: with -d it
 * prints the id; otherwise it streams the container's output (a terminal with -t, stdin with -i)
 * and exits with the container's code. 125 means the agent refused, 126/127 that the command
 * could not be run or found.
 *
 * Also the pieces `create` and `exec` share: the container flags, the create body, and the
 * attached session over the agent's HTTP Upgrade (frames: server/runtime/frames.ts).
 */
import * as fs from 'node:fs';
import { RuntimeError } from '../../runtime/errors';
import { parsePublish } from '../../runtime/request';
import { effectiveCapAddCapDrop } from '../../runtime/security/capabilities';
import { flagBool, flagList, flagString, type FlagSpec, type ParsedArgs } from '../args';
import { AgentRequestError, type AgentClient } from '../client';
import { CliError } from '../errors';
import { encodeControl, encodeFrame, FrameDecoder, parseControl, STREAM_CONTROL, STREAM_STDERR, STREAM_STDIN, STREAM_STDOUT } from '../../runtime/frames';
import { DEFAULT_DETACH_KEYS, DetachKeyFilter, DetachKeysError, parseDetachKeys } from '../detach-keys';
import { containerEnvironment, EnvFileError } from '../environment';
import { checkCpus, checkInt64, checkSize, checkSwapSize } from '../flag-values';
import { DETACH_KEYS_FLAG, HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import { ensureImage, parsePullPolicy } from './pull';
import type { Command, CommandContext } from './types';

/** Flags that describe a container, shared by run and create. */
export const CONTAINER_FLAGS: readonly FlagSpec[] = [
  { name: 'name', kind: 'string', description: 'Assign a name to the container' },
  { name: 'env', short: 'e', kind: 'list', description: 'Set environment variables' },
  { name: 'env-file', kind: 'list', description: 'Read in a file of environment variables' },
  { name: 'workdir', short: 'w', kind: 'string', description: 'Working directory inside the container' },
  { name: 'user', short: 'u', kind: 'string', description: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'group-add', kind: 'list', description: 'Add additional groups to join' },
  { name: 'hostname', kind: 'string', description: 'Container host name' },
  { name: 'entrypoint', kind: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'label', short: 'l', kind: 'list', description: 'Set meta data on a container' },
  { name: 'cpus', kind: 'string', valueName: 'decimal', validate: checkCpus, description: 'Number of CPUs' },
  { name: 'memory', short: 'm', kind: 'string', valueName: 'bytes', validate: checkSize, description: 'Memory limit' },
  { name: 'memory-swap', kind: 'string', valueName: 'bytes', validate: checkSwapSize, description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  { name: 'pids-limit', kind: 'string', valueName: 'int', validate: checkInt64, description: 'Tune container pids limit (set -1 for unlimited)' },
  {
    name: 'publish',
    short: 'p',
    kind: 'list',
    description: "Publish a container's port(s) to the host: [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp] (HOSTIP defaults to 127.0.0.1)",
  },
  { name: 'restart', kind: 'string', description: 'Restart policy to apply when a container exits (no, always, unless-stopped, on-failure[:max-retries])' },
  { name: 'rm', kind: 'bool', description: 'Automatically remove the container when it exits' },
  { name: 'interactive', short: 'i', kind: 'bool', description: 'Keep STDIN open even if not attached' },
  { name: 'tty', short: 't', kind: 'bool', description: 'Allocate a pseudo-TTY' },
  { name: 'cap-add', kind: 'list', description: 'Add Linux capabilities' },
  { name: 'cap-drop', kind: 'list', description: 'Drop Linux capabilities' },
  { name: 'security-opt', kind: 'list', description: 'Security Options (seccomp=unconfined|builtin|PROFILE.json, no-new-privileges)' },
  { name: 'volume', short: 'v', kind: 'list', description: 'Bind mount a volume: HOST-DIR:CONTAINER-DIR[:ro|rw], NAME:CONTAINER-DIR[:ro], or CONTAINER-DIR (anonymous)' },
  { name: 'mount', kind: 'list', description: 'Attach a filesystem mount to the container: type=bind|volume|tmpfs,source=..,target=..[,readonly]' },
  { name: 'tmpfs', kind: 'list', description: 'Mount a tmpfs directory: PATH[:OPTIONS]' },
  { name: 'volumes-from', kind: 'list', description: 'Mount volumes from the specified container(s): CONTAINER[:ro|rw]' },
  { name: 'pull', kind: 'string', description: 'Pull image before running ("always", "missing", "never")' },
  ...HIDDEN_CONNECTION_FLAGS,
];

const RUN_FLAGS: readonly FlagSpec[] = [
  { name: 'detach', short: 'd', kind: 'bool', description: 'Run container in background and print container ID' },
  DETACH_KEYS_FLAG,
  ...CONTAINER_FLAGS,
];

/** The terminal's size, when stdout is one. */
export function terminalSize(): { rows: number; cols: number } | undefined {
  const { rows, columns } = process.stdout;
  return process.stdout.isTTY && rows > 0 && columns > 0 ? { rows, cols: columns } : undefined;
}

/** A bad option value or combination found before any request: docker's words for run and create alike (exit 125). */
function optionError(message: string): CliError {
  return new CliError(runErrorText(message), 125);
}

/**
 * The body of POST /api/v1/containers from run/create arguments. With flags ending at the first
 * argument, the positionals are IMAGE COMMAND...; when they came after a bare `--` (no image
 * before it), the command runs on the host's filesystem.
 */
export function createBody(args: ParsedArgs, rawArgv: readonly string[], env: Readonly<Record<string, string | undefined>>, commandName: string): Record<string, unknown> {
  const positionals = [...args.positionals];
  const hostMode = positionals.length > 0 && rawArgv[rawArgv.length - positionals.length - 1] === '--';
  let image = '';
  if (!hostMode) {
    image = positionals.shift() ?? '';
    if (image === '') throw new CliError(`"capstan ${commandName}" requires at least 1 argument.\nSee 'capstan ${commandName} --help'.`, 1);
    if (positionals[0] === '--') positionals.shift();
  }
  const body: Record<string, unknown> = { image };
  if (positionals.length > 0) body['cmd'] = positionals;
  const entrypoint = flagString(args, 'entrypoint');
  if (entrypoint !== undefined) body['entrypoint'] = entrypoint === '' ? [] : [entrypoint];
  const name = flagString(args, 'name');
  if (name !== undefined) body['name'] = name;
  const environment = environmentOf(args, env, (message) => new CliError(`capstan: ${message}.\nSee 'capstan ${commandName} --help'.`, 125));
  if (environment.length > 0) body['env'] = environment;
  const groupAdd = flagList(args, 'group-add');
  if (groupAdd.length > 0) body['groupAdd'] = groupAdd;
  const labels: Record<string, string> = {};
  for (const label of flagList(args, 'label')) {
    const eq = label.indexOf('=');
    labels[eq === -1 ? label : label.slice(0, eq)] = eq === -1 ? '' : label.slice(eq + 1);
  }
  if (Object.keys(labels).length > 0) body['labels'] = labels;
  const strings: Array<[flag: string, field: string]> = [
    ['workdir', 'workingDir'],
    ['user', 'user'],
    ['hostname', 'hostname'],
    ['cpus', 'cpus'],
    ['memory', 'memory'],
    ['memory-swap', 'memorySwap'],
    ['pids-limit', 'pidsLimit'],
    ['restart', 'restart'],
  ];
  for (const [flag, field] of strings) {
    const value = flagString(args, flag);
    if (value !== undefined) body[field] = value;
  }
  const securityOpt = securityOptionsToSend(flagList(args, 'security-opt'));
  if (securityOpt.length > 0) body['securityOpt'] = securityOpt;
  const { capAdd, capDrop } = effectiveCapAddCapDrop(flagList(args, 'cap-add'), flagList(args, 'cap-drop'));
  if (capAdd.length > 0) body['capAdd'] = capAdd;
  if (capDrop.length > 0) body['capDrop'] = capDrop;
  const mountFlags: Array<[flag: string, field: string]> = [
    ['volume', 'volumes'],
    ['mount', 'mounts'],
    ['tmpfs', 'tmpfs'],
    ['volumes-from', 'volumesFrom'],
  ];
  for (const [flag, field] of mountFlags) {
    const values = flagList(args, flag);
    if (values.length > 0) body[field] = values;
  }
  const publish = flagList(args, 'publish');
  if (publish.length > 0) {
    // docker's CLI parses -p itself ("Invalid containerPort: x"), before any request.
    try {
      parsePublish(publish);
    } catch (error) {
      if (error instanceof RuntimeError) throw optionError(error.message);
      throw error;
    }
    body['publish'] = publish;
  }
  if (flagBool(args, 'rm')) {
    const restart = flagString(args, 'restart');
    if (restart !== undefined && restart !== '' && restart !== 'no') throw optionError('Conflicting options: --restart and --rm');
    body['autoRemove'] = true;
  }
  if (flagBool(args, 'interactive')) body['openStdin'] = true;
  if (flagBool(args, 'tty')) {
    body['tty'] = true;
    const size = terminalSize();
    if (size) body['consoleSize'] = size;
  }
  return body;
}

/**
 * `--env-file` then `-e` (server/cli/environment.ts); a bad file is `refuse(docker's message)`.
 * Bare keys come from `env`, this process's environment.
 */
export function environmentOf(
  args: ParsedArgs,
  env: Readonly<Record<string, string | undefined>>,
  refuse: (message: string) => Error,
  readFile: (file: string) => Buffer = (file) => fs.readFileSync(file),
): string[] {
  try {
    return containerEnvironment(flagList(args, 'env-file'), flagList(args, 'env'), (name) => env[name], readFile);
  } catch (error) {
    if (error instanceof EnvFileError) throw refuse(error.message);
    throw error;
  }
}

/** The detach sequence of an attached session with a terminal: --detach-keys, else docker's ctrl-p,ctrl-q. */
export function detachKeysOf(args: ParsedArgs, refuse: (message: string) => Error): Buffer {
  try {
    return parseDetachKeys(flagString(args, 'detach-keys') || DEFAULT_DETACH_KEYS);
  } catch (error) {
    if (error instanceof DetachKeysError) throw refuse(error.message);
    throw error;
  }
}

/**
 * docker/cli's parseSecurityOpts: each option needs a value (no-new-privileges excepted), and
 * seccomp=FILE is sent as the file's compacted JSON; "unconfined" and "builtin" are names, not files.
 */
export function securityOptionsToSend(options: readonly string[], readFile: (file: string) => string = (file) => fs.readFileSync(file, 'utf8')): string[] {
  return options.map((option) => {
    let at = option.indexOf('=');
    if (at === -1 && option !== 'no-new-privileges') at = option.indexOf(':');
    const key = at === -1 ? option : option.slice(0, at);
    const value = at === -1 ? '' : option.slice(at + 1);
    if (value === '' && key !== 'no-new-privileges') throw new CliError(`invalid --security-opt: ${JSON.stringify(option)}`, 125);
    if (key !== 'seccomp' || value === 'unconfined' || value === 'builtin') return option;
    let text: string;
    try {
      text = readFile(value);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? `open ${value}: no such file or directory` : (error as Error).message;
      throw new CliError(`opening seccomp profile (${value}) failed: ${reason}`, 125);
    }
    try {
      return `seccomp=${JSON.stringify(JSON.parse(text))}`;
    } catch (error) {
      throw new CliError(`compacting json for seccomp profile (${value}) failed: ${(error as Error).message}`, 125);
    }
  });
}

/**
 * docker run's words for a failure (its reportError): the CLI's name, the message, one final
 * full stop: "docker: Error response from daemon: Minimum memory limit allowed is 6MB.".
 */
export function runErrorText(message: string): string {
  return `capstan: ${message.replace(/^capstan: /, '').replace(/\.$/, '')}.`;
}

/** docker run's exit status for an agent refusal: the command's 126/127, else 125. */
export function runFailure(error: unknown): never {
  if (error instanceof AgentRequestError) throw new CliError(runErrorText(error.message), error.commandExitCode ?? 125, { cause: error });
  if (error instanceof CliError) throw new CliError(runErrorText(error.message), 125, { cause: error });
  throw error;
}

/** An error the agent reported inside an attached session, as text for stderr and an exit status. */
export type SessionErrorReport = (message: string, exitCode: number | undefined) => { text: string; exitCode: number };

/** run and start -a: docker run's words, 125 unless the command could not be run (126/127). */
const reportRunError: SessionErrorReport = (message, exitCode) => ({ text: runErrorText(`Error response from daemon: ${message}`), exitCode: exitCode ?? 125 });

export interface SessionOptions {
  tty: boolean;
  /** Relay this process's stdin. */
  stdin: boolean;
  /** Forwarded Ctrl-C / SIGTERM (docker's --sig-proxy), without a tty. */
  onSignal?: (signal: 'SIGINT' | 'SIGTERM') => void;
  /** The request body (run: the create body). */
  body?: unknown;
  /** run: the agent created the container. */
  onCreated?: (id: string, warnings: string[]) => void;
  /** How an error the agent reports is told (default: docker run's). */
  reportError?: SessionErrorReport;
  /**
   * With a terminal on stdin: typing this sequence detaches (the container keeps running, the
   * command exits 0 and prints nothing more, as docker's does).
   */
  detachKeys?: Buffer;
}

/**
 * Runs an attached session over `client.upgrade(path)`: output frames to stdout/stderr, this
 * process's stdin (raw when a terminal) to the container, window sizes on SIGWINCH. Resolves with
 * the exit code the agent reports (125 with its message when it reports an error instead).
 */
export async function runSession(ctx: CommandContext, client: AgentClient, pathAndQuery: string, options: SessionOptions): Promise<number> {
  const socket = await client.upgrade(pathAndQuery, options.body);
  // process.stdin is a getter that builds a stream: only touched when stdin is relayed.
  const stdin = options.stdin ? process.stdin : undefined;
  const rawMode = options.tty && stdin?.isTTY === true;
  const cleanups: Array<() => void> = [];
  return new Promise<number>((resolve) => {
    let exitCode: number | undefined;
    let finished = false;
    let detached = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      for (const cleanup of cleanups.reverse()) cleanup();
      if (detached) exitCode = 0;
      else if (exitCode === undefined) {
        ctx.stderr.write('capstan: the connection to the agent ended before the container did\n');
        exitCode = 125;
      }
      resolve(exitCode);
    };
    const decoder = new FrameDecoder((stream, payload) => {
      if (stream === STREAM_STDOUT) ctx.stdout.write(payload as unknown as string);
      else if (stream === STREAM_STDERR) ctx.stderr.write(payload as unknown as string);
      else if (stream === STREAM_CONTROL) {
        const message = parseControl(payload);
        if (message?.type === 'exit') exitCode ??= message.exitCode;
        else if (message?.type === 'created') options.onCreated?.(message.id, message.warnings);
        else if (message?.type === 'error') {
          const report = (options.reportError ?? reportRunError)(message.message, message.exitCode);
          ctx.stderr.write(`${report.text}\n`);
          exitCode = report.exitCode;
        }
      }
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch {
        socket.destroy();
      }
    });
    socket.once('close', finish);
    socket.on('error', () => socket.destroy());
    socket.resume();

    if (stdin) {
      if (rawMode) {
        stdin.setRawMode(true);
        cleanups.push(() => stdin.setRawMode(false));
      }
      const detachFilter = rawMode && options.detachKeys ? new DetachKeyFilter(options.detachKeys) : undefined;
      const onData = (chunk: Buffer): void => {
        if (detached) return;
        const { forward, detach } = detachFilter ? detachFilter.push(chunk) : { forward: chunk, detach: false };
        if (forward.length > 0) socket.write(encodeFrame(STREAM_STDIN, forward));
        if (detach) {
          // The agent takes a closed session for a client gone: it leaves the container running.
          // Closed once what went before the keys is written.
          detached = true;
          socket.end(() => socket.destroy());
        }
      };
      const onEnd = (): void => {
        socket.write(encodeControl({ type: 'stdin-end' }));
      };
      stdin.on('data', onData);
      stdin.once('end', onEnd);
      cleanups.push(() => {
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        stdin.pause();
      });
    }
    if (options.tty && process.stdout.isTTY) {
      const onResize = (): void => {
        const size = terminalSize();
        if (size) socket.write(encodeControl({ type: 'resize', ...size }));
      };
      process.stdout.on('resize', onResize);
      cleanups.push(() => process.stdout.off('resize', onResize));
    }
    if (!options.tty && options.onSignal) cleanups.push(ctx.onSignal(options.onSignal));
  });
}

function printWarnings(ctx: CommandContext, answer: unknown): void {
  const warnings = (answer as { Warnings?: unknown } | undefined)?.Warnings;
  if (Array.isArray(warnings)) for (const warning of warnings) ctx.stderr.write(`WARNING: ${String(warning)}\n`);
}

/**
 * POST /api/v1/containers; resolves with the new id. A refusal is run's (docker run's words, 125)
 * when the container was to start, else create's: the daemon's answer as it is, exit 1.
 */
export async function createContainer(ctx: CommandContext, client: AgentClient, body: Record<string, unknown>, start: boolean): Promise<string> {
  let answer: unknown;
  try {
    answer = await client.call('POST', `/api/v1/containers${start ? '?start=1' : ''}`, { body, timeoutMs: 120_000 });
  } catch (error) {
    if (start) runFailure(error);
    throw error;
  }
  printWarnings(ctx, answer);
  const id = (answer as { Id?: unknown } | undefined)?.Id;
  if (typeof id !== 'string') throw new CliError('capstan: unexpected answer from the agent: no container id', 125);
  return id;
}

async function runRun(ctx: CommandContext, args: ParsedArgs, rawArgv: readonly string[]): Promise<number> {
  const body = createBody(args, rawArgv, ctx.env, 'run');
  // Checked before anything is created (docker warns and goes on with its default; see README).
  const detachKeys = detachKeysOf(args, (message) => optionError(message));
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  await ensureImage(ctx, client, String(body['image']), parsePullPolicy(flagString(args, 'pull')));
  if (flagBool(args, 'detach')) {
    const id = await createContainer(ctx, client, body, true);
    ctx.stdout.write(`${id}\n`);
    return 0;
  }
  // One request: create, start and attach (the agent writes spec.json while the container starts).
  const tty = body['tty'] === true;
  const size = terminalSize();
  const query = new URLSearchParams();
  if (tty && size) {
    query.set('rows', String(size.rows));
    query.set('cols', String(size.cols));
  }
  let id: string | undefined;
  try {
    return await runSession(ctx, client, `/api/v1/containers/run${query.size > 0 ? `?${query}` : ''}`, {
      tty,
      stdin: body['openStdin'] === true,
      detachKeys,
      body,
      onCreated: (created, warnings) => {
        id = created;
        for (const warning of warnings) ctx.stderr.write(`WARNING: ${warning}\n`);
      },
      onSignal: (signal) => {
        if (id !== undefined) void client.call('POST', `/api/v1/containers/${id}/kill?signal=${signal}`).catch(() => undefined);
      },
    });
  } catch (error) {
    runFailure(error);
  }
}

export const runCommand: Command = {
  name: 'run',
  summary: 'Create and run a new container from an image (or, after --, on the host filesystem)',
  usage: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]\n        capstan run [OPTIONS] -- COMMAND [ARG...]',
  flags: RUN_FLAGS,
  flagsEndAtFirstArgument: true,
  run: (ctx, args, rawArgv) => runRun(ctx, args, rawArgv),
};

/**
 * docker's way with several containers (stop a b c): act on each in turn, print each reference
 * that worked, report each failure on stderr, and fail (1) if any did.
 */
export async function eachContainer(
  ctx: CommandContext,
  references: readonly string[],
  commandName: string,
  act: (reference: string) => Promise<string | undefined>,
): Promise<number> {
  if (references.length === 0) {
    throw new CliError(`"capstan ${commandName}" requires at least 1 argument.\nSee 'capstan ${commandName} --help'.`, 1);
  }
  let failed = false;
  for (const reference of references) {
    try {
      const output = await act(reference);
      if (output !== undefined) ctx.stdout.write(`${output}\n`);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      ctx.stderr.write(`${error.message}\n`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

/** A reference as a URL path segment. */
export function containerPath(reference: string): string {
  return `/api/v1/containers/${encodeURIComponent(reference)}`;
}
