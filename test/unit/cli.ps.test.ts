/**
 * `capstan ps` as docker's (server/cli/commands/ps.ts, server/cli/columns/ps.ts): columns, order,
 * widths and truncation, --format fields ({{.Label "k"}} and its header, json with docker's keys,
 * .Size asking for sizes), the query each flag sends (-a, -f, -n, -l, -s), flag errors in docker's
 * words, and an engine's absence said on stderr. Expected texts are docker 20.10's / 28.2's output
 * for the same containers on this machine (see docker ps -a against the test dockerd).
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { displayablePorts, ellipsis, familiarImage, goQuote, sizeText } from '../../server/cli/columns/ps';
import { AgentClient, resolveEndpoint } from '../../server/cli/client';
import { parseFilterFlags, parseLast, psQuery } from '../../server/cli/commands/ps';
import { runCli, type CliDeps } from '../../server/cli/main';
import type { PsSummary } from '../../server/containers/ps';

const NOW = Date.UTC(2026, 11, 7, 1, 40, 0);

function summary(name: string, digit: string, partial: Partial<PsSummary> = {}): PsSummary {
  return {
    Id: digit.repeat(64),
    Names: [`/${name}`],
    Image: 'capstan-test-busybox',
    ImageID: 'sha256:' + '9'.repeat(64),
    Command: 'sleep 600',
    Created: NOW / 1000 - 7 * 60,
    Ports: [],
    Labels: {},
    State: 'running',
    Status: 'Up 7 minutes',
    HostConfig: { NetworkMode: 'none' },
    NetworkSettings: { Networks: { none: {} } },
    Mounts: [],
    Owner: 'docker',
    ...partial,
  };
}

const ROWS: PsSummary[] = [
  summary('cweb', 'c', { Image: '', ImageID: '', Created: NOW / 1000 - 2, Ports: [{ IP: '127.0.0.1', PrivatePort: 80, PublicPort: 18080, Type: 'tcp' }], Status: 'Up 1 second', Labels: { tier: 'front' }, Owner: 'capstan', SizeRw: 12, SizeRootFs: 0 }),
  summary('paused', 'e', { State: 'paused', Status: 'Up 7 minutes (Paused)', SizeRw: 0, SizeRootFs: 1_980_000 }),
  summary('longcmd', '7', { Command: "sh -c 'echo hello world this is long; sleep 600'", SizeRw: 0, SizeRootFs: 1_980_000 }),
];

async function fakeAgent(t: ExecutionContext, options: { warnings?: string[]; error?: { status: number; message: string } } = {}) {
  const queries: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    res.setHeader('content-type', 'application/json');
    if (url.pathname !== '/api/v1/containers/json') {
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'no such API route' } }));
      return;
    }
    queries.push(url.search);
    if (options.error) {
      res.statusCode = options.error.status;
      res.end(JSON.stringify({ error: { code: 'invalid_filter', message: options.error.message } }));
      return;
    }
    if (options.warnings) res.setHeader('Capstan-Warnings', JSON.stringify(options.warnings));
    res.end(JSON.stringify(ROWS));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { flags: ['--host', `http://127.0.0.1:${(server.address() as AddressInfo).port}`, '--token', 'secret'], queries };
}

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const deps: CliDeps = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
    now: () => NOW,
    connect: (flags, env) => new AgentClient(resolveEndpoint(flags, { env, readFile: (f) => fs.readFileSync(f, 'utf8') }), { timeoutMs: 2000 }),
    onInterrupt: () => () => undefined,
    timing: { pollMs: 20, redrawMs: 10 },
  };
  const result = await runCli(argv, deps);
  return { code: result.code, stdout, stderr };
}

test('the default table is docker\'s: columns, widths, quoted and cut COMMAND, ports, one name', async (t) => {
  const agent = await fakeAgent(t);
  const table = await cli([...agent.flags, 'ps']);
  t.is(
    table.stdout,
    'CONTAINER ID   IMAGE                  COMMAND                  CREATED         STATUS                  PORTS                     NAMES\n' +
      'cccccccccccc   <no image>             "sleep 600"              2 seconds ago   Up 1 second             127.0.0.1:18080->80/tcp   cweb\n' +
      'eeeeeeeeeeee   capstan-test-busybox   "sleep 600"              7 minutes ago   Up 7 minutes (Paused)                             paused\n' +
      '777777777777   capstan-test-busybox   "sh -c \'echo hello w…"   7 minutes ago   Up 7 minutes                                      longcmd\n',
  );
  t.is(agent.queries[0], '');
  const sized = await cli([...agent.flags, 'ps', '-s', '--no-trunc', '--format', 'table {{.ID}}\\t{{.Command}}\\t{{.Size}}']);
  t.is(sized.stdout.split('\n')[3], `${'7'.repeat(64)}   "sh -c 'echo hello world this is long; sleep 600'"   0B (virtual 1.98MB)`);
  t.is(sized.stdout.split('\n')[1], `${'c'.repeat(64)}   "sleep 600"                                          12B`);
  t.is(agent.queries[1], '?size=1');
});

test('--format: docker\'s fields, {{.Label "k"}} with its header, json with docker\'s keys, -q', async (t) => {
  const agent = await fakeAgent(t);
  t.is((await cli([...agent.flags, 'ps', '--format', 'table {{.Label "tier"}}\\t{{.Names}}'])).stdout, 'tier      NAMES\nfront     cweb\n          paused\n          longcmd\n');
  t.is(
    (await cli([...agent.flags, 'ps', '--format', '{{.Names}}|{{.State}}|{{.Networks}}|{{.LocalVolumes}}|{{.Labels}}|{{.Runtime}}|{{.CreatedAt}}'])).stdout.split('\n')[0],
    'cweb|running|none|0|tier=front|capstan|2026-12-07 01:39:58 +0000 UTC',
  );
  const json = (await cli([...agent.flags, 'ps', '--format', 'json'])).stdout.split('\n')[1]!;
  t.is(
    json,
    '{"Command":"\\"sleep 600\\"","CreatedAt":"2026-12-07 01:33:00 +0000 UTC","ID":"eeeeeeeeeeee","Image":"capstan-test-busybox","Labels":"","LocalVolumes":"0","Mounts":"","Names":"paused","Networks":"none","Platform":null,"Ports":"","RunningFor":"7 minutes ago","Size":"0B (virtual 1.98MB)","State":"paused","Status":"Up 7 minutes (Paused)"}',
  );
  // json does not ask for sizes (docker 28 shows "0B" there), .Size in a template does (unless --size=false).
  t.false(agent.queries.at(-1)!.includes('size=1'));
  await cli([...agent.flags, 'ps', '--format', '{{.Names}} {{.Size}}']);
  t.true(agent.queries.at(-1)!.includes('size=1'));
  await cli([...agent.flags, 'ps', '--size=false', '--format', '{{.Size}}']);
  t.false(agent.queries.at(-1)!.includes('size=1'));
  t.is((await cli([...agent.flags, 'ps', '-q'])).stdout, 'cccccccccccc\neeeeeeeeeeee\n777777777777\n');
  const unknown = await cli([...agent.flags, 'ps', '--format', '{{.Nope}}']);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /can't evaluate field Nope in type \*formatter\.ContainerContext/);
});

test('flags become docker\'s query; bad flags and refused filters get docker\'s words', async (t) => {
  t.is(psQuery({ all: true, last: -1, latest: false, size: false, filters: {} }), '?all=1');
  t.is(psQuery({ all: false, last: -1, latest: true, size: false, filters: {} }), '?limit=1');
  t.is(psQuery({ all: false, last: 3, latest: true, size: true, filters: {} }), '?limit=3&size=1');
  const filters = parseFilterFlags(['status=exited', 'status=created', 'label=a=1']);
  t.deepEqual(filters, { status: { exited: true, created: true }, label: { 'a=1': true } });
  t.is(psQuery({ all: false, last: -1, latest: false, size: false, filters }), '?filters=' + encodeURIComponent(JSON.stringify(filters)).replace(/%20/g, '+'));
  t.throws(() => parseFilterFlags(['noequals']), { message: /^invalid argument "noequals" for "-f, --filter" flag: bad format of filter \(expected name=value\)/ });
  t.throws(() => parseLast('abc'), { message: /^invalid argument "abc" for "-n, --last" flag: strconv.ParseInt: parsing "abc": invalid syntax/ });
  t.is(parseLast('2'), 2);

  const agent = await fakeAgent(t);
  await cli([...agent.flags, 'ps', '-a', '-f', 'name=web', '-n', '2']);
  t.is(agent.queries.at(-1), '?all=1&limit=2&filters=' + encodeURIComponent('{"name":{"web":true}}'));
  t.like(await cli([...agent.flags, 'ps', '-f', 'x']), { code: 125 });
  const refused = await fakeAgent(t, { error: { status: 400, message: "Invalid filter 'bogus'" } });
  t.like(await cli([...refused.flags, 'ps', '-f', 'bogus=1']), { code: 1, stderr: "Error response from daemon: Invalid filter 'bogus'\n" });
});

test('an engine that cannot be reached is said on stderr; the rest is listed', async (t) => {
  const agent = await fakeAgent(t, { warnings: ['the Docker engine at unix:///x.sock cannot be reached (ECONNREFUSED): its containers are not listed'] });
  const run = await cli([...agent.flags, 'ps', '-q']);
  t.is(run.stdout.split('\n').filter(Boolean).length, 3);
  t.is(run.stderr, 'WARNING: the Docker engine at unix:///x.sock cannot be reached (ECONNREFUSED): its containers are not listed\n');
});

test('cells: ellipsis by display width, Go quoting, familiar image names, grouped ports, sizes', (t) => {
  t.is(ellipsis('sleep 600', 20), 'sleep 600');
  t.is(ellipsis("sh -c 'echo hello world'", 20), "sh -c 'echo hello w…");
  t.is(ellipsis('日本語のコマンドです', 7), '日本語…');
  t.is(ellipsis('abc', 1), 'a');
  t.is(goQuote('say "hi"\n\x01'), '"say \\"hi\\"\\n\\x01"');
  t.is(goQuote('café…'), '"café…"');
  t.is(familiarImage('docker.io/library/busybox:1.36', 'sha256:' + '1'.repeat(64)), 'busybox:1.36');
  t.is(familiarImage('busybox:1.36@sha256:' + 'a'.repeat(64), 'sha256:' + 'c'.repeat(64)), 'busybox:1.36');
  t.is(familiarImage('localhost:5000/app:v1', ''), 'localhost:5000/app:v1');
  t.is(familiarImage('sha256:' + 'b'.repeat(64), 'sha256:' + 'b'.repeat(64)), 'bbbbbbbbbbbb');
  t.is(familiarImage('Not A Ref', ''), 'Not A Ref');
  t.is(familiarImage('', ''), '<no image>');
  t.is(
    displayablePorts([
      { PrivatePort: 9001, Type: 'tcp' },
      { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
      { PrivatePort: 9000, Type: 'tcp' },
      { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
      { IP: '127.0.0.1', PrivatePort: 53, PublicPort: 53, Type: 'udp' },
    ]),
    '127.0.0.1:53->53/udp, 9000-9001/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp',
  );
  t.is(displayablePorts([]), '');
  t.is(sizeText({ SizeRw: 12, SizeRootFs: 1_234_567 }), '12B (virtual 1.23MB)');
  t.is(sizeText({}), '0B');
});
