/**
 * EngineClient against a fake engine: a node:http server on a unix socket in a temp directory,
 * answering with bytes captured from the real engines (test/fixtures/engine). What the real
 * engines do is test/integration/engine-client.test.ts; this is about the client's own I/O.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { apiTime, EngineClient } from '../../server/sources/engine/client';
import { EngineError } from '../../server/sources/engine/errors';
import { parseEngineHost } from '../../server/sources/engine/host';
import type { EngineEvent, EngineLogLine } from '../../server/sources/engine/types';
import { sleep } from '../helpers/wait';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/engine');
const fixture = (name: string): Buffer => fs.readFileSync(path.join(FIXTURES, name));

type Handler = (request: http.IncomingMessage, response: http.ServerResponse, body: string) => unknown;

interface FakeEngine {
  client: EngineClient;
  socketPath: string;
  /** "METHOD path?query" of every request, in order. */
  requests: string[];
  bodies: string[];
}

async function fakeEngine(t: ExecutionContext, handler: Handler): Promise<FakeEngine> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-fake-engine-'));
  const socketPath = path.join(directory, 'engine.sock');
  const requests: string[] = [];
  const bodies: string[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push(`${request.method} ${request.url}`);
      const body = Buffer.concat(chunks).toString('utf8');
      bodies.push(body);
      void Promise.resolve(handler(request, response, body)).catch((error) => response.destroy(error as Error));
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const client = new EngineClient({ address: parseEngineHost(`unix://${socketPath}`, 'test'), timeouts: { headersMs: 1000, bodyMs: 1000 } });
  t.teardown(async () => {
    await client.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(directory, { recursive: true, force: true });
  });
  return { client, socketPath, requests, bodies };
}

function sendJson(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
}

/** Writes `wire` in uneven pieces with pauses, as a socket may deliver it. */
async function trickle(response: http.ServerResponse, wire: Buffer, sizes = [1, 7, 3, 64, 8, 200]): Promise<void> {
  let offset = 0;
  for (let i = 0; offset < wire.length; i++) {
    const size = sizes[i % sizes.length]!;
    response.write(wire.subarray(offset, offset + size));
    offset += size;
    if (i % 5 === 0) await sleep(2);
  }
}

const dockerVersion = fixture('docker-version.json');
const podmanVersion = fixture('podman-version.json');

test('calls go under the negotiated version; /version and /_ping do not', async (t) => {
  const engine = await fakeEngine(t, (request, response) => {
    if (request.url === '/version') return sendJson(response, 200, dockerVersion);
    if (request.url === '/_ping') {
      response.writeHead(200, { 'api-version': '1.41' });
      return response.end('OK');
    }
    if (request.url?.startsWith('/v1.41/containers/json')) return sendJson(response, 200, [{ Id: 'abc', Names: ['/web'] }]);
    sendJson(response, 404, { message: 'page not found' });
  });
  t.deepEqual(await engine.client.ping(), { apiVersion: '1.41' });
  const list = await engine.client.listContainers({ filters: { label: ['capstan=1'] } });
  t.is(list[0]!.Id, 'abc');
  await engine.client.listContainers();
  t.deepEqual(engine.requests, [
    'GET /_ping',
    'GET /version',
    `GET /v1.41/containers/json?all=1&filters=${encodeURIComponent('{"label":["capstan=1"]}')}`,
    'GET /v1.41/containers/json?all=1',
  ]);
});

test("an engine's refusal is EngineError('engine') with its status and its own message", async (t) => {
  const engine = await fakeEngine(t, (request, response) => {
    if (request.url === '/version') return sendJson(response, 200, dockerVersion);
    if (request.url?.endsWith('/update')) return sendJson(response, 400, fixture('docker-update-refused.json'));
    sendJson(response, 404, fixture('docker-404-container.json'));
  });
  const missing = await t.throwsAsync(engine.client.inspectContainer('nope'), { instanceOf: EngineError });
  t.is(missing!.code, 'engine');
  t.is(missing!.status, 404);
  t.is(missing!.message, 'No such container: nope');
  t.is(missing!.request, 'GET /v1.41/containers/nope/json');
  const refused = await t.throwsAsync(engine.client.updateContainer('web', { Memory: 1 }), { instanceOf: EngineError });
  t.is(refused!.status, 400);
  t.is(refused!.message, 'Minimum memory limit allowed is 6MB');
  t.deepEqual(JSON.parse(engine.bodies[engine.bodies.length - 1]!), { Memory: 1 });
});

test('a container reference cannot escape its path', async (t) => {
  const engine = await fakeEngine(t, (request, response) => {
    if (request.url === '/version') return sendJson(response, 200, dockerVersion);
    sendJson(response, 200, { Id: 'x', Config: {} });
  });
  await engine.client.inspectContainer('../../images/busybox');
  t.is(engine.requests[1], 'GET /v1.41/containers/..%2F..%2Fimages%2Fbusybox/json');
  await t.throwsAsync(engine.client.inspectContainer(''), { instanceOf: TypeError });
});

