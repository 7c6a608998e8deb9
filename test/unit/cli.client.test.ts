/** Finding the agent (flags, environment, state directory) and talking to it over HTTP. */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentClient, AgentRequestError, describeNetworkError, pickToken, resolveEndpoint, type EndpointDeps } from '../../server/cli/client';
import { CliError } from '../../server/cli/errors';
import { PS_ENGINE_WAIT_MS, psAnswerWaitMs } from '../../server/containers/ps';
import { extraCertificates, openUpgrade, parseResponseHead } from '../../server/cli/http';
import { restoreExtraCaCerts } from '../../server/cli/main';

function stateDir(t: { teardown(fn: () => void): void }, files: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), JSON.stringify(content), { mode: 0o600 });
  return dir;
}

const TOKENS = {
  tokens: [
    { name: 'viewer', role: 'viewer', token: 'view-token' },
    { name: 'operator', role: 'operator', token: 'op-token' },
  ],
};

const deps = (env: Record<string, string | undefined> = {}, readFile?: (file: string) => string): EndpointDeps => ({
  env,
  readFile: readFile ?? ((file) => fs.readFileSync(file, 'utf8')),
});

test('the state directory gives the URL and the operator token', (t) => {
  const dir = stateDir(t, { 'agent.json': { url: 'http://127.0.0.1:9180', pid: 42, startedAt: 'x' }, 'tokens.json': TOKENS });
  t.deepEqual(resolveEndpoint({ stateDir: dir }, deps()), { url: 'http://127.0.0.1:9180', token: 'op-token', stateDir: dir, pid: 42 });
  // CAPSTAN_STATE_DIR is used when the flag is absent.
  t.is(resolveEndpoint({}, deps({ CAPSTAN_STATE_DIR: dir })).token, 'op-token');
});

test('flags beat the environment, which beats the state directory', (t) => {
  const dir = stateDir(t, { 'agent.json': { url: 'http://127.0.0.1:1' }, 'tokens.json': TOKENS });
  const env = { CAPSTAN_HOST: 'http://127.0.0.1:2', CAPSTAN_TOKEN: 'env-token', CAPSTAN_STATE_DIR: dir };
  t.like(resolveEndpoint({}, deps(env)), { url: 'http://127.0.0.1:2', token: 'env-token' });
  t.like(resolveEndpoint({ host: 'http://127.0.0.1:3', token: 'flag-token' }, deps(env)), { url: 'http://127.0.0.1:3', token: 'flag-token' });
  // A host from the environment still takes its token from the state directory when none is given.
  t.like(resolveEndpoint({}, deps({ CAPSTAN_HOST: 'http://127.0.0.1:2', CAPSTAN_STATE_DIR: dir })), { token: 'op-token' });
});

test('the viewer token is used when there is no operator token', (t) => {
  t.is(pickToken({ tokens: [{ role: 'viewer', token: 'v' }] }), 'v');
  t.is(pickToken({ tokens: [] }), undefined);
  t.is(pickToken(null), undefined);
});

test('no agent.json: say how to start an agent', (t) => {
  const dir = stateDir(t, {});
  t.throws(() => resolveEndpoint({ stateDir: dir }, deps()), {
    instanceOf: CliError,
    message: `capstan: cannot find a running agent: ${dir}/agent.json does not exist (start one with: capstan agent)`,
  });
});

test('unreadable tokens: say it is a permission problem and what to do', (t) => {
  const dir = stateDir(t, { 'agent.json': { url: 'http://127.0.0.1:9180' } });
  const denied = (file: string): string => {
    if (file.endsWith('tokens.json')) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    return fs.readFileSync(file, 'utf8');
  };
  const err = t.throws(() => resolveEndpoint({ stateDir: dir }, deps({}, denied)), { instanceOf: CliError });
  t.is(
    err?.message,
    `capstan: cannot read the agent's tokens: ${dir}/tokens.json: permission denied (it is readable by root only: run as root, or pass --token / set CAPSTAN_TOKEN)`,
  );
  // With a token given, the tokens file is never read.
  t.is(resolveEndpoint({ stateDir: dir, token: 't' }, deps({}, denied)).token, 't');
});

