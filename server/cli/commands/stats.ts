/**
 * `capstan stats [OPTIONS] [CONTAINER...]`: docker stats for every cgroup capstan tracks.
 *
 * Same flags, columns, formats and refresh behaviour as docker stats, with one difference that
 * follows from the design: the agent already holds the previous sample, so the first frame (and
 * --no-stream) is meaningful at once instead of after a second.
 *
 * Streaming: on a terminal the frame is redrawn in place every 500 ms from data polled once per
 * second; into a pipe or file, a plain frame is printed once per new agent sample.
 */
import { flagBool, flagString, type FlagSpec, type ParsedArgs } from '../args';
import type { ContainerEntry } from '../client';
import type { RenderOptions } from '../columns/column';
import { DEFAULT_STATS_TABLE_FORMAT, STATS_COLUMNS, STATS_COLUMN_REGISTRY, type StatsRow } from '../columns/stats';
import { CliError } from '../errors';
import { FormatError, compileListingFormat, type ListingFormat } from '../format/listing';
import { CLEAR_SCREEN, ttyFrame } from '../format/screen';
import { findContainers } from '../match';
import { HIDDEN_CONNECTION_FLAGS, byNameThenId, connectionFlags, formatFlagDescription } from './common';
import type { Command, CommandContext } from './types';

const FLAGS: readonly FlagSpec[] = [
  { name: 'all', short: 'a', kind: 'bool', description: 'Show all cgroups (default shows just containers)' },
  { name: 'interactive', short: 'i', kind: 'bool', description: 'Full-screen live view: sort, filter, drill down, change limits (not in docker)' },
  { name: 'format', kind: 'string', description: formatFlagDescription(STATS_COLUMNS.map((c) => c.field)) },
  { name: 'no-stream', kind: 'bool', description: 'Disable streaming stats and only pull the first result' },
  { name: 'no-trunc', kind: 'bool', description: 'Do not truncate output' },
  ...HIDDEN_CONNECTION_FLAGS,
];

/** A container the user named, by the ID it resolved to when the command started. */
interface Target {
  query: string;
  id: string;
}

/**
 * The rows of one frame: the named containers in the order given, or every container (every
 * cgroup with --all) sorted by name.
 */
export function selectStatsRows(entries: readonly ContainerEntry[], all: boolean, targets: readonly Target[] | undefined): StatsRow[] {
  if (targets !== undefined) {
    const byId = new Map(entries.map((e) => [e.info.id, e]));
    return targets.flatMap((t) => {
      const entry = byId.get(t.id);
      return entry ? [{ info: entry.info, stats: entry.stats, query: t.query }] : [];
    });
  }
  return entries
    .filter((e) => all || e.info.isContainer)
    .slice()
    .sort(byNameThenId)
    .map((e) => ({ info: e.info, stats: e.stats }));
}

/** Identifies an agent sample, so a non-terminal stream prints each one once. */
function sampleKey(entries: readonly ContainerEntry[]): string {
  let newest = -Infinity;
  for (const e of entries) if (e.stats && e.stats.timestampMs > newest) newest = e.stats.timestampMs;
  return `${newest}/${entries.length}`;
}

function render(format: ListingFormat<StatsRow>, rows: readonly StatsRow[], options: RenderOptions): string {
  try {
    return format.render(rows, options);
  } catch (err) {
    if (err instanceof FormatError) throw new CliError(err.message);
    throw err;
  }
}

