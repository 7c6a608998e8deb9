/**
 * GET /api/v1/events: `docker events` over HTTP, as NDJSON (one CapstanEvent per line).
 *
 *   ?since=&until=   docker's timestamps: Unix seconds[.nanoseconds], RFC 3339, or a Go duration
 *                    back from now ("10m"); both inclusive
 *   ?filter=k=v      repeatable, docker's --filter keys (event=oom, container=NAME, type=oom, ...);
 *   ?filters={json}  the Engine API's form, {"event":["oom"]}
 *
 * As with docker: with neither since nor until, only new events stream; with since, past events
 * from the log come first; without until the response stays open, streaming new events until the
 * client disconnects; with until it closes once until has passed (at once if it already has).
 * The stream is taken from the bus *before* the log is read, and the log is read only up to that
 * moment, so an event is never both replayed and streamed, nor lost in between.
 */
import express, { type Request, type Response } from 'express';
import type { EventBus } from '../events/bus';
import { EventFilterError, matchesEventFilters, mergeEventFilters, parseDockerFiltersJson, parseEventFilters, type EventFilters } from '../events/filter';
import type { EventLog } from '../events/log';
import { parseDockerTimestamp, TimestampError, unixTimeToMs } from '../events/time';
import type { CapstanEvent } from '../events/types';
import { HttpError } from './errors';

export interface EventsRouterOptions {
  bus: EventBus;
  /** The persisted log; without it only live events are served. */
  log?: EventLog;
  /** Units: milliseconds since the Unix epoch. */
  now?: () => number;
}

/** A client that does not read its stream is dropped rather than buffered without end. Units: bytes. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;

function singleQuery(request: Request, name: string): string | undefined {
  const value = request.query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new HttpError(400, `invalid_${name}`, `${name} must be given once`);
  return value;
}

function queryList(request: Request, name: string): string[] {
  const value = request.query[name];
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  if (!list.every((v): v is string => typeof v === 'string')) throw new HttpError(400, `invalid_${name}`, `${name} must be key=value strings`);
  return list;
}

/** The request's time bounds and filters. Throws HttpError 400 with what is wrong. */
export function parseEventsQuery(request: Request, nowMs: number): { sinceMs?: number; untilMs?: number; filters: EventFilters } {
  const parseTime = (name: 'since' | 'until'): number | undefined => {
    const text = singleQuery(request, name);
    if (text === undefined) return undefined;
    try {
      return unixTimeToMs(parseDockerTimestamp(text, nowMs));
    } catch (error) {
      if (error instanceof TimestampError) throw new HttpError(400, `invalid_${name}`, `${name}: ${error.message}`);
      throw error;
    }
  };
  const sinceMs = parseTime('since');
  const untilMs = parseTime('until');
  if (sinceMs !== undefined && untilMs !== undefined && untilMs < sinceMs) {
    throw new HttpError(400, 'invalid_until', 'until must not be before since');
  }
  let filters: EventFilters;
  try {
    filters = parseEventFilters(queryList(request, 'filter'));
    const json = singleQuery(request, 'filters');
    if (json !== undefined) filters = mergeEventFilters(filters, parseDockerFiltersJson(json));
  } catch (error) {
    if (error instanceof EventFilterError) throw new HttpError(400, 'invalid_filter', error.message);
    throw error;
  }
  return { ...(sinceMs !== undefined && { sinceMs }), ...(untilMs !== undefined && { untilMs }), filters };
}

export function createEventsRouter(options: EventsRouterOptions): express.Router {
  const router = express.Router();
  const now = options.now ?? Date.now;

  router.get('/', async (request: Request, response: Response) => {
    const { sinceMs, untilMs, filters } = parseEventsQuery(request, now());
    const inRange = (event: CapstanEvent): boolean =>
      (sinceMs === undefined || event.timeMs >= sinceMs) && (untilMs === undefined || event.timeMs <= untilMs) && matchesEventFilters(event, filters);

    // Subscribe first, then note where the log ends: everything after that point reaches us live.
    let live: CapstanEvent[] | undefined = [];
    let finished = false;
    let untilTimer: NodeJS.Timeout | undefined;
    const send = (event: CapstanEvent): void => {
      if (finished) return;
      if (response.writableLength > MAX_PENDING_BYTES) {
        finish();
        return;
      }
      response.write(JSON.stringify(event) + '\n');
    };
    const unsubscribe = options.bus.subscribe((event) => {
      if (!inRange(event)) return;
      if (live) live.push(event);
      else send(event);
    });
    const upTo = options.log?.position();
    const finish = (): void => {
      if (finished) return;
      finished = true;
      unsubscribe();
      if (untilTimer) clearTimeout(untilTimer);
      if (!response.writableEnded) response.end();
    };
    response.on('close', finish);

    response.status(200);
    response.set({ 'Content-Type': 'application/x-ndjson; charset=utf-8', 'Cache-Control': 'no-store' });
    response.flushHeaders();

    try {
      if (options.log && (sinceMs !== undefined || untilMs !== undefined)) {
        for await (const event of options.log.read({ upTo: upTo!, ...(sinceMs !== undefined && { sinceMs }), ...(untilMs !== undefined && { untilMs }), filter: (e) => matchesEventFilters(e, filters) })) {
          if (finished) return;
          send(event);
        }
      }
    } catch (error) {
      // The headers are out: all that is left is to end the stream and say why in the log.
      console.error(`capstan: warning: reading the event log for ${request.originalUrl}: ${(error as Error).message}`);
      finish();
      return;
    }
    const pending = live;
    live = undefined;
    for (const event of pending) send(event);

    if (untilMs !== undefined) {
      // setTimeout takes at most ~24.8 days: re-arm until `until` has really passed.
      const endAtUntil = (): void => {
        const remainingMs = untilMs - now();
        if (remainingMs < 0) finish();
        else untilTimer = setTimeout(endAtUntil, Math.min(remainingMs + 1, 2 ** 31 - 1));
      };
      endAtUntil();
    }
  });
  return router;
}
