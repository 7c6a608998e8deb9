/**
 * `capstan events [--since T] [--until T] [--filter k=v]... [--format json|TEMPLATE]`: the agent's
 * events, as `docker events` prints them (docker/cli cli/command/system/events.go):
 *
 *   2026-11-22T10:15:55.123000000Z container oom 3f2a… (image=…, memoryLimitBytes=…, name=…)
 *
 * in the local time zone, attributes sorted; `--format json` prints docker's events.Message JSON
 * ({Type, Action, Actor{ID, Attributes}, scope, time, timeNano}) per line, and a template sees the
 * same fields ({{.Action}} {{.Actor.Attributes.name}}). Past events come from the agent's log with
 * --since; without --until the command keeps streaming until Ctrl-C.
 */
import { flagList, flagString, type FlagSpec, type ParsedArgs } from '../args';
import { describeNetworkError } from '../client';
import { CliError } from '../errors';
import { sendRequest, type AgentResponse } from '../http';
import { compareBytewise, goJsonString, goJsonStringMap } from '../format/gojson';
import { TemplateError, executeTemplate, goStruct, parseTemplate, stringMap, type GoStruct, type Template } from '../format/gotemplate';
import { parseEventLine } from '../../events/log';
import { formatRfc3339NanoFixed, formatUnixTime, localOffsetMinutes, msToUnixTime, parseDockerTimestamp, TimestampError } from '../../events/time';
import type { CapstanEvent } from '../../events/types';
import { HIDDEN_CONNECTION_FLAGS, connectionFlags } from './common';
import type { Command, CommandContext } from './types';

const FLAGS: readonly FlagSpec[] = [
  { name: 'filter', short: 'f', kind: 'list', valueName: 'filter', description: 'Filter output based on conditions provided (e.g. event=oom, container=NAME, type=oom)' },
  {
    name: 'format',
    kind: 'string',
    description: [
      'Format output using a custom template:',
      "'json':             Print in JSON format",
      "'TEMPLATE':         Print output using the given Go template",
      'Fields: .Type .Action .Actor.ID .Actor.Attributes .Scope .Time .TimeNano',
    ].join('\n'),
  },
  { name: 'since', kind: 'string', description: 'Show all events created since timestamp (Unix seconds, RFC 3339, or a duration like 10m)' },
  { name: 'until', kind: 'string', description: 'Stream events until this timestamp' },
  ...HIDDEN_CONNECTION_FLAGS,
];

// ---------------------------------------------------------------------------------------------
// docker's shapes

/** docker's events.Message (api/types/events), the fields the Engine API still sends. */
export interface DockerEventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  /** Units: seconds since the Unix epoch. */
  time: number;
  /** Units: nanoseconds since the Unix epoch, as a decimal string (it does not fit a double). */
  timeNano: string;
}

/** The attributes docker shows: the event's, with `name` and `image` filled in from the actor when missing. */
export function dockerAttributes(event: CapstanEvent): Record<string, string> {
  const attributes: Record<string, string> = { ...event.attributes };
  if (attributes['name'] === undefined) attributes['name'] = event.actor.name;
  if (attributes['image'] === undefined && event.actor.image !== '') attributes['image'] = event.actor.image;
  return attributes;
}

export function toDockerMessage(event: CapstanEvent): DockerEventMessage {
  const time = msToUnixTime(event.timeMs);
  return {
    Type: event.type,
    Action: event.action,
    Actor: { ID: event.actor.id, Attributes: dockerAttributes(event) },
    scope: 'local',
    time: time.seconds,
    timeNano: (BigInt(time.seconds) * 1_000_000_000n + BigInt(time.nanoseconds)).toString(),
  };
}

/**
 * `--format json` (= `{{json .}}`): docker's template json function, an encoder with
 * SetEscapeHTML(false), over the message: struct field order, sorted map keys, < > & as they are.
 */
export function dockerMessageJson(message: DockerEventMessage): string {
  return (
    `{"Type":${goJsonString(message.Type, false)},"Action":${goJsonString(message.Action, false)},` +
    `"Actor":{"ID":${goJsonString(message.Actor.ID, false)},"Attributes":${goJsonStringMap(message.Actor.Attributes, false)}},` +
    `"scope":"local","time":${message.time},"timeNano":${message.timeNano}}`
  );
}

/** docker's default line, without the newline. `offsetMinutes`: the zone's offset east of UTC. */
export function dockerEventLine(event: CapstanEvent, offsetMinutes: number): string {
  const message = toDockerMessage(event);
  const time = formatRfc3339NanoFixed(msToUnixTime(event.timeMs), offsetMinutes);
  const keys = Object.keys(message.Actor.Attributes).sort(compareBytewise);
  const attributes = keys.length === 0 ? '' : ` (${keys.map((key) => `${key}=${message.Actor.Attributes[key]}`).join(', ')})`;
  return `${time} ${message.Type} ${message.Action} ${message.Actor.ID}${attributes}`;
}

/**
 * The template's dot: events.Message, its Go fields in declaration order (the deprecated
 * Status/ID/From first, still fields of the struct, so old templates keep working). Attributes
 * is a map[string]string: a missing key is "<no value>", printing it gives map[k:v ...].
 */
