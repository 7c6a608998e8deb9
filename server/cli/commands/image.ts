/**
 * `capstan image import|ls|rm`: the agent's image store, from the terminal.
 *
 *   capstan image import [--name NAME[:TAG]] [-c INSTRUCTION]... [-m MSG] FILE|DIRECTORY   a rootfs tarball (gzip or not), a
 *       `docker save` archive or an OCI image layout (tar or directory); uploaded to the agent,
 *       with a progress bar on a terminal
 *   capstan image ls [-a] [-q] [--no-trunc] [--digests] [-f FILTER] [--format F] [REPO[:TAG]]
 *       REPOSITORY TAG IMAGE ID CREATED SIZE (also `capstan images`)
 *   capstan image inspect [-f FORMAT] IMAGE [IMAGE...]         docker's image inspect document
 *   capstan image rm [-f] IMAGE [IMAGE...]                     refused while a container uses it
 *   capstan image tag SOURCE TARGET, image save [-o FILE] IMAGE..., image history IMAGE   as
 *       `tag`, `save` and `history`
 *   capstan image prune [-a] [-f]    dangling images (-a: every image no container uses)
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import type { ImageRecord, ImportProgress, RemoveResult } from '../../runtime/images';
import { packDirectoryStream } from '../../runtime/images/pack';
import { flagBool, flagList, flagString, parseArgs, type FlagSpec, type ParsedArgs } from '../args';
import { DEFAULT_IMAGES_TABLE_FORMAT, DIGESTS_IMAGES_TABLE_FORMAT, IMAGE_COLUMNS, IMAGE_COLUMN_REGISTRY, ImageFilterError, imageRows, parseImageFilters, type ImageRow } from '../columns/images';
import { truncateId } from '../columns/column';
import { describeNetworkError, type AgentClient } from '../client';
import { CliError } from '../errors';
import { readNdjsonLines } from '../ndjson-response';
import { compileListingFormat } from '../format/listing';
import { humanSize } from '../format/units';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags, formatFlagDescription } from './common';
import { INSPECT_FORMAT_FLAG, runInspectOf } from './inspect';
import { compileFormatOrFail, writeListing } from './listing-output';
import { HISTORY_FLAGS, runHistory } from './history';
import { refusalOf } from './refusal';
import { saveCommand } from './save';
import { runTag } from './tag';
import type { Command, CommandContext, OutputStream } from './types';

const FLAGS: readonly FlagSpec[] = [
  { name: 'name', kind: 'string', description: 'import: name the image NAME[:TAG] (default: the names in the archive)' },
  { name: 'change', short: 'c', kind: 'list', description: 'import: apply Dockerfile instruction to the created image (a root filesystem tarball)' },
  { name: 'message', short: 'm', kind: 'string', description: 'import: set commit message for imported image' },
  { name: 'quiet', short: 'q', kind: 'bool', description: 'ls: only show image IDs' },
  { name: 'no-trunc', kind: 'bool', description: "ls: don't truncate output" },
  { name: 'force', short: 'f', kind: 'bool', description: 'rm: remove an image that has several names by its ID' },
  ...HIDDEN_CONNECTION_FLAGS,
];

const USAGE = `Usage:  capstan image COMMAND

Commands:
  history  Show the history of an image
  import   Import an image from a rootfs tarball, a docker save archive or an OCI image layout
  inspect  Display detailed information on one or more images
  load     Load an image from a tar archive or STDIN
  ls       List images
  prune    Remove unused images
  pull     Download an image from a registry
  push     Push an image or a repository to a registry
  rm       Remove one or more images
  save     Save one or more images to a tar archive (streamed to STDOUT by default)
  tag      Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE`;

/* ---- progress bar ---- */

/** Width of docker's progress bar. Units: characters. */
const BAR_WIDTH = 50;
/** Redraw at most this often. Units: milliseconds. */
const REDRAW_MS = 100;

/** docker's "[=====>     ]  12.3MB/45.6MB", redrawn in place on a terminal, silent otherwise. */
export function progressLine(label: string, currentBytes: number, totalBytes: number | undefined): string {
  if (totalBytes === undefined || totalBytes <= 0) return `${label}  ${humanSize(currentBytes)}`;
  const fraction = Math.min(1, currentBytes / totalBytes);
  const filled = Math.floor(fraction * BAR_WIDTH);
  const bar = filled >= BAR_WIDTH ? '='.repeat(BAR_WIDTH) : '='.repeat(filled) + '>' + ' '.repeat(BAR_WIDTH - filled - 1);
  return `${label} [${bar}]  ${humanSize(currentBytes)}/${humanSize(totalBytes)}`;
}

