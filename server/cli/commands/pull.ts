/**
 * `capstan pull [--platform P] [-q] NAME[:TAG|@DIGEST]`: the agent pulls from the registry the name
 * gives (POST /api/v1/images/pull); the CLI passes the credentials `capstan login` stored for that
 * registry in X-Registry-Auth, as docker does, and prints docker's progress: one line per layer,
 * redrawn in place on a terminal; the status changes only, otherwise.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { ImageRecord } from '../../runtime/images';
import type { PullEvent } from '../../registry/pull';
import { parseRemoteReference } from '../../registry/reference';
import { RegistryError } from '../../registry/errors';
import { flagBool, flagString, type ParsedArgs } from '../args';
import { describeNetworkError, type AgentClient } from '../client';
import { CliError } from '../errors';
import { readNdjsonLines } from '../ndjson-response';
import { configPath, credentialsFor, readConfig } from '../registry-config';
import { progressLine } from './image';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import type { Command, CommandContext, OutputStream } from './types';

/** Statuses that carry byte counts: drawn on a terminal, skipped otherwise (as docker does). */
const PROGRESS_STATUSES = new Set(['Downloading', 'Extracting', 'Pushing']);

/** Per-layer lines of a pull or a push, redrawn in place on a terminal. */
export class RegistryProgressDisplay {
  private readonly order: string[] = [];
  private readonly lastStatus = new Map<string, string>();

  constructor(
    private readonly out: OutputStream,
    private readonly quiet: boolean,
  ) {}

