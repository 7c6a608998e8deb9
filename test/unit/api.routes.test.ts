/**
 * Every route the agent registers, walked from express's router stack, without a token, with the
 * viewer token and with the operator token, against the table below: a route that has no entry
 * fails the walk, so nobody adds a route without saying who may use it. Also: no body is read or
 * parsed before the token is checked (issue 14, finding 1), the /metrics token (finding 2), and
 * socket.io's transport request.
 */
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { io as connect } from 'socket.io-client';
import { tokenMatches } from '../../server/api/auth';
import { attachSocketServer } from '../../server/api/socket';
import { EventBus } from '../../server/events';
import { registeredRoutes, walkApp, walkArchive, WALK_CONTAINER, WALK_IMAGE, WALK_METRICS, WALK_OPERATOR, WALK_VIEWER, WALK_VOLUME } from '../helpers/routes';
import { TokenStore } from '../../server/api/auth';

type Who = 'none' | 'viewer' | 'operator';

interface Expected {
  /** The status each caller gets. */
  status: Record<Who, number>;
  /** The request that makes the route succeed for a caller who may use it. */
  query?: string;
  body?: { type: string; data: string | Buffer };
}

const json = (value: unknown) => ({ type: 'application/json', data: JSON.stringify(value) });
const open = (status: number): Expected => ({ status: { none: status, viewer: status, operator: status } });
const viewer = (status = 200, extra: Omit<Expected, 'status'> = {}): Expected => ({ status: { none: 401, viewer: status, operator: status }, ...extra });
const operator = (status = 200, extra: Omit<Expected, 'status'> = {}): Expected => ({ status: { none: 401, viewer: 403, operator: status }, ...extra });

/** Who may use what. Keys: METHOD and express's path pattern. */
const TABLE: Record<string, Expected> = {
  'GET /healthz': open(200),
  // The metrics token is not an API token: both API tokens are refused too (tested with it below).
  'GET /metrics': open(401),
  'GET /api/v1/containers': viewer(),
  'GET /api/v1/containers/json': viewer(),
  'GET /api/v1/containers/:reference': viewer(),
  'GET /api/v1/containers/:reference/history': viewer(),
  'GET /api/v1/machine': viewer(),
  'GET /api/v1/version': viewer(),
  'GET /api/v1/info': viewer(),
  'GET /api/v1/containers/:reference/limits': viewer(),
  'PATCH /api/v1/containers/:reference/limits': operator(200, { body: json({ pidsLimit: 100 }) }),
  'GET /api/v1/containers/:reference/processes': viewer(),
  'GET /api/v1/containers/:reference/listening': viewer(),
  'GET /api/v1/runtime/containers': viewer(),
  'POST /api/v1/containers': operator(201, { body: json({ cmd: ['true'] }) }),
  'POST /api/v1/containers/:reference/start': operator(204),
  'POST /api/v1/containers/:reference/stop': operator(204),
  'POST /api/v1/containers/:reference/restart': operator(204),
  'POST /api/v1/containers/:reference/kill': operator(204),
  'POST /api/v1/containers/:reference/pause': operator(204),
  'POST /api/v1/containers/:reference/unpause': operator(204),
  'DELETE /api/v1/containers/:reference': operator(204),
  // docker's wait is a POST, and reading: a viewer may wait for an exit.
  'POST /api/v1/containers/:reference/wait': viewer(200),
  'GET /api/v1/containers/:reference/json': viewer(),
  'GET /api/v1/containers/:reference/top': viewer(),
  'GET /api/v1/containers/:reference/changes': viewer(),
  'POST /api/v1/commit': operator(201, { query: 'container=web&repo=walk-commit' }),
  'GET /api/v1/containers/:reference/export': operator(),
  'GET /api/v1/containers/:reference/logs': viewer(),
  'GET /api/v1/images': viewer(),
  'GET /api/v1/images/:reference': viewer(),
  'GET /api/v1/images/:reference/json': viewer(),
  'GET /api/v1/images/:reference/history': viewer(),
  'POST /api/v1/images/:reference/tag': operator(201, { query: 'repo=walk-tagged&tag=1' }),
  'POST /api/v1/images': operator(200, { query: 'name=walk:2', body: { type: 'application/x-tar', data: walkArchive() } }),
  'DELETE /api/v1/images/:reference': operator(200),
  // save hands out every file of the images: operator only.
  'GET /api/v1/images/get': operator(200, { query: 'names=walk:1' }),
  // Only dangling images go (the walk's image is named): the routes after it still have it.
  'POST /api/v1/images/prune': operator(200),
  // Port 1 on loopback refuses at once: the pull's answer streams (200) and ends in its error line; the login answers 502.
  'POST /api/v1/images/pull': operator(200, { query: 'reference=127.0.0.1:1/walk' }),
  'POST /api/v1/images/push': operator(200, { query: 'reference=127.0.0.1:1/walk' }),
  'POST /api/v1/images/login': operator(502, { body: json({ username: 'u', password: 'p', serveraddress: '127.0.0.1:1' }) }),
  'GET /api/v1/events': viewer(200, { query: 'until=1' }),
  'GET /api/v1/volumes': viewer(),
  'GET /api/v1/volumes/:name': viewer(),
  'POST /api/v1/volumes': operator(201, { body: json({ Name: 'walkdata' }) }),
  'POST /api/v1/volumes/prune': operator(),
  'DELETE /api/v1/volumes/:name': operator(204),
};