class ProgressBar {
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly out: OutputStream) {}

  update(label: string, currentBytes: number, totalBytes: number | undefined, force = false): void {
    if (!this.out.isTTY) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    this.out.write(`\r\x1b[2K${progressLine(label, currentBytes, totalBytes)}`);
    this.drawn = true;
  }

  /** Leaves the last drawn bar on its own line. */
  finish(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}

const PHASE_LABELS: Record<ImportProgress['phase'], string> = { receive: 'Storing', decompress: 'Decompressing', extract: 'Loading layers' };

/* ---- import ---- */

interface Upload {
  body: Readable;
  totalBytes: number;
}

function openUpload(file: string): Upload {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(`capstan: open ${file}: ${code === 'ENOENT' ? 'no such file or directory' : (code ?? (error as Error).message)}`);
  }
  if (stat.isDirectory()) {
    if (!fs.existsSync(`${file}/oci-layout`)) throw new CliError(`capstan: ${file} is a directory but not an OCI image layout (no oci-layout file)`);
    const packed = packDirectoryStream(file);
    return { body: packed.stream, totalBytes: packed.totalBytes };
  }
  return { body: fs.createReadStream(file, { highWaterMark: 256 * 1024 }), totalBytes: stat.size };
}

/** Reads the agent's answer: NDJSON progress lines, then {"images"} or {"error"}. */
function readAnswer(response: http.IncomingMessage, bar: ProgressBar): Promise<ImageRecord[]> {
  return new Promise((resolve, reject) => {
    let result: ImageRecord[] | undefined;
    let failure: CliError | undefined;
    const handle = (line: string): void => {
      if (line.trim() === '') return;
      let message: { progress?: ImportProgress; images?: ImageRecord[]; error?: { code?: string; message?: string } };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        failure = new CliError(`capstan: unexpected answer from the agent: ${line.slice(0, 200)}`);
        return;
      }
      if (message.progress) {
        const p = message.progress;
        const label = p.phase === 'extract' && p.layer !== undefined ? `${PHASE_LABELS.extract} (${p.layer}/${p.layers})` : PHASE_LABELS[p.phase];
        bar.update(label, p.currentBytes, p.totalBytes, p.currentBytes === p.totalBytes);
      } else if (message.images) {
        result = message.images;
      } else if (message.error) {
        failure = new CliError(`Error response from daemon: ${message.error.message ?? 'import failed'}`, 1, message.error.code ? { apiCode: message.error.code } : {});
      }
    };
    readNdjsonLines(
      response,
      handle,
      () => {
        if (failure) reject(failure);
        else if ((response.statusCode ?? 500) >= 400) reject(new CliError(`Error response from daemon: ${response.statusCode} ${response.statusMessage ?? ''}`.trimEnd()));
        else if (result) resolve(result);
        else reject(new CliError('capstan: the agent ended the import without a result'));
      },
      reject,
    );
  });
}

/**
 * Uploads FILE to the agent's store and prints docker load's lines (`load` uses it too); `changes`
 * and `message` are docker import's --change and --message.
 */
export async function importImage(
  ctx: CommandContext,
  client: AgentClient,
  file: string,
  name: string | undefined,
  options: { quiet?: boolean; changes?: readonly string[]; message?: string | undefined } = {},
): Promise<number> {
  const upload = openUpload(file);
  const { endpoint } = client;
  const query = new URLSearchParams();
  if (name !== undefined) query.set('name', name);
  if (options.message !== undefined) query.set('message', options.message);
  for (const change of options.changes ?? []) query.append('changes', change);
  const url = new URL(`${endpoint.url.replace(/\/+$/, '')}/api/v1/images${query.size > 0 ? `?${query.toString()}` : ''}`);
  const headers: Record<string, string> = {
    'content-type': 'application/x-tar',
    'content-length': String(upload.totalBytes),
    accept: 'application/x-ndjson',
  };
  if (endpoint.token !== undefined) headers['authorization'] = `Bearer ${endpoint.token}`;
  const bar = new ProgressBar(options.quiet ? { write: () => true } : ctx.stdout);
  const transport = url.protocol === 'https:' ? https : http;

  const images = await new Promise<ImageRecord[]>((resolve, reject) => {
    const request = transport.request(url, { method: 'POST', headers });
    let sent = 0;
    upload.body.on('data', (chunk: Buffer | string) => {
      sent += chunk.length;
      bar.update('Uploading', sent, upload.totalBytes, sent === upload.totalBytes);
    });
    upload.body.on('error', (error) => {
      request.destroy(error);
      reject(new CliError(`capstan: reading ${file}: ${error.message}`));
    });
    request.on('error', (error) => reject(new CliError(`capstan: cannot reach the agent at ${endpoint.url}: ${describeNetworkError(error)}`, 1, { cause: error })));
    request.on('response', (response) => {
      const type = response.headers['content-type'] ?? '';
      if ((response.statusCode ?? 500) >= 400 && !type.includes('ndjson')) {
        // A refusal before the import began (401, 403, 415, a bad name): one JSON error document.
        void refusalOf(response).then((refusal) => {
          upload.body.destroy();
          reject(refusal);
        });
        return;
      }
      readAnswer(response, bar).then(resolve, reject);
    });
    upload.body.pipe(request);
  }).finally(() => bar.finish());

  for (const image of images) {
    if (image.repoTags.length === 0) ctx.stdout.write(`Loaded image ID: ${image.id}\n`);
    for (const tag of image.repoTags) ctx.stdout.write(`Loaded image: ${tag}\n`);
  }
  return 0;
}

