/**
 * `capstan inspect -f` end to end (runCli against a fake agent on a loopback port): Go templates
 * with index, range, len, pipelines, variables and $ over the inspect document; docker's
 * missing-key error and exit status 1; exit 64 for a template that does not parse, before the
 * agent is asked; docker's lone newline when no document printed anything.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AgentClient, resolveEndpoint } from '../../server/cli/client';
import { runCli, type CliDeps } from '../../server/cli/main';

const DOCUMENTS: Record<string, unknown> = {
  web: {
    Id: 'b'.repeat(64),
    Name: '/web',
    State: { Status: 'running', Running: true, Pid: 4242, ExitCode: 0 },
    Config: { Image: 'busybox', Env: ['PATH=/bin', 'A=1'], Cmd: ['httpd', '-f'], Labels: { 'com.example.team': 'a', tier: 'front' } },
    HostConfig: { Memory: 67108864, PidsLimit: null },
    Mounts: [{ Type: 'bind', Source: '/srv', Destination: '/www', RW: false }],
    NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] } },
  },
  db: {
    Id: 'a'.repeat(64),
    Name: '/db',
    State: { Status: 'exited', Running: false, Pid: 0, ExitCode: 137 },
    Config: { Image: 'postgres', Env: [], Cmd: null, Labels: {} },
    HostConfig: { Memory: 0, PidsLimit: 100 },
    Mounts: [],
    NetworkSettings: { Ports: {} },
  },
};

async function fakeAgent(t: ExecutionContext) {
  const state = { requests: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    const name = /^\/api\/v1\/containers\/([^/]+)\/json$/.exec(req.url ?? '')?.[1];
    res.setHeader('content-type', 'application/json');
    const document = name === undefined ? undefined : DOCUMENTS[decodeURIComponent(name)];
    if (document === undefined) {
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: 'no_such_container', message: `No such container: ${name}` } }));
      return;
    }
    res.end(JSON.stringify(document));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state };
}

async function inspect(url: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const deps: CliDeps = {
    stdout: { isTTY: false, write: (text: string) => ((stdout += text), true) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
    now: () => Date.UTC(2024, 0, 1),
    connect: (flags, env) => new AgentClient(resolveEndpoint(flags, { env, readFile: (f) => fs.readFileSync(f, 'utf8') }), { timeoutMs: 2000 }),
    onInterrupt: () => () => undefined,
    timing: { pollMs: 20, redrawMs: 10 },
  };
  const result = await runCli(['--host', url, 'inspect', ...args], deps);
  return { code: result.code, stdout, stderr };
}

test('index, range, len, pipelines, variables and $ over each document', async (t) => {
  const agent = await fakeAgent(t);
  const cases: Array<[string, string]> = [
    ['{{.State.Pid}} {{.Name}}', '4242 /web\n0 /db\n'],
    ['{{len .Config.Env}}:{{range $i, $e := .Config.Env}}{{if $i}},{{end}}{{$e}}{{end}}', '2:PATH=/bin,A=1\n0:\n'],
    ['{{index .Config.Labels "tier"}}|{{.Config.Labels.tier}}', 'front|front\n<no value>|<no value>\n'],
    ['{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{else}}no labels{{end}}', 'com.example.team=a tier=front \nno labels\n'],
    ['{{$id := .Id}}{{slice $id 0 12}} {{.Name | upper | printf "%-5s|"}}', 'bbbbbbbbbbbb /WEB |\naaaaaaaaaaaa /DB  |\n'],
    ['{{with index .NetworkSettings.Ports "80/tcp"}}{{(index . 0).HostIp}}:{{(index . 0).HostPort}}{{else}}-{{end}}', '127.0.0.1:8080\n-\n'],
    ['{{if and .State.Running (gt .HostConfig.Memory 0)}}{{.HostConfig.Memory}}{{else if eq .State.ExitCode 137}}killed{{end}}', '67108864\nkilled\n'],
    ['{{range .Mounts}}{{.Source}}:{{.Destination}}{{if not .RW}}:ro{{end}}{{end}}', '/srv:/www:ro\n\n'],
    ['{{.HostConfig.PidsLimit}} {{json .Config.Cmd}}', '<nil> ["httpd","-f"]\n100 null\n'],
    ['{{define "n"}}<{{.}}>{{end}}{{template "n" .Config.Image}}', '<busybox>\n<postgres>\n'],
  ];
  for (const [format, stdout] of cases) {
    t.deepEqual(await inspect(agent.url, ['-f', format, 'web', 'db']), { code: 0, stdout, stderr: '' }, format);
  }
  t.deepEqual(await inspect(agent.url, ['--format', '{{.Name}}', 'web']), { code: 0, stdout: '/web\n', stderr: '' });
});

test("a missing key fails with Go's message and exit 1; the other documents still print", async (t) => {
  const agent = await fakeAgent(t);
  t.deepEqual(await inspect(agent.url, ['-f', '{{.NoSuch}}', 'web']), {
    code: 1,
    stdout: '\n',
    stderr: 'template parsing error: template: :1:2: executing "" at <.NoSuch>: map has no entry for key "NoSuch"\n',
  });
  const mixed = await inspect(agent.url, ['-f', '{{if .State.Running}}{{.Name}}{{else}}{{.State.Nope}}{{end}}', 'web', 'db']);
  t.deepEqual(mixed, {
    code: 1,
    stdout: '/web\n',
    stderr: 'template parsing error: template: :1:46: executing "" at <.State.Nope>: map has no entry for key "Nope"\n',
  });
  const index = await inspect(agent.url, ['-f', '{{index .Config.Env 5}}', 'web']);
  t.is(index.code, 1);
  t.is(index.stderr, 'template parsing error: template: :1:2: executing "" at <index .Config.Env 5>: error calling index: index out of range: 5\n');
});

test('a template that does not parse exits 64 before the agent is asked', async (t) => {
  const agent = await fakeAgent(t);
  const result = await inspect(agent.url, ['-f', '{{range .Mounts}}', 'web']);
  t.deepEqual(result, { code: 64, stdout: '', stderr: 'template parsing error: template: :1: unexpected EOF\n' });
  t.deepEqual(await inspect(agent.url, ['-f', '{{nosuchfunc .}}', 'web']), { code: 64, stdout: '', stderr: 'template parsing error: template: :1: function "nosuchfunc" not defined\n' });
  t.is(agent.state.requests, 0);
});

test('-f json prints one compact array; an unknown container is reported with exit 1', async (t) => {
  const agent = await fakeAgent(t);
  const result = await inspect(agent.url, ['-f', 'json', 'db', 'nope']);
  t.is(result.code, 1);
  t.deepEqual(JSON.parse(result.stdout), [DOCUMENTS['db']]);
  t.is(result.stdout.split('\n').length, 2);
  t.is(result.stderr, 'Error: No such object: nope\n');
});