function messageRow(message: DockerEventMessage): GoStruct {
  const actor = goStruct(
    'events.Actor',
    { ID: message.Actor.ID, Attributes: stringMap(message.Actor.Attributes) },
    { toJson: () => `{"ID":${goJsonString(message.Actor.ID, false)},"Attributes":${goJsonStringMap(message.Actor.Attributes, false)}}` },
  );
  return goStruct(
    'events.Message',
    {
      Status: message.Action,
      ID: message.Actor.ID,
      From: message.Actor.Attributes['image'] ?? '',
      Type: message.Type,
      Action: message.Action,
      Actor: actor,
      Scope: message.scope,
      Time: BigInt(message.time),
      TimeNano: BigInt(message.timeNano),
    },
    { toJson: () => dockerMessageJson(message) },
  );
}

/** How each event becomes a line: docker's default, or a template (json = {{json .}}). */
export type EventPrinter = (event: CapstanEvent) => string;

/** Compiles --format. Throws CliError (exit 64) for a template docker would refuse, checked on an empty message as docker does. */
export function eventPrinter(format: string | undefined, offsetMinutes: (timeMs: number) => number = localOffsetMinutes): EventPrinter {
  if (format === undefined || format === '') return (event) => dockerEventLine(event, offsetMinutes(event.timeMs));
  const source = format === 'json' ? '{{json .}}' : format;
  let template: Template;
  try {
    template = parseTemplate(source);
    const empty: DockerEventMessage = { Type: '', Action: '', Actor: { ID: '', Attributes: {} }, scope: 'local', time: 0, timeNano: '0' };
    executeTemplate(template, messageRow(empty));
  } catch (error) {
    // docker's words and status for a template it refuses up front.
    if (error instanceof TemplateError) throw new CliError(`Error parsing format: ${error.message}`, 64);
    throw error;
  }
  return (event) => {
    try {
      return executeTemplate(template, messageRow(toDockerMessage(event)));
    } catch (error) {
      if (error instanceof TemplateError) throw new CliError(error.message);
      throw error;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// The command

/** The query string for GET /api/v1/events. Relative times are resolved here, against the local clock, as docker's CLI does. */
export function eventsQuery(options: { since?: string; until?: string; filters: readonly string[] }, nowMs: number): string {
  const params = new URLSearchParams();
  for (const [name, value] of [['since', options.since], ['until', options.until]] as const) {
    if (value === undefined) continue;
    try {
      params.set(name, formatUnixTime(parseDockerTimestamp(value, nowMs)));
    } catch (error) {
      if (error instanceof TimestampError) throw new CliError(`capstan: invalid --${name}: ${error.message}`);
      throw error;
    }
  }
  for (const filter of options.filters) {
    if (filter.indexOf('=') <= 0) throw new CliError(`invalid argument "${filter}" for "-f, --filter" flag: bad format of filter (expected name=value)`, 125);
    params.append('filter', filter);
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

async function runEvents(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  if (args.positionals.length > 0) throw new CliError(`"capstan events" accepts no arguments.\nSee 'capstan events --help'.`, 1);
  const since = flagString(args, 'since');
  const until = flagString(args, 'until');
  const print = eventPrinter(flagString(args, 'format'));
  const query = eventsQuery({ ...(since !== undefined && { since }), ...(until !== undefined && { until }), filters: flagList(args, 'filter') }, ctx.now());

  const { endpoint } = ctx.connect(connectionFlags(ctx.connection, args));
  const headers: Record<string, string> = { accept: 'application/x-ndjson' };
  if (endpoint.token !== undefined) headers['authorization'] = `Bearer ${endpoint.token}`;
  let response: AgentResponse;
  try {
    response = await sendRequest(endpoint.url.replace(/\/+$/, '') + '/api/v1/events' + query, { headers, signal: ctx.signal });
  } catch (error) {
    if (ctx.signal.aborted) return 0;
    throw new CliError(`capstan: cannot reach the agent at ${endpoint.url}: ${describeNetworkError(error)}`, 1, { cause: error });
  }
  if (!response.ok) {
    const body = (await response
      .text()
      .then((text) => JSON.parse(text) as unknown)
      .catch(() => undefined)) as { error?: { message?: unknown } } | undefined;
    const message = typeof body?.error?.message === 'string' ? body.error.message : `${response.status} ${response.statusText}`;
    throw new CliError(`Error response from daemon: ${message}`);
  }
  const decoder = new TextDecoder();
  let pending = '';
  const emit = (line: string): void => {
    const event = parseEventLine(line);
    if (event) ctx.stdout.write(print(event) + '\n');
  };
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      pending += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        emit(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    }
    emit(pending + decoder.decode());
  } catch (error) {
    if (ctx.signal.aborted) return 0;
    if (error instanceof CliError) throw error;
    throw new CliError(`capstan: the event stream from ${endpoint.url} broke: ${describeNetworkError(error)}`, 1, { cause: error });
  }
  if (until === undefined && !ctx.signal.aborted) {
    // Without --until only the agent going away ends the stream.
    throw new CliError(`capstan: the agent at ${endpoint.url} closed the event stream`);
  }
  return 0;
}

export const eventsCommand: Command = {
  name: 'events',
  summary: 'Get real time events from the agent (OOM kills, lifecycle, limit updates, memory near limit)',
  usage: 'events [OPTIONS]',
  flags: FLAGS,
  handlesInterrupt: true,
  run: (ctx, args) => runEvents(ctx, args),
};