/* ---- ls (and `capstan images`) ---- */

/** The flags of `image ls` / `images`, docker's. */
export const IMAGES_FLAGS: readonly FlagSpec[] = [
  { name: 'all', short: 'a', kind: 'bool', description: 'Show all images (default hides intermediate images; capstan has none)' },
  { name: 'digests', kind: 'bool', description: 'Show digests' },
  { name: 'filter', short: 'f', kind: 'list', valueName: 'filter', description: 'Filter output based on conditions provided (dangling, reference, before, since, label)' },
  { name: 'format', kind: 'string', description: formatFlagDescription(IMAGE_COLUMNS.map((c) => c.field)) },
  { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
  { name: 'quiet', short: 'q', kind: 'bool', description: 'Only show image IDs' },
  ...HIDDEN_CONNECTION_FLAGS,
];

const IMAGES_SPEC = { columns: IMAGE_COLUMN_REGISTRY, defaultTable: DEFAULT_IMAGES_TABLE_FORMAT, typeName: '*formatter.imageContext' };

/** docker image ls' default table (one row per name; dangling images as <none>). Pure. */
export function formatImageTable(images: readonly ImageRecord[], nowMs: number, options: { trunc: boolean; quiet: boolean }): string {
  const rows = imageRows(images, new Map(), undefined, () => undefined);
  if (options.quiet) return [...new Set(rows.map((row) => (options.trunc ? truncateId(row.image.id) : row.image.id)))].map((id) => `${id}\n`).join('');
  return compileListingFormat(DEFAULT_IMAGES_TABLE_FORMAT, IMAGES_SPEC).render(rows, { trunc: options.trunc, nowMs });
}

/** `docker images [OPTIONS] [REPOSITORY[:TAG]]`. */
export async function listImages(ctx: CommandContext, args: ParsedArgs, usageName: string): Promise<number> {
  if (args.positionals.length > 1) {
    throw new CliError(`"capstan ${usageName}" requires at most 1 argument.\nSee 'capstan ${usageName} --help'.\n\nUsage:  capstan ${usageName} [OPTIONS] [REPOSITORY[:TAG]]\n\nList images`, 1);
  }
  const trunc = !flagBool(args, 'no-trunc');
  const quiet = flagBool(args, 'quiet');
  const formatFlag = flagString(args, 'format');
  let filters: Map<string, string[]>;
  try {
    filters = parseImageFilters(flagList(args, 'filter'));
  } catch (error) {
    if (error instanceof ImageFilterError) throw new CliError(`Error response from daemon: ${error.message}`, 1);
    throw error;
  }
  let format: ReturnType<typeof compileFormatOrFail<ImageRow>> | undefined;
  if (!quiet) {
    const table = flagBool(args, 'digests') ? DIGESTS_IMAGES_TABLE_FORMAT : DEFAULT_IMAGES_TABLE_FORMAT;
    format = compileFormatOrFail(formatFlag === undefined || formatFlag === '' || formatFlag === 'table' ? table : formatFlag, { ...IMAGES_SPEC, defaultTable: table });
  }
  const client = ctx.connect(connectionFlags(ctx.connection, args));
  const body = (await client.getJson('/api/v1/images')) as { images?: ImageRecord[] };
  if (!Array.isArray(body.images)) throw new CliError('capstan: unexpected answer from the agent: no "images" list');
  const images = body.images;
  let rows: ImageRow[];
  try {
    rows = imageRows(images, filters, args.positionals[0], (reference) => images.find((image) => image.id === reference || image.id.startsWith(`sha256:${reference}`) || image.repoTags.includes(reference.includes(':') ? reference : `${reference}:latest`)));
  } catch (error) {
    if (error instanceof ImageFilterError) throw new CliError(`Error response from daemon: ${error.message}`, 1);
    throw error;
  }
  if (quiet) {
    // One line per image, not per name.
    const ids = [...new Set(rows.map((row) => (trunc ? truncateId(row.image.id) : row.image.id)))];
    ctx.stdout.write(ids.map((id) => `${id}\n`).join(''));
    return 0;
  }
  return writeListing(ctx, rows, format, trunc, (row) => row.image.id);
}

/* ---- rm ---- */

async function removeImages(ctx: CommandContext, client: AgentClient, references: string[], force: boolean): Promise<number> {
  let status = 0;
  for (const reference of references) {
    try {
      const result = (await client.requestJson('DELETE', `/api/v1/images/${encodeURIComponent(reference)}${force ? '?force=1' : ''}`)) as RemoveResult;
      for (const tag of result.untagged ?? []) ctx.stdout.write(`Untagged: ${tag}\n`);
      for (const id of result.deleted ?? []) ctx.stdout.write(`Deleted: ${id}\n`);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      ctx.stderr.write(`${error.message}\n`);
      status = 1;
    }
  }
  return status;
}

/** `load`'s flags (here, where `image load` finds them too). */
export const LOAD_FLAGS: readonly FlagSpec[] = [
  { name: 'input', short: 'i', kind: 'string', description: 'Read from tar archive file, instead of STDIN' },
  { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress the load output' },
  ...HIDDEN_CONNECTION_FLAGS,
];

/* ---- prune ---- */

const PRUNE_FLAGS: readonly FlagSpec[] = [
  { name: 'all', short: 'a', kind: 'bool', description: 'Remove all unused images, not just dangling ones' },
  { name: 'force', short: 'f', kind: 'bool', description: 'Do not prompt for confirmation' },
  ...HIDDEN_CONNECTION_FLAGS,
];

/** One line of stdin (the answer to a prompt); '' at its end. */
function readAnswerLine(): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      if (text.includes('\n')) done();
    };
    const done = (): void => {
      process.stdin.off('data', onData);
      process.stdin.off('end', done);
      process.stdin.pause();
      resolve(text.split('\n')[0]!.trim());
    };
    process.stdin.on('data', onData);
    process.stdin.on('end', done);
    process.stdin.resume();
  });
}