const TOKENS: Record<Who, string | undefined> = { none: undefined, viewer: WALK_VIEWER, operator: WALK_OPERATOR };

/** `:reference` is the container, or under /images the image. */
function concretePath(pattern: string): string {
  const reference = pattern.startsWith('/api/v1/images') ? encodeURIComponent(WALK_IMAGE) : WALK_CONTAINER;
  return pattern.replace(':reference', reference).replace(':name', WALK_VOLUME);
}

async function listen(t: ExecutionContext) {
  const world = await walkApp();
  t.teardown(() => world.remove());
  const server = world.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => {
    // Connections the agent is closing gently after a refused body (body.ts) go at once here.
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { world, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function call(url: string, method: string, pathname: string, token: string | undefined, expected?: Omit<Expected, 'status'>) {
  const headers: Record<string, string> = {};
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (expected?.body) headers['content-type'] = expected.body.type;
  const response = await fetch(`${url}${pathname}${expected?.query ? `?${expected.query}` : ''}`, {
    method,
    headers,
    ...(expected?.body ? { body: expected.body.data } : {}),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, text: await response.text() };
}

const METHOD_ORDER = ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'];

test('every registered route answers 401 without a token and 403 or success by role, as the table says', async (t) => {
  const { world, url } = await listen(t);
  const routes = registeredRoutes(world.app);
  t.true(routes.length >= Object.keys(TABLE).length, `the walk found ${routes.length} routes`);
  const missing = routes.map((route) => `${route.method} ${route.path}`).filter((key) => !(key in TABLE));
  t.deepEqual(missing, [], 'routes without an entry in the table: say who may use them');
  const stale = Object.keys(TABLE).filter((key) => !routes.some((route) => `${route.method} ${route.path}` === key));
  t.deepEqual(stale, [], 'table entries for routes that no longer exist');
  // Removals last, so the image and the container are there for every other route.
  const ordered = [...routes].sort((a, b) => METHOD_ORDER.indexOf(a.method) - METHOD_ORDER.indexOf(b.method));
  for (const route of ordered) {
    const key = `${route.method} ${route.path}`;
    const expected = TABLE[key];
    if (!expected) continue;
    for (const who of ['none', 'viewer', 'operator'] as const) {
      const answer = await call(url, route.method, concretePath(route.path), TOKENS[who], expected);
      t.is(answer.status, expected.status[who], `${key} as ${who}: ${answer.text.slice(0, 300)}`);
    }
  }
});

test('no body is read or parsed before the token is checked, on any route that takes one', async (t) => {
  const { world, url } = await listen(t);
  const bodyRoutes = registeredRoutes(world.app).filter((route) => route.path.startsWith('/api/') && route.method !== 'GET');
  t.true(bodyRoutes.length > 5);
  for (const route of bodyRoutes) {
    const malformed = { body: { type: 'application/json', data: '{"not json' } };
    const anonymous = await call(url, route.method, concretePath(route.path), undefined, malformed);
    t.is(anonymous.status, 401, `${route.method} ${route.path} without a token: ${anonymous.text}`);
    t.regex(anonymous.text, /unauthorized/);
    const stranger = await call(url, route.method, concretePath(route.path), 'not-a-token-at-all', malformed);
    t.is(stranger.status, 401, `${route.method} ${route.path} with a bad token: ${stranger.text}`);
    if (TABLE[`${route.method} ${route.path}`]?.status.viewer === 403) {
      const reader = await call(url, route.method, concretePath(route.path), WALK_VIEWER, malformed);
      t.is(reader.status, 403, `${route.method} ${route.path} as viewer: the role is checked before the body is read`);
    }
  }
  // The finding as it was reported: POST /api/v1/images with bad JSON and no token.
  const images = await call(url, 'POST', '/api/v1/images', undefined, { body: { type: 'application/json', data: '{' } });
  t.is(images.status, 401);
  // With the operator token the same body is read, and refused for what it is.
  const parsed = await call(url, 'POST', '/api/v1/containers', WALK_OPERATOR, { body: { type: 'application/json', data: '{"not json' } });
  t.is(parsed.status, 400);
  t.regex(parsed.text, /entity\.parse\.failed/);
  // And a body over the limit is refused for its size, on each route that reads JSON.
  for (const pathname of ['/api/v1/containers', `/api/v1/containers/${WALK_CONTAINER}/limits`]) {
    const method = pathname.endsWith('/limits') ? 'PATCH' : 'POST';
    const large = await call(url, method, pathname, WALK_OPERATOR, { body: { type: 'application/json', data: JSON.stringify({ a: 'x'.repeat(70 * 1024) }) } });
    t.is(large.status, 413, `${method} ${pathname}: ${large.text}`);
    t.regex(large.text, /at most 65536 bytes/);
  }
});

test('/metrics takes only its own token, compared in constant time', async (t) => {
  const { url } = await listen(t);
  for (const token of [undefined, WALK_VIEWER, WALK_OPERATOR, WALK_METRICS.slice(0, -1), `${WALK_METRICS}x`, '']) {
    const answer = await call(url, 'GET', '/metrics', token);
    t.is(answer.status, 401, `token ${String(token)}`);
  }
  const scraped = await call(url, 'GET', '/metrics', WALK_METRICS);
  t.is(scraped.status, 200);
  t.is(scraped.text, '# walk\n');
  t.true(tokenMatches('abc', 'abc'));
  t.false(tokenMatches('abc', 'abd'));
  t.false(tokenMatches('abc', 'abcd'), 'different lengths compare without throwing');
  t.false(tokenMatches('abc', undefined));
});

test('socket.io refuses a bad Authorization header at the transport request, before any session exists', async (t) => {
  const { server, url } = await listen(t);
  const tokens = new TokenStore([{ name: 'viewer', role: 'viewer', token: WALK_VIEWER }]);
  const sockets = attachSocketServer(server, { tokens, bus: new EventBus() });
  t.teardown(() => sockets.close());
  const polling = await fetch(`${url}/socket.io/?EIO=4&transport=polling`, { headers: { authorization: 'Bearer wrong-token' } });
  t.is(polling.status, 403, await polling.text());
  t.is(sockets.io.engine.clientsCount, 0);
  const good = await fetch(`${url}/socket.io/?EIO=4&transport=polling`, { headers: { authorization: `Bearer ${WALK_VIEWER}` } });
  t.is(good.status, 200);
  // A browser's token comes in the CONNECT packet; without one the session is refused there.
  const client = connect(url, { transports: ['polling'], reconnection: false, auth: {} });
  t.teardown(() => client.close());
  const error = await new Promise<Error>((resolve) => client.once('connect_error', resolve));
  t.is(error.message, 'unauthorized');
});