async function runStats(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  if (flagBool(args, 'interactive')) {
    if (args.positionals.length > 0 || flagString(args, 'format') !== undefined || flagBool(args, 'no-stream')) {
      throw new CliError('capstan: stats --interactive shows every container: it takes no CONTAINER, --format or --no-stream');
    }
    // The terminal UI (terminal-kit, socket.io-client) loads only here: plain stats stays quick to start.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { runInteractive } = require('../interactive') as typeof import('../interactive');
    const client = ctx.connect(connectionFlags(ctx.connection, args));
    return runInteractive({ client, all: flagBool(args, 'all'), env: ctx.env, signal: ctx.signal, now: ctx.now });
  }
  const all = flagBool(args, 'all');
  const noStream = flagBool(args, 'no-stream');
  const trunc = !flagBool(args, 'no-trunc');
  const queries = [...new Set(args.positionals)]; // docker collects each name once

  let format: ListingFormat<StatsRow>;
  try {
    format = compileListingFormat(flagString(args, 'format') ?? '', {
      columns: STATS_COLUMN_REGISTRY,
      defaultTable: DEFAULT_STATS_TABLE_FORMAT,
      typeName: '*stats.StatsRow',
    });
  } catch (err) {
    if (err instanceof FormatError) throw new CliError(err.message);
    throw err;
  }

  const client = ctx.connect(connectionFlags(ctx.connection, args));
  // Named containers may be any tracked cgroup, so then ask for all of them; otherwise only what
  // is shown: a host can have thousands of cgroups (7 MB of JSON for 10,000), and plain
  // `capstan stats` lists containers only.
  const everyCgroup = all || queries.length > 0;
  let entries = await client.listContainersWhenReady(everyCgroup, 10_000, ctx.signal);

  let targets: Target[] | undefined;
  if (queries.length > 0) {
    const { matches, errors } = findContainers(entries, queries);
    if (errors.length > 0) throw new CliError(errors.join('\n'));
    targets = matches.map((m) => ({ query: m.query, id: m.item.info.id }));
  }

  const options = (): RenderOptions => ({ trunc, nowMs: ctx.now() });
  const frame = (): string => render(format, selectStatsRows(entries, all, targets), options());

  if (noStream) {
    // docker prints nothing at all (not even the header) when there is nothing to show.
    if (selectStatsRows(entries, all, targets).length === 0) return 0;
    ctx.stdout.write(frame());
    return 0;
  }
  return stream(ctx, client, frame, {
    everyCgroup,
    tty: ctx.stdout.isTTY === true,
    getEntries: () => entries,
    setEntries: (next) => {
      entries = next;
      // A named container that has gone stays gone, as in docker.
      if (targets !== undefined) {
        const present = new Set(next.map((e) => e.info.id));
        targets = targets.filter((t) => present.has(t.id));
      }
    },
    finished: () => targets !== undefined && targets.length === 0,
  });
}

interface StreamState {
  /** Poll for every tracked cgroup, not only containers. */
  everyCgroup: boolean;
  tty: boolean;
  getEntries(): readonly ContainerEntry[];
  setEntries(entries: ContainerEntry[]): void;
  /** True when nothing is left to watch (all named containers gone). */
  finished(): boolean;
}

function stream(
  ctx: CommandContext,
  client: { listContainers(all: boolean): Promise<ContainerEntry[]> },
  frame: () => string,
  state: StreamState,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    let done = false;
    let polling = false;
    let pollError: string | undefined;
    let lastKey = '';

    const finish = (code: number, err?: unknown): void => {
      if (done) return;
      done = true;
      timers.forEach(clearInterval);
      ctx.signal.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve(code);
    };
    const onAbort = (): void => finish(0);

    const draw = (): void => {
      try {
        if (state.tty) {
          const note = pollError !== undefined ? `${pollError} (retrying)\n` : '';
          ctx.stdout.write(ttyFrame(frame() + note));
        } else {
          ctx.stdout.write(frame());
        }
      } catch (err) {
        finish(1, err);
      }
    };

    const poll = async (): Promise<void> => {
      if (polling || done) return;
      polling = true;
      try {
        const next = await client.listContainers(state.everyCgroup);
        if (done) return;
        pollError = undefined;
        state.setEntries(next);
        if (state.finished()) {
          if (state.tty) draw();
          finish(0);
          return;
        }
        const key = sampleKey(next);
        if (!state.tty && key !== lastKey) {
          lastKey = key;
          draw();
        }
      } catch (err) {
        if (done) return;
        const message = err instanceof Error ? err.message : String(err);
        // On a terminal the message shows under the table; elsewhere say it once per failure.
        if (!state.tty && message !== pollError) ctx.stderr.write(message + '\n');
        pollError = message;
      } finally {
        polling = false;
      }
    };

    if (ctx.signal.aborted) return finish(0);
    ctx.signal.addEventListener('abort', onAbort);

    if (state.tty) ctx.stdout.write(CLEAR_SCREEN);
    lastKey = sampleKey(state.getEntries());
    draw();
    if (done) return;
    if (state.tty) timers.push(setInterval(draw, ctx.timing.redrawMs));
    timers.push(setInterval(() => void poll(), ctx.timing.pollMs));
  });
}

export const statsCommand: Command = {
  name: 'stats',
  summary: 'Display a live stream of container(s) resource usage statistics',
  usage: 'stats [OPTIONS] [CONTAINER...]',
  flags: FLAGS,
  handlesInterrupt: true,
  run: (ctx, args) => runStats(ctx, args),
};