/** docker image prune's prompt, lines and total. */
async function pruneImages(ctx: CommandContext, client: AgentClient, args: ParsedArgs): Promise<number> {
  const all = flagBool(args, 'all');
  if (!flagBool(args, 'force')) {
    const warning = all ? 'WARNING! This will remove all images without at least one container associated to them.' : 'WARNING! This will remove all dangling images.';
    ctx.stdout.write(`${warning}\nAre you sure you want to continue? [y/N] `);
    if (!['y', 'Y', 'yes', 'YES', 'Yes'].includes(await readAnswerLine())) return 0;
  }
  const query = all ? `?filters=${encodeURIComponent(JSON.stringify({ dangling: ['false'] }))}` : '';
  const result = (await client.requestJson('POST', `/api/v1/images/prune${query}`)) as { ImagesDeleted?: Array<{ Untagged?: string; Deleted?: string }>; SpaceReclaimed?: number };
  const lines = (result.ImagesDeleted ?? []).map((item) => (item.Untagged !== undefined ? `untagged: ${item.Untagged}` : `deleted: ${item.Deleted}`));
  if (lines.length > 0) ctx.stdout.write(`Deleted Images:\n${lines.map((line) => `${line}\n`).join('')}\n`);
  ctx.stdout.write(`Total reclaimed space: ${humanSize(result.SpaceReclaimed ?? 0)}\n`);
  return 0;
}

