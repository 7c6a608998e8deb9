/**
 * `capstan update` through runCli against a stand-in agent on loopback: what it sends, what it
 * prints, its exit status. The real binary against the real agent is in
 * test/integration/limits.cgroup.test.ts.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { AgentClient } from '../../server/cli/client';
import { runCli, type CliDeps } from '../../server/cli/main';

interface Sent {
  method: string;
  /** Path and query, as the CLI built them. */
  url: string;
  body: unknown;
}

/** Answers PATCHes for `web` and `db`; 404 for anything else, in the agent's error shape. */
function answer(url: string): { status: number; body: unknown } {
  const name = decodeURIComponent(/containers\/([^/]+)\/limits$/.exec(url)?.[1] ?? '');
  if (name === 'web' || name === 'db') {
    return {
      status: 200,
      body: {
        applied: [],
        clamped: name === 'web' ? [{ setting: 'cpuShares', file: 'cpu.shares', requested: '1', applied: '2' }] : [],
        limits: {},
        warnings: name === 'db' ? ['Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.'] : [],
      },
    };
  }
  return { status: 404, body: { error: { code: 'no_such_container', message: `No such container: ${name}` } } };
}

/** Runs the CLI against a loopback server that records each request. */
async function cli(argv: string[]) {
  const sent: Sent[] = [];
  const server = http.createServer((request, response) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (text += chunk));
    request.on('end', () => {
      const url = request.url ?? '';
      sent.push({ method: request.method ?? 'GET', url, body: text === '' ? undefined : JSON.parse(text) });
      const { status, body } = answer(url);
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let stdout = '';
  let stderr = '';
  const deps: CliDeps = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
    now: () => 0,
    connect: () => new AgentClient({ url: `http://127.0.0.1:${port}`, token: 'secret', stateDir: '/nonexistent' }),
    onInterrupt: () => () => {},
    timing: { pollMs: 10, redrawMs: 10 },
  };
  try {
    const { code } = await runCli(argv, deps);
    return { code, stdout, stderr, sent };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

test('update sends the flags as typed to each container and prints each name, warnings to stderr', async (t) => {
  const run = await cli([
    'update',
    '--cpus', '0.5',
    '-m', '64m',
    '--memory-swap=-1',
    '-c', '1',
    '--pids-limit', '-1',
    '--device-read-bps', '/dev/vda:1mb',
    '--device-read-bps', '/dev/vdb:2mb',
    '--force',
    'web',
    'db',
  ]);
  t.is(run.code, 0, run.stderr);
  t.is(run.stdout, 'web\ndb\n');
  t.deepEqual(run.sent.map((s) => `${s.method} ${s.url}`), [
    'PATCH /api/v1/containers/web/limits',
    'PATCH /api/v1/containers/db/limits',
  ]);
  t.deepEqual(run.sent[0]!.body, {
    cpuShares: '1',
    cpus: '0.5',
    deviceReadBps: ['/dev/vda:1mb', '/dev/vdb:2mb'],
    memory: '64m',
    memorySwap: '-1',
    pidsLimit: '-1',
    force: true,
  });
  t.is(
    run.stderr,
    'capstan: warning: web: the kernel stored cpu.shares as "2" (requested "1")\n' +
      'Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.\n',
  );
});

test('a cgroup path is sent URL-encoded', async (t) => {
  const run = await cli(['update', '--pids-limit', '10', '/system.slice/x.service']);
  t.is(run.sent[0]!.url, '/api/v1/containers/%2Fsystem.slice%2Fx.service/limits');
});

test('errors of every container are printed together at the end, exit status 1', async (t) => {
  const run = await cli(['update', '--memory', '64m', 'nope', 'web', 'gone']);
  t.is(run.code, 1);
  t.is(run.stdout, 'web\n');
  t.true(
    run.stderr.endsWith('Error response from daemon: No such container: nope\nError response from daemon: No such container: gone\n'),
    run.stderr,
  );
});

test('a malformed value or no flag fails before anything is sent; no container is a usage error', async (t) => {
  const malformed = await cli(['update', '--memory', '12q', 'web', 'db']);
  t.is(malformed.code, 125);
  t.deepEqual(malformed.sent, []);
  t.is(malformed.stderr, `invalid argument "12q" for "-m, --memory" flag: invalid suffix: 'q'\nSee 'capstan update --help'.\n`);
  const weight = await cli(['update', '--blkio-weight', '70000', 'web']);
  t.is(weight.code, 125);
  t.is(weight.stderr, `invalid argument "70000" for "--blkio-weight" flag: strconv.ParseUint: parsing "70000": value out of range\nSee 'capstan update --help'.\n`);
  const none = await cli(['update', 'web']);
  t.is(none.code, 1);
  t.is(none.stderr, 'you must provide one or more flags when using this command\n');
  const noName = await cli(['update', '--cpus', '1']);
  t.is(noName.code, 1);
  t.regex(noName.stderr, /^"capstan update" requires at least 1 argument\.\nSee 'capstan update --help'\.\n\nUsage: {2}capstan update \[OPTIONS\] CONTAINER \[CONTAINER\.\.\.\]/);
  const help = await cli(['update', '--help']);
  t.regex(help.stdout, /--memory-swap bytes +Swap limit equal to memory plus swap: '-1' to enable unlimited swap/);
  t.regex(help.stdout, /-c, --cpu-shares int +CPU shares \(relative weight\)/);
});