test('a missing tokens file is an error next to agent.json, but not when --host is given', (t) => {
  const dir = stateDir(t, { 'agent.json': { url: 'http://127.0.0.1:9180' } });
  t.throws(() => resolveEndpoint({ stateDir: dir }, deps()), { message: /tokens\.json does not exist \(pass --token or set CAPSTAN_TOKEN\)$/ });
  t.is(resolveEndpoint({ stateDir: dir, host: 'http://127.0.0.1:1' }, deps()).token, undefined);
});

test('bad state files and URLs are reported, not crashed on', (t) => {
  const dir = stateDir(t, { 'agent.json': { pid: 1 } });
  t.throws(() => resolveEndpoint({ stateDir: dir }, deps()), { message: /does not name the agent's URL/ });
  fs.writeFileSync(path.join(dir, 'agent.json'), '{nope');
  t.throws(() => resolveEndpoint({ stateDir: dir }, deps()), { message: /agent\.json: not valid JSON/ });
  t.throws(() => resolveEndpoint({ host: 'unix:/run/x', token: 't' }, deps()), { message: 'capstan: invalid agent URL "unix:/run/x": expected http://HOST:PORT' });
});

async function withServer(
  t: { teardown(fn: () => void): void },
  handler: http.RequestListener,
): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('requests carry the bearer token and return the containers', async (t) => {
  let seen: { url?: string; auth?: string } = {};
  const url = await withServer(t, (req, res) => {
    seen = { url: req.url!, auth: req.headers.authorization! };
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ containers: [{ info: { id: 'a'.repeat(64), name: 'x' }, stats: null }, { bogus: true }] }));
  });
  const client = new AgentClient({ url: url + '/', token: 'tok', stateDir: '/nonexistent' });
  const list = await client.listContainers(true);
  t.deepEqual(seen, { url: '/api/v1/containers?all=1', auth: 'Bearer tok' });
  t.is(list.length, 1);
  t.is(list[0]!.stats, null);
  await client.listContainers(false);
  t.is(seen.url, '/api/v1/containers');
});

test('agent errors print their message with docker\'s prefix', async (t) => {
  const url = await withServer(t, (req, res) => {
    if (req.url!.includes('all')) {
      res.statusCode = 401;
      res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'the bearer token is not valid' } }));
    } else {
      res.statusCode = 502;
      res.statusMessage = 'Bad Gateway';
      res.end('<html>');
    }
  });
  const client = new AgentClient({ url, token: 'bad', stateDir: '/x' });
  await t.throwsAsync(client.listContainers(true), { instanceOf: CliError, message: 'Error response from daemon: the bearer token is not valid' });
  await t.throwsAsync(client.listContainers(false), { message: 'Error response from daemon: 502 Bad Gateway' });
});

test('an agent that is still starting is waited for; other errors are not', async (t) => {
  let requests = 0;
  const url = await withServer(t, (_req, res) => {
    requests++;
    if (requests <= 2) {
      res.statusCode = 503;
      res.end(JSON.stringify({ error: { code: 'starting', message: 'the collector has not finished its first tick yet' } }));
      return;
    }
    res.end(JSON.stringify({ containers: [] }));
  });
  const client = new AgentClient({ url, stateDir: '/x' });
  t.deepEqual(await client.listContainersWhenReady(true), []);
  t.is(requests, 3);
  requests = 0;
  const err = await t.throwsAsync(client.listContainersWhenReady(true, 0), { instanceOf: CliError });
  t.is(err?.apiCode, 'starting');
  t.is(err?.message, 'Error response from daemon: the collector has not finished its first tick yet');
});

test('a non-JSON or malformed answer is reported', async (t) => {
  const url = await withServer(t, (req, res) => res.end(req.url!.includes('all') ? 'hello' : '{"containers":5}'));
  const client = new AgentClient({ url, stateDir: '/x' });
  await t.throwsAsync(client.listContainers(true), { message: `capstan: unexpected response from the agent at ${url}: not JSON` });
  await t.throwsAsync(client.listContainers(false), { message: `capstan: unexpected response from the agent at ${url}: no "containers" list` });
});