/** Each subcommand's own flags (`image inspect -f` is a format, `image rm -f` is force), as docker's. */
const SUBCOMMAND_FLAGS: Readonly<Record<string, readonly FlagSpec[]>> = {
  import: [FLAGS[0]!, ...FLAGS.filter((flag) => flag.name === 'change' || flag.name === 'message'), ...HIDDEN_CONNECTION_FLAGS],
  load: LOAD_FLAGS,
  ls: IMAGES_FLAGS,
  list: IMAGES_FLAGS,
  rm: [FLAGS.find((flag) => flag.name === 'force')!, ...HIDDEN_CONNECTION_FLAGS],
  remove: [FLAGS.find((flag) => flag.name === 'force')!, ...HIDDEN_CONNECTION_FLAGS],
  inspect: [INSPECT_FORMAT_FLAG, ...HIDDEN_CONNECTION_FLAGS],
  tag: HIDDEN_CONNECTION_FLAGS,
  save: saveCommand.flags,
  history: HISTORY_FLAGS,
  prune: PRUNE_FLAGS,
};

async function runImage(ctx: CommandContext, outer: ParsedArgs): Promise<number> {
  const [subcommand, ...given] = outer.positionals;
  // Flags end at the subcommand (flagsEndAtFirstArgument): what follows is parsed with its own flags.
  const sub = subcommand !== undefined && SUBCOMMAND_FLAGS[subcommand] ? parseArgs(given, [...SUBCOMMAND_FLAGS[subcommand]!, { name: 'help', kind: 'bool', description: '' }]) : { flags: new Map(), positionals: given };
  const args: ParsedArgs = { flags: new Map([...outer.flags, ...sub.flags]), positionals: sub.positionals };
  const rest = args.positionals;
  const client = (): AgentClient => ctx.connect(connectionFlags(ctx.connection, args));
  switch (subcommand) {
    case 'load':
      // Loaded on use: load.ts imports this module (importImage).
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return (require('./load') as typeof import('./load')).runLoad(ctx, args, 'image load');
    case 'import': {
      if (rest.length !== 1) throw new CliError(`"capstan image import" requires exactly 1 argument.\nSee 'capstan image --help'.\n\nUsage:  capstan image import [--name NAME[:TAG]] FILE|DIRECTORY`, 1);
      return importImage(ctx, client(), rest[0]!, flagString(args, 'name'), { changes: flagList(args, 'change'), ...(flagString(args, 'message') !== undefined ? { message: flagString(args, 'message')! } : {}) });
    }
    case 'ls':
    case 'list':
      return listImages(ctx, args, 'image ls');
    case 'inspect':
      return runInspectOf(ctx, args, 'image', 'image inspect');
    case 'tag':
      return runTag(ctx, args, 'image tag');
    case 'save':
      return saveCommand.run(ctx, args, []);
    case 'history':
      return runHistory(ctx, args, 'image history');
    case 'pull':
    case 'push': {
      // Loaded on use: pull.ts imports this module (progressLine), and push.ts pull.ts.
      /* eslint-disable @typescript-eslint/no-require-imports */
      if (subcommand === 'push') {
        const push = require('./push') as typeof import('./push');
        const own = parseArgs(given, [...push.PUSH_FLAGS, { name: 'help', kind: 'bool', description: '' }]);
        return push.runPush(ctx, { flags: new Map([...outer.flags, ...own.flags]), positionals: own.positionals }, 'image push');
      }
      const { pullCommand } = require('./pull') as typeof import('./pull');
      /* eslint-enable @typescript-eslint/no-require-imports */
      const own = parseArgs(given, [...pullCommand.flags, { name: 'help', kind: 'bool', description: '' }]);
      return pullCommand.run(ctx, { flags: new Map([...outer.flags, ...own.flags]), positionals: own.positionals }, []);
    }
    case 'prune':
      if (rest.length > 0) throw new CliError(`"capstan image prune" accepts no arguments.\nSee 'capstan image prune --help'.\n\nUsage:  capstan image prune [OPTIONS]\n\nRemove unused images`, 1);
      return pruneImages(ctx, client(), args);
    case 'rm':
    case 'remove': {
      if (rest.length === 0) throw new CliError(`"capstan image rm" requires at least 1 argument.\nSee 'capstan image --help'.\n\nUsage:  capstan image rm [-f] IMAGE [IMAGE...]`, 1);
      return removeImages(ctx, client(), rest, flagBool(args, 'force'));
    }
    case undefined:
      ctx.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new CliError(`capstan image: unknown command "${subcommand}"\n\n${USAGE}`, 1);
  }
}

export const imageCommand: Command = {
  name: 'image',
  summary: 'Manage images (import, ls, inspect, rm, tag, save, history, prune, pull, push)',
  usage: 'image COMMAND [OPTIONS] [ARG...]',
  flags: FLAGS,
  flagsEndAtFirstArgument: true,
  run: (ctx, args) => runImage(ctx, args),
};