  event(event: PullEvent): void {
    if (this.quiet) return;
    if (event.id === undefined) {
      this.out.write(`${event.status}\n`);
      return;
    }
    const text = PROGRESS_STATUSES.has(event.status) && event.current !== undefined ? progressLine(`${event.id}: ${event.status}`, event.current, event.total) : `${event.id}: ${event.status}`;
    if (!this.out.isTTY) {
      if (PROGRESS_STATUSES.has(event.status) || this.lastStatus.get(event.id) === event.status) return;
      this.lastStatus.set(event.id, event.status);
      this.out.write(`${text}\n`);
      return;
    }
    const index = this.order.indexOf(event.id);
    if (index === -1) {
      this.order.push(event.id);
      this.out.write(`${text}\n`);
      return;
    }
    const up = this.order.length - index;
    this.out.write(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
  }
}

export function encodeRegistryAuth(credentials: { username: string; password: string }): string {
  return Buffer.from(JSON.stringify(credentials)).toString('base64url');
}

/** Asks the agent to pull `name`; prints docker's lines; resolves with the image. Also used by `run --pull`. */
export async function pullThroughAgent(ctx: CommandContext, client: AgentClient, name: string, options: { platform?: string; quiet?: boolean }): Promise<ImageRecord> {
  const query = new URLSearchParams({ reference: name, ...(options.platform ? { platform: options.platform } : {}) });
  const display = new RegistryProgressDisplay(ctx.stdout, options.quiet === true);
  return registryStream<ImageRecord>(ctx, client, name, `/api/v1/images/pull?${query.toString()}`, (message) => {
    if (message.pull) display.event(message.pull);
    return message.images?.[0];
  });
}

/** The registry host a name pulls from or pushes to; a malformed name is the CLI's error. Pure. */
export function registryOfName(name: string): string {
  try {
    return parseRemoteReference(name).registry;
  } catch (error) {
    if (error instanceof RegistryError) throw new CliError(error.message, 1);
    throw error;
  }
}

/** A line of the agent's pull or push answer. */
export interface RegistryStreamMessage {
  pull?: PullEvent;
  push?: PullEvent;
  images?: ImageRecord[];
  pushed?: { tag: string; digest: string; manifestBytes: number };
  error?: { code?: string; message?: string };
}

/**
 * POSTs a pull or push of `name` to the agent with the credentials `capstan login` stored for the
 * name's registry (X-Registry-Auth, as docker sends them), hands each NDJSON line to `onMessage`,
 * and resolves with the first result it returns; a malformed name, or an {"error"} line, rejects
 * with the words to print.
 */
export async function registryStream<T>(ctx: CommandContext, client: AgentClient, name: string, pathAndQuery: string, onMessage: (message: RegistryStreamMessage) => T | undefined): Promise<T> {
  const registry = registryOfName(name);
  const credentials = credentialsFor(readConfig(configPath(ctx.env)), registry);
  const { endpoint } = client;
  const url = new URL(`${endpoint.url.replace(/\/+$/, '')}${pathAndQuery}`);
  const headers: Record<string, string> = { accept: 'application/x-ndjson' };
  if (endpoint.token !== undefined) headers['authorization'] = `Bearer ${endpoint.token}`;
  if (credentials) headers['x-registry-auth'] = encodeRegistryAuth(credentials);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<T>((resolve, reject) => {
    const request = transport.request(url, { method: 'POST', headers });
    request.on('error', (error) => reject(new CliError(`capstan: cannot reach the agent at ${endpoint.url}: ${describeNetworkError(error)}`, 1, { cause: error })));
    request.on('response', (response) => {
      let result: T | undefined;
      let failure: CliError | undefined;
      const handle = (line: string): void => {
        if (line.trim() === '') return;
        let message: RegistryStreamMessage;
        try {
          message = JSON.parse(line) as RegistryStreamMessage;
        } catch {
          failure = new CliError(`capstan: unexpected answer from the agent: ${line.slice(0, 200)}`);
          return;
        }
        if (message.error) failure = new CliError(`Error response from daemon: ${message.error.message ?? 'the registry request failed'}`, 1, message.error.code ? { apiCode: message.error.code } : {});
        else result = onMessage(message) ?? result;
      };
      readNdjsonLines(
        response,
        handle,
        () => {
          if (failure) reject(failure);
          else if (result) resolve(result);
          else reject(new CliError(`Error response from daemon: ${response.statusCode} ${response.statusMessage ?? ''}`.trimEnd()));
        },
        reject,
      );
    });
    request.end();
  });
}

async function runPull(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  if (args.positionals.length !== 1) {
    throw new CliError(`"capstan pull" requires exactly 1 argument.\nSee 'capstan pull --help'.\n\nUsage:  capstan pull [OPTIONS] NAME[:TAG|@DIGEST]\n\nDownload an image from a registry`, 1);
  }
  const name = args.positionals[0]!;
  const quiet = flagBool(args, 'quiet');
  const platform = flagString(args, 'platform');
  await pullThroughAgent(ctx, ctx.connect(connectionFlags(ctx.connection, args)), name, { ...(platform ? { platform } : {}), quiet });
  if (quiet) ctx.stdout.write(`${name}\n`);
  return 0;
}

export const pullCommand: Command = {
  name: 'pull',
  summary: 'Download an image from a registry',
  usage: 'pull [OPTIONS] NAME[:TAG|@DIGEST]',
  flags: [
    { name: 'platform', kind: 'string', description: 'Set platform if server is multi-platform capable (OS/ARCH[/VARIANT])' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress verbose output' },
    ...HIDDEN_CONNECTION_FLAGS,
  ],
  run: (ctx, args) => runPull(ctx, args),
};

/* ---- run/create --pull ---- */

/**
 * docker's --pull values, and `default` when none is given: docker's default is `missing`; here it
 * is `missing` for names with a registry host (`127.0.0.1:5000/app`) and `never` for bare names,
 * which used to mean an imported image only and would otherwise send every typo to Docker Hub.
 */
export type PullPolicy = 'always' | 'missing' | 'never' | 'default';

/** Pure. */
export function parsePullPolicy(value: string | undefined): PullPolicy {
  if (value === undefined) return 'default';
  if (value === 'always' || value === 'missing' || value === 'never') return value;
  throw new CliError(`invalid pull option: '${value}': must be one of "always", "missing" or "never"`, 125);
}

/** `busybox` → `busybox:latest`, as docker names it in "Unable to find image". Pure. */
function withDefaultTag(image: string): string {
  const slash = image.lastIndexOf('/');
  return image.includes('@') || image.lastIndexOf(':') > slash ? image : `${image}:latest`;
}

/**
 * Before run/create: pulls `image` per `policy`, the progress on stderr (stdout is the container's).
 * `missing` pulls only when the agent has no such image, and only names a registry can serve:
 * an image ID or a name the store has is left alone.
 */
export async function ensureImage(ctx: CommandContext, client: AgentClient, image: string, policy: PullPolicy): Promise<void> {
  if (image === '' || policy === 'never') return;
  if (policy === 'default') {
    let explicitRegistry = false;
    try {
      explicitRegistry = parseRemoteReference(image).registry !== parseRemoteReference('x').registry;
    } catch {
      return; // not a registry name: create answers for it
    }
    if (!explicitRegistry) return;
  }
  if (policy !== 'always') {
    try {
      await client.getJson(`/api/v1/images/${encodeURIComponent(image)}`);
      return;
    } catch (error) {
      if (!(error instanceof CliError) || error.apiCode !== 'no_such_image') throw error;
    }
    if (/^(sha256:)?[0-9a-f]{12,64}$/.test(image)) return; // an ID: nothing to pull; create says "No such image"
    ctx.stderr.write(`Unable to find image '${withDefaultTag(image)}' locally\n`);
  }
  const errorContext: CommandContext = { ...ctx, stdout: ctx.stderr };
  try {
    await pullThroughAgent(errorContext, client, image, {});
  } catch (error) {
    if (error instanceof CliError) throw new CliError(error.message, 125, error.apiCode !== undefined ? { apiCode: error.apiCode } : {});
    throw error;
  }
}