test('an engine that refuses our API version (upgraded under us) is asked again, once', async (t) => {
  let minimum = '1.24';
  const engine = await fakeEngine(t, (request, response) => {
    if (request.url === '/version') return sendJson(response, 200, { ...JSON.parse(dockerVersion.toString()), ApiVersion: '1.52', MinAPIVersion: minimum });
    const version = /^\/v(\d+\.\d+)\//.exec(request.url ?? '')?.[1];
    if (version !== minimum && minimum === '1.44') {
      return sendJson(response, 400, { message: `client version ${version} is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version` });
    }
    sendJson(response, 200, []);
  });
  t.deepEqual(await engine.client.listContainers(), []);
  minimum = '1.44';
  t.deepEqual(await engine.client.listContainers(), []);
  t.deepEqual(engine.requests, ['GET /version', 'GET /v1.41/containers/json?all=1', 'GET /v1.41/containers/json?all=1', 'GET /version', 'GET /v1.44/containers/json?all=1']);
});

test('libpodUpdate speaks the libpod API at the version Podman gave, with an OCI resources body', async (t) => {
  const engine = await fakeEngine(t, (request, response) => {
    if (request.url === '/version') return sendJson(response, 200, podmanVersion);
    response.writeHead(201, { 'content-type': 'text/plain' });
    response.end('3c141a2b0af9');
  });
  await engine.client.libpodUpdate('web', { memory: { limit: 134217728 } });
  t.is(engine.requests[1], 'POST /v4.3.1/libpod/containers/web/update');
  t.deepEqual(JSON.parse(engine.bodies[1]!), { memory: { limit: 134217728 } });
});

test('libpodUpdate on Docker is a programming error, not a request', async (t) => {
  const engine = await fakeEngine(t, (_request, response) => sendJson(response, 200, dockerVersion));
  await t.throwsAsync(engine.client.libpodUpdate('web', { memory: { limit: 1 } }), { message: /needs a Podman engine; .* is docker 20\.10\.24\+dfsg1/ });
  t.deepEqual(engine.requests, ['GET /version']);
});

test('events arrive whole however the engine chunks them; ready comes first; the end of the body ends the iteration', async (t) => {
  const wire = fixture('docker-events.jsonl');
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const engine = await fakeEngine(t, async (request, response) => {
    if (request.url === '/version') return sendJson(response, 200, dockerVersion);
    response.writeHead(200, { 'content-type': 'application/json' });
    response.flushHeaders();
    await released;
    await trickle(response, wire);
    response.end();
  });
  const stream = engine.client.events({ sinceMs: 1_700_000_000_000, filters: { type: ['container'] } });
  await stream.ready;
  t.regex(engine.requests[1]!, /^GET \/v1\.41\/events\?since=1700000000&filters=/);
  release();
  const events: EngineEvent[] = [];
  for await (const event of stream) events.push(event);
  t.is(events.length, wire.toString().trim().split('\n').length);
  t.deepEqual(
    events.map((event) => event.Action),
    ['create', 'attach', 'start', 'die', 'create', 'attach', 'start', 'oom', 'die', 'create', 'attach', 'start', 'die'],
  );
});

