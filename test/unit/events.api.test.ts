// GET /api/v1/events in-process (the router alone, on a loopback port): past events from the log,
// live ones from the bus, each exactly once, since/until/filters, and the errors for bad input.
import test, { type ExecutionContext } from 'ava';
import express from 'express';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { createEventsRouter } from '../../server/api/events';
import { HttpError, sendError } from '../../server/api/errors';
import { EventBus, EventLog, type CapstanEvent } from '../../server/events';

interface Fixture {
  url: string;
  bus: EventBus;
  log: EventLog;
}

async function withServer(t: ExecutionContext): Promise<Fixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-events-api-'));
  const bus = new EventBus();
  const log = new EventLog({ directory: dir });
  log.attach(bus);
  const app = express();
  app.use('/api/v1/events', createEventsRouter({ bus, log }));
  app.use((error: unknown, _request: express.Request, response: express.Response, next: express.NextFunction) => {
    if (response.headersSent) return next(error);
    if (error instanceof HttpError) return sendError(response, error.status, error.code, error.message);
    return sendError(response, 500, 'internal', String(error));
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/events`, bus, log };
}

function event(action: CapstanEvent['action'], name: string, timeMs = Date.now()): CapstanEvent {
  return { type: 'container', action, actor: { id: name.padEnd(64, '0'), name, cgroupPath: `/capstan/${name}`, image: '' }, timeMs, attributes: { name } };
}

async function readAllLines(response: Response): Promise<CapstanEvent[]> {
  const text = await response.text();
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as CapstanEvent);
}

/** Reads NDJSON lines from a streaming response as they come. */
function lineReader(response: Response): () => Promise<CapstanEvent> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return async () => {
    for (;;) {
      const newline = buffer.indexOf('\n');
      if (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        return JSON.parse(line) as CapstanEvent;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended');
      buffer += decoder.decode(value, { stream: true });
    }
  };
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

test('since + until: past events from the log in the range and matching the filters, then the response ends', async (t) => {
  const { url, bus } = await withServer(t);
  const now = Date.now();
  bus.publish(event('start', 'web', now - 60_000));
  bus.publish(event('oom', 'web', now - 30_000));
  bus.publish(event('oom', 'db', now - 20_000));
  bus.publish(event('die', 'web', now - 10_000));
  const all = await readAllLines(await fetch(`${url}?since=${seconds(now - 45_000)}&until=${seconds(now)}`));
  t.deepEqual(all.map((e) => `${e.action} ${e.actor.name}`), ['oom web', 'oom db', 'die web']);
  const response = await fetch(`${url}?since=1h&until=0s&filter=type=oom&filter=container=web`);
  t.is(response.headers.get('content-type'), 'application/x-ndjson; charset=utf-8');
  t.deepEqual((await readAllLines(response)).map((e) => `${e.action} ${e.actor.name}`), ['oom web']);
  const viaJson = await fetch(`${url}?since=1h&until=0s&filters=${encodeURIComponent('{"event":["die"]}')}`);
  t.deepEqual((await readAllLines(viaJson)).map((e) => e.action), ['die']);
});

test('without until: past events, then live ones as they are published, each once', async (t) => {
  const { url, bus } = await withServer(t);
  bus.publish(event('oom', 'before'));
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const response = await fetch(`${url}?since=1m`, { signal: controller.signal });
  const next = lineReader(response);
  t.is((await next()).actor.name, 'before');
  bus.publish(event('oom', 'live-1'));
  bus.publish(event('die', 'live-2'));
  t.is((await next()).actor.name, 'live-1');
  t.is((await next()).actor.name, 'live-2');
});

test('neither since nor until: only new events, like docker events', async (t) => {
  const { url, bus } = await withServer(t);
  bus.publish(event('oom', 'old'));
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const response = await fetch(`${url}?filter=event=oom`, { signal: controller.signal });
  const next = lineReader(response);
  bus.publish(event('die', 'ignored'));
  bus.publish(event('oom', 'new'));
  t.is((await next()).actor.name, 'new');
});

test('a client that disconnects is unsubscribed from the bus', async (t) => {
  const { url, bus } = await withServer(t);
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  const listeners = (): number => (bus as unknown as { listeners: Set<unknown> }).listeners.size;
  const during = listeners();
  controller.abort();
  await response.body?.cancel().catch(() => undefined);
  for (let i = 0; i < 50 && listeners() >= during; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  t.is(listeners(), during - 1);
});

test('until in the future: streams until then, and ends', async (t) => {
  const { url, bus } = await withServer(t);
  const started = Date.now();
  const untilMs = started + 1500;
  const response = await fetch(`${url}?until=${seconds(untilMs)}`);
  bus.publish(event('oom', 'in-time'));
  const events = await readAllLines(response);
  t.deepEqual(events.map((e) => e.actor.name), ['in-time']);
  t.true(Date.now() >= untilMs - 5, 'the stream stayed open until `until`');
  bus.publish(event('oom', 'too-late')); // nobody is listening any more: no error
});

test('bad input is a 400 that says what is wrong', async (t) => {
  const { url } = await withServer(t);
  const cases: Array<[string, string, RegExp]> = [
    ['?since=yesterday', 'invalid_since', /since: failed to parse value as time or duration/],
    ['?until=2026-99-01', 'invalid_until', /until: invalid time/],
    ['?since=10&until=5', 'invalid_until', /until must not be before since/],
    ['?filter=colour=red', 'invalid_filter', /invalid filter 'colour'/],
    ['?filter=oom', 'invalid_filter', /bad format of filter/],
    ['?filters=%7B', 'invalid_filter', /invalid filters JSON/],
    ['?since=1&since=2', 'invalid_since', /since must be given once/],
  ];
  for (const [query, code, message] of cases) {
    const response = await fetch(url + query);
    t.is(response.status, 400, query);
    const body = (await response.json()) as { error: { code: string; message: string } };
    t.is(body.error.code, code, query);
    t.regex(body.error.message, message, query);
  }
});