test('connection refused: one line naming the URL and the error', async (t) => {
  // Bind then close a port so nothing listens there.
  const url = await new Promise<string>((resolve) => {
    const server = http.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => resolve(`http://127.0.0.1:${port}`));
    });
  });
  const client = new AgentClient({ url, token: 't', stateDir: '/x' });
  await t.throwsAsync(client.listContainers(true), { instanceOf: CliError, message: `capstan: cannot reach the agent at ${url}: connect ECONNREFUSED` });
  const dead = new AgentClient({ url, token: 't', stateDir: '/x', pid: 999999 }, { isProcessAlive: () => false });
  await t.throwsAsync(dead.listContainers(true), {
    message: `capstan: cannot reach the agent at ${url}: connect ECONNREFUSED (agent.json names pid 999999, which is not running; start one with: capstan agent)`,
  });
});

test('a silent agent times out with a clear message', async (t) => {
  const url = await withServer(t, () => {
    /* never answers */
  });
  const client = new AgentClient({ url, stateDir: '/x' }, { timeoutMs: 200 });
  await t.throwsAsync(client.listContainers(true), { message: `capstan: the agent at ${url} did not answer within 0.2s` });
});

test('an answer the agent waits for (ps of an engine) gets its own, longer wait', async (t) => {
  const url = await withServer(t, (_request, response) => {
    setTimeout(() => response.writeHead(200, { 'content-type': 'application/json', 'capstan-warnings': '["late"]' }).end('[]'), 400);
  });
  const client = new AgentClient({ url, stateDir: '/x' }, { timeoutMs: 200 });
  const answer = await client.getJsonWithHeaders('/api/v1/containers/json', 2_000);
  t.deepEqual(answer.body, []);
  t.is(answer.headers.get('capstan-warnings'), '["late"]');
  await t.throwsAsync(client.getJsonWithHeaders('/api/v1/containers/json', 100), { message: `capstan: the agent at ${url} did not answer within 0.1s` });
});

test('ps waits for the agent longer than the agent waits for its engines', (t) => {
  t.true(psAnswerWaitMs(false) >= PS_ENGINE_WAIT_MS.listing + 10_000);
  t.true(psAnswerWaitMs(true) >= PS_ENGINE_WAIT_MS.withSizes + 10_000);
});

test('network errors are described by syscall and code', (t) => {
  t.is(describeNetworkError(Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED', syscall: 'connect' }) })), 'connect ECONNREFUSED');
  t.is(describeNetworkError(Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new AggregateError([]), { code: 'ECONNREFUSED' }) })), 'connect ECONNREFUSED');
  t.is(describeNetworkError(new Error('plain')), 'plain');
});

test('response heads are parsed; anything else is not taken for one', (t) => {
  t.deepEqual(parseResponseHead('HTTP/1.1 101 Switching Protocols\r\nUpgrade: capstan-attach\r\nConnection: Upgrade'), {
    status: 101,
    statusText: 'Switching Protocols',
    headers: { upgrade: 'capstan-attach', connection: 'Upgrade' },
  });
  t.is(parseResponseHead('HTTP/1.0 404\r\nContent-Length: 2')?.headers['content-length'], '2');
  t.is(parseResponseHead('SSH-2.0-OpenSSH_9.2'), undefined);
  t.is(parseResponseHead(''), undefined);
});