test('garbage in the events stream ends it with a protocol error, after the events before it', async (t) => {
  const engine = await fakeEngine(t, async (request, response) => {
    if (request.url === '/version') return sendJson(response, 200, dockerVersion);
    response.writeHead(200, { 'content-type': 'application/json' });
    await trickle(response, fixture('garbage-events.txt'));
    // And then nothing: the client must not wait for more.
  });
  const seen: string[] = [];
  const error = await t.throwsAsync(
    (async () => {
      for await (const event of engine.client.events()) seen.push(event.Action);
    })(),
    { instanceOf: EngineError },
  );
  t.deepEqual(seen, ['create']);
  t.is(error!.code, 'protocol');
  t.regex(error!.message, /not JSON, starting "<html><body>502 Bad Gateway/);
  t.is(error!.address, `unix://${engine.socketPath}`);
});

test('a socket closed under the events stream ends it as unreachable; an abort ends it quietly', async (t) => {
  const engine = await fakeEngine(t, async (request, response) => {
    if (request.url === '/version') return sendJson(response, 200, dockerVersion);
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write(`${fixture('docker-events.jsonl').toString().split('\n')[0]}\n`);
    if (request.url!.includes('until=')) {
      await sleep(50);
      response.socket!.destroy();
    }
  });
  const dropped = engine.client.events({ untilMs: 1_800_000_000_123 });
  t.is((await dropped.next()).value?.Action, 'create');
  t.is(engine.requests.at(-1), `GET /v1.41/events?until=1800000000.123000000`);
  const error = await t.throwsAsync(dropped.next(), { instanceOf: EngineError });
  t.is(error!.code, 'unreachable');
  t.true((await dropped.next()).done);

  const controller = new AbortController();
  const aborted = engine.client.events({}, controller.signal);
  t.is((await aborted.next()).value?.Action, 'create');
  setTimeout(() => controller.abort(), 20);
  t.true((await aborted.next()).done);
});

test('logs: the tty is asked of the engine when not given, frames are cut into lines', async (t) => {
  const engine = await fakeEngine(t, async (request, response) => {
    if (request.url === '/version') return sendJson(response, 200, dockerVersion);
    if (request.url?.endsWith('/json')) return sendJson(response, 200, { Id: 'abc', Config: { Tty: false } });
    response.writeHead(200, { 'content-type': 'application/vnd.docker.raw-stream' });
    await trickle(response, fixture('docker-logs-stdcopy-timestamps.bin'), [1, 8, 3, 9]);
    response.end();
  });
  const lines: EngineLogLine[] = [];
  await engine.client.logs('abc', { timestamps: true, tail: 10, sinceMs: 5000 }, (line) => lines.push(line));
  t.deepEqual(
    lines.map((line) => `${line.stream} ${line.text}`),
    ['stdout out1', 'stderr err1', 'stdout no newline at the end'],
  );
  t.is(engine.requests[1], 'GET /v1.41/containers/abc/json');
  t.is(engine.requests[2], 'GET /v1.41/containers/abc/logs?stdout=1&stderr=1&follow=0&timestamps=1&since=5&tail=10');
});

test('followed logs end quietly on abort, and what onLine throws comes back unchanged', async (t) => {
  const engine = await fakeEngine(t, async (request, response) => {
    if (request.url === '/version') return sendJson(response, 200, dockerVersion);
    response.writeHead(200);
    response.write('line one\r\n');
    // Follow: the body stays open.
  });
  const controller = new AbortController();
  const lines: string[] = [];
  const following = engine.client.logs('abc', { follow: true, tty: true }, (line) => {
    lines.push(line.text);
    controller.abort();
  }, controller.signal);
  await following;
  t.deepEqual(lines, ['line one']);

  const mine = new Error('mine');
  await t.throwsAsync(
    engine.client.logs('abc', { tty: true }, () => {
      throw mine;
    }),
    { is: mine },
  );
});

test('apiTime: milliseconds become the seconds, with a nanosecond fraction, the API takes', (t) => {
  t.is(apiTime(1_700_000_000_000), '1700000000');
  t.is(apiTime(1_700_000_000_250), '1700000000.250000000');
  t.is(apiTime(1500.5), '1.500500000');
  t.is(apiTime(0), '0');
  t.throws(() => apiTime(-1), { instanceOf: RangeError });
  t.throws(() => apiTime(Number.NaN), { instanceOf: RangeError });
});

test('lifecycle: actions with their query, 304 as done, DELETE with force, wait for as long as it takes', async (t) => {
  let waited: (() => void) | undefined;
  const engine = await fakeEngine(t, (request, response) => {
    if (request.url === '/version') return sendJson(response, 200, podmanVersion);
    if (request.url?.includes('/start')) {
      response.writeHead(304);
      return response.end();
    }
    if (request.url?.includes('/wait')) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.flushHeaders();
      waited = () => response.end('{"StatusCode":137,"Error":null}');
      return;
    }
    if (request.url?.includes('/kill')) return sendJson(response, 409, { message: 'container 1234 is not running' });
    response.writeHead(204);
    response.end();
  });
  await engine.client.containerAction('web', 'start');
  await engine.client.containerAction('web', 'stop', { t: '3' });
  const kill = await t.throwsAsync(engine.client.containerAction('web', 'kill', { signal: 'SIGKILL' }), { instanceOf: EngineError });
  t.is(kill!.status, 409);
  await engine.client.removeContainer('web', true);
  await engine.client.removeContainer('web', false);
  const waiting = engine.client.waitContainer('web', 'not-running');
  // Longer than the headers and body timeouts (1 s here): a wait has none.
  await sleep(1500);
  waited!();
  t.deepEqual(await waiting, { StatusCode: 137 });
  t.deepEqual(engine.requests.slice(1), [
    'POST /v1.41/containers/web/start',
    'POST /v1.41/containers/web/stop?t=3',
    'POST /v1.41/containers/web/kill?signal=SIGKILL',
    // Podman: the SIGKILL first (refused here: not running), then the DELETE.
    'POST /v1.41/containers/web/kill?signal=SIGKILL',
    'DELETE /v1.41/containers/web?force=1',
    'DELETE /v1.41/containers/web',
    'POST /v1.41/containers/web/wait?condition=not-running',
  ]);
});