test('the attach upgrade: 101 hands over the socket with the bytes that came with the head; a refusal is the agent\'s error', async (t) => {
  const server = http.createServer();
  let seen: { url?: string; auth?: string; body?: string } = {};
  server.on('upgrade', (req: http.IncomingMessage, socket: import('node:net').Socket, head: Buffer) => {
    if (req.url === '/refuse') {
      // As the agent refuses: a JSON error with its length, then close.
      const body = JSON.stringify({ error: { code: 'no_such_container', message: 'No such container: nope', exitCode: 125 } });
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    let body = head.toString();
    const answer = (): void => {
      seen = { url: req.url!, auth: req.headers.authorization!, body };
      // The first frame arrives in the same write as the head: it must not be lost.
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: capstan-attach\r\n\r\nfirst-bytes');
      socket.on('data', (chunk: Buffer) => socket.write(`echo:${chunk.toString()}`));
    };
    if (body.length >= Number(req.headers['content-length'])) answer();
    else
      socket.on('data', function collect(chunk: Buffer) {
        body += chunk.toString();
        if (body.length >= Number(req.headers['content-length'])) {
          socket.off('data', collect);
          answer();
        }
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new AgentClient({ url, token: 'tok', stateDir: '/x' });

  const socket = await client.upgrade('/api/v1/containers/run', { image: 'x', cmd: ['true'] });
  t.teardown(() => socket.destroy());
  t.deepEqual(seen, { url: '/api/v1/containers/run', auth: 'Bearer tok', body: '{"image":"x","cmd":["true"]}' });
  const received = await new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('echo:ping')) resolve(text);
    });
    socket.resume();
    socket.write('ping');
  });
  t.is(received, 'first-bytesecho:ping');

  const refused = await t.throwsAsync(client.upgrade('/refuse'), { instanceOf: AgentRequestError, message: 'Error response from daemon: No such container: nope' });
  t.is(refused!.status, 404);
  t.is(refused!.commandExitCode, 125);
  await t.throwsAsync(openUpgrade('https://127.0.0.1:1', '/x', {}, undefined), { message: 'attaching needs an http:// agent URL, not https://' });
  const error = await t.throwsAsync(new AgentClient({ url: 'http://127.0.0.1:1', stateDir: '/x' }).upgrade('/x'), { instanceOf: CliError });
  t.regex(error!.message, /^capstan: cannot reach the agent at http:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/);
});

test('NODE_EXTRA_CA_CERTS: the launcher\'s swap is undone for child processes, and https requests still trust the file', (t) => {
  const swapped: NodeJS.ProcessEnv = { CAPSTAN_EXTRA_CA_CERTS: '/etc/corp-ca.pem', NODE_EXTRA_CA_CERTS: '' };
  restoreExtraCaCerts(swapped);
  t.deepEqual(swapped, { NODE_EXTRA_CA_CERTS: '/etc/corp-ca.pem' });
  const neverSet: NodeJS.ProcessEnv = { CAPSTAN_EXTRA_CA_CERTS: '', NODE_EXTRA_CA_CERTS: '' };
  restoreExtraCaCerts(neverSet);
  t.deepEqual(neverSet, {});
  // Started as `node main.js` (no #! line): the user's own setting stays as it is.
  const direct: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: '/etc/corp-ca.pem' };
  restoreExtraCaCerts(direct);
  t.deepEqual(direct, { NODE_EXTRA_CA_CERTS: '/etc/corp-ca.pem' });

  const dir = stateDir(t, {});
  const pem = path.join(dir, 'ca.pem');
  fs.writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const trusted = extraCertificates({ NODE_EXTRA_CA_CERTS: pem });
  t.true(trusted!.length > 1);
  t.is(trusted![trusted!.length - 1], fs.readFileSync(pem, 'utf8'));
  t.is(extraCertificates({}), undefined);
  t.is(extraCertificates({ NODE_EXTRA_CA_CERTS: path.join(dir, 'missing.pem') }), undefined, 'a file that cannot be read: Node\'s defaults');
});

test('the capstan program and main.js (#! lines) start the CLI with the CA bundle setting set aside', (t) => {
  for (const program of ['capstan.js', 'main.js']) {
    const file = path.join(__dirname, '../../server/cli', program);
    const result = spawnSync(file, ['--version'], { env: { ...process.env, NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem' }, encoding: 'utf8' });
    t.is(result.status, 0, `${program}: ${result.stderr}`);
    t.regex(result.stdout, /^capstan version /, program);
    // Node warns when it cannot load the file: that it says nothing shows the file was never read.
    t.is(result.stderr, '', program);
  }
});
